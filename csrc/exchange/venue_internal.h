/* Shared by venue.c (orders) and market_data.c (35=V/W/X/Y); not for the
 * gateway, which only sees venue.h. */
#ifndef BT_EXCH_VENUE_INTERNAL_H
#define BT_EXCH_VENUE_INTERNAL_H

#include "venue.h"

struct md_sub {
	struct participant *p;
	char req_id[VENUE_MAX_ID + 1];
	size_t depth; /* 0 = full book */
	struct md_sub *next;
};

struct vsymbol {
	char name[32];
	struct book book;
	struct md_sub *subs;
};

struct vorder {
	struct book_order bo; /* price, leaves, side; linked into the book while resting */
	struct vsymbol *sym;
	struct participant *owner;
	struct vorder *onext, *oprev; /* the owner's resting orders */
	struct vorder *hnext;         /* ClOrdID hash chain */
	uint64_t id;
	dec_t qty, cum;
	__int128 notional; /* sum of fill price * quantity, DEC_SCALE^2 units */
	char ord_type;     /* '1' market, '2' limit */
	char tif;          /* '0' DAY, '3' IOC, '4' FOK */
	char clordid[VENUE_MAX_ID + 1];
};

struct venue {
	struct venue_ops ops;
	struct vsymbol *syms;
	size_t nsyms;
	struct participant *parts, *parts_tail;
	/* comp_id -> participant: a login looks itself up, and a venue may know
	 * tens of thousands of accounts */
	struct participant **pbuckets;
	size_t npbuckets, nparts;
	struct vorder **buckets; /* (owner, ClOrdID) of resting orders */
	size_t nbuckets, nlive;
	uint64_t order_seq, exec_seq;
	struct venue_stats stats;
};

struct vsymbol *venue_symbol(const struct venue *v, const char *name, size_t len);

/* market_data.c */
int md_on_request(struct venue *v, struct participant *p, const struct fix_msg *m);
/* A level of side at price changed; existed: it was there before. */
void md_level(struct venue *v, struct vsymbol *s, int side, dec_t price, int existed);
void md_trade(struct venue *v, struct vsymbol *s, dec_t px, dec_t qty);
void md_drop(struct venue *v, struct participant *p);
void md_free(struct vsymbol *s);

#endif
