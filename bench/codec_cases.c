/* Codec cases: see codec_cases.h. The scans are the ceiling a decoder
 * cannot beat, since it must at least read every byte and find every SOH. */
#include "codec_cases.h"

#include <immintrin.h>
#include <stdlib.h>
#include <time.h>

#include "fix_codec.h"

int64_t bench_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

size_t bench_er_encode(char *buf, size_t cap)
{
	struct fix_enc e;
	fix_enc_begin(&e, buf, cap, "8", BENCH_ER_SENDER, BENCH_ER_TARGET, BENCH_ER_SEQ,
		      BENCH_ER_TIME_MS);
	fix_enc_cstr(&e, 37, BENCH_ER_ORDER_ID);
	fix_enc_cstr(&e, 11, BENCH_ER_CLORD_ID);
	fix_enc_cstr(&e, 17, BENCH_ER_EXEC_ID);
	fix_enc_char(&e, 150, 'F');
	fix_enc_char(&e, 39, '2');
	fix_enc_cstr(&e, 55, BENCH_ER_SYMBOL);
	fix_enc_char(&e, 54, '1');
	fix_enc_int(&e, 38, BENCH_ER_QTY);
	fix_enc_cstr(&e, 44, BENCH_ER_PX);
	fix_enc_int(&e, 32, BENCH_ER_QTY);
	fix_enc_cstr(&e, 31, BENCH_ER_PX);
	fix_enc_int(&e, 151, 0);
	fix_enc_int(&e, 14, BENCH_ER_QTY);
	fix_enc_cstr(&e, 6, BENCH_ER_PX);
	size_t len = 0;
	const char *p = fix_enc_finish(&e, &len);
	if (!p)
		return 0;
	/* fix_enc_finish places 8= and 9= in the headroom; move the frame to
	 * the start so callers get plain bytes at buf. */
	if (p != buf)
		for (size_t i = 0; i < len; i++)
			buf[i] = p[i];
	return len;
}

double bench_decode_ours(const char *msg, size_t len, long iters, uint64_t *sink)
{
	struct fix_field fields[64];
	struct fix_msg m;
	uint64_t acc = 0;
	int64_t t0 = bench_now_ns();
	for (long i = 0; i < iters; i++) {
		size_t flen;
		fix_msg_init(&m, fields, 64);
		if (fix_frame_parse(&m, msg, len, 0, &flen) != FIX_OK || flen != len)
			abort();
		acc += m.nfields + m.seq_num;
	}
	int64_t t1 = bench_now_ns();
	*sink += acc;
	return (double)(t1 - t0) / (double)iters;
}

__attribute__((noinline, optimize("no-tree-vectorize"))) static uint64_t
scan_scalar(const char *msg, size_t len)
{
	unsigned sum = 0, soh = 0;
	for (size_t i = 0; i < len; i++) {
		sum += (unsigned char)msg[i];
		soh += msg[i] == '\x01';
	}
	return ((uint64_t)soh << 32) | (sum & 0xff);
}

double bench_scan_scalar(const char *msg, size_t len, long iters, uint64_t *sink)
{
	uint64_t acc = 0;
	int64_t t0 = bench_now_ns();
	for (long i = 0; i < iters; i++) {
		/* keeps the compiler from hoisting the pure scan out of the loop */
		__asm__ volatile("" : : "r"(msg) : "memory");
		acc += scan_scalar(msg, len);
	}
	int64_t t1 = bench_now_ns();
	*sink += acc;
	return (double)(t1 - t0) / (double)iters;
}

__attribute__((noinline, target("avx2"))) static uint64_t scan_avx2(const char *msg, size_t len)
{
	const __m256i soh = _mm256_set1_epi8(1);
	const __m256i zero = _mm256_setzero_si256();
	__m256i sums = zero;
	unsigned cnt = 0;
	size_t i = 0;
	for (; i + 32 <= len; i += 32) {
		__m256i v = _mm256_loadu_si256((const __m256i *)(msg + i));
		sums = _mm256_add_epi64(sums, _mm256_sad_epu8(v, zero));
		cnt += (unsigned)__builtin_popcount(
		    (unsigned)_mm256_movemask_epi8(_mm256_cmpeq_epi8(v, soh)));
	}
	uint64_t sum =
	    (uint64_t)_mm256_extract_epi64(sums, 0) + (uint64_t)_mm256_extract_epi64(sums, 1) +
	    (uint64_t)_mm256_extract_epi64(sums, 2) + (uint64_t)_mm256_extract_epi64(sums, 3);
	for (; i < len; i++) {
		sum += (unsigned char)msg[i];
		cnt += msg[i] == '\x01';
	}
	return ((uint64_t)cnt << 32) | (sum & 0xff);
}

double bench_scan_avx2(const char *msg, size_t len, long iters, uint64_t *sink)
{
	if (!__builtin_cpu_supports("avx2"))
		return -1;
	uint64_t acc = 0;
	int64_t t0 = bench_now_ns();
	for (long i = 0; i < iters; i++) {
		__asm__ volatile("" : : "r"(msg) : "memory");
		acc += scan_avx2(msg, len);
	}
	int64_t t1 = bench_now_ns();
	*sink += acc;
	return (double)(t1 - t0) / (double)iters;
}

double bench_encode_ours(long iters, uint64_t *sink)
{
	char buf[512];
	uint64_t acc = 0;
	int64_t t0 = bench_now_ns();
	for (long i = 0; i < iters; i++) {
		struct fix_enc e;
		fix_enc_begin(&e, buf, sizeof buf, "8", BENCH_ER_SENDER, BENCH_ER_TARGET,
			      BENCH_ER_SEQ, BENCH_ER_TIME_MS);
		fix_enc_cstr(&e, 37, BENCH_ER_ORDER_ID);
		fix_enc_cstr(&e, 11, BENCH_ER_CLORD_ID);
		fix_enc_cstr(&e, 17, BENCH_ER_EXEC_ID);
		fix_enc_char(&e, 150, 'F');
		fix_enc_char(&e, 39, '2');
		fix_enc_cstr(&e, 55, BENCH_ER_SYMBOL);
		fix_enc_char(&e, 54, '1');
		fix_enc_int(&e, 38, BENCH_ER_QTY);
		fix_enc_cstr(&e, 44, BENCH_ER_PX);
		fix_enc_int(&e, 32, BENCH_ER_QTY);
		fix_enc_cstr(&e, 31, BENCH_ER_PX);
		fix_enc_int(&e, 151, 0);
		fix_enc_int(&e, 14, BENCH_ER_QTY);
		fix_enc_cstr(&e, 6, BENCH_ER_PX);
		size_t len = 0;
		const char *p = fix_enc_finish(&e, &len);
		if (!p)
			abort();
		acc += len + (unsigned char)p[len - 2];
	}
	int64_t t1 = bench_now_ns();
	*sink += acc;
	return (double)(t1 - t0) / (double)iters;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

double bench_median(double *v, size_t n)
{
	if (n == 0)
		return 0;
	qsort(v, n, sizeof *v, cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
