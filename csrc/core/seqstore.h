/* Durable FIX sequence store: next inbound/outbound MsgSeqNum and the
 * outbound application messages kept for resends, per (SenderCompID,
 * TargetCompID) pair, in files under one directory. Implements the
 * fix_store interface; survives kill -9 at any instant, and power loss with
 * SEQSTORE_FSYNC. A store is used by one thread at a time.
 *
 * Files in dir, where NAME is "<sender>+<target>" with every byte outside
 * [A-Za-z0-9._-] written as %XX (so two pairs never share a name):
 *   NAME.seq   append-only log of sequence-number records, compacted by rename
 *   NAME.msgs  append-only log of saved outbound frames
 *   NAME.lock  flock()ed while the store is open (never deleted) */
#ifndef BT_SEQSTORE_H
#define BT_SEQSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "fix_store.h"

/* fsync every update: survives power loss, not only a process kill. */
#define SEQSTORE_FSYNC 0x1

/* Largest frame save() accepts (and open() believes in). */
#define SEQSTORE_MAX_FRAME (16u * 1024u * 1024u)

struct seqstore;

/* Open (creating dir with mode 0700 and the files if needed) the store of one
 * session and take its lock. 0, or -1 with "seqstore: what: why" in err and
 * errno set (EBUSY: the lock is held, by another process or another open
 * store in this one). */
int seqstore_open(struct seqstore **out, const char *dir, const char *sender, const char *target,
		  int flags, char *err, size_t errlen);

/* Close the files, release the lock and free the store. NULL is a no-op. */
void seqstore_close(struct seqstore *s);

/* The fix_store view of s (ops, ctx and the loaded next_out/next_in); s
 * still owns everything and must outlive the returned value. */
struct fix_store seqstore_as_fix_store(struct seqstore *s);

/* Next outbound / inbound MsgSeqNum as last recorded. */
uint64_t seqstore_next_out(const struct seqstore *s);
uint64_t seqstore_next_in(const struct seqstore *s);

/* Number of saved messages currently kept for resends. */
size_t seqstore_msg_count(const struct seqstore *s);

/* Text of the last failed operation ("seqstore: path: why"), "" if none. */
const char *seqstore_error(const struct seqstore *s);

/* Durably record the next outbound MsgSeqNum (>= 1); returns only once a
 * kill -9 can no longer lose it. 0, or -1 with errno set. */
int seqstore_set_next_out(struct seqstore *s, uint64_t next_out);

/* Durably record the next expected inbound MsgSeqNum (>= 1). 0 or -1. */
int seqstore_set_next_in(struct seqstore *s, uint64_t next_in);

/* Keep a sent frame (1..SEQSTORE_MAX_FRAME bytes) for resends under seq;
 * saving a seq again replaces it. 0 or -1 with errno set. */
int seqstore_save(struct seqstore *s, uint64_t seq, const char *frame, size_t len);

/* Visit saved frames begin <= seq <= end (end 0 = no limit) in order; frame lives only during
 * fn. fn > 0 stops with 0, fn < 0 stops with -1; a bad record is -1 with errno EIO. */
int seqstore_each(struct seqstore *s, uint64_t begin, uint64_t end,
		  int (*fn)(void *arg, uint64_t seq, const char *frame, size_t len), void *arg);

/* Forget every saved frame and set next_out = next_in = 1. 0 or -1. */
int seqstore_reset(struct seqstore *s);

/* Resend window: keep at least the newest `window` saved frames; older ones
 * are dropped by compacting .msgs once it holds twice as many (a resend of
 * their numbers becomes a GapFill). 0 keeps everything (the default). */
void seqstore_set_window(struct seqstore *s, size_t window);

/* Deferred mode (group commit) on/off: set_next_out, set_next_in and save
 * only update memory until seqstore_commit writes them all: one .seq record
 * and one write of every frame (each followed by one fdatasync with
 * SEQSTORE_FSYNC). The caller must commit the numbers (seqstore_commit_numbers
 * or seqstore_commit) before any byte that uses one leaves the process;
 * seqstore_each commits first, seqstore_close tries to.
 * Turning it off does not commit. */
void seqstore_set_deferred(struct seqstore *s, int on);

/* Write what deferred mode holds back; 0 (also when nothing waits) or -1
 * with errno set, after which the store refuses every update (the numbers
 * of the unwritten frames must not be sent). */
int seqstore_commit(struct seqstore *s);

/* The first half of seqstore_commit: only the .seq record (the numbers, with
 * its fdatasync under SEQSTORE_FSYNC). That is all that must be durable
 * before bytes using the numbers leave; frames written later can only be
 * missing after a crash, and a resend gap-fills them. 0 or -1 (the store is
 * then broken). */
int seqstore_commit_numbers(struct seqstore *s);

/* Bytes of frames deferred mode holds for the next seqstore_commit. */
size_t seqstore_pending_frames(const struct seqstore *s);

#endif
