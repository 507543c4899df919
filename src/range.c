/*
 * Range field parsing (RFC 9110 14.1-14.2). A request may name several
 * ranges; they come back sorted, with overlapping or adjacent ones merged
 * (RFC 9110 14.2 allows it), for the caller to send as one part or as
 * multipart/byteranges. What a client can make a server do with a Range
 * is bounded here: more than a handful of range-specs, or ranges that
 * overlap so much that they add up to more than the whole file, and the
 * field is ignored, which RFC 9110 14.2 allows ("a server MAY ignore the
 * Range header field") and names as the answer to exactly these abuses.
 * The order of the decisions matters: syntax first (anything malformed is
 * ignored), then each range's own validity, then whether it fits the
 * representation.
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

/* Sorts by first byte and merges ranges that overlap or touch. */
static size_t
ranges_coalesce(struct byte_range *r, size_t n)
{
	struct byte_range tmp;
	size_t i, j, out;

	/* Insertion sort: n is at most RANGE_MAX_PARTS. */
	for (i = 1; i < n; i++) {
		tmp = r[i];
		for (j = i; j > 0 && r[j - 1].first > tmp.first; j--)
			r[j] = r[j - 1];
		r[j] = tmp;
	}
	out = 0;
	for (i = 1; i < n; i++) {
		/* last < size <= UINT64_MAX, so last + 1 cannot wrap. */
		if (r[i].first <= r[out].last + 1) {
			if (r[i].last > r[out].last)
				r[out].last = r[i].last;
		} else
			r[++out] = r[i];
	}
	return n > 0 ? out + 1 : 0;
}

enum range_result
range_parse_list(const char *value, size_t len, uint64_t size,
    struct byte_range *out, size_t max, size_t *count)
{
	struct byte_range parts[RANGE_MAX_PARTS], r;
	size_t i, start, end, specs = 0, n = 0;
	uint64_t total = 0;

	if (value == NULL || max == 0)
		return RANGE_IGNORE;
	if (max > RANGE_MAX_PARTS)
		max = RANGE_MAX_PARTS;
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
		i++; /* past the comma, or past the end to stop */
		if (end == start)
			continue;
		if (++specs > max)
			return RANGE_IGNORE;
		switch (spec_parse(value + start, end - start, size, &r)) {
		case RANGE_IGNORE:
			return RANGE_IGNORE;
		case RANGE_UNSATISFIABLE:
			/* RFC 9110 14.1.1: satisfiable if any one spec is. */
			break;
		case RANGE_OK:
			/* total <= size throughout, so this cannot wrap. */
			if (r.last - r.first + 1 > size - total)
				return RANGE_IGNORE;
			total += r.last - r.first + 1;
			parts[n++] = r;
			break;
		}
	}
	if (specs == 0)
		return RANGE_IGNORE;
	if (n == 0)
		return RANGE_UNSATISFIABLE;
	n = ranges_coalesce(parts, n);
	for (i = 0; i < n; i++)
		out[i] = parts[i];
	*count = n;
	return RANGE_OK;
}

enum range_result
range_parse(
    const char *value, size_t len, uint64_t size, struct byte_range *out)
{
	size_t count;

	return range_parse_list(value, len, size, out, 1, &count);
}
