/* The AuthCoordinator's state machine, sans I/O: am_step(machine, event)
 * fills a list of transitions (each a "state" event to post) and actions
 * (what the driver, auth.c, must do: drop the connection, send a Logout,
 * finish an op). No threads, sockets, clocks or allocation here; the driver
 * calls am_step with its mutex held, posts the transitions before it lets go
 * of the mutex (so "state" events keep the order of the states), then runs
 * the actions in order, outside the mutex. An action whose I/O can fail, or
 * that makes user events of its own (a traced Logout), is the last of its
 * step: the driver reports its outcome as the next event, so what follows
 * it happens in the order it did on the wire.
 *
 * The states and their transitions are the README's diagram:
 *
 *   Disconnected --register--> Registering --ok--> Disconnected (client_id known)
 *                                           --error--> Failed
 *   Disconnected --login--> Connecting --Logon sent--> Authenticating
 *                                           --35=BF 926=1--> Active
 *   Active --logout--> Disconnected; Active --drop/peer Logout--> Failed
 *   Failed --register/login/logout--> like Disconnected
 *
 * With reconnect on (rc_on), an unplanned end of an Active session goes to
 * Connecting instead of Failed, with the reason, and the driver starts the
 * backoff timer (AM_ACT_START_RECONNECT_TIMER, attempt n); each failed
 * attempt posts Connecting again with its reason. A refused login (UserStatus
 * other than 1, or a Logout in answer to our Logon), a store error, rc_max attempts, logout() or
 * close() end it.
 *
 * Ops are opaque handles here (compared, never touched). The machine holds
 * two slots: `op` (the register/login in flight) and `logout_op`. Every
 * register/login claim bumps `attempt`; the HTTP request and the FIX
 * connection remember the attempt that started them (`req_gen`, `conn_gen`),
 * and their late events are ignored once a newer claim took their place. */
#ifndef BT_AUTH_MACHINE_H
#define BT_AUTH_MACHINE_H

#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "op.h"

#define AM_REASON_MAX 512
#define AM_COMP_ID_MAX 65

struct bt_op;

struct auth_machine {
	enum bt_auth_state st;
	enum bt_err err;              /* of the last failure */
	char reason[AM_REASON_MAX];   /* of the last failure */
	char comp_id[AM_COMP_ID_MAX]; /* SenderCompID known from register/login */
	struct bt_op *op;             /* register/login in flight */
	struct bt_op *logout_op;      /* logout in flight */
	uint64_t attempt;             /* bumped by every register/login claim */
	uint64_t req_gen;             /* the claim that started the HTTP request */
	uint64_t conn_gen;            /* the claim that opened the connection */
	int logout_sent;              /* our Logout is out on the current connection */
	/* Authenticating is entered when the Logon is about to be written; its
	 * event waits until the bytes are out (AM_EV_STATE_TIMER) or the next
	 * transition, so that waking the owner stays off the login's critical
	 * path. st already says Authenticating meanwhile. */
	int deferred;
	enum bt_auth_state deferred_old;
	/* Reconnect (set by the driver at creation). */
	int rc_on;
	unsigned rc_max;   /* attempts after a loss; 0: no limit */
	int reconnecting;  /* lost an Active session, trying again */
	unsigned rc_tries; /* failed attempts since the loss */
	/* auth = "logon": the peer's Logon ack is the authentication (no 35=BE) */
	int auth_logon;
};

enum am_event_type {
	/* caller's thread: claims */
	AM_EV_REGISTER, /* op: the new op (NULL: out of memory) */
	AM_EV_LOGIN,    /* op: the new op (NULL: out of memory) */
	AM_EV_LOGOUT,   /* op: the new op (NULL: out of memory) */
	/* either thread: an I/O step of the attempt failed (store, post, open) */
	AM_EV_FAIL, /* err, msg */
	AM_EV_LOGOUT_POST_FAILED,
	/* I/O thread */
	AM_EV_START_REGISTER,      /* op: the job's op */
	AM_EV_START_LOGIN,         /* op: the job's op */
	AM_EV_REGISTER_DONE,       /* err (NONE: ok), msg, client_id */
	AM_EV_CONNECTED,           /* the Logon is about to be written */
	AM_EV_STATE_TIMER,         /* the Logon is out: post a deferred Authenticating */
	AM_EV_LOGON,               /* the peer's Logon arrived: client_id (auth_logon) */
	AM_EV_USER_REQUEST_SENT,   /* err (NONE: sent), msg */
	AM_EV_USER_RESPONSE,       /* status, msg (58 text), client_id */
	AM_EV_REFUSAL_LOGOUT_SENT, /* after a refusal's Logout: msg */
	AM_EV_UR_TIMEOUT,          /* msg */
	AM_EV_CLOSED,              /* the connection ended: err, msg */
	AM_EV_START_LOGOUT,        /* has_conn */
	AM_EV_LOGOUT_SENT,         /* err (NONE: sent) */
	AM_EV_OP_CANCELLED,        /* op: the register/login op whose hook runs; has_conn */
	AM_EV_SEND_FAILED,         /* err, msg */
	AM_EV_REACTOR_FAILED,      /* msg */
	AM_EV_TEARDOWN,
	AM_EV_RECONNECT_TIMER, /* the backoff delay is over */
};

struct am_event {
	enum am_event_type type;
	struct bt_op *op;
	enum bt_err err;
	const char *msg;
	const char *client_id;
	int status;       /* UserStatus(926) */
	int has_conn;     /* the driver holds a FIX connection */
	int op_cancelled; /* claims: the op in the slot was cancelled by its owner */
};

enum am_action_type {
	AM_ACT_DROP_CONN,         /* free the connection, stop its timers, wipe the password */
	AM_ACT_CANCEL_REQ,        /* cancel the HTTP request in flight */
	AM_ACT_START_REGISTER,    /* POST /api/register (failure: AM_EV_FAIL) */
	AM_ACT_OPEN_CONN,         /* open the FIX connection (failure: AM_EV_FAIL) */
	AM_ACT_SAVE_TOKEN,        /* keep the registration's token */
	AM_ACT_START_STATE_TIMER, /* zero-delay timer (failure: AM_EV_STATE_TIMER) */
	AM_ACT_SEND_USER_REQUEST, /* 35=BE, wipe the password; AM_EV_USER_REQUEST_SENT */
	AM_ACT_START_UR_TIMER,    /* the UserResponse deadline */
	AM_ACT_STOP_UR_TIMER,
	AM_ACT_SEND_LOGOUT,           /* our Logout; then AM_EV_LOGOUT_SENT */
	AM_ACT_SEND_REFUSAL_LOGOUT,   /* our Logout; then AM_EV_REFUSAL_LOGOUT_SENT */
	AM_ACT_POST_MESSAGE,          /* the inbound message becomes a "message" event */
	AM_ACT_POST_LOGOUT,           /* post AM_EV_START_LOGOUT to the I/O thread */
	AM_ACT_CANCEL_OP,             /* cancel op (reference taken under the mutex) */
	AM_ACT_RELEASE,               /* drop the slot's reference to op, unfinished */
	AM_ACT_SUCCEED,               /* finish op: true (or the registration's values) */
	AM_ACT_FAIL,                  /* finish op with err and msg, drop the reference */
	AM_ACT_START_RECONNECT_TIMER, /* n: the attempt it is for (1 = at once) */
	AM_ACT_STOP_RECONNECT_TIMER,
	AM_ACT_REOPEN_CONN, /* the last login's credentials again (failure: AM_EV_FAIL) */
};

struct am_action {
	enum am_action_type type;
	struct bt_op *op;
	enum bt_err err;
	const char *msg; /* a literal or am_out.msg */
	unsigned n;      /* AM_ACT_START_RECONNECT_TIMER: the attempt */
};

struct am_transition {
	enum bt_auth_state st, old;
	enum bt_err err; /* BT_ERR_NONE: no reason (a success path) */
	const char *reason;
};

#define AM_MAX_TRANSITIONS 4
#define AM_MAX_ACTIONS 10

struct am_out {
	int ntrans, nacts;
	struct am_transition trans[AM_MAX_TRANSITIONS];
	struct am_action acts[AM_MAX_ACTIONS];
	/* Claims: refused (with err and msg), or done at once (logout while
	 * Disconnected), or accepted (the op is in its slot). */
	int refused, done;
	enum bt_err err;
	char msg[AM_REASON_MAX];
};

void am_init(struct auth_machine *m);

void am_step(struct auth_machine *m, const struct am_event *ev, struct am_out *out);

/* The delay before reconnect attempt n (1: the first after the loss, at
 * once; then interval_ms * backoff^(n-2) up to max_ms), spread by
 * +-jitter (a fraction) with u in [0, 1). */
int64_t am_reconnect_delay_ms(int64_t interval_ms, int64_t max_ms, double backoff, double jitter,
			      unsigned n, double u);

/* bt_auth_send may queue: Active and no logout() in progress. */
int am_can_send(const struct auth_machine *m);

#endif
