/*
 * Unit tests for target-to-path conversion. The table is the point: each
 * row is a target a client could send and the relative path (or refusal)
 * it must become, with the traversal tricks seen in the wild spelled out.
 */

#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "path.h"

static const struct {
	const char *target;
	size_t len; /* 0: strlen(target) */
	int rc;
	const char *rel;
	int trailing_slash;
	const char *query; /* NULL: none */
} cases[] = {
    /* Plain paths. */
    {"/", 0, 0, "", 1, NULL},
    {"/index.html", 0, 0, "index.html", 0, NULL},
    {"/a/b/c", 0, 0, "a/b/c", 0, NULL},
    {"/a/b/", 0, 0, "a/b", 1, NULL},
    {"/...", 0, 0, "...", 0, NULL},
    {"/.hidden", 0, 0, ".hidden", 0, NULL},
    {"/a..b/..c/d..", 0, 0, "a..b/..c/d..", 0, NULL},
    {"/a-b_c~d!$&'()*+,;=:@", 0, 0, "a-b_c~d!$&'()*+,;=:@", 0, NULL},
    /* Repeated slashes collapse. */
    {"//a//b/", 0, 0, "a/b", 1, NULL},
    {"//", 0, 0, "", 1, NULL},
    {"///a", 0, 0, "a", 0, NULL},
    /* Dot segments. */
    {"/a/./b/../c", 0, 0, "a/c", 0, NULL},
    {"/a/b/..", 0, 0, "a", 1, NULL},
    {"/a/b/../", 0, 0, "a", 1, NULL},
    {"/a/.", 0, 0, "a", 1, NULL},
    {"/.", 0, 0, "", 1, NULL},
    {"/./", 0, 0, "", 1, NULL},
    {"/a/..", 0, 0, "", 1, NULL},
    {"/a/../b", 0, 0, "b", 0, NULL},
    {"/./a/./b/.", 0, 0, "a/b", 1, NULL},
    {"/a/b/c/../../d", 0, 0, "a/d", 0, NULL},
    {"/a/%2e/b", 0, 0, "a/b", 0, NULL},
    {"/a/b/%2E%2e", 0, 0, "a", 1, NULL},
    {"/a/.%2e/b", 0, 0, "b", 0, NULL},
    /* Traversal. */
    {"/..", 0, -400, NULL, 0, NULL},
    {"/../x", 0, -400, NULL, 0, NULL},
    {"/../", 0, -400, NULL, 0, NULL},
    {"/%2e%2e/x", 0, -400, NULL, 0, NULL},
    {"/%2E%2E/x", 0, -400, NULL, 0, NULL},
    {"/.%2e/x", 0, -400, NULL, 0, NULL},
    {"/%2e./x", 0, -400, NULL, 0, NULL},
    {"/a/%2E%2E/%2e%2e/x", 0, -400, NULL, 0, NULL},
    {"/a/../../x", 0, -400, NULL, 0, NULL},
    {"/a/b/../../..", 0, -400, NULL, 0, NULL},
    {"/./../x", 0, -400, NULL, 0, NULL},
    {"//../x", 0, -400, NULL, 0, NULL},
    {"/a/..%2f..%2fx", 0, -400, NULL, 0, NULL},
    {"/..%2fx", 0, -400, NULL, 0, NULL},
    {"/%2fetc/passwd", 0, -400, NULL, 0, NULL},
    {"/a%2Fb", 0, -400, NULL, 0, NULL},
    {"/a%5cb", 0, -400, NULL, 0, NULL},
    {"/a%5Cb", 0, -400, NULL, 0, NULL},
    {"/a\\b", 0, -400, NULL, 0, NULL},
    {"/..\\x", 0, -400, NULL, 0, NULL},
    {"/a%00b", 0, -400, NULL, 0, NULL},
    {"/a%0d%0aSet-Cookie:x", 0, -400, NULL, 0, NULL},
    {"/a%7f", 0, -400, NULL, 0, NULL},
    {"/a%09", 0, -400, NULL, 0, NULL},
    /* Percent-decoding. */
    {"/a%20b", 0, 0, "a b", 0, NULL},
    {"/%41%62%43", 0, 0, "AbC", 0, NULL},
    {"/caf%C3%A9", 0, 0, "caf\xc3\xa9", 0, NULL},
    {"/caf%c3%a9", 0, 0, "caf\xc3\xa9", 0, NULL},
    {"/a%3Fb", 0, 0, "a?b", 0, NULL},
    {"/a%23b", 0, 0, "a#b", 0, NULL},
    {"/a%25b", 0, 0, "a%b", 0, NULL},
    {"/a%252e%252e", 0, 0, "a%2e%2e", 0, NULL},
    {"/a%", 0, -400, NULL, 0, NULL},
    {"/a%2", 0, -400, NULL, 0, NULL},
    {"/a%g0", 0, -400, NULL, 0, NULL},
    {"/a%0g", 0, -400, NULL, 0, NULL},
    {"/a%%20", 0, -400, NULL, 0, NULL},
    {"/a%-1", 0, -400, NULL, 0, NULL},
    {"/a%20", 2, 0, "a", 0, NULL},     /* len stops before the '%' */
    {"/a%20", 4, -400, NULL, 0, NULL}, /* and inside it */
    /*
     * Overlong and look-alike UTF-8 for '.', '/' and '\\': opaque name
     * bytes, never a separator or a dot segment (the filesystem compares
     * bytes, so such a name cannot climb).
     */
    {"/%c0%ae%c0%ae/x", 0, 0, "\xc0\xae\xc0\xae/x", 0, NULL},
    {"/%c0%ae./x", 0, 0, "\xc0\xae./x", 0, NULL},
    {"/..%c0%afx", 0, 0, "..\xc0\xafx", 0, NULL},
    {"/%c0%2e%c0%2e", 0, 0, "\xc0.\xc0.", 0, NULL},
    {"/%e0%80%ae%e0%80%ae/x", 0, 0, "\xe0\x80\xae\xe0\x80\xae/x", 0, NULL},
    {"/..%c1%9cx", 0, 0, "..\xc1\x9cx", 0, NULL},
    {"/%ef%bc%8e%ef%bc%8e/x", 0, 0, "\xef\xbc\x8e\xef\xbc\x8e/x", 0, NULL},
    {"/%u002e%u002e/x", 0, -400, NULL, 0, NULL},
    /* Double encoding is decoded once: a name, not a dot or separator. */
    {"/%252e%252e/x", 0, 0, "%2e%2e/x", 0, NULL},
    {"/..%252fx", 0, 0, "..%2fx", 0, NULL},
    {"/%255c..%255cx", 0, 0, "%5c..%5cx", 0, NULL},
    {"/%25%32%65%25%32%65/x", 0, 0, "%2e%2e/x", 0, NULL},
    /* NUL and separators mixed into dot segments. */
    {"/a/..%00/x", 0, -400, NULL, 0, NULL},
    {"/a/.%00./x", 0, -400, NULL, 0, NULL},
    {"/a/..\\..\\x", 0, -400, NULL, 0, NULL},
    {"/a/.%5c./x", 0, -400, NULL, 0, NULL},
    /* Queries. */
    {"/a?b=c", 0, 0, "a", 0, "?b=c"},
    {"/?", 0, 0, "", 1, "?"},
    {"/a/?x/../..", 0, 0, "a", 1, "?x/../.."},
    {"/a?b?c", 0, 0, "a", 0, "?b?c"},
    {"/a?%00", 0, 0, "a", 0, "?%00"},
    {"/a?x\\y", 0, 0, "a", 0, "?x\\y"},
    {"/..?x", 0, -400, NULL, 0, NULL},
    /* Fragments are never sent. */
    {"/a#b", 0, -400, NULL, 0, NULL},
    {"/a?b#c", 0, -400, NULL, 0, NULL},
    {"/#", 0, -400, NULL, 0, NULL},
    /* Absolute form. */
    {"http://example.com/a/b", 0, 0, "a/b", 0, NULL},
    {"http://example.com", 0, 0, "", 1, NULL},
    {"http://example.com?q", 0, 0, "", 1, "?q"},
    {"http://example.com/", 0, 0, "", 1, NULL},
    {"HTTPS://example.com:8443/x/?y", 0, 0, "x", 1, "?y"},
    {"https://[::1]:80/%7euser", 0, 0, "~user", 0, NULL},
    {"http://example.com/../x", 0, -400, NULL, 0, NULL},
    {"http://example.com/a%2fb", 0, -400, NULL, 0, NULL},
    {"http:///a", 0, -400, NULL, 0, NULL},
    {"http://", 0, -400, NULL, 0, NULL},
    {"http://?x", 0, -400, NULL, 0, NULL},
    {"http:/a", 0, -400, NULL, 0, NULL},
    {"ftp://example.com/a", 0, -400, NULL, 0, NULL},
    {"httpx://example.com/a", 0, -400, NULL, 0, NULL},
    /* Not a path at all. */
    {"", 0, -400, NULL, 0, NULL},
    {"*", 0, -400, NULL, 0, NULL},
    {"a/b", 0, -400, NULL, 0, NULL},
    {"%2fa", 0, -400, NULL, 0, NULL},
    {"\\a", 0, -400, NULL, 0, NULL},
    {"/a b", 0, -400, NULL, 0, NULL},
    {"/a\tb", 0, -400, NULL, 0, NULL},
    {"/a\x01", 0, -400, NULL, 0, NULL},
    {"/a\xc3\xa9", 0, -400, NULL, 0, NULL},
    {"/a\0b", 4, -400, NULL, 0, NULL},
};

START_TEST(test_table)
{
	struct path p;
	const char *t = cases[_i].target;
	size_t len = cases[_i].len ? cases[_i].len : strlen(t);
	int rc;

	memset(&p, 0xa5, sizeof p);
	rc = path_parse(&p, t, len);
	ck_assert_msg(rc == cases[_i].rc, "case %d \"%s\": rc %d, want %d", _i,
	    t, rc, cases[_i].rc);
	if (rc != 0) {
		/* A refused path is left empty, never half-built. */
		ck_assert_str_eq(p.rel, "");
		return;
	}
	ck_assert_msg(strcmp(p.rel, cases[_i].rel) == 0,
	    "case %d \"%s\": rel \"%s\", want \"%s\"", _i, t, p.rel,
	    cases[_i].rel);
	ck_assert_msg(p.trailing_slash == cases[_i].trailing_slash,
	    "case %d \"%s\": trailing_slash %d", _i, t, p.trailing_slash);
	if (cases[_i].query == NULL) {
		ck_assert_ptr_null(p.query);
		ck_assert_uint_eq(p.query_len, 0);
	} else {
		/* The query is a slice of the target, not a copy. */
		ck_assert(p.query >= t && p.query + p.query_len == t + len);
		ck_assert_uint_eq(p.query_len, strlen(cases[_i].query));
		ck_assert(memcmp(p.query, cases[_i].query, p.query_len) == 0);
	}
}
END_TEST

/* "/" followed by n bytes of 'a', in an exactly sized buffer. */
static char *
long_target(size_t n, const char *suffix, size_t *len)
{
	size_t slen = strlen(suffix);
	char *t = malloc(1 + n + slen);

	ck_assert_ptr_nonnull(t);
	t[0] = '/';
	memset(t + 1, 'a', n);
	memcpy(t + 1 + n, suffix, slen);
	*len = 1 + n + slen;
	return t;
}

START_TEST(test_length)
{
	struct path p;
	char *t;
	size_t len, max = sizeof p.rel - 1;

	t = long_target(max, "", &len);
	ck_assert_int_eq(path_parse(&p, t, len), 0);
	ck_assert_uint_eq(strlen(p.rel), max);
	free(t);

	t = long_target(max + 1, "", &len);
	ck_assert_int_eq(path_parse(&p, t, len), -404);
	free(t);

	/* Fits, but the separator before another segment does not. */
	t = long_target(max, "/b", &len);
	ck_assert_int_eq(path_parse(&p, t, len), -404);
	free(t);

	t = long_target(max - 2, "/b", &len);
	ck_assert_int_eq(path_parse(&p, t, len), 0);
	ck_assert_uint_eq(strlen(p.rel), max);
	ck_assert_int_eq(p.trailing_slash, 0);
	free(t);

	/* A long query does not count towards the path. */
	t = malloc(3 + 10000);
	ck_assert_ptr_nonnull(t);
	memcpy(t, "/x?", 3);
	memset(t + 3, 'q', 10000);
	ck_assert_int_eq(path_parse(&p, t, 3 + 10000), 0);
	ck_assert_str_eq(p.rel, "x");
	ck_assert_uint_eq(p.query_len, 10001);
	free(t);

	/* Percent-encoding counts decoded bytes, not encoded ones. */
	t = malloc(1 + 3 * max);
	ck_assert_ptr_nonnull(t);
	t[0] = '/';
	for (len = 0; len < max; len++)
		memcpy(t + 1 + 3 * len, "%41", 3);
	ck_assert_int_eq(path_parse(&p, t, 1 + 3 * max), 0);
	ck_assert_uint_eq(strlen(p.rel), max);
	free(t);
}
END_TEST

/* Deep nesting and popping stays exact. */
START_TEST(test_many_segments)
{
	struct path p;
	char t[8192];
	size_t n = 0;
	int i;

	for (i = 0; i < 1000; i++) {
		memcpy(t + n, "/d", 2);
		n += 2;
	}
	for (i = 0; i < 999; i++) {
		memcpy(t + n, "/..", 3);
		n += 3;
	}
	ck_assert_int_eq(path_parse(&p, t, n), 0);
	ck_assert_str_eq(p.rel, "d");
	ck_assert_int_eq(p.trailing_slash, 1);

	memcpy(t + n, "/..", 3);
	ck_assert_int_eq(path_parse(&p, t, n + 3), 0);
	ck_assert_str_eq(p.rel, "");

	memcpy(t + n + 3, "/..", 3);
	ck_assert_int_eq(path_parse(&p, t, n + 6), -400);
}
END_TEST

static const struct {
	const char *rel;
	const char *encoded;
} encodings[] = {
	{ "", "/" },
	{ "docs", "/docs" },
	{ "a b/c", "/a%20b/c" },
	{ "caf\xc3\xa9", "/caf%C3%A9" },
	{ "x?y#z%", "/x%3Fy%23z%25" },
	{ "a\r\nb", "/a%0D%0Ab" },
	{ "keep-._~!$&'()*+,;=:@", "/keep-._~!$&'()*+,;=:@" },
};

START_TEST(test_encode)
{
	char out[64];

	ck_assert_int_eq(path_encode(encodings[_i].rel, out, sizeof out),
	    (long)strlen(encodings[_i].encoded));
	ck_assert_str_eq(out, encodings[_i].encoded);
}
END_TEST

START_TEST(test_encode_bounds)
{
	char out[8];

	ck_assert_int_eq(path_encode("abcdef", out, sizeof out), 7);
	ck_assert_int_eq(path_encode("abcdefg", out, sizeof out), -1);
	ck_assert_int_eq(path_encode("abc d", out, sizeof out), -1);
	ck_assert_int_eq(path_encode("", out, 1), -1);
}
END_TEST

/* Whatever a request decodes to, its encoding parses back to it. */
START_TEST(test_encode_round_trip)
{
	static const char *targets[] = { "/a%20b/c", "/%e2%82%ac/x",
		"/a/b/", "/~user/%21" };
	struct path p, q;
	char out[sizeof p.rel * 3 + 2];

	ck_assert_int_eq(path_parse(&p, targets[_i], strlen(targets[_i])), 0);
	ck_assert_int_gt(path_encode(p.rel, out, sizeof out), 0);
	ck_assert_int_eq(path_parse(&q, out, strlen(out)), 0);
	ck_assert_str_eq(q.rel, p.rel);
}
END_TEST

static const struct {
	const char *rel;
	int hidden;
} hidden_cases[] = {
	{ "", 0 },
	{ "a/b.c", 0 },
	{ ".env", 1 },
	{ "a/.git/config", 1 },
	{ "a/b/.htaccess", 1 },
	{ ".well-known", 0 },
	{ ".well-known/acme-challenge/x", 0 },
	{ ".well-known/.secret", 1 },
	{ ".well-knownx/a", 1 },
	{ "a/.well-known/x", 1 },
	{ "a..b/c", 0 },
};

START_TEST(test_hidden)
{
	ck_assert_int_eq(path_is_hidden(hidden_cases[_i].rel),
	    hidden_cases[_i].hidden);
}
END_TEST

static Suite *
path_suite(void)
{
	Suite *s = suite_create("path");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(tc, test_table, 0, sizeof cases / sizeof cases[0]);
	tcase_add_test(tc, test_length);
	tcase_add_test(tc, test_many_segments);
	tcase_add_loop_test(tc, test_encode, 0,
	    sizeof encodings / sizeof encodings[0]);
	tcase_add_test(tc, test_encode_bounds);
	tcase_add_loop_test(tc, test_hidden, 0,
	    sizeof hidden_cases / sizeof hidden_cases[0]);
	tcase_add_loop_test(tc, test_encode_round_trip, 0, 4);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(path_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
