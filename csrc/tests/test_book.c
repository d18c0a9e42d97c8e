/* The exchange's order book (csrc/exchange/book.c): exact decimals, the
 * AVL tree of price levels checked against a naive model under random
 * operations, price-time priority and the FOK availability walk. */
/* test-deps: venue fix_codec */
#include "book.h"
#include "t.h"

static void test_decimals(void)
{
	dec_t v = 0;
	char out[32];
	T_EQ_INT(dec_parse("1.0841", 6, &v), 0);
	T_EQ_INT(v, 108410000);
	T_EQ_INT(dec_format(v, out), 6);
	T_EQ_STR(out, "1.0841");
	T_EQ_INT(dec_parse("1000000", 7, &v), 0);
	T_EQ_INT(v, INT64_C(100000000000000));
	dec_format(v, out);
	T_EQ_STR(out, "1000000");
	T_EQ_INT(dec_parse(".5", 2, &v), 0);
	dec_format(v, out);
	T_EQ_STR(out, "0.5");
	T_EQ_INT(dec_parse("0.00000001", 10, &v), 0);
	T_EQ_INT(v, 1);
	dec_format(v, out);
	T_EQ_STR(out, "0.00000001");
	T_EQ_INT(dec_parse("10000000000", 11, &v), 0); /* the largest accepted */
	/* Never a float: too many decimals, exponents, signs, junk, too large. */
	static const char *const bad[] = {"1.000000001",
					  "1e6",
					  "-1",
					  "+1",
					  "",
					  ".",
					  "1.2.3",
					  "0x10",
					  " 1",
					  "10000000000.1",
					  "99999999999999999999"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		T_EQ_INT(dec_parse(bad[i], strlen(bad[i]), &v), -1);
	dec_format(-150000000, out);
	T_EQ_STR(out, "-1.5");
}

/* ------------------------------------------------------------ the tree */

static int check_avl(const struct book_level *n, dec_t lo, dec_t hi, int *bad)
{
	if (!n)
		return 0;
	if (n->price <= lo || n->price >= hi)
		*bad = 1;
	int hl = check_avl(n->left, lo, n->price, bad);
	int hr = check_avl(n->right, n->price, hi, bad);
	if (hl - hr > 1 || hr - hl > 1 || n->height != (hl > hr ? hl : hr) + 1)
		*bad = 1;
	dec_t total = 0;
	size_t count = 0;
	for (const struct book_order *o = n->head; o; o = o->next) {
		total += o->leaves;
		count++;
	}
	if (total != n->total || count != n->count || !count)
		*bad = 1;
	return (hl > hr ? hl : hr) + 1;
}

struct collect {
	dec_t prices[4096];
	size_t n;
};

static int collect_level(void *arg, const struct book_level *l)
{
	struct collect *c = arg;
	c->prices[c->n++] = l->price;
	return 0;
}

#define NORD 3000

static void test_tree_matches_a_naive_model(void)
{
	static struct book_order orders[NORD];
	static int live[NORD];
	struct book b;
	book_init(&b);
	unsigned seed = 12345;
	int bad = 0;
	for (int step = 0; step < 40000; step++) {
		seed = seed * 1103515245u + 12345u;
		int i = (int)((seed >> 8) % NORD);
		if (live[i]) {
			book_remove(&b, &orders[i]);
			live[i] = 0;
		} else {
			orders[i].side = i % 2 ? BOOK_SELL : BOOK_BUY;
			orders[i].price = (dec_t)(1 + (seed >> 4) % 500) * 1000;
			orders[i].leaves = 1 + i;
			T_EQ_INT(book_add(&b, &orders[i]), 0);
			live[i] = 1;
		}
		if (step % 97)
			continue;
		/* The naive model: best of each side and the set of levels. */
		for (int side = BOOK_BUY; side <= BOOK_SELL; side++) {
			dec_t best = 0;
			size_t norders = 0;
			for (int k = 0; k < NORD; k++) {
				if (!live[k] || orders[k].side != side)
					continue;
				norders++;
				if (!best || (side == BOOK_BUY ? orders[k].price > best
							       : orders[k].price < best))
					best = orders[k].price;
			}
			const struct book_level *l = book_best(&b, side);
			T_EQ_INT(l ? l->price : 0, best);
			check_avl(side == BOOK_BUY ? b.bids : b.asks, INT64_MIN, INT64_MAX, &bad);
			struct collect c = {.n = 0};
			size_t seen = book_walk(&b, side, 0, collect_level, &c);
			T_EQ_INT(seen, b.nlevels[side]);
			for (size_t k = 1; k < c.n; k++)
				if (side == BOOK_BUY ? c.prices[k] >= c.prices[k - 1]
						     : c.prices[k] <= c.prices[k - 1])
					bad = 1;
			(void)norders;
		}
	}
	T_OK(!bad);
	/* A depth-limited walk stops at its depth. */
	struct collect c = {.n = 0};
	T_EQ_INT(book_walk(&b, BOOK_SELL, 3, collect_level, &c), 3);
	book_clear(&b);
	T_OK(!b.bids && !b.asks);
}

/* ------------------------------------------------------------ matching */

struct fills {
	struct book_order *maker[16];
	dec_t px[16], qty[16];
	int n;
};

static void on_fill(void *arg, struct book_order *m, dec_t px, dec_t qty)
{
	struct fills *f = arg;
	f->maker[f->n] = m;
	f->px[f->n] = px;
	f->qty[f->n++] = qty;
}

static void test_price_time_priority(void)
{
	struct book b;
	book_init(&b);
	struct book_order a1 = {.price = 105, .leaves = 10, .side = BOOK_SELL};
	struct book_order a2 = {.price = 104, .leaves = 10, .side = BOOK_SELL};
	struct book_order a3 = {.price = 104, .leaves = 10, .side = BOOK_SELL}; /* after a2 */
	book_add(&b, &a1);
	book_add(&b, &a2);
	book_add(&b, &a3);
	T_EQ_INT(book_available(&b, BOOK_BUY, 104, 100), 20);
	T_EQ_INT(book_available(&b, BOOK_BUY, 0, 25), 25); /* stops once enough */
	T_EQ_INT(book_available(&b, BOOK_BUY, 103, 1), 0);
	struct fills f = {.n = 0};
	/* Buy 25 up to 105: a2 (oldest at the best price), a3, then 5 of a1. */
	T_EQ_INT(book_match(&b, BOOK_BUY, 105, 25, on_fill, &f), 25);
	T_EQ_INT(f.n, 3);
	T_OK(f.maker[0] == &a2 && f.maker[1] == &a3 && f.maker[2] == &a1);
	T_EQ_INT(f.px[0], 104);
	T_EQ_INT(f.px[2], 105);
	T_EQ_INT(f.qty[2], 5);
	T_EQ_INT(a1.leaves, 5);
	T_OK(a2.level == NULL && a3.level == NULL && a1.level != NULL);
	T_EQ_INT(book_best(&b, BOOK_SELL)->total, 5);
	T_EQ_INT(b.nlevels[BOOK_SELL], 1);
	/* A limit below the offer trades nothing; a market order takes the rest. */
	f.n = 0;
	T_EQ_INT(book_match(&b, BOOK_BUY, 104, 100, on_fill, &f), 0);
	T_EQ_INT(book_match(&b, BOOK_BUY, 0, 100, on_fill, &f), 5);
	T_OK(book_best(&b, BOOK_SELL) == NULL);
	/* Reducing keeps the place in the queue and the level total right. */
	struct book_order b1 = {.price = 99, .leaves = 10, .side = BOOK_BUY};
	struct book_order b2 = {.price = 99, .leaves = 10, .side = BOOK_BUY};
	book_add(&b, &b1);
	book_add(&b, &b2);
	book_reduce(&b, &b1, 4);
	T_EQ_INT(book_level_at(&b, BOOK_BUY, 99)->total, 14);
	T_OK(book_level_at(&b, BOOK_BUY, 99)->head == &b1);
	book_clear(&b);
}

int main(void)
{
	T_RUN(test_decimals);
	T_RUN(test_tree_matches_a_naive_model);
	T_RUN(test_price_time_priority);
	return T_END();
}
