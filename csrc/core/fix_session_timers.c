/* Timers: the next deadline (heartbeat, TestRequest, logon and logout
 * timeouts) and what fix_session_tick does when one passes. */
#include "fix_session_int.h"
#include "util.h"

#include <inttypes.h>
#include <stdio.h>

static int64_t hb_deadline(const struct fix_session *s)
{
	if (s->hb_s <= 0 || s->silent || s->gw_compat)
		return INT64_MAX;
	int64_t hb = (int64_t)s->hb_s * 1000;
	int64_t d = add_ms(s->last_sent, hb);
	int64_t r =
	    s->test_req_sent ? add_ms(s->test_req_sent, hb) : add_ms(s->last_recv, hb * 6 / 5);
	return d < r ? d : r;
}

int64_t fix_session_deadline(const struct fix_session *s)
{
	switch (s->st) {
	case FIX_ST_LOGON_SENT:
	case FIX_ST_AWAIT_LOGON:
	case FIX_ST_LOGON_RECEIVED:
		return s->silent ? INT64_MAX : s->logon_deadline;
	case FIX_ST_ACTIVE:
		return hb_deadline(s);
	case FIX_ST_LOGOUT_SENT:
		return s->logout_deadline;
	default:
		return INT64_MAX;
	}
}

void fix_session_tick(struct fix_session *s, int64_t now_ms)
{
	char secs[32];
	fs_compact(s);
	/* Frames held back while a Logon was pending are processed here at the
	 * latest. */
	(void)fs_process_input(s, now_ms);
	switch (s->st) {
	case FIX_ST_LOGON_SENT:
	case FIX_ST_AWAIT_LOGON:
	case FIX_ST_LOGON_RECEIVED:
		if (s->silent || now_ms < s->logon_deadline)
			return;
		bt_fmt_secs(secs, sizeof(secs), s->logon_to);
		if (s->st == FIX_ST_LOGON_SENT)
			fs_close(s, "timeout", 0, "no Logon reply within %s", secs);
		else if (s->st == FIX_ST_AWAIT_LOGON)
			fs_close(s, "timeout", 0, "no Logon received within %s", secs);
		else
			fs_close(s, "timeout", 0, "Logon not answered by the application within %s",
				 secs);
		return;
	case FIX_ST_LOGOUT_SENT:
		if (now_ms >= s->logout_deadline) {
			bt_fmt_secs(secs, sizeof(secs), s->logout_to);
			fs_close(s, "logged_out", 0, "logged out (no Logout reply within %s)",
				 secs);
		}
		return; /* no Heartbeat or TestRequest after our Logout */
	case FIX_ST_ACTIVE:
		break;
	default:
		return;
	}
	if (s->hb_s <= 0 || s->silent || s->gw_compat)
		return;
	int64_t hb = (int64_t)s->hb_s * 1000;
	if (s->test_req_sent && now_ms >= add_ms(s->test_req_sent, hb)) {
		fs_close(s, "timeout", 0, "heartbeat timeout: no reply to TestRequest within %d s",
			 s->hb_s);
		return;
	}
	if (!s->test_req_sent && now_ms >= add_ms(s->last_recv, hb * 6 / 5))
		fs_send_test_request(s, now_ms);
	if (now_ms >= add_ms(s->last_sent, hb))
		fs_send_heartbeat(s, NULL, now_ms);
}
