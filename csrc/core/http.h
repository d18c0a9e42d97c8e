/* The exchange_api client: libcurl's multi interface driven by the reactor
 * (curl's sockets are reactor watches, curl's timer a reactor timer), with
 * per-request deadlines, http/https only (redirects included), a response
 * size limit and TLS verification on by default. Request bodies, passwords
 * and tokens are never logged; the copies this module owns are wiped
 * (OPENSSL_cleanse) when a request ends. jansson frees its own internal
 * copies without wiping them.
 *
 * Threading: http_client_new may run on any thread; every other function,
 * and every callback, runs on the reactor's I/O thread. */
#ifndef BT_HTTP_H
#define BT_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "op.h"

struct bt_reactor;
struct http_client;
struct http_req;

struct http_opts {
	const char *base_url;       /* "http://host:port" or "https://..." (a path prefix ok) */
	int64_t timeout_ms;         /* whole request; <= 0: 10 s */
	int64_t connect_timeout_ms; /* TCP + TLS setup; <= 0: 10 s (capped by timeout_ms) */
	size_t max_response;        /* body bytes accepted; 0: 1 MiB */
	const char *ca_file;        /* PEM bundle to trust; NULL = system store */
	const char *cert_file;      /* client certificate (PEM), optional */
	const char *key_file;       /* its key; NULL = in cert_file */
	int insecure;               /* 1 = skip TLS verification (tests only) */
};

/* What a request ended with. Strings are valid during the callback only
 * (copy what you keep; the token is wiped right after). */
struct http_result {
	enum bt_err err;       /* BT_ERR_NONE on success, else BT_ERR_TIMEOUT, _REFUSED,
				  _CONNECT_FAILED, _TLS_FAILED, _HTTP_STATUS, _BAD_RESPONSE or
				  _DISCONNECTED (op.h) */
	const char *message;   /* for people: "register failed (HTTP 409): name taken" */
	long status;           /* HTTP status, 0 when none was received */
	const char *client_id; /* http_register success */
	const char *token;     /* http_register success */
	const char *body;      /* http_fetch_profile success: the JSON text, NUL-terminated */
	size_t body_len;
};

typedef void (*http_cb)(void *arg, const struct http_result *res);

/* A client for one base URL (curl multi handle, connection cache, options).
 * NULL with the reason in err for a bad URL or no memory. */
struct http_client *http_client_new(struct bt_reactor *r, const struct http_opts *opts, char *err,
				    size_t errlen);

/* Cancel every outstanding request (their callbacks never run) and free the
 * client. Safe inside an http callback. NULL is a no-op. */
void http_client_free(struct http_client *c);

/* Longest client_id register accepts (a FIX CompID). */
#define HTTP_MAX_CLIENT_ID 64

/* POST {base}/api/register with {"username":..,"password":..}. 200 gives
 * client_id and token; other statuses give "http_status" with the server's
 * error_msg (a 3xx: the Location; no redirect is ever followed); a body of
 * the wrong shape, or a client_id that is not 1..HTTP_MAX_CLIENT_ID bytes of
 * printable ASCII without '=', '|' or spaces, gives "bad_response". cb runs exactly
 * once unless the request is cancelled. NULL if it could not start (no
 * memory, NULL arguments). */
struct http_req *http_register(struct http_client *c, const char *username, const char *password,
			       http_cb cb, void *arg);

/* GET {base}/api/profile with "Authorization: Bearer <token>"; success
 * delivers the body, checked to be a JSON object. */
struct http_req *http_fetch_profile(struct http_client *c, const char *token, http_cb cb,
				    void *arg);

/* Abort a request that has not called back yet; its callback never runs.
 * Must not be used after the callback ran. */
void http_cancel(struct http_req *req);

/* Requests started and not yet finished or cancelled. */
size_t http_pending(const struct http_client *c);

#endif
