/* Named faults: parsed from --fault at start-up and switched on the admin
 * channel mid-run, by the same code so both accept the same names. */
#include "exchange.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int exch_parse_int(const char *s, long lo, long hi, int *out)
{
	char *end;
	errno = 0;
	long v = s ? strtol(s, &end, 10) : 0;
	if (!s || !*s || *end || errno || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

static const char *keep_text(char *buf, size_t cap, const char *val, const char *dflt)
{
	snprintf(buf, cap, "%s", val && *val ? val : dflt);
	return buf;
}

int exch_fault_set(struct exch_faults *f, const char *spec, int on, char *err, size_t errlen)
{
	char name[32];
	const char *eq = strchr(spec, '=');
	size_t n = eq ? (size_t)(eq - spec) : strlen(spec);
	const char *val = eq && on ? eq + 1 : NULL;
	int iv = 0;
	if (n >= sizeof(name))
		goto unknown;
	memcpy(name, spec, n);
	name[n] = 0;
#define FLAG(s, field)              \
	if (strcmp(name, s) == 0) { \
		if (val)            \
			goto noval; \
		f->field = on;      \
		return 0;           \
	}
	FLAG("no-logon-reply", no_logon_reply)
	FLAG("no-user-response", no_user_response)
	FLAG("silent-after-logon", silent_after_logon)
	FLAG("garbled-frame", garbled_frame)
	FLAG("http-500", http_500)
	FLAG("bad-json", bad_json)
	FLAG("huge-bodylength", huge_bodylength)
	FLAG("no-soh", no_soh)
	FLAG("many-fields", many_fields)
	FLAG("resend-request", resend_request)
#undef FLAG
	if (strcmp(name, "slow-bytes") == 0) {
		if (!on)
			f->slow_bytes = 0;
		else if (!val || strcmp(val, "logon") == 0)
			f->slow_bytes = EXCH_SLOW_AFTER_LOGON;
		else if (strcmp(val, "login") == 0)
			f->slow_bytes = EXCH_SLOW_AFTER_LOGIN;
		else
			goto badval;
		return 0;
	}
	if (strcmp(name, "logon-logout") == 0) {
		f->logon_logout = on ? keep_text(f->logon_logout_buf, sizeof(f->logon_logout_buf),
						 val, "logon refused (fault injection)")
				     : NULL;
		return 0;
	}
	if (strcmp(name, "logout-active") == 0) {
		f->logout_active = on;
		f->logout_active_text =
		    keep_text(f->logout_active_buf, sizeof(f->logout_active_buf), val,
			      "session closed by the exchange");
		return 0;
	}
	if (strcmp(name, "seq-gap") == 0) {
		iv = on ? 5 : 0;
		if (val && exch_parse_int(val, 1, 1000000, &iv))
			goto badval;
		f->seq_gap = iv;
		return 0;
	}
	if (strcmp(name, "user-status") == 0) {
		if (on && exch_parse_int(val, 1, 99, &iv))
			goto badval;
		f->user_status = iv;
		return 0;
	}
	if (strcmp(name, "close-after") == 0) {
		if (on && exch_parse_int(val, 1, INT_MAX, &iv))
			goto badval;
		f->close_after = iv;
		return 0;
	}
	if (strcmp(name, "http-redirect") == 0) {
		if (on && (!val || !*val))
			goto badval;
		/* HTTP threads read the pointer: the text is written before it is
		 * published, and only while the fault is off */
		if (!on)
			f->http_redirect = NULL;
		else if (!f->http_redirect)
			f->http_redirect =
			    keep_text(f->http_redirect_buf, sizeof(f->http_redirect_buf), val, "");
		else
			goto badval;
		return 0;
	}
	if (strcmp(name, "http-delay") == 0) {
		if (on && exch_parse_int(val, 0, 3600000, &iv))
			goto badval;
		f->http_delay_ms = iv;
		return 0;
	}
unknown:
	snprintf(err, errlen, "unknown fault '%s' (see --help)", spec);
	return -1;
noval:
	snprintf(err, errlen, "fault '%s' takes no value", name);
	return -1;
badval:
	snprintf(err, errlen, "bad value '%s' for fault %s", spec, name);
	return -1;
}
