/* libFuzzer target for the exchange's trading side (csrc/exchange/venue.c,
 * market_data.c, book.c): every message type it handles (35=D, F, G, V,
 * and others it must refuse) from four participants, plus disconnects.
 *
 * Input: lines separated by '\n'. A line's first byte picks the participant
 * (byte % 4); the second picks what happens: '!' disconnects it, otherwise
 * byte % 5 picks the MsgType (D, F, G, V, AE). The rest is "tag=value"
 * fields separated by '|' (SOH is not needed, so the dictionary's tokens
 * work as they are). The message is encoded, parsed and handed over.
 *
 * Invariants, checked after every step (abort = finding):
 *  - every outbound message encodes as a valid FIX frame (no empty value,
 *    no SOH, a real tag);
 *  - each book is sorted, never crossed, each level's total is the sum of
 *    its orders' leaves and no level is empty;
 *  - each participant's order count matches the orders in the books. */
#include "book.h"
#include "fix_codec.h"
#include "fix_session.h"
#include "venue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void fail(const char *what)
{
	fprintf(stderr, "invariant failed: %s\n", what);
	abort();
}

static void on_send(void *ud, struct participant *p, const char *type,
		    const struct fix_out_field *f, size_t n)
{
	(void)ud;
	static char buf[65536];
	struct fix_enc e;
	size_t len;
	fix_enc_begin(&e, buf, sizeof(buf), type, "BETA_EXCHANGE", p->comp_id, 1, 0);
	for (size_t i = 0; i < n; i++) {
		if (!f[i].len || memchr(f[i].val, FIX_SOH, f[i].len) || !f[i].tag)
			fail("bad outbound field");
		fix_enc_str(&e, f[i].tag, f[i].val, f[i].len);
	}
	if (!fix_enc_finish(&e, &len))
		fail("bad outbound message");
}

static int64_t now0(void *ud)
{
	(void)ud;
	return 0;
}

struct chk {
	dec_t last;
	int side, first, bad;
	size_t orders;
};

static int check_level(void *arg, const struct book_level *l)
{
	struct chk *c = arg;
	dec_t sum = 0;
	size_t n = 0;
	for (const struct book_order *o = l->head; o; o = o->next) {
		if (o->leaves <= 0 || o->level != l || o->price != l->price)
			c->bad = 1;
		sum += o->leaves;
		n++;
	}
	if (!n || n != l->count || sum != l->total)
		c->bad = 1;
	if (!c->first && (c->side == BOOK_BUY ? l->price >= c->last : l->price <= c->last))
		c->bad = 1;
	c->first = 0;
	c->last = l->price;
	c->orders += n;
	return 0;
}

static const char *const syms[] = {"EUR/USD", "USD/JPY"};

static void check(struct venue *v, struct participant **p)
{
	size_t total = 0;
	for (size_t s = 0; s < 2; s++) {
		const struct book *b = venue_book(v, syms[s]);
		for (int side = BOOK_BUY; side <= BOOK_SELL; side++) {
			struct chk c = {0, side, 1, 0, 0};
			book_walk(b, side, 0, check_level, &c);
			if (c.bad)
				fail("book structure");
			total += c.orders;
		}
		const struct book_level *bid = book_best(b, BOOK_BUY),
					*ask = book_best(b, BOOK_SELL);
		if (bid && ask && bid->price >= ask->price)
			fail("crossed book");
	}
	size_t owned = 0;
	for (int i = 0; i < 4; i++)
		owned += p[i]->norders;
	if (owned != total)
		fail("order counts");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const types[] = {"D", "F", "G", "V", "AE"};
	struct venue_ops ops = {.send = on_send, .now = now0, .ud = NULL};
	char err[128];
	struct venue *v = venue_new("EUR/USD,USD/JPY", &ops, err, sizeof(err));
	if (!v)
		abort();
	struct participant *p[4] = {venue_participant(v, "A"), venue_participant(v, "B"),
				    venue_participant(v, "C"), venue_participant(v, "D")};
	static char frame[16384];
	struct fix_field idx[256];
	const char *s = (const char *)data, *end = s + size;
	while (s < end) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *le = nl ? nl : end;
		if (le - s >= 2) {
			struct participant *who = p[(unsigned char)s[0] % 4];
			if (s[1] == '!') {
				venue_disconnect(v, who);
			} else {
				struct fix_enc e;
				size_t len;
				fix_enc_begin(&e, frame, sizeof(frame),
					      types[(unsigned char)s[1] % 5], who->comp_id,
					      "BETA_EXCHANGE", 2, 0);
				for (const char *f = s + 2; f < le;) {
					const char *bar = memchr(f, '|', (size_t)(le - f));
					const char *fe = bar ? bar : le;
					const char *eq = memchr(f, '=', (size_t)(fe - f));
					if (eq) {
						unsigned long tag = strtoul(f, NULL, 10);
						if (tag > 0 && tag < 100000)
							fix_enc_str(&e, (uint32_t)tag, eq + 1,
								    (size_t)(fe - eq - 1));
					}
					f = fe + 1;
				}
				const char *fr = fix_enc_finish(&e, &len);
				struct fix_msg m;
				fix_msg_init(&m, idx, 256);
				if (fr && fix_parse(&m, fr, len) == FIX_OK)
					venue_on_message(v, who, &m);
			}
			check(v, p);
		}
		s = le + 1;
	}
	venue_free(v);
	return 0;
}
