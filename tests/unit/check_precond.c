/*
 * Unit tests for precondition evaluation. One table: the conditional
 * fields of a request, the representation's validators, and the outcome
 * RFC 9110 13.2.2 gives them. Rows are grouped by the step that decides,
 * with the precedence cases (an earlier step deciding before a later one
 * could) next to each step. The requests are built directly, not parsed:
 * what the parser yields is check_request's business.
 */

#include "autoconf.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>

#include "precond.h"
#include "request.h"

/* A Wednesday, so that If-Range dates start with a 'W' like weak tags. */
#define LM ((time_t)1445412480)
#define LM_IMF "Wed, 21 Oct 2015 07:28:00 GMT"
#define LM_850 "Wednesday, 21-Oct-15 07:28:00 GMT"
#define LM_ASC "Wed Oct 21 07:28:00 2015"
#define BEFORE "Wed, 21 Oct 2015 07:27:59 GMT"
#define AFTER "Wed, 21 Oct 2015 07:28:01 GMT"
#define ETAG "\"abc-12\""
#define WEAK "W/\"abc-12\""
#define NOW (LM + 3600)

#define P PRECOND_PROCEED
#define NM PRECOND_NOT_MODIFIED
#define FAIL PRECOND_FAILED

static const struct {
	enum http_method method;
	const char *if_match;
	const char *if_unmodified_since;
	const char *if_none_match;
	const char *if_modified_since;
	const char *if_range;
	const char *range;
	const char *etag; /* the validator */
	time_t now;
	enum precond_result want;
	int range_applies;
} cases[] = {
    /* No conditions. */
    {HTTP_GET, NULL, NULL, NULL, NULL, NULL, NULL, ETAG, NOW, P, 0},
    {HTTP_GET, NULL, NULL, NULL, NULL, NULL, "bytes=0-1", ETAG, NOW, P, 1},
    /* Range is defined for GET only (RFC 9110 14.2). */
    {HTTP_HEAD, NULL, NULL, NULL, NULL, NULL, "bytes=0-1", ETAG, NOW, P, 0},
    {HTTP_KNOWN_OTHER, NULL, NULL, NULL, NULL, NULL, "bytes=0-1", ETAG, NOW, P,
	0},

    /* Step 1: If-Match, strong comparison. */
    {HTTP_GET, ETAG, NULL, NULL, NULL, NULL, NULL, ETAG, NOW, P, 0},
    {HTTP_GET, "*", NULL, NULL, NULL, NULL, NULL, ETAG, NOW, P, 0},
    {HTTP_GET, "\"x\"", NULL, NULL, NULL, NULL, NULL, ETAG, NOW, FAIL, 0},
    {HTTP_GET, "\"x\", " ETAG, NULL, NULL, NULL, NULL, NULL, ETAG, NOW, P, 0},
    {HTTP_GET, ETAG ",\"x\"", NULL, NULL, NULL, NULL, NULL, ETAG, NOW, P, 0},
    {HTTP_GET, " , ," ETAG ",", NULL, NULL, NULL, NULL, NULL, ETAG, NOW, P, 0},
    {HTTP_GET, "\"x\"\t,\t\"y\"", NULL, NULL, NULL, NULL, NULL, ETAG, NOW, FAIL,
	0},
    {HTTP_GET, WEAK, NULL, NULL, NULL, NULL, NULL, ETAG, NOW, FAIL, 0},
    {HTTP_GET, "\"ABC-12\"", NULL, NULL, NULL, NULL, NULL, ETAG, NOW, FAIL, 0},
    {HTTP_GET, "\"abc-1\"", NULL, NULL, NULL, NULL, NULL, ETAG, NOW, FAIL, 0},
    {HTTP_GET, "\"abc-123\"", NULL, NULL, NULL, NULL, NULL, ETAG, NOW, FAIL, 0},
    /* A weak validator never matches strongly; "*" still does. */
    {HTTP_GET, WEAK, NULL, NULL, NULL, NULL, NULL, WEAK, NOW, FAIL, 0},
    {HTTP_GET, ETAG, NULL, NULL, NULL, NULL, NULL, WEAK, NOW, FAIL, 0},
    {HTTP_GET, "*", NULL, NULL, NULL, NULL, NULL, WEAK, NOW, P, 0},
    /* No entity tag at all: only "*". */
    {HTTP_GET, ETAG, NULL, NULL, NULL, NULL, NULL, NULL, NOW, FAIL, 0},
    {HTTP_GET, "*", NULL, NULL, NULL, NULL, NULL, NULL, NOW, P, 0},
    /* Malformed lists match nothing, wherever the error is. */
    {HTTP_GET, "abc-12", NULL, NULL, NULL, NULL, NULL, ETAG, NOW, FAIL, 0},
    {HTTP_GET, "\"abc-12", NULL, NULL, NULL, NULL, NULL, ETAG, NOW, FAIL, 0},
    {HTTP_GET, ETAG " x", NULL, NULL, NULL, NULL, NULL, ETAG, NOW, FAIL, 0},
    {HTTP_GET, ETAG ", junk", NULL, NULL, NULL, NULL, NULL, ETAG, NOW, FAIL, 0},
    {HTTP_GET, "junk, " ETAG, NULL, NULL, NULL, NULL, NULL, ETAG, NOW, FAIL, 0},
    {HTTP_GET, ETAG ETAG, NULL, NULL, NULL, NULL, NULL, ETAG, NOW, FAIL, 0},
    {HTTP_GET, "w/\"abc-12\"", NULL, NULL, NULL, NULL, NULL, ETAG, NOW, FAIL,
	0},
    {HTTP_GET, "W/ \"abc-12\"", NULL, NULL, NULL, NULL, NULL, ETAG, NOW, FAIL,
	0},
    {HTTP_GET, "\"a b\", " ETAG, NULL, NULL, NULL, NULL, NULL, ETAG, NOW, FAIL,
	0},
    {HTTP_GET, "*, " ETAG, NULL, NULL, NULL, NULL, NULL, ETAG, NOW, FAIL, 0},
    {HTTP_GET, "**", NULL, NULL, NULL, NULL, NULL, ETAG, NOW, FAIL, 0},
    {HTTP_GET, "", NULL, NULL, NULL, NULL, NULL, ETAG, NOW, FAIL, 0},
    /* A comma inside a tag is part of it. */
    {HTTP_GET, "\"a,b\"", NULL, NULL, NULL, NULL, NULL, "\"a,b\"", NOW, P, 0},
    {HTTP_GET, "\"a\", \"b\"", NULL, NULL, NULL, NULL, NULL, "\"a,b\"", NOW,
	FAIL, 0},
    /* obs-text is allowed in a tag. */
    {HTTP_GET, "\"\xc3\xa9\"", NULL, NULL, NULL, NULL, NULL, "\"\xc3\xa9\"",
	NOW, P, 0},
    /* If-Match decides before everything after it. */
    {HTTP_GET, ETAG, BEFORE, NULL, NULL, NULL, NULL, ETAG, NOW, P, 0},
    {HTTP_GET, "\"x\"", AFTER, NULL, NULL, NULL, NULL, ETAG, NOW, FAIL, 0},
    {HTTP_GET, "\"x\"", NULL, ETAG, NULL, NULL, NULL, ETAG, NOW, FAIL, 0},
    {HTTP_GET, "\"x\"", NULL, NULL, LM_IMF, NULL, NULL, ETAG, NOW, FAIL, 0},
    {HTTP_GET, "\"x\"", NULL, NULL, NULL, ETAG, "bytes=0-1", ETAG, NOW, FAIL,
	0},
    {HTTP_GET, ETAG, NULL, ETAG, NULL, NULL, NULL, ETAG, NOW, NM, 0},
    {HTTP_GET, ETAG, NULL, NULL, NULL, ETAG, "bytes=0-1", ETAG, NOW, P, 1},
    {HTTP_HEAD, "\"x\"", NULL, NULL, NULL, NULL, NULL, ETAG, NOW, FAIL, 0},

    /* Step 2: If-Unmodified-Since, only without If-Match. */
    {HTTP_GET, NULL, LM_IMF, NULL, NULL, NULL, NULL, ETAG, NOW, P, 0},
    {HTTP_GET, NULL, AFTER, NULL, NULL, NULL, NULL, ETAG, NOW, P, 0},
    {HTTP_GET, NULL, BEFORE, NULL, NULL, NULL, NULL, ETAG, NOW, FAIL, 0},
    {HTTP_GET, NULL, "Thu, 01 Jan 1970 00:00:00 GMT", NULL, NULL, NULL, NULL,
	ETAG, NOW, FAIL, 0},
    {HTTP_GET, NULL, LM_850, NULL, NULL, NULL, NULL, ETAG, NOW, P, 0},
    {HTTP_GET, NULL, LM_ASC, NULL, NULL, NULL, NULL, ETAG, NOW, P, 0},
    {HTTP_GET, NULL, "Tuesday, 20-Oct-15 07:28:00 GMT", NULL, NULL, NULL, NULL,
	ETAG, NOW, FAIL, 0},
    /* Invalid dates, lists of dates included, are ignored. */
    {HTTP_GET, NULL, "yesterday", NULL, NULL, NULL, NULL, ETAG, NOW, P, 0},
    {HTTP_GET, NULL, "", NULL, NULL, NULL, NULL, ETAG, NOW, P, 0},
    {HTTP_GET, NULL, BEFORE ", " BEFORE, NULL, NULL, NULL, NULL, ETAG, NOW, P,
	0},
    {HTTP_GET, NULL, "Wed, 21 Oct 2015 07:27:59 UTC", NULL, NULL, NULL, NULL,
	ETAG, NOW, P, 0},
    {HTTP_GET, NULL, "Wed, 32 Oct 2015 07:27:59 GMT", NULL, NULL, NULL, NULL,
	ETAG, NOW, P, 0},
    /* A failing If-Unmodified-Since wins over a matching If-None-Match. */
    {HTTP_GET, NULL, BEFORE, ETAG, NULL, NULL, NULL, ETAG, NOW, FAIL, 0},
    {HTTP_GET, NULL, BEFORE, NULL, LM_IMF, NULL, NULL, ETAG, NOW, FAIL, 0},
    {HTTP_GET, NULL, LM_IMF, ETAG, NULL, NULL, NULL, ETAG, NOW, NM, 0},
    {HTTP_GET, NULL, "bad", ETAG, NULL, NULL, NULL, ETAG, NOW, NM, 0},

    /* Step 3: If-None-Match, weak comparison. */
    {HTTP_GET, NULL, NULL, ETAG, NULL, NULL, NULL, ETAG, NOW, NM, 0},
    {HTTP_HEAD, NULL, NULL, ETAG, NULL, NULL, NULL, ETAG, NOW, NM, 0},
    {HTTP_KNOWN_OTHER, NULL, NULL, ETAG, NULL, NULL, NULL, ETAG, NOW, FAIL, 0},
    {HTTP_OPTIONS, NULL, NULL, "*", NULL, NULL, NULL, ETAG, NOW, FAIL, 0},
    {HTTP_GET, NULL, NULL, WEAK, NULL, NULL, NULL, ETAG, NOW, NM, 0},
    {HTTP_GET, NULL, NULL, ETAG, NULL, NULL, NULL, WEAK, NOW, NM, 0},
    {HTTP_GET, NULL, NULL, WEAK, NULL, NULL, NULL, WEAK, NOW, NM, 0},
    {HTTP_GET, NULL, NULL, "*", NULL, NULL, NULL, ETAG, NOW, NM, 0},
    {HTTP_GET, NULL, NULL, "*", NULL, NULL, NULL, NULL, NOW, NM, 0},
    {HTTP_GET, NULL, NULL, "\"x\"", NULL, NULL, NULL, ETAG, NOW, P, 0},
    {HTTP_GET, NULL, NULL, "\"x\", " WEAK, NULL, NULL, NULL, ETAG, NOW, NM, 0},
    {HTTP_GET, NULL, NULL, "\"x\",\"y\",\"z\"", NULL, NULL, NULL, ETAG, NOW, P,
	0},
    {HTTP_GET, NULL, NULL, ETAG, NULL, NULL, NULL, NULL, NOW, P, 0},
    /* Malformed: matches nothing, so the request goes through. */
    {HTTP_GET, NULL, NULL, ETAG " junk", NULL, NULL, NULL, ETAG, NOW, P, 0},
    {HTTP_GET, NULL, NULL, "abc-12", NULL, NULL, NULL, ETAG, NOW, P, 0},
    {HTTP_GET, NULL, NULL, "", NULL, NULL, NULL, ETAG, NOW, P, 0},
    /* Present, it makes If-Modified-Since not count, even unmatched. */
    {HTTP_GET, NULL, NULL, "\"x\"", LM_IMF, NULL, NULL, ETAG, NOW, P, 0},
    {HTTP_GET, NULL, NULL, "junk", LM_IMF, NULL, NULL, ETAG, NOW, P, 0},
    {HTTP_GET, NULL, NULL, "\"x\"", LM_IMF, NULL, "bytes=0-1", ETAG, NOW, P, 1},
    /* A 304 leaves no Range to apply. */
    {HTTP_GET, NULL, NULL, ETAG, NULL, NULL, "bytes=0-1", ETAG, NOW, NM, 0},
    {HTTP_GET, NULL, NULL, ETAG, NULL, ETAG, "bytes=0-1", ETAG, NOW, NM, 0},

    /* Step 4: If-Modified-Since, GET and HEAD only. */
    {HTTP_GET, NULL, NULL, NULL, LM_IMF, NULL, NULL, ETAG, NOW, NM, 0},
    {HTTP_HEAD, NULL, NULL, NULL, LM_IMF, NULL, NULL, ETAG, NOW, NM, 0},
    {HTTP_GET, NULL, NULL, NULL, AFTER, NULL, NULL, ETAG, NOW, NM, 0},
    {HTTP_GET, NULL, NULL, NULL, BEFORE, NULL, NULL, ETAG, NOW, P, 0},
    {HTTP_GET, NULL, NULL, NULL, LM_850, NULL, NULL, ETAG, NOW, NM, 0},
    {HTTP_GET, NULL, NULL, NULL, LM_ASC, NULL, NULL, ETAG, NOW, NM, 0},
    {HTTP_GET, NULL, NULL, NULL, "garbage", NULL, NULL, ETAG, NOW, P, 0},
    {HTTP_GET, NULL, NULL, NULL, LM_IMF ", " LM_IMF, NULL, NULL, ETAG, NOW, P,
	0},
    {HTTP_KNOWN_OTHER, NULL, NULL, NULL, LM_IMF, NULL, NULL, ETAG, NOW, P, 0},
    {HTTP_GET, NULL, NULL, NULL, LM_IMF, NULL, "bytes=0-1", ETAG, NOW, NM, 0},
    {HTTP_GET, NULL, NULL, NULL, BEFORE, NULL, "bytes=0-1", ETAG, NOW, P, 1},

    /* Step 5: If-Range, strong comparison; only with a Range. */
    {HTTP_GET, NULL, NULL, NULL, NULL, ETAG, "bytes=0-1", ETAG, NOW, P, 1},
    {HTTP_GET, NULL, NULL, NULL, NULL, "\"x\"", "bytes=0-1", ETAG, NOW, P, 0},
    {HTTP_GET, NULL, NULL, NULL, NULL, WEAK, "bytes=0-1", ETAG, NOW, P, 0},
    {HTTP_GET, NULL, NULL, NULL, NULL, WEAK, "bytes=0-1", WEAK, NOW, P, 0},
    {HTTP_GET, NULL, NULL, NULL, NULL, ETAG, "bytes=0-1", WEAK, NOW, P, 0},
    {HTTP_GET, NULL, NULL, NULL, NULL, ETAG, "bytes=0-1", NULL, NOW, P, 0},
    {HTTP_GET, NULL, NULL, NULL, NULL, ETAG ", \"x\"", "bytes=0-1", ETAG, NOW,
	P, 0},
    {HTTP_GET, NULL, NULL, NULL, NULL, ETAG "x", "bytes=0-1", ETAG, NOW, P, 0},
    {HTTP_GET, NULL, NULL, NULL, NULL, "*", "bytes=0-1", ETAG, NOW, P, 0},
    {HTTP_GET, NULL, NULL, NULL, NULL, "", "bytes=0-1", ETAG, NOW, P, 0},
    {HTTP_GET, NULL, NULL, NULL, NULL, "garbage", "bytes=0-1", ETAG, NOW, P, 0},
    /* A date: exactly Last-Modified, and strong. */
    {HTTP_GET, NULL, NULL, NULL, NULL, LM_IMF, "bytes=0-1", ETAG, NOW, P, 1},
    {HTTP_GET, NULL, NULL, NULL, NULL, LM_850, "bytes=0-1", ETAG, NOW, P, 1},
    {HTTP_GET, NULL, NULL, NULL, NULL, LM_ASC, "bytes=0-1", ETAG, NOW, P, 1},
    {HTTP_GET, NULL, NULL, NULL, NULL, LM_IMF, "bytes=0-1", NULL, NOW, P, 1},
    {HTTP_GET, NULL, NULL, NULL, NULL, BEFORE, "bytes=0-1", ETAG, NOW, P, 0},
    {HTTP_GET, NULL, NULL, NULL, NULL, AFTER, "bytes=0-1", ETAG, NOW, P, 0},
    {HTTP_GET, NULL, NULL, NULL, NULL, LM_IMF, "bytes=0-1", ETAG, LM + 2, P, 1},
    {HTTP_GET, NULL, NULL, NULL, NULL, LM_IMF, "bytes=0-1", ETAG, LM + 1, P, 0},
    {HTTP_GET, NULL, NULL, NULL, NULL, LM_IMF, "bytes=0-1", ETAG, LM, P, 0},
    {HTTP_GET, NULL, NULL, NULL, NULL, LM_IMF, "bytes=0-1", ETAG, LM - 60, P,
	0},
    /* Without a Range, or on HEAD, If-Range has nothing to decide. */
    {HTTP_GET, NULL, NULL, NULL, NULL, ETAG, NULL, ETAG, NOW, P, 0},
    {HTTP_GET, NULL, NULL, NULL, NULL, "\"x\"", NULL, ETAG, NOW, P, 0},
    {HTTP_HEAD, NULL, NULL, NULL, NULL, ETAG, "bytes=0-1", ETAG, NOW, P, 0},
    /* Every step passed. */
    {HTTP_GET, ETAG, LM_IMF, "\"x\"", LM_IMF, ETAG, "bytes=0-1", ETAG, NOW, P,
	1},
    {HTTP_GET, NULL, AFTER, NULL, BEFORE, LM_IMF, "bytes=0-1", ETAG, NOW, P, 1},
};

static struct slice
slice_of(const char *s)
{
	struct slice sl = {s, s != NULL ? strlen(s) : 0};

	return sl;
}

START_TEST(test_table)
{
	struct request req;
	struct precond_validators v;
	enum precond_result got;
	int range_applies = 42;

	memset(&req, 0, sizeof req);
	req.method = cases[_i].method;
	req.if_match = slice_of(cases[_i].if_match);
	req.if_unmodified_since = slice_of(cases[_i].if_unmodified_since);
	req.if_none_match = slice_of(cases[_i].if_none_match);
	req.if_modified_since = slice_of(cases[_i].if_modified_since);
	req.if_range = slice_of(cases[_i].if_range);
	req.range = slice_of(cases[_i].range);
	v.etag = cases[_i].etag;
	v.last_modified = LM;
	v.now = cases[_i].now;

	got = precond_evaluate(&req, &v, &range_applies);
	ck_assert_msg(
	    got == cases[_i].want && range_applies == cases[_i].range_applies,
	    "case %d: got %d/%d, want %d/%d", _i, got, range_applies,
	    cases[_i].want, cases[_i].range_applies);
}
END_TEST

/* Field values are slices: nothing past their length may be read. */
START_TEST(test_slices)
{
	struct request req;
	struct precond_validators v = {ETAG, LM, NOW};
	const char *buf = ETAG "\"x\"";
	int range_applies;

	memset(&req, 0, sizeof req);
	req.method = HTTP_GET;
	req.if_none_match.ptr = buf;
	req.if_none_match.len = strlen(ETAG);
	ck_assert_int_eq(precond_evaluate(&req, &v, &range_applies), NM);
	/* Cut inside the tag: unterminated, so no match. */
	req.if_none_match.len = strlen(ETAG) - 1;
	ck_assert_int_eq(precond_evaluate(&req, &v, &range_applies), P);
	/* A date cut short is invalid, so ignored. */
	memset(&req, 0, sizeof req);
	req.method = HTTP_GET;
	req.if_modified_since.ptr = LM_IMF;
	req.if_modified_since.len = strlen(LM_IMF) - 4;
	ck_assert_int_eq(precond_evaluate(&req, &v, &range_applies), P);
	/* An embedded NUL is a bad byte, not an end. */
	memset(&req, 0, sizeof req);
	req.method = HTTP_GET;
	req.if_match.ptr = "\"abc\0-12\"";
	req.if_match.len = 9;
	v.etag = "\"abc\"";
	ck_assert_int_eq(precond_evaluate(&req, &v, &range_applies), FAIL);
}
END_TEST

static Suite *
precond_suite(void)
{
	Suite *s = suite_create("precond");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_table, 0, sizeof cases / sizeof cases[0]);
	tcase_add_test(tc, test_slices);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(precond_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
