/* One price-time priority order book: price levels in an AVL tree per side
 * (O(log n) insert, remove and best-price lookup in the number of levels),
 * orders in a FIFO per level (O(1) append and unlink). Prices and quantities
 * are exact decimals held as integers (dec_t, DEC_SCALE units per 1). The
 * book owns neither orders nor their owners: the caller allocates a
 * book_order (usually inside its own struct), the book links it in. */
#ifndef BT_EXCH_BOOK_H
#define BT_EXCH_BOOK_H

#include <stddef.h>
#include <stdint.h>

typedef int64_t dec_t;
#define DEC_DIGITS 8
#define DEC_SCALE INT64_C(100000000)

/* Parse a FIX decimal ("1.0841", "1000000", ".5"): digits with at most
 * DEC_DIGITS fraction digits, no sign, no exponent, at most 1e10. 0 and
 * *out, or -1 if it is not such a number. */
int dec_parse(const char *s, size_t len, dec_t *out);

/* Format without trailing zeros ("1.0841", "1000000"); returns the length.
 * out needs 32 bytes. */
int dec_format(dec_t v, char *out);

enum { BOOK_BUY = 1, BOOK_SELL = 2 };

struct book_level;

struct book_order {
	dec_t price;
	dec_t leaves; /* open quantity; the book lowers it on fills */
	int side;     /* BOOK_BUY or BOOK_SELL */
	struct book_level *level;
	struct book_order *prev, *next; /* FIFO within the level, oldest first */
};

struct book_level {
	dec_t price;
	dec_t total; /* sum of leaves of the orders here */
	size_t count;
	struct book_order *head, *tail;
	struct book_level *left, *right; /* AVL links, ordered by price */
	int height;
};

struct book {
	struct book_level *bids, *asks; /* AVL roots */
	size_t nlevels[3];              /* by side */
	size_t norders;
};

void book_init(struct book *b);

/* Free the level nodes (not the orders, which the caller owns). */
void book_clear(struct book *b);

/* Append o (price, leaves, side set) at the back of its level. 0, or -1 if
 * out of memory. */
int book_add(struct book *b, struct book_order *o);

/* Unlink o from the book (its level goes once empty). */
void book_remove(struct book *b, struct book_order *o);

/* Lower o's open quantity to leaves (> 0) in place: keeps its priority. */
void book_reduce(struct book *b, struct book_order *o, dec_t leaves);

/* Best level of a side, or NULL. */
struct book_level *book_best(const struct book *b, int side);

/* Level at exactly this price, or NULL. */
struct book_level *book_level_at(const struct book *b, int side, dec_t price);

/* Call fn for the first max (0 = all) levels of a side, best first; stops
 * early when fn returns non-zero. Returns how many levels were visited. */
size_t book_walk(const struct book *b, int side, size_t max,
		 int (*fn)(void *arg, const struct book_level *l), void *arg);

/* 1 if an order of side `side` with this limit (0 = market) would trade
 * against level price px. */
int book_crosses(int side, dec_t limit, dec_t px);

/* Quantity available to an order of `side` up to its limit (0 = market),
 * counting at most `need` (stops walking once reached). */
dec_t book_available(const struct book *b, int side, dec_t limit, dec_t need);

/* Match an incoming order of `side` for qty up to limit (0 = market)
 * against the other side, oldest first at each price. For every fill, the
 * maker's leaves are lowered, a filled maker is unlinked (its level goes
 * when empty), and then fill(arg, maker, price, qty) runs: it may free the
 * maker when maker->leaves is 0. Returns the quantity filled. */
dec_t book_match(struct book *b, int side, dec_t limit, dec_t qty,
		 void (*fill)(void *arg, struct book_order *maker, dec_t px, dec_t qty), void *arg);

#endif
