/* test-deps: reactor */
/* The one timer heap (the reactor's and the exchange's): firing order by
 * deadline then start order, stop and restart anywhere in the heap, and a
 * timer re-armed by its own callback waiting for the next run. */
#include "t.h"
#include "timer_heap.h"

struct log {
	char buf[256];
	size_t len;
	struct bt_timer_heap *h;
	int rearm; /* the timer named 'r' re-arms itself at the same time once */
};

struct tm {
	struct reactor_timer t;
	char name;
	struct log *log;
};

static void fired(struct bt_reactor *r, struct reactor_timer *t, void *ud)
{
	(void)r;
	struct tm *m = ud;
	struct log *l = m->log;
	T_OK(!reactor_timer_active(t)); /* stopped before its callback */
	l->buf[l->len++] = m->name;
	l->buf[l->len] = '\0';
	if (m->name == 'r' && l->rearm) {
		l->rearm = 0;
		T_EQ_INT(bt_timer_heap_start(l->h, t, t->due_ms), 0);
	}
}

static void test_order_stop_restart_and_rearm(void)
{
	struct bt_timer_heap h = {0};
	struct log l = {.h = &h, .rearm = 1};
	struct tm m[26];
	const char *names = "abcdefghijklmnopqrstuvwxyz";
	for (int i = 0; i < 26; i++) {
		m[i].name = names[i];
		m[i].log = &l;
		reactor_timer_init(&m[i].t, fired, &m[i]);
	}
	T_EQ_INT(bt_timer_heap_next(&h), INT64_MAX);
	/* a..z due at 100 - i % 5 * 10: equal deadlines fire in start order */
	for (int i = 0; i < 26; i++)
		T_EQ_INT(bt_timer_heap_start(&h, &m[i].t, 100 - i % 5 * 10), 0);
	T_EQ_INT(bt_timer_heap_next(&h), 60);
	bt_timer_heap_stop(&h, &m[4].t);                   /* e (60) */
	bt_timer_heap_stop(&h, &m[4].t);                   /* twice: no-op */
	T_EQ_INT(bt_timer_heap_start(&h, &m[0].t, 55), 0); /* a moves first */
	T_EQ_INT(h.len, 25);
	bt_timer_heap_run(&h, 70, NULL);
	T_EQ_STR(l.buf, "ajotydinsx");
	/* r (due 80) re-arms itself at 80 while running: it, and what is due
	 * after it, wait for the next run (a callback cannot starve the loop) */
	bt_timer_heap_run(&h, 100, NULL);
	T_EQ_STR(l.buf, "ajotydinsxchmrw");
	T_EQ_INT(h.len, 11);
	T_EQ_INT(bt_timer_heap_next(&h), 80);
	bt_timer_heap_run(&h, 100, NULL);
	T_EQ_STR(l.buf, "ajotydinsxchmrwrbglqvfkpuz");
	T_EQ_INT(h.len, 0);
	T_EQ_INT(bt_timer_heap_next(&h), INT64_MAX);
	T_EQ_INT(bt_timer_heap_start(&h, &m[1].t, 5), 0);
	bt_timer_heap_free(&h);
	T_OK(!reactor_timer_active(&m[1].t));
	T_EQ_INT(h.len, 0);
}

int main(void)
{
	T_RUN(test_order_stop_restart_and_rearm);
	return T_END();
}
