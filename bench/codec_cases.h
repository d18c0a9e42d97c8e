/* The codec cases of the benchmark (issue 7, cases 1 and 2), shared by the
 * C driver and the QuickFIX driver so that both time the same bytes with the
 * same loop. Each case returns nanoseconds per message over iters runs. */
#ifndef BT_BENCH_CODEC_CASES_H
#define BT_BENCH_CODEC_CASES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Values the ExecutionReport is built from (both encoders use these). */
#define BENCH_ER_SENDER "BETA_EXCHANGE"
#define BENCH_ER_TARGET "CLIENT0001"
#define BENCH_ER_SEQ 12345
#define BENCH_ER_TIME_MS 1735732800123LL /* 2025-01-01 12:00:00.123 UTC */
#define BENCH_ER_ORDER_ID "ORD12345"
#define BENCH_ER_CLORD_ID "CL98765"
#define BENCH_ER_EXEC_ID "EX55555"
#define BENCH_ER_SYMBOL "EUR/USD"
#define BENCH_ER_QTY 100000
#define BENCH_ER_PX "1.08345"
#define BENCH_ER_PX_D 1.08345
#define BENCH_ER_LEN 222

/* Monotonic nanoseconds. */
int64_t bench_now_ns(void);

/* Encodes the ExecutionReport with fix_codec into buf; returns its length,
 * or 0 if it does not fit. */
size_t bench_er_encode(char *buf, size_t cap);

/* Case 1: fix_frame_parse (framing, BeginString, BodyLength, CheckSum, header
 * checks, field index, in one pass) of msg; *sink accumulates a value so nothing is elided. */
double bench_decode_ours(const char *msg, size_t len, long iters, uint64_t *sink);

/* Case 1 ceiling: byte sum plus SOH count, plain scalar loop. */
double bench_scan_scalar(const char *msg, size_t len, long iters, uint64_t *sink);

/* Same scan, vectorised for AVX2; negative if the CPU has no AVX2. */
double bench_scan_avx2(const char *msg, size_t len, long iters, uint64_t *sink);

/* Case 2: bench_er_encode from the values above. */
double bench_encode_ours(long iters, uint64_t *sink);

/* Median of n values (sorts v in place). */
double bench_median(double *v, size_t n);

#ifdef __cplusplus
}
#endif

#endif
