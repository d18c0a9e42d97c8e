/* The one table of defaults. The C core (http.c, transport.c, fix_session's
 * and auth's cfg_init), the exchange and the Lua options (config.lua reads
 * them as betatrader.core.defaults) all take their defaults from here, so a
 * value changes in one place.
 *
 * Connect timeouts: one value, 10 s, for HTTP and FIX alike. A client's
 * connect_timeout defaults to its timeout (10 s) and was always handed to
 * both; only a bare http_client used 5 s, which no user of the library saw. */
#ifndef BT_DEFAULTS_H
#define BT_DEFAULTS_H

/* Where the local exchange listens, and who it is. */
#define BT_DEFAULT_API_URL "http://127.0.0.1:8080"
#define BT_DEFAULT_FIX_HOST "127.0.0.1"
#define BT_DEFAULT_FIX_PORT 9878
#define BT_DEFAULT_HTTP_PORT 8080
#define BT_DEFAULT_TARGET_COMP_ID "BETA_EXCHANGE"
#define BT_DEFAULT_STORE ".betatrader" /* the client's sequence store directory */

/* Deadlines (ms). */
#define BT_DEFAULT_TIMEOUT_MS 10000         /* an HTTP request, a UserRequest */
#define BT_DEFAULT_CONNECT_TIMEOUT_MS 10000 /* resolve + connect + TLS, HTTP and FIX */
#define BT_DEFAULT_LOGON_TIMEOUT_MS 10000   /* Logon sent -> Logon answered */
#define BT_DEFAULT_LOGOUT_TIMEOUT_MS 10000  /* Logout sent -> Logout answered */
#define BT_DEFAULT_SENDING_TIME_TOLERANCE_MS 120000

/* The session. */
#define BT_DEFAULT_HEARTBEAT_S 30
#define BT_DEFAULT_MAX_BODY (64u * 1024u) /* bytes of a FIX body accepted */
#define BT_DEFAULT_RESEND_WINDOW 100000   /* messages */
#define BT_DEFAULT_SEND_QUEUE (8u * 1024u * 1024u)

/* reconnect = {...}: the fields' defaults (the option itself is off). */
#define BT_DEFAULT_RECONNECT_INTERVAL_MS 1000      /* the second attempt's delay */
#define BT_DEFAULT_RECONNECT_MAX_INTERVAL_MS 30000 /* the backoff's ceiling */
#define BT_DEFAULT_RECONNECT_BACKOFF 2.0           /* factor per attempt */
#define BT_DEFAULT_RECONNECT_JITTER 0.1            /* +-10 % */

/* HTTP. */
#define BT_DEFAULT_MAX_RESPONSE (1u << 20) /* bytes of a response body accepted */

#endif
