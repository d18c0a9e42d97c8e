/* test-deps: fix_session fix_codec */
/* End to end against a real betatrader-exchange process: Logon, UserRequest
 * outcomes, refusals, and every FIX fault's observable effect, seen through
 * our own initiator session over a socket on 127.0.0.1. */
#include "t.h"
#include "test_exchange_util.h"

#define ACCOUNT_PW "s3cret"

/* Start an exchange (optionally with one fault) and register "trader". */
static int start(struct ex *e, const char *fault, char id[32])
{
	int rc = fault ? ex_start(e, "--fault", fault, (char *)NULL) : ex_start(e, (char *)NULL);
	if (rc != 0)
		return -1;
	if (http_register(e->http_port, "trader", ACCOUNT_PW, id, 32) != 200) {
		ex_stop(e);
		return -1;
	}
	return 0;
}

static void stop(struct ex *e)
{
	int st = ex_stop(e);
	T_OK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

/* Log on and wait for the Logon ack. */
static int logon(struct cli *c, const struct ex *e, const char *id)
{
	if (cli_open(c, e->fix_port, id, 30, 3000) != 0)
		return -1;
	return cli_wait(c, FIX_EV_LOGON, 5000) ? 0 : -1;
}

static void test_logon_and_user_request(void)
{
	struct ex e;
	char id[32];
	struct cli c;
	T_OK(start(&e, NULL, id) == 0);
	T_EQ_STR(id, "CLIENT0001");
	T_OK(logon(&c, &e, id) == 0);
	T_EQ_INT(fix_session_state(c.s), FIX_ST_ACTIVE);
	T_EQ_INT(fix_session_user_request(c.s, "r1", 1, id, ACCOUNT_PW, tx_now()), 0);
	const struct got *g = cli_wait(&c, FIX_EV_USER_RESPONSE, 5000);
	T_OK(g != NULL);
	if (g) {
		T_EQ_INT(g->status, 1);
		T_EQ_STR(g->text, "logged in");
	}
	/* 924=2 logs the user off; the session stays up. */
	T_EQ_INT(fix_session_user_request(c.s, "r2", 2, id, NULL, tx_now()), 0);
	g = cli_wait(&c, FIX_EV_USER_RESPONSE, 5000);
	T_OK(g && g->status == 2);
	/* Something we do not trade is answered, not dropped. */
	struct fix_out_field f[] = {{11, "ord1", 4}};
	T_EQ_INT(fix_session_send(c.s, "D", f, 1, tx_now()), 0);
	g = cli_wait(&c, FIX_EV_APP, 5000);
	T_OK(g != NULL);
	T_EQ_INT(fix_session_logout(c.s, NULL, tx_now()), 0);
	g = cli_wait(&c, FIX_EV_CLOSED, 5000);
	T_OK(g && strcmp(g->code, "logged_out") == 0);
	cli_close(&c);
	stop(&e);
}

static void expect_user_status(const char *fault, const char *user, const char *pw, int status,
			       const char *text)
{
	struct ex e;
	char id[32];
	struct cli c;
	T_OK(start(&e, fault, id) == 0);
	T_OK(logon(&c, &e, id) == 0);
	fix_session_user_request(c.s, "r1", 1, user ? user : id, pw, tx_now());
	const struct got *g = cli_wait(&c, FIX_EV_USER_RESPONSE, 5000);
	T_OK(g != NULL);
	if (g) {
		T_EQ_INT(g->status, status);
		T_EQ_STR(g->text, text);
	}
	cli_close(&c);
	stop(&e);
}

static void test_wrong_password(void)
{
	expect_user_status(NULL, NULL, "wrong", 4, "password incorrect");
}

static void test_unknown_user(void)
{
	expect_user_status(NULL, "CLIENT9999", ACCOUNT_PW, 3, "user 'CLIENT9999' not recognised");
}

static void test_fault_user_status(void)
{
	expect_user_status("user-status=6", NULL, ACCOUNT_PW, 6, "UserStatus 6 (fault injection)");
}

/* Logon refused: the client sees a Logout whose 58 says why. */
static void expect_refused(const char *fault, const char *comp, const char *text_part)
{
	struct ex e;
	char id[32];
	struct cli c;
	T_OK(start(&e, fault, id) == 0);
	T_OK(cli_open(&c, e.fix_port, comp ? comp : id, 30, 3000) == 0);
	const struct got *g = cli_wait(&c, FIX_EV_LOGOUT, 5000);
	T_OK(g != NULL);
	if (g && !strstr(g->text, text_part))
		T_FAIL("Logout text \"%s\" lacks \"%s\"", g->text, text_part);
	g = cli_wait(&c, FIX_EV_CLOSED, 5000);
	T_OK(g && strcmp(g->code, "rejected") == 0);
	cli_close(&c);
	stop(&e);
}

static void test_unknown_comp_id(void)
{
	expect_refused(NULL, "NOBODY", "unknown SenderCompID 'NOBODY'");
}

static void test_fault_logon_logout(void)
{
	expect_refused("logon-logout=closed for maintenance", NULL, "closed for maintenance");
}

static void test_duplicate_logon_refused(void)
{
	struct ex e;
	char id[32];
	struct cli a, b;
	T_OK(start(&e, NULL, id) == 0);
	T_OK(logon(&a, &e, id) == 0);
	T_OK(cli_open(&b, e.fix_port, id, 30, 3000) == 0);
	const struct got *g = cli_wait(&b, FIX_EV_LOGOUT, 5000);
	T_OK(g && strstr(g->text, "already logged on"));
	/* The first session is undisturbed. */
	fix_session_user_request(a.s, "r1", 1, id, ACCOUNT_PW, tx_now());
	g = cli_wait(&a, FIX_EV_USER_RESPONSE, 5000);
	T_OK(g && g->status == 1);
	cli_close(&a);
	cli_close(&b);
	stop(&e);
}

static void test_fault_no_logon_reply(void)
{
	struct ex e;
	char id[32];
	struct cli c;
	T_OK(start(&e, "no-logon-reply", id) == 0);
	T_OK(cli_open(&c, e.fix_port, id, 30, 500) == 0);
	const struct got *g = cli_wait(&c, FIX_EV_CLOSED, 5000);
	T_OK(g && strcmp(g->code, "timeout") == 0);
	T_EQ_INT(c.nin, 0);
	cli_close(&c);
	stop(&e);
}

static void test_fault_no_user_response(void)
{
	struct ex e;
	char id[32];
	struct cli c;
	T_OK(start(&e, "no-user-response", id) == 0);
	T_OK(logon(&c, &e, id) == 0);
	fix_session_user_request(c.s, "r1", 1, id, ACCOUNT_PW, tx_now());
	T_OK(cli_wait(&c, FIX_EV_USER_RESPONSE, 700) == NULL);
	T_EQ_INT(fix_session_state(c.s), FIX_ST_ACTIVE);
	cli_close(&c);
	stop(&e);
}

static void test_fault_silent_after_logon(void)
{
	struct ex e;
	char id[32];
	struct cli c;
	T_OK(start(&e, "silent-after-logon", id) == 0);
	/* HeartBtInt 1: our TestRequest goes unanswered and the session ends. */
	T_OK(cli_open(&c, e.fix_port, id, 1, 3000) == 0);
	T_OK(cli_wait(&c, FIX_EV_LOGON, 5000) != NULL);
	fix_session_user_request(c.s, "r1", 1, id, ACCOUNT_PW, tx_now());
	const struct got *g = cli_wait(&c, FIX_EV_CLOSED, 10000);
	T_OK(g && strcmp(g->code, "timeout") == 0);
	T_EQ_INT(c.nin, 1); /* only the Logon ack ever came */
	cli_close(&c);
	stop(&e);
}

static void test_fault_seq_gap(void)
{
	struct ex e;
	char id[32];
	struct cli c;
	T_OK(start(&e, "seq-gap=3", id) == 0);
	T_OK(logon(&c, &e, id) == 0);
	fix_session_user_request(c.s, "r1", 1, id, ACCOUNT_PW, tx_now());
	/* The next frame after the Logon ack (34=1) jumps to 34=5; we ask for
	 * 2..4 and get a GapFill. */
	for (int i = 0; i < 20 && c.nin < 3; i++)
		cli_step(&c, 100);
	T_OK(c.nin >= 3);
	T_EQ_INT(c.in_seq[0], 1);
	T_EQ_INT(c.in_seq[1], 5);
	int gapfill = 0;
	for (int i = 2; i < c.nin; i++)
		gapfill |= strcmp(c.in_type[i], "4") == 0;
	T_OK(gapfill);
	cli_close(&c);
	stop(&e);
}

static void test_fault_garbled_frame(void)
{
	struct ex e;
	char id[32];
	struct cli c;
	T_OK(start(&e, "garbled-frame", id) == 0);
	T_OK(logon(&c, &e, id) == 0);
	fix_session_user_request(c.s, "r1", 1, id, ACCOUNT_PW, tx_now());
	const struct got *g = cli_wait(&c, FIX_EV_USER_RESPONSE, 5000);
	/* The garbled frame was dropped without costing a sequence number. */
	T_OK(c.ngarbled >= 1);
	T_OK(g && g->status == 1);
	T_EQ_INT(fix_session_next_in_seq(c.s), 3);
	cli_close(&c);
	stop(&e);
}

static void test_fault_close_after(void)
{
	struct ex e;
	char id[32];
	struct cli c;
	T_OK(start(&e, "close-after=2", id) == 0);
	T_OK(logon(&c, &e, id) == 0);                                     /* message 1 */
	fix_session_user_request(c.s, "r1", 1, id, ACCOUNT_PW, tx_now()); /* message 2 */
	const struct got *g = cli_wait(&c, FIX_EV_CLOSED, 5000);
	T_OK(g && strcmp(g->code, "disconnected") == 0);
	cli_close(&c);
	stop(&e);
}

static void test_fault_logout_active(void)
{
	struct ex e;
	char id[32];
	struct cli c;
	T_OK(start(&e, "logout-active=see you", id) == 0);
	T_OK(logon(&c, &e, id) == 0);
	fix_session_user_request(c.s, "r1", 1, id, ACCOUNT_PW, tx_now());
	const struct got *g = cli_wait(&c, FIX_EV_USER_RESPONSE, 5000);
	T_OK(g && g->status == 1);
	g = cli_wait(&c, FIX_EV_LOGOUT, 5000);
	T_OK(g != NULL);
	if (g)
		T_EQ_STR(g->text, "see you");
	g = cli_wait(&c, FIX_EV_CLOSED, 5000);
	T_OK(g != NULL);
	cli_close(&c);
	stop(&e);
}

static void test_sigterm_logs_sessions_out(void)
{
	struct ex e;
	char id[32];
	struct cli c;
	T_OK(start(&e, NULL, id) == 0);
	T_OK(logon(&c, &e, id) == 0);
	stop(&e);
	const struct got *g = cli_wait(&c, FIX_EV_LOGOUT, 5000);
	T_OK(g && strcmp(g->text, "exchange shutting down") == 0);
	cli_close(&c);
}

/* The exchange keeps each CompID's sequence numbers for its lifetime, as a
 * FIX acceptor does: a client that forgot its numbers must reset (141=Y). */
static void test_sequence_numbers_outlive_the_connection(void)
{
	struct ex e;
	char id[32];
	struct cli c;
	T_OK(start(&e, NULL, id) == 0);
	T_OK(logon(&c, &e, id) == 0);
	fix_session_logout(c.s, NULL, tx_now());
	T_OK(cli_wait(&c, FIX_EV_CLOSED, 5000) != NULL);
	cli_close(&c);
	/* Fresh numbers (34=1) without a reset: too low for the exchange. */
	T_OK(cli_open(&c, e.fix_port, id, 30, 3000) == 0);
	const struct got *g = cli_wait(&c, FIX_EV_CLOSED, 5000);
	T_OK(g && strcmp(g->code, "logged_out") != 0);
	T_OK(c.nin == 0 || strcmp(c.in_type[0], "5") == 0);
	cli_close(&c);
	/* 141=Y starts both sides over. */
	memset(&c, 0, sizeof(c));
	c.fd = tcp_connect(e.fix_port);
	struct fix_session_cfg cfg;
	fix_session_cfg_init(&cfg);
	cfg.sender_comp_id = id;
	cfg.target_comp_id = "BETA_EXCHANGE";
	cfg.reset_on_logon = 1;
	cfg.trace = cli_trace;
	cfg.trace_ud = &c;
	c.s = fix_session_new(&cfg);
	T_OK(c.s && fix_session_start(c.s, tx_now()) == 0);
	T_OK(cli_wait(&c, FIX_EV_LOGON, 5000) != NULL);
	cli_close(&c);
	stop(&e);
}

static void test_garbage_does_not_hurt(void)
{
	struct ex e;
	char id[32];
	T_OK(start(&e, NULL, id) == 0);
	/* Junk, a half frame, then a hang-up: the exchange must stay up. */
	int fd = tcp_connect(e.fix_port);
	T_OK(fd >= 0);
	static const char junk[] = "hello\r\n8=FIX.4.4\0019=99999999\001";
	T_OK(write(fd, junk, sizeof(junk) - 1) == (ssize_t)sizeof(junk) - 1);
	close(fd);
	fd = tcp_connect(e.fix_port);
	static const char half[] = "8=FIX.4.4\0019=5\00135=0\001";
	T_OK(write(fd, half, sizeof(half) - 1) == (ssize_t)sizeof(half) - 1);
	close(fd);
	struct cli c;
	T_OK(logon(&c, &e, id) == 0);
	cli_close(&c);
	stop(&e);
}

/* An initiator whose trace also keeps the last inbound frame of one MsgType. */
struct capcli {
	struct cli c; /* first: cli_trace gets &capcli as its cli */
	char want[4];
	char last[1024];
	size_t last_len;
	int nwant; /* frames of MsgType want received */
	int seen_resend_request;
};

static void cap_trace(void *ud, int dir, const char *frame, size_t len)
{
	struct capcli *k = ud;
	cli_trace(&k->c, dir, frame, len);
	if (dir != FIX_TRACE_IN)
		return;
	struct fix_field f[64];
	struct fix_msg m;
	fix_msg_init(&m, f, 64);
	if (fix_parse(&m, frame, len) != FIX_OK)
		return;
	if (fix_msg_is(&m, "2"))
		k->seen_resend_request = 1;
	if (fix_msg_is(&m, k->want))
		k->nwant++;
	if (fix_msg_is(&m, k->want) && len < sizeof(k->last)) {
		memcpy(k->last, frame, len);
		k->last_len = len;
	}
}

static int cap_open(struct capcli *k, int port, const char *id, const char *want, size_t max_body)
{
	memset(k, 0, sizeof(*k));
	snprintf(k->want, sizeof(k->want), "%s", want);
	k->c.fd = tcp_connect(port);
	if (k->c.fd < 0)
		return -1;
	struct fix_session_cfg cfg;
	fix_session_cfg_init(&cfg);
	cfg.sender_comp_id = id;
	cfg.target_comp_id = "BETA_EXCHANGE";
	cfg.heartbeat_s = 30;
	cfg.logon_timeout_ms = 3000;
	if (max_body)
		cfg.max_body = max_body;
	cfg.trace = cap_trace;
	cfg.trace_ud = k;
	k->c.s = fix_session_new(&cfg);
	if (!k->c.s || fix_session_start(k->c.s, tx_now()) != 0)
		return -1;
	return cli_wait(&k->c, FIX_EV_LOGON, 5000) ? 0 : -1;
}

/* Value of tag in the captured frame as a string ("" if absent). */
static const char *cap_get(struct capcli *k, uint32_t tag, char *out, size_t cap)
{
	struct fix_field f[64];
	struct fix_msg m;
	size_t n = 0;
	fix_msg_init(&m, f, 64);
	out[0] = 0;
	const char *v =
	    fix_parse(&m, k->last, k->last_len) == FIX_OK ? fix_msg_get(&m, tag, &n) : NULL;
	if (v && n < cap) {
		memcpy(out, v, n);
		out[n] = 0;
	}
	return out;
}

static int user_logon(struct capcli *k, const char *id)
{
	fix_session_user_request(k->c.s, "r1", 1, id, ACCOUNT_PW, tx_now());
	const struct got *g = cli_wait(&k->c, FIX_EV_USER_RESPONSE, 5000);
	return g && g->status == 1 ? 0 : -1;
}

static void test_new_order_single_execution_report(void)
{
	struct ex e;
	char id[32], v[64];
	struct capcli k;
	T_OK(start(&e, NULL, id) == 0);
	T_OK(cap_open(&k, e.fix_port, id, "8", 0) == 0);
	T_OK(user_logon(&k, id) == 0);
	struct fix_out_field f[] = {{11, "ord-1", 5},   {55, "EUR/USD", 7},
				    {54, "1", 1},       {60, "20240102-03:04:05.006", 21},
				    {38, "1000000", 7}, {40, "2", 1},
				    {44, "1.0842", 6}};
	T_EQ_INT(fix_session_send(k.c.s, "D", f, 7, tx_now()), 0);
	T_OK(cli_wait(&k.c, FIX_EV_APP, 5000) != NULL);
	T_OK(k.last_len > 0);
	T_EQ_STR(cap_get(&k, 37, v, sizeof(v)), "O1");
	T_EQ_STR(cap_get(&k, 17, v, sizeof(v)), "X1");
	T_EQ_STR(cap_get(&k, 11, v, sizeof(v)), "ord-1");
	T_EQ_STR(cap_get(&k, 150, v, sizeof(v)), "0");
	T_EQ_STR(cap_get(&k, 39, v, sizeof(v)), "0");
	T_EQ_STR(cap_get(&k, 55, v, sizeof(v)), "EUR/USD");
	T_EQ_STR(cap_get(&k, 54, v, sizeof(v)), "1");
	T_EQ_STR(cap_get(&k, 38, v, sizeof(v)), "1000000");
	T_EQ_STR(cap_get(&k, 40, v, sizeof(v)), "2");
	T_EQ_STR(cap_get(&k, 44, v, sizeof(v)), "1.0842");
	T_EQ_STR(cap_get(&k, 151, v, sizeof(v)), "1000000");
	T_EQ_STR(cap_get(&k, 14, v, sizeof(v)), "0");
	T_EQ_STR(cap_get(&k, 6, v, sizeof(v)), "0");
	/* A market order has no 44 to echo; the ids move on. */
	struct fix_out_field m[] = {
	    {11, "ord-2", 5}, {55, "GBP/USD", 7}, {54, "2", 1}, {38, "5", 1}, {40, "1", 1}};
	T_EQ_INT(fix_session_send(k.c.s, "D", m, 5, tx_now()), 0);
	/* On an empty book it is acknowledged, then cancelled: no liquidity. */
	for (int t = 0; t < 50 && k.nwant < 3; t++)
		cli_step(&k.c, 100);
	T_EQ_INT(k.nwant, 3);
	T_EQ_STR(cap_get(&k, 11, v, sizeof(v)), "ord-2");
	T_EQ_STR(cap_get(&k, 37, v, sizeof(v)), "O2");
	T_EQ_STR(cap_get(&k, 44, v, sizeof(v)), "");
	T_EQ_STR(cap_get(&k, 150, v, sizeof(v)), "4");
	T_EQ_STR(cap_get(&k, 39, v, sizeof(v)), "4");
	T_EQ_STR(cap_get(&k, 151, v, sizeof(v)), "0");
	/* Missing Symbol: a BusinessMessageReject naming it, not an ack. */
	snprintf(k.want, sizeof(k.want), "j");
	k.c.ngot = k.c.next_got = 0; /* forget the ExecutionReports */
	T_EQ_INT(fix_session_send(k.c.s, "D", m, 1, tx_now()), 0);
	T_OK(cli_wait(&k.c, FIX_EV_APP, 5000) != NULL);
	T_EQ_STR(cap_get(&k, 380, v, sizeof(v)), "5");
	T_EQ_STR(cap_get(&k, 58, v, sizeof(v)), "required tag 55 missing");
	cli_close(&k.c);
	stop(&e);
}

static void test_order_before_user_request_refused(void)
{
	struct ex e;
	char id[32], v[64];
	struct capcli k;
	T_OK(start(&e, NULL, id) == 0);
	T_OK(cap_open(&k, e.fix_port, id, "j", 0) == 0);
	struct fix_out_field f[] = {
	    {11, "o", 1}, {55, "EUR/USD", 7}, {54, "1", 1}, {38, "1", 1}, {40, "1", 1}};
	T_EQ_INT(fix_session_send(k.c.s, "D", f, 5, tx_now()), 0);
	T_OK(cli_wait(&k.c, FIX_EV_APP, 5000) != NULL);
	T_EQ_STR(cap_get(&k, 380, v, sizeof(v)), "6");
	T_EQ_STR(cap_get(&k, 372, v, sizeof(v)), "D");
	cli_close(&k.c);
	stop(&e);
}

/* Garbage after the Logon reply is dropped by our session and costs the
 * exchange no sequence number; the UserResponse still arrives in order. */
static void expect_garbage_dropped(const char *fault)
{
	struct ex e;
	char id[32];
	struct capcli k;
	T_OK(start(&e, fault, id) == 0);
	T_OK(cap_open(&k, e.fix_port, id, "8", 0) == 0);
	T_OK(user_logon(&k, id) == 0);
	T_OK(k.c.ngarbled >= 1);
	T_EQ_INT(fix_session_state(k.c.s), FIX_ST_ACTIVE);
	cli_close(&k.c);
	stop(&e);
}

static void test_fault_huge_bodylength(void)
{
	expect_garbage_dropped("huge-bodylength");
}

static void test_fault_no_soh(void)
{
	expect_garbage_dropped("no-soh");
}

/* 100,000 fields: too large for the default max_body (dropped like a garbled
 * frame); with room for it, too many fields to index: the session ends. */
static void test_fault_many_fields(void)
{
	struct ex e;
	char id[32];
	struct capcli k;
	T_OK(start(&e, "many-fields", id) == 0);
	T_OK(cap_open(&k, e.fix_port, id, "8", 0) == 0);
	T_OK(user_logon(&k, id) == 0);
	T_OK(k.c.ngarbled >= 1);
	T_EQ_INT(fix_session_state(k.c.s), FIX_ST_ACTIVE);
	cli_close(&k.c);
	stop(&e);

	T_OK(start(&e, "many-fields", id) == 0);
	T_OK(cap_open(&k, e.fix_port, id, "8", 1024 * 1024) == 0);
	const struct got *g = cli_wait(&k.c, FIX_EV_CLOSED, 5000);
	T_OK(g && strcmp(g->code, "protocol") == 0);
	cli_close(&k.c);
	stop(&e);
}

static void test_fault_resend_request(void)
{
	struct ex e;
	char id[32];
	struct capcli k;
	T_OK(start(&e, "resend-request", id) == 0);
	T_OK(cap_open(&k, e.fix_port, id, "8", 0) == 0);
	T_OK(user_logon(&k, id) == 0);
	struct fix_out_field f[] = {
	    {11, "o", 1}, {55, "EUR/USD", 7}, {54, "1", 1}, {38, "1", 1}, {40, "1", 1}};
	T_EQ_INT(fix_session_send(k.c.s, "D", f, 5, tx_now()), 0);
	T_OK(cli_wait(&k.c, FIX_EV_APP, 5000) != NULL);
	for (int i = 0; i < 10 && !k.seen_resend_request; i++)
		cli_step(&k.c, 100);
	T_OK(k.seen_resend_request);
	/* Only the first application message of a connection triggers it. */
	k.seen_resend_request = 0;
	T_EQ_INT(fix_session_send(k.c.s, "D", f, 5, tx_now()), 0);
	T_OK(cli_wait(&k.c, FIX_EV_APP, 5000) != NULL);
	for (int i = 0; i < 3; i++)
		cli_step(&k.c, 100);
	T_OK(!k.seen_resend_request);
	T_EQ_INT(fix_session_state(k.c.s), FIX_ST_ACTIVE);
	cli_close(&k.c);
	stop(&e);
}

/* More orders than the exchange keeps for resends: its ring of saved
 * messages wraps, every order is still answered, in sequence. */
static void test_order_flood_wraps_the_resend_store(void)
{
	struct ex e;
	char id[32], v[64], clid[32];
	struct capcli k;
	T_OK(start(&e, NULL, id) == 0);
	T_OK(cap_open(&k, e.fix_port, id, "8", 0) == 0);
	T_OK(user_logon(&k, id) == 0);
	int n = 10050;
	for (int i = 1; i <= n; i++) {
		int len = snprintf(clid, sizeof(clid), "f%d", i);
		/* Resting limit orders: one ExecutionReport (New) each. */
		struct fix_out_field f[] = {{11, clid, (size_t)len},
					    {55, "EUR/USD", 7},
					    {54, "1", 1},
					    {38, "1", 1},
					    {40, "2", 1},
					    {44, "1.1", 3}};
		if (fix_session_send(k.c.s, "D", f, 6, tx_now()) != 0)
			break;
		/* Keep the window small so neither side's buffers balloon. */
		for (int t = 0; t < 50 && k.nwant < i - 64 && !k.c.closed; t++)
			cli_step(&k.c, 100);
		k.c.ngot = k.c.next_got = 0;
	}
	for (int t = 0; t < 50 && k.nwant < n && !k.c.closed; t++)
		cli_step(&k.c, 100);
	int acked = k.nwant;
	T_EQ_INT(acked, n);
	T_EQ_STR(cap_get(&k, 11, v, sizeof(v)), "f10050");
	T_EQ_STR(cap_get(&k, 37, v, sizeof(v)), "O10050");
	T_EQ_INT(fix_session_state(k.c.s), FIX_ST_ACTIVE);
	cli_close(&k.c);
	stop(&e);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	T_RUN(test_logon_and_user_request);
	T_RUN(test_wrong_password);
	T_RUN(test_unknown_user);
	T_RUN(test_unknown_comp_id);
	T_RUN(test_duplicate_logon_refused);
	T_RUN(test_fault_no_logon_reply);
	T_RUN(test_fault_logon_logout);
	T_RUN(test_fault_user_status);
	T_RUN(test_fault_no_user_response);
	T_RUN(test_fault_silent_after_logon);
	T_RUN(test_fault_seq_gap);
	T_RUN(test_fault_garbled_frame);
	T_RUN(test_fault_close_after);
	T_RUN(test_fault_logout_active);
	T_RUN(test_sigterm_logs_sessions_out);
	T_RUN(test_sequence_numbers_outlive_the_connection);
	T_RUN(test_garbage_does_not_hurt);
	T_RUN(test_new_order_single_execution_report);
	T_RUN(test_order_before_user_request_refused);
	T_RUN(test_fault_huge_bodylength);
	T_RUN(test_fault_no_soh);
	T_RUN(test_fault_many_fields);
	T_RUN(test_fault_resend_request);
	T_RUN(test_order_flood_wraps_the_resend_store);
	return T_END();
}
