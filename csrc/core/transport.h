/* A byte stream over TCP, optionally TLS, driven by the reactor: either one
 * we open (transport_open: the host name is resolved off the I/O thread,
 * connect and handshake run under one deadline) or one a listener accepted
 * (transport_accept: TLS in the server role). Writes are appended to a
 * buffer and flushed together, and every failure carries a message a person
 * can act on plus a stable code.
 *
 * Threading: every function here, and every callback, runs on the reactor's
 * I/O thread (transport_tls_ctx_* excepted: they may run anywhere). */
#ifndef BT_TRANSPORT_H
#define BT_TRANSPORT_H

#include <stddef.h>
#include <stdint.h>

/* Stable failure codes; transport_code_name() gives the lowercase names the
 * Lua side returns as the third value. */
enum transport_code {
	TRANSPORT_OK = 0,
	TRANSPORT_REFUSED,        /* "refused": nobody listens on host:port */
	TRANSPORT_CONNECT_FAILED, /* "connect_failed": DNS, unreachable, bad config */
	TRANSPORT_TIMEOUT,        /* "timeout": connect or handshake deadline passed */
	TRANSPORT_TLS_FAILED,     /* "tls_failed": handshake or certificate check failed */
	TRANSPORT_DISCONNECTED,   /* "disconnected": peer closed or reset an open stream */
};

/* "refused", "connect_failed", ...; "ok" for 0, "unknown" outside the enum. */
const char *transport_code_name(int code);

/* TLS settings. Verification of the chain and of the host name is on unless
 * insecure is set. */
struct transport_tls_opts {
	const char *ca_file;   /* PEM bundle to trust; NULL = the system store */
	const char *cert_file; /* client certificate (PEM), optional */
	const char *key_file;  /* its key (PEM); NULL = cert_file holds it */
	int insecure;          /* 1 = skip all verification (tests only) */
};

/* A reference-counted TLS client context: build it once, share it between
 * many transports (loading a CA bundle per connection is expensive). */
struct transport_tls_ctx;

/* Build a context; NULL on failure with a readable reason in err
 * ("cannot load CA file 'x.pem': No such file or directory"). */
struct transport_tls_ctx *transport_tls_ctx_new(const struct transport_tls_opts *opts, char *err,
						size_t errlen);
/* A server context for transport_accept: the certificate chain and its key
 * (PEM), TLS 1.2 or later. NULL on failure with "FILE: reason" in err (the
 * file that would not load, and why). */
struct transport_tls_ctx *transport_tls_server_ctx_new(const char *cert_file, const char *key_file,
						       char *err, size_t errlen);
/* Drop one reference; transports keep their own. NULL is a no-op. */
void transport_tls_ctx_free(struct transport_tls_ctx *ctx);

struct transport;
struct bt_reactor;

struct transport_cbs {
	/* The stream is up (TCP connected, TLS handshake verified). */
	void (*on_open)(void *arg);
	/* Bytes received (plaintext). The buffer is valid during the call only. */
	void (*on_data)(void *arg, const char *buf, size_t len);
	/* The stream failed or the peer closed it; called at most once and never
	 * after transport_close(). The transport must still be closed by the
	 * owner (transport_close) to free it; msg is valid during the call. */
	void (*on_error)(void *arg, int code, const char *msg);
	/* The kernel took some of the buffered bytes (transport_pending fell).
	 * Optional; may run inside transport_flush. */
	void (*on_written)(void *arg);
};

struct transport_opts {
	const char *host; /* name or numeric address; numeric skips resolution */
	uint16_t port;
	int64_t connect_timeout_ms;    /* resolve + connect + handshake; <= 0: 10 s */
	struct transport_tls_ctx *tls; /* NULL = plain TCP */
	const char *server_name;       /* SNI + name to verify; NULL = host */
};

/* Start connecting (never calls back before returning); callbacks report the
 * outcome. NULL only for invalid opts, no memory or no thread for the
 * resolver, with the reason in err. */
struct transport *transport_open(struct bt_reactor *r, const struct transport_opts *opts,
				 const struct transport_cbs *cbs, void *arg, char *err,
				 size_t errlen);

/* Serve an accepted, connected socket, which the transport takes over (it is
 * closed by the transport, also when this fails). tls: a server context
 * (transport_tls_server_ctx_new) or NULL for plain TCP. on_open follows the
 * handshake (which must end within handshake_timeout_ms, <= 0: 10 s), or for
 * plain TCP the first turn; never before returning. An accepted transport
 * reads until the socket is empty on each wake-up (a client's last frame and
 * its hang-up are seen together). Messages name the peer
 * ("TLS handshake with 127.0.0.1:40212 failed: ..."). NULL only for bad
 * arguments or no memory, with the reason in err. I/O thread only. */
struct transport *transport_accept(struct bt_reactor *r, int fd, struct transport_tls_ctx *tls,
				   int64_t handshake_timeout_ms, const struct transport_cbs *cbs,
				   void *arg, char *err, size_t errlen);

/* Append bytes to the send buffer; they go out together once the current
 * I/O-thread callback returns (or right away on transport_flush). Bytes
 * written before the stream is open are sent once it is. 0, or -1 when the
 * transport has already failed or was closed. */
int transport_write(struct transport *t, const void *buf, size_t len);

/* Try to send the buffered bytes now (one syscall for all of them). */
void transport_flush(struct transport *t);

/* Bytes appended but not yet accepted by the kernel. */
size_t transport_pending(const struct transport *t);

/* Bytes of send buffers held (0 once everything written was sent). */
size_t transport_buffer_size(const struct transport *t);

/* Let transport_close go on sending what the socket did not take at once,
 * for up to ms (or until the peer goes), without callbacks, before it
 * closes: a server's last words (a Logout after a burst) reach a slow
 * reader. 0 (the default): close at once, dropping the rest. */
void transport_set_linger(struct transport *t, int64_t ms);

/* Close and free: buffered bytes are flushed as far as the socket accepts
 * them without blocking, TLS sends close_notify, then the fd is closed. No
 * callback runs afterwards. Safe to call from inside a callback. NULL ok. */
void transport_close(struct transport *t);

#endif
