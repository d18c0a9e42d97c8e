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
