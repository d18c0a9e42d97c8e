/* test-deps: reactor */
/* The shared reactor (timers, watches, posts, lifecycle) and operations with
 * their completion queues, on real fds and a real I/O thread. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "op.h"
#include "reactor.h"
#include "srv_util.h"
#include "t.h"

static void sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000};
	nanosleep(&ts, NULL);
}

/* Waits (for liveness only, never as a speed assertion) until the I/O
 * thread signals fd. */
static int wait_fd(int fd, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	int rc = poll(&p, 1, timeout_ms);
	if (rc > 0) {
		uint64_t v;
		if (read(fd, &v, sizeof v) < 0)
			return 0;
	}
	return rc > 0;
}

static void signal_fd(int fd)
{
	uint64_t one = 1;
	if (write(fd, &one, sizeof one) < 0)
		abort();
}

static struct bt_reactor *acquire(void)
{
	char err[128];
	struct bt_reactor *r = reactor_acquire(err, sizeof err);
	if (!r)
		T_FAIL("reactor_acquire: %s", err);
	return r;
}

/* ---- timers ---- */

struct tctx {
	struct reactor_timer t[16];
	int order[16];
	int n, want;
	int64_t fired_at[16];
	int done_fd;
	int delays[16];
	int restart_idx, restart_ms;
	int stop_idx;
};

static void on_timer(struct bt_reactor *r, struct reactor_timer *t, void *ud)
{
	struct tctx *c = ud;
	int idx = (int)(t - c->t);
	c->fired_at[c->n] = reactor_now_ms();
	c->order[c->n++] = idx;
	if (c->n == c->want)
		signal_fd(c->done_fd);
}

static void start_timers(struct bt_reactor *r, void *ud)
{
	struct tctx *c = ud;
	for (int i = 0; c->delays[i] >= 0; i++) {
		reactor_timer_init(&c->t[i], on_timer, c);
		T_EQ_INT(reactor_timer_start(r, &c->t[i], c->delays[i]), 0);
	}
	if (c->stop_idx >= 0)
		T_EQ_INT(reactor_timer_stop(r, &c->t[c->stop_idx]), 0);
	if (c->restart_idx >= 0)
		T_EQ_INT(reactor_timer_start(r, &c->t[c->restart_idx], c->restart_ms), 0);
}

static void test_timers_order(void)
{
	struct bt_reactor *r = acquire();
	struct tctx c = {.done_fd = eventfd(0, EFD_CLOEXEC), .stop_idx = -1, .restart_idx = -1};
	int delays[] = {40, 10, 30, 0, 20, 20, -1};
	memcpy(c.delays, delays, sizeof delays);
	c.want = 6;
	int64_t t0 = reactor_now_ms();
	T_EQ_INT(reactor_call(r, start_timers, &c), 0);
	T_OK(wait_fd(c.done_fd, 5000));
	int want[] = {3, 1, 4, 5, 2, 0}; /* equal deadlines fire in start order */
	for (int i = 0; i < 6; i++)
		T_EQ_INT(c.order[i], want[i]);
	for (int i = 0; i < 6; i++)
		T_OK(c.fired_at[i] - t0 >= delays[c.order[i]]);
	close(c.done_fd);
	reactor_release(r);
}

static void test_timer_cancel_and_rearm(void)
{
	struct bt_reactor *r = acquire();
	struct tctx c = {
	    .done_fd = eventfd(0, EFD_CLOEXEC), .stop_idx = 0, .restart_idx = 1, .restart_ms = 60};
	int delays[] = {10, 5, 30, -1};
	memcpy(c.delays, delays, sizeof delays);
	c.want = 2;
	T_EQ_INT(reactor_call(r, start_timers, &c), 0);
	T_OK(wait_fd(c.done_fd, 5000));
	sleep_ms(30); /* give a wrongly-kept timer 0 the chance to show up */
	T_EQ_INT(c.n, 2);
	T_EQ_INT(c.order[0], 2); /* 1 was moved from 5 ms to 60 ms */
	T_EQ_INT(c.order[1], 1);
	close(c.done_fd);
	reactor_release(r);
}

/* Many timers with scattered deadlines fire in deadline order. */
struct many {
	struct reactor_timer *t;
	int n, fired, bad, done_fd;
	int64_t last_due;
};

static void on_many(struct bt_reactor *r, struct reactor_timer *t, void *ud)
{
	struct many *m = ud;
	if (t->due_ms < m->last_due)
		m->bad++;
	m->last_due = t->due_ms;
	if (++m->fired == m->n)
		signal_fd(m->done_fd);
}

static void start_many(struct bt_reactor *r, void *ud)
{
	struct many *m = ud;
	unsigned seed = 12345;
	for (int i = 0; i < m->n; i++) {
		seed = seed * 1103515245u + 12345u;
		reactor_timer_init(&m->t[i], on_many, m);
		reactor_timer_start(r, &m->t[i], (seed >> 16) % 50);
	}
}

static void test_many_timers(void)
{
	struct bt_reactor *r = acquire();
	struct many m = {.n = 5000, .done_fd = eventfd(0, EFD_CLOEXEC)};
	m.t = calloc((size_t)m.n, sizeof *m.t);
	reactor_call(r, start_many, &m);
	T_OK(wait_fd(m.done_fd, 10000));
	T_EQ_INT(m.fired, m.n);
	T_EQ_INT(m.bad, 0);
	free(m.t);
	close(m.done_fd);
	reactor_release(r);
}

/* A timer re-arming itself at 0 ms from its callback does not starve posts. */
struct spin {
	struct reactor_timer t;
	atomic_int stop;
	int turns;
};

static void on_spin(struct bt_reactor *r, struct reactor_timer *t, void *ud)
{
	struct spin *s = ud;
	s->turns++;
	if (!atomic_load(&s->stop))
		reactor_timer_start(r, t, 0);
}

static void start_spin(struct bt_reactor *r, void *ud)
{
	struct spin *s = ud;
	reactor_timer_init(&s->t, on_spin, s);
	reactor_timer_start(r, &s->t, 0);
}

static void stop_spin(struct bt_reactor *r, void *ud)
{
	struct spin *s = ud;
	atomic_store(&s->stop, 1);
	reactor_timer_stop(r, &s->t);
}

static void test_self_rearm(void)
{
	struct bt_reactor *r = acquire();
	struct spin s = {.turns = 0};
	reactor_call(r, start_spin, &s);
	sleep_ms(5);
	reactor_call(r, stop_spin, &s); /* returns only if posts still run */
	T_OK(s.turns > 0);
	reactor_release(r);
}

/* ---- posts ---- */

struct postctx {
	int counter; /* I/O thread only */
	int last[4];
	int out_of_order;
};
struct postarg {
	struct postctx *c;
	int thread, seq;
};

static void on_post(struct bt_reactor *r, void *ud)
{
	struct postarg *a = ud;
	if (!reactor_in_io_thread(r))
		a->c->out_of_order += 1000;
	if (a->seq != a->c->last[a->thread] + 1)
		a->c->out_of_order++;
	a->c->last[a->thread] = a->seq;
	a->c->counter++;
	free(a);
}

struct poster {
	struct bt_reactor *r;
	struct postctx *c;
	int thread;
};

static void *poster_main(void *p)
{
	struct poster *ps = p;
	for (int i = 1; i <= 2000; i++) {
		struct postarg *a = malloc(sizeof *a);
		*a = (struct postarg){ps->c, ps->thread, i};
		if (reactor_post(ps->r, on_post, a) < 0)
			abort();
	}
	return NULL;
}

static void nothing(struct bt_reactor *r, void *ud)
{
}

static void test_post_from_threads(void)
{
	struct bt_reactor *r = acquire();
	struct postctx c = {0};
	pthread_t th[4];
	struct poster ps[4];
	T_OK(!reactor_in_io_thread(r));
	for (int i = 0; i < 4; i++) {
		ps[i] = (struct poster){r, &c, i};
		pthread_create(&th[i], NULL, poster_main, &ps[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	reactor_call(r, nothing, NULL); /* FIFO: everything posted before ran */
	T_EQ_INT(c.counter, 8000);
	T_EQ_INT(c.out_of_order, 0);
	reactor_release(r);
}

/* ---- watches ---- */

struct wctx {
	int p1[2], p2[2];
	int got1, got2;
	int p2_unwatched;       /* on_p1 removed p2's watch */
	int got2_after_unwatch; /* must stay 0: the dead-watch guard */
	char buf[16];
	int done_fd;
	int gate_fd; /* holds the I/O thread until both pipes are readable */
	int eperm;
};

static void on_p2(struct bt_reactor *r, int fd, unsigned ev, void *ud)
{
	struct wctx *c = ud;
	char b;
	if (c->p2_unwatched)
		c->got2_after_unwatch++;
	if (read(fd, &b, 1) == 1)
		c->got2++;
}

static void wait_gate(struct bt_reactor *r, void *ud)
{
	struct wctx *c = ud;
	T_OK(wait_fd(c->gate_fd, 5000));
}

static void on_p1(struct bt_reactor *r, int fd, unsigned ev, void *ud)
{
	struct wctx *c = ud;
	T_OK(ev & REACTOR_READ);
	ssize_t n = read(fd, c->buf, sizeof c->buf - 1);
	c->buf[n > 0 ? n : 0] = '\0';
	c->got1++;
	/* Remove our own watch and the other one, possibly in the same batch. */
	T_EQ_INT(reactor_unwatch(r, fd), 0);
	T_EQ_INT(reactor_unwatch(r, c->p2[0]), 0);
	c->p2_unwatched = 1;
	signal_fd(c->done_fd);
}

static void watch_both(struct bt_reactor *r, void *ud)
{
	struct wctx *c = ud;
	T_EQ_INT(reactor_watch(r, c->p1[0], REACTOR_READ, on_p1, c), 0);
	T_EQ_INT(reactor_watch(r, c->p1[0], REACTOR_READ, on_p1, c), -EEXIST);
	T_EQ_INT(reactor_watch(r, c->p2[0], REACTOR_READ, on_p2, c), 0);
	T_EQ_INT(reactor_modify(r, c->p2[0], 0), 0); /* paused */
	T_EQ_INT(reactor_modify(r, c->p2[0], REACTOR_READ), 0);
	T_EQ_INT(reactor_modify(r, 12345, REACTOR_READ), -ENOENT);
}

static void test_watch_pipe(void)
{
	struct bt_reactor *r = acquire();
	struct wctx c = {.done_fd = eventfd(0, EFD_CLOEXEC), .gate_fd = eventfd(0, EFD_CLOEXEC)};
	T_EQ_INT(pipe2(c.p1, O_CLOEXEC | O_NONBLOCK), 0);
	T_EQ_INT(pipe2(c.p2, O_CLOEXEC | O_NONBLOCK), 0);
	T_EQ_INT(reactor_watch(r, c.p1[0], REACTOR_READ, on_p1, &c), -EPERM);
	reactor_call(r, watch_both, &c);
	/* Both readable before the thread looks (it waits for the gate), p1
	 * first: one epoll batch, in which on_p1 removes p2's watch before p2's
	 * event is handled. Its callback must not run. */
	T_EQ_INT(reactor_post(r, wait_gate, &c), 0);
	T_EQ_INT(write(c.p1[1], "hello", 5), 5);
	T_EQ_INT(write(c.p2[1], "y", 1), 1);
	signal_fd(c.gate_fd);
	T_OK(wait_fd(c.done_fd, 5000));
	reactor_call(r, nothing, NULL);
	T_EQ_INT(c.got1, 1);
	T_EQ_INT(c.got2, 0);
	T_EQ_INT(c.got2_after_unwatch, 0);
	T_EQ_STR(c.buf, "hello");
	/* Unwatched: more data calls nobody. */
	T_EQ_INT(write(c.p1[1], "x", 1), 1);
	sleep_ms(20);
	reactor_call(r, nothing, NULL);
	T_EQ_INT(c.got1, 1);
	for (int i = 0; i < 2; i++) {
		close(c.p1[i]);
		close(c.p2[i]);
	}
	close(c.done_fd);
	close(c.gate_fd);
	reactor_release(r);
}

/* ---- epoll failure ---- */

struct fctx {
	struct reactor_failure_hook hook;
	struct reactor_timer timer;
	int hook_fd, timer_fd;
	int calls;
	char reason[160];
	int ran;
};

static void on_fail(struct bt_reactor *r, const char *reason, void *ud)
{
	struct fctx *c = ud;
	c->calls++;
	snprintf(c->reason, sizeof c->reason, "%s", reason);
	signal_fd(c->hook_fd);
}

static void add_hook(struct bt_reactor *r, void *ud)
{
	struct fctx *c = ud;
	T_EQ_INT(reactor_on_failure(r, &c->hook), 0);
}

static void on_fail_timer(struct bt_reactor *r, struct reactor_timer *t, void *ud)
{
	signal_fd(((struct fctx *)ud)->timer_fd);
}

static void start_fail_timer(struct bt_reactor *r, void *ud)
{
	struct fctx *c = ud;
	c->ran++;
	T_EQ_INT(reactor_timer_start(r, &c->timer, 10), 0);
}

/* Last: it breaks the process's epoll fds. */
static void test_epoll_failure_is_reported_and_nothing_hangs(void)
{
	struct bt_reactor *r = acquire();
	struct fctx c = {.hook_fd = eventfd(0, EFD_CLOEXEC), .timer_fd = eventfd(0, EFD_CLOEXEC)};
	c.hook.fn = on_fail;
	c.hook.ud = &c;
	reactor_timer_init(&c.timer, on_fail_timer, &c);
	reactor_call(r, add_hook, &c);
	T_EQ_INT(reactor_failure(r, NULL, 0), 0);
	T_OK(srv_break_epoll() >= 1);
	reactor_call(r, nothing, NULL); /* wakes it: the next epoll_wait fails */
	T_OK(wait_fd(c.hook_fd, 5000));
	/* still serving commands and timers: calls return, timers fire */
	reactor_call(r, start_fail_timer, &c);
	T_EQ_INT(c.ran, 1);
	T_OK(wait_fd(c.timer_fd, 5000));
	reactor_call(r, nothing, NULL); /* orders the hook's writes before our reads */
	T_EQ_INT(c.calls, 1);
	T_OK(strstr(c.reason, "epoll_wait") != NULL);
	char why[160];
	T_EQ_INT(reactor_failure(r, why, sizeof why), 1);
	T_EQ_STR(why, c.reason);
	/* the next acquire starts a working reactor */
	struct bt_reactor *r2 = acquire();
	T_OK(r2 != r);
	T_EQ_INT(reactor_failure(r2, NULL, 0), 0);
	reactor_call(r2, start_fail_timer, &c);
	T_OK(wait_fd(c.timer_fd, 5000));
	reactor_release(r2);
	reactor_release(r); /* joins: the thread is alive */
	close(c.hook_fd);
	close(c.timer_fd);
}

/* ---- lifecycle ---- */

static void test_acquire_release_cycles(void)
{
	/* A warm-up cycle first: ThreadSanitizer starts a helper thread of its
	 * own on the first pthread_create. */
	reactor_release(acquire());
	int tasks0 = srv_count_dir("/proc/self/task");
	int fds0 = srv_count_dir("/proc/self/fd");
	for (int i = 0; i < 20; i++) {
		struct bt_reactor *a = acquire();
		struct bt_reactor *b = acquire();
		T_OK(a == b);
		T_EQ_INT(srv_count_dir("/proc/self/task"), tasks0 + 1);
		reactor_release(a);
		T_EQ_INT(srv_count_dir("/proc/self/task"), tasks0 + 1);
		reactor_call(b, nothing, NULL);
		reactor_release(b);
		T_EQ_INT(srv_threads_settle(tasks0), tasks0);
	}
#ifndef __SANITIZE_THREAD__
	T_EQ_INT(tasks0, 1);
#endif
	T_EQ_INT(srv_count_dir("/proc/self/fd"), fds0);
}

/* The last release may happen on the I/O thread itself (a callback dropping
 * the final reference): the thread then cleans up after itself. */
static void release_here(struct bt_reactor *r, void *ud)
{
	reactor_release(r);
	signal_fd(*(int *)ud);
}

static void test_release_on_io_thread(void)
{
	int efd = eventfd(0, EFD_CLOEXEC);
	int tasks0 = srv_count_dir("/proc/self/task");
	int fds0 = srv_count_dir("/proc/self/fd");
	struct bt_reactor *r = acquire();
	reactor_post(r, release_here, &efd);
	T_OK(wait_fd(efd, 5000));
	int i;
	for (i = 0; i < 500 && srv_count_dir("/proc/self/task") != tasks0; i++)
		sleep_ms(10);
	T_EQ_INT(srv_threads_settle(tasks0), tasks0);
	T_EQ_INT(srv_count_dir("/proc/self/fd"), fds0);
	close(efd);
}

/* ---- operations and completion queues ---- */

static void test_op_first_wins(void)
{
	struct bt_reactor *r = acquire();
	struct bt_cq *cq = bt_cq_new(r, NULL, 0);
	struct bt_op *a = bt_op_new(cq), *b = bt_op_new(cq), *c = bt_op_new(cq);
	T_OK(bt_op_id(a) != bt_op_id(b));
	T_EQ_INT(bt_op_status(a), BT_OP_PENDING);
	T_EQ_INT(bt_op_succeed(a, 2, (struct bt_value[]){BT_VSTR("CLIENT0001"), BT_VINT(42)}), 1);
	T_EQ_INT(bt_op_fail(a, BT_E_TIMEOUT, "late"), 0);
	T_EQ_INT(bt_op_cancel(a), 0);
	T_EQ_INT(bt_op_status(a), BT_OP_DONE);
	T_EQ_INT(bt_op_nvalues(a), 2);
	T_EQ_STR(bt_op_value(a, 0)->s, "CLIENT0001");
	T_EQ_INT(bt_op_value(a, 1)->i, 42);
	T_OK(bt_op_value(a, 2) == NULL);
	T_OK(bt_op_message(a) == NULL);

	T_EQ_INT(bt_op_fail(b, BT_E_REFUSED, "connection refused by %s:%d", "127.0.0.1", 9), 1);
	T_EQ_INT(bt_op_succeed(b, 0, NULL), 0);
	T_EQ_STR(bt_op_message(b), "connection refused by 127.0.0.1:9");
	T_EQ_STR(bt_op_code(b), "refused");
	T_EQ_INT(bt_op_nvalues(b), 0);

	T_EQ_INT(bt_op_cancel(c), 1);
	T_EQ_INT(bt_op_succeed(c, 0, NULL), 0);
	T_EQ_STR(bt_op_code(c), "cancelled");
	T_EQ_INT(bt_op_set_cancel(c, NULL, NULL), -ECANCELED);
	T_EQ_INT(bt_op_set_cancel(a, NULL, NULL), -EALREADY);

	/* One event per op, in completion order, plus a user event between. */
	T_EQ_INT(bt_cq_wait(cq, 0), 1);
	struct bt_event ev[8];
	T_EQ_INT(bt_cq_post_event(
		     cq, 7, "state", 3,
		     (struct bt_value[]){BT_VSTR("Active"), BT_VSTR("Authenticating"), BT_VNIL}),
		 0);
	T_EQ_INT(bt_cq_post_event(cq, 7, "x", BT_MAX_VALUES + 1, ev[0].v), -EINVAL);
	size_t n = bt_cq_drain(cq, ev, 8);
	T_EQ_INT(n, 4);
	T_EQ_INT(ev[0].kind, BT_EVENT_OP);
	T_OK(ev[0].op == a && ev[0].id == bt_op_id(a));
	T_OK(ev[1].op == b && ev[2].op == c);
	T_EQ_INT(ev[3].kind, BT_EVENT_USER);
	T_EQ_INT(ev[3].id, 7);
	T_EQ_STR(ev[3].name, "state");
	T_EQ_INT(ev[3].n, 3);
	T_EQ_STR(ev[3].v[1].s, "Authenticating");
	T_EQ_INT(ev[3].v[2].type, BT_VAL_NIL);
	for (size_t i = 0; i < n; i++)
		bt_event_clear(&ev[i]);
	T_EQ_INT(bt_cq_wait(cq, 0), 0); /* drained: the eventfd is reset */
	bt_op_unref(a);
	bt_op_unref(b);
	bt_op_unref(c);
	bt_cq_close(cq);
	reactor_release(r);
}

/* A producer on the I/O thread: completes from a timer, aborts on cancel. */
struct producer {
	struct reactor_timer t;
	struct bt_op *op;
	struct bt_reactor *r;
	atomic_int *cancelled_on_io;
	int delay_ms;
};

static void prod_free(struct producer *p)
{
	bt_op_unref(p->op);
	free(p);
}

static void prod_fire(struct bt_reactor *r, struct reactor_timer *t, void *ud)
{
	struct producer *p = ud;
	bt_op_succeed(p->op, 1, (struct bt_value[]){BT_VSTR("tok")});
	prod_free(p);
}

static void prod_cancel(struct bt_op *op, void *ud)
{
	struct producer *p = ud;
	if (reactor_in_io_thread(p->r))
		atomic_fetch_add(p->cancelled_on_io, 1);
	reactor_timer_stop(p->r, &p->t);
	prod_free(p);
}

static void prod_start(struct bt_reactor *r, void *ud)
{
	struct producer *p = ud;
	if (bt_op_set_cancel(p->op, prod_cancel, p) < 0) {
		prod_free(p);
		return;
	}
	reactor_timer_init(&p->t, prod_fire, p);
	reactor_timer_start(r, &p->t, p->delay_ms);
}

static struct bt_op *produce(struct bt_reactor *r, struct bt_cq *cq, atomic_int *flag, int ms)
{
	struct producer *p = calloc(1, sizeof *p);
	p->delay_ms = ms;
	p->r = r;
	p->op = bt_op_new(cq);
	p->cancelled_on_io = flag;
	struct bt_op *op = bt_op_ref(p->op);
	reactor_post(r, prod_start, p);
	return op;
}

static void test_op_from_io_thread(void)
{
	atomic_int cancelled = 0;
	struct bt_reactor *r = acquire();
	struct bt_cq *cq = bt_cq_new(r, NULL, 0);
	struct bt_op *done = produce(r, cq, &cancelled, 20);
	struct bt_op *cancel = produce(r, cq, &cancelled, 20);
	struct bt_op *closed = produce(r, cq, &cancelled, 60000);
	int pfd = bt_op_pollfd(done);
	T_OK(pfd >= 0);
	T_EQ_INT(bt_op_pollfd(done), pfd);
	reactor_call(r, nothing, NULL); /* the producers have set their hooks */
	T_EQ_INT(bt_op_cancel(cancel), 1);

	struct pollfd p = {.fd = pfd, .events = POLLIN};
	T_EQ_INT(poll(&p, 1, 5000), 1);
	T_EQ_INT(bt_op_status(done), BT_OP_DONE);
	T_EQ_STR(bt_op_value(done, 0)->s, "tok");
	reactor_call(r, nothing, NULL);
	T_EQ_INT(atomic_load(&cancelled), 1);

	struct bt_event ev[4];
	size_t n = 0;
	while (n < 2 && bt_cq_wait(cq, 5000) == 1)
		n += bt_cq_drain(cq, ev + n, 4 - n);
	T_EQ_INT(n, 2);
	T_OK(ev[0].op == cancel); /* cancelled at once, the other 20 ms later */
	T_OK(ev[1].op == done);
	for (size_t i = 0; i < n; i++)
		bt_event_clear(&ev[i]);

	/* Closing the queue cancels what is still pending, hooks on the I/O thread. */
	bt_cq_close(cq);
	T_EQ_INT(bt_op_status(closed), BT_OP_CANCELLED);
	reactor_call(r, nothing, NULL);
	T_EQ_INT(atomic_load(&cancelled), 2);
	bt_op_unref(done);
	bt_op_unref(cancel);
	bt_op_unref(closed);
	reactor_release(r);
}

/* A cancel racing a completion from another thread: exactly one wins, and
 * exactly one event reaches the queue. */
struct racer {
	struct bt_op *op;
	atomic_int go;
};

static void *race_succeed(void *p)
{
	struct racer *rc = p;
	while (!atomic_load(&rc->go))
		;
	bt_op_succeed(rc->op, 1, (struct bt_value[]){BT_VINT(1)});
	return NULL;
}

static void test_op_race(void)
{
	struct bt_reactor *r = acquire();
	struct bt_cq *cq = bt_cq_new(r, NULL, 0);
	for (int i = 0; i < 200; i++) {
		struct racer rc = {.op = bt_op_new(cq)};
		pthread_t th;
		pthread_create(&th, NULL, race_succeed, &rc);
		atomic_store(&rc.go, 1);
		int won = bt_op_cancel(rc.op);
		pthread_join(th, NULL);
		int st = bt_op_status(rc.op);
		T_OK(won ? st == BT_OP_CANCELLED : st == BT_OP_DONE);
		struct bt_event ev[2];
		T_EQ_INT(bt_cq_drain(cq, ev, 2), 1);
		bt_event_clear(&ev[0]);
		bt_op_unref(rc.op);
	}
	bt_cq_close(cq);
	reactor_release(r);
}

static void test_op_without_cq(void)
{
	struct bt_op *op = bt_op_new(NULL);
	T_EQ_INT(bt_op_id(op), 0);
	T_EQ_INT(bt_op_succeed(op, BT_MAX_VALUES + 1, NULL), 1); /* misuse fails the op */
	T_EQ_INT(bt_op_status(op), BT_OP_FAILED);
	T_EQ_STR(bt_op_code(op), "invalid_state");
	int fd = bt_op_pollfd(op); /* created after completion: readable at once */
	struct pollfd p = {.fd = fd, .events = POLLIN};
	T_EQ_INT(poll(&p, 1, 0), 1);
	bt_op_unref(op);
	bt_op_unref(NULL);
}

/* The one table of stable codes: every enum value has its own lowercase
 * name, and a name read back (from the transport, the session or Lua) is
 * the same enum. */
static void test_err_codes(void)
{
	static const char *const want[BT_ERR_COUNT_] = {
	    "",
	    "timeout",
	    "refused",
	    "connect_failed",
	    "tls_failed",
	    "http_status",
	    "bad_response",
	    "rejected",
	    "disconnected",
	    "protocol",
	    "invalid_state",
	    "cancelled",
	    "nomem",
	    "store",
	    "busy",
	};
	for (int e = 0; e < BT_ERR_COUNT_; e++) {
		T_EQ_STR(bt_err_code((enum bt_err)e), want[e]);
		if (e != BT_ERR_NONE)
			T_EQ_INT(bt_err_from_code(want[e]), e);
	}
	T_EQ_STR(BT_E_TIMEOUT, "timeout");
	T_EQ_STR(BT_E_BUSY, "busy");
	T_EQ_INT(bt_err_from_code("no such code"), BT_ERR_PROTOCOL);
	T_EQ_INT(bt_err_from_code(""), BT_ERR_PROTOCOL);
	T_EQ_INT(bt_err_from_code(NULL), BT_ERR_PROTOCOL);
	T_EQ_STR(bt_err_code(BT_ERR_COUNT_), "protocol");
}

int main(void)
{
	int fds0 = srv_count_dir("/proc/self/fd");
	T_RUN(test_acquire_release_cycles);
	T_RUN(test_timers_order);
	T_RUN(test_timer_cancel_and_rearm);
	T_RUN(test_many_timers);
	T_RUN(test_self_rearm);
	T_RUN(test_post_from_threads);
	T_RUN(test_watch_pipe);
	T_RUN(test_release_on_io_thread);
	T_RUN(test_op_first_wins);
	T_RUN(test_op_from_io_thread);
	T_RUN(test_op_race);
	T_RUN(test_err_codes);
	T_RUN(test_op_without_cq);
	T_RUN(test_acquire_release_cycles);
	T_RUN(test_epoll_failure_is_reported_and_nothing_hangs);
	if (srv_count_dir("/proc/self/fd") != fds0) {
		printf("FAIL fd leak: %d -> %d\n", fds0, srv_count_dir("/proc/self/fd"));
		return 1;
	}
	return T_END();
}
