/* test-deps: fix_conn transport fix_session seqstore fix_codec reactor */
/* The wall clock steps back an hour in the middle of a session: heartbeats
 * still go out every HeartBtInt (deadlines run on CLOCK_MONOTONIC) and their
 * SendingTime(52) follows the stepped wall clock (52 is CLOCK_REALTIME).
 *
 * The step is simulated for this process only: clock_gettime is interposed
 * here (calls from the linked libraries bind to it) and shifts
 * CLOCK_REALTIME by wall_shift_ms. The in-test acceptor reads the same
 * shifted clock, so its SendingTime check agrees with the client. */
#include <stdatomic.h>
#include <sys/syscall.h>

#include "fix_conn.h"
#include "reactor.h"
#include "srv_util.h"
#include "t.h"

#define EXCH "BETA_EXCHANGE"
#define HOUR_MS (3600 * 1000LL)

static _Atomic int64_t wall_shift_ms;

int clock_gettime(clockid_t id, struct timespec *ts)
{
	int rc = (int)syscall(SYS_clock_gettime, id, ts);
	int64_t shift = atomic_load(&wall_shift_ms);
	if (rc == 0 && id == CLOCK_REALTIME && shift) {
		int64_t ns = (int64_t)ts->tv_sec * 1000000000LL + ts->tv_nsec + shift * 1000000LL;
		ts->tv_sec = ns / 1000000000LL;
		ts->tv_nsec = ns % 1000000000LL;
	}
	return rc;
}

static int64_t ms_of(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ------------------------------------------------------------ acceptor */

struct peer {
	int lfd;
	unsigned short port;
	pthread_t th;
	atomic_int stop;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int logged_on;
	int hb_after_step;    /* client Heartbeats received after the step */
	int64_t hb_sent_time; /* the last one's 52, UTC ms */
	int64_t step_at;      /* monotonic ms of the step, 0 before */
};

/* Counts the client's Heartbeats from the session's trace of inbound frames. */
static void peer_trace(void *ud, int dir, const char *f, size_t n)
{
	struct peer *p = ud;
	if (dir != FIX_TRACE_IN)
		return;
	struct fix_field fields[64];
	struct fix_msg m;
	fix_msg_init(&m, fields, 64);
	if (fix_parse(&m, f, n) != FIX_OK || !fix_msg_is(&m, "0"))
		return;
	size_t len;
	const char *t = fix_msg_get(&m, 52, &len);
	int64_t sent;
	pthread_mutex_lock(&p->mu);
	if (p->step_at && t && fix_parse_time(t, len, &sent) == FIX_OK) {
		p->hb_after_step++;
		p->hb_sent_time = sent;
		pthread_cond_broadcast(&p->cv);
	}
	pthread_mutex_unlock(&p->mu);
}

static void *peer_main(void *arg)
{
	struct peer *p = arg;
	int fd = accept(p->lfd, NULL, NULL);
	if (fd < 0)
		return NULL;
	struct timeval tv = {0, 20000};
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	struct fix_session_cfg cfg;
	fix_session_cfg_init(&cfg);
	cfg.role = FIX_ACCEPTOR;
	cfg.sender_comp_id = EXCH;
	/* A frame stamped just before the step and read just after it would be
	 * an hour off: that is what the SendingTime check is for, not this test. */
	cfg.sending_time_tolerance_ms = INT64_MAX;
	cfg.trace = peer_trace;
	cfg.trace_ud = p;
	struct fix_session *s = fix_session_new(&cfg);
	int64_t now = ms_of(CLOCK_MONOTONIC);
	fix_session_set_clock(s, now, ms_of(CLOCK_REALTIME));
	fix_session_start(s, now);
	char buf[8192];
	while (!atomic_load(&p->stop) && fix_session_state(s) != FIX_ST_CLOSED) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		now = ms_of(CLOCK_MONOTONIC);
		fix_session_set_clock(s, now, ms_of(CLOCK_REALTIME));
		if (n > 0) {
			for (size_t off = 0; off < (size_t)n;) {
				off += fix_session_feed(s, buf + off, (size_t)n - off, now);
				struct fix_event ev;
				while (fix_session_poll_event(s, &ev)) {
					if (ev.type == FIX_EV_LOGON_REQUEST) {
						fix_session_accept(s, now);
						pthread_mutex_lock(&p->mu);
						p->logged_on = 1;
						pthread_cond_broadcast(&p->cv);
						pthread_mutex_unlock(&p->mu);
					}
				}
			}
		} else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
			break;
		} else {
			fix_session_tick(s, now);
		}
		size_t len;
		const char *o;
		while ((o = fix_session_out(s, &len)) && len) {
			ssize_t k = send(fd, o, len, MSG_NOSIGNAL);
			if (k <= 0)
				break;
			fix_session_out_consume(s, (size_t)k);
		}
	}
	fix_session_free(s);
	close(fd);
	return NULL;
}

/* ------------------------------------------------------------ client */

struct cli {
	struct fix_conn_opts o;
	struct fix_conn *c;
	char err[256];
};

static void c_event(void *arg, const struct fix_event *ev)
{
	(void)arg;
	(void)ev;
}

static void c_closed(void *arg, const char *code, const char *reason)
{
	(void)arg;
	(void)code;
	(void)reason;
}

static const struct fix_conn_cbs CBS = {NULL, c_event, c_closed, NULL};

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

/* Wait on p->cv until cond or secs pass (the deadline on the monotonic
 * clock, which the step does not touch). */
#define PEER_WAIT(p, cond, secs)                                     \
	do {                                                         \
		int64_t end_ = ms_of(CLOCK_MONOTONIC) + (secs)*1000; \
		pthread_mutex_lock(&(p)->mu);                        \
		while (!(cond) && ms_of(CLOCK_MONOTONIC) < end_) {   \
			pthread_mutex_unlock(&(p)->mu);              \
			usleep(10000);                               \
			pthread_mutex_lock(&(p)->mu);                \
		}                                                    \
		pthread_mutex_unlock(&(p)->mu);                      \
	} while (0)

static void test_heartbeats_survive_a_wall_clock_step_back(void)
{
	char err[256];
	struct bt_reactor *r = reactor_acquire(err, sizeof(err));
	T_OK(r != NULL);
	struct peer p;
	memset(&p, 0, sizeof(p));
	pthread_mutex_init(&p.mu, NULL);
	pthread_cond_init(&p.cv, NULL);
	p.lfd = srv_listen(4, &p.port);
	T_OK(p.lfd >= 0);
	T_EQ_INT(pthread_create(&p.th, NULL, peer_main, &p), 0);

	struct cli k;
	memset(&k, 0, sizeof(k));
	k.o.host = "127.0.0.1";
	k.o.port = p.port;
	k.o.connect_timeout_ms = 10000;
	fix_session_cfg_init(&k.o.session);
	k.o.session.sender_comp_id = "CLIENT0001";
	k.o.session.target_comp_id = EXCH;
	k.o.session.heartbeat_s = 1;
	k.o.session.sending_time_tolerance_ms = INT64_MAX;
	reactor_call(r, do_open, &k);
	T_OK(k.c != NULL);
	PEER_WAIT(&p, p.logged_on, 10);
	T_EQ_INT(p.logged_on, 1);

	/* The wall clock jumps back an hour (an NTP step, a VM restore). */
	pthread_mutex_lock(&p.mu);
	atomic_store(&wall_shift_ms, -HOUR_MS);
	p.step_at = ms_of(CLOCK_MONOTONIC);
	pthread_mutex_unlock(&p.mu);
	/* HeartBtInt 1 s: two Heartbeats are due within about 2 s; the wait is
	 * generous for a loaded machine, yet far below the hour a frozen timer
	 * would take. */
	PEER_WAIT(&p, p.hb_after_step >= 2, 15);
	pthread_mutex_lock(&p.mu);
	int hbs = p.hb_after_step;
	int64_t sent = p.hb_sent_time;
	pthread_mutex_unlock(&p.mu);
	T_OK(hbs >= 2);
	/* Their SendingTime is the stepped wall clock, not a clamped one. */
	int64_t true_utc = ms_of(CLOCK_REALTIME) + HOUR_MS;
	T_OK(sent < true_utc - HOUR_MS / 2);

	reactor_call(r, do_free, &k);
	atomic_store(&p.stop, 1);
	pthread_join(p.th, NULL);
	close(p.lfd);
	atomic_store(&wall_shift_ms, 0);
	pthread_mutex_destroy(&p.mu);
	pthread_cond_destroy(&p.cv);
	reactor_release(r);
}

int main(void)
{
	T_RUN(test_heartbeats_survive_a_wall_clock_step_back);
	return T_END();
}
