/* The exchange's FIX acceptor: the core's reactor (reactor.h, the client's
 * I/O thread) serves every connection, its timers included; each connection
 * is the core's driver, fix_conn, in the acceptor role (the same one the
 * client runs as initiator) over a transport that may be TLS. The gateway
 * only decides (which store the first frame's SenderCompID gets, who may log
 * on, what a UserRequest gets, which fault to play); the session layer does
 * the protocol. The main thread only waits for the stop signal. */
#include "exchange.h"
#include "fix_codec.h"
#include "fix_conn.h"
#include "fix_session.h"
#include "fix_session_fault.h"
#include "fix_store_mem.h"
#include "reactor.h"
#include "transport.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define PRE_MAX (FIX_DEFAULT_MAX_BODY + 256) /* bytes buffered before the first frame */
#define PRE_TIMEOUT_MS 10000                 /* a connection must send a frame by then */
#define CLOSE_GRACE_MS 2000                  /* flush time granted to a closing conn */
#define STORE_MAX_MSGS 10000                 /* app messages kept per CompID for resends */
#define SLOW_BYTE_MS 1000                    /* slow-bytes fault: one byte per second */
#define MANY_FIELDS 100000                   /* many-fields fault: body fields in the frame */
#define AUTH_TIMEOUT_MS 60000                /* default --auth-timeout: above any spec's timeout */

/* Sequence numbers and sent application messages per client CompID, kept in
 * memory for the life of the process so that a reconnecting client that
 * keeps its own numbers finds ours where it left them. */
struct comp_store {
	char comp_id[FIX_SESSION_MAX_COMP_ID + 1];
	int in_use; /* a connection is logged on (or logging on) with it */
	struct fix_store_mem mem;
};

struct conn {
	struct fix_gateway *g;
	struct fix_conn *fc;
	struct fix_session *s; /* fix_conn_session(fc) while it handles events */
	struct comp_store *cs; /* NULL for unknown or duplicate CompIDs */
	int dead;              /* closed; freed at the end of the loop iteration */
	int inbound;           /* frames received (for the close-after fault) */
	int user_logged_on;
	/* accounts_has_client's answer for the first frame's SenderCompID, kept so that
	 * the Logon handler does not ask the store again for the same frame. */
	char checked_comp[FIX_SESSION_MAX_COMP_ID + 1];
	int checked_known;
	unsigned id; /* connection number shown in the trace */
	int napp;    /* application messages received */
	int slow;    /* slow-bytes fault active on this connection */
	struct conn *prev, *next;
	struct conn *dead_next;
	struct participant *trader; /* set once the user logged in */
	int dirty;                  /* on g->dirty: the trading side queued output */
	struct conn *dirty_next;
	/* From the Logon ack to a successful UserRequest: a session that knows
	 * a client id but not its password must not hold the id for long. */
	struct reactor_timer auth_timer;
};

struct fix_gateway {
	struct fix_gateway_cfg cfg;
	struct transport_tls_ctx *tls; /* server side, NULL: plain TCP */
	struct conn *conns;            /* all live connections */
	struct conn *graveyard;
	struct bt_reactor *r;          /* everything below runs on its I/O thread */
	struct reactor_timer turn_end; /* flushes the trading side's output, frees dead conns */
	struct reactor_failure_hook failed;
	int stop_fd;  /* eventfd: the reactor broke, fix_gateway_run returns -1 */
	int watching; /* the listening and admin fds are watched */
	struct comp_store **stores;
	size_t nstores, stores_cap;
	int64_t wall_off;   /* CLOCK_REALTIME minus CLOCK_MONOTONIC, ms, at the last gw_now */
	unsigned conn_seq;  /* connections accepted so far */
	struct conn *dirty; /* conns the trading side wrote to this loop turn */
};

/* ------------------------------------------------------------------ time */

/* The reactor's clock (CLOCK_MONOTONIC, as fix_conn gives the sessions),
 * with the UTC offset read at the same moment for the frames the faults
 * encode by hand (52). */
static int64_t gw_now(struct fix_gateway *g)
{
	struct timespec wall;
	int64_t ms = reactor_now_ms();
	clock_gettime(CLOCK_REALTIME, &wall);
	g->wall_off = (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000 - ms;
	return ms;
}

/* The end of this loop turn: the trading side's output goes out and dead
 * connections are freed once no caller can hold them any more. */
static void turn_end_soon(struct fix_gateway *g)
{
	if (!reactor_timer_active(&g->turn_end))
		reactor_timer_start(g->r, &g->turn_end, 0);
}

/* May this CompID log on: a registered account, or in compat mode one of
 * --comp-ids. 1, 0, or -1 when the account store failed. */
static int comp_known(struct fix_gateway *g, const char *comp_id)
{
	if (g->cfg.compat && exch_compat_known(g->cfg.compat, comp_id))
		return 1;
	return accounts_has_client(g->cfg.accounts, comp_id);
}

/* --------------------------------------------------- per-CompID store */

static void store_free(struct comp_store *cs)
{
	fix_store_mem_free(&cs->mem);
	free(cs);
}

/* The stores are kept sorted by CompID: a login looks its store up in
 * O(log n) strcmps; a linear scan was most of the exchange's time once tens
 * of thousands of accounts had logged in (bench case 22). */
static struct comp_store *store_get(struct fix_gateway *g, const char *comp_id)
{
	size_t lo = 0, hi = g->nstores;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(g->stores[mid]->comp_id, comp_id);
		if (c == 0)
			return g->stores[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (g->nstores == g->stores_cap) {
		size_t cap = g->stores_cap ? 2 * g->stores_cap : 64;
		struct comp_store **s = realloc(g->stores, cap * sizeof(*s));
		if (!s)
			return NULL;
		g->stores = s;
		g->stores_cap = cap;
	}
	struct comp_store *cs = calloc(1, sizeof(*cs));
	if (!cs)
		return NULL;
	snprintf(cs->comp_id, sizeof(cs->comp_id), "%s", comp_id);
	/* Oldest first out: a resend that far back is gap-filled instead. */
	fix_store_mem_init(&cs->mem, 1, 1, STORE_MAX_MSGS);
	memmove(g->stores + lo + 1, g->stores + lo, (g->nstores - lo) * sizeof(*g->stores));
	g->stores[lo] = cs;
	g->nstores++;
	return cs;
}

/* --------------------------------------------------------- connections */

static void conn_kill(struct conn *c);

/* Start the slow-bytes fault: what is queued now still goes at full speed. */
static void conn_start_slow(struct conn *c, int64_t now)
{
	(void)now;
	c->slow = 1;
	fix_conn_pace(c->fc, SLOW_BYTE_MS);
}

/* Queue a whole frame outside the session's numbering: it takes the next
 * outbound MsgSeqNum, which the session then skips (a resend of it is
 * gap-filled). */
static void send_raw_numbered(struct conn *c, const char *frame, size_t len)
{
	if (fix_session_fault_raw(c->s, frame, len) == 0)
		fix_session_fault_skip_seq(c->s, 1);
}

static void send_garbled(struct conn *c, int64_t now)
{
	char buf[256];
	struct fix_enc enc;
	size_t len;
	fix_enc_begin(&enc, buf, sizeof(buf), "0", EXCH_COMP_ID, fix_session_target_comp_id(c->s),
		      fix_session_next_out_seq(c->s), now + c->g->wall_off);
	fix_enc_cstr(&enc, 58, "garbled by fault injection");
	const char *f = fix_enc_finish(&enc, &len);
	if (!f || len < 5)
		return;
	/* Corrupt the CheckSum ("10=NNN|" ends the frame) so the peer must drop it. */
	char *ck = (char *)f + len - 4;
	ck[0] = ck[0] == '9' ? '0' : (char)(ck[0] + 1);
	fix_session_fault_raw(c->s, f, len);
}

static void sv_copy(char *dst, size_t cap, struct fix_sv sv)
{
	size_t n = sv.len < cap - 1 ? sv.len : cap - 1;
	if (n)
		memcpy(dst, sv.ptr, n);
	dst[n] = 0;
}

/* The user is logged in: from now on it trades and the admin channel can
 * reach it. */
static void conn_trader(struct conn *c)
{
	if (!c->trader && c->s && c->g->cfg.admin)
		c->trader = admin_login(c->g->cfg.admin, c, fix_session_target_comp_id(c->s));
}

static int64_t auth_timeout_ms(const struct fix_gateway *g)
{
	return g->cfg.auth_timeout_ms > 0 ? g->cfg.auth_timeout_ms : AUTH_TIMEOUT_MS;
}

static void on_auth_timeout(struct bt_reactor *r, struct reactor_timer *t, void *ud)
{
	(void)r;
	(void)t;
	struct conn *c = ud;
	if (c->dead || c->user_logged_on)
		return;
	char text[96];
	snprintf(text, sizeof(text), "not authenticated within %g s (UserRequest expected)",
		 (double)auth_timeout_ms(c->g) / 1000.0);
	fix_conn_logout(c->fc, text);
}

/* Not while a fault keeps the UserResponse back: those specs time the
 * client out themselves. */
static void arm_auth_timer(struct conn *c)
{
	const struct exch_faults *f = c->g->cfg.faults;
	/* a running deadline is never pushed back: repeated logoffs must not
	 * keep an unauthenticated session alive */
	if (c->user_logged_on || f->no_user_response || f->silent_after_logon ||
	    reactor_timer_active(&c->auth_timer))
		return;
	reactor_timer_start(c->g->r, &c->auth_timer, auth_timeout_ms(c->g));
}

static void on_logon_request(struct conn *c, const struct fix_event *ev, int64_t now)
{
	const struct exch_faults *f = c->g->cfg.faults;
	char comp[FIX_SESSION_MAX_COMP_ID + 1], text[256];
	sv_copy(comp, sizeof(comp), ev->logon_request.sender_comp_id);
	int known = c->checked_comp[0] && strcmp(comp, c->checked_comp) == 0
			? c->checked_known
			: comp_known(c->g, comp);
	c->checked_comp[0] = 0;
	if (known != 1) {
		snprintf(text, sizeof(text),
			 known < 0 ? "account store failure, try again"
			 : c->g->cfg.compat
			     ? "unknown SenderCompID '%s'"
			     : "unknown SenderCompID '%s': register first (POST /api/register)",
			 comp);
		fix_session_refuse(c->s, text, now);
		return;
	}
	if (!c->cs) {
		snprintf(text, sizeof(text), "SenderCompID '%s' is already logged on", comp);
		fix_session_refuse(c->s, text, now);
		return;
	}
	if (f->no_logon_reply)
		return;
	if (f->logon_logout) {
		fix_session_refuse(c->s, f->logon_logout, now);
		return;
	}
	if (c->g->cfg.compat) {
		/* The SenderCompID is the whole authentication; 553/554 are not read. */
		fix_session_fault_gateway_compat(c->s);
		c->user_logged_on = 1;
		conn_trader(c);
	} else if (ev->logon_request.password.ptr) {
		/* A venue-style Logon with 553/554: check them right here. */
		char user[FIX_SESSION_MAX_COMP_ID + 1];
		sv_copy(user, sizeof(user), ev->logon_request.username);
		int rc =
		    accounts_verify(c->g->cfg.accounts, user[0] ? user : comp,
				    ev->logon_request.password.ptr, ev->logon_request.password.len);
		if (rc != ACCT_OK) {
			fix_session_refuse(c->s,
					   rc == ACCT_BAD_PASSWORD ? "password incorrect"
					   : rc == ACCT_NOT_FOUND  ? "user not recognised"
								   : "account store failure",
					   now);
			return;
		}
		c->user_logged_on = 1;
		conn_trader(c);
	}
	fix_session_accept(c->s, now);
	arm_auth_timer(c);
}

static void send_huge_bodylength(struct conn *c)
{
	/* A peer that believes 9= would wait for (and buffer) almost 1 GB. */
	static const char head[] = "8=FIX.4.4\0019=999999999\00135=0\00158=";
	size_t n = sizeof(head) - 1, len = n + 64 * 1024 + 1;
	char *buf = malloc(len);
	if (!buf)
		return;
	memcpy(buf, head, n);
	memset(buf + n, 'x', len - n - 1);
	buf[len - 1] = FIX_SOH;
	fix_session_fault_raw(c->s, buf, len);
	free(buf);
}

static void send_no_soh(struct conn *c)
{
	/* Digits, so that a reader that parses 9= until the SOH never stops. */
	static const char head[] = "8=FIX.4.4\0019=";
	size_t n = sizeof(head) - 1, len = n + 1024 * 1024;
	char *buf = malloc(len);
	if (!buf)
		return;
	memcpy(buf, head, n);
	memset(buf + n, '7', len - n);
	fix_session_fault_raw(c->s, buf, len);
	free(buf);
}

static void send_many_fields(struct conn *c, int64_t now)
{
	size_t cap = (size_t)MANY_FIELDS * 5 + 512;
	char *buf = malloc(cap);
	if (!buf)
		return;
	struct fix_enc enc;
	size_t len;
	fix_enc_begin(&enc, buf, cap, "B", EXCH_COMP_ID, fix_session_target_comp_id(c->s),
		      fix_session_next_out_seq(c->s), now + c->g->wall_off);
	fix_enc_cstr(&enc, 148, "many fields (fault injection)");
	fix_enc_int(&enc, 33, MANY_FIELDS - 2);
	for (int i = 0; i < MANY_FIELDS - 2; i++)
		fix_enc_str(&enc, 58, "x", 1);
	const char *f = fix_enc_finish(&enc, &len);
	/* It carries the number the next frame also gets: a peer that drops it
	 * (too large) sees no gap, one that takes it fails on it anyway. */
	if (f)
		fix_session_fault_raw(c->s, f, len);
	free(buf);
}

static void send_resend_request(struct conn *c, int64_t now)
{
	char buf[256];
	struct fix_enc enc;
	size_t len;
	fix_enc_begin(&enc, buf, sizeof(buf), "2", EXCH_COMP_ID, fix_session_target_comp_id(c->s),
		      fix_session_next_out_seq(c->s), now + c->g->wall_off);
	fix_enc_int(&enc, 7, 1);
	fix_enc_int(&enc, 16, 0);
	const char *f = fix_enc_finish(&enc, &len);
	if (f)
		send_raw_numbered(c, f, len);
}

static void on_logon(struct conn *c, int64_t now)
{
	const struct exch_faults *f = c->g->cfg.faults;
	if (f->silent_after_logon)
		fix_session_fault_silent(c->s, 1);
	if (f->seq_gap)
		fix_session_fault_skip_seq(c->s, (uint64_t)f->seq_gap);
	if (f->garbled_frame)
		send_garbled(c, now);
	if (f->huge_bodylength)
		send_huge_bodylength(c);
	if (f->no_soh)
		send_no_soh(c);
	if (f->many_fields)
		send_many_fields(c, now);
	if (f->slow_bytes == EXCH_SLOW_AFTER_LOGON)
		conn_start_slow(c, now);
}

static void on_user_request(struct conn *c, const struct fix_event *ev, int64_t now)
{
	const struct exch_faults *f = c->g->cfg.faults;
	if (f->silent_after_logon || f->no_user_response || c->g->cfg.compat)
		return; /* compat: 35=BE is a 'B' there, unhandled and unanswered */
	char req_id[128], user[FIX_SESSION_MAX_COMP_ID + 1], text[256];
	sv_copy(req_id, sizeof(req_id), ev->user_request.req_id);
	sv_copy(user, sizeof(user), ev->user_request.username);
	const char *peer = fix_session_target_comp_id(c->s);
	int status;
	if (f->user_status) {
		status = f->user_status;
		snprintf(text, sizeof(text), "UserStatus %d (fault injection)", status);
	} else if (ev->user_request.type == 2) {
		c->user_logged_on = 0;
		arm_auth_timer(c); /* logged off: the id is free again unless it logs in */
		status = 2;
		snprintf(text, sizeof(text), "logged off");
	} else if (ev->user_request.type == 4) {
		status = c->user_logged_on ? 1 : 2;
		snprintf(text, sizeof(text), "%s", status == 1 ? "logged in" : "not logged in");
	} else if (ev->user_request.type != 1) {
		status = 6;
		snprintf(text, sizeof(text), "UserRequestType %d not supported",
			 ev->user_request.type);
	} else {
		int rc = user[0] ? accounts_verify(c->g->cfg.accounts, user,
						   ev->user_request.password.ptr
						       ? ev->user_request.password.ptr
						       : "",
						   ev->user_request.password.len)
				 : ACCT_NOT_FOUND;
		if (rc == ACCT_NOT_FOUND) {
			status = 3;
			snprintf(text, sizeof(text), "user '%s' not recognised", user);
		} else if (strcmp(user, peer) != 0) {
			status = 6;
			snprintf(text, sizeof(text),
				 "Username '%s' does not match SenderCompID '%s'", user, peer);
		} else if (rc == ACCT_BAD_PASSWORD || !ev->user_request.password.ptr) {
			status = 4;
			snprintf(text, sizeof(text), "password incorrect");
		} else if (rc != ACCT_OK) {
			status = 6;
			snprintf(text, sizeof(text), "account store failure, try again");
		} else {
			status = 1;
			c->user_logged_on = 1;
			conn_trader(c);
			snprintf(text, sizeof(text), "logged in");
		}
	}
	fix_session_user_response(c->s, req_id, user, status, text, now);
	if (status == 1 && ev->user_request.type == 1 && f->logout_active)
		fix_session_logout(c->s, f->logout_active_text, now);
	if (status == 1 && f->slow_bytes == EXCH_SLOW_AFTER_LOGIN && !c->slow)
		conn_start_slow(c, now);
}

/* BusinessMessageReject (35=j) of the message behind ev. */
static void business_reject(struct conn *c, const struct fix_event *ev, char reason,
			    const char *why, int64_t now)
{
	char seq[24];
	int n = snprintf(seq, sizeof(seq), "%llu", (unsigned long long)ev->msg->seq_num);
	struct fix_out_field fields[] = {
	    {45, seq, (size_t)n},
	    {372, ev->app.msg_type.ptr, ev->app.msg_type.len},
	    {380, &reason, 1},
	    {58, why, strlen(why)},
	};
	fix_session_send(c->s, "j", fields, 4, now);
}

static void on_app(struct conn *c, const struct fix_event *ev, int64_t now)
{
	const struct exch_faults *f = c->g->cfg.faults;
	if (f->silent_after_logon || !ev->msg)
		return;
	c->napp++;
	if (c->g->cfg.compat) {
		struct exch_compat_order o;
		if (c->trader && exch_compat_inbound(&o, ev->msg, fix_session_target_comp_id(c->s),
						     now + c->g->wall_off))
			admin_message(c->g->cfg.admin, c->trader, o.msg);
	} else if (!c->user_logged_on || !c->trader)
		business_reject(c, ev, '6', "not logged in: send a UserRequest (35=BE) first", now);
	else if (admin_message(c->g->cfg.admin, c->trader, ev->msg) != 0)
		/* Nothing else is traded: say so instead of dropping silently. */
		business_reject(c, ev, '3', "unsupported message type", now);
	if (f->resend_request && c->napp == 1)
		send_resend_request(c, now);
}

/* Every session event but the end, which comes as conn_closed. */
static void conn_event(void *arg, const struct fix_event *ev)
{
	struct conn *c = arg;
	int64_t now = gw_now(c->g);
	c->s = fix_conn_session(c->fc);
	switch (ev->type) {
	case FIX_EV_LOGON_REQUEST:
		on_logon_request(c, ev, now);
		break;
	case FIX_EV_LOGON:
		on_logon(c, now);
		break;
	case FIX_EV_USER_REQUEST:
		on_user_request(c, ev, now);
		break;
	case FIX_EV_APP:
		on_app(c, ev, now);
		break;
	default:
		break;
	}
}

static void trace_in(void *ud, int dir, const char *frame, size_t len)
{
	struct conn *c = ud;
	const struct exch_faults *f = c->g->cfg.faults;
	if (dir == FIX_TRACE_IN && ++c->inbound >= f->close_after && f->close_after)
		/* Drop the line as a crash would: no Logout (once this frame's
		 * events are handled and their output is on its way). */
		fix_conn_drop(c->fc);
	if (!c->g->cfg.trace)
		return;
	static const char *const names[] = {"in", "out", "garbled"};
	fprintf(stderr, "fix %u %s: ", c->id, names[dir >= 0 && dir <= 2 ? dir : 2]);
	for (size_t i = 0; i < len; i++)
		fputc(frame[i] == FIX_SOH ? '|' : frame[i], stderr);
	fputc('\n', stderr);
}

/* The first frame names the client: pick its sequence store, then let
 * fix_conn start the session with the bytes received so far. */
static int conn_start_session(void *arg, const char *pre, size_t pre_len,
			      struct fix_session_cfg *cfg)
{
	struct conn *c = arg;
	struct fix_gateway *g = c->g;
	char comp[FIX_SESSION_MAX_COMP_ID + 1] = "";
	size_t flen = 0;
	if (fix_frame(pre, pre_len, FIX_DEFAULT_MAX_BODY, &flen) == FIX_OK) {
		struct fix_field fields[128];
		struct fix_msg m;
		fix_msg_init(&m, fields, 128);
		size_t vlen = 0;
		const char *v;
		if (fix_parse(&m, pre, flen) == FIX_OK && fix_msg_is(&m, "A") &&
		    (v = fix_msg_get(&m, 49, &vlen)) && vlen <= FIX_SESSION_MAX_COMP_ID) {
			memcpy(comp, v, vlen);
			comp[vlen] = 0;
		}
	}
	if (comp[0]) {
		c->checked_known = comp_known(g, comp);
		memcpy(c->checked_comp, comp, sizeof(comp));
	}
	if (comp[0] && c->checked_known == 1) {
		struct comp_store *cs = store_get(g, comp);
		/* A second connection for a CompID gets no store (its Logon is refused),
		 * so it cannot disturb the live session's numbers. */
		if (cs && !cs->in_use) {
			cs->in_use = 1;
			cs->mem.st.next_out = cs->mem.next_out;
			/* --compat: that gateway numbers nothing inbound, so a
			 * Logon at 34=1 without 141=Y is no "too low" after an
			 * earlier connection (its own counter, next_out, goes on). */
			cs->mem.st.next_in = g->cfg.compat ? 1 : cs->mem.next_in;
			c->cs = cs;
		}
	}
	cfg->role = FIX_ACCEPTOR;
	cfg->sender_comp_id = EXCH_COMP_ID;
	cfg->logon_timeout_ms = g->cfg.faults->no_logon_reply ? 3600 * 1000 : 10000;
	cfg->logout_timeout_ms = 5000;
	cfg->store = c->cs ? &c->cs->mem.st : NULL;
	cfg->trace = trace_in;
	cfg->trace_ud = c;
	return 0;
}

/* The connection is over (fix_conn calls this once, whatever ended it). */
static void conn_closed(void *arg, const char *code, const char *reason)
{
	(void)code;
	(void)reason;
	struct conn *c = arg;
	struct fix_gateway *g = c->g;
	if (c->dead)
		return;
	c->dead = 1;
	/* Lets a traced spec know the CompID is free for the next logon. */
	if (g->cfg.trace)
		fprintf(stderr, "fix %u closed\n", c->id);
	if (c->prev)
		c->prev->next = c->next;
	else
		g->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	if (c->cs)
		c->cs->in_use = 0;
	reactor_timer_stop(g->r, &c->auth_timer);
	if (c->trader)
		admin_logout(g->cfg.admin, c->trader);
	c->trader = NULL;
	fix_conn_free(c->fc); /* safe inside its own callback */
	c->fc = NULL;
	c->s = NULL;
	/* The caller may still hold c: free it at the end of the turn. */
	c->dead_next = g->graveyard;
	g->graveyard = c;
	turn_end_soon(g);
}

static void conn_kill(struct conn *c)
{
	if (c->dead)
		return;
	fix_conn_drop(c->fc);
	/* Inside one of c's own callbacks the drop waits for it to return: the
	 * gateway forgets c now all the same. */
	if (!c->dead)
		conn_closed(c, "dropped", "connection dropped");
}

static const struct fix_conn_cbs CONN_CBS = {
    .on_event = conn_event,
    .on_closed = conn_closed,
};

static void gw_accept(struct fix_gateway *g)
{
	for (;;) {
		int fd = accept4(g->cfg.listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE)
				fprintf(stderr, "betatrader-exchange: accept: %s\n",
					strerror(errno));
			return;
		}
		struct conn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->g = g;
		c->id = ++g->conn_seq;
		reactor_timer_init(&c->auth_timer, on_auth_timeout, c);
		struct fix_conn_accept_opts o = {
		    .fd = fd, /* fix_conn owns it from here, also on failure */
		    .tls = g->tls,
		    .first_bytes_max = PRE_MAX,
		    .first_frame_timeout_ms = PRE_TIMEOUT_MS,
		    .close_grace_ms = CLOSE_GRACE_MS,
		    .on_first_bytes = conn_start_session,
		};
		char err[256];
		c->fc = fix_conn_accept(g->r, &o, &CONN_CBS, c, err, sizeof(err));
		if (!c->fc) {
			free(c);
			continue;
		}
		c->next = g->conns;
		if (g->conns)
			g->conns->prev = c;
		g->conns = c;
	}
}

static void bury(struct fix_gateway *g)
{
	while (g->graveyard) {
		struct conn *c = g->graveyard;
		g->graveyard = c->dead_next;
		free(c);
	}
}

static void on_listen(struct bt_reactor *r, int fd, unsigned events, void *ud)
{
	(void)r;
	(void)fd;
	(void)events;
	struct fix_gateway *g = ud;
	gw_accept(g);
}

static void on_admin(struct bt_reactor *r, int fd, unsigned events, void *ud)
{
	(void)r;
	(void)fd;
	(void)events;
	struct fix_gateway *g = ud;
	admin_run(g->cfg.admin);
}

static void on_turn_end(struct bt_reactor *r, struct reactor_timer *t, void *ud)
{
	(void)r;
	(void)t;
	struct fix_gateway *g = ud;
	fix_gateway_flush(g);
	bury(g);
}

static void on_reactor_failure(struct bt_reactor *r, const char *reason, void *ud)
{
	(void)r;
	struct fix_gateway *g = ud;
	fprintf(stderr, "betatrader-exchange: %s\n", reason);
	uint64_t one = 1;
	while (write(g->stop_fd, &one, sizeof(one)) < 0 && errno == EINTR)
		;
}

struct start_call {
	struct fix_gateway *g;
	int rc;
};

static void start_on_io(struct bt_reactor *r, void *ud)
{
	struct start_call *sc = ud;
	struct fix_gateway *g = sc->g;
	sc->rc = reactor_watch(r, g->cfg.listen_fd, REACTOR_READ, on_listen, g);
	if (sc->rc == 0 && g->cfg.admin) {
		sc->rc = reactor_watch(r, admin_fd(g->cfg.admin), REACTOR_READ, on_admin, g);
		if (sc->rc < 0)
			reactor_unwatch(r, g->cfg.listen_fd);
	}
	if (sc->rc == 0) {
		g->watching = 1;
		reactor_on_failure(r, &g->failed);
	}
}

int fix_gateway_run(struct fix_gateway *g)
{
	struct start_call sc = {g, 0};
	int rc = reactor_call(g->r, start_on_io, &sc);
	if (rc < 0 || sc.rc < 0) {
		fprintf(stderr, "betatrader-exchange: reactor: %s\n",
			strerror(-(rc < 0 ? rc : sc.rc)));
		return -1;
	}
	struct pollfd p[2] = {{.fd = g->cfg.signal_fd, .events = POLLIN},
			      {.fd = g->stop_fd, .events = POLLIN}};
	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "betatrader-exchange: poll: %s\n", strerror(errno));
			return -1;
		}
		if (p[1].revents)
			return -1;
		if (p[0].revents)
			return 0;
	}
}

struct fix_gateway *fix_gateway_new(const struct fix_gateway_cfg *cfg, char *err, size_t errlen)
{
	struct fix_gateway *g = calloc(1, sizeof(*g));
	if (!g) {
		close(cfg->listen_fd);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	g->cfg = *cfg;
	reactor_timer_init(&g->turn_end, on_turn_end, g);
	g->failed.fn = on_reactor_failure;
	g->failed.ud = g;
	g->stop_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (g->stop_fd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	g->r = reactor_acquire(err, errlen);
	if (!g->r)
		goto fail;
	if (cfg->admin)
		admin_bind(cfg->admin, g);
	if (cfg->tls_cert) {
		char why[256];
		g->tls =
		    transport_tls_server_ctx_new(cfg->tls_cert, cfg->tls_key, why, sizeof(why));
		if (!g->tls) {
			snprintf(err, errlen, "TLS: %s", why);
			goto fail;
		}
	}
	return g;
fail:
	fix_gateway_free(g);
	return NULL;
}

/* On the I/O thread: tell logged-on clients why the line goes away (as far
 * as one write goes), close everything and stop watching. */
static void stop_on_io(struct bt_reactor *r, void *ud)
{
	struct fix_gateway *g = ud;
	while (g->conns) {
		struct conn *c = g->conns;
		struct fix_session *s = fix_conn_session(c->fc);
		if (s && fix_session_state(s) == FIX_ST_ACTIVE) {
			fix_conn_pace(c->fc, 0);
			fix_conn_logout(c->fc, "exchange shutting down");
		}
		conn_kill(c); /* the Logout goes as far as one write takes it */
	}
	bury(g);
	g->dirty = NULL;
	reactor_timer_stop(r, &g->turn_end);
	reactor_failure_remove(r, &g->failed);
	if (g->watching) {
		reactor_unwatch(r, g->cfg.listen_fd);
		if (g->cfg.admin)
			reactor_unwatch(r, admin_fd(g->cfg.admin));
		g->watching = 0;
	}
}

void fix_gateway_free(struct fix_gateway *g)
{
	if (!g)
		return;
	if (g->r) {
		reactor_call(g->r, stop_on_io, g);
		reactor_release(g->r);
	}
	for (size_t i = 0; i < g->nstores; i++)
		store_free(g->stores[i]);
	free(g->stores);
	transport_tls_ctx_free(g->tls);
	if (g->stop_fd >= 0)
		close(g->stop_fd);
	close(g->cfg.listen_fd);
	free(g);
}

/* ------------------------------------------------- for the trading side */

int fix_gateway_send(struct fix_gateway *g, void *conn, const char *msg_type,
		     const struct fix_out_field *fields, size_t n)
{
	struct conn *c = conn;
	if (c->dead)
		return FIX_SESSION_E_STATE;
	int rc;
	if (g->cfg.compat) {
		struct fix_session *s = fix_conn_session(c->fc);
		int64_t now = gw_now(g);
		/* Straight into the session: written by fix_gateway_flush at the
		 * end of the turn (below), like anything queued while the
		 * connection handles its own events. */
		rc = s ? exch_compat_send(s, c->id, msg_type, fields, n, now, now + g->wall_off)
		       : FIX_SESSION_E_STATE;
	} else {
		/* Queued (fix_conn writes at the end of the loop turn, and holds it
		 * while this very connection is in the middle of handling its own
		 * events); fix_gateway_flush writes it at once. */
		rc = fix_conn_send(c->fc, msg_type, fields, n);
	}
	if (!c->dirty) {
		c->dirty = 1;
		c->dirty_next = g->dirty;
		g->dirty = c;
		turn_end_soon(g);
	}
	return rc;
}

void fix_gateway_drop(struct fix_gateway *g, void *conn)
{
	(void)g;
	conn_kill(conn);
}

void fix_gateway_flush(struct fix_gateway *g)
{
	while (g->dirty) {
		struct conn *c = g->dirty;
		g->dirty = c->dirty_next;
		c->dirty = 0;
		if (!c->dead)
			fix_conn_flush(c->fc);
	}
}
