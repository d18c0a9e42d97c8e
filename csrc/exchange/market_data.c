/* Market data: MarketDataRequest (35=V) answered with a snapshot (35=W) of
 * the book to the requested depth (264, 0 = full), and with
 * SubscriptionRequestType 1 an incremental refresh (35=X) on every level
 * change and trade until 263=2 unsubscribes; 35=Y when the request cannot
 * be served. Levels are aggregated (one entry per price). A depth-limited
 * subscriber sees the top N levels only: a level pushed out of the top N
 * gets a Delete, one that moves into it a New. */
#include "venue_internal.h"

#include "fix_codec.h"
#include "fix_session.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_REQ_SYMBOLS 64

static void md_reject(struct venue *v, struct participant *p, const char *req_id, size_t len,
		      const char *reason, const char *text)
{
	struct fix_out_field f[3];
	size_t n = 0;
	f[n++] = (struct fix_out_field){262, req_id, len};
	if (reason)
		f[n++] = (struct fix_out_field){281, reason, strlen(reason)};
	f[n++] = (struct fix_out_field){58, text, strlen(text)};
	v->stats.rejects++;
	v->ops.send(v->ops.ud, p, "Y", f, n);
}

/* ------------------------------------------------------------ snapshot */

/* Entries per 35=W beyond which the rest is cut: with the header, three
 * fields an entry stay below the 1,024 fields a client session indexes. */
#define SNAP_MAX 300

struct snap {
	struct fix_out_field f[8 + SNAP_MAX * 3];
	char vals[SNAP_MAX][2][32];
	size_t n, entries;
	char type;
};

static int snap_level(void *arg, const struct book_level *l)
{
	struct snap *s = arg;
	if (s->entries >= SNAP_MAX)
		return 1;
	char *px = s->vals[s->entries][0], *qty = s->vals[s->entries][1];
	s->f[s->n++] = (struct fix_out_field){269, s->type == '0' ? "0" : "1", 1};
	s->f[s->n++] = (struct fix_out_field){270, px, (size_t)dec_format(l->price, px)};
	s->f[s->n++] = (struct fix_out_field){271, qty, (size_t)dec_format(l->total, qty)};
	s->entries++;
	return 0;
}

static void send_snapshot(struct venue *v, struct participant *p, const char *req_id, size_t len,
			  struct vsymbol *sym, size_t depth)
{
	/* Depth beyond what one frame holds is cut at SNAP_MAX entries (268 counts
	 * what is sent). */
	struct snap *s = malloc(sizeof(*s));
	if (!s)
		return;
	char count[24];
	s->n = s->entries = 0;
	s->f[s->n++] = (struct fix_out_field){262, req_id, len};
	s->f[s->n++] = (struct fix_out_field){55, sym->name, strlen(sym->name)};
	size_t count_at = s->n++;
	s->type = '0';
	book_walk(&sym->book, BOOK_BUY, depth, snap_level, s);
	s->type = '1';
	book_walk(&sym->book, BOOK_SELL, depth, snap_level, s);
	int cn = snprintf(count, sizeof(count), "%zu", s->entries);
	s->f[count_at] = (struct fix_out_field){268, count, (size_t)cn};
	v->ops.send(v->ops.ud, p, "W", s->f, s->n);
	free(s);
}

/* ------------------------------------------------------------- request */

static struct md_sub *find_sub(struct vsymbol *s, const struct participant *p, const char *id,
			       size_t len)
{
	for (struct md_sub *x = s->subs; x; x = x->next)
		if (x->p == p && strlen(x->req_id) == len && memcmp(x->req_id, id, len) == 0)
			return x;
	return NULL;
}

int md_on_request(struct venue *v, struct participant *p, const struct fix_msg *m)
{
	size_t idlen = 0, tlen = 0, dlen = 0;
	const char *id = fix_msg_get(m, 262, &idlen);
	const char *type = fix_msg_get(m, 263, &tlen);
	const char *dep = fix_msg_get(m, 264, &dlen);
	if (!id || idlen > VENUE_MAX_ID || memchr(id, 0, idlen)) {
		/* Echoed only when it can be used as a C string later on. */
		md_reject(v, p, "NONE", 4, NULL,
			  id ? "MDReqID must be 1-64 characters without NUL"
			     : "required tag 262 missing");
		return 0;
	}
	if (!type || tlen != 1 || type[0] < '0' || type[0] > '2') {
		md_reject(v, p, id, idlen, "4", "SubscriptionRequestType (263) must be 0, 1 or 2");
		return 0;
	}
	uint64_t depth = 0;
	if (dep && (fix_msg_get_u64(m, 264, &depth) != 0 || depth > 1000000)) {
		md_reject(v, p, id, idlen, "5",
			  "MarketDepth (264) must be 0 (full) or a level count");
		return 0;
	}
	struct vsymbol *syms[MAX_REQ_SYMBOLS];
	size_t nsyms = 0;
	for (size_t i = 0; i < m->nfields; i++) {
		if (m->fields[i].tag != 55)
			continue;
		const char *name = m->buf + m->fields[i].off;
		size_t len = m->fields[i].len;
		struct vsymbol *s = venue_symbol(v, name, len);
		if (!s) {
			char why[96];
			snprintf(why, sizeof(why), "unknown symbol '%.*s'",
				 (int)(len > 40 ? 40 : len), name);
			md_reject(v, p, id, idlen, "0", why);
			return 0;
		}
		if (nsyms == MAX_REQ_SYMBOLS) {
			md_reject(v, p, id, idlen, NULL, "at most 64 symbols per request");
			return 0;
		}
		syms[nsyms++] = s;
	}
	if (!nsyms) {
		md_reject(v, p, id, idlen, NULL, "no Symbol (55) in the request");
		return 0;
	}
	if (type[0] == '2') {
		size_t gone = 0;
		for (size_t i = 0; i < nsyms; i++) {
			for (struct md_sub **pp = &syms[i]->subs; *pp;) {
				struct md_sub *x = *pp;
				if (x->p == p && strlen(x->req_id) == idlen &&
				    memcmp(x->req_id, id, idlen) == 0) {
					*pp = x->next;
					free(x);
					gone++;
				} else {
					pp = &x->next;
				}
			}
		}
		if (!gone)
			md_reject(v, p, id, idlen, NULL, "no subscription with that MDReqID");
		return 0;
	}
	if (type[0] == '1') {
		for (size_t i = 0; i < nsyms; i++) {
			if (find_sub(syms[i], p, id, idlen)) {
				md_reject(v, p, id, idlen, "1",
					  "duplicate MDReqID: already subscribed");
				return 0;
			}
		}
	}
	for (size_t i = 0; i < nsyms; i++) {
		send_snapshot(v, p, id, idlen, syms[i], (size_t)depth);
		if (type[0] != '1')
			continue;
		struct md_sub *x = calloc(1, sizeof(*x));
		if (!x) {
			md_reject(v, p, id, idlen, "2", "exchange out of memory");
			return 0;
		}
		x->p = p;
		memcpy(x->req_id, id, idlen);
		x->depth = (size_t)depth;
		/* Appended: subscribers hear about changes in the order they came. */
		struct md_sub **pp = &syms[i]->subs;
		while (*pp)
			pp = &(*pp)->next;
		*pp = x;
	}
	return 0;
}

/* ---------------------------------------------------------- incremental */

static void send_inc(struct venue *v, const struct md_sub *x, const struct vsymbol *s, char action,
		     char type, dec_t px, dec_t qty)
{
	char pxs[32], qs[32];
	struct fix_out_field f[] = {
	    {262, x->req_id, strlen(x->req_id)},
	    {268, "1", 1},
	    {279, &action, 1},
	    {269, &type, 1},
	    {55, s->name, strlen(s->name)},
	    {270, pxs, (size_t)dec_format(px, pxs)},
	    {271, qs, (size_t)dec_format(qty, qs)},
	};
	/* A Delete carries no size. */
	v->ops.send(v->ops.ud, x->p, "X", f, action == '2' ? 6 : 7);
}

struct nth {
	size_t want, seen;
	const struct book_level *l;
	dec_t price;
	int side;
	size_t better; /* levels strictly better than price */
};

static int find_nth(void *arg, const struct book_level *l)
{
	struct nth *n = arg;
	if (n->seen++ == n->want) {
		n->l = l;
		return 1;
	}
	return 0;
}

static int count_better(void *arg, const struct book_level *l)
{
	struct nth *n = arg;
	int better = n->side == BOOK_BUY ? l->price > n->price : l->price < n->price;
	if (!better)
		return 1;
	n->better++;
	return 0;
}

static const struct book_level *nth_level(const struct book *b, int side, size_t idx)
{
	struct nth n = {idx, 0, NULL, 0, side, 0};
	book_walk(b, side, idx + 1, find_nth, &n);
	return n.l;
}

void md_level(struct venue *v, struct vsymbol *s, int side, dec_t price, int existed)
{
	if (!s->subs)
		return;
	const struct book_level *l = book_level_at(&s->book, side, price);
	char type = side == BOOK_BUY ? '0' : '1';
	char action = !l ? '2' : existed ? '1' : '0';
	size_t rank = 0;
	int ranked = 0;
	for (struct md_sub *x = s->subs; x; x = x->next) {
		if (!x->depth) {
			send_inc(v, x, s, action, type, price, l ? l->total : 0);
			continue;
		}
		if (!ranked) {
			/* Better levels are the same before and after this change. */
			struct nth n = {0, 0, NULL, price, side, 0};
			book_walk(&s->book, side, 0, count_better, &n);
			rank = n.better;
			ranked = 1;
		}
		if (rank >= x->depth)
			continue;
		send_inc(v, x, s, action, type, price, l ? l->total : 0);
		if (action == '2') {
			/* The level that moved up into the top N. */
			const struct book_level *in = nth_level(&s->book, side, x->depth - 1);
			if (in)
				send_inc(v, x, s, '0', type, in->price, in->total);
		} else if (action == '0') {
			/* The level pushed out of the top N. */
			const struct book_level *out = nth_level(&s->book, side, x->depth);
			if (out)
				send_inc(v, x, s, '2', type, out->price, 0);
		}
	}
}

void md_trade(struct venue *v, struct vsymbol *s, dec_t px, dec_t qty)
{
	for (struct md_sub *x = s->subs; x; x = x->next)
		send_inc(v, x, s, '0', '2', px, qty);
}

void md_drop(struct venue *v, struct participant *p)
{
	(void)v;
	for (size_t i = 0; i < v->nsyms; i++) {
		for (struct md_sub **pp = &v->syms[i].subs; *pp;) {
			struct md_sub *x = *pp;
			if (x->p == p) {
				*pp = x->next;
				free(x);
			} else {
				pp = &x->next;
			}
		}
	}
}

void md_free(struct vsymbol *s)
{
	while (s->subs) {
		struct md_sub *x = s->subs;
		s->subs = x->next;
		free(x);
	}
}
