/*
 * Byte ranges (RFC 9110 14.1.2): parses a Range field value against the
 * representation's length, into one range or a short sorted list. Pure.
 */
#ifndef RANGE_H
#define RANGE_H

#include <stddef.h>
#include <stdint.h>

struct byte_range {
	uint64_t first; /* inclusive */
	uint64_t last;	/* inclusive */
};

/*
 * More range-specs than this in one field and the Range is ignored: the
 * whole representation is sent (200). Bounds the parts of a multipart
 * response, so a request cannot make it much larger than the file.
 */
#define RANGE_MAX_PARTS 16

enum range_result {
	RANGE_IGNORE, /* absent, malformed, not bytes, or refused: send 200 */
	RANGE_OK,     /* satisfiable ranges in out: send 206 */
	RANGE_UNSATISFIABLE /* send 416 with Content-Range: bytes *\/size */
};

/*
 * Parses a Range value against a representation of size bytes. RANGE_OK
 * fills out[0 .. *count) with ranges that are sorted, lie within the
 * representation, and neither overlap nor touch (overlapping or adjacent
 * ones are merged, as RFC 9110 14.2 allows): one range is a single-part
 * 206, several a multipart/byteranges one. A field with more than max
 * range-specs, or whose satisfiable ranges add up to more than size
 * bytes before merging (overlap used to amplify), is RANGE_IGNORE.
 * Unsatisfiable specs are dropped; none left is RANGE_UNSATISFIABLE.
 * Only RANGE_OK writes out and *count. max is at most RANGE_MAX_PARTS.
 */
enum range_result range_parse_list(const char *value, size_t len, uint64_t size,
    struct byte_range *out, size_t max, size_t *count);

/* The same for one range only: a field with several is RANGE_IGNORE. */
enum range_result range_parse(
    const char *value, size_t len, uint64_t size, struct byte_range *out);

#endif
