/* test-deps: fix_conn transport fix_session seqstore fix_codec reactor */
/* fix_conn against an in-test acceptor (fix_session in the acceptor role):
 * logon + UserRequest + an application message + logout over TCP and TLS,
 * a wrong password, refused, a peer that drops, the durable store, and
 * 1,000 concurrent sessions in one process with fds and threads checked. */
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdatomic.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include "fix_conn.h"
#include "reactor.h"
#include "seqstore.h"
#include "srv_util.h"
#include "t.h"
#include "transport.h"

#define EXCH "BETA_EXCHANGE"

static struct bt_reactor *R;
static char tmpdir[256];

static int64_t wall_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ acceptor */

struct acc_stats {
	atomic_int app_msgs;
	atomic_int user_requests;
	char last_app_type[16];
	char last_app_field[64];
};

static struct fix_session *acc_session(void)
{
	struct fix_session_cfg cfg;
	fix_session_cfg_init(&cfg);
	cfg.role = FIX_ACCEPTOR;
	cfg.sender_comp_id = EXCH;
	cfg.target_comp_id = NULL;
	cfg.logon_timeout_ms = 10000;
	struct fix_session *s = fix_session_new(&cfg);
	fix_session_start(s, wall_ms());
	return s;
}

/* The exchange's side of authentication: password "pw" logs in. */
static void acc_events(struct fix_session *s, struct acc_stats *st)
{
	struct fix_event ev;
	int64_t now = wall_ms();
	while (fix_session_poll_event(s, &ev)) {
		if (ev.type == FIX_EV_LOGON_REQUEST) {
			fix_session_accept(s, now);
		} else if (ev.type == FIX_EV_USER_REQUEST) {
			char id[64], user[64];
			snprintf(id, sizeof(id), "%.*s", (int)ev.user_request.req_id.len,
				 ev.user_request.req_id.ptr);
			snprintf(user, sizeof(user), "%.*s", (int)ev.user_request.username.len,
				 ev.user_request.username.ptr);
			int ok = ev.user_request.password.len == 2 &&
				 !memcmp(ev.user_request.password.ptr, "pw", 2);
			fix_session_user_response(s, id, user, ok ? 1 : 4,
						  ok ? NULL : "password incorrect", now);
			atomic_fetch_add(&st->user_requests, 1);
		} else if (ev.type == FIX_EV_APP) {
			snprintf(st->last_app_type, sizeof(st->last_app_type), "%.*s",
				 (int)ev.app.msg_type.len, ev.app.msg_type.ptr);
			size_t n = 0;
			const char *v = fix_msg_get(ev.msg, 11, &n);
			snprintf(st->last_app_field, sizeof(st->last_app_field), "%.*s", (int)n,
				 v ? v : "");
			atomic_fetch_add(&st->app_msgs, 1);
		}
	}
}

/* One connection, blocking I/O with a short receive timeout so timers run. */
struct acc1 {
	int lfd;
	unsigned short port;
	pthread_t th;
	SSL_CTX *ctx;
	int drop_after_user_response;
	struct acc_stats st;
	char end_state[32];
};

static void *acc1_main(void *arg)
{
	struct acc1 *a = arg;
	int fd = accept(a->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	struct timeval tv = {0, 20000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	SSL *ssl = NULL;
	if (a->ctx) {
		ssl = SSL_new(a->ctx);
		SSL_set_fd(ssl, fd);
		int rc;
		while ((rc = SSL_accept(ssl)) != 1 && SSL_get_error(ssl, rc) == SSL_ERROR_WANT_READ)
			;
		if (rc != 1)
			goto out;
	}
	struct fix_session *s = acc_session();
	char buf[8192];
	for (;;) {
		int n = ssl ? SSL_read(ssl, buf, sizeof(buf)) : (int)recv(fd, buf, sizeof(buf), 0);
		int64_t now = wall_ms();
		if (n > 0) {
			for (size_t off = 0; off < (size_t)n;) {
				off += fix_session_feed(s, buf + off, (size_t)n - off, now);
				acc_events(s, &a->st);
			}
		} else if (n == 0 || (ssl ? SSL_get_error(ssl, n) != SSL_ERROR_WANT_READ
					  : (errno != EAGAIN && errno != EWOULDBLOCK))) {
			fix_session_disconnected(s, now);
		} else {
			fix_session_tick(s, now);
		}
		acc_events(s, &a->st);
		size_t len;
		const char *p;
		while ((p = fix_session_out(s, &len)) && len) {
			int k =
			    ssl ? SSL_write(ssl, p, (int)len) : (int)send(fd, p, len, MSG_NOSIGNAL);
			if (k <= 0)
				break;
			fix_session_out_consume(s, (size_t)k);
		}
		if (a->drop_after_user_response && atomic_load(&a->st.user_requests) > 0)
			break;
		if (fix_session_state(s) == FIX_ST_CLOSED)
			break;
	}
	snprintf(a->end_state, sizeof(a->end_state), "%s",
		 fix_session_state_name(fix_session_state(s)));
	fix_session_free(s);
out:
	if (ssl) {
		SSL_shutdown(ssl);
		SSL_free(ssl);
	}
	close(fd);
	return NULL;
}

static int acc1_start(struct acc1 *a, int tls)
{
	memset(a, 0, sizeof(*a));
	a->lfd = srv_listen(8, &a->port);
	if (tls) {
		char c[512], k[512];
		snprintf(c, sizeof(c), "%s/server.pem", tmpdir);
		snprintf(k, sizeof(k), "%s/server.key", tmpdir);
		a->ctx = SSL_CTX_new(TLS_server_method());
		if (SSL_CTX_use_certificate_file(a->ctx, c, SSL_FILETYPE_PEM) != 1 ||
		    SSL_CTX_use_PrivateKey_file(a->ctx, k, SSL_FILETYPE_PEM) != 1)
			return -1;
	}
	return a->lfd < 0 ? -1 : pthread_create(&a->th, NULL, acc1_main, a);
}

static void acc1_stop(struct acc1 *a)
{
	pthread_join(a->th, NULL);
	close(a->lfd);
	SSL_CTX_free(a->ctx);
}

/* ------------------------------------------------------------ client side */

struct cli {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct fix_conn_opts o;
	struct fix_conn *c;
	const char *user_pw; /* password for the 35=BE */
	int connected, logons, user_status, closed;
	char user_text[128], code[32], reason[256], err[256];
	atomic_int *active_counter; /* mass test: counts USER_RESPONSE 1 */
	atomic_int *closed_counter;
};

static void cli_signal(struct cli *k)
{
	pthread_cond_broadcast(&k->cv);
}

static void c_connected(void *arg)
{
	struct cli *k = arg;
	pthread_mutex_lock(&k->mu);
	k->connected = 1;
	cli_signal(k);
	pthread_mutex_unlock(&k->mu);
}

static void c_event(void *arg, const struct fix_event *ev)
{
	struct cli *k = arg;
	if (ev->type == FIX_EV_LOGON) {
		/* Like the AuthCoordinator: authenticate right after the Logon ack. */
		fix_conn_user_request(k->c, "r1", 1, k->o.session.sender_comp_id, k->user_pw);
	}
	pthread_mutex_lock(&k->mu);
	if (ev->type == FIX_EV_LOGON)
		k->logons++;
	if (ev->type == FIX_EV_USER_RESPONSE) {
		k->user_status = ev->user_response.status;
		snprintf(k->user_text, sizeof(k->user_text), "%.*s",
			 (int)ev->user_response.text.len,
			 ev->user_response.text.ptr ? ev->user_response.text.ptr : "");
		if (k->active_counter && k->user_status == 1)
			atomic_fetch_add(k->active_counter, 1);
	}
	cli_signal(k);
	pthread_mutex_unlock(&k->mu);
}

static void c_closed(void *arg, const char *code, const char *reason)
{
	struct cli *k = arg;
	pthread_mutex_lock(&k->mu);
	k->closed++;
	snprintf(k->code, sizeof(k->code), "%s", code);
	snprintf(k->reason, sizeof(k->reason), "%s", reason);
	if (k->closed_counter)
		atomic_fetch_add(k->closed_counter, 1);
	cli_signal(k);
	pthread_mutex_unlock(&k->mu);
}

static const struct fix_conn_cbs CBS = {c_connected, c_event, c_closed, NULL};

static void cli_init(struct cli *k, unsigned short port, const char *sender)
{
	memset(k, 0, sizeof(*k));
	pthread_mutex_init(&k->mu, NULL);
	pthread_cond_init(&k->cv, NULL);
	k->o.host = "127.0.0.1";
	k->o.port = port;
	k->o.connect_timeout_ms = 10000;
	fix_session_cfg_init(&k->o.session);
	k->o.session.sender_comp_id = sender;
	k->o.session.target_comp_id = EXCH;
	k->user_pw = "pw";
}

static void cli_fini(struct cli *k)
{
	pthread_mutex_destroy(&k->mu);
	pthread_cond_destroy(&k->cv);
}

static void do_open(struct bt_reactor *r, void *ud)
{
	struct cli *k = ud;
	k->c = fix_conn_open(r, &k->o, &CBS, k, k->err, sizeof(k->err));
}

static void do_free(struct bt_reactor *r, void *ud)
{
	struct cli *k = ud;
	fix_conn_free(k->c);
	k->c = NULL;
}

/* Wait (10 s liveness cap) until field becomes nonzero. */
#define CLI_WAIT(k, cond)                                                                \
	do {                                                                             \
		struct timespec ts_;                                                     \
		clock_gettime(CLOCK_REALTIME, &ts_);                                     \
		ts_.tv_sec += 10;                                                        \
		pthread_mutex_lock(&(k)->mu);                                            \
		while (!(cond) && pthread_cond_timedwait(&(k)->cv, &(k)->mu, &ts_) == 0) \
			;                                                                \
		pthread_mutex_unlock(&(k)->mu);                                          \
	} while (0)

static void full_session(int tls, const char *store)
{
	struct acc1 a;
	T_EQ_INT(acc1_start(&a, tls), 0);
	struct cli k;
	cli_init(&k, a.port, "CLIENT0001");
	struct transport_tls_ctx *tctx = NULL;
	if (tls) {
		char ca[512], err[256];
		snprintf(ca, sizeof(ca), "%s/ca.pem", tmpdir);
		struct transport_tls_opts to = {.ca_file = ca};
		tctx = transport_tls_ctx_new(&to, err, sizeof(err));
		T_OK(tctx != NULL);
		k.o.tls = tctx;
		k.o.server_name = "localhost";
	}
	k.o.store_dir = store;
	reactor_call(R, do_open, &k);
	T_OK(k.c != NULL);
	CLI_WAIT(&k, k.user_status || k.closed);
	T_EQ_INT(k.connected, 1);
	T_EQ_INT(k.logons, 1);
	T_EQ_INT(k.user_status, 1);
	T_EQ_INT(k.closed, 0);

	/* From this (non-I/O) thread, like the Lua side would. */
	struct fix_out_field f[] = {{11, "ORD-1", 5}, {55, "EUR/USD", 7}, {54, "1", 1}};
	T_EQ_INT(fix_conn_send_async(k.c, "D", f, 3, NULL, NULL), 0);
	SRV_WAIT_UNTIL(atomic_load(&a.st.app_msgs) == 1, 10000);
	T_EQ_INT(atomic_load(&a.st.app_msgs), 1);
	T_EQ_STR(a.st.last_app_type, "D");
	T_EQ_STR(a.st.last_app_field, "ORD-1");

	T_EQ_INT(fix_conn_logout_async(k.c, "bye"), 0);
	CLI_WAIT(&k, k.closed);
	T_EQ_INT(k.closed, 1);
	T_EQ_STR(k.code, "logged_out");
	reactor_call(R, do_free, &k);
	acc1_stop(&a);
	T_EQ_STR(a.end_state, "closed");
	transport_tls_ctx_free(tctx);
	cli_fini(&k);
}

static void test_logon_plain(void)
{
	full_session(0, NULL);
}

static void test_logon_tls(void)
{
	full_session(1, NULL);
}

static void test_store(void)
{
	char dir[512];
	snprintf(dir, sizeof(dir), "%s/store", tmpdir);
	full_session(0, dir);
	struct seqstore *ss = NULL;
	char err[256];
	T_EQ_INT(seqstore_open(&ss, dir, "CLIENT0001", EXCH, 0, err, sizeof(err)), 0);
	if (ss) {
		/* Logon, UserRequest, NewOrderSingle, Logout went out: 1..4. */
		T_EQ_INT(seqstore_next_out(ss), 5);
		T_EQ_INT(seqstore_msg_count(ss), 1); /* only the application message */
		seqstore_close(ss);
	}
}

/* Group commit through fix_conn: 50 messages sent corked (as the
 * AuthCoordinator sends one burst) reach the store as one .seq record and
 * one .msgs write, before the acceptor sees any of them. */
struct burst {
	struct cli *k;
	const char *seq_path;
	long seq_size_before, seq_size_after_queueing;
	int rc;
};

static void send_burst(struct bt_reactor *r, void *ud)
{
	struct burst *b = ud;
	struct stat st;
	/* Read here: the I/O thread has committed everything before this. */
	b->seq_size_before = stat(b->seq_path, &st) == 0 ? (long)st.st_size : -1;
	fix_conn_cork(b->k->c, 1);
	for (int i = 0; i < 50; i++) {
		char id[16];
		int n = snprintf(id, sizeof(id), "B%d", i);
		struct fix_out_field f[] = {{11, id, (size_t)n}, {55, "EUR/USD", 7}};
		b->rc |= fix_conn_send(b->k->c, "D", f, 2);
	}
	b->seq_size_after_queueing = stat(b->seq_path, &st) == 0 ? (long)st.st_size : -1;
	fix_conn_cork(b->k->c, 0);
}

static void test_store_group_commit(void)
{
	char dir[512], seqp[600];
	snprintf(dir, sizeof(dir), "%s/store-burst", tmpdir);
	snprintf(seqp, sizeof(seqp), "%s/CLIENT0001+%s.seq", dir, EXCH);
	struct acc1 a;
	T_EQ_INT(acc1_start(&a, 0), 0);
	struct cli k;
	cli_init(&k, a.port, "CLIENT0001");
	k.o.store_dir = dir;
	reactor_call(R, do_open, &k);
	T_OK(k.c != NULL);
	CLI_WAIT(&k, k.user_status || k.closed);
	T_EQ_INT(k.user_status, 1);
	struct stat st;
	struct burst b = {.k = &k, .seq_path = seqp};
	reactor_call(R, send_burst, &b);
	long before = b.seq_size_before;
	T_OK(before > 0);
	T_EQ_INT(b.rc, 0);
	T_EQ_INT(b.seq_size_after_queueing, before); /* nothing written while corked */
	T_EQ_INT(stat(seqp, &st), 0);
	T_EQ_INT((long)st.st_size, before + 32); /* one record for 50 numbers */
	SRV_WAIT_UNTIL(atomic_load(&a.st.app_msgs) == 50, 10000);
	T_EQ_INT(atomic_load(&a.st.app_msgs), 50);
	T_EQ_INT(fix_conn_logout_async(k.c, NULL), 0);
	CLI_WAIT(&k, k.closed);
	reactor_call(R, do_free, &k);
	acc1_stop(&a);
	cli_fini(&k);
	struct seqstore *ss = NULL;
	char err[256];
	T_EQ_INT(seqstore_open(&ss, dir, "CLIENT0001", EXCH, 0, err, sizeof(err)), 0);
	if (ss) {
		/* Logon, UserRequest, 50 orders, Logout: 1..53. */
		T_EQ_INT(seqstore_next_out(ss), 54);
		T_EQ_INT(seqstore_msg_count(ss), 50);
		seqstore_close(ss);
	}
}

static void test_wrong_password(void)
{
	struct acc1 a;
	T_EQ_INT(acc1_start(&a, 0), 0);
	struct cli k;
	cli_init(&k, a.port, "CLIENT0001");
	k.user_pw = "nope";
	reactor_call(R, do_open, &k);
	CLI_WAIT(&k, k.user_status || k.closed);
	T_EQ_INT(k.user_status, 4);
	T_EQ_STR(k.user_text, "password incorrect");
	reactor_call(R, do_free, &k); /* abrupt: the acceptor sees a disconnect */
	acc1_stop(&a);
	T_EQ_STR(a.end_state, "closed");
	T_EQ_INT(k.closed, 0); /* no callback after free */
	cli_fini(&k);
}

static void test_peer_drops(void)
{
	struct acc1 a;
	T_EQ_INT(acc1_start(&a, 0), 0);
	a.drop_after_user_response = 1;
	struct cli k;
	cli_init(&k, a.port, "CLIENT0001");
	reactor_call(R, do_open, &k);
	CLI_WAIT(&k, k.closed);
	T_EQ_INT(k.closed, 1);
	T_EQ_STR(k.code, "disconnected");
	char want[128];
	snprintf(want, sizeof(want), "connection closed by 127.0.0.1:%u", a.port);
	T_EQ_STR(k.reason, want);
	reactor_call(R, do_free, &k);
	acc1_stop(&a);
	cli_fini(&k);
}

static void test_refused(void)
{
	unsigned short port = 0;
	close(srv_listen(1, &port));
	struct cli k;
	cli_init(&k, port, "CLIENT0001");
	reactor_call(R, do_open, &k);
	CLI_WAIT(&k, k.closed);
	T_EQ_STR(k.code, "refused");
	char want[128];
	snprintf(want, sizeof(want), "connection refused by 127.0.0.1:%u", port);
	T_EQ_STR(k.reason, want);
	T_EQ_INT(k.connected, 0);
	reactor_call(R, do_free, &k);
	cli_fini(&k);
}

static void test_bad_config(void)
{
	struct cli k;
	cli_init(&k, 1, NULL);
	reactor_call(R, do_open, &k);
	T_OK(k.c == NULL);
	T_EQ_STR(k.err, "fix_conn: sender_comp_id and target_comp_id are required");
	cli_fini(&k);

	/* Settings the session refuses are named, not blamed on the CompIDs. */
	cli_init(&k, 1, "CLIENT0001");
	k.o.session.begin_strings = "FIX.4.4 FIX T";
	reactor_call(R, do_open, &k);
	T_OK(k.c == NULL);
	T_OK(strstr(k.err, "begin_strings") != NULL);
	cli_fini(&k);
}

/* ------------------------------------------------------------ 1,000 sessions */

#define MASS 1000

struct mconn {
	int fd;
	struct fix_session *s;
};

struct mass_srv {
	int lfd, ep;
	unsigned short port;
	pthread_t th;
	atomic_int stop;
	struct acc_stats st;
	struct mconn *conns[MASS * 2 + 64]; /* by fd */
	int max_fd;
};

static void mass_flush(struct mass_srv *m, struct mconn *mc)
{
	size_t len;
	const char *p;
	while ((p = fix_session_out(mc->s, &len)) && len) {
		ssize_t k = send(mc->fd, p, len, MSG_NOSIGNAL);
		if (k <= 0)
			break; /* tiny frames on loopback: the buffer never fills here */
		fix_session_out_consume(mc->s, (size_t)k);
	}
}

static void mass_drop(struct mass_srv *m, struct mconn *mc)
{
	epoll_ctl(m->ep, EPOLL_CTL_DEL, mc->fd, NULL);
	m->conns[mc->fd] = NULL;
	close(mc->fd);
	fix_session_free(mc->s);
	free(mc);
}

static void *mass_main(void *arg)
{
	struct mass_srv *m = arg;
	struct epoll_event evs[256];
	int64_t last_tick = wall_ms();
	while (!atomic_load(&m->stop)) {
		int n = epoll_wait(m->ep, evs, 256, 20);
		for (int i = 0; i < n; i++) {
			int fd = evs[i].data.fd;
			if (fd == m->lfd) {
				int cfd;
				while ((cfd = accept4(m->lfd, NULL, NULL,
						      SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					if (cfd >= (int)(sizeof(m->conns) / sizeof(m->conns[0]))) {
						close(cfd);
						continue;
					}
					struct mconn *mc = calloc(1, sizeof(*mc));
					mc->fd = cfd;
					mc->s = acc_session();
					m->conns[cfd] = mc;
					struct epoll_event e = {.events = EPOLLIN, .data.fd = cfd};
					epoll_ctl(m->ep, EPOLL_CTL_ADD, cfd, &e);
				}
				continue;
			}
			struct mconn *mc = m->conns[fd];
			if (!mc)
				continue;
			char buf[4096];
			ssize_t k = recv(fd, buf, sizeof(buf), 0);
			int64_t now = wall_ms();
			if (k > 0) {
				for (size_t off = 0; off < (size_t)k;) {
					off += fix_session_feed(mc->s, buf + off, (size_t)k - off,
								now);
					acc_events(mc->s, &m->st);
				}
			} else if (k == 0 || (errno != EAGAIN && errno != EINTR)) {
				fix_session_disconnected(mc->s, now);
			}
			acc_events(mc->s, &m->st);
			mass_flush(m, mc);
			if (fix_session_state(mc->s) == FIX_ST_CLOSED)
				mass_drop(m, mc);
		}
		int64_t now = wall_ms();
		if (now - last_tick >= 100) {
			last_tick = now;
			for (size_t fd = 0; fd < sizeof(m->conns) / sizeof(m->conns[0]); fd++) {
				struct mconn *mc = m->conns[fd];
				if (!mc)
					continue;
				fix_session_tick(mc->s, now);
				acc_events(mc->s, &m->st);
				mass_flush(m, mc);
				if (fix_session_state(mc->s) == FIX_ST_CLOSED)
					mass_drop(m, mc);
			}
		}
	}
	for (size_t fd = 0; fd < sizeof(m->conns) / sizeof(m->conns[0]); fd++)
		if (m->conns[fd])
			mass_drop(m, m->conns[fd]);
	return NULL;
}

static struct cli *mass_clients;

static void mass_open_all(struct bt_reactor *r, void *ud)
{
	for (int i = 0; i < MASS; i++)
		do_open(r, &mass_clients[i]);
}

static void mass_logout_all(struct bt_reactor *r, void *ud)
{
	for (int i = 0; i < MASS; i++)
		fix_conn_logout(mass_clients[i].c, NULL);
}

static void mass_free_all(struct bt_reactor *r, void *ud)
{
	for (int i = 0; i < MASS; i++)
		do_free(r, &mass_clients[i]);
}

static void test_thousand_sessions(void)
{
	int fds0 = srv_count_fds(), threads0 = srv_count_threads();
	struct mass_srv *m = calloc(1, sizeof(*m));
	m->lfd = srv_listen(4096, &m->port);
	/* The accept4 loop needs a non-blocking listener. */
	fcntl(m->lfd, F_SETFL, fcntl(m->lfd, F_GETFL) | O_NONBLOCK);
	m->ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event e = {.events = EPOLLIN, .data.fd = m->lfd};
	epoll_ctl(m->ep, EPOLL_CTL_ADD, m->lfd, &e);
	pthread_create(&m->th, NULL, mass_main, m);

	atomic_int active = 0, closed = 0;
	static char names[MASS][16];
	mass_clients = calloc(MASS, sizeof(struct cli));
	for (int i = 0; i < MASS; i++) {
		snprintf(names[i], sizeof(names[i]), "CLIENT%04d", i);
		cli_init(&mass_clients[i], m->port, names[i]);
		mass_clients[i].active_counter = &active;
		mass_clients[i].closed_counter = &closed;
	}
	int threads_busy = srv_count_threads();
	reactor_call(R, mass_open_all, NULL);
	SRV_WAIT_UNTIL(atomic_load(&active) + atomic_load(&closed) >= MASS, 60000);
	T_EQ_INT(atomic_load(&active), MASS);
	T_EQ_INT(atomic_load(&closed), 0);
	/* One I/O thread for all of them: no thread per session. */
	T_EQ_INT(srv_count_threads(), threads_busy);
	reactor_call(R, mass_logout_all, NULL);
	SRV_WAIT_UNTIL(atomic_load(&closed) >= MASS, 60000);
	T_EQ_INT(atomic_load(&closed), MASS);
	int logged_out = 0;
	for (int i = 0; i < MASS; i++)
		logged_out += !strcmp(mass_clients[i].code, "logged_out");
	T_EQ_INT(logged_out, MASS);
	reactor_call(R, mass_free_all, NULL);
	for (int i = 0; i < MASS; i++)
		cli_fini(&mass_clients[i]);
	free(mass_clients);
	atomic_store(&m->stop, 1);
	pthread_join(m->th, NULL);
	close(m->ep);
	close(m->lfd);
	free(m);
	T_EQ_INT(srv_count_fds(), fds0);
	T_EQ_INT(srv_threads_settle(threads0), threads0);
}

int main(void)
{
	char err[128];
	/* The in-test OpenSSL servers write with SSL_write on plain fds. */
	signal(SIGPIPE, SIG_IGN);
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/bt-fixconn-XXXXXX");
	if (!mkdtemp(tmpdir) || srv_make_certs(tmpdir) != 0) {
		fprintf(stderr, "cannot make test certificates in %s\n", tmpdir);
		return 1;
	}
	/* 1,000 sessions need ~2,000 fds on both sides of loopback. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < 4096) {
		rl.rlim_cur = rl.rlim_max < 4096 ? rl.rlim_max : 4096;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	R = reactor_acquire(err, sizeof(err));
	if (!R) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	T_RUN(test_logon_plain);
	T_RUN(test_logon_tls);
	T_RUN(test_store);
	T_RUN(test_store_group_commit);
	T_RUN(test_wrong_password);
	T_RUN(test_peer_drops);
	T_RUN(test_refused);
	T_RUN(test_bad_config);
	T_RUN(test_thousand_sessions);
	reactor_release(R);
	srv_rm_rf(tmpdir);
	OPENSSL_cleanup();
	return T_END();
}
