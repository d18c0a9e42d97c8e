/* Orders: NewOrderSingle (limit/market; DAY, IOC, FOK), OrderCancelRequest
 * and OrderCancelReplaceRequest against price-time books, answered with
 * FIX 4.4 ExecutionReports (150/39: 0 New, F Trade with 39=1/2, 4 Canceled,
 * 5 Replaced, 8 Rejected) and OrderCancelRejects. Every accepted order is
 * acknowledged New first, then filled and/or cancelled, so a client sees
 * one life story per order whatever its TimeInForce. */
#include "venue_internal.h"

#include "fix_codec.h"
#include "fix_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ symbols */

struct vsymbol *venue_symbol(const struct venue *v, const char *name, size_t len)
{
	for (size_t i = 0; i < v->nsyms; i++)
		if (strlen(v->syms[i].name) == len && memcmp(v->syms[i].name, name, len) == 0)
			return &v->syms[i];
	return NULL;
}

int venue_has_symbol(const struct venue *v, const char *symbol)
{
	return venue_symbol(v, symbol, strlen(symbol)) != NULL;
}

const struct book *venue_book(const struct venue *v, const char *symbol)
{
	struct vsymbol *s = venue_symbol(v, symbol, strlen(symbol));
	return s ? &s->book : NULL;
}

struct venue *venue_new(const char *symbols, const struct venue_ops *ops, char *err, size_t errlen)
{
	struct venue *v = calloc(1, sizeof(*v));
	if (!v) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	v->ops = *ops;
	if (!symbols)
		symbols = VENUE_DEFAULT_SYMBOLS;
	size_t n = 1;
	for (const char *p = symbols; *p; p++)
		n += *p == ',';
	v->syms = calloc(n, sizeof(*v->syms));
	v->nbuckets = 1024;
	v->buckets = calloc(v->nbuckets, sizeof(*v->buckets));
	if (!v->syms || !v->buckets) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (const char *p = symbols;;) {
		const char *e = strchr(p, ',');
		size_t len = e ? (size_t)(e - p) : strlen(p);
		int ok = len > 0 && len < sizeof(v->syms[0].name);
		for (size_t i = 0; ok && i < len; i++)
			ok = p[i] > ' ' && p[i] < 127 && p[i] != '|';
		if (!ok) {
			snprintf(err, errlen,
				 "bad symbol '%.*s' (1-31 printable characters, no spaces)",
				 (int)len, p);
			goto fail;
		}
		if (venue_symbol(v, p, len)) {
			snprintf(err, errlen, "symbol '%.*s' listed twice", (int)len, p);
			goto fail;
		}
		struct vsymbol *s = &v->syms[v->nsyms++];
		memcpy(s->name, p, len);
		book_init(&s->book);
		if (!e)
			break;
		p = e + 1;
	}
	return v;
fail:
	venue_free(v);
	return NULL;
}

/* ------------------------------------------------------- participants */

static size_t comp_hash(const char *s, size_t len)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a, as id_hash */
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return (size_t)(h ^ (h >> 29));
}

/* Doubles the comp_id table once it holds as many participants as buckets;
 * on no memory the chains just get longer. */
static void parts_grow(struct venue *v)
{
	if (v->nparts < v->npbuckets)
		return;
	size_t nb = v->npbuckets ? v->npbuckets * 2 : 256;
	struct participant **b = calloc(nb, sizeof(*b));
	if (!b)
		return;
	for (size_t i = 0; i < v->npbuckets; i++) {
		while (v->pbuckets[i]) {
			struct participant *x = v->pbuckets[i];
			v->pbuckets[i] = x->pnext;
			size_t k = comp_hash(x->comp_id, strlen(x->comp_id)) & (nb - 1);
			x->pnext = b[k];
			b[k] = x;
		}
	}
	free(v->pbuckets);
	v->pbuckets = b;
	v->npbuckets = nb;
}

struct participant *venue_participant(struct venue *v, const char *comp_id)
{
	size_t len = strlen(comp_id);
	if (!len || len >= sizeof(v->parts->comp_id))
		return NULL;
	size_t h = comp_hash(comp_id, len);
	if (v->npbuckets)
		for (struct participant *p = v->pbuckets[h & (v->npbuckets - 1)]; p; p = p->pnext)
			if (strcmp(p->comp_id, comp_id) == 0)
				return p;
	parts_grow(v);
	if (!v->npbuckets)
		return NULL;
	struct participant *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	memcpy(p->comp_id, comp_id, len + 1);
	if (v->parts_tail)
		v->parts_tail->next = p;
	else
		v->parts = p;
	v->parts_tail = p;
	size_t k = h & (v->npbuckets - 1);
	p->pnext = v->pbuckets[k];
	v->pbuckets[k] = p;
	v->nparts++;
	return p;
}

struct participant *venue_participants(struct venue *v)
{
	return v->parts;
}

void venue_stats(const struct venue *v, struct venue_stats *out)
{
	*out = v->stats;
}

/* ---------------------------------------------- (owner, ClOrdID) index */

static size_t id_hash(const struct participant *p, const char *id, size_t len)
{
	uint64_t h = 1469598103934665603ull ^ (uint64_t)(uintptr_t)p;
	for (size_t i = 0; i < len; i++)
		h = (h ^ (unsigned char)id[i]) * 1099511628211ull;
	return (size_t)(h ^ (h >> 29));
}

static struct vorder *id_find(struct venue *v, const struct participant *p, const char *id,
			      size_t len)
{
	struct vorder *o = v->buckets[id_hash(p, id, len) & (v->nbuckets - 1)];
	for (; o; o = o->hnext)
		if (o->owner == p && strlen(o->clordid) == len && memcmp(o->clordid, id, len) == 0)
			return o;
	return NULL;
}

static void id_insert(struct venue *v, struct vorder *o)
{
	if (v->nlive >= v->nbuckets) {
		/* Grow; on failure the chains just get longer. */
		size_t nb = v->nbuckets * 2;
		struct vorder **b = calloc(nb, sizeof(*b));
		if (b) {
			for (size_t i = 0; i < v->nbuckets; i++) {
				while (v->buckets[i]) {
					struct vorder *x = v->buckets[i];
					v->buckets[i] = x->hnext;
					size_t k =
					    id_hash(x->owner, x->clordid, strlen(x->clordid)) &
					    (nb - 1);
					x->hnext = b[k];
					b[k] = x;
				}
			}
			free(v->buckets);
			v->buckets = b;
			v->nbuckets = nb;
		}
	}
	size_t k = id_hash(o->owner, o->clordid, strlen(o->clordid)) & (v->nbuckets - 1);
	o->hnext = v->buckets[k];
	v->buckets[k] = o;
	v->nlive++;
}

static void id_remove(struct venue *v, struct vorder *o)
{
	struct vorder **pp =
	    &v->buckets[id_hash(o->owner, o->clordid, strlen(o->clordid)) & (v->nbuckets - 1)];
	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == o) {
			*pp = o->hnext;
			v->nlive--;
			return;
		}
	}
}

/* ------------------------------------------------------------ helpers */

struct sv {
	const char *p;
	size_t n;
};

static struct sv get(const struct fix_msg *m, uint32_t tag)
{
	struct sv sv = {NULL, 0};
	sv.p = fix_msg_get(m, tag, &sv.n);
	return sv;
}

static int sv_is(struct sv sv, const char *s)
{
	return sv.p && sv.n == strlen(s) && memcmp(sv.p, s, sv.n) == 0;
}

static void send_msg(struct venue *v, struct participant *p, const char *type,
		     const struct fix_out_field *f, size_t n)
{
	v->ops.send(v->ops.ud, p, type, f, n);
}

static void business_reject(struct venue *v, struct participant *p, const struct fix_msg *m,
			    char reason, const char *why)
{
	char seq[24];
	int n = snprintf(seq, sizeof(seq), "%llu", (unsigned long long)m->seq_num);
	struct fix_out_field f[] = {
	    {45, seq, (size_t)n},
	    {372, m->msg_type, m->msg_type_len},
	    {380, &reason, 1},
	    {58, why, strlen(why)},
	};
	send_msg(v, p, "j", f, 4);
}

#define F(tag, s, len) (f[n++] = (struct fix_out_field){(tag), (s), (len)})
#define FS(tag, s) F(tag, s, strlen(s))

/* Values of one ExecutionReport that are not in the order itself. */
struct er {
	char exec_type, status;
	dec_t last_px, last_qty; /* last_qty > 0: a fill */
	const char *orig_clordid;
	const char *text;
};

static void send_er(struct venue *v, struct vorder *o, const struct er *e)
{
	struct fix_out_field f[24];
	size_t n = 0;
	char oid[24], xid[24], qty[32], px[32], lpx[32], lqty[32], leaves[32], cum[32], avg[32];
	char ts[22];
	int on = snprintf(oid, sizeof(oid), "O%llu", (unsigned long long)o->id);
	int xn = snprintf(xid, sizeof(xid), "X%llu", (unsigned long long)++v->exec_seq);
	dec_t avgpx = 0;
	if (o->cum)
		avgpx = (dec_t)((o->notional + o->cum / 2) / o->cum);
	char side = o->bo.side == BOOK_BUY ? '1' : '2';
	fix_format_time(v->ops.now(v->ops.ud), ts);
	F(37, oid, (size_t)on);
	FS(11, o->clordid);
	if (e->orig_clordid)
		FS(41, e->orig_clordid);
	F(17, xid, (size_t)xn);
	F(150, &e->exec_type, 1);
	F(39, &e->status, 1);
	FS(55, o->sym->name);
	F(54, &side, 1);
	F(38, qty, (size_t)dec_format(o->qty, qty));
	F(40, &o->ord_type, 1);
	if (o->ord_type == '2')
		F(44, px, (size_t)dec_format(o->bo.price, px));
	F(59, &o->tif, 1);
	if (e->last_qty) {
		F(32, lqty, (size_t)dec_format(e->last_qty, lqty));
		F(31, lpx, (size_t)dec_format(e->last_px, lpx));
	}
	F(151, leaves, (size_t)dec_format(o->bo.leaves, leaves));
	F(14, cum, (size_t)dec_format(o->cum, cum));
	F(6, avg, (size_t)dec_format(avgpx, avg));
	F(60, ts, 21);
	if (e->text)
		FS(58, e->text);
	send_msg(v, o->owner, "8", f, n);
}

static char live_status(const struct vorder *o)
{
	return o->cum ? '1' : '0';
}

/* OrdRejReason (103) values used here. */
#define REJ_UNKNOWN_SYMBOL "1"
#define REJ_EXCEEDS_LIMIT "3"
#define REJ_DUPLICATE "6"
#define REJ_UNSUPPORTED "11"
#define REJ_QUANTITY "13"
#define REJ_OTHER "99"

/* ExecutionReport Rejected for an order that never got into the book: the
 * order's own values are echoed as received. */
static void reject_order(struct venue *v, struct participant *p, const struct fix_msg *m,
			 const char *reason, const char *text)
{
	struct fix_out_field f[20];
	size_t n = 0;
	char xid[24], ts[22];
	int xn = snprintf(xid, sizeof(xid), "X%llu", (unsigned long long)++v->exec_seq);
	fix_format_time(v->ops.now(v->ops.ud), ts);
	FS(37, "NONE");
	static const uint32_t echo[] = {55, 54, 38, 40, 44, 59};
	struct sv cl = get(m, 11);
	if (cl.p)
		F(11, cl.p, cl.n);
	F(17, xid, (size_t)xn);
	FS(150, "8");
	FS(39, "8");
	for (size_t i = 0; i < sizeof(echo) / sizeof(echo[0]); i++) {
		struct sv sv = get(m, echo[i]);
		if (sv.p)
			F(echo[i], sv.p, sv.n);
	}
	FS(151, "0");
	FS(14, "0");
	FS(6, "0");
	F(60, ts, 21);
	FS(58, text);
	FS(103, reason);
	v->stats.rejects++;
	send_msg(v, p, "8", f, n);
}

/* OrderCancelReject (35=9). o may be NULL (unknown order). */
static void cancel_reject(struct venue *v, struct participant *p, const struct fix_msg *m,
			  const struct vorder *o, const char *reason, const char *text)
{
	struct fix_out_field f[12];
	size_t n = 0;
	char oid[24];
	int on = o ? snprintf(oid, sizeof(oid), "O%llu", (unsigned long long)o->id)
		   : snprintf(oid, sizeof(oid), "NONE");
	char st = o ? live_status(o) : '8';
	struct sv cl = get(m, 11), orig = get(m, 41);
	F(37, oid, (size_t)on);
	if (cl.p)
		F(11, cl.p, cl.n);
	if (orig.p)
		F(41, orig.p, orig.n);
	F(39, &st, 1);
	FS(434, fix_msg_is(m, "F") ? "1" : "2");
	FS(102, reason);
	FS(58, text);
	v->stats.rejects++;
	send_msg(v, p, "9", f, n);
}

/* Copy an id field into buf; 0, or -1 if missing, too long, empty or
 * holding a NUL byte (ids are C strings from here on). */
static int copy_id(struct sv sv, char *buf)
{
	if (!sv.p || !sv.n || sv.n > VENUE_MAX_ID || memchr(sv.p, 0, sv.n))
		return -1;
	memcpy(buf, sv.p, sv.n);
	buf[sv.n] = 0;
	return 0;
}

/* ---------------------------------------------------------- life cycle */

static void order_free(struct venue *v, struct vorder *o)
{
	(void)v;
	free(o);
}

/* Take o off the book and out of the indexes (it is done). */
static void order_unlink(struct venue *v, struct vorder *o)
{
	struct participant *p = o->owner;
	if (o->bo.level) {
		dec_t price = o->bo.price;
		int side = o->bo.side;
		book_remove(&o->sym->book, &o->bo);
		md_level(v, o->sym, side, price, 1);
	}
	id_remove(v, o);
	if (o->oprev)
		o->oprev->onext = o->onext;
	else if (p->orders == o)
		p->orders = o->onext;
	if (o->onext)
		o->onext->oprev = o->oprev;
	o->onext = o->oprev = NULL;
	p->norders--;
}

struct match_ctx {
	struct venue *v;
	struct vorder *taker;
};

static void on_fill(void *arg, struct book_order *bo, dec_t px, dec_t qty)
{
	struct match_ctx *mc = arg;
	struct venue *v = mc->v;
	struct vorder *maker = (struct vorder *)bo, *taker = mc->taker;
	v->stats.trades++;
	maker->cum += qty;
	maker->notional += (__int128)px * qty;
	taker->cum += qty;
	taker->notional += (__int128)px * qty;
	taker->bo.leaves -= qty;
	int maker_done = maker->bo.leaves == 0;
	struct er e = {'F', maker_done ? '2' : '1', px, qty, NULL, NULL};
	send_er(v, maker, &e);
	e.status = taker->bo.leaves == 0 ? '2' : '1';
	send_er(v, taker, &e);
	md_trade(v, maker->sym, px, qty);
	md_level(v, maker->sym, maker->bo.side, px, 1);
	if (maker_done) {
		/* The book already unlinked it; drop it from the indexes too. */
		maker->bo.level = NULL;
		order_unlink(v, maker);
		order_free(v, maker);
	}
}

/* Trade o (already acknowledged) against the book, then rest it (DAY limit)
 * or cancel what is left (IOC, FOK, market). Frees o when it is done. */
static void order_execute(struct venue *v, struct vorder *o, int resting)
{
	struct match_ctx mc = {v, o};
	dec_t limit = o->ord_type == '1' ? 0 : o->bo.price;
	int side = o->bo.side;
	if (o->tif == '4' &&
	    book_available(&o->sym->book, side, limit, o->bo.leaves) < o->bo.leaves) {
		struct er e = {'4', '4', 0, 0, NULL, "FOK order could not be filled completely"};
		o->bo.leaves = 0;
		send_er(v, o, &e);
		order_unlink(v, o);
		order_free(v, o);
		return;
	}
	book_match(&o->sym->book, side, limit, o->bo.leaves, on_fill, &mc);
	if (o->bo.leaves == 0) {
		order_unlink(v, o);
		order_free(v, o);
		return;
	}
	if (o->ord_type == '1' || o->tif != '0') {
		struct er e = {
		    '4',
		    '4',
		    0,
		    0,
		    NULL,
		    o->ord_type == '1' ? "market order: no more liquidity" : "IOC order: remainder cancelled"};
		o->bo.leaves = 0;
		send_er(v, o, &e);
		order_unlink(v, o);
		order_free(v, o);
		return;
	}
	if (!resting) {
		int existed = book_level_at(&o->sym->book, side, o->bo.price) != NULL;
		if (book_add(&o->sym->book, &o->bo) != 0) {
			struct er e = {'4', '4', 0, 0, NULL, "exchange out of memory"};
			o->bo.leaves = 0;
			send_er(v, o, &e);
			order_unlink(v, o);
			order_free(v, o);
			return;
		}
		md_level(v, o->sym, side, o->bo.price, existed);
	}
}

/* Level totals are int64: refuse what would overflow the level. */
static int level_has_room(const struct vsymbol *s, int side, dec_t price, dec_t qty)
{
	const struct book_level *l = book_level_at(&s->book, side, price);
	return !l || l->total <= INT64_MAX - qty;
}

/* ----------------------------------------------------- NewOrderSingle */

static void on_new_order(struct venue *v, struct participant *p, const struct fix_msg *m)
{
	static const uint32_t required[] = {11, 55, 54, 38, 40};
	for (size_t i = 0; i < 5; i++) {
		if (!get(m, required[i]).p) {
			char why[64];
			snprintf(why, sizeof(why), "required tag %u missing",
				 (unsigned)required[i]);
			business_reject(v, p, m, '5', why);
			return;
		}
	}
	v->stats.orders++;
	struct sv sym = get(m, 55), side = get(m, 54), qty = get(m, 38), type = get(m, 40),
		  price = get(m, 44), tif = get(m, 59);
	char clordid[VENUE_MAX_ID + 1];
	if (copy_id(get(m, 11), clordid) != 0)
		return reject_order(v, p, m, REJ_OTHER,
				    "ClOrdID must be 1-64 characters without NUL");
	struct vsymbol *s = venue_symbol(v, sym.p, sym.n);
	if (!s) {
		char why[96];
		snprintf(why, sizeof(why), "unknown symbol '%.*s'", (int)(sym.n > 40 ? 40 : sym.n),
			 sym.p);
		return reject_order(v, p, m, REJ_UNKNOWN_SYMBOL, why);
	}
	if (!sv_is(side, "1") && !sv_is(side, "2"))
		return reject_order(v, p, m, REJ_UNSUPPORTED, "Side must be 1 (buy) or 2 (sell)");
	dec_t q = 0, px = 0;
	if (dec_parse(qty.p, qty.n, &q) != 0 || q <= 0)
		return reject_order(v, p, m, REJ_QUANTITY,
				    "OrderQty must be a positive decimal (at most 8 decimals)");
	if (!sv_is(type, "1") && !sv_is(type, "2"))
		return reject_order(v, p, m, REJ_UNSUPPORTED,
				    "OrdType must be 1 (market) or 2 (limit)");
	char ord_type = type.p[0];
	if (ord_type == '2' && (!price.p || dec_parse(price.p, price.n, &px) != 0 || px <= 0))
		return reject_order(
		    v, p, m, REJ_OTHER,
		    "a limit order needs a positive Price (44, at most 8 decimals)");
	char t = '0';
	if (tif.p) {
		if (!sv_is(tif, "0") && !sv_is(tif, "3") && !sv_is(tif, "4"))
			return reject_order(v, p, m, REJ_UNSUPPORTED,
					    "TimeInForce must be 0 (DAY), 3 (IOC) or 4 (FOK)");
		t = tif.p[0];
	}
	int bs = side.p[0] == '1' ? BOOK_BUY : BOOK_SELL;
	if (id_find(v, p, clordid, strlen(clordid)))
		return reject_order(v, p, m, REJ_DUPLICATE,
				    "duplicate ClOrdID: an open order already has it");
	if (ord_type == '2' && !level_has_room(s, bs, px, q))
		return reject_order(v, p, m, REJ_EXCEEDS_LIMIT, "price level full");
	struct vorder *o = calloc(1, sizeof(*o));
	if (!o)
		return reject_order(v, p, m, REJ_OTHER, "exchange out of memory");
	o->bo.side = bs;
	o->bo.price = ord_type == '2' ? px : 0;
	o->bo.leaves = q;
	o->qty = q;
	o->sym = s;
	o->owner = p;
	o->id = ++v->order_seq;
	o->ord_type = ord_type;
	o->tif = t;
	memcpy(o->clordid, clordid, sizeof(clordid));
	id_insert(v, o);
	o->onext = p->orders;
	if (p->orders)
		p->orders->oprev = o;
	p->orders = o;
	p->norders++;
	struct er e = {'0', '0', 0, 0, NULL, NULL};
	send_er(v, o, &e);
	order_execute(v, o, 0);
}

/* ------------------------------------------- cancel, cancel/replace */

static struct vorder *find_target(struct venue *v, struct participant *p, const struct fix_msg *m,
				  char *clordid)
{
	static const uint32_t required[] = {41, 11, 55, 54};
	for (size_t i = 0; i < 4; i++) {
		if (!get(m, required[i]).p) {
			char why[64];
			snprintf(why, sizeof(why), "required tag %u missing",
				 (unsigned)required[i]);
			cancel_reject(v, p, m, NULL, "99", why);
			return NULL;
		}
	}
	if (copy_id(get(m, 11), clordid) != 0) {
		cancel_reject(v, p, m, NULL, "99", "ClOrdID must be 1-64 characters without NUL");
		return NULL;
	}
	struct sv orig = get(m, 41);
	struct vorder *o = id_find(v, p, orig.p, orig.n);
	if (!o) {
		cancel_reject(v, p, m, NULL, "1",
			      "unknown order: no open order has that OrigClOrdID");
		return NULL;
	}
	struct sv sym = get(m, 55), side = get(m, 54);
	if (!sv_is(sym, o->sym->name) || !sv_is(side, o->bo.side == BOOK_BUY ? "1" : "2")) {
		cancel_reject(v, p, m, o, "99", "Symbol and Side must match the order's");
		return NULL;
	}
	if (strcmp(clordid, o->clordid) != 0 && id_find(v, p, clordid, strlen(clordid))) {
		cancel_reject(v, p, m, o, "6", "duplicate ClOrdID: an open order already has it");
		return NULL;
	}
	return o;
}

static void on_cancel(struct venue *v, struct participant *p, const struct fix_msg *m)
{
	char clordid[VENUE_MAX_ID + 1], orig[VENUE_MAX_ID + 1];
	struct vorder *o = find_target(v, p, m, clordid);
	if (!o)
		return;
	memcpy(orig, o->clordid, sizeof(orig));
	/* The order now answers to the new ClOrdID. */
	id_remove(v, o);
	memcpy(o->clordid, clordid, sizeof(clordid));
	id_insert(v, o);
	struct vorder copy = *o;
	order_unlink(v, o);
	copy.bo.leaves = 0;
	struct er e = {'4', '4', 0, 0, orig, NULL};
	send_er(v, &copy, &e);
	order_free(v, o);
}

static void on_replace(struct venue *v, struct participant *p, const struct fix_msg *m)
{
	char clordid[VENUE_MAX_ID + 1], orig[VENUE_MAX_ID + 1];
	struct vorder *o = find_target(v, p, m, clordid);
	if (!o)
		return;
	struct sv qty = get(m, 38), type = get(m, 40), price = get(m, 44), tif = get(m, 59);
	dec_t q = 0, px = o->bo.price;
	if (!qty.p || dec_parse(qty.p, qty.n, &q) != 0 || q <= 0)
		return cancel_reject(v, p, m, o, "99",
				     "OrderQty must be a positive decimal (at most 8 decimals)");
	if (type.p && !sv_is(type, "2"))
		return cancel_reject(v, p, m, o, "99", "only limit orders can be replaced");
	if (price.p && (dec_parse(price.p, price.n, &px) != 0 || px <= 0))
		return cancel_reject(v, p, m, o, "99",
				     "Price must be a positive decimal (at most 8 decimals)");
	if (tif.p && !(tif.n == 1 && tif.p[0] == o->tif))
		return cancel_reject(v, p, m, o, "99", "TimeInForce cannot change");
	if (q <= o->cum)
		return cancel_reject(v, p, m, o, "99",
				     "OrderQty must stay above the quantity already filled");
	if (!level_has_room(o->sym, o->bo.side, px, q - o->cum))
		return cancel_reject(v, p, m, o, "99", "price level full");
	memcpy(orig, o->clordid, sizeof(orig));
	id_remove(v, o);
	memcpy(o->clordid, clordid, sizeof(clordid));
	id_insert(v, o);
	dec_t leaves = q - o->cum;
	int side = o->bo.side;
	struct vsymbol *s = o->sym;
	/* A smaller quantity at the same price keeps its place in the queue;
	 * anything else goes to the back of the (new) price level. */
	int keep = px == o->bo.price && leaves <= o->bo.leaves;
	if (keep) {
		book_reduce(&s->book, &o->bo, leaves);
		o->qty = q;
		struct er e = {'5', live_status(o), 0, 0, orig, NULL};
		send_er(v, o, &e);
		md_level(v, s, side, px, 1);
		return;
	}
	/* The owner hears of the replace before the market sees its levels move. */
	dec_t old_px = o->bo.price;
	book_remove(&s->book, &o->bo);
	o->bo.price = px;
	o->bo.leaves = leaves;
	o->qty = q;
	struct er e = {'5', live_status(o), 0, 0, orig, NULL};
	send_er(v, o, &e);
	md_level(v, s, side, old_px, 1);
	order_execute(v, o, 0);
}

int venue_on_message(struct venue *v, struct participant *p, const struct fix_msg *m)
{
	if (fix_msg_is(m, "D"))
		on_new_order(v, p, m);
	else if (fix_msg_is(m, "F"))
		on_cancel(v, p, m);
	else if (fix_msg_is(m, "G"))
		on_replace(v, p, m);
	else if (fix_msg_is(m, "V"))
		md_on_request(v, p, m);
	else
		return 1;
	return 0;
}

int venue_cancel_all(struct venue *v, struct participant *p, const char *symbol)
{
	struct vsymbol *only = NULL;
	if (symbol && !(only = venue_symbol(v, symbol, strlen(symbol))))
		return -1;
	int n = 0;
	struct vorder *o = p->orders;
	while (o) {
		struct vorder *next = o->onext;
		if (!only || o->sym == only) {
			struct vorder copy = *o;
			order_unlink(v, o);
			copy.bo.leaves = 0;
			struct er e = {'4', '4', 0, 0, NULL, "cancelled by the exchange"};
			send_er(v, &copy, &e);
			order_free(v, o);
			n++;
		}
		o = next;
	}
	return n;
}

void venue_disconnect(struct venue *v, struct participant *p)
{
	p->conn = NULL;
	md_drop(v, p);
	venue_cancel_all(v, p, NULL);
}

void venue_free(struct venue *v)
{
	if (!v)
		return;
	for (struct participant *p = v->parts; p;) {
		struct participant *next = p->next;
		for (struct vorder *o = p->orders; o;) {
			struct vorder *on = o->onext;
			free(o);
			o = on;
		}
		free(p);
		p = next;
	}
	for (size_t i = 0; i < v->nsyms; i++) {
		book_clear(&v->syms[i].book);
		md_free(&v->syms[i]);
	}
	free(v->syms);
	free(v->buckets);
	free(v->pbuckets);
	free(v);
}
