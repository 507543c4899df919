/*
 * Unit tests for HTTP dates: known instants formatted, the three input
 * formats parsed, a format/parse round trip over many instants, and a
 * table of near-miss strings that must all be refused. The RFC 850 year
 * window depends on today's date, so those cases are built at run time.
 */

#include "autoconf.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include "httpdate.h"

static const struct {
	int64_t t;
	const char *s;
} format_cases[] = {
    {0, "Thu, 01 Jan 1970 00:00:00 GMT"},
    {784111777, "Sun, 06 Nov 1994 08:49:37 GMT"},
    {951782400, "Tue, 29 Feb 2000 00:00:00 GMT"},
    {951868799, "Tue, 29 Feb 2000 23:59:59 GMT"},
    {1483228799, "Sat, 31 Dec 2016 23:59:59 GMT"},
    {2147483647, "Tue, 19 Jan 2038 03:14:07 GMT"},
    {INT64_C(2147483648), "Tue, 19 Jan 2038 03:14:08 GMT"},
    {INT64_C(4102444800), "Fri, 01 Jan 2100 00:00:00 GMT"},
    {INT64_C(253402300799), "Fri, 31 Dec 9999 23:59:59 GMT"},
    /* Clamped to what a four-digit year can show. */
    {-1, "Thu, 01 Jan 1970 00:00:00 GMT"},
    {INT64_C(-86400000), "Thu, 01 Jan 1970 00:00:00 GMT"},
    {INT64_C(253402300800), "Fri, 31 Dec 9999 23:59:59 GMT"},
    {INT64_MAX, "Fri, 31 Dec 9999 23:59:59 GMT"},
    {INT64_MIN, "Thu, 01 Jan 1970 00:00:00 GMT"},
};

static const struct {
	const char *s;
	int64_t t;
} parse_cases[] = {
    {"Sun, 06 Nov 1994 08:49:37 GMT", 784111777},
    {"Sun Nov  6 08:49:37 1994", 784111777},
    {"Sun Nov 06 08:49:37 1994", 784111777},
    {"Thu, 01 Jan 1970 00:00:00 GMT", 0},
    {"Thu Jan  1 00:00:00 1970", 0},
    {"Wed, 31 Dec 1969 23:59:59 GMT", -1},
    {"Wed, 31 Dec 1969 23:59:58 GMT", -2},
    {"Tue, 29 Feb 2000 00:00:00 GMT", 951782400},
    {"Thu, 29 Feb 2024 12:00:00 GMT", 1709208000},
    {"Tue Feb 29 00:00:00 2000", 951782400},
    {"Sat, 31 Dec 2016 23:59:60 GMT", 1483228800},
    {"Tue, 19 Jan 2038 03:14:08 GMT", INT64_C(2147483648)},
    {"Fri, 31 Dec 9999 23:59:59 GMT", INT64_C(253402300799)},
    {"Mon, 01 Jan 1900 00:00:00 GMT", INT64_C(-2208988800)},
    {"Sat, 01 Jan 0000 00:00:00 GMT", INT64_C(-62167219200)},
    /* Valid until 2044, when "94" stops meaning 1994. */
    {"Sunday, 06-Nov-94 08:49:37 GMT", 784111777},
    {"Thursday, 09-Sep-99 09:09:09 GMT", 936868149},
};

static const char *const invalid_cases[] = {
    "",
    "Sun",
    "Sun,",
    "garbage in, garbage out, really",
    /* IMF-fixdate near misses. */
    "Mon, 06 Nov 1994 08:49:37 GMT", /* wrong weekday */
    "Sun, 06 Nov 1994 08:49:37 GMT ",
    " Sun, 06 Nov 1994 08:49:37 GMT",
    "Sun, 06 Nov 1994 08:49:37 UTC",
    "Sun, 06 Nov 1994 08:49:37 gmt",
    "Sun, 6 Nov 1994 08:49:37 GMT",
    "Sun, 06 Nov 1994 8:49:37 GMT",
    "sun, 06 Nov 1994 08:49:37 GMT",
    "Sun, 06 nov 1994 08:49:37 GMT",
    "SUN, 06 NOV 1994 08:49:37 GMT",
    "Sun, 06 Nov 94 08:49:37 GMT",
    "Sun,06 Nov 1994 08:49:37 GMT",
    "Sun, 06 Nov 1994 08:49:37GMT",
    "Sun, 06 Nov 1994 08-49-37 GMT",
    "Sun, 06 Nov 1994  08:49:37 GMT",
    "Sun, 06-Nov-1994 08:49:37 GMT",
    "Sun, 06 Xyz 1994 08:49:37 GMT",
    "Xyz, 06 Nov 1994 08:49:37 GMT",
    "Sun, 0x Nov 1994 08:49:37 GMT",
    "Sun, 06 Nov 199x 08:49:37 GMT",
    "Sun, +6 Nov 1994 08:49:37 GMT",
    "Sun, 06 Nov 1994 08:49:3 GMT",
    /* Field ranges. */
    "Sun, 00 Nov 1994 08:49:37 GMT",
    "Thu, 31 Nov 1994 08:49:37 GMT",
    "Wed, 32 Dec 1994 08:49:37 GMT",
    "Thu, 29 Feb 1900 00:00:00 GMT", /* 1900 is not a leap year */
    "Sun, 29 Feb 2023 00:00:00 GMT",
    "Sun, 06 Nov 1994 24:00:00 GMT",
    "Sun, 06 Nov 1994 08:60:37 GMT",
    "Sun, 06 Nov 1994 08:49:61 GMT",
    "Sun, 06 Nov 1994 99:99:99 GMT",
    /* RFC 850 near misses. */
    "Sun, 06-Nov-94 08:49:37 GMT",
    "Sunday, 06-Nov-1994 08:49:37 GMT",
    "Sunday 06-Nov-94 08:49:37 GMT",
    "Sunday, 06 Nov 94 08:49:37 GMT",
    "Sundays, 06-Nov-94 08:49:37 GMT",
    "sunday, 06-Nov-94 08:49:37 GMT",
    "Monday, 06-Nov-94 08:49:37 GMT",
    "Sunday, 06-Nov-94 08:49:37 GMT ",
    "Sunday, 06-Nov-94 08:49:37 UTC",
    "Sunday, 6-Nov-94 08:49:37 GMT",
    "Sunday, 06-Nov-9 08:49:37 GMT",
    "Sunday,",
    "Sunday, ",
    "Saturday, 31-Jun-94 08:49:37 GMT",
    "Wednesday, 09-Sep-99 09:09:09 GMT", /* a Thursday */
    /* asctime near misses. */
    "Sun Nov 6 08:49:37 1994",
    "Sun Nov  6 08:49:37 94",
    "Sun Nov  6 08:49:37 1994\n",
    "Sun Nov  6 08:49:37 1994 ",
    "Sun Nov 6  08:49:37 1994",
    "Sun Nov  x 08:49:37 1994",
    "Sun Nov x6 08:49:37 1994",
    "Mon Nov  6 08:49:37 1994",
    "Sun Nov  6 08:49:37 GMT 1994",
    "Sun  Nov 6 08:49:37 1994",
    "Fri Feb 30 00:00:00 2024",
};

START_TEST(test_format)
{
	char buf[HTTPDATE_LEN + 1];

	memset(buf, 'x', sizeof buf);
	httpdate_format((time_t)format_cases[_i].t, buf);
	ck_assert_str_eq(buf, format_cases[_i].s);
	ck_assert_uint_eq(strlen(buf), HTTPDATE_LEN);
}
END_TEST

START_TEST(test_parse)
{
	time_t t = 12345;

	ck_assert_msg(httpdate_parse(parse_cases[_i].s,
			  strlen(parse_cases[_i].s), &t) == 0,
	    "\"%s\" refused", parse_cases[_i].s);
	ck_assert_msg((int64_t)t == parse_cases[_i].t, "\"%s\": %jd",
	    parse_cases[_i].s, (intmax_t)t);
}
END_TEST

START_TEST(test_invalid)
{
	time_t t = 12345;

	ck_assert_msg(httpdate_parse(invalid_cases[_i],
			  strlen(invalid_cases[_i]), &t) == -1,
	    "\"%s\" accepted", invalid_cases[_i]);
	ck_assert_int_eq(t, 12345);
}
END_TEST

START_TEST(test_bounds)
{
	const char *imf = "Sun, 06 Nov 1994 08:49:37 GMT";
	time_t t;

	/* Only len bytes count: a cut date is not a date. */
	ck_assert_int_eq(httpdate_parse(imf, 28, &t), -1);
	ck_assert_int_eq(httpdate_parse(imf, 3, &t), -1);
	ck_assert_int_eq(httpdate_parse(imf, 0, &t), -1);
	ck_assert_int_eq(httpdate_parse(NULL, 0, &t), -1);
	ck_assert_int_eq(
	    httpdate_parse("Sun, 06 Nov 1994 08:49:37 G\0T", 29, &t), -1);
	ck_assert_int_eq(
	    httpdate_parse("Sun, 06 Nov 1994 08:49:37 GMTX", 29, &t), 0);
	ck_assert_int_eq(t, 784111777);
}
END_TEST

/* Every instant we format must parse back to itself. */
START_TEST(test_round_trip)
{
	char buf[HTTPDATE_LEN + 1];
	uint64_t x = 0x9e3779b97f4a7c15u;
	int64_t v;
	time_t t;
	int i;

	for (i = 0; i < 20000; i++) {
		/* xorshift: spread over 0 .. 9999-12-31. */
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		v = (int64_t)(x % UINT64_C(253402300800));
		if (i < 1000)
			v = i * 86399; /* dense near the epoch */
		httpdate_format((time_t)v, buf);
		ck_assert_int_eq(httpdate_parse(buf, HTTPDATE_LEN, &t), 0);
		ck_assert_msg((int64_t)t == v, "%jd -> %s -> %jd", (intmax_t)v,
		    buf, (intmax_t)t);
	}
}
END_TEST

/*
 * The same instant in all three formats parses to the same time; asctime
 * and RFC 850 are derived from the IMF-fixdate our formatter wrote.
 */
START_TEST(test_three_formats)
{
	static const char *const long_names[7] = {"Sunday", "Monday", "Tuesday",
	    "Wednesday", "Thursday", "Friday", "Saturday"};
	char imf[HTTPDATE_LEN + 1], other[64];
	struct tm tm;
	time_t now = time(NULL), t, want;
	int i, n;

	for (i = 0; i < 400; i++) {
		/* Within 40 years either side of now: no RFC 850 ambiguity. */
		want = now - (time_t)40 * 365 * 86400 +
		       (time_t)i * 80 * 365 * 86400 / 400 + i * 7919;
		httpdate_format(want, imf);
		ck_assert_ptr_nonnull(gmtime_r(&want, &tm));

		/* "Sun Nov  6 08:49:37 1994" */
		n = snprintf(other, sizeof other, "%.3s %.3s %2d %.8s %.4s",
		    imf, imf + 8, tm.tm_mday, imf + 17, imf + 12);
		ck_assert_int_eq(httpdate_parse(other, (size_t)n, &t), 0);
		ck_assert_int_eq(t, want);

		/* "Sunday, 06-Nov-94 08:49:37 GMT" */
		n = snprintf(other, sizeof other, "%s, %.2s-%.3s-%.2s %.8s GMT",
		    long_names[tm.tm_wday], imf + 5, imf + 8, imf + 14,
		    imf + 17);
		ck_assert_int_eq(httpdate_parse(other, (size_t)n, &t), 0);
		ck_assert_msg(t == want, "%s", other);
	}
}
END_TEST

/*
 * RFC 9110 5.6.7: a two-digit year more than 50 years ahead is in the
 * past. Checked at offsets around the edge of the window from this year.
 */
START_TEST(test_rfc850_window)
{
	static const char *const long_names[7] = {"Sunday", "Monday", "Tuesday",
	    "Wednesday", "Thursday", "Friday", "Saturday"};
	static const struct {
		int offset; /* year sent, relative to this year */
		int meant;  /* year it must be taken for */
	} window[] = {
	    {0, 0},
	    {1, 1},
	    {-1, -1},
	    {49, 49},
	    {50, 50},
	    {51, -49},
	    {99, -1},
	    {-49, -49},
	    {-50, 50},
	};
	char s[64];
	struct tm tm;
	time_t now = time(NULL), want, t;
	int year, i, n;

	ck_assert_ptr_nonnull(gmtime_r(&now, &tm));
	year = tm.tm_year + 1900;
	for (i = 0; i < (int)(sizeof window / sizeof window[0]); i++) {
		memset(&tm, 0, sizeof tm);
		tm.tm_year = year + window[i].meant - 1900;
		tm.tm_mon = 5;
		tm.tm_mday = 15;
		tm.tm_hour = 12;
		want = timegm(&tm);
		ck_assert_ptr_nonnull(gmtime_r(&want, &tm));
		n = snprintf(s, sizeof s, "%s, 15-Jun-%02d 12:00:00 GMT",
		    long_names[tm.tm_wday],
		    ((year + window[i].offset) % 100 + 100) % 100);
		ck_assert_int_eq(httpdate_parse(s, (size_t)n, &t), 0);
		ck_assert_msg(t == want, "offset %d: %s", window[i].offset, s);
	}
}
END_TEST

static Suite *
httpdate_suite(void)
{
	Suite *s = suite_create("httpdate");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(
	    tc, test_format, 0, sizeof format_cases / sizeof format_cases[0]);
	tcase_add_loop_test(
	    tc, test_parse, 0, sizeof parse_cases / sizeof parse_cases[0]);
	tcase_add_loop_test(tc, test_invalid, 0,
	    sizeof invalid_cases / sizeof invalid_cases[0]);
	tcase_add_test(tc, test_bounds);
	tcase_add_test(tc, test_round_trip);
	tcase_add_test(tc, test_three_formats);
	tcase_add_test(tc, test_rfc850_window);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(httpdate_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
