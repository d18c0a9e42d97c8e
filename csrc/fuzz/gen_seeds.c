/* Writes the seed corpora of the fuzz targets: real conversations for
 * fuzz_session in the script language of fuzz_session.h (Logon, Logon ack,
 * UserRequest/UserResponse, heartbeats, test requests, resend requests,
 * sequence resets, application messages, logouts, in both roles), plus each
 * malformed frame kind; FIX streams and timestamps for fuzz_codec; status
 * and body pairs for fuzz_http. Usage: fuzz_gen_seeds <corpus dir>. Frames
 * are built here byte by byte (BodyLength and CheckSum computed locally) so
 * the seeds do not depend on the encoder under test. */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fix_codec.h"
#include "fuzz_session.h"

#define SEED_MAX 65536

struct seed {
	uint8_t d[SEED_MAX];
	size_t n;
	int64_t now;     /* the target's clock, replayed from the time steps */
	uint64_t in_seq; /* next MsgSeqNum the peer sends (for raw frames) */
};

static const char *g_root;
static int g_count;

static void put(struct seed *s, const void *p, size_t n)
{
	if (s->n + n > SEED_MAX) {
		fprintf(stderr, "gen_seeds: seed too large\n");
		exit(1);
	}
	memcpy(s->d + s->n, p, n);
	s->n += n;
}

static void put1(struct seed *s, unsigned b)
{
	uint8_t c = (uint8_t)b;
	put(s, &c, 1);
}

static void put2(struct seed *s, size_t v)
{
	put1(s, v & 0xff);
	put1(s, v >> 8 & 0xff);
}

/* Replace '|' by SOH in a copy; returns its length. */
static size_t soh(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);
	if (n >= cap)
		n = cap - 1;
	for (size_t i = 0; i < n; i++)
		dst[i] = src[i] == '|' ? FIX_SOH : src[i];
	dst[n] = '\0';
	return n;
}

/* A whole frame around body ('|' as SOH). */
static size_t frame(char *out, size_t cap, const char *body)
{
	char b[8192];
	size_t bl = soh(b, sizeof(b), body);
	int h = snprintf(out, cap,
			 "8=FIX.4.4\x01"
			 "9=%zu\x01",
			 bl);
	memcpy(out + h, b, bl);
	unsigned sum = 0;
	for (size_t i = 0; i < (size_t)h + bl; i++)
		sum += (unsigned char)out[i];
	int t = snprintf(out + h + bl, cap - (size_t)h - bl, "10=%03u\x01", sum % 256);
	return (size_t)h + bl + (size_t)t;
}

static void mkdir_p(const char *dir)
{
	if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "gen_seeds: mkdir %s: %s\n", dir, strerror(errno));
		exit(1);
	}
}

static void write_file(const char *target, const char *name, const void *p, size_t n)
{
	char path[1024];
	snprintf(path, sizeof(path), "%s/%s", g_root, target);
	mkdir_p(path);
	snprintf(path, sizeof(path), "%s/%s/%s", g_root, target, name);
	FILE *f = fopen(path, "wb");
	if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		fprintf(stderr, "gen_seeds: write %s failed\n", path);
		exit(1);
	}
	g_count++;
}

/* ------------------------------------------------------- session scripts */

static void begin(struct seed *s, unsigned cfg, unsigned seqb)
{
	s->n = 0;
	s->now = FZ_T0;
	s->in_seq = 1 + (seqb >> 3 & 7);
	put1(s, cfg);
	put1(s, seqb);
}

static void op(struct seed *s, unsigned step, unsigned code)
{
	put1(s, step << 4 | code);
	s->now += fz_time_steps[step];
}

static unsigned type_index(const char *t)
{
	for (unsigned i = 0; i < 16; i++)
		if (!strcmp(fz_msg_types[i], t))
			return i;
	fprintf(stderr, "gen_seeds: no type %s\n", t);
	exit(1);
}

/* A message from the peer with a correct header written by the target;
 * seq_off is relative to the session's next expected number. */
static void msg(struct seed *s, unsigned step, const char *type, int seq_off, unsigned flags,
		const char *body)
{
	char b[512];
	size_t bl = soh(b, sizeof(b), body);
	op(s, step, FZ_OP_FEED_MSG);
	put1(s, type_index(type));
	put1(s, (unsigned)(seq_off & 0xff));
	put1(s, flags);
	put1(s, bl);
	put(s, b, bl);
}

/* A raw frame with a body after the standard header from the peer. */
static void raw_frame(struct seed *s, unsigned step, const char *type, const char *peer,
		      const char *us, const char *rest)
{
	char body[4096], f[8192], ts[22];
	fix_format_time(s->now + fz_time_steps[step], ts);
	snprintf(body, sizeof(body), "35=%s|49=%s|56=%s|34=%llu|52=%s|%s", type, peer, us,
		 (unsigned long long)s->in_seq, ts, rest);
	size_t n = frame(f, sizeof(f), body);
	op(s, step, FZ_OP_FEED_RAW);
	put2(s, n);
	put(s, f, n);
}

static void raw(struct seed *s, unsigned step, const char *bytes, size_t n)
{
	op(s, step, FZ_OP_FEED_RAW);
	put2(s, n);
	put(s, bytes, n);
}

static void save(struct seed *s, const char *name)
{
	write_file("fuzz_session", name, s->d, s->n);
}

/* Initiator up to Active: Logon ack, UserRequest, UserResponse 926=1. */
static void ini_active(struct seed *s, unsigned cfg)
{
	begin(s, cfg, 0);
	msg(s, 4, "A", 0, 0, "98=0|108=30|");
	op(s, 0, FZ_OP_USER_REQ);
	put1(s, 1);
	msg(s, 4, "BF", 0, 0, "923=REQ1|553=CLIENT0001|926=1|");
}

static void session_seeds(void)
{
	static struct seed s;
	const unsigned T = FZ_CFG_TRACE;

	/* Initiator: the whole happy path and a client-initiated logout. */
	ini_active(&s, T | FZ_CFG_CREDS);
	msg(&s, 5, "0", 0, 0, "");
	msg(&s, 5, "1", 0, 0, "112=TEST7|");
	msg(&s, 5, "8", 0, 0, "37=O1|17=E1|150=0|39=0|55=EURUSD|54=1|");
	op(&s, 0, FZ_OP_SEND);
	put1(&s, type_index("D"));
	put1(&s, 3);
	put2(&s, 11), put1(&s, 4), put(&s, "ORD1", 4);
	put2(&s, 55), put1(&s, 6), put(&s, "EURUSD", 6);
	put2(&s, 38), put1(&s, 3), put(&s, "100", 3);
	msg(&s, 5, "2", 0, 0, "7=1|16=0|");
	msg(&s, 5, "4", 0, 0, "123=Y|36=12|");
	msg(&s, 5, "3", 0, 0, "45=3|371=55|372=D|373=5|58=bad value|");
	op(&s, 0, FZ_OP_LOGOUT);
	put1(&s, 1);
	msg(&s, 5, "5", 0, 0, "58=bye|");
	save(&s, "ini_happy_logout");

	/* Exchange logs us out; we answer. */
	ini_active(&s, 0);
	msg(&s, 6, "5", 0, 0, "58=maintenance|");
	save(&s, "ini_peer_logout");

	/* Logon answered by a Logout; UserResponse refusals. */
	begin(&s, T, 0);
	msg(&s, 4, "5", 0, 0, "58=password incorrect|");
	save(&s, "ini_logon_refused");
	begin(&s, T | FZ_CFG_CREDS, 0);
	msg(&s, 4, "A", 0, 0, "98=0|108=30|");
	op(&s, 0, FZ_OP_USER_REQ);
	put1(&s, 1);
	msg(&s, 4, "BF", 0, 0, "923=REQ1|553=CLIENT0001|926=4|927=password incorrect|");
	save(&s, "ini_bf_refused");

	/* Reset on logon, with store numbers that the reset overrides. */
	begin(&s, FZ_CFG_RESET | T, 0x2d);
	msg(&s, 4, "A", 0, FZ_MSG_ABS_SEQ, "98=0|108=30|141=Y|");
	op(&s, 3, FZ_OP_USER_REQ);
	put1(&s, 1 | 16);
	msg(&s, 4, "BF", 0, 0, "923=REQ1|553=CLIENT0001|926=1|");
	save(&s, "ini_reset");

	/* Timers: heartbeats, TestRequest, heartbeat timeout; logon timeout. */
	ini_active(&s, FZ_CFG_HB1);
	op(&s, 0, FZ_OP_TICK_DUE);
	op(&s, 0, FZ_OP_TICK_DUE);
	msg(&s, 0, "0", 0, 0, "112=TEST1|");
	op(&s, 0, FZ_OP_TICK_DUE);
	op(&s, 0, FZ_OP_TICK_DUE);
	op(&s, 0, FZ_OP_TICK_DUE);
	op(&s, 0, FZ_OP_TICK_DUE);
	save(&s, "ini_heartbeat_timeout");
	begin(&s, 0, 0);
	op(&s, 10, FZ_OP_TICK);
	save(&s, "ini_logon_timeout");
	ini_active(&s, 0);
	op(&s, 0, FZ_OP_LOGOUT);
	put1(&s, 0);
	op(&s, 0, FZ_OP_TICK_DUE);
	save(&s, "ini_logout_timeout");

	/* Sequence gaps: too high (ResendRequest, then the resend with 43=Y),
	 * too low (Logout), too low as a possible duplicate (ignored), a
	 * GapFill and a Reset. */
	ini_active(&s, T);
	msg(&s, 4, "8", 2, 0, "37=O2|17=E2|150=0|39=0|");
	msg(&s, 4, "8", 0, FZ_MSG_POSS_DUP, "37=O1|17=E1|150=0|39=0|");
	msg(&s, 4, "4", 0, FZ_MSG_POSS_DUP, "123=Y|36=6|");
	msg(&s, 4, "8", 0, 0, "37=O3|17=E3|150=0|39=0|");
	msg(&s, 4, "8", -2, FZ_MSG_POSS_DUP, "37=O1|17=E1|150=0|39=0|");
	msg(&s, 4, "4", 0, 0, "36=20|");
	msg(&s, 4, "0", 0, 0, "");
	msg(&s, 4, "8", -3, 0, "37=O1|");
	save(&s, "ini_gaps");

	/* The exchange asks for a resend of app and admin messages. */
	ini_active(&s, T);
	for (int i = 0; i < 3; i++) {
		op(&s, 0, FZ_OP_SEND);
		put1(&s, type_index("D"));
		put1(&s, 2);
		put2(&s, 11), put1(&s, 2), put(&s, "O1", 2);
		put2(&s, 55), put1(&s, 6), put(&s, "EURUSD", 6);
	}
	op(&s, 8, FZ_OP_TICK);
	msg(&s, 4, "2", 0, 0, "7=1|16=0|");
	msg(&s, 4, "2", 3, 0, "7=2|16=4|");
	save(&s, "ini_resend_request");

	/* Wrong CompIDs, SendingTime too old, wrong BeginString, second Logon. */
	ini_active(&s, 0);
	msg(&s, 4, "0", 0, FZ_MSG_WRONG_COMP, "");
	save(&s, "ini_wrong_comp");
	ini_active(&s, 0);
	msg(&s, 4, "0", 0, FZ_MSG_OLD_TIME, "");
	save(&s, "ini_old_time");
	ini_active(&s, 0);
	msg(&s, 4, "A", 0, 0, "98=0|108=30|");
	save(&s, "ini_second_logon");

	/* Output held while a burst queues, then written piecemeal. */
	ini_active(&s, 0);
	op(&s, 0, FZ_OP_HOLD);
	msg(&s, 4, "1", 0, 0, "112=A|");
	msg(&s, 4, "1", 0, 0, "112=B|");
	op(&s, 0, FZ_OP_CONSUME);
	put2(&s, 50);
	op(&s, 0, FZ_OP_CONSUME);
	put2(&s, 5000);
	save(&s, "ini_hold_consume");

	/* Malformed frames of each kind, raw on the wire after the logon. */
	struct {
		const char *name, *bytes;
	} bad[] = {
	    {"bad_checksum", "8=FIX.4.4|9=5|35=0|10=000|"},
	    {"bad_bodylength", "8=FIX.4.4|9=7|35=0|10=161|"},
	    {"bad_begin_string", "8=FIX.4.2|9=5|35=0|10=160|"},
	    {"missing_header", NULL},
	    {"tag_syntax", NULL},
	    {"noise", "hello\x01world 8=FI 8=FIX"},
	    {"body_too_large", "8=FIX.4.4|9=99999999|"},
	};
	for (size_t k = 0; k < sizeof(bad) / sizeof(bad[0]); k++) {
		char f[512], name[64];
		ini_active(&s, T);
		if (bad[k].bytes) {
			size_t n = soh(f, sizeof(f), bad[k].bytes);
			raw(&s, 4, f, n);
		} else if (!strcmp(bad[k].name, "missing_header")) {
			size_t n = frame(f, sizeof(f), "35=0|49=BETA_EXCHANGE|56=CLIENT0001|");
			raw(&s, 4, f, n);
		} else {
			size_t n = frame(f, sizeof(f),
					 "35=0|49=BETA_EXCHANGE|56=CLIENT0001|34=3|52=x|3a=1|");
			raw(&s, 4, f, n);
			n = frame(f, sizeof(f), "35=0|049=X|");
			raw(&s, 0, f, n);
			n = frame(f, sizeof(f), "35=0|58=|");
			raw(&s, 0, f, n);
		}
		s.in_seq = 3;
		raw_frame(&s, 4, "0", FZ_EXCHANGE, FZ_CLIENT, "");
		snprintf(name, sizeof(name), "ini_%s", bad[k].name);
		save(&s, name);
	}

	/* Two frames in one read, and one frame split over two reads. */
	{
		char a[512], b[512], both[1024], ts[22];
		ini_active(&s, 0);
		fix_format_time(s.now + 100, ts);
		char body[256];
		snprintf(body, sizeof(body), "35=0|49=BETA_EXCHANGE|56=CLIENT0001|34=3|52=%s|", ts);
		size_t an = frame(a, sizeof(a), body);
		snprintf(body, sizeof(body),
			 "35=1|49=BETA_EXCHANGE|56=CLIENT0001|34=4|52=%s|112=X|", ts);
		size_t bn = frame(b, sizeof(b), body);
		memcpy(both, a, an);
		memcpy(both + an, b, bn);
		raw(&s, 5, both, an + bn);
		save(&s, "ini_two_frames");
		ini_active(&s, 0);
		raw(&s, 5, a, an / 2);
		raw(&s, 0, a + an / 2, an - an / 2);
		save(&s, "ini_split_frame");
	}

	/* A burst of 70 messages in one read: more events than the queue holds,
	 * so feed takes part of it and the rest after polling. */
	{
		static char burst[SEED_MAX];
		char f[512], body[256], ts[22];
		size_t bn = 0;
		ini_active(&s, 0);
		fix_format_time(s.now + 100, ts);
		for (int k = 0; k < 70; k++) {
			snprintf(body, sizeof(body),
				 "35=8|49=BETA_EXCHANGE|56=CLIENT0001|34=%d|52=%s|37=O%d|", 3 + k,
				 ts, k);
			size_t fl = frame(f, sizeof(f), body);
			memcpy(burst + bn, f, fl);
			bn += fl;
		}
		raw(&s, 5, burst, bn);
		save(&s, "ini_event_burst");

		/* A message with more fields than FIX_SESSION_MAX_FIELDS. */
		static char many[8192];
		int mn = snprintf(many, sizeof(many),
				  "35=8|49=BETA_EXCHANGE|56=CLIENT0001|34=3|52=%s|", ts);
		for (int k = 0; k < 1030 && mn < (int)sizeof(many) - 8; k++)
			mn += snprintf(many + mn, sizeof(many) - (size_t)mn, "1=1|");
		static char mf[8300];
		size_t ml = frame(mf, sizeof(mf), many);
		ini_active(&s, 0);
		raw(&s, 5, mf, ml);
		save(&s, "ini_too_many_fields");
	}

	/* Acceptor: Logon with credentials, accept, UserRequest, UserResponse,
	 * app traffic, the client's Logout. */
	begin(&s, FZ_CFG_ACCEPTOR | T, 0);
	msg(&s, 4, "A", 0, 0, "98=0|108=30|553=CLIENT0001|554=s3cret|");
	op(&s, 0, FZ_OP_ACCEPT);
	msg(&s, 4, "BE", 0, 0, "923=REQ1|924=1|553=CLIENT0001|554=s3cret|");
	op(&s, 0, FZ_OP_USER_RESP);
	put1(&s, 1 | 128);
	msg(&s, 4, "D", 0, 0, "11=ORD1|55=EURUSD|54=1|38=100|40=1|");
	op(&s, 0, FZ_OP_SEND);
	put1(&s, type_index("8"));
	put1(&s, 2);
	put2(&s, 37), put1(&s, 2), put(&s, "O1", 2);
	put2(&s, 150), put1(&s, 1), put(&s, "0", 1);
	msg(&s, 4, "2", 0, 0, "7=1|16=0|");
	msg(&s, 4, "5", 0, 0, "");
	save(&s, "acc_happy");

	begin(&s, FZ_CFG_ACCEPTOR | T, 0);
	msg(&s, 4, "A", 0, 0, "98=0|108=30|553=CLIENT0001|554=wrong|");
	op(&s, 0, FZ_OP_REFUSE);
	save(&s, "acc_refuse");

	begin(&s, FZ_CFG_ACCEPTOR, 0);
	msg(&s, 4, "A", 0, 0, "98=0|108=30|");
	op(&s, 0, FZ_OP_ACCEPT);
	msg(&s, 4, "BE", 0, 0, "923=R9|924=1|553=CLIENT0001|554=bad|");
	op(&s, 0, FZ_OP_USER_RESP);
	put1(&s, 4);
	op(&s, 0, FZ_OP_LOGOUT);
	put1(&s, 1);
	msg(&s, 4, "5", 0, 0, "");
	save(&s, "acc_bf_refused_logout");

	/* Acceptor: reset Logon (141=Y, 34=1) while the store expected more. */
	begin(&s, FZ_CFG_ACCEPTOR | FZ_CFG_RESET | FZ_CFG_HB1, 0x1b);
	msg(&s, 4, "A", 0, FZ_MSG_ABS_SEQ, "98=0|108=1|141=Y|");
	op(&s, 0, FZ_OP_ACCEPT);
	op(&s, 0, FZ_OP_TICK_DUE);
	op(&s, 0, FZ_OP_TICK_DUE);
	op(&s, 0, FZ_OP_TICK_DUE);
	save(&s, "acc_reset_timers");

	/* Acceptor: Logon above the expected number (gap right at logon). */
	begin(&s, FZ_CFG_ACCEPTOR, 0);
	msg(&s, 4, "A", 3, 0, "98=0|108=30|");
	op(&s, 0, FZ_OP_ACCEPT);
	msg(&s, 4, "4", 0, FZ_MSG_POSS_DUP, "123=Y|36=5|");
	msg(&s, 4, "0", 0, 0, "");
	save(&s, "acc_logon_gap");

	/* Acceptor: first message not a Logon; Logon without 108; logon timeout;
	 * bytes before the Logon decision. */
	begin(&s, FZ_CFG_ACCEPTOR, 0);
	msg(&s, 4, "D", 0, 0, "11=X|");
	save(&s, "acc_not_logon");
	begin(&s, FZ_CFG_ACCEPTOR, 0);
	msg(&s, 4, "A", 0, 0, "98=0|");
	save(&s, "acc_no_heartbeat");
	begin(&s, FZ_CFG_ACCEPTOR, 0);
	op(&s, 0, FZ_OP_TICK_DUE);
	save(&s, "acc_logon_timeout");
	begin(&s, FZ_CFG_ACCEPTOR | FZ_CFG_NO_TIMECHECK, 0);
	msg(&s, 4, "A", 0, 0, "98=0|108=30|");
	msg(&s, 4, "D", 1, 0, "11=X|");
	op(&s, 0, FZ_OP_ACCEPT);
	save(&s, "acc_early_bytes");

	/* Faults: silent mode and skipped numbers; a failing store. */
	ini_active(&s, FZ_CFG_HB1);
	op(&s, 0, FZ_OP_SKIP_SEQ);
	put1(&s, 3);
	op(&s, 0, FZ_OP_SILENT);
	put1(&s, 1);
	msg(&s, 4, "1", 0, 0, "112=Z|");
	op(&s, 0, FZ_OP_SILENT);
	put1(&s, 0);
	msg(&s, 4, "2", 0, 0, "7=1|");
	save(&s, "ini_faults");
	begin(&s, 0, 0x80);
	msg(&s, 4, "A", 0, 0, "98=0|108=30|");
	msg(&s, 4, "0", 0, 0, "");
	save(&s, "ini_store_fails");
	begin(&s, FZ_CFG_SMALL_BODY | FZ_CFG_NO_STORE, 0);
	msg(&s, 4, "A", 0, 0, "98=0|108=30|");
	op(&s, 0, FZ_OP_DISCONNECT);
	save(&s, "ini_small_disconnect");
}

/* ------------------------------------------------------------ codec seeds */

static void codec_seeds(void)
{
	static char buf[SEED_MAX];
	char f[1024], ts[22];
	size_t n = 0;
	fix_format_time(FZ_T0, ts);
	static const char *const bodies[] = {
	    "35=A|49=CLIENT0001|56=BETA_EXCHANGE|34=1|52=%s|98=0|108=30|141=Y|553=CLIENT0001|"
	    "554=s3cret|",
	    "35=BE|49=CLIENT0001|56=BETA_EXCHANGE|34=2|52=%s|923=REQ1|924=1|553=CLIENT0001|"
	    "554=s3cret|",
	    "35=BF|49=BETA_EXCHANGE|56=CLIENT0001|34=2|52=%s|923=REQ1|553=CLIENT0001|926=1|",
	    "35=0|49=BETA_EXCHANGE|56=CLIENT0001|34=3|52=%s|112=TEST1|",
	    "35=2|49=BETA_EXCHANGE|56=CLIENT0001|34=4|52=%s|7=1|16=0|",
	    "35=4|49=BETA_EXCHANGE|56=CLIENT0001|34=5|52=%s|43=Y|122=%s|123=Y|36=9|",
	    "35=D|49=CLIENT0001|56=BETA_EXCHANGE|34=6|52=%s|11=O1|55=EURUSD|54=1|38=100|40=2|"
	    "44=1.0850|453=2|448=P1|447=D|452=1|448=P2|447=D|452=3|",
	    "35=5|49=BETA_EXCHANGE|56=CLIENT0001|34=7|52=%s|58=bye|",
	};
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		char body[512], name[32];
		snprintf(body, sizeof(body), bodies[i], ts, ts);
		size_t fl = frame(f, sizeof(f), body);
		snprintf(name, sizeof(name), "frame_%zu", i);
		write_file("fuzz_codec", name, f, fl);
		memcpy(buf + n, f, fl);
		n += fl;
	}
	write_file("fuzz_codec", "stream", buf, n);
	static const char *const bad[] = {
	    "8=FIX.4.4|9=5|35=0|10=000|",      "8=FIX.4.4|9=7|35=0|10=161|",
	    "8=FIX.4.2|9=5|35=0|10=160|",      "8=FIX.4.4|9=99999999|",
	    "8=FIX8=FIX.4.4|9=5|35=0|10=163|", "garbage|8=FI",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char name[32];
		size_t bl = soh(f, sizeof(f), bad[i]);
		snprintf(name, sizeof(name), "bad_%zu", i);
		write_file("fuzz_codec", name, f, bl);
	}
	size_t fl = frame(f, sizeof(f), "35=0|49=A|56=B|34=1|52=x|3a=1|");
	write_file("fuzz_codec", "tag_syntax", f, fl);
	fl = frame(f, sizeof(f), "35=0|49=A|56=B|");
	write_file("fuzz_codec", "missing_header", f, fl);
	write_file("fuzz_codec", "time_ms", "20231114-22:13:20.123", 21);
	write_file("fuzz_codec", "time_s", "20231114-22:13:20", 17);
	write_file("fuzz_codec", "time_us", "20240229-23:59:60.123456", 24);
	write_file("fuzz_codec", "time_ns", "99991231-23:59:59.999999999", 27);
	/* Round-trip records: 9 header bytes, then [tag:2][len:1][value]. */
	static const uint8_t rt[] = {0, 0, 0,   0,   0,  0, 0, 1,   3,   0,   0,   1,   'D', 11,
				     0, 2, 'O', '1', 55, 0, 6, 'E', 'U', 'R', 'U', 'S', 'D'};
	write_file("fuzz_codec", "round_trip", rt, sizeof(rt));
}

/* ------------------------------------------------------------- http seeds */

/* fuzz_http input: byte 0 flags (bit 0: profile request), bytes 1-2 the
 * status (LE), then the body. */
static void http_seed(const char *name, unsigned flags, unsigned status, const char *body)
{
	static uint8_t b[4096];
	size_t n = strlen(body);
	b[0] = (uint8_t)flags;
	b[1] = (uint8_t)(status & 0xff);
	b[2] = (uint8_t)(status >> 8);
	memcpy(b + 3, body, n);
	write_file("fuzz_http", name, b, n + 3);
}

static void http_seeds(void)
{
	http_seed("reg_ok", 0, 200,
		  "{\"success\":true,\"client_id\":\"CLIENT0001\",\"token\":\"tok\","
		  "\"error_msg\":\"\"}");
	http_seed("reg_taken", 0, 409,
		  "{\"success\":false,\"client_id\":\"\",\"token\":\"\","
		  "\"error_msg\":\"username already exists\"}");
	http_seed("reg_false_200", 0, 200, "{\"success\":false,\"error_msg\":\"closed\"}");
	http_seed("reg_bad_json", 0, 200, "{\"success\":tru");
	http_seed("reg_array", 0, 200, "[1,2,3]");
	http_seed("reg_shape", 0, 200, "{\"success\":\"yes\",\"client_id\":5}");
	http_seed("reg_500", 0, 500, "Internal Server Error");
	http_seed("reg_400", 0, 400, "{\"error_msg\":\"bad request\"}");
	http_seed("reg_empty", 0, 200, "");
	http_seed(
	    "reg_unicode", 0, 200,
	    "{\"success\":true,\"client_id\":\"\\u00e9\\ud83d\\ude00\",\"token\":\"t\\u0000x\"}");
	http_seed(
	    "profile_ok", 1, 200,
	    "{\"client_id\":\"CLIENT0001\",\"username\":\"alice\",\"balance\":[1,2.5e3,null]}");
	http_seed("profile_401", 1, 401, "{\"error_msg\":\"bad token\"}");
	http_seed("profile_nested", 1, 200, "{\"a\":{\"b\":{\"c\":[[[[{}]]]]}}}");
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
		return 2;
	}
	g_root = argv[1];
	mkdir_p(g_root);
	session_seeds();
	codec_seeds();
	http_seeds();
	printf("gen_seeds: wrote %d seed files under %s\n", g_count, g_root);
	return 0;
}
