/* Encoders of the session's own messages: Logon, Logout, Heartbeat,
 * TestRequest, ResendRequest, Reject and GapFill. */
#include "fix_session_int.h"

#include <inttypes.h>
#include <stdio.h>

int fs_send_logon(struct fix_session *s, int64_t now)
{
	struct fix_enc enc;
	size_t need =
	    (s->username ? strlen(s->username) : 0) + (s->password ? strlen(s->password) : 0);
	int r = fs_begin_msg(s, &enc, "A", s->next_out, now, need);
	if (r)
		return r;
	fix_enc_int(&enc, 98, 0);
	fix_enc_int(&enc, 108, s->hb_s);
	if (s->reset_done)
		fix_enc_char(&enc, 141, 'Y');
	if (s->username)
		fix_enc_cstr(&enc, 553, s->username);
	if (s->password)
		fix_enc_cstr(&enc, 554, s->password);
	return fs_finish_msg(s, &enc, s->password ? OUT_SENSITIVE : OUT_ADMIN, s->next_out, now);
}

void fs_send_logout(struct fix_session *s, const char *text, int64_t now)
{
	struct fix_enc enc;
	size_t tl = text_len(text);
	if (fs_begin_msg(s, &enc, "5", s->next_out, now, tl))
		return;
	if (tl)
		fix_enc_str(&enc, 58, text, tl);
	(void)fs_finish_msg(s, &enc, OUT_ADMIN, s->next_out, now);
}

void fs_send_heartbeat(struct fix_session *s, const struct fix_sv *test_id, int64_t now)
{
	struct fix_enc enc;
	size_t tl = test_id && test_id->len < TEXT_MAX ? test_id->len : 0;
	if (fs_begin_msg(s, &enc, "0", s->next_out, now, tl))
		return;
	if (tl)
		fix_enc_str(&enc, 112, test_id->ptr, tl);
	(void)fs_finish_msg(s, &enc, OUT_ADMIN, s->next_out, now);
}

void fs_send_test_request(struct fix_session *s, int64_t now)
{
	struct fix_enc enc;
	char id[32];
	snprintf(id, sizeof(id), "TEST%" PRIu64, ++s->test_req_n);
	if (fs_begin_msg(s, &enc, "1", s->next_out, now, 0))
		return;
	fix_enc_cstr(&enc, 112, id);
	if (fs_finish_msg(s, &enc, OUT_ADMIN, s->next_out, now) == 0)
		s->test_req_sent = now;
}

void fs_send_resend_request(struct fix_session *s, uint64_t begin, int64_t now)
{
	struct fix_enc enc;
	if (fs_begin_msg(s, &enc, "2", s->next_out, now, 0))
		return;
	fix_enc_int(&enc, 7, (int64_t)begin);
	fix_enc_int(&enc, 16, 0);
	(void)fs_finish_msg(s, &enc, OUT_ADMIN, s->next_out, now);
}

/* Session-level Reject (35=3) of the message m. ref_tag < 0: no 371. */
void fs_send_reject(struct fix_session *s, const struct fix_msg *m, int ref_tag, int reason,
		    const char *text, int64_t now)
{
	struct fix_enc enc;
	if (quiet(s))
		return;
	if (fs_begin_msg(s, &enc, "3", s->next_out, now, text_len(text) + m->msg_type_len))
		return;
	fix_enc_int(&enc, 45, (int64_t)m->seq_num);
	if (ref_tag >= 0)
		fix_enc_int(&enc, 371, ref_tag);
	if (m->msg_type_len)
		fix_enc_str(&enc, 372, m->msg_type, m->msg_type_len);
	fix_enc_int(&enc, 373, reason);
	if (text)
		fix_enc_str(&enc, 58, text, text_len(text));
	(void)fs_finish_msg(s, &enc, OUT_ADMIN, s->next_out, now);
}

void fs_send_gap_fill(struct fix_session *s, uint64_t seq, uint64_t new_seq, int64_t now)
{
	struct fix_enc enc;
	if (fs_begin_msg(s, &enc, "4", seq, now, 0))
		return;
	fix_enc_char(&enc, 43, 'Y');
	fix_enc_time(&enc, 122, wall(s, now));
	fix_enc_char(&enc, 123, 'Y');
	fix_enc_int(&enc, 36, (int64_t)new_seq);
	(void)fs_finish_msg(s, &enc, OUT_RESEND, seq, now);
}
