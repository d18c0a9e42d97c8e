/* Small helpers shared by the core's C files (header-only, so a component
 * links nothing extra for them). */
#ifndef BT_UTIL_H
#define BT_UTIL_H

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

/* Formats a message into the caller's error buffer; a NULL buffer or a zero
 * length is allowed and ignored. */
static inline void bt_set_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static inline void bt_set_err(char *err, size_t errlen, const char *fmt, ...)
{
	if (!err || !errlen)
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* A deadline as people read it and as they configured it: "5 s", "2.5 s",
 * "0.25 s" (no float rounding: the milliseconds are printed exactly). */
static inline void bt_fmt_secs(char *buf, size_t cap, int64_t ms)
{
	if (ms % 1000 == 0) {
		snprintf(buf, cap, "%" PRId64 " s", ms / 1000);
		return;
	}
	int n = snprintf(buf, cap, "%" PRId64 ".%03" PRId64, ms / 1000, ms % 1000);
	while (n > 0 && (size_t)n < cap && buf[n - 1] == '0')
		buf[--n] = '\0';
	snprintf(buf + n, cap - (size_t)n, " s");
}

/* Wipes (OPENSSL_cleanse: never optimised away) and frees a heap string
 * that held a secret, and clears the pointer. NULL is fine. */
static inline void bt_wipe_free_str(char **p)
{
	if (*p) {
		OPENSSL_cleanse(*p, strlen(*p));
		free(*p);
		*p = NULL;
	}
}

#endif
