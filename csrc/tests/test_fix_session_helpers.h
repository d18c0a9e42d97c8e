/* Helpers shared by the fix_session tests: wire frames built by the test
 * itself (BodyLength and CheckSum computed here, not by the codec's encoder,
 * so expected bytes are independent of the code under test), the in-memory
 * fix_store, and macros to check output bytes and events. */
#ifndef BT_TEST_FIX_SESSION_HELPERS_H
#define BT_TEST_FIX_SESSION_HELPERS_H

#include <stdarg.h>

#include "fix_session.h"
#include "fix_store_mem.h"
#include "t.h"

#define T0 1700000000000LL /* 20231114-22:13:20.000 */
#define T0S "20231114-22:13:20.000"
#define CLI "CLIENT0001"
#define EXC "BETA_EXCHANGE"
/* Header of a frame from the exchange to the client / client to exchange. */
#define FROM_EXC(type, seq, time) "35=" type "|49=" EXC "|56=" CLI "|34=" #seq "|52=" time "|"
#define FROM_CLI(type, seq, time) "35=" type "|49=" CLI "|56=" EXC "|34=" #seq "|52=" time "|"

static char w_bufs[16][8192];
static int w_next;

/* A whole frame from a printf-style body whose '|' become SOH: prepends
 * 8=FIX.4.4 and 9=, appends 10=. Returned in one of 16 rotating buffers. */
__attribute__((format(printf, 1, 2))) static inline const char *W(const char *fmt, ...)
{
	char body[4096];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(body, sizeof(body), fmt, ap);
	va_end(ap);
	for (char *p = body; *p; p++)
		if (*p == '|')
			*p = '\x01';
	char *out = w_bufs[w_next++ % 16];
	int n = snprintf(out, 8192,
			 "8=FIX.4.4\x01"
			 "9=%zu\x01%s",
			 strlen(body), body);
	unsigned sum = 0;
	for (int i = 0; i < n; i++)
		sum += (unsigned char)out[i];
	snprintf(out + n, 8192 - (size_t)n, "10=%03u\x01", sum % 256);
	return out;
}

/* Concatenation of two frames (rotating buffer too). */
static inline const char *CAT(const char *a, const char *b)
{
	char *out = w_bufs[w_next++ % 16];
	snprintf(out, 8192, "%s%s", a, b);
	return out;
}

/* UTCTimestamp of T0 + ms (rotating buffer). */
static inline const char *TS(int64_t ms)
{
	char *out = w_bufs[w_next++ % 16];
	fix_format_time(T0 + ms, out);
	return out;
}

/* ------------------------------------------------------------- tracing */

struct tracelog {
	char buf[16384];
	size_t len;
	int garbled;
};

static inline void tl_trace(void *ud, int dir, const char *f, size_t n)
{
	struct tracelog *t = ud;
	if (dir == FIX_TRACE_GARBLED)
		t->garbled++;
	if (t->len + n < sizeof(t->buf)) {
		memcpy(t->buf + t->len, f, n);
		t->len += n;
	}
}

static inline int mem_has(const char *h, size_t hn, const char *needle)
{
	size_t nn = strlen(needle);
	for (size_t i = 0; i + nn <= hn; i++)
		if (memcmp(h + i, needle, nn) == 0)
			return 1;
	return 0;
}

/* -------------------------------------------------------------- checks */

/* Everything queued for sending equals want; then it counts as written. */
#define EXPECT_OUT(s, want)                                 \
	do {                                                \
		size_t n_;                                  \
		const char *o_ = fix_session_out((s), &n_); \
		const char *w_ = (want);                    \
		T_EQ_MEM(o_, n_, w_, strlen(w_));           \
		fix_session_out_consume((s), n_);           \
	} while (0)

#define EXPECT_NO_OUT(s) EXPECT_OUT(s, "")

#define EXPECT_EV(s, ev, t)                               \
	do {                                              \
		T_OK(fix_session_poll_event((s), &(ev))); \
		T_EQ_INT((ev).type, (t));                 \
	} while (0)

#define EXPECT_NO_EV(s)                                        \
	do {                                                   \
		struct fix_event e_;                           \
		T_EQ_INT(fix_session_poll_event((s), &e_), 0); \
	} while (0)

#define FEED(s, w, now)                                                             \
	do {                                                                        \
		const char *f_ = (w);                                               \
		T_EQ_INT(fix_session_feed((s), f_, strlen(f_), (now)), strlen(f_)); \
	} while (0)

#define SV_EQ(sv, str) T_EQ_MEM((sv).ptr ? (sv).ptr : "", (sv).len, (str), strlen(str))

static inline void cfg_client(struct fix_session_cfg *c, struct fix_store *st)
{
	fix_session_cfg_init(c);
	c->sender_comp_id = CLI;
	c->target_comp_id = EXC;
	c->heartbeat_s = 30;
	c->store = st;
}

/* An initiator logged on at T0: Logon out (34=1), reply in (34=1), events
 * drained. Next out 2, next in 2. */
static inline struct fix_session *client_logged_on(struct fix_store *st)
{
	struct fix_session_cfg c;
	cfg_client(&c, st);
	struct fix_session *s = fix_session_new(&c);
	struct fix_event ev;
	fix_session_start(s, T0);
	EXPECT_OUT(s, W(FROM_CLI("A", 1, T0S) "98=0|108=30|"));
	FEED(s, W(FROM_EXC("A", 1, T0S) "98=0|108=30|"), T0);
	EXPECT_EV(s, ev, FIX_EV_LOGON);
	EXPECT_NO_EV(s);
	T_EQ_INT(fix_session_state(s), FIX_ST_ACTIVE);
	return s;
}

#endif
