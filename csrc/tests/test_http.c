/* test-deps: http reactor mhd transport */
/* The exchange_api client against a libmicrohttpd server started here:
 * register (200, 409, 500, not JSON, wrong shape, too large, slow), profile
 * with the bearer token, redirects limited to http/https, refused; and
 * https against an in-test OpenSSL server (the transport dependency only
 * brings libssl for that server). */
#include <jansson.h>
#include <microhttpd.h>
#include <openssl/ssl.h>
#include <poll.h>

#include "http.h"
#include "op.h"
#include "reactor.h"
#include "srv_util.h"
#include "t.h"

static struct bt_reactor *R;
static unsigned short PORT;
/* "Another origin": a listening socket nobody accepts on. A connection to it
 * would wait in its backlog, so poll() shows whether anything ever came. */
static int OTHER_FD = -1;
static unsigned short OTHER_PORT;

static int other_origin_contacted(void)
{
	struct pollfd p = {.fd = OTHER_FD, .events = POLLIN};
	return poll(&p, 1, 0) != 0;
}

/* ------------------------------------------------------------ server */

struct upload {
	char *buf;
	size_t len;
};

static pthread_mutex_t seen_mu = PTHREAD_MUTEX_INITIALIZER;
static char seen_body[512];  /* last register body the server received */
static char seen_ctype[128]; /* and its Content-Type */

static enum MHD_Result reply(struct MHD_Connection *conn, unsigned status, const char *body)
{
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	MHD_add_response_header(r, "Content-Type", "application/json");
	enum MHD_Result rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result on_register(struct MHD_Connection *conn, struct upload *up)
{
	pthread_mutex_lock(&seen_mu);
	snprintf(seen_body, sizeof(seen_body), "%.*s", (int)up->len, up->buf ? up->buf : "");
	const char *ct = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Type");
	snprintf(seen_ctype, sizeof(seen_ctype), "%s", ct ? ct : "");
	pthread_mutex_unlock(&seen_mu);
	json_t *doc = up->buf ? json_loadb(up->buf, up->len, 0, NULL) : NULL;
	const char *user = json_string_value(json_object_get(doc, "username"));
	char name[64];
	snprintf(name, sizeof(name), "%s", user ? user : "");
	json_decref(doc);
	if (!strcmp(name, "alice"))
		return reply(conn, 200,
			     "{\"success\":true,\"client_id\":\"CLIENT0001\",\"token\":\"tok123\","
			     "\"error_msg\":\"\"}");
	if (!strcmp(name, "taken"))
		return reply(conn, 409,
			     "{\"success\":false,\"client_id\":\"\",\"token\":\"\","
			     "\"error_msg\":\"username already exists\"}");
	if (!strcmp(name, "boom"))
		return reply(conn, 500, "Internal Server Error");
	if (!strcmp(name, "garbage"))
		return reply(conn, 200, "{\"success\":tru");
	if (!strcmp(name, "array"))
		return reply(conn, 200, "[1,2,3]");
	if (!strcmp(name, "shape"))
		return reply(conn, 200, "{\"success\":true,\"token\":\"tok\",\"error_msg\":\"\"}");
	if (!strcmp(name, "falsy"))
		return reply(conn, 200,
			     "{\"success\":false,\"error_msg\":\"registration closed\"}");
	if (!strcmp(name, "longid") || !strcmp(name, "max64")) {
		size_t n = name[0] == 'l' ? 5000 : 64;
		char *body = malloc(n + 64);
		int k =
		    snprintf(body, n + 64, "{\"success\":true,\"token\":\"t\",\"client_id\":\"");
		memset(body + k, 'C', n);
		snprintf(body + k + n, 64, "\"}");
		enum MHD_Result rc = reply(conn, 200, body);
		free(body);
		return rc;
	}
	if (!strcmp(name, "sohid"))
		return reply(conn, 200,
			     "{\"success\":true,\"token\":\"t\",\"client_id\":\"CLI\\u0001X\"}");
	if (!strcmp(name, "nulid"))
		return reply(conn, 200,
			     "{\"success\":true,\"token\":\"t\",\"client_id\":\"CLI\\u0000X\"}");
	if (!strcmp(name, "utf8id"))
		return reply(conn, 200,
			     "{\"success\":true,\"token\":\"t\",\"client_id\":\"CL\\u00c9\"}");
	if (!strcmp(name, "eqid"))
		return reply(conn, 200, "{\"success\":true,\"token\":\"t\",\"client_id\":\"A=B\"}");
	if (!strcmp(name, "big")) {
		size_t n = 2u << 20;
		char *big = malloc(n + 1);
		memset(big, ' ', n);
		big[0] = '{';
		big[n - 1] = '}';
		big[n] = '\0';
		enum MHD_Result rc = reply(conn, 200, big);
		free(big);
		return rc;
	}
	if (!strcmp(name, "slow")) {
		srv_sleep_ms(1500);
		return reply(conn, 200, "{\"success\":true,\"client_id\":\"C\",\"token\":\"t\"}");
	}
	return reply(conn, 400, "{\"success\":false,\"error_msg\":\"malformed input\"}");
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
			       const char *method, const char *version, const char *upload_data,
			       size_t *upload_data_size, void **con_cls)
{
	struct upload *up = *con_cls;
	if (!up) {
		*con_cls = calloc(1, sizeof(struct upload));
		return MHD_YES;
	}
	if (*upload_data_size) {
		up->buf = realloc(up->buf, up->len + *upload_data_size);
		memcpy(up->buf + up->len, upload_data, *upload_data_size);
		up->len += *upload_data_size;
		*upload_data_size = 0;
		return MHD_YES;
	}
	if (!strcmp(url, "/api/register") && !strcmp(method, "POST"))
		return on_register(conn, up);
	if (!strcmp(url, "/toother/api/register") || !strcmp(url, "/toother/api/profile")) {
		char loc[96];
		snprintf(loc, sizeof(loc), "http://127.0.0.1:%u%s", OTHER_PORT, url + 8);
		struct MHD_Response *r =
		    MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		MHD_add_response_header(r, "Location", loc);
		enum MHD_Result rc = MHD_queue_response(conn, 307, r);
		MHD_destroy_response(r);
		return rc;
	}
	if (!strcmp(url, "/api/profile")) {
		const char *auth =
		    MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
		if (auth && !strcmp(auth, "Bearer tok123"))
			return reply(conn, 200,
				     "{\"client_id\":\"CLIENT0001\",\"username\":\"alice\"}");
		return reply(conn, 401, "{\"success\":false,\"error_msg\":\"invalid token\"}");
	}
	if (!strcmp(url, "/toftp/api/profile") || !strcmp(url, "/tohttp/api/profile")) {
		struct MHD_Response *r =
		    MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		MHD_add_response_header(r, "Location",
					url[3] == 'f' ? "ftp://127.0.0.1:1/x" : "/api/profile");
		enum MHD_Result rc = MHD_queue_response(conn, 302, r);
		MHD_destroy_response(r);
		return rc;
	}
	return reply(conn, 404, "{\"error_msg\":\"no such path\"}");
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls,
		      enum MHD_RequestTerminationCode toe)
{
	struct upload *up = *con_cls;
	if (up) {
		free(up->buf);
		free(up);
		*con_cls = NULL;
	}
}

/* ------------------------------------------------------------ client side */

struct call {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct http_opts o;
	struct http_client *c;
	const char *user, *token; /* register when user is set, else profile */
	struct http_req *req;
	int done;
	char code[32], msg[512], client_id[64], tok[64], body[256];
	long status;
	char err[256];
};

static void on_result(void *arg, const struct http_result *res)
{
	struct call *k = arg;
	pthread_mutex_lock(&k->mu);
	k->done++;
	snprintf(k->code, sizeof(k->code), "%s", bt_err_code(res->err));
	snprintf(k->msg, sizeof(k->msg), "%s", res->message ? res->message : "");
	snprintf(k->client_id, sizeof(k->client_id), "%s", res->client_id ? res->client_id : "");
	snprintf(k->tok, sizeof(k->tok), "%s", res->token ? res->token : "");
	snprintf(k->body, sizeof(k->body), "%s", res->body ? res->body : "");
	k->status = res->status;
	pthread_cond_broadcast(&k->cv);
	pthread_mutex_unlock(&k->mu);
}

static void do_start(struct bt_reactor *r, void *ud)
{
	struct call *k = ud;
	k->c = http_client_new(r, &k->o, k->err, sizeof(k->err));
	if (!k->c)
		return;
	if (k->user)
		k->req = http_register(k->c, k->user, "s3cret", on_result, k);
	else
		k->req = http_fetch_profile(k->c, k->token, on_result, k);
}

static void do_request(struct bt_reactor *r, void *ud)
{
	struct call *k = ud;
	k->req = http_register(k->c, k->user, "s3cret", on_result, k);
}

static void do_free(struct bt_reactor *r, void *ud)
{
	struct call *k = ud;
	http_client_free(k->c);
	k->c = NULL;
}

static void base_url(char *buf, size_t n, const char *prefix)
{
	snprintf(buf, n, "http://127.0.0.1:%u%s", PORT, prefix);
}

/* Wait for the callback (10 s liveness cap), under the lock it writes with. */
static void call_wait(struct call *k)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&k->mu);
	while (!k->done && pthread_cond_timedwait(&k->cv, &k->mu, &ts) == 0)
		;
	pthread_mutex_unlock(&k->mu);
}

/* Run one request to completion (10 s liveness cap) and free the client. */
static void run(struct call *k, const char *url, const char *user, const char *token)
{
	memset(k, 0, sizeof(*k));
	pthread_mutex_init(&k->mu, NULL);
	pthread_cond_init(&k->cv, NULL);
	k->o.base_url = url;
	k->o.timeout_ms = 5000;
	k->user = user;
	k->token = token;
	reactor_call(R, do_start, k);
	T_OK(k->req != NULL);
	if (k->req)
		call_wait(k);
	T_EQ_INT(k->done, k->req ? 1 : 0);
	reactor_call(R, do_free, k);
	pthread_mutex_destroy(&k->mu);
	pthread_cond_destroy(&k->cv);
}

static void test_register_ok(void)
{
	char url[128];
	struct call k;
	base_url(url, sizeof(url), "");
	run(&k, url, "alice", NULL);
	T_EQ_STR(k.code, "");
	T_EQ_STR(k.client_id, "CLIENT0001");
	T_EQ_STR(k.tok, "tok123");
	T_EQ_INT(k.status, 200);
	pthread_mutex_lock(&seen_mu);
	T_EQ_STR(seen_body, "{\"username\":\"alice\",\"password\":\"s3cret\"}");
	T_EQ_STR(seen_ctype, "application/json");
	pthread_mutex_unlock(&seen_mu);
}

static void test_register_trailing_slash_and_escaping(void)
{
	char url[128];
	struct call k;
	base_url(url, sizeof(url), "/");
	run(&k, url, "we\"ird\\name", NULL);
	T_EQ_STR(k.code, BT_E_HTTP_STATUS);
	T_EQ_INT(k.status, 400);
	T_EQ_STR(k.msg, "register failed (HTTP 400): malformed input");
	pthread_mutex_lock(&seen_mu);
	T_EQ_STR(seen_body, "{\"username\":\"we\\\"ird\\\\name\",\"password\":\"s3cret\"}");
	pthread_mutex_unlock(&seen_mu);
}

static void test_register_409(void)
{
	char url[128];
	struct call k;
	base_url(url, sizeof(url), "");
	run(&k, url, "taken", NULL);
	T_EQ_STR(k.code, BT_E_HTTP_STATUS);
	T_EQ_INT(k.status, 409);
	T_EQ_STR(k.msg, "register failed (HTTP 409): username already exists");
	T_EQ_STR(k.client_id, "");
}

static void test_register_500(void)
{
	char url[128];
	struct call k;
	base_url(url, sizeof(url), "");
	run(&k, url, "boom", NULL);
	T_EQ_STR(k.code, BT_E_HTTP_STATUS);
	T_EQ_INT(k.status, 500);
	T_EQ_STR(k.msg, "register failed (HTTP 500)");
}

static void test_register_not_json(void)
{
	char url[128];
	struct call k;
	base_url(url, sizeof(url), "");
	run(&k, url, "garbage", NULL);
	T_EQ_STR(k.code, BT_E_BAD_RESPONSE);
	T_OK(strncmp(k.msg, "bad_response: not JSON: ", 24) == 0);
	run(&k, url, "array", NULL);
	T_EQ_STR(k.code, BT_E_BAD_RESPONSE);
	T_EQ_STR(k.msg, "bad_response: not a JSON object");
}

static void test_register_wrong_shape(void)
{
	char url[128];
	struct call k;
	base_url(url, sizeof(url), "");
	run(&k, url, "shape", NULL);
	T_EQ_STR(k.code, BT_E_BAD_RESPONSE);
	T_EQ_STR(k.msg, "bad_response: 'client_id' missing");
	run(&k, url, "falsy", NULL);
	T_EQ_STR(k.code, BT_E_HTTP_STATUS);
	T_EQ_STR(k.msg, "register failed (HTTP 200): registration closed");
}

static void test_register_too_large(void)
{
	char url[128];
	struct call k;
	base_url(url, sizeof(url), "");
	memset(&k, 0, sizeof(k));
	run(&k, url, "big", NULL); /* default limit 1 MiB < 2 MiB body */
	T_EQ_STR(k.code, BT_E_BAD_RESPONSE);
	T_EQ_STR(k.msg, "bad_response: response larger than 1048576 bytes");
}

static void test_register_timeout(void)
{
	char url[128];
	struct call k;
	base_url(url, sizeof(url), "");
	memset(&k, 0, sizeof(k));
	pthread_mutex_init(&k.mu, NULL);
	pthread_cond_init(&k.cv, NULL);
	k.o.base_url = url;
	k.o.timeout_ms = 300;
	k.user = "slow";
	reactor_call(R, do_start, &k);
	call_wait(&k);
	T_EQ_STR(k.code, BT_E_TIMEOUT);
	char want[128];
	snprintf(want, sizeof(want),
		 "register: POST /api/register on 127.0.0.1:%u timed out after 0.3 s", PORT);
	T_EQ_STR(k.msg, want);
	reactor_call(R, do_free, &k);
	pthread_mutex_destroy(&k.mu);
	pthread_cond_destroy(&k.cv);
}

static void test_refused(void)
{
	unsigned short port = 0;
	int fd = srv_listen(1, &port);
	close(fd);
	char url[128], want[128];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", port);
	struct call k;
	run(&k, url, "alice", NULL);
	T_EQ_STR(k.code, BT_E_REFUSED);
	snprintf(want, sizeof(want), "register: connection refused by 127.0.0.1:%u", port);
	T_EQ_STR(k.msg, want);
	T_EQ_INT(k.status, 0);
}

static void test_profile(void)
{
	char url[128];
	struct call k;
	base_url(url, sizeof(url), "");
	run(&k, url, NULL, "tok123");
	T_EQ_STR(k.code, "");
	T_EQ_STR(k.body, "{\"client_id\":\"CLIENT0001\",\"username\":\"alice\"}");
	run(&k, url, NULL, "wrong");
	T_EQ_STR(k.code, BT_E_HTTP_STATUS);
	T_EQ_INT(k.status, 401);
	T_EQ_STR(k.msg, "profile failed (HTTP 401): invalid token");
}

/* No redirect is followed: not to another origin (the body with the password
 * would go there), not to another scheme, not even on the same origin. The
 * failure is http_status naming the Location. */
static void test_redirects(void)
{
	char url[128], want[256];
	struct call k;
	base_url(url, sizeof(url), "/toother");
	run(&k, url, "alice", NULL);
	T_EQ_STR(k.code, BT_E_HTTP_STATUS);
	T_EQ_INT(k.status, 307);
	snprintf(want, sizeof(want),
		 "register failed (HTTP 307): redirected to http://127.0.0.1:%u/api/register "
		 "(redirects are not followed: set api_url to the right address)",
		 OTHER_PORT);
	T_EQ_STR(k.msg, want);
	run(&k, url, NULL, "tok123"); /* the bearer token neither */
	T_EQ_STR(k.code, BT_E_HTTP_STATUS);
	T_OK(!other_origin_contacted());
	base_url(url, sizeof(url), "/tohttp");
	run(&k, url, NULL, "tok123");
	T_EQ_STR(k.code, BT_E_HTTP_STATUS);
	T_EQ_INT(k.status, 302);
	snprintf(want, sizeof(want), "redirected to http://127.0.0.1:%u/api/profile", PORT);
	T_OK(strstr(k.msg, want) != NULL);
	base_url(url, sizeof(url), "/toftp");
	run(&k, url, NULL, "tok123");
	T_EQ_STR(k.code, BT_E_HTTP_STATUS);
	T_OK(strstr(k.msg, "redirected to ftp://127.0.0.1:1/x") != NULL);
}

/* register() hands out only a client_id that login() would take. */
static void test_register_client_id_checked(void)
{
	char url[128];
	struct call k;
	base_url(url, sizeof(url), "");
	run(&k, url, "longid", NULL);
	T_EQ_STR(k.code, BT_E_BAD_RESPONSE);
	T_EQ_STR(k.msg, "bad_response: client_id is 5000 bytes long (at most 64)");
	T_EQ_STR(k.client_id, "");
	T_EQ_STR(k.tok, "");
	run(&k, url, "sohid", NULL);
	T_EQ_STR(k.code, BT_E_BAD_RESPONSE);
	T_EQ_STR(k.msg, "bad_response: client_id has byte 0x01 at offset 3 (printable ASCII "
			"without '=', '|' or spaces expected)");
	run(&k, url, "nulid", NULL);
	T_EQ_STR(k.code, BT_E_BAD_RESPONSE);
	T_EQ_STR(k.client_id, ""); /* jansson itself refuses \u0000 without JSON_ALLOW_NUL */
	run(&k, url, "utf8id", NULL);
	T_EQ_STR(k.code, BT_E_BAD_RESPONSE);
	T_OK(strstr(k.msg, "byte 0xc3 at offset 2") != NULL);
	run(&k, url, "eqid", NULL);
	T_EQ_STR(k.code, BT_E_BAD_RESPONSE);
	T_OK(strstr(k.msg, "byte 0x3d at offset 1") != NULL);
	run(&k, url, "max64", NULL);
	T_EQ_STR(k.code, "");
	T_EQ_INT((long)strlen(k.client_id), 63); /* k.client_id holds 63 + NUL */
}

static void test_bad_args(void)
{
	struct call k;
	memset(&k, 0, sizeof(k));
	k.o.base_url = "ftp://127.0.0.1/";
	reactor_call(R, do_start, &k);
	T_OK(k.c == NULL);
	T_EQ_STR(k.err, "http: base_url 'ftp://127.0.0.1/' must start with http:// or https://");
	char url[128];
	base_url(url, sizeof(url), "");
	k.o.base_url = url;
	k.token = "bad\r\nX-Injected: 1";
	reactor_call(R, do_start, &k);
	T_OK(k.c != NULL);
	T_OK(k.req == NULL); /* header injection refused */
	reactor_call(R, do_free, &k);
}

/* Cancel, and free a client with a request in flight: no callback, no leak. */
static void test_cancel(void)
{
	char url[128];
	base_url(url, sizeof(url), "");
	struct call k;
	memset(&k, 0, sizeof(k));
	k.o.base_url = url;
	k.o.timeout_ms = 5000;
	k.user = "slow";
	reactor_call(R, do_start, &k);
	T_OK(k.req != NULL);
	reactor_call(R, do_free, &k);
	srv_sleep_ms(50);
	T_EQ_INT(k.done, 0);
}

/* ------------------------------------------------------------ https */

static char certdir[256];

struct tls_srv {
	int lfd;
	unsigned short port;
	pthread_t th;
	SSL_CTX *ctx;
	const char *answer; /* whole HTTP response; NULL: a register 200 */
};

/* One connection: TLS handshake, read one request, answer a register 200. */
static void *tls_srv_main(void *arg)
{
	struct tls_srv *t = arg;
	int fd = accept(t->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	SSL *ssl = SSL_new(t->ctx);
	SSL_set_fd(ssl, fd);
	if (SSL_accept(ssl) == 1) {
		char req[4096];
		size_t n = 0;
		int k;
		/* Headers, then the small body: stop once the JSON closes. */
		while (n < sizeof(req) - 1 &&
		       (k = SSL_read(ssl, req + n, (int)(sizeof(req) - 1 - n))) > 0) {
			n += (size_t)k;
			req[n] = '\0';
			if (strstr(req, "\r\n\r\n") && strchr(strstr(req, "\r\n\r\n"), '}'))
				break;
		}
		const char *body = "{\"success\":true,\"client_id\":\"TLS01\",\"token\":\"t\"}";
		char resp[512];
		int len = t->answer
			      ? snprintf(resp, sizeof(resp), "%s", t->answer)
			      : snprintf(resp, sizeof(resp),
					 "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
					 "Content-Length: %zu\r\nConnection: close\r\n\r\n%s",
					 strlen(body), body);
		SSL_write(ssl, resp, len);
		SSL_shutdown(ssl);
	}
	SSL_free(ssl);
	close(fd);
	return NULL;
}

static void tls_srv_start(struct tls_srv *t, const char *ip)
{
	t->answer = NULL;
	char c[512], k[512];
	snprintf(c, sizeof(c), "%s/server.pem", certdir);
	snprintf(k, sizeof(k), "%s/server.key", certdir);
	t->ctx = SSL_CTX_new(TLS_server_method());
	SSL_CTX_use_certificate_file(t->ctx, c, SSL_FILETYPE_PEM);
	SSL_CTX_use_PrivateKey_file(t->ctx, k, SSL_FILETYPE_PEM);
	t->lfd = srv_listen_on(inet_addr(ip), 4, &t->port);
	pthread_create(&t->th, NULL, tls_srv_main, t);
}

static void tls_srv_stop(struct tls_srv *t)
{
	shutdown(t->lfd, SHUT_RDWR); /* wakes accept() if nobody ever came */
	pthread_join(t->th, NULL);
	close(t->lfd);
	SSL_CTX_free(t->ctx);
}

static void https_case(const char *host, const char *ca, const char *want_code,
		       const char *want_msg_part)
{
	struct tls_srv t;
	tls_srv_start(&t, strcmp(host, "localhost") ? host : "127.0.0.1");
	char url[128], cafile[512];
	snprintf(url, sizeof(url), "https://%s:%u", host, t.port);
	snprintf(cafile, sizeof(cafile), "%s/%s", certdir, ca ? ca : "");
	struct call k;
	memset(&k, 0, sizeof(k));
	pthread_mutex_init(&k.mu, NULL);
	pthread_cond_init(&k.cv, NULL);
	k.o.base_url = url;
	k.o.timeout_ms = 5000;
	k.o.ca_file = ca ? cafile : NULL;
	k.user = "alice";
	reactor_call(R, do_start, &k);
	call_wait(&k);
	T_EQ_INT(k.done, 1);
	T_EQ_STR(k.code, want_code);
	if (want_msg_part && !strstr(k.msg, want_msg_part))
		T_FAIL("message \"%s\" lacks \"%s\"", k.msg, want_msg_part);
	if (!*want_code)
		T_EQ_STR(k.client_id, "TLS01");
	reactor_call(R, do_free, &k);
	tls_srv_stop(&t);
	pthread_mutex_destroy(&k.mu);
	pthread_cond_destroy(&k.cv);
}

/* https answered by a 307 to http on another origin: the body (with the
 * password) is not sent there in clear text. */
static void test_https_redirect_to_http(void)
{
	struct tls_srv t;
	char answer[256], url[128], cafile[512];
	tls_srv_start(&t, "127.0.0.1");
	snprintf(answer, sizeof(answer),
		 "HTTP/1.1 307 Temporary Redirect\r\nLocation: http://127.0.0.1:%u/api/register\r\n"
		 "Content-Length: 0\r\nConnection: close\r\n\r\n",
		 OTHER_PORT);
	t.answer = answer; /* read by the server thread once a client came */
	snprintf(url, sizeof(url), "https://localhost:%u", t.port);
	snprintf(cafile, sizeof(cafile), "%s/ca.pem", certdir);
	struct call k;
	memset(&k, 0, sizeof(k));
	pthread_mutex_init(&k.mu, NULL);
	pthread_cond_init(&k.cv, NULL);
	k.o.base_url = url;
	k.o.timeout_ms = 5000;
	k.o.ca_file = cafile;
	k.user = "alice";
	reactor_call(R, do_start, &k);
	call_wait(&k);
	T_EQ_INT(k.done, 1);
	T_EQ_STR(k.code, BT_E_HTTP_STATUS);
	T_OK(strstr(k.msg, "redirected to http://127.0.0.1:") != NULL);
	T_OK(!other_origin_contacted());
	reactor_call(R, do_free, &k);
	tls_srv_stop(&t);
	pthread_mutex_destroy(&k.mu);
	pthread_cond_destroy(&k.cv);
}

static void test_https_ok(void)
{
	https_case("localhost", "ca.pem", "", NULL);
}

static void test_https_unknown_issuer(void)
{
	/* No ca_file: the system store does not know our throwaway CA. */
	https_case("localhost", NULL, BT_E_TLS_FAILED, "unable to get local issuer certificate");
}

static void test_https_hostname_mismatch(void)
{
	/* 127.0.0.2 reaches the loopback server but is not in its SAN list. */
	https_case("127.0.0.2", "ca.pem", BT_E_TLS_FAILED, "127.0.0.2");
}

static void do_new(struct bt_reactor *r, void *ud)
{
	struct call *k = ud;
	k->c = http_client_new(r, &k->o, k->err, sizeof(k->err));
}

/* A client that never sent a request holds no fd (curl's multi handle and
 * its socketpair come with the first request): thousands of FIX sessions
 * each own one. The same client then still works. */
static void test_idle_client_holds_no_fd(void)
{
	char url[128];
	struct call k;
	memset(&k, 0, sizeof(k));
	pthread_mutex_init(&k.mu, NULL);
	pthread_cond_init(&k.cv, NULL);
	base_url(url, sizeof(url), "");
	k.o.base_url = url;
	k.o.timeout_ms = 5000;
	int before = srv_count_fds();
	reactor_call(R, do_new, &k);
	T_OK(k.c != NULL);
	T_EQ_INT(srv_count_fds(), before);
	k.user = "alice";
	reactor_call(R, do_request, &k);
	T_OK(k.req != NULL);
	if (k.req)
		call_wait(&k);
	T_EQ_STR(k.client_id, "CLIENT0001");
	reactor_call(R, do_free, &k);
	pthread_mutex_destroy(&k.mu);
	pthread_cond_destroy(&k.cv);
}

static int fds0, threads0;

static void test_nothing_left_open(void)
{
	SRV_WAIT_UNTIL(srv_count_fds() == fds0 && srv_count_threads() == threads0, 5000);
	T_EQ_INT(srv_count_fds(), fds0);
	T_EQ_INT(srv_threads_settle(threads0), threads0);
}

int main(void)
{
	char err[128];
	/* The in-test OpenSSL servers write with SSL_write on plain fds. */
	signal(SIGPIPE, SIG_IGN);
	struct MHD_Daemon *d = MHD_start_daemon(
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler,
	    NULL, MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
	if (!d) {
		fprintf(stderr, "cannot start libmicrohttpd\n");
		return 1;
	}
	PORT = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
	R = reactor_acquire(err, sizeof(err));
	if (!R) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	snprintf(certdir, sizeof(certdir), "/tmp/bt-http-XXXXXX");
	if (!mkdtemp(certdir) || srv_make_certs(certdir) != 0) {
		fprintf(stderr, "cannot make test certificates in %s\n", certdir);
		return 1;
	}
	OTHER_FD = srv_listen(4, &OTHER_PORT);
	if (OTHER_FD < 0) {
		fprintf(stderr, "cannot listen\n");
		return 1;
	}
	fds0 = srv_count_fds();
	threads0 = srv_count_threads();
	T_RUN(test_register_ok);
	T_RUN(test_register_trailing_slash_and_escaping);
	T_RUN(test_register_409);
	T_RUN(test_register_500);
	T_RUN(test_register_not_json);
	T_RUN(test_register_wrong_shape);
	T_RUN(test_register_too_large);
	T_RUN(test_register_timeout);
	T_RUN(test_refused);
	T_RUN(test_profile);
	T_RUN(test_redirects);
	T_RUN(test_register_client_id_checked);
	T_RUN(test_bad_args);
	T_RUN(test_cancel);
	T_RUN(test_https_ok);
	T_RUN(test_https_redirect_to_http);
	T_RUN(test_https_unknown_issuer);
	T_RUN(test_https_hostname_mismatch);
	T_RUN(test_idle_client_holds_no_fd);
	T_RUN(test_nothing_left_open);
	reactor_release(R);
	MHD_stop_daemon(d);
	close(OTHER_FD);
	srv_rm_rf(certdir);
	return T_END();
}
