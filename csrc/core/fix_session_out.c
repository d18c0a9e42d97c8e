/* Outbound bytes: the output buffer (growth, and wiping of the bytes that
 * carried a password once written), framing a message into it with the
 * store's bookkeeping and the trace, and the application's sends. */
#include "fix_session_int.h"

#include <inttypes.h>
#include <stdlib.h>

/* ---------------------------------------------------------------- trace */

/* Copy frame into dst with every 554 value shown as "***"; returns length. */
static size_t redact(char *dst, size_t cap, const char *src, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o < cap;) {
		int at_field = i == 0 || src[i - 1] == FIX_SOH;
		if (at_field && n - i >= 4 && memcmp(src + i, "554=", 4) == 0) {
			static const char mask[] = "554=***";
			for (size_t k = 0; k < sizeof(mask) - 1 && o < cap; k++)
				dst[o++] = mask[k];
			i += 4;
			while (i < n && src[i] != FIX_SOH)
				i++;
			continue;
		}
		dst[o++] = src[i++];
	}
	return o;
}

static int has_password(const char *p, size_t n)
{
	if (n >= 4 && memcmp(p, "554=", 4) == 0)
		return 1;
	for (size_t i = 0; i + 5 <= n; i++)
		if (p[i] == FIX_SOH && memcmp(p + i + 1, "554=", 4) == 0)
			return 1;
	return 0;
}

void fs_trace(struct fix_session *s, int dir, const char *p, size_t n)
{
	if (!s->trace)
		return;
	if (!has_password(p, n)) {
		s->trace(s->trace_ud, dir, p, n);
		return;
	}
	size_t k = redact(s->trace_buf, s->trace_cap, p, n);
	s->trace(s->trace_ud, dir, s->trace_buf, k);
	wipe(s->trace_buf, k);
}

/* --------------------------------------------------------------- output */

int fs_out_reserve(struct fix_session *s, size_t need)
{
	if (s->out_off == s->out_len) {
		s->out_off = s->out_len = 0;
		s->out_wipe = 0;
	}
	if (s->out_cap - s->out_len >= need)
		return 0;
	if (s->out_off > 0) {
		size_t live = s->out_len - s->out_off;
		memmove(s->out, s->out + s->out_off, live);
		wipe(s->out + live, s->out_len - live);
		s->out_wipe = s->out_wipe > s->out_off ? s->out_wipe - s->out_off : 0;
		s->out_len = live;
		s->out_off = 0;
		if (s->out_cap - s->out_len >= need)
			return 0;
	}
	size_t cap = s->out_cap;
	while (cap - s->out_len < need) {
		if (cap > SIZE_MAX / 2)
			return FIX_SESSION_E_NOMEM;
		cap *= 2;
	}
	/* Not realloc: the old block may hold a password and must be wiped. */
	char *p = malloc(cap);
	if (!p)
		return FIX_SESSION_E_NOMEM;
	memcpy(p, s->out, s->out_len);
	wipe(s->out, s->out_len);
	free(s->out);
	s->out = p;
	s->out_cap = cap;
	return 0;
}

int fs_begin_msg(struct fix_session *s, struct fix_enc *enc, const char *msg_type, uint64_t seq,
		 int64_t now, size_t need)
{
	int r = fs_out_reserve(s, need + FIX_ENC_HEADROOM + ADMIN_ROOM);
	if (r)
		return r;
	fix_enc_begin(enc, s->out + s->out_len, s->out_cap - s->out_len, msg_type, s->sender,
		      s->target, seq, wall(s, now));
	return 0;
}

int fs_store_next_out(struct fix_session *s)
{
	if (s->store && s->store->ops->set_next_out &&
	    s->store->ops->set_next_out(s->store->ctx, s->next_out) != 0) {
		fs_close(s, "store", 0, "sequence store failed to record MsgSeqNum %" PRIu64,
			 s->next_out);
		return FIX_SESSION_E_STORE;
	}
	return 0;
}

int fs_store_next_in(struct fix_session *s)
{
	if (s->store && s->store->ops->set_next_in &&
	    s->store->ops->set_next_in(s->store->ctx, s->next_in) != 0) {
		fs_close(s, "store", 0,
			 "sequence store failed to record inbound MsgSeqNum %" PRIu64, s->next_in);
		return FIX_SESSION_E_STORE;
	}
	return 0;
}

/* Body length of a finished frame, read back from its 9= field. */
static size_t body_len(const char *f, size_t n)
{
	size_t v = 0;
	for (size_t i = sizeof("8=" FIX_BEGIN_STRING "\x01"
			       "9=") -
			1;
	     i < n && f[i] != FIX_SOH; i++)
		v = v * 10 + (size_t)(f[i] - '0');
	return v;
}

/* Close the frame begun with fs_begin_msg and queue it. The bytes only become
 * visible to the driver after the store has the new next_out. */
int fs_finish_msg(struct fix_session *s, struct fix_enc *enc, enum out_kind kind, uint64_t seq,
		  int64_t now)
{
	size_t n;
	const char *f = fix_enc_finish(enc, &n);
	if (!f) {
		wipe(s->out + s->out_len, s->out_cap - s->out_len);
		return enc->status == FIX_E_BUFFER_FULL ? FIX_SESSION_E_TOO_LARGE
							: FIX_SESSION_E_ARG;
	}
	char *dst = s->out + s->out_len;
	if (body_len(f, n) > s->max_body) {
		wipe(dst, (size_t)(f - dst) + n);
		return FIX_SESSION_E_TOO_LARGE;
	}
	if (f != dst)
		memmove(dst, f, n);
	if (kind != OUT_RESEND) {
		s->next_out = seq + 1;
		if (fs_store_next_out(s)) {
			wipe(dst, n + FIX_ENC_HEADROOM);
			return FIX_SESSION_E_STORE;
		}
		/* A lost save only turns a later resend into a GapFill. */
		if (kind == OUT_APP && s->store && s->store->ops->save)
			(void)s->store->ops->save(s->store->ctx, seq, dst, n);
	}
	fs_trace(s, FIX_TRACE_OUT, dst, n);
	s->out_len += n;
	if (kind == OUT_SENSITIVE)
		s->out_wipe = s->out_len;
	s->last_sent = now;
	return 0;
}

const char *fix_session_out(const struct fix_session *s, size_t *len)
{
	*len = s->out_len - s->out_off;
	return s->out + s->out_off;
}

void fix_session_out_consume(struct fix_session *s, size_t n)
{
	size_t live = s->out_len - s->out_off;
	if (n > live)
		n = live;
	if (s->out_off < s->out_wipe) {
		size_t end = s->out_off + n < s->out_wipe ? s->out_off + n : s->out_wipe;
		wipe(s->out + s->out_off, end - s->out_off);
	}
	s->out_off += n;
	if (s->out_off == s->out_len)
		s->out_off = s->out_len = s->out_wipe = 0;
}

/* ---------------------------------------------------- application sends */

/* Every MsgType of the FIX 4.4 dictionary, plus user-defined "U..." types. */
int fs_valid_msg_type(const char *t, size_t n)
{
	static const char one[] = "0123456789ABCDEFGHJKLMNPQRSTVWXYZabcdefghijklmnopqrstuvwxyz";
	if (n >= 1 && t[0] == 'U')
		return 1;
	if (n == 1)
		return memchr(one, t[0], sizeof(one) - 1) != NULL;
	if (n == 2 && t[0] == 'A')
		return t[1] >= 'A' && t[1] <= 'Z';
	if (n == 2 && t[0] == 'B')
		return t[1] >= 'A' && t[1] <= 'H';
	return 0;
}

static int admin_type(const char *t, size_t n)
{
	return n == 1 && strchr("012345A", t[0]) != NULL;
}

int fix_session_app_msg_type_ok(const char *t)
{
	size_t n = t ? strlen(t) : 0;
	return n && fs_valid_msg_type(t, n) && !admin_type(t, n) && !memchr(t, FIX_SOH, n) &&
	       !strchr(t, '=');
}

int fix_session_app_tag_ok(uint32_t tag)
{
	switch (tag) {
	case 0:
	case 8:   /* BeginString */
	case 9:   /* BodyLength */
	case 10:  /* CheckSum */
	case 34:  /* MsgSeqNum */
	case 35:  /* MsgType */
	case 43:  /* PossDupFlag */
	case 49:  /* SenderCompID */
	case 52:  /* SendingTime */
	case 56:  /* TargetCompID */
	case 97:  /* PossResend */
	case 122: /* OrigSendingTime */
		return 0;
	default:
		return tag <= 999999999; /* the codec reads at most 9 digits */
	}
}

int fix_session_send(struct fix_session *s, const char *msg_type,
		     const struct fix_out_field *fields, size_t nfields, int64_t now_ms)
{
	if (s->st != FIX_ST_ACTIVE)
		return FIX_SESSION_E_STATE;
	if (!msg_type || !fs_valid_msg_type(msg_type, strlen(msg_type)) ||
	    admin_type(msg_type, strlen(msg_type)) || (nfields && !fields))
		return FIX_SESSION_E_ARG;
	size_t need = 0;
	for (size_t i = 0; i < nfields; i++) {
		if (!value_ok(fields[i].val, fields[i].len) ||
		    !fix_session_app_tag_ok(fields[i].tag))
			return FIX_SESSION_E_ARG;
		/* need reserves 12 bytes per field for its tag; only the values
		 * alone (need - 12 * i) are surely too large here: fs_finish_msg
		 * checks the exact body, so a message of many short fields that
		 * fits is not refused. */
		if (fields[i].len > s->max_body || need - 12 * i > s->max_body)
			return FIX_SESSION_E_TOO_LARGE;
		need += fields[i].len + 12;
	}
	struct fix_enc enc;
	int r = fs_begin_msg(s, &enc, msg_type, s->next_out, now_ms, need);
	if (r)
		return r;
	for (size_t i = 0; i < nfields; i++)
		fix_enc_str(&enc, fields[i].tag, fields[i].val, fields[i].len);
	/* A UserRequest is never stored: a resend must not replay credentials,
	 * so it is gap-filled instead. A UserResponse carries none and is
	 * stored like any application message, so a peer that missed it in a
	 * sequence gap gets it again. */
	enum out_kind kind = OUT_APP;
	if (!strcmp(msg_type, "BE"))
		kind = OUT_SENSITIVE;
	return fs_finish_msg(s, &enc, kind, s->next_out, now_ms);
}

int fix_session_user_request(struct fix_session *s, const char *req_id, int type,
			     const char *username, const char *password, int64_t now_ms)
{
	if (s->st != FIX_ST_ACTIVE)
		return FIX_SESSION_E_STATE;
	if (!cstr_ok(req_id) || !cstr_ok(username) || (password && !cstr_ok(password)) ||
	    type < 1 || type > 9)
		return FIX_SESSION_E_ARG;
	struct fix_enc enc;
	size_t need = strlen(req_id) + strlen(username) + (password ? strlen(password) : 0);
	int r = fs_begin_msg(s, &enc, "BE", s->next_out, now_ms, need);
	if (r)
		return r;
	fix_enc_cstr(&enc, 923, req_id);
	fix_enc_int(&enc, 924, type);
	fix_enc_cstr(&enc, 553, username);
	if (password)
		fix_enc_cstr(&enc, 554, password);
	return fs_finish_msg(s, &enc, OUT_SENSITIVE, s->next_out, now_ms);
}

int fix_session_user_response(struct fix_session *s, const char *req_id, const char *username,
			      int status, const char *text, int64_t now_ms)
{
	if (s->st != FIX_ST_ACTIVE)
		return FIX_SESSION_E_STATE;
	if (!cstr_ok(req_id) || !cstr_ok(username) || (text && *text && !cstr_ok(text)) ||
	    status < 0)
		return FIX_SESSION_E_ARG;
	struct fix_enc enc;
	size_t tl = text_len(text);
	int r = fs_begin_msg(s, &enc, "BF", s->next_out, now_ms,
			     strlen(req_id) + strlen(username) + tl);
	if (r)
		return r;
	fix_enc_cstr(&enc, 923, req_id);
	fix_enc_cstr(&enc, 553, username);
	fix_enc_int(&enc, 926, status);
	if (tl)
		fix_enc_str(&enc, 927, text, tl);
	return fs_finish_msg(s, &enc, OUT_APP, s->next_out, now_ms);
}
