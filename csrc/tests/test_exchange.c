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
	return T_END();
}
