/* test-deps: fix_conn transport fix_session seqstore fix_codec reactor */
/* fix_conn in the acceptor role against fix_conn as the initiator, both on
 * one reactor over loopback: the first frame handed to the owner, logon,
 * UserRequest, an application message each way and logout, over TCP and
 * TLS; a drop from inside a callback; paced (slow) writes; the first-frame
 * timeout and byte limit; a plain client on a TLS acceptor. */
#include <openssl/ssl.h>

#include "fix_codec.h"
#include "fix_conn.h"
#include "reactor.h"
#include "srv_util.h"
#include "t.h"
#include "transport.h"

#define EXCH "BETA_EXCHANGE"

static struct bt_reactor *R;
static char tmpdir[256];

#define WAIT(o, cond)                                                                    \
	do {                                                                             \
		struct timespec ts_;                                                     \
		clock_gettime(CLOCK_REALTIME, &ts_);                                     \
		ts_.tv_sec += 10;                                                        \
		pthread_mutex_lock(&(o)->mu);                                            \
		while (!(cond) && pthread_cond_timedwait(&(o)->cv, &(o)->mu, &ts_) == 0) \
			;                                                                \
		pthread_mutex_unlock(&(o)->mu);                                          \
	} while (0)

/* ------------------------------------------------------------ acceptor */

struct acc {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct fix_conn_accept_opts o;
	struct fix_conn *c;
	int drop_on_app;
	int first_calls, logon_requests, apps, closed;
	char first_comp[32], code[32], reason[256], err[256];
	size_t unsent;
	uint64_t produced;
};

static int a_first(void *arg, const char *buf, size_t len, struct fix_session_cfg *cfg)
{
	struct acc *a = arg;
	size_t flen = 0, vlen = 0;
	struct fix_field fields[64];
	struct fix_msg m;
	fix_msg_init(&m, fields, 64);
	const char *v = NULL;
	if (fix_frame(buf, len, FIX_DEFAULT_MAX_BODY, &flen) == FIX_OK &&
	    fix_parse(&m, buf, flen) == FIX_OK)
		v = fix_msg_get(&m, 49, &vlen);
	pthread_mutex_lock(&a->mu);
	a->first_calls++;
	snprintf(a->first_comp, sizeof(a->first_comp), "%.*s", v ? (int)vlen : 0, v ? v : "");
	pthread_mutex_unlock(&a->mu);
	cfg->sender_comp_id = EXCH;
	return 0;
}

static void a_event(void *arg, const struct fix_event *ev)
{
	struct acc *a = arg;
	struct fix_session *s = fix_conn_session(a->c);
	int64_t now = reactor_now_ms();
	if (ev->type == FIX_EV_LOGON_REQUEST)
		fix_session_accept(s, now);
	if (ev->type == FIX_EV_USER_REQUEST)
		fix_session_user_response(s, "r1", "CLIENT0001", 1, "logged in", now);
	if (ev->type == FIX_EV_APP) {
		struct fix_out_field f[] = {{11, "ORD-1", 5}, {150, "0", 1}};
		fix_conn_send(a->c, "8", f, 2);
		if (a->drop_on_app)
			fix_conn_drop(a->c);
	}
	pthread_mutex_lock(&a->mu);
	a->logon_requests += ev->type == FIX_EV_LOGON_REQUEST;
	a->apps += ev->type == FIX_EV_APP;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

static void a_closed(void *arg, const char *code, const char *reason)
{
	struct acc *a = arg;
	pthread_mutex_lock(&a->mu);
	a->closed++;
	snprintf(a->code, sizeof(a->code), "%s", code);
	snprintf(a->reason, sizeof(a->reason), "%s", reason);
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

static const struct fix_conn_cbs ACBS = {NULL, a_event, a_closed, NULL};

static void acc_init(struct acc *a, int fd)
{
	memset(a, 0, sizeof(*a));
	pthread_mutex_init(&a->mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	a->o.fd = fd;
	a->o.on_first_bytes = a_first;
}

static void acc_fini(struct acc *a)
{
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cv);
}

static void do_accept(struct bt_reactor *r, void *ud)
{
	struct acc *a = ud;
	a->c = fix_conn_accept(r, &a->o, &ACBS, a, a->err, sizeof(a->err));
}

static void do_afree(struct bt_reactor *r, void *ud)
{
	struct acc *a = ud;
	fix_conn_free(a->c);
	a->c = NULL;
}

/* ------------------------------------------------------------ initiator */

struct cli {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct fix_conn_opts o;
	struct fix_conn *c;
	int logons, user_status, apps, closed;
	char code[32], err[256];
};

static void c_event(void *arg, const struct fix_event *ev)
{
	struct cli *k = arg;
	if (ev->type == FIX_EV_LOGON)
		fix_conn_user_request(k->c, "r1", 1, "CLIENT0001", "pw");
	pthread_mutex_lock(&k->mu);
	k->logons += ev->type == FIX_EV_LOGON;
	k->apps += ev->type == FIX_EV_APP;
	if (ev->type == FIX_EV_USER_RESPONSE)
		k->user_status = ev->user_response.status;
	pthread_cond_broadcast(&k->cv);
	pthread_mutex_unlock(&k->mu);
}

static void c_closed(void *arg, const char *code, const char *reason)
{
	struct cli *k = arg;
	pthread_mutex_lock(&k->mu);
	k->closed++;
	snprintf(k->code, sizeof(k->code), "%s", code);
	pthread_cond_broadcast(&k->cv);
	pthread_mutex_unlock(&k->mu);
}

static const struct fix_conn_cbs CCBS = {NULL, c_event, c_closed, NULL};

static void do_open(struct bt_reactor *r, void *ud)
{
	struct cli *k = ud;
	k->c = fix_conn_open(r, &k->o, &CCBS, k, k->err, sizeof(k->err));
}

static void do_cfree(struct bt_reactor *r, void *ud)
{
	struct cli *k = ud;
	fix_conn_free(k->c);
	k->c = NULL;
}

static void do_csend(struct bt_reactor *r, void *ud)
{
	struct cli *k = ud;
	struct fix_out_field f[] = {{11, "ORD-1", 5}, {55, "EUR/USD", 7}, {54, "1", 1}};
	fix_conn_send(k->c, "D", f, 3);
}

static void do_clogout(struct bt_reactor *r, void *ud)
{
	struct cli *k = ud;
	fix_conn_logout(k->c, "bye");
}

/* A client logged on (and authenticated) to an accepted connection. */
static void pair_up(struct cli *k, struct acc *a, int tls, struct transport_tls_ctx **cctx)
{
	unsigned short port;
	int lfd = srv_listen(4, &port);
	T_OK(lfd >= 0);
	memset(k, 0, sizeof(*k));
	pthread_mutex_init(&k->mu, NULL);
	pthread_cond_init(&k->cv, NULL);
	k->o.host = "127.0.0.1";
	k->o.port = port;
	fix_session_cfg_init(&k->o.session);
	k->o.session.sender_comp_id = "CLIENT0001";
	k->o.session.target_comp_id = EXCH;
	*cctx = NULL;
	if (tls) {
		char ca[512], err[256];
		snprintf(ca, sizeof(ca), "%s/ca.pem", tmpdir);
		struct transport_tls_opts to = {.ca_file = ca};
		*cctx = transport_tls_ctx_new(&to, err, sizeof(err));
		T_OK(*cctx != NULL);
		k->o.tls = *cctx;
		k->o.server_name = "localhost";
	}
	reactor_call(R, do_open, k);
	T_OK(k->c != NULL);
	acc_init(a, accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
	close(lfd);
	T_OK(a->o.fd >= 0);
	if (tls) {
		char cert[512], key[512], err[256];
		snprintf(cert, sizeof(cert), "%s/server.pem", tmpdir);
		snprintf(key, sizeof(key), "%s/server.key", tmpdir);
		a->o.tls = transport_tls_server_ctx_new(cert, key, err, sizeof(err));
		T_OK(a->o.tls != NULL);
	}
	reactor_call(R, do_accept, a);
	T_OK(a->c != NULL);
	WAIT(k, k->user_status || k->closed);
	T_EQ_INT(k->logons, 1);
	T_EQ_INT(k->user_status, 1);
	T_EQ_INT(a->first_calls, 1);
	T_EQ_STR(a->first_comp, "CLIENT0001");
	T_EQ_INT(a->logon_requests, 1);
}

static void pair_down(struct cli *k, struct acc *a, struct transport_tls_ctx *cctx)
{
	reactor_call(R, do_cfree, k);
	reactor_call(R, do_afree, a);
	transport_tls_ctx_free(cctx);
	transport_tls_ctx_free(a->o.tls);
	pthread_mutex_destroy(&k->mu);
	pthread_cond_destroy(&k->cv);
	acc_fini(a);
}

static void session_both_ways(int tls)
{
	int fds = srv_count_fds();
	struct cli k;
	struct acc a;
	struct transport_tls_ctx *cctx;
	pair_up(&k, &a, tls, &cctx);
	reactor_call(R, do_csend, &k);
	WAIT(&k, k.apps == 1);
	T_EQ_INT(a.apps, 1);
	T_EQ_INT(k.apps, 1);
	reactor_call(R, do_clogout, &k);
	WAIT(&k, k.closed);
	WAIT(&a, a.closed);
	T_EQ_STR(k.code, "logged_out");
	T_EQ_INT(a.closed, 1);
	pair_down(&k, &a, cctx);
	T_EQ_INT(srv_count_fds(), fds);
}

static void test_accept_plain(void)
{
	session_both_ways(0);
}

static void test_accept_tls(void)
{
	session_both_ways(1);
}

/* The owner drops the line while handling a message (the exchange's
 * close-after fault): what that message made goes out, then the line goes
 * away without a Logout. */
static void test_drop_in_callback(void)
{
	struct cli k;
	struct acc a;
	struct transport_tls_ctx *cctx;
	pair_up(&k, &a, 0, &cctx);
	a.drop_on_app = 1;
	reactor_call(R, do_csend, &k);
	WAIT(&a, a.closed);
	WAIT(&k, k.closed);
	T_EQ_INT(a.closed, 1);
	T_EQ_STR(a.code, "dropped");
	T_EQ_STR(k.code, "disconnected");
	T_EQ_INT(k.apps, 1);
	pair_down(&k, &a, cctx);
}

static void do_pace_and_send(struct bt_reactor *r, void *ud)
{
	struct acc *a = ud;
	fix_conn_pace(a->c, 1000);
	struct fix_out_field f[] = {{11, "ORD-2", 5}, {150, "0", 1}};
	fix_conn_send(a->c, "8", f, 2);
	fix_conn_out_stats(a->c, &a->produced, &a->unsent);
}

static void do_stats(struct bt_reactor *r, void *ud)
{
	struct acc *a = ud;
	fix_conn_out_stats(a->c, &a->produced, &a->unsent);
}

static void do_unpace(struct bt_reactor *r, void *ud)
{
	struct acc *a = ud;
	fix_conn_pace(a->c, 0);
}

/* One byte a second: a whole message stays mostly unsent until pacing
 * stops, then it arrives. */
static void test_pace(void)
{
	struct cli k;
	struct acc a;
	struct transport_tls_ctx *cctx;
	pair_up(&k, &a, 0, &cctx);
	reactor_call(R, do_pace_and_send, &a);
	T_OK(a.unsent > 50);
	size_t first = a.unsent;
	reactor_call(R, do_stats, &a);
	T_OK(a.unsent > 50 && a.unsent <= first);
	T_EQ_INT(k.apps, 0);
	reactor_call(R, do_unpace, &a);
	WAIT(&k, k.apps == 1);
	T_EQ_INT(k.apps, 1);
	pair_down(&k, &a, cctx);
}

/* A raw client: nothing at all, too many bytes without a frame, or plain
 * text to a TLS acceptor. */
static void raw_case(const char *send_first, size_t n, size_t max, int tls, const char *want_code)
{
	unsigned short port;
	int lfd = srv_listen(4, &port);
	int cfd = srv_connect(port);
	T_OK(cfd >= 0);
	struct acc a;
	acc_init(&a, accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
	a.o.first_frame_timeout_ms = 300;
	a.o.first_bytes_max = max;
	if (tls) {
		char cert[512], key[512], err[256];
		snprintf(cert, sizeof(cert), "%s/server.pem", tmpdir);
		snprintf(key, sizeof(key), "%s/server.key", tmpdir);
		a.o.tls = transport_tls_server_ctx_new(cert, key, err, sizeof(err));
		T_OK(a.o.tls != NULL);
	}
	reactor_call(R, do_accept, &a);
	T_OK(a.c != NULL);
	if (n)
		T_OK(send(cfd, send_first, n, MSG_NOSIGNAL) == (ssize_t)n);
	WAIT(&a, a.closed);
	T_EQ_INT(a.closed, 1);
	T_EQ_STR(a.code, want_code);
	T_EQ_INT(a.first_calls, 0);
	reactor_call(R, do_afree, &a);
	transport_tls_ctx_free(a.o.tls);
	close(cfd);
	close(lfd);
	acc_fini(&a);
}

static void test_first_frame_timeout(void)
{
	raw_case(NULL, 0, 0, 0, "timeout");
}

static void test_first_bytes_max(void)
{
	char buf[300];
	int h = snprintf(buf, sizeof(buf), "8=FIX.4.4\0019=60000\00135=A\001");
	memset(buf + h, 'x', sizeof(buf) - (size_t)h);
	raw_case(buf, sizeof(buf), 200, 0, "protocol");
}

static void test_plain_client_on_tls(void)
{
	static const char hello[] = "8=FIX.4.4\0019=5\00135=0\00110=000\001";
	raw_case(hello, sizeof(hello) - 1, 0, 1, "tls_failed");
}

int main(void)
{
	char err[128];
	signal(SIGPIPE, SIG_IGN);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/bt-fixacc-XXXXXX");
	if (!mkdtemp(tmpdir) || srv_make_certs(tmpdir) != 0) {
		fprintf(stderr, "cannot make test certificates in %s\n", tmpdir);
		return 1;
	}
	R = reactor_acquire(err, sizeof(err));
	if (!R) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	T_RUN(test_accept_plain);
	T_RUN(test_accept_tls);
	T_RUN(test_drop_in_callback);
	T_RUN(test_pace);
	T_RUN(test_first_frame_timeout);
	T_RUN(test_first_bytes_max);
	T_RUN(test_plain_client_on_tls);
	reactor_release(R);
	srv_rm_rf(tmpdir);
	return T_END();
}
