/* Operations and completion queues: how the I/O thread reports results to a
 * Lua state without touching it.
 *
 * A bt_op is one asynchronous request (a login, an HTTP call, a sleep). It is
 * refcounted with atomics because the producer on the I/O thread and the Lua
 * userdata each hold a reference. It finishes exactly once: the first of
 * bt_op_succeed / bt_op_fail / bt_op_cancel wins, later calls are no-ops.
 * Finishing pushes one BT_EVENT_OP onto the op's completion queue and signals
 * the queue's eventfd; the Lua side drains the queue with bt_cq_drain.
 *
 * A bt_cq belongs to one Lua state. Besides op completions it carries "user"
 * events (a target id, a name and a few values), e.g. the AuthCoordinator's
 * state changes, so one drain loop serves both.
 *
 * Every function here may be called from any thread unless it says otherwise.
 * Functions returning int give 0 (or 1, where documented) or a negative errno. */
#ifndef BT_OP_H
#define BT_OP_H

#include <stddef.h>
#include <stdint.h>

struct bt_reactor;
struct bt_op;
struct bt_cq;

/* Stable failure codes (DESIGN.md section 4); pass these to bt_op_fail. */
#define BT_E_TIMEOUT "timeout"
#define BT_E_REFUSED "refused"
#define BT_E_CONNECT_FAILED "connect_failed"
#define BT_E_TLS_FAILED "tls_failed"
#define BT_E_HTTP_STATUS "http_status"
#define BT_E_BAD_RESPONSE "bad_response"
#define BT_E_REJECTED "rejected"
#define BT_E_DISCONNECTED "disconnected"
#define BT_E_PROTOCOL "protocol"
#define BT_E_INVALID_STATE "invalid_state"
#define BT_E_CANCELLED "cancelled"
#define BT_E_NOMEM "nomem" /* an allocation failed while completing */
#define BT_E_STORE "store" /* the sequence store failed (open, corrupt, in use) */

enum bt_op_status {
	BT_OP_PENDING = 0,
	BT_OP_DONE,
	BT_OP_FAILED,
	BT_OP_CANCELLED,
};

/* A small result value: nil, boolean, integer or a (binary-safe) string. */
enum bt_value_type { BT_VAL_NIL = 0, BT_VAL_BOOL, BT_VAL_INT, BT_VAL_STR };
struct bt_value {
	enum bt_value_type type;
	int64_t i;     /* BT_VAL_BOOL (0/1) and BT_VAL_INT */
	const char *s; /* BT_VAL_STR; copied when handed to an op or a cq */
	size_t len;    /* BT_VAL_STR; SIZE_MAX means "use strlen(s)" */
};
#define BT_VNIL ((struct bt_value){.type = BT_VAL_NIL})
#define BT_VBOOL(b) ((struct bt_value){.type = BT_VAL_BOOL, .i = !!(b)})
#define BT_VINT(n) ((struct bt_value){.type = BT_VAL_INT, .i = (int64_t)(n)})
#define BT_VSTR(str) ((struct bt_value){.type = BT_VAL_STR, .s = (str), .len = SIZE_MAX})
#define BT_VLSTR(str, n) ((struct bt_value){.type = BT_VAL_STR, .s = (str), .len = (n)})

/* Most values an op result or a user event carries. */
#define BT_MAX_VALUES 4

/* Called on the I/O thread after the op was cancelled, so the producer can
 * abort its work (close a socket, stop a timer). The op is already CANCELLED. */
typedef void (*bt_op_cancel_fn)(struct bt_op *op, void *ud);

/* ---- completion queue (one per Lua state) ---- */

enum bt_event_kind { BT_EVENT_OP = 1, BT_EVENT_USER };

/* One drained event; release what it owns with bt_event_clear. */
struct bt_event {
	enum bt_event_kind kind;
	uint64_t id;      /* BT_EVENT_OP: bt_op_id(op); BT_EVENT_USER: the target id */
	struct bt_op *op; /* BT_EVENT_OP: a reference owned by the event */
	char *name;       /* BT_EVENT_USER: e.g. "state"; owned */
	int n;            /* BT_EVENT_USER: number of values */
	struct bt_value v[BT_MAX_VALUES]; /* BT_EVENT_USER: strings owned by the event */
};

/* Creates a queue whose ops run cancel hooks on r's I/O thread. The caller
 * keeps its own reference on r until bt_cq_close. NULL + err on failure. */
struct bt_cq *bt_cq_new(struct bt_reactor *r, char *err, size_t errlen);

/* The owner's goodbye: later events are dropped, every op still pending on the
 * queue is cancelled (hooks posted to the I/O thread; ops cancelled after this
 * run no hook), and the owner's reference is released. Ops keep the queue's
 * memory alive until they die. Call it before releasing the reactor. */
void bt_cq_close(struct bt_cq *cq);

/* The queue's eventfd: readable while events wait to be drained. */
int bt_cq_fd(const struct bt_cq *cq);

/* A fresh id, unique within this queue (op ids and user-event targets share it). */
uint64_t bt_cq_next_id(struct bt_cq *cq);

/* Blocks up to timeout_ms (< 0: forever) for events. 1 if some wait, 0 on
 * timeout or signal, negative errno on failure. */
int bt_cq_wait(struct bt_cq *cq, int timeout_ms);

/* Moves up to max events into out (FIFO) and returns how many; resets the
 * eventfd once the queue is empty. Owner's thread only. */
size_t bt_cq_drain(struct bt_cq *cq, struct bt_event *out, size_t max);

/* Frees what a drained event owns (op reference, strings). */
void bt_event_clear(struct bt_event *ev);

/* Queues a user event; name and n (<= BT_MAX_VALUES) values are copied.
 * 0 if queued, -EPIPE if the queue is closed, -EINVAL, -ENOMEM. */
int bt_cq_post_event(struct bt_cq *cq, uint64_t target, const char *name, int n,
		     const struct bt_value *vals);

/* ---- operations ---- */

/* A pending op reporting to cq (may be NULL: then nothing is queued and a
 * cancel hook runs in bt_op_cancel's caller). One reference, the caller's. */
struct bt_op *bt_op_new(struct bt_cq *cq);

/* Adds a reference and returns op. */
struct bt_op *bt_op_ref(struct bt_op *op);

/* Drops a reference; the last one frees the op (NULL is a no-op). */
void bt_op_unref(struct bt_op *op);

/* The op's id (0 for an op without a queue). */
uint64_t bt_op_id(const struct bt_op *op);

/* Current status; results below are readable once it is not PENDING. */
enum bt_op_status bt_op_status(const struct bt_op *op);

/* Finishes op successfully with n (<= BT_MAX_VALUES) values, copied. Returns
 * 1 if this call finished it, 0 if it was already finished (no-op). If the
 * copies cannot be allocated, the op fails with code "nomem" instead. Also
 * drops the cancel hook, so the producer may free the hook's ud afterwards. */
int bt_op_succeed(struct bt_op *op, int n, const struct bt_value *vals);

/* Finishes op with a failure: code is one of the BT_E_* strings, the message
 * (printf format) is for people. Returns 1 or 0 as bt_op_succeed. */
int bt_op_fail(struct bt_op *op, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Cancels a pending op (status CANCELLED, code "cancelled") and schedules its
 * cancel hook on the I/O thread. Returns 1 if it cancelled, 0 if finished. */
int bt_op_cancel(struct bt_op *op);

/* Installs the producer's cancel hook. -ECANCELED if the op was already
 * cancelled (abort now; the hook is not kept), -EALREADY if it finished. */
int bt_op_set_cancel(struct bt_op *op, bt_op_cancel_fn fn, void *ud);

/* Removes the cancel hook: after this returns on the I/O thread the hook will
 * not run, so its ud may be freed. */
void bt_op_clear_cancel(struct bt_op *op);

/* Number of result values (0 unless DONE). */
int bt_op_nvalues(const struct bt_op *op);

/* Result value i (0-based) of a DONE op, or NULL. Valid while op is alive. */
const struct bt_value *bt_op_value(const struct bt_op *op, int i);

/* Failure message / code of a FAILED or CANCELLED op, or NULL. */
const char *bt_op_message(const struct bt_op *op);
const char *bt_op_code(const struct bt_op *op);

/* An eventfd (CLOEXEC) readable once op is finished; created on first call,
 * owned and closed by the op. Lets other event loops (cqueues) poll one op. */
int bt_op_pollfd(struct bt_op *op);

#endif
