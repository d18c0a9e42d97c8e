/* The AuthCoordinator's transition rules (see auth_machine.h). */
#include "auth_machine.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const state_names[] = {
    "Disconnected", "Registering", "Connecting", "Authenticating", "Active", "Failed",
};

const char *bt_auth_state_name(enum bt_auth_state st)
{
	if ((unsigned)st < sizeof state_names / sizeof state_names[0])
		return state_names[st];
	return "?";
}

void am_init(struct auth_machine *m)
{
	memset(m, 0, sizeof *m);
	m->st = BT_AUTH_DISCONNECTED;
}

int am_can_send(const struct auth_machine *m)
{
	return m->st == BT_AUTH_ACTIVE && !m->logout_op;
}

static void act(struct am_out *out, enum am_action_type type, struct bt_op *op, enum bt_err err,
		const char *msg)
{
	/* AM_MAX_ACTIONS is above the longest list a step makes (the tests
	 * check every step), so this never drops one */
	int finishes = type == AM_ACT_SUCCEED || type == AM_ACT_FAIL || type == AM_ACT_RELEASE;
	if (finishes && !op)
		return; /* an empty slot: nothing to finish */
	if (out->nacts < AM_MAX_ACTIONS)
		out->acts[out->nacts++] = (struct am_action){type, op, err, msg, 0};
}

static void push_trans(struct am_out *out, enum bt_auth_state st, enum bt_auth_state old,
		       enum bt_err err, const char *reason)
{
	if (out->ntrans < AM_MAX_TRANSITIONS)
		out->trans[out->ntrans++] = (struct am_transition){st, old, err, reason};
}

/* The deferred Authenticating event goes out before any later one. */
static void flush_deferred(struct auth_machine *m, struct am_out *out)
{
	if (!m->deferred)
		return;
	m->deferred = 0;
	push_trans(out, BT_AUTH_AUTHENTICATING, m->deferred_old, BT_ERR_NONE, NULL);
}

/* err NONE: a success path, no reason kept; otherwise the new last error. */
static void set_state(struct auth_machine *m, struct am_out *out, enum bt_auth_state st,
		      enum bt_err err, const char *reason)
{
	flush_deferred(m, out);
	enum bt_auth_state old = m->st;
	m->st = st;
	if (st == BT_AUTH_FAILED) {
		snprintf(m->reason, sizeof m->reason, "%s", reason ? reason : "failed");
		m->err = err;
		reason = m->reason;
	}
	if (old != st)
		push_trans(out, st, old, err, reason);
}

static struct bt_op *take(struct bt_op **slot)
{
	struct bt_op *op = *slot;
	*slot = NULL;
	return op;
}

static void drop_conn(struct auth_machine *m, struct am_out *out)
{
	m->logout_sent = 0;
	flush_deferred(m, out);
	act(out, AM_ACT_DROP_CONN, NULL, BT_ERR_NONE, NULL);
}

/* The attempt in flight fails: Failed first, then its op, so on_state
 * handlers run before await returns. */
static void fail_current(struct auth_machine *m, struct am_out *out, enum bt_err err,
			 const char *msg)
{
	if (m->reconnecting)
		act(out, AM_ACT_STOP_RECONNECT_TIMER, NULL, BT_ERR_NONE, NULL);
	m->reconnecting = 0;
	set_state(m, out, BT_AUTH_FAILED, err, msg);
	/* the actions run after the mutex is let go: keep this step's copy */
	snprintf(out->msg, sizeof out->msg, "%s", m->reason);
	act(out, AM_ACT_FAIL, take(&m->op), err, out->msg);
}

int64_t am_reconnect_delay_ms(int64_t interval_ms, int64_t max_ms, double backoff, double jitter,
			      unsigned n, double u)
{
	if (n <= 1)
		return 0; /* QuickFIX's habit: the first try at once */
	double d = (double)interval_ms;
	for (unsigned i = 2; i < n && d < (double)max_ms; i++)
		d *= backoff;
	if (d > (double)max_ms)
		d = (double)max_ms;
	d *= 1.0 + jitter * (2.0 * u - 1.0);
	return d < 0 ? 0 : (int64_t)d;
}

/* An unplanned end that reconnect takes over: an Active session, or an
 * attempt to get it back (not a login() in flight: its op says why). */
static int may_reconnect(const struct auth_machine *m)
{
	return m->rc_on && !m->op && !m->logout_op && (m->st == BT_AUTH_ACTIVE || m->reconnecting);
}

/* The session (or an attempt to get it back) is lost: Connecting again with
 * the reason, and the next attempt after its delay; Failed once rc_max
 * attempts failed. */
static void lose(struct auth_machine *m, struct am_out *out, enum bt_err err, const char *msg)
{
	flush_deferred(m, out);
	if (m->reconnecting) {
		m->rc_tries++;
	} else {
		m->reconnecting = 1;
		m->rc_tries = 0;
	}
	if (m->rc_max && m->rc_tries >= m->rc_max) {
		char why[AM_REASON_MAX];
		snprintf(why, sizeof why, "gave up reconnecting after %u attempts: %.400s",
			 m->rc_tries, msg ? msg : "connection lost");
		fail_current(m, out, err, why);
		return;
	}
	snprintf(m->reason, sizeof m->reason, "%s", msg && *msg ? msg : "connection lost");
	m->err = err;
	/* posted even Connecting -> Connecting: each failed attempt is news */
	push_trans(out, BT_AUTH_CONNECTING, m->st, err, m->reason);
	m->st = BT_AUTH_CONNECTING;
	act(out, AM_ACT_START_RECONNECT_TIMER, NULL, BT_ERR_NONE, NULL);
	out->acts[out->nacts - 1].n = m->rc_tries + 1;
}

static void reconnect_timer(struct auth_machine *m, struct am_out *out)
{
	if (!m->reconnecting || m->st != BT_AUTH_CONNECTING || m->op || m->logout_op)
		return; /* stopped meanwhile */
	m->conn_gen = m->attempt;
	act(out, AM_ACT_REOPEN_CONN, NULL, BT_ERR_NONE, NULL);
}

static void refuse(struct am_out *out, const char *fmt, const char *what, const char *st)
{
	out->refused = 1;
	out->err = BT_ERR_INVALID_STATE;
	snprintf(out->msg, sizeof out->msg, fmt, what, st);
}

/* register() / login(): claimed at call time, on the caller's thread. */
static void claim(struct auth_machine *m, const struct am_event *ev, struct am_out *out)
{
	int reg = ev->type == AM_EV_REGISTER;
	/* A register/login whose op its owner cancelled is over for the caller,
	 * though its cancel hook has not run on the I/O thread yet: the new
	 * claim takes its place (through Disconnected). The old attempt's
	 * connection or request is dropped by the new attempt's start, and its
	 * late events are stale (attempt moved on). */
	if (m->op && !m->logout_op && ev->op_cancelled) {
		act(out, AM_ACT_RELEASE, take(&m->op), BT_ERR_NONE, NULL);
		if (m->st != BT_AUTH_FAILED)
			set_state(m, out, BT_AUTH_DISCONNECTED, BT_ERR_NONE, NULL);
	}
	int idle =
	    (m->st == BT_AUTH_DISCONNECTED || m->st == BT_AUTH_FAILED) && !m->op && !m->logout_op;
	if (!idle) {
		refuse(out, "%s() while %s: one operation at a time (logout first)",
		       reg ? "register" : "login", state_names[m->st]);
		return;
	}
	if (!ev->op)
		return; /* out of memory: nothing claimed */
	m->op = ev->op;
	m->attempt++;
	set_state(m, out, reg ? BT_AUTH_REGISTERING : BT_AUTH_CONNECTING, BT_ERR_NONE, NULL);
}

/* logout(): claimed at call time too. */
static void logout(struct auth_machine *m, const struct am_event *ev, struct am_out *out)
{
	if (m->logout_op) {
		refuse(out, "%s() already in progress", "logout", "");
		return;
	}
	switch (m->st) {
	case BT_AUTH_REGISTERING:
		refuse(out, "%s() while %s: cancel the register() operation", "logout",
		       "Registering");
		return;
	case BT_AUTH_CONNECTING:
	case BT_AUTH_AUTHENTICATING:
		if (!ev->op)
			return;
		if (m->reconnecting) {
			/* no further attempt; the one in flight ends in start_logout */
			m->reconnecting = 0;
			act(out, AM_ACT_STOP_RECONNECT_TIMER, NULL, BT_ERR_NONE, NULL);
		}
		m->logout_op = ev->op;
		/* The login may end on the I/O thread before its cancel hook
		 * runs, which then never runs (finishing an op drops its hook):
		 * the posted start_logout finishes this op in every case, a
		 * no-op if the hook did, a real Logout if we got Active. */
		if (m->op)
			act(out, AM_ACT_CANCEL_OP, m->op, BT_ERR_NONE, NULL);
		act(out, AM_ACT_POST_LOGOUT, NULL, BT_ERR_NONE, NULL);
		return;
	case BT_AUTH_ACTIVE:
		if (!ev->op)
			return;
		m->logout_op = ev->op;
		/* err: a failed post fails this op (AM_EV_LOGOUT_POST_FAILED) */
		act(out, AM_ACT_POST_LOGOUT, NULL, BT_ERR_NOMEM, NULL);
		return;
	case BT_AUTH_FAILED:
		set_state(m, out, BT_AUTH_DISCONNECTED, BT_ERR_NONE, NULL);
		/* fall through */
	default:
		out->done = 1;
		return;
	}
}

/* Logout's end without a (further) Logout exchange: not Active, no
 * connection, or the Logout could not be sent. */
static void logout_finish(struct auth_machine *m, struct am_out *out)
{
	drop_conn(m, out);
	struct bt_op *op = take(&m->logout_op);
	/* a login this logout() cancelled may still sit in its slot when its
	 * cancel hook has not run yet: the client is idle only once it is out */
	struct bt_op *login = take(&m->op);
	set_state(m, out, BT_AUTH_DISCONNECTED, BT_ERR_NONE, NULL);
	act(out, AM_ACT_FAIL, login, BT_ERR_CANCELLED, "login cancelled by logout()");
	act(out, AM_ACT_SUCCEED, op, BT_ERR_NONE, NULL);
}

static void start_logout(struct auth_machine *m, const struct am_event *ev, struct am_out *out)
{
	if (!m->logout_op)
		return; /* AM_EV_CLOSED or a cancel hook already finished it */
	if (m->st == BT_AUTH_ACTIVE && ev->has_conn) {
		/* may run twice for one logout() (a cancel hook and the post that
		 * backs it up); one Logout goes out */
		if (!m->logout_sent)
			act(out, AM_ACT_SEND_LOGOUT, NULL, BT_ERR_NONE, NULL);
		return;
	}
	logout_finish(m, out);
}

static const char *user_status_text(int status)
{
	switch (status) {
	case 2:
		return "not logged in";
	case 3:
		return "user not recognised";
	case 4:
		return "password incorrect";
	case 5:
		return "password changed";
	default:
		return "login refused";
	}
}

static void user_response(struct auth_machine *m, const struct am_event *ev, struct am_out *out)
{
	if (m->st != BT_AUTH_AUTHENTICATING) {
		/* e.g. the answer to a later 924=2 */
		act(out, AM_ACT_POST_MESSAGE, NULL, BT_ERR_NONE, NULL);
		return;
	}
	act(out, AM_ACT_STOP_UR_TIMER, NULL, BT_ERR_NONE, NULL);
	if (ev->status == 1) {
		m->reconnecting = 0;
		m->rc_tries = 0;
		snprintf(m->comp_id, sizeof m->comp_id, "%s", ev->client_id ? ev->client_id : "");
		set_state(m, out, BT_AUTH_ACTIVE, BT_ERR_NONE, NULL);
		act(out, AM_ACT_SUCCEED, take(&m->op), BT_ERR_NONE, NULL);
		return;
	}
	const char *meaning = user_status_text(ev->status);
	const char *t = ev->msg ? ev->msg : "";
	size_t tlen = strlen(t);
	if (tlen && strcasecmp(t, meaning) != 0)
		snprintf(out->msg, sizeof out->msg, "%s (UserStatus %d): %.300s", meaning,
			 ev->status, t);
	else
		snprintf(out->msg, sizeof out->msg, "%s (UserStatus %d)", meaning, ev->status);
	/* A clean end: our Logout goes out first (AM_EV_REFUSAL_LOGOUT_SENT
	 * then fails the login); the connection is dropped once the Logout is
	 * answered (AM_EV_CLOSED ignores it, the state is already set). */
	act(out, AM_ACT_SEND_REFUSAL_LOGOUT, NULL, BT_ERR_REJECTED, out->msg);
}

/* auth = "logon": the ack of our Logon is the login's success. */
static void logon_is_auth(struct auth_machine *m, const struct am_event *ev, struct am_out *out)
{
	m->reconnecting = 0;
	m->rc_tries = 0;
	snprintf(m->comp_id, sizeof m->comp_id, "%s", ev->client_id ? ev->client_id : "");
	set_state(m, out, BT_AUTH_ACTIVE, BT_ERR_NONE, NULL);
	act(out, AM_ACT_SUCCEED, take(&m->op), BT_ERR_NONE, NULL);
}

static void closed(struct auth_machine *m, const struct am_event *ev, struct am_out *out)
{
	m->logout_sent = 0;
	/* A refused login's connection may end only after the next register()
	 * or login() was claimed: its end is no news for that new attempt. */
	if (m->attempt != m->conn_gen)
		return;
	if (m->logout_op) {
		/* Our own Logout was answered (or timed out), or a login that
		 * logout() was cancelling ended first: a clean end either way. */
		struct bt_op *op = take(&m->logout_op);
		struct bt_op *login = take(&m->op);
		set_state(m, out, BT_AUTH_DISCONNECTED, BT_ERR_NONE, NULL);
		act(out, AM_ACT_FAIL, login, BT_ERR_CANCELLED, "login cancelled by logout()");
		act(out, AM_ACT_SUCCEED, op, BT_ERR_NONE, NULL);
		return;
	}
	if (m->st == BT_AUTH_FAILED || m->st == BT_AUTH_DISCONNECTED)
		return; /* already decided (a refused login being logged out) */
	if (!may_reconnect(m))
		fail_current(m, out, ev->err, ev->msg);
	else if (ev->err == BT_ERR_REJECTED)
		/* a Logout in answer to our Logon (the session's "rejected"): the
		 * login is refused (an unknown CompID), trying again cannot help */
		fail_current(m, out, ev->err, ev->msg);
	else
		lose(m, out, ev->err, ev->msg);
}

static void reactor_failed(struct auth_machine *m, const struct am_event *ev, struct am_out *out)
{
	act(out, AM_ACT_CANCEL_REQ, NULL, BT_ERR_NONE, NULL);
	drop_conn(m, out);
	int busy = m->st != BT_AUTH_DISCONNECTED && m->st != BT_AUTH_FAILED;
	if (busy)
		fail_current(m, out, BT_ERR_DISCONNECTED, ev->msg);
	const char *msg = busy ? out->msg : ev->msg;
	act(out, AM_ACT_FAIL, take(&m->op), BT_ERR_DISCONNECTED, msg);
	act(out, AM_ACT_FAIL, take(&m->logout_op), BT_ERR_DISCONNECTED, msg);
}

/* The I/O thread starts a claimed register(): unless cancelled meanwhile. */
static void start_register(struct auth_machine *m, const struct am_event *ev, struct am_out *out)
{
	if (m->op != ev->op)
		return;
	/* what a cancelled attempt may have left */
	act(out, AM_ACT_CANCEL_REQ, NULL, BT_ERR_NONE, NULL);
	drop_conn(m, out);
	m->req_gen = m->attempt;
	act(out, AM_ACT_START_REGISTER, NULL, BT_ERR_NONE, NULL);
}

static void start_login(struct auth_machine *m, const struct am_event *ev, struct am_out *out)
{
	if (m->op != ev->op)
		return;
	drop_conn(m, out); /* a refused login may still be logging out */
	act(out, AM_ACT_CANCEL_REQ, NULL, BT_ERR_NONE, NULL); /* a cancelled register() */
	m->conn_gen = m->attempt;
	act(out, AM_ACT_OPEN_CONN, NULL, BT_ERR_NONE, NULL);
}

static void register_done(struct auth_machine *m, const struct am_event *ev, struct am_out *out)
{
	if (m->attempt != m->req_gen)
		return; /* a cancelled register() whose place a new claim took */
	if (ev->err != BT_ERR_NONE) {
		fail_current(m, out, ev->err, ev->msg);
		return;
	}
	act(out, AM_ACT_SAVE_TOKEN, NULL, BT_ERR_NONE, NULL);
	snprintf(m->comp_id, sizeof m->comp_id, "%s", ev->client_id ? ev->client_id : "");
	set_state(m, out, BT_AUTH_DISCONNECTED, BT_ERR_NONE, NULL);
	act(out, AM_ACT_SUCCEED, take(&m->op), BT_ERR_NONE, NULL);
}

/* The Logon is about to be written: Authenticating now, its event deferred. */
static void connected(struct auth_machine *m, struct am_out *out)
{
	if (m->st != BT_AUTH_AUTHENTICATING) {
		flush_deferred(m, out);
		m->deferred_old = m->st;
		m->st = BT_AUTH_AUTHENTICATING;
		m->deferred = 1;
	}
	act(out, AM_ACT_START_STATE_TIMER, NULL, BT_ERR_NONE, NULL);
}

static void op_cancelled(struct auth_machine *m, const struct am_event *ev, struct am_out *out)
{
	if (m->op != ev->op) {
		/* The attempt ended on the I/O thread between the cancel and this
		 * hook: a logout() that cancelled it must still finish. */
		start_logout(m, ev, out);
		return;
	}
	m->op = NULL;
	act(out, AM_ACT_CANCEL_REQ, NULL, BT_ERR_NONE, NULL);
	drop_conn(m, out);
	set_state(m, out, BT_AUTH_DISCONNECTED, BT_ERR_NONE, NULL);
	act(out, AM_ACT_RELEASE, ev->op, BT_ERR_NONE, NULL);
	/* a logout() that cancelled this login finishes once Disconnected */
	act(out, AM_ACT_SUCCEED, take(&m->logout_op), BT_ERR_NONE, NULL);
}

/* A failure of the connection's own doing, for the attempt it belongs to. */
static void conn_failed(struct auth_machine *m, const struct am_event *ev, struct am_out *out,
			enum bt_err err)
{
	drop_conn(m, out);
	if (may_reconnect(m))
		lose(m, out, err, ev->msg);
	else
		fail_current(m, out, err, ev->msg);
}

void am_step(struct auth_machine *m, const struct am_event *ev, struct am_out *out)
{
	memset(out, 0, offsetof(struct am_out, msg));
	out->msg[0] = '\0';
	/* an event of a connection that a newer claim replaced */
	int stale = m->attempt != m->conn_gen;
	switch (ev->type) {
	case AM_EV_REGISTER:
	case AM_EV_LOGIN:
		claim(m, ev, out);
		break;
	case AM_EV_LOGOUT:
		logout(m, ev, out);
		break;
	case AM_EV_FAIL:
		/* a reconnect attempt that could not even start: the next one may */
		if (ev->err == BT_ERR_CONNECT_FAILED && m->reconnecting && may_reconnect(m))
			lose(m, out, ev->err, ev->msg);
		else
			fail_current(m, out, ev->err, ev->msg);
		break;
	case AM_EV_LOGOUT_POST_FAILED:
		act(out, AM_ACT_FAIL, take(&m->logout_op), BT_ERR_NOMEM,
		    "logout: could not reach the I/O thread");
		break;
	case AM_EV_START_REGISTER:
		start_register(m, ev, out);
		break;
	case AM_EV_START_LOGIN:
		start_login(m, ev, out);
		break;
	case AM_EV_REGISTER_DONE:
		register_done(m, ev, out);
		break;
	case AM_EV_CONNECTED:
		if (!stale)
			connected(m, out);
		break;
	case AM_EV_STATE_TIMER:
		flush_deferred(m, out);
		break;
	case AM_EV_LOGON:
		if (stale) /* a cancelled login's: dropped by the next start */
			break;
		if (m->auth_logon)
			logon_is_auth(m, ev, out);
		else
			act(out, AM_ACT_SEND_USER_REQUEST, NULL, BT_ERR_NONE, NULL);
		break;
	case AM_EV_USER_REQUEST_SENT:
		if (ev->err == BT_ERR_NONE)
			act(out, AM_ACT_START_UR_TIMER, NULL, BT_ERR_NONE, NULL);
		else
			conn_failed(m, ev, out, BT_ERR_PROTOCOL);
		break;
	case AM_EV_USER_RESPONSE:
		if (!stale)
			user_response(m, ev, out);
		break;
	case AM_EV_REFUSAL_LOGOUT_SENT:
		fail_current(m, out, BT_ERR_REJECTED, ev->msg);
		break;
	case AM_EV_UR_TIMEOUT:
		if (!stale)
			conn_failed(m, ev, out, BT_ERR_TIMEOUT);
		break;
	case AM_EV_CLOSED:
		closed(m, ev, out);
		break;
	case AM_EV_START_LOGOUT:
		start_logout(m, ev, out);
		break;
	case AM_EV_LOGOUT_SENT:
		if (ev->err == BT_ERR_NONE)
			m->logout_sent = 1; /* AM_EV_CLOSED finishes the op once answered */
		else
			logout_finish(m, out);
		break;
	case AM_EV_OP_CANCELLED:
		op_cancelled(m, ev, out);
		break;
	case AM_EV_SEND_FAILED:
		conn_failed(m, ev, out, ev->err);
		break;
	case AM_EV_REACTOR_FAILED:
		reactor_failed(m, ev, out);
		break;
	case AM_EV_TEARDOWN:
		m->reconnecting = 0;
		act(out, AM_ACT_STOP_RECONNECT_TIMER, NULL, BT_ERR_NONE, NULL);
		drop_conn(m, out);
		act(out, AM_ACT_FAIL, take(&m->op), BT_ERR_CANCELLED, "client closed");
		act(out, AM_ACT_FAIL, take(&m->logout_op), BT_ERR_CANCELLED, "client closed");
		break;
	case AM_EV_RECONNECT_TIMER:
		reconnect_timer(m, out);
		break;
	}
}
