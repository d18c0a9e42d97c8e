/* FIX 4.4 session state machine (see fix_session.h for the contract).
 *
 * Memory: everything is allocated in fix_session_new except the output
 * buffer, which doubles when a burst (a long resend) needs it. Inbound frames
 * are copied into one reassembly buffer and indexed in a field pool; both are
 * only compacted when every event has been polled, which is what keeps event
 * pointers valid without copying messages.
 *
 * Gaps: a message above the expected MsgSeqNum is answered with one
 * ResendRequest(7=expected, 16=0) and dropped; the peer's resend brings it
 * back in order, so nothing is delivered twice or out of order and no queue
 * of early messages is needed. */
#include "fix_session.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IN_SLACK 64 /* 8=, 9= and 10= around the largest body */
/* The input buffer and the field pool start small and double, up to
 * max_body + IN_SLACK and 2 * FIX_SESSION_MAX_FIELDS, when a frame does not
 * fit or a burst had to wait for room; an idle session stays small, a busy
 * one stops allocating once it reached the size of its bursts. */
#define IN_INITIAL 4096
#define POOL_INITIAL 64
#define POOL_MAX (2 * FIX_SESSION_MAX_FIELDS)
#define OUT_INITIAL 4096
#define ADMIN_ROOM 512 /* an admin message without its free text */
#define TEXT_MAX 512   /* outbound 58/927 texts are cut here */
#define EV_RESERVE 4   /* slots kept free for events not born from a frame */
#define TRACE_SLACK 128
/* Largest step a SequenceReset may take the expected inbound number. */
#define MAX_SEQ_JUMP (UINT64_C(1) << 31)

/* What an encoded frame is, for the store and the wiping of output. */
enum out_kind {
	OUT_ADMIN,     /* consumes a number, not stored */
	OUT_APP,       /* consumes a number, stored for resends */
	OUT_SENSITIVE, /* consumes a number, not stored, wiped once written */
	OUT_RESEND,    /* a resent or gap-fill frame: reuses an old number */
};

struct ev_slot {
	struct fix_event ev;
	struct fix_msg msg;
};

struct fix_session {
	enum fix_role role;
	enum fix_session_state st;
	char sender[FIX_SESSION_MAX_COMP_ID + 1];
	char target[FIX_SESSION_MAX_COMP_ID + 1];
	int target_fixed; /* acceptor: the cfg named the peer */
	int hb_s;
	int64_t logon_to, logout_to, tolerance;
	int reset_on_logon;
	const char *username, *password; /* cfg's, only until start */
	size_t max_body;
	struct fix_store *store;
	void (*trace)(void *ud, int dir, const char *frame, size_t len);
	void *trace_ud;
	int (*validate)(void *ud, const struct fix_msg *m, int *ref_tag, int *reason, char *text,
			size_t textlen);
	void *validate_ud;

	uint64_t next_out, next_in;
	uint64_t resend_end; /* highest number seen beyond a gap; 0 = no gap open */
	uint64_t logon_seq;  /* acceptor: the Logon's 34 until accepted */
	int reset_done;      /* 141=Y exchanged in this session */
	int silent;

	int64_t wall_off; /* UTC minus the timer clock (fix_session_set_clock) */
	int64_t last_sent, last_recv;
	int64_t logon_deadline, logout_deadline;
	int64_t test_req_sent; /* 0: no TestRequest outstanding */
	uint64_t test_req_n;

	char *in;
	size_t in_cap, in_len, in_pos; /* [0, in_pos) processed */
	size_t in_max, in_hw;          /* growth limit; bytes ever written (wiped on free) */
	int in_short, pool_short;      /* a burst waited for room: grow at the next compact */
	struct fix_field *pool;
	size_t pool_cap, pool_used; /* [0, pool_used) pinned by events */
	struct fix_msg cur;
	struct ev_slot ev[FIX_SESSION_MAX_EVENTS];
	size_t ev_head, ev_n;

	char *out;
	size_t out_cap, out_off, out_len;
	size_t out_wipe; /* bytes before this offset carried a password */

	char *trace_buf;
	size_t trace_cap;

	char reason[FIX_SESSION_REASON_MAX];
};

/* ------------------------------------------------------------ utilities */

/* UTC ms at the timer-clock instant now: only for 52, 122 and the check of
 * the peer's 52. Deadlines never see it, so a wall-clock step cannot freeze
 * or rush them. */
static int64_t wall(const struct fix_session *s, int64_t now)
{
	return now + s->wall_off;
}

static void wipe(void *p, size_t n)
{
	if (n)
		explicit_bzero(p, n);
}

static int sv_eq(const char *p, size_t n, const char *z)
{
	size_t zl = strlen(z);
	return p && n == zl && memcmp(p, z, n) == 0;
}

static struct fix_sv get_sv(const struct fix_msg *m, uint32_t tag)
{
	struct fix_sv v = {NULL, 0};
	v.ptr = fix_msg_get(m, tag, &v.len);
	if (!v.ptr)
		v.len = 0;
	return v;
}

static int get_int(const struct fix_msg *m, uint32_t tag, int dflt)
{
	uint64_t v;
	if (fix_msg_get_u64(m, tag, &v) != FIX_OK || v > INT32_MAX)
		return dflt;
	return (int)v;
}

static int get_flag(const struct fix_msg *m, uint32_t tag)
{
	size_t n;
	const char *p = fix_msg_get(m, tag, &n);
	return p && n == 1 && p[0] == 'Y';
}

/* "5 s", "2.5 s": timeouts as people read them. */
static void fmt_secs(char *buf, size_t cap, int64_t ms)
{
	if (ms % 1000 == 0) {
		snprintf(buf, cap, "%" PRId64 " s", ms / 1000);
		return;
	}
	int n = snprintf(buf, cap, "%" PRId64 ".%03" PRId64, ms / 1000, ms % 1000);
	while (n > 0 && (size_t)n < cap && buf[n - 1] == '0')
		buf[--n] = '\0';
	snprintf(buf + n, cap - (size_t)n, " s");
}

/* Cut a peer-supplied text to something printable in a reason. */
static int clip(const struct fix_sv *v)
{
	return v->len > 160 ? 160 : (int)v->len;
}

static size_t text_len(const char *t)
{
	size_t n = t ? strlen(t) : 0;
	return n > TEXT_MAX ? TEXT_MAX : n;
}

/* Copy frame into dst with every 554 value shown as "***"; returns length. */
static size_t redact(char *dst, size_t cap, const char *src, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o < cap;) {
		int at_field = i == 0 || src[i - 1] == FIX_SOH;
		if (at_field && n - i >= 4 && memcmp(src + i, "554=", 4) == 0) {
			static const char mask[] = "554=***";
			for (size_t k = 0; k < sizeof(mask) - 1 && o < cap; k++)
				dst[o++] = mask[k];
			i += 4;
			while (i < n && src[i] != FIX_SOH)
				i++;
			continue;
		}
		dst[o++] = src[i++];
	}
	return o;
}

static int has_password(const char *p, size_t n)
{
	if (n >= 4 && memcmp(p, "554=", 4) == 0)
		return 1;
	for (size_t i = 0; i + 5 <= n; i++)
		if (p[i] == FIX_SOH && memcmp(p + i + 1, "554=", 4) == 0)
			return 1;
	return 0;
}

static void trace(struct fix_session *s, int dir, const char *p, size_t n)
{
	if (!s->trace)
		return;
	if (!has_password(p, n)) {
		s->trace(s->trace_ud, dir, p, n);
		return;
	}
	size_t k = redact(s->trace_buf, s->trace_cap, p, n);
	s->trace(s->trace_ud, dir, s->trace_buf, k);
	wipe(s->trace_buf, k);
}

/* Every MsgType of the FIX 4.4 dictionary, plus user-defined "U..." types. */
static int valid_msg_type(const char *t, size_t n)
{
	static const char one[] = "0123456789ABCDEFGHJKLMNPQRSTVWXYZabcdefghijklmnopqrstuvwxyz";
	if (n >= 1 && t[0] == 'U')
		return 1;
	if (n == 1)
		return memchr(one, t[0], sizeof(one) - 1) != NULL;
	if (n == 2 && t[0] == 'A')
		return t[1] >= 'A' && t[1] <= 'Z';
	if (n == 2 && t[0] == 'B')
		return t[1] >= 'A' && t[1] <= 'H';
	return 0;
}

static int admin_type(const char *t, size_t n)
{
	return n == 1 && strchr("012345A", t[0]) != NULL;
}

int fix_session_app_msg_type_ok(const char *t)
{
	size_t n = t ? strlen(t) : 0;
	return n && valid_msg_type(t, n) && !admin_type(t, n) && !memchr(t, FIX_SOH, n) &&
	       !strchr(t, '=');
}

/* Nothing unasked goes out: the silent fault, or our own Logout is out (the
 * logout initiator only answers ResendRequests until the reply or the
 * logout timeout). */
static int quiet(const struct fix_session *s)
{
	return s->silent || s->st == FIX_ST_LOGOUT_SENT;
}

/* --------------------------------------------------------------- events */

static size_t ev_free(const struct fix_session *s)
{
	return FIX_SESSION_MAX_EVENTS - s->ev_n;
}

static struct fix_event *push_event(struct fix_session *s, enum fix_event_type type,
				    const struct fix_msg *m)
{
	if (s->ev_n == FIX_SESSION_MAX_EVENTS)
		return NULL; /* cannot happen: frames stop at EV_RESERVE */
	struct ev_slot *slot = &s->ev[s->ev_n++];
	memset(&slot->ev, 0, sizeof(slot->ev));
	slot->ev.type = type;
	if (m) {
		slot->msg = *m;
		slot->ev.msg = &slot->msg;
	}
	return &slot->ev;
}

int fix_session_poll_event(struct fix_session *s, struct fix_event *ev)
{
	if (s->ev_head == s->ev_n) {
		memset(ev, 0, sizeof(*ev));
		return 0;
	}
	*ev = s->ev[s->ev_head++].ev;
	return 1;
}

static void close_session(struct fix_session *s, const char *code, int by_peer, const char *fmt,
			  ...) __attribute__((format(printf, 4, 5)));

static void close_session(struct fix_session *s, const char *code, int by_peer, const char *fmt,
			  ...)
{
	if (s->st == FIX_ST_CLOSED)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(s->reason, sizeof(s->reason), fmt, ap);
	va_end(ap);
	s->st = FIX_ST_CLOSED;
	struct fix_event *ev = push_event(s, FIX_EV_CLOSED, NULL);
	if (ev) {
		ev->closed.code = code;
		ev->closed.reason = s->reason;
		ev->closed.by_peer = by_peer;
	}
}

/* --------------------------------------------------------------- output */

static int out_reserve(struct fix_session *s, size_t need)
{
	if (s->out_off == s->out_len) {
		s->out_off = s->out_len = 0;
		s->out_wipe = 0;
	}
	if (s->out_cap - s->out_len >= need)
		return 0;
	if (s->out_off > 0) {
		size_t live = s->out_len - s->out_off;
		memmove(s->out, s->out + s->out_off, live);
		wipe(s->out + live, s->out_len - live);
		s->out_wipe = s->out_wipe > s->out_off ? s->out_wipe - s->out_off : 0;
		s->out_len = live;
		s->out_off = 0;
		if (s->out_cap - s->out_len >= need)
			return 0;
	}
	size_t cap = s->out_cap;
	while (cap - s->out_len < need) {
		if (cap > SIZE_MAX / 2)
			return FIX_SESSION_E_NOMEM;
		cap *= 2;
	}
	/* Not realloc: the old block may hold a password and must be wiped. */
	char *p = malloc(cap);
	if (!p)
		return FIX_SESSION_E_NOMEM;
	memcpy(p, s->out, s->out_len);
	wipe(s->out, s->out_len);
	free(s->out);
	s->out = p;
	s->out_cap = cap;
	return 0;
}

static int begin_msg(struct fix_session *s, struct fix_enc *enc, const char *msg_type, uint64_t seq,
		     int64_t now, size_t need)
{
	int r = out_reserve(s, need + FIX_ENC_HEADROOM + ADMIN_ROOM);
	if (r)
		return r;
	fix_enc_begin(enc, s->out + s->out_len, s->out_cap - s->out_len, msg_type, s->sender,
		      s->target, seq, wall(s, now));
	return 0;
}

static int store_next_out(struct fix_session *s)
{
	if (s->store && s->store->ops->set_next_out &&
	    s->store->ops->set_next_out(s->store->ctx, s->next_out) != 0) {
		close_session(s, "store", 0, "sequence store failed to record MsgSeqNum %" PRIu64,
			      s->next_out);
		return FIX_SESSION_E_STORE;
	}
	return 0;
}

static int store_next_in(struct fix_session *s)
{
	if (s->store && s->store->ops->set_next_in &&
	    s->store->ops->set_next_in(s->store->ctx, s->next_in) != 0) {
		close_session(s, "store", 0,
			      "sequence store failed to record inbound MsgSeqNum %" PRIu64,
			      s->next_in);
		return FIX_SESSION_E_STORE;
	}
	return 0;
}

/* Body length of a finished frame, read back from its 9= field. */
static size_t body_len(const char *f, size_t n)
{
	size_t v = 0;
	for (size_t i = sizeof("8=" FIX_BEGIN_STRING "\x01"
			       "9=") -
			1;
	     i < n && f[i] != FIX_SOH; i++)
		v = v * 10 + (size_t)(f[i] - '0');
	return v;
}

/* Close the frame begun with begin_msg and queue it. The bytes only become
 * visible to the driver after the store has the new next_out. */
static int finish_msg(struct fix_session *s, struct fix_enc *enc, enum out_kind kind, uint64_t seq,
		      int64_t now)
{
	size_t n;
	const char *f = fix_enc_finish(enc, &n);
	if (!f) {
		wipe(s->out + s->out_len, s->out_cap - s->out_len);
		return enc->status == FIX_E_BUFFER_FULL ? FIX_SESSION_E_TOO_LARGE
							: FIX_SESSION_E_ARG;
	}
	char *dst = s->out + s->out_len;
	if (body_len(f, n) > s->max_body) {
		wipe(dst, (size_t)(f - dst) + n);
		return FIX_SESSION_E_TOO_LARGE;
	}
	if (f != dst)
		memmove(dst, f, n);
	if (kind != OUT_RESEND) {
		s->next_out = seq + 1;
		if (store_next_out(s)) {
			wipe(dst, n + FIX_ENC_HEADROOM);
			return FIX_SESSION_E_STORE;
		}
		/* A lost save only turns a later resend into a GapFill. */
		if (kind == OUT_APP && s->store && s->store->ops->save)
			(void)s->store->ops->save(s->store->ctx, seq, dst, n);
	}
	trace(s, FIX_TRACE_OUT, dst, n);
	s->out_len += n;
	if (kind == OUT_SENSITIVE)
		s->out_wipe = s->out_len;
	s->last_sent = now;
	return 0;
}

const char *fix_session_out(const struct fix_session *s, size_t *len)
{
	*len = s->out_len - s->out_off;
	return s->out + s->out_off;
}

void fix_session_out_consume(struct fix_session *s, size_t n)
{
	size_t live = s->out_len - s->out_off;
	if (n > live)
		n = live;
	if (s->out_off < s->out_wipe) {
		size_t end = s->out_off + n < s->out_wipe ? s->out_off + n : s->out_wipe;
		wipe(s->out + s->out_off, end - s->out_off);
	}
	s->out_off += n;
	if (s->out_off == s->out_len)
		s->out_off = s->out_len = s->out_wipe = 0;
}

/* --------------------------------------------------- admin messages out */

static int send_logon(struct fix_session *s, int64_t now)
{
	struct fix_enc enc;
	size_t need =
	    (s->username ? strlen(s->username) : 0) + (s->password ? strlen(s->password) : 0);
	int r = begin_msg(s, &enc, "A", s->next_out, now, need);
	if (r)
		return r;
	fix_enc_int(&enc, 98, 0);
	fix_enc_int(&enc, 108, s->hb_s);
	if (s->reset_done)
		fix_enc_char(&enc, 141, 'Y');
	if (s->username)
		fix_enc_cstr(&enc, 553, s->username);
	if (s->password)
		fix_enc_cstr(&enc, 554, s->password);
	return finish_msg(s, &enc, s->password ? OUT_SENSITIVE : OUT_ADMIN, s->next_out, now);
}

static void send_logout(struct fix_session *s, const char *text, int64_t now)
{
	struct fix_enc enc;
	size_t tl = text_len(text);
	if (begin_msg(s, &enc, "5", s->next_out, now, tl))
		return;
	if (tl)
		fix_enc_str(&enc, 58, text, tl);
	(void)finish_msg(s, &enc, OUT_ADMIN, s->next_out, now);
}

static void send_heartbeat(struct fix_session *s, const struct fix_sv *test_id, int64_t now)
{
	struct fix_enc enc;
	size_t tl = test_id && test_id->len < TEXT_MAX ? test_id->len : 0;
	if (begin_msg(s, &enc, "0", s->next_out, now, tl))
		return;
	if (tl)
		fix_enc_str(&enc, 112, test_id->ptr, tl);
	(void)finish_msg(s, &enc, OUT_ADMIN, s->next_out, now);
}

static void send_test_request(struct fix_session *s, int64_t now)
{
	struct fix_enc enc;
	char id[32];
	snprintf(id, sizeof(id), "TEST%" PRIu64, ++s->test_req_n);
	if (begin_msg(s, &enc, "1", s->next_out, now, 0))
		return;
	fix_enc_cstr(&enc, 112, id);
	if (finish_msg(s, &enc, OUT_ADMIN, s->next_out, now) == 0)
		s->test_req_sent = now;
}

static void send_resend_request(struct fix_session *s, uint64_t begin, int64_t now)
{
	struct fix_enc enc;
	if (begin_msg(s, &enc, "2", s->next_out, now, 0))
		return;
	fix_enc_int(&enc, 7, (int64_t)begin);
	fix_enc_int(&enc, 16, 0);
	(void)finish_msg(s, &enc, OUT_ADMIN, s->next_out, now);
}

/* Session-level Reject (35=3) of the message m. ref_tag < 0: no 371. */
static void send_reject(struct fix_session *s, const struct fix_msg *m, int ref_tag, int reason,
			const char *text, int64_t now)
{
	struct fix_enc enc;
	if (quiet(s))
		return;
	if (begin_msg(s, &enc, "3", s->next_out, now, text_len(text) + m->msg_type_len))
		return;
	fix_enc_int(&enc, 45, (int64_t)m->seq_num);
	if (ref_tag >= 0)
		fix_enc_int(&enc, 371, ref_tag);
	if (m->msg_type_len)
		fix_enc_str(&enc, 372, m->msg_type, m->msg_type_len);
	fix_enc_int(&enc, 373, reason);
	if (text)
		fix_enc_str(&enc, 58, text, text_len(text));
	(void)finish_msg(s, &enc, OUT_ADMIN, s->next_out, now);
}

static void send_gap_fill(struct fix_session *s, uint64_t seq, uint64_t new_seq, int64_t now)
{
	struct fix_enc enc;
	if (begin_msg(s, &enc, "4", seq, now, 0))
		return;
	fix_enc_char(&enc, 43, 'Y');
	fix_enc_time(&enc, 122, wall(s, now));
	fix_enc_char(&enc, 123, 'Y');
	fix_enc_int(&enc, 36, (int64_t)new_seq);
	(void)finish_msg(s, &enc, OUT_RESEND, seq, now);
}

/* Logout with a reason and close: the session ends on the peer's fault. */
static void fail(struct fix_session *s, int64_t now, const char *code, const char *logout_text,
		 const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void fail(struct fix_session *s, int64_t now, const char *code, const char *logout_text,
		 const char *fmt, ...)
{
	if (s->st == FIX_ST_CLOSED)
		return;
	if (!quiet(s) && logout_text)
		send_logout(s, logout_text, now);
	va_list ap;
	va_start(ap, fmt);
	char buf[FIX_SESSION_REASON_MAX];
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	close_session(s, code, 0, "%s", buf);
}

/* ------------------------------------------------------------- resends */

struct resend_ctx {
	struct fix_session *s;
	uint64_t cur, end;
	int64_t now;
	int err;
};

/* Next "tag=value<SOH>" of a stored frame at *i; 0 at the end or if broken. */
static int next_field(const char *f, size_t n, size_t *i, uint32_t *tag, const char **val,
		      size_t *vlen)
{
	size_t p = *i;
	uint64_t t = 0;
	if (p >= n)
		return 0;
	while (p < n && f[p] >= '0' && f[p] <= '9' && t <= UINT32_MAX)
		t = t * 10 + (uint64_t)(f[p++] - '0');
	if (p == *i || p >= n || f[p] != '=' || t > UINT32_MAX)
		return 0;
	size_t v = ++p;
	while (p < n && f[p] != FIX_SOH)
		p++;
	if (p >= n)
		return 0;
	*tag = (uint32_t)t;
	*val = f + v;
	*vlen = p - v;
	*i = p + 1;
	return 1;
}

/* Re-encode a stored frame as a possible duplicate: same 34 and body, 43=Y,
 * 122 = its original 52, a fresh 52. A broken frame becomes a GapFill. */
static int resend_frame(struct fix_session *s, uint64_t seq, const char *f, size_t n, int64_t now)
{
	char type[8];
	const char *orig = NULL, *v;
	size_t orig_len = 0, vl, i = 0, body = 0;
	uint32_t tag;
	type[0] = '\0';
	while (next_field(f, n, &i, &tag, &v, &vl)) {
		if (tag == 35 && vl < sizeof(type)) {
			memcpy(type, v, vl);
			type[vl] = '\0';
		} else if (tag == 52) {
			orig = v;
			orig_len = vl;
		} else if (tag == 10) {
			body = 1;
		}
	}
	if (!type[0] || !orig || !body) {
		send_gap_fill(s, seq, seq + 1, now);
		return 0;
	}
	struct fix_enc enc;
	int r = begin_msg(s, &enc, type, seq, now, n);
	if (r)
		return r;
	fix_enc_char(&enc, 43, 'Y');
	fix_enc_str(&enc, 122, orig, orig_len);
	for (i = 0; next_field(f, n, &i, &tag, &v, &vl);) {
		switch (tag) {
		case 8:
		case 9:
		case 10:
		case 34:
		case 35:
		case 43:
		case 49:
		case 52:
		case 56:
		case 97:
		case 122:
			break;
		default:
			fix_enc_str(&enc, tag, v, vl);
		}
	}
	r = finish_msg(s, &enc, OUT_RESEND, seq, now);
	if (r == FIX_SESSION_E_ARG || r == FIX_SESSION_E_TOO_LARGE) {
		send_gap_fill(s, seq, seq + 1, now);
		r = 0;
	}
	return r;
}

static int resend_cb(void *arg, uint64_t seq, const char *frame, size_t len)
{
	struct resend_ctx *c = arg;
	if (seq < c->cur)
		return 0;
	if (seq > c->end)
		return 1;
	if (seq > c->cur)
		send_gap_fill(c->s, c->cur, seq, c->now);
	c->err = resend_frame(c->s, seq, frame, len, c->now);
	c->cur = seq + 1;
	return c->err ? 1 : 0;
}

/* Answer the peer's ResendRequest(7=begin, 16=end): stored application
 * messages again, GapFills over everything else. */
static void answer_resend(struct fix_session *s, const struct fix_msg *m, int64_t now)
{
	uint64_t begin, end = 0;
	if (fix_msg_get_u64(m, 7, &begin) != FIX_OK) {
		send_reject(s, m, 7, 1, "Required tag missing", now);
		return;
	}
	if (fix_msg_find(m, 16) && fix_msg_get_u64(m, 16, &end) != FIX_OK) {
		send_reject(s, m, 16, 6, "Incorrect data format for value", now);
		return;
	}
	if (s->silent)
		return;
	uint64_t last = s->next_out - 1;
	if (begin == 0)
		begin = 1;
	if (end == 0 || end > last)
		end = last;
	if (begin > end)
		return;
	struct resend_ctx c = {s, begin, end, now, 0};
	if (s->store && s->store->ops->each)
		(void)s->store->ops->each(s->store->ctx, begin, end, resend_cb, &c);
	if (c.err == FIX_SESSION_E_NOMEM) {
		close_session(s, "protocol", 0, "out of memory while answering a ResendRequest");
		return;
	}
	if (c.cur <= end)
		send_gap_fill(s, c.cur, end + 1, now);
}

/* ------------------------------------------------------------- inbound */

static const char *peer_name(const struct fix_session *s)
{
	return s->role == FIX_INITIATOR ? "exchange" : "client";
}

/* 49 must be the peer, 56 must be us. The acceptor learns 49 from the Logon
 * unless the cfg named it. Returns 0 or -1 after ending the session. */
static int check_comp_ids(struct fix_session *s, const struct fix_msg *m, int64_t now)
{
	struct fix_sv snd = get_sv(m, 49), tgt = get_sv(m, 56);
	if (!s->target[0] && snd.len > 0 && snd.len <= FIX_SESSION_MAX_COMP_ID &&
	    !memchr(snd.ptr, '\0', snd.len) && sv_eq(tgt.ptr, tgt.len, s->sender)) {
		memcpy(s->target, snd.ptr, snd.len);
		s->target[snd.len] = '\0';
	}
	if (sv_eq(snd.ptr, snd.len, s->target) && sv_eq(tgt.ptr, tgt.len, s->sender))
		return 0;
	if (s->target[0])
		send_reject(s, m, snd.ptr && !sv_eq(snd.ptr, snd.len, s->target) ? 49 : 56, 9,
			    "CompID problem", now);
	fail(s, now, "protocol", "CompID problem",
	     "wrong CompID: expected 49=%s 56=%s, received 49=%.*s 56=%.*s",
	     s->target[0] ? s->target : "?", s->sender, clip(&snd), snd.ptr ? snd.ptr : "",
	     clip(&tgt), tgt.ptr ? tgt.ptr : "");
	return -1;
}

static int check_sending_time(struct fix_session *s, const struct fix_msg *m, int64_t now)
{
	struct fix_sv st = get_sv(m, 52);
	int64_t t, utc = wall(s, now);
	if (s->tolerance >= INT64_MAX / 2)
		return 0;
	if (st.ptr && fix_parse_time(st.ptr, st.len, &t) == FIX_OK &&
	    (t > utc ? t - utc : utc - t) <= s->tolerance)
		return 0;
	send_reject(s, m, 52, 10, "SendingTime accuracy problem", now);
	fail(s, now, "protocol", "SendingTime accuracy problem",
	     "SendingTime accuracy problem: 52=%.*s is more than %" PRId64 " ms from now",
	     clip(&st), st.ptr ? st.ptr : "", s->tolerance);
	return -1;
}

static void too_low(struct fix_session *s, const struct fix_msg *m, int64_t now)
{
	char text[96];
	snprintf(text, sizeof(text),
		 "MsgSeqNum too low, expecting %" PRIu64 " but received %" PRIu64, s->next_in,
		 m->seq_num);
	fail(s, now, "protocol", text, "MsgSeqNum too low: expected %" PRIu64 ", received %" PRIu64,
	     s->next_in, m->seq_num);
}

static void open_gap(struct fix_session *s, const struct fix_msg *m, int64_t now)
{
	if (s->resend_end == 0 && !quiet(s))
		send_resend_request(s, s->next_in, now);
	if (m->seq_num > s->resend_end)
		s->resend_end = m->seq_num;
}

static int advance_in(struct fix_session *s, uint64_t next)
{
	s->next_in = next;
	if (s->resend_end && s->next_in > s->resend_end)
		s->resend_end = 0;
	return store_next_in(s);
}

static void peer_logout(struct fix_session *s, const struct fix_msg *m, int64_t now)
{
	struct fix_event *ev = push_event(s, FIX_EV_LOGOUT, m);
	struct fix_sv text = get_sv(m, 58);
	if (ev)
		ev->logout.text = text;
	if (m->seq_num == s->next_in && advance_in(s, s->next_in + 1))
		return;
	if (s->st == FIX_ST_LOGOUT_SENT) {
		close_session(s, "logged_out", 0, "logged out");
		return;
	}
	int before_logon = s->st != FIX_ST_ACTIVE;
	if (!before_logon && !s->silent)
		send_logout(s, NULL, now);
	const char *code = before_logon ? "rejected" : "logged_out";
	const char *what =
	    s->role == FIX_INITIATOR ? "exchange logged us out" : "client logged out";
	if (text.len)
		close_session(s, code, 1, "%s: %.*s", what, clip(&text), text.ptr);
	else
		close_session(s, code, 1, "%s", what);
}

static int check_heartbeat(const struct fix_msg *m, int *hb)
{
	uint64_t v;
	if (fix_msg_get_u64(m, 108, &v) != FIX_OK || v > 86400)
		return -1;
	*hb = (int)v;
	return 0;
}

/* Initiator waiting for the Logon reply. Returns 1 if an event pins m. */
static int on_logon_reply(struct fix_session *s, const struct fix_msg *m, int64_t now)
{
	if (check_comp_ids(s, m, now))
		return 0;
	if (fix_msg_is(m, "5")) {
		peer_logout(s, m, now);
		return 1;
	}
	if (!fix_msg_is(m, "A")) {
		fail(s, now, "protocol", "expected a Logon",
		     "expected a Logon reply, received MsgType %.*s", (int)m->msg_type_len,
		     m->msg_type);
		return 0;
	}
	if (check_sending_time(s, m, now))
		return 0;
	if (get_flag(m, 141) && m->seq_num == 1)
		s->next_in = 1; /* the peer reset (asked for or not): so do we */
	if (m->seq_num < s->next_in) {
		too_low(s, m, now);
		return 0;
	}
	s->st = FIX_ST_ACTIVE;
	s->last_recv = now;
	struct fix_event *ev = push_event(s, FIX_EV_LOGON, m);
	if (ev) {
		ev->logon.heartbeat_s = s->hb_s;
		ev->logon.reset = s->reset_done;
	}
	if (m->seq_num == s->next_in) {
		if (advance_in(s, s->next_in + 1))
			return 1;
	} else {
		open_gap(s, m, now);
	}
	return 1;
}

/* Acceptor waiting for the Logon. Returns 1 if an event pins m. */
static int on_logon_request(struct fix_session *s, const struct fix_msg *m, int64_t now)
{
	if (!fix_msg_is(m, "A")) {
		fail(s, now, "protocol", "first message must be a Logon",
		     "first message was MsgType %.*s, not a Logon", (int)m->msg_type_len,
		     m->msg_type);
		return 0;
	}
	if (check_comp_ids(s, m, now) || check_sending_time(s, m, now))
		return 0;
	int hb, reset = get_flag(m, 141);
	if (check_heartbeat(m, &hb)) {
		fail(s, now, "protocol", "Logon needs a valid HeartBtInt(108)",
		     "Logon without a valid HeartBtInt(108)");
		return 0;
	}
	if (get_int(m, 98, -1) != 0) {
		fail(s, now, "protocol", "EncryptMethod(98) must be 0",
		     "Logon with EncryptMethod(98) other than 0");
		return 0;
	}
	uint64_t expected = reset ? 1 : s->next_in;
	if (m->seq_num < expected) {
		uint64_t keep = s->next_in;
		s->next_in = expected;
		too_low(s, m, now);
		s->next_in = keep;
		return 0;
	}
	s->hb_s = hb;
	s->reset_done = reset;
	s->logon_seq = m->seq_num;
	s->st = FIX_ST_LOGON_RECEIVED;
	struct fix_event *ev = push_event(s, FIX_EV_LOGON_REQUEST, m);
	if (ev) {
		ev->logon_request.sender_comp_id = get_sv(m, 49);
		ev->logon_request.username = get_sv(m, 553);
		ev->logon_request.password = get_sv(m, 554);
		ev->logon_request.heartbeat_s = hb;
		ev->logon_request.reset = reset;
	}
	return 1;
}

static void on_sequence_reset(struct fix_session *s, const struct fix_msg *m, int gap_fill,
			      int64_t now)
{
	uint64_t new_seq;
	if (fix_msg_get_u64(m, 36, &new_seq) != FIX_OK) {
		send_reject(s, m, 36, 1, "Required tag missing", now);
		return;
	}
	if (new_seq < s->next_in) {
		char text[96];
		snprintf(text, sizeof(text),
			 "NewSeqNo %" PRIu64 " is lower than the expected MsgSeqNum %" PRIu64,
			 new_seq, s->next_in);
		send_reject(s, m, 36, 5, text, now);
		return;
	}
	if (new_seq - s->next_in > MAX_SEQ_JUMP) {
		/* One message must not push the expected number out of reach:
		 * every later message would be "too low". */
		char text[128];
		snprintf(text, sizeof(text),
			 "NewSeqNo %" PRIu64
			 " is implausibly far above the expected MsgSeqNum %" PRIu64,
			 new_seq, s->next_in);
		send_reject(s, m, 36, 5, text, now);
		return;
	}
	if (new_seq > s->next_in || !gap_fill)
		(void)advance_in(s, new_seq);
}

/* An in-sequence message once logged on (next_in already advanced).
 * Returns 1 if an event pins m. */
static int dispatch(struct fix_session *s, const struct fix_msg *m, int64_t now)
{
	struct fix_event *ev;
	if (m->msg_type_len == 1) {
		switch (m->msg_type[0]) {
		case '0':
			return 0;
		case '1': {
			struct fix_sv id = get_sv(m, 112);
			if (!quiet(s))
				send_heartbeat(s, &id, now);
			return 0;
		}
		case '2':
			answer_resend(s, m, now);
			return 0;
		case '3':
			ev = push_event(s, FIX_EV_REJECT, m);
			if (ev) {
				uint64_t ref = 0;
				(void)fix_msg_get_u64(m, 45, &ref);
				ev->reject.ref_seq_num = ref;
				ev->reject.ref_tag = get_int(m, 371, -1);
				ev->reject.ref_msg_type = get_sv(m, 372);
				ev->reject.reason = get_int(m, 373, -1);
				ev->reject.text = get_sv(m, 58);
			}
			return 1;
		case '4':
			on_sequence_reset(s, m, 1, now);
			return 0;
		case 'A':
			fail(s, now, "protocol", "unexpected Logon", "%s sent a second Logon",
			     peer_name(s));
			return 0;
		}
	}
	if (!valid_msg_type(m->msg_type, m->msg_type_len)) {
		send_reject(s, m, 35, 11, "Invalid MsgType", now);
		return 0;
	}
	if (s->role == FIX_ACCEPTOR && fix_msg_is(m, "BE")) {
		ev = push_event(s, FIX_EV_USER_REQUEST, m);
		if (ev) {
			ev->user_request.req_id = get_sv(m, 923);
			ev->user_request.username = get_sv(m, 553);
			ev->user_request.password = get_sv(m, 554);
			ev->user_request.type = get_int(m, 924, -1);
		}
		return 1;
	}
	if (s->role == FIX_INITIATOR && fix_msg_is(m, "BF")) {
		ev = push_event(s, FIX_EV_USER_RESPONSE, m);
		if (ev) {
			ev->user_response.req_id = get_sv(m, 923);
			ev->user_response.username = get_sv(m, 553);
			ev->user_response.text = get_sv(m, 927);
			ev->user_response.status = get_int(m, 926, -1);
		}
		return 1;
	}
	if (s->validate) {
		int ref_tag = -1, reason = 0;
		char text[160] = "";
		if (s->validate(s->validate_ud, m, &ref_tag, &reason, text, sizeof text)) {
			send_reject(s, m, ref_tag, reason, text, now);
			return 0;
		}
	}
	ev = push_event(s, FIX_EV_APP, m);
	if (ev) {
		ev->app.msg_type.ptr = m->msg_type;
		ev->app.msg_type.len = m->msg_type_len;
	}
	return 1;
}

/* A message once logged on (ACTIVE or LOGOUT_SENT). Returns 1 if pinned. */
static int on_message(struct fix_session *s, const struct fix_msg *m, int64_t now)
{
	if (check_comp_ids(s, m, now) || check_sending_time(s, m, now))
		return 0;
	if (fix_msg_is(m, "5") && (m->seq_num >= s->next_in || !m->poss_dup)) {
		if (m->seq_num < s->next_in) {
			too_low(s, m, now);
			return 0;
		}
		peer_logout(s, m, now);
		return 1;
	}
	int is_reset = fix_msg_is(m, "4");
	if (is_reset && !get_flag(m, 123)) {
		/* Reset mode: MsgSeqNum is ignored. */
		on_sequence_reset(s, m, 0, now);
		return 0;
	}
	if (m->seq_num < s->next_in) {
		if (!m->poss_dup) {
			too_low(s, m, now);
		} else if (!is_reset && !fix_msg_find(m, 122)) {
			send_reject(s, m, 122, 1, "Required tag missing", now);
		}
		return 0;
	}
	if (m->seq_num > s->next_in) {
		/* Answer the peer's own ResendRequest now, or both sides wait. */
		if (fix_msg_is(m, "2"))
			answer_resend(s, m, now);
		open_gap(s, m, now);
		return 0;
	}
	if (advance_in(s, s->next_in + 1))
		return 0;
	if (m->poss_dup && !is_reset) {
		struct fix_sv orig = get_sv(m, 122), sent = get_sv(m, 52);
		int64_t to, ts;
		if (!orig.ptr) {
			send_reject(s, m, 122, 1, "Required tag missing", now);
			return 0;
		}
		if (fix_parse_time(orig.ptr, orig.len, &to) != FIX_OK ||
		    fix_parse_time(sent.ptr, sent.len, &ts) != FIX_OK || to > ts) {
			send_reject(s, m, 122, 10, "SendingTime accuracy problem", now);
			fail(
			    s, now, "protocol", "SendingTime accuracy problem",
			    "OrigSendingTime(122) later than SendingTime(52) in MsgSeqNum %" PRIu64,
			    m->seq_num);
			return 0;
		}
	}
	return dispatch(s, m, now);
}

static int handle_msg(struct fix_session *s, const struct fix_msg *m, int64_t now)
{
	s->last_recv = now;
	s->test_req_sent = 0;
	switch (s->st) {
	case FIX_ST_LOGON_SENT:
		return on_logon_reply(s, m, now);
	case FIX_ST_AWAIT_LOGON:
		return on_logon_request(s, m, now);
	case FIX_ST_ACTIVE:
	case FIX_ST_LOGOUT_SENT:
		return on_message(s, m, now);
	default:
		return 0;
	}
}

/* A frame the codec refused starts with "8=" and a complete version-like
 * value ("FIX.4.2", "FIXT.1.1") other than FIX.4.4: the peer speaks another
 * version, which is fatal whatever else is wrong; line noise is not. */
static int wrong_begin_string(const char *p, size_t n, struct fix_sv *got)
{
	if (n < 6 || memcmp(p, "8=FIX", 5) != 0)
		return 0;
	size_t i = 2;
	while (i < n && i < 2 + 16 && p[i] != FIX_SOH) {
		char c = p[i];
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || c == '.'))
			return 0;
		i++;
	}
	if (i >= n || p[i] != FIX_SOH)
		return 0;
	got->ptr = p + 2;
	got->len = i - 2;
	return !sv_eq(got->ptr, got->len, FIX_BEGIN_STRING);
}

/* Doubles the field pool; only while no event pins its entries. */
static int grow_pool(struct fix_session *s)
{
	size_t cap = s->pool_cap * 2 > POOL_MAX ? POOL_MAX : s->pool_cap * 2;
	struct fix_field *p = realloc(s->pool, cap * sizeof *p);
	if (!p)
		return -1;
	s->pool = p;
	s->pool_cap = cap;
	return 0;
}

/* Doubles the input buffer; only while no event points into it. A new block
 * and a wipe of the old one, since realloc could leave a 554 behind. */
static int grow_in(struct fix_session *s)
{
	size_t cap = s->in_cap * 2 > s->in_max ? s->in_max : s->in_cap * 2;
	char *p = malloc(cap);
	if (!p)
		return -1;
	memcpy(p, s->in, s->in_len);
	wipe(s->in, s->in_hw);
	free(s->in);
	s->in = p;
	s->in_cap = cap;
	s->in_hw = s->in_len;
	return 0;
}

enum input_status {
	IN_IDLE,    /* all whole frames processed (a partial one may wait) */
	IN_BLOCKED, /* events must be polled before more frames fit */
	IN_HELD,    /* this state processes nothing (before start, Logon pending) */
};

static enum input_status process_input(struct fix_session *s, int64_t now)
{
	while (s->in_pos < s->in_len) {
		if (s->st != FIX_ST_LOGON_SENT && s->st != FIX_ST_AWAIT_LOGON &&
		    s->st != FIX_ST_ACTIVE && s->st != FIX_ST_LOGOUT_SENT)
			return s->st == FIX_ST_CLOSED ? IN_IDLE : IN_HELD;
		if (ev_free(s) < EV_RESERVE)
			return IN_BLOCKED;
		const char *p = s->in + s->in_pos;
		size_t avail = s->in_len - s->in_pos, flen = 0;
		int r = fix_frame(p, avail, s->max_body, &flen);
		if (r == FIX_E_NEED_MORE)
			return IN_IDLE;
		struct fix_sv got;
		if (r == FIX_OK) {
			size_t room = s->pool_cap - s->pool_used;
			size_t cap = room < FIX_SESSION_MAX_FIELDS ? room : FIX_SESSION_MAX_FIELDS;
			fix_msg_init(&s->cur, s->pool + s->pool_used, cap);
			r = fix_parse(&s->cur, p, flen);
			if (r == FIX_E_TOO_MANY_FIELDS) {
				if (cap < FIX_SESSION_MAX_FIELDS) {
					if (s->pool_used > 0 || s->pool_cap >= POOL_MAX) {
						s->pool_short = 1;
						return IN_BLOCKED;
					}
					/* nothing pinned: the pool may move */
					if (grow_pool(s) < 0) {
						close_session(s, "nomem", 0,
							      "out of memory for the field index");
						return IN_IDLE;
					}
					continue;
				}
				s->in_pos += flen;
				fail(s, now, "protocol", "too many fields",
				     "a message with more than %d fields arrived",
				     FIX_SESSION_MAX_FIELDS);
				return IN_IDLE;
			}
		}
		if (r != FIX_OK && wrong_begin_string(p, avail, &got)) {
			trace(s, FIX_TRACE_GARBLED, p, flen ? flen : avail);
			s->in_pos = s->in_len;
			fail(s, now, "protocol", "wrong BeginString, expected FIX.4.4",
			     "wrong BeginString %.*s, expected " FIX_BEGIN_STRING, clip(&got),
			     got.ptr);
			return IN_IDLE;
		}
		if (flen == 0 || flen > avail)
			flen = avail; /* defensive: never stall on a broken framer answer */
		if (r != FIX_OK) {
			/* Garbled: dropped, no sequence number consumed. */
			trace(s, FIX_TRACE_GARBLED, p, flen);
			s->in_pos += flen;
			continue;
		}
		s->in_pos += flen;
		trace(s, FIX_TRACE_IN, p, flen);
		if (handle_msg(s, &s->cur, now))
			s->pool_used += s->cur.nfields;
	}
	return IN_IDLE;
}

/* Reclaim the processed bytes and the event queue once all events are out. */
static void compact(struct fix_session *s)
{
	if (s->ev_head != s->ev_n)
		return;
	s->ev_head = s->ev_n = 0;
	s->pool_used = 0;
	/* Growth failures here are not errors: the session just keeps going at
	 * its present size. */
	if (s->pool_short && s->pool_cap < POOL_MAX)
		grow_pool(s);
	s->pool_short = 0;
	if (s->in_pos) {
		size_t rest = s->in_len - s->in_pos;
		memmove(s->in, s->in + s->in_pos, rest);
		/* Processed frames may have carried a 554: do not leave copies. */
		wipe(s->in + rest, s->in_pos);
		s->in_len = rest;
		s->in_pos = 0;
	}
}

/* Only whole frames that were processed (or a trailing partial frame) are
 * taken: bytes left unprocessed because the event queue is full are handed
 * back, so nothing waits inside the session for a feed that may never come. */
size_t fix_session_feed(struct fix_session *s, const char *bytes, size_t n, int64_t now_ms)
{
	size_t taken = 0;
	for (;;) {
		if (s->st == FIX_ST_CLOSED)
			return n;
		compact(s);
		if (s->in_short && s->in_cap < s->in_max && s->ev_head == s->ev_n)
			grow_in(s);
		s->in_short = 0;
		if (s->in_len == s->in_cap && s->in_pos == 0 && s->ev_head == s->ev_n &&
		    s->in_cap < s->in_max && taken < n && grow_in(s) < 0) {
			/* one frame does not fit what we have */
			close_session(s, "nomem", 0, "out of memory for a %zu-byte frame",
				      s->in_len);
			return n;
		}
		size_t k = s->in_cap - s->in_len;
		if (k > n - taken)
			k = n - taken;
		memcpy(s->in + s->in_len, bytes + taken, k);
		s->in_len += k;
		if (s->in_len > s->in_hw)
			s->in_hw = s->in_len;
		taken += k;
		enum input_status r = process_input(s, now_ms);
		if (s->st == FIX_ST_CLOSED)
			return n;
		if (r == IN_BLOCKED) {
			size_t back = s->in_len - s->in_pos;
			if (back > k)
				back = k;
			s->in_len -= back;
			taken -= back;
			return taken;
		}
		if (taken == n)
			return taken;
		if (s->in_len < s->in_cap)
			continue;
		if (s->ev_head != s->ev_n) {
			s->in_short = 1;
			return taken; /* compaction waits for the driver to poll */
		}
		if (r == IN_HELD && s->in_pos == 0 && s->in_cap >= s->in_max) {
			close_session(s, "protocol", 0,
				      "%s sent %zu bytes without waiting for the Logon reply",
				      peer_name(s), s->in_len);
			return n;
		}
	}
}

/* -------------------------------------------------------------- timers */

static int64_t add_ms(int64_t a, int64_t b)
{
	return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static int64_t hb_deadline(const struct fix_session *s)
{
	if (s->hb_s <= 0 || s->silent)
		return INT64_MAX;
	int64_t hb = (int64_t)s->hb_s * 1000;
	int64_t d = add_ms(s->last_sent, hb);
	int64_t r =
	    s->test_req_sent ? add_ms(s->test_req_sent, hb) : add_ms(s->last_recv, hb * 6 / 5);
	return d < r ? d : r;
}

int64_t fix_session_deadline(const struct fix_session *s)
{
	switch (s->st) {
	case FIX_ST_LOGON_SENT:
	case FIX_ST_AWAIT_LOGON:
	case FIX_ST_LOGON_RECEIVED:
		return s->silent ? INT64_MAX : s->logon_deadline;
	case FIX_ST_ACTIVE:
		return hb_deadline(s);
	case FIX_ST_LOGOUT_SENT:
		return s->logout_deadline;
	default:
		return INT64_MAX;
	}
}

void fix_session_tick(struct fix_session *s, int64_t now_ms)
{
	char secs[32];
	compact(s);
	/* Frames held back while a Logon was pending are processed here at the
	 * latest. */
	(void)process_input(s, now_ms);
	switch (s->st) {
	case FIX_ST_LOGON_SENT:
	case FIX_ST_AWAIT_LOGON:
	case FIX_ST_LOGON_RECEIVED:
		if (s->silent || now_ms < s->logon_deadline)
			return;
		fmt_secs(secs, sizeof(secs), s->logon_to);
		if (s->st == FIX_ST_LOGON_SENT)
			close_session(s, "timeout", 0, "no Logon reply within %s", secs);
		else if (s->st == FIX_ST_AWAIT_LOGON)
			close_session(s, "timeout", 0, "no Logon received within %s", secs);
		else
			close_session(s, "timeout", 0,
				      "Logon not answered by the application within %s", secs);
		return;
	case FIX_ST_LOGOUT_SENT:
		if (now_ms >= s->logout_deadline) {
			fmt_secs(secs, sizeof(secs), s->logout_to);
			close_session(s, "logged_out", 0, "logged out (no Logout reply within %s)",
				      secs);
		}
		return; /* no Heartbeat or TestRequest after our Logout */
	case FIX_ST_ACTIVE:
		break;
	default:
		return;
	}
	if (s->hb_s <= 0 || s->silent)
		return;
	int64_t hb = (int64_t)s->hb_s * 1000;
	if (s->test_req_sent && now_ms >= add_ms(s->test_req_sent, hb)) {
		close_session(s, "timeout", 0,
			      "heartbeat timeout: no reply to TestRequest within %d s", s->hb_s);
		return;
	}
	if (!s->test_req_sent && now_ms >= add_ms(s->last_recv, hb * 6 / 5))
		send_test_request(s, now_ms);
	if (now_ms >= add_ms(s->last_sent, hb))
		send_heartbeat(s, NULL, now_ms);
}

/* ------------------------------------------------------------- the API */

void fix_session_cfg_init(struct fix_session_cfg *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->role = FIX_INITIATOR;
	cfg->heartbeat_s = BT_DEFAULT_HEARTBEAT_S;
	cfg->logon_timeout_ms = BT_DEFAULT_LOGON_TIMEOUT_MS;
	cfg->logout_timeout_ms = BT_DEFAULT_LOGOUT_TIMEOUT_MS;
	cfg->max_body = BT_DEFAULT_MAX_BODY;
	cfg->sending_time_tolerance_ms = BT_DEFAULT_SENDING_TIME_TOLERANCE_MS;
}

static int comp_id_ok(const char *id)
{
	if (!id)
		return 0;
	size_t n = strlen(id);
	return n > 0 && n <= FIX_SESSION_MAX_COMP_ID && !memchr(id, FIX_SOH, n);
}

struct fix_session *fix_session_new(const struct fix_session_cfg *cfg)
{
	if (!cfg || !comp_id_ok(cfg->sender_comp_id) || cfg->heartbeat_s < 0 ||
	    cfg->heartbeat_s > 86400)
		return NULL;
	if (cfg->target_comp_id ? !comp_id_ok(cfg->target_comp_id) : cfg->role == FIX_INITIATOR)
		return NULL;
	if (cfg->role != FIX_INITIATOR && cfg->role != FIX_ACCEPTOR)
		return NULL;
	if (cfg->store && !cfg->store->ops)
		return NULL;
	struct fix_session *s = calloc(1, sizeof(*s));
	if (!s)
		return NULL;
	s->role = cfg->role;
	s->st = FIX_ST_IDLE;
	strcpy(s->sender, cfg->sender_comp_id);
	if (cfg->target_comp_id) {
		strcpy(s->target, cfg->target_comp_id);
		s->target_fixed = 1;
	}
	s->hb_s = cfg->heartbeat_s;
	s->logon_to = cfg->logon_timeout_ms > 0 ? cfg->logon_timeout_ms : 10000;
	s->logout_to = cfg->logout_timeout_ms > 0 ? cfg->logout_timeout_ms : 10000;
	s->tolerance = cfg->sending_time_tolerance_ms > 0 ? cfg->sending_time_tolerance_ms : 120000;
	s->reset_on_logon = cfg->reset_on_logon;
	s->username = cfg->username;
	s->password = cfg->password;
	s->max_body = cfg->max_body ? cfg->max_body : FIX_DEFAULT_MAX_BODY;
	if (s->max_body > UINT32_MAX / 2)
		s->max_body = UINT32_MAX / 2;
	s->store = cfg->store;
	s->trace = cfg->trace;
	s->trace_ud = cfg->trace_ud;
	s->validate = cfg->validate;
	s->validate_ud = cfg->validate_ud;
	s->next_out = s->store && s->store->next_out ? s->store->next_out : 1;
	s->next_in = s->store && s->store->next_in ? s->store->next_in : 1;

	s->in_max = s->max_body + IN_SLACK;
	s->in_cap = s->in_max < IN_INITIAL ? s->in_max : IN_INITIAL;
	s->pool_cap = POOL_INITIAL;
	s->out_cap = OUT_INITIAL;
	s->in = malloc(s->in_cap);
	s->pool = malloc(s->pool_cap * sizeof(*s->pool));
	s->out = malloc(s->out_cap);
	if (s->trace) {
		s->trace_cap = s->in_max + TRACE_SLACK;
		s->trace_buf = malloc(s->trace_cap);
	}
	if (!s->in || !s->pool || !s->out || (s->trace && !s->trace_buf)) {
		fix_session_free(s);
		return NULL;
	}
	return s;
}

void fix_session_free(struct fix_session *s)
{
	if (!s)
		return;
	if (s->out)
		wipe(s->out, s->out_cap);
	if (s->in)
		wipe(s->in, s->in_hw); /* may hold an inbound 554; beyond, never written */
	free(s->in);
	free(s->pool);
	free(s->out);
	free(s->trace_buf);
	free(s);
}

int fix_session_start(struct fix_session *s, int64_t now_ms)
{
	if (s->st != FIX_ST_IDLE)
		return FIX_SESSION_E_STATE;
	s->last_sent = s->last_recv = now_ms;
	s->logon_deadline = add_ms(now_ms, s->logon_to);
	if (s->role == FIX_ACCEPTOR) {
		s->st = FIX_ST_AWAIT_LOGON;
		process_input(s, now_ms);
		return 0;
	}
	if (s->reset_on_logon) {
		if (s->store && s->store->ops->reset && s->store->ops->reset(s->store->ctx) != 0) {
			close_session(s, "store", 0, "sequence store failed to reset");
			return FIX_SESSION_E_STORE;
		}
		s->next_out = s->next_in = 1;
		s->reset_done = 1;
	}
	s->st = FIX_ST_LOGON_SENT;
	int r = send_logon(s, now_ms);
	s->username = s->password = NULL;
	if (r) {
		if (s->st != FIX_ST_CLOSED)
			close_session(s, "protocol", 0, "could not encode the Logon: %s",
				      fix_session_strerror(r));
		return r;
	}
	process_input(s, now_ms);
	return 0;
}

void fix_session_disconnected(struct fix_session *s, int64_t now_ms)
{
	switch (s->st) {
	case FIX_ST_CLOSED:
		return;
	case FIX_ST_LOGOUT_SENT:
		close_session(s, "logged_out", 0, "logged out (connection closed by the %s)",
			      peer_name(s));
		return;
	case FIX_ST_LOGON_SENT:
		close_session(s, "disconnected", 0, "connection closed before the Logon reply");
		return;
	case FIX_ST_AWAIT_LOGON:
	case FIX_ST_LOGON_RECEIVED:
		close_session(s, "disconnected", 0, "connection closed before the Logon completed");
		return;
	default:
		close_session(s, "disconnected", 0, "connection lost");
	}
}

enum fix_session_state fix_session_state(const struct fix_session *s)
{
	return s->st;
}

const char *fix_session_state_name(enum fix_session_state st)
{
	switch (st) {
	case FIX_ST_IDLE:
		return "idle";
	case FIX_ST_LOGON_SENT:
		return "logon_sent";
	case FIX_ST_AWAIT_LOGON:
		return "await_logon";
	case FIX_ST_LOGON_RECEIVED:
		return "logon_received";
	case FIX_ST_ACTIVE:
		return "active";
	case FIX_ST_LOGOUT_SENT:
		return "logout_sent";
	case FIX_ST_CLOSED:
		return "closed";
	}
	return "?";
}

static int value_ok(const char *v, size_t n)
{
	return v && n > 0 && !memchr(v, FIX_SOH, n);
}

static int cstr_ok(const char *v)
{
	return v && value_ok(v, strlen(v));
}

int fix_session_app_tag_ok(uint32_t tag)
{
	switch (tag) {
	case 0:
	case 8:   /* BeginString */
	case 9:   /* BodyLength */
	case 10:  /* CheckSum */
	case 34:  /* MsgSeqNum */
	case 35:  /* MsgType */
	case 43:  /* PossDupFlag */
	case 49:  /* SenderCompID */
	case 52:  /* SendingTime */
	case 56:  /* TargetCompID */
	case 97:  /* PossResend */
	case 122: /* OrigSendingTime */
		return 0;
	default:
		return tag <= 999999999; /* the codec reads at most 9 digits */
	}
}

int fix_session_send(struct fix_session *s, const char *msg_type,
		     const struct fix_out_field *fields, size_t nfields, int64_t now_ms)
{
	if (s->st != FIX_ST_ACTIVE)
		return FIX_SESSION_E_STATE;
	if (!msg_type || !valid_msg_type(msg_type, strlen(msg_type)) ||
	    admin_type(msg_type, strlen(msg_type)) || (nfields && !fields))
		return FIX_SESSION_E_ARG;
	size_t need = 0;
	for (size_t i = 0; i < nfields; i++) {
		if (!value_ok(fields[i].val, fields[i].len) ||
		    !fix_session_app_tag_ok(fields[i].tag))
			return FIX_SESSION_E_ARG;
		/* need reserves 12 bytes per field for its tag; only the values
		 * alone (need - 12 * i) are surely too large here: finish_msg
		 * checks the exact body, so a message of many short fields that
		 * fits is not refused. */
		if (fields[i].len > s->max_body || need - 12 * i > s->max_body)
			return FIX_SESSION_E_TOO_LARGE;
		need += fields[i].len + 12;
	}
	struct fix_enc enc;
	int r = begin_msg(s, &enc, msg_type, s->next_out, now_ms, need);
	if (r)
		return r;
	for (size_t i = 0; i < nfields; i++)
		fix_enc_str(&enc, fields[i].tag, fields[i].val, fields[i].len);
	/* A UserRequest is never stored: a resend must not replay credentials,
	 * so it is gap-filled instead. A UserResponse carries none and is
	 * stored like any application message, so a peer that missed it in a
	 * sequence gap gets it again. */
	enum out_kind kind = OUT_APP;
	if (!strcmp(msg_type, "BE"))
		kind = OUT_SENSITIVE;
	return finish_msg(s, &enc, kind, s->next_out, now_ms);
}

int fix_session_user_request(struct fix_session *s, const char *req_id, int type,
			     const char *username, const char *password, int64_t now_ms)
{
	if (s->st != FIX_ST_ACTIVE)
		return FIX_SESSION_E_STATE;
	if (!cstr_ok(req_id) || !cstr_ok(username) || (password && !cstr_ok(password)) ||
	    type < 1 || type > 9)
		return FIX_SESSION_E_ARG;
	struct fix_enc enc;
	size_t need = strlen(req_id) + strlen(username) + (password ? strlen(password) : 0);
	int r = begin_msg(s, &enc, "BE", s->next_out, now_ms, need);
	if (r)
		return r;
	fix_enc_cstr(&enc, 923, req_id);
	fix_enc_int(&enc, 924, type);
	fix_enc_cstr(&enc, 553, username);
	if (password)
		fix_enc_cstr(&enc, 554, password);
	return finish_msg(s, &enc, OUT_SENSITIVE, s->next_out, now_ms);
}

int fix_session_user_response(struct fix_session *s, const char *req_id, const char *username,
			      int status, const char *text, int64_t now_ms)
{
	if (s->st != FIX_ST_ACTIVE)
		return FIX_SESSION_E_STATE;
	if (!cstr_ok(req_id) || !cstr_ok(username) || (text && *text && !cstr_ok(text)) ||
	    status < 0)
		return FIX_SESSION_E_ARG;
	struct fix_enc enc;
	size_t tl = text_len(text);
	int r =
	    begin_msg(s, &enc, "BF", s->next_out, now_ms, strlen(req_id) + strlen(username) + tl);
	if (r)
		return r;
	fix_enc_cstr(&enc, 923, req_id);
	fix_enc_cstr(&enc, 553, username);
	fix_enc_int(&enc, 926, status);
	if (tl)
		fix_enc_str(&enc, 927, text, tl);
	return finish_msg(s, &enc, OUT_APP, s->next_out, now_ms);
}

int fix_session_logout(struct fix_session *s, const char *text, int64_t now_ms)
{
	if (text && *text && !cstr_ok(text))
		return FIX_SESSION_E_ARG;
	switch (s->st) {
	case FIX_ST_ACTIVE:
		break;
	case FIX_ST_IDLE:
	case FIX_ST_LOGON_SENT:
	case FIX_ST_AWAIT_LOGON:
	case FIX_ST_LOGON_RECEIVED:
		close_session(s, "logged_out", 0, "logged out before the logon completed");
		return 0;
	default:
		return FIX_SESSION_E_STATE;
	}
	send_logout(s, text, now_ms);
	if (s->st == FIX_ST_CLOSED)
		return FIX_SESSION_E_STORE;
	s->st = FIX_ST_LOGOUT_SENT;
	s->logout_deadline = add_ms(now_ms, s->logout_to);
	return 0;
}

int fix_session_accept(struct fix_session *s, int64_t now_ms)
{
	if (s->role != FIX_ACCEPTOR || s->st != FIX_ST_LOGON_RECEIVED)
		return FIX_SESSION_E_STATE;
	if (s->reset_done) {
		if (s->store && s->store->ops->reset && s->store->ops->reset(s->store->ctx) != 0) {
			close_session(s, "store", 0, "sequence store failed to reset");
			return FIX_SESSION_E_STORE;
		}
		s->next_out = s->next_in = 1;
	}
	int r = send_logon(s, now_ms);
	if (r) {
		if (s->st != FIX_ST_CLOSED)
			close_session(s, "protocol", 0, "could not encode the Logon reply: %s",
				      fix_session_strerror(r));
		return r;
	}
	s->st = FIX_ST_ACTIVE;
	struct fix_event *ev = push_event(s, FIX_EV_LOGON, NULL);
	if (ev) {
		ev->logon.heartbeat_s = s->hb_s;
		ev->logon.reset = s->reset_done;
	}
	if (s->logon_seq == s->next_in) {
		if (advance_in(s, s->next_in + 1))
			return FIX_SESSION_E_STORE;
	} else if (s->logon_seq > s->next_in) {
		if (!s->silent)
			send_resend_request(s, s->next_in, now_ms);
		s->resend_end = s->logon_seq;
	}
	process_input(s, now_ms);
	return 0;
}

int fix_session_refuse(struct fix_session *s, const char *text, int64_t now_ms)
{
	if (s->role != FIX_ACCEPTOR || s->st != FIX_ST_LOGON_RECEIVED)
		return FIX_SESSION_E_STATE;
	if (text && *text && !cstr_ok(text))
		return FIX_SESSION_E_ARG;
	send_logout(s, text, now_ms);
	close_session(s, "rejected", 0, "Logon refused: %s", text && *text ? text : "(no reason)");
	return 0;
}

void fix_session_set_clock(struct fix_session *s, int64_t now_ms, int64_t wall_ms)
{
	s->wall_off = wall_ms - now_ms;
}

uint64_t fix_session_next_out_seq(const struct fix_session *s)
{
	return s->next_out;
}

uint64_t fix_session_next_in_seq(const struct fix_session *s)
{
	return s->next_in;
}

const char *fix_session_target_comp_id(const struct fix_session *s)
{
	return s->target;
}

int fix_session_heartbeat_s(const struct fix_session *s)
{
	return s->hb_s;
}

void fix_session_fault_skip_seq(struct fix_session *s, uint64_t n)
{
	if (s->st == FIX_ST_CLOSED || n > UINT32_MAX)
		return;
	s->next_out += n;
	(void)store_next_out(s);
}

void fix_session_fault_silent(struct fix_session *s, int on)
{
	s->silent = on != 0;
}

int fix_session_fault_raw(struct fix_session *s, const char *bytes, size_t n)
{
	if (!bytes && n)
		return FIX_SESSION_E_ARG;
	int r = out_reserve(s, n);
	if (r)
		return r;
	memcpy(s->out + s->out_len, bytes, n);
	trace(s, FIX_TRACE_OUT, s->out + s->out_len, n);
	s->out_len += n;
	return 0;
}

const char *fix_session_strerror(int err)
{
	switch (err) {
	case FIX_SESSION_OK:
		return "ok";
	case FIX_SESSION_E_STATE:
		return "not allowed in this session state";
	case FIX_SESSION_E_ARG:
		return "bad argument";
	case FIX_SESSION_E_TOO_LARGE:
		return "message larger than max_body";
	case FIX_SESSION_E_NOMEM:
		return "out of memory";
	case FIX_SESSION_E_STORE:
		return "sequence store failed";
	default:
		return fix_strerror(err);
	}
}
