/* Cases 3 and 4 of the benchmark, driven from C through auth.h against a
 * running betatrader-exchange (started by bench/run with --pbkdf2-iter 1, so
 * that the exchange's password hashing does not stand in for our cost).
 *
 *   bench_login login <fix_port> <http_port> <rounds> <samples>
 *       connect -> Active (TCP connect, Logon round trip, UserRequest round
 *       trip; timed from bt_auth_login to its completion drained from the
 *       queue) against the raw floor: connect plus two 100-byte round trips
 *       to an echo server in a forked process. Samples alternate A B A B;
 *       each round prints the median of its samples, in microseconds.
 *   bench_login many <fix_port> <http_port> <clients> <round>
 *       <clients> sessions in this process log in at once: milliseconds
 *       until the last is Active, and resident memory per session in KiB
 *       (RSS growth from before the sessions were created to all Active).
 *   bench_login sessions <fix_port> <http_port> <clients> <round>
 *       case 22: like many, for 10,000 sessions on the one reactor thread,
 *       with the fd limit raised here first; then every session logs out
 *       and is freed, and the process's fds and threads are counted against
 *       their values before the sessions existed.
 *   bench_login split <fix_port> <http_port> <rounds> <samples>
 *       case 23: case 3 with a third sample per step, the exchange's own
 *       share: the same Logon and UserRequest round trips written by hand
 *       (pre-encoded with fix_codec, one blocking socket, no reactor), so
 *       ours - raw FIX is the client's cost and raw FIX - floor the exchange's.
 *
 * Prints "RESULT <case> <round> <value>" lines for bench/run's table. */
#include <dirent.h>
#include <errno.h>
#include <malloc.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "codec_cases.h"
#include "fix_codec.h"
#include "op.h"
#include "reactor.h"

#define PASSWORD "bench-pw"
#define FLOOR_MSG 100
#define WAIT_MS 20000

struct bench {
	struct bt_reactor *r;
	struct bt_cq *cq;
	struct bt_auth_cfg cfg;
	char api_url[64];
};

static void die(const char *what, const char *why)
{
	fprintf(stderr, "bench_login: %s: %s\n", what, why);
	exit(1);
}

/* Drains the queue until `want` op completions arrived; user events (state
 * changes) are dropped. Returns the number seen, short only on timeout. */
static int wait_op_events(struct bench *b, int want)
{
	struct bt_event ev[64];
	int seen = 0;
	int64_t give_up = bench_now_ns() + (int64_t)WAIT_MS * 1000000;
	while (seen < want && bench_now_ns() < give_up) {
		size_t n = bt_cq_drain(b->cq, ev, 64);
		if (n == 0) {
			bt_cq_wait(b->cq, 100);
			continue;
		}
		for (size_t i = 0; i < n; i++) {
			if (ev[i].kind == BT_EVENT_OP)
				seen++;
			bt_event_clear(&ev[i]);
		}
	}
	return seen;
}

/* Runs one op to completion; dies with its message if it failed. */
static void run_op(struct bench *b, struct bt_op *op, const char *what)
{
	if (!op)
		die(what, "could not start");
	if (wait_op_events(b, 1) != 1)
		die(what, "no completion within 20 s");
	if (bt_op_status(op) != BT_OP_DONE)
		die(what, bt_op_message(op) ? bt_op_message(op) : "failed");
}

static struct bt_auth *new_client(struct bench *b)
{
	char err[256];
	struct bt_auth *a = bt_auth_new(b->r, b->cq, &b->cfg, err, sizeof err);
	if (!a)
		die("bt_auth_new", err);
	return a;
}

/* Registers `n` accounts through a few clients working in parallel; their
 * client_ids go to ids[i] (16 bytes each). */
static void register_accounts(struct bench *b, int n, char (*ids)[16], const char *prefix)
{
	enum { POOL = 8 };
	struct bt_auth *pool[POOL] = {0};
	struct bt_op *ops[POOL] = {0};
	int who[POOL];
	int next = 0, done = 0;
	for (int k = 0; k < POOL; k++)
		pool[k] = new_client(b);
	while (done < n) {
		for (int k = 0; k < POOL; k++) {
			if (ops[k] || next >= n)
				continue;
			char user[64];
			snprintf(user, sizeof user, "%s%d", prefix, next);
			who[k] = next++;
			ops[k] = bt_auth_register(pool[k], user, PASSWORD);
			if (!ops[k])
				die("register", "could not start");
		}
		if (wait_op_events(b, 1) < 1)
			die("register", "no completion within 20 s");
		for (int k = 0; k < POOL; k++) {
			if (!ops[k] || bt_op_status(ops[k]) == BT_OP_PENDING)
				continue;
			const struct bt_value *v = bt_op_value(ops[k], 0);
			if (bt_op_status(ops[k]) != BT_OP_DONE || !v || v->type != BT_VAL_STR)
				die("register",
				    bt_op_message(ops[k]) ? bt_op_message(ops[k]) : "no client_id");
			snprintf(ids[who[k]], 16, "%.*s", (int)v->len, v->s);
			bt_op_unref(ops[k]);
			ops[k] = NULL;
			done++;
		}
	}
	for (int k = 0; k < POOL; k++)
		bt_auth_free(pool[k]);
}

/* ------------------------------------------------------------ raw floor */

static int read_full(int fd, char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = read(fd, p, n);
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static int write_full(int fd, const char *p, size_t n)
{
	while (n > 0) {
		ssize_t k = write(fd, p, n);
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

/* The echo side of the floor, in its own process like the exchange. */
static void echo_server(int lfd)
{
	char buf[FLOOR_MSG];
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0) {
			if (errno == EINTR)
				continue;
			_exit(1);
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		for (int i = 0; i < 2; i++)
			if (read_full(fd, buf, sizeof buf) || write_full(fd, buf, sizeof buf))
				break;
		close(fd);
	}
}

/* Microseconds for socket + connect + two 100-byte round trips. */
static double floor_once(uint16_t port)
{
	char buf[FLOOR_MSG];
	memset(buf, 'x', sizeof buf);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int64_t t0 = bench_now_ns();
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) ||
	    connect(fd, (struct sockaddr *)&sa, sizeof sa))
		die("floor", strerror(errno));
	for (int i = 0; i < 2; i++)
		if (write_full(fd, buf, sizeof buf) || read_full(fd, buf, sizeof buf))
			die("floor", "echo failed");
	int64_t t1 = bench_now_ns();
	close(fd);
	return (double)(t1 - t0) / 1000.0;
}

static pid_t start_echo(uint16_t *port)
{
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof sa;
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) || listen(lfd, 128) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl))
		die("echo server", strerror(errno));
	*port = ntohs(sa.sin_port);
	pid_t pid = fork();
	if (pid < 0)
		die("fork", strerror(errno));
	if (pid == 0)
		echo_server(lfd);
	close(lfd);
	return pid;
}

/* ---------------------------------------------------------------- cases */

static double login_once(struct bench *b, struct bt_auth *a, const char *id)
{
	int64_t t0 = bench_now_ns();
	struct bt_op *op = bt_auth_login(a, id, PASSWORD);
	run_op(b, op, "login");
	int64_t t1 = bench_now_ns();
	bt_op_unref(op);
	op = bt_auth_logout(a);
	run_op(b, op, "logout");
	bt_op_unref(op);
	return (double)(t1 - t0) / 1000.0;
}

static void case_login(struct bench *b, int rounds, int samples)
{
	char id[1][16];
	char prefix[48];
	snprintf(prefix, sizeof prefix, "bl%d_", (int)getpid());
	register_accounts(b, 1, id, prefix);
	uint16_t port;
	pid_t echo = start_echo(&port);
	struct bt_auth *a = new_client(b);
	double *ours = calloc((size_t)samples, sizeof *ours);
	double *floor_us = calloc((size_t)samples, sizeof *floor_us);
	if (!ours || !floor_us)
		die("calloc", "out of memory");
	/* warm-up: first connections pay for page faults and the exchange's caches */
	for (int i = 0; i < 3; i++) {
		login_once(b, a, id[0]);
		floor_once(port);
	}
	for (int r = 1; r <= rounds; r++) {
		for (int i = 0; i < samples; i++) {
			ours[i] = login_once(b, a, id[0]);
			floor_us[i] = floor_once(port);
		}
		printf("RESULT login.ours %d %.1f\n", r, bench_median(ours, (size_t)samples));
		printf("RESULT login.floor %d %.1f\n", r, bench_median(floor_us, (size_t)samples));
		fflush(stdout);
	}
	bt_auth_free(a);
	free(ours);
	free(floor_us);
	kill(echo, SIGTERM);
	waitpid(echo, NULL, 0);
}

static long rss_kib(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size = 0, resident = 0;
	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident < 0 ? -1 : resident * (sysconf(_SC_PAGESIZE) / 1024);
}

static void case_many(struct bench *b, int n, int round)
{
	char(*ids)[16] = calloc((size_t)n, sizeof *ids);
	struct bt_auth **clients = calloc((size_t)n, sizeof *clients);
	struct bt_op **ops = calloc((size_t)n, sizeof *ops);
	if (!ids || !clients || !ops)
		die("calloc", "out of memory");
	char prefix[48];
	snprintf(prefix, sizeof prefix, "bm%d_%d_", (int)getpid(), round);
	register_accounts(b, n, ids, prefix);

	long rss0 = rss_kib();
	struct mallinfo2 mi0 = mallinfo2();
	int64_t t0 = bench_now_ns();
	for (int i = 0; i < n; i++) {
		clients[i] = new_client(b);
		ops[i] = bt_auth_login(clients[i], ids[i], PASSWORD);
		if (!ops[i])
			die("login", "could not start");
	}
	int seen = wait_op_events(b, n);
	int64_t t1 = bench_now_ns();
	long rss1 = rss_kib();
	struct mallinfo2 mi1 = mallinfo2();
	int active = 0;
	const char *why = NULL;
	for (int i = 0; i < n; i++) {
		if (bt_op_status(ops[i]) == BT_OP_DONE)
			active++;
		else if (!why)
			why = bt_op_message(ops[i]);
	}
	if (active != n || seen != n)
		fprintf(stderr, "bench_login: only %d of %d Active (%s)\n", active, n,
			why ? why : "no completion within 20 s");
	else {
		printf("RESULT many.time %d %.1f\n", round, (double)(t1 - t0) / 1e6);
		printf("RESULT many.rss %d %.1f\n", round, (double)(rss1 - rss0) / n);
		printf("RESULT many.heap %d %.1f\n", round,
		       ((double)(mi1.uordblks + mi1.hblkhd) - (double)(mi0.uordblks + mi0.hblkhd)) /
			   1024.0 / n);
	}
	fflush(stdout);
	for (int i = 0; i < n; i++) {
		bt_op_unref(ops[i]);
		bt_auth_free(clients[i]);
	}
	free(ops);
	free(clients);
	free(ids);
}

/* ------------------------------------------------------ case 22: sessions */

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;
	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n - 3; /* ".", ".." and the DIR's own fd */
}

static int count_threads(void)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	int n = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	fclose(f);
	return n;
}

/* Soft fd limit up to what n sessions need (a socket each, some slack),
 * within the hard limit; the shell that started us keeps its own. */
static void raise_fd_limit(int n)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl))
		die("getrlimit", strerror(errno));
	rlim_t want = (rlim_t)n * 2 + 256;
	if (rl.rlim_max != RLIM_INFINITY && want > rl.rlim_max)
		want = rl.rlim_max;
	if (rl.rlim_cur < want) {
		rl.rlim_cur = want;
		if (setrlimit(RLIMIT_NOFILE, &rl))
			die("setrlimit", strerror(errno));
	}
}

static void case_sessions(struct bench *b, int n, int round)
{
	raise_fd_limit(n);
	char(*ids)[16] = calloc((size_t)n, sizeof *ids);
	struct bt_auth **clients = calloc((size_t)n, sizeof *clients);
	struct bt_op **ops = calloc((size_t)n, sizeof *ops);
	if (!ids || !clients || !ops)
		die("calloc", "out of memory");
	char prefix[48];
	snprintf(prefix, sizeof prefix, "bs%d_%d_", (int)getpid(), round);
	register_accounts(b, n, ids, prefix);

	int fds0 = count_fds(), thr0 = count_threads();
	long rss0 = rss_kib();
	int64_t t0 = bench_now_ns();
	for (int i = 0; i < n; i++) {
		clients[i] = new_client(b);
		ops[i] = bt_auth_login(clients[i], ids[i], PASSWORD);
		if (!ops[i])
			die("login", "could not start");
	}
	int seen = wait_op_events(b, n);
	int64_t t1 = bench_now_ns();
	long rss1 = rss_kib();
	int active = 0;
	for (int i = 0; i < n; i++)
		active += bt_op_status(ops[i]) == BT_OP_DONE;
	int fds1 = count_fds(), thr1 = count_threads();
	if (seen < n) /* late logins must not be counted as logouts below */
		wait_op_events(b, n - seen);
	for (int i = 0; i < n; i++) {
		bt_op_unref(ops[i]);
		ops[i] = bt_auth_logout(clients[i]);
		if (!ops[i])
			die("logout", "could not start");
	}
	int out = wait_op_events(b, n);
	for (int i = 0; i < n; i++) {
		bt_op_unref(ops[i]);
		bt_auth_free(clients[i]);
	}
	/* bt_auth_free hands the last closes to the I/O thread: give it a moment */
	int fds2 = count_fds();
	for (int k = 0; k < 100 && fds2 > fds0; k++) {
		usleep(20000);
		fds2 = count_fds();
	}
	int thr2 = count_threads();
	if (active != n || seen != n)
		fprintf(stderr, "bench_login: only %d of %d Active\n", active, n);
	else {
		printf("RESULT sessions.time %d %.1f\n", round, (double)(t1 - t0) / 1e6);
		printf("RESULT sessions.rss %d %.2f\n", round, (double)(rss1 - rss0) / n);
	}
	printf("RESULT sessions.fds_active %d %d\n", round, fds1 - fds0);
	printf("RESULT sessions.fds_left %d %d\n", round, fds2 - fds0);
	printf("RESULT sessions.threads_active %d %d\n", round, thr1 - thr0);
	printf("RESULT sessions.threads_left %d %d\n", round, thr2 - thr0);
	if (out != n)
		fprintf(stderr, "bench_login: only %d of %d logouts completed\n", out, n);
	fflush(stdout);
	free(ops);
	free(clients);
	free(ids);
}

/* -------------------------------------------------- case 23: raw FIX login */

/* Reads until a whole frame of type `type` arrived (others are skipped). */
static void read_frame(int fd, const char *type)
{
	static char buf[8192];
	static size_t have;
	struct fix_field fl[64];
	struct fix_msg m;
	for (;;) {
		size_t flen = 0;
		fix_msg_init(&m, fl, 64);
		int r = have ? fix_frame_parse(&m, buf, have, 0, &flen) : FIX_E_NEED_MORE;
		if (r == FIX_E_NEED_MORE) {
			ssize_t k = read(fd, buf + have, sizeof buf - have);
			if (k <= 0)
				die("raw FIX", "connection closed");
			have += (size_t)k;
			continue;
		}
		memmove(buf, buf + flen, have - flen);
		have -= flen;
		if (r == FIX_OK && fix_msg_is(&m, type))
			return;
		if (r == FIX_OK && (fix_msg_is(&m, "5") || fix_msg_is(&m, "3"))) {
			size_t tl = 0;
			const char *t = fix_msg_get(&m, 58, &tl);
			fprintf(stderr, "bench_login: raw FIX: refused: %.*s\n", (int)tl,
				t ? t : "");
			exit(1);
		}
	}
}

static void send_msg(int fd, const char *type, const char *id, uint64_t seq, int step)
{
	char buf[512];
	struct fix_enc e;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	fix_enc_begin(&e, buf, sizeof buf, type, id, "BETA_EXCHANGE", seq,
		      (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
	if (step == 0) {
		fix_enc_int(&e, 98, 0);
		fix_enc_int(&e, 108, 30);
		fix_enc_char(&e, 141, 'Y');
	} else if (step == 1) {
		fix_enc_cstr(&e, 923, "1");
		fix_enc_int(&e, 924, 1);
		fix_enc_cstr(&e, 553, id);
		fix_enc_cstr(&e, 554, PASSWORD);
	}
	size_t len;
	const char *p = fix_enc_finish(&e, &len);
	if (!p || write_full(fd, p, len))
		die("raw FIX", "cannot send");
}

static double rawfix_once(uint16_t port, const char *id)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int64_t t0 = bench_now_ns();
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int one = 1;
	if (fd < 0 || setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) ||
	    connect(fd, (struct sockaddr *)&sa, sizeof sa))
		die("raw FIX", strerror(errno));
	send_msg(fd, "A", id, 1, 0);
	read_frame(fd, "A");
	send_msg(fd, "BE", id, 2, 1);
	read_frame(fd, "BF");
	int64_t t1 = bench_now_ns();
	send_msg(fd, "5", id, 3, 2);
	read_frame(fd, "5");
	close(fd);
	return (double)(t1 - t0) / 1000.0;
}

static void case_split(struct bench *b, int rounds, int samples)
{
	char id[1][16];
	char prefix[48];
	snprintf(prefix, sizeof prefix, "bx%d_", (int)getpid());
	register_accounts(b, 1, id, prefix);
	uint16_t port;
	pid_t echo = start_echo(&port);
	struct bt_auth *a = new_client(b);
	double *ours = calloc((size_t)samples, sizeof *ours);
	double *raw = calloc((size_t)samples, sizeof *raw);
	double *floor_us = calloc((size_t)samples, sizeof *floor_us);
	double *client = calloc((size_t)samples, sizeof *client);
	double *exch = calloc((size_t)samples, sizeof *exch);
	if (!ours || !raw || !floor_us || !client || !exch)
		die("calloc", "out of memory");
	for (int i = 0; i < 3; i++) {
		login_once(b, a, id[0]);
		rawfix_once(b->cfg.fix_port, id[0]);
		floor_once(port);
	}
	for (int r = 1; r <= rounds; r++) {
		for (int i = 0; i < samples; i++) {
			ours[i] = login_once(b, a, id[0]);
			raw[i] = rawfix_once(b->cfg.fix_port, id[0]);
			floor_us[i] = floor_once(port);
		}
		/* medians of the per-sample differences too: each sample's three
		 * runs were back to back, so they saw the same load */
		for (int i = 0; i < samples; i++) {
			client[i] = ours[i] - raw[i];
			exch[i] = raw[i] - floor_us[i];
		}
		printf("RESULT split.ours %d %.1f\n", r, bench_median(ours, (size_t)samples));
		printf("RESULT split.rawfix %d %.1f\n", r, bench_median(raw, (size_t)samples));
		printf("RESULT split.floor %d %.1f\n", r, bench_median(floor_us, (size_t)samples));
		printf("RESULT split.client %d %.1f\n", r, bench_median(client, (size_t)samples));
		printf("RESULT split.exchange %d %.1f\n", r, bench_median(exch, (size_t)samples));
		fflush(stdout);
	}
	bt_auth_free(a);
	free(ours);
	free(raw);
	free(floor_us);
	free(client);
	free(exch);
	kill(echo, SIGTERM);
	waitpid(echo, NULL, 0);
}

int main(int argc, char **argv)
{
	if (argc != 6 || (strcmp(argv[1], "login") && strcmp(argv[1], "many") &&
			  strcmp(argv[1], "sessions") && strcmp(argv[1], "split"))) {
		fprintf(
		    stderr,
		    "usage: bench_login login|split <fix_port> <http_port> <rounds> <samples>\n"
		    "       bench_login many|sessions <fix_port> <http_port> <clients> <round>\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	struct bench b;
	char err[256];
	b.r = reactor_acquire(err, sizeof err);
	if (!b.r)
		die("reactor", err);
	b.cq = bt_cq_new(b.r, err, sizeof err);
	if (!b.cq)
		die("completion queue", err);
	snprintf(b.api_url, sizeof b.api_url, "http://127.0.0.1:%d", atoi(argv[3]));
	bt_auth_cfg_init(&b.cfg);
	b.cfg.api_url = b.api_url;
	b.cfg.fix_host = "127.0.0.1";
	b.cfg.fix_port = (uint16_t)atoi(argv[2]);
	/* every login starts both sides at 1 again, as store = false does */
	b.cfg.reset_on_logon = 1;
	if (strcmp(argv[1], "login") == 0)
		case_login(&b, atoi(argv[4]), atoi(argv[5]));
	else if (strcmp(argv[1], "split") == 0)
		case_split(&b, atoi(argv[4]), atoi(argv[5]));
	else if (strcmp(argv[1], "sessions") == 0)
		case_sessions(&b, atoi(argv[4]), atoi(argv[5]));
	else
		case_many(&b, atoi(argv[4]), atoi(argv[5]));
	bt_cq_close(b.cq);
	reactor_release(b.r);
	return 0;
}
