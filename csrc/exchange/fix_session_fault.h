/* Fault injection into a FIX session, for the local exchange's scenarios and
 * the session tests and fuzzer that script a misbehaving peer. Not part of
 * the session's API (fix_session.h): no client library ships it. Built on
 * the session's private header, so it changes with the session. */
#ifndef BT_FIX_SESSION_FAULT_H
#define BT_FIX_SESSION_FAULT_H

#include <stddef.h>
#include <stdint.h>

struct fix_session;

/* Skip n outbound sequence numbers: the next message goes out with a gap the
 * peer has to ask for (the skipped numbers are answered with a GapFill). */
void fix_session_fault_skip_seq(struct fix_session *s, uint64_t n);

/* Silent mode on/off: send no Heartbeat or TestRequest, answer nothing
 * (TestRequest, ResendRequest, Logout, rejects), and close on no timer
 * except the logout timeout. Explicit API calls still send. */
void fix_session_fault_silent(struct fix_session *s, int on);

/* Append raw bytes to the output as they are (a garbled frame, say), after
 * what is already queued. Consumes no sequence number. */
int fix_session_fault_raw(struct fix_session *s, const char *bytes, size_t n);

/* Behave like BetaTrader's own C++ gateway (the exchange's --compat
 * betatrader-gateway). Acceptor, LOGON_RECEIVED, before fix_session_accept:
 * the Logon reply carries 108=30 and no 141 whatever the peer asked (a
 * 141=Y resets none of our numbers) and the Logon's MsgSeqNum is taken as in
 * sequence. From then on every inbound MsgSeqNum is (no gap, no "too low"),
 * ResendRequest and SequenceReset are ignored, an unknown MsgType is dropped
 * without a Reject, and no Heartbeat, TestRequest or heartbeat timeout comes
 * from us (a TestRequest is still answered). 0 or FIX_SESSION_E_STATE. */
int fix_session_fault_gateway_compat(struct fix_session *s);

#endif
