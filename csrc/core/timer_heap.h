/* The one timer heap: a binary min-heap of struct reactor_timer (reactor.h)
 * ordered by (due, start order). The reactor keeps its timers in one (the
 * exchange's connection deadlines among them, on its reactor); the Lua
 * scheduler (async.lua) keeps its await deadlines and after() timers in
 * another, through csrc/lua/timers.c, whose due values are not milliseconds
 * but order-preserving keys of its deadlines in seconds: nothing here reads
 * due as a unit, it only orders. Single-threaded: the owner of the heap
 * calls everything here. */
#ifndef BT_TIMER_HEAP_H
#define BT_TIMER_HEAP_H

#include <stddef.h>
#include <stdint.h>

#include "reactor.h"

struct bt_timer_heap {
	struct reactor_timer **t;
	size_t len, cap;
	uint64_t seq; /* start order: equal deadlines fire first started, first */
};

/* (Re)arms t (made with reactor_timer_init) to fire at due_ms, an absolute
 * time on the owner's clock. 0, or -ENOMEM with t left stopped. */
int bt_timer_heap_start(struct bt_timer_heap *h, struct reactor_timer *t, int64_t due_ms);

/* Disarms t if it is in h; a no-op otherwise. */
void bt_timer_heap_stop(struct bt_timer_heap *h, struct reactor_timer *t);

/* The earliest deadline, INT64_MAX when the heap is empty. */
int64_t bt_timer_heap_next(const struct bt_timer_heap *h);

/* Fires, in order, the timers due at now, each stopped before its callback
 * (called with r, which may be NULL outside the reactor). A timer (re)started
 * by a callback waits for the next call, so a callback re-arming itself at
 * now cannot starve the owner's I/O. */
void bt_timer_heap_run(struct bt_timer_heap *h, int64_t now, struct bt_reactor *r);

/* Stops every timer and frees the heap's array; h is empty and reusable. */
void bt_timer_heap_free(struct bt_timer_heap *h);

#endif
