/* Internal header of betatrader-exchange: the account store (SQLite), the
 * HTTP API (libmicrohttpd) and the FIX gateway (epoll) share these types.
 * Nothing here is a library API; main.c wires the parts together. */
#ifndef BT_EXCHANGE_H
#define BT_EXCHANGE_H

#include <stddef.h>
#include <stdint.h>

#define EXCH_COMP_ID "BETA_EXCHANGE"
#define EXCH_MAX_BODY (16u * 1024u) /* largest accepted HTTP request body */
#define EXCH_DEFAULT_ITER 100000    /* PBKDF2-HMAC-SHA256 iterations */

/* Scenario faults selected with --fault NAME[=VALUE]; zero means "off". */
struct exch_faults {
	int no_logon_reply;
	const char *logon_logout; /* Logout text sent instead of the Logon reply */
	int user_status;          /* 926 sent instead of the real result (0 = real) */
	int no_user_response;
	int silent_after_logon;
	int seq_gap;       /* skip this many outbound numbers after the Logon */
	int garbled_frame; /* send a frame with a bad CheckSum after the Logon */
	int close_after;   /* close after this many inbound messages */
	int logout_active; /* Logout right after a successful UserResponse */
	const char *logout_active_text;
	int http_delay_ms;
	int http_500;
	int bad_json;
	const char *http_redirect; /* answer every HTTP request with 307 to this URL */
	int slow_bytes;            /* dribble output at 1 byte/s: EXCH_SLOW_AFTER_* */
	int huge_bodylength;       /* after the Logon reply: "9=999999999" and garbage */
	int no_soh;                /* after the Logon reply: "9=" and 1 MiB without SOH */
	int many_fields;           /* after the Logon reply: one frame of 100,000 fields */
	int resend_request;        /* ResendRequest 7=1 16=0 after the first app message */
};

/* When the slow-bytes fault starts dribbling. */
enum { EXCH_SLOW_AFTER_LOGON = 1, EXCH_SLOW_AFTER_LOGIN = 2 };

/* ------------------------------------------------------------- accounts */

struct accounts;

enum acct_result {
	ACCT_OK = 0,
	ACCT_TAKEN = 1,     /* username already registered */
	ACCT_NOT_FOUND = 2, /* no such user / token */
	ACCT_BAD_PASSWORD = 3,
	ACCT_ERROR = -1, /* SQLite or OpenSSL failure; see the message */
};

struct acct_info {
	char client_id[16];
	char username[65];
	char token[65];
	int64_t created_at; /* Unix seconds */
};

/* Open (creating if needed) the SQLite database at path; NULL path means a
 * private temporary file removed by accounts_close. NULL and *err on error. */
struct accounts *accounts_open(const char *path, int iterations, char *err, size_t errlen);

/* Close the database (and remove it when it was temporary). NULL is a no-op. */
void accounts_close(struct accounts *a);

/* Create an account with a fresh client_id and token; fills *out. */
int accounts_register(struct accounts *a, const char *username, const char *password,
		      struct acct_info *out);

/* Look an account up by its bearer token. */
int accounts_by_token(struct accounts *a, const char *token, struct acct_info *out);

/* 1 if an account with this client_id exists, 0 if not, -1 on error. */
int accounts_has_client(struct accounts *a, const char *client_id);

/* Check a password for client_id (constant-time compare of the PBKDF2 hash). */
int accounts_verify(struct accounts *a, const char *client_id, const char *password,
		    size_t password_len);

/* ----------------------------------------------------------------- http */

struct http_api;

/* Start the HTTP API on an already listening socket fd (ownership passes to
 * the API). NULL on error. */
struct http_api *http_api_start(int listen_fd, struct accounts *a, const struct exch_faults *f);

/* Stop the server thread and free everything. NULL is a no-op. */
void http_api_stop(struct http_api *h);

/* ------------------------------------------------------------------ fix */

struct fix_gateway;

struct fix_gateway_cfg {
	int listen_fd; /* listening, non-blocking; owned by the gateway */
	int signal_fd; /* readable when the process should stop; not owned */
	struct accounts *accounts;
	const struct exch_faults *faults;
	const char *tls_cert; /* PEM paths; both NULL means plain TCP */
	const char *tls_key;
	int trace; /* print every frame (554 redacted) to stderr */
};

/* Create the gateway (TLS context included). NULL and *err on error. */
struct fix_gateway *fix_gateway_new(const struct fix_gateway_cfg *cfg, char *err, size_t errlen);

/* Serve FIX sessions until signal_fd becomes readable. 0, or -1 on error. */
int fix_gateway_run(struct fix_gateway *g);

/* Close every session and free the gateway. NULL is a no-op. */
void fix_gateway_free(struct fix_gateway *g);

/* ------------------------------------------------------------- helpers */

/* Create a listening TCP socket on host:port (port 0 = any free port),
 * non-blocking and CLOEXEC; *bound gets the port. -1 and *err on error. */
int exch_listen(const char *host, int port, int *bound, char *err, size_t errlen);

#endif
