/* --compat betatrader-gateway: the local exchange behaves like BetaTrader's
 * own C++ gateway (issue 15), so that the client's preset for it is tested
 * without the upstream code. The session half (Logon reply 108=30 without
 * 141, no inbound numbering, no timers of ours, ResendRequest and
 * SequenceReset ignored) is fix_session_fault_gateway_compat; this file is
 * the rest: who may log on, which orders get through, and how ExecutionReports
 * and market data look on the wire. The gateway calls it from its message
 * handlers only (on_logon_request, on_app, fix_gateway_send). */
#include "exchange.h"
#include "fix_codec.h"
#include "fix_session.h"
#include "fix_session_fault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct exch_compat {
	char *ids; /* --comp-ids, commas turned into NULs */
	size_t len;
};

struct exch_compat *exch_compat_new(const char *mode, const char *comp_ids, char *err,
				    size_t errlen)
{
	if (strcmp(mode, EXCH_COMPAT_GATEWAY) != 0) {
		snprintf(err, errlen, "--compat: unknown mode '%s' (known: %s)", mode,
			 EXCH_COMPAT_GATEWAY);
		return NULL;
	}
	struct exch_compat *x = calloc(1, sizeof(*x));
	if (!x) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (comp_ids) {
		x->len = strlen(comp_ids);
		x->ids = malloc(x->len + 1);
		if (!x->ids) {
			free(x);
			snprintf(err, errlen, "out of memory");
			return NULL;
		}
		memcpy(x->ids, comp_ids, x->len + 1);
		for (size_t i = 0; i < x->len; i++)
			if (x->ids[i] == ',')
				x->ids[i] = 0;
	}
	return x;
}

void exch_compat_free(struct exch_compat *x)
{
	if (!x)
		return;
	free(x->ids);
	free(x);
}

int exch_compat_known(const struct exch_compat *x, const char *comp_id)
{
	for (size_t i = 0; x->ids && i < x->len; i += strlen(x->ids + i) + 1)
		if (x->ids[i] && strcmp(x->ids + i, comp_id) == 0)
			return 1;
	return 0;
}

/* ------------------------------------------------------------- inbound */

static int all_digits(const char *p, size_t n)
{
	if (!p || n == 0 || n > 19)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return 0;
	return 1;
}

/* A price as that gateway's std::stod would take it without throwing and
 * the venue would keep: digits with at most one '.'. */
static int plain_decimal(const char *p, size_t n)
{
	int dots = 0, digits = 0;
	if (!p || n == 0)
		return 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '.')
			dots++;
		else if (p[i] >= '0' && p[i] <= '9')
			digits++;
		else
			return 0;
	}
	return dots <= 1 && digits > 0;
}

static int listed_symbol(const char *p, size_t n)
{
	static const char list[] = EXCH_COMPAT_SYMBOLS;
	for (const char *s = list; *s;) {
		const char *e = strchr(s, ',');
		size_t len = e ? (size_t)(e - s) : strlen(s);
		if (len == n && memcmp(s, p, n) == 0)
			return 1;
		s += len + (e ? 1 : 0);
	}
	return 0;
}

int exch_compat_inbound(struct exch_compat_order *o, const struct fix_msg *m, const char *peer,
			int64_t utc_ms)
{
	/* It switches on 35's first character: D F G V are trading messages,
	 * everything else (35=BE included) is "unhandled" and not answered. */
	if (m->msg_type_len != 1 || !strchr("DFGV", m->msg_type[0]))
		return 0;
	o->msg = m;
	if (m->msg_type[0] != 'D')
		return 1;
	size_t n11, n55, n54, n38, n44;
	const char *v11 = fix_msg_get(m, 11, &n11), *v55 = fix_msg_get(m, 55, &n55),
		   *v54 = fix_msg_get(m, 54, &n54), *v38 = fix_msg_get(m, 38, &n38),
		   *v44 = fix_msg_get(m, 44, &n44);
	if (!all_digits(v11, n11) || !v55 || !listed_symbol(v55, n55) || !v54 || n54 != 1 ||
	    (v54[0] != '1' && v54[0] != '2') || !all_digits(v38, n38) || !plain_decimal(v44, n44))
		return 0; /* a malformed order: dropped, nothing said */
	/* Every order is a DAY limit order there, whatever 40 and 59 say. */
	struct fix_enc enc;
	size_t len;
	fix_enc_begin(&enc, o->buf, sizeof(o->buf), "D", peer, EXCH_COMP_ID, m->seq_num, utc_ms);
	fix_enc_str(&enc, 11, v11, n11);
	fix_enc_str(&enc, 55, v55, n55);
	fix_enc_str(&enc, 54, v54, n54);
	fix_enc_str(&enc, 38, v38, n38);
	fix_enc_char(&enc, 40, '2');
	fix_enc_str(&enc, 44, v44, n44);
	fix_enc_char(&enc, 59, '0');
	const char *f = fix_enc_finish(&enc, &len);
	fix_msg_init(&o->m, o->fields, sizeof(o->fields) / sizeof(o->fields[0]));
	if (!f || fix_parse(&o->m, f, len) != FIX_OK)
		return 0;
	o->msg = &o->m;
	return 1;
}

/* ------------------------------------------------------------ outbound */

static const struct fix_out_field *find(const struct fix_out_field *f, size_t n, uint32_t tag)
{
	for (size_t i = 0; i < n; i++)
		if (f[i].tag == tag)
			return &f[i];
	return NULL;
}

/* Rewrite "8=FIX.4.4" as "8=FIXT.1.1" in a whole frame and sum it again;
 * out has room for len + 1 bytes. Returns the new length. */
static size_t to_fixt(const char *frame, size_t len, char *out)
{
	static const char old[] = "8=FIX.4.4\001", neu[] = "8=FIXT.1.1\001";
	size_t rest = len - (sizeof(old) - 1) - 7; /* 9=... up to "10=NNN|" */
	memcpy(out, neu, sizeof(neu) - 1);
	memcpy(out + sizeof(neu) - 1, frame + sizeof(old) - 1, rest);
	size_t n = sizeof(neu) - 1 + rest;
	unsigned sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += (unsigned char)out[i];
	n += (size_t)snprintf(out + n, 8, "10=%03u\001", sum % 256);
	return n;
}

int exch_compat_send(struct fix_session *s, unsigned conn_id, const char *msg_type,
		     const struct fix_out_field *fields, size_t n, int64_t now, int64_t utc_ms)
{
	int er = strcmp(msg_type, "8") == 0;
	int md = strcmp(msg_type, "W") == 0 || strcmp(msg_type, "X") == 0;
	if (!er && !md) {
		/* It has no OrderCancelReject, MarketDataRequestReject or
		 * BusinessMessageReject: what it cannot do, it does silently. */
		if (msg_type[0] && !msg_type[1] && strchr("9Yj", msg_type[0]))
			return 0;
		return fix_session_send(s, msg_type, fields, n, now);
	}
	if (fix_session_state(s) != FIX_ST_ACTIVE)
		return FIX_SESSION_E_STATE;
	size_t cap = 512;
	for (size_t i = 0; i < n; i++)
		cap += fields[i].len + 12;
	char *buf = malloc(2 * cap + 1), target[16];
	if (!buf)
		return FIX_SESSION_E_NOMEM;
	snprintf(target, sizeof(target), "%u", conn_id);
	struct fix_enc enc;
	fix_enc_begin(&enc, buf, cap, msg_type, er ? "1" : "TRADING_CORE", target,
		      fix_session_next_out_seq(s), utc_ms);
	if (er) {
		/* Its ExecutionReport: these tags in this order, 58 only with a
		 * text, 31/32 always (0 without a fill), no 150 and no 6. */
		static const uint32_t tags[] = {37, 11, 17,  39, 58, 55, 54,
						38, 14, 151, 31, 32, 60};
		for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
			const struct fix_out_field *f = find(fields, n, tags[i]);
			if (f)
				fix_enc_str(&enc, f->tag, f->val, f->len);
			else if (tags[i] == 31 || tags[i] == 32)
				fix_enc_char(&enc, tags[i], '0');
		}
	} else {
		for (size_t i = 0; i < n; i++)
			fix_enc_str(&enc, fields[i].tag, fields[i].val, fields[i].len);
	}
	size_t len;
	const char *f = fix_enc_finish(&enc, &len);
	int rc = FIX_SESSION_E_TOO_LARGE;
	if (f) {
		const char *frame = f;
		if (md) {
			len = to_fixt(f, len, buf + cap);
			frame = buf + cap;
		}
		/* Outside the session's own framing (other CompIDs, another
		 * BeginString), on the session's next number. */
		rc = fix_session_fault_raw(s, frame, len);
		if (rc == 0)
			fix_session_fault_skip_seq(s, 1);
	}
	free(buf);
	return rc;
}
