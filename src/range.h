/*
 * Byte ranges (RFC 9110 14.1.2): parses a Range field value against the
 * representation's length. Pure.
 */
#ifndef RANGE_H
#define RANGE_H

#include <stddef.h>
#include <stdint.h>

struct byte_range {
	uint64_t	 first;	/* inclusive */
	uint64_t	 last;	/* inclusive */
};

enum range_result {
	RANGE_IGNORE,		/* absent, malformed, not bytes, or several ranges: send 200 */
	RANGE_OK,		/* one satisfiable range in *out: send 206 */
	RANGE_UNSATISFIABLE	/* send 416 with Content-Range: bytes *\/size */
};

enum range_result range_parse(const char *value, size_t len, uint64_t size,
		    struct byte_range *out);

#endif
