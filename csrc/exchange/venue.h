/* The trading side of the exchange: one order book per symbol, the order
 * messages (35=D, F, G) with their ExecutionReports and OrderCancelRejects,
 * and market data (35=V, W, X, Y). Sans-I/O: messages come in as parsed
 * frames, go out through venue_ops.send, time comes from venue_ops.now, so
 * the C tests and the fuzzer drive it without sockets. Everything runs on
 * the gateway's thread. */
#ifndef BT_EXCH_VENUE_H
#define BT_EXCH_VENUE_H

#include "book.h"

#include <stddef.h>
#include <stdint.h>

struct fix_msg;
struct fix_out_field;

#define VENUE_DEFAULT_SYMBOLS "EUR/USD,USD/JPY,GBP/USD,USD/CHF,AUD/USD,USD/CAD,NZD/USD"
#define VENUE_MAX_ID 64 /* longest ClOrdID / MDReqID accepted */

struct venue;
struct vorder;
struct md_sub;

/* A trading participant, named by its CompID. Created on first use and kept
 * for the life of the venue (pointers to it stay valid). */
struct participant {
	char comp_id[65];
	void *conn;            /* the live connection, or NULL (offline / scripted) */
	struct vorder *orders; /* resting orders, newest first */
	size_t norders;
	void *admin; /* admin.c's per-participant state (inbox) */
	struct participant *next;
	struct participant *pnext; /* the venue's comp_id hash chain */
};

struct venue_ops {
	/* Deliver an application message to p (p->conn may be NULL: the
	 * callee decides what an offline participant gets). */
	void (*send)(void *ud, struct participant *p, const char *msg_type,
		     const struct fix_out_field *fields, size_t n);
	int64_t (*now)(void *ud); /* ms since the Unix epoch, for 60= */
	void *ud;
};

/* symbols: comma-separated list (NULL = VENUE_DEFAULT_SYMBOLS). NULL and
 * *err on a bad list or out of memory. */
struct venue *venue_new(const char *symbols, const struct venue_ops *ops, char *err, size_t errlen);
void venue_free(struct venue *v);

/* The participant for comp_id, created if needed (NULL if out of memory or
 * the name is empty or too long). */
struct participant *venue_participant(struct venue *v, const char *comp_id);

/* Every participant, in creation order (for the admin channel). */
struct participant *venue_participants(struct venue *v);

/* A participant's connection went away: its orders are cancelled (cancel
 * on disconnect; nobody would hear about their fills) and its market data
 * subscriptions end. */
void venue_disconnect(struct venue *v, struct participant *p);

/* Handle an application message from p. 0 if it was a venue message
 * (answered, perhaps with a reject), 1 if the caller should handle it. */
int venue_on_message(struct venue *v, struct participant *p, const struct fix_msg *m);

/* Cancel every resting order of p in symbol (NULL = all symbols), telling p
 * with ExecutionReports. Returns how many were cancelled; -1 for an
 * unknown symbol. */
int venue_cancel_all(struct venue *v, struct participant *p, const char *symbol);

/* 1 if the symbol is traded here. */
int venue_has_symbol(const struct venue *v, const char *symbol);

/* The book of a symbol (read only), or NULL. */
const struct book *venue_book(const struct venue *v, const char *symbol);

/* Counters for the benchmark and the admin channel. */
struct venue_stats {
	uint64_t orders, trades, rejects;
};
void venue_stats(const struct venue *v, struct venue_stats *out);

#endif
