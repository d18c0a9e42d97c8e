/* The one timer heap (see timer_heap.h). */
#include "timer_heap.h"

#include <errno.h>
#include <stdlib.h>

static int timer_less(const struct reactor_timer *a, const struct reactor_timer *b)
{
	return a->due_ms < b->due_ms || (a->due_ms == b->due_ms && a->seq < b->seq);
}

static void heap_set(struct bt_timer_heap *h, size_t i, struct reactor_timer *t)
{
	h->t[i] = t;
	t->heap_idx = i;
}

static void heap_up(struct bt_timer_heap *h, size_t i)
{
	struct reactor_timer *t = h->t[i];
	while (i > 0) {
		size_t p = (i - 1) / 2;
		if (!timer_less(t, h->t[p]))
			break;
		heap_set(h, i, h->t[p]);
		i = p;
	}
	heap_set(h, i, t);
}

static void heap_down(struct bt_timer_heap *h, size_t i)
{
	struct reactor_timer *t = h->t[i];
	for (;;) {
		size_t c = 2 * i + 1;
		if (c >= h->len)
			break;
		if (c + 1 < h->len && timer_less(h->t[c + 1], h->t[c]))
			c++;
		if (!timer_less(h->t[c], t))
			break;
		heap_set(h, i, h->t[c]);
		i = c;
	}
	heap_set(h, i, t);
}

void bt_timer_heap_stop(struct bt_timer_heap *h, struct reactor_timer *t)
{
	size_t i = t->heap_idx;
	if (i >= h->len || h->t[i] != t)
		return;
	struct reactor_timer *last = h->t[--h->len];
	t->heap_idx = SIZE_MAX;
	if (last == t)
		return;
	heap_set(h, i, last);
	if (i > 0 && timer_less(last, h->t[(i - 1) / 2]))
		heap_up(h, i);
	else
		heap_down(h, i);
}

int bt_timer_heap_start(struct bt_timer_heap *h, struct reactor_timer *t, int64_t due_ms)
{
	bt_timer_heap_stop(h, t);
	if (h->len == h->cap) {
		size_t cap = h->cap ? h->cap * 2 : 64;
		struct reactor_timer **p = realloc(h->t, cap * sizeof *p);
		if (!p)
			return -ENOMEM;
		h->t = p;
		h->cap = cap;
	}
	t->due_ms = due_ms;
	t->seq = h->seq++;
	heap_set(h, h->len++, t);
	heap_up(h, t->heap_idx);
	return 0;
}

int64_t bt_timer_heap_next(const struct bt_timer_heap *h)
{
	return h->len ? h->t[0]->due_ms : INT64_MAX;
}

void bt_timer_heap_run(struct bt_timer_heap *h, int64_t now, struct bt_reactor *r)
{
	uint64_t seq_limit = h->seq;
	while (h->len > 0) {
		struct reactor_timer *t = h->t[0];
		if (t->due_ms > now || t->seq >= seq_limit)
			break;
		bt_timer_heap_stop(h, t);
		t->cb(r, t, t->ud);
	}
}

void bt_timer_heap_free(struct bt_timer_heap *h)
{
	for (size_t i = 0; i < h->len; i++)
		h->t[i]->heap_idx = SIZE_MAX;
	free(h->t);
	h->t = NULL;
	h->len = h->cap = 0;
}
