/* test-deps: auth_machine */
/* The AuthCoordinator's transition rules without threads or sockets: each
 * scenario is an exact sequence of events, and each step names the "state"
 * events it posts, the actions it asks of the driver (in order) and the
 * state after it. Covers every arrow of the README's diagram, the claims
 * the caller's thread makes, and the races between a caller's cancel or
 * logout and the I/O thread's events. */
#include "auth_machine.h"
#include "t.h"

#include <stdio.h>
#include <string.h>

/* Op handles are only compared by the machine: addresses stand in for them. */
static char op_cells[4];
#define OP(n) ((n) ? (struct bt_op *)&op_cells[n] : NULL)

static int op_index(const struct bt_op *op)
{
	for (int i = 1; i < 4; i++)
		if (op == OP(i))
			return i;
	return 0;
}

static const char *const err_names[] = {
    "",
    "timeout",
    "refused",
    "connect_failed",
    "tls_failed",
    "http_status",
    "bad_response",
    "rejected",
    "disconnected",
    "protocol",
    "invalid_state",
    "cancelled",
    "nomem",
    "store",
    "busy",
};

static const char *const act_names[] = {
    "DROP_CONN",
    "CANCEL_REQ",
    "START_REGISTER",
    "OPEN_CONN",
    "SAVE_TOKEN",
    "START_STATE_TIMER",
    "SEND_USER_REQUEST",
    "START_UR_TIMER",
    "STOP_UR_TIMER",
    "SEND_LOGOUT",
    "SEND_REFUSAL_LOGOUT",
    "POST_MESSAGE",
    "POST_LOGOUT",
    "CANCEL_OP",
    "RELEASE",
    "SUCCEED",
    "FAIL",
    "START_RECONNECT_TIMER",
    "STOP_RECONNECT_TIMER",
    "REOPEN_CONN",
};

enum {
	D = BT_AUTH_DISCONNECTED,
	REG = BT_AUTH_REGISTERING,
	CON = BT_AUTH_CONNECTING,
	AUTH = BT_AUTH_AUTHENTICATING,
	ACT = BT_AUTH_ACTIVE,
	FAIL = BT_AUTH_FAILED
};

/* One event and what it must do. Claims also say "refused" or "done" in
 * acts: "!invalid_state" or "=done". */
struct step {
	enum am_event_type ev;
	int op;
	enum bt_err err;
	int status; /* UserStatus */
	int has_conn;
	int cancelled; /* claims: the slot's op was cancelled by its owner */
	const char *trans;
	const char *acts;
	int st;
};

struct scenario {
	const char *name;
	struct step steps[24];
	int rc_on;       /* reconnect configured */
	unsigned rc_max; /* its attempts (0: no limit) */
	int auth_logon;  /* auth = "logon" */
};

#define S(...)              \
	{                   \
		__VA_ARGS__ \
	}
#define E(type, ...)                            \
	{                                       \
		.ev = AM_EV_##type, __VA_ARGS__ \
	}

/* Prefixes reused by many scenarios. */
#define LOGIN_TO_CONNECTING                                                                \
	E(LOGIN, .op = 1, .trans = "Connecting<Disconnected", .acts = "", .st = CON),      \
	    E(START_LOGIN, .op = 1, .trans = "", .acts = "DROP_CONN CANCEL_REQ OPEN_CONN", \
	      .st = CON)
#define LOGIN_TO_AUTHENTICATING                                                                  \
	LOGIN_TO_CONNECTING, E(CONNECTED, .trans = "", .acts = "START_STATE_TIMER", .st = AUTH), \
	    E(STATE_TIMER, .trans = "Authenticating<Connecting", .acts = "", .st = AUTH),        \
	    E(LOGON, .trans = "", .acts = "SEND_USER_REQUEST", .st = AUTH),                      \
	    E(USER_REQUEST_SENT, .trans = "", .acts = "START_UR_TIMER", .st = AUTH)
#define LOGIN_TO_ACTIVE                                                                          \
	LOGIN_TO_AUTHENTICATING, E(USER_RESPONSE, .status = 1, .trans = "Active<Authenticating", \
				   .acts = "STOP_UR_TIMER SUCCEED(1)", .st = ACT)
#define LOGIN_REFUSED                                                             \
	LOGIN_TO_AUTHENTICATING,                                                  \
	    E(USER_RESPONSE, .status = 4, .trans = "",                            \
	      .acts = "STOP_UR_TIMER SEND_REFUSAL_LOGOUT(rejected)", .st = AUTH), \
	    E(REFUSAL_LOGOUT_SENT, .err = BT_ERR_REJECTED,                        \
	      .trans = "Failed<Authenticating:rejected", .acts = "FAIL(1,rejected)", .st = FAIL)

static const struct scenario scenarios[] = {
    /* ---- every arrow of the README's diagram */
    {.name = "register, ok",
     .steps = S(E(REGISTER, .op = 1, .trans = "Registering<Disconnected", .acts = "", .st = REG),
		E(START_REGISTER, .op = 1, .trans = "",
		  .acts = "CANCEL_REQ DROP_CONN START_REGISTER", .st = REG),
		E(REGISTER_DONE, .trans = "Disconnected<Registering",
		  .acts = "SAVE_TOKEN SUCCEED(1)", .st = D))},
    {.name = "register, error",
     .steps =
	 S(E(REGISTER, .op = 1, .trans = "Registering<Disconnected", .acts = "", .st = REG),
	   E(START_REGISTER, .op = 1, .trans = "", .acts = "CANCEL_REQ DROP_CONN START_REGISTER",
	     .st = REG),
	   E(REGISTER_DONE, .err = BT_ERR_HTTP_STATUS, .trans = "Failed<Registering:http_status",
	     .acts = "FAIL(1,http_status)", .st = FAIL))},
    {.name = "login to Active", .steps = S(LOGIN_TO_ACTIVE)},
    {.name = "the deferred Authenticating goes out before the next transition",
     .steps =
	 S(LOGIN_TO_CONNECTING, E(CONNECTED, .trans = "", .acts = "START_STATE_TIMER", .st = AUTH),
	   E(LOGON, .trans = "", .acts = "SEND_USER_REQUEST", .st = AUTH),
	   E(USER_REQUEST_SENT, .trans = "", .acts = "START_UR_TIMER", .st = AUTH),
	   E(USER_RESPONSE, .status = 1, .trans = "Authenticating<Connecting Active<Authenticating",
	     .acts = "STOP_UR_TIMER SUCCEED(1)", .st = ACT),
	   E(STATE_TIMER, .trans = "", .acts = "", .st = ACT))},
    {.name = "connect fails: Connecting to Failed",
     .steps = S(LOGIN_TO_CONNECTING,
		E(CLOSED, .err = BT_ERR_REFUSED, .trans = "Failed<Connecting:refused",
		  .acts = "FAIL(1,refused)", .st = FAIL))},
    {.name = "the connection cannot be opened",
     .steps = S(E(LOGIN, .op = 1, .trans = "Connecting<Disconnected", .acts = "", .st = CON),
		E(FAIL, .err = BT_ERR_CONNECT_FAILED, .trans = "Failed<Connecting:connect_failed",
		  .acts = "FAIL(1,connect_failed)", .st = FAIL))},
    {.name = "login refused: Authenticating to Failed after our Logout", .steps = S(LOGIN_REFUSED)},
    {.name = "no UserResponse in time",
     .steps = S(LOGIN_TO_AUTHENTICATING,
		E(UR_TIMEOUT, .err = BT_ERR_TIMEOUT, .trans = "Failed<Authenticating:timeout",
		  .acts = "DROP_CONN FAIL(1,timeout)", .st = FAIL))},
    {.name = "the UserRequest cannot be sent",
     .steps =
	 S(LOGIN_TO_CONNECTING, E(CONNECTED, .trans = "", .acts = "START_STATE_TIMER", .st = AUTH),
	   E(LOGON, .trans = "", .acts = "SEND_USER_REQUEST", .st = AUTH),
	   E(USER_REQUEST_SENT, .err = BT_ERR_PROTOCOL,
	     .trans = "Authenticating<Connecting Failed<Authenticating:protocol",
	     .acts = "DROP_CONN FAIL(1,protocol)", .st = FAIL))},
    {.name = "Active, logout: Logout exchanged, then Disconnected",
     .steps = S(LOGIN_TO_ACTIVE, E(LOGOUT, .op = 2, .trans = "", .acts = "POST_LOGOUT", .st = ACT),
		E(START_LOGOUT, .has_conn = 1, .trans = "", .acts = "SEND_LOGOUT", .st = ACT),
		E(LOGOUT_SENT, .trans = "", .acts = "", .st = ACT),
		E(CLOSED, .err = BT_ERR_DISCONNECTED, .trans = "Disconnected<Active",
		  .acts = "SUCCEED(2)", .st = D))},
    {.name = "Active, logout whose Logout cannot be sent",
     .steps = S(LOGIN_TO_ACTIVE, E(LOGOUT, .op = 2, .trans = "", .acts = "POST_LOGOUT", .st = ACT),
		E(START_LOGOUT, .has_conn = 1, .trans = "", .acts = "SEND_LOGOUT", .st = ACT),
		E(LOGOUT_SENT, .err = BT_ERR_PROTOCOL, .trans = "Disconnected<Active",
		  .acts = "DROP_CONN SUCCEED(2)", .st = D))},
    {.name = "Active, logout whose post fails",
     .steps = S(LOGIN_TO_ACTIVE, E(LOGOUT, .op = 2, .trans = "", .acts = "POST_LOGOUT", .st = ACT),
		E(LOGOUT_POST_FAILED, .trans = "", .acts = "FAIL(2,nomem)", .st = ACT),
		E(LOGOUT, .op = 3, .trans = "", .acts = "POST_LOGOUT", .st = ACT))},
    {.name = "Active, peer Logout or drop: Failed",
     .steps = S(LOGIN_TO_ACTIVE, E(CLOSED, .err = BT_ERR_DISCONNECTED,
				   .trans = "Failed<Active:disconnected", .acts = "", .st = FAIL))},
    {.name = "Active, a send cannot go out: Failed",
     .steps = S(LOGIN_TO_ACTIVE, E(SEND_FAILED, .err = BT_ERR_NOMEM, .trans = "Failed<Active:nomem",
				   .acts = "DROP_CONN", .st = FAIL))},
    {.name = "Failed, then register, login or logout start again",
     .steps = S(LOGIN_REFUSED,
		E(REGISTER, .op = 2, .trans = "Registering<Failed", .acts = "", .st = REG),
		E(START_REGISTER, .op = 2, .trans = "",
		  .acts = "CANCEL_REQ DROP_CONN START_REGISTER", .st = REG),
		E(REGISTER_DONE, .trans = "Disconnected<Registering",
		  .acts = "SAVE_TOKEN SUCCEED(2)", .st = D),
		E(LOGIN, .op = 3, .trans = "Connecting<Disconnected", .acts = "", .st = CON),
		E(FAIL, .err = BT_ERR_STORE, .trans = "Failed<Connecting:store",
		  .acts = "FAIL(3,store)", .st = FAIL),
		E(LOGOUT, .op = 1, .trans = "Disconnected<Failed", .acts = "=done", .st = D),
		E(LOGOUT, .op = 1, .trans = "", .acts = "=done", .st = D))},
    /* ---- claims refused at call time */
    {.name = "one operation at a time",
     .steps =
	 S(LOGIN_TO_CONNECTING, E(LOGIN, .op = 2, .trans = "", .acts = "!invalid_state", .st = CON),
	   E(REGISTER, .op = 2, .trans = "", .acts = "!invalid_state", .st = CON),
	   E(LOGOUT, .op = 2, .trans = "", .acts = "CANCEL_OP(1) POST_LOGOUT", .st = CON),
	   E(LOGOUT, .op = 3, .trans = "", .acts = "!invalid_state", .st = CON),
	   E(LOGIN, .op = 3, .cancelled = 1, .trans = "", .acts = "!invalid_state", .st = CON))},
    {.name = "register while Active, logout while Registering",
     .steps =
	 S(LOGIN_TO_ACTIVE, E(REGISTER, .op = 2, .trans = "", .acts = "!invalid_state", .st = ACT),
	   E(CLOSED, .err = BT_ERR_DISCONNECTED, .trans = "Failed<Active:disconnected", .acts = "",
	     .st = FAIL),
	   E(REGISTER, .op = 2, .trans = "Registering<Failed", .acts = "", .st = REG),
	   E(LOGOUT, .op = 3, .trans = "", .acts = "!invalid_state", .st = REG))},
    /* ---- logout() racing the attempt it cancels */
    {.name = "logout during Connecting: the cancel hook ends it",
     .steps = S(LOGIN_TO_CONNECTING,
		E(LOGOUT, .op = 2, .trans = "", .acts = "CANCEL_OP(1) POST_LOGOUT", .st = CON),
		E(OP_CANCELLED, .op = 1, .has_conn = 1, .trans = "Disconnected<Connecting",
		  .acts = "CANCEL_REQ DROP_CONN RELEASE(1) SUCCEED(2)", .st = D),
		E(START_LOGOUT, .trans = "", .acts = "", .st = D))},
    {.name = "logout during Connecting: the connection fails before the hook",
     .steps = S(LOGIN_TO_CONNECTING,
		E(LOGOUT, .op = 2, .trans = "", .acts = "CANCEL_OP(1) POST_LOGOUT", .st = CON),
		E(CLOSED, .err = BT_ERR_REFUSED, .trans = "Disconnected<Connecting",
		  .acts = "FAIL(1,cancelled) SUCCEED(2)", .st = D),
		E(OP_CANCELLED, .op = 1, .trans = "", .acts = "", .st = D),
		E(START_LOGOUT, .trans = "", .acts = "", .st = D))},
    {.name = "logout during Authenticating, the hook first",
     .steps = S(LOGIN_TO_AUTHENTICATING,
		E(LOGOUT, .op = 2, .trans = "", .acts = "CANCEL_OP(1) POST_LOGOUT", .st = AUTH),
		E(OP_CANCELLED, .op = 1, .has_conn = 1, .trans = "Disconnected<Authenticating",
		  .acts = "CANCEL_REQ DROP_CONN RELEASE(1) SUCCEED(2)", .st = D),
		E(START_LOGOUT, .trans = "", .acts = "", .st = D))},
    {.name = "logout during Authenticating, Active before the hook: a real Logout, once",
     .steps =
	 S(LOGIN_TO_AUTHENTICATING,
	   E(LOGOUT, .op = 2, .trans = "", .acts = "CANCEL_OP(1) POST_LOGOUT", .st = AUTH),
	   E(USER_RESPONSE, .status = 1, .trans = "Active<Authenticating",
	     .acts = "STOP_UR_TIMER SUCCEED(1)", .st = ACT),
	   E(OP_CANCELLED, .op = 1, .has_conn = 1, .trans = "", .acts = "SEND_LOGOUT", .st = ACT),
	   E(LOGOUT_SENT, .trans = "", .acts = "", .st = ACT),
	   E(START_LOGOUT, .has_conn = 1, .trans = "", .acts = "", .st = ACT),
	   E(CLOSED, .err = BT_ERR_DISCONNECTED, .trans = "Disconnected<Active",
	     .acts = "SUCCEED(2)", .st = D))},
    {.name = "logout during Authenticating, Active and the hook never runs",
     .steps = S(LOGIN_TO_AUTHENTICATING,
		E(LOGOUT, .op = 2, .trans = "", .acts = "CANCEL_OP(1) POST_LOGOUT", .st = AUTH),
		E(USER_RESPONSE, .status = 1, .trans = "Active<Authenticating",
		  .acts = "STOP_UR_TIMER SUCCEED(1)", .st = ACT),
		E(START_LOGOUT, .has_conn = 1, .trans = "", .acts = "SEND_LOGOUT", .st = ACT),
		E(LOGOUT_SENT, .trans = "", .acts = "", .st = ACT),
		E(CLOSED, .err = BT_ERR_DISCONNECTED, .trans = "Disconnected<Active",
		  .acts = "SUCCEED(2)", .st = D))},
    {.name = "logout during Authenticating, refused before the hook",
     .steps =
	 S(LOGIN_TO_AUTHENTICATING,
	   E(LOGOUT, .op = 2, .trans = "", .acts = "CANCEL_OP(1) POST_LOGOUT", .st = AUTH),
	   E(USER_RESPONSE, .status = 3, .trans = "",
	     .acts = "STOP_UR_TIMER SEND_REFUSAL_LOGOUT(rejected)", .st = AUTH),
	   E(REFUSAL_LOGOUT_SENT, .err = BT_ERR_REJECTED, .trans = "Failed<Authenticating:rejected",
	     .acts = "FAIL(1,rejected)", .st = FAIL),
	   E(OP_CANCELLED, .op = 1, .has_conn = 1, .trans = "Disconnected<Failed",
	     .acts = "DROP_CONN SUCCEED(2)", .st = D),
	   E(START_LOGOUT, .has_conn = 0, .trans = "", .acts = "", .st = D))},
    /* ---- the owner cancels, then claims again at once */
    {.name = "cancel then login: the old connection's late events are stale",
     .steps = S(
	 LOGIN_TO_CONNECTING, E(CONNECTED, .trans = "", .acts = "START_STATE_TIMER", .st = AUTH),
	 E(LOGIN, .op = 2, .cancelled = 1,
	   .trans = "Authenticating<Connecting Disconnected<Authenticating Connecting<Disconnected",
	   .acts = "RELEASE(1)", .st = CON),
	 E(LOGON, .trans = "", .acts = "", .st = CON),
	 E(USER_RESPONSE, .status = 1, .trans = "", .acts = "", .st = CON),
	 E(UR_TIMEOUT, .err = BT_ERR_TIMEOUT, .trans = "", .acts = "", .st = CON),
	 E(CONNECTED, .trans = "", .acts = "", .st = CON),
	 E(CLOSED, .err = BT_ERR_DISCONNECTED, .trans = "", .acts = "", .st = CON),
	 E(OP_CANCELLED, .op = 1, .trans = "", .acts = "", .st = CON),
	 E(START_LOGIN, .op = 2, .trans = "", .acts = "DROP_CONN CANCEL_REQ OPEN_CONN", .st = CON),
	 E(CONNECTED, .trans = "", .acts = "START_STATE_TIMER", .st = AUTH))},
    {.name = "cancel then login before the first job ran: the old job is skipped",
     .steps = S(E(LOGIN, .op = 1, .trans = "Connecting<Disconnected", .acts = "", .st = CON),
		E(LOGIN, .op = 2, .cancelled = 1,
		  .trans = "Disconnected<Connecting Connecting<Disconnected", .acts = "RELEASE(1)",
		  .st = CON),
		E(START_LOGIN, .op = 1, .trans = "", .acts = "", .st = CON),
		E(OP_CANCELLED, .op = 1, .trans = "", .acts = "", .st = CON),
		E(START_LOGIN, .op = 2, .trans = "", .acts = "DROP_CONN CANCEL_REQ OPEN_CONN",
		  .st = CON))},
    {.name = "cancel then register: the old request's answer is stale",
     .steps = S(E(REGISTER, .op = 1, .trans = "Registering<Disconnected", .acts = "", .st = REG),
		E(START_REGISTER, .op = 1, .trans = "",
		  .acts = "CANCEL_REQ DROP_CONN START_REGISTER", .st = REG),
		E(REGISTER, .op = 2, .cancelled = 1,
		  .trans = "Disconnected<Registering Registering<Disconnected",
		  .acts = "RELEASE(1)", .st = REG),
		E(REGISTER_DONE, .trans = "", .acts = "", .st = REG),
		E(START_REGISTER, .op = 2, .trans = "",
		  .acts = "CANCEL_REQ DROP_CONN START_REGISTER", .st = REG),
		E(REGISTER_DONE, .trans = "Disconnected<Registering",
		  .acts = "SAVE_TOKEN SUCCEED(2)", .st = D))},
    {.name = "register cancelled: its hook ends it",
     .steps = S(E(REGISTER, .op = 1, .trans = "Registering<Disconnected", .acts = "", .st = REG),
		E(START_REGISTER, .op = 1, .trans = "",
		  .acts = "CANCEL_REQ DROP_CONN START_REGISTER", .st = REG),
		E(OP_CANCELLED, .op = 1, .trans = "Disconnected<Registering",
		  .acts = "CANCEL_REQ DROP_CONN RELEASE(1)", .st = D))},
    {.name = "a cancelled attempt that failed first is already out of its slot",
     .steps =
	 S(LOGIN_TO_CONNECTING,
	   E(CLOSED, .err = BT_ERR_REFUSED, .trans = "Failed<Connecting:refused",
	     .acts = "FAIL(1,refused)", .st = FAIL),
	   E(LOGIN, .op = 2, .cancelled = 1, .trans = "Connecting<Failed", .acts = "", .st = CON))},
    /* ---- a refused login's connection still logs out (and holds the store
     * lock) when the next login is claimed */
    {.name = "refused, then login at once: the old connection's close is stale",
     .steps = S(
	 LOGIN_REFUSED, E(LOGIN, .op = 2, .trans = "Connecting<Failed", .acts = "", .st = CON),
	 E(CLOSED, .err = BT_ERR_DISCONNECTED, .trans = "", .acts = "", .st = CON),
	 E(START_LOGIN, .op = 2, .trans = "", .acts = "DROP_CONN CANCEL_REQ OPEN_CONN", .st = CON),
	 E(FAIL, .err = BT_ERR_STORE, .trans = "Failed<Connecting:store", .acts = "FAIL(2,store)",
	   .st = FAIL))},
    {.name = "refused, then login at once: the new start drops the old connection",
     .steps = S(
	 LOGIN_REFUSED, E(LOGIN, .op = 2, .trans = "Connecting<Failed", .acts = "", .st = CON),
	 E(START_LOGIN, .op = 2, .trans = "", .acts = "DROP_CONN CANCEL_REQ OPEN_CONN", .st = CON),
	 E(CONNECTED, .trans = "", .acts = "START_STATE_TIMER", .st = AUTH),
	 E(STATE_TIMER, .trans = "Authenticating<Connecting", .acts = "", .st = AUTH),
	 E(LOGON, .trans = "", .acts = "SEND_USER_REQUEST", .st = AUTH))},
    {.name = "refused: the connection's own close later is no news",
     .steps = S(LOGIN_REFUSED,
		E(CLOSED, .err = BT_ERR_DISCONNECTED, .trans = "", .acts = "", .st = FAIL))},
    /* ---- close in every state */
    {.name = "close while Registering (an older connection's): stale",
     .steps = S(LOGIN_REFUSED,
		E(REGISTER, .op = 2, .trans = "Registering<Failed", .acts = "", .st = REG),
		E(CLOSED, .err = BT_ERR_DISCONNECTED, .trans = "", .acts = "", .st = REG))},
    {.name = "close while Authenticating",
     .steps =
	 S(LOGIN_TO_CONNECTING, E(CONNECTED, .trans = "", .acts = "START_STATE_TIMER", .st = AUTH),
	   E(CLOSED, .err = BT_ERR_TIMEOUT,
	     .trans = "Authenticating<Connecting Failed<Authenticating:timeout",
	     .acts = "FAIL(1,timeout)", .st = FAIL))},
    {.name = "close while Disconnected (after a logout without a Logout)",
     .steps = S(LOGIN_TO_ACTIVE, E(LOGOUT, .op = 2, .trans = "", .acts = "POST_LOGOUT", .st = ACT),
		E(START_LOGOUT, .has_conn = 0, .trans = "Disconnected<Active",
		  .acts = "DROP_CONN SUCCEED(2)", .st = D),
		E(CLOSED, .err = BT_ERR_DISCONNECTED, .trans = "", .acts = "", .st = D))},
    /* ---- other events */
    {.name = "a UserResponse while Active is an application message",
     .steps = S(LOGIN_TO_ACTIVE,
		E(USER_RESPONSE, .status = 2, .trans = "", .acts = "POST_MESSAGE", .st = ACT))},
    {.name = "login claimed, the post to the I/O thread fails",
     .steps = S(E(LOGIN, .op = 1, .trans = "Connecting<Disconnected", .acts = "", .st = CON),
		E(FAIL, .err = BT_ERR_NOMEM, .trans = "Failed<Connecting:nomem",
		  .acts = "FAIL(1,nomem)", .st = FAIL))},
    {.name = "claims without an op (out of memory) change nothing",
     .steps = S(E(LOGIN, .op = 0, .trans = "", .acts = "", .st = D),
		E(REGISTER, .op = 0, .trans = "", .acts = "", .st = D))},
    /* ---- the I/O thread failed, and teardown */
    {.name = "I/O thread failure while Authenticating with a logout pending",
     .steps = S(LOGIN_TO_AUTHENTICATING,
		E(LOGOUT, .op = 2, .trans = "", .acts = "CANCEL_OP(1) POST_LOGOUT", .st = AUTH),
		E(REACTOR_FAILED, .trans = "Failed<Authenticating:disconnected",
		  .acts = "CANCEL_REQ DROP_CONN FAIL(1,disconnected) FAIL(2,disconnected)",
		  .st = FAIL))},
    {.name = "I/O thread failure while Registering",
     .steps = S(E(REGISTER, .op = 1, .trans = "Registering<Disconnected", .acts = "", .st = REG),
		E(REACTOR_FAILED, .trans = "Failed<Registering:disconnected",
		  .acts = "CANCEL_REQ DROP_CONN FAIL(1,disconnected)", .st = FAIL))},
    {.name = "I/O thread failure while idle",
     .steps = S(E(REACTOR_FAILED, .trans = "", .acts = "CANCEL_REQ DROP_CONN", .st = D))},
    {.name = "teardown while Connecting (deferred event first)",
     .steps =
	 S(LOGIN_TO_CONNECTING, E(CONNECTED, .trans = "", .acts = "START_STATE_TIMER", .st = AUTH),
	   E(TEARDOWN, .trans = "Authenticating<Connecting",
	     .acts = "STOP_RECONNECT_TIMER DROP_CONN FAIL(1,cancelled)", .st = AUTH))},

    /* ---- auth = "logon" */
    {.name = "auth = logon: the Logon ack is the authentication (no UserRequest)",
     .steps =
	 S(LOGIN_TO_CONNECTING, E(CONNECTED, .trans = "", .acts = "START_STATE_TIMER", .st = AUTH),
	   E(LOGON, .trans = "Authenticating<Connecting Active<Authenticating",
	     .acts = "SUCCEED(1)", .st = ACT)),
     .auth_logon = 1},
    {.name = "auth = logon: a Logout instead of the ack stays rejected",
     .steps =
	 S(LOGIN_TO_CONNECTING, E(CONNECTED, .trans = "", .acts = "START_STATE_TIMER", .st = AUTH),
	   E(CLOSED, .err = BT_ERR_REJECTED,
	     .trans = "Authenticating<Connecting Failed<Authenticating:rejected",
	     .acts = "FAIL(1,rejected)", .st = FAIL)),
     .auth_logon = 1},
    {.name = "auth = logon: a reconnect is back Active at the ack",
     .steps =
	 S(LOGIN_TO_CONNECTING, E(CONNECTED, .trans = "", .acts = "START_STATE_TIMER", .st = AUTH),
	   E(LOGON, .trans = "Authenticating<Connecting Active<Authenticating",
	     .acts = "SUCCEED(1)", .st = ACT),
	   E(CLOSED, .err = BT_ERR_DISCONNECTED, .trans = "Connecting<Active:disconnected",
	     .acts = "START_RECONNECT_TIMER#1", .st = CON),
	   E(RECONNECT_TIMER, .trans = "", .acts = "REOPEN_CONN", .st = CON),
	   E(CONNECTED, .trans = "", .acts = "START_STATE_TIMER", .st = AUTH),
	   E(LOGON, .trans = "Authenticating<Connecting Active<Authenticating", .acts = "",
	     .st = ACT)),
     .rc_on = 1,
     .auth_logon = 1},

    /* ---- reconnect */
    {.name = "reconnect: a drop of an Active session goes to Connecting; at once, then backed off",
     .steps =
	 S(LOGIN_TO_ACTIVE,
	   E(CLOSED, .err = BT_ERR_DISCONNECTED, .trans = "Connecting<Active:disconnected",
	     .acts = "START_RECONNECT_TIMER#1", .st = CON),
	   E(RECONNECT_TIMER, .trans = "", .acts = "REOPEN_CONN", .st = CON),
	   E(CLOSED, .err = BT_ERR_CONNECT_FAILED, .trans = "Connecting<Connecting:connect_failed",
	     .acts = "START_RECONNECT_TIMER#2", .st = CON),
	   E(RECONNECT_TIMER, .trans = "", .acts = "REOPEN_CONN", .st = CON),
	   E(CONNECTED, .trans = "", .acts = "START_STATE_TIMER", .st = AUTH),
	   E(STATE_TIMER, .trans = "Authenticating<Connecting", .acts = "", .st = AUTH),
	   E(LOGON, .trans = "", .acts = "SEND_USER_REQUEST", .st = AUTH),
	   E(USER_REQUEST_SENT, .trans = "", .acts = "START_UR_TIMER", .st = AUTH),
	   E(USER_RESPONSE, .status = 1, .trans = "Active<Authenticating", .acts = "STOP_UR_TIMER",
	     .st = ACT),
	   /* the count starts again after a success */
	   E(SEND_FAILED, .err = BT_ERR_DISCONNECTED, .trans = "Connecting<Active:disconnected",
	     .acts = "DROP_CONN START_RECONNECT_TIMER#1", .st = CON)),
     .rc_on = 1,
     .rc_max = 0},
    {.name = "reconnect: a refused login stops retrying",
     .steps = S(LOGIN_TO_ACTIVE,
		E(CLOSED, .err = BT_ERR_DISCONNECTED, .trans = "Connecting<Active:disconnected",
		  .acts = "START_RECONNECT_TIMER#1", .st = CON),
		E(RECONNECT_TIMER, .trans = "", .acts = "REOPEN_CONN", .st = CON),
		E(CONNECTED, .trans = "", .acts = "START_STATE_TIMER", .st = AUTH),
		E(LOGON, .trans = "", .acts = "SEND_USER_REQUEST", .st = AUTH),
		E(USER_RESPONSE, .status = 4, .trans = "",
		  .acts = "STOP_UR_TIMER SEND_REFUSAL_LOGOUT(rejected)", .st = AUTH),
		E(REFUSAL_LOGOUT_SENT, .err = BT_ERR_REJECTED,
		  .trans = "Authenticating<Connecting Failed<Authenticating:rejected",
		  .acts = "STOP_RECONNECT_TIMER", .st = FAIL),
		E(CLOSED, .err = BT_ERR_DISCONNECTED, .trans = "", .acts = "", .st = FAIL),
		E(RECONNECT_TIMER, .trans = "", .acts = "", .st = FAIL)),
     .rc_on = 1,
     .rc_max = 0},
    {.name = "reconnect: a Logout in answer to our Logon stops retrying",
     .steps = S(LOGIN_TO_ACTIVE,
		E(CLOSED, .err = BT_ERR_DISCONNECTED, .trans = "Connecting<Active:disconnected",
		  .acts = "START_RECONNECT_TIMER#1", .st = CON),
		E(RECONNECT_TIMER, .trans = "", .acts = "REOPEN_CONN", .st = CON),
		E(CONNECTED, .trans = "", .acts = "START_STATE_TIMER", .st = AUTH),
		E(CLOSED, .err = BT_ERR_REJECTED,
		  .trans = "Authenticating<Connecting Failed<Authenticating:rejected",
		  .acts = "STOP_RECONNECT_TIMER", .st = FAIL)),
     .rc_on = 1,
     .rc_max = 0},
    {.name = "reconnect: Failed once the attempts ran out",
     .steps =
	 S(LOGIN_TO_ACTIVE,
	   E(CLOSED, .err = BT_ERR_DISCONNECTED, .trans = "Connecting<Active:disconnected",
	     .acts = "START_RECONNECT_TIMER#1", .st = CON),
	   E(RECONNECT_TIMER, .trans = "", .acts = "REOPEN_CONN", .st = CON),
	   E(FAIL, .err = BT_ERR_CONNECT_FAILED, .trans = "Connecting<Connecting:connect_failed",
	     .acts = "START_RECONNECT_TIMER#2", .st = CON),
	   E(RECONNECT_TIMER, .trans = "", .acts = "REOPEN_CONN", .st = CON),
	   E(CLOSED, .err = BT_ERR_CONNECT_FAILED, .trans = "Failed<Connecting:connect_failed",
	     .acts = "STOP_RECONNECT_TIMER", .st = FAIL)),
     .rc_on = 1,
     .rc_max = 2},
    {.name = "reconnect: a store error is no reason to retry",
     .steps = S(LOGIN_TO_ACTIVE,
		E(CLOSED, .err = BT_ERR_DISCONNECTED, .trans = "Connecting<Active:disconnected",
		  .acts = "START_RECONNECT_TIMER#1", .st = CON),
		E(RECONNECT_TIMER, .trans = "", .acts = "REOPEN_CONN", .st = CON),
		E(FAIL, .err = BT_ERR_STORE, .trans = "Failed<Connecting:store",
		  .acts = "STOP_RECONNECT_TIMER", .st = FAIL)),
     .rc_on = 1,
     .rc_max = 0},
    {.name = "reconnect: logout() while waiting stops it at once",
     .steps =
	 S(LOGIN_TO_ACTIVE,
	   E(CLOSED, .err = BT_ERR_DISCONNECTED, .trans = "Connecting<Active:disconnected",
	     .acts = "START_RECONNECT_TIMER#1", .st = CON),
	   E(LOGIN, .op = 2, .trans = "", .acts = "!invalid_state", .st = CON),
	   E(LOGOUT, .op = 2, .trans = "", .acts = "STOP_RECONNECT_TIMER POST_LOGOUT", .st = CON),
	   E(RECONNECT_TIMER, .trans = "", .acts = "", .st = CON),
	   E(START_LOGOUT, .trans = "Disconnected<Connecting", .acts = "DROP_CONN SUCCEED(2)",
	     .st = D)),
     .rc_on = 1,
     .rc_max = 0},
    {.name = "reconnect: logout() during an attempt ends it",
     .steps =
	 S(LOGIN_TO_ACTIVE,
	   E(CLOSED, .err = BT_ERR_DISCONNECTED, .trans = "Connecting<Active:disconnected",
	     .acts = "START_RECONNECT_TIMER#1", .st = CON),
	   E(RECONNECT_TIMER, .trans = "", .acts = "REOPEN_CONN", .st = CON),
	   E(CONNECTED, .trans = "", .acts = "START_STATE_TIMER", .st = AUTH),
	   E(LOGOUT, .op = 2, .trans = "", .acts = "STOP_RECONNECT_TIMER POST_LOGOUT", .st = AUTH),
	   E(START_LOGOUT, .has_conn = 1,
	     .trans = "Authenticating<Connecting Disconnected<Authenticating",
	     .acts = "DROP_CONN SUCCEED(2)", .st = D)),
     .rc_on = 1,
     .rc_max = 0},
    {.name = "reconnect: close() stops the timer",
     .steps = S(LOGIN_TO_ACTIVE,
		E(CLOSED, .err = BT_ERR_TIMEOUT, .trans = "Connecting<Active:timeout",
		  .acts = "START_RECONNECT_TIMER#1", .st = CON),
		E(TEARDOWN, .trans = "", .acts = "STOP_RECONNECT_TIMER DROP_CONN", .st = CON),
		E(RECONNECT_TIMER, .trans = "", .acts = "", .st = CON)),
     .rc_on = 1,
     .rc_max = 0},
    {.name = "reconnect: the first login() is not retried",
     .steps = S(LOGIN_TO_CONNECTING,
		E(CLOSED, .err = BT_ERR_CONNECT_FAILED, .trans = "Failed<Connecting:connect_failed",
		  .acts = "FAIL(1,connect_failed)", .st = FAIL)),
     .rc_on = 1,
     .rc_max = 0},
    {.name = "reconnect: our own logout() is no loss",
     .steps = S(LOGIN_TO_ACTIVE, E(LOGOUT, .op = 2, .trans = "", .acts = "POST_LOGOUT", .st = ACT),
		E(START_LOGOUT, .has_conn = 1, .trans = "", .acts = "SEND_LOGOUT", .st = ACT),
		E(LOGOUT_SENT, .trans = "", .acts = "", .st = ACT),
		E(CLOSED, .err = BT_ERR_DISCONNECTED, .trans = "Disconnected<Active",
		  .acts = "SUCCEED(2)", .st = D)),
     .rc_on = 1,
     .rc_max = 0},
};

static void fmt_trans(const struct am_out *out, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = '\0';
	for (int i = 0; i < out->ntrans; i++) {
		const struct am_transition *t = &out->trans[i];
		n += (size_t)snprintf(buf + n, len - n, "%s%s<%s%s%s", i ? " " : "",
				      bt_auth_state_name(t->st), bt_auth_state_name(t->old),
				      t->err ? ":" : "", err_names[t->err]);
	}
}

static void fmt_acts(const struct am_out *out, char *buf, size_t len)
{
	size_t n = 0;
	buf[0] = '\0';
	if (out->refused) {
		snprintf(buf, len, "!%s", err_names[out->err]);
		return;
	}
	if (out->done) {
		snprintf(buf, len, "=done");
		return;
	}
	for (int i = 0; i < out->nacts; i++) {
		const struct am_action *x = &out->acts[i];
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? " " : "", act_names[x->type]);
		int idx = op_index(x->op);
		if (idx && x->err)
			n += (size_t)snprintf(buf + n, len - n, "(%d,%s)", idx, err_names[x->err]);
		else if (idx)
			n += (size_t)snprintf(buf + n, len - n, "(%d)", idx);
		else if (x->type == AM_ACT_START_RECONNECT_TIMER)
			n += (size_t)snprintf(buf + n, len - n, "#%u", x->n);
		else if (x->err && x->type == AM_ACT_SEND_REFUSAL_LOGOUT)
			n += (size_t)snprintf(buf + n, len - n, "(%s)", err_names[x->err]);
	}
}

static void test_scenarios(void)
{
	_Static_assert(sizeof err_names / sizeof err_names[0] == BT_ERR_COUNT_, "err names");
	_Static_assert(sizeof act_names / sizeof act_names[0] == AM_ACT_REOPEN_CONN + 1,
		       "act names");
	for (size_t s = 0; s < sizeof scenarios / sizeof scenarios[0]; s++) {
		const struct scenario *sc = &scenarios[s];
		struct auth_machine m;
		am_init(&m);
		m.rc_on = sc->rc_on;
		m.rc_max = sc->rc_max;
		m.auth_logon = sc->auth_logon;
		for (int i = 0; i < 24 && sc->steps[i].trans; i++) {
			const struct step *st = &sc->steps[i];
			struct am_event ev = {
			    .type = st->ev,
			    .op = OP(st->op),
			    .err = st->err,
			    .msg = st->err ? "why" : NULL,
			    .client_id = "C1",
			    .status = st->status,
			    .has_conn = st->has_conn,
			    .op_cancelled = st->cancelled,
			};
			struct am_out out;
			am_step(&m, &ev, &out);
			char trans[256], acts[256];
			fmt_trans(&out, trans, sizeof trans);
			fmt_acts(&out, acts, sizeof acts);
			int before = t_failed_checks;
			T_EQ_STR(trans, st->trans);
			T_EQ_STR(acts, st->acts);
			T_EQ_INT(m.st, st->st);
			/* the lists are never full, so no step could lose an entry */
			T_OK(out.nacts < AM_MAX_ACTIONS);
			T_OK(out.ntrans < AM_MAX_TRANSITIONS);
			if (t_failed_checks != before)
				fprintf(stderr, "    in \"%s\", step %d\n", sc->name, i + 1);
		}
	}
}

/* The reasons and ids the machine keeps for state() and sender_comp_id(). */
static void test_reason_and_comp_id(void)
{
	struct auth_machine m;
	am_init(&m);
	struct am_out out;
	struct am_event ev = {.type = AM_EV_REGISTER, .op = OP(1)};
	am_step(&m, &ev, &out);
	ev = (struct am_event){.type = AM_EV_START_REGISTER, .op = OP(1)};
	am_step(&m, &ev, &out);
	ev = (struct am_event){.type = AM_EV_REGISTER_DONE, .client_id = "CLIENT7"};
	am_step(&m, &ev, &out);
	T_EQ_STR(m.comp_id, "CLIENT7");
	T_EQ_STR(m.reason, "");
	T_EQ_INT(m.err, BT_ERR_NONE);

	ev = (struct am_event){.type = AM_EV_LOGIN, .op = OP(2)};
	am_step(&m, &ev, &out);
	ev = (struct am_event){.type = AM_EV_START_LOGIN, .op = OP(2)};
	am_step(&m, &ev, &out);
	ev = (struct am_event){.type = AM_EV_CONNECTED};
	am_step(&m, &ev, &out);
	ev = (struct am_event){
	    .type = AM_EV_USER_RESPONSE, .status = 4, .msg = "Password Incorrect"};
	am_step(&m, &ev, &out);
	/* 58 saying what 926 says is not repeated */
	T_EQ_STR(out.acts[1].msg, "password incorrect (UserStatus 4)");
	ev = (struct am_event){.type = AM_EV_USER_RESPONSE, .status = 6, .msg = "locked"};
	am_step(&m, &ev, &out);
	T_EQ_STR(out.acts[1].msg, "login refused (UserStatus 6): locked");
	ev = (struct am_event){
	    .type = AM_EV_REFUSAL_LOGOUT_SENT, .err = BT_ERR_REJECTED, .msg = out.acts[1].msg};
	struct am_out out2;
	am_step(&m, &ev, &out2);
	T_EQ_STR(m.reason, "login refused (UserStatus 6): locked");
	T_EQ_INT(m.err, BT_ERR_REJECTED);
	/* the failed op's message is the step's own copy */
	T_EQ_STR(out2.acts[0].msg, "login refused (UserStatus 6): locked");
	T_OK(out2.acts[0].msg == out2.msg);
	T_EQ_STR(out2.trans[out2.ntrans - 1].reason, "login refused (UserStatus 6): locked");
	T_EQ_STR(m.comp_id, "CLIENT7"); /* only a successful login replaces it */

	ev = (struct am_event){.type = AM_EV_LOGIN, .op = OP(3)};
	am_step(&m, &ev, &out);
	ev = (struct am_event){.type = AM_EV_START_LOGIN, .op = OP(3)};
	am_step(&m, &ev, &out);
	ev = (struct am_event){.type = AM_EV_CONNECTED};
	am_step(&m, &ev, &out);
	ev = (struct am_event){.type = AM_EV_USER_RESPONSE, .status = 1, .client_id = "CLIENT8"};
	am_step(&m, &ev, &out);
	T_EQ_STR(m.comp_id, "CLIENT8");
	T_OK(am_can_send(&m));
	T_EQ_STR(m.reason, "login refused (UserStatus 6): locked"); /* the last failure */
	ev = (struct am_event){.type = AM_EV_LOGOUT, .op = OP(1)};
	am_step(&m, &ev, &out);
	T_OK(!am_can_send(&m)); /* logging out */
}

/* Refusals say why, with the state. */
static void test_refusal_messages(void)
{
	struct auth_machine m;
	am_init(&m);
	struct am_out out;
	struct am_event ev = {.type = AM_EV_LOGIN, .op = OP(1)};
	am_step(&m, &ev, &out);
	ev.op = OP(2);
	am_step(&m, &ev, &out);
	T_EQ_STR(out.msg, "login() while Connecting: one operation at a time (logout first)");
	ev.type = AM_EV_REGISTER;
	am_step(&m, &ev, &out);
	T_EQ_STR(out.msg, "register() while Connecting: one operation at a time (logout first)");
	ev.type = AM_EV_LOGOUT;
	am_step(&m, &ev, &out);
	T_OK(!out.refused);
	ev.op = OP(3);
	am_step(&m, &ev, &out);
	T_EQ_STR(out.msg, "logout() already in progress");

	am_init(&m);
	ev = (struct am_event){.type = AM_EV_REGISTER, .op = OP(1)};
	am_step(&m, &ev, &out);
	ev = (struct am_event){.type = AM_EV_LOGOUT, .op = OP(2)};
	am_step(&m, &ev, &out);
	T_EQ_STR(out.msg, "logout() while Registering: cancel the register() operation");
}

/* The backoff: at once, then interval * backoff^k up to the cap, +-jitter. */
static void test_reconnect_delay(void)
{
	T_EQ_INT(am_reconnect_delay_ms(1000, 30000, 2, 0.1, 1, 0.9), 0);
	T_EQ_INT(am_reconnect_delay_ms(1000, 30000, 2, 0.1, 2, 0.5), 1000);
	T_EQ_INT(am_reconnect_delay_ms(1000, 30000, 2, 0.1, 3, 0.5), 2000);
	T_EQ_INT(am_reconnect_delay_ms(1000, 30000, 2, 0.1, 4, 0.5), 4000);
	T_EQ_INT(am_reconnect_delay_ms(1000, 30000, 2, 0.1, 6, 0.5), 16000);
	T_EQ_INT(am_reconnect_delay_ms(1000, 30000, 2, 0.1, 7, 0.5), 30000);
	T_EQ_INT(am_reconnect_delay_ms(1000, 30000, 2, 0.1, 4000000000u, 0.5), 30000);
	T_EQ_INT(am_reconnect_delay_ms(1000, 30000, 2, 0.1, 2, 0.0), 900);
	T_EQ_INT(am_reconnect_delay_ms(1000, 30000, 2, 0.1, 7, 0.0), 27000);
	T_EQ_INT(am_reconnect_delay_ms(500, 30000, 1, 0, 9, 0.7), 500);

	/* nothing may be queued for a connection being replaced */
	struct auth_machine m;
	am_init(&m);
	m.st = BT_AUTH_CONNECTING;
	m.reconnecting = 1;
	T_OK(!am_can_send(&m));
}

int main(void)
{
	T_RUN(test_reconnect_delay);
	T_RUN(test_scenarios);
	T_RUN(test_reason_and_comp_id);
	T_RUN(test_refusal_messages);
	return T_END();
}
