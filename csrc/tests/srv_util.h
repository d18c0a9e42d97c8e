/* Test-only helpers shared by the transport and fix_conn tests: loopback
 * listeners, a throwaway CA made with the openssl CLI, and counters of open
 * fds and threads. Header-only (static), so each test stays one file. */
#ifndef BT_SRV_UTIL_H
#define BT_SRV_UTIL_H

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* A listening socket on a loopback address (127.x.y.z, network byte order)
 * with an OS-chosen port; -1 on failure. */
static inline int srv_listen_on(in_addr_t addr, int backlog, unsigned short *port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	struct sockaddr_in a = {0};
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = addr;
	socklen_t len = sizeof(a);
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, backlog) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
		close(fd);
		return -1;
	}
	*port = ntohs(a.sin_port);
	return fd;
}

/* srv_listen_on 127.0.0.1. */
static inline int srv_listen(int backlog, unsigned short *port)
{
	return srv_listen_on(htonl(INADDR_LOOPBACK), backlog, port);
}

/* A blocking client socket connected to 127.0.0.1:port; -1 on failure. */
static inline int srv_connect(unsigned short port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		fd = -1;
	}
	return fd;
}

/* Entries in a /proc/self directory ("fd" or "task"). */
static inline int srv_count_dir(const char *path)
{
	DIR *d = opendir(path);
	if (!d)
		return -1;
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - (strcmp(path, "/proc/self/fd") == 0); /* opendir's own fd */
}

static inline int srv_count_fds(void)
{
	return srv_count_dir("/proc/self/fd");
}

static inline int srv_count_threads(void)
{
	return srv_count_dir("/proc/self/task");
}

/* Threads once a joined thread's task is gone: pthread_join returns when the
 * thread cleared its tid, a moment before the kernel drops its task entry,
 * so wait (up to 2 s) for the count to reach want. */
static inline int srv_threads_settle(int want)
{
	int n = srv_count_threads();
	for (int i = 0; i < 2000 && n != want; i++) {
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
		n = srv_count_threads();
	}
	return n;
}

/* Replaces every epoll fd of the process with /dev/null, the way a bug that
 * closes or dup2()s over a random fd would: the reactor's next epoll_wait
 * fails (EINVAL). Returns how many were replaced. */
static inline int srv_break_epoll(void)
{
	DIR *d = opendir("/proc/self/fd");
	if (!d)
		return -1;
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
	int n = 0;
	struct dirent *e;
	while ((e = readdir(d))) {
		char path[300], link[64];
		snprintf(path, sizeof path, "/proc/self/fd/%s", e->d_name);
		ssize_t len = readlink(path, link, sizeof link - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		if (strcmp(link, "anon_inode:[eventpoll]") == 0 &&
		    dup3(null, atoi(e->d_name), O_CLOEXEC) >= 0)
			n++;
	}
	closedir(d);
	close(null);
	return n;
}

static inline void srv_sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
	nanosleep(&ts, NULL);
}

/* Poll cond (an expression) every 5 ms for up to ms milliseconds. */
#define SRV_WAIT_UNTIL(cond, ms)                                             \
	do {                                                                 \
		for (int srv_i_ = 0; srv_i_ < (ms) / 5 && !(cond); srv_i_++) \
			srv_sleep_ms(5);                                     \
	} while (0)

/* Throwaway PKI in dir: ca.pem/ca.key, server.pem/server.key (signed by the
 * CA, SAN DNS:localhost + IP:127.0.0.1), self.pem/self.key (self-signed,
 * same SAN). 0 on success. */
static inline int srv_make_certs(const char *dir)
{
	char cmd[4096];
	snprintf(cmd, sizeof(cmd),
		 "cd '%s' && "
		 "printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > san.ext && "
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		 "  -keyout ca.key -out ca.pem -days 2 -subj '/CN=BT Test CA' 2>/dev/null && "
		 "openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		 "  -keyout server.key -out server.csr -subj '/CN=localhost' 2>/dev/null && "
		 "openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial "
		 "  -out server.pem -days 2 -extfile san.ext 2>/dev/null && "
		 "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "
		 "  -keyout self.key -out self.pem -days 2 -subj '/CN=localhost' "
		 "  -addext 'subjectAltName=DNS:localhost,IP:127.0.0.1' 2>/dev/null",
		 dir);
	return system(cmd) == 0 ? 0 : -1;
}

static inline void srv_rm_rf(const char *dir)
{
	char cmd[1024];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", dir);
}

#endif
