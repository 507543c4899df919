/*
 * What every fuzz target shares: libFuzzer's entry point, and CHECK, an
 * invariant that aborts (a crash libFuzzer keeps a reproducer of) where
 * NDEBUG would turn assert() off.
 */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond))                                                   \
			abort();                                               \
	} while (0)

#endif
