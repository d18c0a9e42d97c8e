/* test-deps: auth fix_session fix_codec */
/* bt_auth_send against the real local exchange: what the session or the
 * exchange would refuse is refused at the call, and the send queue is bounded
 * (BT_AUTH_SEND_BUSY, bt_auth_queued, bt_auth_flush_request and its "drained"
 * event) while a second thread sends and the I/O thread writes (run it under
 * ThreadSanitizer with -DBT_TSAN=ON). */
#include <pthread.h>
#include <stdatomic.h>

#include "auth.h"
#include "fix_session.h"
#include "op.h"
#include "reactor.h"
#include "t.h"
#include "test_exchange_util.h"

static struct ex ex;
static struct bt_reactor *R;
static struct bt_cq *CQ;

/* User events of one client, counted while the queue is drained. */
struct tally {
	uint64_t target;
	int messages, drained;
	char last_state[32];
};

static void drain(struct tally *t)
{
	struct bt_event ev[64];
	size_t n;
	while ((n = bt_cq_drain(CQ, ev, 64)) > 0) {
		for (size_t i = 0; i < n; i++) {
			if (t && ev[i].kind == BT_EVENT_USER && ev[i].id == t->target) {
				if (!strcmp(ev[i].name, "message"))
					t->messages++;
				else if (!strcmp(ev[i].name, "drained"))
					t->drained++;
				else if (!strcmp(ev[i].name, "state"))
					snprintf(t->last_state, sizeof t->last_state, "%s",
						 ev[i].v[0].s);
			}
			bt_event_clear(&ev[i]);
		}
	}
}

/* Pumps until op finished (if any) and t has seen at least `messages`
 * messages and `drained` drained events, or max_ms pass. */
static int pump(struct bt_op *op, struct tally *t, int messages, int drained, int max_ms)
{
	int64_t end = tx_mono() + max_ms;
	for (;;) {
		drain(t);
		if ((!op || bt_op_status(op) != BT_OP_PENDING) &&
		    (!t || (t->messages >= messages && t->drained >= drained)))
			return 1;
		if (tx_mono() >= end)
			return 0;
		bt_cq_wait(CQ, 20);
	}
}

static struct bt_auth *active_client(const char *user, size_t max_body, size_t max_queue)
{
	char url[64], err[256];
	snprintf(url, sizeof url, "http://127.0.0.1:%d", ex.http_port);
	struct bt_auth_cfg cfg;
	bt_auth_cfg_init(&cfg);
	cfg.api_url = url;
	cfg.fix_host = "127.0.0.1";
	cfg.fix_port = (uint16_t)ex.fix_port;
	cfg.timeout_ms = 5000;
	cfg.logon_timeout_ms = 5000;
	cfg.logout_timeout_ms = 1000;
	cfg.connect_timeout_ms = 5000;
	cfg.heartbeat_s = 60;
	if (max_body)
		cfg.max_body = max_body;
	if (max_queue)
		cfg.max_send_queue = max_queue;
	struct bt_auth *a = bt_auth_new(R, CQ, &cfg, err, sizeof err);
	if (!a) {
		T_FAIL("bt_auth_new: %s", err);
		return NULL;
	}
	struct bt_op *op = bt_auth_register(a, user, "pw-123456");
	T_OK(pump(op, NULL, 0, 0, 10000));
	T_EQ_INT(bt_op_status(op), BT_OP_DONE);
	char id[64];
	snprintf(id, sizeof id, "%s", bt_op_value(op, 0) ? bt_op_value(op, 0)->s : "");
	bt_op_unref(op);
	op = bt_auth_login(a, id, "pw-123456");
	T_OK(pump(op, NULL, 0, 0, 10000));
	T_EQ_INT(bt_op_status(op), BT_OP_DONE);
	bt_op_unref(op);
	T_EQ_INT(bt_auth_state(a, NULL, 0, NULL, 0), BT_AUTH_ACTIVE);
	return a;
}

static void logout_and_free(struct bt_auth *a)
{
	struct bt_op *op = bt_auth_logout(a);
	T_OK(pump(op, NULL, 0, 0, 10000));
	bt_op_unref(op);
	bt_auth_free(a);
}

#define FIELD(t, s)                                          \
	{                                                    \
		.tag = (t), .val = (s), .len = sizeof(s) - 1 \
	}

static const struct fix_out_field ORDER[] = {
    FIELD(11, "ORD"),  FIELD(55, "EUR/USD"), FIELD(54, "1"),
    FIELD(38, "1000"), FIELD(40, "2"),       FIELD(44, "1.0"),
};
#define NORDER (sizeof ORDER / sizeof ORDER[0])

static void test_refused_at_the_call(void)
{
	struct bt_auth *a = active_client("refused", 1024, 0);
	if (!a)
		return;
	char err[160];
	/* MsgTypes the session would not encode */
	T_EQ_INT(bt_auth_send(a, "ZZ", ORDER, NORDER, err, sizeof err), BT_AUTH_SEND_MISUSE);
	T_EQ_STR(err, "bad MsgType 'ZZ' (FIX 4.4 application types and user-defined 'U...' "
		      "types only)");
	T_EQ_INT(bt_auth_send(a, "BZ", ORDER, NORDER, err, sizeof err), BT_AUTH_SEND_MISUSE);
	T_EQ_INT(bt_auth_send(a, "A", ORDER, NORDER, err, sizeof err), BT_AUTH_SEND_MISUSE);
	T_EQ_STR(err, "MsgType 'A' is a session message: the session sends it");
	T_EQ_INT(bt_auth_send(a, "U7", ORDER, NORDER, err, sizeof err), BT_AUTH_SEND_OK);
	/* a NUL byte, like SOH */
	struct fix_out_field nul[] = {{.tag = 58, .val = "a\0b", .len = 3}};
	T_EQ_INT(bt_auth_send(a, "D", nul, 1, err, sizeof err), BT_AUTH_SEND_MISUSE);
	T_EQ_STR(err, "value of tag 58 is empty or contains SOH or NUL");
	/* more fields than the session's inbound limit leaves room for */
	static struct fix_out_field wide[BT_AUTH_MAX_FIELDS + 1];
	for (size_t i = 0; i < BT_AUTH_MAX_FIELDS + 1; i++)
		wide[i] = (struct fix_out_field){.tag = 20000 + (uint32_t)i, .val = "v", .len = 1};
	T_EQ_INT(bt_auth_send(a, "D", wide, BT_AUTH_MAX_FIELDS + 1, err, sizeof err),
		 BT_AUTH_SEND_MISUSE);
	T_EQ_STR(err, "too many fields (1015, at most 1014)");
	/* the body, header counted, against max_body (1024 here) */
	static char big[1024];
	memset(big, 'x', sizeof big);
	struct fix_out_field f58[] = {FIELD(11, "BIG"), {.tag = 58, .val = big, .len = 1000}};
	T_EQ_INT(bt_auth_send(a, "D", f58, 2, err, sizeof err), BT_AUTH_SEND_MISUSE);
	T_OK(strstr(err, "over max_message_size (1024)") != NULL);
	f58[1].len = 800;
	T_EQ_INT(bt_auth_send(a, "D", f58, 2, err, sizeof err), BT_AUTH_SEND_OK);
	/* both accepted messages were answered (35=j for U7, 35=8 for the D) and
	 * the session is still Active */
	struct tally t = {.target = bt_auth_event_target(a)};
	T_OK(pump(NULL, &t, 2, 0, 10000));
	T_EQ_INT(t.messages, 2);
	T_EQ_INT((int)bt_auth_received(a), 2);
	T_EQ_INT(bt_auth_state(a, NULL, 0, NULL, 0), BT_AUTH_ACTIVE);
	logout_and_free(a);
}

/* A second thread sends while the I/O thread writes. */
struct sender {
	struct bt_auth *a;
	atomic_int stop;
	int accepted;
	atomic_int busy; /* read by the main thread meanwhile */
	size_t max_bytes_seen;
};

static void *sender_main(void *arg)
{
	struct sender *s = arg;
	char err[160];
	while (!atomic_load(&s->stop)) {
		int rc = bt_auth_send(s->a, "D", ORDER, NORDER, err, sizeof err);
		if (rc == BT_AUTH_SEND_OK) {
			s->accepted++;
		} else if (rc == BT_AUTH_SEND_BUSY) {
			atomic_fetch_add(&s->busy, 1);
			size_t bytes, msgs;
			bt_auth_queued(s->a, &bytes, &msgs);
			if (bytes > s->max_bytes_seen)
				s->max_bytes_seen = bytes;
			usleep(1000);
		} else {
			break;
		}
	}
	return NULL;
}

static void test_bounded_queue(void)
{
	enum { LIMIT = 64 * 1024 };
	struct bt_auth *a = active_client("bounded", 0, LIMIT);
	if (!a)
		return;
	struct tally t = {.target = bt_auth_event_target(a)};
	T_EQ_INT(bt_auth_flush_request(a), 1); /* nothing queued */
	T_EQ_INT(kill(ex.pid, SIGSTOP), 0);
	struct sender s = {.a = a};
	pthread_t th;
	T_EQ_INT(pthread_create(&th, NULL, sender_main, &s), 0);
	/* until the kernel's buffers and then ours are full, and stay so */
	int64_t end = tx_mono() + 60000;
	size_t bytes = 0, msgs = 0;
	for (;;) {
		usleep(200 * 1000);
		bt_auth_queued(a, &bytes, &msgs);
		if (bytes >= LIMIT && atomic_load(&s.busy) > 0) {
			usleep(200 * 1000);
			bt_auth_queued(a, &bytes, &msgs);
			if (bytes >= LIMIT)
				break;
		}
		if (tx_mono() > end)
			break;
	}
	atomic_store(&s.stop, 1);
	pthread_join(th, NULL);
	bt_auth_queued(a, &bytes, &msgs);
	printf("# stopped exchange: %d accepted, %d busy, %zu bytes / %zu msgs queued\n",
	       s.accepted, atomic_load(&s.busy), bytes, msgs);
	T_OK(atomic_load(&s.busy) > 0);
	T_OK(bytes >= LIMIT && bytes < LIMIT + 512);
	T_OK(s.max_bytes_seen < LIMIT + 512);
	T_OK(msgs > 0 && msgs <= (size_t)s.accepted);
	char err[160];
	T_EQ_INT(bt_auth_send(a, "D", ORDER, NORDER, err, sizeof err), BT_AUTH_SEND_BUSY);
	T_OK(!strncmp(err, "send queue full (", 17));
	T_EQ_INT(bt_auth_flush_request(a), 0);
	pump(NULL, &t, 0, 0, 200);
	T_EQ_INT(t.drained, 0);

	T_EQ_INT(kill(ex.pid, SIGCONT), 0);
	T_OK(pump(NULL, &t, 0, 1, 30000));
	bt_auth_queued(a, &bytes, &msgs);
	T_EQ_INT((int)bytes, 0);
	T_EQ_INT((int)msgs, 0);
	/* every accepted order was acknowledged */
	T_OK(pump(NULL, &t, s.accepted, 1, 60000));
	T_EQ_INT(t.messages, s.accepted);
	T_EQ_INT((int)bt_auth_received(a), s.accepted);
	T_EQ_INT(bt_auth_state(a, NULL, 0, NULL, 0), BT_AUTH_ACTIVE);
	logout_and_free(a);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	if (ex_start(&ex, NULL) != 0) {
		fprintf(stderr, "cannot start the exchange from $BT_BUILD_DIR\n");
		return 1;
	}
	char err[256];
	R = reactor_acquire(err, sizeof err);
	CQ = R ? bt_cq_new(R, err, sizeof err) : NULL;
	if (!CQ) {
		fprintf(stderr, "reactor: %s\n", err);
		return 1;
	}
	T_RUN(test_refused_at_the_call);
	T_RUN(test_bounded_queue);
	kill(ex.pid, SIGCONT);
	bt_cq_close(CQ);
	reactor_release(R);
	ex_stop(&ex);
	return T_END();
}
