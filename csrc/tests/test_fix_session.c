/* test-deps: fix_session fix_store_mem fix_codec */
/* The initiator side of the FIX session, one test per protocol rule, with
 * exact bytes and exact times (T0 = 20231114-22:13:20.000). */
#include "test_fix_session_helpers.h"

static void test_logon_bytes_and_ack(void)
{
	struct fix_session_cfg c;
	struct fix_event ev;
	cfg_client(&c, NULL);
	struct fix_session *s = fix_session_new(&c);
	T_EQ_INT(fix_session_state(s), FIX_ST_IDLE);
	T_EQ_INT(fix_session_deadline(s), INT64_MAX);
	T_EQ_INT(fix_session_start(s, T0), 0);
	T_EQ_INT(fix_session_state(s), FIX_ST_LOGON_SENT);
	EXPECT_OUT(s, "8=FIX.4.4\x01"
		      "9=78\x01"
		      "35=A\x01"
		      "49=CLIENT0001\x01"
		      "56=BETA_EXCHANGE\x01"
		      "34=1\x01"
		      "52=20231114-22:13:20.000\x01"
		      "98=0\x01"
		      "108=30\x01"
		      "10=043\x01");
	T_EQ_INT(fix_session_deadline(s), T0 + 10000);
	T_EQ_INT(fix_session_start(s, T0), FIX_SESSION_E_STATE);
	FEED(s, W(FROM_EXC("A", 1, T0S) "98=0|108=30|"), T0 + 5);
	EXPECT_EV(s, ev, FIX_EV_LOGON);
	T_EQ_INT(ev.logon.heartbeat_s, 30);
	T_EQ_INT(ev.logon.reset, 0);
	T_OK(ev.msg && fix_msg_is(ev.msg, "A"));
	T_EQ_INT(fix_session_state(s), FIX_ST_ACTIVE);
	T_EQ_INT(fix_session_next_in_seq(s), 2);
	T_EQ_INT(fix_session_next_out_seq(s), 2);
	/* Heartbeat due 30 s after the Logon went out. */
	T_EQ_INT(fix_session_deadline(s), T0 + 30000);
	EXPECT_NO_OUT(s);
	fix_session_free(s);
}

static void test_logon_reset_and_credentials(void)
{
	struct fix_store_mem ms;
	struct tracelog tl = {{0}, 0, 0};
	struct fix_session_cfg c;
	struct fix_event ev;
	fix_store_mem_init(&ms, 7, 9, 0);
	cfg_client(&c, &ms.st);
	c.reset_on_logon = 1;
	c.username = CLI;
	c.password = "s3cret";
	c.trace = tl_trace;
	c.trace_ud = &tl;
	struct fix_session *s = fix_session_new(&c);
	T_EQ_INT(fix_session_next_out_seq(s), 7);
	fix_session_start(s, T0);
	T_EQ_INT(ms.resets, 1);
	T_EQ_INT(ms.next_out, 2);
	size_t n;
	const char *o = fix_session_out(s, &n);
	const char *want = W(FROM_CLI("A", 1, T0S) "98=0|108=30|141=Y|553=" CLI "|554=s3cret|");
	T_EQ_MEM(o, n, want, strlen(want));
	/* The trace never sees the password. */
	T_OK(mem_has(tl.buf, tl.len, "\001554=***\001"));
	T_OK(!mem_has(tl.buf, tl.len, "s3cret"));
	/* Bytes that carried the password are wiped once written. */
	fix_session_out_consume(s, n);
	T_OK(!mem_has(o, n, "s3cret"));
	FEED(s, W(FROM_EXC("A", 1, T0S) "98=0|108=30|141=Y|"), T0);
	EXPECT_EV(s, ev, FIX_EV_LOGON);
	T_EQ_INT(ev.logon.reset, 1);
	T_EQ_INT(fix_session_next_in_seq(s), 2);
	T_EQ_INT(ms.next_in, 2);
	fix_session_free(s);
	fix_store_mem_free(&ms);
}

static void test_logon_timeout(void)
{
	struct fix_session_cfg c;
	struct fix_event ev;
	cfg_client(&c, NULL);
	c.logon_timeout_ms = 5000;
	struct fix_session *s = fix_session_new(&c);
	fix_session_start(s, T0);
	fix_session_out_consume(s, 1000);
	T_EQ_INT(fix_session_deadline(s), T0 + 5000);
	fix_session_tick(s, T0 + 4999);
	EXPECT_NO_EV(s);
	fix_session_tick(s, T0 + 5000);
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	T_EQ_STR(ev.closed.code, "timeout");
	T_EQ_STR(ev.closed.reason, "no Logon reply within 5 s");
	T_EQ_INT(fix_session_state(s), FIX_ST_CLOSED);
	T_EQ_INT(fix_session_deadline(s), INT64_MAX);
	EXPECT_NO_OUT(s);
	/* After CLOSED everything is taken and ignored. */
	FEED(s, W(FROM_EXC("A", 1, T0S) "98=0|108=30|"), T0 + 6000);
	EXPECT_NO_EV(s);
	fix_session_free(s);

	c.logon_timeout_ms = 2500;
	s = fix_session_new(&c);
	fix_session_start(s, T0);
	fix_session_tick(s, T0 + 2500);
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	T_EQ_STR(ev.closed.reason, "no Logon reply within 2.5 s");
	fix_session_free(s);
}

static void test_logout_instead_of_logon(void)
{
	struct fix_session_cfg c;
	struct fix_event ev;
	cfg_client(&c, NULL);
	struct fix_session *s = fix_session_new(&c);
	fix_session_start(s, T0);
	fix_session_out_consume(s, 1000);
	FEED(s, W(FROM_EXC("5", 1, T0S) "58=Unknown user|"), T0 + 3);
	EXPECT_EV(s, ev, FIX_EV_LOGOUT);
	SV_EQ(ev.logout.text, "Unknown user");
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	T_EQ_STR(ev.closed.code, "rejected");
	T_EQ_STR(ev.closed.reason, "exchange logged us out: Unknown user");
	T_EQ_INT(ev.closed.by_peer, 1);
	EXPECT_NO_OUT(s);
	fix_session_free(s);
}

static void test_first_message_not_logon(void)
{
	struct fix_session_cfg c;
	struct fix_event ev;
	cfg_client(&c, NULL);
	struct fix_session *s = fix_session_new(&c);
	fix_session_start(s, T0);
	fix_session_out_consume(s, 1000);
	FEED(s, W(FROM_EXC("0", 1, T0S)), T0 + 1000);
	EXPECT_OUT(s, W(FROM_CLI("5", 2, "20231114-22:13:21.000") "58=expected a Logon|"));
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	T_EQ_STR(ev.closed.code, "protocol");
	T_EQ_STR(ev.closed.reason, "expected a Logon reply, received MsgType 0");
	fix_session_free(s);
}

static void test_seq_too_high_resend(void)
{
	struct fix_event ev;
	struct fix_session *s = client_logged_on(NULL);
	const char *t1 = TS(1000), *t2 = TS(2000);
	FEED(s, W(FROM_EXC("8", 5, "%s") "37=O5|", t1), T0 + 1000);
	EXPECT_NO_EV(s);
	EXPECT_OUT(s, W(FROM_CLI("2", 2, "%s") "7=2|16=0|", t1));
	T_EQ_INT(fix_session_next_in_seq(s), 2);
	/* Another early message while the resend is outstanding: no new request. */
	FEED(s, W(FROM_EXC("8", 6, "%s") "37=O6|", t1), T0 + 1000);
	EXPECT_NO_OUT(s);
	EXPECT_NO_EV(s);
	/* The peer's answer: GapFill over 2..4, then 5 and 6 again. */
	FEED(s,
	     CAT(W(FROM_EXC("4", 2, "%s") "43=Y|122=%s|123=Y|36=5|", t2, t2),
		 CAT(W(FROM_EXC("8", 5, "%s") "43=Y|122=%s|37=O5|", t2, t1),
		     W(FROM_EXC("8", 6, "%s") "43=Y|122=%s|37=O6|", t2, t1))),
	     T0 + 2000);
	EXPECT_EV(s, ev, FIX_EV_APP);
	SV_EQ(ev.app.msg_type, "8");
	T_EQ_INT(ev.msg->seq_num, 5);
	EXPECT_EV(s, ev, FIX_EV_APP);
	T_EQ_INT(ev.msg->seq_num, 6);
	EXPECT_NO_EV(s);
	EXPECT_NO_OUT(s);
	T_EQ_INT(fix_session_next_in_seq(s), 7);
	/* The gap is closed: a later gap asks again. */
	FEED(s, W(FROM_EXC("8", 7, "%s"), t2), T0 + 2000);
	EXPECT_EV(s, ev, FIX_EV_APP);
	FEED(s, W(FROM_EXC("8", 9, "%s"), t2), T0 + 2000);
	EXPECT_OUT(s, W(FROM_CLI("2", 3, "%s") "7=8|16=0|", t2));
	fix_session_free(s);
}

static void test_seq_too_low(void)
{
	struct fix_event ev;
	struct fix_session *s = client_logged_on(NULL);
	FEED(s, W(FROM_EXC("0", 2, T0S)), T0);
	FEED(s, W(FROM_EXC("0", 3, T0S)), T0);
	/* 43=Y and already seen: ignored silently. */
	FEED(s, W(FROM_EXC("8", 2, T0S) "43=Y|122=" T0S "|"), T0);
	EXPECT_NO_EV(s);
	EXPECT_NO_OUT(s);
	/* Without 43=Y: fatal. */
	FEED(s, W(FROM_EXC("0", 2, T0S)), T0);
	EXPECT_OUT(s, W(FROM_CLI("5", 2, T0S) "58=MsgSeqNum too low, expecting 4 but received 2|"));
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	T_EQ_STR(ev.closed.code, "protocol");
	T_EQ_STR(ev.closed.reason, "MsgSeqNum too low: expected 4, received 2");
	T_EQ_INT(ev.closed.cause, FIX_CLOSE_SEQ_TOO_LOW);
	T_EQ_INT(fix_session_close_cause(s), FIX_CLOSE_SEQ_TOO_LOW);
	fix_session_free(s);
}

/* The peer's Logout refusing our number is told apart by its cause, not by
 * matching the reason text; other ends are FIX_CLOSE_OTHER. */
static void test_close_cause(void)
{
	struct fix_event ev;
	struct fix_session *s = client_logged_on(NULL);
	T_EQ_INT(fix_session_close_cause(s), FIX_CLOSE_OTHER);
	FEED(s, W(FROM_EXC("5", 2, T0S) "58=MsgSeqNum too low, expecting 9 but received 2|"), T0);
	EXPECT_EV(s, ev, FIX_EV_LOGOUT);
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	T_EQ_STR(ev.closed.code, "logged_out");
	T_EQ_STR(ev.closed.reason,
		 "exchange logged us out: MsgSeqNum too low, expecting 9 but received 2");
	T_EQ_INT(ev.closed.cause, FIX_CLOSE_PEER_SEQ_TOO_LOW);
	T_EQ_INT(fix_session_close_cause(s), FIX_CLOSE_PEER_SEQ_TOO_LOW);
	fix_session_free(s);

	/* the same answer to our Logon: rejected, same cause */
	struct fix_session_cfg c;
	cfg_client(&c, NULL);
	s = fix_session_new(&c);
	fix_session_start(s, T0);
	EXPECT_OUT(s, W(FROM_CLI("A", 1, T0S) "98=0|108=30|"));
	FEED(s, W(FROM_EXC("5", 1, T0S) "58=MsgSeqNum too low, expecting 9 but received 1|"), T0);
	EXPECT_EV(s, ev, FIX_EV_LOGOUT);
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	T_EQ_STR(ev.closed.code, "rejected");
	T_EQ_INT(ev.closed.cause, FIX_CLOSE_PEER_SEQ_TOO_LOW);
	fix_session_free(s);

	s = client_logged_on(NULL);
	FEED(s, W(FROM_EXC("5", 2, T0S) "58=maintenance|"), T0);
	EXPECT_EV(s, ev, FIX_EV_LOGOUT);
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	T_EQ_INT(ev.closed.cause, FIX_CLOSE_OTHER);
	fix_session_free(s);

	s = client_logged_on(NULL);
	fix_session_tick(s, T0 + 40000); /* TestRequest */
	fix_session_tick(s, T0 + 80000); /* unanswered */
	while (fix_session_poll_event(s, &ev) && ev.type != FIX_EV_CLOSED)
		;
	T_EQ_INT(ev.type, FIX_EV_CLOSED);
	T_EQ_STR(ev.closed.code, "timeout");
	T_EQ_INT(ev.closed.cause, FIX_CLOSE_OTHER);
	fix_session_free(s);
}

static void test_sequence_reset_gap_fill(void)
{
	struct fix_session *s = client_logged_on(NULL);
	FEED(s, W(FROM_EXC("4", 2, T0S) "43=Y|122=" T0S "|123=Y|36=10|"), T0);
	T_EQ_INT(fix_session_next_in_seq(s), 10);
	EXPECT_NO_OUT(s);
	/* A GapFill that would move backwards is rejected (its number is used). */
	FEED(s, W(FROM_EXC("4", 10, T0S) "123=Y|36=8|"), T0);
	EXPECT_OUT(s, W(FROM_CLI("3", 2, T0S) "45=10|371=36|372=4|373=5|58=NewSeqNo 8 is lower "
					      "than the expected MsgSeqNum 11|"));
	T_EQ_INT(fix_session_next_in_seq(s), 11);
	/* Missing NewSeqNo. */
	FEED(s, W(FROM_EXC("4", 11, T0S) "123=Y|"), T0);
	EXPECT_OUT(s, W(FROM_CLI("3", 3, T0S) "45=11|371=36|372=4|373=1|58=Required tag missing|"));
	T_EQ_INT(fix_session_state(s), FIX_ST_ACTIVE);
	fix_session_free(s);
}

static void test_sequence_reset_reset_mode(void)
{
	struct fix_session *s = client_logged_on(NULL);
	/* Reset mode ignores MsgSeqNum (here far too high). */
	FEED(s, W(FROM_EXC("4", 99, T0S) "36=20|"), T0);
	T_EQ_INT(fix_session_next_in_seq(s), 20);
	EXPECT_NO_OUT(s);
	FEED(s, W(FROM_EXC("4", 3, T0S) "123=N|36=5|"), T0);
	EXPECT_OUT(s, W(FROM_CLI("3", 2, T0S) "45=3|371=36|372=4|373=5|58=NewSeqNo 5 is lower than "
					      "the expected MsgSeqNum 20|"));
	T_EQ_INT(fix_session_next_in_seq(s), 20);
	T_EQ_INT(fix_session_state(s), FIX_ST_ACTIVE);
	fix_session_free(s);
}

/* After our Logout nothing unasked goes out (no Heartbeat, TestRequest,
 * echo or Reject), a ResendRequest is still answered, and the logout timeout
 * still ends the session on time. */
static void test_silent_after_own_logout(void)
{
	struct fix_event ev;
	struct fix_store_mem ms;
	struct fix_session_cfg c;
	fix_store_mem_init(&ms, 1, 1, 0);
	cfg_client(&c, &ms.st);
	c.logout_timeout_ms = 100000;
	struct fix_session *s = fix_session_new(&c);
	fix_session_start(s, T0);
	EXPECT_OUT(s, W(FROM_CLI("A", 1, T0S) "98=0|108=30|"));
	FEED(s, W(FROM_EXC("A", 1, T0S) "98=0|108=30|"), T0);
	EXPECT_EV(s, ev, FIX_EV_LOGON);
	struct fix_out_field f[] = {{11, "ord1", 4}};
	T_EQ_INT(fix_session_send(s, "D", f, 1, T0), 0);
	EXPECT_OUT(s, W(FROM_CLI("D", 2, T0S) "11=ord1|"));
	T_EQ_INT(fix_session_logout(s, NULL, T0 + 1000), 0);
	EXPECT_OUT(s, W(FROM_CLI("5", 3, "%s"), TS(1000)));
	/* Only the logout timeout is armed: no heartbeat at T0 + 31 s. */
	T_EQ_INT(fix_session_deadline(s), T0 + 101000);
	/* The peer ignores the Logout but keeps heartbeating and testing us. */
	for (int i = 1; i <= 3; i++) {
		int64_t t = 30000 * i;
		FEED(s, W(FROM_EXC("0", % d, "%s"), i + 1, TS(t)), T0 + t);
		fix_session_tick(s, T0 + t + 1000);
		EXPECT_NO_OUT(s);
		EXPECT_NO_EV(s);
	}
	FEED(s, W(FROM_EXC("1", 5, "%s") "112=hello|", TS(91000)), T0 + 91000);
	EXPECT_NO_OUT(s);
	/* A bad message gets no Reject either. */
	FEED(s, W(FROM_EXC("ZZ", 6, "%s"), TS(92000)), T0 + 92000);
	EXPECT_NO_OUT(s);
	/* A ResendRequest is answered. */
	FEED(s, W(FROM_EXC("2", 7, "%s") "7=2|16=2|", TS(93000)), T0 + 93000);
	EXPECT_OUT(s, W(FROM_CLI("D", 2, "%s") "43=Y|122=" T0S "|11=ord1|", TS(93000)));
	fix_session_tick(s, T0 + 100999);
	EXPECT_NO_OUT(s);
	EXPECT_NO_EV(s);
	fix_session_tick(s, T0 + 101000);
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	T_EQ_STR(ev.closed.code, "logged_out");
	EXPECT_NO_OUT(s);
	fix_session_free(s);
	fix_store_mem_free(&ms);
}

/* A NewSeqNo more than 2^31 above the expected number is refused with a
 * Reject naming tag 36; the session and the expected number stay usable. */
static void test_sequence_reset_implausible(void)
{
	struct fix_session *s = client_logged_on(NULL);
	FEED(s, W(FROM_EXC("4", 2, T0S) "123=Y|36=18446744073709551000|"), T0);
	EXPECT_OUT(s, W(FROM_CLI("3", 2, T0S) "45=2|371=36|372=4|373=5|58=NewSeqNo "
					      "18446744073709551000 is implausibly far above the "
					      "expected MsgSeqNum 3|"));
	T_EQ_INT(fix_session_next_in_seq(s), 3);
	/* Reset mode too. */
	FEED(s, W(FROM_EXC("4", 1, T0S) "36=2147483652|"), T0);
	EXPECT_OUT(s, W(FROM_CLI("3", 3, T0S) "45=1|371=36|372=4|373=5|58=NewSeqNo 2147483652 is "
					      "implausibly far above the expected MsgSeqNum 3|"));
	T_EQ_INT(fix_session_next_in_seq(s), 3);
	/* Exactly 2^31 above is still taken. */
	FEED(s, W(FROM_EXC("4", 1, T0S) "36=2147483651|"), T0);
	EXPECT_NO_OUT(s);
	T_EQ_INT(fix_session_next_in_seq(s), 2147483651);
	T_EQ_INT(fix_session_state(s), FIX_ST_ACTIVE);
	FEED(s, W(FROM_EXC("0", 2147483651, T0S)), T0);
	EXPECT_NO_OUT(s);
	T_EQ_INT(fix_session_next_in_seq(s), 2147483652);
	fix_session_free(s);
}

static void test_answer_resend_request(void)
{
	struct fix_store_mem ms;
	fix_store_mem_init(&ms, 1, 1, 0);
	struct fix_session *s = client_logged_on(&ms.st);
	struct fix_out_field f[] = {{11, "ord1", 4}, {55, "EUR/USD", 7}};
	const char *t1 = TS(1000), *t2 = TS(2000), *t3 = TS(3000);
	T_EQ_INT(fix_session_send(s, "D", f, 2, T0 + 1000), 0);
	EXPECT_OUT(s, W(FROM_CLI("D", 2, "%s") "11=ord1|55=EUR/USD|", t1));
	fix_session_tick(s, T0 + 31000); /* Heartbeat 3 (admin) */
	EXPECT_OUT(s, W(FROM_CLI("0", 3, "%s"), TS(31000)));
	FEED(s, W(FROM_EXC("0", 2, "%s"), TS(31000)), T0 + 31000);
	f[0].val = "ord2";
	T_EQ_INT(fix_session_send(s, "D", f, 2, T0 + 32000), 0);
	fix_session_out_consume(s, 4096);
	T_EQ_INT(ms.n, 2);
	T_EQ_INT(ms.next_out, 5);
	/* The exchange asks for everything from 2 on. */
	FEED(s, W(FROM_EXC("2", 3, "%s") "7=2|16=0|", t3), T0 + 33000);
	(void)t2;
	const char *now = TS(33000);
	EXPECT_OUT(
	    s, CAT(CAT(W(FROM_CLI("D", 2, "%s") "43=Y|122=%s|11=ord1|55=EUR/USD|", now, t1),
		       W(FROM_CLI("4", 3, "%s") "43=Y|122=%s|123=Y|36=4|", now, now)),
		   W(FROM_CLI("D", 4, "%s") "43=Y|122=%s|11=ord2|55=EUR/USD|", now, TS(32000))));
	T_EQ_INT(fix_session_next_out_seq(s), 5);
	/* A bounded range past what was sent: only up to 4. */
	FEED(s, W(FROM_EXC("2", 4, "%s") "7=3|16=99|", now), T0 + 33000);
	EXPECT_OUT(
	    s, CAT(W(FROM_CLI("4", 3, "%s") "43=Y|122=%s|123=Y|36=4|", now, now),
		   W(FROM_CLI("D", 4, "%s") "43=Y|122=%s|11=ord2|55=EUR/USD|", now, TS(32000))));
	fix_session_free(s);
	fix_store_mem_free(&ms);
}

static void test_resend_without_store(void)
{
	struct fix_session *s = client_logged_on(NULL);
	struct fix_out_field f[] = {{11, "ord1", 4}};
	T_EQ_INT(fix_session_send(s, "D", f, 1, T0), 0);
	T_EQ_INT(fix_session_send(s, "D", f, 1, T0), 0);
	fix_session_out_consume(s, 4096);
	FEED(s, W(FROM_EXC("2", 2, T0S) "7=1|16=0|"), T0);
	EXPECT_OUT(s, W(FROM_CLI("4", 1, T0S) "43=Y|122=" T0S "|123=Y|36=4|"));
	/* Nothing sent in that range: nothing to answer. */
	FEED(s, W(FROM_EXC("2", 3, T0S) "7=9|16=0|"), T0);
	EXPECT_NO_OUT(s);
	/* Missing BeginSeqNo. */
	FEED(s, W(FROM_EXC("2", 4, T0S) "16=0|"), T0);
	EXPECT_OUT(s, W(FROM_CLI("3", 4, T0S) "45=4|371=7|372=2|373=1|58=Required tag missing|"));
	fix_session_free(s);
}

static void test_heartbeat_and_test_request_timeout(void)
{
	struct fix_event ev;
	struct fix_session *s = client_logged_on(NULL);
	T_EQ_INT(fix_session_deadline(s), T0 + 30000);
	fix_session_tick(s, T0 + 29999);
	EXPECT_NO_OUT(s);
	fix_session_tick(s, T0 + 30000);
	EXPECT_OUT(s, W(FROM_CLI("0", 2, "20231114-22:13:50.000")));
	/* Nothing received for 1.2 x 30 s: TestRequest. */
	T_EQ_INT(fix_session_deadline(s), T0 + 36000);
	fix_session_tick(s, T0 + 36000);
	EXPECT_OUT(s, W(FROM_CLI("1", 3, "20231114-22:13:56.000") "112=TEST1|"));
	T_EQ_INT(fix_session_deadline(s), T0 + 66000);
	fix_session_tick(s, T0 + 65999);
	EXPECT_NO_EV(s);
	EXPECT_NO_OUT(s);
	fix_session_tick(s, T0 + 66000);
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	T_EQ_STR(ev.closed.code, "timeout");
	T_EQ_STR(ev.closed.reason, "heartbeat timeout: no reply to TestRequest within 30 s");
	fix_session_free(s);

	/* The same, answered in time: the session goes on. */
	s = client_logged_on(NULL);
	fix_session_tick(s, T0 + 30000);
	fix_session_tick(s, T0 + 36000);
	fix_session_out_consume(s, 4096);
	FEED(s, W(FROM_EXC("0", 2, "20231114-22:13:57.000") "112=TEST1|"), T0 + 37000);
	fix_session_tick(s, T0 + 66000);
	EXPECT_NO_EV(s);
	EXPECT_OUT(s, W(FROM_CLI("0", 4, "20231114-22:14:26.000")));
	T_EQ_INT(fix_session_deadline(s), T0 + 37000 + 36000);
	fix_session_free(s);
}

/* Two clocks: deadlines follow now_ms (the timer clock) whatever the wall
 * clock does; 52 and a GapFill's 122 follow the wall clock handed over. */
static void test_wall_clock_apart_from_timers(void)
{
	struct fix_session *s = client_logged_on(NULL);
	T_EQ_INT(fix_session_deadline(s), T0 + 30000);
	/* The wall clock steps back an hour at T0 + 10 s. */
	fix_session_set_clock(s, T0 + 10000, T0 + 10000 - 3600000);
	T_EQ_INT(fix_session_deadline(s), T0 + 30000);
	fix_session_tick(s, T0 + 30000);
	EXPECT_OUT(s, W(FROM_CLI("0", 2, "20231114-21:13:50.000")));
	/* The peer's 52 is checked against the wall clock too. */
	FEED(s, W(FROM_EXC("0", 2, "20231114-21:13:50.000")), T0 + 30000);
	EXPECT_NO_OUT(s);
	T_EQ_INT(fix_session_state(s), FIX_ST_ACTIVE);
	FEED(s, W(FROM_EXC("2", 3, "20231114-21:13:50.000") "7=1|16=0|"), T0 + 30000);
	EXPECT_OUT(s, W(FROM_CLI("4", 1, "20231114-21:13:50.000") "43=Y|122=20231114-21:13:50.000|"
								  "123=Y|36=3|"));
	T_EQ_INT(fix_session_deadline(s), T0 + 60000);
	fix_session_free(s);
}

static void test_test_request_echo(void)
{
	struct fix_session *s = client_logged_on(NULL);
	FEED(s, W(FROM_EXC("1", 2, T0S) "112=ping 42|"), T0 + 7);
	EXPECT_OUT(s, W(FROM_CLI("0", 2, "20231114-22:13:20.007") "112=ping 42|"));
	EXPECT_NO_EV(s);
	fix_session_free(s);
}

static void test_garbled_frames_dropped(void)
{
	struct tracelog tl = {{0}, 0, 0};
	struct fix_session_cfg c;
	struct fix_event ev;
	cfg_client(&c, NULL);
	c.trace = tl_trace;
	c.trace_ud = &tl;
	struct fix_session *s = fix_session_new(&c);
	fix_session_start(s, T0);
	fix_session_out_consume(s, 4096);
	FEED(s, W(FROM_EXC("A", 1, T0S) "98=0|108=30|"), T0);
	EXPECT_EV(s, ev, FIX_EV_LOGON);
	char bad[512];
	/* Wrong CheckSum. */
	snprintf(bad, sizeof(bad), "%s", W(FROM_EXC("8", 2, T0S) "37=bad|"));
	bad[strlen(bad) - 2] = bad[strlen(bad) - 2] == '0' ? '1' : '0';
	FEED(s, bad, T0);
	/* BodyLength pointing into the middle of a field. */
	FEED(s, "8=FIX.4.4\0019=5\00135=8\00149=X\00110=000\001", T0);
	/* Line noise. */
	FEED(s, "garbage\001", T0);
	EXPECT_NO_EV(s);
	EXPECT_NO_OUT(s);
	T_OK(tl.garbled >= 3);
	T_EQ_INT(fix_session_next_in_seq(s), 2);
	FEED(s, W(FROM_EXC("8", 2, T0S) "37=good|"), T0);
	EXPECT_EV(s, ev, FIX_EV_APP);
	SV_EQ(((struct fix_sv){fix_msg_get(ev.msg, 37, &ev.app.msg_type.len), ev.app.msg_type.len}),
	      "good");
	T_EQ_INT(fix_session_state(s), FIX_ST_ACTIVE);
	fix_session_free(s);
}

/* A well-formed frame in another FIX version: W's frame with a new
 * BeginString and its CheckSum recomputed. */
static const char *other_version(const char *w, const char *version)
{
	static char out[1024];
	const char *body = strchr(w, '\001') + 1;
	const char *trailer = strstr(w, "\00110=") + 1;
	int n = snprintf(out, sizeof(out), "8=%s\001%.*s", version, (int)(trailer - body), body);
	unsigned sum = 0;
	for (int i = 0; i < n; i++)
		sum += (unsigned char)out[i];
	snprintf(out + n, sizeof(out) - (size_t)n, "10=%03u\001", sum % 256);
	return out;
}

static void test_wrong_begin_string(void)
{
	struct fix_event ev;
	struct fix_session *s = client_logged_on(NULL);
	FEED(s, other_version(W(FROM_EXC("0", 2, T0S)), "FIX.4.2"), T0);
	EXPECT_OUT(s, W(FROM_CLI("5", 2, T0S) "58=wrong BeginString, expected FIX.4.4|"));
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	T_EQ_STR(ev.closed.code, "protocol");
	T_EQ_STR(ev.closed.reason, "wrong BeginString FIX.4.2, expected FIX.4.4");
	fix_session_free(s);

	/* Even when the rest of the frame is broken too. */
	s = client_logged_on(NULL);
	FEED(s, "8=FIXT.1.1\0019=5\00135=0\00110=000\001", T0);
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	T_EQ_STR(ev.closed.reason, "wrong BeginString FIXT.1.1, expected FIX.4.4");
	fix_session_free(s);
}

/* begin_strings = {"FIX.4.4", "FIXT.1.1"}: market data under FIXT.1.1
 * (BetaTrader's C++ gateway) is delivered, in sequence, with its version in
 * field 0; a session message under it still ends the session; a frame under
 * a listed version with a bad CheckSum is garbled, not fatal. */
static void test_begin_strings(void)
{
	struct fix_event ev;
	struct tracelog tl = {.len = 0};
	struct fix_session_cfg c;
	cfg_client(&c, NULL);
	c.begin_strings = "FIX.4.4 FIXT.1.1";
	c.trace = tl_trace;
	c.trace_ud = &tl;
	struct fix_session *s = fix_session_new(&c);
	fix_session_start(s, T0);
	EXPECT_OUT(s, W(FROM_CLI("A", 1, T0S) "98=0|108=30|"));
	FEED(s, W(FROM_EXC("A", 1, T0S) "98=0|108=30|"), T0);
	EXPECT_EV(s, ev, FIX_EV_LOGON);
	const char *md =
	    other_version(W(FROM_EXC("W", 2, T0S) "55=EURUSD|268=1|269=0|270=1.1|"), "FIXT.1.1");
	FEED(s, md, T0);
	EXPECT_EV(s, ev, FIX_EV_APP);
	T_EQ_MEM(ev.msg->buf, ev.msg->len, md, strlen(md));
	T_EQ_INT(ev.msg->fields[0].tag, 8);
	T_EQ_MEM(ev.msg->buf + ev.msg->fields[0].off, ev.msg->fields[0].len, "FIXT.1.1", 8);
	T_OK(fix_msg_is(ev.msg, "W"));
	T_EQ_INT(ev.msg->seq_num, 2);
	EXPECT_NO_EV(s);
	/* FIX.4.4 goes on as before, numbers continue */
	FEED(s, W(FROM_EXC("8", 3, T0S) "37=1|11=5|17=1|39=0|"), T0);
	EXPECT_EV(s, ev, FIX_EV_APP);
	EXPECT_NO_EV(s);
	EXPECT_NO_OUT(s);
	/* garbled under FIXT.1.1: dropped, no number used */
	int garbled = tl.garbled;
	FEED(s, "8=FIXT.1.1\0019=5\00135=0\00110=000\001", T0);
	EXPECT_NO_EV(s);
	T_EQ_INT(tl.garbled, garbled + 1);
	T_EQ_INT(fix_session_state(s), FIX_ST_ACTIVE);
	/* a Heartbeat under FIXT.1.1 is refused as any other version */
	FEED(s, other_version(W(FROM_EXC("0", 4, T0S)), "FIXT.1.1"), T0);
	EXPECT_OUT(s, W(FROM_CLI("5", 2, T0S) "58=wrong BeginString, expected FIX.4.4|"));
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	T_EQ_STR(ev.closed.code, "protocol");
	T_EQ_STR(ev.closed.reason,
		 "wrong BeginString FIXT.1.1 on a session message (35=0), expected FIX.4.4");
	fix_session_free(s);

	/* an unlisted version is as fatal as without the option */
	s = fix_session_new(&c);
	fix_session_start(s, T0);
	EXPECT_OUT(s, W(FROM_CLI("A", 1, T0S) "98=0|108=30|"));
	FEED(s, W(FROM_EXC("A", 1, T0S) "98=0|108=30|"), T0);
	EXPECT_EV(s, ev, FIX_EV_LOGON);
	FEED(s, other_version(W(FROM_EXC("W", 2, T0S) "55=EURUSD|"), "FIX.4.2"), T0);
	EXPECT_OUT(s, W(FROM_CLI("5", 2, T0S) "58=wrong BeginString, expected FIX.4.4|"));
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	T_EQ_STR(ev.closed.reason, "wrong BeginString FIX.4.2, expected FIX.4.4");
	fix_session_free(s);

	/* values the framer could never take are refused at creation */
	const char *bad[] = {"FIXT.1.1,FIX.4.2", "XFIX.1", "FIXT.1.1.2.3.4.5.6.7", "FI"};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		c.begin_strings = bad[i];
		T_OK(fix_session_new(&c) == NULL);
	}
}

/* A listed version may hold lower-case letters (the framer and
 * begin_strings_ok take them): its frames are delivered, not dropped as
 * line noise; and an unlisted one such as "FIXt.1.1" is as fatal as any
 * other version. */
static void test_begin_strings_lower_case(void)
{
	struct fix_event ev;
	struct tracelog tl = {.len = 0};
	struct fix_session_cfg c;
	cfg_client(&c, NULL);
	c.begin_strings = "FIX.4.4 FIXt.1.1";
	c.trace = tl_trace;
	c.trace_ud = &tl;
	struct fix_session *s = fix_session_new(&c);
	T_OK(s != NULL);
	fix_session_start(s, T0);
	EXPECT_OUT(s, W(FROM_CLI("A", 1, T0S) "98=0|108=30|"));
	FEED(s, W(FROM_EXC("A", 1, T0S) "98=0|108=30|"), T0);
	EXPECT_EV(s, ev, FIX_EV_LOGON);
	const char *md = other_version(W(FROM_EXC("W", 2, T0S) "55=EURUSD|"), "FIXt.1.1");
	FEED(s, md, T0);
	EXPECT_EV(s, ev, FIX_EV_APP);
	T_EQ_MEM(ev.msg->buf + ev.msg->fields[0].off, ev.msg->fields[0].len, "FIXt.1.1", 8);
	T_EQ_INT(tl.garbled, 0);
	T_EQ_INT(fix_session_next_in_seq(s), 3);
	fix_session_free(s);

	s = client_logged_on(NULL);
	FEED(s, other_version(W(FROM_EXC("W", 2, T0S) "55=EURUSD|"), "FIXt.1.1"), T0);
	EXPECT_OUT(s, W(FROM_CLI("5", 2, T0S) "58=wrong BeginString, expected FIX.4.4|"));
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	T_EQ_STR(ev.closed.reason, "wrong BeginString FIXt.1.1, expected FIX.4.4");
	fix_session_free(s);
}

/* Without begin_strings a FIXT.1.1 application message ends the session,
 * as before the option existed. */
static void test_begin_strings_default(void)
{
	struct fix_event ev;
	struct fix_session *s = client_logged_on(NULL);
	FEED(s, other_version(W(FROM_EXC("W", 2, T0S) "55=EURUSD|"), "FIXT.1.1"), T0);
	EXPECT_OUT(s, W(FROM_CLI("5", 2, T0S) "58=wrong BeginString, expected FIX.4.4|"));
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	T_EQ_STR(ev.closed.code, "protocol");
	T_EQ_STR(ev.closed.reason, "wrong BeginString FIXT.1.1, expected FIX.4.4");
	fix_session_free(s);
}

static void test_wrong_comp_id(void)
{
	struct fix_event ev;
	struct fix_session *s = client_logged_on(NULL);
	FEED(s, W("35=0|49=INTRUDER|56=" CLI "|34=2|52=" T0S "|"), T0);
	EXPECT_OUT(s, CAT(W(FROM_CLI("3", 2, T0S) "45=2|371=49|372=0|373=9|58=CompID problem|"),
			  W(FROM_CLI("5", 3, T0S) "58=CompID problem|")));
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	T_EQ_STR(ev.closed.code, "protocol");
	T_EQ_STR(ev.closed.reason, "wrong CompID: expected 49=BETA_EXCHANGE 56=CLIENT0001, "
				   "received 49=INTRUDER 56=CLIENT0001");
	fix_session_free(s);

	s = client_logged_on(NULL);
	FEED(s, W("35=0|49=" EXC "|56=SOMEONE|34=2|52=" T0S "|"), T0);
	EXPECT_OUT(s, CAT(W(FROM_CLI("3", 2, T0S) "45=2|371=56|372=0|373=9|58=CompID problem|"),
			  W(FROM_CLI("5", 3, T0S) "58=CompID problem|")));
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	fix_session_free(s);
}

/* check_comp_id = "session": a report stamped 49=1 56=7 (BetaTrader's C++
 * gateway) is delivered; a session message with them still ends it. */
static void test_comp_id_session_only(void)
{
	struct fix_event ev;
	struct fix_session_cfg c;
	cfg_client(&c, NULL);
	c.comp_id_session_only = 1;
	struct fix_session *s = fix_session_new(&c);
	fix_session_start(s, T0);
	EXPECT_OUT(s, W(FROM_CLI("A", 1, T0S) "98=0|108=30|"));
	FEED(s, W(FROM_EXC("A", 1, T0S) "98=0|108=30|"), T0);
	EXPECT_EV(s, ev, FIX_EV_LOGON);
	FEED(s, W("35=8|49=1|56=7|34=2|52=" T0S "|37=1|11=5|17=1|39=0|"), T0);
	EXPECT_EV(s, ev, FIX_EV_APP);
	EXPECT_NO_EV(s);
	T_EQ_INT(fix_session_state(s), FIX_ST_ACTIVE);
	FEED(s, W("35=0|49=1|56=" CLI "|34=3|52=" T0S "|"), T0);
	EXPECT_OUT(s, CAT(W(FROM_CLI("3", 2, T0S) "45=3|371=49|372=0|373=9|58=CompID problem|"),
			  W(FROM_CLI("5", 3, T0S) "58=CompID problem|")));
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	T_EQ_STR(ev.closed.code, "protocol");
	fix_session_free(s);
}

/* logon_seq = "adopt": a Logon reply numbered below or above what we expect
 * is in sequence (a venue that forgot its counter); strict asks or fails. */
static void test_logon_seq_adopt(void)
{
	struct fix_event ev;
	struct fix_session_cfg c;
	cfg_client(&c, NULL);
	c.logon_seq_adopt = 1;
	struct fix_session *s = fix_session_new(&c);
	fix_session_start(s, T0);
	EXPECT_OUT(s, W(FROM_CLI("A", 1, T0S) "98=0|108=30|"));
	FEED(s, W(FROM_EXC("A", 7, T0S) "98=0|108=30|"), T0);
	EXPECT_EV(s, ev, FIX_EV_LOGON);
	EXPECT_NO_EV(s);
	EXPECT_NO_OUT(s); /* no ResendRequest for 1..6 */
	FEED(s, W(FROM_EXC("8", 8, T0S) "37=1|"), T0);
	EXPECT_EV(s, ev, FIX_EV_APP);
	T_EQ_INT(fix_session_state(s), FIX_ST_ACTIVE);
	fix_session_free(s);

	/* strict (the default): the same reply opens a gap */
	cfg_client(&c, NULL);
	s = fix_session_new(&c);
	fix_session_start(s, T0);
	EXPECT_OUT(s, W(FROM_CLI("A", 1, T0S) "98=0|108=30|"));
	FEED(s, W(FROM_EXC("A", 7, T0S) "98=0|108=30|"), T0);
	EXPECT_EV(s, ev, FIX_EV_LOGON);
	EXPECT_OUT(s, W(FROM_CLI("2", 2, T0S) "7=1|16=0|"));
	fix_session_free(s);
}

static void test_logout_by_us(void)
{
	struct fix_event ev;
	struct fix_session *s = client_logged_on(NULL);
	T_EQ_INT(fix_session_logout(s, "bye", T0 + 1000), 0);
	T_EQ_INT(fix_session_state(s), FIX_ST_LOGOUT_SENT);
	EXPECT_OUT(s, W(FROM_CLI("5", 2, "20231114-22:13:21.000") "58=bye|"));
	T_EQ_INT(fix_session_deadline(s), T0 + 11000);
	T_EQ_INT(fix_session_logout(s, NULL, T0 + 1000), FIX_SESSION_E_STATE);
	FEED(s, W(FROM_EXC("5", 2, "20231114-22:13:21.000")), T0 + 1500);
	EXPECT_EV(s, ev, FIX_EV_LOGOUT);
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	T_EQ_STR(ev.closed.code, "logged_out");
	T_EQ_STR(ev.closed.reason, "logged out");
	T_EQ_INT(ev.closed.by_peer, 0);
	EXPECT_NO_OUT(s);
	fix_session_free(s);

	/* No reply: the logout timeout ends it. */
	s = client_logged_on(NULL);
	fix_session_logout(s, NULL, T0 + 1000);
	EXPECT_OUT(s, W(FROM_CLI("5", 2, "20231114-22:13:21.000")));
	fix_session_tick(s, T0 + 10999);
	EXPECT_NO_EV(s);
	fix_session_tick(s, T0 + 11000);
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	T_EQ_STR(ev.closed.code, "logged_out");
	T_EQ_STR(ev.closed.reason, "logged out (no Logout reply within 10 s)");
	fix_session_free(s);
}

static void test_logout_by_peer(void)
{
	struct fix_event ev;
	struct fix_session *s = client_logged_on(NULL);
	FEED(s, W(FROM_EXC("5", 2, T0S) "58=maintenance|"), T0 + 2000);
	EXPECT_OUT(s, W(FROM_CLI("5", 2, "20231114-22:13:22.000")));
	EXPECT_EV(s, ev, FIX_EV_LOGOUT);
	SV_EQ(ev.logout.text, "maintenance");
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	T_EQ_STR(ev.closed.code, "logged_out");
	T_EQ_STR(ev.closed.reason, "exchange logged us out: maintenance");
	T_EQ_INT(ev.closed.by_peer, 1);
	T_EQ_INT(fix_session_state(s), FIX_ST_CLOSED);
	T_EQ_INT(fix_session_send(s, "D", NULL, 0, T0), FIX_SESSION_E_STATE);
	fix_session_free(s);
}

static void test_user_request_and_response(void)
{
	struct fix_store_mem ms;
	struct tracelog tl = {{0}, 0, 0};
	struct fix_session_cfg c;
	struct fix_event ev;
	fix_store_mem_init(&ms, 1, 1, 0);
	cfg_client(&c, &ms.st);
	c.trace = tl_trace;
	c.trace_ud = &tl;
	struct fix_session *s = fix_session_new(&c);
	T_EQ_INT(fix_session_user_request(s, "1", 1, CLI, "pw", T0), FIX_SESSION_E_STATE);
	fix_session_start(s, T0);
	fix_session_out_consume(s, 4096);
	FEED(s, W(FROM_EXC("A", 1, T0S) "98=0|108=30|"), T0);
	EXPECT_EV(s, ev, FIX_EV_LOGON);

	char pw[] = "s3cret";
	T_EQ_INT(fix_session_user_request(s, "u1", 1, CLI, pw, T0), 0);
	size_t n;
	const char *o = fix_session_out(s, &n);
	const char *want = W(FROM_CLI("BE", 2, T0S) "923=u1|924=1|553=" CLI "|554=s3cret|");
	T_EQ_MEM(o, n, want, strlen(want));
	/* Written in two pieces: each is wiped as it goes. */
	fix_session_out_consume(s, 10);
	T_OK(o[0] == 0 && o[9] == 0);
	fix_session_out_consume(s, n - 10);
	T_OK(!mem_has(o, n, "s3cret"));
	T_OK(!mem_has(tl.buf, tl.len, "s3cret"));
	T_OK(mem_has(tl.buf, tl.len, "\001554=***\001"));
	T_EQ_INT(ms.n, 0); /* never stored */

	FEED(s, W(FROM_EXC("BF", 2, T0S) "923=u1|553=" CLI "|926=4|927=password incorrect|"), T0);
	EXPECT_EV(s, ev, FIX_EV_USER_RESPONSE);
	T_EQ_INT(ev.user_response.status, 4);
	SV_EQ(ev.user_response.text, "password incorrect");
	SV_EQ(ev.user_response.req_id, "u1");
	FEED(s, W(FROM_EXC("BF", 3, T0S) "923=u2|553=" CLI "|926=1|"), T0);
	EXPECT_EV(s, ev, FIX_EV_USER_RESPONSE);
	T_EQ_INT(ev.user_response.status, 1);
	T_EQ_INT(ev.user_response.text.len, 0);

	/* The log-off variant, without a password. */
	T_EQ_INT(fix_session_user_request(s, "u3", 2, CLI, NULL, T0), 0);
	EXPECT_OUT(s, W(FROM_CLI("BE", 3, T0S) "923=u3|924=2|553=" CLI "|"));
	T_EQ_INT(fix_session_user_request(s, "u\001", 1, CLI, NULL, T0), FIX_SESSION_E_ARG);
	T_EQ_INT(fix_session_user_request(s, "u4", 0, CLI, NULL, T0), FIX_SESSION_E_ARG);
	/* A resend of the BE gap-fills it: no password on the wire again. */
	FEED(s, W(FROM_EXC("2", 4, T0S) "7=2|16=0|"), T0);
	EXPECT_OUT(s, W(FROM_CLI("4", 2, T0S) "43=Y|122=" T0S "|123=Y|36=4|"));
	fix_session_free(s);
	fix_store_mem_free(&ms);
}

static void test_sending_time_accuracy(void)
{
	struct fix_event ev;
	struct fix_session *s = client_logged_on(NULL);
	/* 120 s is inside the default tolerance, 120.001 s is not. */
	FEED(s, W(FROM_EXC("0", 2, "%s"), TS(0)), T0 + 120000);
	EXPECT_NO_OUT(s);
	FEED(s, W(FROM_EXC("0", 3, "%s"), TS(0)), T0 + 120001);
	const char *now = TS(120001);
	EXPECT_OUT(s, CAT(W(FROM_CLI("3", 2, "%s") "45=3|371=52|372=0|373=10|58=SendingTime "
						   "accuracy problem|",
			    now),
			  W(FROM_CLI("5", 3, "%s") "58=SendingTime accuracy problem|", now)));
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	T_EQ_STR(ev.closed.code, "protocol");
	fix_session_free(s);
}

static void test_poss_dup_without_orig_sending_time(void)
{
	struct fix_event ev;
	struct fix_session *s = client_logged_on(NULL);
	FEED(s, W(FROM_EXC("8", 2, T0S) "43=Y|37=x|"), T0);
	EXPECT_OUT(s, W(FROM_CLI("3", 2, T0S) "45=2|371=122|372=8|373=1|58=Required tag missing|"));
	EXPECT_NO_EV(s);
	T_EQ_INT(fix_session_next_in_seq(s), 3);
	/* OrigSendingTime after SendingTime. */
	FEED(s, W(FROM_EXC("8", 3, T0S) "43=Y|122=%s|", TS(1000)), T0);
	EXPECT_OUT(s, CAT(W(FROM_CLI("3", 3, T0S) "45=3|371=122|372=8|373=10|58=SendingTime "
						  "accuracy problem|"),
			  W(FROM_CLI("5", 4, T0S) "58=SendingTime accuracy problem|")));
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	fix_session_free(s);
}

static void test_invalid_msg_type(void)
{
	struct fix_event ev;
	struct fix_session *s = client_logged_on(NULL);
	FEED(s, W(FROM_EXC("ZZ", 2, T0S)), T0);
	EXPECT_OUT(s, W(FROM_CLI("3", 2, T0S) "45=2|371=35|372=ZZ|373=11|58=Invalid MsgType|"));
	EXPECT_NO_EV(s);
	T_EQ_INT(fix_session_next_in_seq(s), 3);
	/* User-defined types pass. */
	FEED(s, W(FROM_EXC("U7", 3, T0S)), T0);
	EXPECT_EV(s, ev, FIX_EV_APP);
	SV_EQ(ev.app.msg_type, "U7");
	fix_session_free(s);
}

static void test_reject_received(void)
{
	struct fix_event ev;
	struct fix_session *s = client_logged_on(NULL);
	FEED(s, W(FROM_EXC("3", 2, T0S) "45=7|371=55|372=D|373=5|58=bad symbol|"), T0);
	EXPECT_EV(s, ev, FIX_EV_REJECT);
	T_EQ_INT(ev.reject.ref_seq_num, 7);
	T_EQ_INT(ev.reject.ref_tag, 55);
	SV_EQ(ev.reject.ref_msg_type, "D");
	T_EQ_INT(ev.reject.reason, 5);
	SV_EQ(ev.reject.text, "bad symbol");
	EXPECT_NO_OUT(s);
	T_EQ_INT(fix_session_state(s), FIX_ST_ACTIVE);
	fix_session_free(s);
}

static void test_app_messages_both_ways(void)
{
	struct fix_store_mem ms;
	struct fix_event ev;
	fix_store_mem_init(&ms, 1, 1, 0);
	struct fix_session *s = client_logged_on(&ms.st);
	struct fix_out_field f[] = {
	    {11, "c1", 2}, {55, "EUR/USD", 7}, {54, "1", 1}, {38, "100", 3}};
	T_EQ_INT(fix_session_send(s, "D", f, 4, T0 + 1), 0);
	const char *want =
	    W(FROM_CLI("D", 2, "20231114-22:13:20.001") "11=c1|55=EUR/USD|54=1|38=100|");
	EXPECT_OUT(s, want);
	T_EQ_INT(ms.n, 1);
	T_EQ_INT(fix_store_mem_at(&ms, 0)->seq, 2);
	T_EQ_MEM(fix_store_mem_at(&ms, 0)->frame, fix_store_mem_at(&ms, 0)->len, want,
		 strlen(want));
	T_EQ_INT(ms.next_out, 3);
	FEED(s, W(FROM_EXC("8", 2, T0S) "37=1|11=c1|39=0|"), T0 + 2);
	EXPECT_EV(s, ev, FIX_EV_APP);
	SV_EQ(ev.app.msg_type, "8");
	size_t n;
	const char *v = fix_msg_get(ev.msg, 11, &n);
	T_EQ_MEM(v, n, "c1", 2);
	T_EQ_INT(ms.next_in, 3);
	/* Misuse is refused before anything is encoded. */
	T_EQ_INT(fix_session_send(s, "0", NULL, 0, T0), FIX_SESSION_E_ARG);
	T_EQ_INT(fix_session_send(s, "A", NULL, 0, T0), FIX_SESSION_E_ARG);
	T_EQ_INT(fix_session_send(s, "", NULL, 0, T0), FIX_SESSION_E_ARG);
	struct fix_out_field bad[] = {{58, "a\001b", 3}};
	T_EQ_INT(fix_session_send(s, "D", bad, 1, T0), FIX_SESSION_E_ARG);
	struct fix_out_field empty[] = {{58, "", 0}};
	T_EQ_INT(fix_session_send(s, "D", empty, 1, T0), FIX_SESSION_E_ARG);
	/* Tags the session writes itself, or that no parser could read back,
	 * would corrupt the frame (found by fuzz_session: 10=O1 in a body). */
	static const uint32_t owned[] = {0, 8, 9, 10, 34, 35, 43, 49, 52, 56, 97, 122, 1000000000u};
	for (size_t i = 0; i < sizeof owned / sizeof owned[0]; i++) {
		struct fix_out_field two[] = {{11, "c2", 2}, {owned[i], "X", 1}};
		T_EQ_INT(fix_session_send(s, "D", two, 2, T0), FIX_SESSION_E_ARG);
		T_EQ_INT(fix_session_app_tag_ok(owned[i]), 0);
	}
	T_EQ_INT(fix_session_app_tag_ok(11), 1);
	T_EQ_INT(fix_session_app_tag_ok(999999999), 1);
	EXPECT_NO_OUT(s);
	T_EQ_INT(fix_session_next_out_seq(s), 3);
	fix_session_free(s);
	fix_store_mem_free(&ms);
}

static void test_large_message_and_limits(void)
{
	struct fix_session_cfg c;
	struct fix_event ev;
	cfg_client(&c, NULL);
	c.max_body = 1024;
	struct fix_session *s = fix_session_new(&c);
	fix_session_start(s, T0);
	fix_session_out_consume(s, 4096);
	FEED(s, W(FROM_EXC("A", 1, T0S) "98=0|108=30|"), T0);
	EXPECT_EV(s, ev, FIX_EV_LOGON);
	static char big[2048];
	memset(big, 'x', sizeof(big));
	struct fix_out_field f[] = {{58, big, 1000}};
	T_EQ_INT(fix_session_send(s, "D", f, 1, T0), FIX_SESSION_E_TOO_LARGE);
	f[0].len = 900;
	T_EQ_INT(fix_session_send(s, "D", f, 1, T0), 0);
	size_t n;
	fix_session_out(s, &n);
	T_OK(n > 900);
	fix_session_out_consume(s, n);
	/* An inbound BodyLength above max_body is dropped as garbage. */
	FEED(s, "8=FIX.4.4\0019=99999\00135=8\001", T0);
	EXPECT_NO_EV(s);
	FEED(s, W(FROM_EXC("8", 2, T0S)), T0);
	EXPECT_EV(s, ev, FIX_EV_APP);
	fix_session_free(s);
}

static void test_feed_in_pieces_and_bursts(void)
{
	struct fix_event ev;
	struct fix_session *s = client_logged_on(NULL);
	/* One byte at a time. */
	const char *f = W(FROM_EXC("8", 2, T0S) "37=a|");
	for (size_t i = 0; f[i]; i++)
		T_EQ_INT(fix_session_feed(s, f + i, 1, T0), 1);
	EXPECT_EV(s, ev, FIX_EV_APP);
	EXPECT_NO_EV(s);
	/* A burst of 200 messages in one buffer: fed in as many calls as the
	 * event queue needs, each message delivered once and in order. */
	static char burst[200 * 128];
	size_t len = 0;
	for (int i = 0; i < 200; i++) {
		const char *m = W("35=8|49=" EXC "|56=" CLI "|34=%d|52=" T0S "|37=%d|", 3 + i, i);
		memcpy(burst + len, m, strlen(m));
		len += strlen(m);
	}
	int got = 0, calls = 0, order_ok = 1;
	for (size_t off = 0; off < len; calls++) {
		off += fix_session_feed(s, burst + off, len - off, T0);
		while (fix_session_poll_event(s, &ev)) {
			if (ev.type == FIX_EV_APP && ev.msg->seq_num != (uint64_t)(3 + got))
				order_ok = 0;
			got++;
		}
		if (calls > 1000)
			break;
	}
	T_EQ_INT(got, 200);
	T_OK(order_ok);
	T_OK(calls > 1);
	T_EQ_INT(fix_session_next_in_seq(s), 203);
	fix_session_free(s);
}

static void test_disconnected(void)
{
	struct fix_session_cfg c;
	struct fix_event ev;
	cfg_client(&c, NULL);
	struct fix_session *s = fix_session_new(&c);
	fix_session_start(s, T0);
	fix_session_disconnected(s, T0 + 1);
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	T_EQ_STR(ev.closed.code, "disconnected");
	T_EQ_STR(ev.closed.reason, "connection closed before the Logon reply");
	fix_session_disconnected(s, T0 + 2);
	EXPECT_NO_EV(s);
	fix_session_free(s);

	s = client_logged_on(NULL);
	fix_session_disconnected(s, T0 + 1);
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	T_EQ_STR(ev.closed.code, "disconnected");
	T_EQ_STR(ev.closed.reason, "connection lost");
	fix_session_free(s);

	s = client_logged_on(NULL);
	fix_session_logout(s, NULL, T0);
	fix_session_disconnected(s, T0 + 1);
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	T_EQ_STR(ev.closed.code, "logged_out");
	fix_session_free(s);
}

/* The store refuses to record the next outbound number. */
static int fail_set_out(void *arg, const struct fix_store_mem *m, enum fix_store_mem_op op)
{
	(void)arg;
	(void)m;
	return op == FIX_STORE_MEM_SET_OUT;
}

static void test_bad_config_and_store_failure(void)
{
	struct fix_session_cfg c;
	struct fix_event ev;
	cfg_client(&c, NULL);
	c.target_comp_id = NULL;
	T_OK(fix_session_new(&c) == NULL);
	cfg_client(&c, NULL);
	c.sender_comp_id = "";
	T_OK(fix_session_new(&c) == NULL);
	cfg_client(&c, NULL);
	c.sender_comp_id = "A\001B";
	T_OK(fix_session_new(&c) == NULL);
	cfg_client(&c, NULL);
	c.heartbeat_s = -1;
	T_OK(fix_session_new(&c) == NULL);
	fix_session_free(NULL);

	struct fix_store_mem ms;
	fix_store_mem_init(&ms, 1, 1, 0);
	struct fix_session *s = client_logged_on(&ms.st);
	ms.fail = fail_set_out;
	struct fix_out_field f[] = {{11, "x", 1}};
	T_EQ_INT(fix_session_send(s, "D", f, 1, T0), FIX_SESSION_E_STORE);
	EXPECT_NO_OUT(s);
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	T_EQ_STR(ev.closed.code, "store");
	fix_session_free(s);
	fix_store_mem_free(&ms);
}

static void test_resend_request_with_gap(void)
{
	/* The peer's ResendRequest arrives above the expected number: answer it
	 * at once (or both sides wait for each other), then ask for the gap. */
	struct fix_session *s = client_logged_on(NULL);
	struct fix_out_field f[] = {{11, "o", 1}};
	fix_session_send(s, "D", f, 1, T0);
	fix_session_out_consume(s, 4096);
	FEED(s, W(FROM_EXC("2", 4, T0S) "7=2|16=0|"), T0);
	EXPECT_OUT(s, CAT(W(FROM_CLI("4", 2, T0S) "43=Y|122=" T0S "|123=Y|36=3|"),
			  W(FROM_CLI("2", 3, T0S) "7=2|16=0|")));
	T_EQ_INT(fix_session_next_in_seq(s), 2);
	fix_session_free(s);
}

/* xorshift: deterministic noise for the robustness test. */
static uint32_t rnd(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static void test_mutated_input_never_crashes(void)
{
	/* Valid frames with random bytes flipped, cut or duplicated, fed in
	 * random pieces: whatever happens, feed makes progress, every event is
	 * well-formed and the session ends cleanly (ASan/valgrind watch). */
	uint32_t x = 2463534242u;
	for (int round = 0; round < 300; round++) {
		struct fix_event ev;
		struct fix_session *s = client_logged_on(NULL);
		static char buf[8192];
		size_t len = 0;
		for (int i = 0; i < 12 && len < sizeof(buf) - 512; i++) {
			const char *types[] = {"0", "1", "2", "3", "4", "5", "8", "BF", "A", "ZZ"};
			const char *m =
			    W("35=%s|49=" EXC "|56=" CLI "|34=%u|52=" T0S
			      "|43=%c|7=%u|16=0|36=%u|123=%c|112=x|58=t|926=%u|",
			      types[rnd(&x) % 10], 2 + rnd(&x) % 8, rnd(&x) % 2 ? 'Y' : 'N',
			      rnd(&x) % 5, rnd(&x) % 12, rnd(&x) % 2 ? 'Y' : 'N', rnd(&x) % 7);
			size_t n = strlen(m);
			memcpy(buf + len, m, n);
			for (int k = (int)(rnd(&x) % 3); k > 0; k--)
				buf[len + rnd(&x) % n] = (char)rnd(&x);
			if (rnd(&x) % 5 == 0)
				n = rnd(&x) % n;
			len += n;
		}
		int guard = 0;
		for (size_t off = 0; off < len && guard < 10000; guard++) {
			size_t piece = 1 + rnd(&x) % 64;
			if (piece > len - off)
				piece = len - off;
			off += fix_session_feed(s, buf + off, piece, T0 + (int64_t)off);
			while (fix_session_poll_event(s, &ev))
				if (ev.type == FIX_EV_CLOSED)
					T_OK(ev.closed.code && ev.closed.reason);
			size_t n;
			fix_session_out(s, &n);
			fix_session_out_consume(s, n);
		}
		T_OK(guard < 10000);
		fix_session_tick(s, T0 + 1000000);
		fix_session_disconnected(s, T0 + 1000001);
		while (fix_session_poll_event(s, &ev))
			;
		T_EQ_INT(fix_session_state(s), FIX_ST_CLOSED);
		fix_session_free(s);
	}
}

int main(void)
{
	T_RUN(test_logon_bytes_and_ack);
	T_RUN(test_logon_reset_and_credentials);
	T_RUN(test_logon_timeout);
	T_RUN(test_logout_instead_of_logon);
	T_RUN(test_first_message_not_logon);
	T_RUN(test_seq_too_high_resend);
	T_RUN(test_seq_too_low);
	T_RUN(test_close_cause);
	T_RUN(test_sequence_reset_gap_fill);
	T_RUN(test_sequence_reset_reset_mode);
	T_RUN(test_sequence_reset_implausible);
	T_RUN(test_answer_resend_request);
	T_RUN(test_silent_after_own_logout);
	T_RUN(test_resend_without_store);
	T_RUN(test_heartbeat_and_test_request_timeout);
	T_RUN(test_wall_clock_apart_from_timers);
	T_RUN(test_test_request_echo);
	T_RUN(test_garbled_frames_dropped);
	T_RUN(test_wrong_begin_string);
	T_RUN(test_begin_strings);
	T_RUN(test_begin_strings_default);
	T_RUN(test_begin_strings_lower_case);
	T_RUN(test_wrong_comp_id);
	T_RUN(test_comp_id_session_only);
	T_RUN(test_logon_seq_adopt);
	T_RUN(test_logout_by_us);
	T_RUN(test_logout_by_peer);
	T_RUN(test_user_request_and_response);
	T_RUN(test_sending_time_accuracy);
	T_RUN(test_poss_dup_without_orig_sending_time);
	T_RUN(test_invalid_msg_type);
	T_RUN(test_reject_received);
	T_RUN(test_app_messages_both_ways);
	T_RUN(test_large_message_and_limits);
	T_RUN(test_feed_in_pieces_and_bursts);
	T_RUN(test_disconnected);
	T_RUN(test_bad_config_and_store_failure);
	T_RUN(test_resend_request_with_gap);
	T_RUN(test_mutated_input_never_crashes);
	return T_END();
}
