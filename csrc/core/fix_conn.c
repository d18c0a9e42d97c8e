/* FIX session over a transport on the reactor, both roles: see fix_conn.h.
 * The initiator's opening (with the client's store) is fix_conn_open.c. */
#include "fix_conn_int.h"
#include "util.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "defaults.h"
#include "fix_codec.h"
#include "reactor.h"
#include "transport.h"

/* The session's timer clock (CLOCK_MONOTONIC ms, like the reactor's timers,
 * so a wall-clock step cannot freeze or rush a deadline), with the UTC of
 * the same moment handed over for SendingTime(52) and OrigSendingTime(122). */
static int64_t now_ms(struct fix_conn *c)
{
	struct timespec wall;
	int64_t now = reactor_now_ms();
	clock_gettime(CLOCK_REALTIME, &wall);
	if (c->s)
		fix_session_set_clock(c->s, now,
				      (int64_t)wall.tv_sec * 1000 + wall.tv_nsec / 1000000);
	return now;
}

static void release_session(struct fix_conn *c)
{
	reactor_timer_stop(c->r, &c->frames_timer); /* close writes what is left */
	fix_session_free(c->s);
	c->s = NULL;
	if (c->dops)
		c->dops->close(c->dctx);
	c->dops = NULL;
	c->dctx = NULL;
	bt_wipe_free_str(&c->username);
	bt_wipe_free_str(&c->password);
	free(c->pre);
	c->pre = NULL;
	c->pre_len = 0;
}

void fc_destroy(struct fix_conn *c)
{
	release_session(c);
	free(c);
}

static void destroy(struct fix_conn *c)
{
	fc_destroy(c);
}

static void enter(struct fix_conn *c)
{
	c->busy++;
}

static int live(const struct fix_conn *c)
{
	return !c->freed && !c->closed;
}

static void drop_now(struct fix_conn *c);

static void leave(struct fix_conn *c)
{
	/* A drop asked for inside a callback happens once that unwinds. */
	if (c->busy == 1 && c->dropping && live(c))
		drop_now(c);
	if (--c->busy == 0 && atomic_load(&c->refs) == 0)
		destroy(c);
}

/* Write the store's pending frames now: 0, or -1 once the store failed. */
static int frames_now(struct fix_conn *c)
{
	if (c->store_failed)
		return -1;
	if (c->dops && c->dops->commit(c->dctx) < 0) {
		c->store_failed = 1;
		snprintf(c->store_err, sizeof(c->store_err), "sequence store failed: %s",
			 c->dops->error(c->dctx));
		return -1;
	}
	return 0;
}

/* Pacing (fix_conn_pace): how much of len may go to the transport now. */
static size_t paced_len(struct fix_conn *c, size_t len)
{
	if (c->fast)
		return len < c->fast ? len : c->fast;
	return reactor_now_ms() >= c->pace_next ? 1 : 0;
}

static void paced_sent(struct fix_conn *c, size_t n)
{
	if (c->fast)
		c->fast -= n;
	else
		c->pace_next = reactor_now_ms() + c->pace_ms;
}

/* Hand everything the session queued to the transport (coalesced there),
 * after the store's group commit of the numbers: one .seq record for the
 * whole batch before any of its bytes can leave, so a kill -9 never lets a
 * number be used twice. The frames kept for resends are written by
 * frames_timer, which fires after the transport's own zero-delay flush
 * (timers of equal due time run in start order): the batch goes on the wire
 * first, and a crash in between only turns a later resend into a GapFill.
 * 0, or -1 once the store failed (then nothing is ever written again; the
 * caller ends the session). */
static int write_out(struct fix_conn *c)
{
	if (c->store_failed)
		return -1;
	if (c->dops && c->dops->commit_numbers(c->dctx) < 0) {
		c->store_failed = 1;
		snprintf(c->store_err, sizeof(c->store_err), "sequence store failed: %s",
			 c->dops->error(c->dctx));
		return -1;
	}
	size_t len;
	const char *p = c->s ? fix_session_out(c->s, &len) : NULL;
	if (p && len && c->pace_ms)
		len = paced_len(c, len);
	if (p && len && c->t && transport_write(c->t, p, len) == 0) {
		fix_session_out_consume(c->s, len);
		c->handed += len;
		if (c->pace_ms)
			paced_sent(c, len);
	}
	if (c->dops && c->dops->pending_frames(c->dctx) &&
	    reactor_timer_start(c->r, &c->frames_timer, 0) < 0)
		return frames_now(c);
	return 0;
}

static void finish(struct fix_conn *c, const char *code, const char *reason)
{
	if (c->closed)
		return;
	c->closed = 1;
	reactor_timer_stop(c->r, &c->timer);
	write_out(c); /* a final Logout, say */
	transport_close(c->t);
	c->t = NULL;
	if (!c->freed && c->cbs.on_closed)
		c->cbs.on_closed(c->arg, code, reason);
	release_session(c); /* reason may have pointed into it */
}

static void arm_timer(struct fix_conn *c)
{
	int64_t due = c->s ? fix_session_deadline(c->s) : c->first_by;
	size_t pending = 0;
	if (c->s && c->pace_ms && !c->fast && fix_session_out(c->s, &pending) && pending &&
	    c->pace_next < due)
		due = c->pace_next; /* the next paced byte */
	if (due == INT64_MAX) {
		reactor_timer_stop(c->r, &c->timer);
		return;
	}
	int64_t delay = due - now_ms(c);
	reactor_timer_start(c->r, &c->timer, delay > 0 ? delay : 0);
}

/* Deliver the session's events, then push its output and re-arm its timer.
 * Returns the number of events delivered. */
static size_t pump(struct fix_conn *c)
{
	if (c->pumping)
		return 0;
	size_t n = 0;
	struct fix_event ev;
	c->pumping = 1;
	while (live(c) && c->s && fix_session_poll_event(c->s, &ev)) {
		n++;
		if (ev.type == FIX_EV_CLOSED) {
			const char *code = ev.closed.code, *reason = ev.closed.reason;
			/* The transport knows better why the stream went away. */
			if (c->tcode && strcmp(code, "disconnected") == 0) {
				code = transport_code_name(c->tcode);
				reason = c->treason;
			}
			c->pumping = 0;
			finish(c, code, reason);
			return n;
		}
		if (c->cbs.on_event)
			c->cbs.on_event(c->arg, &ev);
	}
	c->pumping = 0;
	if (live(c) && c->s) {
		if (write_out(c) < 0) {
			finish(c, "store", c->store_err);
			return n;
		}
		arm_timer(c);
	}
	return n;
}

/* ------------------------------------------------------------ callbacks */

static void t_open(void *arg)
{
	struct fix_conn *c = arg;
	enter(c);
	if (c->acceptor) {
		/* The session starts with the first frame (t_data). */
		if (c->cbs.on_connected)
			c->cbs.on_connected(c->arg);
		leave(c);
		return;
	}
	int rc = fix_session_start(c->s, now_ms(c));
	bt_wipe_free_str(&c->password); /* encoded into the Logon now (or never) */
	bt_wipe_free_str(&c->username);
	if (rc != 0) {
		finish(c, "protocol", fix_session_strerror(rc));
	} else {
		if (c->cbs.on_connected)
			c->cbs.on_connected(c->arg);
		if (live(c))
			pump(c);
	}
	leave(c);
}

static void feed(struct fix_conn *c, const char *buf, size_t n)
{
	size_t off = 0;
	while (off < n && live(c) && c->s && !c->dropping) {
		size_t k = fix_session_feed(c->s, buf + off, n - off, now_ms(c));
		off += k;
		size_t evs = pump(c);
		if (k == 0 && evs == 0)
			break; /* cannot happen per the session's contract; never spin */
	}
}

/* Acceptor: buffer until the first frame is complete (or is no frame at
 * all), let the owner set the session up from it, then feed it all. */
static void first_bytes(struct fix_conn *c, const char *buf, size_t n)
{
	if (c->pre_len + n > c->pre_max) {
		finish(c, "protocol", "no FIX frame in the first bytes received");
		return;
	}
	char *p = realloc(c->pre, c->pre_len + n);
	if (!p) {
		finish(c, "protocol", "out of memory");
		return;
	}
	c->pre = p;
	memcpy(c->pre + c->pre_len, buf, n);
	c->pre_len += n;
	size_t flen = 0;
	if (fix_frame(c->pre, c->pre_len, FIX_DEFAULT_MAX_BODY, &flen) == FIX_E_NEED_MORE)
		return;
	struct fix_session_cfg cfg;
	fix_session_cfg_init(&cfg);
	if (c->on_first_bytes(c->arg, c->pre, c->pre_len, &cfg) != 0) {
		finish(c, "refused", "connection refused by the acceptor");
		return;
	}
	if (!live(c))
		return;
	cfg.role = FIX_ACCEPTOR;
	c->s = fix_session_new(&cfg);
	int64_t now = now_ms(c);
	if (!c->s || fix_session_start(c->s, now) != 0) {
		finish(c, "protocol", "cannot start the session");
		return;
	}
	/* The session may end while fed: keep the bytes until it is done. */
	char *pre = c->pre;
	size_t len = c->pre_len;
	c->pre = NULL;
	c->pre_len = 0;
	feed(c, pre, len);
	free(pre);
	if (live(c))
		pump(c); /* the first frame may have been held (a partial second one) */
}

static void t_data(void *arg, const char *buf, size_t n)
{
	struct fix_conn *c = arg;
	enter(c);
	if (live(c) && c->acceptor && !c->s)
		first_bytes(c, buf, n);
	else
		feed(c, buf, n);
	leave(c);
}

static void t_error(void *arg, int code, const char *msg)
{
	struct fix_conn *c = arg;
	enter(c);
	c->tcode = code;
	snprintf(c->treason, sizeof(c->treason), "%s", msg);
	if (!c->s || fix_session_state(c->s) == FIX_ST_IDLE) {
		finish(c, transport_code_name(code), c->treason);
	} else {
		fix_session_disconnected(c->s, now_ms(c));
		pump(c);
		/* A session that did not close on disconnect would be a bug there. */
		if (live(c))
			finish(c, transport_code_name(code), c->treason);
	}
	leave(c);
}

static void t_written(void *arg)
{
	struct fix_conn *c = arg;
	enter(c);
	if (live(c) && c->cbs.on_written)
		c->cbs.on_written(c->arg);
	leave(c);
}

static void frames_cb(struct bt_reactor *r, struct reactor_timer *tm, void *ud)
{
	struct fix_conn *c = ud;
	enter(c);
	if (live(c) && frames_now(c) < 0)
		finish(c, "store", c->store_err);
	leave(c);
}

static void timer_cb(struct bt_reactor *r, struct reactor_timer *tm, void *ud)
{
	struct fix_conn *c = ud;
	enter(c);
	if (live(c) && c->s) {
		fix_session_tick(c->s, now_ms(c));
		pump(c);
	} else if (live(c) && c->acceptor) {
		finish(c, "timeout", "no complete FIX frame in time");
	}
	leave(c);
}

/* ------------------------------------------------------------ API */

struct fix_conn *fc_new(struct bt_reactor *r, const struct fix_conn_cbs *cbs, void *arg)
{
	struct fix_conn *c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	atomic_init(&c->refs, 1);
	c->r = r;
	c->cbs = *cbs;
	c->arg = arg;
	reactor_timer_init(&c->timer, timer_cb, c);
	reactor_timer_init(&c->frames_timer, frames_cb, c);
	return c;
}

const struct transport_cbs fc_transport_cbs = {t_open, t_data, t_error, t_written};

struct fix_conn *fix_conn_accept(struct bt_reactor *r, const struct fix_conn_accept_opts *opts,
				 const struct fix_conn_cbs *cbs, void *arg, char *err,
				 size_t errlen)
{
	if (!r || !opts || !cbs || !opts->on_first_bytes || opts->fd < 0) {
		if (opts && opts->fd >= 0)
			close(opts->fd);
		snprintf(
		    err, errlen,
		    "fix_conn_accept: reactor, socket, options and on_first_bytes are required");
		return NULL;
	}
	struct fix_conn *c = fc_new(r, cbs, arg);
	if (!c) {
		close(opts->fd);
		snprintf(err, errlen, "fix_conn: out of memory");
		return NULL;
	}
	c->acceptor = 1;
	c->on_first_bytes = opts->on_first_bytes;
	c->pre_max = opts->first_bytes_max ? opts->first_bytes_max : FIX_DEFAULT_MAX_BODY + 256;
	int64_t wait = opts->first_frame_timeout_ms > 0 ? opts->first_frame_timeout_ms
							: BT_DEFAULT_CONNECT_TIMEOUT_MS;
	c->first_by = reactor_now_ms() + wait;
	c->t = transport_accept(r, opts->fd, opts->tls, wait, &fc_transport_cbs, c, err, errlen);
	transport_set_linger(c->t, opts->close_grace_ms);
	if (!c->t || reactor_timer_start(r, &c->timer, wait) < 0) {
		if (c->t)
			snprintf(err, errlen, "fix_conn: out of memory");
		transport_close(c->t);
		c->t = NULL;
		destroy(c);
		return NULL;
	}
	return c;
}

void fix_conn_free(struct fix_conn *c)
{
	if (!c || c->freed)
		return;
	enter(c);
	c->freed = 1;
	c->closed = 1;
	reactor_timer_stop(c->r, &c->timer);
	transport_set_linger(c->t, 0); /* at once: an acceptor's grace is for finish() */
	transport_close(c->t);
	c->t = NULL;
	release_session(c);
	atomic_fetch_sub(&c->refs, 1);
	leave(c);
}

struct fix_session *fix_conn_session(struct fix_conn *c)
{
	return c && live(c) ? c->s : NULL;
}

enum fix_close_cause fix_conn_close_cause(const struct fix_conn *c)
{
	return c && c->s ? fix_session_close_cause(c->s) : FIX_CLOSE_OTHER;
}

/* After an API call queued bytes (or closed the session): pump unless the
 * caller is already inside pump, which will do it on the way out. */
static void after_call(struct fix_conn *c)
{
	if (c->corked)
		return;
	enter(c);
	if (c->pumping)
		(void)write_out(c); /* a failure ends the session in that pump */
	else
		pump(c);
	leave(c);
}

void fix_conn_cork(struct fix_conn *c, int on)
{
	if (!c)
		return;
	c->corked = on != 0;
	if (!c->corked && live(c))
		after_call(c);
}

int fix_conn_send(struct fix_conn *c, const char *msg_type, const struct fix_out_field *fields,
		  size_t nfields)
{
	if (!c || !live(c) || !c->s)
		return FIX_SESSION_E_STATE;
	int rc = fix_session_send(c->s, msg_type, fields, nfields, now_ms(c));
	after_call(c);
	return rc;
}

void fix_conn_out_stats(struct fix_conn *c, uint64_t *produced, size_t *unsent)
{
	size_t len = 0;
	if (c && c->s)
		fix_session_out(c->s, &len);
	*produced = c ? c->handed + len : 0;
	*unsent = len + (c ? transport_pending(c->t) : 0);
}

int fix_conn_user_request(struct fix_conn *c, const char *req_id, int type, const char *username,
			  const char *password)
{
	if (!c || !live(c) || !c->s)
		return FIX_SESSION_E_STATE;
	int rc = fix_session_user_request(c->s, req_id, type, username, password, now_ms(c));
	after_call(c);
	return rc;
}

int fix_conn_logout(struct fix_conn *c, const char *text)
{
	if (!c || !live(c) || !c->s)
		return FIX_SESSION_E_STATE;
	int rc = fix_session_logout(c->s, text, now_ms(c));
	after_call(c);
	return rc;
}

/* No Logout, no more of the session's output: what the transport already
 * holds goes (as far as the socket takes it now), then the line is closed. */
static void drop_now(struct fix_conn *c)
{
	c->dropping = 0;
	if (c->closed)
		return;
	c->closed = 1;
	reactor_timer_stop(c->r, &c->timer);
	transport_set_linger(c->t, 0); /* as a crash would: no grace */
	transport_close(c->t);
	c->t = NULL;
	if (!c->freed && c->cbs.on_closed)
		c->cbs.on_closed(c->arg, "dropped", "connection dropped");
	release_session(c);
}

void fix_conn_drop(struct fix_conn *c)
{
	if (!c || !live(c))
		return;
	if (c->busy) {
		c->dropping = 1; /* inside our own callback: on the way out (leave) */
		return;
	}
	enter(c);
	drop_now(c);
	leave(c);
}

void fix_conn_pace(struct fix_conn *c, int64_t byte_ms)
{
	if (!c)
		return;
	size_t pending = 0;
	if (c->s)
		fix_session_out(c->s, &pending);
	c->pace_ms = byte_ms > 0 ? byte_ms : 0;
	c->fast = pending;
	c->pace_next = reactor_now_ms();
	if (!c->pace_ms && live(c))
		after_call(c); /* what was held back goes now */
}

void fix_conn_flush(struct fix_conn *c)
{
	if (!c || !live(c) || c->corked)
		return;
	enter(c);
	if (!c->pumping)
		pump(c);
	if (live(c))
		transport_flush(c->t);
	leave(c);
}

/* ------------------------------------------------------------ cross-thread */

struct send_job {
	struct fix_conn *c;
	void (*done)(void *arg, int rc);
	void *arg;
	int logout;
	char *text; /* logout text or msg_type */
	size_t nfields;
	struct fix_out_field fields[]; /* values follow in the same block */
};

static void run_job(struct bt_reactor *r, void *ud)
{
	struct send_job *j = ud;
	struct fix_conn *c = j->c;
	enter(c);
	int rc;
	if (j->logout)
		rc = fix_conn_logout(c, j->text);
	else
		rc = fix_conn_send(c, j->text, j->fields, j->nfields);
	if (j->done)
		j->done(j->arg, rc);
	free(j);
	atomic_fetch_sub(&c->refs, 1);
	leave(c);
}

static int post_job(struct fix_conn *c, struct send_job *j)
{
	atomic_fetch_add(&c->refs, 1);
	int rc = reactor_post(c->r, run_job, j);
	if (rc != 0) {
		atomic_fetch_sub(&c->refs, 1); /* the owner still holds one: never the last */
		free(j);
	}
	return rc;
}

int fix_conn_send_async(struct fix_conn *c, const char *msg_type,
			const struct fix_out_field *fields, size_t nfields,
			void (*done)(void *arg, int rc), void *arg)
{
	if (!c || !msg_type || (nfields && !fields))
		return FIX_SESSION_E_ARG;
	size_t size = sizeof(struct send_job) + nfields * sizeof(struct fix_out_field);
	size_t tl = strlen(msg_type) + 1;
	size += tl;
	for (size_t i = 0; i < nfields; i++) {
		if (!fields[i].val && fields[i].len)
			return FIX_SESSION_E_ARG;
		size += fields[i].len;
	}
	struct send_job *j = malloc(size);
	if (!j)
		return -ENOMEM;
	j->c = c;
	j->done = done;
	j->arg = arg;
	j->logout = 0;
	j->nfields = nfields;
	char *p = (char *)(j->fields + nfields);
	j->text = memcpy(p, msg_type, tl);
	p += tl;
	for (size_t i = 0; i < nfields; i++) {
		j->fields[i].tag = fields[i].tag;
		j->fields[i].len = fields[i].len;
		j->fields[i].val = fields[i].len ? memcpy(p, fields[i].val, fields[i].len) : "";
		p += fields[i].len;
	}
	return post_job(c, j);
}

int fix_conn_logout_async(struct fix_conn *c, const char *text)
{
	if (!c)
		return FIX_SESSION_E_ARG;
	size_t tl = text ? strlen(text) + 1 : 0;
	struct send_job *j = malloc(sizeof(*j) + tl);
	if (!j)
		return -ENOMEM;
	memset(j, 0, sizeof(*j));
	j->c = c;
	j->logout = 1;
	j->text = text ? memcpy((char *)(j + 1), text, tl) : NULL;
	return post_job(c, j);
}
