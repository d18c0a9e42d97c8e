/* Price-time order book: see book.h. The level tree is a plain AVL tree
 * (recursive insert and delete, height at most 1.44 log2 n, so the explicit
 * walk stack below never overflows). */
#include "book.h"

#include <stdlib.h>
#include <string.h>

#define MAX_HEIGHT 96 /* an AVL tree of 2^64 nodes is shorter than this */

int dec_parse(const char *s, size_t len, dec_t *out)
{
	dec_t v = 0;
	size_t i = 0, digits = 0, frac = 0;
	int dot = 0;
	for (; i < len; i++) {
		char ch = s[i];
		if (ch == '.' && !dot) {
			dot = 1;
			continue;
		}
		if (ch < '0' || ch > '9')
			return -1;
		if (dot && ++frac > DEC_DIGITS)
			return -1;
		if (v > (INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (ch - '0');
		digits++;
	}
	if (!digits)
		return -1;
	for (; frac < DEC_DIGITS; frac++) {
		if (v > INT64_MAX / 10)
			return -1;
		v *= 10;
	}
	if (v > INT64_C(10000000000) * DEC_SCALE)
		return -1;
	*out = v;
	return 0;
}

int dec_format(dec_t v, char *out)
{
	char tmp[32];
	int n = 0, neg = v < 0;
	uint64_t u = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	uint64_t ip = u / (uint64_t)DEC_SCALE, fp = u % (uint64_t)DEC_SCALE;
	if (neg)
		out[n++] = '-';
	int k = 0;
	do {
		tmp[k++] = (char)('0' + ip % 10);
		ip /= 10;
	} while (ip);
	while (k)
		out[n++] = tmp[--k];
	if (fp) {
		out[n++] = '.';
		char f[DEC_DIGITS];
		for (int i = DEC_DIGITS - 1; i >= 0; i--) {
			f[i] = (char)('0' + fp % 10);
			fp /= 10;
		}
		int last = DEC_DIGITS;
		while (f[last - 1] == '0')
			last--;
		memcpy(out + n, f, (size_t)last);
		n += last;
	}
	out[n] = 0;
	return n;
}

/* ------------------------------------------------------------ AVL tree */

static int height(const struct book_level *l)
{
	return l ? l->height : 0;
}

static void update(struct book_level *l)
{
	int hl = height(l->left), hr = height(l->right);
	l->height = (hl > hr ? hl : hr) + 1;
}

static struct book_level *rot_right(struct book_level *y)
{
	struct book_level *x = y->left;
	y->left = x->right;
	x->right = y;
	update(y);
	update(x);
	return x;
}

static struct book_level *rot_left(struct book_level *x)
{
	struct book_level *y = x->right;
	x->right = y->left;
	y->left = x;
	update(x);
	update(y);
	return y;
}

static struct book_level *rebalance(struct book_level *n)
{
	update(n);
	int bal = height(n->left) - height(n->right);
	if (bal > 1) {
		if (height(n->left->left) < height(n->left->right))
			n->left = rot_left(n->left);
		return rot_right(n);
	}
	if (bal < -1) {
		if (height(n->right->right) < height(n->right->left))
			n->right = rot_right(n->right);
		return rot_left(n);
	}
	return n;
}

static struct book_level *avl_insert(struct book_level *root, struct book_level *n)
{
	if (!root)
		return n;
	if (n->price < root->price)
		root->left = avl_insert(root->left, n);
	else
		root->right = avl_insert(root->right, n);
	return rebalance(root);
}

/* Detach the minimum of the subtree into *min. */
static struct book_level *avl_pop_min(struct book_level *root, struct book_level **min)
{
	if (!root->left) {
		*min = root;
		return root->right;
	}
	root->left = avl_pop_min(root->left, min);
	return rebalance(root);
}

static struct book_level *avl_remove(struct book_level *root, dec_t price)
{
	if (!root)
		return NULL;
	if (price < root->price) {
		root->left = avl_remove(root->left, price);
	} else if (price > root->price) {
		root->right = avl_remove(root->right, price);
	} else {
		if (!root->left || !root->right)
			return root->left ? root->left : root->right;
		struct book_level *succ;
		struct book_level *right = avl_pop_min(root->right, &succ);
		succ->left = root->left;
		succ->right = right;
		return rebalance(succ);
	}
	return rebalance(root);
}

static struct book_level *avl_find(struct book_level *n, dec_t price)
{
	while (n && n->price != price)
		n = price < n->price ? n->left : n->right;
	return n;
}

static void avl_free(struct book_level *n)
{
	if (!n)
		return;
	avl_free(n->left);
	avl_free(n->right);
	free(n);
}

/* ---------------------------------------------------------------- book */

static struct book_level **root_of(struct book *b, int side)
{
	return side == BOOK_BUY ? &b->bids : &b->asks;
}

void book_init(struct book *b)
{
	memset(b, 0, sizeof(*b));
}

void book_clear(struct book *b)
{
	avl_free(b->bids);
	avl_free(b->asks);
	book_init(b);
}

int book_add(struct book *b, struct book_order *o)
{
	struct book_level **root = root_of(b, o->side);
	struct book_level *l = avl_find(*root, o->price);
	if (!l) {
		l = calloc(1, sizeof(*l));
		if (!l)
			return -1;
		l->price = o->price;
		l->height = 1;
		*root = avl_insert(*root, l);
		b->nlevels[o->side]++;
	}
	o->level = l;
	o->next = NULL;
	o->prev = l->tail;
	if (l->tail)
		l->tail->next = o;
	else
		l->head = o;
	l->tail = o;
	l->count++;
	l->total += o->leaves;
	b->norders++;
	return 0;
}

void book_remove(struct book *b, struct book_order *o)
{
	struct book_level *l = o->level;
	if (!l)
		return;
	if (o->prev)
		o->prev->next = o->next;
	else
		l->head = o->next;
	if (o->next)
		o->next->prev = o->prev;
	else
		l->tail = o->prev;
	l->count--;
	l->total -= o->leaves;
	o->level = NULL;
	o->prev = o->next = NULL;
	b->norders--;
	if (!l->count) {
		struct book_level **root = root_of(b, o->side);
		*root = avl_remove(*root, l->price);
		b->nlevels[o->side]--;
		free(l);
	}
}

void book_reduce(struct book *b, struct book_order *o, dec_t leaves)
{
	(void)b;
	if (o->level)
		o->level->total -= o->leaves - leaves;
	o->leaves = leaves;
}

struct book_level *book_best(const struct book *b, int side)
{
	struct book_level *n = side == BOOK_BUY ? b->bids : b->asks;
	if (!n)
		return NULL;
	if (side == BOOK_BUY)
		while (n->right)
			n = n->right;
	else
		while (n->left)
			n = n->left;
	return n;
}

struct book_level *book_level_at(const struct book *b, int side, dec_t price)
{
	return avl_find(side == BOOK_BUY ? b->bids : b->asks, price);
}

size_t book_walk(const struct book *b, int side, size_t max,
		 int (*fn)(void *arg, const struct book_level *l), void *arg)
{
	/* In-order walk with an explicit stack: descending for bids (best is
	 * the highest price), ascending for asks. */
	const struct book_level *stack[MAX_HEIGHT];
	size_t sp = 0, seen = 0;
	const struct book_level *n = side == BOOK_BUY ? b->bids : b->asks;
	int desc = side == BOOK_BUY;
	while (n || sp) {
		while (n) {
			stack[sp++] = n;
			n = desc ? n->right : n->left;
		}
		n = stack[--sp];
		seen++;
		if (fn && fn(arg, n))
			return seen;
		if (max && seen >= max)
			return seen;
		n = desc ? n->left : n->right;
	}
	return seen;
}

int book_crosses(int side, dec_t limit, dec_t px)
{
	if (!limit)
		return 1;
	return side == BOOK_BUY ? px <= limit : px >= limit;
}

struct avail {
	int side;
	dec_t limit, need, got;
};

static int add_avail(void *arg, const struct book_level *l)
{
	struct avail *a = arg;
	if (!book_crosses(a->side, a->limit, l->price))
		return 1;
	/* Compare before adding: the sum of two large levels could overflow. */
	if (l->total >= a->need - a->got) {
		a->got = a->need;
		return 1;
	}
	a->got += l->total;
	return 0;
}

dec_t book_available(const struct book *b, int side, dec_t limit, dec_t need)
{
	struct avail a = {side, limit, need, 0};
	book_walk(b, side == BOOK_BUY ? BOOK_SELL : BOOK_BUY, 0, add_avail, &a);
	return a.got;
}

dec_t book_match(struct book *b, int side, dec_t limit, dec_t qty,
		 void (*fill)(void *arg, struct book_order *maker, dec_t px, dec_t qty), void *arg)
{
	int other = side == BOOK_BUY ? BOOK_SELL : BOOK_BUY;
	dec_t done = 0;
	while (done < qty) {
		struct book_level *l = book_best(b, other);
		if (!l || !book_crosses(side, limit, l->price))
			break;
		struct book_order *m = l->head;
		dec_t px = l->price;
		dec_t q = qty - done < m->leaves ? qty - done : m->leaves;
		done += q;
		if (q == m->leaves) {
			book_remove(b, m);
			m->leaves = 0;
		} else {
			book_reduce(b, m, m->leaves - q);
		}
		fill(arg, m, px, q);
	}
	return done;
}
