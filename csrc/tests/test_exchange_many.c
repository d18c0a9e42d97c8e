/* test-deps: fix_session fix_codec */
/* 1,000 FIX sessions at once against one betatrader-exchange process: all
 * log on, authenticate with 35=BE and log out, driven from one poll loop. */
#include "t.h"
#include "test_exchange_util.h"

#define N_SESSIONS 1000

enum { PH_LOGON, PH_USER, PH_ACTIVE, PH_LOGOUT, PH_DONE };

static void test_thousand_sessions(void)
{
	raise_nofile();
	struct ex e;
	T_OK(ex_start(&e, (char *)NULL) == 0);
	if (t_failed_checks)
		return;
	static char ids[N_SESSIONS][32];
	int registered = 0;
	for (int i = 0; i < N_SESSIONS; i++) {
		char user[32];
		snprintf(user, sizeof(user), "bot%d", i);
		registered += http_register(e.http_port, user, "pw", ids[i], sizeof(ids[i])) == 200;
	}
	T_EQ_INT(registered, N_SESSIONS);

	struct cli *c = calloc(N_SESSIONS, sizeof(*c));
	int *phase = calloc(N_SESSIONS, sizeof(*phase));
	struct pollfd *pf = calloc(N_SESSIONS, sizeof(*pf));
	int opened = 0;
	for (int i = 0; i < N_SESSIONS; i++)
		opened += cli_open(&c[i], e.fix_port, ids[i], 30, 60000) == 0;
	T_EQ_INT(opened, N_SESSIONS);

	int active = 0, done = 0, logged_out = 0, failed = 0;
	int64_t until = tx_mono() + 120000;
	while (done < N_SESSIONS && tx_mono() < until) {
		for (int i = 0; i < N_SESSIONS; i++) {
			size_t pending = 0;
			fix_session_out(c[i].s, &pending);
			pf[i].fd = c[i].closed ? -1 : c[i].fd;
			pf[i].events = POLLIN | (pending ? POLLOUT : 0);
			pf[i].revents = 0;
		}
		poll(pf, N_SESSIONS, 100);
		for (int i = 0; i < N_SESSIONS; i++) {
			if (pf[i].revents)
				cli_io(&c[i], (pf[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0);
			while (c[i].next_got < c[i].ngot) {
				const struct got *g = &c[i].got[c[i].next_got++];
				if (g->type == FIX_EV_LOGON && phase[i] == PH_LOGON) {
					fix_session_user_request(c[i].s, "r1", 1, ids[i], "pw",
								 tx_now());
					phase[i] = PH_USER;
				} else if (g->type == FIX_EV_USER_RESPONSE && phase[i] == PH_USER) {
					phase[i] = PH_ACTIVE;
					active += g->status == 1;
				} else if (g->type == FIX_EV_CLOSED) {
					logged_out += strcmp(g->code, "logged_out") == 0 &&
						      phase[i] == PH_LOGOUT;
					failed += phase[i] != PH_LOGOUT;
					if (phase[i] != PH_LOGOUT && failed <= 5)
						fprintf(stderr, "session %d closed early: %s\n", i,
							g->text);
					phase[i] = PH_DONE;
					done++;
				}
			}
		}
		/* Everyone authenticated (all at once): now everyone logs out. */
		if (active == N_SESSIONS) {
			for (int i = 0; i < N_SESSIONS; i++) {
				if (phase[i] == PH_ACTIVE) {
					fix_session_logout(c[i].s, NULL, tx_now());
					phase[i] = PH_LOGOUT;
					cli_io(&c[i], 0);
				}
			}
		}
	}
	T_EQ_INT(active, N_SESSIONS);
	T_EQ_INT(logged_out, N_SESSIONS);
	T_EQ_INT(failed, 0);
	for (int i = 0; i < N_SESSIONS; i++)
		cli_close(&c[i]);
	free(c);
	free(phase);
	free(pf);
	int st = ex_stop(&e);
	T_OK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	T_RUN(test_thousand_sessions);
	return T_END();
}
