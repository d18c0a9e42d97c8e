/* exchange_api over libcurl multi, on the reactor: see http.h. */
#include "http.h"
#include "util.h"

#include "defaults.h"

#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "op.h"
#include "reactor.h"

#define MSG_MAX 1024

enum req_kind { REQ_REGISTER, REQ_PROFILE };

struct http_req {
	struct http_client *c;
	struct http_req *prev, *next;
	enum req_kind kind;
	CURL *easy;
	struct curl_slist *headers;
	char *body; /* request JSON (holds the password): wiped on free */
	size_t body_len;
	char *resp; /* response body (may hold the token): wiped on free */
	size_t resp_len, resp_cap;
	int too_large;
	http_cb cb;
	void *arg;
	char errbuf[CURL_ERROR_SIZE];
};

struct http_client {
	struct bt_reactor *r;
	CURLM *multi;
	struct reactor_timer timer;
	char *base_url;
	struct http_opts o; /* string members point at the copies below */
	char *ca_file, *cert_file, *key_file;
	struct http_req *reqs;
	size_t npending;
	int busy; /* inside curl or a user callback: free is deferred */
	int dead; /* http_client_free was called while busy */
};

static void wipe_free(char *p, size_t n)
{
	if (p) {
		OPENSSL_cleanse(p, n);
		free(p);
	}
}

/* ------------------------------------------------------------ requests */

static void req_free(struct http_req *q)
{
	if (q->easy)
		curl_easy_cleanup(q->easy);
	/* The Authorization line carries the token. */
	for (struct curl_slist *h = q->headers; h; h = h->next)
		OPENSSL_cleanse(h->data, strlen(h->data));
	curl_slist_free_all(q->headers);
	wipe_free(q->body, q->body_len);
	wipe_free(q->resp, q->resp_cap);
	free(q);
}

static void req_unlink(struct http_req *q)
{
	struct http_client *c = q->c;
	if (q->prev)
		q->prev->next = q->next;
	else
		c->reqs = q->next;
	if (q->next)
		q->next->prev = q->prev;
	q->prev = q->next = NULL;
	c->npending--;
	curl_multi_remove_handle(c->multi, q->easy);
}

static size_t write_cb(char *ptr, size_t size, size_t nmemb, void *ud)
{
	struct http_req *q = ud;
	size_t n = size * nmemb;
	size_t max = q->c->o.max_response;
	if (n > max || q->resp_len > max - n) {
		q->too_large = 1;
		return 0; /* aborts the transfer with CURLE_WRITE_ERROR */
	}
	if (q->resp_len + n + 1 > q->resp_cap) {
		size_t cap = q->resp_cap ? q->resp_cap : 1024;
		while (cap < q->resp_len + n + 1)
			cap *= 2;
		char *p = malloc(cap);
		if (!p)
			return 0;
		if (q->resp_len)
			memcpy(p, q->resp, q->resp_len);
		wipe_free(q->resp, q->resp_cap);
		q->resp = p;
		q->resp_cap = cap;
	}
	memcpy(q->resp + q->resp_len, ptr, n);
	q->resp_len += n;
	q->resp[q->resp_len] = '\0';
	return n;
}

static const char *req_what(const struct http_req *q)
{
	return q->kind == REQ_REGISTER ? "register" : "profile";
}

static const char *req_path(const struct http_req *q)
{
	return q->kind == REQ_REGISTER ? "POST /api/register" : "GET /api/profile";
}

/* "host:port" of the request, for messages naming where we tried to go. */
static void req_where(struct http_req *q, char *buf, size_t n)
{
	char *url = NULL;
	snprintf(buf, n, "%s", q->c->base_url);
	CURLU *u = curl_url();
	if (!u)
		return;
	curl_easy_getinfo(q->easy, CURLINFO_EFFECTIVE_URL, &url);
	char *host = NULL, *port = NULL;
	if (url && curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK)
		snprintf(buf, n, "%s:%s", host, port);
	curl_free(host);
	curl_free(port);
	curl_url_cleanup(u);
}

/* Map a transport-level curl failure to a stable code and a message. */
static enum bt_err curl_failure(struct http_req *q, CURLcode rc, char *msg, size_t n)
{
	char where[300], secs[32];
	const char *detail = q->errbuf[0] ? q->errbuf : curl_easy_strerror(rc);
	long oserr = 0;
	curl_easy_getinfo(q->easy, CURLINFO_OS_ERRNO, &oserr);
	req_where(q, where, sizeof(where));
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT: {
		curl_off_t connected = 0;
		curl_easy_getinfo(q->easy, CURLINFO_CONNECT_TIME_T, &connected);
		if (!connected) {
			int64_t ms = q->c->o.connect_timeout_ms;
			bt_fmt_secs(secs, sizeof(secs), ms);
			snprintf(msg, n, "%s: connect to %s timed out after %s", req_what(q), where,
				 secs);
		} else {
			bt_fmt_secs(secs, sizeof(secs), q->c->o.timeout_ms);
			snprintf(msg, n, "%s: %s on %s timed out after %s", req_what(q),
				 req_path(q), where, secs);
		}
		return BT_ERR_TIMEOUT;
	}
	case CURLE_COULDNT_CONNECT:
		if (oserr == ECONNREFUSED) {
			snprintf(msg, n, "%s: connection refused by %s", req_what(q), where);
			return BT_ERR_REFUSED;
		}
		snprintf(msg, n, "%s: cannot connect to %s: %s", req_what(q), where, detail);
		return BT_ERR_CONNECT_FAILED;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
		snprintf(msg, n, "%s: %s", req_what(q), detail);
		return BT_ERR_CONNECT_FAILED;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_SSL_ENGINE_INITFAILED:
	case CURLE_SSL_ENGINE_NOTFOUND:
	case CURLE_SSL_ENGINE_SETFAILED:
	case CURLE_SSL_SHUTDOWN_FAILED:
	case CURLE_USE_SSL_FAILED:
		snprintf(msg, n, "%s: TLS with %s failed: %s", req_what(q), where, detail);
		return BT_ERR_TLS_FAILED;
	case CURLE_WRITE_ERROR:
	case CURLE_FILESIZE_EXCEEDED:
		if (q->too_large || rc == CURLE_FILESIZE_EXCEEDED) {
			snprintf(msg, n, "bad_response: response larger than %zu bytes",
				 q->c->o.max_response);
			return BT_ERR_BAD_RESPONSE;
		}
		snprintf(msg, n, "%s: out of memory reading the response", req_what(q));
		return BT_ERR_BAD_RESPONSE;
	case CURLE_TOO_MANY_REDIRECTS:
	case CURLE_WEIRD_SERVER_REPLY:
		snprintf(msg, n, "bad_response: %s", detail);
		return BT_ERR_BAD_RESPONSE;
	case CURLE_UNSUPPORTED_PROTOCOL:
		snprintf(msg, n, "%s: %s (only http and https are allowed)", req_what(q), detail);
		return BT_ERR_CONNECT_FAILED;
	case CURLE_GOT_NOTHING:
	case CURLE_RECV_ERROR:
	case CURLE_SEND_ERROR:
	case CURLE_PARTIAL_FILE:
		snprintf(msg, n, "%s: connection to %s lost: %s", req_what(q), where, detail);
		return BT_ERR_DISCONNECTED;
	default:
		snprintf(msg, n, "%s: %s", req_what(q), detail);
		return BT_ERR_CONNECT_FAILED;
	}
}

/* Non-empty string member of obj, or NULL. */
static const char *json_str(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;
	return s && *s ? s : NULL;
}

/* The client id becomes our SenderCompID(49): what login() accepts, checked
 * here so register() never hands out one that login() refuses or that would
 * break a FIX frame: 1..HTTP_MAX_CLIENT_ID bytes of printable ASCII without
 * '=', '|' or spaces. v is the JSON string (its length counts an embedded
 * NUL). 1, or 0 with the reason in msg (never quoting the id itself). */
static int client_id_ok(json_t *v, char *msg, size_t n)
{
	const char *id = json_string_value(v);
	size_t len = json_string_length(v);
	if (len > HTTP_MAX_CLIENT_ID) {
		snprintf(msg, n, "bad_response: client_id is %zu bytes long (at most %d)", len,
			 HTTP_MAX_CLIENT_ID);
		return 0;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)id[i];
		if (c <= 0x20 || c >= 0x7f || c == '=' || c == '|') {
			snprintf(msg, n,
				 "bad_response: client_id has byte 0x%02x at offset %zu (printable "
				 "ASCII without '=', '|' or spaces expected)",
				 c, i);
			return 0;
		}
	}
	return 1;
}

static void finish(struct http_req *q, CURLcode rc)
{
	struct http_result res = {0};
	char msg[MSG_MAX] = "";
	json_t *root = NULL;
	long status = 0;
	curl_easy_getinfo(q->easy, CURLINFO_RESPONSE_CODE, &status);
	res.status = status;
	res.message = msg;
	if (rc != CURLE_OK) {
		res.err = curl_failure(q, rc, msg, sizeof(msg));
		goto out;
	}
	json_error_t jerr;
	root = q->resp_len ? json_loadb(q->resp, q->resp_len, 0, &jerr) : NULL;
	if (status != 200) {
		/* The server's own words when it gave any. */
		const char *em = json_is_object(root) ? json_str(root, "error_msg") : NULL;
		char *location = NULL;
		res.err = BT_ERR_HTTP_STATUS;
		if (status >= 300 && status < 400 &&
		    curl_easy_getinfo(q->easy, CURLINFO_REDIRECT_URL, &location) == CURLE_OK)
			snprintf(msg, sizeof(msg),
				 "%s failed (HTTP %ld): redirected to %.300s (redirects are not "
				 "followed: set api_url to the right address)",
				 req_what(q), status, location ? location : "(no Location)");
		else if (em)
			snprintf(msg, sizeof(msg), "%s failed (HTTP %ld): %s", req_what(q), status,
				 em);
		else
			snprintf(msg, sizeof(msg), "%s failed (HTTP %ld)", req_what(q), status);
		goto out;
	}
	if (!root) {
		res.err = BT_ERR_BAD_RESPONSE;
		if (!q->resp_len)
			snprintf(msg, sizeof(msg), "bad_response: empty body");
		else
			snprintf(msg, sizeof(msg),
				 "bad_response: not JSON: %s (line %d, column %d)", jerr.text,
				 jerr.line, jerr.column);
		goto out;
	}
	if (!json_is_object(root)) {
		res.err = BT_ERR_BAD_RESPONSE;
		snprintf(msg, sizeof(msg), "bad_response: not a JSON object");
		goto out;
	}
	if (q->kind == REQ_PROFILE) {
		res.body = q->resp;
		res.body_len = q->resp_len;
		goto out;
	}
	json_t *ok = json_object_get(root, "success");
	if (ok && !json_is_boolean(ok)) {
		res.err = BT_ERR_BAD_RESPONSE;
		snprintf(msg, sizeof(msg), "bad_response: 'success' is not a boolean");
		goto out;
	}
	if (ok && json_is_false(ok)) {
		const char *em = json_str(root, "error_msg");
		res.err = BT_ERR_HTTP_STATUS;
		snprintf(msg, sizeof(msg), "register failed (HTTP %ld): %s", status,
			 em ? em : "the exchange said no");
		goto out;
	}
	res.client_id = json_str(root, "client_id");
	res.token = json_str(root, "token");
	if (!res.client_id || !res.token) {
		res.err = BT_ERR_BAD_RESPONSE;
		snprintf(msg, sizeof(msg), "bad_response: '%s' missing",
			 !res.client_id ? "client_id" : "token");
		res.client_id = res.token = NULL;
		goto out;
	}
	if (!client_id_ok(json_object_get(root, "client_id"), msg, sizeof(msg))) {
		res.err = BT_ERR_BAD_RESPONSE;
		res.client_id = res.token = NULL;
		goto out;
	}
out:
	q->cb(q->arg, &res);
	json_decref(root);
}

/* Deliver every finished transfer. */
static void check_done(struct http_client *c)
{
	CURLMsg *m;
	int left;
	while (!c->dead && (m = curl_multi_info_read(c->multi, &left))) {
		if (m->msg != CURLMSG_DONE)
			continue;
		char *priv = NULL;
		curl_easy_getinfo(m->easy_handle, CURLINFO_PRIVATE, &priv);
		struct http_req *q = (struct http_req *)priv;
		CURLcode rc = m->data.result;
		req_unlink(q);
		finish(q, rc);
		req_free(q);
	}
}

/* ------------------------------------------------------------ reactor glue */

static void client_destroy(struct http_client *c);

static void enter(struct http_client *c)
{
	c->busy++;
}

static void leave(struct http_client *c)
{
	if (--c->busy == 0 && c->dead)
		client_destroy(c);
}

static void io_cb(struct bt_reactor *r, int fd, unsigned events, void *ud)
{
	struct http_client *c = ud;
	int mask = 0, running;
	if (events & REACTOR_READ)
		mask |= CURL_CSELECT_IN;
	if (events & REACTOR_WRITE)
		mask |= CURL_CSELECT_OUT;
	if (events & (REACTOR_ERROR | REACTOR_HUP))
		mask |= CURL_CSELECT_ERR;
	enter(c);
	curl_multi_socket_action(c->multi, fd, mask, &running);
	check_done(c);
	leave(c);
}

static void timer_cb(struct bt_reactor *r, struct reactor_timer *t, void *ud)
{
	struct http_client *c = ud;
	int running;
	enter(c);
	curl_multi_socket_action(c->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_done(c);
	leave(c);
}

static int socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct http_client *c = userp;
	if (what == CURL_POLL_REMOVE) {
		reactor_unwatch(c->r, s);
		return 0;
	}
	unsigned ev = 0;
	if (what & CURL_POLL_IN)
		ev |= REACTOR_READ;
	if (what & CURL_POLL_OUT)
		ev |= REACTOR_WRITE;
	if (reactor_modify(c->r, s, ev) != 0) {
		/* New socket, or a stale watch on a reused fd number. */
		reactor_unwatch(c->r, s);
		if (reactor_watch(c->r, s, ev, io_cb, c) != 0)
			return -1;
	}
	return 0;
}

static int timerfunc_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct http_client *c = userp;
	if (timeout_ms < 0)
		reactor_timer_stop(c->r, &c->timer);
	else
		reactor_timer_start(c->r, &c->timer, timeout_ms);
	return 0;
}

/* ------------------------------------------------------------ client */

static char *dup_opt(const char *s, int *oom)
{
	if (!s)
		return NULL;
	char *d = strdup(s);
	if (!d)
		*oom = 1;
	return d;
}

struct http_client *http_client_new(struct bt_reactor *r, const struct http_opts *opts, char *err,
				    size_t errlen)
{
	if (!r || !opts || !opts->base_url) {
		bt_set_err(err, errlen, "http: reactor and base_url are required");
		return NULL;
	}
	if (strncmp(opts->base_url, "http://", 7) != 0 &&
	    strncmp(opts->base_url, "https://", 8) != 0) {
		bt_set_err(err, errlen, "http: base_url '%s' must start with http:// or https://",
			   opts->base_url);
		return NULL;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		bt_set_err(err, errlen, "http: curl_global_init failed");
		return NULL;
	}
	struct http_client *c = calloc(1, sizeof(*c));
	if (!c) {
		curl_global_cleanup();
		bt_set_err(err, errlen, "http: out of memory");
		return NULL;
	}
	c->r = r;
	c->o = *opts;
	int oom = 0;
	c->base_url = dup_opt(opts->base_url, &oom);
	c->ca_file = dup_opt(opts->ca_file, &oom);
	c->cert_file = dup_opt(opts->cert_file, &oom);
	c->key_file = dup_opt(opts->key_file, &oom);
	c->o.base_url = c->base_url;
	c->o.ca_file = c->ca_file;
	c->o.cert_file = c->cert_file;
	c->o.key_file = c->key_file;
	if (c->o.timeout_ms <= 0)
		c->o.timeout_ms = BT_DEFAULT_TIMEOUT_MS;
	if (c->o.connect_timeout_ms <= 0)
		c->o.connect_timeout_ms = BT_DEFAULT_CONNECT_TIMEOUT_MS;
	if (c->o.connect_timeout_ms > c->o.timeout_ms)
		c->o.connect_timeout_ms = c->o.timeout_ms;
	if (!c->o.max_response)
		c->o.max_response = BT_DEFAULT_MAX_RESPONSE;
	size_t bl = oom ? 0 : strlen(c->base_url);
	while (bl > 0 && c->base_url[bl - 1] == '/')
		c->base_url[--bl] = '\0';
	reactor_timer_init(&c->timer, timer_cb, c);
	if (oom) {
		bt_set_err(err, errlen, "http: out of memory");
		client_destroy(c);
		return NULL;
	}
	/* The curl multi handle comes with the first request: it holds a
	 * socketpair and some KiB, and most clients (a session that only logs
	 * in over FIX) never send one. */
	return c;
}

static int ensure_multi(struct http_client *c)
{
	if (c->multi)
		return 0;
	c->multi = curl_multi_init();
	if (!c->multi)
		return -1;
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(c->multi, CURLMOPT_SOCKETDATA, c);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERFUNCTION, timerfunc_cb);
	curl_multi_setopt(c->multi, CURLMOPT_TIMERDATA, c);
	return 0;
}

static void client_destroy(struct http_client *c)
{
	while (c->reqs) {
		struct http_req *q = c->reqs;
		req_unlink(q);
		req_free(q);
	}
	if (c->multi)
		curl_multi_cleanup(c->multi);
	reactor_timer_stop(c->r, &c->timer);
	free(c->base_url);
	free(c->ca_file);
	free(c->cert_file);
	free(c->key_file);
	free(c);
	curl_global_cleanup();
}

void http_client_free(struct http_client *c)
{
	if (!c || c->dead)
		return;
	c->dead = 1;
	if (c->busy == 0)
		client_destroy(c);
}

size_t http_pending(const struct http_client *c)
{
	return c ? c->npending : 0;
}

static struct http_req *req_new(struct http_client *c, enum req_kind kind, http_cb cb, void *arg)
{
	struct http_req *q = calloc(1, sizeof(*q));
	if (!q)
		return NULL;
	q->c = c;
	q->kind = kind;
	q->cb = cb;
	q->arg = arg;
	q->easy = curl_easy_init();
	if (!q->easy) {
		free(q);
		return NULL;
	}
	const char *path = kind == REQ_REGISTER ? "/api/register" : "/api/profile";
	size_t ul = strlen(c->base_url) + strlen(path) + 1;
	char *url = malloc(ul);
	if (!url) {
		req_free(q);
		return NULL;
	}
	snprintf(url, ul, "%s%s", c->base_url, path);
	CURL *e = q->easy;
	int bad = curl_easy_setopt(e, CURLOPT_URL, url) != CURLE_OK;
	free(url); /* curl keeps its own copy */
	curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)q);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, q->errbuf);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)c->o.timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)c->o.connect_timeout_ms);
	bad |= curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK;
	/* No redirect is ever followed: one to another origin, or from https to
	 * http, would hand the registration body (the password) or the bearer
	 * token to whoever the Location names, in clear text for http. The
	 * exchange's API never redirects; a 3xx fails with http_status and the
	 * Location in the message. */
	curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)c->o.max_response);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, q);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "betatrader/0.1");
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, c->o.insecure ? 0L : 1L);
	curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, c->o.insecure ? 0L : 2L);
	if (c->o.ca_file)
		curl_easy_setopt(e, CURLOPT_CAINFO, c->o.ca_file);
	if (c->o.cert_file) {
		curl_easy_setopt(e, CURLOPT_SSLCERT, c->o.cert_file);
		curl_easy_setopt(e, CURLOPT_SSLKEY, c->o.key_file ? c->o.key_file : c->o.cert_file);
	}
	struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
	if (h && kind == REQ_REGISTER) {
		h = curl_slist_append(h, "Content-Type: application/json") ? h : NULL;
		/* No "Expect: 100-continue" round trip for a tiny body. */
		h = h && curl_slist_append(h, "Expect:") ? h : NULL;
	}
	q->headers = h;
	if (!h || bad) {
		req_free(q);
		return NULL;
	}
	return q;
}

static struct http_req *req_start(struct http_req *q)
{
	struct http_client *c = q->c;
	curl_easy_setopt(q->easy, CURLOPT_HTTPHEADER, q->headers);
	if (ensure_multi(c) < 0 || curl_multi_add_handle(c->multi, q->easy) != CURLM_OK) {
		req_free(q);
		return NULL;
	}
	q->next = c->reqs;
	if (c->reqs)
		c->reqs->prev = q;
	c->reqs = q;
	c->npending++;
	return q;
}

struct http_req *http_register(struct http_client *c, const char *username, const char *password,
			       http_cb cb, void *arg)
{
	if (!c || c->dead || !username || !password || !cb)
		return NULL;
	struct http_req *q = req_new(c, REQ_REGISTER, cb, arg);
	if (!q)
		return NULL;
	json_t *doc = json_pack("{s:s, s:s}", "username", username, "password", password);
	q->body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	json_decref(doc);
	if (!q->body) {
		req_free(q);
		return NULL;
	}
	q->body_len = strlen(q->body);
	curl_easy_setopt(q->easy, CURLOPT_POSTFIELDS, q->body);
	curl_easy_setopt(q->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->body_len);
	return req_start(q);
}

struct http_req *http_fetch_profile(struct http_client *c, const char *token, http_cb cb, void *arg)
{
	if (!c || c->dead || !token || !cb || strpbrk(token, "\r\n"))
		return NULL;
	struct http_req *q = req_new(c, REQ_PROFILE, cb, arg);
	if (!q)
		return NULL;
	size_t n = strlen(token) + sizeof("Authorization: Bearer ");
	char *line = malloc(n);
	if (!line) {
		req_free(q);
		return NULL;
	}
	snprintf(line, n, "Authorization: Bearer %s", token);
	struct curl_slist *h = curl_slist_append(q->headers, line);
	wipe_free(line, n);
	if (!h) {
		req_free(q);
		return NULL;
	}
	curl_easy_setopt(q->easy, CURLOPT_HTTPGET, 1L);
	return req_start(q);
}

void http_cancel(struct http_req *q)
{
	if (!q)
		return;
	struct http_client *c = q->c;
	enter(c);
	req_unlink(q);
	req_free(q);
	leave(c);
}
