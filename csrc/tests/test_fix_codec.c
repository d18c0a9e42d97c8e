/* test-deps: fix_codec */
/* FIX codec tests with exact bytes. Frames are written with '|' for SOH and
 * BodyLength/CheckSum are computed here by a reference independent of the
 * codec, so a codec bug cannot hide behind its own arithmetic. */
#include "fix_codec.h"
#include "t.h"

#define SOH_S "\x01"
#define NF 64

/* '|' -> SOH, in place; returns the length. */
static size_t pipes(char *s)
{
	size_t n = strlen(s);
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '|')
			s[i] = '\x01';
	}
	return n;
}

static unsigned ref_sum(const char *p, size_t n)
{
	unsigned s = 0;
	for (size_t i = 0; i < n; i++)
		s += (unsigned char)p[i];
	return s % 256;
}

/* "8=<begin>|9=<len>|<body>10=<sum>|" with body given in '|' notation. */
static size_t ref_frame(char *out, size_t cap, const char *begin, const char *body)
{
	char b[4096];
	snprintf(b, sizeof(b), "%s", body);
	size_t bl = pipes(b);
	int n = snprintf(out, cap, "8=%s" SOH_S "9=%zu" SOH_S "%s", begin, bl, b);
	n += snprintf(out + n, cap - (size_t)n, "10=%03u" SOH_S, ref_sum(out, (size_t)n));
	return (size_t)n;
}

/* Rewrite the trailer of a frame so its checksum is right again. */
static void fix_sum(char *f, size_t n)
{
	if (n < 7)
		return;
	char t[8];
	snprintf(t, sizeof(t), "%03u", ref_sum(f, n - 7));
	memcpy(f + n - 4, t, 3);
}

static const char *HDR = "35=D|49=CLIENT0001|56=BETA_EXCHANGE|34=7|52=20261128-17:30:00.123|";

static int parse_body(const char *body, struct fix_msg *m, struct fix_field *fl, size_t cap)
{
	char f[4096];
	size_t n = ref_frame(f, sizeof(f), "FIX.4.4", body);
	fix_msg_init(m, fl, cap);
	/* The index points into f, so only the status is meaningful here. */
	return fix_parse(m, f, n);
}

static int parse_status(const char *body)
{
	struct fix_field fl[NF];
	struct fix_msg m;
	return parse_body(body, &m, fl, NF);
}

/* ---------------------------------------------------------------- encoder */

static void test_encode_logon_exact(void)
{
	char buf[512];
	struct fix_enc e;
	fix_enc_begin(&e, buf, sizeof(buf), "A", "CLIENT0001", "BETA_EXCHANGE", 1,
		      INT64_C(1795887000123));
	fix_enc_int(&e, 98, 0);
	fix_enc_int(&e, 108, 30);
	fix_enc_char(&e, 141, 'Y');
	fix_enc_cstr(&e, 553, "CLIENT0001");
	fix_enc_cstr(&e, 554, "s3cret");
	size_t len;
	const char *f = fix_enc_finish(&e, &len);
	T_OK(f != NULL);
	T_EQ_INT(e.status, FIX_OK);

	/* Literal vector; 9=110 and 10=021 were computed outside the codec. */
	char want[] = "8=FIX.4.4|9=110|35=A|49=CLIENT0001|56=BETA_EXCHANGE|34=1|"
		      "52=20261128-17:30:00.123|98=0|108=30|141=Y|553=CLIENT0001|554=s3cret|"
		      "10=021|";
	size_t wl = pipes(want);
	T_EQ_MEM(f, len, want, wl);

	/* Same, with 9 and 10 derived by the reference. */
	char ref[512];
	size_t rl = ref_frame(ref, sizeof(ref), "FIX.4.4",
			      "35=A|49=CLIENT0001|56=BETA_EXCHANGE|34=1|52=20261128-17:30:00.123|"
			      "98=0|108=30|141=Y|553=CLIENT0001|554=s3cret|");
	T_EQ_MEM(f, len, ref, rl);

	/* 8 and 9 sit in the headroom right before the body: nothing moved. */
	T_OK(f == buf + FIX_ENC_HEADROOM - strlen("8=FIX.4.4|9=110|"));
	T_EQ_INT(memcmp(buf + FIX_ENC_HEADROOM, "35=A" SOH_S, 5), 0);
}

static void test_published_vector(void)
{
	/* The classic FIX 4.2 Logon example, 9=65 and 10=062 as published. */
	char v[] = "8=FIX.4.2|9=65|35=A|49=SERVER|56=CLIENT|34=177|52=20090107-18:15:16|"
		   "98=0|108=30|10=062|";
	size_t n = pipes(v);
	size_t fl;
	T_EQ_INT(fix_frame(v, n, 0, &fl), FIX_OK);
	T_EQ_INT(fl, n);
	struct fix_field f[NF];
	struct fix_msg m;
	fix_msg_init(&m, f, NF);
	T_EQ_INT(fix_parse(&m, v, n), FIX_E_BEGIN_STRING);

	/* Our encoder produces the 4.4 equivalent with consistent 9 and 10. */
	char buf[256];
	struct fix_enc e;
	fix_enc_begin(&e, buf, sizeof(buf), "A", "SERVER", "CLIENT", 177, INT64_C(1231352116000));
	fix_enc_int(&e, 98, 0);
	fix_enc_int(&e, 108, 30);
	size_t len;
	const char *out = fix_enc_finish(&e, &len);
	char want[] = "8=FIX.4.4|9=69|35=A|49=SERVER|56=CLIENT|34=177|52=20090107-18:15:16.000|"
		      "98=0|108=30|10=";
	size_t wl = pipes(want);
	T_OK(out != NULL);
	T_EQ_INT(len, wl + 4);
	T_EQ_MEM(out, wl, want, wl);
	char sum[5];
	snprintf(sum, sizeof(sum), "%03u" SOH_S, ref_sum(out, wl - 3));
	T_EQ_MEM(out + wl, 4, sum, 4);
}

static void test_format_time_known(void)
{
	static const struct {
		int64_t ms;
		const char *s;
	} v[] = {
	    {0, "19700101-00:00:00.000"},
	    {INT64_C(951782400000), "20000229-00:00:00.000"},
	    {INT64_C(951868799999), "20000229-23:59:59.999"},
	    {INT64_C(946684799999), "19991231-23:59:59.999"},
	    {INT64_C(1795887000123), "20261128-17:30:00.123"},
	    {INT64_C(4070952000000), "20990101-12:00:00.000"},
	    {INT64_C(4102444799999), "20991231-23:59:59.999"},
	    {INT64_C(4107542400000), "21000301-00:00:00.000"},
	    {INT64_C(253402300799999), "99991231-23:59:59.999"},
	    {-1, "19691231-23:59:59.999"},
	    {INT64_C(-62135596800000), "00010101-00:00:00.000"},
	};
	char out[22];
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		memset(out, 'x', sizeof(out));
		fix_format_time(v[i].ms, out);
		T_EQ_STR(out, v[i].s);
		int64_t back = -42;
		T_EQ_INT(fix_parse_time(v[i].s, strlen(v[i].s), &back), FIX_OK);
		T_EQ_INT(back, v[i].ms);
	}
	fix_format_time(INT64_MAX, out);
	T_EQ_STR(out, "99991231-23:59:59.999");
	fix_format_time(INT64_MIN, out);
	T_EQ_STR(out, "00000101-00:00:00.000");
}

static void test_time_round_trip(void)
{
	/* Every day from 1970 to 2200 at a varying time of day, plus a coarse sweep
	 * to year 9999. */
	char out[22];
	int64_t back;
	int bad = 0;
	for (int64_t d = 0; d < 84000 && bad < 5; d++) {
		int64_t ms = d * 86400000 + (d * 7919) % 86400000;
		fix_format_time(ms, out);
		if (fix_parse_time(out, 21, &back) != FIX_OK || back != ms) {
			T_FAIL("round trip of %" PRId64 " gave %s", ms, out);
			bad++;
		}
	}
	for (int64_t ms = 0; ms < INT64_C(253402300799999) && bad < 5; ms += INT64_C(99999999977)) {
		fix_format_time(ms, out);
		if (fix_parse_time(out, 21, &back) != FIX_OK || back != ms) {
			T_FAIL("round trip of %" PRId64 " gave %s", ms, out);
			bad++;
		}
	}
}

static void test_parse_time_valid(void)
{
	int64_t ms;
	T_EQ_INT(fix_parse_time("20261128-17:30:00", 17, &ms), FIX_OK);
	T_EQ_INT(ms, INT64_C(1795887000000));
	T_EQ_INT(fix_parse_time("20261128-17:30:00.123456", 24, &ms), FIX_OK);
	T_EQ_INT(ms, INT64_C(1795887000123));
	T_EQ_INT(fix_parse_time("20261128-17:30:00.123456789", 27, &ms), FIX_OK);
	T_EQ_INT(ms, INT64_C(1795887000123));
	T_EQ_INT(fix_parse_time("20240229-00:00:00.000", 21, &ms), FIX_OK);
	/* A leap second is legal in UTCTimestamp. */
	T_EQ_INT(fix_parse_time("20161231-23:59:60", 17, &ms), FIX_OK);
	T_EQ_INT(ms, INT64_C(1483228800000));
	/* Only len bytes are read: the rest of the buffer is not our business. */
	T_EQ_INT(fix_parse_time("20261128-17:30:00.123|10=", 21, &ms), FIX_OK);
	T_EQ_INT(ms, INT64_C(1795887000123));
}

static void test_parse_time_invalid(void)
{
	static const char *bad[] = {
	    "20261328-17:30:00.000", /* month 13 */
	    "20260028-17:30:00.000", /* month 0 */
	    "20260100-17:30:00.000", /* day 0 */
	    "20260132-17:30:00.000", /* day 32 */
	    "20000230-00:00:00.000", /* Feb 30 */
	    "21000229-00:00:00.000", /* 2100 is not a leap year */
	    "19000229-00:00:00.000", /* nor 1900 */
	    "20230229-00:00:00.000", /* nor 2023 */
	    "20260431-00:00:00.000", /* April 31 */
	    "20261128-24:00:00.000", /* hour 24 */
	    "20261128-17:60:00.000", /* minute 60 */
	    "20261128-17:30:61.000", /* second 61 */
	    "20261128 17:30:00.000", /* separator */
	    "20261128-17.30:00.000",
	    "20261128-17:30-00.000",
	    "20261128-17:30:00,000",
	    "2026112a-17:30:00.000",
	    "20261128-17:30:00.12a",
	    "-2026112-17:30:00.000",
	    "20261128-17:30:00.",
	    "20261128-17:30:00.12",
	    "20261128-17:30:00.1234",
	    "20261128-17:30:0",
	    "",
	    "20261128-17:30:00.000000000000",
	};
	int64_t ms = 7;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (fix_parse_time(bad[i], strlen(bad[i]), &ms) != FIX_E_BAD_VALUE)
			T_FAIL("accepted \"%s\"", bad[i]);
	}
	T_EQ_INT(ms, 7);
	T_EQ_INT(fix_parse_time(NULL, 0, &ms), FIX_E_BAD_VALUE);
}

static void test_encode_field_types(void)
{
	char buf[256];
	struct fix_enc e;
	fix_enc_begin(&e, buf, sizeof(buf), "8", "S", "T", UINT64_C(18446744073709551615), 0);
	fix_enc_int(&e, 31, -5);
	fix_enc_int(&e, 32, INT64_MIN);
	fix_enc_int(&e, 33, INT64_MAX);
	fix_enc_str(&e, 58, "abcdef", 3);
	fix_enc_char(&e, 54, '1');
	fix_enc_time(&e, 60, INT64_C(951868799999));
	fix_enc_int(&e, 999999999, 10);
	size_t len;
	const char *f = fix_enc_finish(&e, &len);
	char ref[512];
	size_t rl = ref_frame(ref, sizeof(ref), "FIX.4.4",
			      "35=8|49=S|56=T|34=18446744073709551615|52=19700101-00:00:00.000|"
			      "31=-5|32=-9223372036854775808|33=9223372036854775807|58=abc|54=1|"
			      "60=20000229-23:59:59.999|999999999=10|");
	T_OK(f != NULL);
	T_EQ_MEM(f, len, ref, rl);
}

static void test_encode_int_boundaries(void)
{
	/* Every digit count, at and around each power of ten, both signs. */
	int64_t p = 1;
	for (int d = 0; d < 19; d++, p = d < 19 ? p * 10 : p) {
		for (int64_t delta = -1; delta <= 1; delta++) {
			for (int sign = -1; sign <= 1; sign += 2) {
				int64_t v = sign * (p + delta);
				char buf[128], want[64];
				struct fix_enc e;
				fix_enc_begin(&e, buf, sizeof(buf), "0", "S", "T", 1, 0);
				size_t before = e.pos;
				fix_enc_int(&e, 38, v);
				int n = snprintf(want, sizeof(want), "38=%" PRId64 "\x01", v);
				T_EQ_MEM(buf + before, e.pos - before, want, (size_t)n);
			}
		}
	}
}

static void test_tags_of_every_length(void)
{
	/* Tags of 1..9 digits, and digit patterns that stress the word-wise read. */
	static const uint32_t tags[] = {1,       7,       11,       99,       100,       999,
					1000,    5002,    10000,    99999,    100000,    654321,
					1000000, 9999999, 10000000, 87654321, 100000000, 999999999};
	char buf[1024];
	struct fix_enc e;
	fix_enc_begin(&e, buf, sizeof(buf), "0", "S", "T", 1, 0);
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]); i++)
		fix_enc_int(&e, tags[i], (int64_t)i);
	size_t len;
	const char *f = fix_enc_finish(&e, &len);
	T_OK(f != NULL);
	struct fix_field fl[NF];
	struct fix_msg m;
	fix_msg_init(&m, fl, NF);
	T_EQ_INT(fix_parse(&m, f, len), FIX_OK);
	T_EQ_INT(m.nfields, 8 + sizeof(tags) / sizeof(tags[0]));
	for (size_t i = 0; i < sizeof(tags) / sizeof(tags[0]) && 7 + i < m.nfields; i++) {
		uint64_t v = 99;
		T_EQ_INT(m.fields[7 + i].tag, tags[i]);
		T_EQ_INT(fix_msg_get_u64(&m, tags[i], &v), FIX_OK);
		T_EQ_INT(v, i);
	}
}

static void test_encode_refuses_bad_values(void)
{
	char buf[256];
	struct fix_enc e;
	size_t len = 99;

	fix_enc_begin(&e, buf, sizeof(buf), "D", "S", "T", 1, 0);
	fix_enc_str(&e, 58,
		    "a\x01"
		    "b",
		    3);
	T_EQ_INT(e.status, FIX_E_BAD_VALUE);
	fix_enc_int(&e, 38, 100); /* sticky: ignored */
	T_OK(fix_enc_finish(&e, &len) == NULL);
	T_EQ_INT(len, 0);
	T_EQ_INT(e.status, FIX_E_BAD_VALUE);

	fix_enc_begin(&e, buf, sizeof(buf), "D", "S", "T", 1, 0);
	fix_enc_cstr(&e, 58, "");
	T_EQ_INT(e.status, FIX_E_BAD_VALUE);

	fix_enc_begin(&e, buf, sizeof(buf), "D", "S", "T", 1, 0);
	fix_enc_cstr(&e, 58, NULL);
	T_EQ_INT(e.status, FIX_E_BAD_VALUE);

	fix_enc_begin(&e, buf, sizeof(buf), "D", "S", "T", 1, 0);
	fix_enc_char(&e, 54, '\x01');
	T_EQ_INT(e.status, FIX_E_BAD_VALUE);

	fix_enc_begin(&e, buf, sizeof(buf), "D", "S", "T", 1, 0);
	fix_enc_int(&e, 0, 1);
	T_EQ_INT(e.status, FIX_E_BAD_VALUE);

	fix_enc_begin(&e, buf, sizeof(buf), "D", "S", "T", 1, 0);
	fix_enc_time(&e, 60, INT64_C(253402300800000));
	T_EQ_INT(e.status, FIX_E_BAD_VALUE);

	fix_enc_begin(&e, buf, sizeof(buf), "D",
		      "S\x01"
		      "49=X",
		      "T", 1, 0);
	T_EQ_INT(e.status, FIX_E_BAD_VALUE);
	fix_enc_begin(&e, buf, sizeof(buf), "", "S", "T", 1, 0);
	T_EQ_INT(e.status, FIX_E_BAD_VALUE);
	fix_enc_begin(&e, buf, sizeof(buf), "D", "S", NULL, 1, 0);
	T_EQ_INT(e.status, FIX_E_BAD_VALUE);
	fix_enc_begin(&e, buf, sizeof(buf), "D", "S", "T", 1, -INT64_C(62167219200001));
	T_EQ_INT(e.status, FIX_E_BAD_VALUE);
}

static const char *encode_er(struct fix_enc *e, char *buf, size_t cap, size_t *len)
{
	fix_enc_begin(e, buf, cap, "8", "BETA_EXCHANGE", "CLIENT0001", 12345,
		      INT64_C(1795887000123));
	fix_enc_cstr(e, 37, "ORD-000000123");
	fix_enc_cstr(e, 11, "CL-7");
	fix_enc_cstr(e, 17, "EXEC-1");
	fix_enc_char(e, 150, 'F');
	fix_enc_char(e, 39, '2');
	fix_enc_cstr(e, 55, "EUR/USD");
	fix_enc_char(e, 54, '1');
	fix_enc_int(e, 38, 1000000);
	fix_enc_cstr(e, 44, "1.08345");
	fix_enc_int(e, 32, 1000000);
	fix_enc_cstr(e, 31, "1.08345");
	fix_enc_int(e, 151, 0);
	fix_enc_int(e, 14, 1000000);
	fix_enc_cstr(e, 6, "1.08345");
	fix_enc_time(e, 60, INT64_C(1795887000120));
	fix_enc_int(e, 453, 2);
	fix_enc_cstr(e, 448, "A");
	fix_enc_char(e, 447, 'D');
	fix_enc_int(e, 452, 1);
	fix_enc_cstr(e, 448, "B");
	fix_enc_char(e, 447, 'D');
	fix_enc_int(e, 452, 3);
	return fix_enc_finish(e, len);
}

static void test_encode_buffer_full(void)
{
	char big[512];
	struct fix_enc e;
	size_t need;
	const char *f = encode_er(&e, big, sizeof(big), &need);
	T_OK(f != NULL);
	size_t used = (size_t)(f - big) + need; /* bytes of buf actually written */
	for (size_t cap = 0; cap < used; cap++) {
		char buf[600];
		memset(buf, '#', sizeof(buf));
		size_t len = 1;
		const char *r = encode_er(&e, buf, cap, &len);
		if (r != NULL || e.status != FIX_E_BUFFER_FULL || len != 0)
			T_FAIL("cap %zu: status %d", cap, e.status);
		for (size_t i = cap; i < sizeof(buf); i++) {
			if (buf[i] != '#') {
				T_FAIL("cap %zu: wrote at %zu", cap, i);
				break;
			}
		}
	}
	char exact[512];
	size_t len;
	T_OK(encode_er(&e, exact, used, &len) != NULL);
	T_EQ_MEM(exact + (f - big), len, f, need);
	fix_enc_begin(&e, NULL, 100, "0", "S", "T", 1, 0);
	T_EQ_INT(e.status, FIX_E_BUFFER_FULL);
}

static void test_round_trip(void)
{
	char buf[512];
	struct fix_enc e;
	size_t len, fl;
	const char *f = encode_er(&e, buf, sizeof(buf), &len);
	T_OK(f != NULL);
	T_EQ_INT(fix_frame(f, len, 0, &fl), FIX_OK);
	T_EQ_INT(fl, len);
	struct fix_field fields[NF];
	struct fix_msg m;
	fix_msg_init(&m, fields, NF);
	T_EQ_INT(fix_parse(&m, f, fl), FIX_OK);
	static const struct {
		uint32_t tag;
		const char *val;
	} want[] = {
	    {8, "FIX.4.4"},
	    {9, NULL},
	    {35, "8"},
	    {49, "BETA_EXCHANGE"},
	    {56, "CLIENT0001"},
	    {34, "12345"},
	    {52, "20261128-17:30:00.123"},
	    {37, "ORD-000000123"},
	    {11, "CL-7"},
	    {17, "EXEC-1"},
	    {150, "F"},
	    {39, "2"},
	    {55, "EUR/USD"},
	    {54, "1"},
	    {38, "1000000"},
	    {44, "1.08345"},
	    {32, "1000000"},
	    {31, "1.08345"},
	    {151, "0"},
	    {14, "1000000"},
	    {6, "1.08345"},
	    {60, "20261128-17:30:00.120"},
	    {453, "2"},
	    {448, "A"},
	    {447, "D"},
	    {452, "1"},
	    {448, "B"},
	    {447, "D"},
	    {452, "3"},
	    {10, NULL},
	};
	size_t nw = sizeof(want) / sizeof(want[0]);
	T_EQ_INT(m.nfields, nw);
	for (size_t i = 0; i < nw && i < m.nfields; i++) {
		T_EQ_INT(m.fields[i].tag, want[i].tag);
		if (want[i].val)
			T_EQ_MEM(f + m.fields[i].off, m.fields[i].len, want[i].val,
				 strlen(want[i].val));
	}
	char tmp[8];
	snprintf(tmp, sizeof(tmp), "%zu", len - 7 - (m.fields[1].off + m.fields[1].len + 1));
	T_EQ_MEM(f + m.fields[1].off, m.fields[1].len, tmp, strlen(tmp));
	if (m.nfields == nw)
		T_EQ_INT(m.fields[nw - 1].off, len - 4);
	T_OK(fix_msg_is(&m, "8"));
	T_EQ_INT(m.seq_num, 12345);
	T_EQ_INT(m.poss_dup, 0);
	int64_t t;
	size_t vl;
	const char *v = fix_msg_get(&m, 60, &vl);
	T_EQ_INT(fix_parse_time(v, vl, &t), FIX_OK);
	T_EQ_INT(t, INT64_C(1795887000120));
}

/* ----------------------------------------------------------------- framer */

static size_t sample(char *out, size_t cap, int seq)
{
	char body[256];
	snprintf(body, sizeof(body),
		 "35=0|49=BETA_EXCHANGE|56=CLIENT0001|34=%d|52=20261128-17:30:00.123|112=T%d|", seq,
		 seq);
	return ref_frame(out, cap, "FIX.4.4", body);
}

static void test_frame_partial(void)
{
	char f[256];
	size_t n = sample(f, sizeof(f), 1), fl;
	for (size_t k = 0; k < n; k++) {
		fl = 77;
		int st = fix_frame(f, k, 0, &fl);
		if (st != FIX_E_NEED_MORE || fl != 0)
			T_FAIL("prefix %zu: status %d, frame_len %zu", k, st, fl);
	}
	T_EQ_INT(fix_frame(f, n, 0, &fl), FIX_OK);
	T_EQ_INT(fl, n);
}

static void test_frame_several(void)
{
	char s[1024];
	size_t lens[3], off = 0;
	for (int i = 0; i < 3; i++) {
		lens[i] = sample(s + off, sizeof(s) - off, i + 1);
		off += lens[i];
	}
	/* Two frames, then three, each coming out whole and in order. */
	for (int count = 2; count <= 3; count++) {
		size_t total = 0, pos = 0, fl;
		for (int i = 0; i < count; i++)
			total += lens[i];
		for (int i = 0; i < count; i++) {
			T_EQ_INT(fix_frame(s + pos, total - pos, 0, &fl), FIX_OK);
			T_EQ_INT(fl, lens[i]);
			struct fix_field fields[NF];
			struct fix_msg m;
			fix_msg_init(&m, fields, NF);
			T_EQ_INT(fix_parse(&m, s + pos, fl), FIX_OK);
			T_EQ_INT(m.seq_num, i + 1);
			pos += fl;
		}
		T_EQ_INT(pos, total);
		T_EQ_INT(fix_frame(s + pos, 0, 0, &fl), FIX_E_NEED_MORE);
	}
}

static void test_frame_bytewise(void)
{
	char f[256], acc[256];
	size_t n = sample(f, sizeof(f), 9), have = 0, fl = 0;
	int st = FIX_E_NEED_MORE, calls = 0;
	while (st == FIX_E_NEED_MORE && have < n) {
		acc[have] = f[have];
		have++;
		st = fix_frame(acc, have, 0, &fl);
		calls++;
	}
	T_EQ_INT(st, FIX_OK);
	T_EQ_INT(have, n);
	T_EQ_INT(fl, n);
	T_EQ_INT(calls, n);
	T_EQ_MEM(acc, fl, f, n);
}

static void test_frame_body_too_large(void)
{
	char s[] = "8=FIX.4.4|9=999999999|";
	size_t n = pipes(s), fl = 0;
	T_EQ_INT(fix_frame(s, n, 0, &fl), FIX_E_BODY_TOO_LARGE);
	T_OK(fl >= 1 && fl <= n);

	char t[] = "8=FIX.4.4|9=65537|";
	n = pipes(t);
	T_EQ_INT(fix_frame(t, n, 0, &fl), FIX_E_BODY_TOO_LARGE);
	char u[] = "8=FIX.4.4|9=65536|35=0|";
	n = pipes(u);
	T_EQ_INT(fix_frame(u, n, 0, &fl), FIX_E_NEED_MORE);
	T_EQ_INT(fix_frame(u, n, 100, &fl), FIX_E_BODY_TOO_LARGE);
	/* A 10-digit BodyLength is refused even with a huge max. */
	char v[] = "8=FIX.4.4|9=0000000001|";
	n = pipes(v);
	T_EQ_INT(fix_frame(v, n, SIZE_MAX, &fl), FIX_E_BODY_LENGTH);
}

static void test_frame_no_soh_refused_early(void)
{
	size_t n = 1u << 20, fl = 0;
	char *s = malloc(n);
	T_OK(s != NULL);
	if (!s)
		return;
	memcpy(s, "8=FIX.4.4", 9);
	memset(s + 9, 'A', n - 9);
	int st = fix_frame(s, n, 0, &fl);
	T_OK(st < 0);
	T_OK(fl >= 1 && fl <= n);
	/* Already refused with only a few bytes past the bound. */
	T_OK(fix_frame(s, 30, 0, &fl) < 0);
	/* Same for an endless BodyLength. */
	memcpy(s,
	       "8=FIX.4.4\x01"
	       "9=",
	       12);
	memset(s + 12, '1', n - 12);
	T_OK(fix_frame(s, n, SIZE_MAX, &fl) < 0);
	T_OK(fl >= 1 && fl <= n);
	T_OK(fix_frame(s, 30, SIZE_MAX, &fl) < 0);
	free(s);
}

/* Feed a stream and collect the statuses and MsgSeqNums the way a session would. */
static int drain(const char *s, size_t n, int *statuses, uint64_t *seqs, int max)
{
	size_t pos = 0;
	int k = 0;
	while (pos < n && k < max) {
		size_t fl = 0;
		int st = fix_frame(s + pos, n - pos, 0, &fl);
		if (st == FIX_E_NEED_MORE)
			break;
		statuses[k] = st;
		seqs[k] = 0;
		if (st == FIX_OK) {
			struct fix_field fields[NF];
			struct fix_msg m;
			fix_msg_init(&m, fields, NF);
			if (fix_parse(&m, s + pos, fl) == FIX_OK)
				seqs[k] = m.seq_num;
		}
		k++;
		if (fl < 1 || fl > n - pos)
			return -1;
		pos += fl;
	}
	return k;
}

static void test_frame_resync_garbage(void)
{
	char s[1024];
	size_t n = 0;
	n += (size_t)sprintf(s, "garbage 8=FI 8=FIX");
	n += sample(s + n, sizeof(s) - n, 5);
	int st[8];
	uint64_t seq[8];
	int k = drain(s, n, st, seq, 8);
	T_OK(k >= 2);
	for (int i = 0; i + 1 < k; i++)
		T_OK(st[i] < 0);
	T_EQ_INT(st[k - 1], FIX_OK);
	T_EQ_INT(seq[k - 1], 5);

	/* Garbage ending in a partial "8=FI" keeps that partial start. */
	char g[] = "xxxxx8=FI";
	size_t fl;
	T_EQ_INT(fix_frame(g, strlen(g), 0, &fl), FIX_E_BEGIN_STRING);
	T_EQ_INT(fl, 5);
	T_EQ_INT(fix_frame(g + 5, 4, 0, &fl), FIX_E_NEED_MORE);
	char h[] = "xyz";
	T_EQ_INT(fix_frame(h, 3, 0, &fl), FIX_E_BEGIN_STRING);
	T_EQ_INT(fl, 3);
}

static void test_frame_bad_checksum_dropped_as_unit(void)
{
	char s[1024];
	size_t a = sample(s, sizeof(s), 1);
	s[a - 2] = s[a - 2] == '0' ? '1' : '0';
	size_t b = sample(s + a, sizeof(s) - a, 2);
	size_t fl;
	T_EQ_INT(fix_frame(s, a + b, 0, &fl), FIX_E_CHECKSUM);
	T_EQ_INT(fl, a);
	T_EQ_INT(fix_frame(s + a, b, 0, &fl), FIX_OK);
	T_EQ_INT(fl, b);

	/* A non-digit checksum is also one dropped frame. */
	size_t c = sample(s, sizeof(s), 3);
	s[c - 3] = 'x';
	T_EQ_INT(fix_frame(s, c, 0, &fl), FIX_E_CHECKSUM);
	T_EQ_INT(fl, c);
}

static void test_frame_wrong_body_length_resyncs(void)
{
	char s[1024];
	size_t a = sample(s, sizeof(s), 1);
	/* BodyLength one too small: 10= is not where it says. */
	char *nine = strstr(s, SOH_S "9=") + 3;
	nine[1]--;
	size_t b = sample(s + a, sizeof(s) - a, 2);
	int st[8];
	uint64_t seq[8];
	int k = drain(s, a + b, st, seq, 8);
	T_EQ_INT(k, 2);
	T_EQ_INT(st[0], FIX_E_BODY_LENGTH);
	T_EQ_INT(st[1], FIX_OK);
	T_EQ_INT(seq[1], 2);
}

/* ----------------------------------------------------------------- parser */

static void test_parse_bad_begin_string(void)
{
	char f[512];
	size_t n =
	    ref_frame(f, sizeof(f), "FIX.4.2", "35=0|49=S|56=T|34=1|52=20261128-17:30:00.123|");
	struct fix_field fl[NF];
	struct fix_msg m;
	fix_msg_init(&m, fl, NF);
	T_EQ_INT(fix_parse(&m, f, n), FIX_E_BEGIN_STRING);
	n = ref_frame(f, sizeof(f), "FIX.4.44", "35=0|49=S|56=T|34=1|52=20261128-17:30:00.123|");
	T_EQ_INT(fix_parse(&m, f, n), FIX_E_BEGIN_STRING);
	T_EQ_INT(fix_parse(&m, "9=5", 3), FIX_E_BEGIN_STRING);
	T_EQ_INT(fix_parse(&m, NULL, 0), FIX_E_BEGIN_STRING);
}

/* fix_parse_any_version: the same index under FIXT.1.1 (field 0 is the
 * version), the same checks, and no more than the framer takes. */
static void test_parse_any_version(void)
{
	char f[512];
	size_t n = ref_frame(f, sizeof(f), "FIXT.1.1",
			     "35=W|49=TRADING_CORE|56=7|34=3|52=20261128-17:30:00.123|55=EURUSD|");
	struct fix_field fl[NF];
	struct fix_msg m;
	fix_msg_init(&m, fl, NF);
	T_EQ_INT(fix_parse(&m, f, n), FIX_E_BEGIN_STRING);
	T_EQ_INT(fix_parse_any_version(&m, f, n), FIX_OK);
	T_EQ_INT(m.nfields, 9);
	T_EQ_INT(fl[0].tag, 8);
	T_EQ_MEM(f + fl[0].off, fl[0].len, "FIXT.1.1", 8);
	T_EQ_INT(fl[1].tag, 9);
	T_EQ_MEM(f + fl[1].off, fl[1].len, "66", 2);
	T_OK(fix_msg_is(&m, "W"));
	T_EQ_INT(m.seq_num, 3);
	size_t len;
	const char *v = fix_msg_get(&m, 55, &len);
	T_EQ_MEM(v, len, "EURUSD", 6);
	/* FIX.4.4 parses alike through both */
	n = ref_frame(f, sizeof(f), "FIX.4.4", "35=0|49=S|56=T|34=1|52=20261128-17:30:00.123|");
	T_EQ_INT(fix_parse_any_version(&m, f, n), FIX_OK);
	T_EQ_MEM(f + fl[0].off, fl[0].len, "FIX.4.4", 7);
	/* the other checks stay: CheckSum, a version longer than 16 */
	n = ref_frame(f, sizeof(f), "FIXT.1.1", "35=0|49=S|56=T|34=1|52=20261128-17:30:00.123|");
	f[n - 2] = f[n - 2] == '0' ? '1' : '0';
	T_EQ_INT(fix_parse_any_version(&m, f, n), FIX_E_CHECKSUM);
	n = ref_frame(f, sizeof(f), "FIXT.1.1.2.3.4.5.6",
		      "35=0|49=S|56=T|34=1|52=20261128-17:30:00.123|");
	T_EQ_INT(fix_parse_any_version(&m, f, n), FIX_E_BEGIN_STRING);
	T_EQ_INT(fix_parse_any_version(&m, "8=FIX", 5), FIX_E_BEGIN_STRING);
	T_EQ_INT(fix_parse_any_version(&m, "8=XYZ\0019=0\00110=000\001", 17), FIX_E_BEGIN_STRING);
	T_EQ_INT(fix_parse_any_version(&m, NULL, 0), FIX_E_BEGIN_STRING);
}

static void test_parse_body_length_mismatch(void)
{
	char f[512];
	size_t n =
	    ref_frame(f, sizeof(f), "FIX.4.4", "35=0|49=S|56=T|34=1|52=20261128-17:30:00.123|");
	struct fix_field fl[NF];
	struct fix_msg m;
	fix_msg_init(&m, fl, NF);
	T_EQ_INT(fix_parse(&m, f, n), FIX_OK);
	char *nine = f + 12; /* "9=NN" value */
	nine[1]++;
	fix_sum(f, n);
	T_EQ_INT(fix_parse(&m, f, n), FIX_E_BODY_LENGTH);
	nine[1] = 'x';
	fix_sum(f, n);
	T_EQ_INT(fix_parse(&m, f, n), FIX_E_BODY_LENGTH);
	char g[] = "8=FIX.4.4|9=|35=0|10=000|";
	T_EQ_INT(fix_parse(&m, g, pipes(g)), FIX_E_BODY_LENGTH);
	char h[] = "8=FIX.4.4|35=0|9=5|10=000|";
	T_EQ_INT(fix_parse(&m, h, pipes(h)), FIX_E_BODY_LENGTH);
}

static void test_parse_bad_checksum(void)
{
	char f[512];
	size_t n =
	    ref_frame(f, sizeof(f), "FIX.4.4", "35=0|49=S|56=T|34=1|52=20261128-17:30:00.123|");
	struct fix_field fl[NF];
	struct fix_msg m;
	fix_msg_init(&m, fl, NF);
	f[n - 2] = f[n - 2] == '9' ? '8' : '9';
	T_EQ_INT(fix_parse(&m, f, n), FIX_E_CHECKSUM);
	f[n - 2] = 'Z';
	T_EQ_INT(fix_parse(&m, f, n), FIX_E_CHECKSUM);
	/* A body byte changed but the sum left alone. */
	n = ref_frame(f, sizeof(f), "FIX.4.4", "35=0|49=S|56=T|34=1|52=20261128-17:30:00.123|");
	f[20] ^= 1;
	T_EQ_INT(fix_parse(&m, f, n), FIX_E_CHECKSUM);
}

static void test_parse_tag_syntax(void)
{
	char b[512];
	static const char *bad[] = {"1A=x|", "A1=x|", "058=x|", "0=x|",         "58x|",
				    "58|",   "=x|",   "|",      "1234567890=x|"};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(b, sizeof(b), "%s%s", HDR, bad[i]);
		int st = parse_status(b);
		if (st != FIX_E_TAG_SYNTAX)
			T_FAIL("\"%s\": got %d", bad[i], st);
	}
	snprintf(b, sizeof(b), "%s123456789=x|", HDR);
	T_EQ_INT(parse_status(b), FIX_OK);
}

static void test_parse_empty_value(void)
{
	char b[512];
	snprintf(b, sizeof(b), "%s58=|", HDR);
	T_EQ_INT(parse_status(b), FIX_E_EMPTY_VALUE);
	T_EQ_INT(parse_status("35=|49=S|56=T|34=1|52=20261128-17:30:00.123|"), FIX_E_EMPTY_VALUE);
}

static void test_parse_missing_header(void)
{
	static const char *bad[] = {
	    "49=S|56=T|34=1|52=20261128-17:30:00.123|",      /* no 35 */
	    "35=0|56=T|34=1|52=20261128-17:30:00.123|",      /* no 49 */
	    "35=0|49=S|34=1|52=20261128-17:30:00.123|",      /* no 56 */
	    "35=0|49=S|56=T|52=20261128-17:30:00.123|",      /* no 34 */
	    "35=0|49=S|56=T|34=1|",                          /* no 52 */
	    "49=S|35=0|56=T|34=1|52=20261128-17:30:00.123|", /* 35 not third */
	    "",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int st = parse_status(bad[i]);
		if (st != FIX_E_MISSING_HEADER)
			T_FAIL("\"%s\": got %d", bad[i], st);
	}
	/* 49/56/34/52 may come in any order, after other header fields too. */
	T_EQ_INT(parse_status("35=0|52=20261128-17:30:00.123|43=Y|34=1|56=T|49=S|"), FIX_OK);
}

static void test_parse_framing_tags_in_body(void)
{
	char b[512];
	static const char *bad[] = {"8=FIX.4.4|", "9=5|", "10=000|"};
	for (size_t i = 0; i < 3; i++) {
		snprintf(b, sizeof(b), "%s%s58=x|", HDR, bad[i]);
		T_EQ_INT(parse_status(b), FIX_E_FIELD_ORDER);
	}
}

static void test_parse_too_many_fields(void)
{
	struct fix_field fl[NF];
	struct fix_msg m;
	/* 8, 9, 5 header fields, 10 = 8 entries. */
	T_EQ_INT(parse_body(HDR, &m, fl, 8), FIX_OK);
	T_EQ_INT(m.nfields, 8);
	T_EQ_INT(parse_body(HDR, &m, fl, 7), FIX_E_TOO_MANY_FIELDS);
	T_EQ_INT(parse_body(HDR, &m, fl, 2), FIX_E_TOO_MANY_FIELDS);
	T_EQ_INT(parse_body(HDR, &m, NULL, 0), FIX_E_TOO_MANY_FIELDS);
	char b[4096];
	size_t n = (size_t)snprintf(b, sizeof(b), "%s", HDR);
	for (int i = 0; i < 100; i++)
		n += (size_t)snprintf(b + n, sizeof(b) - n, "58=%d|", i);
	T_EQ_INT(parse_body(b, &m, fl, NF), FIX_E_TOO_MANY_FIELDS);
	T_EQ_INT(m.nfields, NF - 1);
}

static void test_parse_repeating_group_order(void)
{
	char f[1024];
	size_t n = ref_frame(f, sizeof(f), "FIX.4.4",
			     "35=8|49=S|56=T|34=3|52=20261128-17:30:00.123|453=3|448=P1|447=D|"
			     "452=1|448=P2|447=D|452=3|448=P3|447=B|452=11|58=done|");
	struct fix_field fl[NF];
	struct fix_msg m;
	fix_msg_init(&m, fl, NF);
	T_EQ_INT(fix_parse(&m, f, n), FIX_OK);
	static const uint32_t tags[] = {8,   9,   35,  49,  56,  34,  52,  453, 448, 447,
					452, 448, 447, 452, 448, 447, 452, 58,  10};
	static const char *vals[] = {"P1", "D", "1", "P2", "D", "3", "P3", "B", "11"};
	T_EQ_INT(m.nfields, sizeof(tags) / sizeof(tags[0]));
	for (size_t i = 0; i < m.nfields && i < sizeof(tags) / sizeof(tags[0]); i++)
		T_EQ_INT(m.fields[i].tag, tags[i]);
	for (size_t i = 0; i < 9; i++)
		T_EQ_MEM(f + m.fields[8 + i].off, m.fields[8 + i].len, vals[i], strlen(vals[i]));
	/* find returns the first of the duplicates. */
	T_OK(fix_msg_find(&m, 448) == &m.fields[8]);
}

static void test_parse_getters(void)
{
	char f[1024];
	size_t n = ref_frame(f, sizeof(f), "FIX.4.4",
			     "35=BF|49=BETA_EXCHANGE|56=C1|34=42|43=Y|52=20261128-17:30:00.123|"
			     "122=20261128-17:29:00.000|923=r1|926=4|927=password incorrect|"
			     "38=18446744073709551615|39=18446744073709551616|40=1x|");
	struct fix_field fl[NF];
	struct fix_msg m;
	fix_msg_init(&m, fl, NF);
	T_EQ_INT(fix_parse(&m, f, n), FIX_OK);
	T_OK(fix_msg_is(&m, "BF"));
	T_OK(!fix_msg_is(&m, "B"));
	T_OK(!fix_msg_is(&m, "BFX"));
	T_EQ_MEM(m.msg_type, m.msg_type_len, "BF", 2);
	T_EQ_INT(m.seq_num, 42);
	T_EQ_INT(m.poss_dup, 1);
	size_t len = 0;
	const char *v = fix_msg_get(&m, 927, &len);
	T_EQ_MEM(v, len, "password incorrect", 18);
	T_OK(fix_msg_get(&m, 554, &len) == NULL);
	T_OK(fix_msg_find(&m, 554) == NULL);
	uint64_t u = 0;
	T_EQ_INT(fix_msg_get_u64(&m, 926, &u), FIX_OK);
	T_EQ_INT(u, 4);
	T_EQ_INT(fix_msg_get_u64(&m, 38, &u), FIX_OK);
	T_OK(u == UINT64_MAX);
	T_EQ_INT(fix_msg_get_u64(&m, 39, &u), FIX_E_BAD_VALUE);
	T_EQ_INT(fix_msg_get_u64(&m, 40, &u), FIX_E_BAD_VALUE);
	T_EQ_INT(fix_msg_get_u64(&m, 927, &u), FIX_E_BAD_VALUE);
	T_EQ_INT(fix_msg_get_u64(&m, 554, &u), FIX_E_BAD_VALUE);
	T_EQ_INT(fix_msg_get_u64(&m, 10, &u), FIX_OK);
	T_EQ_INT(u, ref_sum(f, n - 7));

	/* 43=N, and a non-numeric 34. */
	n = ref_frame(f, sizeof(f), "FIX.4.4",
		      "35=0|49=S|56=T|34=1|43=N|52=20261128-17:30:00.123|");
	T_EQ_INT(fix_parse(&m, f, n), FIX_OK);
	T_EQ_INT(m.poss_dup, 0);
	/* Duplicates are kept; the cached header value is the first one. */
	n = ref_frame(f, sizeof(f), "FIX.4.4",
		      "35=0|49=S|56=T|34=5|43=Y|52=20261128-17:30:00.123|34=9|43=N|");
	T_EQ_INT(fix_parse(&m, f, n), FIX_OK);
	T_EQ_INT(m.seq_num, 5);
	T_EQ_INT(m.poss_dup, 1);
	T_EQ_INT(m.nfields, 11);
	n = ref_frame(f, sizeof(f), "FIX.4.4", "35=0|49=S|56=T|34=1a|52=20261128-17:30:00.123|");
	T_EQ_INT(fix_parse(&m, f, n), FIX_E_BAD_VALUE);
	/* After an error the index built so far is still usable for a Reject. */
	n = ref_frame(f, sizeof(f), "FIX.4.4",
		      "35=D|49=S|56=T|34=77|52=20261128-17:30:00.123|1A=2|");
	T_EQ_INT(fix_parse(&m, f, n), FIX_E_TAG_SYNTAX);
	T_OK(fix_msg_is(&m, "D"));
	T_EQ_INT(m.seq_num, 77);
}

static void test_strerror(void)
{
	T_EQ_STR(fix_strerror(FIX_E_CHECKSUM), "checksum mismatch");
	T_EQ_STR(fix_strerror(FIX_E_BODY_TOO_LARGE), "BodyLength above maximum");
	for (int s = FIX_E_FIELD_ORDER; s <= FIX_E_NEED_MORE; s++) {
		for (int t = s + 1; t <= FIX_E_NEED_MORE; t++) {
			if (strcmp(fix_strerror(s), fix_strerror(t)) == 0)
				T_FAIL("%d and %d share \"%s\"", s, t, fix_strerror(s));
		}
	}
	T_EQ_STR(fix_strerror(12345), "unknown FIX status");
}

/* ------------------------------------------------------------- robustness */

/* fix_frame_parse on b[0..n) gives what fix_frame then fix_parse give: status,
 * frame length and, when framed, the same index and header values. */
static int decode_matches(const char *b, size_t n, size_t max_body)
{
	struct fix_field f1[NF], f2[NF];
	struct fix_msg m1, m2;
	size_t fl1 = 777, fl2 = 999;
	fix_msg_init(&m1, f1, NF);
	fix_msg_init(&m2, f2, NF);
	int want = fix_frame(b, n, max_body, &fl1);
	if (want == FIX_OK)
		want = fix_parse(&m1, b, fl1);
	int got = fix_frame_parse(&m2, b, n, max_body, &fl2);
	if (got != want || fl1 != fl2)
		return 0;
	if (want == FIX_E_CHECKSUM || fl1 == 0 || want == FIX_E_NEED_MORE)
		return 1;
	if (m1.nfields != m2.nfields || m1.seq_num != m2.seq_num || m1.poss_dup != m2.poss_dup ||
	    m1.msg_type != m2.msg_type || m1.msg_type_len != m2.msg_type_len)
		return 0;
	for (size_t i = 0; i < m1.nfields && i < NF; i++) {
		if (f1[i].tag != f2[i].tag || f1[i].off != f2[i].off || f1[i].len != f2[i].len)
			return 0;
	}
	return 1;
}

/* One check of every framer/parser invariant; the copy has exactly n bytes so
 * that ASan sees any read past the end. */
static int probe(const char *src, size_t n)
{
	char *b = malloc(n ? n : 1);
	if (!b)
		return 0;
	memcpy(b, src, n);
	int ok = 1;
	size_t maxes[] = {0, 40, SIZE_MAX};
	for (size_t i = 0; i < 3; i++) {
		size_t fl = 12345;
		int st = fix_frame(b, n, maxes[i], &fl);
		if (st == FIX_E_NEED_MORE)
			ok &= fl == 0;
		else if (st == FIX_OK)
			ok &= fl >= 1 && fl <= n;
		else
			ok &= st < 0 && fl >= 1 && fl <= n;
		if (st == FIX_OK) {
			struct fix_field fields[NF];
			struct fix_msg m;
			fix_msg_init(&m, fields, NF);
			ok &= fix_parse(&m, b, fl) <= FIX_OK;
		}
		ok &= decode_matches(b, n, maxes[i]);
	}
	struct fix_field fields[8];
	struct fix_msg m;
	fix_msg_init(&m, fields, 8);
	int st = fix_parse(&m, b, n);
	ok &= st <= FIX_OK && m.nfields <= 8;
	if (st == FIX_OK)
		ok &= m.msg_type != NULL;
	free(b);
	return ok;
}

static void test_robust_mutations(void)
{
	char f[512];
	size_t n = ref_frame(f, sizeof(f), "FIX.4.4",
			     "35=D|49=CLIENT0001|56=BETA_EXCHANGE|34=7|43=Y|"
			     "52=20261128-17:30:00.123|11=a|453=1|448=X|");
	static const char vals[] = {'\0', '\x01', '=', '0',    '1',   '9',
				    'A',  '8',    '|', '\x7f', '\xff'};
	int bad = 0;
	for (size_t pos = 0; pos < n; pos++) {
		for (size_t v = 0; v < sizeof(vals); v++) {
			char g[512];
			memcpy(g, f, n);
			g[pos] = vals[v];
			bad += !probe(g, n);
			fix_sum(g, n); /* reach the checks behind the checksum too */
			bad += !probe(g, n);
		}
	}
	for (size_t k = 0; k <= n; k++)
		bad += !probe(f, k);
	T_EQ_INT(bad, 0);
}

/* The one-pass decode sums and indexes 64 bytes at a time: frames of every
 * length around the block edges, good, with one body byte changed (sum
 * wrong), and with that byte made a tag error with the sum right again,
 * behave exactly like fix_frame + fix_parse, on exact-size copies. */
static void test_decode_is_frame_then_parse(void)
{
	int bad = 0, ok_frames = 0;
	for (size_t extra = 0; extra < 200; extra++) {
		char body[512], f[640];
		int k = snprintf(body, sizeof(body), "%s58=", HDR);
		for (size_t i = 0; i < extra + 1; i++)
			body[k++] = (char)('a' + i % 26);
		snprintf(body + k, sizeof(body) - (size_t)k, "|");
		size_t n = ref_frame(f, sizeof(f), "FIX.4.4", body);
		char *b = malloc(n);
		T_OK(b != NULL);
		if (!b)
			return;
		memcpy(b, f, n);
		struct fix_field fl[NF];
		struct fix_msg m;
		size_t flen = 0;
		fix_msg_init(&m, fl, NF);
		ok_frames += fix_frame_parse(&m, b, n, 0, &flen) == FIX_OK && flen == n &&
			     m.nfields == 9 && fix_msg_is(&m, "D") && m.seq_num == 7;
		for (size_t k2 = 0; k2 <= n; k2 += 7)
			bad += !decode_matches(b, k2, 0);
		size_t pos = n - 9; /* the last value byte: in the last block */
		b[pos] ^= 1;
		bad += !decode_matches(b, n, 0);
		b[pos] ^= 1;
		b[n - 9 - extra] = '\x01'; /* "58=" then SOH: an empty value */
		fix_sum(b, n);
		bad += !decode_matches(b, n, 0);
		struct fix_msg m2;
		fix_msg_init(&m2, fl, NF);
		bad += fix_frame_parse(&m2, b, n, 0, &flen) != FIX_E_EMPTY_VALUE;
		b[n - 2] = b[n - 2] == '0' ? '1' : '0'; /* and now the sum is wrong too */
		bad += fix_frame_parse(&m2, b, n, 0, &flen) != FIX_E_CHECKSUM || flen != n;
		free(b);
	}
	T_EQ_INT(bad, 0);
	T_EQ_INT(ok_frames, 200);
}

static void test_robust_random_stream(void)
{
	/* Random splices of frames and noise, drained like a session does. */
	char frames[3][256];
	size_t fl[3];
	for (int i = 0; i < 3; i++)
		fl[i] = sample(frames[i], sizeof(frames[i]), i + 1);
	uint32_t x = 12345;
	int bad = 0;
	for (int iter = 0; iter < 2000; iter++) {
		size_t n = 0;
		char s[2048];
		while (n < 1500) {
			x = x * 1103515245u + 12345u;
			uint32_t r = x >> 8;
			if (r % 3 == 0) {
				size_t k = r / 3 % 3;
				memcpy(s + n, frames[k], fl[k]);
				if (r % 7 == 0)
					s[n + (r / 7) % fl[k]] ^= (char)(1 + r % 200);
				n += fl[k];
			} else {
				size_t k = r % 20;
				for (size_t i = 0; i < k; i++)
					s[n + i] = "8=FIX.4.4\x01"
						   "9=10="[(r >> 4) % 14 + i % 2];
				n += k;
			}
		}
		char *b = malloc(n);
		if (!b)
			continue;
		memcpy(b, s, n);
		int st[2048];
		uint64_t seq[2048];
		bad += drain(b, n, st, seq, 2048) < 0;
		free(b);
	}
	T_EQ_INT(bad, 0);
}

int main(void)
{
	T_RUN(test_encode_logon_exact);
	T_RUN(test_published_vector);
	T_RUN(test_format_time_known);
	T_RUN(test_time_round_trip);
	T_RUN(test_parse_time_valid);
	T_RUN(test_parse_time_invalid);
	T_RUN(test_encode_field_types);
	T_RUN(test_encode_int_boundaries);
	T_RUN(test_tags_of_every_length);
	T_RUN(test_encode_refuses_bad_values);
	T_RUN(test_encode_buffer_full);
	T_RUN(test_round_trip);
	T_RUN(test_frame_partial);
	T_RUN(test_frame_several);
	T_RUN(test_frame_bytewise);
	T_RUN(test_frame_body_too_large);
	T_RUN(test_frame_no_soh_refused_early);
	T_RUN(test_frame_resync_garbage);
	T_RUN(test_frame_bad_checksum_dropped_as_unit);
	T_RUN(test_frame_wrong_body_length_resyncs);
	T_RUN(test_parse_bad_begin_string);
	T_RUN(test_parse_any_version);
	T_RUN(test_parse_body_length_mismatch);
	T_RUN(test_parse_bad_checksum);
	T_RUN(test_parse_tag_syntax);
	T_RUN(test_parse_empty_value);
	T_RUN(test_parse_missing_header);
	T_RUN(test_parse_framing_tags_in_body);
	T_RUN(test_parse_too_many_fields);
	T_RUN(test_parse_repeating_group_order);
	T_RUN(test_parse_getters);
	T_RUN(test_strerror);
	T_RUN(test_robust_mutations);
	T_RUN(test_robust_random_stream);
	T_RUN(test_decode_is_frame_then_parse);
	return T_END();
}
