/* Helpers for the exchange end-to-end tests: start betatrader-exchange from
 * $BT_BUILD_DIR, register accounts over HTTP, and drive an initiator
 * fix_session over a real socket on 127.0.0.1. Header-only (static) so each
 * test_exchange*.c stays one executable. */
#ifndef BT_TEST_EXCHANGE_UTIL_H
#define BT_TEST_EXCHANGE_UTIL_H

#include "fix_codec.h"
#include "fix_session.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct ex {
	pid_t pid;
	int out_fd;
	int fix_port, http_port;
};

static inline int64_t tx_now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static inline int64_t tx_mono(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Start the exchange with extra args (NULL-terminated); 0 once READY. */
static inline int ex_start(struct ex *e, ...)
{
	const char *dir = getenv("BT_BUILD_DIR");
	char exe[4096];
	snprintf(exe, sizeof(exe), "%s/betatrader-exchange", dir ? dir : ".");
	const char *argv[64] = {exe, "--fix-port",    "0",   "--http-port",
				"0", "--pbkdf2-iter", "1000"};
	int argc = 7;
	va_list ap;
	va_start(ap, e);
	const char *a;
	while ((a = va_arg(ap, const char *)) && argc < 61)
		argv[argc++] = a;
	va_end(ap);
	if (getenv("BT_EXCHANGE_TRACE"))
		argv[argc++] = "--trace";
	argv[argc] = NULL;
	int p[2];
	if (pipe2(p, O_CLOEXEC) < 0)
		return -1;
	pid_t pid = fork();
	if (pid == 0) {
		dup2(p[1], 1);
		execv(exe, (char **)argv);
		fprintf(stderr, "exec %s: %s\n", exe, strerror(errno));
		_exit(127);
	}
	close(p[1]);
	e->pid = pid;
	e->out_fd = p[0];
	char line[256];
	size_t n = 0;
	int64_t until = tx_mono() + 10000;
	while (n < sizeof(line) - 1) {
		struct pollfd pf = {.fd = p[0], .events = POLLIN};
		int64_t left = until - tx_mono();
		if (left <= 0 || poll(&pf, 1, (int)left) <= 0)
			break;
		ssize_t k = read(p[0], line + n, 1);
		if (k <= 0)
			break;
		if (line[n] == '\n') {
			line[n] = 0;
			if (sscanf(line, "READY fix=%d http=%d", &e->fix_port, &e->http_port) == 2)
				return 0;
			n = 0;
			continue;
		}
		n++;
	}
	fprintf(stderr, "exchange did not become READY\n");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	close(p[0]);
	return -1;
}

/* SIGTERM and wait (SIGKILL after 10 s); returns the raw wait status. */
static inline int ex_stop(struct ex *e)
{
	int st = -1;
	kill(e->pid, SIGTERM);
	int64_t until = tx_mono() + 10000;
	while (waitpid(e->pid, &st, WNOHANG) == 0) {
		if (tx_mono() > until) {
			kill(e->pid, SIGKILL);
			waitpid(e->pid, &st, 0);
			break;
		}
		struct timespec ts = {0, 5000000};
		nanosleep(&ts, NULL);
	}
	close(e->out_fd);
	return st;
}

static inline int tcp_connect(int port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

/* POST /api/register; returns the HTTP status and copies client_id. */
static inline int http_register(int port, const char *user, const char *pw, char *client_id,
				size_t cap)
{
	char body[256], req[512], resp[2048];
	int blen =
	    snprintf(body, sizeof(body), "{\"username\":\"%s\",\"password\":\"%s\"}", user, pw);
	int rlen = snprintf(req, sizeof(req),
			    "POST /api/register HTTP/1.1\r\nHost: 127.0.0.1\r\n"
			    "Content-Type: application/json\r\nContent-Length: %d\r\n"
			    "Connection: close\r\n\r\n%s",
			    blen, body);
	int fd = tcp_connect(port);
	if (fd < 0 || write(fd, req, (size_t)rlen) != rlen) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	size_t n = 0;
	ssize_t k;
	while (n < sizeof(resp) - 1 && (k = read(fd, resp + n, sizeof(resp) - 1 - n)) > 0)
		n += (size_t)k;
	resp[n] = 0;
	close(fd);
	int status = 0;
	sscanf(resp, "HTTP/1.%*d %d", &status);
	const char *id = strstr(resp, "\"client_id\":\"");
	if (client_id && cap) {
		client_id[0] = 0;
		if (id) {
			id += 13;
			size_t i = 0;
			while (id[i] && id[i] != '"' && i + 1 < cap) {
				client_id[i] = id[i];
				i++;
			}
			client_id[i] = 0;
		}
	}
	return status;
}

/* A copied event: the session's pointers do not outlive the next feed. */
struct got {
	int type;
	int status; /* USER_RESPONSE 926 */
	char text[256];
	char code[32];
};

#define CLI_MAX_GOT 32
#define CLI_MAX_TRACE 64

struct cli {
	int fd;
	struct fix_session *s;
	struct got got[CLI_MAX_GOT];
	int ngot, next_got;
	int closed;
	/* Inbound trace: MsgType and MsgSeqNum of every frame, and garbled ones. */
	char in_type[CLI_MAX_TRACE][4];
	uint64_t in_seq[CLI_MAX_TRACE];
	int nin, ngarbled;
};

static inline void cli_trace(void *ud, int dir, const char *frame, size_t len)
{
	struct cli *c = ud;
	if (dir == FIX_TRACE_GARBLED) {
		c->ngarbled++;
		return;
	}
	if (dir != FIX_TRACE_IN || c->nin >= CLI_MAX_TRACE)
		return;
	struct fix_field f[256];
	struct fix_msg m;
	fix_msg_init(&m, f, 256);
	if (fix_parse(&m, frame, len) != FIX_OK)
		return;
	size_t n = m.msg_type_len < 3 ? m.msg_type_len : 3;
	memcpy(c->in_type[c->nin], m.msg_type, n);
	c->in_type[c->nin][n] = 0;
	c->in_seq[c->nin] = m.seq_num;
	c->nin++;
}

static inline void sv_to(char *dst, size_t cap, struct fix_sv sv)
{
	size_t n = sv.len < cap - 1 ? sv.len : cap - 1;
	if (n)
		memcpy(dst, sv.ptr, n);
	dst[n] = 0;
}

static inline void cli_drain(struct cli *c)
{
	struct fix_event ev;
	while (fix_session_poll_event(c->s, &ev)) {
		if (c->ngot == CLI_MAX_GOT)
			continue;
		struct got *g = &c->got[c->ngot++];
		memset(g, 0, sizeof(*g));
		g->type = ev.type;
		if (ev.type == FIX_EV_USER_RESPONSE) {
			g->status = ev.user_response.status;
			sv_to(g->text, sizeof(g->text), ev.user_response.text);
		} else if (ev.type == FIX_EV_LOGOUT) {
			sv_to(g->text, sizeof(g->text), ev.logout.text);
		} else if (ev.type == FIX_EV_CLOSED) {
			snprintf(g->code, sizeof(g->code), "%s", ev.closed.code);
			snprintf(g->text, sizeof(g->text), "%s", ev.closed.reason);
			c->closed = 1;
		}
	}
}

static inline int cli_flush(struct cli *c)
{
	size_t len;
	const char *p;
	while ((p = fix_session_out(c->s, &len)) && len) {
		ssize_t k = send(c->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (k < 0)
			return errno == EAGAIN ? 0 : -1;
		fix_session_out_consume(c->s, (size_t)k);
	}
	return 0;
}

/* Read what the socket has (if readable), run timers, flush. */
static inline void cli_io(struct cli *c, int readable)
{
	if (c->closed)
		return;
	if (readable) {
		char buf[8192];
		ssize_t k = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (k > 0) {
			size_t off = 0;
			while (off < (size_t)k) {
				off += fix_session_feed(c->s, buf + off, (size_t)k - off, tx_now());
				cli_drain(c);
			}
		} else if (k == 0 || (errno != EAGAIN && errno != EINTR)) {
			fix_session_disconnected(c->s, tx_now());
		}
	}
	fix_session_tick(c->s, tx_now());
	cli_drain(c);
	if (cli_flush(c) < 0)
		fix_session_disconnected(c->s, tx_now());
	cli_drain(c);
}

/* Flush, wait at most ms for input (or the session's next timer), process. */
static inline void cli_step(struct cli *c, int ms)
{
	if (c->closed)
		return;
	if (cli_flush(c) < 0)
		fix_session_disconnected(c->s, tx_now());
	cli_drain(c);
	if (c->closed)
		return;
	int64_t dl = fix_session_deadline(c->s), now = tx_now();
	if (dl != INT64_MAX && dl - now < ms)
		ms = dl - now < 0 ? 0 : (int)(dl - now);
	struct pollfd pf = {.fd = c->fd, .events = POLLIN};
	cli_io(c, poll(&pf, 1, ms) > 0);
}

/* Wait up to ms for the next event of this type (others are skipped). */
static inline const struct got *cli_wait(struct cli *c, int type, int ms)
{
	int64_t until = tx_mono() + ms;
	for (;;) {
		while (c->next_got < c->ngot) {
			const struct got *g = &c->got[c->next_got++];
			if (g->type == type)
				return g;
		}
		if (c->closed || tx_mono() >= until)
			return NULL;
		cli_step(c, (int)(until - tx_mono()));
	}
}

static inline int cli_open(struct cli *c, int port, const char *comp_id, int heartbeat_s,
			   int logon_timeout_ms)
{
	memset(c, 0, sizeof(*c));
	c->fd = tcp_connect(port);
	if (c->fd < 0)
		return -1;
	struct fix_session_cfg cfg;
	fix_session_cfg_init(&cfg);
	cfg.role = FIX_INITIATOR;
	cfg.sender_comp_id = comp_id;
	cfg.target_comp_id = "BETA_EXCHANGE";
	cfg.heartbeat_s = heartbeat_s;
	cfg.logon_timeout_ms = logon_timeout_ms;
	cfg.logout_timeout_ms = 3000;
	cfg.trace = cli_trace;
	cfg.trace_ud = c;
	c->s = fix_session_new(&cfg);
	if (!c->s || fix_session_start(c->s, tx_now()) != 0)
		return -1;
	return cli_flush(c);
}

static inline void cli_close(struct cli *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	fix_session_free(c->s);
	c->s = NULL;
}

/* Raise the soft fd limit to the hard one (1,000 sessions need it). */
static inline void raise_nofile(void)
{
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

#endif
