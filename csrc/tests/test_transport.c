/* test-deps: transport reactor */
/* The transport against real loopback servers started here: plain echo,
 * refused, DNS failure, connect timeout, peer close, and TLS with a
 * throwaway CA (success, unknown issuer, self-signed, hostname mismatch). */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdarg.h>

#include "reactor.h"
#include "srv_util.h"
#include "t.h"
#include "transport.h"

static struct bt_reactor *R;
static char certdir[256];

/* ------------------------------------------------------------ client side */

struct client {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct transport_opts o;
	struct transport *t;
	int opened, errored, code;
	char msg[512];
	char *data;
	size_t dlen, dcap;
	/* what do_write sends: pieces small writes, then big */
	int pieces;
	size_t big_len;
	char open_err[256];
	size_t buffer_size; /* transport_buffer_size once the echo is complete */
};

static void client_init(struct client *c, const char *host, unsigned short port)
{
	memset(c, 0, sizeof(*c));
	pthread_mutex_init(&c->mu, NULL);
	pthread_cond_init(&c->cv, NULL);
	c->o.host = host;
	c->o.port = port;
	c->o.connect_timeout_ms = 5000;
}

static void client_fini(struct client *c)
{
	free(c->data);
	pthread_mutex_destroy(&c->mu);
	pthread_cond_destroy(&c->cv);
}

static void cb_open(void *arg)
{
	struct client *c = arg;
	pthread_mutex_lock(&c->mu);
	c->opened = 1;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void cb_data(void *arg, const char *buf, size_t len)
{
	struct client *c = arg;
	pthread_mutex_lock(&c->mu);
	if (c->dlen + len > c->dcap) {
		c->dcap = (c->dlen + len) * 2;
		c->data = realloc(c->data, c->dcap);
	}
	memcpy(c->data + c->dlen, buf, len);
	c->dlen += len;
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static void cb_error(void *arg, int code, const char *msg)
{
	struct client *c = arg;
	pthread_mutex_lock(&c->mu);
	c->errored++;
	c->code = code;
	snprintf(c->msg, sizeof(c->msg), "%s", msg);
	pthread_cond_broadcast(&c->cv);
	pthread_mutex_unlock(&c->mu);
}

static const struct transport_cbs CBS = {cb_open, cb_data, cb_error, NULL};

static void do_open(struct bt_reactor *r, void *ud)
{
	struct client *c = ud;
	c->t = transport_open(r, &c->o, &CBS, c, c->open_err, sizeof(c->open_err));
}

static void do_write(struct bt_reactor *r, void *ud)
{
	struct client *c = ud;
	char line[32];
	for (int i = 0; i < c->pieces; i++) {
		int n = snprintf(line, sizeof(line), "piece %d\n", i);
		transport_write(c->t, line, (size_t)n);
	}
	if (c->big_len) {
		char *big = malloc(c->big_len);
		for (size_t i = 0; i < c->big_len; i++)
			big[i] = (char)('a' + i % 26);
		transport_write(c->t, big, c->big_len);
		free(big);
	}
}

static void do_buffer_size(struct bt_reactor *r, void *ud)
{
	struct client *c = ud;
	c->buffer_size = transport_buffer_size(c->t);
}

static void do_close(struct bt_reactor *r, void *ud)
{
	struct client *c = ud;
	transport_close(c->t);
	c->t = NULL;
}

/* Wait until opened/errored or at least `bytes` arrived; 10 s liveness cap. */
static void client_wait(struct client *c, int want_open, size_t bytes)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&c->mu);
	while (!c->errored && ((want_open && !c->opened) || c->dlen < bytes) &&
	       pthread_cond_timedwait(&c->cv, &c->mu, &ts) == 0)
		;
	pthread_mutex_unlock(&c->mu);
}

static void client_wait_error(struct client *c)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&c->mu);
	while (!c->errored && pthread_cond_timedwait(&c->cv, &c->mu, &ts) == 0)
		;
	pthread_mutex_unlock(&c->mu);
}

static int starts_with(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* ------------------------------------------------------------ servers */

struct server {
	int lfd;
	unsigned short port;
	pthread_t th;
	SSL_CTX *ctx; /* NULL: plain */
	int close_at_once;
	int handshake_ok;
	size_t echoed;
};

static void *server_main(void *arg)
{
	struct server *s = arg;
	int fd = accept(s->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	if (s->close_at_once) {
		close(fd);
		return NULL;
	}
	SSL *ssl = NULL;
	if (s->ctx) {
		ssl = SSL_new(s->ctx);
		SSL_set_fd(ssl, fd);
		if (SSL_accept(ssl) != 1) {
			SSL_free(ssl);
			close(fd);
			return NULL;
		}
		s->handshake_ok = 1;
	}
	char buf[8192];
	for (;;) {
		int n = ssl ? SSL_read(ssl, buf, sizeof(buf)) : (int)recv(fd, buf, sizeof(buf), 0);
		if (n <= 0)
			break;
		for (int off = 0; off < n;) {
			int k = ssl ? SSL_write(ssl, buf + off, n - off)
				    : (int)send(fd, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
			if (k <= 0)
				goto out;
			off += k;
		}
		s->echoed += (size_t)n;
	}
out:
	if (ssl) {
		SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	close(fd);
	return NULL;
}

static int server_start(struct server *s, const char *cert, const char *key)
{
	memset(s, 0, sizeof(*s));
	s->lfd = srv_listen(8, &s->port);
	if (s->lfd < 0)
		return -1;
	if (cert) {
		char c[512], k[512];
		snprintf(c, sizeof(c), "%s/%s", certdir, cert);
		snprintf(k, sizeof(k), "%s/%s", certdir, key);
		s->ctx = SSL_CTX_new(TLS_server_method());
		if (SSL_CTX_use_certificate_file(s->ctx, c, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_use_PrivateKey_file(s->ctx, k, SSL_FILETYPE_PEM) != 1)
			return -1;
	}
	return pthread_create(&s->th, NULL, server_main, s);
}

static void server_stop(struct server *s)
{
	pthread_join(s->th, NULL);
	close(s->lfd);
	SSL_CTX_free(s->ctx);
}

/* ------------------------------------------------------------ tests */

static void run_echo(struct client *c, struct server *s)
{
	reactor_call(R, do_open, c);
	T_OK(c->t != NULL);
	client_wait(c, 1, 0);
	T_EQ_INT(c->opened, 1);
	T_EQ_INT(c->errored, 0);
	c->pieces = 200;
	c->big_len = 3u << 20; /* far beyond the socket buffers: partial writes */
	size_t want = c->big_len;
	for (int i = 0; i < c->pieces; i++)
		want += (size_t)snprintf(NULL, 0, "piece %d\n", i);
	reactor_call(R, do_write, c);
	client_wait(c, 1, want);
	T_EQ_INT(c->dlen, want);
	T_OK(c->dlen >= 9 && memcmp(c->data, "piece 0\npiece 1\n", 16) == 0);
	T_OK(c->dlen == want && c->data[want - 1] == (char)('a' + (c->big_len - 1) % 26));
	/* Everything was echoed, so everything was sent. The burst's buffer is
	 * kept for the next burst (not faulted in again per burst), then given
	 * back once the connection stayed idle for a trim tick (about 1-2 s). */
	reactor_call(R, do_buffer_size, c);
	T_OK(c->buffer_size >= c->big_len);
	for (int i = 0; i < 1000 && c->buffer_size != 0; i++) {
		usleep(10000);
		reactor_call(R, do_buffer_size, c);
	}
	T_EQ_INT(c->buffer_size, 0);
	reactor_call(R, do_close, c);
	server_stop(s);
	T_EQ_INT(s->echoed, want);
	T_EQ_INT(c->errored, 0);
}

static void test_echo_plain(void)
{
	struct server s;
	T_EQ_INT(server_start(&s, NULL, NULL), 0);
	struct client c;
	client_init(&c, "127.0.0.1", s.port);
	run_echo(&c, &s);
	client_fini(&c);
}

static void test_echo_by_name(void)
{
	/* "localhost" is not numeric: exercises the resolver thread. */
	struct server s;
	T_EQ_INT(server_start(&s, NULL, NULL), 0);
	struct client c;
	client_init(&c, "localhost", s.port);
	run_echo(&c, &s);
	client_fini(&c);
}

static void test_refused(void)
{
	unsigned short port = 0;
	int fd = srv_listen(1, &port);
	close(fd); /* nobody listens there now */
	struct client c;
	client_init(&c, "127.0.0.1", port);
	reactor_call(R, do_open, &c);
	client_wait_error(&c);
	T_EQ_INT(c.code, TRANSPORT_REFUSED);
	T_EQ_STR(transport_code_name(c.code), "refused");
	char want[128];
	snprintf(want, sizeof(want), "connection refused by 127.0.0.1:%u", port);
	T_EQ_STR(c.msg, want);
	reactor_call(R, do_close, &c);
	client_fini(&c);
}

static void test_dns_failure(void)
{
	struct client c;
	client_init(&c, "nowhere.invalid", 9878);
	reactor_call(R, do_open, &c);
	client_wait_error(&c);
	T_EQ_INT(c.code, TRANSPORT_CONNECT_FAILED);
	/* The reason after the colon comes from the resolver ("Name or service
	 * not known" here; "Temporary failure..." on a box without DNS). */
	T_OK(starts_with(c.msg, "cannot resolve host 'nowhere.invalid': "));
	printf("     dns: %s\n", c.msg);
	reactor_call(R, do_close, &c);
	client_fini(&c);
}

/* A listener whose accept queue is full and never drained: Linux drops
 * further SYNs, so a connect neither succeeds nor fails. Works without any
 * network (unlike a non-routable address, which fails at once when there
 * is no route). */
static void test_connect_timeout(void)
{
	unsigned short port = 0;
	int lfd = srv_listen(0, &port);
	struct sockaddr_in a = {0};
	a.sin_family = AF_INET;
	a.sin_port = htons(port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fill[4];
	for (int i = 0; i < 4; i++) {
		fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		(void)!connect(fill[i], (struct sockaddr *)&a, sizeof(a));
	}
	srv_sleep_ms(50);
	struct client c;
	client_init(&c, "127.0.0.1", port);
	c.o.connect_timeout_ms = 300;
	reactor_call(R, do_open, &c);
	client_wait_error(&c);
	T_EQ_INT(c.code, TRANSPORT_TIMEOUT);
	char want[128];
	snprintf(want, sizeof(want), "connect to 127.0.0.1:%u timed out after 0.3 s", port);
	T_EQ_STR(c.msg, want);
	reactor_call(R, do_close, &c);
	client_fini(&c);
	for (int i = 0; i < 4; i++)
		close(fill[i]);
	close(lfd);
}

static void test_peer_close(void)
{
	struct server s;
	T_EQ_INT(server_start(&s, NULL, NULL), 0);
	s.close_at_once = 1;
	struct client c;
	client_init(&c, "127.0.0.1", s.port);
	reactor_call(R, do_open, &c);
	client_wait_error(&c);
	T_EQ_INT(c.opened, 1);
	T_EQ_INT(c.code, TRANSPORT_DISCONNECTED);
	char want[128];
	snprintf(want, sizeof(want), "connection closed by 127.0.0.1:%u", s.port);
	T_EQ_STR(c.msg, want);
	reactor_call(R, do_close, &c);
	server_stop(&s);
	client_fini(&c);
}

static void test_bad_args(void)
{
	struct client c;
	client_init(&c, "127.0.0.1", 0);
	reactor_call(R, do_open, &c);
	T_OK(c.t == NULL);
	T_OK(strstr(c.open_err, "port 0") != NULL);
	/* Off the I/O thread: refused, not undefined. */
	char err[128];
	c.o.port = 1;
	T_OK(transport_open(R, &c.o, &CBS, &c, err, sizeof(err)) == NULL);
	T_OK(strstr(err, "I/O thread") != NULL);
	client_fini(&c);
}

/* ------------------------------------------------------------ TLS */

static struct transport_tls_ctx *tls_ctx(const char *ca)
{
	char path[512], err[256] = "";
	struct transport_tls_opts o = {0};
	if (ca) {
		snprintf(path, sizeof(path), "%s/%s", certdir, ca);
		o.ca_file = path;
	}
	struct transport_tls_ctx *x = transport_tls_ctx_new(&o, err, sizeof(err));
	if (!x)
		fprintf(stderr, "tls ctx: %s\n", err);
	return x;
}

static void tls_case(const char *cert, const char *key, const char *ca, const char *server_name,
		     const char *want_suffix)
{
	struct server s;
	T_EQ_INT(server_start(&s, cert, key), 0);
	struct client c;
	client_init(&c, "127.0.0.1", s.port);
	c.o.tls = tls_ctx(ca);
	c.o.server_name = server_name;
	T_OK(c.o.tls != NULL);
	if (!want_suffix) {
		run_echo(&c, &s);
		T_EQ_INT(s.handshake_ok, 1);
	} else {
		reactor_call(R, do_open, &c);
		client_wait_error(&c);
		T_EQ_INT(c.opened, 0);
		T_EQ_INT(c.code, TRANSPORT_TLS_FAILED);
		T_EQ_STR(transport_code_name(c.code), "tls_failed");
		char want[256];
		snprintf(want, sizeof(want), "TLS handshake with 127.0.0.1:%u failed: %s", s.port,
			 want_suffix);
		T_EQ_STR(c.msg, want);
		reactor_call(R, do_close, &c);
		server_stop(&s);
	}
	transport_tls_ctx_free(c.o.tls);
	client_fini(&c);
}

static void test_tls_ok_by_name(void)
{
	tls_case("server.pem", "server.key", "ca.pem", "localhost", NULL);
}

static void test_tls_ok_by_ip(void)
{
	tls_case("server.pem", "server.key", "ca.pem", NULL, NULL);
}

static void test_tls_unknown_issuer(void)
{
	tls_case("server.pem", "server.key", NULL, "localhost",
		 "certificate verify failed: unable to get local issuer certificate");
}

static void test_tls_self_signed(void)
{
	tls_case("self.pem", "self.key", "ca.pem", "localhost",
		 "certificate verify failed: self-signed certificate");
}

static void test_tls_hostname_mismatch(void)
{
	tls_case("server.pem", "server.key", "ca.pem", "wrong.example",
		 "certificate verify failed: hostname mismatch");
}

static void test_tls_ctx_errors(void)
{
	char err[256] = "";
	struct transport_tls_opts o = {.ca_file = "/nonexistent/ca.pem"};
	T_OK(transport_tls_ctx_new(&o, err, sizeof(err)) == NULL);
	T_EQ_STR(err, "cannot load CA file '/nonexistent/ca.pem': No such file or directory");
	char path[512];
	snprintf(path, sizeof(path), "%s/san.ext", certdir); /* exists, not PEM */
	o.ca_file = path;
	T_OK(transport_tls_ctx_new(&o, err, sizeof(err)) == NULL);
	T_OK(starts_with(err, "cannot load CA file"));
	o.ca_file = NULL;
	o.key_file = path;
	T_OK(transport_tls_ctx_new(&o, err, sizeof(err)) == NULL);
	T_EQ_STR(err, "key_file given without cert_file");
}

/* ------------------------------------------------------------ accepted side */

/* An accepted transport that echoes what it reads. */
struct acceptor {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int fd;
	struct transport_tls_ctx *tls;
	struct transport *t;
	int opened, errored, code;
	size_t echoed;
	char msg[512];
	char err[256];
};

static void a_open(void *arg)
{
	struct acceptor *a = arg;
	pthread_mutex_lock(&a->mu);
	a->opened = 1;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

static void a_data(void *arg, const char *buf, size_t len)
{
	struct acceptor *a = arg;
	transport_write(a->t, buf, len);
	pthread_mutex_lock(&a->mu);
	a->echoed += len;
	pthread_mutex_unlock(&a->mu);
}

static void a_error(void *arg, int code, const char *msg)
{
	struct acceptor *a = arg;
	pthread_mutex_lock(&a->mu);
	a->errored++;
	a->code = code;
	snprintf(a->msg, sizeof(a->msg), "%s", msg);
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

static const struct transport_cbs ACBS = {a_open, a_data, a_error, NULL};

static void do_accept(struct bt_reactor *r, void *ud)
{
	struct acceptor *a = ud;
	a->t = transport_accept(r, a->fd, a->tls, 5000, &ACBS, a, a->err, sizeof(a->err));
}

static void do_aclose(struct bt_reactor *r, void *ud)
{
	struct acceptor *a = ud;
	transport_close(a->t);
	a->t = NULL;
}

static void acceptor_wait_error(struct acceptor *a)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&a->mu);
	while (!a->errored && pthread_cond_timedwait(&a->cv, &a->mu, &ts) == 0)
		;
	pthread_mutex_unlock(&a->mu);
}

/* Our own client against our own accepted transport: pieces, then 3 MiB. */
static void accepted_echo(struct transport_tls_ctx *server_tls,
			  struct transport_tls_ctx *client_tls)
{
	unsigned short port;
	int lfd = srv_listen(4, &port);
	T_OK(lfd >= 0);
	struct client c;
	client_init(&c, "127.0.0.1", port);
	c.o.tls = client_tls;
	c.o.server_name = client_tls ? "localhost" : NULL;
	reactor_call(R, do_open, &c);
	T_OK(c.t != NULL);
	struct acceptor a = {.tls = server_tls};
	pthread_mutex_init(&a.mu, NULL);
	pthread_cond_init(&a.cv, NULL);
	a.fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	T_OK(a.fd >= 0);
	reactor_call(R, do_accept, &a);
	T_OK(a.t != NULL);
	client_wait(&c, 1, 0);
	T_EQ_INT(c.opened, 1);
	c.pieces = 100;
	c.big_len = 3u << 20;
	size_t want = c.big_len;
	for (int i = 0; i < c.pieces; i++)
		want += (size_t)snprintf(NULL, 0, "piece %d\n", i);
	reactor_call(R, do_write, &c);
	client_wait(&c, 1, want);
	T_EQ_INT(c.dlen, want);
	T_OK(c.dlen == want && memcmp(c.data, "piece 0\npiece 1\n", 16) == 0);
	T_OK(c.dlen == want && c.data[want - 1] == (char)('a' + (c.big_len - 1) % 26));
	pthread_mutex_lock(&a.mu);
	T_EQ_INT(a.opened, 1);
	T_EQ_INT(a.echoed, want);
	pthread_mutex_unlock(&a.mu);
	/* The client goes: the accepted side hears it as a disconnect. */
	reactor_call(R, do_close, &c);
	acceptor_wait_error(&a);
	T_EQ_INT(a.code, TRANSPORT_DISCONNECTED);
	char m[64];
	snprintf(m, sizeof(m), "connection closed by 127.0.0.1:");
	T_OK(starts_with(a.msg, m));
	reactor_call(R, do_aclose, &a);
	close(lfd);
	client_fini(&c);
	pthread_mutex_destroy(&a.mu);
	pthread_cond_destroy(&a.cv);
}

static struct transport_tls_ctx *server_ctx(const char *cert, const char *key)
{
	char c[512], k[512], err[256];
	snprintf(c, sizeof(c), "%s/%s", certdir, cert);
	snprintf(k, sizeof(k), "%s/%s", certdir, key);
	struct transport_tls_ctx *x = transport_tls_server_ctx_new(c, k, err, sizeof(err));
	if (!x)
		fprintf(stderr, "server context: %s\n", err);
	return x;
}

static void test_accept_plain(void)
{
	accepted_echo(NULL, NULL);
}

static void test_accept_tls(void)
{
	struct transport_tls_ctx *stls = server_ctx("server.pem", "server.key");
	struct transport_tls_ctx *ctls = tls_ctx("ca.pem");
	T_OK(stls != NULL && ctls != NULL);
	accepted_echo(stls, ctls);
	transport_tls_ctx_free(stls);
	transport_tls_ctx_free(ctls);
}

/* A client that speaks plain text to a TLS acceptor fails its handshake. */
static void test_accept_tls_plain_client(void)
{
	struct transport_tls_ctx *stls = server_ctx("server.pem", "server.key");
	T_OK(stls != NULL);
	unsigned short port;
	int lfd = srv_listen(4, &port);
	int cfd = srv_connect(port);
	T_OK(cfd >= 0);
	struct acceptor a = {.tls = stls};
	pthread_mutex_init(&a.mu, NULL);
	pthread_cond_init(&a.cv, NULL);
	a.fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	reactor_call(R, do_accept, &a);
	T_OK(a.t != NULL);
	static const char hello[] = "8=FIX.4.4\0019=5\00135=0\00110=000\001";
	T_OK(send(cfd, hello, sizeof(hello) - 1, MSG_NOSIGNAL) > 0);
	acceptor_wait_error(&a);
	T_EQ_INT(a.code, TRANSPORT_TLS_FAILED);
	T_OK(starts_with(a.msg, "TLS handshake with 127.0.0.1:"));
	T_EQ_INT(a.opened, 0);
	reactor_call(R, do_aclose, &a);
	close(cfd);
	close(lfd);
	transport_tls_ctx_free(stls);
	pthread_mutex_destroy(&a.mu);
	pthread_cond_destroy(&a.cv);
}

#define LINGER_BYTES (32u << 20) /* far more than loopback's socket buffers hold */

static void do_write_close_linger(struct bt_reactor *r, void *ud)
{
	struct acceptor *a = ud;
	char *big = malloc(LINGER_BYTES);
	memset(big, 'z', LINGER_BYTES);
	transport_write(a->t, big, LINGER_BYTES);
	free(big);
	transport_set_linger(a->t, 30000);
	transport_close(a->t);
	a->t = NULL;
}

/* A server's last words reach a reader that only starts reading after the
 * close: the rest goes while the transport lingers, then EOF. */
static void test_close_linger(void)
{
	unsigned short port;
	int lfd = srv_listen(4, &port);
	int cfd = srv_connect(port);
	T_OK(cfd >= 0);
	struct acceptor a = {0};
	pthread_mutex_init(&a.mu, NULL);
	pthread_cond_init(&a.cv, NULL);
	a.fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	reactor_call(R, do_accept, &a);
	T_OK(a.t != NULL);
	reactor_call(R, do_write_close_linger, &a);
	size_t got = 0;
	char buf[65536];
	for (;;) {
		ssize_t k = recv(cfd, buf, sizeof(buf), 0);
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	T_EQ_INT(got, LINGER_BYTES);
	close(cfd);
	close(lfd);
	pthread_mutex_destroy(&a.mu);
	pthread_cond_destroy(&a.cv);
}

/* The owner lets the reactor go while a transport still lingers (the
 * exchange shutting down right after a close): the linger keeps the reactor,
 * the reader still gets everything, then the reactor's thread ends. Runs
 * last: it releases R. */
static void test_linger_outlives_owner(void)
{
	unsigned short port;
	int lfd = srv_listen(4, &port);
	int cfd = srv_connect(port);
	T_OK(cfd >= 0);
	struct timeval tv = {10, 0}; /* a linger that died would leave us waiting */
	setsockopt(cfd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct acceptor a = {0};
	pthread_mutex_init(&a.mu, NULL);
	pthread_cond_init(&a.cv, NULL);
	a.fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	int threads = srv_count_threads();
	reactor_call(R, do_accept, &a);
	reactor_call(R, do_write_close_linger, &a);
	reactor_release(R);
	R = NULL;
	size_t got = 0;
	char buf[65536];
	for (;;) {
		ssize_t k = recv(cfd, buf, sizeof(buf), 0);
		if (k <= 0)
			break;
		got += (size_t)k;
	}
	T_EQ_INT(got, LINGER_BYTES);
	SRV_WAIT_UNTIL(srv_count_threads() == threads - 1, 5000);
	T_EQ_INT(srv_count_threads(), threads - 1);
	close(cfd);
	close(lfd);
	pthread_mutex_destroy(&a.mu);
	pthread_cond_destroy(&a.cv);
}

/* Reading until the socket is empty: what was waiting, then the hang-up,
 * all in one turn (no timer runs in between). */
struct drain {
	struct reactor_timer marker; /* a zero-delay timer started by the first bytes */
	struct transport *t;
	int fd, marker_ran, errors, marker_ran_before_error;
	size_t got;
	char err[128];
};

static void d_marker(struct bt_reactor *r, struct reactor_timer *tm, void *ud)
{
	struct drain *d = ud;
	d->marker_ran = 1;
}

static void d_data(void *arg, const char *buf, size_t len)
{
	struct drain *d = arg;
	if (!d->got)
		reactor_timer_start(R, &d->marker, 0);
	d->got += len;
}

static void d_error(void *arg, int code, const char *msg)
{
	struct drain *d = arg;
	d->marker_ran_before_error = d->marker_ran;
	__atomic_add_fetch(&d->errors, 1, __ATOMIC_SEQ_CST); /* the test thread polls it */
}

static const struct transport_cbs DCBS = {NULL, d_data, d_error, NULL};

static void do_drain_accept(struct bt_reactor *r, void *ud)
{
	struct drain *d = ud;
	reactor_timer_init(&d->marker, d_marker, d);
	d->t = transport_accept(r, d->fd, NULL, 5000, &DCBS, d, d->err, sizeof(d->err));
}

static void do_drain_close(struct bt_reactor *r, void *ud)
{
	struct drain *d = ud;
	reactor_timer_stop(r, &d->marker);
	transport_close(d->t);
}

static void test_accept_reads_until_empty(void)
{
	unsigned short port;
	int lfd = srv_listen(4, &port);
	int cfd = srv_connect(port);
	T_OK(cfd >= 0);
	/* 40 KiB (three reads) and the hang-up wait in the kernel before the
	 * transport exists. */
	char buf[40 * 1024];
	memset(buf, 'q', sizeof(buf));
	T_OK(send(cfd, buf, sizeof(buf), MSG_NOSIGNAL) == (ssize_t)sizeof(buf));
	close(cfd);
	struct drain d = {.fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)};
	reactor_call(R, do_drain_accept, &d);
	T_OK(d.t != NULL);
	SRV_WAIT_UNTIL(__atomic_load_n(&d.errors, __ATOMIC_SEQ_CST) == 1, 5000);
	reactor_call(R, do_drain_close, &d);
	T_EQ_INT(d.errors, 1);
	T_EQ_INT(d.got, sizeof(buf));
	T_EQ_INT(d.marker_ran_before_error, 0);
	close(lfd);
}

static void test_server_ctx_errors(void)
{
	char err[256] = "";
	T_OK(transport_tls_server_ctx_new("/nonexistent.pem", "/nonexistent.key", err,
					  sizeof(err)) == NULL);
	T_EQ_STR(err, "/nonexistent.pem: No such file or directory");
	char cert[512], path[512];
	snprintf(cert, sizeof(cert), "%s/server.pem", certdir);
	snprintf(path, sizeof(path), "%s/self.key", certdir); /* a key, not this one's */
	T_OK(transport_tls_server_ctx_new(cert, path, err, sizeof(err)) == NULL);
	T_OK(starts_with(err, path));
	/* A server context cannot open a client connection. */
	struct transport_tls_ctx *stls = server_ctx("server.pem", "server.key");
	struct client c;
	client_init(&c, "127.0.0.1", 1);
	c.o.tls = stls;
	reactor_call(R, do_open, &c);
	T_OK(c.t == NULL);
	T_EQ_STR(c.open_err, "transport_open: a server TLS context is for transport_accept");
	transport_tls_ctx_free(stls);
	client_fini(&c);
}

static int fds0, threads0;

static void test_nothing_left_open(void)
{
	/* Resolver threads are detached: give them a moment to be gone. */
	SRV_WAIT_UNTIL(srv_count_threads() == threads0, 5000);
	T_EQ_INT(srv_count_fds(), fds0);
	T_EQ_INT(srv_threads_settle(threads0), threads0);
}

int main(void)
{
	char err[128];
	/* The in-test OpenSSL servers write with SSL_write on plain fds. */
	signal(SIGPIPE, SIG_IGN);
	snprintf(certdir, sizeof(certdir), "/tmp/bt-transport-XXXXXX");
	if (!mkdtemp(certdir) || srv_make_certs(certdir) != 0) {
		fprintf(stderr, "cannot make test certificates in %s\n", certdir);
		return 1;
	}
	R = reactor_acquire(err, sizeof(err));
	if (!R) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	fds0 = srv_count_fds();
	threads0 = srv_count_threads();
	T_RUN(test_echo_plain);
	T_RUN(test_echo_by_name);
	T_RUN(test_refused);
	T_RUN(test_dns_failure);
	T_RUN(test_connect_timeout);
	T_RUN(test_peer_close);
	T_RUN(test_bad_args);
	T_RUN(test_tls_ok_by_name);
	T_RUN(test_tls_ok_by_ip);
	T_RUN(test_tls_unknown_issuer);
	T_RUN(test_tls_self_signed);
	T_RUN(test_tls_hostname_mismatch);
	T_RUN(test_tls_ctx_errors);
	T_RUN(test_accept_plain);
	T_RUN(test_accept_tls);
	T_RUN(test_accept_tls_plain_client);
	T_RUN(test_server_ctx_errors);
	T_RUN(test_close_linger);
	T_RUN(test_accept_reads_until_empty);
	T_RUN(test_nothing_left_open);
	T_RUN(test_linger_outlives_owner);
	reactor_release(R); /* NULL by now: the last test let it go */
	srv_rm_rf(certdir);
	OPENSSL_cleanup();
	return T_END();
}
