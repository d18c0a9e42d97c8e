/* Anchors of case 6's second half (await of an op the I/O thread completes):
 * what the same hand-off costs below Lua.
 *   await.c_op     bt_op_new, reactor_post of a function that completes it,
 *                  then bt_cq_wait + bt_cq_drain on this thread: the C path
 *                  under await, without the Lua scheduler and the timer.
 *   await.pingpong two threads passing a token through two eventfds, each
 *                  blocked in read(): the cost of two cross-thread wake-ups
 *                  on this machine, the floor of any such hand-off.
 * usage: bench_wake <round> [iterations]; prints "RESULT <case> <round> <ns>". */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "codec_cases.h"
#include "op.h"
#include "reactor.h"

struct pingpong {
	int to_peer, from_peer;
	long iters;
};

static void *peer_main(void *arg)
{
	struct pingpong *p = arg;
	uint64_t v;
	for (long i = 0; i < p->iters; i++) {
		if (read(p->to_peer, &v, sizeof v) != sizeof v)
			break;
		if (write(p->from_peer, &v, sizeof v) != sizeof v)
			break;
	}
	return NULL;
}

static double pingpong(long iters)
{
	struct pingpong p = {eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC), iters};
	pthread_t t;
	if (p.to_peer < 0 || p.from_peer < 0 || pthread_create(&t, NULL, peer_main, &p)) {
		fprintf(stderr, "bench_wake: cannot start the peer thread\n");
		exit(1);
	}
	uint64_t one = 1, v;
	int64_t t0 = bench_now_ns();
	for (long i = 0; i < iters; i++)
		if (write(p.to_peer, &one, sizeof one) != sizeof one ||
		    read(p.from_peer, &v, sizeof v) != sizeof v)
			break;
	int64_t t1 = bench_now_ns();
	pthread_join(t, NULL);
	close(p.to_peer);
	close(p.from_peer);
	return (double)(t1 - t0) / (double)iters;
}

static void complete(struct bt_reactor *r, void *ud)
{
	bt_op_succeed(ud, 0, NULL);
}

static double c_op(struct bt_reactor *r, struct bt_cq *cq, long iters)
{
	struct bt_event ev[8];
	int64_t t0 = bench_now_ns();
	for (long i = 0; i < iters; i++) {
		struct bt_op *op = bt_op_new(cq);
		if (!op || reactor_post(r, complete, op) < 0) {
			fprintf(stderr, "bench_wake: cannot post\n");
			exit(1);
		}
		size_t n;
		while ((n = bt_cq_drain(cq, ev, 8)) == 0)
			bt_cq_wait(cq, 1000);
		for (size_t k = 0; k < n; k++)
			bt_event_clear(&ev[k]);
		bt_op_unref(op);
	}
	int64_t t1 = bench_now_ns();
	return (double)(t1 - t0) / (double)iters;
}

int main(int argc, char **argv)
{
	int round = argc > 1 ? atoi(argv[1]) : 1;
	long iters = argc > 2 ? atol(argv[2]) : 20000;
	char err[256];
	struct bt_reactor *r = reactor_acquire(err, sizeof err);
	struct bt_cq *cq = r ? bt_cq_new(r, err, sizeof err) : NULL;
	if (!cq) {
		fprintf(stderr, "bench_wake: %s\n", err);
		return 1;
	}
	c_op(r, cq, iters / 10 + 1);
	printf("RESULT await.c_op %d %.1f\n", round, c_op(r, cq, iters));
	printf("RESULT await.pingpong %d %.1f\n", round, pingpong(iters));
	bt_cq_close(cq);
	reactor_release(r);
	return 0;
}
