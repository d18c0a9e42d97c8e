/* test-deps: fix_codec */
/* The encoder's value and tag paths at every length and size class: short
 * values are copied and checked for SOH by overlapping word loads, tags
 * below 10,000 from a digit-pair table, so each length and each SOH
 * position is checked against bytes built here with snprintf. */
#include "fix_codec.h"

#include <stdio.h>
#include <string.h>

#include "t.h"

/* The body the encoder must produce for one field after a fixed header. */
static size_t one_field(char *out, size_t cap, uint32_t tag, const char *val, size_t len)
{
	return (size_t)snprintf(out, cap, "%u=%.*s\x01", tag, (int)len, val);
}

/* Body of a finished frame: the bytes after the 52= field up to 10=. */
static const char *after_header(const char *f, size_t n, size_t *blen)
{
	const char *p = strstr(f, "\x01"
				  "52=");
	p = p ? strchr(p + 1, '\x01') + 1 : NULL;
	const char *t = p ? strstr(p, "10=") : NULL;
	*blen = p && t ? (size_t)(t - p) : 0;
	(void)n;
	return p;
}

static void test_values_of_every_length(void)
{
	char val[64], want[128], buf[512];
	for (size_t len = 1; len <= 48; len++) {
		for (size_t i = 0; i < len; i++)
			val[i] = (char)('A' + (i * 7 + len) % 26);
		val[len] = '\0';
		const uint32_t tags[] = {1, 9999, 58, 448, 10000, 4294967295u};
		for (size_t k = 0; k < sizeof tags / sizeof tags[0]; k++) {
			struct fix_enc e;
			size_t n, blen;
			fix_enc_begin(&e, buf, sizeof buf, "D", "S", "T", 1, 0);
			if (k % 2)
				fix_enc_str(&e, tags[k], val, len);
			else
				fix_enc_cstr(&e, tags[k], val);
			const char *f = fix_enc_finish(&e, &n);
			T_OK(f != NULL);
			if (!f)
				return;
			size_t wl = one_field(want, sizeof want, tags[k], val, len);
			const char *b = after_header(f, n, &blen);
			T_EQ_MEM(b, blen, want, wl);
		}
	}
}

static void test_soh_anywhere_is_refused(void)
{
	char val[64], buf[512];
	for (size_t len = 1; len <= 48; len++) {
		for (size_t at = 0; at < len; at++) {
			memset(val, 'x', len);
			val[len] = '\0';
			val[at] = FIX_SOH;
			struct fix_enc e;
			fix_enc_begin(&e, buf, sizeof buf, "D", "S", "T", 1, 0);
			fix_enc_str(&e, 58, val, len);
			T_EQ_INT(e.status, FIX_E_BAD_VALUE);
			fix_enc_begin(&e, buf, sizeof buf, "D", "S", "T", 1, 0);
			fix_enc_cstr(&e, 58, val);
			T_EQ_INT(e.status, FIX_E_BAD_VALUE);
		}
	}
}

/* A value with SOH in a buffer too small for it: the bad value is what is
 * reported, whichever path the length takes. */
static void test_bad_value_outranks_full_buffer(void)
{
	char buf[128];
	const char *vals[] = {"a\x01", "abcdefgh\x01z", "abcdefghijklmnopqrstuvwxyz0123\x01"};
	for (size_t k = 0; k < 3; k++) {
		struct fix_enc e;
		fix_enc_begin(&e, buf, sizeof buf, "D", "S", "T", 1, 0);
		T_EQ_INT(e.status, FIX_OK);
		/* fill up to 2 bytes before the end */
		while (e.status == FIX_OK && e.cap - e.pos > 6)
			fix_enc_char(&e, 1, 'x');
		T_EQ_INT(e.status, FIX_OK);
		fix_enc_cstr(&e, 58, vals[k]);
		T_EQ_INT(e.status, FIX_E_BAD_VALUE);
	}
	/* and a good value that does not fit is a full buffer */
	struct fix_enc e;
	fix_enc_begin(&e, buf, sizeof buf, "D", "S", "T", 1, 0);
	while (e.status == FIX_OK && e.cap - e.pos > 6)
		fix_enc_char(&e, 1, 'x');
	fix_enc_cstr(&e, 58, "abcdef");
	T_EQ_INT(e.status, FIX_E_BUFFER_FULL);
}

static void test_integers_and_tags(void)
{
	char buf[512], want[64];
	const int64_t vals[] = {0, 9, 10, 99, 100, 12345, -1, -100, INT64_MAX, INT64_MIN};
	for (size_t k = 0; k < sizeof vals / sizeof vals[0]; k++) {
		for (uint32_t tag = 1; tag < 20000; tag = tag * 3 + 1) {
			struct fix_enc e;
			size_t n, blen;
			fix_enc_begin(&e, buf, sizeof buf, "D", "S", "T", 1, 0);
			fix_enc_int(&e, tag, vals[k]);
			const char *f = fix_enc_finish(&e, &n);
			T_OK(f != NULL);
			if (!f)
				return;
			int wl =
			    snprintf(want, sizeof want, "%u=%lld\x01", tag, (long long)vals[k]);
			const char *b = after_header(f, n, &blen);
			T_EQ_MEM(b, blen, want, (size_t)wl);
		}
	}
}

int main(void)
{
	T_RUN(test_values_of_every_length);
	T_RUN(test_soh_anywhere_is_refused);
	T_RUN(test_bad_value_outranks_full_buffer);
	T_RUN(test_integers_and_tags);
	return T_END();
}
