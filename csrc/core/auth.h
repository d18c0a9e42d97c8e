/* The AuthCoordinator: one client's state machine over the HTTP channel
 * (registration) and the FIX channel (Logon, then UserRequest 35=BE /
 * UserResponse 35=BF). It decides when each channel runs and parses nothing
 * itself.
 *
 *   Disconnected --register--> Registering --ok--> Disconnected (client_id known)
 *                                           --error--> Failed
 *   Disconnected --login--> Connecting --Logon sent--> Authenticating
 *                                           --35=BF 926=1--> Active
 *   Active --logout--> Disconnected; Active --drop/peer Logout--> Failed
 *
 * Threading: the state lives under a mutex, so bt_auth_state() is true at
 * every instant from any thread. register/login/logout claim the state at
 * call time (a second login fails at once with "invalid_state"); everything
 * after that happens on the reactor's I/O thread. Results reach the owner
 * through ops and "state"/"message" user events on its completion queue; the
 * I/O thread never touches a Lua state.
 *
 * The rules are a sans-I/O machine (auth_machine.h), driven by auth.c.
 *
 * Credentials: the password is copied once, kept only until the 35=BE is
 * encoded, then wiped (OPENSSL_cleanse). The registration token is wiped
 * when the client is freed. */
#ifndef BT_AUTH_H
#define BT_AUTH_H

#include "defaults.h"

#include <stddef.h>
#include <stdint.h>

struct bt_reactor;
struct bt_cq;
struct bt_op;
struct bt_auth;
struct fix_msg;

enum bt_auth_state {
	BT_AUTH_DISCONNECTED = 0,
	BT_AUTH_REGISTERING,
	BT_AUTH_CONNECTING,
	BT_AUTH_AUTHENTICATING,
	BT_AUTH_ACTIVE,
	BT_AUTH_FAILED,
};

/* "Disconnected", "Registering", ... (the names the Lua API shows). */
const char *bt_auth_state_name(enum bt_auth_state st);

struct bt_auth_cfg {
	/* HTTP channel (NULL: none; register and profile fail at once) */
	const char *api_url;
	size_t max_response;
	/* FIX channel */
	const char *fix_host;
	uint16_t fix_port;
	const char *target_comp_id;
	int heartbeat_s;
	int reset_on_logon;
	const char *logon_username; /* optional 553/554 in the Logon */
	const char *logon_password;
	size_t max_body;       /* largest BodyLength accepted, inbound and outbound */
	size_t max_send_queue; /* bytes bt_auth_send may queue before "busy" */
	const char *store_dir; /* NULL: no persistence (numbers from 1 each logon) */
	int store_fsync;
	/* Outbound messages kept for resends, at least; older ones are dropped
	 * from the store and a resend gap-fills them. 0: keep all. */
	size_t resend_window;
	/* Deadlines, ms */
	int64_t timeout_ms; /* HTTP request total, and the UserResponse wait */
	int64_t connect_timeout_ms;
	int64_t logon_timeout_ms;
	int64_t logout_timeout_ms;
	/* TLS: fix_tls turns it on for the FIX channel; the CA/cert options
	 * serve both channels (https is always verified). */
	int fix_tls;
	const char *ca_file;
	const char *cert_file;
	const char *key_file;
	const char *server_name; /* SNI/verify name for FIX; NULL = fix_host */
	int tls_insecure;        /* skip verification (tests only) */
	/* Queue a "trace" user event (dir, frame) for every FIX frame in and
	 * out, 554 shown as "***" (the session redacts before we see it). */
	int trace;
	/* Optional inbound check (fix_session_cfg.validate): messages it refuses
	 * get a session Reject and never become "message" events. validate_ud
	 * must outlive the client. */
	int (*validate)(void *ud, const struct fix_msg *m, int *ref_tag, int *reason, char *text,
			size_t textlen);
	void *validate_ud;
	/* Reconnect after an unplanned end of an Active session (0: off):
	 * the first attempt at once, then interval * backoff^k up to max,
	 * spread by +-jitter; attempts 0: no limit. The last login's password
	 * is kept in memory meanwhile (wiped when the client is freed). */
	int reconnect;
	/* auth = "logon": the Logon ack authenticates (no 35=BE, the login
	 * password may be NULL) */
	int auth_logon;
	/* check_comp_id = "session": fix_session_cfg.comp_id_session_only */
	int comp_id_session_only;
	int logon_seq_adopt; /* logon_seq = "adopt": fix_session_cfg.logon_seq_adopt */
	/* begin_strings: fix_session_cfg.begin_strings (space-separated) */
	const char *begin_strings;
	int64_t reconnect_interval_ms;
	int64_t reconnect_max_ms;
	double reconnect_backoff;
	double reconnect_jitter;
	unsigned reconnect_attempts;
};

/* Default deadlines and sizes; the strings stay NULL. */
void bt_auth_cfg_init(struct bt_auth_cfg *cfg);

/* Trying to get a lost session back (reconnect): state() is Connecting or
 * Authenticating and its reason says why the session was lost. */
int bt_auth_reconnecting(struct bt_auth *a);

/* A client reporting to cq. Copies cfg. NULL with a reason in err. */
struct bt_auth *bt_auth_new(struct bt_reactor *r, struct bt_cq *cq, const struct bt_auth_cfg *cfg,
			    char *err, size_t errlen);

/* Tears down any connection (no Logout exchange), fails pending ops with
 * "cancelled", wipes credentials and frees. Any thread but the I/O thread. */
void bt_auth_free(struct bt_auth *a);

/* Current state; copies the last failure reason/code (or "") when asked. */
enum bt_auth_state bt_auth_state(struct bt_auth *a, char *reason, size_t reason_len, char *code,
				 size_t code_len);

/* The SenderCompID (client_id) known from registration or login, or "". */
void bt_auth_sender_comp_id(struct bt_auth *a, char *out, size_t len);

/* The completion-queue target of this client's user events:
 *   "state"   (new, old, reason-or-nil)       on every transition, in order
 *   "message" (raw FIX frame)                  per inbound application message
 *   "trace"   ("in"|"out"|"garbled", frame)    per frame, when cfg.trace is set
 *   "drained" ()                               once the send queue is empty, after
 *                                              bt_auth_flush_request returned 0 */
uint64_t bt_auth_event_target(const struct bt_auth *a);

/* POST /api/register. The op resolves to (client_id, token) or fails.
 * Refused at once with "invalid_state" unless Disconnected or Failed. */
struct bt_op *bt_auth_register(struct bt_auth *a, const char *username, const char *password);

/* Connect, Logon, then UserRequest with 553=client_id and 554=password. The
 * op resolves to true when Active. Refused at once unless Disconnected or
 * Failed. */
struct bt_op *bt_auth_login(struct bt_auth *a, const char *client_id, const char *password);

/* Active: Logout exchange (or its timeout), then Disconnected. Connecting or
 * Authenticating: cancels the attempt (its op fails "cancelled"), then
 * Disconnected. Failed: back to Disconnected. Disconnected: done at once. */
struct bt_op *bt_auth_logout(struct bt_auth *a);

/* GET /api/profile with the token from the last register(). Any state; one
 * at a time. The op resolves to the JSON text of the profile. */
struct bt_op *bt_auth_profile(struct bt_auth *a);

/* Most fields bt_auth_send takes: what the session's inbound limit
 * (FIX_SESSION_MAX_FIELDS, the local exchange's too) leaves once the largest
 * header and trailer the session writes around them are counted (a resend:
 * 8, 9, 35, 49, 56, 34, 52, 43, 122 and 10). */
#define BT_AUTH_MAX_FIELDS 1014
#define BT_AUTH_DEFAULT_SEND_QUEUE BT_DEFAULT_SEND_QUEUE

enum bt_auth_send_rc {
	BT_AUTH_SEND_OK = 0,
	BT_AUTH_SEND_MISUSE = -1, /* the message itself is wrong: reason in err */
	BT_AUTH_SEND_STATE = -2,  /* not Active (or logging out) */
	BT_AUTH_SEND_BUSY = -3,   /* max_send_queue bytes already queued */
	BT_AUTH_SEND_NOMEM = -4,
};

/* Active only: queue an application message (fields in wire order) for the
 * I/O thread. Everything the session or the peer would refuse is refused
 * here (MsgType, tags, values, field count, the body against max_body), so
 * an accepted message reaches the wire, or the session ends with a reason. */
struct fix_out_field;
int bt_auth_send(struct bt_auth *a, const char *msg_type, const struct fix_out_field *fields,
		 size_t nfields, char *err, size_t errlen);

/* Bytes and messages accepted by bt_auth_send and not yet handed to the
 * socket (the bytes include the session's own frames waiting with them). */
void bt_auth_queued(struct bt_auth *a, size_t *bytes, size_t *msgs);

/* 1 if nothing is queued; otherwise 0, and a "drained" event follows once
 * everything queued now or later was handed to the socket (none if the
 * connection ends first: the "state" event says why). */
int bt_auth_flush_request(struct bt_auth *a);

/* Inbound application messages posted as "message" events so far. */
uint64_t bt_auth_received(struct bt_auth *a);

#endif
