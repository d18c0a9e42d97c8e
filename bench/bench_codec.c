/* Cases 1 and 2 without QuickFIX: our decode against the checksum-plus-SOH
 * scans, and our encode, interleaved round by round.
 * usage: bench_codec [rounds] [iterations]
 * Prints "RESULT <case> <round> <ns>" lines for bench/run's table. */
#include <stdio.h>
#include <stdlib.h>

#include "codec_cases.h"

int main(int argc, char **argv)
{
	int rounds = argc > 1 ? atoi(argv[1]) : 7;
	long iters = argc > 2 ? atol(argv[2]) : 200000;
	char msg[512];
	size_t len = bench_er_encode(msg, sizeof msg);
	if (len == 0) {
		fprintf(stderr, "bench_codec: cannot encode the ExecutionReport\n");
		return 1;
	}
	if (len != BENCH_ER_LEN)
		fprintf(stderr, "bench_codec: note: ExecutionReport is %zu bytes, not %d\n", len,
			BENCH_ER_LEN);
	uint64_t sink = 0;
	/* one warm-up pass so the first round does not pay for page faults */
	bench_decode_ours(msg, len, iters / 10 + 1, &sink);
	bench_encode_ours(iters / 10 + 1, &sink);
	for (int r = 1; r <= rounds; r++) {
		printf("RESULT decode.ours %d %.2f\n", r,
		       bench_decode_ours(msg, len, iters, &sink));
		printf("RESULT decode.scan %d %.2f\n", r,
		       bench_scan_scalar(msg, len, iters, &sink));
		double avx = bench_scan_avx2(msg, len, iters, &sink);
		if (avx >= 0)
			printf("RESULT decode.scan_avx2 %d %.2f\n", r, avx);
		printf("RESULT encode.ours %d %.2f\n", r, bench_encode_ours(iters, &sink));
		fflush(stdout);
	}
	fprintf(stderr, "bench_codec: %zu-byte message, sink %llu\n", len,
		(unsigned long long)sink);
	return 0;
}
