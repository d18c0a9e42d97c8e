/* The FIX session's insides, shared by its source files and by nothing a
 * user of the session includes (that is fix_session.h). The session is split
 * by job:
 *
 *   fix_session.c           lifecycle: new/free, start, accept, refuse,
 *                           logout, disconnected, CLOSED, accessors
 *   fix_session_validate.c  every inbound message: the FIX rules it must
 *                           pass and the state changes it causes
 *   fix_session_inbox.c     reassembly, the field pool, the event queue and
 *                           what keeps event pointers valid
 *   fix_session_out.c       the output buffer (growth, password wiping),
 *                           framing into it, and the application's sends
 *   fix_session_admin.c     encoders of the session's own messages
 *   fix_session_resend.c    answering a ResendRequest from the store
 *   fix_session_timers.c    deadlines and the tick
 *
 * Memory: everything is allocated in fix_session_new except the output
 * buffer, which doubles when a burst (a long resend) needs it. Inbound frames
 * are copied into one reassembly buffer and indexed in a field pool; both are
 * only compacted when every event has been polled, which is what keeps event
 * pointers valid without copying messages.
 *
 * Gaps: a message above the expected MsgSeqNum is answered with one
 * ResendRequest(7=expected, 16=0) and dropped; the peer's resend brings it
 * back in order, so nothing is delivered twice or out of order and no queue
 * of early messages is needed.
 *
 * Names shared between the files start with fs_; the library is built with
 * hidden visibility, so none of them leaves it. */
#ifndef BT_FIX_SESSION_INT_H
#define BT_FIX_SESSION_INT_H

#include <stdint.h>
#include <string.h>

#include "fix_session.h"

#define IN_SLACK 64 /* 8=, 9= and 10= around the largest body */
/* The input buffer and the field pool start small and double, up to
 * max_body + IN_SLACK and 2 * FIX_SESSION_MAX_FIELDS, when a frame does not
 * fit or a burst had to wait for room; an idle session stays small, a busy
 * one stops allocating once it reached the size of its bursts. */
#define IN_INITIAL 4096
#define POOL_INITIAL 64
#define POOL_MAX (2 * FIX_SESSION_MAX_FIELDS)
#define OUT_INITIAL 4096
#define ADMIN_ROOM 512 /* an admin message without its free text */
#define TEXT_MAX 512   /* outbound 58/927 texts are cut here */
#define EV_RESERVE 4   /* slots kept free for events not born from a frame */
#define TRACE_SLACK 128
/* Largest step a SequenceReset may take the expected inbound number. */
#define MAX_SEQ_JUMP (UINT64_C(1) << 31)

/* What an encoded frame is, for the store and the wiping of output. */
enum out_kind {
	OUT_ADMIN,     /* consumes a number, not stored */
	OUT_APP,       /* consumes a number, stored for resends */
	OUT_SENSITIVE, /* consumes a number, not stored, wiped once written */
	OUT_RESEND,    /* a resent or gap-fill frame: reuses an old number */
};

struct ev_slot {
	struct fix_event ev;
	struct fix_msg msg;
};

struct fix_session {
	enum fix_role role;
	enum fix_session_state st;
	char sender[FIX_SESSION_MAX_COMP_ID + 1];
	char target[FIX_SESSION_MAX_COMP_ID + 1];
	int target_fixed; /* acceptor: the cfg named the peer */
	int hb_s;
	int64_t logon_to, logout_to, tolerance;
	int reset_on_logon;
	int comp_id_session_only;
	int logon_seq_adopt;
	enum fix_close_cause close_cause; /* set before fs_close, copied into CLOSED */
	/* cfg's, copied; "": FIX.4.4 only */
	char begin_strings[FIX_SESSION_MAX_BEGIN_STRINGS + 1];
	const char *username, *password; /* cfg's, only until start */
	size_t max_body;
	struct fix_store *store;
	void (*trace)(void *ud, int dir, const char *frame, size_t len);
	void *trace_ud;
	int (*validate)(void *ud, const struct fix_msg *m, int *ref_tag, int *reason, char *text,
			size_t textlen);
	void *validate_ud;

	uint64_t next_out, next_in;
	uint64_t resend_end; /* highest number seen beyond a gap; 0 = no gap open */
	uint64_t logon_seq;  /* acceptor: the Logon's 34 until accepted */
	int reset_done;      /* 141=Y exchanged in this session */
	int silent;          /* fix_session_fault_silent (csrc/exchange) */
	int gw_compat;       /* fix_session_fault_gateway_compat (csrc/exchange) */

	int64_t wall_off; /* UTC minus the timer clock (fix_session_set_clock) */
	int64_t last_sent, last_recv;
	int64_t logon_deadline, logout_deadline;
	int64_t test_req_sent; /* 0: no TestRequest outstanding */
	uint64_t test_req_n;

	char *in;
	size_t in_cap, in_len, in_pos; /* [0, in_pos) processed */
	size_t in_max, in_hw;          /* growth limit; bytes ever written (wiped on free) */
	int in_short, pool_short;      /* a burst waited for room: grow at the next compact */
	struct fix_field *pool;
	size_t pool_cap, pool_used; /* [0, pool_used) pinned by events */
	struct fix_msg cur;
	struct ev_slot ev[FIX_SESSION_MAX_EVENTS];
	size_t ev_head, ev_n;

	char *out;
	size_t out_cap, out_off, out_len;
	size_t out_wipe; /* bytes before this offset carried a password */

	char *trace_buf;
	size_t trace_cap;

	char reason[FIX_SESSION_REASON_MAX];
};

/* ---------------------------------------------------------- small helpers */

/* UTC ms at the timer-clock instant now: only for 52, 122 and the check of
 * the peer's 52. Deadlines never see it, so a wall-clock step cannot freeze
 * or rush them. */
static inline int64_t wall(const struct fix_session *s, int64_t now)
{
	return now + s->wall_off;
}

static inline void wipe(void *p, size_t n)
{
	if (n)
		explicit_bzero(p, n);
}

static inline int sv_eq(const char *p, size_t n, const char *z)
{
	size_t zl = strlen(z);
	return p && n == zl && memcmp(p, z, n) == 0;
}

static inline struct fix_sv get_sv(const struct fix_msg *m, uint32_t tag)
{
	struct fix_sv v = {NULL, 0};
	v.ptr = fix_msg_get(m, tag, &v.len);
	if (!v.ptr)
		v.len = 0;
	return v;
}

static inline int get_int(const struct fix_msg *m, uint32_t tag, int dflt)
{
	uint64_t v;
	if (fix_msg_get_u64(m, tag, &v) != FIX_OK || v > INT32_MAX)
		return dflt;
	return (int)v;
}

static inline int get_flag(const struct fix_msg *m, uint32_t tag)
{
	size_t n;
	const char *p = fix_msg_get(m, tag, &n);
	return p && n == 1 && p[0] == 'Y';
}

/* Cut a peer-supplied text to something printable in a reason. */
static inline int clip(const struct fix_sv *v)
{
	return v->len > 160 ? 160 : (int)v->len;
}

static inline size_t text_len(const char *t)
{
	size_t n = t ? strlen(t) : 0;
	return n > TEXT_MAX ? TEXT_MAX : n;
}

static inline int value_ok(const char *v, size_t n)
{
	return v && n > 0 && !memchr(v, FIX_SOH, n);
}

static inline int cstr_ok(const char *v)
{
	return v && value_ok(v, strlen(v));
}

/* Nothing unasked goes out: the silent fault, or our own Logout is out (the
 * logout initiator only answers ResendRequests until the reply or the
 * logout timeout). */
static inline int quiet(const struct fix_session *s)
{
	return s->silent || s->st == FIX_ST_LOGOUT_SENT;
}

static inline int64_t add_ms(int64_t a, int64_t b)
{
	return a > INT64_MAX - b ? INT64_MAX : a + b;
}

static inline const char *peer_name(const struct fix_session *s)
{
	return s->role == FIX_INITIATOR ? "exchange" : "client";
}

/* ------------------------------------------- fix_session.c: lifecycle */

/* Enter CLOSED with one CLOSED event; a no-op once closed. */
void fs_close(struct fix_session *s, const char *code, int by_peer, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Logout with a reason and close: the session ends on the peer's fault. */
void fs_fail(struct fix_session *s, int64_t now, const char *code, const char *logout_text,
	     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* ---------------------------------- fix_session_validate.c: inbound */

/* One parsed inbound frame in the current state. Returns 1 if an event pins
 * m (its fields must stay in the pool until the event is polled). */
int fs_handle_msg(struct fix_session *s, const struct fix_msg *m, int64_t now);

/* Set the expected inbound number (closing a gap it passes) and store it. */
int fs_advance_in(struct fix_session *s, uint64_t next);

/* ---------------------------------------------- fix_session_inbox.c */

enum input_status {
	IN_IDLE,    /* all whole frames processed (a partial one may wait) */
	IN_BLOCKED, /* events must be polled before more frames fit */
	IN_HELD,    /* this state processes nothing (before start, Logon pending) */
};

/* NULL only if the queue is full, which frames never let happen. */
struct fix_event *fs_push_event(struct fix_session *s, enum fix_event_type type,
				const struct fix_msg *m);
/* Process the whole frames in the input buffer as far as the state and the
 * room in the event queue allow. */
enum input_status fs_process_input(struct fix_session *s, int64_t now);
/* Reclaim processed bytes, the pool and the queue once every event is polled. */
void fs_compact(struct fix_session *s);

/* ------------------------------------------------ fix_session_out.c */

/* Room for need more bytes of output; the old block is wiped, not realloc'd. */
int fs_out_reserve(struct fix_session *s, size_t need);
/* Start a frame at the end of the output; fs_finish_msg closes and queues it,
 * moving next_out and the store along unless kind is OUT_RESEND. */
int fs_begin_msg(struct fix_session *s, struct fix_enc *enc, const char *msg_type, uint64_t seq,
		 int64_t now, size_t need);
int fs_finish_msg(struct fix_session *s, struct fix_enc *enc, enum out_kind kind, uint64_t seq,
		  int64_t now);
/* Record next_out / next_in in the store; on failure CLOSED "store". */
int fs_store_next_out(struct fix_session *s);
int fs_store_next_in(struct fix_session *s);
/* Hand a frame to the cfg's trace callback with 554 masked. */
void fs_trace(struct fix_session *s, int dir, const char *p, size_t n);
/* Every MsgType of the FIX 4.4 dictionary, plus user-defined "U..." types. */
int fs_valid_msg_type(const char *t, size_t n);

/* ---------------------------------------------- fix_session_admin.c */

int fs_send_logon(struct fix_session *s, int64_t now);
void fs_send_logout(struct fix_session *s, const char *text, int64_t now);
void fs_send_heartbeat(struct fix_session *s, const struct fix_sv *test_id, int64_t now);
void fs_send_test_request(struct fix_session *s, int64_t now);
void fs_send_resend_request(struct fix_session *s, uint64_t begin, int64_t now);
/* Session-level Reject (35=3) of the message m. ref_tag < 0: no 371. */
void fs_send_reject(struct fix_session *s, const struct fix_msg *m, int ref_tag, int reason,
		    const char *text, int64_t now);
void fs_send_gap_fill(struct fix_session *s, uint64_t seq, uint64_t new_seq, int64_t now);

/* --------------------------------------------- fix_session_resend.c */

/* Answer the peer's ResendRequest(7=begin, 16=end). */
void fs_answer_resend(struct fix_session *s, const struct fix_msg *m, int64_t now);

#endif
