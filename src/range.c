/*
 * Range field parsing (RFC 9110 14.1-14.2). Only a single byte range is
 * served; a request for several gets the whole representation, which RFC
 * 9110 14.2 allows ("a server MAY ignore the Range header field"), and
 * keeps multipart/byteranges out of the server. The order of the decisions
 * matters: syntax first (anything malformed is ignored), then the range's
 * own validity, then whether it fits the representation.
 */

#include "autoconf.h"

#include <stdint.h>
#include <strings.h>

#include "range.h"

static int
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Parses 1*DIGIT from p[*i..len). Returns 0 and advances *i, or -1 when
 * there is no digit or the number does not fit in 64 bits: a length that
 * large cannot describe a real file, so it is treated as malformed.
 */
static int
number_parse(const char *p, size_t len, size_t *i, uint64_t *out)
{
	uint64_t v = 0;
	size_t start = *i;
	unsigned d;

	while (*i < len && p[*i] >= '0' && p[*i] <= '9') {
		d = (unsigned)(p[*i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
		(*i)++;
	}
	if (*i == start)
		return -1;
	*out = v;
	return 0;
}

/* One range-spec, already trimmed of OWS. */
static enum range_result
spec_parse(const char *p, size_t len, uint64_t size, struct byte_range *out)
{
	uint64_t first, last, suffix;
	size_t i = 0;

	if (len > 0 && p[0] == '-') {
		/* suffix-range = "-" suffix-length */
		i = 1;
		if (number_parse(p, len, &i, &suffix) == -1 || i != len)
			return RANGE_IGNORE;
		if (suffix == 0 || size == 0)
			return RANGE_UNSATISFIABLE;
		out->first = suffix >= size ? 0 : size - suffix;
		out->last = size - 1;
		return RANGE_OK;
	}

	/* int-range = first-pos "-" [ last-pos ] */
	if (number_parse(p, len, &i, &first) == -1 || i == len || p[i] != '-')
		return RANGE_IGNORE;
	i++;
	if (i == len)
		last = UINT64_MAX;
	else if (number_parse(p, len, &i, &last) == -1 || i != len)
		return RANGE_IGNORE;
	/* RFC 9110 14.1.1: last-pos below first-pos makes the range invalid. */
	if (last < first)
		return RANGE_IGNORE;
	if (first >= size)
		return RANGE_UNSATISFIABLE;
	out->first = first;
	out->last = last >= size ? size - 1 : last;
	return RANGE_OK;
}

enum range_result
range_parse(
    const char *value, size_t len, uint64_t size, struct byte_range *out)
{
	size_t i, start, end, spec_start = 0, spec_len = 0;
	unsigned specs = 0;

	if (value == NULL)
		return RANGE_IGNORE;
	while (len > 0 && is_ows(value[len - 1]))
		len--;
	for (i = 0; i < len && is_ows(value[i]); i++)
		;

	/* range-unit "=": the unit is case-insensitive (RFC 9110 14.1). */
	if (len - i < 6 || strncasecmp(value + i, "bytes=", 6) != 0)
		return RANGE_IGNORE;
	i += 6;

	/*
	 * range-set = 1#range-spec: empty elements are allowed and skipped
	 * (RFC 9110 5.6.1.2), OWS around each element is not part of it.
	 */
	while (i <= len) {
		start = i;
		while (i < len && value[i] != ',')
			i++;
		end = i;
		while (start < end && is_ows(value[start]))
			start++;
		while (end > start && is_ows(value[end - 1]))
			end--;
		if (end > start) {
			if (++specs > 1)
				return RANGE_IGNORE;
			spec_start = start;
			spec_len = end - start;
		}
		i++;
	}
	if (specs == 0)
		return RANGE_IGNORE;
	return spec_parse(value + spec_start, spec_len, size, out);
}
