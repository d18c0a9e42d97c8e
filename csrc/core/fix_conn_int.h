/* What fix_conn.c (the driver, both roles) and fix_conn_open.c (the
 * initiator's opening, with its seqstore) share. Not for users of fix_conn. */
#ifndef BT_FIX_CONN_INT_H
#define BT_FIX_CONN_INT_H

#include <stdatomic.h>
#include <stdint.h>

#include "fix_conn.h"
#include "reactor.h"

#define FC_REASON_MAX 512

/* A durable store's group commit, seen by the driver only through these
 * hooks (the seqstore for the client; the exchange's in-memory stores need
 * none), so the driver links without the store. */
struct fc_durable_ops {
	int (*commit_numbers)(void *ctx); /* before a batch's bytes leave */
	int (*commit)(void *ctx);         /* the frames kept for resends */
	int (*pending_frames)(void *ctx); /* frames waiting for commit */
	const char *(*error)(void *ctx);
	void (*close)(void *ctx);
};

struct fix_conn {
	atomic_int refs; /* the owner's + one per posted job */
	struct bt_reactor *r;
	struct transport *t;
	struct fix_session *s;
	const struct fc_durable_ops *dops; /* NULL: no durable store */
	void *dctx;
	struct fix_store fstore; /* the session points here */
	struct reactor_timer timer;
	struct reactor_timer frames_timer; /* writes the store's frames after a send */
	struct fix_conn_cbs cbs;
	void *arg;
	char *username; /* kept until fix_session_start encodes the Logon */
	char *password; /* likewise, then wiped */
	int busy;       /* dispatch depth: destroy waits until 0 */
	int freed;      /* the owner called fix_conn_free */
	int closed;     /* on_closed was (or will never be) delivered */
	int pumping;    /* inside pump(): nested calls only queue output */
	int corked;     /* fix_conn_cork: API calls only queue */
	int dropping;   /* fix_conn_drop inside a callback: drop on the way out */
	int tcode;      /* transport failure, if any */
	char treason[FC_REASON_MAX];
	uint64_t handed;  /* bytes given to the transport so far */
	int store_failed; /* a group commit failed: nothing more may be written */
	char store_err[FC_REASON_MAX];
	/* Acceptor: bytes received before the session exists. */
	int acceptor;
	int (*on_first_bytes)(void *arg, const char *buf, size_t len, struct fix_session_cfg *cfg);
	char *pre;
	size_t pre_len, pre_max;
	int64_t first_by; /* the first frame must be complete by then */
	/* fix_conn_pace: after `fast` more bytes, one byte per pace_ms. */
	int64_t pace_ms;
	size_t fast;
	int64_t pace_next;
};

/* Allocate with the owner's reference and the timers ready. */
struct fix_conn *fc_new(struct bt_reactor *r, const struct fix_conn_cbs *cbs, void *arg);
/* Free now (the caller knows nothing else holds c). */
void fc_destroy(struct fix_conn *c);
/* The transport callbacks of every connection. */
extern const struct transport_cbs fc_transport_cbs;

#endif
