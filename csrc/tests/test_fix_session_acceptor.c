/* test-deps: fix_session session_fault fix_store_mem fix_codec */
/* The acceptor side of the FIX session, the fault-injection hooks, and an
 * initiator and an acceptor talking to each other in memory. */
#include "fix_session_fault.h"
#include "test_fix_session_helpers.h"

static void cfg_exchange(struct fix_session_cfg *c, struct fix_store *st)
{
	fix_session_cfg_init(c);
	c->role = FIX_ACCEPTOR;
	c->sender_comp_id = EXC;
	c->store = st;
}

static void test_acceptor_logon_accept(void)
{
	struct fix_session_cfg c;
	struct fix_event ev;
	cfg_exchange(&c, NULL);
	c.heartbeat_s = 99; /* ignored: the client's 108 rules */
	struct fix_session *s = fix_session_new(&c);
	T_EQ_STR(fix_session_target_comp_id(s), "");
	fix_session_start(s, T0);
	T_EQ_INT(fix_session_state(s), FIX_ST_AWAIT_LOGON);
	T_EQ_INT(fix_session_deadline(s), T0 + 10000);
	EXPECT_NO_OUT(s);
	FEED(s, W(FROM_CLI("A", 1, T0S) "98=0|108=20|553=" CLI "|554=pw|"), T0 + 1);
	EXPECT_EV(s, ev, FIX_EV_LOGON_REQUEST);
	SV_EQ(ev.logon_request.sender_comp_id, CLI);
	SV_EQ(ev.logon_request.username, CLI);
	SV_EQ(ev.logon_request.password, "pw");
	T_EQ_INT(ev.logon_request.heartbeat_s, 20);
	T_EQ_INT(ev.logon_request.reset, 0);
	T_EQ_STR(fix_session_target_comp_id(s), CLI);
	T_EQ_INT(fix_session_state(s), FIX_ST_LOGON_RECEIVED);
	EXPECT_NO_OUT(s);
	T_EQ_INT(fix_session_accept(s, T0 + 2), 0);
	EXPECT_OUT(s, W(FROM_EXC("A", 1, "20231114-22:13:20.002") "98=0|108=20|"));
	EXPECT_EV(s, ev, FIX_EV_LOGON);
	T_OK(ev.msg == NULL);
	T_EQ_INT(ev.logon.heartbeat_s, 20);
	T_EQ_INT(fix_session_state(s), FIX_ST_ACTIVE);
	T_EQ_INT(fix_session_heartbeat_s(s), 20);
	T_EQ_INT(fix_session_next_in_seq(s), 2);
	T_EQ_INT(fix_session_accept(s, T0 + 2), FIX_SESSION_E_STATE);
	/* Subsequent rules are the initiator's: TestRequest echo. */
	FEED(s, W(FROM_CLI("1", 2, T0S) "112=t|"), T0 + 3);
	EXPECT_OUT(s, W(FROM_EXC("0", 2, "20231114-22:13:20.003") "112=t|"));
	fix_session_free(s);
}

static void test_acceptor_reset_and_refuse(void)
{
	struct fix_store_mem ms;
	struct fix_session_cfg c;
	struct fix_event ev;
	fix_store_mem_init(&ms, 40, 30, 0);
	cfg_exchange(&c, &ms.st);
	struct fix_session *s = fix_session_new(&c);
	fix_session_start(s, T0);
	FEED(s, W(FROM_CLI("A", 1, T0S) "98=0|108=30|141=Y|"), T0);
	EXPECT_EV(s, ev, FIX_EV_LOGON_REQUEST);
	T_EQ_INT(ev.logon_request.reset, 1);
	T_EQ_INT(fix_session_accept(s, T0), 0);
	T_EQ_INT(ms.resets, 1);
	EXPECT_OUT(s, W(FROM_EXC("A", 1, T0S) "98=0|108=30|141=Y|"));
	T_EQ_INT(fix_session_next_in_seq(s), 2);
	T_EQ_INT(ms.next_out, 2);
	fix_session_free(s);

	/* The application refuses. */
	cfg_exchange(&c, NULL);
	s = fix_session_new(&c);
	fix_session_start(s, T0);
	FEED(s, W(FROM_CLI("A", 1, T0S) "98=0|108=30|"), T0);
	EXPECT_EV(s, ev, FIX_EV_LOGON_REQUEST);
	T_EQ_INT(fix_session_refuse(s, "unknown CompID", T0 + 5), 0);
	EXPECT_OUT(s, W(FROM_EXC("5", 1, "20231114-22:13:20.005") "58=unknown CompID|"));
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	T_EQ_STR(ev.closed.code, "rejected");
	T_EQ_STR(ev.closed.reason, "Logon refused: unknown CompID");
	fix_session_free(s);
}

static void test_acceptor_bad_first_messages(void)
{
	struct fix_session_cfg c;
	struct fix_event ev;
	cfg_exchange(&c, NULL);
	struct fix_session *s = fix_session_new(&c);
	fix_session_start(s, T0);
	FEED(s, W(FROM_CLI("D", 1, T0S) "11=x|"), T0);
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	T_EQ_STR(ev.closed.code, "protocol");
	T_EQ_STR(ev.closed.reason, "first message was MsgType D, not a Logon");
	fix_session_free(s);

	/* Addressed to someone else: no reply addressed to anyone, closed. */
	s = fix_session_new(&c);
	fix_session_start(s, T0);
	FEED(s, W("35=A|49=" CLI "|56=OTHER_EXCHANGE|34=1|52=" T0S "|98=0|108=30|"), T0);
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	T_EQ_STR(ev.closed.code, "protocol");
	EXPECT_NO_OUT(s);
	fix_session_free(s);

	/* A Logon without HeartBtInt. */
	s = fix_session_new(&c);
	fix_session_start(s, T0);
	FEED(s, W(FROM_CLI("A", 1, T0S) "98=0|"), T0);
	EXPECT_OUT(s, W(FROM_EXC("5", 1, T0S) "58=Logon needs a valid HeartBtInt(108)|"));
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	fix_session_free(s);

	/* No Logon at all. */
	c.logon_timeout_ms = 3000;
	s = fix_session_new(&c);
	fix_session_start(s, T0);
	fix_session_tick(s, T0 + 3000);
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	T_EQ_STR(ev.closed.code, "timeout");
	T_EQ_STR(ev.closed.reason, "no Logon received within 3 s");
	fix_session_free(s);

	/* Logon with a number below the stored one. */
	struct fix_store_mem ms;
	fix_store_mem_init(&ms, 5, 5, 0);
	cfg_exchange(&c, &ms.st);
	s = fix_session_new(&c);
	fix_session_start(s, T0);
	FEED(s, W(FROM_CLI("A", 2, T0S) "98=0|108=30|"), T0);
	EXPECT_OUT(s, W(FROM_EXC("5", 5, T0S) "58=MsgSeqNum too low, expecting 5 but received 2|"));
	EXPECT_EV(s, ev, FIX_EV_CLOSED);
	T_EQ_STR(ev.closed.reason, "MsgSeqNum too low: expected 5, received 2");
	fix_session_free(s);
}

static void test_acceptor_logon_gap(void)
{
	struct fix_store_mem ms;
	struct fix_session_cfg c;
	struct fix_event ev;
	fix_store_mem_init(&ms, 1, 3, 0);
	cfg_exchange(&c, &ms.st);
	struct fix_session *s = fix_session_new(&c);
	fix_session_start(s, T0);
	/* Logon 6 while 3 is expected: accept, then ask for 3 onwards. */
	FEED(s, W(FROM_CLI("A", 6, T0S) "98=0|108=30|"), T0);
	EXPECT_EV(s, ev, FIX_EV_LOGON_REQUEST);
	fix_session_accept(s, T0);
	EXPECT_OUT(
	    s, CAT(W(FROM_EXC("A", 1, T0S) "98=0|108=30|"), W(FROM_EXC("2", 2, T0S) "7=3|16=0|")));
	FEED(s, W(FROM_CLI("4", 3, T0S) "43=Y|122=" T0S "|123=Y|36=7|"), T0);
	T_EQ_INT(fix_session_next_in_seq(s), 7);
	fix_session_free(s);
	fix_store_mem_free(&ms);
}

static void test_acceptor_user_request(void)
{
	struct fix_session_cfg c;
	struct fix_event ev;
	struct tracelog tl = {{0}, 0, 0};
	cfg_exchange(&c, NULL);
	c.trace = tl_trace;
	c.trace_ud = &tl;
	struct fix_session *s = fix_session_new(&c);
	fix_session_start(s, T0);
	FEED(s, W(FROM_CLI("A", 1, T0S) "98=0|108=30|"), T0);
	EXPECT_EV(s, ev, FIX_EV_LOGON_REQUEST);
	fix_session_accept(s, T0);
	EXPECT_EV(s, ev, FIX_EV_LOGON);
	fix_session_out_consume(s, 4096);
	FEED(s, W(FROM_CLI("BE", 2, T0S) "923=r1|924=1|553=" CLI "|554=s3cret|"), T0);
	EXPECT_EV(s, ev, FIX_EV_USER_REQUEST);
	SV_EQ(ev.user_request.req_id, "r1");
	SV_EQ(ev.user_request.username, CLI);
	SV_EQ(ev.user_request.password, "s3cret");
	T_EQ_INT(ev.user_request.type, 1);
	/* Inbound passwords are redacted in the trace too. */
	T_OK(mem_has(tl.buf, tl.len, "\001554=***\001"));
	T_OK(!mem_has(tl.buf, tl.len, "s3cret"));
	T_EQ_INT(fix_session_user_response(s, "r1", CLI, 1, NULL, T0), 0);
	EXPECT_OUT(s, W(FROM_EXC("BF", 2, T0S) "923=r1|553=" CLI "|926=1|"));
	T_EQ_INT(fix_session_user_response(s, "r1", CLI, 4, "password incorrect", T0), 0);
	EXPECT_OUT(s, W(FROM_EXC("BF", 3, T0S) "923=r1|553=" CLI "|926=4|927=password incorrect|"));
	fix_session_free(s);
}

static void test_fault_hooks(void)
{
	struct fix_session_cfg c;
	struct fix_event ev;
	cfg_exchange(&c, NULL);
	struct fix_session *s = fix_session_new(&c);
	fix_session_start(s, T0);
	FEED(s, W(FROM_CLI("A", 1, T0S) "98=0|108=30|"), T0);
	EXPECT_EV(s, ev, FIX_EV_LOGON_REQUEST);
	fix_session_accept(s, T0);
	EXPECT_EV(s, ev, FIX_EV_LOGON);
	fix_session_out_consume(s, 4096);
	/* Sequence gap: 2..4 skipped. */
	fix_session_fault_skip_seq(s, 3);
	struct fix_out_field f[] = {{58, "hi", 2}};
	fix_session_send(s, "B", f, 1, T0);
	EXPECT_OUT(s, W(FROM_EXC("B", 5, T0S) "58=hi|"));
	/* Raw bytes go out as they are. */
	T_EQ_INT(fix_session_fault_raw(s, "8=FIX.4.4\0019=9\001garbage", 21), 0);
	EXPECT_OUT(s, "8=FIX.4.4\0019=9\001garbage");
	/* Silent: no heartbeats, no answers, no timeouts. */
	fix_session_fault_silent(s, 1);
	T_EQ_INT(fix_session_deadline(s), INT64_MAX);
	fix_session_tick(s, T0 + 100000);
	FEED(s, W(FROM_CLI("1", 2, T0S) "112=x|"), T0 + 100000);
	EXPECT_NO_OUT(s);
	EXPECT_NO_EV(s);
	fix_session_fault_silent(s, 0);
	T_EQ_INT(fix_session_deadline(s), T0 + 30000);
	fix_session_free(s);
}

/* --compat betatrader-gateway's session half: exact bytes of that gateway. */
static void test_fault_gateway_compat(void)
{
	struct fix_store_mem ms;
	struct fix_session_cfg c;
	struct fix_event ev;
	fix_store_mem_init(&ms, 7, 3, 0); /* the in-memory counter is at 7 */
	cfg_exchange(&c, &ms.st);
	struct fix_session *s = fix_session_new(&c);
	fix_session_start(s, T0);
	T_EQ_INT(fix_session_fault_gateway_compat(s), FIX_SESSION_E_STATE); /* no Logon yet */
	/* 141=Y with 34=1 and 108=5: answered 108=30 without 141, on 7. */
	FEED(s, W(FROM_CLI("A", 1, T0S) "98=0|108=5|141=Y|553=x|554=pw|"), T0);
	EXPECT_EV(s, ev, FIX_EV_LOGON_REQUEST);
	T_EQ_INT(fix_session_fault_gateway_compat(s), 0);
	T_EQ_INT(fix_session_accept(s, T0), 0);
	EXPECT_OUT(s, W(FROM_EXC("A", 7, T0S) "98=0|108=30|"));
	EXPECT_EV(s, ev, FIX_EV_LOGON);
	T_EQ_INT(ms.resets, 0);
	T_EQ_INT(fix_session_next_in_seq(s), 2);
	/* No timers of its own, however long the silence. */
	T_EQ_INT(fix_session_deadline(s), INT64_MAX);
	fix_session_tick(s, T0 + 1000000);
	EXPECT_NO_OUT(s);
	EXPECT_NO_EV(s);
	/* ResendRequest and SequenceReset (both modes) are ignored. */
	FEED(s, W(FROM_CLI("2", 2, T0S) "7=1|16=0|"), T0);
	FEED(s, W(FROM_CLI("4", 3, T0S) "123=Y|36=50|"), T0);
	FEED(s, W(FROM_CLI("4", 4, T0S) "36=900|"), T0);
	EXPECT_NO_OUT(s);
	EXPECT_NO_EV(s);
	/* Any MsgSeqNum is in sequence, above or below; a TestRequest is answered. */
	FEED(s, W(FROM_CLI("1", 5000, T0S) "112=a|"), T0);
	EXPECT_OUT(s, W(FROM_EXC("0", 8, T0S) "112=a|"));
	FEED(s, W(FROM_CLI("D", 3, T0S) "11=1|"), T0);
	EXPECT_EV(s, ev, FIX_EV_APP);
	T_EQ_INT(fix_session_next_in_seq(s), 4);
	/* An unknown MsgType: dropped, no Reject. */
	FEED(s, W(FROM_CLI("ZZ", 4, T0S) "58=x|"), T0);
	EXPECT_NO_OUT(s);
	EXPECT_NO_EV(s);
	fix_session_free(s);
	fix_store_mem_free(&ms);
}

/* ------------------------------------------------ initiator <-> acceptor */

struct side {
	struct fix_session *s;
	int types[64];
	int n;
	int last_status;
	char last_app[16];
	uint64_t last_seq;
	char closed_code[32];
	char closed_reason[FIX_SESSION_REASON_MAX];
};

static void drain(struct side *d)
{
	struct fix_event ev;
	while (fix_session_poll_event(d->s, &ev)) {
		if (d->n < 64)
			d->types[d->n++] = ev.type;
		if (ev.type == FIX_EV_USER_RESPONSE)
			d->last_status = ev.user_response.status;
		if (ev.type == FIX_EV_APP) {
			snprintf(d->last_app, sizeof(d->last_app), "%.*s", (int)ev.app.msg_type.len,
				 ev.app.msg_type.ptr);
			d->last_seq = ev.msg->seq_num;
		}
		if (ev.type == FIX_EV_CLOSED) {
			snprintf(d->closed_code, sizeof(d->closed_code), "%s", ev.closed.code);
			snprintf(d->closed_reason, sizeof(d->closed_reason), "%s",
				 ev.closed.reason);
		}
	}
}

/* Move bytes both ways until neither side has anything to say. */
static void pump(struct side *a, struct side *b, int64_t now)
{
	for (int round = 0; round < 50; round++) {
		int moved = 0;
		struct side *from[2] = {a, b}, *to[2] = {b, a};
		for (int k = 0; k < 2; k++) {
			size_t n;
			const char *o = fix_session_out(from[k]->s, &n);
			if (!n)
				continue;
			static char copy[65536];
			memcpy(copy, o, n);
			fix_session_out_consume(from[k]->s, n);
			for (size_t off = 0; off < n;) {
				off += fix_session_feed(to[k]->s, copy + off, n - off, now);
				drain(to[k]);
			}
			moved = 1;
		}
		drain(a);
		drain(b);
		if (!moved)
			return;
	}
}

static int last_type(const struct side *d)
{
	return d->n ? d->types[d->n - 1] : FIX_EV_NONE;
}

static void test_initiator_acceptor_pair(void)
{
	struct fix_store_mem ms_c, ms_e;
	struct fix_session_cfg cc, ce;
	struct side cli = {0}, exc = {0};
	fix_store_mem_init(&ms_c, 1, 1, 0);
	fix_store_mem_init(&ms_e, 1, 1, 0);
	cfg_client(&cc, &ms_c.st);
	cfg_exchange(&ce, &ms_e.st);
	cli.s = fix_session_new(&cc);
	exc.s = fix_session_new(&ce);
	int64_t now = T0;

	fix_session_start(exc.s, now);
	fix_session_start(cli.s, now);
	pump(&cli, &exc, now);
	T_EQ_INT(last_type(&exc), FIX_EV_LOGON_REQUEST);
	T_EQ_INT(fix_session_accept(exc.s, now), 0);
	drain(&exc);
	pump(&cli, &exc, now += 10);
	T_EQ_INT(last_type(&cli), FIX_EV_LOGON);
	T_EQ_INT(fix_session_state(cli.s), FIX_ST_ACTIVE);

	/* Authentication. */
	T_EQ_INT(fix_session_user_request(cli.s, "1", 1, CLI, "s3cret", now), 0);
	pump(&cli, &exc, now += 10);
	T_EQ_INT(last_type(&exc), FIX_EV_USER_REQUEST);
	T_EQ_INT(fix_session_user_response(exc.s, "1", CLI, 1, NULL, now), 0);
	pump(&cli, &exc, now += 10);
	T_EQ_INT(last_type(&cli), FIX_EV_USER_RESPONSE);
	T_EQ_INT(cli.last_status, 1);

	/* Application messages both ways. */
	struct fix_out_field nos[] = {{11, "o1", 2}, {55, "EUR/USD", 7}};
	T_EQ_INT(fix_session_send(cli.s, "D", nos, 2, now), 0);
	pump(&cli, &exc, now += 10);
	T_EQ_INT(last_type(&exc), FIX_EV_APP);
	T_EQ_STR(exc.last_app, "D");
	struct fix_out_field er[] = {{37, "x1", 2}, {11, "o1", 2}, {39, "0", 1}};
	T_EQ_INT(fix_session_send(exc.s, "8", er, 3, now), 0);
	pump(&cli, &exc, now += 10);
	T_EQ_INT(last_type(&cli), FIX_EV_APP);
	T_EQ_STR(cli.last_app, "8");

	/* A sequence gap from the exchange: the client asks, gets a GapFill
	 * and the message itself again, and sees it exactly once. */
	int before = cli.n;
	fix_session_fault_skip_seq(exc.s, 3);
	T_EQ_INT(fix_session_send(exc.s, "8", er, 3, now), 0);
	uint64_t gap_seq = fix_session_next_out_seq(exc.s) - 1;
	pump(&cli, &exc, now += 10);
	T_EQ_INT(cli.n, before + 1);
	T_EQ_INT(last_type(&cli), FIX_EV_APP);
	T_EQ_INT(cli.last_seq, gap_seq);
	T_EQ_INT(fix_session_next_in_seq(cli.s), gap_seq + 1);
	T_EQ_INT(fix_session_state(cli.s), FIX_ST_ACTIVE);

	/* Heartbeats keep both alive across a quiet minute. */
	for (int i = 0; i < 12; i++) {
		now += 5000;
		fix_session_tick(cli.s, now);
		fix_session_tick(exc.s, now);
		pump(&cli, &exc, now);
	}
	T_EQ_INT(fix_session_state(cli.s), FIX_ST_ACTIVE);
	T_EQ_INT(fix_session_state(exc.s), FIX_ST_ACTIVE);

	/* Logout from the client. */
	T_EQ_INT(fix_session_logout(cli.s, NULL, now), 0);
	pump(&cli, &exc, now += 10);
	T_EQ_INT(last_type(&exc), FIX_EV_CLOSED);
	T_EQ_STR(exc.closed_code, "logged_out");
	T_EQ_STR(exc.closed_reason, "client logged out");
	T_EQ_INT(last_type(&cli), FIX_EV_CLOSED);
	T_EQ_STR(cli.closed_code, "logged_out");
	T_EQ_STR(cli.closed_reason, "logged out");
	T_EQ_INT(ms_c.next_out, fix_session_next_out_seq(cli.s));
	T_EQ_INT(ms_e.next_in, fix_session_next_in_seq(exc.s));
	fix_session_free(cli.s);
	fix_session_free(exc.s);
	fix_store_mem_free(&ms_c);
	fix_store_mem_free(&ms_e);
}

int main(void)
{
	T_RUN(test_acceptor_logon_accept);
	T_RUN(test_acceptor_reset_and_refuse);
	T_RUN(test_acceptor_bad_first_messages);
	T_RUN(test_acceptor_logon_gap);
	T_RUN(test_acceptor_user_request);
	T_RUN(test_fault_hooks);
	T_RUN(test_fault_gateway_compat);
	T_RUN(test_initiator_acceptor_pair);
	return T_END();
}
