/* betatrader-exchange: a local exchange for the quickstart and the specs.
 * HTTP (registration, profile) runs on libmicrohttpd's threads, FIX on the
 * core's reactor thread (the gateway thread); SIGTERM/SIGINT arrive through a
 * signalfd the main thread waits on, so it can shut everything down in order. */
#include "exchange.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

static const char usage[] =
    "usage: betatrader-exchange [options]\n"
    "\n"
    "  --host ADDR          address to bind (default 127.0.0.1)\n"
    "  --fix-port N         FIX port, 0 = any free port (default 9878)\n"
    "  --http-port N        HTTP port, 0 = any free port (default 8080)\n"
    "  --db PATH            SQLite account database kept across restarts\n"
    "                       (default: a private temporary database removed on exit)\n"
    "  --tls-cert PEM       serve FIX over TLS with this certificate (chain)\n"
    "  --tls-key PEM        ... and this private key\n"
    "  --pbkdf2-iter N      PBKDF2-HMAC-SHA256 iterations for new accounts (default 100000)\n"
    "  --symbols LIST       comma-separated symbols with an order book each (default\n"
    "                       EUR/USD,USD/JPY,GBP/USD,USD/CHF,AUD/USD,USD/CAD,NZD/USD)\n"
    "  --fault NAME[=VALUE] inject a fault; may be given several times:\n"
    "      no-logon-reply         never answer the Logon\n"
    "      logon-logout[=TEXT]    answer the Logon with a Logout carrying 58=TEXT\n"
    "      user-status=N          answer every UserRequest with 926=N\n"
    "      no-user-response       never answer a UserRequest\n"
    "      silent-after-logon     after the Logon reply send nothing at all\n"
    "      seq-gap[=N]            skip N outbound MsgSeqNums after the Logon (default 5)\n"
    "      garbled-frame          send a frame with a bad CheckSum after the Logon\n"
    "      close-after=N          close the connection after N inbound messages\n"
    "      logout-active[=TEXT]   Logout (58=TEXT) right after a successful UserResponse\n"
    "      http-delay=MS          delay every HTTP response by MS milliseconds\n"
    "      http-500               answer every HTTP request with 500\n"
    "      bad-json               answer every HTTP request with malformed JSON\n"
    "      http-redirect=URL      answer every HTTP request with 307, Location: URL\n"
    "      slow-bytes[=WHEN]      send every outbound byte at one byte per second once\n"
    "                             WHEN is reached: logon (default: after the Logon\n"
    "                             reply) or login (after a successful UserResponse)\n"
    "      huge-bodylength        after the Logon reply send \"8=FIX.4.4|9=999999999|\"\n"
    "                             and 64 KiB of garbage, then carry on normally\n"
    "      no-soh                 after the Logon reply send \"8=FIX.4.4|9=\" and 1 MiB\n"
    "                             of digits without an SOH, then carry on normally\n"
    "      many-fields            after the Logon reply send a valid News (35=B) frame\n"
    "                             of 100,000 body fields (about 500 KB) that\n"
    "                             shares its MsgSeqNum with the next frame\n"
    "      resend-request         after the first application message of a connection\n"
    "                             send a ResendRequest 7=1 16=0 (the client must\n"
    "                             resend with 43=Y and 122, or gap-fill)\n"
    "  --compat MODE        behave like another exchange; MODE betatrader-gateway:\n"
    "                       BetaTrader's own C++ gateway (README, \"The local\n"
    "                       exchange\"): Logon by SenderCompID alone, no\n"
    "                       UserRequest, no HTTP API (only the admin channel),\n"
    "                       its symbols (default --symbols\n"
    "                       " EXCH_COMPAT_SYMBOLS ")\n"
    "                       and its message layouts\n"
    "  --comp-ids LIST      with --compat: comma-separated SenderCompIDs that may\n"
    "                       log on (besides the client ids of --db)\n"
    "  --auth-timeout MS    a session logged on without its password must log in\n"
    "                       (UserRequest) within MS ms or is logged out, so that\n"
    "                       nobody holds a client id without it (default 60000)\n"
    "  --trace              print every FIX frame to stderr (554 redacted), one line\n"
    "                       each: \"fix <conn> <in|out|garbled>: <frame>\" with SOH\n"
    "                       shown as '|' and <conn> counting connections from 1;\n"
    "                       \"fix <conn> closed\" once a connection is gone\n"
    "  --help               this text\n"
    "\n"
    "Prints \"READY fix=<port> http=<port> admin=<token>\" once both ports accept\n"
    "connections. The token guards the admin endpoints (POST /admin/<command>\n"
    "with \"Authorization: Bearer <token>\"): see the README, \"Scenario tests\".\n";

int exch_listen(const char *host, int port, int *bound, char *err, size_t errlen)
{
	struct addrinfo hints = {.ai_family = AF_UNSPEC,
				 .ai_socktype = SOCK_STREAM,
				 .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
	struct addrinfo *res = NULL;
	char service[16];
	snprintf(service, sizeof(service), "%d", port);
	int gai = getaddrinfo(host, service, &hints, &res);
	if (gai != 0) {
		snprintf(err, errlen, "%s: %s", host, gai_strerror(gai));
		return -1;
	}
	int fd = -1, saved = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			saved = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0)
			break;
		saved = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		snprintf(err, errlen, "%s:%d: %s", host, port, strerror(saved));
		return -1;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	getsockname(fd, (struct sockaddr *)&ss, &sl);
	*bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
						: ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
}

/* The command line, parsed. */
struct exch_opts {
	const char *host, *db, *cert, *key, *symbols, *compat_mode, *comp_ids;
	int fix_port, http_port, iter, trace, with_parent, auth_timeout;
	struct exch_faults faults;
};

/* Returns -1 to go on, or the exit status (0 after --help, 2 on a bad
 * command line, with the reason printed). */
static int parse_args(int argc, char **argv, struct exch_opts *o)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		int bad = 0;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(usage, stdout);
			return 0;
		} else if (strcmp(a, "--trace") == 0) {
			o->trace = 1;
			continue;
		} else if (strcmp(a, "--die-with-parent") == 0) {
			o->with_parent = 1;
			continue;
		} else if (!v) {
			fprintf(stderr,
				"betatrader-exchange: %s: unknown option or missing value "
				"(see --help)\n",
				a);
			return 2;
		} else if (strcmp(a, "--host") == 0) {
			o->host = v;
		} else if (strcmp(a, "--fix-port") == 0) {
			bad = exch_parse_int(v, 0, 65535, &o->fix_port);
		} else if (strcmp(a, "--http-port") == 0) {
			bad = exch_parse_int(v, 0, 65535, &o->http_port);
		} else if (strcmp(a, "--pbkdf2-iter") == 0) {
			bad = exch_parse_int(v, 1, 100000000, &o->iter);
		} else if (strcmp(a, "--db") == 0) {
			o->db = v;
		} else if (strcmp(a, "--tls-cert") == 0) {
			o->cert = v;
		} else if (strcmp(a, "--tls-key") == 0) {
			o->key = v;
		} else if (strcmp(a, "--symbols") == 0) {
			o->symbols = v;
		} else if (strcmp(a, "--compat") == 0) {
			o->compat_mode = v;
		} else if (strcmp(a, "--comp-ids") == 0) {
			o->comp_ids = v;
		} else if (strcmp(a, "--auth-timeout") == 0) {
			bad = exch_parse_int(v, 1, 3600 * 1000, &o->auth_timeout);
		} else if (strcmp(a, "--fault") == 0) {
			char why[160];
			if (exch_fault_set(&o->faults, v, 1, why, sizeof(why)) != 0) {
				fprintf(stderr, "betatrader-exchange: --fault: %s\n", why);
				return 2;
			}
		} else {
			fprintf(stderr, "betatrader-exchange: unknown option %s (see --help)\n", a);
			return 2;
		}
		if (bad) {
			fprintf(stderr, "betatrader-exchange: %s: bad value '%s'\n", a, v);
			return 2;
		}
		i++;
	}
	if (!o->cert != !o->key) {
		fprintf(stderr, "betatrader-exchange: --tls-cert and --tls-key go together\n");
		return 2;
	}
	if (o->comp_ids && !o->compat_mode) {
		fprintf(stderr, "betatrader-exchange: --comp-ids needs --compat %s\n",
			EXCH_COMPAT_GATEWAY);
		return 2;
	}
	return -1;
}

/* SIGTERM/SIGINT as a signalfd for the gateway to watch, or -1. */
static int signals_fd(int with_parent)
{
	/* One fd per FIX session: the default soft limit (1024) is too low for a
	 * farm of bots, the hard limit usually is not. */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}

	/* Block before any thread starts so only the signalfd sees these. */
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	/* A test runner that dies must not leave us behind: its death becomes our
	 * SIGTERM (and if it is already gone, we were re-parented: stop now). */
	if (with_parent) {
		pid_t parent = getppid();
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		if (parent == 1 || kill(parent, 0) < 0)
			raise(SIGTERM);
	}
	return sfd;
}

/* Opens everything, prints READY, serves until a signal; the exit status. */
static int serve(struct exch_opts *o, struct exch_compat *compat, int sfd)
{
	char err[512];
	int status = 1, fix_bound = 0, http_bound = 0, fix_fd = -1, http_fd = -1;
	struct http_api *http = NULL;
	struct fix_gateway *gw = NULL;
	struct exch_admin *admin = NULL;
	struct accounts *acc = accounts_open(o->db, o->iter, err, sizeof(err));
	if (!acc)
		goto fail;
	admin = admin_new(o->symbols, &o->faults, err, sizeof(err));
	if (!admin)
		goto fail;
	fix_fd = exch_listen(o->host, o->fix_port, &fix_bound, err, sizeof(err));
	if (fix_fd < 0)
		goto fail;
	struct fix_gateway_cfg cfg = {.listen_fd = fix_fd,
				      .signal_fd = sfd,
				      .accounts = acc,
				      .faults = &o->faults,
				      .tls_cert = o->cert,
				      .tls_key = o->key,
				      .trace = o->trace,
				      .admin = admin,
				      .compat = compat,
				      .auth_timeout_ms = o->auth_timeout};
	gw = fix_gateway_new(&cfg, err, sizeof(err));
	fix_fd = -1; /* the gateway owns it now, even on failure */
	if (!gw)
		goto fail;
	http_fd = exch_listen(o->host, o->http_port, &http_bound, err, sizeof(err));
	if (http_fd < 0)
		goto fail;
	http = http_api_start(http_fd, compat ? NULL : acc, &o->faults, admin);
	if (!http) {
		close(http_fd);
		snprintf(err, sizeof(err), "cannot start the HTTP server on port %d", http_bound);
		goto fail;
	}
	printf("READY fix=%d http=%d admin=%s\n", fix_bound, http_bound, admin_token(admin));
	fflush(stdout);
	status = fix_gateway_run(gw) == 0 ? 0 : 1;
	err[0] = 0;
	if (status)
		snprintf(err, sizeof(err), "FIX gateway failed");
fail:
	if (status && err[0])
		fprintf(stderr, "betatrader-exchange: %s\n", err);
	http_api_stop(http);
	fix_gateway_free(gw);
	admin_free(admin);
	if (fix_fd >= 0)
		close(fix_fd);
	accounts_close(acc);
	return status;
}

int main(int argc, char **argv)
{
	struct exch_opts o = {.host = "127.0.0.1",
			      .fix_port = BT_DEFAULT_FIX_PORT,
			      .http_port = BT_DEFAULT_HTTP_PORT,
			      .iter = EXCH_DEFAULT_ITER};
	int rc = parse_args(argc, argv, &o);
	if (rc >= 0)
		return rc;
	struct exch_compat *compat = NULL;
	if (o.compat_mode) {
		char why[160];
		compat = exch_compat_new(o.compat_mode, o.comp_ids, why, sizeof(why));
		if (!compat) {
			fprintf(stderr, "betatrader-exchange: %s\n", why);
			return 2;
		}
		if (!o.symbols)
			o.symbols = EXCH_COMPAT_SYMBOLS;
	}
	int sfd = signals_fd(o.with_parent);
	if (sfd < 0) {
		fprintf(stderr, "betatrader-exchange: signalfd: %s\n", strerror(errno));
		exch_compat_free(compat);
		return 1;
	}
	int status = serve(&o, compat, sfd);
	exch_compat_free(compat);
	close(sfd);
	return status;
}
