/* Case 7: the exchange's matching on one core. One random order flow
 * (limits around a mid that drifts, a cancel for every other order once the
 * book holds BOOK_ORDERS orders) runs through
 *   - book.c (AVL tree of levels, FIFO per level): "match.ours",
 *   - a naive book written here for the comparison: every order in one
 *     unsorted array per side, the best found by scanning it: "match.naive",
 *   - venue.c behind parsed FIX frames, ExecutionReports built for every
 *     event: "match.venue" (what a session costs the exchange, minus I/O).
 * usage: bench_match <round> [orders] [book_orders]; prints
 * "RESULT <case> <round> <orders per second>" and the trades as a check. */
#include "book.h"
#include "fix_codec.h"
#include "fix_session.h"
#include "venue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct op {
	int cancel; /* 1: cancel the order created by op index `target` */
	size_t target;
	int side;
	dec_t price, qty;
};

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t rng = 88172645463325252ull;
static uint64_t next_rand(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* The flow: a random walk of the mid, limits within +-200 ticks of it, so
 * that about a fifth of the orders trade and the rest rest. */
static struct op *make_flow(size_t n, size_t book_orders)
{
	struct op *ops = calloc(n, sizeof(*ops));
	size_t *live = calloc(n, sizeof(*live)), nlive = 0;
	dec_t mid = 100000;
	for (size_t i = 0; i < n; i++) {
		uint64_t r = next_rand();
		if (nlive > book_orders && (r & 1)) {
			size_t k = (size_t)(r >> 8) % nlive;
			ops[i].cancel = 1;
			ops[i].target = live[k];
			live[k] = live[--nlive];
			continue;
		}
		mid += (dec_t)(r >> 20) % 3 - 1;
		ops[i].side = (r >> 2) & 1 ? BOOK_BUY : BOOK_SELL;
		dec_t off = (dec_t)((r >> 30) % 200) - 40; /* mostly passive */
		ops[i].price = (ops[i].side == BOOK_BUY ? mid - off : mid + off) * 1000;
		ops[i].qty = (dec_t)(1 + (r >> 40) % 10) * DEC_SCALE;
		live[nlive++] = i;
	}
	free(live);
	return ops;
}

/* ------------------------------------------------------------- book.c */

struct bench_order {
	struct book_order bo;
	int done;
};

static uint64_t trades;

static void on_fill(void *arg, struct book_order *m, dec_t px, dec_t qty)
{
	(void)arg;
	(void)px;
	(void)qty;
	trades++;
	if (!m->leaves)
		((struct bench_order *)m)->done = 1;
}

static double run_ours(const struct op *ops, size_t n, uint64_t *ntrades)
{
	struct bench_order *o = calloc(n, sizeof(*o));
	struct book b;
	book_init(&b);
	trades = 0;
	double t0 = now_s();
	for (size_t i = 0; i < n; i++) {
		const struct op *p = &ops[i];
		if (p->cancel) {
			struct bench_order *t = &o[p->target];
			if (!t->done && t->bo.level)
				book_remove(&b, &t->bo);
			t->done = 1;
			continue;
		}
		dec_t got = book_match(&b, p->side, p->price, p->qty, on_fill, NULL);
		if (got < p->qty) {
			o[i].bo.side = p->side;
			o[i].bo.price = p->price;
			o[i].bo.leaves = p->qty - got;
			book_add(&b, &o[i].bo);
		} else {
			o[i].done = 1;
		}
	}
	double dt = now_s() - t0;
	book_clear(&b);
	free(o);
	*ntrades = trades;
	return (double)n / dt;
}

/* ------------------------------------------------------------- naive */

struct naive_order {
	dec_t price, leaves;
	size_t seq, id;
};

struct naive_side {
	struct naive_order *v;
	size_t n;
};

/* Index of the best order: best price, then the oldest. */
static size_t naive_best(const struct naive_side *s, int side)
{
	size_t best = (size_t)-1;
	for (size_t i = 0; i < s->n; i++) {
		const struct naive_order *o = &s->v[i];
		if (best == (size_t)-1)
			best = i;
		else if (side == BOOK_BUY ? o->price > s->v[best].price
					  : o->price < s->v[best].price)
			best = i;
		else if (o->price == s->v[best].price && o->seq < s->v[best].seq)
			best = i;
	}
	return best;
}

static double run_naive(const struct op *ops, size_t n, uint64_t *ntrades)
{
	struct naive_side sides[3] = {{NULL, 0},
				      {calloc(n, sizeof(struct naive_order)), 0},
				      {calloc(n, sizeof(struct naive_order)), 0}};
	uint64_t t = 0;
	double t0 = now_s();
	for (size_t i = 0; i < n; i++) {
		const struct op *p = &ops[i];
		if (p->cancel) {
			for (int sd = BOOK_BUY; sd <= BOOK_SELL; sd++) {
				struct naive_side *s = &sides[sd];
				for (size_t k = 0; k < s->n; k++) {
					if (s->v[k].id == p->target) {
						/* Order does not matter: seq keeps time priority.
						 */
						s->v[k] = s->v[--s->n];
						break;
					}
				}
			}
			continue;
		}
		struct naive_side *other = &sides[p->side == BOOK_BUY ? BOOK_SELL : BOOK_BUY];
		int oside = p->side == BOOK_BUY ? BOOK_SELL : BOOK_BUY;
		dec_t left = p->qty;
		while (left) {
			size_t b = naive_best(other, oside);
			if (b == (size_t)-1 || !book_crosses(p->side, p->price, other->v[b].price))
				break;
			dec_t q = left < other->v[b].leaves ? left : other->v[b].leaves;
			left -= q;
			other->v[b].leaves -= q;
			t++;
			if (!other->v[b].leaves)
				other->v[b] = other->v[--other->n];
		}
		if (left) {
			struct naive_side *s = &sides[p->side];
			s->v[s->n++] = (struct naive_order){p->price, left, i, i};
		}
	}
	double dt = now_s() - t0;
	free(sides[1].v);
	free(sides[2].v);
	*ntrades = t;
	return (double)n / dt;
}

/* ------------------------------------------------------------- venue.c */

static void sink(void *ud, struct participant *p, const char *type, const struct fix_out_field *f,
		 size_t n)
{
	(void)p;
	(void)type;
	(void)f;
	(void)n;
	++*(uint64_t *)ud;
}

static int64_t zero(void *ud)
{
	(void)ud;
	return 0;
}

static double run_venue(const struct op *ops, size_t n, uint64_t *nmsgs)
{
	uint64_t sent = 0;
	struct venue_ops vo = {.send = sink, .now = zero, .ud = &sent};
	char err[64];
	struct venue *v = venue_new("EUR/USD", &vo, err, sizeof(err));
	struct participant *p[2] = {venue_participant(v, "A"), venue_participant(v, "B")};
	/* Frames are encoded up front: the parse is part of what is timed. */
	char *frames = malloc(n * 256);
	size_t *lens = calloc(n, sizeof(*lens));
	for (size_t i = 0; i < n; i++) {
		struct fix_enc e;
		char id[24], tid[24], px[32], qty[32];
		const struct op *o = &ops[i];
		snprintf(id, sizeof(id), "c%zu", i);
		const char *type = o->cancel ? "F" : "D";
		fix_enc_begin(&e, frames + i * 256, 256, type, p[i & 1]->comp_id, "BETA_EXCHANGE",
			      i + 1, 0);
		if (o->cancel) {
			snprintf(tid, sizeof(tid), "c%zu", o->target);
			fix_enc_cstr(&e, 41, tid);
			fix_enc_cstr(&e, 11, id);
			fix_enc_cstr(&e, 55, "EUR/USD");
			fix_enc_cstr(&e, 54, ops[o->target].side == BOOK_BUY ? "1" : "2");
		} else {
			dec_format(o->price, px);
			dec_format(o->qty, qty);
			fix_enc_cstr(&e, 11, id);
			fix_enc_cstr(&e, 55, "EUR/USD");
			fix_enc_cstr(&e, 54, o->side == BOOK_BUY ? "1" : "2");
			fix_enc_cstr(&e, 38, qty);
			fix_enc_cstr(&e, 40, "2");
			fix_enc_cstr(&e, 44, px);
		}
		const char *f = fix_enc_finish(&e, &lens[i]);
		memmove(frames + i * 256, f, lens[i]);
	}
	struct fix_field idx[32];
	double t0 = now_s();
	for (size_t i = 0; i < n; i++) {
		struct fix_msg m;
		fix_msg_init(&m, idx, 32);
		if (fix_parse(&m, frames + i * 256, lens[i]) == FIX_OK) {
			/* Cancels must come from the order's owner. */
			struct participant *who = p[(ops[i].cancel ? ops[i].target : i) & 1];
			venue_on_message(v, who, &m);
		}
	}
	double dt = now_s() - t0;
	struct venue_stats st;
	venue_stats(v, &st);
	venue_free(v);
	free(frames);
	free(lens);
	*nmsgs = st.trades;
	return (double)n / dt;
}

int main(int argc, char **argv)
{
	int round = argc > 1 ? atoi(argv[1]) : 1;
	size_t n = argc > 2 ? (size_t)atol(argv[2]) : 200000;
	size_t depth = argc > 3 ? (size_t)atol(argv[3]) : 10000;
	struct op *ops = make_flow(n, depth);
	uint64_t t_ours = 0, t_naive = 0, t_venue = 0;
	/* Naive last in one round, first in the next: neither always runs warm. */
	double naive = 0, ours;
	if (round % 2)
		naive = run_naive(ops, n, &t_naive);
	ours = run_ours(ops, n, &t_ours);
	double venue = run_venue(ops, n, &t_venue);
	if (!(round % 2))
		naive = run_naive(ops, n, &t_naive);
	if (t_ours != t_naive || t_ours != t_venue)
		fprintf(stderr,
			"bench_match: trade counts differ: ours %llu naive %llu venue %llu\n",
			(unsigned long long)t_ours, (unsigned long long)t_naive,
			(unsigned long long)t_venue);
	printf("RESULT match.ours %d %.0f\n", round, ours);
	printf("RESULT match.naive %d %.0f\n", round, naive);
	printf("RESULT match.venue %d %.0f\n", round, venue);
	fprintf(stderr, "bench_match: %zu orders (book ~%zu), %llu trades\n", n, depth,
		(unsigned long long)t_ours);
	free(ops);
	return 0;
}
