/* Minimal test harness shared by the C unit tests: no framework to install,
 * failures name the file, line and the two values, and main() ends with a
 * "N passed, N failed" line. Usage:
 *
 *   static void test_x(void) { T_EQ_INT(1 + 1, 2); }
 *   int main(void) { T_RUN(test_x); return T_END(); }
 */
#ifndef BT_T_H
#define BT_T_H

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_failed_checks;
static int t_passed, t_failed;

#define T_FAIL(...)                                               \
	do {                                                      \
		fprintf(stderr, "  %s:%d: ", __FILE__, __LINE__); \
		fprintf(stderr, __VA_ARGS__);                     \
		fputc('\n', stderr);                              \
		t_failed_checks++;                                \
	} while (0)

#define T_OK(cond)                                    \
	do {                                          \
		if (!(cond))                          \
			T_FAIL("expected %s", #cond); \
	} while (0)

#define T_EQ_INT(a, b)                                                               \
	do {                                                                         \
		long long t_a_ = (long long)(a), t_b_ = (long long)(b);              \
		if (t_a_ != t_b_)                                                    \
			T_FAIL("%s == %s: got %lld, want %lld", #a, #b, t_a_, t_b_); \
	} while (0)

#define T_EQ_STR(a, b)                                                          \
	do {                                                                    \
		const char *t_a_ = (a), *t_b_ = (b);                            \
		if (!t_a_ || !t_b_ || strcmp(t_a_, t_b_) != 0)                  \
			T_FAIL("%s == %s: got \"%s\", want \"%s\"", #a, #b,     \
			       t_a_ ? t_a_ : "(null)", t_b_ ? t_b_ : "(null)"); \
	} while (0)

/* Compare bytes; SOH is shown as '|' so wire-format mismatches are readable. */
static inline void t_show(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		fputc(p[i] == '\x01' ? '|' : p[i], stderr);
}
#define T_EQ_MEM(a, alen, b, blen)                                               \
	do {                                                                     \
		const char *t_a_ = (const char *)(a), *t_b_ = (const char *)(b); \
		size_t t_al_ = (alen), t_bl_ = (blen);                           \
		if (t_al_ != t_bl_ || memcmp(t_a_, t_b_, t_al_) != 0) {          \
			T_FAIL("%s differs", #a);                                \
			fprintf(stderr, "    got:  ");                           \
			t_show(t_a_, t_al_);                                     \
			fprintf(stderr, "\n    want: ");                         \
			t_show(t_b_, t_bl_);                                     \
			fputc('\n', stderr);                                     \
		}                                                                \
	} while (0)

#define T_RUN(fn)                                   \
	do {                                        \
		int t_before_ = t_failed_checks;    \
		fn();                               \
		if (t_failed_checks == t_before_) { \
			t_passed++;                 \
			printf("ok   %s\n", #fn);   \
		} else {                            \
			t_failed++;                 \
			printf("FAIL %s\n", #fn);   \
		}                                   \
		fflush(stdout);                     \
	} while (0)

#define T_END() (printf("%d passed, %d failed\n", t_passed, t_failed), t_failed ? 1 : 0)

#endif
