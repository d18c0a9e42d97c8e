/* test-deps: auth fix_session fix_codec */
/* The AuthCoordinator against the real local exchange (started from
 * $BT_BUILD_DIR), driven from C the way the Lua binding drives it: ops and
 * "state" events through a completion queue. Also the thread-safety promise:
 * state() read from another thread while clients log in and out (run it under
 * ThreadSanitizer with -DBT_TSAN=ON). */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/file.h>
#include <sys/syscall.h>

#include "auth.h"
#include "op.h"
#include "reactor.h"
#include "srv_util.h"
#include "t.h"
#include "test_exchange_util.h"

static struct ex ex;
static struct bt_reactor *R;
static struct bt_cq *CQ;

/* flock is interposed (calls from the linked libraries bind here) to see on
 * which thread the sequence store is opened: never on the I/O thread. */
static atomic_int flocks, flocks_on_io_thread;

int flock(int fd, int op)
{
	if (op & LOCK_EX) {
		atomic_fetch_add(&flocks, 1);
		if (R && reactor_in_io_thread(R))
			atomic_fetch_add(&flocks_on_io_thread, 1);
	}
	return (int)syscall(SYS_flock, fd, op);
}

/* State events seen for one target, as "new<old" strings. */
struct seen {
	uint64_t target;
	char log[32][40];
	int n;
};

static void pump_until(struct bt_op *op, struct seen *seen, int max_ms)
{
	int64_t end = tx_mono() + max_ms;
	struct bt_event ev[32];
	for (;;) {
		size_t n = bt_cq_drain(CQ, ev, 32);
		for (size_t i = 0; i < n; i++) {
			if (ev[i].kind == BT_EVENT_USER && seen && ev[i].id == seen->target &&
			    !strcmp(ev[i].name, "state") && seen->n < 32)
				snprintf(seen->log[seen->n++], 40, "%s<%s", ev[i].v[0].s,
					 ev[i].v[1].s);
			bt_event_clear(&ev[i]);
		}
		if (op && bt_op_status(op) != BT_OP_PENDING && n == 0)
			return;
		if (tx_mono() >= end) {
			if (!op)
				return; /* just draining */
			T_FAIL("operation still pending after %d ms", max_ms);
			return;
		}
		bt_cq_wait(CQ, 50);
	}
}

static struct bt_auth *new_client(int fix_port)
{
	char url[64], err[256];
	snprintf(url, sizeof url, "http://127.0.0.1:%d", ex.http_port);
	struct bt_auth_cfg cfg;
	bt_auth_cfg_init(&cfg);
	cfg.api_url = url;
	cfg.fix_host = "127.0.0.1";
	cfg.fix_port = (uint16_t)fix_port;
	cfg.timeout_ms = 2000;
	cfg.logon_timeout_ms = 2000;
	cfg.logout_timeout_ms = 2000;
	cfg.connect_timeout_ms = 2000;
	struct bt_auth *a = bt_auth_new(R, CQ, &cfg, err, sizeof err);
	if (!a)
		T_FAIL("bt_auth_new: %s", err);
	return a;
}

/* Runs op to completion; returns its status and drops it. */
static enum bt_op_status finish(struct bt_op *op, struct seen *seen, char *msg, size_t msglen,
				char *code, size_t codelen)
{
	pump_until(op, seen, 10000);
	enum bt_op_status st = bt_op_status(op);
	if (msg)
		snprintf(msg, msglen, "%s", bt_op_message(op) ? bt_op_message(op) : "");
	if (code)
		snprintf(code, codelen, "%s", bt_op_code(op) ? bt_op_code(op) : "");
	bt_op_unref(op);
	return st;
}

static void register_user(struct bt_auth *a, const char *user, char *id, size_t idlen)
{
	struct bt_op *op = bt_auth_register(a, user, "pw-123456");
	pump_until(op, NULL, 10000);
	T_EQ_INT(bt_op_status(op), BT_OP_DONE);
	const struct bt_value *v = bt_op_value(op, 0);
	snprintf(id, idlen, "%s", v ? v->s : "");
	bt_op_unref(op);
}

static void test_happy_path_transitions(void)
{
	struct bt_auth *a = new_client(ex.fix_port);
	struct seen seen = {.target = bt_auth_event_target(a)};
	char id[64], cid[64];
	struct bt_op *op = bt_auth_register(a, "happy", "pw-123456");
	T_EQ_INT(bt_auth_state(a, NULL, 0, NULL, 0), BT_AUTH_REGISTERING);
	pump_until(op, &seen, 10000);
	T_EQ_INT(bt_op_status(op), BT_OP_DONE);
	snprintf(id, sizeof id, "%s", bt_op_value(op, 0)->s);
	T_OK(!strncmp(id, "CLIENT", 6));
	T_OK(bt_op_value(op, 1) && strlen(bt_op_value(op, 1)->s) >= 32); /* the token */
	bt_op_unref(op);
	bt_auth_sender_comp_id(a, cid, sizeof cid);
	T_EQ_STR(cid, id);

	op = bt_auth_login(a, id, "pw-123456");
	/* claimed at call time; the I/O thread may already have moved on */
	enum bt_auth_state st = bt_auth_state(a, NULL, 0, NULL, 0);
	T_OK(st == BT_AUTH_CONNECTING || st == BT_AUTH_AUTHENTICATING || st == BT_AUTH_ACTIVE);
	T_EQ_INT(finish(op, &seen, NULL, 0, NULL, 0), BT_OP_DONE);
	T_EQ_INT(bt_auth_state(a, NULL, 0, NULL, 0), BT_AUTH_ACTIVE);
	T_EQ_INT(finish(bt_auth_logout(a), &seen, NULL, 0, NULL, 0), BT_OP_DONE);
	T_EQ_INT(bt_auth_state(a, NULL, 0, NULL, 0), BT_AUTH_DISCONNECTED);

	static const char *want[] = {
	    "Registering<Disconnected",  "Disconnected<Registering", "Connecting<Disconnected",
	    "Authenticating<Connecting", "Active<Authenticating",    "Disconnected<Active",
	};
	T_EQ_INT(seen.n, 6);
	for (int i = 0; i < seen.n && i < 6; i++)
		T_EQ_STR(seen.log[i], want[i]);
	bt_auth_free(a);
}

static void test_wrong_password_fails_rejected(void)
{
	struct bt_auth *a = new_client(ex.fix_port);
	char id[64], msg[512], code[32], reason[512];
	register_user(a, "wrongpw", id, sizeof id);
	struct bt_op *op = bt_auth_login(a, id, "not-the-password");
	T_EQ_INT(finish(op, NULL, msg, sizeof msg, code, sizeof code), BT_OP_FAILED);
	T_EQ_STR(code, "rejected");
	T_OK(strstr(msg, "password incorrect") != NULL);
	T_EQ_INT(bt_auth_state(a, reason, sizeof reason, code, sizeof code), BT_AUTH_FAILED);
	T_EQ_STR(reason, msg);
	T_EQ_STR(code, "rejected");
	/* Failed -> login() starts again */
	T_EQ_INT(finish(bt_auth_login(a, id, "pw-123456"), NULL, NULL, 0, NULL, 0), BT_OP_DONE);
	T_EQ_INT(bt_auth_state(a, NULL, 0, NULL, 0), BT_AUTH_ACTIVE);
	bt_auth_free(a); /* no logout: free drops the connection */
}

/* The store is opened on the caller's thread, before the connect is posted;
 * a refused login (still logging out, holding the store's lock) followed by
 * an immediate login still works; a store in use fails with code "store". */
static void test_store_opened_off_the_io_thread(void)
{
	char dir[] = "/tmp/bt-test-auth-XXXXXX";
	T_OK(mkdtemp(dir) != NULL);
	char url[64], err[256], id[64], msg[512], code[32];
	snprintf(url, sizeof url, "http://127.0.0.1:%d", ex.http_port);
	struct bt_auth_cfg cfg;
	bt_auth_cfg_init(&cfg);
	cfg.api_url = url;
	cfg.fix_host = "127.0.0.1";
	cfg.fix_port = (uint16_t)ex.fix_port;
	cfg.timeout_ms = cfg.logon_timeout_ms = cfg.logout_timeout_ms = 2000;
	cfg.store_dir = dir;
	struct bt_auth *a = bt_auth_new(R, CQ, &cfg, err, sizeof err);
	struct bt_auth *b = bt_auth_new(R, CQ, &cfg, err, sizeof err);
	T_OK(a && b);
	register_user(a, "storethread", id, sizeof id);
	atomic_store(&flocks, 0);
	atomic_store(&flocks_on_io_thread, 0);
	T_EQ_INT(finish(bt_auth_login(a, id, "wrong"), NULL, NULL, 0, code, sizeof code),
		 BT_OP_FAILED);
	T_EQ_STR(code, "rejected");
	T_EQ_INT(finish(bt_auth_login(a, id, "pw-123456"), NULL, NULL, 0, NULL, 0), BT_OP_DONE);
	T_OK(atomic_load(&flocks) >= 2);
	/* The retry after a refusal is the one case allowed on the I/O thread. */
	T_OK(atomic_load(&flocks_on_io_thread) <= 1);
	int before = atomic_load(&flocks_on_io_thread);
	T_EQ_INT(
	    finish(bt_auth_login(b, id, "pw-123456"), NULL, msg, sizeof msg, code, sizeof code),
	    BT_OP_FAILED);
	T_EQ_STR(code, "store");
	T_OK(strstr(msg, "in use by another process") != NULL);
	T_EQ_INT(atomic_load(&flocks_on_io_thread), before);
	T_EQ_INT(finish(bt_auth_logout(a), NULL, NULL, 0, NULL, 0), BT_OP_DONE);
	/* Fresh logins never touch the store on the I/O thread. */
	atomic_store(&flocks_on_io_thread, 0);
	T_EQ_INT(finish(bt_auth_login(b, id, "pw-123456"), NULL, NULL, 0, NULL, 0), BT_OP_DONE);
	T_EQ_INT(finish(bt_auth_logout(b), NULL, NULL, 0, NULL, 0), BT_OP_DONE);
	T_EQ_INT(finish(bt_auth_login(a, id, "pw-123456"), NULL, NULL, 0, NULL, 0), BT_OP_DONE);
	T_EQ_INT(atomic_load(&flocks_on_io_thread), 0);
	bt_auth_free(a);
	bt_auth_free(b);
	char cmd[128];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
	T_EQ_INT(system(cmd), 0);
}

static void test_one_operation_at_a_time(void)
{
	struct bt_auth *a = new_client(ex.fix_port);
	char id[64], msg[512], code[32];
	register_user(a, "busy", id, sizeof id);
	struct bt_op *first = bt_auth_login(a, id, "pw-123456");
	struct bt_op *second = bt_auth_login(a, id, "pw-123456");
	T_EQ_INT(bt_op_status(second), BT_OP_FAILED); /* at once, not queued */
	T_EQ_STR(bt_op_code(second), "invalid_state");
	/* "while Connecting" or, on a loaded machine, a later state */
	T_OK(strstr(bt_op_message(second), "login() while ") != NULL);
	T_OK(strstr(bt_op_message(second), "one operation at a time") != NULL);
	bt_op_unref(second);
	T_EQ_INT(finish(first, NULL, NULL, 0, NULL, 0), BT_OP_DONE);
	struct bt_op *reg = bt_auth_register(a, "other", "pw-123456");
	T_EQ_INT(finish(reg, NULL, msg, sizeof msg, code, sizeof code), BT_OP_FAILED);
	T_EQ_STR(code, "invalid_state");
	T_OK(strstr(msg, "register() while Active") != NULL);
	bt_auth_free(a);
}

static void test_refused_names_the_address(void)
{
	/* a port that was just free: bind, read it, close */
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof sa;
	bind(fd, (struct sockaddr *)&sa, sizeof sa);
	getsockname(fd, (struct sockaddr *)&sa, &sl);
	int port = ntohs(sa.sin_port);
	close(fd);
	struct bt_auth *a = new_client(port);
	char msg[512], code[32], want[64];
	T_EQ_INT(
	    finish(bt_auth_login(a, "CLIENT0001", "x"), NULL, msg, sizeof msg, code, sizeof code),
	    BT_OP_FAILED);
	T_EQ_STR(code, "refused");
	snprintf(want, sizeof want, "127.0.0.1:%d", port);
	T_OK(strstr(msg, want) != NULL);
	T_EQ_INT(bt_auth_state(a, NULL, 0, NULL, 0), BT_AUTH_FAILED);
	bt_auth_free(a);
}

static void test_logout_cancels_a_login(void)
{
	/* An exchange that never answers the UserRequest holds the login in
	 * Authenticating, so the logout() below always meets a login in flight
	 * (on a loaded machine a normal login can finish before the next line). */
	struct ex slow;
	if (ex_start(&slow, "--fault", "no-user-response", NULL) != 0) {
		T_FAIL("cannot start the no-user-response exchange");
		return;
	}
	struct bt_auth *reg = new_client(ex.fix_port);
	char id[64], code[32], url[64], err[256];
	register_user(reg, "cancelme", id, sizeof id);
	bt_auth_free(reg);
	/* the same account on the slow exchange */
	snprintf(url, sizeof url, "http://127.0.0.1:%d", slow.http_port);
	struct bt_auth_cfg cfg;
	bt_auth_cfg_init(&cfg);
	cfg.api_url = url;
	cfg.fix_host = "127.0.0.1";
	cfg.fix_port = (uint16_t)slow.fix_port;
	struct bt_auth *a = bt_auth_new(R, CQ, &cfg, err, sizeof err);
	struct bt_op *r = bt_auth_register(a, "cancelme", "pw-123456");
	T_EQ_INT(finish(r, NULL, NULL, 0, NULL, 0), BT_OP_DONE);
	bt_auth_sender_comp_id(a, id, sizeof id);

	struct bt_op *login = bt_auth_login(a, id, "pw-123456");
	struct seen seen = {.target = bt_auth_event_target(a)};
	pump_until(NULL, &seen, 300); /* reaches Authenticating and waits there */
	T_EQ_INT(bt_auth_state(a, NULL, 0, NULL, 0), BT_AUTH_AUTHENTICATING);
	T_EQ_INT(finish(bt_auth_logout(a), &seen, NULL, 0, NULL, 0), BT_OP_DONE);
	/* the logout op finishes only once the attempt is torn down */
	T_EQ_INT(bt_auth_state(a, NULL, 0, NULL, 0), BT_AUTH_DISCONNECTED);
	T_EQ_INT(finish(login, NULL, NULL, 0, code, sizeof code), BT_OP_CANCELLED);
	T_EQ_STR(code, "cancelled");
	bt_auth_free(a);
	ex_stop(&slow);
}

/* ---- concurrent readers ---- */

#define NCLIENTS 16
static struct bt_auth *clients[NCLIENTS];
static atomic_int stop_readers;
static atomic_long reads;

static void *reader(void *arg)
{
	(void)arg;
	char reason[512], code[32], id[80];
	while (!atomic_load(&stop_readers)) {
		for (int i = 0; i < NCLIENTS; i++) {
			enum bt_auth_state st =
			    bt_auth_state(clients[i], reason, sizeof reason, code, sizeof code);
			if ((unsigned)st > BT_AUTH_FAILED)
				abort();
			bt_auth_sender_comp_id(clients[i], id, sizeof id);
			atomic_fetch_add(&reads, 1);
		}
	}
	return NULL;
}

static void test_state_reads_from_other_threads(void)
{
	char ids[NCLIENTS][64];
	for (int i = 0; i < NCLIENTS; i++) {
		char user[32];
		snprintf(user, sizeof user, "conc%d", i);
		clients[i] = new_client(ex.fix_port);
		register_user(clients[i], user, ids[i], sizeof ids[i]);
	}
	pthread_t th[2];
	atomic_store(&stop_readers, 0);
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, reader, NULL);
	for (int round = 0; round < 5; round++) {
		struct bt_op *ops[NCLIENTS];
		for (int i = 0; i < NCLIENTS; i++)
			ops[i] = bt_auth_login(clients[i], ids[i], "pw-123456");
		for (int i = 0; i < NCLIENTS; i++)
			T_EQ_INT(finish(ops[i], NULL, NULL, 0, NULL, 0), BT_OP_DONE);
		for (int i = 0; i < NCLIENTS; i++)
			ops[i] = bt_auth_logout(clients[i]);
		for (int i = 0; i < NCLIENTS; i++)
			T_EQ_INT(finish(ops[i], NULL, NULL, 0, NULL, 0), BT_OP_DONE);
	}
	atomic_store(&stop_readers, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);
	T_OK(atomic_load(&reads) > 0);
	for (int i = 0; i < NCLIENTS; i++) {
		T_EQ_INT(bt_auth_state(clients[i], NULL, 0, NULL, 0), BT_AUTH_DISCONNECTED);
		bt_auth_free(clients[i]);
	}
}

/* Last: it breaks the reactor's epoll fd. A session Active when the I/O
 * thread loses epoll ends Failed with the reason; a new login is refused at
 * once; freeing the client does not hang. */
static void test_io_thread_failure_ends_sessions(void)
{
	struct bt_auth *a = new_client(ex.fix_port);
	char id[64], reason[512], code[32];
	register_user(a, "iofail", id, sizeof id);
	T_EQ_INT(finish(bt_auth_login(a, id, "pw-123456"), NULL, NULL, 0, NULL, 0), BT_OP_DONE);
	T_EQ_INT(bt_auth_state(a, NULL, 0, NULL, 0), BT_AUTH_ACTIVE);
	T_OK(srv_break_epoll() >= 1);
	/* a logout wakes the I/O thread, whose next epoll_wait fails: the
	 * logout and the session end with the reason instead of hanging */
	char msg[512];
	T_EQ_INT(finish(bt_auth_logout(a), NULL, msg, sizeof msg, code, sizeof code), BT_OP_FAILED);
	T_EQ_STR(code, "disconnected");
	T_OK(strstr(msg, "I/O thread failed") != NULL);
	T_EQ_INT(bt_auth_state(a, reason, sizeof reason, code, sizeof code), BT_AUTH_FAILED);
	T_OK(strstr(reason, "I/O thread failed (epoll_wait: ") != NULL);
	T_EQ_STR(code, "disconnected");
	T_EQ_INT(
	    finish(bt_auth_login(a, id, "pw-123456"), NULL, msg, sizeof msg, code, sizeof code),
	    BT_OP_FAILED);
	T_EQ_STR(code, "connect_failed");
	T_OK(strstr(msg, "I/O thread failed") != NULL);
	bt_auth_free(a);
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
	T_RUN(test_happy_path_transitions);
	T_RUN(test_wrong_password_fails_rejected);
	T_RUN(test_one_operation_at_a_time);
	T_RUN(test_refused_names_the_address);
	T_RUN(test_logout_cancels_a_login);
	T_RUN(test_state_reads_from_other_threads);
	T_RUN(test_store_opened_off_the_io_thread);
	/* last: it breaks the shared reactor for good */
	T_RUN(test_io_thread_failure_ends_sessions);
	bt_cq_close(CQ);
	reactor_release(R);
	ex_stop(&ex);
	return T_END();
}
