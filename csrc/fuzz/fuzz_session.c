/* libFuzzer target for the sans-I/O FIX session (fix_session.h) in both
 * roles. The input (format in fuzz_session.h) is a script of byte chunks,
 * time steps and API calls; after each step the harness drains events and
 * output like a driver would and checks what every driver relies on:
 *   - no event after CLOSED, and CLOSED is always announced;
 *   - feed either makes progress or leaves events to poll (no stall);
 *   - after tick(now) the next deadline lies after now (no busy loop);
 *   - queued output only grows at its end until consumed, and every byte
 *     the session writes is a valid FIX 4.4 frame from us to the peer, with
 *     MsgSeqNum increasing outside resends;
 *   - the trace callback never sees a Password(554) value.
 * ASan checks that event pointers are valid when the contract says so. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fix_codec.h"
#include "fix_session.h"
#include "fix_session_fault.h"
#include "fix_store_mem.h"
#include "fuzz_check.h"
#include "fuzz_session.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define STORE_MAX 128
#define OUT_FIELDS 2048

/* ---------------------------------------------------- store faults */

/* The in-memory store fails the Nth set_next_out or set_next_in (0: never)
 * and refuses to save once it holds STORE_MAX messages. */
struct store_faults {
	int calls_out, calls_in;
	int fail_out_at, fail_in_at;
};

static int store_fail(void *arg, const struct fix_store_mem *m, enum fix_store_mem_op op)
{
	struct store_faults *f = arg;
	switch (op) {
	case FIX_STORE_MEM_SET_OUT:
		return ++f->calls_out == f->fail_out_at;
	case FIX_STORE_MEM_SET_IN:
		return ++f->calls_in == f->fail_in_at;
	case FIX_STORE_MEM_SAVE:
		return m->n == STORE_MAX;
	}
	return 0;
}

/* -------------------------------------------------------------- harness */

struct fz {
	const uint8_t *d;
	size_t n, i;
	struct fix_session *s;
	int acceptor;
	const char *us, *peer;
	size_t max_body;
	int64_t now;
	int closed_seen, hold;
	int debug;     /* FZ_DEBUG=1 in the environment: print events and output */
	unsigned sink; /* bytes of events read, so reads are not optimised out */
	/* Output consumed but not yet a whole frame. */
	char *acc;
	size_t acc_len, acc_cap;
	uint64_t last_out_seq;
	/* What the acceptor's app would answer a UserRequest with. */
	char req_id[64], user[64];
};

static unsigned rd(struct fz *z)
{
	return z->i < z->n ? z->d[z->i++] : 0;
}

static unsigned rd16(struct fz *z)
{
	unsigned lo = rd(z);
	return lo | rd(z) << 8;
}

/* n bytes of input (fewer at its end). */
static const char *take(struct fz *z, size_t *n)
{
	size_t left = z->n - z->i;
	if (*n > left)
		*n = left;
	const char *p = (const char *)z->d + z->i;
	z->i += *n;
	return p;
}

static void touch(struct fz *z, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		z->sink += (unsigned char)p[i];
}

static void touch_sv(struct fz *z, struct fix_sv v)
{
	CHECK(v.ptr || v.len == 0);
	if (v.ptr)
		touch(z, v.ptr, v.len);
}

static void copy_sv(char *dst, size_t cap, struct fix_sv v, const char *dflt)
{
	size_t n = v.len < cap - 1 ? v.len : cap - 1;
	if (!v.ptr || n == 0 || memchr(v.ptr, '\0', n)) {
		snprintf(dst, cap, "%s", dflt);
		return;
	}
	memcpy(dst, v.ptr, n);
	dst[n] = '\0';
}

static int drain_events(struct fz *z)
{
	struct fix_event ev;
	int got = 0;
	while (fix_session_poll_event(z->s, &ev)) {
		got++;
		if (z->debug)
			fprintf(stderr, "event %d%s%s\n", (int)ev.type,
				ev.type == FIX_EV_CLOSED ? " " : "",
				ev.type == FIX_EV_CLOSED ? ev.closed.reason : "");
		CHECK(!z->closed_seen);
		CHECK(ev.type > FIX_EV_NONE && ev.type <= FIX_EV_CLOSED);
		if (ev.msg) {
			CHECK(ev.msg->buf && ev.msg->nfields <= ev.msg->cap);
			touch(z, ev.msg->buf, ev.msg->len);
			for (size_t i = 0; i < ev.msg->nfields; i++)
				CHECK(ev.msg->fields[i].off + (size_t)ev.msg->fields[i].len <=
				      ev.msg->len);
		}
		switch (ev.type) {
		case FIX_EV_LOGON_REQUEST:
			CHECK(z->acceptor);
			touch_sv(z, ev.logon_request.sender_comp_id);
			touch_sv(z, ev.logon_request.username);
			touch_sv(z, ev.logon_request.password);
			break;
		case FIX_EV_USER_REQUEST:
			CHECK(z->acceptor);
			touch_sv(z, ev.user_request.password);
			copy_sv(z->req_id, sizeof(z->req_id), ev.user_request.req_id, "REQ1");
			copy_sv(z->user, sizeof(z->user), ev.user_request.username, FZ_CLIENT);
			break;
		case FIX_EV_USER_RESPONSE:
			CHECK(!z->acceptor);
			touch_sv(z, ev.user_response.req_id);
			touch_sv(z, ev.user_response.username);
			touch_sv(z, ev.user_response.text);
			break;
		case FIX_EV_APP:
			CHECK(ev.app.msg_type.ptr && ev.app.msg_type.len > 0);
			touch_sv(z, ev.app.msg_type);
			break;
		case FIX_EV_REJECT:
			touch_sv(z, ev.reject.ref_msg_type);
			touch_sv(z, ev.reject.text);
			break;
		case FIX_EV_LOGOUT:
			touch_sv(z, ev.logout.text);
			break;
		case FIX_EV_CLOSED:
			CHECK(fix_session_state(z->s) == FIX_ST_CLOSED);
			CHECK(ev.closed.code && ev.closed.reason);
			touch(z, ev.closed.code, strlen(ev.closed.code));
			touch(z, ev.closed.reason, strlen(ev.closed.reason));
			z->closed_seen = 1;
			break;
		default:
			break;
		}
	}
	if (fix_session_state(z->s) == FIX_ST_CLOSED)
		CHECK(z->closed_seen);
	CHECK(fix_session_state(z->s) <= FIX_ST_CLOSED);
	return got;
}

/* Every frame we send must be one the peer's codec accepts, from us. */
static void check_out_frame(struct fz *z, const char *f, size_t n)
{
	static struct fix_field fields[OUT_FIELDS];
	struct fix_msg m;
	fix_msg_init(&m, fields, OUT_FIELDS);
	int r = fix_parse(&m, f, n);
	if (r != FIX_OK)
		fprintf(stderr, "bad outbound frame (%s): %.*s\n", fix_strerror(r), (int)n, f);
	CHECK(r == FIX_OK);
	size_t l49, l56;
	const char *v49 = fix_msg_get(&m, 49, &l49);
	const char *v56 = fix_msg_get(&m, 56, &l56);
	CHECK(v49 && l49 == strlen(z->us) && memcmp(v49, z->us, l49) == 0);
	const char *tgt = fix_session_target_comp_id(z->s);
	if (*tgt)
		CHECK(v56 && l56 == strlen(tgt) && memcmp(v56, tgt, l56) == 0);
	size_t ln;
	const char *rst = fix_msg_get(&m, 141, &ln);
	int reset_logon = fix_msg_is(&m, "A") && rst && ln == 1 && *rst == 'Y';
	if (!m.poss_dup) {
		if (reset_logon)
			CHECK(m.seq_num == 1);
		else
			CHECK(m.seq_num > z->last_out_seq);
		z->last_out_seq = m.seq_num;
	}
}

static void consume(struct fz *z, size_t want)
{
	size_t len;
	const char *p = fix_session_out(z->s, &len);
	if (want > len)
		want = len;
	if (want == 0)
		return;
	if (z->acc_len + want > z->acc_cap) {
		size_t cap = z->acc_cap ? z->acc_cap : 4096;
		while (cap < z->acc_len + want)
			cap *= 2;
		char *a = realloc(z->acc, cap);
		CHECK(a);
		z->acc = a;
		z->acc_cap = cap;
	}
	memcpy(z->acc + z->acc_len, p, want);
	z->acc_len += want;
	fix_session_out_consume(z->s, want);
	if (z->debug)
		fprintf(stderr, "out %.*s\n", (int)want, z->acc + z->acc_len - want);
	size_t off = 0;
	for (;;) {
		size_t fl = 0;
		int r = fix_frame(z->acc + off, z->acc_len - off, z->max_body, &fl);
		if (r == FIX_E_NEED_MORE)
			break;
		if (r != FIX_OK)
			fprintf(stderr, "bad outbound bytes (%s): %.*s\n", fix_strerror(r),
				(int)(z->acc_len - off), z->acc + off);
		CHECK(r == FIX_OK);
		check_out_frame(z, z->acc + off, fl);
		off += fl;
	}
	memmove(z->acc, z->acc + off, z->acc_len - off);
	z->acc_len -= off;
}

static void feed(struct fz *z, const char *p, size_t n)
{
	size_t off = 0;
	while (off < n) {
		size_t k = fix_session_feed(z->s, p + off, n - off, z->now);
		CHECK(k <= n - off);
		off += k;
		int got = drain_events(z);
		/* The driver loop of fix_session.h would spin forever here. */
		CHECK(k > 0 || got > 0);
	}
}

static void feed_wrapped(struct fz *z, const char *body, size_t n)
{
	char *f = malloc(n + 40);
	CHECK(f);
	int h = snprintf(f, 40,
			 "8=FIX.4.4\x01"
			 "9=%zu\x01",
			 n);
	memcpy(f + h, body, n);
	unsigned sum = 0;
	for (size_t i = 0; i < (size_t)h + n; i++)
		sum += (unsigned char)f[i];
	int t = snprintf(f + h + n, 8, "10=%03u\x01", sum % 256);
	feed(z, f, (size_t)h + n + (size_t)t);
	free(f);
}

static void feed_msg(struct fz *z)
{
	const char *type = fz_msg_types[rd(z) & 15];
	unsigned sb = rd(z), flags = rd(z);
	size_t bl = rd(z);
	const char *body = take(z, &bl);
	uint64_t seq = fix_session_next_in_seq(z->s);
	if (flags & FZ_MSG_ABS_SEQ)
		seq = sb;
	else if ((int8_t)sb < 0 && seq < (uint64_t) - (int)(int8_t)sb)
		seq = 0;
	else
		seq += (uint64_t)(int64_t)(int8_t)sb;
	char ts[22], orig[22];
	fix_format_time(z->now - (flags & FZ_MSG_OLD_TIME ? 600000 : 0), ts);
	fix_format_time(z->now - 1000, orig);
	const char *snd = z->peer, *tgt = z->us;
	if (flags & FZ_MSG_WRONG_COMP) {
		snd = z->us;
		tgt = z->peer;
	}
	char *m = malloc(bl + 256);
	CHECK(m);
	int h = snprintf(m, 256,
			 "35=%s\x01"
			 "49=%s\x01"
			 "56=%s\x01"
			 "34=%llu\x01"
			 "52=%s\x01",
			 type, snd, tgt, (unsigned long long)seq, ts);
	if (flags & FZ_MSG_POSS_DUP)
		h += snprintf(m + h, 256 - (size_t)h,
			      "43=Y\x01"
			      "122=%s\x01",
			      orig);
	memcpy(m + h, body, bl);
	feed_wrapped(z, m, (size_t)h + bl);
	free(m);
}

static void op_send(struct fz *z)
{
	const char *type = fz_msg_types[rd(z) & 15];
	size_t nf = rd(z) & 7;
	struct fix_out_field f[8];
	for (size_t k = 0; k < nf; k++) {
		f[k].tag = rd16(z);
		if (f[k].tag & 0x8000) /* the top of the range: 10-digit tags */
			f[k].tag = UINT32_MAX - (f[k].tag & 0x7fff);
		f[k].len = rd(z);
		f[k].val = take(z, &f[k].len);
	}
	int r = fix_session_send(z->s, type, f, nf, z->now);
	CHECK(r <= 0 && r >= FIX_SESSION_E_STORE);
}

static void trace_cb(void *ud, int dir, const char *f, size_t n)
{
	struct fz *z = ud;
	CHECK(dir == FIX_TRACE_IN || dir == FIX_TRACE_OUT || dir == FIX_TRACE_GARBLED);
	CHECK(f || n == 0);
	touch(z, f, n);
	for (size_t i = 0; i + 4 <= n; i++) {
		if ((i == 0 || f[i - 1] == FIX_SOH) && memcmp(f + i, "554=", 4) == 0) {
			size_t v = i + 4, e = v;
			while (e < n && f[e] != FIX_SOH)
				e++;
			CHECK(e - v == 3 && memcmp(f + v, "***", 3) == 0);
		}
	}
}

static void run(struct fz *z)
{
	unsigned cfgb = rd(z), seqb = rd(z);
	struct fix_store_mem ms;
	struct store_faults faults = {0};
	fix_store_mem_init(&ms, 1 + (seqb & 7), 1 + (seqb >> 3 & 7), 0);
	ms.fail = store_fail;
	ms.fail_arg = &faults;
	if ((seqb >> 6) == 1)
		faults.fail_out_at = 3;
	else if ((seqb >> 6) == 2)
		faults.fail_in_at = 2;

	z->acceptor = cfgb & FZ_CFG_ACCEPTOR;
	z->us = z->acceptor ? FZ_EXCHANGE : FZ_CLIENT;
	z->peer = z->acceptor ? FZ_CLIENT : FZ_EXCHANGE;
	struct fix_session_cfg cfg;
	fix_session_cfg_init(&cfg);
	cfg.role = z->acceptor ? FIX_ACCEPTOR : FIX_INITIATOR;
	cfg.sender_comp_id = z->us;
	/* The acceptor learns its peer from the Logon unless RESET names it. */
	cfg.target_comp_id = z->acceptor && !(cfgb & FZ_CFG_RESET) ? NULL : z->peer;
	cfg.heartbeat_s = cfgb & FZ_CFG_HB1 ? 1 : 30;
	cfg.logon_timeout_ms = 5000;
	cfg.logout_timeout_ms = 2000;
	cfg.reset_on_logon = (cfgb & FZ_CFG_RESET) != 0;
	if (cfgb & FZ_CFG_CREDS) {
		cfg.username = FZ_CLIENT;
		cfg.password = "s3cret";
	}
	cfg.max_body = cfgb & FZ_CFG_SMALL_BODY ? 512 : 0;
	z->max_body = cfg.max_body;
	if (cfgb & FZ_CFG_NO_TIMECHECK)
		cfg.sending_time_tolerance_ms = INT64_MAX;
	cfg.store = cfgb & FZ_CFG_NO_STORE ? NULL : &ms.st;
	if (cfgb & FZ_CFG_TRACE) {
		cfg.trace = trace_cb;
		cfg.trace_ud = z;
	}
	z->s = fix_session_new(&cfg);
	CHECK(z->s);
	z->now = FZ_T0;
	(void)fix_session_start(z->s, z->now);
	drain_events(z);
	consume(z, SIZE_MAX);

	char *snap = NULL;
	size_t snap_cap = 0;
	while (z->i < z->n) {
		unsigned b = rd(z);
		z->now += fz_time_steps[b >> 4];
		/* Pending output before the op: it must still be there after. */
		size_t plen;
		const char *pend = fix_session_out(z->s, &plen);
		if (plen > snap_cap) {
			snap_cap = plen;
			free(snap);
			snap = malloc(snap_cap);
			CHECK(snap);
		}
		if (plen)
			memcpy(snap, pend, plen);
		int consumed = 0;
		size_t n;
		const char *p;
		switch (b & 15) {
		case FZ_OP_FEED_RAW:
			n = rd16(z);
			p = take(z, &n);
			feed(z, p, n);
			break;
		case FZ_OP_FEED_BODY:
			n = rd16(z);
			p = take(z, &n);
			feed_wrapped(z, p, n);
			break;
		case FZ_OP_TICK_DUE: {
			int64_t d = fix_session_deadline(z->s);
			if (d != INT64_MAX && d > z->now && d - z->now < INT64_C(86400000))
				z->now = d;
		}
		/* fall through */
		case FZ_OP_TICK:
			fix_session_tick(z->s, z->now);
			drain_events(z);
			CHECK(fix_session_deadline(z->s) > z->now);
			break;
		case FZ_OP_SEND:
			op_send(z);
			break;
		case FZ_OP_USER_REQ: {
			unsigned a = rd(z);
			(void)fix_session_user_request(z->s, "REQ1", (int)(a & 15), FZ_CLIENT,
						       a & 16 ? NULL : "s3cret", z->now);
			break;
		}
		case FZ_OP_USER_RESP: {
			unsigned a = rd(z);
			(void)fix_session_user_response(
			    z->s, z->req_id[0] ? z->req_id : "REQ1",
			    z->user[0] ? z->user : FZ_CLIENT, (int)(a & 127),
			    a & 128 ? NULL : "password incorrect", z->now);
			break;
		}
		case FZ_OP_LOGOUT:
			(void)fix_session_logout(z->s, rd(z) & 1 ? "bye" : NULL, z->now);
			break;
		case FZ_OP_ACCEPT:
			(void)fix_session_accept(z->s, z->now);
			break;
		case FZ_OP_REFUSE:
			(void)fix_session_refuse(z->s, "no such user", z->now);
			break;
		case FZ_OP_DISCONNECT:
			fix_session_disconnected(z->s, z->now);
			break;
		case FZ_OP_HOLD:
			z->hold = 1;
			break;
		case FZ_OP_CONSUME:
			consume(z, rd16(z));
			z->hold = 0;
			consumed = 1;
			break;
		case FZ_OP_SILENT:
			fix_session_fault_silent(z->s, rd(z) & 1);
			break;
		case FZ_OP_SKIP_SEQ:
			fix_session_fault_skip_seq(z->s, rd(z));
			break;
		case FZ_OP_FEED_MSG:
			feed_msg(z);
			break;
		}
		drain_events(z);
		if (!consumed) {
			size_t nlen;
			const char *np = fix_session_out(z->s, &nlen);
			CHECK(nlen >= plen && (plen == 0 || memcmp(np, snap, plen) == 0));
		}
		if (!z->hold)
			consume(z, SIZE_MAX);
	}
	free(snap);
	fix_session_free(z->s);
	fix_store_mem_free(&ms);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fz z;
	memset(&z, 0, sizeof(z));
	z.d = data;
	z.n = size;
	z.debug = getenv("FZ_DEBUG") != NULL;
	run(&z);
	free(z.acc);
	/* Keep the reads of event data alive without affecting the result. */
	if (z.sink == 0xdeadbeefu)
		fprintf(stderr, "~");
	return 0;
}
