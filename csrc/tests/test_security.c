/* test-deps: auth fix_session fix_codec */
/* Credentials do not outlive their use.
 *
 * Session layer: the bytes of a 35=BE (and of a Logon carrying 554) are
 * wiped as fix_session_out_consume takes them, and an acceptor's inbound 554
 * is wiped once the frame is reclaimed. These tests keep a pointer obtained
 * from the public API (fix_session_out, an event's fix_sv) and look at that
 * memory after the call that must wipe it. That is a valid read: the memory
 * is the session's own output/input buffer, which stays allocated until
 * fix_session_free and is only replaced when it has to grow, and no call
 * between taking the pointer and reading it can make it grow. Were that ever
 * to change, ASan and valgrind would report the read instead of the test
 * passing by accident.
 *
 * AuthCoordinator: bt_auth keeps its password copy private, so it is checked
 * from outside: every readable and writable mapping of this process (heap,
 * thread stacks, .data/.bss) is read through /proc/self/mem and searched for
 * the password. The test never holds the password in clear except for the
 * instant it hands it to bt_auth_login (then wipes its buffer); the needle is
 * kept XOR-masked, so the scan cannot find the test's own copy. A positive
 * control (a login stuck waiting for the Logon reply) proves the scan sees
 * the copy bt_auth must hold. Registration goes through a forked child, so
 * the HTTP path's copies (libcurl, jansson: see SECURITY.md) stay out of this
 * process. */
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "auth.h"
#include "fix_session.h"
#include "op.h"
#include "reactor.h"
#include "t.h"
#include "test_exchange_util.h"

#define T0 1700000000000LL
#define PW_LEN 24
#define MASK 0x5a

/* ------------------------------------------------------- session layer */

/* A whole frame from body fields written with '|' for SOH. */
static size_t frame(char *out, size_t cap, const char *body)
{
	char b[1024];
	snprintf(b, sizeof(b), "%s", body);
	for (char *p = b; *p; p++)
		if (*p == '|')
			*p = '\x01';
	int n = snprintf(out, cap,
			 "8=FIX.4.4\x01"
			 "9=%zu\x01%s",
			 strlen(b), b);
	unsigned sum = 0;
	for (int i = 0; i < n; i++)
		sum += (unsigned char)out[i];
	n += snprintf(out + n, cap - (size_t)n, "10=%03u\x01", sum % 256);
	return (size_t)n;
}

static int has(const char *p, size_t n, const char *needle)
{
	return memmem(p, n, needle, strlen(needle)) != NULL;
}

/* An initiator that is logged on (everything it sent so far consumed). */
static struct fix_session *active_initiator(const char *logon_pw)
{
	struct fix_session_cfg cfg;
	fix_session_cfg_init(&cfg);
	cfg.sender_comp_id = "CLIENT0001";
	cfg.target_comp_id = "BETA_EXCHANGE";
	cfg.username = logon_pw ? "CLIENT0001" : NULL;
	cfg.password = logon_pw;
	struct fix_session *s = fix_session_new(&cfg);
	if (!s || fix_session_start(s, T0) != 0) {
		T_FAIL("cannot start the initiator");
		fix_session_free(s);
		return NULL;
	}
	size_t len;
	const char *out = fix_session_out(s, &len);
	if (logon_pw) {
		T_OK(has(out, len, logon_pw));
		fix_session_out_consume(s, len);
		T_OK(!has(out, len, logon_pw) && !has(out, len, "554="));
	} else {
		fix_session_out_consume(s, len);
	}
	char f[512];
	size_t n =
	    frame(f, sizeof(f),
		  "35=A|49=BETA_EXCHANGE|56=CLIENT0001|34=1|52=20231114-22:13:20.001|98=0|108=30|");
	T_EQ_INT(fix_session_feed(s, f, n, T0 + 1), n);
	struct fix_event ev;
	while (fix_session_poll_event(s, &ev))
		;
	T_EQ_INT(fix_session_state(s), FIX_ST_ACTIVE);
	return s;
}

static void test_session_logon_password_wiped(void)
{
	struct fix_session *s = active_initiator("logon-Secret-1234");
	fix_session_free(s);
}

static void test_session_user_request_wiped(void)
{
	static const char pw[] = "Sess-Secret-9f8e7d";
	struct fix_session *s = active_initiator(NULL);
	if (!s)
		return;
	T_EQ_INT(fix_session_user_request(s, "1", 1, "CLIENT0001", pw, T0 + 2), 0);
	size_t len;
	const char *out = fix_session_out(s, &len);
	T_OK(has(out, len, "35=BE"));
	T_OK(has(out, len, pw));
	fix_session_out_consume(s, len);
	/* Every byte of the frame is gone, not only the 554 value. */
	T_OK(!has(out, len, pw));
	for (size_t i = 0; i < len; i++)
		if (out[i] != 0) {
			T_FAIL("byte %zu of the consumed 35=BE is 0x%02x, not wiped", i,
			       (unsigned char)out[i]);
			break;
		}
	fix_session_free(s);
}

/* A socket taking a few bytes at a time: each partial consume wipes exactly
 * what it took, and an application message queued behind the 35=BE is left
 * intact for the driver to send. */
static void test_session_partial_consume(void)
{
	static const char pw[] = "Part-Secret-0a1b2c";
	struct fix_session *s = active_initiator(NULL);
	if (!s)
		return;
	T_EQ_INT(fix_session_user_request(s, "2", 1, "CLIENT0001", pw, T0 + 2), 0);
	size_t be_len;
	fix_session_out(s, &be_len);
	struct fix_out_field fld[] = {{58, "still queued", 12}};
	T_EQ_INT(fix_session_send(s, "B", fld, 1, T0 + 3), 0);
	size_t len;
	const char *out = fix_session_out(s, &len);
	T_OK(len > be_len);
	size_t done = 0;
	while (done < be_len) {
		size_t k = be_len - done < 7 ? be_len - done : 7;
		fix_session_out_consume(s, k);
		done += k;
		for (size_t i = 0; i < done; i++)
			if (out[i] != 0) {
				T_FAIL("after consuming %zu bytes, byte %zu is not wiped", done, i);
				done = be_len;
				break;
			}
	}
	T_OK(!has(out, be_len, pw));
	size_t rest;
	const char *p = fix_session_out(s, &rest);
	T_EQ_INT(rest, len - be_len);
	T_OK(p == out + be_len && has(p, rest, "58=still queued"));
	fix_session_out_consume(s, rest);
	fix_session_free(s);
}

/* The exchange's side: the 554 it received is wiped once the frame's event
 * has been handled and the session reclaims its input (next feed or tick). */
static void test_session_inbound_password_wiped(void)
{
	static const char pw[] = "Inb-Secret-55aa66";
	struct fix_session_cfg cfg;
	fix_session_cfg_init(&cfg);
	cfg.role = FIX_ACCEPTOR;
	cfg.sender_comp_id = "BETA_EXCHANGE";
	struct fix_session *s = fix_session_new(&cfg);
	T_EQ_INT(fix_session_start(s, T0), 0);
	char f[512];
	size_t n =
	    frame(f, sizeof(f),
		  "35=A|49=CLIENT0001|56=BETA_EXCHANGE|34=1|52=20231114-22:13:20.000|98=0|108=30|");
	T_EQ_INT(fix_session_feed(s, f, n, T0), n);
	struct fix_event ev;
	while (fix_session_poll_event(s, &ev))
		;
	T_EQ_INT(fix_session_accept(s, T0), 0);
	while (fix_session_poll_event(s, &ev))
		;
	size_t len;
	fix_session_out(s, &len);
	fix_session_out_consume(s, len);
	char body[256];
	snprintf(body, sizeof(body),
		 "35=BE|49=CLIENT0001|56=BETA_EXCHANGE|34=2|52=20231114-22:13:20.001|"
		 "923=1|924=1|553=CLIENT0001|554=%s|",
		 pw);
	n = frame(f, sizeof(f), body);
	T_EQ_INT(fix_session_feed(s, f, n, T0 + 1), n);
	explicit_bzero(f, sizeof(f));
	explicit_bzero(body, sizeof(body));
	const char *seen = NULL;
	while (fix_session_poll_event(s, &ev))
		if (ev.type == FIX_EV_USER_REQUEST)
			seen = ev.user_request.password.ptr;
	T_OK(seen != NULL && memcmp(seen, pw, strlen(pw)) == 0);
	fix_session_tick(s, T0 + 2);
	T_OK(seen == NULL || memcmp(seen, pw, strlen(pw)) != 0);
	fix_session_free(s);
}

/* ----------------------------------------------------- process memory */

static unsigned char masked[PW_LEN]; /* the password XOR MASK: never the clear text */

/* How many times the password occurs in this process's writable memory. */
static int scan_for_password(void)
{
	static const size_t chunk = 1 << 20;
	unsigned char *buf =
	    mmap(NULL, chunk + PW_LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	FILE *maps = fopen("/proc/self/maps", "re");
	int mem = open("/proc/self/mem", O_RDONLY | O_CLOEXEC);
	if (buf == MAP_FAILED || !maps || mem < 0) {
		T_FAIL("cannot read this process's memory");
		return -1;
	}
	int hits = 0;
	char line[512];
	while (fgets(line, sizeof(line), maps)) {
		uintptr_t lo, hi;
		char perm[5];
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " %4s", &lo, &hi, perm) != 3)
			continue;
		/* Our own scratch buffer; and sanitizer shadow or allocator
		 * reservations of many GiB, which hold no program data. */
		if (perm[0] != 'r' || perm[1] != 'w' || lo == (uintptr_t)buf ||
		    hi - lo > ((uintptr_t)1 << 32))
			continue;
		size_t carry = 0;
		for (uintptr_t at = lo; at < hi;) {
			size_t want = hi - at < chunk ? hi - at : chunk;
			ssize_t got = pread(mem, buf + carry, want, (off_t)at);
			if (got <= 0)
				break;
			size_t n = carry + (size_t)got;
			for (size_t i = 0; i + PW_LEN <= n; i++) {
				size_t k = 0;
				while (k < PW_LEN && (buf[i + k] ^ MASK) == masked[k])
					k++;
				hits += k == PW_LEN;
			}
			carry = n < PW_LEN - 1 ? n : PW_LEN - 1;
			memmove(buf, buf + n - carry, carry);
			at += (size_t)got;
		}
		explicit_bzero(buf, chunk + PW_LEN);
	}
	close(mem);
	fclose(maps);
	munmap(buf, chunk + PW_LEN);
	return hits;
}

static void unmask(char *out)
{
	for (int i = 0; i < PW_LEN; i++)
		out[i] = (char)(masked[i] ^ MASK);
	out[PW_LEN] = 0;
}

/* Register over HTTP from a forked child: the clear password exists only in
 * the child's memory. Called before the reactor thread starts, so the child
 * is a copy of a single-threaded process. The child reports through the pipe
 * (not its exit status, which valgrind may override). 0 when registered. */
static int register_in_child(int http_port, const char *user, char *client_id, size_t cap)
{
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		char pw[PW_LEN + 1], id[64] = "";
		unmask(pw);
		if (http_register(http_port, user, pw, id, sizeof(id)) == 200 && id[0] &&
		    write(p[1], id, strlen(id)) < 0)
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	ssize_t n = pid > 0 ? read(p[0], client_id, cap - 1) : -1;
	client_id[n > 0 ? n : 0] = 0;
	close(p[0]);
	if (pid > 0)
		waitpid(pid, NULL, 0);
	return n > 0 ? 0 : -1;
}

static struct bt_reactor *R;
static struct bt_cq *CQ;
/* An exchange that never answers the Logon, and a healthy one, each with
 * one account registered before the tests run. */
static struct ex EX_MUTE, EX;
static char ID_MUTE[64], ID[64];

static void drain(void)
{
	struct bt_event ev[16];
	size_t n;
	while ((n = bt_cq_drain(CQ, ev, 16)) > 0)
		for (size_t i = 0; i < n; i++)
			bt_event_clear(&ev[i]);
}

/* Pump the queue until op is finished; its status. */
static enum bt_op_status finish(struct bt_op *op)
{
	int64_t end = tx_mono() + 10000;
	while (bt_op_status(op) == BT_OP_PENDING && tx_mono() < end) {
		bt_cq_wait(CQ, 50);
		drain();
	}
	drain();
	enum bt_op_status st = bt_op_status(op);
	bt_op_unref(op);
	return st;
}

static struct bt_auth *client(int http_port, int fix_port)
{
	char url[64], err[256];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", http_port);
	struct bt_auth_cfg cfg;
	bt_auth_cfg_init(&cfg);
	cfg.api_url = url;
	cfg.fix_host = "127.0.0.1";
	cfg.fix_port = (uint16_t)fix_port;
	cfg.timeout_ms = cfg.logon_timeout_ms = cfg.logout_timeout_ms = 5000;
	cfg.connect_timeout_ms = 5000;
	cfg.trace = 1; /* the trace path must not copy the password either */
	struct bt_auth *a = bt_auth_new(R, CQ, &cfg, err, sizeof(err));
	if (!a)
		T_FAIL("bt_auth_new: %s", err);
	return a;
}

static struct bt_op *login(struct bt_auth *a, const char *id, int wrong)
{
	char pw[PW_LEN + 1];
	unmask(pw);
	if (wrong)
		pw[0] ^= 1;
	struct bt_op *op = bt_auth_login(a, id, pw);
	explicit_bzero(pw, sizeof(pw));
	return op;
}

static void wait_state(struct bt_auth *a, enum bt_auth_state want)
{
	int64_t end = tx_mono() + 10000;
	while (bt_auth_state(a, NULL, 0, NULL, 0) != want && tx_mono() < end) {
		bt_cq_wait(CQ, 20);
		drain();
	}
	T_EQ_INT(bt_auth_state(a, NULL, 0, NULL, 0), want);
}

/* Positive control: while the Logon goes unanswered bt_auth must still hold
 * the password, and the scan finds it; cancelling the login wipes it. */
static void test_auth_holds_password_until_cancelled(void)
{
	T_EQ_INT(scan_for_password(), 0);
	struct bt_auth *a = client(EX_MUTE.http_port, EX_MUTE.fix_port);
	struct bt_op *op = login(a, ID_MUTE, 0);
	wait_state(a, BT_AUTH_AUTHENTICATING);
	T_OK(scan_for_password() >= 1);
	T_EQ_INT(finish(bt_auth_logout(a)), BT_OP_DONE);
	T_EQ_INT(finish(op), BT_OP_CANCELLED);
	T_EQ_INT(scan_for_password(), 0);
	bt_auth_free(a);
	T_EQ_INT(scan_for_password(), 0);
}

/* Login to Active, a wrong-password login and a logout: no copy of either
 * password is left anywhere in the process at any of those points. */
static void test_auth_wipes_password_after_user_request(void)
{
	struct bt_auth *a = client(EX.http_port, EX.fix_port);
	T_EQ_INT(finish(login(a, ID, 0)), BT_OP_DONE);
	T_EQ_INT(bt_auth_state(a, NULL, 0, NULL, 0), BT_AUTH_ACTIVE);
	T_EQ_INT(scan_for_password(), 0);
	T_EQ_INT(finish(bt_auth_logout(a)), BT_OP_DONE);
	T_EQ_INT(scan_for_password(), 0);

	/* The wrong password differs from the right one in its first byte;
	 * flip it in the mask so the scan looks for the wrong one. */
	T_EQ_INT(finish(login(a, ID, 1)), BT_OP_FAILED);
	T_EQ_INT(bt_auth_state(a, NULL, 0, NULL, 0), BT_AUTH_FAILED);
	masked[0] ^= 1;
	T_EQ_INT(scan_for_password(), 0);
	masked[0] ^= 1;
	T_EQ_INT(scan_for_password(), 0);
	bt_auth_free(a);
	T_EQ_INT(scan_for_password(), 0);
}

static void make_password(void)
{
	static const char alnum[] = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
	unsigned char rnd[PW_LEN];
	int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
	if (fd < 0 || read(fd, rnd, sizeof(rnd)) != (ssize_t)sizeof(rnd)) {
		fprintf(stderr, "cannot read /dev/urandom\n");
		exit(1);
	}
	close(fd);
	for (int i = 0; i < PW_LEN; i++)
		masked[i] = (unsigned char)(alnum[rnd[i] % (sizeof(alnum) - 1)] ^ MASK);
	explicit_bzero(rnd, sizeof(rnd));
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	make_password();
	T_RUN(test_session_logon_password_wiped);
	T_RUN(test_session_user_request_wiped);
	T_RUN(test_session_partial_consume);
	T_RUN(test_session_inbound_password_wiped);

	if (ex_start(&EX_MUTE, "--fault", "no-logon-reply", NULL) != 0 ||
	    ex_start(&EX, NULL) != 0 ||
	    register_in_child(EX_MUTE.http_port, "held", ID_MUTE, sizeof(ID_MUTE)) != 0 ||
	    register_in_child(EX.http_port, "wiped", ID, sizeof(ID)) != 0) {
		fprintf(stderr, "cannot start the exchanges from $BT_BUILD_DIR and register\n");
		return 1;
	}
	char err[256];
	R = reactor_acquire(err, sizeof(err));
	CQ = R ? bt_cq_new(R, err, sizeof(err)) : NULL;
	if (!CQ) {
		fprintf(stderr, "reactor: %s\n", err);
		return 1;
	}
	T_RUN(test_auth_holds_password_until_cancelled);
	T_RUN(test_auth_wipes_password_after_user_request);
	bt_cq_close(CQ);
	reactor_release(R);
	ex_stop(&EX_MUTE);
	ex_stop(&EX);
	return T_END();
}
