/* The HTTP side of the exchange: libmicrohttpd parses HTTP and runs one
 * thread per connection (so the slow-HTTP fault delays only its own
 * request); this file routes, checks input and writes JSON with jansson. */
#include "exchange.h"

#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct http_api {
	struct MHD_Daemon *mhd;
	struct accounts *accounts;
	const struct exch_faults *faults;
	struct exch_admin *admin;
	atomic_int stopping; /* cuts injected delays short on shutdown */
};

/* Per-request state: the body read so far. */
struct req {
	char *body;
	size_t len;
	int too_large;
};

static enum MHD_Result send_json(struct MHD_Connection *c, unsigned status, json_t *obj,
				 const char *hdr, const char *hdr_val)
{
	char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
	json_decref(obj);
	if (!text)
		return MHD_NO;
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	if (hdr)
		MHD_add_response_header(r, hdr, hdr_val);
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result send_error(struct MHD_Connection *c, unsigned status, const char *msg,
				  const char *hdr, const char *hdr_val)
{
	json_t *o = json_pack("{s:b, s:s, s:s, s:s}", "success", 0, "client_id", "", "token", "",
			      "error_msg", msg);
	return send_json(c, status, o, hdr, hdr_val);
}

static int valid_username(const char *u)
{
	size_t n = strlen(u);
	if (n == 0 || n > 64)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char ch = u[i];
		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '-' || ch == '.' || ch == '@'))
			return 0;
	}
	return 1;
}

static enum MHD_Result do_register(struct http_api *h, struct MHD_Connection *c,
				   const struct req *rq)
{
	json_error_t jerr;
	json_t *root = json_loadb(rq->body ? rq->body : "", rq->len, 0, &jerr);
	if (!root) {
		char msg[256];
		snprintf(msg, sizeof(msg), "malformed JSON: %s", jerr.text);
		return send_error(c, MHD_HTTP_BAD_REQUEST, msg, NULL, NULL);
	}
	const char *user = NULL, *pw = NULL;
	size_t pwlen = 0;
	if (json_unpack_ex(root, &jerr, 0, "{s:s, s:s%}", "username", &user, "password", &pw,
			   &pwlen) != 0) {
		char msg[256];
		snprintf(msg, sizeof(msg),
			 "expected {\"username\": string, \"password\": string}: %s", jerr.text);
		json_decref(root);
		return send_error(c, MHD_HTTP_BAD_REQUEST, msg, NULL, NULL);
	}
	enum MHD_Result ret;
	struct acct_info info;
	if (!valid_username(user)) {
		ret = send_error(c, MHD_HTTP_BAD_REQUEST,
				 "username must be 1-64 characters of A-Z a-z 0-9 _ - . @", NULL,
				 NULL);
	} else if (pwlen == 0 || pwlen > 256 || strlen(pw) != pwlen) {
		ret =
		    send_error(c, MHD_HTTP_BAD_REQUEST, "password must be 1-256 bytes", NULL, NULL);
	} else {
		switch (accounts_register(h->accounts, user, pw, &info)) {
		case ACCT_OK:
			ret = send_json(c, MHD_HTTP_OK,
					json_pack("{s:b, s:s, s:s, s:s}", "success", 1, "client_id",
						  info.client_id, "token", info.token, "error_msg",
						  ""),
					NULL, NULL);
			break;
		case ACCT_TAKEN:
			ret =
			    send_error(c, MHD_HTTP_CONFLICT, "username already taken", NULL, NULL);
			break;
		default:
			ret = send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "account store failure",
					 NULL, NULL);
			break;
		}
	}
	json_decref(root);
	return ret;
}

static enum MHD_Result do_profile(struct http_api *h, struct MHD_Connection *c)
{
	static const char bearer[] = "Bearer ";
	const char *auth =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	struct acct_info info;
	if (!auth || strncasecmp(auth, bearer, sizeof(bearer) - 1) != 0 ||
	    !auth[sizeof(bearer) - 1])
		return send_error(c, MHD_HTTP_UNAUTHORIZED, "missing bearer token",
				  MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	int rc = accounts_by_token(h->accounts, auth + sizeof(bearer) - 1, &info);
	if (rc == ACCT_NOT_FOUND)
		return send_error(c, MHD_HTTP_UNAUTHORIZED, "invalid token",
				  MHD_HTTP_HEADER_WWW_AUTHENTICATE,
				  "Bearer error=\"invalid_token\"");
	if (rc != ACCT_OK)
		return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "account store failure", NULL,
				  NULL);
	char created[32];
	time_t t = (time_t)info.created_at;
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(created, sizeof(created), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return send_json(c, MHD_HTTP_OK,
			 json_pack("{s:b, s:s, s:s, s:s, s:s, s:s}", "success", 1, "client_id",
				   info.client_id, "username", info.username, "sender_comp_id",
				   info.client_id, "created_at", created, "error_msg", ""),
			 NULL, NULL);
}

static void fault_delay(struct http_api *h)
{
	int left = h->faults->http_delay_ms;
	while (left > 0 && !atomic_load(&h->stopping)) {
		int step = left < 20 ? left : 20;
		struct timespec ts = {0, (long)step * 1000000L};
		nanosleep(&ts, NULL);
		left -= step;
	}
}

/* The admin channel: never delayed or broken by the HTTP faults, so a spec
 * can always switch them off again. */
static enum MHD_Result do_admin(struct http_api *h, struct MHD_Connection *c, const char *url,
				const char *method, const struct req *rq)
{
	if (rq->too_large)
		return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large", NULL,
				  NULL);
	if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
		return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed",
				  MHD_HTTP_HEADER_ALLOW, "POST");
	const char *auth =
	    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	char *text = NULL;
	unsigned status = admin_http(h->admin, url, auth, rq->body, rq->len, &text);
	if (!text)
		return MHD_NO;
	struct MHD_Response *r =
	    MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
	if (!r) {
		free(text);
		return MHD_NO;
	}
	MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	enum MHD_Result ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return ret;
}

static enum MHD_Result respond(struct http_api *h, struct MHD_Connection *c, const char *url,
			       const char *method, const struct req *rq)
{
	if (h->admin && strncmp(url, "/admin/", 7) == 0)
		return do_admin(h, c, url, method, rq);
	if (!h->accounts) /* --compat betatrader-gateway: that gateway has no HTTP API */
		return send_error(c, MHD_HTTP_NOT_FOUND,
				  "no HTTP API: this exchange runs --compat " EXCH_COMPAT_GATEWAY,
				  NULL, NULL);
	fault_delay(h);
	if (h->faults->http_500)
		return send_error(c, MHD_HTTP_INTERNAL_SERVER_ERROR,
				  "injected fault: internal server error", NULL, NULL);
	const char *redirect = h->faults->http_redirect;
	if (redirect) {
		struct MHD_Response *r =
		    MHD_create_response_from_buffer(0, (void *)"", MHD_RESPMEM_PERSISTENT);
		if (!r)
			return MHD_NO;
		MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, redirect);
		enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_TEMPORARY_REDIRECT, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (h->faults->bad_json) {
		static const char bad[] = "{\"success\": true, \"client_id\": \"CLIENT";
		struct MHD_Response *r = MHD_create_response_from_buffer(
		    sizeof(bad) - 1, (void *)bad, MHD_RESPMEM_PERSISTENT);
		if (!r)
			return MHD_NO;
		MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
		enum MHD_Result ret = MHD_queue_response(c, MHD_HTTP_OK, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (rq->too_large)
		return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large", NULL,
				  NULL);
	if (strcmp(url, "/api/register") == 0) {
		if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
			return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed",
					  MHD_HTTP_HEADER_ALLOW, "POST");
		return do_register(h, c, rq);
	}
	if (strcmp(url, "/api/profile") == 0) {
		if (strcmp(method, MHD_HTTP_METHOD_GET) != 0)
			return send_error(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed",
					  MHD_HTTP_HEADER_ALLOW, "GET");
		return do_profile(h, c);
	}
	return send_error(c, MHD_HTTP_NOT_FOUND, "not found", NULL, NULL);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version, const char *data,
				  size_t *data_size, void **con_cls)
{
	struct http_api *h = cls;
	struct req *rq = *con_cls;
	if (!rq) {
		rq = calloc(1, sizeof(*rq));
		if (!rq)
			return MHD_NO;
		*con_cls = rq;
		/* Refuse an announced oversized body before reading any of it. */
		const char *cl =
		    MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl && strtoull(cl, NULL, 10) > EXCH_MAX_BODY)
			return send_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large",
					  NULL, NULL);
		return MHD_YES;
	}
	if (*data_size) {
		if (!rq->too_large && rq->len + *data_size <= EXCH_MAX_BODY) {
			char *nb = realloc(rq->body, rq->len + *data_size);
			if (!nb)
				return MHD_NO;
			memcpy(nb + rq->len, data, *data_size);
			rq->body = nb;
			rq->len += *data_size;
		} else {
			/* A chunked body has no Content-Length: drain it, answer 413 at the end. */
			rq->too_large = 1;
			free(rq->body);
			rq->body = NULL;
			rq->len = 0;
		}
		*data_size = 0;
		return MHD_YES;
	}
	return respond(h, c, url, method, rq);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	struct req *rq = *con_cls;
	if (rq) {
		free(rq->body);
		free(rq);
		*con_cls = NULL;
	}
}

struct http_api *http_api_start(int listen_fd, struct accounts *a, const struct exch_faults *f,
				struct exch_admin *admin)
{
	struct http_api *h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	h->accounts = a;
	h->faults = f;
	h->admin = admin;
	atomic_init(&h->stopping, 0);
	h->mhd = MHD_start_daemon(
	    MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0,
	    NULL, NULL, on_request, h, MHD_OPTION_LISTEN_SOCKET, listen_fd,
	    MHD_OPTION_NOTIFY_COMPLETED, on_completed, h, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned)30, MHD_OPTION_CONNECTION_LIMIT, (unsigned)1000, MHD_OPTION_END);
	if (!h->mhd) {
		free(h);
		return NULL;
	}
	return h;
}

void http_api_stop(struct http_api *h)
{
	if (!h)
		return;
	atomic_store(&h->stopping, 1);
	if (h->admin)
		admin_shutdown(h->admin);
	MHD_stop_daemon(h->mhd);
	free(h);
}
