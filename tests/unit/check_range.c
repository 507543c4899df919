/*
 * Unit tests for Range parsing: a table of field values against
 * representation sizes, including sizes past 4 GiB and numbers at the
 * edge of 64 bits, since that is where a 32-bit slip or an overflow
 * would hide.
 */

#include "autoconf.h"

#include <stdint.h>
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

static Suite *
range_suite(void)
{
	Suite *s = suite_create("range");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_table, 0, sizeof cases / sizeof cases[0]);
	tcase_add_test(tc, test_edges);
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
