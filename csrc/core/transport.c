/* TCP/TLS transport on the reactor, for a connection we open (client) or one
 * a listener accepted (server: the exchange). TLS runs over memory BIOs so that
 * this file does every socket syscall itself: one send() per flush for the
 * whole buffer, MSG_NOSIGNAL instead of a process-wide SIGPIPE policy, and
 * the same write path for plain and encrypted streams. */
#include "transport.h"
#include "util.h"

#include "defaults.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "reactor.h"

#define READ_CHUNK (16 * 1024)
#define MSG_MAX 512

struct transport_tls_ctx {
	SSL_CTX *ctx;
	int insecure;
	int server; /* transport_tls_server_ctx_new: only for transport_accept */
};

/* A growable byte queue: live bytes are p[off..len). */
struct bytes {
	char *p;
	size_t off, len, cap;
};

enum tstate {
	ST_RESOLVING,
	ST_CONNECTING,
	ST_HANDSHAKE,
	ST_OPEN,
	ST_FAILED,
	ST_CLOSED,
	ST_ACCEPTED, /* plain accepted socket: on_open on the first turn */
};

struct resolve_job;

struct transport {
	struct bt_reactor *r;
	enum tstate st;
	int fd;
	unsigned interest;
	char *host;
	char *server_name;
	char port_str[8];
	char where[300]; /* "host:port" as the user wrote it, for messages */
	int64_t timeout_ms;
	struct reactor_timer deadline;
	struct reactor_timer kick; /* next-turn work: coalesced flush, deferred errors */
	struct reactor_timer trim; /* gives back a big drained buffer once idle */
	int wrote;                 /* transport_write since the last trim tick */
	struct addrinfo *ai_list;
	struct addrinfo *ai_cur;
	struct resolve_job *job;
	int conn_errno; /* error of the last connect attempt */
	SSL_CTX *ssl_ctx;
	int insecure;
	int server; /* accepted: TLS in the server role */
	SSL *ssl;
	BIO *rbio, *wbio;
	struct bytes out; /* bytes for the socket: plaintext (TCP) or records (TLS) */
	struct bytes app; /* TLS: plaintext not yet given to SSL_write */
	struct transport_cbs cbs;
	void *arg;
	int busy;          /* dispatch depth: free is deferred while > 0 */
	int closed;        /* transport_close was called */
	int64_t linger_ms; /* transport_set_linger */
	int lingering;     /* closed, still sending what was left (no callbacks) */
	/* A lingering transport has no owner left: this reference keeps the
	 * reactor (and so the transport, reachable from its watches) alive
	 * until the linger ends, even if the owner releases it first. */
	struct bt_reactor *linger_ref;
};

/* Resolution runs on a detached thread that posts the answer back; the job
 * is owned by the worker until posted, then by the delivering function.
 * t is only read and cleared on the I/O thread, so it needs no lock. */
struct resolve_job {
	struct bt_reactor *r;
	struct transport *t;
	char *host;
	char port[8];
	struct addrinfo *res;
	int rc;
};

const char *transport_code_name(int code)
{
	switch (code) {
	case TRANSPORT_OK:
		return "ok";
	case TRANSPORT_REFUSED:
		return "refused";
	case TRANSPORT_CONNECT_FAILED:
		return "connect_failed";
	case TRANSPORT_TIMEOUT:
		return "timeout";
	case TRANSPORT_TLS_FAILED:
		return "tls_failed";
	case TRANSPORT_DISCONNECTED:
		return "disconnected";
	}
	return "unknown";
}

/* ------------------------------------------------------------ helpers */

/* The most specific reason OpenSSL queued, or "unknown error". */
static const char *ssl_reason(void)
{
	unsigned long e = ERR_peek_last_error();
	const char *s = e ? ERR_reason_error_string(e) : NULL;
	return s ? s : "unknown error";
}

static int bytes_reserve(struct bytes *b, size_t extra)
{
	if (b->off && b->off == b->len) {
		b->off = b->len = 0;
	}
	if (b->len + extra <= b->cap)
		return 0;
	if (b->off) {
		/* Reclaim the consumed front before growing. */
		memmove(b->p, b->p + b->off, b->len - b->off);
		b->len -= b->off;
		b->off = 0;
		if (b->len + extra <= b->cap)
			return 0;
	}
	size_t cap = b->cap ? b->cap : 4096;
	while (cap < b->len + extra)
		cap *= 2;
	char *p = malloc(cap);
	if (!p)
		return -1;
	if (b->len)
		memcpy(p, b->p, b->len);
	if (b->p) {
		OPENSSL_cleanse(b->p, b->cap);
		free(b->p);
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

static size_t bytes_avail(const struct bytes *b)
{
	return b->len - b->off;
}

/* Drop n consumed bytes; they may have carried a password, so wipe them. */
static void bytes_consume(struct bytes *b, size_t n)
{
	OPENSSL_cleanse(b->p + b->off, n);
	b->off += n;
	if (b->off == b->len)
		b->off = b->len = 0;
}

/* An idle connection keeps no send buffer: thousands of sessions sit
 * between bursts, and a burst pays one malloc, not one per message. The
 * consumed bytes were wiped already. */
static void bytes_release_if_empty(struct bytes *b)
{
	if (b->p && b->len == 0) {
		free(b->p);
		b->p = NULL;
		b->cap = 0;
	}
}

/* A drained buffer up to this size is given back at once (the heap serves
 * it again cheaply). A bigger one came from a burst and is likely mmap'd:
 * freeing it after every drained burst made the next burst fault in every
 * page again, so it is kept until a trim tick finds the connection idle. */
#define KEEP_SMALL 4096
#define TRIM_MS 1000

static void trim_cb(struct bt_reactor *r, struct reactor_timer *tm, void *ud);

static void buffer_drained(struct transport *t, struct bytes *b)
{
	if (b->len != 0 || !b->p)
		return;
	if (b->cap <= KEEP_SMALL)
		bytes_release_if_empty(b);
	else if (!reactor_timer_active(&t->trim))
		reactor_timer_start(t->r, &t->trim, TRIM_MS);
}

static void bytes_free(struct bytes *b)
{
	if (b->p) {
		OPENSSL_cleanse(b->p, b->cap);
		free(b->p);
	}
	memset(b, 0, sizeof(*b));
}

static int is_ip_literal(const char *s)
{
	unsigned char buf[sizeof(struct in6_addr)];
	return inet_pton(AF_INET, s, buf) == 1 || inet_pton(AF_INET6, s, buf) == 1;
}

/* ------------------------------------------------------------ TLS context */

struct transport_tls_ctx *transport_tls_ctx_new(const struct transport_tls_opts *opts, char *err,
						size_t errlen)
{
	struct transport_tls_opts none = {0};
	if (!opts)
		opts = &none;
	struct transport_tls_ctx *c = calloc(1, sizeof(*c));
	if (!c) {
		bt_set_err(err, errlen, "out of memory");
		return NULL;
	}
	ERR_clear_error();
	c->ctx = SSL_CTX_new(TLS_client_method());
	if (!c->ctx) {
		bt_set_err(err, errlen, "cannot create TLS context: %s", ssl_reason());
		goto fail;
	}
	SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION);
	/* Many idle sessions: give the 2 x 16 KiB record buffers back between reads. */
	SSL_CTX_set_mode(c->ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE);
	c->insecure = opts->insecure;
	SSL_CTX_set_verify(c->ctx, opts->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
	if (opts->ca_file) {
		if (access(opts->ca_file, R_OK) != 0) {
			bt_set_err(err, errlen, "cannot load CA file '%s': %s", opts->ca_file,
				   strerror(errno));
			goto fail;
		}
		if (SSL_CTX_load_verify_locations(c->ctx, opts->ca_file, NULL) != 1) {
			bt_set_err(err, errlen, "cannot load CA file '%s': %s", opts->ca_file,
				   ssl_reason());
			goto fail;
		}
	} else if (SSL_CTX_set_default_verify_paths(c->ctx) != 1) {
		bt_set_err(err, errlen, "cannot load the system CA store: %s", ssl_reason());
		goto fail;
	}
	if (opts->cert_file) {
		const char *key = opts->key_file ? opts->key_file : opts->cert_file;
		if (access(opts->cert_file, R_OK) != 0 || access(key, R_OK) != 0) {
			bt_set_err(err, errlen,
				   "cannot load client certificate '%s' / key '%s': %s",
				   opts->cert_file, key, strerror(errno));
			goto fail;
		}
		if (SSL_CTX_use_certificate_chain_file(c->ctx, opts->cert_file) != 1) {
			bt_set_err(err, errlen, "cannot load client certificate '%s': %s",
				   opts->cert_file, ssl_reason());
			goto fail;
		}
		if (SSL_CTX_use_PrivateKey_file(c->ctx, key, SSL_FILETYPE_PEM) != 1) {
			bt_set_err(err, errlen, "cannot load client key '%s': %s", key,
				   ssl_reason());
			goto fail;
		}
		if (SSL_CTX_check_private_key(c->ctx) != 1) {
			bt_set_err(err, errlen,
				   "client key '%s' does not match certificate '%s': %s", key,
				   opts->cert_file, ssl_reason());
			goto fail;
		}
	} else if (opts->key_file) {
		bt_set_err(err, errlen, "key_file given without cert_file");
		goto fail;
	}
	ERR_clear_error();
	return c;
fail:
	ERR_clear_error();
	transport_tls_ctx_free(c);
	return NULL;
}

/* The most specific reason for a file OpenSSL would not load: the file
 * system's first, then OpenSSL's. */
static const char *file_reason(const char *path, char *buf, size_t cap)
{
	if (access(path, R_OK) != 0)
		return strerror(errno);
	unsigned long e = ERR_get_error();
	const char *r = e ? ERR_reason_error_string(e) : NULL;
	if (r)
		return r;
	if (!e)
		return "unusable file";
	ERR_error_string_n(e, buf, cap);
	return buf;
}

struct transport_tls_ctx *transport_tls_server_ctx_new(const char *cert_file, const char *key_file,
						       char *err, size_t errlen)
{
	char why[256];
	if (!cert_file || !key_file) {
		bt_set_err(err, errlen, "a server needs a certificate and a key");
		return NULL;
	}
	struct transport_tls_ctx *c = calloc(1, sizeof(*c));
	if (!c) {
		bt_set_err(err, errlen, "out of memory");
		return NULL;
	}
	c->server = 1;
	ERR_clear_error();
	c->ctx = SSL_CTX_new(TLS_server_method());
	if (!c->ctx || SSL_CTX_set_min_proto_version(c->ctx, TLS1_2_VERSION) != 1) {
		bt_set_err(err, errlen, "cannot create a server context");
		goto fail;
	}
	SSL_CTX_set_mode(c->ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE);
	if (SSL_CTX_use_certificate_chain_file(c->ctx, cert_file) != 1) {
		bt_set_err(err, errlen, "%s: %s", cert_file,
			   file_reason(cert_file, why, sizeof(why)));
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(c->ctx, key_file, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(c->ctx) != 1) {
		bt_set_err(err, errlen, "%s: %s", key_file,
			   file_reason(key_file, why, sizeof(why)));
		goto fail;
	}
	ERR_clear_error();
	return c;
fail:
	ERR_clear_error();
	transport_tls_ctx_free(c);
	return NULL;
}

void transport_tls_ctx_free(struct transport_tls_ctx *c)
{
	if (!c)
		return;
	SSL_CTX_free(c->ctx);
	free(c);
}

/* ------------------------------------------------------------ teardown */

static void release_resources(struct transport *t)
{
	reactor_timer_stop(t->r, &t->deadline);
	reactor_timer_stop(t->r, &t->kick);
	reactor_timer_stop(t->r, &t->trim);
	if (t->fd >= 0) {
		reactor_unwatch(t->r, t->fd);
		close(t->fd);
		t->fd = -1;
	}
	t->interest = 0;
	if (t->job) {
		t->job->t = NULL; /* the worker's answer will find nobody and free itself */
		t->job = NULL;
	}
	if (t->ai_list) {
		freeaddrinfo(t->ai_list);
		t->ai_list = t->ai_cur = NULL;
	}
	if (t->ssl) {
		SSL_free(t->ssl); /* frees both BIOs */
		t->ssl = NULL;
		t->rbio = t->wbio = NULL;
	}
	bytes_free(&t->out);
	bytes_free(&t->app);
}

static void destroy(struct transport *t)
{
	release_resources(t);
	SSL_CTX_free(t->ssl_ctx);
	free(t->host);
	free(t->server_name);
	struct bt_reactor *ref = t->linger_ref;
	free(t);
	reactor_release(ref); /* on the I/O thread: never joins itself */
}

/* Every reactor entry point brackets its work with enter/leave, so a
 * transport_close from inside a user callback only marks the object and the
 * memory goes away when the outermost frame unwinds. */
static void enter(struct transport *t)
{
	t->busy++;
}

static void leave(struct transport *t)
{
	if (--t->busy == 0 && t->closed && !t->lingering)
		destroy(t);
}

/* Alive and not closed by the user: safe to go on touching state. */
static int live(const struct transport *t)
{
	return !t->closed && t->st != ST_FAILED;
}

static void fail(struct transport *t, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void fail(struct transport *t, int code, const char *fmt, ...)
{
	if (!live(t))
		return;
	char msg[MSG_MAX];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	release_resources(t);
	t->st = ST_FAILED;
	if (t->cbs.on_error)
		t->cbs.on_error(t->arg, code, msg);
}

/* ------------------------------------------------------------ write path */

static void set_interest(struct transport *t, unsigned ev)
{
	if (t->fd < 0 || ev == t->interest)
		return;
	if (reactor_modify(t->r, t->fd, ev) == 0)
		t->interest = ev;
}

/* Move every record OpenSSL produced into the socket queue. */
static int drain_wbio(struct transport *t)
{
	size_t n = BIO_ctrl_pending(t->wbio);
	if (!n)
		return 0;
	if (bytes_reserve(&t->out, n) != 0)
		return -1;
	int k = BIO_read(t->wbio, t->out.p + t->out.len, (int)n);
	if (k > 0)
		t->out.len += (size_t)k;
	return 0;
}

/* Send what is queued with one syscall; keep WRITE interest only while
 * bytes remain. Fails the transport on a hard error. */
static void send_out(struct transport *t)
{
	size_t n = bytes_avail(&t->out);
	int progress = 0;
	if (n) {
		ssize_t k = send(t->fd, t->out.p + t->out.off, n, MSG_NOSIGNAL);
		if (k > 0) {
			bytes_consume(&t->out, (size_t)k);
			buffer_drained(t, &t->out);
			progress = 1;
		} else if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
			fail(t, TRANSPORT_DISCONNECTED, "connection to %s lost: %s", t->where,
			     strerror(errno));
			return;
		}
	}
	set_interest(t, REACTOR_READ | (bytes_avail(&t->out) ? REACTOR_WRITE : 0));
	if (progress && live(t) && t->cbs.on_written)
		t->cbs.on_written(t->arg);
}

static void flush_now(struct transport *t)
{
	if (t->st != ST_OPEN)
		return;
	if (t->ssl && bytes_avail(&t->app)) {
		ERR_clear_error();
		while (bytes_avail(&t->app)) {
			size_t n = bytes_avail(&t->app);
			int k = SSL_write(t->ssl, t->app.p + t->app.off,
					  n > INT32_MAX ? INT32_MAX : (int)n);
			if (k <= 0) {
				fail(t, TRANSPORT_DISCONNECTED, "TLS write to %s failed: %s",
				     t->where, ssl_reason());
				return;
			}
			bytes_consume(&t->app, (size_t)k);
		}
		buffer_drained(t, &t->app);
		if (drain_wbio(t) != 0) {
			fail(t, TRANSPORT_DISCONNECTED, "connection to %s: out of memory",
			     t->where);
			return;
		}
	}
	send_out(t);
}

static void kick_cb(struct bt_reactor *r, struct reactor_timer *tm, void *ud);

static void schedule_kick(struct transport *t)
{
	if (!reactor_timer_active(&t->kick))
		reactor_timer_start(t->r, &t->kick, 0);
}

int transport_write(struct transport *t, const void *buf, size_t len)
{
	if (!t || !live(t))
		return -1;
	if (!len)
		return 0;
	struct bytes *b = t->ssl_ctx ? &t->app : &t->out;
	if (bytes_reserve(b, len) != 0)
		return -1;
	memcpy(b->p + b->len, buf, len);
	b->len += len;
	t->wrote = 1;
	if (t->st == ST_OPEN)
		schedule_kick(t);
	return 0;
}

void transport_flush(struct transport *t)
{
	if (!t || !live(t))
		return;
	enter(t);
	flush_now(t);
	leave(t);
}

size_t transport_pending(const struct transport *t)
{
	return t ? bytes_avail(&t->out) + bytes_avail(&t->app) : 0;
}

size_t transport_buffer_size(const struct transport *t)
{
	return t ? t->out.cap + t->app.cap : 0;
}

/* ------------------------------------------------------------ open / read */

static void became_open(struct transport *t)
{
	reactor_timer_stop(t->r, &t->deadline);
	if (t->ai_list) {
		freeaddrinfo(t->ai_list);
		t->ai_list = t->ai_cur = NULL;
	}
	t->st = ST_OPEN;
	if (t->cbs.on_open)
		t->cbs.on_open(t->arg);
	if (live(t))
		flush_now(t); /* what was written before the stream was up */
}

static void tls_failure(struct transport *t, int sslerr)
{
	long vr = SSL_get_verify_result(t->ssl);
	if (vr != X509_V_OK && !t->insecure)
		fail(t, TRANSPORT_TLS_FAILED, "TLS handshake with %s failed: %s: %s", t->where,
		     ERR_peek_last_error() ? ssl_reason() : "certificate verify failed",
		     X509_verify_cert_error_string(vr));
	else if (sslerr == SSL_ERROR_SYSCALL && !ERR_peek_last_error())
		fail(t, TRANSPORT_TLS_FAILED, "TLS handshake with %s failed: connection closed",
		     t->where);
	else
		fail(t, TRANSPORT_TLS_FAILED, "TLS handshake with %s failed: %s", t->where,
		     ssl_reason());
}

static void handshake_step(struct transport *t)
{
	ERR_clear_error();
	int rc = SSL_do_handshake(t->ssl);
	int e = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(t->ssl, rc);
	if (drain_wbio(t) != 0) {
		fail(t, TRANSPORT_TLS_FAILED, "TLS handshake with %s: out of memory", t->where);
		return;
	}
	if (rc == 1) {
		became_open(t); /* flushes the last handshake records too */
		return;
	}
	if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
		send_out(t);
		return;
	}
	/* Send our alert before failing so the server learns why. */
	if (bytes_avail(&t->out))
		(void)!send(t->fd, t->out.p + t->out.off, bytes_avail(&t->out), MSG_NOSIGNAL);
	tls_failure(t, e);
}

static int start_tls(struct transport *t)
{
	ERR_clear_error();
	t->ssl = SSL_new(t->ssl_ctx);
	t->rbio = BIO_new(BIO_s_mem());
	t->wbio = BIO_new(BIO_s_mem());
	if (!t->ssl || !t->rbio || !t->wbio) {
		BIO_free(t->rbio);
		BIO_free(t->wbio);
		t->rbio = t->wbio = NULL;
		return -1;
	}
	/* An empty memory BIO means "no data yet", not EOF. */
	BIO_set_mem_eof_return(t->rbio, -1);
	SSL_set_bio(t->ssl, t->rbio, t->wbio);
	if (t->server) {
		SSL_set_accept_state(t->ssl);
		t->st = ST_HANDSHAKE;
		return 0; /* the client speaks first */
	}
	SSL_set_connect_state(t->ssl);
	const char *name = t->server_name ? t->server_name : t->host;
	if (!is_ip_literal(name))
		SSL_set_tlsext_host_name(t->ssl, name);
	if (!t->insecure) {
		int ok = is_ip_literal(name)
			     ? X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), name)
			     : SSL_set1_host(t->ssl, name);
		if (ok != 1)
			return -1;
	}
	t->st = ST_HANDSHAKE;
	handshake_step(t);
	return 0;
}

static void on_connected(struct transport *t)
{
	if (t->ssl_ctx) {
		if (start_tls(t) != 0)
			fail(t, TRANSPORT_TLS_FAILED, "cannot start TLS with %s: %s", t->where,
			     ssl_reason());
		return;
	}
	became_open(t);
}

static void io_cb(struct bt_reactor *r, int fd, unsigned events, void *ud);
static void try_connect(struct transport *t);

static void connect_failed(struct transport *t, int err)
{
	t->conn_errno = err;
	if (t->fd >= 0) {
		reactor_unwatch(t->r, t->fd);
		close(t->fd);
		t->fd = -1;
		t->interest = 0;
	}
	if (t->ai_cur && t->ai_cur->ai_next) {
		t->ai_cur = t->ai_cur->ai_next;
		try_connect(t);
		return;
	}
	if (err == ECONNREFUSED)
		fail(t, TRANSPORT_REFUSED, "connection refused by %s", t->where);
	else
		fail(t, TRANSPORT_CONNECT_FAILED, "cannot connect to %s: %s", t->where,
		     strerror(err));
}

static void try_connect(struct transport *t)
{
	struct addrinfo *ai = t->ai_cur;
	t->st = ST_CONNECTING;
	t->conn_errno = 0;
	int fd =
	    socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	int err = fd < 0 ? errno : 0;
	if (fd >= 0) {
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		t->fd = fd;
		int rc = reactor_watch(t->r, fd, REACTOR_WRITE, io_cb, t);
		if (rc != 0)
			err = -rc;
		else
			t->interest = REACTOR_WRITE;
	}
	if (!err && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS)
		err = errno;
	if (err) {
		/* Report on the next turn: transport_open never calls back inline. */
		t->conn_errno = err;
		set_interest(t, 0);
		schedule_kick(t);
	}
	/* Otherwise writability tells us the outcome, even for an instant success. */
}

/* One recv. 1 if bytes came and the transport is still up (more may be
 * waiting), else 0. */
static int read_plain(struct transport *t)
{
	char buf[READ_CHUNK];
	ssize_t k = recv(t->fd, buf, sizeof(buf), 0);
	if (k > 0) {
		if (t->cbs.on_data)
			t->cbs.on_data(t->arg, buf, (size_t)k);
		return live(t);
	} else if (k == 0) {
		fail(t, TRANSPORT_DISCONNECTED, "connection closed by %s", t->where);
	} else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
		fail(t, TRANSPORT_DISCONNECTED, "connection to %s lost: %s", t->where,
		     strerror(errno));
	}
	return 0;
}

/* Like read_plain, through TLS. */
static int read_tls(struct transport *t)
{
	char buf[READ_CHUNK];
	ssize_t k = recv(t->fd, buf, sizeof(buf), 0);
	if (k == 0) {
		if (t->st == ST_HANDSHAKE)
			fail(t, TRANSPORT_TLS_FAILED,
			     "TLS handshake with %s failed: connection closed by peer", t->where);
		else
			fail(t, TRANSPORT_DISCONNECTED, "connection closed by %s", t->where);
		return 0;
	}
	if (k < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			fail(t,
			     t->st == ST_HANDSHAKE ? TRANSPORT_TLS_FAILED : TRANSPORT_DISCONNECTED,
			     "connection to %s lost: %s", t->where, strerror(errno));
		return 0;
	}
	if (BIO_write(t->rbio, buf, (int)k) != (int)k) {
		fail(t, TRANSPORT_DISCONNECTED, "connection to %s: out of memory", t->where);
		return 0;
	}
	if (t->st == ST_HANDSHAKE) {
		handshake_step(t);
		if (!live(t) || t->st != ST_OPEN)
			return 0;
	}
	for (;;) {
		ERR_clear_error();
		int n = SSL_read(t->ssl, buf, sizeof(buf));
		if (n > 0) {
			if (t->cbs.on_data)
				t->cbs.on_data(t->arg, buf, (size_t)n);
			if (!live(t))
				return 0;
			continue;
		}
		int e = SSL_get_error(t->ssl, n);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			break;
		if (e == SSL_ERROR_ZERO_RETURN)
			fail(t, TRANSPORT_DISCONNECTED, "connection closed by %s", t->where);
		else
			fail(t, TRANSPORT_DISCONNECTED, "TLS error on connection to %s: %s",
			     t->where, ssl_reason());
		return 0;
	}
	/* Post-handshake messages (tickets, key updates) may want answers. */
	if (drain_wbio(t) == 0 && bytes_avail(&t->out))
		send_out(t);
	return live(t);
}

/* The end of a linger: whatever is left is dropped. */
static void linger_end(struct transport *t)
{
	t->lingering = 0;
	t->st = ST_CLOSED;
	release_resources(t); /* the caller's leave() frees t */
}

/* Lingering: send the rest; the peer's bytes are read only to see it go. */
static void linger_io(struct transport *t, unsigned events)
{
	if (events & (REACTOR_READ | REACTOR_HUP | REACTOR_ERROR)) {
		char sink[4096];
		ssize_t k = recv(t->fd, sink, sizeof(sink), 0);
		if (k == 0 ||
		    (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) {
			linger_end(t);
			return;
		}
	}
	if (events & REACTOR_WRITE) {
		ssize_t k = send(t->fd, t->out.p + t->out.off, bytes_avail(&t->out), MSG_NOSIGNAL);
		if (k > 0)
			bytes_consume(&t->out, (size_t)k);
		else if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			bytes_consume(&t->out, bytes_avail(&t->out));
		if (!bytes_avail(&t->out))
			linger_end(t);
	}
}

static void io_cb(struct bt_reactor *r, int fd, unsigned events, void *ud)
{
	struct transport *t = ud;
	enter(t);
	if (t->lingering) {
		linger_io(t, events);
		leave(t);
		return;
	}
	if (t->st == ST_ACCEPTED)
		became_open(t); /* bytes came before the first turn's kick */
	if (t->st == ST_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0)
			err = errno;
		if (err) {
			connect_failed(t, err);
		} else if (events & (REACTOR_WRITE | REACTOR_ERROR | REACTOR_HUP)) {
			set_interest(t, REACTOR_READ);
			on_connected(t);
		}
	} else if (t->st == ST_HANDSHAKE || t->st == ST_OPEN) {
		if (events & (REACTOR_READ | REACTOR_ERROR | REACTOR_HUP))
			/* An accepted side reads until the socket is empty, as the
			 * exchange always did: a Logon and the hang-up right behind
			 * it end that connection (and free its CompID) before any
			 * other connection's next frame is read. */
			while ((t->ssl ? read_tls : read_plain)(t) && t->server)
				;
		if (live(t) && (events & REACTOR_WRITE)) {
			if (t->st == ST_OPEN)
				flush_now(t);
			else
				send_out(t);
		}
	}
	leave(t);
}

static void kick_cb(struct bt_reactor *r, struct reactor_timer *tm, void *ud)
{
	struct transport *t = ud;
	enter(t);
	if (t->st == ST_ACCEPTED)
		became_open(t);
	else if (t->st == ST_CONNECTING && t->conn_errno)
		connect_failed(t, t->conn_errno);
	else if (t->st == ST_OPEN)
		flush_now(t);
	leave(t);
}

/* Idle for a whole tick (nothing written, everything sent): the big
 * buffers go; otherwise look again a tick later. */
static void trim_cb(struct bt_reactor *r, struct reactor_timer *tm, void *ud)
{
	struct transport *t = ud;
	int keep = 0;
	struct bytes *bs[2] = {&t->out, &t->app};
	for (int i = 0; i < 2; i++) {
		struct bytes *b = bs[i];
		if (!b->p)
			continue;
		if (!t->wrote && b->len == 0)
			bytes_release_if_empty(b);
		else
			keep = 1;
	}
	t->wrote = 0;
	if (keep)
		reactor_timer_start(r, tm, TRIM_MS);
}

static void deadline_cb(struct bt_reactor *r, struct reactor_timer *tm, void *ud)
{
	struct transport *t = ud;
	char secs[32];
	bt_fmt_secs(secs, sizeof(secs), t->timeout_ms);
	enter(t);
	if (t->lingering)
		linger_end(t); /* out of time: drop the rest */
	switch (t->st) {
	case ST_RESOLVING:
		fail(t, TRANSPORT_TIMEOUT, "resolving host '%s' timed out after %s", t->host, secs);
		break;
	case ST_CONNECTING:
		fail(t, TRANSPORT_TIMEOUT, "connect to %s timed out after %s", t->where, secs);
		break;
	case ST_HANDSHAKE:
		fail(t, TRANSPORT_TIMEOUT, "TLS handshake with %s timed out after %s", t->where,
		     secs);
		break;
	default:
		break;
	}
	leave(t);
}

/* ------------------------------------------------------------ resolution */

static void resolved(struct bt_reactor *r, void *ud)
{
	struct resolve_job *job = ud;
	struct transport *t = job->t;
	if (!t) {
		if (job->res)
			freeaddrinfo(job->res);
		free(job->host);
		free(job);
		return;
	}
	enter(t);
	t->job = NULL;
	int rc = job->rc;
	struct addrinfo *res = job->res;
	free(job->host);
	free(job);
	if (rc != 0) {
		fail(t, TRANSPORT_CONNECT_FAILED, "cannot resolve host '%s': %s", t->host,
		     gai_strerror(rc));
	} else if (!res) {
		fail(t, TRANSPORT_CONNECT_FAILED, "cannot resolve host '%s': no address", t->host);
	} else {
		t->ai_list = t->ai_cur = res;
		try_connect(t);
	}
	leave(t);
}

static void *resolve_main(void *arg)
{
	struct resolve_job *job = arg;
	struct bt_reactor *r = job->r;
	struct addrinfo hints = {0};
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV;
	job->rc = getaddrinfo(job->host, job->port, &hints, &job->res);
	/* Posting can only fail on memory; waiting beats leaking a live job. */
	while (reactor_post(r, resolved, job) != 0) {
		struct timespec ts = {0, 10 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	/* Our reference kept r alive while getaddrinfo blocked; job is gone now. */
	reactor_release(r);
	return NULL;
}

static int start_resolve(struct transport *t, char *err, size_t errlen)
{
	struct resolve_job *job = calloc(1, sizeof(*job));
	if (!job || !(job->host = strdup(t->host))) {
		free(job);
		bt_set_err(err, errlen, "out of memory");
		return -1;
	}
	memcpy(job->port, t->port_str, sizeof(job->port));
	job->t = t;
	char rerr[128];
	job->r = reactor_acquire(rerr, sizeof(rerr));
	if (!job->r) {
		bt_set_err(err, errlen, "cannot resolve host '%s': %s", t->host, rerr);
		free(job->host);
		free(job);
		return -1;
	}
	pthread_attr_t attr;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 256 * 1024);
	/* The worker must never take a signal meant for the application. */
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_t th;
	int rc = pthread_create(&th, &attr, resolve_main, job);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		bt_set_err(err, errlen, "cannot resolve host '%s': cannot start a thread: %s",
			   t->host, strerror(rc));
		reactor_release(job->r);
		free(job->host);
		free(job);
		return -1;
	}
	t->job = job;
	return 0;
}

/* ------------------------------------------------------------ open / close */

struct transport *transport_open(struct bt_reactor *r, const struct transport_opts *opts,
				 const struct transport_cbs *cbs, void *arg, char *err,
				 size_t errlen)
{
	if (!r || !opts || !opts->host || !*opts->host || !cbs) {
		bt_set_err(err, errlen, "transport_open: reactor, host and callbacks are required");
		return NULL;
	}
	if (opts->tls && opts->tls->server) {
		bt_set_err(err, errlen,
			   "transport_open: a server TLS context is for transport_accept");
		return NULL;
	}
	if (opts->port == 0) {
		bt_set_err(err, errlen, "transport_open: port 0 is not a valid destination");
		return NULL;
	}
	if (strlen(opts->host) > 255) {
		bt_set_err(err, errlen, "transport_open: host name longer than 255 bytes");
		return NULL;
	}
	if (!reactor_in_io_thread(r)) {
		bt_set_err(err, errlen, "transport_open: must run on the I/O thread");
		return NULL;
	}
	struct transport *t = calloc(1, sizeof(*t));
	if (!t) {
		bt_set_err(err, errlen, "out of memory");
		return NULL;
	}
	t->r = r;
	t->fd = -1;
	t->cbs = *cbs;
	t->arg = arg;
	t->timeout_ms =
	    opts->connect_timeout_ms > 0 ? opts->connect_timeout_ms : BT_DEFAULT_CONNECT_TIMEOUT_MS;
	snprintf(t->port_str, sizeof(t->port_str), "%u", (unsigned)opts->port);
	int v6 = strchr(opts->host, ':') != NULL;
	snprintf(t->where, sizeof(t->where), v6 ? "[%s]:%u" : "%s:%u", opts->host,
		 (unsigned)opts->port);
	t->host = strdup(opts->host);
	t->server_name = opts->server_name ? strdup(opts->server_name) : NULL;
	if (!t->host || (opts->server_name && !t->server_name)) {
		bt_set_err(err, errlen, "out of memory");
		destroy(t);
		return NULL;
	}
	if (opts->tls) {
		SSL_CTX_up_ref(opts->tls->ctx);
		t->ssl_ctx = opts->tls->ctx;
		t->insecure = opts->tls->insecure;
	}
	reactor_timer_init(&t->deadline, deadline_cb, t);
	reactor_timer_init(&t->kick, kick_cb, t);
	reactor_timer_init(&t->trim, trim_cb, t);

	struct addrinfo hints = {0};
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(t->host, t->port_str, &hints, &res);
	enter(t);
	if (rc == 0 && res) {
		t->ai_list = t->ai_cur = res;
		try_connect(t);
	} else {
		if (res)
			freeaddrinfo(res);
		t->st = ST_RESOLVING;
		if (start_resolve(t, err, errlen) != 0) {
			t->busy--;
			destroy(t);
			return NULL;
		}
	}
	reactor_timer_start(r, &t->deadline, t->timeout_ms);
	t->busy--;
	return t;
}

void transport_set_linger(struct transport *t, int64_t ms)
{
	if (t)
		t->linger_ms = ms > 0 ? ms : 0;
}

struct transport *transport_accept(struct bt_reactor *r, int fd, struct transport_tls_ctx *tls,
				   int64_t handshake_timeout_ms, const struct transport_cbs *cbs,
				   void *arg, char *err, size_t errlen)
{
	if (!r || fd < 0 || !cbs || (tls && !tls->server)) {
		bt_set_err(err, errlen,
			   "transport_accept: reactor, socket, callbacks and (for TLS) a server "
			   "context are required");
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	if (!reactor_in_io_thread(r)) {
		bt_set_err(err, errlen, "transport_accept: must run on the I/O thread");
		close(fd);
		return NULL;
	}
	struct transport *t = calloc(1, sizeof(*t));
	if (!t) {
		bt_set_err(err, errlen, "out of memory");
		close(fd);
		return NULL;
	}
	t->r = r;
	t->fd = fd;
	t->cbs = *cbs;
	t->arg = arg;
	t->server = 1;
	t->st = ST_ACCEPTED;
	t->timeout_ms =
	    handshake_timeout_ms > 0 ? handshake_timeout_ms : BT_DEFAULT_CONNECT_TIMEOUT_MS;
	reactor_timer_init(&t->deadline, deadline_cb, t);
	reactor_timer_init(&t->kick, kick_cb, t);
	reactor_timer_init(&t->trim, trim_cb, t);
	/* Messages name the peer as transport_open's name the server. */
	struct sockaddr_storage sa = {0};
	socklen_t salen = sizeof(sa);
	char ip[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;
	if (getpeername(fd, (struct sockaddr *)&sa, &salen) == 0) {
		if (sa.ss_family == AF_INET) {
			struct sockaddr_in *a = (struct sockaddr_in *)&sa;
			inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
			port = ntohs(a->sin_port);
		} else if (sa.ss_family == AF_INET6) {
			struct sockaddr_in6 *a = (struct sockaddr_in6 *)&sa;
			inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
			port = ntohs(a->sin6_port);
		}
	}
	snprintf(t->where, sizeof(t->where), sa.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", ip,
		 port);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (tls) {
		SSL_CTX_up_ref(tls->ctx);
		t->ssl_ctx = tls->ctx;
		if (start_tls(t) != 0) {
			bt_set_err(err, errlen, "cannot start TLS with %s: %s", t->where,
				   ssl_reason());
			destroy(t);
			return NULL;
		}
	}
	if (reactor_watch(r, fd, REACTOR_READ, io_cb, t) != 0) {
		bt_set_err(err, errlen, "transport_accept: cannot watch the socket");
		t->fd = -1; /* not watched: release_resources must not unwatch it */
		close(fd);
		destroy(t);
		return NULL;
	}
	t->interest = REACTOR_READ;
	if (tls)
		reactor_timer_start(r, &t->deadline, t->timeout_ms);
	else
		schedule_kick(t);
	return t;
}

/* A reference on our own reactor for the linger; -1 if none can be had. */
static int linger_hold(struct transport *t)
{
	char err[64];
	struct bt_reactor *r = reactor_acquire(err, sizeof(err));
	if (r != t->r) {
		reactor_release(r); /* another reactor (say, after fork): no linger */
		return -1;
	}
	t->linger_ref = r;
	return 0;
}

void transport_close(struct transport *t)
{
	if (!t || t->closed)
		return;
	if (t->st == ST_ACCEPTED)
		t->st = ST_OPEN; /* closed before its first turn: what was written still goes */
	enum tstate st = t->st;
	t->closed = 1; /* from here on, fail() stays silent */
	if (st == ST_OPEN) {
		/* Never blocking: what is buffered, then close_notify. */
		flush_now(t);
		if (t->fd >= 0 && t->ssl) {
			ERR_clear_error();
			SSL_shutdown(t->ssl);
			(void)drain_wbio(t);
		}
		ssize_t k = 0;
		if (t->fd >= 0 && bytes_avail(&t->out)) {
			k = send(t->fd, t->out.p + t->out.off, bytes_avail(&t->out), MSG_NOSIGNAL);
			if (k > 0)
				bytes_consume(&t->out, (size_t)k);
		}
		if (t->linger_ms > 0 && t->fd >= 0 && bytes_avail(&t->out) &&
		    (k >= 0 || errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) &&
		    linger_hold(t) == 0) {
			/* The rest goes as the socket takes it, within linger_ms. */
			ERR_clear_error();
			t->lingering = 1;
			t->st = ST_CLOSED;
			reactor_timer_stop(t->r, &t->kick);
			set_interest(t, REACTOR_READ | REACTOR_WRITE);
			reactor_timer_start(t->r, &t->deadline, t->linger_ms);
			return;
		}
	}
	ERR_clear_error();
	t->st = ST_CLOSED;
	release_resources(t);
	if (t->busy == 0)
		destroy(t);
}
