/* FIX 4.4 session layer as a sans-I/O state machine: bytes and time go in
 * (feed, tick, API calls), bytes to send, events and the next deadline come
 * out. No sockets, no clock reads, no threads, no printing. One
 * implementation serves the initiator (the client) and the acceptor (the
 * local exchange).
 *
 * A session object lives for one connection: create it when the transport is
 * up, call fix_session_start, pump it, and free it after the CLOSED event.
 * Sequence numbers outlive it in the fix_store.
 *
 * Driver loop, in short:
 *
 *   fix_session_start(s, now);
 *   on readable:  for (off = 0; off < n; ) {
 *                         off += fix_session_feed(s, buf + off, n - off, now);
 *                         while (fix_session_poll_event(s, &ev)) handle(&ev);
 *                 }
 *   on timer:     fix_session_tick(s, now); drain events likewise
 *   always:       p = fix_session_out(s, &len); k = write(fd, p, len);
 *                 fix_session_out_consume(s, k);
 *                 re-arm the timer at fix_session_deadline(s)
 *   after CLOSED: flush what fix_session_out still holds, close the socket,
 *                 fix_session_free(s).
 *
 * Time: the session takes two clocks. Every now_ms is the timer clock
 * (CLOCK_MONOTONIC milliseconds in the drivers): every deadline (heartbeat,
 * TestRequest, logon and logout timeouts) is computed on it, and it must not
 * go backwards between calls. UTC (CLOCK_REALTIME) is used only for
 * SendingTime(52), the OrigSendingTime(122) of GapFills and the check of the
 * peer's 52; the driver hands it over with fix_session_set_clock, so a
 * wall-clock step moves those fields and nothing else. A driver that never
 * calls it passes UTC milliseconds as now_ms (the tests do).
 *
 * Lifetimes: pointers inside an event (ev.msg and every struct fix_sv that
 * points into the inbound frame) stay valid until the first fix_session_feed
 * or fix_session_tick call made after the event has been polled; CLOSED
 * texts live in the session until fix_session_free.
 *
 * The implementation's map is in fix_session_int.h (private). Fault injection
 * for the local exchange is not part of this API (csrc/exchange has it). */
#ifndef BT_FIX_SESSION_H
#define BT_FIX_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "fix_codec.h"
#include "fix_store.h"

#define FIX_SESSION_MAX_COMP_ID 64  /* longest SenderCompID/TargetCompID accepted */
#define FIX_SESSION_MAX_EVENTS 64   /* events queued before feed stops taking bytes */
#define FIX_SESSION_MAX_FIELDS 1024 /* fields one inbound message may carry */
#define FIX_SESSION_REASON_MAX 256  /* CLOSED reason text, truncated beyond */

/* Bytes of cfg.begin_strings: eight versions of 16 characters. */
#define FIX_SESSION_MAX_BEGIN_STRINGS 135

enum fix_role { FIX_INITIATOR = 0, FIX_ACCEPTOR = 1 };

/* Why a session closed, beyond its code, where the owner acts on it. */
enum fix_close_cause {
	FIX_CLOSE_OTHER = 0,
	FIX_CLOSE_SEQ_TOO_LOW,      /* we refused the peer's MsgSeqNum as too low */
	FIX_CLOSE_PEER_SEQ_TOO_LOW, /* the peer's Logout(58) says "MsgSeqNum too low" (QuickFIX's
				       words and ours): it refused our number */
};

/* Direction passed to the trace callback. */
enum fix_trace_dir {
	FIX_TRACE_IN = 0,      /* a whole inbound frame, before processing */
	FIX_TRACE_OUT = 1,     /* a whole outbound frame, as queued for sending */
	FIX_TRACE_GARBLED = 2, /* inbound bytes dropped (bad CheckSum/BodyLength/...) */
};

struct fix_session_cfg {
	enum fix_role role;
	const char *sender_comp_id; /* ours (49 on the way out); required; copied */
	/* The peer's CompID. Initiator: required. Acceptor: NULL to learn it from
	 * the Logon's 49, or set to insist on it. Copied. */
	const char *target_comp_id;
	/* HeartBtInt(108) in seconds; 0 = no heartbeats. The acceptor ignores it
	 * and uses the value from the peer's Logon. */
	int heartbeat_s;
	int64_t logon_timeout_ms;  /* initiator: wait for the Logon reply; acceptor:
				      wait for the Logon and the app's decision */
	int64_t logout_timeout_ms; /* wait for the Logout reply after fix_session_logout */
	/* Initiator: send 141=Y with 34=1 and reset the store. The acceptor honours
	 * a 141=Y Logon whatever this says. */
	int reset_on_logon;
	/* QuickFIX's CheckCompID for application messages off: 49/56 are
	 * checked on session messages (0 1 2 3 4 5 A) only, for venues that
	 * stamp their reports with other CompIDs */
	int comp_id_session_only;
	/* logon_seq = "adopt": the peer's MsgSeqNum on its Logon reply is taken
	 * as in sequence (no "too low", no ResendRequest at logon), for venues
	 * that forget their counters on restart */
	int logon_seq_adopt;
	/* begin_strings: BeginStrings taken on inbound application messages
	 * besides FIX.4.4, separated by spaces ("FIXT.1.1"), for venues that
	 * send market data under another version. Session messages and
	 * everything sent stay FIX.4.4. NULL or "": FIX.4.4 only. Copied; at most
	 * FIX_SESSION_MAX_BEGIN_STRINGS bytes of "FIX..." values the framer takes. */
	const char *begin_strings;
	/* Optional Username(553)/Password(554) in the initiator's Logon. Not copied:
	 * they must stay valid until fix_session_start, which encodes them. */
	const char *username;
	const char *password;
	size_t max_body; /* largest inbound BodyLength accepted */
	/* |peer's 52 - now| above this: Reject 373=10 + Logout. INT64_MAX: no check. */
	int64_t sending_time_tolerance_ms;
	struct fix_store *store; /* NULL: numbers start at 1, nothing kept for resends */
	/* Optional: sees every frame in and out with 554's value shown as "***"
	 * (a redacted copy; the frame pointer is only valid during the call). */
	void (*trace)(void *ud, int dir, const char *frame, size_t len);
	void *trace_ud;
	/* Optional: checks every inbound application message before it becomes
	 * an event. Nonzero: answer with a session Reject (35=3) carrying 371
	 * (*ref_tag, none if < 0), 373 (*reason) and 58 (text), and drop it. */
	int (*validate)(void *ud, const struct fix_msg *m, int *ref_tag, int *reason, char *text,
			size_t textlen);
	void *validate_ud;
};

/* Fill cfg with the defaults (defaults.h): initiator, heartbeat 30 s, logon
 * and logout timeouts 10 s, max_body 64 KiB, tolerance 120 s, no store. */
void fix_session_cfg_init(struct fix_session_cfg *cfg);

enum fix_session_state {
	FIX_ST_IDLE = 0,       /* created, fix_session_start not yet called */
	FIX_ST_LOGON_SENT,     /* initiator: Logon sent, waiting for the reply */
	FIX_ST_AWAIT_LOGON,    /* acceptor: waiting for the peer's Logon */
	FIX_ST_LOGON_RECEIVED, /* acceptor: LOGON_REQUEST out, waiting for accept/refuse */
	FIX_ST_ACTIVE,         /* logged on both ways */
	FIX_ST_LOGOUT_SENT,    /* our Logout is out, waiting for the reply */
	FIX_ST_CLOSED,         /* over: flush the output and close the connection */
};

enum fix_event_type {
	FIX_EV_NONE = 0,
	FIX_EV_LOGON,         /* logged on (initiator: the Logon was acknowledged;
				 acceptor: after fix_session_accept, msg is NULL) */
	FIX_EV_LOGON_REQUEST, /* acceptor: a Logon arrived; answer with accept/refuse */
	FIX_EV_USER_REQUEST,  /* acceptor: 35=BE; answer with fix_session_user_response */
	FIX_EV_USER_RESPONSE, /* initiator: 35=BF */
	FIX_EV_APP,           /* any other application message, in sequence, once */
	FIX_EV_REJECT,        /* the peer sent a session Reject (35=3); not fatal */
	FIX_EV_LOGOUT,        /* the peer sent a Logout; CLOSED follows */
	FIX_EV_CLOSED,        /* the session is over (always the last event) */
};

/* A byte string that is not NUL-terminated; {NULL, 0} when absent. */
struct fix_sv {
	const char *ptr;
	size_t len;
};

struct fix_event {
	enum fix_event_type type;
	/* The inbound message behind the event (all fields, wire order), or NULL
	 * (CLOSED, the acceptor's LOGON). */
	const struct fix_msg *msg;
	union {
		struct {
			int heartbeat_s; /* the HeartBtInt in force */
			int reset;       /* 141=Y was exchanged */
		} logon;
		struct {
			struct fix_sv sender_comp_id; /* the peer's 49 */
			struct fix_sv username;       /* 553, if any */
			struct fix_sv password;       /* 554, if any: never log it */
			int heartbeat_s;              /* 108 */
			int reset;                    /* 141=Y */
		} logon_request;
		struct {
			struct fix_sv req_id;   /* 923 */
			struct fix_sv username; /* 553 */
			struct fix_sv password; /* 554: never log it */
			int type;               /* 924: 1 log on, 2 log off, ... (-1 absent) */
		} user_request;
		struct {
			struct fix_sv req_id;   /* 923 */
			struct fix_sv username; /* 553 */
			struct fix_sv text;     /* 927 */
			int status;             /* 926: 1 logged in, 2 not logged in, 3 user
						   not recognised, 4 password incorrect,
						   6 other (-1 absent) */
		} user_response;
		struct {
			struct fix_sv msg_type; /* 35 */
		} app;
		struct {
			uint64_t ref_seq_num;       /* 45 (0 absent) */
			int ref_tag;                /* 371 (-1 absent) */
			struct fix_sv ref_msg_type; /* 372 */
			int reason;                 /* 373 SessionRejectReason (-1 absent) */
			struct fix_sv text;         /* 58 */
		} reject;
		struct {
			struct fix_sv text; /* 58 */
		} logout;
		struct {
			/* Short stable code: "timeout" (logon, heartbeat), "rejected"
			 * (Logon answered by a Logout, or refused by the acceptor app),
			 * "protocol" (the peer broke the session rules), "disconnected"
			 * (fix_session_disconnected), "logged_out" (a Logout exchange
			 * ended it, started by either side or our logout timed out),
			 * "store" (the sequence store failed). */
			const char *code;
			const char *reason; /* for a person: "no Logon reply within 5 s" */
			int by_peer;        /* 1 if the peer ended it (its Logout) */
			enum fix_close_cause cause;
		} closed;
	};
};

/* One outbound field for fix_session_send: tag and value bytes (no SOH). */
struct fix_out_field {
	uint32_t tag;
	const char *val;
	size_t len;
};

/* Errors returned by the API calls (0 is success). */
enum fix_session_err {
	FIX_SESSION_OK = 0,
	FIX_SESSION_E_STATE = -100,     /* not allowed in the current state */
	FIX_SESSION_E_ARG = -101,       /* bad argument (NULL, SOH in a value, bad MsgType) */
	FIX_SESSION_E_TOO_LARGE = -102, /* the message body would exceed max_body */
	FIX_SESSION_E_NOMEM = -103,     /* the output buffer could not grow */
	FIX_SESSION_E_STORE = -104,     /* the store failed; the session is CLOSED */
};

/* Short, stable text for a fix_session_err or fix_status value. */
const char *fix_session_strerror(int err);

struct fix_session;

/* Allocate a session (all its buffers) from cfg; NULL on a bad cfg (missing
 * CompID, CompID longer than FIX_SESSION_MAX_COMP_ID) or out of memory. */
struct fix_session *fix_session_new(const struct fix_session_cfg *cfg);

/* Free the session and everything it owns; NULL is fine. */
void fix_session_free(struct fix_session *s);

/* Begin: the initiator queues its Logon (wiping nothing of the caller's) and
 * arms the logon timeout; the acceptor arms the timeout for the peer's Logon. */
int fix_session_start(struct fix_session *s, int64_t now_ms);

/* Hand received bytes to the session; returns how many it took. Fewer than n
 * only when FIX_SESSION_MAX_EVENTS events (or the inbound buffer) are waiting
 * to be polled: poll them, then feed the rest. After CLOSED it takes and
 * ignores everything. */
size_t fix_session_feed(struct fix_session *s, const char *bytes, size_t n, int64_t now_ms);

/* Run the timers (heartbeat, TestRequest, logon/logout timeouts). */
void fix_session_tick(struct fix_session *s, int64_t now_ms);

/* The transport dropped: CLOSED "disconnected" (or "logged_out" when our
 * Logout was outstanding), unless the session is already closed. */
void fix_session_disconnected(struct fix_session *s, int64_t now_ms);

/* Bytes waiting to be sent (all queued frames, coalesced); *len = 0 if none. */
const char *fix_session_out(const struct fix_session *s, size_t *len);

/* The first n bytes of fix_session_out were written; bytes that carried a
 * password are wiped as they are consumed. */
void fix_session_out_consume(struct fix_session *s, size_t n);

/* Pop the next event into *ev; 1 if there was one, 0 otherwise. */
int fix_session_poll_event(struct fix_session *s, struct fix_event *ev);

/* Absolute time (ms) at which fix_session_tick must be called next, or
 * INT64_MAX when no timer is armed. */
int64_t fix_session_deadline(const struct fix_session *s);

enum fix_session_state fix_session_state(const struct fix_session *s);

/* "idle", "logon_sent", "await_logon", "logon_received", "active",
 * "logout_sent", "closed". */
const char *fix_session_state_name(enum fix_session_state st);

/* 1 if an application message may carry this tag: not 0, at most 9 digits,
 * and not one the session writes itself (8, 9, 10, 34, 35, 43, 49, 52, 56,
 * 97, 122). */
int fix_session_app_tag_ok(uint32_t tag);

/* 1 if fix_session_send takes this MsgType: one of the FIX 4.4 dictionary
 * (or a user-defined "U..." type) that is not a session message. */
int fix_session_app_msg_type_ok(const char *msg_type);

/* Send an application message (ACTIVE only): header, then fields in the
 * given order. Admin MsgTypes (0-5, A) are refused. The frame is kept in the
 * store for resends. */
int fix_session_send(struct fix_session *s, const char *msg_type,
		     const struct fix_out_field *fields, size_t nfields, int64_t now_ms);

/* Initiator, ACTIVE: send 35=BE with 923=req_id, 924=type (1 log on, 2 log
 * off), 553=username and, if not NULL, 554=password. The frame is never
 * stored (credentials); a resend gap-fills it. The caller owns and wipes its
 * own password copy. */
int fix_session_user_request(struct fix_session *s, const char *req_id, int type,
			     const char *username, const char *password, int64_t now_ms);

/* Acceptor, ACTIVE: answer a USER_REQUEST with 35=BF: 923=req_id,
 * 553=username, 926=status and 927=text when text is not NULL. */
int fix_session_user_response(struct fix_session *s, const char *req_id, const char *username,
			      int status, const char *text, int64_t now_ms);

/* Start a Logout (35=5 with 58=text when not NULL): CLOSED "logged_out" comes
 * when the peer answers or logout_timeout_ms passes. Before the logon is
 * complete it just closes. */
int fix_session_logout(struct fix_session *s, const char *text, int64_t now_ms);

/* Acceptor, LOGON_RECEIVED: answer the Logon (same 108, 141=Y if asked), the
 * session becomes ACTIVE and a LOGON event follows. */
int fix_session_accept(struct fix_session *s, int64_t now_ms);

/* Acceptor, LOGON_RECEIVED: send a Logout with 58=text and close (CLOSED
 * "rejected"). */
int fix_session_refuse(struct fix_session *s, const char *text, int64_t now_ms);

/* The wall clock: wall_ms (UTC ms since the Unix epoch) was the time when the
 * timer clock read now_ms. Call it before a call whenever the wall clock may
 * have been stepped (the drivers do before every call); until the next call
 * the session takes UTC = now_ms + (wall_ms - now_ms). */
void fix_session_set_clock(struct fix_session *s, int64_t now_ms, int64_t wall_ms);

/* Next outbound MsgSeqNum / next expected inbound MsgSeqNum. */
uint64_t fix_session_next_out_seq(const struct fix_session *s);
uint64_t fix_session_next_in_seq(const struct fix_session *s);

/* The peer's CompID (the acceptor's learned one once the Logon arrived), or
 * "" if not known yet. NUL-terminated, session-owned. */
const char *fix_session_target_comp_id(const struct fix_session *s);

/* HeartBtInt in force, in seconds (acceptor: the peer's, once known). */
int fix_session_heartbeat_s(const struct fix_session *s);
/* The CLOSED event's cause, until fix_session_free (FIX_CLOSE_OTHER before). */
enum fix_close_cause fix_session_close_cause(const struct fix_session *s);

#endif
