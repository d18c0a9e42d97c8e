/* Operations and completion queues: see op.h for the contract. */
#include "op.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "reactor.h"

/* A queued item: ops are their own queue node (each finishes once), so a
 * completion can never be lost to a failed allocation. */
struct cq_node {
	struct cq_node *next;
	enum bt_event_kind kind;
};

/* One allocation per event: the name and the string values live in data[],
 * which a drained event keeps (its name points there) until bt_event_clear. */
struct user_event {
	struct cq_node node;
	uint64_t target;
	int n;
	struct bt_value v[BT_MAX_VALUES];
	char data[]; /* name, NUL, then each string value and a NUL */
};

static struct user_event *user_event_of(char *name)
{
	return (struct user_event *)(name - offsetof(struct user_event, data));
}

struct bt_cq {
	atomic_int refs;
	atomic_uint_fast64_t next_id;
	pthread_mutex_t lock; /* everything below */
	int efd;
	struct bt_reactor *r;
	int closed;
	struct cq_node *head, *tail;
	struct bt_op *pending; /* ops not yet finished, so close can cancel them */
};

struct bt_op {
	struct cq_node node; /* first: a queued node is converted back to its op */
	atomic_int refs;
	atomic_int status;
	pthread_mutex_t lock; /* results, hook and efd */
	struct bt_cq *cq;     /* a reference, or NULL */
	uint64_t id;
	struct bt_op *pprev, *pnext; /* cq->pending, under cq->lock */
	int in_pending;
	int n;
	struct bt_value v[BT_MAX_VALUES];
	char *message;
	char code[24];
	bt_op_cancel_fn cancel_fn;
	void *cancel_ud;
	int efd;
};

/* ---- values ---- */

static void free_values(struct bt_value *v, int n)
{
	for (int i = 0; i < n; i++) {
		if (v[i].type == BT_VAL_STR)
			free((char *)v[i].s);
		v[i] = BT_VNIL;
	}
}

/* Deep-copies n values; every string gets a NUL after its len bytes. */
static int copy_values(struct bt_value *dst, int n, const struct bt_value *src)
{
	for (int i = 0; i < n; i++) {
		dst[i] = src[i];
		if (src[i].type != BT_VAL_STR)
			continue;
		const char *s = src[i].s ? src[i].s : "";
		size_t len = src[i].len == SIZE_MAX ? strlen(s) : src[i].len;
		char *c = malloc(len + 1);
		if (!c) {
			dst[i] = BT_VNIL;
			free_values(dst, i);
			return -ENOMEM;
		}
		memcpy(c, s, len);
		c[len] = '\0';
		dst[i].s = c;
		dst[i].len = len;
	}
	return 0;
}

static void signal_fd(int fd)
{
	uint64_t one = 1;
	while (write(fd, &one, sizeof one) < 0 && errno == EINTR)
		;
}

/* ---- completion queue ---- */

struct bt_cq *bt_cq_new(struct bt_reactor *r, char *err, size_t errlen)
{
	struct bt_cq *cq = calloc(1, sizeof *cq);
	if (!cq) {
		snprintf(err, errlen, "completion queue: out of memory");
		return NULL;
	}
	cq->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (cq->efd < 0) {
		snprintf(err, errlen, "completion queue: eventfd: %s", strerror(errno));
		free(cq);
		return NULL;
	}
	atomic_init(&cq->refs, 1);
	atomic_init(&cq->next_id, 1);
	pthread_mutex_init(&cq->lock, NULL);
	cq->r = r;
	return cq;
}

static void free_node(struct cq_node *nd)
{
	if (nd->kind == BT_EVENT_OP) {
		bt_op_unref((struct bt_op *)nd);
	} else {
		free(nd);
	}
}

static void cq_unref(struct bt_cq *cq)
{
	if (atomic_fetch_sub(&cq->refs, 1) != 1)
		return;
	while (cq->head) {
		struct cq_node *nd = cq->head;
		cq->head = nd->next;
		free_node(nd);
	}
	close(cq->efd);
	pthread_mutex_destroy(&cq->lock);
	free(cq);
}

void bt_cq_close(struct bt_cq *cq)
{
	if (!cq)
		return;
	pthread_mutex_lock(&cq->lock);
	cq->closed = 1;
	struct cq_node *q = cq->head;
	cq->head = cq->tail = NULL;
	struct bt_op *pend = cq->pending;
	cq->pending = NULL;
	for (struct bt_op *op = pend; op; op = op->pnext) {
		op->in_pending = 0;
		bt_op_ref(op);
	}
	pthread_mutex_unlock(&cq->lock);

	while (q) {
		struct cq_node *nd = q;
		q = nd->next;
		free_node(nd);
	}
	while (pend) {
		struct bt_op *op = pend;
		pend = op->pnext;
		op->pnext = op->pprev = NULL;
		bt_op_cancel(op);
		bt_op_unref(op);
	}
	/* The owner releases its reactor next: later cancels run no hook. */
	pthread_mutex_lock(&cq->lock);
	cq->r = NULL;
	pthread_mutex_unlock(&cq->lock);
	cq_unref(cq);
}

int bt_cq_fd(const struct bt_cq *cq)
{
	return cq->efd;
}

uint64_t bt_cq_next_id(struct bt_cq *cq)
{
	return atomic_fetch_add(&cq->next_id, 1);
}

int bt_cq_wait(struct bt_cq *cq, int timeout_ms)
{
	struct pollfd p = {.fd = cq->efd, .events = POLLIN};
	int rc = poll(&p, 1, timeout_ms);
	if (rc < 0)
		return errno == EINTR ? 0 : -errno;
	return rc > 0;
}

/* Appends a node and signals; drops it (returns -EPIPE) once closed. */
static int cq_push(struct bt_cq *cq, struct cq_node *nd)
{
	pthread_mutex_lock(&cq->lock);
	if (cq->closed) {
		pthread_mutex_unlock(&cq->lock);
		return -EPIPE;
	}
	nd->next = NULL;
	if (cq->tail) {
		/* already signalled: the eventfd stays readable until a drain empties
		 * the queue, so one write per batch is enough */
		cq->tail->next = nd;
	} else {
		cq->head = nd;
		signal_fd(cq->efd);
	}
	cq->tail = nd;
	pthread_mutex_unlock(&cq->lock);
	return 0;
}

size_t bt_cq_drain(struct bt_cq *cq, struct bt_event *out, size_t max)
{
	size_t k = 0;
	pthread_mutex_lock(&cq->lock);
	while (k < max && cq->head) {
		struct cq_node *nd = cq->head;
		cq->head = nd->next;
		struct bt_event *ev = &out[k++];
		memset(ev, 0, sizeof *ev);
		ev->kind = nd->kind;
		if (nd->kind == BT_EVENT_OP) {
			ev->op = (struct bt_op *)nd; /* the queue's reference moves */
			ev->id = ev->op->id;
		} else {
			struct user_event *u = (struct user_event *)nd;
			ev->id = u->target;
			ev->name = u->data; /* the event now owns u */
			ev->n = u->n;
			memcpy(ev->v, u->v, sizeof ev->v);
		}
	}
	if (!cq->head) {
		cq->tail = NULL;
		uint64_t buf;
		while (read(cq->efd, &buf, sizeof buf) < 0 && errno == EINTR)
			;
	}
	pthread_mutex_unlock(&cq->lock);
	return k;
}

void bt_event_clear(struct bt_event *ev)
{
	if (ev->kind == BT_EVENT_OP)
		bt_op_unref(ev->op);
	else if (ev->kind == BT_EVENT_USER && ev->name)
		free(user_event_of(ev->name)); /* its strings too */
	memset(ev, 0, sizeof *ev);
}

int bt_cq_post_event(struct bt_cq *cq, uint64_t target, const char *name, int n,
		     const struct bt_value *vals)
{
	if (!cq || !name || n < 0 || n > BT_MAX_VALUES || (n > 0 && !vals))
		return -EINVAL;
	size_t lens[BT_MAX_VALUES];
	size_t nlen = strlen(name);
	size_t size = sizeof(struct user_event) + nlen + 1;
	for (int i = 0; i < n; i++) {
		if (vals[i].type != BT_VAL_STR)
			continue;
		const char *str = vals[i].s ? vals[i].s : "";
		lens[i] = vals[i].len == SIZE_MAX ? strlen(str) : vals[i].len;
		if (lens[i] > SIZE_MAX / 2 - size)
			return -ENOMEM;
		size += lens[i] + 1;
	}
	struct user_event *u = malloc(size);
	if (!u)
		return -ENOMEM;
	u->node.kind = BT_EVENT_USER;
	u->target = target;
	u->n = n;
	char *p = u->data;
	memcpy(p, name, nlen + 1);
	p += nlen + 1;
	for (int i = 0; i < BT_MAX_VALUES; i++) {
		u->v[i] = i < n ? vals[i] : BT_VNIL;
		if (i >= n || vals[i].type != BT_VAL_STR)
			continue;
		if (lens[i])
			memcpy(p, vals[i].s, lens[i]);
		p[lens[i]] = '\0';
		u->v[i].s = p;
		u->v[i].len = lens[i];
		p += lens[i] + 1;
	}
	int rc = cq_push(cq, &u->node);
	if (rc < 0)
		free(u);
	return rc;
}

/* ---- operations ---- */

struct bt_op *bt_op_new(struct bt_cq *cq)
{
	struct bt_op *op = calloc(1, sizeof *op);
	if (!op)
		return NULL;
	op->node.kind = BT_EVENT_OP;
	atomic_init(&op->refs, 1);
	atomic_init(&op->status, BT_OP_PENDING);
	pthread_mutex_init(&op->lock, NULL);
	op->efd = -1;
	if (cq) {
		atomic_fetch_add(&cq->refs, 1);
		op->cq = cq;
		op->id = bt_cq_next_id(cq);
		pthread_mutex_lock(&cq->lock);
		if (!cq->closed) {
			op->pnext = cq->pending;
			if (cq->pending)
				cq->pending->pprev = op;
			cq->pending = op;
			op->in_pending = 1;
		}
		pthread_mutex_unlock(&cq->lock);
	}
	return op;
}

struct bt_op *bt_op_ref(struct bt_op *op)
{
	atomic_fetch_add(&op->refs, 1);
	return op;
}

static void unlink_pending(struct bt_op *op)
{
	struct bt_cq *cq = op->cq;
	if (!op->in_pending)
		return;
	if (op->pprev)
		op->pprev->pnext = op->pnext;
	else
		cq->pending = op->pnext;
	if (op->pnext)
		op->pnext->pprev = op->pprev;
	op->pprev = op->pnext = NULL;
	op->in_pending = 0;
}

void bt_op_unref(struct bt_op *op)
{
	if (!op || atomic_fetch_sub(&op->refs, 1) != 1)
		return;
	if (op->cq) {
		pthread_mutex_lock(&op->cq->lock);
		unlink_pending(op);
		pthread_mutex_unlock(&op->cq->lock);
		cq_unref(op->cq);
	}
	free_values(op->v, op->n);
	free(op->message);
	if (op->efd >= 0)
		close(op->efd);
	pthread_mutex_destroy(&op->lock);
	free(op);
}

uint64_t bt_op_id(const struct bt_op *op)
{
	return op->id;
}

enum bt_op_status bt_op_status(const struct bt_op *op)
{
	return (enum bt_op_status)atomic_load_explicit(&((struct bt_op *)op)->status,
						       memory_order_acquire);
}

/* After the status left PENDING: wake pollers and queue the completion. */
static void finished(struct bt_op *op)
{
	struct bt_cq *cq = op->cq;
	if (!cq)
		return;
	pthread_mutex_lock(&cq->lock);
	unlink_pending(op);
	int closed = cq->closed;
	pthread_mutex_unlock(&cq->lock);
	if (!closed && cq_push(cq, &bt_op_ref(op)->node) < 0)
		bt_op_unref(op);
}

/* Sets the final state under op->lock; the caller prepared everything that
 * needs memory, so this step cannot fail. Returns 1 if it won. */
static int finish(struct bt_op *op, enum bt_op_status st, struct bt_value *vals, int n,
		  char *message, const char *code)
{
	pthread_mutex_lock(&op->lock);
	/* The producer is done with its hook's ud either way. */
	op->cancel_fn = NULL;
	op->cancel_ud = NULL;
	if (atomic_load(&op->status) != BT_OP_PENDING) {
		pthread_mutex_unlock(&op->lock);
		free_values(vals, n);
		free(message);
		return 0;
	}
	if (n > 0)
		memcpy(op->v, vals, (size_t)n * sizeof *vals);
	op->n = n;
	op->message = message;
	snprintf(op->code, sizeof op->code, "%s", code ? code : "");
	atomic_store_explicit(&op->status, st, memory_order_release);
	if (op->efd >= 0)
		signal_fd(op->efd);
	pthread_mutex_unlock(&op->lock);
	finished(op);
	return 1;
}

static const char *const err_codes[BT_ERR_COUNT_] = {
    [BT_ERR_NONE] = "",
    [BT_ERR_TIMEOUT] = "timeout",
    [BT_ERR_REFUSED] = "refused",
    [BT_ERR_CONNECT_FAILED] = "connect_failed",
    [BT_ERR_TLS_FAILED] = "tls_failed",
    [BT_ERR_HTTP_STATUS] = "http_status",
    [BT_ERR_BAD_RESPONSE] = "bad_response",
    [BT_ERR_REJECTED] = "rejected",
    [BT_ERR_DISCONNECTED] = "disconnected",
    [BT_ERR_PROTOCOL] = "protocol",
    [BT_ERR_INVALID_STATE] = "invalid_state",
    [BT_ERR_CANCELLED] = "cancelled",
    [BT_ERR_NOMEM] = "nomem",
    [BT_ERR_STORE] = "store",
    [BT_ERR_BUSY] = "busy",
};

const char *bt_err_code(enum bt_err e)
{
	if ((unsigned)e < BT_ERR_COUNT_)
		return err_codes[e];
	return err_codes[BT_ERR_PROTOCOL];
}

enum bt_err bt_err_from_code(const char *code)
{
	for (int e = BT_ERR_NONE + 1; code && e < BT_ERR_COUNT_; e++)
		if (!strcmp(code, err_codes[e]))
			return (enum bt_err)e;
	return BT_ERR_PROTOCOL;
}

int bt_op_succeed(struct bt_op *op, int n, const struct bt_value *vals)
{
	struct bt_value copy[BT_MAX_VALUES];
	if (n < 0 || n > BT_MAX_VALUES || (n > 0 && !vals))
		return bt_op_fail(op, BT_E_INVALID_STATE, "internal error: %d result values", n);
	if (copy_values(copy, n, vals) < 0)
		return bt_op_fail(op, BT_E_NOMEM, "out of memory");
	return finish(op, BT_OP_DONE, copy, n, NULL, NULL);
}

int bt_op_fail(struct bt_op *op, const char *code, const char *fmt, ...)
{
	char *msg = NULL;
	va_list ap;
	va_start(ap, fmt);
	if (vasprintf(&msg, fmt, ap) < 0)
		msg = NULL; /* bt_op_message then falls back to the code */
	va_end(ap);
	return finish(op, BT_OP_FAILED, NULL, 0, msg, code ? code : BT_E_PROTOCOL);
}

static void run_cancel_hook(struct bt_reactor *r, void *ud)
{
	struct bt_op *op = ud;
	pthread_mutex_lock(&op->lock);
	bt_op_cancel_fn fn = op->cancel_fn;
	void *hud = op->cancel_ud;
	op->cancel_fn = NULL;
	op->cancel_ud = NULL;
	pthread_mutex_unlock(&op->lock);
	if (fn)
		fn(op, hud);
	bt_op_unref(op);
}

int bt_op_cancel(struct bt_op *op)
{
	char *msg = strdup("operation cancelled");
	pthread_mutex_lock(&op->lock);
	if (atomic_load(&op->status) != BT_OP_PENDING) {
		pthread_mutex_unlock(&op->lock);
		free(msg);
		return 0;
	}
	op->message = msg;
	snprintf(op->code, sizeof op->code, "%s", BT_E_CANCELLED);
	atomic_store_explicit(&op->status, BT_OP_CANCELLED, memory_order_release);
	if (op->efd >= 0)
		signal_fd(op->efd);
	int has_hook = op->cancel_fn != NULL;
	pthread_mutex_unlock(&op->lock);
	finished(op);

	if (!has_hook)
		return 1;
	/* The hook reads op->cancel_fn again on the I/O thread, so a producer
	 * that cleared it there first is never called with a freed ud. */
	struct bt_reactor *r = NULL;
	if (op->cq) {
		pthread_mutex_lock(&op->cq->lock);
		r = op->cq->r;
		pthread_mutex_unlock(&op->cq->lock);
		if (!r)
			return 1; /* queue closed, reactor gone: nowhere to run it */
	}
	bt_op_ref(op);
	if (!r)
		run_cancel_hook(NULL, op);
	else if (reactor_post(r, run_cancel_hook, op) < 0)
		reactor_call(r, run_cancel_hook, op);
	return 1;
}

int bt_op_set_cancel(struct bt_op *op, bt_op_cancel_fn fn, void *ud)
{
	int rc = 0;
	pthread_mutex_lock(&op->lock);
	int st = atomic_load(&op->status);
	if (st == BT_OP_CANCELLED) {
		rc = -ECANCELED;
	} else if (st != BT_OP_PENDING) {
		rc = -EALREADY;
	} else {
		op->cancel_fn = fn;
		op->cancel_ud = ud;
	}
	pthread_mutex_unlock(&op->lock);
	return rc;
}

void bt_op_clear_cancel(struct bt_op *op)
{
	pthread_mutex_lock(&op->lock);
	op->cancel_fn = NULL;
	op->cancel_ud = NULL;
	pthread_mutex_unlock(&op->lock);
}

int bt_op_nvalues(const struct bt_op *op)
{
	return bt_op_status(op) == BT_OP_DONE ? op->n : 0;
}

const struct bt_value *bt_op_value(const struct bt_op *op, int i)
{
	if (bt_op_status(op) != BT_OP_DONE || i < 0 || i >= op->n)
		return NULL;
	return &op->v[i];
}

const char *bt_op_message(const struct bt_op *op)
{
	int st = bt_op_status(op);
	if (st != BT_OP_FAILED && st != BT_OP_CANCELLED)
		return NULL;
	return op->message ? op->message : op->code;
}

const char *bt_op_code(const struct bt_op *op)
{
	int st = bt_op_status(op);
	if (st != BT_OP_FAILED && st != BT_OP_CANCELLED)
		return NULL;
	return op->code;
}

int bt_op_pollfd(struct bt_op *op)
{
	pthread_mutex_lock(&op->lock);
	if (op->efd < 0) {
		op->efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (op->efd < 0) {
			int e = errno;
			pthread_mutex_unlock(&op->lock);
			return -e;
		}
		if (atomic_load(&op->status) != BT_OP_PENDING)
			signal_fd(op->efd);
	}
	int fd = op->efd;
	pthread_mutex_unlock(&op->lock);
	return fd;
}
