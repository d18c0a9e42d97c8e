/* Fault injection into a FIX session (see fix_session_fault.h). The session
 * itself honours the silent flag (fix_session_int.h's quiet() and the
 * timers); these are only the switches. */
#include "fix_session_fault.h"

#include "fix_session_int.h"

void fix_session_fault_skip_seq(struct fix_session *s, uint64_t n)
{
	if (s->st == FIX_ST_CLOSED || n > UINT32_MAX)
		return;
	s->next_out += n;
	(void)fs_store_next_out(s);
}

void fix_session_fault_silent(struct fix_session *s, int on)
{
	s->silent = on != 0;
}

int fix_session_fault_raw(struct fix_session *s, const char *bytes, size_t n)
{
	if (!bytes && n)
		return FIX_SESSION_E_ARG;
	int r = fs_out_reserve(s, n);
	if (r)
		return r;
	memcpy(s->out + s->out_len, bytes, n);
	fs_trace(s, FIX_TRACE_OUT, s->out + s->out_len, n);
	s->out_len += n;
	return 0;
}

int fix_session_fault_gateway_compat(struct fix_session *s)
{
	if (s->role != FIX_ACCEPTOR || s->st != FIX_ST_LOGON_RECEIVED)
		return FIX_SESSION_E_STATE;
	s->gw_compat = 1;
	s->hb_s = 30; /* what that gateway always answers */
	s->reset_done = 0;
	s->next_in = s->logon_seq; /* fix_session_accept then moves past it */
	s->resend_end = 0;
	return 0;
}
