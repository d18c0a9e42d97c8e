/* The raw floor of case 21: a C ping-pong over loopback TCP with the byte
 * counts of one NewOrderSingle out and its ExecutionReport back, one at a
 * time, blocking reads and writes, TCP_NODELAY, the peer in a forked process.
 *
 *   bench_rtt <n> <request_bytes> <response_bytes> <round>
 *
 * Prints "RESULT rtt.floor_p50 <round> <us>" and "RESULT rtt.floor_p99 ...". */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "codec_cases.h"

static void die(const char *what)
{
	fprintf(stderr, "bench_rtt: %s: %s\n", what, strerror(errno));
	exit(1);
}

static int xfer(int fd, char *p, size_t n, int out)
{
	while (n > 0) {
		ssize_t k = out ? write(fd, p, n) : read(fd, p, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k;
		n -= (size_t)k;
	}
	return 0;
}

static void nodelay(int fd)
{
	int one = 1;
	if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one))
		die("TCP_NODELAY");
}

static void peer(int lfd, size_t req, size_t resp)
{
	char *buf = malloc(req > resp ? req : resp);
	int fd = accept(lfd, NULL, NULL);
	if (!buf || fd < 0)
		_exit(1);
	nodelay(fd);
	memset(buf, 'x', req > resp ? req : resp);
	while (xfer(fd, buf, req, 0) == 0 && xfer(fd, buf, resp, 1) == 0) {
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: bench_rtt <n> <request_bytes> <response_bytes> <round>\n");
		return 2;
	}
	long n = atol(argv[1]);
	size_t req = (size_t)atol(argv[2]), resp = (size_t)atol(argv[3]);
	int round = atoi(argv[4]);
	if (n < 1 || req < 1 || resp < 1)
		return 2;
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET};
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	socklen_t sl = sizeof sa;
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) || listen(lfd, 1) ||
	    getsockname(lfd, (struct sockaddr *)&sa, &sl))
		die("listen");
	pid_t pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0)
		peer(lfd, req, resp);
	close(lfd);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof sa))
		die("connect");
	nodelay(fd);
	char *buf = malloc(req > resp ? req : resp);
	double *us = malloc((size_t)n * sizeof *us);
	if (!buf || !us)
		die("malloc");
	memset(buf, 'y', req > resp ? req : resp);
	for (long i = 0; i < n; i++) {
		int64_t t0 = bench_now_ns();
		if (xfer(fd, buf, req, 1) || xfer(fd, buf, resp, 0))
			die("ping-pong");
		us[i] = (double)(bench_now_ns() - t0) / 1000.0;
	}
	close(fd);
	waitpid(pid, NULL, 0);
	bench_median(us, (size_t)n); /* sorts */
	printf("RESULT rtt.floor_p50 %d %.2f\n", round, us[n / 2]);
	printf("RESULT rtt.floor_p99 %d %.2f\n", round, us[n * 99 / 100]);
	free(us);
	free(buf);
	return 0;
}
