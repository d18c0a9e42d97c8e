/* The storage a FIX session needs, as an interface: the session stays
 * sans-I/O (it calls these hooks; it never opens a file), fix_store_mem.c
 * is the in-memory one (the exchange, tests, the fuzzer) and seqstore.c the
 * durable one. */
#ifndef BT_FIX_STORE_H
#define BT_FIX_STORE_H

#include <stddef.h>
#include <stdint.h>

struct fix_store_ops {
	/* Record the next outbound MsgSeqNum. Called before the bytes that use
	 * the previous number are handed out for sending, so a crash can lose
	 * a send but never reuse a number. Returns 0 or -1 (errno set). */
	int (*set_next_out)(void *ctx, uint64_t next_out);
	/* Record the next expected inbound MsgSeqNum. 0 or -1. */
	int (*set_next_in)(void *ctx, uint64_t next_in);
	/* Keep an outbound application message (the whole frame as sent) for
	 * resends. 0 or -1. */
	int (*save)(void *ctx, uint64_t seq, const char *frame, size_t len);
	/* Visit stored application messages with begin <= seq <= end (end 0 =
	 * infinity) in ascending order. fn returns 0 to go on. Returns 0 or -1. */
	int (*each)(void *ctx, uint64_t begin, uint64_t end,
		    int (*fn)(void *arg, uint64_t seq, const char *frame, size_t len), void *arg);
	/* Forget everything (sequence reset): next_out = next_in = 1. 0 or -1. */
	int (*reset)(void *ctx);
};

struct fix_store {
	const struct fix_store_ops *ops;
	void *ctx;
	uint64_t next_out; /* loaded values the session starts from */
	uint64_t next_in;
};

#endif
