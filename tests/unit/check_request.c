/*
 * Unit tests for the request-head parser. Most cases are rows in tables:
 * a head and the status it must get, or a head and the fields it must
 * yield. Every accepted head is also fed in at every split point, since a
 * parser that is right on whole buffers but wrong on partial ones is the
 * common bug in an incremental server.
 */

#include "autoconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "request.h"

#define LEN(s) (sizeof(s) - 1)

/* Inputs that must be refused, with the status they must be refused with. */
static const struct {
	const char *in;
	size_t len; /* 0: strlen(in) */
	long want;
} bad_cases[] = {
    /* Line endings: a bare CR anywhere. */
    {"GET /\r HTTP/1.1\r\nHost: a\r\n\r\n", 0, -400},
    {"GET / HTTP/1.1\rHost: a\r\n\r\n", 0, -400},
    {"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n", 0, -400},
    {"GET / HTTP/1.1\r\nHost: a\r\n\r\r\n", 0, -400},
    {"\rGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, -400},
    {"\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, -400},
    /* Request line shape. */
    {"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 0, -400},
    {"GET /  HTTP/1.1\r\nHost: a\r\n\r\n", 0, -400},
    {"GET / HTTP/1.1 \r\nHost: a\r\n\r\n", 0, -400},
    {" GET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, -400},
    {"GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n", 0, -400},
    {"GET /\tHTTP/1.1\r\nHost: a\r\n\r\n", 0, -400},
    {"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 0, -400},
    {"GET / \r\nHost: a\r\n\r\n", 0, -400},
    {"GET /\r\nHost: a\r\n\r\n", 0, -400},
    {"GET\r\n\r\n", 0, -400},
    {"\n\n\n\n\n", 0, -400},
    /* Version. */
    {"GET / http/1.1\r\nHost: a\r\n\r\n", 0, -400},
    {"GET / HTTP/1.10\r\nHost: a\r\n\r\n", 0, -400},
    {"GET / HTTP/1\r\nHost: a\r\n\r\n", 0, -400},
    {"GET / HTTP/a.1\r\nHost: a\r\n\r\n", 0, -400},
    {"GET / HTTP/1.x\r\nHost: a\r\n\r\n", 0, -400},
    {"GET / HTTPS/1.1\r\nHost: a\r\n\r\n", 0, -400},
    {"GET / HTTP/11\r\nHost: a\r\n\r\n", 0, -400},
    {"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 0, -505},
    {"GET / HTTP/0.9\r\n\r\n", 0, -505},
    {"GET / HTTP/3.1\r\nHost: a\r\n\r\n", 0, -505},
    /* Targets. */
    {"GET foo HTTP/1.1\r\nHost: a\r\n\r\n", 0, -400},
    {"GET * HTTP/1.1\r\nHost: a\r\n\r\n", 0, -400},
    {"OPTIONS ** HTTP/1.1\r\nHost: a\r\n\r\n", 0, -400},
    {"GET http:/x HTTP/1.1\r\nHost: a\r\n\r\n", 0, -400},
    {"GET http:// HTTP/1.1\r\nHost: a\r\n\r\n", 0, -400},
    {"GET http:///a HTTP/1.1\r\nHost: a\r\n\r\n", 0, -400},
    {"GET http://?a HTTP/1.1\r\nHost: a\r\n\r\n", 0, -400},
    {"GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", 0, -400},
    {"CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", 0, -400},
    {"GET /a\x01 HTTP/1.1\r\nHost: a\r\n\r\n", 0, -400},
    {"GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n", 0, -400},
    {"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 0, -400},
    {"GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n",
	LEN("GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n"), -400},
    /* Host. */
    {"GET / HTTP/1.1\r\n\r\n", 0, -400},
    {"GET / HTTP/1.1\r\nX: y\r\n\r\n", 0, -400},
    {"GET / HTTP/1.1\r\nHost: a\r\nHost: a\r\n\r\n", 0, -400},
    {"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", 0, -400},
    {"GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n", 0, -400},
    {"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 0, -400},
    {"GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", 0, -400},
    {"GET / HTTP/1.1\r\nHost: u@a\r\n\r\n", 0, -400},
    {"GET / HTTP/1.1\r\nHost: caf\xc3\xa9\r\n\r\n", 0, -400},
    /* Field syntax. */
    {"GET / HTTP/1.1\r\nHost : a\r\n\r\n", 0, -400},
    {"GET / HTTP/1.1\r\nHost\t: a\r\n\r\n", 0, -400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX-A : b\r\n\r\n", 0, -400},
    {"GET / HTTP/1.1\r\nHost a\r\n\r\n", 0, -400},
    {"GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n", 0, -400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX(y): b\r\n\r\n", 0, -400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n c\r\n\r\n", 0, -400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX-A: b\r\n\tc\r\n\r\n", 0, -400},
    {"GET / HTTP/1.1\r\n Host: a\r\n\r\n", 0, -400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n",
	LEN("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"), -400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX: a\x01 b\r\n\r\n", 0, -400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f b\r\n\r\n", 0, -400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX: \x1b[31m\r\n\r\n", 0, -400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX\xc3\xa9: b\r\n\r\n", 0, -400},
    /* Content-Length and Transfer-Encoding. */
    {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", 0, -400},
    {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 0, -400},
    {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", 0, -400},
    {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", 0, -400},
    {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n", 0, -400},
    {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n", 0, -400},
    {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n", 0, -400},
    {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: "
     "9223372036854775808\r\n\r\n",
	0, -400},
    {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: "
     "99999999999999999999999\r\n\r\n",
	0, -400},
    {"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
     "Content-Length: 6\r\n\r\n",
	0, -400},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
     "Transfer-Encoding: chunked\r\n\r\n",
	0, -400},
    {"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
     "Content-Length: 5\r\n\r\n",
	0, -400},
    /* Connection options must be tokens. */
    {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close, @\r\n\r\n", 0, -400},
    {"GET / HTTP/1.1\r\nHost: a\r\nConnection: \"close\"\r\n\r\n", 0, -400},
    /* Singletons that change the response. */
    {"GET / HTTP/1.1\r\nHost: a\r\nRange: bytes=0-1\r\n"
     "Range: bytes=2-3\r\n\r\n",
	0, -400},
    {"GET / HTTP/1.1\r\nHost: a\r\nIf-Range: \"x\"\r\n"
     "If-Range: \"y\"\r\n\r\n",
	0, -400},
    {"GET / HTTP/1.1\r\nHost: a\r\nIf-Modified-Since: a\r\n"
     "If-Modified-Since: b\r\n\r\n",
	0, -400},
    /* If-Match's second line could hold the match: reading one is a 412. */
    {"GET / HTTP/1.1\r\nHost: a\r\nIf-Match: \"a\"\r\n"
     "If-Match: \"b\"\r\n\r\n",
	0, -400},
    {"GET / HTTP/1.1\r\nHost: a\r\nif-match: *\r\nIF-MATCH: *\r\n\r\n", 0,
	-400},
    {"GET / HTTP/1.1\r\nHost: a\r\n"
     "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
     "If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n",
	0, -400},
    /* Early errors in incomplete input. */
    {"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11, -400},
    {"GET / HTTP/1.1\r\nHost: a\r\nX: \x01", 0, -400},
    {"GET /\xff", 0, -400},
    {"GET / HTTP/1.1\r\nHost : a\r\n", 0, -400},
    {"GET / HTTP/2.0\r\n", 0, -505},
    {"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n", 0, -400},
};

/* Heads that must parse, and what the request line must yield. */
static const struct {
	const char *in;
	size_t head_len; /* 0: strlen(in) */
	enum http_method method;
	const char *method_name;
	const char *target;
	int version_minor;
	int keep_alive;
	const char *host; /* NULL: absent */
} good_cases[] = {
    {"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", 0, HTTP_GET, "GET", "/", 1,
	1, "example.com"},
    {"HEAD /a/b?c=d HTTP/1.1\r\nHost: a\r\n\r\n", 0, HTTP_HEAD, "HEAD",
	"/a/b?c=d", 1, 1, "a"},
    {"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n", 0, HTTP_OPTIONS, "OPTIONS", "*",
	1, 1, "a"},
    {"OPTIONS /x HTTP/1.1\r\nHost: a\r\n\r\n", 0, HTTP_OPTIONS, "OPTIONS", "/x",
	1, 1, "a"},
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n", 0,
	HTTP_KNOWN_OTHER, "POST", "/", 1, 1, "a"},
    {"PUT / HTTP/1.1\r\nHost: a\r\n\r\n", 0, HTTP_KNOWN_OTHER, "PUT", "/", 1, 1,
	"a"},
    {"DELETE / HTTP/1.1\r\nHost: a\r\n\r\n", 0, HTTP_KNOWN_OTHER, "DELETE", "/",
	1, 1, "a"},
    {"TRACE / HTTP/1.1\r\nHost: a\r\n\r\n", 0, HTTP_KNOWN_OTHER, "TRACE", "/",
	1, 1, "a"},
    {"PATCH / HTTP/1.1\r\nHost: a\r\n\r\n", 0, HTTP_KNOWN_OTHER, "PATCH", "/",
	1, 1, "a"},
    {"CONNECT /x HTTP/1.1\r\nHost: a\r\n\r\n", 0, HTTP_KNOWN_OTHER, "CONNECT",
	"/x", 1, 1, "a"},
    {"BREW / HTTP/1.1\r\nHost: a\r\n\r\n", 0, HTTP_UNKNOWN, "BREW", "/", 1, 1,
	"a"},
    {"get / HTTP/1.1\r\nHost: a\r\n\r\n", 0, HTTP_UNKNOWN, "get", "/", 1, 1,
	"a"},
    {"GETS / HTTP/1.1\r\nHost: a\r\n\r\n", 0, HTTP_UNKNOWN, "GETS", "/", 1, 1,
	"a"},
    {"M-SEARCH! / HTTP/1.1\r\nHost: a\r\n\r\n", 0, HTTP_UNKNOWN, "M-SEARCH!",
	"/", 1, 1, "a"},
    /* Versions and persistence. */
    {"GET / HTTP/1.0\r\n\r\n", 0, HTTP_GET, "GET", "/", 0, 0, NULL},
    {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0, HTTP_GET, "GET",
	"/", 0, 1, NULL},
    {"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", 0, HTTP_GET, "GET",
	"/", 0, 1, NULL},
    {"GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n", 0, HTTP_GET,
	"GET", "/", 0, 0, NULL},
    {"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 0, HTTP_GET,
	"GET", "/", 1, 0, "a"},
    {"GET / HTTP/1.1\r\nHost: a\r\nConnection: CLOSE\r\n\r\n", 0, HTTP_GET,
	"GET", "/", 1, 0, "a"},
    {"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade,  close \r\n\r\n", 0,
	HTTP_GET, "GET", "/", 1, 0, "a"},
    {"GET / HTTP/1.1\r\nHost: a\r\nConnection: ,, close ,\r\n\r\n", 0, HTTP_GET,
	"GET", "/", 1, 0, "a"},
    {"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n"
     "Connection: close\r\n\r\n",
	0, HTTP_GET, "GET", "/", 1, 0, "a"},
    {"GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n", 0, HTTP_GET,
	"GET", "/", 1, 1, "a"},
    {"GET / HTTP/1.1\r\nHost: a\r\nConnection: closed\r\n\r\n", 0, HTTP_GET,
	"GET", "/", 1, 1, "a"},
    {"GET / HTTP/1.1\r\nHost: a\r\nConnection:\r\n\r\n", 0, HTTP_GET, "GET",
	"/", 1, 1, "a"},
    {"GET / HTTP/1.2\r\nHost: a\r\n\r\n", 0, HTTP_GET, "GET", "/", 1, 1, "a"},
    {"GET / HTTP/1.9\r\nHost: a\r\nConnection: close\r\n\r\n", 0, HTTP_GET,
	"GET", "/", 1, 0, "a"},
    /* Line endings and leading empty lines. */
    {"GET / HTTP/1.1\nHost: a\n\n", 0, HTTP_GET, "GET", "/", 1, 1, "a"},
    {"GET / HTTP/1.1\r\nHost: a\n\r\n", 0, HTTP_GET, "GET", "/", 1, 1, "a"},
    {"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, HTTP_GET, "GET", "/", 1, 1,
	"a"},
    {"\n\r\n\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n", 0, HTTP_GET, "GET", "/",
	1, 1, "a"},
    /* Targets. */
    {"GET http://example.com/a?b HTTP/1.1\r\nHost: x\r\n\r\n", 0, HTTP_GET,
	"GET", "http://example.com/a?b", 1, 1, "x"},
    {"GET HTTPS://example.com HTTP/1.1\r\nHost: x\r\n\r\n", 0, HTTP_GET, "GET",
	"HTTPS://example.com", 1, 1, "x"},
    {"GET //a/%2e%2e/?x=%00#f HTTP/1.1\r\nHost: x\r\n\r\n", 0, HTTP_GET, "GET",
	"//a/%2e%2e/?x=%00#f", 1, 1, "x"},
    /* Host values. */
    {"GET / HTTP/1.1\r\nHost:\r\n\r\n", 0, HTTP_GET, "GET", "/", 1, 1, ""},
    {"GET / HTTP/1.1\r\nHost:   \t \r\n\r\n", 0, HTTP_GET, "GET", "/", 1, 1,
	""},
    {"GET / HTTP/1.1\r\nhOST: \t a.b:8080 \t\r\n\r\n", 0, HTTP_GET, "GET", "/",
	1, 1, "a.b:8080"},
    {"GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n", 0, HTTP_GET, "GET", "/", 1, 1,
	"[::1]:80"},
    {"GET / HTTP/1.1\r\nHost: xn--caf-dma.example\r\n\r\n", 0, HTTP_GET, "GET",
	"/", 1, 1, "xn--caf-dma.example"},
    /* A head followed by a body or a second request. */
    {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
	LEN("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\n"),
	HTTP_KNOWN_OTHER, "POST", "/", 1, 1, "a"},
    {"GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHost: a\r\n\r\n",
	LEN("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n"), HTTP_GET, "GET", "/1", 1, 1,
	"a"},
    {"GET /1 HTTP/1.1\nHost: a\n\nGARBAGE\r\r\r",
	LEN("GET /1 HTTP/1.1\nHost: a\n\n"), HTTP_GET, "GET", "/1", 1, 1, "a"},
};

/* A field and the value the parser must give for it. */
static const struct {
	const char *in;
	size_t offset;	  /* of the struct slice in struct request */
	const char *want; /* NULL: absent */
} field_cases[] = {
#define F(member) offsetof(struct request, member)
    {"If-None-Match: \"abc\"", F(if_none_match), "\"abc\""},
    {"if-none-match: W/\"a\", \"b\"", F(if_none_match), "W/\"a\", \"b\""},
    {"If-None-Match: *", F(if_none_match), "*"},
    {"If-None-Match: \"a\"\r\nIf-None-Match: \"b\"", F(if_none_match), "\"a\""},
    {"If-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT", F(if_modified_since),
	"Sun, 06 Nov 1994 08:49:37 GMT"},
    {"IF-MODIFIED-SINCE:Sun, 06 Nov 1994 08:49:37 GMT   ", F(if_modified_since),
	"Sun, 06 Nov 1994 08:49:37 GMT"},
    {"If-Range: \"etag\"", F(if_range), "\"etag\""},
    {"If-Match: \"a\", \"b,c\"", F(if_match), "\"a\", \"b,c\""},
    {"if-match:*", F(if_match), "*"},
    {"If-Match:", F(if_match), ""},
    {"If-Matches: *", F(if_match), NULL},
    {"If-Unmodified-Since: Sun, 06 Nov 1994 08:49:37 GMT",
	F(if_unmodified_since), "Sun, 06 Nov 1994 08:49:37 GMT"},
    {"If-Unmodified-Since: garbage ", F(if_unmodified_since), "garbage"},
    {"If-Unmodified-Since: x", F(if_modified_since), NULL},
    {"If-Modified-Since: x", F(if_unmodified_since), NULL},
    {"Accept-Encoding: gzip, br;q=0.5", F(accept_encoding), "gzip, br;q=0.5"},
    {"accept-encoding:\t*\t", F(accept_encoding), "*"},
    {"Accept-Encoding:", F(accept_encoding), ""},
    /* Repeated: the empty value, identity only; a third line keeps it. */
    {"Accept-Encoding: gzip\r\nAccept-Encoding: gzip;q=0", F(accept_encoding),
	""},
    {"Accept-Encoding: br\r\nAccept-Encoding: br\r\nAccept-Encoding: br",
	F(accept_encoding), ""},
    {"Range: bytes=0-99", F(range), "bytes=0-99"},
    {"rAnGe:\tbytes=-5\t", F(range), "bytes=-5"},
    {"Range:", F(range), ""},
    {"User-Agent: curl/8.0 (x\ty)", F(user_agent), "curl/8.0 (x\ty)"},
    {"User-Agent: caf\xc3\xa9", F(user_agent), "caf\xc3\xa9"},
    {"User-Agent: a\r\nUser-Agent: b", F(user_agent), "a"},
    {"Referer: http://x/y", F(referer), "http://x/y"},
    {"Referrer: http://x/y", F(referer), NULL},
    {"X-Range: bytes=0-1", F(range), NULL},
    {"Ranges: bytes=0-1", F(range), NULL},
    {"Rang: bytes=0-1", F(range), NULL},
    {"X-Anything: \x80\xff", F(range), NULL},
#undef F
};

static long
parse(struct request *req, const char *in, size_t len)
{
	return request_parse(req, in, len == 0 ? strlen(in) : len);
}

static void
assert_slice(struct slice s, const char *want, const char *buf, size_t len)
{
	if (want == NULL) {
		ck_assert_ptr_null(s.ptr);
		return;
	}
	ck_assert_ptr_nonnull(s.ptr);
	ck_assert_msg(s.ptr >= buf && s.ptr + s.len <= buf + len,
	    "slice outside the buffer");
	ck_assert_uint_eq(s.len, strlen(want));
	ck_assert(memcmp(s.ptr, want, s.len) == 0);
}

START_TEST(test_bad)
{
	struct request req;
	long rc;

	rc = parse(&req, bad_cases[_i].in, bad_cases[_i].len);
	ck_assert_msg(rc == bad_cases[_i].want, "case %d: got %ld, want %ld",
	    _i, rc, bad_cases[_i].want);
}
END_TEST

static void
check_good(struct request *req, int i, const char *buf, size_t len)
{
	size_t want_len = good_cases[i].head_len;

	if (want_len == 0)
		want_len = strlen(good_cases[i].in);
	ck_assert_uint_eq(req->head_len, want_len);
	ck_assert_int_eq(req->method, good_cases[i].method);
	assert_slice(req->method_name, good_cases[i].method_name, buf, len);
	assert_slice(req->target, good_cases[i].target, buf, len);
	ck_assert_int_eq(req->version_minor, good_cases[i].version_minor);
	ck_assert_int_eq(req->keep_alive, good_cases[i].keep_alive);
	assert_slice(req->host, good_cases[i].host, buf, len);
}

START_TEST(test_good)
{
	struct request req;
	const char *in = good_cases[_i].in;
	size_t len = strlen(in), want_len = good_cases[_i].head_len;
	long rc;

	if (want_len == 0)
		want_len = len;
	rc = request_parse(&req, in, len);
	ck_assert_msg(rc == (long)want_len, "case %d: got %ld, want %zu", _i,
	    rc, want_len);
	check_good(&req, _i, in, len);
}
END_TEST

/*
 * Each prefix of an accepted head is incomplete, never an error, and the
 * buffer is copied to the exact length so ASan sees any read past it.
 */
START_TEST(test_good_split)
{
	struct request req;
	const char *in = good_cases[_i].in;
	size_t want_len = good_cases[_i].head_len, n;
	char *copy;
	long rc;

	if (want_len == 0)
		want_len = strlen(in);
	for (n = 0; n < want_len; n++) {
		copy = malloc(n + 1);
		ck_assert_ptr_nonnull(copy);
		memcpy(copy, in, n);
		rc = request_parse(&req, copy, n);
		ck_assert_msg(
		    rc == 0, "case %d prefix %zu: got %ld", _i, n, rc);
		free(copy);
	}
	copy = malloc(want_len);
	ck_assert_ptr_nonnull(copy);
	memcpy(copy, in, want_len);
	rc = request_parse(&req, copy, want_len);
	ck_assert_int_eq(rc, (long)want_len);
	check_good(&req, _i, copy, want_len);
	free(copy);
}
END_TEST

START_TEST(test_field)
{
	struct request req;
	char buf[512];
	const struct slice *s;
	int n;

	n = snprintf(buf, sizeof buf, "GET / HTTP/1.1\r\nHost: h\r\n%s\r\n\r\n",
	    field_cases[_i].in);
	ck_assert(n > 0 && (size_t)n < sizeof buf);
	ck_assert_int_eq(request_parse(&req, buf, (size_t)n), n);
	s = (const struct slice *)((const char *)&req + field_cases[_i].offset);
	assert_slice(*s, field_cases[_i].want, buf, (size_t)n);
}
END_TEST

START_TEST(test_defaults)
{
	struct request req;
	const char *in = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";

	ck_assert_int_eq(request_parse(&req, in, strlen(in)), strlen(in));
	ck_assert_int_eq(req.content_length, -1);
	ck_assert_int_eq(req.transfer_encoding, 0);
	ck_assert_int_eq(req.expect_continue, 0);
	ck_assert_uint_eq(req.field_count, 1);
	ck_assert_ptr_null(req.if_match.ptr);
	ck_assert_ptr_null(req.if_unmodified_since.ptr);
	ck_assert_ptr_null(req.if_none_match.ptr);
	ck_assert_ptr_null(req.if_modified_since.ptr);
	ck_assert_ptr_null(req.if_range.ptr);
	ck_assert_ptr_null(req.range.ptr);
	ck_assert_ptr_null(req.accept_encoding.ptr);
	ck_assert_ptr_null(req.user_agent.ptr);
	ck_assert_ptr_null(req.referer.ptr);
}
END_TEST

static const struct {
	const char *fields;
	int64_t content_length;
	int transfer_encoding;
	int expect_continue;
	unsigned field_count;
} framing_cases[] = {
    {"", -1, 0, 0, 1},
    {"Content-Length: 0\r\n", 0, 0, 0, 2},
    {"Content-Length: 000042\r\n", 42, 0, 0, 2},
    {"content-length:  17 \r\n", 17, 0, 0, 2},
    {"Content-Length: 5\r\nContent-Length: 5\r\n", 5, 0, 0, 3},
    {"Content-Length: 9223372036854775807\r\n", INT64_MAX, 0, 0, 2},
    {"Transfer-Encoding: chunked\r\n", -1, 1, 0, 2},
    {"TRANSFER-ENCODING: gzip, chunked\r\n", -1, 1, 0, 2},
    {"Expect: 100-continue\r\n", -1, 0, 1, 2},
    {"Expect: 100-Continue\r\n", -1, 0, 1, 2},
    {"Expect: 100-continued\r\n", -1, 0, 0, 2},
    {"Expect: something\r\n", -1, 0, 0, 2},
    {"A: 1\r\nB: 2\r\nC: 3\r\n", -1, 0, 0, 4},
    {"X-Empty:\r\nX-Spaces:    \r\n", -1, 0, 0, 3},
};

START_TEST(test_framing)
{
	struct request req;
	char buf[512];
	int n;

	n = snprintf(buf, sizeof buf, "POST / HTTP/1.1\r\nHost: h\r\n%s\r\n",
	    framing_cases[_i].fields);
	ck_assert(n > 0 && (size_t)n < sizeof buf);
	ck_assert_int_eq(request_parse(&req, buf, (size_t)n), n);
	ck_assert_int_eq(req.content_length, framing_cases[_i].content_length);
	ck_assert_int_eq(
	    req.transfer_encoding, framing_cases[_i].transfer_encoding);
	ck_assert_int_eq(
	    req.expect_continue, framing_cases[_i].expect_continue);
	ck_assert_uint_eq(req.field_count, framing_cases[_i].field_count);
}
END_TEST

START_TEST(test_pipelined)
{
	struct request req;
	const char *in = "GET /first HTTP/1.1\r\nHost: a\r\n\r\n"
			 "HEAD /second HTTP/1.0\r\n\r\n"
			 "GET /third HTTP/1.1\r\nHost: b\r\n";
	size_t len = strlen(in), off = 0;
	long rc;

	rc = request_parse(&req, in, len);
	ck_assert_int_eq(rc, 32);
	ck_assert(slice_eq(req.target, "/first"));
	off += (size_t)rc;

	rc = request_parse(&req, in + off, len - off);
	ck_assert_int_eq(rc, 25);
	ck_assert_int_eq(req.method, HTTP_HEAD);
	ck_assert(slice_eq(req.target, "/second"));
	ck_assert_int_eq(req.keep_alive, 0);
	off += (size_t)rc;

	/* The third has not ended yet. */
	ck_assert_int_eq(request_parse(&req, in + off, len - off), 0);
}
END_TEST

START_TEST(test_incomplete)
{
	static const char *const partial[] = {
	    "",
	    "\r",
	    "\r\n",
	    "\n",
	    "\r\n\r",
	    "G",
	    "GET",
	    "GET ",
	    "GET /",
	    "GET / ",
	    "GET / HTTP/1.",
	    "GET / HTTP/1.1",
	    "GET / HTTP/1.1\r",
	    "GET / HTTP/1.1\r\n",
	    "GET / HTTP/1.1\r\nHost",
	    "GET / HTTP/1.1\r\nHost:",
	    "GET / HTTP/1.1\r\nHost: a\r\n",
	    "GET / HTTP/1.1\r\nHost: a\r\n\r",
	    "GET / HTTP/1.1\nHost: a\n",
	    "\r\n\r\n",
	    "\n\n\n\n",
	    /* Not yet visibly wrong: the line has not ended. */
	    "GET / HTTP/9.9",
	    "GET foo",
	    "GET / HTTP/1.1\r\nHost a",
	};
	struct request req;
	size_t i;

	for (i = 0; i < sizeof partial / sizeof partial[0]; i++) {
		ck_assert_msg(
		    request_parse(&req, partial[i], strlen(partial[i])) == 0,
		    "partial %zu", i);
	}
	ck_assert_int_eq(request_parse(&req, NULL, 0), 0);
}
END_TEST

/* Builds "GET /aaa... HTTP/1.1" with a request line of exactly line_len. */
static char *
long_request(size_t line_len, const char *rest, size_t *len)
{
	size_t target_len = line_len - strlen("GET  HTTP/1.1");
	size_t rest_len = strlen(rest);
	char *buf;

	buf = malloc(line_len + rest_len);
	ck_assert_ptr_nonnull(buf);
	memcpy(buf, "GET /", 5);
	memset(buf + 5, 'a', target_len - 1);
	memcpy(buf + 4 + target_len, " HTTP/1.1", 9);
	memcpy(buf + line_len, rest, rest_len);
	*len = line_len + rest_len;
	return buf;
}

START_TEST(test_request_line_limit)
{
	struct request req;
	char *buf, *line;
	size_t len;

	buf = long_request(REQUEST_LINE_MAX, "\r\nHost: a\r\n\r\n", &len);
	ck_assert_int_eq(request_parse(&req, buf, len), len);
	ck_assert_uint_eq(req.target.len, REQUEST_LINE_MAX - 13);
	free(buf);

	buf = long_request(REQUEST_LINE_MAX, "\nHost: a\n\n", &len);
	ck_assert_int_eq(request_parse(&req, buf, len), len);
	free(buf);

	buf = long_request(REQUEST_LINE_MAX + 1, "\r\nHost: a\r\n\r\n", &len);
	ck_assert_int_eq(request_parse(&req, buf, len), -414);
	free(buf);

	/* Not ended yet, but already too long. */
	buf = long_request(REQUEST_LINE_MAX + 1, "", &len);
	ck_assert_int_eq(request_parse(&req, buf, REQUEST_LINE_MAX), 0);
	ck_assert_int_eq(request_parse(&req, buf, REQUEST_LINE_MAX + 1), -414);
	free(buf);

	/* A CR right at the limit may still be the start of CRLF. */
	buf = long_request(REQUEST_LINE_MAX, "\r", &len);
	ck_assert_int_eq(request_parse(&req, buf, len), 0);
	free(buf);

	/* Leading empty lines do not count towards the line. */
	line = long_request(REQUEST_LINE_MAX, "\r\nHost: a\r\n\r\n", &len);
	buf = malloc(len + 4);
	ck_assert_ptr_nonnull(buf);
	memcpy(buf, "\r\n\r\n", 4);
	memcpy(buf + 4, line, len);
	free(line);
	ck_assert_int_eq(request_parse(&req, buf, len + 4), len + 4);
	free(buf);
}
END_TEST

/* A head of exactly total bytes: request line, one long field, end. */
static char *
long_head(size_t total, size_t *len)
{
	const char *start = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
	size_t slen = strlen(start), fill = total - slen - 4;
	char *buf;

	buf = malloc(total);
	ck_assert_ptr_nonnull(buf);
	memcpy(buf, start, slen);
	memset(buf + slen, 'x', fill);
	memcpy(buf + slen + fill, "\r\n\r\n", 4);
	*len = total;
	return buf;
}

START_TEST(test_head_limit)
{
	/* A field line as long as the head may be: only head_max binds. */
	const struct request_limits lim = {REQUEST_LINE_MAX, REQUEST_HEAD_MAX,
	    REQUEST_HEAD_MAX, REQUEST_FIELDS_MAX};
	struct request req;
	char *buf;
	size_t len;

	buf = long_head(REQUEST_HEAD_MAX, &len);
	ck_assert_int_eq(
	    request_parse_limited(&req, buf, len, &lim), REQUEST_HEAD_MAX);
	/* Every prefix short of the limit is just incomplete. */
	ck_assert_int_eq(request_parse_limited(&req, buf, len - 1, &lim), 0);
	ck_assert_int_eq(request_parse_limited(&req, buf, len - 2, &lim), 0);
	free(buf);

	buf = long_head(REQUEST_HEAD_MAX + 1, &len);
	ck_assert_int_eq(request_parse_limited(&req, buf, len, &lim), -431);
	ck_assert_int_eq(request_parse_limited(&req, buf, len - 1, &lim), -431);
	ck_assert_int_eq(
	    request_parse_limited(&req, buf, REQUEST_HEAD_MAX - 1, &lim), 0);
	free(buf);

	/* Far past the limit with no end in sight. */
	buf = long_head(REQUEST_HEAD_MAX * 2, &len);
	ck_assert_int_eq(request_parse_limited(&req, buf, len - 4, &lim), -431);
	ck_assert_int_eq(request_parse_limited(&req, buf, len, &lim), -431);
	free(buf);
}
END_TEST

/* "X: xxx": a field line whose content is exactly content bytes. */
static char *
long_field(size_t content, size_t *len)
{
	const char *start = "GET / HTTP/1.1\r\nHost: a\r\n";
	size_t slen = strlen(start);
	char *buf;

	buf = malloc(slen + content + 4);
	ck_assert_ptr_nonnull(buf);
	memcpy(buf, start, slen);
	memcpy(buf + slen, "X: ", 3);
	memset(buf + slen + 3, 'x', content - 3);
	memcpy(buf + slen + content, "\r\n\r\n", 4);
	*len = slen + content + 4;
	return buf;
}

START_TEST(test_field_line_limit)
{
	struct request req;
	char *buf;
	size_t len;

	/* Within the head limit, but one line longer than a field may be. */
	buf = long_field(REQUEST_FIELD_MAX, &len);
	ck_assert_int_eq(request_parse(&req, buf, len), len);
	free(buf);

	buf = long_field(REQUEST_FIELD_MAX + 1, &len);
	ck_assert_int_lt(len, REQUEST_HEAD_MAX);
	ck_assert_int_eq(request_parse(&req, buf, len), -431);
	/* Known before the line ends, at the first byte too many. */
	ck_assert_int_eq(request_parse(&req, buf, len - 4), -431);
	ck_assert_int_eq(request_parse(&req, buf, len - 5), 0);
	free(buf);
}
END_TEST

/* Limits other than the defaults, each binding on its own. */
START_TEST(test_custom_limits)
{
	const struct request_limits lim = {32, 24, 96, 3};
	const char *ok = "GET /0123456789abcdef HTTP/1.1\r\n"
			 "Host: a\r\nX-A: 0123456789abcdefghi\r\n\r\n";
	const char *line = "GET /0123456789abcdefghijklmn HTTP/1.1\r\n"
			   "Host: a\r\n\r\n";
	const char *field = "GET / HTTP/1.1\r\nHost: a\r\n"
			    "X-A: 0123456789abcdefghijk\r\n\r\n";
	const char *count = "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\n"
			    "C: 3\r\n\r\n";
	const char *head = "GET / HTTP/1.1\r\nHost: a\r\n"
			   "X-A: 0123456789abcdefghi\r\n"
			   "X-B: 0123456789abcdefghi\r\n"
			   "X-C: 0123456789abcdefghi\r\n\r\n";
	struct request req;

	ck_assert_int_eq(request_parse_limited(&req, ok, strlen(ok), &lim),
	    strlen(ok));
	ck_assert_int_eq(
	    request_parse_limited(&req, line, strlen(line), &lim), -414);
	ck_assert_int_eq(
	    request_parse_limited(&req, field, strlen(field), &lim), -431);
	ck_assert_int_eq(
	    request_parse_limited(&req, count, strlen(count), &lim), -431);
	ck_assert_int_eq(
	    request_parse_limited(&req, head, strlen(head), &lim), -431);
	/* The defaults take all of them. */
	ck_assert_int_gt(request_parse(&req, line, strlen(line)), 0);
	ck_assert_int_gt(request_parse(&req, field, strlen(field)), 0);
	ck_assert_int_gt(request_parse(&req, count, strlen(count)), 0);
	ck_assert_int_gt(request_parse(&req, head, strlen(head)), 0);
}
END_TEST

static char *
many_fields(unsigned count, size_t *len)
{
	char *buf;
	size_t cap = 64 + (size_t)count * 16, n;
	unsigned i;

	buf = malloc(cap);
	ck_assert_ptr_nonnull(buf);
	n = (size_t)snprintf(buf, cap, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (i = 1; i < count; i++)
		n += (size_t)snprintf(buf + n, cap - n, "X-%u: v\r\n", i);
	n += (size_t)snprintf(buf + n, cap - n, "\r\n");
	*len = n;
	return buf;
}

START_TEST(test_field_limit)
{
	struct request req;
	char *buf;
	size_t len;

	buf = many_fields(REQUEST_FIELDS_MAX, &len);
	ck_assert_int_eq(request_parse(&req, buf, len), len);
	ck_assert_uint_eq(req.field_count, REQUEST_FIELDS_MAX);
	free(buf);

	buf = many_fields(REQUEST_FIELDS_MAX + 1, &len);
	ck_assert_int_eq(request_parse(&req, buf, len), -431);
	/* Known as soon as the line that is one too many has ended. */
	ck_assert_int_eq(request_parse(&req, buf, len - 2), -431);
	free(buf);
}
END_TEST

START_TEST(test_slice_eq)
{
	struct slice s = {"Keep-Alive", 10};
	struct slice none = {NULL, 0};
	struct slice empty = {"", 0};
	struct slice prefix = {"close-me", 5};

	ck_assert(slice_eq(s, "keep-alive"));
	ck_assert(slice_eq(s, "KEEP-ALIVE"));
	ck_assert(slice_eq(s, "Keep-Alive"));
	ck_assert(!slice_eq(s, "keep-aliv"));
	ck_assert(!slice_eq(s, "keep-alive2"));
	ck_assert(!slice_eq(s, "keep_alive"));
	ck_assert(!slice_eq(none, ""));
	ck_assert(!slice_eq(none, "x"));
	ck_assert(slice_eq(empty, ""));
	ck_assert(!slice_eq(empty, "a"));
	ck_assert(slice_eq(prefix, "close"));
	ck_assert(!slice_eq(prefix, "close-me"));
}
END_TEST

/*
 * Every byte value in each place a byte class decides: a method, a
 * target, a field value and a Host value, each judged against the
 * grammar as RFC 9110 and 9112 write it, not against the parser's table.
 */
static int
is_alnum(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9');
}

START_TEST(test_every_byte)
{
	struct request req;
	char buf[128];
	int c, n, visible, tchar, host, field;
	long want;

	for (c = 0; c < 256; c++) {
		visible = c > 0x20 && c < 0x7f;
		tchar = is_alnum(c) ||
		    (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
		host = is_alnum(c) ||
		    (c != 0 && strchr("-._~%!$&'()*+,;=:[]", c) != NULL);
		field = visible || c == ' ' || c == '\t' || c >= 0x80;

		n = snprintf(buf, sizeof buf,
		    "G%cT / HTTP/1.1\r\nHost: a\r\n\r\n", c);
		want = tchar ? n : -400;
		ck_assert_msg(request_parse(&req, buf, (size_t)n) == want,
		    "method byte 0x%02x", c);

		n = snprintf(buf, sizeof buf,
		    "GET /a%cb HTTP/1.1\r\nHost: a\r\n\r\n", c);
		want = visible ? n : -400;
		ck_assert_msg(request_parse(&req, buf, (size_t)n) == want,
		    "target byte 0x%02x", c);

		n = snprintf(buf, sizeof buf,
		    "GET / HTTP/1.1\r\nHost: a\r\nX-A: a%cb\r\n\r\n", c);
		want = field ? n : -400;
		ck_assert_msg(request_parse(&req, buf, (size_t)n) == want,
		    "field byte 0x%02x", c);

		n = snprintf(buf, sizeof buf,
		    "GET / HTTP/1.1\r\nHost: a%cb\r\n\r\n", c);
		want = host ? n : -400;
		ck_assert_msg(request_parse(&req, buf, (size_t)n) == want,
		    "Host byte 0x%02x", c);
	}
}
END_TEST

static Suite *
request_suite(void)
{
	Suite *s = suite_create("request");
	TCase *tc = tcase_create("core");

	tcase_add_loop_test(
	    tc, test_bad, 0, sizeof bad_cases / sizeof bad_cases[0]);
	tcase_add_loop_test(
	    tc, test_good, 0, sizeof good_cases / sizeof good_cases[0]);
	tcase_add_loop_test(
	    tc, test_good_split, 0, sizeof good_cases / sizeof good_cases[0]);
	tcase_add_loop_test(
	    tc, test_field, 0, sizeof field_cases / sizeof field_cases[0]);
	tcase_add_loop_test(tc, test_framing, 0,
	    sizeof framing_cases / sizeof framing_cases[0]);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_pipelined);
	tcase_add_test(tc, test_incomplete);
	tcase_add_test(tc, test_request_line_limit);
	tcase_add_test(tc, test_head_limit);
	tcase_add_test(tc, test_field_limit);
	tcase_add_test(tc, test_field_line_limit);
	tcase_add_test(tc, test_custom_limits);
	tcase_add_test(tc, test_slice_eq);
	tcase_add_test(tc, test_every_byte);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(request_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
