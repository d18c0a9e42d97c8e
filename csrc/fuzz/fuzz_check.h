/* The fuzzers' invariant check: an abort libFuzzer reports as a crash, with
 * the failed condition and its line on stderr. */
#ifndef BT_FUZZ_CHECK_H
#define BT_FUZZ_CHECK_H

#include <stdio.h>
#include <stdlib.h>

#define CHECK(c)                                                                                  \
	do {                                                                                      \
		if (!(c)) {                                                                       \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #c); \
			abort();                                                                  \
		}                                                                                 \
	} while (0)

#endif
