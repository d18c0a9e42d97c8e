/* Answering a ResendRequest: stored application messages are re-encoded as
 * possible duplicates, everything else is covered by GapFills. */
#include "fix_session_int.h"

struct resend_ctx {
	struct fix_session *s;
	uint64_t cur, end;
	int64_t now;
	int err;
};

/* Next "tag=value<SOH>" of a stored frame at *i; 0 at the end or if broken. */
static int next_field(const char *f, size_t n, size_t *i, uint32_t *tag, const char **val,
		      size_t *vlen)
{
	size_t p = *i;
	uint64_t t = 0;
	if (p >= n)
		return 0;
	while (p < n && f[p] >= '0' && f[p] <= '9' && t <= UINT32_MAX)
		t = t * 10 + (uint64_t)(f[p++] - '0');
	if (p == *i || p >= n || f[p] != '=' || t > UINT32_MAX)
		return 0;
	size_t v = ++p;
	while (p < n && f[p] != FIX_SOH)
		p++;
	if (p >= n)
		return 0;
	*tag = (uint32_t)t;
	*val = f + v;
	*vlen = p - v;
	*i = p + 1;
	return 1;
}

/* Re-encode a stored frame as a possible duplicate: same 34 and body, 43=Y,
 * 122 = its original 52, a fresh 52. A broken frame becomes a GapFill. */
static int resend_frame(struct fix_session *s, uint64_t seq, const char *f, size_t n, int64_t now)
{
	char type[8];
	const char *orig = NULL, *v;
	size_t orig_len = 0, vl, i = 0, body = 0;
	uint32_t tag;
	type[0] = '\0';
	while (next_field(f, n, &i, &tag, &v, &vl)) {
		if (tag == 35 && vl < sizeof(type)) {
			memcpy(type, v, vl);
			type[vl] = '\0';
		} else if (tag == 52) {
			orig = v;
			orig_len = vl;
		} else if (tag == 10) {
			body = 1;
		}
	}
	if (!type[0] || !orig || !body) {
		fs_send_gap_fill(s, seq, seq + 1, now);
		return 0;
	}
	struct fix_enc enc;
	int r = fs_begin_msg(s, &enc, type, seq, now, n);
	if (r)
		return r;
	fix_enc_char(&enc, 43, 'Y');
	fix_enc_str(&enc, 122, orig, orig_len);
	for (i = 0; next_field(f, n, &i, &tag, &v, &vl);) {
		switch (tag) {
		case 8:
		case 9:
		case 10:
		case 34:
		case 35:
		case 43:
		case 49:
		case 52:
		case 56:
		case 97:
		case 122:
			break;
		default:
			fix_enc_str(&enc, tag, v, vl);
		}
	}
	r = fs_finish_msg(s, &enc, OUT_RESEND, seq, now);
	if (r == FIX_SESSION_E_ARG || r == FIX_SESSION_E_TOO_LARGE) {
		fs_send_gap_fill(s, seq, seq + 1, now);
		r = 0;
	}
	return r;
}

static int resend_cb(void *arg, uint64_t seq, const char *frame, size_t len)
{
	struct resend_ctx *c = arg;
	if (seq < c->cur)
		return 0;
	if (seq > c->end)
		return 1;
	if (seq > c->cur)
		fs_send_gap_fill(c->s, c->cur, seq, c->now);
	c->err = resend_frame(c->s, seq, frame, len, c->now);
	c->cur = seq + 1;
	return c->err ? 1 : 0;
}

/* Answer the peer's ResendRequest(7=begin, 16=end): stored application
 * messages again, GapFills over everything else. */
void fs_answer_resend(struct fix_session *s, const struct fix_msg *m, int64_t now)
{
	uint64_t begin, end = 0;
	if (fix_msg_get_u64(m, 7, &begin) != FIX_OK) {
		fs_send_reject(s, m, 7, 1, "Required tag missing", now);
		return;
	}
	if (fix_msg_find(m, 16) && fix_msg_get_u64(m, 16, &end) != FIX_OK) {
		fs_send_reject(s, m, 16, 6, "Incorrect data format for value", now);
		return;
	}
	if (s->silent)
		return;
	uint64_t last = s->next_out - 1;
	if (begin == 0)
		begin = 1;
	if (end == 0 || end > last)
		end = last;
	if (begin > end)
		return;
	struct resend_ctx c = {s, begin, end, now, 0};
	if (s->store && s->store->ops->each)
		(void)s->store->ops->each(s->store->ctx, begin, end, resend_cb, &c);
	if (c.err == FIX_SESSION_E_NOMEM) {
		fs_close(s, "protocol", 0, "out of memory while answering a ResendRequest");
		return;
	}
	if (c.cur <= end)
		fs_send_gap_fill(s, c.cur, end + 1, now);
}
