/* The in-memory fix_store: what the exchange keeps per CompID, what the
 * session tests and the session fuzzer plug in. Nothing survives the
 * process; seqstore.c is the durable store. */
#ifndef BT_FIX_STORE_MEM_H
#define BT_FIX_STORE_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "fix_store.h"

struct fix_store_mem_msg {
	uint64_t seq;
	char *frame;
	size_t len, cap;
};

/* The write a fail hook is asked about. */
enum fix_store_mem_op {
	FIX_STORE_MEM_SET_OUT,
	FIX_STORE_MEM_SET_IN,
	FIX_STORE_MEM_SAVE,
};

struct fix_store_mem {
	struct fix_store st;        /* give &st to fix_session_cfg.store */
	uint64_t next_out, next_in; /* the numbers the session recorded last */
	size_t n;                   /* messages kept; fix_store_mem_at reads them */
	unsigned resets;            /* sequence resets seen */
	/* Fault injection for tests and the fuzzer: asked before every write;
	 * nonzero makes that write fail (-1) and leaves the store unchanged. */
	int (*fail)(void *arg, const struct fix_store_mem *m, enum fix_store_mem_op op);
	void *fail_arg;
	/* private */
	size_t max_msgs;                /* 0: no limit */
	struct fix_store_mem_msg *msgs; /* ring: the oldest at head */
	size_t head, cap;
};

/* Starts an empty store whose session begins at next_out/next_in. With
 * max_msgs > 0 the store keeps only the newest max_msgs messages: older ones
 * are dropped (a resend that far back is gap-filled). */
void fix_store_mem_init(struct fix_store_mem *m, uint64_t next_out, uint64_t next_in,
			size_t max_msgs);

/* The i-th kept message, oldest first; NULL past the end. */
const struct fix_store_mem_msg *fix_store_mem_at(const struct fix_store_mem *m, size_t i);

/* Frees the messages; init again before reuse. */
void fix_store_mem_free(struct fix_store_mem *m);

#endif
