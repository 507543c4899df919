/*
 * Unit tests for the access log's formats: the default combined line, the
 * variables, escaping of client bytes, and bad formats.
 */
#include "autoconf.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "accesslog.h"
#include "request.h"

static struct request		 req;
static struct accesslog_entry	 entry;

#define SLICE(s)	((struct slice){ (s), sizeof(s) - 1 })

static void
setup(void)
{
	memset(&req, 0, sizeof req);
	req.method_name = SLICE("GET");
	req.target = SLICE("/a b?q=\"1\"");
	req.version_minor = 1;
	req.referer = SLICE("http://ref.test/");
	req.user_agent = SLICE("agent\r\n[forged]");
	req.host = SLICE("example.test");
	memset(&entry, 0, sizeof entry);
	entry.peer = "192.0.2.7";
	entry.when.tv_sec = 784111777;	/* 1994-11-06 08:49:37 UTC */
	entry.when.tv_nsec = 250000000;
	entry.req = &req;
	entry.status = 206;
	entry.body_bytes = 12345;
	entry.request_ms = 1502;
}

static char *
render(const char *fmt, size_t size)
{
	static char		 buf[1024];
	char			 err[128];
	struct logformat	*lf = logformat_compile(fmt, err, sizeof err);
	size_t			 n;

	ck_assert_msg(lf != NULL, "%s", err);
	n = logformat_render(lf, &entry, buf, size);
	logformat_free(lf);
	ck_assert_uint_le(n, size);
	ck_assert_int_eq(buf[n - 1], '\n');
	buf[n - 1] = '\0';
	return buf;
}

START_TEST(combined)
{
	ck_assert_str_eq(render(NULL, 1024),
	    "192.0.2.7 - - [06/Nov/1994:08:49:37 +0000] "
	    "\"GET /a b?q=\\x221\\x22 HTTP/1.1\" 206 12345 "
	    "\"http://ref.test/\" \"agent\\x0d\\x0a[forged]\"");
}
END_TEST

START_TEST(variables)
{
	ck_assert_str_eq(render("$request_method ${request_uri}x "
	    "$server_protocol $host $msec $request_time $time_iso8601 "
	    "$status$body_bytes_sent", 1024),
	    "GET /a b?q=\\x221\\x22x HTTP/1.1 example.test 784111777.250 "
	    "1.502 1994-11-06T08:49:37+0000 20612345");
}
END_TEST

/* A request that came on an HTTP/2 stream says so, nginx's way. */
START_TEST(http2_protocol)
{
	req.http2 = 1;
	ck_assert_str_eq(render("\"$request\" $server_protocol", 64),
	    "\"GET /a b?q=\\x221\\x22 HTTP/2.0\" HTTP/2.0");
}
END_TEST

START_TEST(absent_fields)
{
	req.referer = (struct slice){ NULL, 0 };
	ck_assert_str_eq(render("[$http_referer]", 64), "[-]");
}
END_TEST

/* What TLS negotiated; "-" on a plain connection. */
START_TEST(tls_variables)
{
	ck_assert_str_eq(render("$ssl_protocol $ssl_cipher $ssl_server_name",
	    64), "- - -");
	entry.tls_protocol = "TLSv1.3";
	entry.tls_cipher = "TLS_AES_128_GCM_SHA256";
	entry.tls_server_name = "ex\"ample.test";
	ck_assert_str_eq(render("$ssl_protocol ${ssl_cipher} $ssl_server_name",
	    128), "TLSv1.3 TLS_AES_128_GCM_SHA256 ex\\x22ample.test");
}
END_TEST

START_TEST(cut_to_fit)
{
	char	*line = render("$request_uri $request_uri $request_uri", 16);

	ck_assert_uint_eq(strlen(line), 15);
}
END_TEST

START_TEST(bad_formats)
{
	static const char	*bad[] = { "$nope", "${status", "$", "a $b c" };
	char			 err[128];
	size_t			 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		ck_assert_ptr_null(logformat_compile(bad[i], err, sizeof err));
		ck_assert_ptr_nonnull(strstr(err, "unknown variable"));
	}
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("accesslog");
	TCase	*tc = tcase_create("format");
	SRunner	*sr;
	int	 failed;

	/* Fixed zone: $time_local must not depend on the machine's. */
	setenv("TZ", "UTC", 1);
	tzset();
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, combined);
	tcase_add_test(tc, variables);
	tcase_add_test(tc, http2_protocol);
	tcase_add_test(tc, absent_fields);
	tcase_add_test(tc, tls_variables);
	tcase_add_test(tc, cut_to_fit);
	tcase_add_test(tc, bad_formats);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
