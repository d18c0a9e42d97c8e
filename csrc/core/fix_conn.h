/* A FIX connection, either role: one fix_session (sans-I/O) pumped over one
 * transport (TCP or TLS) on the reactor. Received bytes go to
 * fix_session_feed, the session's output is appended to the transport (one
 * flush per loop turn for everything queued), its deadline is a reactor
 * timer, and its events reach the owner's callbacks. An initiator
 * (fix_conn_open) connects and its sequence numbers persist in a seqstore
 * when a store directory is given; an acceptor (fix_conn_accept) serves a
 * socket a listener accepted and lets its owner set the session up from the
 * first frame (the exchange: the SenderCompID picks the store).
 *
 * Threading: fix_conn_send_async and fix_conn_logout_async may be called
 * from any thread (they post to the I/O thread); everything else, and every
 * callback, runs on the reactor's I/O thread. */
#ifndef BT_FIX_CONN_H
#define BT_FIX_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "fix_session.h"

struct bt_reactor;
struct transport_tls_ctx;
struct fix_conn;
struct seqstore;

struct fix_conn_opts {
	const char *host; /* FIX acceptor; numeric addresses skip resolution */
	uint16_t port;
	int64_t connect_timeout_ms;    /* TCP (+TLS) setup; <= 0: 10 s */
	struct transport_tls_ctx *tls; /* NULL = plain TCP; shared, not owned */
	const char *server_name;       /* TLS name to verify; NULL = host */
	/* Session settings (role is forced to initiator). Strings, username and
	 * password included, are copied; the password copy is wiped once the
	 * Logon carrying it is encoded. cfg.store is ignored: see store_dir. */
	struct fix_session_cfg session;
	/* An open store the connection takes over: it is closed by the
	 * connection, also when fix_conn_open fails. Open it off the I/O thread
	 * (a CRC scan of the whole file). NULL: see store_dir. */
	struct seqstore *store;
	/* Without store: a directory opened here, or NULL: sequence numbers
	 * start at 1 and are not kept. */
	const char *store_dir;
	int store_flags; /* SEQSTORE_FSYNC for power-loss durability */
};

struct fix_conn_cbs {
	/* The stream is up and the Logon is queued. Optional. */
	void (*on_connected)(void *arg);
	/* A session event other than CLOSED (LOGON, USER_RESPONSE, APP, REJECT,
	 * LOGOUT); pointers inside ev are valid during the call only. */
	void (*on_event)(void *arg, const struct fix_event *ev);
	/* The connection is over; called exactly once, last, unless the owner
	 * called fix_conn_free first. code: a transport code ("refused",
	 * "connect_failed", "timeout", "tls_failed", "disconnected") or a session
	 * one ("timeout", "rejected", "protocol", "logged_out", "store"). The
	 * owner must still call fix_conn_free. */
	void (*on_closed)(void *arg, const char *code, const char *reason);
	/* The socket took some of the queued output. Optional. */
	void (*on_written)(void *arg);
};

struct fix_conn_accept_opts {
	int fd;                         /* an accepted socket, taken over (closed by us) */
	struct transport_tls_ctx *tls;  /* transport_tls_server_ctx_new, or NULL */
	size_t first_bytes_max;         /* bytes buffered before a frame; 0: max body + 256 */
	int64_t first_frame_timeout_ms; /* TLS handshake and first frame; <= 0: 10 s */
	int64_t close_grace_ms; /* after the session ended: time to send the rest (linger) */
	/* Required, called with fix_conn_accept's arg: the first frame is
	 * complete (or the bytes are no frame at all); buf holds everything
	 * received so far. Fill in cfg (already fix_session_cfg_init'ed; the
	 * role is forced to acceptor; its strings and store must outlive the
	 * connection) and return 0: the session starts and is fed buf. -1: the
	 * connection closes (on_closed "refused"). */
	int (*on_first_bytes)(void *arg, const char *buf, size_t len, struct fix_session_cfg *cfg);
};

/* Start connecting. NULL with the reason in err for a bad configuration,
 * a store that cannot be opened, or no memory; never calls back inline. */
struct fix_conn *fix_conn_open(struct bt_reactor *r, const struct fix_conn_opts *opts,
			       const struct fix_conn_cbs *cbs, void *arg, char *err, size_t errlen);

/* Serve an accepted socket in the acceptor role. on_closed follows a TLS
 * failure, a first frame not complete in time ("timeout") or too many bytes
 * before one ("protocol"). NULL for bad arguments or no memory (the socket is
 * closed then too), with the reason in err; never calls back inline. */
struct fix_conn *fix_conn_accept(struct bt_reactor *r, const struct fix_conn_accept_opts *opts,
				 const struct fix_conn_cbs *cbs, void *arg, char *err,
				 size_t errlen);

/* Drop the line as a crash would: no Logout, and of the session's output
 * only what the transport already holds goes (as far as the socket takes it
 * now); on_closed("dropped") follows. Inside one of this connection's own
 * callbacks the drop happens once the callback returns: the current frame's
 * events are handled and their output goes out, nothing more is fed. */
void fix_conn_drop(struct fix_conn *c);

/* Slow writes (a fault the exchange plays): what is queued now still goes
 * at full speed, everything after it one byte per byte_ms. 0 turns it off. */
void fix_conn_pace(struct fix_conn *c, int64_t byte_ms);

/* Write what the session queued now instead of at the end of the turn. */
void fix_conn_flush(struct fix_conn *c);

/* Drop the connection at once (no Logout; use fix_conn_logout for a clean
 * end), close the store and release the owner's reference. No callback runs
 * afterwards. Safe inside a callback. NULL is a no-op. */
void fix_conn_free(struct fix_conn *c);

/* The session, for state and sequence queries; NULL before the stream is up
 * and after the connection closed. */
struct fix_session *fix_conn_session(struct fix_conn *c);
/* The session's close cause (fix_session_close_cause); valid inside
 * on_closed too, where fix_conn_session is NULL already. */
enum fix_close_cause fix_conn_close_cause(const struct fix_conn *c);

/* Send an application message (ACTIVE only). Returns a fix_session_err. */
int fix_conn_send(struct fix_conn *c, const char *msg_type, const struct fix_out_field *fields,
		  size_t nfields);

/* Output so far: *produced counts every byte the session queued since the
 * connection opened, *unsent those not yet taken by the socket (for TLS the
 * encrypted bytes waiting count too, so it errs towards "not yet"). */
void fix_conn_out_stats(struct fix_conn *c, uint64_t *produced, size_t *unsent);

/* 35=BE after the Logon ack: type 1 log on, 2 log off. The caller wipes its
 * own password; the bytes queued for the wire are wiped as they are sent. */
int fix_conn_user_request(struct fix_conn *c, const char *req_id, int type, const char *username,
			  const char *password);

/* Cork on: fix_conn_send and the other API calls only queue (no callback
 * runs, nothing is written). Cork off: the whole batch is committed to the
 * store with one write and handed to the transport at once (group commit).
 * I/O thread only; uncork before returning to the reactor. */
void fix_conn_cork(struct fix_conn *c, int on);

/* Start a Logout (58=text if not NULL); on_closed("logged_out") follows. */
int fix_conn_logout(struct fix_conn *c, const char *text);

/* Any thread: copy the message and send it from the I/O thread. done (may be
 * NULL) runs there with the fix_session_err result. 0 when posted, or a
 * negative errno / FIX_SESSION_E_ARG. c must stay owned (not yet freed by a
 * call ordered before this one). */
int fix_conn_send_async(struct fix_conn *c, const char *msg_type,
			const struct fix_out_field *fields, size_t nfields,
			void (*done)(void *arg, int rc), void *arg);

/* Any thread: fix_conn_logout on the I/O thread. 0 when posted. */
int fix_conn_logout_async(struct fix_conn *c, const char *text);

#endif
