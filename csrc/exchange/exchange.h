/* Internal header of betatrader-exchange: the account store (SQLite), the
 * HTTP API (libmicrohttpd) and the FIX gateway (epoll) share these types.
 * Nothing here is a library API; main.c wires the parts together. */
#ifndef BT_EXCHANGE_H
#define BT_EXCHANGE_H

#include "defaults.h"
#include "fix_codec.h"

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#define EXCH_COMP_ID BT_DEFAULT_TARGET_COMP_ID
#define EXCH_MAX_BODY (16u * 1024u) /* largest accepted HTTP request body */
#define EXCH_DEFAULT_ITER 100000    /* PBKDF2-HMAC-SHA256 iterations */

/* Scenario faults selected with --fault NAME[=VALUE] or switched mid-run on
 * the admin channel (on the gateway thread); zero means "off". The HTTP
 * threads read the http_* ones, hence atomic. */
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
	atomic_int http_delay_ms;
	atomic_int http_500;
	atomic_int bad_json;
	/* answer every HTTP request with 307 to this URL (text in http_redirect_buf) */
	_Atomic(const char *) http_redirect;
	int slow_bytes;      /* dribble output at 1 byte/s: EXCH_SLOW_AFTER_* */
	int huge_bodylength; /* after the Logon reply: "9=999999999" and garbage */
	int no_soh;          /* after the Logon reply: "9=" and 1 MiB without SOH */
	int many_fields;     /* after the Logon reply: one frame of 100,000 fields */
	int resend_request;  /* ResendRequest 7=1 16=0 after the first app message */
	char logon_logout_buf[256], logout_active_buf[256],
	    http_redirect_buf[256]; /* the texts' storage */
};

/* Switch the fault named by spec ("NAME" or "NAME=VALUE") on, or off (on =
 * 0; the value is ignored). 0, or -1 with *err naming what is wrong. */
int exch_fault_set(struct exch_faults *f, const char *spec, int on, char *err, size_t errlen);
/* A whole decimal integer s in lo..hi into *out: 0, or -1 (nothing written). */
int exch_parse_int(const char *s, long lo, long hi, int *out);

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
struct exch_admin;
struct http_api *http_api_start(int listen_fd, struct accounts *a, const struct exch_faults *f,
				struct exch_admin *admin);

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
	int trace;                        /* print every frame (554 redacted) to stderr */
	struct exch_admin *admin;         /* the trading side and the admin channel */
	const struct exch_compat *compat; /* --compat, or NULL */
	int auth_timeout_ms;              /* --auth-timeout: Logon to UserResponse 1; <= 0: 60 s */
};

/* Create the gateway (TLS context included). NULL and *err on error. */
struct fix_gateway *fix_gateway_new(const struct fix_gateway_cfg *cfg, char *err, size_t errlen);

/* Serve FIX sessions on the reactor's thread (the gateway thread) until
 * signal_fd becomes readable; the caller's thread only waits. 0, or -1 when
 * the reactor broke. */
int fix_gateway_run(struct fix_gateway *g);

/* Close every session and free the gateway. NULL is a no-op. */
void fix_gateway_free(struct fix_gateway *g);

/* For the trading side, on the gateway thread. conn is what admin_login
 * got. Queue an application message (written at the end of this loop turn
 * or by fix_gateway_flush): 0, or a FIX_SESSION_E_* code. */
struct fix_out_field;
int fix_gateway_send(struct fix_gateway *g, void *conn, const char *msg_type,
		     const struct fix_out_field *fields, size_t n);
/* Drop the connection as a crash would (no Logout). */
void fix_gateway_drop(struct fix_gateway *g, void *conn);
/* Write what fix_gateway_send queued. */
void fix_gateway_flush(struct fix_gateway *g);

/* ---------------------------------------------------------------- admin */

/* The trading side (venue.h) and the admin channel: HTTP endpoints under
 * /admin/, guarded by a random token printed on the READY line, whose
 * commands run on the gateway thread; the HTTP thread waits until a
 * command is done. */
struct exch_admin;
struct participant;
struct fix_msg;

/* symbols: --symbols (NULL = the default list). NULL and *err on error. */
struct exch_admin *admin_new(const char *symbols, struct exch_faults *faults, char *err,
			     size_t errlen);
void admin_free(struct exch_admin *a);
const char *admin_token(const struct exch_admin *a);
/* Readable when commands are waiting: the gateway then calls admin_run. */
int admin_fd(const struct exch_admin *a);

/* HTTP thread: run the command named by path ("/admin/order") with a JSON
 * body; returns the HTTP status and a malloc'd JSON text in *resp. */
unsigned admin_http(struct exch_admin *a, const char *path, const char *auth, const char *body,
		    size_t len, char **resp);
/* Any thread: waiting admin requests give up (503); new ones are refused. */
void admin_shutdown(struct exch_admin *a);

/* Gateway thread. */
void admin_bind(struct exch_admin *a, struct fix_gateway *g);
void admin_run(struct exch_admin *a);
/* A session's user logged in / its connection went away. */
struct participant *admin_login(struct exch_admin *a, void *conn, const char *comp_id);
void admin_logout(struct exch_admin *a, struct participant *p);
/* An application message from a logged-in user: 0 if handled, 1 if not a
 * message the exchange trades on. */
int admin_message(struct exch_admin *a, struct participant *p, const struct fix_msg *m);

/* --------------------------------------------------------------- compat */

/* --compat betatrader-gateway (compat.c): behave like BetaTrader's own C++
 * gateway. NULL everywhere means the exchange's own behaviour. */
#define EXCH_COMPAT_GATEWAY "betatrader-gateway"
/* The symbols that gateway trades, its default --symbols. */
#define EXCH_COMPAT_SYMBOLS "EURUSD,USDJPY,GBPUSD,USDCAD,USDINR,EURINR,GBPINR,AUDUSD,USDMXN"

struct exch_compat;
struct fix_session;

/* mode: --compat's value; comp_ids: --comp-ids (comma-separated, may be
 * NULL). NULL and *err on an unknown mode or out of memory. */
struct exch_compat *exch_compat_new(const char *mode, const char *comp_ids, char *err,
				    size_t errlen);
void exch_compat_free(struct exch_compat *x);
/* 1 if comp_id is one of --comp-ids. */
int exch_compat_known(const struct exch_compat *x, const char *comp_id);

/* An inbound application message as that gateway reads it. */
struct exch_compat_order {
	const struct fix_msg *msg; /* what the venue gets: m itself, or m below */
	char buf[1024];
	struct fix_field fields[16];
	struct fix_msg m;
};
/* 1: hand o->msg to the venue (a NewOrderSingle rewritten as the DAY limit
 * order it is there); 0: drop it unanswered (not D/F/G/V, or an order whose
 * 11, 38 are not unsigned integers, 55 not a listed symbol, 54 not 1/2, 44
 * missing). peer, utc_ms: the header of the rewritten order. */
int exch_compat_inbound(struct exch_compat_order *o, const struct fix_msg *m, const char *peer,
			int64_t utc_ms);
/* Send an application message the way that gateway does: an
 * ExecutionReport with 49=1, 56=conn_id and its own tags; 35=W/X under
 * 8=FIXT.1.1 with 49=TRADING_CORE, 56=conn_id; 35=9/Y/j not at all; the rest
 * through the session. 0 or a FIX_SESSION_E_* code. */
int exch_compat_send(struct fix_session *s, unsigned conn_id, const char *msg_type,
		     const struct fix_out_field *fields, size_t n, int64_t now, int64_t utc_ms);

/* ------------------------------------------------------------- helpers */

/* Create a listening TCP socket on host:port (port 0 = any free port),
 * non-blocking and CLOEXEC; *bound gets the port. -1 and *err on error. */
int exch_listen(const char *host, int port, int *bound, char *err, size_t errlen);

#endif
