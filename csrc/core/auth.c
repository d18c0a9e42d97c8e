/* The AuthCoordinator's driver (see auth.h for the state diagram and the
 * threading contract). The transition rules live in auth_machine.c, which
 * does no I/O; this file feeds it events (a call, a callback of the HTTP
 * client or the FIX connection, a timer) and carries out what it answers.
 *
 * Ownership: `mu` guards the machine (state, reason, client id, the op
 * slots) and the send queue, which other threads read and claim. Every
 * event goes through run(): the machine steps and the "state" events are
 * posted under mu, so they keep the order of the states; its actions then
 * run outside mu, in order. The caller's thread only claims (register,
 * login, logout) and posts; everything else (the HTTP client's requests,
 * the FIX connection, the password copy, the timers) belongs to the I/O
 * thread and is only touched there, in a posted function or a callback. */
#include "auth.h"
#include "auth_machine.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "fix_conn.h"
#include "http.h"
#include "op.h"
#include "reactor.h"
#include "seqstore.h"
#include "transport.h"

#define REASON_MAX AM_REASON_MAX

void bt_auth_cfg_init(struct bt_auth_cfg *cfg)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->max_response = BT_DEFAULT_MAX_RESPONSE;
	cfg->fix_port = BT_DEFAULT_FIX_PORT;
	cfg->target_comp_id = BT_DEFAULT_TARGET_COMP_ID;
	cfg->heartbeat_s = BT_DEFAULT_HEARTBEAT_S;
	cfg->max_body = FIX_DEFAULT_MAX_BODY;
	cfg->max_send_queue = BT_AUTH_DEFAULT_SEND_QUEUE;
	cfg->timeout_ms = BT_DEFAULT_TIMEOUT_MS;
	cfg->connect_timeout_ms = BT_DEFAULT_CONNECT_TIMEOUT_MS;
	cfg->logon_timeout_ms = BT_DEFAULT_LOGON_TIMEOUT_MS;
	cfg->logout_timeout_ms = BT_DEFAULT_LOGOUT_TIMEOUT_MS;
	cfg->resend_window = BT_DEFAULT_RESEND_WINDOW;
	cfg->reconnect_interval_ms = BT_DEFAULT_RECONNECT_INTERVAL_MS;
	cfg->reconnect_max_ms = BT_DEFAULT_RECONNECT_MAX_INTERVAL_MS;
	cfg->reconnect_backoff = BT_DEFAULT_RECONNECT_BACKOFF;
	cfg->reconnect_jitter = BT_DEFAULT_RECONNECT_JITTER;
}

/* Messages queued by bt_auth_send on the owner's thread, flushed in one
 * go on the I/O thread: one post per burst, not per message. Encoded as
 * records: [u16 msg_type len][msg_type][u32 nfields]{[u32 tag][u32 len][val]}. */
struct sendq {
	char *buf;
	size_t len, cap;
};

struct reg_job;
struct login_job;

struct bt_auth {
	struct bt_reactor *r;
	struct bt_cq *cq;
	uint64_t target;
	struct bt_auth_cfg cfg; /* strings point into `strings` */
	char *strings;
	size_t strings_len;

	pthread_mutex_t mu;
	struct auth_machine m;    /* the states and the op slots */
	struct bt_op *profile_op; /* profile request in flight (a reference) */
	struct sendq q;           /* filled by bt_auth_send */
	int conn_live;            /* a connection (and so maybe its store) exists */
	int q_posted;             /* a flush is already posted */
	/* The send queue's size as queued() tells it, under mu too: q holds
	 * q_msgs messages of at most q_wire bytes on the wire; io_* what the
	 * I/O thread took from q and the socket has not taken yet. */
	size_t q_msgs, q_wire;
	size_t io_bytes, io_msgs;
	int drain_wanted; /* post "drained" once nothing is queued */

	atomic_uint_fast64_t received; /* "message" events posted */

	/* I/O thread only. */
	struct http_client *http;
	struct http_req *req;
	struct http_req *profile_req;
	struct transport_tls_ctx *tls;
	struct fix_conn *conn;
	char *password; /* until the 35=BE is encoded */
	char *token;    /* from registration; wiped on free */
	char *login_id; /* client id of the login in flight */
	char logout_text[REASON_MAX];
	uint64_t req_counter;
	struct reactor_timer ur_timer;    /* UserResponse deadline */
	struct reactor_timer state_timer; /* posts a deferred Authenticating */
	struct reactor_timer rc_timer;    /* the reconnect backoff */
	char *rc_password;                /* the last login's, for reconnects */
	uint64_t rng;                     /* the backoff's jitter */
	struct sendq io_q;                /* swapped with q when flushing */
	struct reactor_failure_hook fail_hook;
	/* Where each sent application message ends in the connection's output
	 * (fix_conn_out_stats' "produced"), oldest first: a ring. */
	uint64_t *ends;
	size_t ends_head, ends_len, ends_cap;
};

_Static_assert(BT_AUTH_MAX_FIELDS + 10 == FIX_SESSION_MAX_FIELDS,
	       "an application message plus the largest header and trailer must fit the "
	       "session's inbound field limit");

/* What an event's actions may need besides the machine's answer. */
struct run_ctx {
	struct reg_job *reg;
	struct login_job *login;
	const struct http_result *res; /* AM_EV_REGISTER_DONE */
	const struct fix_msg *msg;     /* AM_EV_USER_RESPONSE */
};

/* ------------------------------------------------------------ helpers */

static char *dup_secret(const char *s)
{
	return s ? strdup(s) : NULL;
}

static void post_state(struct bt_auth *a, const struct am_transition *t)
{
	struct bt_value v[4] = {
	    BT_VSTR(bt_auth_state_name(t->st)),
	    BT_VSTR(bt_auth_state_name(t->old)),
	    t->reason ? BT_VSTR(t->reason) : BT_VNIL,
	    t->err != BT_ERR_NONE ? BT_VSTR(bt_err_code(t->err)) : BT_VNIL,
	};
	bt_cq_post_event(a->cq, a->target, "state", 4, v);
}

static struct bt_op *failed_op(struct bt_auth *a, enum bt_err err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static struct bt_op *failed_op(struct bt_auth *a, enum bt_err err, const char *fmt, ...)
{
	char msg[REASON_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	struct bt_op *op = bt_op_new(a->cq);
	if (op)
		bt_op_fail(op, bt_err_code(err), "%s", msg);
	return op;
}

static void finish(struct bt_op *op, enum bt_err err, const char *msg, int n,
		   const struct bt_value *v)
{
	if (!op)
		return;
	bt_op_clear_cancel(op);
	if (err != BT_ERR_NONE)
		bt_op_fail(op, bt_err_code(err), "%s", msg);
	else
		bt_op_succeed(op, n, v);
	bt_op_unref(op);
}

static void exec(struct bt_auth *a, const struct am_out *out, const struct run_ctx *ctx);

/* One event: the machine steps and its transitions are posted under mu,
 * then its actions run. ev->op_cancelled is filled in here for claims. */
static void run_ctx(struct bt_auth *a, struct am_event *ev, struct am_out *out,
		    const struct run_ctx *ctx)
{
	pthread_mutex_lock(&a->mu);
	if (ev->type == AM_EV_REGISTER || ev->type == AM_EV_LOGIN)
		ev->op_cancelled = a->m.op && bt_op_status(a->m.op) == BT_OP_CANCELLED;
	am_step(&a->m, ev, out);
	/* A connection the actions drop holds nothing queued any more: say so
	 * before the state event does (drop_conn's publish_io agrees). */
	for (int i = 0; i < out->nacts; i++)
		if (out->acts[i].type == AM_ACT_DROP_CONN)
			a->io_bytes = a->io_msgs = 0;
	for (int i = 0; i < out->ntrans; i++)
		post_state(a, &out->trans[i]);
	/* The slot's own reference, and one for an op cancelled after mu is
	 * let go: the I/O thread may finish and release it meanwhile. */
	if ((ev->type == AM_EV_REGISTER || ev->type == AM_EV_LOGIN || ev->type == AM_EV_LOGOUT) &&
	    ev->op && (a->m.op == ev->op || a->m.logout_op == ev->op) && !out->refused)
		bt_op_ref(ev->op);
	for (int i = 0; i < out->nacts; i++)
		if (out->acts[i].type == AM_ACT_CANCEL_OP)
			bt_op_ref(out->acts[i].op);
	pthread_mutex_unlock(&a->mu);
	exec(a, out, ctx);
}

static void run(struct bt_auth *a, enum am_event_type type, enum bt_err err, const char *msg)
{
	/* no has_conn: this runs on the caller's thread too, and no event that
	 * needs it comes through here */
	struct am_event ev = {.type = type, .err = err, .msg = msg};
	struct am_out out;
	run_ctx(a, &ev, &out, NULL);
}

/* Recounts what waits between q and the socket (I/O thread) and posts
 * "drained" when it is nothing and somebody asked. Without a connection the
 * count is zero but nothing was drained: the state event tells the loss. */
static void publish_io(struct bt_auth *a)
{
	uint64_t produced = 0;
	size_t unsent = 0;
	if (a->conn) {
		fix_conn_out_stats(a->conn, &produced, &unsent);
		uint64_t sent = produced > unsent ? produced - unsent : 0;
		while (a->ends_len && a->ends[a->ends_head] <= sent) {
			a->ends_head = (a->ends_head + 1) % a->ends_cap;
			a->ends_len--;
		}
	} else {
		a->ends_head = a->ends_len = 0;
	}
	pthread_mutex_lock(&a->mu);
	a->io_bytes = unsent;
	a->io_msgs = a->ends_len;
	if (a->conn && a->drain_wanted && !a->q.len && !unsent && !a->ends_len) {
		a->drain_wanted = 0;
		bt_cq_post_event(a->cq, a->target, "drained", 0, NULL);
	}
	pthread_mutex_unlock(&a->mu);
}

static void on_written(void *arg)
{
	publish_io(arg);
}

/* Remembers where a message just queued on the connection ends. */
static int push_end(struct bt_auth *a)
{
	uint64_t produced;
	size_t unsent;
	fix_conn_out_stats(a->conn, &produced, &unsent);
	if (a->ends_len == a->ends_cap) {
		size_t cap = a->ends_cap ? a->ends_cap * 2 : 64;
		uint64_t *p = malloc(cap * sizeof *p);
		if (!p)
			return -1;
		for (size_t i = 0; i < a->ends_len; i++)
			p[i] = a->ends[(a->ends_head + i) % a->ends_cap];
		free(a->ends);
		a->ends = p;
		a->ends_cap = cap;
		a->ends_head = 0;
	}
	a->ends[(a->ends_head + a->ends_len) % a->ends_cap] = produced;
	a->ends_len++;
	return 0;
}

/* Replaces the connection (freeing the old one, which closes its store);
 * conn_live tells login() whether a busy store may be our own. */
static void set_conn(struct bt_auth *a, struct fix_conn *c)
{
	fix_conn_free(a->conn);
	a->conn = c;
	pthread_mutex_lock(&a->mu);
	a->conn_live = c != NULL;
	pthread_mutex_unlock(&a->mu);
}

static void drop_conn(struct bt_auth *a)
{
	reactor_timer_stop(a->r, &a->ur_timer);
	reactor_timer_stop(a->r, &a->state_timer);
	set_conn(a, NULL);
	bt_wipe_free_str(&a->password);
	publish_io(a);
}

static void cancel_req(struct http_req **req)
{
	if (*req)
		http_cancel(*req);
	*req = NULL;
}

static struct bt_op *take_profile(struct bt_auth *a)
{
	pthread_mutex_lock(&a->mu);
	struct bt_op *op = a->profile_op;
	a->profile_op = NULL;
	pthread_mutex_unlock(&a->mu);
	return op;
}

/* The I/O thread lost epoll (reactor.h): nothing this client waits for can
 * come, so everything in flight ends now with the reason. */
static void on_reactor_failed(struct bt_reactor *r, const char *reason, void *ud)
{
	struct bt_auth *a = ud;
	char msg[REASON_MAX];
	snprintf(msg, sizeof msg, "the I/O thread failed (%s)", reason);
	cancel_req(&a->profile_req);
	run(a, AM_EV_REACTOR_FAILED, BT_ERR_DISCONNECTED, msg);
	finish(take_profile(a), BT_ERR_DISCONNECTED, msg, 0, NULL);
}

static void add_fail_hook(struct bt_reactor *r, void *ud)
{
	struct bt_auth *a = ud;
	reactor_on_failure(r, &a->fail_hook);
}

/* A failed op instead of a new attempt once the I/O thread lost epoll. */
static struct bt_op *refuse_if_failed(struct bt_auth *a, const char *what)
{
	char why[160];
	if (!reactor_failure(a->r, why, sizeof why))
		return NULL;
	return failed_op(a, BT_ERR_CONNECT_FAILED, "%s: the I/O thread failed (%s)", what, why);
}

/* A register/login/logout claim: the op it returns, NULL when out of
 * memory, or a failed op when the machine refused. */
static struct bt_op *claim(struct bt_auth *a, enum am_event_type type, struct am_out *out)
{
	struct am_event ev = {.type = type, .op = bt_op_new(a->cq)};
	run_ctx(a, &ev, out, NULL);
	if (out->refused) {
		bt_op_unref(ev.op);
		return failed_op(a, out->err, "%s", out->msg);
	}
	return ev.op;
}

/* ------------------------------------------------------- registration */

struct reg_job {
	struct bt_auth *a;
	struct bt_op *op;
	char *username;
	char *password;
};

static void reg_job_free(struct reg_job *j)
{
	bt_wipe_free_str(&j->username);
	bt_wipe_free_str(&j->password);
	bt_op_unref(j->op);
	free(j);
}

static void on_register_done(void *arg, const struct http_result *res)
{
	struct bt_auth *a = arg;
	a->req = NULL;
	struct am_event ev = {
	    .type = AM_EV_REGISTER_DONE,
	    .err = res->err,
	    .msg = res->message ? res->message : "registration failed",
	    .client_id = res->client_id,
	};
	struct run_ctx ctx = {.res = res};
	struct am_out out;
	run_ctx(a, &ev, &out, &ctx);
}

static void start_register(struct bt_reactor *r, void *ud)
{
	struct reg_job *j = ud;
	struct am_event ev = {.type = AM_EV_START_REGISTER, .op = j->op};
	struct run_ctx ctx = {.reg = j};
	struct am_out out;
	run_ctx(j->a, &ev, &out, &ctx);
	reg_job_free(j);
}

/* Cancel hook of register/login ops (I/O thread): abandon the attempt. */
static void on_op_cancelled(struct bt_op *op, void *ud)
{
	struct bt_auth *a = ud;
	struct am_event ev = {.type = AM_EV_OP_CANCELLED, .op = op, .has_conn = a->conn != NULL};
	struct am_out out;
	run_ctx(a, &ev, &out, NULL);
}

/* api_url = false: a venue without the HTTP API (logon by FIX only). */
static struct bt_op *refuse_if_no_api(struct bt_auth *a, const char *what)
{
	if (a->cfg.api_url)
		return NULL;
	return failed_op(a, BT_ERR_INVALID_STATE,
			 "%s: this client has no HTTP API (api_url = false)", what);
}

struct bt_op *bt_auth_register(struct bt_auth *a, const char *username, const char *password)
{
	struct bt_op *refused = refuse_if_no_api(a, "register");
	if (refused)
		return refused;
	refused = refuse_if_failed(a, "register");
	if (refused)
		return refused;
	struct reg_job *j = calloc(1, sizeof *j);
	if (!j)
		return NULL;
	j->a = a;
	j->username = strdup(username);
	j->password = strdup(password);
	if (!j->username || !j->password) {
		reg_job_free(j);
		return NULL;
	}
	struct am_out out;
	struct bt_op *op = claim(a, AM_EV_REGISTER, &out);
	if (!op || out.refused) {
		reg_job_free(j);
		return op;
	}
	j->op = bt_op_ref(op);
	bt_op_set_cancel(op, on_op_cancelled, a);
	if (reactor_post(a->r, start_register, j) < 0) {
		reg_job_free(j);
		run(a, AM_EV_FAIL, BT_ERR_NOMEM, "register: could not reach the I/O thread");
	}
	return op;
}

/* -------------------------------------------------------------- login */

struct login_job {
	struct bt_auth *a;
	struct bt_op *op;
	char *client_id;
	char *password;
	struct seqstore *store; /* opened by the caller, handed to the connection */
	int store_busy;         /* locked, maybe by our own last connection */
};

static void login_job_free(struct login_job *j)
{
	seqstore_close(j->store);
	free(j->client_id);
	bt_wipe_free_str(&j->password);
	bt_op_unref(j->op);
	free(j);
}

static void on_ur_timeout(struct bt_reactor *r, struct reactor_timer *t, void *ud)
{
	struct bt_auth *a = ud;
	/* Venues that authenticate by the Logon alone (BetaTrader's C++
	 * gateway) never answer 35=BE: say so, not just "timeout". */
	char msg[160];
	snprintf(
	    msg, sizeof msg,
	    "no UserResponse within %.3g s \xe2\x80\x94 does this exchange support UserRequest? "
	    "see auth = \"logon\"",
	    (double)a->cfg.timeout_ms / 1000.0);
	run(a, AM_EV_UR_TIMEOUT, BT_ERR_TIMEOUT, msg);
}

static void on_state_timer(struct bt_reactor *r, struct reactor_timer *t, void *ud)
{
	run(ud, AM_EV_STATE_TIMER, BT_ERR_NONE, NULL);
}

/* Runs before the Logon is written. state() says Authenticating at once, but
 * the event, which wakes the owner, is queued by a zero-delay timer after the
 * bytes are out (or by the next state change, whichever comes first), so the
 * wake-up is off the login's critical path. */
static void on_connected(void *arg)
{
	run(arg, AM_EV_CONNECTED, BT_ERR_NONE, NULL);
}

static void post_message(struct bt_auth *a, const struct fix_msg *m)
{
	if (!m)
		return;
	struct bt_value v = BT_VLSTR(m->buf, m->len);
	/* counted first, so the owner never sees more events than the count */
	atomic_fetch_add(&a->received, 1);
	if (bt_cq_post_event(a->cq, a->target, "message", 1, &v) != 0)
		atomic_fetch_sub(&a->received, 1);
}

static void send_user_request(struct bt_auth *a)
{
	char req_id[96];
	snprintf(req_id, sizeof req_id, "%s-%" PRIu64, a->login_id, ++a->req_counter);
	int rc = fix_conn_user_request(a->conn, req_id, 1, a->login_id, a->password);
	bt_wipe_free_str(&a->password);
	if (rc == 0) {
		run(a, AM_EV_USER_REQUEST_SENT, BT_ERR_NONE, NULL);
		return;
	}
	char msg[160];
	snprintf(msg, sizeof msg, "could not send the UserRequest: %s", fix_session_strerror(rc));
	run(a, AM_EV_USER_REQUEST_SENT, BT_ERR_PROTOCOL, msg);
}

static void on_event(void *arg, const struct fix_event *ev)
{
	struct bt_auth *a = arg;
	switch (ev->type) {
	case FIX_EV_LOGON: {
		if (a->cfg.auth_logon)
			bt_wipe_free_str(&a->password); /* no 35=BE will need it */
		struct am_event e = {.type = AM_EV_LOGON, .client_id = a->login_id};
		struct am_out out;
		run_ctx(a, &e, &out, NULL);
		break;
	}
	case FIX_EV_USER_RESPONSE: {
		char text[REASON_MAX];
		const struct fix_sv *t = &ev->user_response.text;
		snprintf(text, sizeof text, "%.*s", (int)(t->len > 400 ? 400 : t->len),
			 t->ptr ? t->ptr : "");
		struct am_event e = {
		    .type = AM_EV_USER_RESPONSE,
		    .status = ev->user_response.status,
		    .msg = text,
		    .client_id = a->login_id,
		};
		struct run_ctx ctx = {.msg = ev->msg};
		struct am_out out;
		run_ctx(a, &e, &out, &ctx);
		break;
	}
	case FIX_EV_LOGOUT: {
		const struct fix_sv *t = &ev->logout.text;
		snprintf(a->logout_text, sizeof a->logout_text, "%.*s",
			 (int)(t->len > 400 ? 400 : t->len), t->ptr ? t->ptr : "");
		break;
	}
	case FIX_EV_APP:
	case FIX_EV_REJECT:
		post_message(a, ev->msg);
		break;
	default:
		break;
	}
}

/* The connection's close code as a stable error: the session's own
 * "logged_out" is a disconnection to the owner. */
static enum bt_err closed_err(const char *code)
{
	if (!strcmp(code, "logged_out"))
		return BT_ERR_DISCONNECTED;
	return bt_err_from_code(code);
}

static void on_closed(void *arg, const char *code, const char *reason)
{
	struct bt_auth *a = arg;
	/* code and reason live in the connection freed just below */
	char what[32], why[REASON_MAX];
	snprintf(what, sizeof what, "%s", code ? code : "");
	snprintf(why, sizeof why, "%s", reason ? reason : "");
	enum fix_close_cause cause = fix_conn_close_cause(a->conn);
	reactor_timer_stop(a->r, &a->ur_timer);
	set_conn(a, NULL);
	bt_wipe_free_str(&a->password);
	publish_io(a);
	if ((cause == FIX_CLOSE_SEQ_TOO_LOW || cause == FIX_CLOSE_PEER_SEQ_TOO_LOW) &&
	    !a->cfg.reset_on_logon) {
		/* Most often the store of another run (a relative `store` seen from
		 * another working directory): say where ours is and what helps. */
		size_t n = strlen(why);
		snprintf(why + n, sizeof why - n,
			 " (sequence numbers come from the store '%s'; use the store of the "
			 "previous session or reset_on_logon = true)",
			 a->cfg.store_dir ? a->cfg.store_dir : "(none)");
	}
	run(a, AM_EV_CLOSED, closed_err(what), why);
}

static void on_trace(void *ud, int dir, const char *frame, size_t len)
{
	struct bt_auth *a = ud;
	static const char *const dirs[] = {"in", "out", "garbled"};
	struct bt_value v[2] = {BT_VSTR(dirs[dir >= 0 && dir <= 2 ? dir : 2]),
				BT_VLSTR(frame, len)};
	bt_cq_post_event(a->cq, a->target, "trace", 2, v);
}

/* The sequence store of (client_id, target): 0, or -1 with errno (EBUSY:
 * locked) and the reason in err. */
static int open_store(struct bt_auth *a, const char *client_id, struct seqstore **out, char *err,
		      size_t errlen)
{
	if (seqstore_open(out, a->cfg.store_dir, client_id, a->cfg.target_comp_id,
			  a->cfg.store_fsync ? SEQSTORE_FSYNC : 0, err, errlen) != 0)
		return -1;
	seqstore_set_window(*out, a->cfg.resend_window);
	return 0;
}

static void open_conn(struct bt_auth *a, struct login_job *j)
{
	if (j->store_busy) {
		/* That connection held the store's lock; it is gone now. The
		 * only store work left on this thread, and only after a refusal. */
		char err[REASON_MAX];
		if (open_store(a, j->client_id, &j->store, err, sizeof err) != 0) {
			run(a, AM_EV_FAIL, BT_ERR_STORE, err);
			return;
		}
	}
	free(a->login_id);
	a->login_id = j->client_id;
	j->client_id = NULL;
	a->password = j->password;
	j->password = NULL;
	if (a->cfg.reconnect && a->password && a->password != a->rc_password) {
		char *keep = dup_secret(a->password);
		if (keep) { /* else this login just cannot be resumed */
			bt_wipe_free_str(&a->rc_password);
			a->rc_password = keep;
		}
	}
	a->logout_text[0] = '\0';

	struct fix_conn_opts o;
	memset(&o, 0, sizeof o);
	o.host = a->cfg.fix_host;
	o.port = a->cfg.fix_port;
	o.connect_timeout_ms = a->cfg.connect_timeout_ms;
	o.tls = a->tls;
	o.server_name = a->cfg.server_name;
	fix_session_cfg_init(&o.session);
	o.session.sender_comp_id = a->login_id;
	o.session.target_comp_id = a->cfg.target_comp_id;
	o.session.heartbeat_s = a->cfg.heartbeat_s;
	o.session.logon_timeout_ms = a->cfg.logon_timeout_ms;
	o.session.logout_timeout_ms = a->cfg.logout_timeout_ms;
	/* Without a store the numbers cannot continue where the last session
	 * left them, so both sides start again at 1 (141=Y). */
	o.session.reset_on_logon = a->cfg.reset_on_logon || !a->cfg.store_dir;
	o.session.comp_id_session_only = a->cfg.comp_id_session_only;
	o.session.logon_seq_adopt = a->cfg.logon_seq_adopt;
	o.session.begin_strings = a->cfg.begin_strings;
	o.session.username = a->cfg.logon_username;
	o.session.password = a->cfg.logon_password;
	o.session.max_body = a->cfg.max_body;
	if (a->cfg.trace) {
		o.session.trace = on_trace;
		o.session.trace_ud = a;
	}
	o.session.validate = a->cfg.validate;
	o.session.validate_ud = a->cfg.validate_ud;
	o.store = j->store; /* taken over, even on failure */
	j->store = NULL;
	static const struct fix_conn_cbs cbs = {on_connected, on_event, on_closed, on_written};
	char err[256];
	set_conn(a, fix_conn_open(a->r, &o, &cbs, a, err, sizeof err));
	if (!a->conn) {
		bt_wipe_free_str(&a->password);
		run(a, AM_EV_FAIL, BT_ERR_CONNECT_FAILED, err);
	}
}

static void start_login(struct bt_reactor *r, void *ud)
{
	struct login_job *j = ud;
	struct am_event ev = {.type = AM_EV_START_LOGIN, .op = j->op};
	struct run_ctx ctx = {.login = j};
	struct am_out out;
	run_ctx(j->a, &ev, &out, &ctx);
	login_job_free(j);
}

struct bt_op *bt_auth_login(struct bt_auth *a, const char *client_id, const char *password)
{
	struct bt_op *refused = refuse_if_failed(a, "login");
	if (refused)
		return refused;
	struct login_job *j = calloc(1, sizeof *j);
	if (!j)
		return NULL;
	j->a = a;
	j->client_id = strdup(client_id);
	j->password = dup_secret(password); /* NULL: auth = "logon" */
	if (!j->client_id || (password && !j->password)) {
		login_job_free(j);
		return NULL;
	}
	struct am_out out;
	struct bt_op *op = claim(a, AM_EV_LOGIN, &out);
	if (!op || out.refused) {
		login_job_free(j);
		return op;
	}
	/* The store is opened here, on the caller's thread: mkdir, flock and
	 * the CRC scan of its files never stall the I/O thread of every
	 * session. A lock held by our own previous connection (a refused login
	 * still logging out) is retried once that connection is dropped. */
	char err[REASON_MAX];
	if (a->cfg.store_dir && open_store(a, client_id, &j->store, err, sizeof err) != 0) {
		int busy = errno == EBUSY;
		pthread_mutex_lock(&a->mu);
		int ours = a->conn_live;
		pthread_mutex_unlock(&a->mu);
		if (!busy || !ours) {
			login_job_free(j);
			run(a, AM_EV_FAIL, BT_ERR_STORE, err);
			return op;
		}
		j->store_busy = 1;
	}
	j->op = bt_op_ref(op);
	bt_op_set_cancel(op, on_op_cancelled, a);
	if (reactor_post(a->r, start_login, j) < 0) {
		login_job_free(j);
		run(a, AM_EV_FAIL, BT_ERR_NOMEM, "login: could not reach the I/O thread");
	}
	return op;
}

/* ---------------------------------------------------------- reconnect */

static void on_rc_timer(struct bt_reactor *r, struct reactor_timer *t, void *ud)
{
	run(ud, AM_EV_RECONNECT_TIMER, BT_ERR_NONE, NULL);
}

static double next_unit(struct bt_auth *a)
{
	/* xorshift64: spreads many clients' attempts, nothing more */
	a->rng ^= a->rng << 13;
	a->rng ^= a->rng >> 7;
	a->rng ^= a->rng << 17;
	return (double)(a->rng >> 11) / 9007199254740992.0;
}

static void start_rc_timer(struct bt_auth *a, unsigned n)
{
	int64_t ms = am_reconnect_delay_ms(a->cfg.reconnect_interval_ms, a->cfg.reconnect_max_ms,
					   a->cfg.reconnect_backoff, a->cfg.reconnect_jitter, n,
					   next_unit(a));
	if (reactor_timer_start(a->r, &a->rc_timer, ms) < 0)
		run(a, AM_EV_FAIL, BT_ERR_NOMEM, "reconnect: could not start its timer");
}

/* The next attempt with the last login's credentials; the store is opened
 * here, on the I/O thread (the lost connection released it). */
static void reopen_conn(struct bt_auth *a)
{
	struct login_job j = {.a = a, .store_busy = a->cfg.store_dir != NULL};
	j.client_id = a->login_id ? strdup(a->login_id) : NULL;
	j.password = dup_secret(a->rc_password);
	if (!j.client_id || (a->rc_password && !j.password)) {
		free(j.client_id);
		bt_wipe_free_str(&j.password);
		run(a, AM_EV_FAIL, BT_ERR_NOMEM, "reconnect: out of memory");
		return;
	}
	open_conn(a, &j);
	seqstore_close(j.store);
	free(j.client_id);
	bt_wipe_free_str(&j.password);
}

int bt_auth_reconnecting(struct bt_auth *a)
{
	pthread_mutex_lock(&a->mu);
	int r = a->m.reconnecting;
	pthread_mutex_unlock(&a->mu);
	return r;
}

/* ------------------------------------------------------------- logout */

static void start_logout(struct bt_reactor *r, void *ud)
{
	struct bt_auth *a = ud;
	struct am_event ev = {.type = AM_EV_START_LOGOUT, .has_conn = a->conn != NULL};
	struct am_out out;
	run_ctx(a, &ev, &out, NULL);
}

struct bt_op *bt_auth_logout(struct bt_auth *a)
{
	struct am_out out;
	struct bt_op *op = claim(a, AM_EV_LOGOUT, &out);
	if (op && out.done) {
		struct bt_value yes = BT_VBOOL(1);
		bt_op_succeed(op, 1, &yes);
	}
	return op;
}

/* ------------------------------------------------------------ actions */

static void exec(struct bt_auth *a, const struct am_out *out, const struct run_ctx *ctx)
{
	for (int i = 0; i < out->nacts; i++) {
		const struct am_action *x = &out->acts[i];
		switch (x->type) {
		case AM_ACT_DROP_CONN:
			drop_conn(a);
			break;
		case AM_ACT_CANCEL_REQ:
			cancel_req(&a->req);
			break;
		case AM_ACT_START_REGISTER:
			a->req = http_register(a->http, ctx->reg->username, ctx->reg->password,
					       on_register_done, a);
			if (!a->req)
				run(a, AM_EV_FAIL, BT_ERR_NOMEM,
				    "register: could not start the HTTP request");
			break;
		case AM_ACT_OPEN_CONN:
			open_conn(a, ctx->login);
			break;
		case AM_ACT_SAVE_TOKEN:
			bt_wipe_free_str(&a->token);
			a->token = dup_secret(ctx->res->token);
			break;
		case AM_ACT_START_STATE_TIMER:
			if (reactor_timer_start(a->r, &a->state_timer, 0) < 0)
				run(a, AM_EV_STATE_TIMER, BT_ERR_NONE, NULL);
			break;
		case AM_ACT_SEND_USER_REQUEST:
			send_user_request(a);
			break;
		case AM_ACT_START_UR_TIMER:
			reactor_timer_start(a->r, &a->ur_timer, a->cfg.timeout_ms);
			break;
		case AM_ACT_STOP_UR_TIMER:
			reactor_timer_stop(a->r, &a->ur_timer);
			break;
		case AM_ACT_SEND_LOGOUT:
			run(a, AM_EV_LOGOUT_SENT,
			    fix_conn_logout(a->conn, NULL) == 0 ? BT_ERR_NONE : BT_ERR_PROTOCOL,
			    NULL);
			break;
		case AM_ACT_SEND_REFUSAL_LOGOUT:
			fix_conn_logout(a->conn, NULL);
			run(a, AM_EV_REFUSAL_LOGOUT_SENT, x->err, x->msg);
			break;
		case AM_ACT_POST_MESSAGE:
			post_message(a, ctx->msg);
			break;
		case AM_ACT_POST_LOGOUT:
			if (reactor_post(a->r, start_logout, a) < 0 && x->err != BT_ERR_NONE)
				run(a, AM_EV_LOGOUT_POST_FAILED, x->err, NULL);
			break;
		case AM_ACT_CANCEL_OP:
			bt_op_cancel(x->op);
			bt_op_unref(x->op); /* taken under mu by run_ctx */
			break;
		case AM_ACT_RELEASE:
			bt_op_unref(x->op);
			break;
		case AM_ACT_SUCCEED:
			if (ctx && ctx->res) {
				const struct http_result *res = ctx->res;
				struct bt_value v[2] = {BT_VSTR(res->client_id),
							BT_VSTR(res->token ? res->token : "")};
				finish(x->op, BT_ERR_NONE, NULL, 2, v);
			} else {
				struct bt_value v = BT_VBOOL(1);
				finish(x->op, BT_ERR_NONE, NULL, 1, &v);
			}
			break;
		case AM_ACT_FAIL:
			finish(x->op, x->err, x->msg, 0, NULL);
			break;
		case AM_ACT_START_RECONNECT_TIMER:
			start_rc_timer(a, x->n);
			break;
		case AM_ACT_STOP_RECONNECT_TIMER:
			reactor_timer_stop(a->r, &a->rc_timer);
			break;
		case AM_ACT_REOPEN_CONN:
			reopen_conn(a);
			break;
		}
	}
}

/* --------------------------------------------------------------- send */

static int q_reserve(struct sendq *q, size_t n)
{
	if (q->cap - q->len >= n)
		return 0;
	size_t cap = q->cap ? q->cap : 4096;
	while (cap - q->len < n) {
		if (cap > SIZE_MAX / 2)
			return -1;
		cap *= 2;
	}
	char *p = realloc(q->buf, cap);
	if (!p)
		return -1;
	q->buf = p;
	q->cap = cap;
	return 0;
}

static void q_put(struct sendq *q, const void *p, size_t n)
{
	memcpy(q->buf + q->len, p, n);
	q->len += n;
}

/* The session ends when a message it accepted cannot go out: a send that
 * returned true must reach the wire or be explained by a state change. */
static void send_failed(struct bt_auth *a, const char *msg_type, int rc)
{
	char msg[160];
	snprintf(msg, sizeof msg, "could not send a 35=%s message: %s", msg_type,
		 rc == -1 ? "out of memory" : fix_session_strerror(rc));
	run(a, AM_EV_SEND_FAILED,
	    rc == FIX_SESSION_E_NOMEM || rc == -1 ? BT_ERR_NOMEM : BT_ERR_PROTOCOL, msg);
}

static void flush_sends(struct bt_reactor *r, void *ud)
{
	struct bt_auth *a = ud;
	pthread_mutex_lock(&a->mu);
	struct sendq tmp = a->q;
	a->q = a->io_q;
	a->q.len = 0;
	a->io_q = tmp;
	a->q_posted = 0;
	/* still queued until publish_io counts what the socket has not taken */
	a->io_bytes += a->q_wire;
	a->io_msgs += a->q_msgs;
	a->q_msgs = 0;
	a->q_wire = 0;
	/* queued for a session that is gone: a reconnect attempt's connection
	 * must not carry it */
	int live = a->m.st == BT_AUTH_ACTIVE;
	pthread_mutex_unlock(&a->mu);

	struct sendq *q = &a->io_q;
	struct fix_out_field fields[BT_AUTH_MAX_FIELDS];
	size_t off = 0;
	/* One burst, one group commit: corked, no callback can drop a->conn. */
	fix_conn_cork(a->conn, 1);
	while (off < q->len) {
		uint16_t tlen;
		uint32_t n;
		memcpy(&tlen, q->buf + off, 2);
		off += 2;
		char msg_type[32];
		memcpy(msg_type, q->buf + off, tlen);
		msg_type[tlen] = '\0';
		off += tlen;
		memcpy(&n, q->buf + off, 4);
		off += 4;
		for (uint32_t i = 0; i < n; i++) {
			uint32_t tag, len;
			memcpy(&tag, q->buf + off, 4);
			memcpy(&len, q->buf + off + 4, 4);
			off += 8;
			fields[i].tag = tag;
			fields[i].val = q->buf + off;
			fields[i].len = len;
			off += len;
		}
		/* A message queued while Active but overtaken by a disconnect is
		 * dropped here: the state change already told the owner. */
		if (!a->conn || !live)
			continue;
		int rc = fix_conn_send(a->conn, msg_type, fields, n);
		if (rc == 0 && push_end(a) != 0)
			rc = -1;
		/* FIX_SESSION_E_STATE: the session is closing (a peer Logout,
		 * a store failure) and on_closed will say why. */
		if (rc != 0 && rc != FIX_SESSION_E_STATE && a->conn)
			send_failed(a, msg_type, rc);
	}
	q->len = 0;
	fix_conn_cork(a->conn, 0);
	publish_io(a);
}

static size_t dec_digits(uint64_t v)
{
	size_t n = 1;
	while (v >= 10) {
		v /= 10;
		n++;
	}
	return n;
}

/* The header the session writes before the fields: 35, 49, 56, 34 (at most
 * 20 digits) and 52 (YYYYMMDD-HH:MM:SS.sss), each tag=value SOH. */
static size_t header_len(size_t type_len, size_t sender_len, size_t target_len)
{
	return (4 + type_len) + (4 + sender_len) + (4 + target_len) + (4 + 20) + (4 + 21);
}

/* Everything about the message itself the session or the peer would
 * refuse; fills in the queue record's size and the body's size without the
 * header. BT_AUTH_SEND_OK or BT_AUTH_SEND_MISUSE with the reason in err. */
static int check_message(const struct bt_auth *a, const char *msg_type,
			 const struct fix_out_field *fields, size_t nfields, size_t *need,
			 size_t *body, char *err, size_t errlen)
{
	size_t tlen = strlen(msg_type);
	if (tlen == 1 && strchr("012345A", msg_type[0])) {
		bt_set_err(err, errlen, "MsgType '%s' is a session message: the session sends it",
			   msg_type);
		return BT_AUTH_SEND_MISUSE;
	}
	if (tlen > 31 || !fix_session_app_msg_type_ok(msg_type)) {
		bt_set_err(err, errlen,
			   "bad MsgType '%.40s' (FIX 4.4 application types and user-defined "
			   "'U...' types only)",
			   msg_type);
		return BT_AUTH_SEND_MISUSE;
	}
	if (nfields > BT_AUTH_MAX_FIELDS) {
		snprintf(err, errlen, "too many fields (%zu, at most %d)", nfields,
			 BT_AUTH_MAX_FIELDS);
		return BT_AUTH_SEND_MISUSE;
	}
	*need = 2 + tlen + 4;
	*body = 0;
	for (size_t i = 0; i < nfields; i++) {
		uint32_t tag = fields[i].tag;
		if (!fix_session_app_tag_ok(tag)) {
			bt_set_err(err, errlen, "tag %u is not allowed in an application message%s",
				   (unsigned)tag,
				   tag && tag <= 999999999 ? " (the session writes it)" : "");
			return BT_AUTH_SEND_MISUSE;
		}
		size_t len = fields[i].len;
		if (!len || !fields[i].val || memchr(fields[i].val, '\x01', len) ||
		    memchr(fields[i].val, '\0', len)) {
			bt_set_err(err, errlen, "value of tag %u is empty or contains SOH or NUL",
				   (unsigned)tag);
			return BT_AUTH_SEND_MISUSE;
		}
		if (len > a->cfg.max_body) {
			snprintf(err, errlen, "value of tag %u longer than max_message_size (%zu)",
				 (unsigned)tag, a->cfg.max_body);
			return BT_AUTH_SEND_MISUSE;
		}
		*body += dec_digits(tag) + 2 + len;
		*need += 8 + len;
	}
	return BT_AUTH_SEND_OK;
}

int bt_auth_send(struct bt_auth *a, const char *msg_type, const struct fix_out_field *fields,
		 size_t nfields, char *err, size_t errlen)
{
	size_t need, body;
	int rc = check_message(a, msg_type, fields, nfields, &need, &body, err, errlen);
	if (rc != BT_AUTH_SEND_OK)
		return rc;
	size_t tlen = strlen(msg_type);
	pthread_mutex_lock(&a->mu);
	if (!am_can_send(&a->m)) {
		const char *why = a->m.logout_op ? "logging out" : bt_auth_state_name(a->m.st);
		int rc_on = a->m.reconnecting;
		pthread_mutex_unlock(&a->mu);
		if (rc_on)
			snprintf(err, errlen, "not active (reconnecting)");
		else
			snprintf(err, errlen, "send() while %s: the session is not Active", why);
		return BT_AUTH_SEND_STATE;
	}
	body += header_len(tlen, strlen(a->m.comp_id), strlen(a->cfg.target_comp_id));
	if (body > a->cfg.max_body) {
		pthread_mutex_unlock(&a->mu);
		snprintf(err, errlen,
			 "message body of up to %zu bytes (header included) over max_message_size "
			 "(%zu)",
			 body, a->cfg.max_body);
		return BT_AUTH_SEND_MISUSE;
	}
	size_t queued = a->q_wire + a->io_bytes;
	if (queued >= a->cfg.max_send_queue) {
		pthread_mutex_unlock(&a->mu);
		snprintf(err, errlen, "send queue full (%zu bytes queued)", queued);
		return BT_AUTH_SEND_BUSY;
	}
	if (q_reserve(&a->q, need) < 0) {
		pthread_mutex_unlock(&a->mu);
		snprintf(err, errlen, "out of memory");
		return BT_AUTH_SEND_NOMEM;
	}
	uint16_t t16 = (uint16_t)tlen;
	uint32_t n32 = (uint32_t)nfields;
	q_put(&a->q, &t16, 2);
	q_put(&a->q, msg_type, tlen);
	q_put(&a->q, &n32, 4);
	for (size_t i = 0; i < nfields; i++) {
		uint32_t tag = fields[i].tag, len = (uint32_t)fields[i].len;
		q_put(&a->q, &tag, 4);
		q_put(&a->q, &len, 4);
		q_put(&a->q, fields[i].val, fields[i].len);
	}
	a->q_msgs++;
	/* 8=FIX.4.4|9=<digits>| before the body, 10=nnn| after it */
	a->q_wire += body + 12 + dec_digits(body) + 7;
	int post = !a->q_posted;
	a->q_posted = 1;
	pthread_mutex_unlock(&a->mu);
	if (post && reactor_post(a->r, flush_sends, a) < 0) {
		snprintf(err, errlen, "could not reach the I/O thread");
		return BT_AUTH_SEND_NOMEM;
	}
	return BT_AUTH_SEND_OK;
}

void bt_auth_queued(struct bt_auth *a, size_t *bytes, size_t *msgs)
{
	pthread_mutex_lock(&a->mu);
	*bytes = a->q_wire + a->io_bytes;
	*msgs = a->q_msgs + a->io_msgs;
	pthread_mutex_unlock(&a->mu);
}

int bt_auth_flush_request(struct bt_auth *a)
{
	pthread_mutex_lock(&a->mu);
	int empty = !a->q.len && !a->io_bytes && !a->io_msgs;
	if (!empty)
		a->drain_wanted = 1;
	pthread_mutex_unlock(&a->mu);
	return empty;
}

uint64_t bt_auth_received(struct bt_auth *a)
{
	return atomic_load(&a->received);
}

/* ------------------------------------------------------------ profile */

static void on_profile_done(void *arg, const struct http_result *res)
{
	struct bt_auth *a = arg;
	a->profile_req = NULL;
	struct bt_op *op = take_profile(a);
	if (res->err != BT_ERR_NONE) {
		finish(op, res->err, res->message ? res->message : "profile request failed", 0,
		       NULL);
		return;
	}
	struct bt_value v = BT_VLSTR(res->body, res->body_len);
	finish(op, BT_ERR_NONE, NULL, 1, &v);
}

static void start_profile(struct bt_reactor *r, void *ud)
{
	struct bt_auth *a = ud;
	pthread_mutex_lock(&a->mu);
	int pending = a->profile_op != NULL;
	pthread_mutex_unlock(&a->mu);
	if (!pending)
		return; /* cancelled meanwhile */
	a->profile_req =
	    a->token ? http_fetch_profile(a->http, a->token, on_profile_done, a) : NULL;
	if (!a->profile_req)
		finish(take_profile(a), BT_ERR_INVALID_STATE,
		       "profile(): no token (register() first)", 0, NULL);
}

static void on_profile_cancelled(struct bt_op *op, void *ud)
{
	struct bt_auth *a = ud;
	pthread_mutex_lock(&a->mu);
	int current = a->profile_op == op;
	if (current)
		a->profile_op = NULL;
	pthread_mutex_unlock(&a->mu);
	if (!current)
		return;
	cancel_req(&a->profile_req);
	bt_op_unref(op);
}

struct bt_op *bt_auth_profile(struct bt_auth *a)
{
	struct bt_op *refused = refuse_if_no_api(a, "profile");
	if (refused)
		return refused;
	pthread_mutex_lock(&a->mu);
	if (a->profile_op) {
		pthread_mutex_unlock(&a->mu);
		return failed_op(a, BT_ERR_INVALID_STATE, "profile() already in progress");
	}
	struct bt_op *op = bt_op_new(a->cq);
	if (!op) {
		pthread_mutex_unlock(&a->mu);
		return NULL;
	}
	a->profile_op = bt_op_ref(op);
	pthread_mutex_unlock(&a->mu);
	bt_op_set_cancel(op, on_profile_cancelled, a);
	if (reactor_post(a->r, start_profile, a) < 0)
		finish(take_profile(a), BT_ERR_NOMEM, "profile: could not reach the I/O thread", 0,
		       NULL);
	return op;
}

/* -------------------------------------------------------- life cycle */

static char *copy_strings(struct bt_auth_cfg *c, size_t *out_len)
{
	const char **fields[] = {&c->api_url,        &c->fix_host,       &c->target_comp_id,
				 &c->logon_username, &c->logon_password, &c->store_dir,
				 &c->ca_file,        &c->cert_file,      &c->key_file,
				 &c->server_name,    &c->begin_strings};
	size_t n = sizeof fields / sizeof fields[0], total = 0;
	for (size_t i = 0; i < n; i++)
		if (*fields[i])
			total += strlen(*fields[i]) + 1;
	char *buf = malloc(total ? total : 1), *p = buf;
	if (!buf)
		return NULL;
	*out_len = total;
	for (size_t i = 0; i < n; i++) {
		if (!*fields[i])
			continue;
		size_t len = strlen(*fields[i]) + 1;
		memcpy(p, *fields[i], len);
		*fields[i] = p;
		p += len;
	}
	return buf;
}

struct bt_auth *bt_auth_new(struct bt_reactor *r, struct bt_cq *cq, const struct bt_auth_cfg *cfg,
			    char *err, size_t errlen)
{
	if (!cfg->fix_host || !cfg->target_comp_id) {
		snprintf(err, errlen, "fix_host and target_comp_id are required");
		return NULL;
	}
	struct bt_auth *a = calloc(1, sizeof *a);
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->r = r;
	a->cq = cq;
	a->cfg = *cfg;
	a->strings = copy_strings(&a->cfg, &a->strings_len);
	if (!a->strings || pthread_mutex_init(&a->mu, NULL) != 0) {
		free(a->strings);
		free(a);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	am_init(&a->m);
	a->m.rc_on = cfg->reconnect;
	a->m.rc_max = cfg->reconnect_attempts;
	a->m.auth_logon = cfg->auth_logon;
	a->target = bt_cq_next_id(cq);
	a->rng = (a->target * 0x9E3779B97F4A7C15ull) ^ (uint64_t)(uintptr_t)a ^ 1;
	reactor_timer_init(&a->ur_timer, on_ur_timeout, a);
	reactor_timer_init(&a->state_timer, on_state_timer, a);
	reactor_timer_init(&a->rc_timer, on_rc_timer, a);
	a->fail_hook.fn = on_reactor_failed;
	a->fail_hook.ud = a;

	struct http_opts ho = {
	    .base_url = a->cfg.api_url,
	    .timeout_ms = a->cfg.timeout_ms,
	    .connect_timeout_ms = a->cfg.connect_timeout_ms,
	    .max_response = a->cfg.max_response,
	    .ca_file = a->cfg.ca_file,
	    .cert_file = a->cfg.cert_file,
	    .key_file = a->cfg.key_file,
	    .insecure = a->cfg.tls_insecure,
	};
	/* no api_url: no HTTP client, register/profile refuse at once */
	if (a->cfg.api_url && !(a->http = http_client_new(r, &ho, err, errlen)))
		goto fail;
	if (a->cfg.fix_tls) {
		struct transport_tls_opts to = {
		    .ca_file = a->cfg.ca_file,
		    .cert_file = a->cfg.cert_file,
		    .key_file = a->cfg.key_file,
		    .insecure = a->cfg.tls_insecure,
		};
		a->tls = transport_tls_ctx_new(&to, err, errlen);
		if (!a->tls)
			goto fail;
	}
	/* Before anything else this client posts: commands run in order. */
	reactor_post(r, add_fail_hook, a);
	return a;
fail:
	bt_auth_free(a);
	return NULL;
}

static void teardown(struct bt_reactor *r, void *ud)
{
	struct bt_auth *a = ud;
	reactor_failure_remove(r, &a->fail_hook);
	cancel_req(&a->req);
	cancel_req(&a->profile_req);
	http_client_free(a->http);
	a->http = NULL;
	run(a, AM_EV_TEARDOWN, BT_ERR_CANCELLED, NULL);
	finish(take_profile(a), BT_ERR_CANCELLED, "client closed", 0, NULL);
	free(a->io_q.buf);
	a->io_q.buf = NULL;
	free(a->ends);
	a->ends = NULL;
	a->ends_len = a->ends_cap = 0;
}

void bt_auth_free(struct bt_auth *a)
{
	if (!a)
		return;
	reactor_call(a->r, teardown, a);
	transport_tls_ctx_free(a->tls);
	bt_wipe_free_str(&a->token);
	bt_wipe_free_str(&a->password);
	bt_wipe_free_str(&a->rc_password);
	free(a->login_id);
	free(a->q.buf);
	if (a->strings) {
		/* logon_password lives here too */
		OPENSSL_cleanse(a->strings, a->strings_len);
		free(a->strings);
	}
	pthread_mutex_destroy(&a->mu);
	free(a);
}

enum bt_auth_state bt_auth_state(struct bt_auth *a, char *reason, size_t reason_len, char *code,
				 size_t code_len)
{
	pthread_mutex_lock(&a->mu);
	enum bt_auth_state st = a->m.st;
	if (reason && reason_len)
		snprintf(reason, reason_len, "%s", a->m.reason);
	if (code && code_len)
		snprintf(code, code_len, "%s", bt_err_code(a->m.err));
	pthread_mutex_unlock(&a->mu);
	return st;
}

void bt_auth_sender_comp_id(struct bt_auth *a, char *out, size_t len)
{
	pthread_mutex_lock(&a->mu);
	snprintf(out, len, "%s", a->m.comp_id);
	pthread_mutex_unlock(&a->mu);
}

uint64_t bt_auth_event_target(const struct bt_auth *a)
{
	return a->target;
}
