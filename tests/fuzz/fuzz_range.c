/*
 * libFuzzer target for range.c. The first eight bytes of an input pick the
 * representation's size (a few fixed sizes, including past 4 GiB, or the
 * bytes themselves), the ninth the caller's part limit; the rest is the
 * Range field value. Beyond the sanitizers the target checks what the
 * response writer relies on: ranges inside the file, sorted, neither
 * overlapping nor touching, no more of them than asked for and never more
 * bytes in all than the file has, out and count untouched unless RANGE_OK.
 * It also checks the list against its own elements: each comma-separated
 * element is parsed alone as "bytes=<element>", and the list's answer must
 * follow from theirs (any malformed one ignores the whole field, none
 * satisfiable is a 416, else the union of the single ranges, merged).
 */

#include "autoconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"
#include "range.h"

/* Longest element re-parsed on its own; longer ones are skipped. */
#define ELEMENT_MAX 256

static int
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

static uint64_t
size_pick(const uint8_t *p)
{
	static const uint64_t sizes[] = {0, 1, 2, 100, 10000,
	    UINT64_C(4294967295), UINT64_C(4294967296), UINT64_C(5368709121),
	    UINT64_MAX - 1, UINT64_MAX};
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	/* Mostly small, known sizes: they make more specs satisfiable. */
	if (p[0] < 0xc0)
		return sizes[v % (sizeof sizes / sizeof sizes[0])];
	if (p[0] < 0xe0)
		return v % 1000;
	return v;
}

/* Whether [first, last] lies inside one of out[0 .. n). */
static int
covered(const struct byte_range *out, size_t n, uint64_t first, uint64_t last)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (out[i].first <= first && last <= out[i].last)
			return 1;
	return 0;
}

/*
 * Whether the single ranges s[0 .. ns) cover out[k] without a gap: walk
 * from its first byte, each time jumping to the furthest end among the
 * singles that start at or before the next uncovered byte.
 */
static int
gapless(const struct byte_range *s, size_t ns, struct byte_range r)
{
	uint64_t next = r.first, reach;
	size_t i;
	int moved;

	for (;;) {
		moved = 0;
		reach = next;
		for (i = 0; i < ns; i++) {
			if (s[i].first <= next && s[i].last >= next &&
			    (!moved || s[i].last > reach)) {
				reach = s[i].last;
				moved = 1;
			}
		}
		if (!moved)
			return 0;
		if (reach >= r.last)
			return reach == r.last;
		next = reach + 1;
	}
}

static void
check_list(const char *value, size_t len, uint64_t size, size_t max)
{
	struct byte_range out[RANGE_MAX_PARTS + 1], single[RANGE_MAX_PARTS];
	struct byte_range one, poison = {0x5a5a, 0xa5a5};
	char elem[6 + ELEMENT_MAX];
	size_t count = 12345, one_count, i, j, start, end, specs = 0, ns = 0;
	size_t limit = max > RANGE_MAX_PARTS ? RANGE_MAX_PARTS : max;
	enum range_result rc, want, erc;
	uint64_t total = 0, sum = 0;
	int bad = 0;

	for (i = 0; i < RANGE_MAX_PARTS + 1; i++)
		out[i] = poison;
	rc = range_parse_list(value, len, size, out, max, &count);
	CHECK(
	    rc == RANGE_IGNORE || rc == RANGE_OK || rc == RANGE_UNSATISFIABLE);
	/* Nothing is written past max, and nothing at all unless OK. */
	for (i = rc == RANGE_OK ? count : 0; i < RANGE_MAX_PARTS + 1; i++)
		CHECK(memcmp(&out[i], &poison, sizeof poison) == 0);
	if (rc != RANGE_OK)
		CHECK(count == 12345);
	if (rc == RANGE_OK) {
		CHECK(count >= 1 && count <= limit);
		for (i = 0; i < count; i++) {
			CHECK(
			    out[i].first <= out[i].last && out[i].last < size);
			/* Sorted, and a gap of at least one byte between. */
			if (i > 0)
				CHECK(out[i - 1].last + 1 < out[i].first);
			sum += out[i].last - out[i].first + 1;
		}
		/* The amplification bound: never more than the file. */
		CHECK(sum <= size);
	}
	if (max == 0)
		CHECK(rc == RANGE_IGNORE);

	/* range_parse is the list parser with room for one range. */
	if (max == 1) {
		erc = range_parse(value, len, size, &one);
		CHECK(erc == rc);
		if (rc == RANGE_OK)
			CHECK(one.first == out[0].first &&
			      one.last == out[0].last);
	}
	if (max == 0)
		return;

	/* Now the same answer from the elements, one at a time. */
	i = 0;
	while (len > 0 && is_ows(value[len - 1]))
		len--;
	while (i < len && is_ows(value[i]))
		i++;
	if (len - i < 6 || strncasecmp(value + i, "bytes=", 6) != 0) {
		CHECK(rc == RANGE_IGNORE);
		return;
	}
	memcpy(elem, "bytes=", 6);
	for (i += 6; i <= len; i = end + 1) {
		for (end = i; end < len && value[end] != ','; end++)
			;
		for (start = i; start < end && is_ows(value[start]); start++)
			;
		j = end;
		while (j > start && is_ows(value[j - 1]))
			j--;
		if (j == start)
			continue;
		if (++specs > limit) {
			/* More specs than the caller takes: ignored. */
			CHECK(rc == RANGE_IGNORE);
			return;
		}
		if (j - start > ELEMENT_MAX)
			return; /* too long to judge here */
		memcpy(elem + 6, value + start, j - start);
		erc = range_parse_list(
		    elem, 6 + j - start, size, &one, 1, &one_count);
		if (erc == RANGE_IGNORE)
			bad = 1;
		else if (erc == RANGE_OK) {
			CHECK(one_count == 1);
			single[ns++] = one;
			/* The overlap bound: more bytes than the file. */
			if (one.last - one.first + 1 > size - total)
				bad = 1;
			else
				total += one.last - one.first + 1;
		}
	}
	if (bad || specs == 0)
		want = RANGE_IGNORE;
	else if (ns == 0)
		want = RANGE_UNSATISFIABLE;
	else
		want = RANGE_OK;
	CHECK(rc == want);
	if (rc != RANGE_OK)
		return;
	/* The merged list is exactly the union of the single ranges. */
	for (i = 0; i < ns; i++)
		CHECK(covered(out, count, single[i].first, single[i].last));
	for (i = 0; i < count; i++)
		CHECK(gapless(single, ns, out[i]));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *value;
	uint64_t file_size;
	size_t len, max;

	if (size < 9)
		return 0;
	file_size = size_pick(data);
	max = data[8] & 0x1f; /* 0 .. 31: below, at and past RANGE_MAX_PARTS */
	value = (const char *)data + 9;
	len = size - 9;
	check_list(value, len, file_size, max);
	/* The server's own call: the limit it really uses. */
	check_list(value, len, file_size, RANGE_MAX_PARTS);
	return 0;
}
