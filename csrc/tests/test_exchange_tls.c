/* test-deps: fix_session fix_codec transport */
/* FIX over TLS against betatrader-exchange --tls-cert/--tls-key: a throwaway
 * CA made with the openssl command, a client that verifies the chain and the
 * address, then Logon, UserRequest and Logout through the encrypted stream.
 * (transport is listed only to link OpenSSL.) */
#include "t.h"
#include "test_exchange_util.h"

#include <openssl/ssl.h>
#include <openssl/x509v3.h>

static char dir[] = "/tmp/bt-exchange-tls-XXXXXX";

static int make_certs(void)
{
	char cmd[4096];
	if (!mkdtemp(dir))
		return -1;
	snprintf(
	    cmd, sizeof(cmd),
	    "cd %s && printf '%%s\\n' '[ca]' 'basicConstraints=critical,CA:TRUE' "
	    "'keyUsage=critical,keyCertSign' '[srv]' 'subjectAltName=DNS:localhost,IP:127.0.0.1' "
	    "'extendedKeyUsage=serverAuth' > ext.cnf && "
	    "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
	    "-subj /CN=testca -keyout ca.key -out ca.pem -days 1 -addext "
	    "basicConstraints=critical,CA:TRUE >/dev/null 2>&1 && "
	    "openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
	    "-subj /CN=localhost -keyout srv.key -out srv.csr >/dev/null 2>&1 && "
	    "openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 "
	    "-extfile ext.cnf -extensions srv -out srv.pem >/dev/null 2>&1",
	    dir);
	return system(cmd) == 0 ? 0 : -1;
}

struct tcli {
	struct cli c; /* session + copied events; c.fd is the TCP socket */
	SSL_CTX *ctx;
	SSL *ssl;
};

static int tls_open(struct tcli *t, int port, const char *id)
{
	char ca[256];
	snprintf(ca, sizeof(ca), "%s/ca.pem", dir);
	memset(t, 0, sizeof(*t));
	t->c.fd = tcp_connect(port);
	t->ctx = SSL_CTX_new(TLS_client_method());
	if (t->c.fd < 0 || !t->ctx || SSL_CTX_load_verify_locations(t->ctx, ca, NULL) != 1)
		return -1;
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_PEER, NULL);
	t->ssl = SSL_new(t->ctx);
	SSL_set_fd(t->ssl, t->c.fd);
	SSL_set_tlsext_host_name(t->ssl, "localhost");
	X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), "127.0.0.1");
	if (SSL_connect(t->ssl) != 1 || SSL_get_verify_result(t->ssl) != X509_V_OK)
		return -1;
	struct fix_session_cfg cfg;
	fix_session_cfg_init(&cfg);
	cfg.sender_comp_id = id;
	cfg.target_comp_id = "BETA_EXCHANGE";
	cfg.logon_timeout_ms = 5000;
	t->c.s = fix_session_new(&cfg);
	return t->c.s && fix_session_start(t->c.s, tx_now()) == 0 ? 0 : -1;
}

/* Blocking TLS I/O is enough for one session: flush, then read one record. */
static const struct got *tls_wait(struct tcli *t, int type, int ms)
{
	int64_t until = tx_mono() + ms;
	for (;;) {
		while (t->c.next_got < t->c.ngot) {
			const struct got *g = &t->c.got[t->c.next_got++];
			if (g->type == type)
				return g;
		}
		if (t->c.closed || tx_mono() >= until)
			return NULL;
		size_t len;
		const char *p;
		while ((p = fix_session_out(t->c.s, &len)) && len) {
			size_t n = 0;
			if (SSL_write_ex(t->ssl, p, len, &n) != 1)
				fix_session_disconnected(t->c.s, tx_now());
			fix_session_out_consume(t->c.s, n ? n : len);
		}
		struct pollfd pf = {.fd = t->c.fd, .events = POLLIN};
		if (SSL_pending(t->ssl) || poll(&pf, 1, 100) > 0) {
			char buf[4096];
			size_t n = 0;
			if (SSL_read_ex(t->ssl, buf, sizeof(buf), &n) == 1) {
				size_t off = 0;
				while (off < n) {
					off +=
					    fix_session_feed(t->c.s, buf + off, n - off, tx_now());
					cli_drain(&t->c);
				}
			} else {
				fix_session_disconnected(t->c.s, tx_now());
			}
		}
		fix_session_tick(t->c.s, tx_now());
		cli_drain(&t->c);
	}
}

static void tls_close(struct tcli *t)
{
	SSL_free(t->ssl);
	SSL_CTX_free(t->ctx);
	cli_close(&t->c);
}

static void test_fix_over_tls(void)
{
	T_OK(make_certs() == 0);
	char cert[256], key[256], id[32];
	snprintf(cert, sizeof(cert), "%s/srv.pem", dir);
	snprintf(key, sizeof(key), "%s/srv.key", dir);
	struct ex e;
	T_OK(ex_start(&e, "--tls-cert", cert, "--tls-key", key, (char *)NULL) == 0);
	if (t_failed_checks)
		return;
	T_EQ_INT(http_register(e.http_port, "tls", "pw", id, sizeof(id)), 200);
	struct tcli t;
	T_OK(tls_open(&t, e.fix_port, id) == 0);
	T_OK(tls_wait(&t, FIX_EV_LOGON, 5000) != NULL);
	fix_session_user_request(t.c.s, "r1", 1, id, "pw", tx_now());
	const struct got *g = tls_wait(&t, FIX_EV_USER_RESPONSE, 5000);
	T_OK(g && g->status == 1);
	fix_session_logout(t.c.s, NULL, tx_now());
	g = tls_wait(&t, FIX_EV_CLOSED, 5000);
	T_OK(g && strcmp(g->code, "logged_out") == 0);
	tls_close(&t);

	/* A plain-TCP Logon on the TLS port gets nowhere, and the exchange lives on. */
	struct cli c;
	T_OK(cli_open(&c, e.fix_port, id, 30, 500) == 0);
	T_OK(cli_wait(&c, FIX_EV_LOGON, 2000) == NULL);
	cli_close(&c);
	int st = ex_stop(&e);
	T_OK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_bad_cert_path_fails_fast(void)
{
	struct ex e;
	T_OK(ex_start(&e, "--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key",
		      (char *)NULL) != 0);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	T_RUN(test_fix_over_tls);
	T_RUN(test_bad_cert_path_fails_fast);
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", dir);
	return T_END();
}
