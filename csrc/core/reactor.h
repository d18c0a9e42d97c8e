/* The process-wide I/O thread: epoll for fd readiness, a min-heap of
 * CLOCK_MONOTONIC timers, and a command queue other threads use to hand it
 * work. One reactor serves every client in the process.
 *
 * Threading contract (why: callbacks and the structures they touch stay
 * single-threaded, so nothing needs a lock on the hot path):
 *   - reactor_acquire/release, reactor_post, reactor_call, reactor_now_ms and
 *     reactor_in_io_thread may be called from any thread;
 *   - everything else (watch/modify/unwatch, timer start/stop) must run on the
 *     I/O thread, i.e. inside a callback or a posted function; called from
 *     another thread it does nothing and returns -EPERM.
 * Callbacks may add and remove any watch or timer, including their own.
 * Functions returning int give 0 on success or a negative errno. */
#ifndef BT_REACTOR_H
#define BT_REACTOR_H

#include <stddef.h>
#include <stdint.h>

struct bt_reactor;

/* Interest and readiness bits for reactor_watch and its callback. */
enum {
	REACTOR_READ = 1u << 0,  /* readable (or peer closed its side) */
	REACTOR_WRITE = 1u << 1, /* writable (e.g. a non-blocking connect finished) */
	REACTOR_ERROR = 1u << 2, /* reported only: error on the fd (read SO_ERROR) */
	REACTOR_HUP = 1u << 3,   /* reported only: hang-up */
};

/* Called on the I/O thread with the ready bits (level-triggered). */
typedef void (*reactor_io_cb)(struct bt_reactor *r, int fd, unsigned events, void *ud);

/* Called on the I/O thread by reactor_post/reactor_call. */
typedef void (*reactor_fn)(struct bt_reactor *r, void *ud);

struct reactor_timer;
/* Called on the I/O thread when the timer expires; the timer is already
 * stopped, so the callback may restart it, free it, or leave it. */
typedef void (*reactor_timer_cb)(struct bt_reactor *r, struct reactor_timer *t, void *ud);

/* A one-shot timer embedded in the caller's own struct (no allocation, so a
 * session deadline cannot fail to arm). Fields are private to the reactor;
 * initialise with reactor_timer_init before first use. */
struct reactor_timer {
	int64_t due_ms;      /* private: absolute reactor_now_ms() deadline */
	uint64_t seq;        /* private: tie-break so equal deadlines fire in start order */
	size_t heap_idx;     /* private: position in the heap, SIZE_MAX when stopped */
	reactor_timer_cb cb; /* set by reactor_timer_init */
	void *ud;            /* set by reactor_timer_init */
};

/* Returns the process-wide reactor, starting its thread on first use; NULL
 * with a message in err on failure. Each acquire needs one release. */
struct bt_reactor *reactor_acquire(char *err, size_t errlen);

/* Drops one reference; the last one stops and joins the thread (after running
 * every function already posted) and frees the reactor. Watches still
 * registered are dropped (their fds are not closed; they belong to the caller). */
void reactor_release(struct bt_reactor *r);

/* Fork: the parent's reactor is not touched in a forked child (post and call
 * return -ESRCH there, release does nothing), and the child's first acquire
 * starts a fresh one. The generation changes in every forked child, so
 * handles made before the fork can tell they are inherited. */
unsigned reactor_fork_generation(void);

/* Milliseconds on CLOCK_MONOTONIC; the time base of every timer. */
int64_t reactor_now_ms(void);

/* Non-zero when the calling thread is r's I/O thread. */
int reactor_in_io_thread(const struct bt_reactor *r);

/* Runs fn(r, ud) on the I/O thread soon, in FIFO order; ud is the caller's to
 * manage. Any thread; -ENOMEM if the command cannot be queued. */
int reactor_post(struct bt_reactor *r, reactor_fn fn, void *ud);

/* Runs fn(r, ud) on the I/O thread and waits until it returned (inline when
 * already there). Any thread; never call it while holding a lock fn needs. */
int reactor_call(struct bt_reactor *r, reactor_fn fn, void *ud);

/* Starts watching fd (create it CLOEXEC and non-blocking) for READ/WRITE
 * interest; -EEXIST if fd is already watched. I/O thread only. */
int reactor_watch(struct bt_reactor *r, int fd, unsigned events, reactor_io_cb cb, void *ud);

/* Changes the interest set of a watched fd (0 pauses it); -ENOENT if not watched. */
int reactor_modify(struct bt_reactor *r, int fd, unsigned events);

/* Stops watching fd; its callback is not called again, even for events already
 * collected in this loop iteration. Call it before close(fd). */
int reactor_unwatch(struct bt_reactor *r, int fd);

/* If epoll itself fails (its fd closed or replaced by a bug elsewhere), no
 * fd event can come again: the reactor tells each hook once, on the I/O
 * thread, with the reason (each ends its sessions), leaves the process-wide
 * slot so that the next acquire starts a fresh reactor, and keeps running
 * posted functions and timers, so reactor_call and release never hang. */
struct reactor_failure_hook {
	void (*fn)(struct bt_reactor *r, const char *reason, void *ud);
	void *ud;
	struct reactor_failure_hook *prev, *next; /* private */
	int linked;                               /* private */
};

/* Adds / removes a hook (embedded in the caller's struct, zeroed but for fn
 * and ud). I/O thread only; removing an unlinked hook is a no-op. */
int reactor_on_failure(struct bt_reactor *r, struct reactor_failure_hook *h);
int reactor_failure_remove(struct bt_reactor *r, struct reactor_failure_hook *h);

/* Non-zero once epoll failed, with the reason copied. Any thread. */
int reactor_failure(struct bt_reactor *r, char *reason, size_t len);

/* Prepares a stopped timer; safe to call again on a stopped timer. */
void reactor_timer_init(struct reactor_timer *t, reactor_timer_cb cb, void *ud);

/* (Re)arms t to fire once after delay_ms (<= 0: on the next loop turn).
 * Restarting a running timer moves its deadline. I/O thread only. */
int reactor_timer_start(struct bt_reactor *r, struct reactor_timer *t, int64_t delay_ms);

/* Disarms t if it is running; a no-op otherwise. I/O thread only. */
int reactor_timer_stop(struct bt_reactor *r, struct reactor_timer *t);

/* Non-zero while t is armed. */
int reactor_timer_active(const struct reactor_timer *t);

#endif
