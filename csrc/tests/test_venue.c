/* The exchange's trading logic (csrc/exchange/venue.c, market_data.c)
 * without sockets: messages go in as parsed frames, every outbound message
 * is captured as "who 35=T|tag=value|..." and compared byte for byte. */
/* test-deps: venue fix_codec */
#include "fix_codec.h"
#include "fix_session.h"
#include "t.h"
#include "venue.h"

static char out[64][512];
static int nout;

static void cap_send(void *ud, struct participant *p, const char *type,
		     const struct fix_out_field *f, size_t n)
{
	(void)ud;
	if (nout == 64)
		return;
	char *s = out[nout++];
	int k = snprintf(s, 512, "%s 35=%s", p->comp_id, type);
	for (size_t i = 0; i < n && k < 500; i++)
		k += snprintf(s + k, (size_t)(512 - k), "|%u=%.*s", (unsigned)f[i].tag,
			      (int)f[i].len, f[i].val);
}

static int64_t zero_now(void *ud)
{
	(void)ud;
	return 0;
}

/* Feed one message "35=D|11=a|..." (header added here) from p. */
static int feed(struct venue *v, struct participant *p, const char *type, const char *body)
{
	char buf[1024], fb[1024];
	struct fix_enc enc;
	size_t len;
	fix_enc_begin(&enc, buf, sizeof(buf), type, p->comp_id, "BETA_EXCHANGE", 2, 0);
	snprintf(fb, sizeof(fb), "%s", body);
	for (char *tok = strtok(fb, "|"); tok; tok = strtok(NULL, "|")) {
		char *eq = strchr(tok, '=');
		fix_enc_str(&enc, (uint32_t)atoi(tok), eq + 1, strlen(eq + 1));
	}
	const char *frame = fix_enc_finish(&enc, &len);
	struct fix_field idx[64];
	struct fix_msg m;
	fix_msg_init(&m, idx, 64);
	if (!frame || fix_parse(&m, frame, len) != FIX_OK)
		return -2;
	nout = 0;
	return venue_on_message(v, p, &m);
}

static struct venue *mk(void)
{
	struct venue_ops ops = {.send = cap_send, .now = zero_now, .ud = NULL};
	char err[128];
	return venue_new("EUR/USD,USD/JPY", &ops, err, sizeof(err));
}

#define TS "60=19700101-00:00:00.000"

static void test_cross_with_exact_reports(void)
{
	struct venue *v = mk();
	struct participant *a = venue_participant(v, "A"), *b = venue_participant(v, "B");
	T_EQ_INT(feed(v, a, "D", "11=a1|55=EUR/USD|54=2|38=1|40=2|44=1.0843"), 0);
	T_EQ_INT(nout, 1);
	T_EQ_STR(out[0], "A 35=8|37=O1|11=a1|17=X1|150=0|39=0|55=EUR/USD|54=2|38=1|40=2|44=1.0843|"
			 "59=0|151=1|14=0|6=0|" TS);
	feed(v, a, "D", "11=a2|55=EUR/USD|54=2|38=5|40=2|44=1.0844");
	T_EQ_INT(feed(v, b, "D", "11=b1|55=EUR/USD|54=1|38=3|40=2|44=1.0844|59=3"), 0);
	T_EQ_INT(nout, 5);
	T_EQ_STR(out[0], "B 35=8|37=O3|11=b1|17=X3|150=0|39=0|55=EUR/USD|54=1|38=3|40=2|44=1.0844|"
			 "59=3|151=3|14=0|6=0|" TS);
	T_EQ_STR(out[1], "A 35=8|37=O1|11=a1|17=X4|150=F|39=2|55=EUR/USD|54=2|38=1|40=2|44=1.0843|"
			 "59=0|32=1|31=1.0843|151=0|14=1|6=1.0843|" TS);
	T_EQ_STR(out[2], "B 35=8|37=O3|11=b1|17=X5|150=F|39=1|55=EUR/USD|54=1|38=3|40=2|44=1.0844|"
			 "59=3|32=1|31=1.0843|151=2|14=1|6=1.0843|" TS);
	T_EQ_STR(out[3], "A 35=8|37=O2|11=a2|17=X6|150=F|39=1|55=EUR/USD|54=2|38=5|40=2|44=1.0844|"
			 "59=0|32=2|31=1.0844|151=3|14=2|6=1.0844|" TS);
	/* (1.0843 + 2 * 1.0844) / 3 = 1.084366666..., rounded half up */
	T_EQ_STR(out[4], "B 35=8|37=O3|11=b1|17=X7|150=F|39=2|55=EUR/USD|54=1|38=3|40=2|44=1.0844|"
			 "59=3|32=2|31=1.0844|151=0|14=3|6=1.08436667|" TS);
	struct venue_stats st;
	venue_stats(v, &st);
	T_EQ_INT(st.orders, 3);
	T_EQ_INT(st.trades, 2);
	venue_free(v);
}

static void test_rejects_and_cancel_rejects(void)
{
	struct venue *v = mk();
	struct participant *a = venue_participant(v, "A");
	feed(v, a, "D", "11=r1|55=GBP/JPY|54=1|38=1|40=1");
	T_EQ_STR(out[0], "A 35=8|37=NONE|11=r1|17=X1|150=8|39=8|55=GBP/JPY|54=1|38=1|40=1|151=0|"
			 "14=0|6=0|" TS "|58=unknown symbol 'GBP/JPY'|103=1");
	feed(v, a, "D", "11=r2|55=EUR/USD|54=1|38=0|40=1");
	T_EQ_STR(strstr(out[0], "58="), "58=OrderQty must be a positive decimal (at most 8 "
					"decimals)|103=13");
	feed(v, a, "D", "11=r3|55=EUR/USD|54=1|38=1|40=2|44=1|59=1");
	T_EQ_STR(strstr(out[0], "58="),
		 "58=TimeInForce must be 0 (DAY), 3 (IOC) or 4 (FOK)|103=11");
	feed(v, a, "D", "11=r4|55=EUR/USD|54=1|40=2");
	T_EQ_STR(out[0], "A 35=j|45=2|372=D|380=5|58=required tag 38 missing");
	feed(v, a, "F", "11=c1|41=nope|55=EUR/USD|54=1");
	T_EQ_STR(out[0], "A 35=9|37=NONE|11=c1|41=nope|39=8|434=1|102=1|58=unknown order: no open "
			 "order has that OrigClOrdID");
	feed(v, a, "D", "11=o1|55=EUR/USD|54=1|38=1|40=2|44=1");
	feed(v, a, "G", "11=o2|41=o1|55=EUR/USD|54=2|38=1|40=2|44=1");
	T_EQ_STR(out[0], "A 35=9|37=O1|11=o2|41=o1|39=0|434=2|102=99|58=Symbol and Side must "
			 "match the order's");
	feed(v, a, "D", "11=o3|55=EUR/USD|54=1|38=1|40=2|44=1");
	feed(v, a, "G", "11=o3|41=o1|55=EUR/USD|54=1|38=1|40=2|44=1");
	T_EQ_STR(strstr(out[0], "102="),
		 "102=6|58=duplicate ClOrdID: an open order already has it");
	T_EQ_INT(feed(v, a, "AE", "571=x"), 1); /* not a venue message */
	venue_free(v);
}

static void test_market_data_depth_one(void)
{
	struct venue *v = mk();
	struct participant *a = venue_participant(v, "A"), *m = venue_participant(v, "M");
	feed(v, a, "D", "11=a1|55=EUR/USD|54=1|38=1|40=2|44=1.5");
	feed(v, a, "D", "11=a2|55=EUR/USD|54=1|38=2|40=2|44=1.4");
	feed(v, m, "V", "262=q|263=1|264=1|146=1|55=EUR/USD");
	T_EQ_INT(nout, 1);
	T_EQ_STR(out[0], "M 35=W|262=q|55=EUR/USD|268=1|269=0|270=1.5|271=1");
	feed(v, a, "D", "11=a3|55=EUR/USD|54=1|38=3|40=2|44=1.45"); /* below the top */
	T_EQ_INT(nout, 1);
	feed(v, a, "D", "11=a4|55=EUR/USD|54=1|38=4|40=2|44=1.6"); /* new top */
	T_EQ_INT(nout, 3);
	T_EQ_STR(out[1], "M 35=X|262=q|268=1|279=0|269=0|55=EUR/USD|270=1.6|271=4");
	T_EQ_STR(out[2], "M 35=X|262=q|268=1|279=2|269=0|55=EUR/USD|270=1.5");
	/* A sell of 5 at 1.45: trades 4 at 1.6, 1 at 1.5; the subscriber sees
	 * each trade and each change of its top level in order. */
	feed(v, a, "D", "11=s1|55=EUR/USD|54=2|38=5|40=2|44=1.45");
	int x = 0;
	char seen[8][128];
	for (int i = 0; i < nout; i++)
		if (out[i][0] == 'M' && x < 8)
			snprintf(seen[x++], 128, "%s", strstr(out[i], "279="));
	T_EQ_INT(x, 6);
	T_EQ_STR(seen[0], "279=0|269=2|55=EUR/USD|270=1.6|271=4");
	T_EQ_STR(seen[1], "279=2|269=0|55=EUR/USD|270=1.6");
	T_EQ_STR(seen[2], "279=0|269=0|55=EUR/USD|270=1.5|271=1"); /* moved into the top */
	T_EQ_STR(seen[3], "279=0|269=2|55=EUR/USD|270=1.5|271=1");
	T_EQ_STR(seen[4], "279=2|269=0|55=EUR/USD|270=1.5");
	T_EQ_STR(seen[5], "279=0|269=0|55=EUR/USD|270=1.45|271=3");
	/* Unsubscribe: quiet from then on; a second unsubscribe is refused. */
	feed(v, m, "V", "262=q|263=2|146=1|55=EUR/USD");
	T_EQ_INT(nout, 0);
	feed(v, a, "D", "11=a5|55=EUR/USD|54=1|38=1|40=2|44=2");
	for (int i = 0; i < nout; i++)
		T_OK(out[i][0] != 'M');
	feed(v, m, "V", "262=q|263=2|146=1|55=EUR/USD");
	T_EQ_STR(out[0], "M 35=Y|262=q|58=no subscription with that MDReqID");
	feed(v, m, "V", "262=r|263=1|264=x|146=1|55=EUR/USD");
	T_EQ_STR(out[0],
		 "M 35=Y|262=r|281=5|58=MarketDepth (264) must be 0 (full) or a level count");
	venue_free(v);
}

static void test_disconnect_cancels(void)
{
	struct venue *v = mk();
	struct participant *a = venue_participant(v, "A"), *m = venue_participant(v, "M");
	feed(v, a, "D", "11=a1|55=USD/JPY|54=1|38=1|40=2|44=150.25");
	feed(v, m, "V", "262=q|263=1|264=0|146=1|55=USD/JPY");
	nout = 0;
	venue_disconnect(v, a);
	T_EQ_INT(nout, 2);
	T_EQ_STR(out[0], "M 35=X|262=q|268=1|279=2|269=0|55=USD/JPY|270=150.25");
	T_EQ_STR(strstr(out[1], "150="), "150=4|39=4|55=USD/JPY|54=1|38=1|40=2|44=150.25|59=0|"
					 "151=0|14=0|6=0|" TS "|58=cancelled by the exchange");
	T_OK(venue_book(v, "USD/JPY")->bids == NULL);
	T_EQ_INT(a->norders, 0);
	venue_free(v);
}

/* A deep book in one snapshot: 150 levels a side (every one of them, not
 * cut at a small fixed size), still inside a client's 1,024-field index. */
static void test_deep_snapshot(void)
{
	struct venue *v = mk();
	struct participant *a = venue_participant(v, "A"), *m = venue_participant(v, "M");
	char body[128];
	for (int i = 1; i <= 150; i++) {
		snprintf(body, sizeof(body), "11=b%d|55=EUR/USD|54=1|38=1|40=2|44=1.%03d", i, i);
		feed(v, a, "D", body);
		snprintf(body, sizeof(body), "11=s%d|55=EUR/USD|54=2|38=1|40=2|44=2.%03d", i, i);
		feed(v, a, "D", body);
	}
	feed(v, m, "V", "262=deep|263=0|264=0|146=1|55=EUR/USD");
	T_EQ_INT(nout, 1);
	T_OK(strncmp(out[0], "M 35=W|262=deep|55=EUR/USD|268=300|269=0|270=1.15|271=1|", 54) == 0);
	venue_free(v);
}

static void test_bad_symbol_lists(void)
{
	struct venue_ops ops = {.send = cap_send, .now = zero_now, .ud = NULL};
	char err[128];
	T_OK(venue_new("EUR/USD,,X", &ops, err, sizeof(err)) == NULL);
	T_EQ_STR(err, "bad symbol '' (1-31 printable characters, no spaces)");
	T_OK(venue_new("A,B,A", &ops, err, sizeof(err)) == NULL);
	T_EQ_STR(err, "symbol 'A' listed twice");
}

int main(void)
{
	T_RUN(test_cross_with_exact_reports);
	T_RUN(test_rejects_and_cancel_rejects);
	T_RUN(test_market_data_depth_one);
	T_RUN(test_disconnect_cancels);
	T_RUN(test_deep_snapshot);
	T_RUN(test_bad_symbol_lists);
	return T_END();
}
