/* The shared I/O thread: see reactor.h for the contract. */
#include "reactor.h"
#include "timer_heap.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

struct watch {
	int fd;
	unsigned events;
	int registered; /* in the epoll set (not while paused with 0 interest) */
	int dead;
	reactor_io_cb cb;
	void *ud;
	struct watch *next_dead;
};

struct cmd {
	reactor_fn fn;
	void *ud;
	struct cmd *next;
	/* reactor_call: the command lives on the caller's stack and is signalled
	 * when done, so a synchronous call never needs an allocation. */
	int sync;
	int done;
	pthread_cond_t *cond;
};

struct bt_reactor {
	unsigned gen; /* reactor_fork_generation() of the process that made it */
	int epfd;
	int wakefd;
	pthread_t thread;
	int refs; /* under singleton_lock */

	pthread_mutex_t qlock; /* protects the command queue and the flags below */
	struct cmd *qhead, *qtail;
	int stopping;
	int detached;      /* last release happened on the I/O thread itself */
	char failure[160]; /* why epoll broke, "" while healthy */

	/* I/O thread only from here on. */
	struct watch **watches; /* indexed by fd */
	size_t nwatches;
	struct watch *dead;
	struct bt_timer_heap timers;
	struct reactor_failure_hook *hooks; /* told once if epoll breaks */
};

/* The one global: the process-wide reactor and its reference count. */
static pthread_mutex_t singleton_lock = PTHREAD_MUTEX_INITIALIZER;
static struct bt_reactor *singleton;
/* Bumped in a forked child: a reactor of another generation has no thread
 * in this process (fork copies only the calling thread), so it is never
 * used, waited for or freed here; the child's next acquire makes a new one. */
static atomic_uint fork_gen;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void atfork_prepare(void)
{
	pthread_mutex_lock(&singleton_lock);
}

static void atfork_parent(void)
{
	pthread_mutex_unlock(&singleton_lock);
}

static void atfork_child(void)
{
	singleton = NULL; /* the parent's: left alone, its memory leaked */
	atomic_fetch_add(&fork_gen, 1);
	pthread_mutex_unlock(&singleton_lock);
}

static void atfork_register(void)
{
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
}

unsigned reactor_fork_generation(void)
{
	return atomic_load_explicit(&fork_gen, memory_order_relaxed);
}

/* Made by the parent of this (forked) process: no I/O thread here. */
static int inherited(const struct bt_reactor *r)
{
	return r->gen != reactor_fork_generation();
}

int64_t reactor_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int reactor_in_io_thread(const struct bt_reactor *r)
{
	return r && pthread_equal(pthread_self(), r->thread);
}

static void wake(struct bt_reactor *r)
{
	uint64_t one = 1;
	/* EAGAIN means the counter is already non-zero: the thread wakes anyway. */
	while (write(r->wakefd, &one, sizeof one) < 0 && errno == EINTR)
		;
}

/* ---- timers: the one timer heap (timer_heap.c) ---- */

void reactor_timer_init(struct reactor_timer *t, reactor_timer_cb cb, void *ud)
{
	memset(t, 0, sizeof *t);
	t->heap_idx = SIZE_MAX;
	t->cb = cb;
	t->ud = ud;
}

int reactor_timer_active(const struct reactor_timer *t)
{
	return t->heap_idx != SIZE_MAX;
}

int reactor_timer_start(struct bt_reactor *r, struct reactor_timer *t, int64_t delay_ms)
{
	if (!reactor_in_io_thread(r))
		return -EPERM;
	if (delay_ms < 0)
		delay_ms = 0;
	/* now is truncated to the millisecond, so up to 1 ms of it has already
	 * passed: one more keeps a timer from ever firing early. */
	int64_t now = reactor_now_ms();
	if (delay_ms > 0)
		delay_ms++;
	return bt_timer_heap_start(&r->timers, t,
				   delay_ms > INT64_MAX - now ? INT64_MAX : now + delay_ms);
}

int reactor_timer_stop(struct bt_reactor *r, struct reactor_timer *t)
{
	if (!reactor_in_io_thread(r))
		return -EPERM;
	bt_timer_heap_stop(&r->timers, t);
	return 0;
}

static int next_timeout(struct bt_reactor *r)
{
	int64_t next = bt_timer_heap_next(&r->timers);
	if (next == INT64_MAX)
		return -1;
	int64_t d = next - reactor_now_ms();
	if (d <= 0)
		return 0;
	return d > INT_MAX ? INT_MAX : (int)d;
}

/* ---- fd watches ---- */

static uint32_t to_epoll(unsigned events)
{
	uint32_t e = 0;
	if (events & REACTOR_READ)
		e |= EPOLLIN | EPOLLRDHUP;
	if (events & REACTOR_WRITE)
		e |= EPOLLOUT;
	return e;
}

static unsigned from_epoll(uint32_t e)
{
	unsigned ev = 0;
	if (e & (EPOLLIN | EPOLLRDHUP | EPOLLPRI))
		ev |= REACTOR_READ;
	if (e & EPOLLOUT)
		ev |= REACTOR_WRITE;
	if (e & EPOLLERR)
		ev |= REACTOR_ERROR;
	if (e & EPOLLHUP)
		ev |= REACTOR_HUP;
	return ev;
}

static struct watch *find_watch(struct bt_reactor *r, int fd)
{
	if (fd < 0 || (size_t)fd >= r->nwatches)
		return NULL;
	return r->watches[fd];
}

static int epoll_set(struct bt_reactor *r, struct watch *w, unsigned events)
{
	struct epoll_event ev = {.events = to_epoll(events), .data.ptr = w};
	if (events == 0) {
		/* Removed rather than registered with no interest: EPOLLHUP would
		 * still be reported level-triggered and spin the loop. */
		if (w->registered && epoll_ctl(r->epfd, EPOLL_CTL_DEL, w->fd, NULL) < 0)
			return -errno;
		w->registered = 0;
		return 0;
	}
	if (epoll_ctl(r->epfd, w->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, w->fd, &ev) < 0)
		return -errno;
	w->registered = 1;
	return 0;
}

int reactor_watch(struct bt_reactor *r, int fd, unsigned events, reactor_io_cb cb, void *ud)
{
	if (!reactor_in_io_thread(r))
		return -EPERM;
	if (fd < 0 || !cb)
		return -EINVAL;
	if (find_watch(r, fd))
		return -EEXIST;
	if ((size_t)fd >= r->nwatches) {
		size_t n = r->nwatches ? r->nwatches : 64;
		while (n <= (size_t)fd)
			n *= 2;
		struct watch **ws = realloc(r->watches, n * sizeof *ws);
		if (!ws)
			return -ENOMEM;
		memset(ws + r->nwatches, 0, (n - r->nwatches) * sizeof *ws);
		r->watches = ws;
		r->nwatches = n;
	}
	struct watch *w = calloc(1, sizeof *w);
	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->events = events & (REACTOR_READ | REACTOR_WRITE);
	w->cb = cb;
	w->ud = ud;
	int rc = epoll_set(r, w, w->events);
	if (rc < 0) {
		free(w);
		return rc;
	}
	r->watches[fd] = w;
	return 0;
}

int reactor_modify(struct bt_reactor *r, int fd, unsigned events)
{
	if (!reactor_in_io_thread(r))
		return -EPERM;
	struct watch *w = find_watch(r, fd);
	if (!w)
		return -ENOENT;
	events &= REACTOR_READ | REACTOR_WRITE;
	int rc = epoll_set(r, w, events);
	if (rc == 0)
		w->events = events;
	return rc;
}

int reactor_unwatch(struct bt_reactor *r, int fd)
{
	if (!reactor_in_io_thread(r))
		return -EPERM;
	struct watch *w = find_watch(r, fd);
	if (!w)
		return -ENOENT;
	if (w->registered)
		epoll_ctl(r->epfd, EPOLL_CTL_DEL, fd, NULL);
	r->watches[fd] = NULL;
	/* Freed after the current batch: events already returned by epoll_wait
	 * may still point at it. */
	w->dead = 1;
	w->next_dead = r->dead;
	r->dead = w;
	return 0;
}

static void free_dead(struct bt_reactor *r)
{
	while (r->dead) {
		struct watch *w = r->dead;
		r->dead = w->next_dead;
		free(w);
	}
}

/* ---- the command queue ---- */

static int enqueue(struct bt_reactor *r, struct cmd *c)
{
	pthread_mutex_lock(&r->qlock);
	int was_empty = r->qhead == NULL;
	c->next = NULL;
	if (r->qtail)
		r->qtail->next = c;
	else
		r->qhead = c;
	r->qtail = c;
	pthread_mutex_unlock(&r->qlock);
	if (was_empty)
		wake(r);
	return 0;
}

int reactor_post(struct bt_reactor *r, reactor_fn fn, void *ud)
{
	if (inherited(r))
		return -ESRCH;
	struct cmd *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	c->fn = fn;
	c->ud = ud;
	return enqueue(r, c);
}

int reactor_call(struct bt_reactor *r, reactor_fn fn, void *ud)
{
	if (reactor_in_io_thread(r)) {
		fn(r, ud);
		return 0;
	}
	if (inherited(r))
		return -ESRCH; /* nobody would ever run it */
	pthread_cond_t cond;
	pthread_cond_init(&cond, NULL);
	struct cmd c = {.fn = fn, .ud = ud, .sync = 1, .cond = &cond};
	enqueue(r, &c);
	pthread_mutex_lock(&r->qlock);
	while (!c.done)
		pthread_cond_wait(&cond, &r->qlock);
	pthread_mutex_unlock(&r->qlock);
	pthread_cond_destroy(&cond);
	return 0;
}

/* Runs queued commands until the queue is empty; returns non-zero when the
 * reactor is stopping (checked under the same lock, so nothing posted before
 * the last release is ever skipped). */
static int run_commands(struct bt_reactor *r)
{
	uint64_t buf;
	while (read(r->wakefd, &buf, sizeof buf) < 0 && errno == EINTR)
		;
	for (;;) {
		pthread_mutex_lock(&r->qlock);
		struct cmd *c = r->qhead;
		if (!c) {
			int stop = r->stopping;
			pthread_mutex_unlock(&r->qlock);
			return stop;
		}
		r->qhead = c->next;
		if (!r->qhead)
			r->qtail = NULL;
		pthread_mutex_unlock(&r->qlock);
		c->fn(r, c->ud);
		if (c->sync) {
			pthread_mutex_lock(&r->qlock);
			c->done = 1;
			pthread_cond_signal(c->cond);
			pthread_mutex_unlock(&r->qlock);
		} else {
			free(c);
		}
	}
}

/* ---- failure ---- */

int reactor_failure(struct bt_reactor *r, char *reason, size_t len)
{
	pthread_mutex_lock(&r->qlock);
	int failed = r->failure[0] != '\0';
	if (reason && len)
		snprintf(reason, len, "%s", r->failure);
	pthread_mutex_unlock(&r->qlock);
	return failed;
}

int reactor_on_failure(struct bt_reactor *r, struct reactor_failure_hook *h)
{
	if (!reactor_in_io_thread(r))
		return -EPERM;
	if (h->linked)
		return 0;
	h->prev = NULL;
	h->next = r->hooks;
	if (r->hooks)
		r->hooks->prev = h;
	r->hooks = h;
	h->linked = 1;
	return 0;
}

int reactor_failure_remove(struct bt_reactor *r, struct reactor_failure_hook *h)
{
	if (!reactor_in_io_thread(r))
		return -EPERM;
	if (!h->linked)
		return 0;
	if (h->prev)
		h->prev->next = h->next;
	else
		r->hooks = h->next;
	if (h->next)
		h->next->prev = h->prev;
	h->prev = h->next = NULL;
	h->linked = 0;
	return 0;
}

/* epoll itself broke (its fd closed or replaced under us): no fd event will
 * ever come again. Say so to every hook (each ends its sessions with the
 * reason), and leave the singleton slot, so that a later acquire gets a
 * working reactor. The thread keeps running commands and timers, so calls,
 * releases and teardowns still complete. */
static void fail_reactor(struct bt_reactor *r, int err)
{
	char reason[sizeof r->failure];
	snprintf(reason, sizeof reason, "epoll_wait: %s", strerror(err));
	pthread_mutex_lock(&r->qlock);
	snprintf(r->failure, sizeof r->failure, "%s", reason);
	pthread_mutex_unlock(&r->qlock);
	pthread_mutex_lock(&singleton_lock);
	if (singleton == r)
		singleton = NULL;
	pthread_mutex_unlock(&singleton_lock);
	while (r->hooks) {
		struct reactor_failure_hook *h = r->hooks;
		reactor_failure_remove(r, h);
		h->fn(r, reason, h->ud); /* may remove other hooks */
	}
}

/* What is left once epoll broke: wait on the wake-up eventfd alone. */
static void degraded_wait(struct bt_reactor *r)
{
	struct pollfd p = {.fd = r->wakefd, .events = POLLIN};
	if (poll(&p, 1, next_timeout(r)) < 0 && errno != EINTR) {
		struct timespec ts = {0, 10 * 1000 * 1000}; /* never spin */
		nanosleep(&ts, NULL);
	}
}

/* ---- the thread ---- */

static void reactor_free(struct bt_reactor *r)
{
	for (size_t i = 0; i < r->nwatches; i++)
		free(r->watches[i]);
	free(r->watches);
	free_dead(r);
	bt_timer_heap_free(&r->timers);
	if (r->epfd >= 0)
		close(r->epfd);
	if (r->wakefd >= 0)
		close(r->wakefd);
	pthread_mutex_destroy(&r->qlock);
	free(r);
}

static void *io_thread(void *arg)
{
	struct bt_reactor *r = arg;
	/* acquire() holds qlock around pthread_create, so r->thread is set
	 * before this thread compares against it. */
	pthread_mutex_lock(&r->qlock);
	pthread_mutex_unlock(&r->qlock);

	struct epoll_event evs[64];
	int broken = 0;
	for (;;) {
		if (run_commands(r))
			break;
		int n = 0;
		if (broken) {
			degraded_wait(r);
		} else {
			n = epoll_wait(r->epfd, evs, 64, next_timeout(r));
			if (n < 0 && errno != EINTR) {
				broken = 1;
				fail_reactor(r, errno);
			}
		}
		for (int i = 0; i < n; i++) {
			struct watch *w = evs[i].data.ptr;
			if (!w)
				continue; /* the wake-up eventfd: drained by run_commands */
			if (!w->dead)
				w->cb(r, w->fd, from_epoll(evs[i].events), w->ud);
		}
		free_dead(r);
		bt_timer_heap_run(&r->timers, reactor_now_ms(), r);
	}

	pthread_mutex_lock(&r->qlock);
	int detached = r->detached;
	pthread_mutex_unlock(&r->qlock);
	if (detached)
		reactor_free(r);
	return NULL;
}

static struct bt_reactor *reactor_create(char *err, size_t errlen)
{
	struct bt_reactor *r = calloc(1, sizeof *r);
	if (!r) {
		snprintf(err, errlen, "reactor: out of memory");
		return NULL;
	}
	r->epfd = r->wakefd = -1;
	r->gen = reactor_fork_generation();
	pthread_mutex_init(&r->qlock, NULL);
	r->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (r->epfd < 0) {
		snprintf(err, errlen, "reactor: epoll_create1: %s", strerror(errno));
		goto fail;
	}
	r->wakefd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (r->wakefd < 0) {
		snprintf(err, errlen, "reactor: eventfd: %s", strerror(errno));
		goto fail;
	}
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	if (epoll_ctl(r->epfd, EPOLL_CTL_ADD, r->wakefd, &ev) < 0) {
		snprintf(err, errlen, "reactor: epoll_ctl: %s", strerror(errno));
		goto fail;
	}
	/* The I/O thread takes no signals: they belong to the application's
	 * threads, and SIGPIPE on a dead socket must not kill the process. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_mutex_lock(&r->qlock);
	int rc = pthread_create(&r->thread, NULL, io_thread, r);
	pthread_mutex_unlock(&r->qlock);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "reactor: pthread_create: %s", strerror(rc));
		goto fail;
	}
	return r;
fail:
	reactor_free(r);
	return NULL;
}

struct bt_reactor *reactor_acquire(char *err, size_t errlen)
{
	char dummy[1];
	if (!err || errlen == 0) {
		err = dummy;
		errlen = sizeof dummy;
	}
	pthread_once(&atfork_once, atfork_register);
	pthread_mutex_lock(&singleton_lock);
	struct bt_reactor *r = singleton;
	if (!r) {
		r = reactor_create(err, errlen);
		singleton = r;
	}
	if (r)
		r->refs++;
	pthread_mutex_unlock(&singleton_lock);
	return r;
}

void reactor_release(struct bt_reactor *r)
{
	if (!r || inherited(r))
		return;
	pthread_mutex_lock(&singleton_lock);
	int last = --r->refs == 0;
	if (last && singleton == r)
		singleton = NULL;
	pthread_mutex_unlock(&singleton_lock);
	if (!last)
		return;

	int self = reactor_in_io_thread(r);
	pthread_mutex_lock(&r->qlock);
	r->stopping = 1;
	r->detached = self;
	pthread_mutex_unlock(&r->qlock);
	wake(r);
	if (self) {
		/* Cannot join ourselves: the thread frees r when its loop ends. */
		pthread_detach(r->thread);
		return;
	}
	pthread_join(r->thread, NULL);
	reactor_free(r);
}
