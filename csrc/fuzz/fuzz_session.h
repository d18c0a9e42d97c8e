/* The input format of fuzz_session, shared with gen_seeds.c so the seed
 * conversations are written in exactly the language the target reads.
 *
 *   byte 0        config flags (FZ_CFG_*)
 *   byte 1        store's initial numbers: next_out = 1 + (b & 7),
 *                 next_in = 1 + (b >> 3 & 7)
 *   then ops      one byte each: low nibble the op (FZ_OP_*), high nibble
 *                 an index into fz_time_steps by which "now" advances before
 *                 the op, then the op's own arguments.
 *
 * The session is started at FZ_T0 right after the two header bytes. */
#ifndef BT_FUZZ_SESSION_H
#define BT_FUZZ_SESSION_H

#include <stdint.h>

#define FZ_T0 INT64_C(1700000000000) /* 20231114-22:13:20.000 */
#define FZ_CLIENT "CLIENT0001"
#define FZ_EXCHANGE "BETA_EXCHANGE"

enum {
	FZ_CFG_ACCEPTOR = 1 << 0,     /* else initiator */
	FZ_CFG_RESET = 1 << 1,        /* reset_on_logon */
	FZ_CFG_NO_STORE = 1 << 2,     /* store NULL */
	FZ_CFG_CREDS = 1 << 3,        /* initiator: 553/554 in the Logon */
	FZ_CFG_TRACE = 1 << 4,        /* trace callback installed (checks redaction) */
	FZ_CFG_HB1 = 1 << 5,          /* heartbeat 1 s instead of 30 s */
	FZ_CFG_NO_TIMECHECK = 1 << 6, /* sending_time_tolerance INT64_MAX */
	FZ_CFG_SMALL_BODY = 1 << 7,   /* max_body 512 */
};

enum {
	FZ_OP_FEED_RAW = 0,  /* len:2 LE, bytes: fed as they are */
	FZ_OP_FEED_BODY = 1, /* len:2 LE, body bytes: wrapped in 8=, 9= and 10= */
	FZ_OP_TICK = 2,      /* fix_session_tick(now) */
	FZ_OP_TICK_DUE = 3,  /* now = the session's deadline (if armed), then tick */
	FZ_OP_SEND = 4,      /* type:1, nfields:1, fields [tag:2 LE, len:1, bytes];
			      * a tag with bit 15 set means UINT32_MAX - (tag & 0x7fff) */
	FZ_OP_USER_REQ = 5,  /* arg:1 (low 4 bits type, bit 4 no password) */
	FZ_OP_USER_RESP = 6, /* status:1 (bit 7: no text) */
	FZ_OP_LOGOUT = 7,    /* arg:1 (bit 0: with text) */
	FZ_OP_ACCEPT = 8,    /* acceptor */
	FZ_OP_REFUSE = 9,    /* acceptor */
	FZ_OP_DISCONNECT = 10,
	FZ_OP_HOLD = 11,     /* stop consuming output after each op */
	FZ_OP_CONSUME = 12,  /* n:2 LE: consume n output bytes, resume consuming */
	FZ_OP_SILENT = 13,   /* arg:1: fix_session_fault_silent(arg & 1) */
	FZ_OP_SKIP_SEQ = 14, /* n:1: fix_session_fault_skip_seq */
	/* type:1 (index into fz_msg_types), seq:1 (signed offset from the
	 * session's next_in), flags:1 (FZ_MSG_*), len:1, body fields: the
	 * harness writes a correct header (35, 49, 56, 34, 52 = now). */
	FZ_OP_FEED_MSG = 15,
};

enum {
	FZ_MSG_POSS_DUP = 1 << 0,   /* 43=Y and 122=now-1s after the header */
	FZ_MSG_WRONG_COMP = 1 << 1, /* swap 49 and 56 */
	FZ_MSG_ABS_SEQ = 1 << 2,    /* seq byte is the absolute MsgSeqNum */
	FZ_MSG_OLD_TIME = 1 << 3,   /* 52 = now - 10 min */
};

static const char *const fz_msg_types[16] = {"0",  "1", "2", "3",  "4", "5",  "A", "BE",
					     "BF", "D", "8", "AE", "j", "U1", "Z", "BZ"};

static const int64_t fz_time_steps[16] = {0,    0,    0,    1,     10,    100,   500,   999,
					  1000, 1200, 5000, 10000, 30000, 36001, 60000, 600000};

#endif
