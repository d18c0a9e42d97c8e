/* The trading side seen from the gateway, and the admin channel a spec uses
 * to script the exchange.
 *
 * Commands arrive on libmicrohttpd's threads (POST /admin/<command>, JSON),
 * are queued under a mutex and run on the gateway thread, which owns the
 * venue; the HTTP thread waits on a condition variable until the command is
 * done (and its output is written to the sockets), so a spec never needs a
 * sleep to line up with the exchange. An `expect` that finds nothing waits
 * on the gateway side until the client sends a matching message; on its
 * timeout the HTTP thread abandons it and the gateway frees it later.
 *
 * Every application message a logged-in client sends is kept in a small
 * inbox per participant (newest INBOX_MAX) so that `expect` also finds what
 * arrived before it was called. */
#include "exchange.h"
#include "fix_codec.h"
#include "fix_session.h"
#include "venue.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#define INBOX_MAX 1024
#define MAX_FIELDS 256                       /* fields of a message built from JSON */
#define MAX_IN_FIELDS FIX_SESSION_MAX_FIELDS /* fields of a message a client sent */
#define EXPECT_MAX_MS 600000                 /* longest expect timeout accepted */
#define SCRIPTED "SPEC"                      /* default participant of scripted orders */
#define MARKET "MARKET"                      /* the participant that holds seeded books */

struct saved {
	char *frame;
	size_t len, cap;
	int taken;
};

/* A ring that grows to INBOX_MAX: until it is full at that size it never
 * wraps (head stays 0), so growing is a plain realloc. */
struct inbox {
	struct saved *ring;
	size_t head, n, cap;
};

struct cmd {
	char name[32];
	json_t *req, *resp;
	unsigned status;
	int done, abandoned;
	struct cmd *next;
};

struct held {
	struct participant *p;
	char msg_type[8];
	size_t n;
	struct fix_out_field *f; /* n fields, values in the same block */
	struct held *next;
};

struct hold_rule {
	char msg_type[8];
	struct participant *p; /* NULL: every client */
	struct hold_rule *next;
};

struct exch_admin {
	struct venue *v;
	struct exch_faults *faults;
	struct fix_gateway *g;
	char token[49];
	int efd;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct cmd *queue, *queue_tail; /* under mu */
	int stopping;                   /* under mu */
	struct cmd *waiting;            /* expects, gateway thread only */
	struct hold_rule *rules;
	struct held *held, *held_tail;
	struct participant *capture_p; /* scripted submit in progress */
	json_t *capture;
	unsigned long long seed_seq; /* ClOrdIDs of seeded levels only need to differ */
	int retry;                   /* waiting expects to look at again (efd written) */
};

/* ---------------------------------------------------------- JSON helpers */

static json_t *msg_json(const char *msg_type, size_t tlen, uint64_t seq,
			const struct fix_out_field *f, size_t n)
{
	json_t *fields = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(
		    fields, json_pack("[I, s#]", (json_int_t)f[i].tag, f[i].val, (int)f[i].len));
	json_t *o = json_pack("{s:s#, s:o}", "msg_type", msg_type, (int)tlen, "fields", fields);
	if (seq)
		json_object_set_new(o, "seq_num", json_integer((json_int_t)seq));
	return o;
}

/* The body fields of a parsed frame (the header and trailer left out). */
static json_t *parsed_json(const struct fix_msg *m)
{
	static const uint32_t header[] = {8, 9, 35, 49, 56, 34, 52, 10, 43, 122, 97};
	struct fix_out_field f[MAX_IN_FIELDS];
	size_t n = 0;
	for (size_t i = 0; i < m->nfields && n < MAX_IN_FIELDS; i++) {
		int skip = 0;
		for (size_t k = 0; k < sizeof(header) / sizeof(header[0]); k++)
			skip |= m->fields[i].tag == header[k];
		if (!skip)
			f[n++] = (struct fix_out_field){m->fields[i].tag, m->buf + m->fields[i].off,
							m->fields[i].len};
	}
	json_t *o = msg_json(m->msg_type, m->msg_type_len, m->seq_num, f, n);
	size_t len = 0;
	const char *sender = fix_msg_get(m, 49, &len);
	if (sender)
		json_object_set_new(o, "sender", json_stringn(sender, len));
	return o;
}

/* A JSON value as a FIX value: strings as they are, integers, and reals
 * without an exponent. 0, or -1 if it is none of these. */
static int value_text(json_t *j, char *buf, size_t cap)
{
	if (json_is_string(j)) {
		snprintf(buf, cap, "%s", json_string_value(j));
		return json_string_length(j) < cap && json_string_length(j) > 0 ? 0 : -1;
	}
	if (json_is_integer(j)) {
		snprintf(buf, cap, "%lld", (long long)json_integer_value(j));
		return 0;
	}
	if (json_is_real(j)) {
		snprintf(buf, cap, "%.15g", json_real_value(j));
		return strpbrk(buf, "eEn") ? -1 : 0;
	}
	if (json_is_boolean(j)) {
		snprintf(buf, cap, "%s", json_is_true(j) ? "Y" : "N");
		return 0;
	}
	return -1;
}

/* fields: [[tag, value], ...] into f (values copied into store). */
static int fields_from_json(json_t *arr, struct fix_out_field *f, size_t *n, char *store,
			    size_t cap, char *err, size_t errlen)
{
	size_t used = 0, i;
	json_t *it;
	*n = 0;
	if (!arr || (json_is_object(arr) && json_object_size(arr) == 0))
		return 0; /* no fields (an empty Lua table encodes as {}) */
	if (!json_is_array(arr)) {
		snprintf(err, errlen, "fields must be a list of [tag, value]");
		return -1;
	}
	json_array_foreach(arr, i, it)
	{
		json_int_t tag = json_integer_value(json_array_get(it, 0));
		if (!json_is_array(it) || json_array_size(it) != 2 || tag < 1 || tag > 999999999 ||
		    *n == MAX_FIELDS) {
			snprintf(err, errlen, "fields[%zu]: expected [tag (1..999999999), value]",
				 i + 1);
			return -1;
		}
		char *val = store + used;
		if (used >= cap || value_text(json_array_get(it, 1), val, cap - used) != 0 ||
		    strchr(val, '\001')) {
			snprintf(err, errlen,
				 "fields[%zu]: value must be a non-empty string or a number",
				 i + 1);
			return -1;
		}
		size_t len = strlen(val);
		used += len + 1;
		f[(*n)++] = (struct fix_out_field){(uint32_t)tag, val, len};
	}
	return 0;
}

/* --------------------------------------------------------- venue glue */

static struct inbox *inbox_of(struct participant *p)
{
	if (!p->admin)
		p->admin = calloc(1, sizeof(struct inbox));
	return p->admin;
}

static void inbox_free(struct inbox *in)
{
	if (!in)
		return;
	for (size_t i = 0; i < in->cap; i++)
		free(in->ring[i].frame);
	free(in->ring);
	free(in);
}

static int held_now(struct exch_admin *a, struct participant *p, const char *msg_type)
{
	for (struct hold_rule *r = a->rules; r; r = r->next)
		if ((!r->p || r->p == p) && strcmp(r->msg_type, msg_type) == 0)
			return 1;
	return 0;
}

static void hold(struct exch_admin *a, struct participant *p, const char *msg_type,
		 const struct fix_out_field *f, size_t n)
{
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total += f[i].len;
	struct held *h = calloc(1, sizeof(*h));
	char *block = malloc(n * sizeof(*f) + total + 1);
	if (!h || !block) {
		/* Out of memory: sent now rather than lost. */
		free(h);
		free(block);
		fix_gateway_send(a->g, p->conn, msg_type, f, n);
		return;
	}
	h->p = p;
	snprintf(h->msg_type, sizeof(h->msg_type), "%s", msg_type);
	h->f = (struct fix_out_field *)(void *)block;
	char *vals = block + n * sizeof(*f);
	for (size_t i = 0; i < n; i++) {
		memcpy(vals, f[i].val, f[i].len);
		h->f[i] = (struct fix_out_field){f[i].tag, vals, f[i].len};
		vals += f[i].len;
	}
	h->n = n;
	if (a->held_tail)
		a->held_tail->next = h;
	else
		a->held = h;
	a->held_tail = h;
}

static void venue_send(void *ud, struct participant *p, const char *msg_type,
		       const struct fix_out_field *f, size_t n)
{
	struct exch_admin *a = ud;
	if (a->capture && p == a->capture_p)
		json_array_append_new(a->capture, msg_json(msg_type, strlen(msg_type), 0, f, n));
	if (!p->conn)
		return;
	if (a->rules && held_now(a, p, msg_type)) {
		hold(a, p, msg_type, f, n);
		return;
	}
	fix_gateway_send(a->g, p->conn, msg_type, f, n);
}

/* TransactTime is wall-clock time, whatever clock the sessions run on. */
static int64_t venue_now(void *ud)
{
	(void)ud;
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct exch_admin *admin_new(const char *symbols, struct exch_faults *faults, char *err,
			     size_t errlen)
{
	struct exch_admin *a = calloc(1, sizeof(*a));
	if (!a) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	a->faults = faults;
	a->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&a->cv, &ca);
	pthread_condattr_destroy(&ca);
	pthread_mutex_init(&a->mu, NULL);
	unsigned char raw[24];
	if (a->efd < 0 || RAND_bytes(raw, sizeof(raw)) != 1) {
		snprintf(err, errlen, "cannot set up the admin channel");
		admin_free(a);
		return NULL;
	}
	for (size_t i = 0; i < sizeof(raw); i++)
		snprintf(a->token + 2 * i, 3, "%02x", raw[i]);
	struct venue_ops ops = {.send = venue_send, .now = venue_now, .ud = a};
	a->v = venue_new(symbols, &ops, err, errlen);
	if (!a->v) {
		admin_free(a);
		return NULL;
	}
	return a;
}

static void cmd_free(struct cmd *c)
{
	json_decref(c->req);
	json_decref(c->resp);
	free(c);
}

void admin_free(struct exch_admin *a)
{
	if (!a)
		return;
	if (a->v) {
		for (struct participant *p = venue_participants(a->v); p; p = p->next) {
			inbox_free(p->admin);
			p->admin = NULL;
		}
	}
	venue_free(a->v);
	while (a->queue) {
		struct cmd *c = a->queue;
		a->queue = c->next;
		cmd_free(c);
	}
	while (a->waiting) {
		struct cmd *c = a->waiting;
		a->waiting = c->next;
		cmd_free(c);
	}
	while (a->rules) {
		struct hold_rule *r = a->rules;
		a->rules = r->next;
		free(r);
	}
	while (a->held) {
		struct held *h = a->held;
		a->held = h->next;
		free(h->f);
		free(h);
	}
	if (a->efd >= 0)
		close(a->efd);
	pthread_mutex_destroy(&a->mu);
	pthread_cond_destroy(&a->cv);
	free(a);
}

const char *admin_token(const struct exch_admin *a)
{
	return a->token;
}

int admin_fd(const struct exch_admin *a)
{
	return a->efd;
}

void admin_bind(struct exch_admin *a, struct fix_gateway *g)
{
	a->g = g;
}

struct participant *admin_login(struct exch_admin *a, void *conn, const char *comp_id)
{
	struct participant *p = venue_participant(a->v, comp_id);
	if (p)
		p->conn = conn;
	return p;
}

void admin_logout(struct exch_admin *a, struct participant *p)
{
	if (p)
		venue_disconnect(a->v, p);
}

/* ------------------------------------------------------------ commands */

/* Finish c: write what it queued, then wake its HTTP thread. */
static void complete(struct exch_admin *a, struct cmd *c, unsigned status, json_t *resp)
{
	if (a->g)
		fix_gateway_flush(a->g);
	pthread_mutex_lock(&a->mu);
	if (c->abandoned) {
		pthread_mutex_unlock(&a->mu);
		json_decref(resp);
		cmd_free(c);
		return;
	}
	c->status = status;
	c->resp = resp;
	c->done = 1;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

static void fail(struct exch_admin *a, struct cmd *c, unsigned status, const char *fmt,
		 const char *arg)
{
	char msg[256];
	snprintf(msg, sizeof(msg), fmt, arg ? arg : "");
	complete(a, c, status, json_pack("{s:s}", "error", msg));
}

static const char *str_arg(struct cmd *c, const char *key)
{
	return json_string_value(json_object_get(c->req, key));
}

/* The named participant; missing names fail the command. */
static struct participant *client_arg(struct exch_admin *a, struct cmd *c, int need_conn)
{
	const char *id = str_arg(c, "client");
	if (!id) {
		fail(a, c, 400, "'client' (a client id) is required%s", NULL);
		return NULL;
	}
	struct participant *p = venue_participant(a->v, id);
	if (!p) {
		fail(a, c, 400, "bad client id '%s'", id);
		return NULL;
	}
	if (need_conn && !p->conn) {
		fail(a, c, 404, "client '%s' is not connected", id);
		return NULL;
	}
	return p;
}

/* Run one application message through the venue as participant p, as if p
 * had sent it; the replies p gets are returned (p may have no connection). */
static json_t *submit(struct exch_admin *a, struct participant *p, const char *msg_type,
		      const struct fix_out_field *f, size_t n, char *err, size_t errlen)
{
	size_t cap = 1024;
	for (size_t i = 0; i < n; i++)
		cap += f[i].len + 16;
	char *buf = malloc(cap);
	struct fix_field *idx = malloc(sizeof(*idx) * (n + 16));
	json_t *out = NULL;
	if (!buf || !idx) {
		snprintf(err, errlen, "out of memory");
		goto done;
	}
	struct fix_enc enc;
	size_t len = 0;
	fix_enc_begin(&enc, buf, cap, msg_type, p->comp_id, EXCH_COMP_ID, 1, venue_now(a));
	for (size_t i = 0; i < n; i++)
		fix_enc_str(&enc, f[i].tag, f[i].val, f[i].len);
	const char *frame = fix_enc_finish(&enc, &len);
	struct fix_msg m;
	fix_msg_init(&m, idx, n + 16);
	if (!frame || fix_parse(&m, frame, len) != FIX_OK) {
		snprintf(err, errlen, "cannot encode that message (%s)",
			 fix_strerror(enc.status ? enc.status : FIX_E_BAD_VALUE));
		goto done;
	}
	a->capture = json_array();
	a->capture_p = p;
	if (venue_on_message(a->v, p, &m) != 0) {
		json_decref(a->capture);
		a->capture = NULL;
		snprintf(err, errlen, "MsgType '%s' is not traded here (D, F, G, V)", msg_type);
		goto done;
	}
	out = a->capture;
	a->capture = NULL;
done:
	a->capture_p = NULL;
	free(buf);
	free(idx);
	return out;
}

static void cmd_submit(struct exch_admin *a, struct cmd *c)
{
	const char *as = str_arg(c, "as");
	const char *type = str_arg(c, "msg_type");
	struct participant *p = venue_participant(a->v, as ? as : SCRIPTED);
	struct fix_out_field f[MAX_FIELDS];
	size_t n = 0;
	char store[8192], err[256];
	if (!p)
		return fail(a, c, 400, "bad participant name '%s'", as);
	if (!type || !*type || strlen(type) > 4)
		return fail(a, c, 400, "'msg_type' (e.g. \"D\") is required%s", NULL);
	if (fields_from_json(json_object_get(c->req, "fields"), f, &n, store, sizeof(store), err,
			     sizeof(err)) != 0)
		return fail(a, c, 400, "%s", err);
	json_t *replies = submit(a, p, type, f, n, err, sizeof(err));
	if (!replies)
		return fail(a, c, 400, "%s", err);
	complete(a, c, 200, json_pack("{s:o}", "replies", replies));
}

/* Replace the seeded side(s) of a book: the MARKET participant's orders in
 * the symbol are cancelled, then each level is placed as a DAY limit order,
 * trading with whatever it crosses. */
static void cmd_book(struct exch_admin *a, struct cmd *c)
{
	const char *sym = str_arg(c, "symbol");
	if (!sym || !venue_has_symbol(a->v, sym))
		return fail(a, c, 400, "unknown symbol '%s'", sym ? sym : "(none)");
	struct participant *mk = venue_participant(a->v, MARKET);
	if (!mk)
		return fail(a, c, 500, "out of memory%s", NULL);
	/* Validate everything before touching the book. */
	static const char *const sides[2] = {"bids", "asks"};
	for (int s = 0; s < 2; s++) {
		json_t *levels = json_object_get(c->req, sides[s]), *lv;
		size_t i;
		if (levels && !json_is_array(levels) &&
		    !(json_is_object(levels) && json_object_size(levels) == 0))
			return fail(a, c, 400, "'%s' must be a list of {price, quantity}",
				    sides[s]);
		json_array_foreach(levels, i, lv)
		{
			char px[64], qty[64];
			dec_t d;
			if (!json_is_array(lv) || json_array_size(lv) != 2 ||
			    value_text(json_array_get(lv, 0), px, sizeof(px)) ||
			    value_text(json_array_get(lv, 1), qty, sizeof(qty)) ||
			    dec_parse(px, strlen(px), &d) || d <= 0 ||
			    dec_parse(qty, strlen(qty), &d) || d <= 0)
				return fail(
				    a, c, 400,
				    "%s: each level must be {price, quantity}, both positive "
				    "decimals with at most 8 decimals",
				    sides[s]);
		}
	}
	a->capture = json_array();
	a->capture_p = mk;
	int ncancel = venue_cancel_all(a->v, mk, sym);
	json_decref(a->capture);
	a->capture = NULL;
	json_t *replies = json_array();
	for (int s = 0; s < 2; s++) {
		json_t *levels = json_object_get(c->req, sides[s]), *lv;
		size_t i;
		json_array_foreach(levels, i, lv)
		{
			char px[64], qty[64], id[32];
			value_text(json_array_get(lv, 0), px, sizeof(px));
			value_text(json_array_get(lv, 1), qty, sizeof(qty));
			int idn = snprintf(id, sizeof(id), "SEED%llu", ++a->seed_seq);
			struct fix_out_field f[] = {
			    {11, id, (size_t)idn},  {55, sym, strlen(sym)}, {54, s ? "2" : "1", 1},
			    {38, qty, strlen(qty)}, {40, "2", 1},           {44, px, strlen(px)},
			};
			char err[128];
			json_t *r = submit(a, mk, "D", f, 6, err, sizeof(err));
			if (r) {
				json_array_extend(replies, r);
				json_decref(r);
			}
		}
	}
	complete(
	    a, c, 200,
	    json_pack("{s:i, s:o}", "cancelled", ncancel < 0 ? 0 : ncancel, "replies", replies));
}

struct depth_ctx {
	json_t *arr;
};

static int depth_level(void *arg, const struct book_level *l)
{
	char px[32], qty[32];
	dec_format(l->price, px);
	dec_format(l->total, qty);
	json_array_append_new(((struct depth_ctx *)arg)->arr,
			      json_pack("[s, s, i]", px, qty, (int)l->count));
	return 0;
}

static void cmd_depth(struct exch_admin *a, struct cmd *c)
{
	const char *sym = str_arg(c, "symbol");
	const struct book *b = sym ? venue_book(a->v, sym) : NULL;
	if (!b)
		return fail(a, c, 400, "unknown symbol '%s'", sym ? sym : "(none)");
	struct depth_ctx bids = {json_array()}, asks = {json_array()};
	book_walk(b, BOOK_BUY, 0, depth_level, &bids);
	book_walk(b, BOOK_SELL, 0, depth_level, &asks);
	complete(a, c, 200, json_pack("{s:o, s:o}", "bids", bids.arr, "asks", asks.arr));
}

static void cmd_send(struct exch_admin *a, struct cmd *c)
{
	struct participant *p = client_arg(a, c, 1);
	if (!p)
		return;
	const char *type = str_arg(c, "msg_type");
	struct fix_out_field f[MAX_FIELDS];
	size_t n = 0;
	char store[8192], err[256];
	if (!type || !*type || strlen(type) > 4)
		return fail(a, c, 400, "'msg_type' (e.g. \"8\") is required%s", NULL);
	if (fields_from_json(json_object_get(c->req, "fields"), f, &n, store, sizeof(store), err,
			     sizeof(err)) != 0)
		return fail(a, c, 400, "%s", err);
	int rc = fix_gateway_send(a->g, p->conn, type, f, n);
	if (rc != 0)
		return fail(a, c, 400, "the session refused it: %s",
			    rc == FIX_SESSION_E_STATE ? "not active"
			    : rc == FIX_SESSION_E_ARG ? "session MsgType, header tag or bad value"
						      : "too large");
	complete(a, c, 200, json_pack("{s:b}", "sent", 1));
}

static void cmd_drop(struct exch_admin *a, struct cmd *c)
{
	struct participant *p = client_arg(a, c, 1);
	if (!p)
		return;
	fix_gateway_drop(a->g, p->conn);
	complete(a, c, 200, json_pack("{s:b}", "dropped", 1));
}

/* An expect is satisfied by the oldest untaken message of its type. */
static int try_expect(struct exch_admin *a, struct cmd *c)
{
	struct participant *p = venue_participant(a->v, str_arg(c, "client"));
	struct inbox *in = p ? p->admin : NULL;
	const char *type = str_arg(c, "msg_type");
	if (!in)
		return 0;
	for (size_t i = 0; i < in->n; i++) {
		struct saved *s = &in->ring[(in->head + i) % in->cap];
		if (s->taken)
			continue;
		struct fix_field idx[MAX_IN_FIELDS];
		struct fix_msg m;
		fix_msg_init(&m, idx, MAX_IN_FIELDS);
		if (fix_parse(&m, s->frame, s->len) != FIX_OK)
			continue;
		if (type && !fix_msg_is(&m, type))
			continue;
		/* Taken only if the spec is still there to get it. */
		pthread_mutex_lock(&a->mu);
		int gone = c->abandoned;
		pthread_mutex_unlock(&a->mu);
		if (gone)
			return -1;
		s->taken = 1;
		complete(a, c, 200, json_pack("{s:o}", "message", parsed_json(&m)));
		return 1;
	}
	return 0;
}

static void cmd_expect(struct exch_admin *a, struct cmd *c)
{
	if (!client_arg(a, c, 0))
		return;
	int r = try_expect(a, c);
	if (r < 0)
		cmd_free(c);
	if (r)
		return;
	/* Wait for the client: admin_message retries it. */
	c->next = a->waiting;
	a->waiting = c;
}

static void retry_waiting(struct exch_admin *a)
{
	for (struct cmd **pp = &a->waiting; *pp;) {
		struct cmd *c = *pp, *next = c->next;
		pthread_mutex_lock(&a->mu);
		int gone = c->abandoned;
		pthread_mutex_unlock(&a->mu);
		/* Once completed, c belongs to its HTTP thread: not touched again. */
		int r = gone ? -1 : try_expect(a, c);
		if (r == 0) {
			pp = &c->next;
			continue;
		}
		*pp = next;
		if (r < 0)
			cmd_free(c);
	}
}

static void cmd_hold(struct exch_admin *a, struct cmd *c)
{
	const char *type = str_arg(c, "msg_type");
	const char *who = str_arg(c, "client");
	if (!type || !*type || strlen(type) > 4)
		return fail(a, c, 400, "'msg_type' (e.g. \"8\") is required%s", NULL);
	struct hold_rule *r = calloc(1, sizeof(*r));
	if (!r)
		return fail(a, c, 500, "out of memory%s", NULL);
	snprintf(r->msg_type, sizeof(r->msg_type), "%s", type);
	r->p = who ? venue_participant(a->v, who) : NULL;
	r->next = a->rules;
	a->rules = r;
	complete(a, c, 200, json_pack("{s:b}", "holding", 1));
}

static void cmd_release(struct exch_admin *a, struct cmd *c)
{
	const char *type = str_arg(c, "msg_type");
	const char *who = str_arg(c, "client");
	struct participant *only = who ? venue_participant(a->v, who) : NULL;
	for (struct hold_rule **pp = &a->rules; *pp;) {
		struct hold_rule *r = *pp;
		if ((!type || strcmp(r->msg_type, type) == 0) && (!who || r->p == only)) {
			*pp = r->next;
			free(r);
		} else {
			pp = &r->next;
		}
	}
	int sent = 0, lost = 0;
	struct held *keep = NULL, *keep_tail = NULL;
	while (a->held) {
		struct held *h = a->held;
		a->held = h->next;
		h->next = NULL;
		if ((type && strcmp(h->msg_type, type) != 0) || (who && h->p != only)) {
			if (keep_tail)
				keep_tail->next = h;
			else
				keep = h;
			keep_tail = h;
			continue;
		}
		if (h->p->conn && fix_gateway_send(a->g, h->p->conn, h->msg_type, h->f, h->n) == 0)
			sent++;
		else
			lost++;
		free(h->f);
		free(h);
	}
	a->held = keep;
	a->held_tail = keep_tail;
	complete(a, c, 200, json_pack("{s:i, s:i}", "released", sent, "dropped", lost));
}

static void cmd_fault(struct exch_admin *a, struct cmd *c)
{
	const char *name = str_arg(c, "name");
	json_t *on = json_object_get(c->req, "on");
	char err[160];
	if (!name)
		return fail(a, c, 400, "'name' (e.g. \"close-after=3\") is required%s", NULL);
	if (exch_fault_set(a->faults, name, on ? json_is_true(on) : 1, err, sizeof(err)) != 0)
		return fail(a, c, 400, "%s", err);
	complete(a, c, 200,
		 json_pack("{s:s, s:b}", "fault", name, "on", on ? json_is_true(on) : 1));
}

static void cmd_stats(struct exch_admin *a, struct cmd *c)
{
	struct venue_stats st;
	venue_stats(a->v, &st);
	json_t *clients = json_array();
	for (struct participant *p = venue_participants(a->v); p; p = p->next)
		if (p->conn)
			json_array_append_new(clients, json_string(p->comp_id));
	complete(a, c, 200,
		 json_pack("{s:I, s:I, s:I, s:o}", "orders", (json_int_t)st.orders, "trades",
			   (json_int_t)st.trades, "rejects", (json_int_t)st.rejects, "connected",
			   clients));
}

static const struct {
	const char *name;
	void (*run)(struct exch_admin *a, struct cmd *c);
} commands[] = {
    {"submit", cmd_submit}, {"book", cmd_book},     {"depth", cmd_depth}, {"send", cmd_send},
    {"drop", cmd_drop},     {"expect", cmd_expect}, {"hold", cmd_hold},   {"release", cmd_release},
    {"fault", cmd_fault},   {"stats", cmd_stats},
};

void admin_run(struct exch_admin *a)
{
	uint64_t v;
	while (read(a->efd, &v, sizeof(v)) > 0)
		;
	if (a->retry) {
		a->retry = 0;
		retry_waiting(a);
	}
	pthread_mutex_lock(&a->mu);
	struct cmd *c = a->queue;
	a->queue = a->queue_tail = NULL;
	pthread_mutex_unlock(&a->mu);
	while (c) {
		struct cmd *next = c->next;
		c->next = NULL;
		size_t i = 0;
		while (i < sizeof(commands) / sizeof(commands[0]) &&
		       strcmp(commands[i].name, c->name) != 0)
			i++;
		if (i == sizeof(commands) / sizeof(commands[0]))
			fail(a, c, 404, "unknown admin command '%s'", c->name);
		else
			commands[i].run(a, c);
		c = next;
	}
}

int admin_message(struct exch_admin *a, struct participant *p, const struct fix_msg *m)
{
	struct inbox *in = inbox_of(p);
	if (in && in->n == in->cap && in->cap < INBOX_MAX && in->head == 0) {
		size_t cap = in->cap ? 2 * in->cap : 16;
		struct saved *r = realloc(in->ring, cap * sizeof(*r));
		if (r) {
			memset(r + in->cap, 0, (cap - in->cap) * sizeof(*r));
			in->ring = r;
			in->cap = cap;
		}
	}
	if (in && in->cap) {
		struct saved *s;
		if (in->n == in->cap) {
			/* Full at its largest (or could not grow): the oldest goes. */
			s = &in->ring[in->head];
			in->head = (in->head + 1) % in->cap;
		} else {
			s = &in->ring[(in->head + in->n++) % in->cap];
		}
		if (s->cap < m->len) {
			char *nb = realloc(s->frame, m->len);
			if (nb) {
				s->frame = nb;
				s->cap = m->len;
			}
		}
		s->len = s->cap >= m->len ? m->len : 0;
		if (s->len)
			memcpy(s->frame, m->buf, m->len);
		s->taken = 0;
	}
	int rc = venue_on_message(a->v, p, m);
	if (a->waiting && !a->retry) {
		/* Not from here: completing writes to the sockets, and this runs in
		 * the middle of a connection's events. admin_run does it next turn. */
		uint64_t one = 1;
		a->retry = 1;
		if (write(a->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			a->retry = 0;
	}
	return rc;
}

/* ---------------------------------------------------------- HTTP side */

void admin_shutdown(struct exch_admin *a)
{
	pthread_mutex_lock(&a->mu);
	a->stopping = 1;
	pthread_cond_broadcast(&a->cv);
	pthread_mutex_unlock(&a->mu);
}

static unsigned reply(char **resp, unsigned status, const char *msg)
{
	json_t *o = json_pack("{s:s}", "error", msg);
	*resp = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	return status;
}

unsigned admin_http(struct exch_admin *a, const char *path, const char *auth, const char *body,
		    size_t len, char **resp)
{
	static const char bearer[] = "Bearer ";
	*resp = NULL;
	if (!auth || strncmp(auth, bearer, sizeof(bearer) - 1) != 0 ||
	    strlen(auth + sizeof(bearer) - 1) != strlen(a->token) ||
	    CRYPTO_memcmp(auth + sizeof(bearer) - 1, a->token, strlen(a->token)) != 0)
		return reply(resp, 401,
			     "admin token missing or wrong (Authorization: Bearer <the admin= "
			     "value of the READY line>)");
	const char *name = path + strlen("/admin/");
	if (!*name || strlen(name) >= sizeof(((struct cmd *)0)->name))
		return reply(resp, 404, "unknown admin command");
	json_error_t jerr;
	json_t *req = len ? json_loadb(body, len, 0, &jerr) : json_object();
	if (!json_is_object(req)) {
		json_decref(req);
		return reply(resp, 400, "the body must be a JSON object");
	}
	struct cmd *c = calloc(1, sizeof(*c));
	if (!c) {
		json_decref(req);
		return reply(resp, 500, "out of memory");
	}
	snprintf(c->name, sizeof(c->name), "%s", name);
	c->req = req;
	/* How long to wait: an expect's own timeout, else until done. */
	double timeout = 60;
	if (strcmp(name, "expect") == 0) {
		json_t *t = json_object_get(req, "timeout");
		timeout = t ? json_number_value(t) : 5;
		if (timeout < 0 || timeout * 1000 > EXPECT_MAX_MS)
			timeout = EXPECT_MAX_MS / 1000.0;
	}
	struct timespec until;
	clock_gettime(CLOCK_MONOTONIC, &until);
	long long ns = (long long)(timeout * 1e9);
	until.tv_sec += (time_t)(ns / 1000000000LL);
	until.tv_nsec += (long)(ns % 1000000000LL);
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&a->mu);
	if (a->stopping) {
		pthread_mutex_unlock(&a->mu);
		cmd_free(c);
		return reply(resp, 503, "exchange shutting down");
	}
	if (a->queue_tail)
		a->queue_tail->next = c;
	else
		a->queue = c;
	a->queue_tail = c;
	pthread_mutex_unlock(&a->mu);
	uint64_t one = 1;
	if (write(a->efd, &one, sizeof(one)) < 0 && errno != EAGAIN) {
		/* The counter is saturated: the gateway is awake anyway. */
	}
	pthread_mutex_lock(&a->mu);
	int rc = 0;
	while (!c->done && !a->stopping && rc != ETIMEDOUT)
		rc = pthread_cond_timedwait(&a->cv, &a->mu, &until);
	if (!c->done) {
		/* The gateway still holds c: it frees it when it next looks. */
		c->abandoned = 1;
		int stopping = a->stopping;
		pthread_mutex_unlock(&a->mu);
		return stopping ? reply(resp, 503, "exchange shutting down")
				: reply(resp, 408, "timed out waiting for the message");
	}
	pthread_mutex_unlock(&a->mu);
	unsigned status = c->status;
	*resp = json_dumps(c->resp, JSON_COMPACT);
	cmd_free(c);
	return status;
}
