/*
 * Unit tests for Range parsing: a table of field values against
 * representation sizes, including sizes past 4 GiB and numbers at the
 * edge of 64 bits, since that is where a 32-bit slip or an overflow
 * would hide. Lists of ranges have their own table: what comes back
 * sorted and merged, and where the cap and the amplification bound refuse.
 */

#include "autoconf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "range.h"

#define GIB (UINT64_C(1) << 30)

static const struct {
	const char *value;
	uint64_t size;
	enum range_result want;
	uint64_t first;
	uint64_t last;
} cases[] = {
    /* int-range */
    {"bytes=0-0", 100, RANGE_OK, 0, 0},
    {"bytes=0-99", 100, RANGE_OK, 0, 99},
    {"bytes=10-19", 100, RANGE_OK, 10, 19},
    {"bytes=0-", 100, RANGE_OK, 0, 99},
    {"bytes=50-", 100, RANGE_OK, 50, 99},
    {"bytes=99-", 100, RANGE_OK, 99, 99},
    {"bytes=99-99", 100, RANGE_OK, 99, 99},
    {"bytes=0-1000", 100, RANGE_OK, 0, 99},
    {"bytes=5-18446744073709551615", 100, RANGE_OK, 5, 99},
    {"bytes=007-010", 100, RANGE_OK, 7, 10},
    {"bytes=100-", 100, RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=100-200", 100, RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=18446744073709551615-", 100, RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=20-10", 100, RANGE_IGNORE, 0, 0},
    {"bytes=200-100", 100, RANGE_IGNORE, 0, 0},
    /* suffix-range */
    {"bytes=-1", 100, RANGE_OK, 99, 99},
    {"bytes=-10", 100, RANGE_OK, 90, 99},
    {"bytes=-100", 100, RANGE_OK, 0, 99},
    {"bytes=-101", 100, RANGE_OK, 0, 99},
    {"bytes=-18446744073709551615", 100, RANGE_OK, 0, 99},
    {"bytes=-0", 100, RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=-000", 100, RANGE_UNSATISFIABLE, 0, 0},
    /* Empty representation: nothing is satisfiable. */
    {"bytes=0-", 0, RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=0-0", 0, RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=-1", 0, RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=-0", 0, RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=5-2", 0, RANGE_IGNORE, 0, 0},
    {"bytes=x", 0, RANGE_IGNORE, 0, 0},
    /* One-byte representation. */
    {"bytes=0-", 1, RANGE_OK, 0, 0},
    {"bytes=-5", 1, RANGE_OK, 0, 0},
    {"bytes=1-", 1, RANGE_UNSATISFIABLE, 0, 0},
    /* Beyond 4 GiB. */
    {"bytes=4294967296-", 5 * GIB, RANGE_OK, 4 * GIB, 5 * GIB - 1},
    {"bytes=4294967295-4294967296", 5 * GIB, RANGE_OK, 4 * GIB - 1, 4 * GIB},
    {"bytes=-1073741824", 5 * GIB, RANGE_OK, 4 * GIB, 5 * GIB - 1},
    {"bytes=0-", 5 * GIB, RANGE_OK, 0, 5 * GIB - 1},
    {"bytes=5368709119-", 5 * GIB, RANGE_OK, 5 * GIB - 1, 5 * GIB - 1},
    {"bytes=5368709120-", 5 * GIB, RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=4294967296-4294967296", 4 * GIB, RANGE_UNSATISFIABLE, 0, 0},
    {"bytes=1-", UINT64_MAX, RANGE_OK, 1, UINT64_MAX - 1},
    {"bytes=-18446744073709551615", UINT64_MAX, RANGE_OK, 0, UINT64_MAX - 1},
    {"bytes=-1", UINT64_MAX, RANGE_OK, UINT64_MAX - 1, UINT64_MAX - 1},
    /* Overflow of 64 bits is malformed, wherever it is. */
    {"bytes=18446744073709551616-", 100, RANGE_IGNORE, 0, 0},
    {"bytes=0-18446744073709551616", 100, RANGE_IGNORE, 0, 0},
    {"bytes=-18446744073709551616", 100, RANGE_IGNORE, 0, 0},
    {"bytes=99999999999999999999999-", 100, RANGE_IGNORE, 0, 0},
    /* Unit and whitespace. */
    {"BYTES=0-1", 100, RANGE_OK, 0, 1},
    {"Bytes=0-1", 100, RANGE_OK, 0, 1},
    {" bytes=0-1 ", 100, RANGE_OK, 0, 1},
    {"\tbytes=0-1\t", 100, RANGE_OK, 0, 1},
    {"bytes= 0-1", 100, RANGE_OK, 0, 1},
    {"bytes=0-1 ,", 100, RANGE_OK, 0, 1},
    {"bytes=, 0-1", 100, RANGE_OK, 0, 1},
    {"bytes=,,0-1,,", 100, RANGE_OK, 0, 1},
    {"bytes =0-1", 100, RANGE_IGNORE, 0, 0},
    {"bytes 0-1", 100, RANGE_IGNORE, 0, 0},
    {"bytes=0 -1", 100, RANGE_IGNORE, 0, 0},
    {"bytes=0- 1", 100, RANGE_IGNORE, 0, 0},
    {"bytes=- 1", 100, RANGE_IGNORE, 0, 0},
    {"items=0-1", 100, RANGE_IGNORE, 0, 0},
    {"byte=0-1", 100, RANGE_IGNORE, 0, 0},
    {"bytesx=0-1", 100, RANGE_IGNORE, 0, 0},
    {"none", 100, RANGE_IGNORE, 0, 0},
    /* Malformed specs. */
    {"", 100, RANGE_IGNORE, 0, 0},
    {"bytes=", 100, RANGE_IGNORE, 0, 0},
    {"bytes=,", 100, RANGE_IGNORE, 0, 0},
    {"bytes= , ", 100, RANGE_IGNORE, 0, 0},
    {"bytes=-", 100, RANGE_IGNORE, 0, 0},
    {"bytes=--1", 100, RANGE_IGNORE, 0, 0},
    {"bytes=1", 100, RANGE_IGNORE, 0, 0},
    {"bytes=1--2", 100, RANGE_IGNORE, 0, 0},
    {"bytes=1-2-3", 100, RANGE_IGNORE, 0, 0},
    {"bytes=a-b", 100, RANGE_IGNORE, 0, 0},
    {"bytes=0x10-", 100, RANGE_IGNORE, 0, 0},
    {"bytes=+1-2", 100, RANGE_IGNORE, 0, 0},
    {"bytes=1-+2", 100, RANGE_IGNORE, 0, 0},
    {"bytes=1-2;x", 100, RANGE_IGNORE, 0, 0},
    {"bytes=1.5-2", 100, RANGE_IGNORE, 0, 0},
    /* Several ranges are served whole. */
    {"bytes=0-1,2-3", 100, RANGE_IGNORE, 0, 0},
    {"bytes=0-1, -5", 100, RANGE_IGNORE, 0, 0},
    {"bytes=0-1,0-1", 100, RANGE_IGNORE, 0, 0},
    {"bytes=200-300,400-", 100, RANGE_IGNORE, 0, 0},
    {"bytes=0-1,x", 100, RANGE_IGNORE, 0, 0},
};

START_TEST(test_table)
{
	struct byte_range r = {12345, 67890};
	enum range_result got;

	got = range_parse(
	    cases[_i].value, strlen(cases[_i].value), cases[_i].size, &r);
	ck_assert_msg(got == cases[_i].want, "case %d \"%s\": got %d, want %d",
	    _i, cases[_i].value, got, cases[_i].want);
	if (got == RANGE_OK) {
		ck_assert_msg(
		    r.first == cases[_i].first && r.last == cases[_i].last,
		    "case %d \"%s\": %ju-%ju", _i, cases[_i].value,
		    (uintmax_t)r.first, (uintmax_t)r.last);
		ck_assert(r.first <= r.last && r.last < cases[_i].size);
	} else {
		/* Only a satisfiable range writes the result. */
		ck_assert(r.first == 12345 && r.last == 67890);
	}
}
END_TEST

START_TEST(test_edges)
{
	struct byte_range r;

	/* Absent. */
	ck_assert_int_eq(range_parse(NULL, 0, 100, &r), RANGE_IGNORE);
	/* Nothing past len is read: "bytes=0-1" cut to "bytes=0-". */
	ck_assert_int_eq(range_parse("bytes=0-1", 8, 100, &r), RANGE_OK);
	ck_assert(r.first == 0 && r.last == 99);
	ck_assert_int_eq(range_parse("bytes=0-1", 5, 100, &r), RANGE_IGNORE);
	/* An embedded NUL is just a bad byte. */
	ck_assert_int_eq(range_parse("bytes=0\0-1", 10, 100, &r), RANGE_IGNORE);
	ck_assert_int_eq(range_parse("by\0es=0-1", 9, 100, &r), RANGE_IGNORE);
}
END_TEST

/* Lists: the ranges wanted, as "first-last" words after sorting and merging. */
static const struct {
	const char *value;
	uint64_t size;
	enum range_result want;
	const char *ranges;
} list_cases[] = {
    /* One range behaves as range_parse does. */
    {"bytes=0-0", 100, RANGE_OK, "0-0"},
    {"bytes=-10", 100, RANGE_OK, "90-99"},
    {"bytes=100-", 100, RANGE_UNSATISFIABLE, NULL},
    {"bytes=5-2", 100, RANGE_IGNORE, NULL},
    /* Disjoint ranges stay apart, sorted. */
    {"bytes=0-1,5-6", 100, RANGE_OK, "0-1 5-6"},
    {"bytes=5-6,0-1", 100, RANGE_OK, "0-1 5-6"},
    {"bytes=90-,0-9, 50-59", 100, RANGE_OK, "0-9 50-59 90-99"},
    {"bytes=-1,0-0", 100, RANGE_OK, "0-0 99-99"},
    {"bytes=0-1,3-4", 100, RANGE_OK, "0-1 3-4"},
    /* Overlapping or adjacent ranges merge. */
    {"bytes=0-1,2-3", 100, RANGE_OK, "0-3"},
    {"bytes=2-3,0-1", 100, RANGE_OK, "0-3"},
    {"bytes=0-10,5-20", 100, RANGE_OK, "0-20"},
    {"bytes=0-10,2-3", 100, RANGE_OK, "0-10"},
    {"bytes=10-19,0-9,20-29", 100, RANGE_OK, "0-29"},
    {"bytes=0-4,10-14,3-11", 100, RANGE_OK, "0-14"},
    {"bytes=0-0,-1", 1, RANGE_IGNORE, NULL}, /* 2 bytes asked of 1 */
    {"bytes=0-49,50-", 100, RANGE_OK, "0-99"},
    {"bytes=0-1,0-1", 100, RANGE_OK, "0-1"},
    {"bytes=98-,-1", 100, RANGE_OK, "98-99"},
    {"bytes=0-0,2-2,1-1", 100, RANGE_OK, "0-2"},
    /* Unsatisfiable specs are dropped; none left is a 416. */
    {"bytes=200-300,0-1", 100, RANGE_OK, "0-1"},
    {"bytes=0-1,200-", 100, RANGE_OK, "0-1"},
    {"bytes=200-300,400-", 100, RANGE_UNSATISFIABLE, NULL},
    {"bytes=-0,100-", 100, RANGE_UNSATISFIABLE, NULL},
    {"bytes=0-0,1-1", 0, RANGE_UNSATISFIABLE, NULL},
    /* One malformed spec spoils the field. */
    {"bytes=0-1,x", 100, RANGE_IGNORE, NULL},
    {"bytes=x,0-1", 100, RANGE_IGNORE, NULL},
    {"bytes=0-1,5-2", 100, RANGE_IGNORE, NULL},
    {"bytes=0-1,200-300,5-2", 100, RANGE_IGNORE, NULL},
    {"bytes=0-1;2-3", 100, RANGE_IGNORE, NULL},
    {"bytes=0-1,,2-3 ,", 100, RANGE_OK, "0-3"},
    /* Amplification: satisfiable ranges adding up past the size. */
    {"bytes=0-,0-", 100, RANGE_IGNORE, NULL},
    {"bytes=0-99,-1", 100, RANGE_IGNORE, NULL},
    {"bytes=0-59,40-99", 100, RANGE_IGNORE, NULL},
    {"bytes=0-49,50-99", 100, RANGE_OK, "0-99"},
    {"bytes=0-,1000-", 100, RANGE_OK, "0-99"},
    {"bytes=-18446744073709551615,-18446744073709551615", 100, RANGE_IGNORE,
	NULL},
    {"bytes=0-4294967295,4294967296-", 5 * GIB, RANGE_OK, "0-5368709119"},
    {"bytes=1-,0-0", UINT64_MAX, RANGE_OK, "0-18446744073709551614"},
    /* The cap counts range-specs as written, merged or not. */
    {"bytes=0-0,1-1,2-2,3-3,4-4,5-5,6-6,7-7,8-8,9-9,10-10,11-11,12-12,"
     "13-13,14-14,15-15",
	100, RANGE_OK, "0-15"},
    {"bytes=0-0,2-2,4-4,6-6,8-8,10-10,12-12,14-14,16-16,18-18,20-20,"
     "22-22,24-24,26-26,28-28,30-30",
	100, RANGE_OK,
	"0-0 2-2 4-4 6-6 8-8 10-10 12-12 14-14 16-16 18-18 20-20 22-22 "
	"24-24 26-26 28-28 30-30"},
    {"bytes=0-0,1-1,2-2,3-3,4-4,5-5,6-6,7-7,8-8,9-9,10-10,11-11,12-12,"
     "13-13,14-14,15-15,16-16",
	100, RANGE_IGNORE, NULL},
    {"bytes=200-,200-,200-,200-,200-,200-,200-,200-,200-,200-,200-,200-,"
     "200-,200-,200-,200-,200-",
	100, RANGE_IGNORE, NULL},
};

/* Renders ranges as list_cases writes them. */
static void
ranges_text(const struct byte_range *r, size_t n, char *buf, size_t size)
{
	size_t i, used = 0;

	buf[0] = '\0';
	for (i = 0; i < n && used < size; i++)
		used += (size_t)snprintf(buf + used, size - used, "%s%ju-%ju",
		    i > 0 ? " " : "", (uintmax_t)r[i].first,
		    (uintmax_t)r[i].last);
}

START_TEST(test_list)
{
	struct byte_range r[RANGE_MAX_PARTS + 1];
	size_t count = 999, i;
	enum range_result got;
	char text[512];

	memset(r, 0xa5, sizeof r);
	got =
	    range_parse_list(list_cases[_i].value, strlen(list_cases[_i].value),
		list_cases[_i].size, r, RANGE_MAX_PARTS, &count);
	ck_assert_msg(got == list_cases[_i].want,
	    "case %d \"%s\": got %d, want %d", _i, list_cases[_i].value, got,
	    list_cases[_i].want);
	if (got != RANGE_OK) {
		ck_assert_uint_eq(count, 999);
		return;
	}
	ck_assert(count >= 1 && count <= RANGE_MAX_PARTS);
	ranges_text(r, count, text, sizeof text);
	ck_assert_msg(strcmp(text, list_cases[_i].ranges) == 0,
	    "case %d \"%s\": got \"%s\", want \"%s\"", _i, list_cases[_i].value,
	    text, list_cases[_i].ranges);
	/* Sorted, apart by at least one byte, inside the representation. */
	for (i = 0; i < count; i++) {
		ck_assert(r[i].first <= r[i].last);
		ck_assert(r[i].last < list_cases[_i].size);
		if (i > 0)
			ck_assert(r[i].first > r[i - 1].last + 1);
	}
	/* Nothing written past the ranges returned. */
	ck_assert(r[count].first == UINT64_C(0xa5a5a5a5a5a5a5a5));
}
END_TEST

START_TEST(test_list_max)
{
	struct byte_range r[RANGE_MAX_PARTS];
	size_t count = 0;
	const char *v = "bytes=0-1,5-6,9-9";

	/* A smaller cap; range_parse is the cap of one. */
	ck_assert_int_eq(
	    range_parse_list(v, strlen(v), 100, r, 3, &count), RANGE_OK);
	ck_assert_uint_eq(count, 3);
	ck_assert_int_eq(
	    range_parse_list(v, strlen(v), 100, r, 2, &count), RANGE_IGNORE);
	ck_assert_int_eq(
	    range_parse_list(v, strlen(v), 100, r, 0, &count), RANGE_IGNORE);
	ck_assert_int_eq(range_parse(v, strlen(v), 100, r), RANGE_IGNORE);
	ck_assert_int_eq(
	    range_parse_list(NULL, 0, 100, r, 4, &count), RANGE_IGNORE);
	/* A cap above RANGE_MAX_PARTS is RANGE_MAX_PARTS. */
	v = "bytes=0-0,2-2,4-4,6-6,8-8,10-10,12-12,14-14,16-16,18-18,20-20,"
	    "22-22,24-24,26-26,28-28,30-30,32-32";
	ck_assert_int_eq(
	    range_parse_list(v, strlen(v), 100, r, 1000, &count), RANGE_IGNORE);
}
END_TEST

static Suite *
range_suite(void)
{
	Suite *s = suite_create("range");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_table, 0, sizeof cases / sizeof cases[0]);
	tcase_add_test(tc, test_edges);
	tcase_add_loop_test(
	    tc, test_list, 0, sizeof list_cases / sizeof list_cases[0]);
	tcase_add_test(tc, test_list_max);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(range_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
