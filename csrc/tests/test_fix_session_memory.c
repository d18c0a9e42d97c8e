/* test-deps: fix_session fix_store_mem fix_codec */
/* What a session holds: an idle logged-on session stays small (10,000 of
 * them share one process), and a burst grows the queue and buffers it needs
 * without losing or reordering a message. Reads the private struct on
 * purpose: the sizes are the behaviour under test. */
#include "fix_session_int.h"
#include "test_fix_session_helpers.h"

/* Heap the session owns: the struct and every block it allocated. */
static size_t held(const struct fix_session *s)
{
	return sizeof(*s) + s->in_cap + s->out_cap + s->pool_cap * sizeof(*s->pool) +
	       s->ev_cap * sizeof(*s->ev) + s->trace_cap;
}

static void test_idle_session_is_small(void)
{
	struct fix_session *s = client_logged_on(NULL);
	/* 16 KiB per session all told (case 22), of which the transport, the
	 * connection and the coordinator take about 3 KiB; this was 19 KiB alone. */
	T_OK(held(s) <= 6 * 1024);
	T_EQ_INT(s->ev_cap, EV_INITIAL);
	fix_session_free(s);
}

static void test_burst_grows_the_queue(void)
{
	struct fix_event ev;
	struct fix_session *s = client_logged_on(NULL);
	static char burst[300 * 128];
	size_t len = 0;
	for (int i = 0; i < 300; i++) {
		const char *m = W("35=8|49=" EXC "|56=" CLI "|34=%d|52=" T0S "|37=%d|", 2 + i, i);
		memcpy(burst + len, m, strlen(m));
		len += strlen(m);
	}
	int got = 0, calls = 0, order_ok = 1;
	size_t first = 0;
	for (size_t off = 0; off < len && calls < 1000; calls++) {
		size_t k = fix_session_feed(s, burst + off, len - off, T0);
		if (calls == 0)
			first = k;
		off += k;
		while (fix_session_poll_event(s, &ev)) {
			if (ev.type != FIX_EV_APP || ev.msg->seq_num != (uint64_t)(2 + got))
				order_ok = 0;
			got++;
		}
	}
	T_EQ_INT(got, 300);
	T_OK(order_ok);
	T_OK(first > 0);
	/* The queue doubled to its maximum, the input buffer grew past its
	 * start, and the next burst goes in with fewer calls. */
	T_EQ_INT(s->ev_cap, FIX_SESSION_MAX_EVENTS);
	T_OK(s->in_cap > IN_INITIAL);
	T_EQ_INT(fix_session_next_in_seq(s), 302);
	fix_session_free(s);
}

int main(void)
{
	T_RUN(test_idle_session_is_small);
	T_RUN(test_burst_grows_the_queue);
	return T_END();
}
