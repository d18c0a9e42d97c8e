/* Every inbound message once framed and parsed: the FIX session rules it must
 * pass (CompIDs, SendingTime, MsgSeqNum, PossDup, MsgType, Logon fields) and
 * the state changes and events it causes. A failed rule answers with a
 * Reject, a ResendRequest or a Logout, as FIX 4.4 asks. */
#include "fix_session_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* 49 must be the peer, 56 must be us. The acceptor learns 49 from the Logon
 * unless the cfg named it. Returns 0 or -1 after ending the session. */
static int check_comp_ids(struct fix_session *s, const struct fix_msg *m, int64_t now)
{
	if (s->comp_id_session_only &&
	    !(m->msg_type_len == 1 && m->msg_type[0] && strchr("012345A", m->msg_type[0])))
		return 0;
	struct fix_sv snd = get_sv(m, 49), tgt = get_sv(m, 56);
	if (!s->target[0] && snd.len > 0 && snd.len <= FIX_SESSION_MAX_COMP_ID &&
	    !memchr(snd.ptr, '\0', snd.len) && sv_eq(tgt.ptr, tgt.len, s->sender)) {
		memcpy(s->target, snd.ptr, snd.len);
		s->target[snd.len] = '\0';
	}
	if (sv_eq(snd.ptr, snd.len, s->target) && sv_eq(tgt.ptr, tgt.len, s->sender))
		return 0;
	if (s->target[0])
		fs_send_reject(s, m, snd.ptr && !sv_eq(snd.ptr, snd.len, s->target) ? 49 : 56, 9,
			       "CompID problem", now);
	fs_fail(s, now, "protocol", "CompID problem",
		"wrong CompID: expected 49=%s 56=%s, received 49=%.*s 56=%.*s",
		s->target[0] ? s->target : "?", s->sender, clip(&snd), snd.ptr ? snd.ptr : "",
		clip(&tgt), tgt.ptr ? tgt.ptr : "");
	return -1;
}

static int check_sending_time(struct fix_session *s, const struct fix_msg *m, int64_t now)
{
	struct fix_sv st = get_sv(m, 52);
	int64_t t, utc = wall(s, now);
	if (s->tolerance >= INT64_MAX / 2)
		return 0;
	if (st.ptr && fix_parse_time(st.ptr, st.len, &t) == FIX_OK &&
	    (t > utc ? t - utc : utc - t) <= s->tolerance)
		return 0;
	fs_send_reject(s, m, 52, 10, "SendingTime accuracy problem", now);
	fs_fail(s, now, "protocol", "SendingTime accuracy problem",
		"SendingTime accuracy problem: 52=%.*s is more than %" PRId64 " ms from now",
		clip(&st), st.ptr ? st.ptr : "", s->tolerance);
	return -1;
}

/* The text holds z (a peer's free text, in any place). */
static int sv_contains(const struct fix_sv *v, const char *z)
{
	size_t n = strlen(z);
	for (size_t i = 0; v->ptr && i + n <= v->len; i++)
		if (memcmp(v->ptr + i, z, n) == 0)
			return 1;
	return 0;
}

static void too_low(struct fix_session *s, const struct fix_msg *m, int64_t now)
{
	char text[96];
	snprintf(text, sizeof(text),
		 "MsgSeqNum too low, expecting %" PRIu64 " but received %" PRIu64, s->next_in,
		 m->seq_num);
	s->close_cause = FIX_CLOSE_SEQ_TOO_LOW;
	fs_fail(s, now, "protocol", text,
		"MsgSeqNum too low: expected %" PRIu64 ", received %" PRIu64, s->next_in,
		m->seq_num);
}

static void open_gap(struct fix_session *s, const struct fix_msg *m, int64_t now)
{
	if (s->resend_end == 0 && !quiet(s))
		fs_send_resend_request(s, s->next_in, now);
	if (m->seq_num > s->resend_end)
		s->resend_end = m->seq_num;
}

int fs_advance_in(struct fix_session *s, uint64_t next)
{
	s->next_in = next;
	if (s->resend_end && s->next_in > s->resend_end)
		s->resend_end = 0;
	return fs_store_next_in(s);
}

static void peer_logout(struct fix_session *s, const struct fix_msg *m, int64_t now)
{
	struct fix_event *ev = fs_push_event(s, FIX_EV_LOGOUT, m);
	struct fix_sv text = get_sv(m, 58);
	if (ev)
		ev->logout.text = text;
	if (m->seq_num == s->next_in && fs_advance_in(s, s->next_in + 1))
		return;
	if (s->st == FIX_ST_LOGOUT_SENT) {
		fs_close(s, "logged_out", 0, "logged out");
		return;
	}
	int before_logon = s->st != FIX_ST_ACTIVE;
	if (!before_logon && !s->silent)
		fs_send_logout(s, NULL, now);
	const char *code = before_logon ? "rejected" : "logged_out";
	const char *what =
	    s->role == FIX_INITIATOR ? "exchange logged us out" : "client logged out";
	if (text.len) {
		struct fix_sv shown = {text.ptr, (size_t)clip(&text)};
		if (sv_contains(&shown, "MsgSeqNum too low"))
			s->close_cause = FIX_CLOSE_PEER_SEQ_TOO_LOW;
		fs_close(s, code, 1, "%s: %.*s", what, clip(&text), text.ptr);
	} else
		fs_close(s, code, 1, "%s", what);
}

static int check_heartbeat(const struct fix_msg *m, int *hb)
{
	uint64_t v;
	if (fix_msg_get_u64(m, 108, &v) != FIX_OK || v > 86400)
		return -1;
	*hb = (int)v;
	return 0;
}

/* Initiator waiting for the Logon reply. Returns 1 if an event pins m. */
static int on_logon_reply(struct fix_session *s, const struct fix_msg *m, int64_t now)
{
	if (check_comp_ids(s, m, now))
		return 0;
	if (fix_msg_is(m, "5")) {
		peer_logout(s, m, now);
		return 1;
	}
	if (!fix_msg_is(m, "A")) {
		fs_fail(s, now, "protocol", "expected a Logon",
			"expected a Logon reply, received MsgType %.*s", (int)m->msg_type_len,
			m->msg_type);
		return 0;
	}
	if (check_sending_time(s, m, now))
		return 0;
	if (get_flag(m, 141) && m->seq_num == 1)
		s->next_in = 1; /* the peer reset (asked for or not): so do we */
	if (s->logon_seq_adopt && m->seq_num > 0)
		s->next_in = m->seq_num; /* its counter is the truth (logon_seq = "adopt") */
	if (m->seq_num < s->next_in) {
		too_low(s, m, now);
		return 0;
	}
	s->st = FIX_ST_ACTIVE;
	s->last_recv = now;
	struct fix_event *ev = fs_push_event(s, FIX_EV_LOGON, m);
	if (ev) {
		ev->logon.heartbeat_s = s->hb_s;
		ev->logon.reset = s->reset_done;
	}
	if (m->seq_num == s->next_in) {
		if (fs_advance_in(s, s->next_in + 1))
			return 1;
	} else {
		open_gap(s, m, now);
	}
	return 1;
}

/* Acceptor waiting for the Logon. Returns 1 if an event pins m. */
static int on_logon_request(struct fix_session *s, const struct fix_msg *m, int64_t now)
{
	if (!fix_msg_is(m, "A")) {
		fs_fail(s, now, "protocol", "first message must be a Logon",
			"first message was MsgType %.*s, not a Logon", (int)m->msg_type_len,
			m->msg_type);
		return 0;
	}
	if (check_comp_ids(s, m, now) || check_sending_time(s, m, now))
		return 0;
	int hb, reset = get_flag(m, 141);
	if (check_heartbeat(m, &hb)) {
		fs_fail(s, now, "protocol", "Logon needs a valid HeartBtInt(108)",
			"Logon without a valid HeartBtInt(108)");
		return 0;
	}
	if (get_int(m, 98, -1) != 0) {
		fs_fail(s, now, "protocol", "EncryptMethod(98) must be 0",
			"Logon with EncryptMethod(98) other than 0");
		return 0;
	}
	uint64_t expected = reset ? 1 : s->next_in;
	if (m->seq_num < expected) {
		uint64_t keep = s->next_in;
		s->next_in = expected;
		too_low(s, m, now);
		s->next_in = keep;
		return 0;
	}
	s->hb_s = hb;
	s->reset_done = reset;
	s->logon_seq = m->seq_num;
	s->st = FIX_ST_LOGON_RECEIVED;
	struct fix_event *ev = fs_push_event(s, FIX_EV_LOGON_REQUEST, m);
	if (ev) {
		ev->logon_request.sender_comp_id = get_sv(m, 49);
		ev->logon_request.username = get_sv(m, 553);
		ev->logon_request.password = get_sv(m, 554);
		ev->logon_request.heartbeat_s = hb;
		ev->logon_request.reset = reset;
	}
	return 1;
}

static void on_sequence_reset(struct fix_session *s, const struct fix_msg *m, int gap_fill,
			      int64_t now)
{
	uint64_t new_seq;
	if (fix_msg_get_u64(m, 36, &new_seq) != FIX_OK) {
		fs_send_reject(s, m, 36, 1, "Required tag missing", now);
		return;
	}
	if (new_seq < s->next_in) {
		char text[96];
		snprintf(text, sizeof(text),
			 "NewSeqNo %" PRIu64 " is lower than the expected MsgSeqNum %" PRIu64,
			 new_seq, s->next_in);
		fs_send_reject(s, m, 36, 5, text, now);
		return;
	}
	if (new_seq - s->next_in > MAX_SEQ_JUMP) {
		/* One message must not push the expected number out of reach:
		 * every later message would be "too low". */
		char text[128];
		snprintf(text, sizeof(text),
			 "NewSeqNo %" PRIu64
			 " is implausibly far above the expected MsgSeqNum %" PRIu64,
			 new_seq, s->next_in);
		fs_send_reject(s, m, 36, 5, text, now);
		return;
	}
	if (new_seq > s->next_in || !gap_fill)
		(void)fs_advance_in(s, new_seq);
}

/* The events of dispatch that carry fields of m. */
static void push_reject(struct fix_session *s, const struct fix_msg *m)
{
	struct fix_event *ev = fs_push_event(s, FIX_EV_REJECT, m);
	if (ev) {
		uint64_t ref = 0;
		(void)fix_msg_get_u64(m, 45, &ref);
		ev->reject.ref_seq_num = ref;
		ev->reject.ref_tag = get_int(m, 371, -1);
		ev->reject.ref_msg_type = get_sv(m, 372);
		ev->reject.reason = get_int(m, 373, -1);
		ev->reject.text = get_sv(m, 58);
	}
}

static void push_user_request(struct fix_session *s, const struct fix_msg *m)
{
	struct fix_event *ev = fs_push_event(s, FIX_EV_USER_REQUEST, m);
	if (ev) {
		ev->user_request.req_id = get_sv(m, 923);
		ev->user_request.username = get_sv(m, 553);
		ev->user_request.password = get_sv(m, 554);
		ev->user_request.type = get_int(m, 924, -1);
	}
}

static void push_user_response(struct fix_session *s, const struct fix_msg *m)
{
	struct fix_event *ev = fs_push_event(s, FIX_EV_USER_RESPONSE, m);
	if (ev) {
		ev->user_response.req_id = get_sv(m, 923);
		ev->user_response.username = get_sv(m, 553);
		ev->user_response.text = get_sv(m, 927);
		ev->user_response.status = get_int(m, 926, -1);
	}
}

/* An in-sequence message once logged on (next_in already advanced).
 * Returns 1 if an event pins m. */
static int dispatch(struct fix_session *s, const struct fix_msg *m, int64_t now)
{
	if (m->msg_type_len == 1) {
		switch (m->msg_type[0]) {
		case '0':
			return 0;
		case '1': {
			struct fix_sv id = get_sv(m, 112);
			if (!quiet(s))
				fs_send_heartbeat(s, &id, now);
			return 0;
		}
		case '2':
			fs_answer_resend(s, m, now);
			return 0;
		case '3':
			push_reject(s, m);
			return 1;
		case '4':
			on_sequence_reset(s, m, 1, now);
			return 0;
		case 'A':
			fs_fail(s, now, "protocol", "unexpected Logon", "%s sent a second Logon",
				peer_name(s));
			return 0;
		}
	}
	if (!fs_valid_msg_type(m->msg_type, m->msg_type_len)) {
		if (s->gw_compat)
			return 0; /* that gateway drops what it does not know, unanswered */
		fs_send_reject(s, m, 35, 11, "Invalid MsgType", now);
		return 0;
	}
	if (s->role == FIX_ACCEPTOR && fix_msg_is(m, "BE")) {
		push_user_request(s, m);
		return 1;
	}
	if (s->role == FIX_INITIATOR && fix_msg_is(m, "BF")) {
		push_user_response(s, m);
		return 1;
	}
	if (s->validate) {
		int ref_tag = -1, reason = 0;
		char text[160] = "";
		if (s->validate(s->validate_ud, m, &ref_tag, &reason, text, sizeof text)) {
			fs_send_reject(s, m, ref_tag, reason, text, now);
			return 0;
		}
	}
	struct fix_event *ev = fs_push_event(s, FIX_EV_APP, m);
	if (ev) {
		ev->app.msg_type.ptr = m->msg_type;
		ev->app.msg_type.len = m->msg_type_len;
	}
	return 1;
}

/* A message once logged on (ACTIVE or LOGOUT_SENT). Returns 1 if pinned. */
static int on_message(struct fix_session *s, const struct fix_msg *m, int64_t now)
{
	if (check_comp_ids(s, m, now) || check_sending_time(s, m, now))
		return 0;
	if (s->gw_compat) {
		/* That gateway numbers nothing inbound: every message is in
		 * sequence, and resends and resets mean nothing to it. */
		if (fix_msg_is(m, "2") || fix_msg_is(m, "4"))
			return 0;
		s->next_in = m->seq_num;
		s->resend_end = 0;
	}
	if (fix_msg_is(m, "5") && (m->seq_num >= s->next_in || !m->poss_dup)) {
		if (m->seq_num < s->next_in) {
			too_low(s, m, now);
			return 0;
		}
		peer_logout(s, m, now);
		return 1;
	}
	int is_reset = fix_msg_is(m, "4");
	if (is_reset && !get_flag(m, 123)) {
		/* Reset mode: MsgSeqNum is ignored. */
		on_sequence_reset(s, m, 0, now);
		return 0;
	}
	if (m->seq_num < s->next_in) {
		if (!m->poss_dup) {
			too_low(s, m, now);
		} else if (!is_reset && !fix_msg_find(m, 122)) {
			fs_send_reject(s, m, 122, 1, "Required tag missing", now);
		}
		return 0;
	}
	if (m->seq_num > s->next_in) {
		/* Answer the peer's own ResendRequest now, or both sides wait. */
		if (fix_msg_is(m, "2"))
			fs_answer_resend(s, m, now);
		open_gap(s, m, now);
		return 0;
	}
	if (fs_advance_in(s, s->next_in + 1))
		return 0;
	if (m->poss_dup && !is_reset) {
		struct fix_sv orig = get_sv(m, 122), sent = get_sv(m, 52);
		int64_t to, ts;
		if (!orig.ptr) {
			fs_send_reject(s, m, 122, 1, "Required tag missing", now);
			return 0;
		}
		if (fix_parse_time(orig.ptr, orig.len, &to) != FIX_OK ||
		    fix_parse_time(sent.ptr, sent.len, &ts) != FIX_OK || to > ts) {
			fs_send_reject(s, m, 122, 10, "SendingTime accuracy problem", now);
			fs_fail(
			    s, now, "protocol", "SendingTime accuracy problem",
			    "OrigSendingTime(122) later than SendingTime(52) in MsgSeqNum %" PRIu64,
			    m->seq_num);
			return 0;
		}
	}
	return dispatch(s, m, now);
}

int fs_handle_msg(struct fix_session *s, const struct fix_msg *m, int64_t now)
{
	s->last_recv = now;
	s->test_req_sent = 0;
	switch (s->st) {
	case FIX_ST_LOGON_SENT:
		return on_logon_reply(s, m, now);
	case FIX_ST_AWAIT_LOGON:
		return on_logon_request(s, m, now);
	case FIX_ST_ACTIVE:
	case FIX_ST_LOGOUT_SENT:
		return on_message(s, m, now);
	default:
		return 0;
	}
}
