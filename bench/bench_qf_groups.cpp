/* Case 9: a MarketDataSnapshotFullRefresh (35=W) with 20 MDEntries parsed
 * into its groups. Ours in C: fix_parse plus fix_dict_check, the dictionary
 * walk that finds every group instance (and checks it, as validate =
 * "reject" does); the anchor: QuickFIX's Message::setString with the FIX 4.4
 * DataDictionary, which builds its group objects. The same bytes for both;
 * they are also written to OUT so that the Lua case (dict:decode into
 * tables) parses them too.
 * usage: bench_qf_groups rounds iterations FIX44.xml OUT
 * Prints "RESULT <case> <round> <ns>" lines for bench/run's table. */
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include <quickfix/DataDictionary.h>
#include <quickfix/Message.h>

#include "codec_cases.h"
extern "C" {
#include "fix_codec.h"
#include "fix_dict.h"
}
#include <cstring>

namespace
{

size_t snapshot(char *buf, size_t cap)
{
	struct fix_enc e;
	fix_enc_begin(&e, buf, cap, "W", BENCH_ER_SENDER, BENCH_ER_TARGET, BENCH_ER_SEQ,
		      BENCH_ER_TIME_MS);
	fix_enc_cstr(&e, 262, "MD1");
	fix_enc_cstr(&e, 55, BENCH_ER_SYMBOL);
	fix_enc_int(&e, 268, 20);
	for (int i = 0; i < 20; i++) {
		char px[16];
		snprintf(px, sizeof px, "1.08%03d", i < 10 ? 340 - i : 350 + i);
		fix_enc_char(&e, 269, i < 10 ? '0' : '1');
		fix_enc_cstr(&e, 270, px);
		fix_enc_int(&e, 271, 1000000 * (i % 5 + 1));
	}
	size_t len;
	const char *f = fix_enc_finish(&e, &len);
	if (!f)
		return 0;
	memmove(buf, f, len);
	return len;
}

double ours(const char *msg, size_t len, long iters, uint64_t *sink)
{
	struct fix_field fields[128];
	const struct fix_dict *d = fix_dict_default();
	uint64_t acc = 0;
	int64_t t0 = bench_now_ns();
	for (long i = 0; i < iters; i++) {
		struct fix_msg m;
		struct fix_dict_problem p;
		fix_msg_init(&m, fields, 128);
		acc += (uint64_t)fix_parse(&m, msg, len) + m.nfields;
		acc += (uint64_t)fix_dict_check(d, &m, &p);
	}
	int64_t t1 = bench_now_ns();
	*sink += acc;
	return (double)(t1 - t0) / (double)iters;
}

double qf(const std::string &s, const FIX::DataDictionary &dd, long iters, uint64_t *sink)
{
	FIX::Message m;
	uint64_t acc = 0;
	int64_t t0 = bench_now_ns();
	for (long i = 0; i < iters; i++) {
		m.setString(s, true, &dd);
		acc += m.groupCount(268);
	}
	int64_t t1 = bench_now_ns();
	*sink += acc;
	return (double)(t1 - t0) / (double)iters;
}

} // namespace

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: bench_qf_groups rounds iterations FIX44.xml OUT\n");
		return 2;
	}
	int rounds = atoi(argv[1]);
	long iters = atol(argv[2]);
	char buf[2048];
	size_t len = snapshot(buf, sizeof buf);
	if (!len)
		return 1;
	FILE *o = fopen(argv[4], "wb");
	if (!o || fwrite(buf, 1, len, o) != len || fclose(o) != 0) {
		perror(argv[4]);
		return 1;
	}
	const std::string s(buf, len);
	uint64_t sink = 0;
	try {
		FIX::DataDictionary dd(argv[3]);
		/* both must see 20 entries before anything is timed */
		FIX::Message m;
		m.setString(s, true, &dd);
		struct fix_field fields[128];
		struct fix_msg fm;
		struct fix_dict_problem p;
		fix_msg_init(&fm, fields, 128);
		if (m.groupCount(268) != 20 || fix_parse(&fm, buf, len) != FIX_OK ||
		    fix_dict_check(fix_dict_default(), &fm, &p)) {
			fprintf(stderr, "bench_qf_groups: the snapshot does not parse\n");
			return 1;
		}
		fprintf(stderr, "bench_qf_groups: %zu bytes\n", len);
		ours(buf, len, iters / 10 + 1, &sink);
		qf(s, dd, iters / 40 + 1, &sink);
		for (int r = 1; r <= rounds; r++) {
			printf("RESULT groups.ours_c %d %.2f\n", r, ours(buf, len, iters, &sink));
			printf("RESULT groups.qf_dict %d %.2f\n", r, qf(s, dd, iters / 4, &sink));
			fflush(stdout);
		}
	} catch (const std::exception &e) {
		fprintf(stderr, "bench_qf_groups: QuickFIX: %s\n", e.what());
		return 1;
	}
	fprintf(stderr, "bench_qf_groups: sink %llu\n", (unsigned long long)sink);
	return 0;
}
