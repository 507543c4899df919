/*
 * Unit tests for response.c: fields kept in order and read back as pairs,
 * Date first, Server where the protocol adds it, the bound on a head, a
 * large head, and error bodies.
 */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpdate.h"
#include "response.h"

static struct response	 r;

/* Field i of r as "name=value", or NULL past the last. */
static const char *
nth(size_t i)
{
	static char		 text[RESPONSE_HEAD_MAX];
	struct response_field	 f;
	size_t			 pos = 0;

	do
		if (!response_field_next(&r, &pos, &f))
			return NULL;
	while (i-- > 0);
	snprintf(text, sizeof text, "%.*s=%.*s", (int)f.name_len, f.name,
	    (int)f.value_len, f.value);
	return text;
}

START_TEST(fields_in_order)
{
	response_begin(&r, 206);
	ck_assert_int_eq(r.status, 206);
	response_add(&r, "Content-Range", "bytes %d-%d/%d", 0, 9, 100);
	response_add_str(&r, "ETag", "\"a-b\"");
	response_add_u64(&r, "Content-Length", UINT64_MAX);
	response_add_u64(&r, "X-Zero", 0);
	response_add_line(&r, "X-Rule: a: b");
	ck_assert(!r.overflow);
	ck_assert_int_eq(strncmp(nth(0), "Date=", 5), 0);
	ck_assert_uint_eq(strlen(nth(0)), 5 + HTTPDATE_LEN);
	ck_assert_str_eq(nth(1), "Content-Range=bytes 0-9/100");
	ck_assert_str_eq(nth(2), "ETag=\"a-b\"");
	ck_assert_str_eq(nth(3), "Content-Length=18446744073709551615");
	ck_assert_str_eq(nth(4), "X-Zero=0");
	/* Only the first colon separates: the value keeps the rest. */
	ck_assert_str_eq(nth(5), "X-Rule=a: b");
	ck_assert_ptr_null(nth(6));
}
END_TEST

START_TEST(server_tokens)
{
	response_begin(&r, 200);
	response_add_server(&r, RESPONSE_TOKENS_OFF);
	ck_assert_ptr_null(nth(1));
	response_add_server(&r, RESPONSE_TOKENS_FULL);
	ck_assert_str_eq(nth(1), "Server=" PACKAGE_NAME "/" PACKAGE_VERSION);
	response_begin(&r, 200);
	response_add_server(&r, RESPONSE_TOKENS_PRODUCT);
	ck_assert_str_eq(nth(1), "Server=" PACKAGE_NAME);
}
END_TEST

/* A head that does not fit is flagged, never cut short or overrun. */
START_TEST(overflow_is_flagged)
{
	static char	 big[RESPONSE_HEAD_MAX];
	size_t		 len;

	memset(big, 'v', sizeof big - 1);
	response_begin(&r, 200);
	len = r.len;
	response_add_str(&r, "X-Big", big);
	ck_assert(r.overflow);
	ck_assert_uint_eq(r.len, len);
	/*
	 * The protocol's room behind the fields stays free: a field that
	 * would end 10 bytes short of the buffer's end does not fit, one
	 * that leaves that room does.
	 */
	response_begin(&r, 200);
	len = r.len;
	big[RESPONSE_HEAD_MAX - len - 10 - 9] = '\0';
	response_add(&r, "X-Big", "%s", big);
	ck_assert(r.overflow);
	ck_assert_uint_eq(r.len, len);
	response_begin(&r, 200);
	big[RESPONSE_HEAD_MAX - len - RESPONSE_TRAILER_MAX - 10] = '\0';
	response_add_str(&r, "X-Big", big);
	ck_assert(!r.overflow);
	ck_assert_uint_eq(r.len, r.size - RESPONSE_TRAILER_MAX - 1);
}
END_TEST

START_TEST(large_head)
{
	static char	 big[3 * RESPONSE_HEAD_MAX];
	struct response_field f;
	size_t		 pos = 0;

	memset(big, 'l', sizeof big - 1);
	ck_assert_int_eq(response_begin_large(&r, 301, sizeof big + 256), 0);
	response_add(&r, "Location", "/%s", big);
	ck_assert(!r.overflow);
	ck_assert(response_field_next(&r, &pos, &f));	/* Date */
	ck_assert(response_field_next(&r, &pos, &f));
	ck_assert_uint_eq(f.value_len, sizeof big);
	response_free(&r);
	ck_assert_ptr_eq(r.head, r.inline_head);
}
END_TEST

START_TEST(error_bodies)
{
	char	 body[RESPONSE_ERROR_BODY_MAX];
	size_t	 len;

	len = response_error_body(431, body);
	ck_assert_uint_eq(len, strlen(body));
	ck_assert_ptr_nonnull(strstr(body,
	    "<h1>431 Request Header Fields Too Large</h1>"));
	ck_assert_str_eq(response_reason(416), "Range Not Satisfiable");
	ck_assert_str_eq(response_reason(299), "Unknown");
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("response");
	TCase	*tc = tcase_create("response");
	SRunner	*sr;
	int	 failed;

	tcase_add_test(tc, fields_in_order);
	tcase_add_test(tc, server_tokens);
	tcase_add_test(tc, overflow_is_flagged);
	tcase_add_test(tc, large_head);
	tcase_add_test(tc, error_bodies);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
