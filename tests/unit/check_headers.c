/* Unit tests for headers.c: which rules match, which win, what is added. */
#include "autoconf.h"

#include <check.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "headers.h"
#include "response.h"

static struct site_config	 site;

static void
rule(const char *match, const char *cache, long expires, const char *add)
{
	struct header_rule	*r = &site.rules[site.rule_count++];

	memset(r, 0, sizeof *r);
	r->match = (char *)match;
	r->cache_control = (char *)cache;
	r->expires_s = expires;
	if (add != NULL)
		r->add[r->add_count++] = (char *)add;
}

static void
setup(void)
{
	memset(&site, 0, sizeof site);
	rule("/assets/", "public, max-age=31536000, immutable", -1,
	    "X-Asset: yes");
	rule("*.html", "no-cache", -1, NULL);
	rule("/assets/old/", NULL, 60, "X-Old: 1");
	rule("*.CSS", NULL, -1, "X-Style: 1");
}

/* The fields after Date as HTTP/1.1 text, with the empty line. */
static const char *
fields(const char *rel, const char *name)
{
	static struct response	 r;
	static char		 text[RESPONSE_HEAD_MAX];
	struct response_field	 f;
	size_t			 pos = 0, len = 0;

	response_begin(&r, 200);
	headers_apply(&site, rel, name, &r, 784111777);
	ck_assert(!r.overflow);
	while (response_field_next(&r, &pos, &f))
		if (f.name_len != 4 || memcmp(f.name, "Date", 4) != 0)
			len += (size_t)snprintf(text + len, sizeof text - len,
			    "%.*s: %.*s\r\n", (int)f.name_len, f.name,
			    (int)f.value_len, f.value);
	snprintf(text + len, sizeof text - len, "\r\n");
	return text;
}

START_TEST(prefix_and_extension)
{
	ck_assert_str_eq(fields("assets/app.js", "app.js"),
	    "Cache-Control: public, max-age=31536000, immutable\r\n"
	    "X-Asset: yes\r\n\r\n");
	ck_assert_str_eq(fields("docs/index.html", "index.html"),
	    "Cache-Control: no-cache\r\n\r\n");
	ck_assert_str_eq(fields("other.txt", "other.txt"), "\r\n");
	/* "/assets/" is a prefix of the path, not of any substring. */
	ck_assert_str_eq(fields("x/assets/a.js", "a.js"), "\r\n");
}
END_TEST

START_TEST(later_rules_win_and_add_accumulates)
{
	/* Cache-Control from the first rule, Expires from the third. */
	ck_assert_str_eq(fields("assets/old/site.css", "site.css"),
	    "Cache-Control: public, max-age=31536000, immutable\r\n"
	    "Expires: Sun, 06 Nov 1994 08:50:37 GMT\r\n"
	    "X-Asset: yes\r\nX-Old: 1\r\nX-Style: 1\r\n\r\n");
}
END_TEST

START_TEST(expires_alone_sets_max_age)
{
	site.rule_count = 0;
	rule("/", NULL, 3600, NULL);
	ck_assert_str_eq(fields("a", "a"),
	    "Cache-Control: max-age=3600\r\n"
	    "Expires: Sun, 06 Nov 1994 09:49:37 GMT\r\n\r\n");
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("headers");
	TCase	*tc = tcase_create("headers");
	SRunner	*sr;
	int	 failed;

	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, prefix_and_extension);
	tcase_add_test(tc, later_rules_win_and_add_accumulates);
	tcase_add_test(tc, expires_alone_sets_max_age);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
