/* libFuzzer target for the exchange_api response handling of http.c: the
 * input is an HTTP status and a body (format in gen_seeds.c's http_seed),
 * served by a libmicrohttpd server inside this process to http_register or
 * http_fetch_profile, driven through the real reactor over loopback. The
 * result is checked against an independent reading of the same rules
 * (200 + JSON object + the right members = success; other statuses =
 * "http_status"; anything else = "bad_response").
 *
 * The response parsing lives in static functions of http.c, so going
 * through a real server is the only way in without changing http.c. */
#include <ctype.h>
#include <jansson.h>
#include <microhttpd.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuzz_check.h"
#include "http.h"
#include "op.h"
#include "reactor.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define WAIT_S 20 /* a request that never calls back is a hang: abort */

/* The response the server gives next, and the client side's rendezvous.
 * Process-wide because libFuzzer's entry points take no context. */
static struct {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned status;
	const char *body;
	size_t len;
	int profile;
	int done;
	struct bt_reactor *r;
	struct http_client *c;
} g = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* ------------------------------------------------------------- server */

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url,
			       const char *method, const char *version, const char *upload_data,
			       size_t *upload_data_size, void **con_cls)
{
	static int marker;
	if (!*con_cls) {
		*con_cls = &marker;
		return MHD_YES;
	}
	if (*upload_data_size) {
		*upload_data_size = 0; /* the request body does not matter here */
		return MHD_YES;
	}
	pthread_mutex_lock(&g.mu);
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(g.len, (void *)g.body, MHD_RESPMEM_MUST_COPY);
	unsigned status = g.status;
	pthread_mutex_unlock(&g.mu);
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", "application/json");
	enum MHD_Result rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

/* ------------------------------------------------------------- oracle */

static const char *nonempty_str(json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	const char *s = json_is_string(v) ? json_string_value(v) : NULL;
	return s && *s ? s : NULL;
}

/* A SenderCompID login() would take: 1..HTTP_MAX_CLIENT_ID bytes of
 * printable ASCII without '=', '|' or spaces (an oracle written apart from
 * http.c's own check, from the rule as documented). */
static int client_id_valid(json_t *v)
{
	const char *id = json_string_value(v);
	size_t len = json_string_length(v);
	if (!id || len == 0 || len > HTTP_MAX_CLIENT_ID)
		return 0;
	for (size_t i = 0; i < len; i++)
		if (!isgraph((unsigned char)id[i]) || id[i] == '=' || id[i] == '|')
			return 0;
	return 1;
}

/* The code http.c must report for this status and body (NULL = success). */
static const char *expected_code(unsigned status, const char *body, size_t len, int profile)
{
	if (status != 200)
		return BT_E_HTTP_STATUS;
	json_t *root = len ? json_loadb(body, len, 0, NULL) : NULL;
	const char *code = NULL;
	if (!json_is_object(root)) {
		code = BT_E_BAD_RESPONSE;
	} else if (!profile) {
		json_t *ok = json_object_get(root, "success");
		if (ok && !json_is_boolean(ok))
			code = BT_E_BAD_RESPONSE;
		else if (ok && json_is_false(ok))
			code = BT_E_HTTP_STATUS;
		else if (!nonempty_str(root, "client_id") || !nonempty_str(root, "token"))
			code = BT_E_BAD_RESPONSE;
		else if (!client_id_valid(json_object_get(root, "client_id")))
			code = BT_E_BAD_RESPONSE;
	}
	json_decref(root);
	return code;
}

/* ------------------------------------------------------------- client */

static void on_result(void *arg, const struct http_result *res)
{
	CHECK(res->message);
	CHECK(strlen(res->message) < 1024);
	pthread_mutex_lock(&g.mu);
	const char *want = expected_code(g.status, g.body, g.len, g.profile);
	const char *code = res->err != BT_ERR_NONE ? bt_err_code(res->err) : NULL;
	if (!(want == code || (want && code && !strcmp(want, code))))
		fprintf(stderr, "status %u: expected code %s, got %s (%s)\n", g.status,
			want ? want : "success", code ? code : "success", res->message);
	CHECK(want == code || (want && code && !strcmp(want, code)));
	CHECK(res->status == (long)g.status);
	if (!code) {
		if (g.profile) {
			CHECK(res->body && res->body_len == g.len);
			CHECK(memcmp(res->body, g.body, g.len) == 0 && res->body[g.len] == '\0');
		} else {
			CHECK(res->client_id && *res->client_id && res->token && *res->token);
			(void)strlen(res->client_id);
			(void)strlen(res->token);
		}
	}
	g.done = 1;
	pthread_cond_signal(&g.cv);
	pthread_mutex_unlock(&g.mu);
}

static void start_req(struct bt_reactor *r, void *ud)
{
	struct http_req *q = g.profile ? http_fetch_profile(g.c, "tok123", on_result, NULL)
				       : http_register(g.c, "alice", "s3cret", on_result, NULL);
	CHECK(q);
}

static void new_client(struct bt_reactor *r, void *ud)
{
	const char *url = ud;
	struct http_opts o = {.base_url = url, .timeout_ms = 10000};
	char err[256];
	g.c = http_client_new(r, &o, err, sizeof(err));
	if (!g.c)
		fprintf(stderr, "http_client_new: %s\n", err);
	CHECK(g.c);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_AUTO_INTERNAL_THREAD, 0, NULL, NULL,
						handler, NULL, MHD_OPTION_END);
	CHECK(d);
	unsigned port = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
	char err[256];
	g.r = reactor_acquire(err, sizeof(err));
	CHECK(g.r);
	static char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%u", port);
	CHECK(reactor_call(g.r, new_client, url) == 0);
	/* The daemon, reactor and client live as long as the process. */
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 3)
		return 0;
	unsigned status = (unsigned)data[1] | (unsigned)data[2] << 8;
	/* 1xx are interim answers curl waits past; only final statuses. */
	if (status < 200 || status > 599)
		status = 200 + status % 400;
	pthread_mutex_lock(&g.mu);
	g.profile = data[0] & 1;
	g.status = status;
	g.body = (const char *)data + 3;
	g.len = size - 3;
	g.done = 0;
	pthread_mutex_unlock(&g.mu);
	CHECK(reactor_post(g.r, start_req, NULL) == 0);

	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += WAIT_S;
	pthread_mutex_lock(&g.mu);
	while (!g.done) {
		if (pthread_cond_timedwait(&g.cv, &g.mu, &until) != 0 && !g.done) {
			fprintf(stderr, "no http callback within %d s\n", WAIT_S);
			abort();
		}
	}
	pthread_mutex_unlock(&g.mu);
	return 0;
}
