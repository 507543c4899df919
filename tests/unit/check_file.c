/*
 * Unit tests for file.c through an exchange captured in memory: a real
 * file beneath a real root, served by file_serve() on a coroutine with
 * the I/O pool, and the status, fields and body bytes checked as a
 * protocol would receive them. No socket and no HTTP/1.1 text.
 */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/event.h>

#include "await.h"
#include "config.h"
#include "coro.h"
#include "exchange.h"
#include "file.h"
#include "iopool.h"
#include "mime.h"
#include "path.h"
#include "reactor.h"
#include "request.h"
#include "resolve.h"
#include "response.h"

#define FILE_BYTES	100000	/* more than one 64 KiB chunk */

static char		 dir[] = "/tmp/check_file.XXXXXX";
static char		 content[FILE_BYTES];
static struct reactor	*reactor;
static struct event_base *base;
static struct iopool	*pool;
static struct config	*cfg;
static struct mime_table *mime;
static struct docroot	*root;

/* What the protocol got: the head's fields as text, and the body. */
struct capture {
	int		 heads;
	int		 status;
	char		 fields[RESPONSE_HEAD_MAX];
	char		*body;
	size_t		 body_len;
	int		 rc;
};

static int
capture_head(struct exchange *x, struct response *r, const void *body,
    size_t len)
{
	struct capture		*cap = x->owner;
	struct response_field	 f;
	size_t			 pos = 0, n = 0;

	cap->heads++;
	cap->status = r->status;
	while (response_field_next(r, &pos, &f))
		n += (size_t)snprintf(cap->fields + n, sizeof cap->fields - n,
		    "%.*s: %.*s\n", (int)f.name_len, f.name, (int)f.value_len,
		    f.value);
	return x->ops->send_body(x, body, len);
}

static int
capture_body(struct exchange *x, const void *buf, size_t len)
{
	struct capture	*cap = x->owner;

	ck_assert_int_eq(cap->heads, 1);
	if (len == 0)
		return 0;
	ck_assert_ptr_nonnull(cap->body = realloc(cap->body, cap->body_len +
	    len + 1));
	memcpy(cap->body + cap->body_len, buf, len);
	cap->body_len += len;
	return 0;
}

static const struct exchange_ops capture_ops = {
	.send_head = capture_head,
	.send_body = capture_body,
};

static void
write_file(const char *name, const void *buf, size_t len)
{
	char	 path[256];
	FILE	*f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	ck_assert_ptr_nonnull(f = fopen(path, "w"));
	ck_assert_uint_eq(fwrite(buf, 1, len, f), len);
	fclose(f);
}

static int
mkdir_sub(const char *name)
{
	char	 path[256];

	snprintf(path, sizeof path, "%s/%s", dir, name);
	return mkdir(path, 0755);
}

static void
setup(void)
{
	struct config_overrides	 o = { NULL, dir, { "127.0.0.1:0" }, 1, 0,
	    NULL, NULL };
	char			 err[256];
	size_t			 i;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	for (i = 0; i < sizeof content; i++)
		content[i] = (char)('a' + i * 7 % 26);
	write_file("data.bin", content, sizeof content);
	write_file("empty.txt", "", 0);
	ck_assert_ptr_nonnull(pool = iopool_create(1, 0, 8));
	ck_assert_ptr_nonnull(reactor = reactor_create(pool, 0, 256 * 1024, 8));
	base = reactor->base;
	cfg = config_load(NULL, &o, err, sizeof err);
	ck_assert_msg(cfg != NULL, "%s", err);
	ck_assert_ptr_nonnull(mime = mime_load(NULL));
	root = docroot_open(cfg, &cfg->sites[0], mime, pool, err, sizeof err);
	ck_assert_msg(root != NULL, "%s", err);
}

static void
teardown(void)
{
	char	 cmd[64];

	docroot_close(root);
	mime_free(mime);
	config_free(cfg);
	iopool_destroy(pool);
	reactor_free(reactor);
	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
	strcpy(dir, "/tmp/check_file.XXXXXX");
}

struct serve_arg {
	struct exchange	*x;
	struct path	*p;
	int		 rc;
};

static void
serve_main(void *arg)
{
	struct serve_arg	*sa = arg;

	sa->rc = file_serve(sa->x, sa->p);
}

/* Serves the request head text through a captured exchange. */
static void
serve(const char *head, struct capture *cap)
{
	struct request		 req;
	struct exchange		 x;
	struct path		 p;
	struct serve_arg	 sa = { &x, &p, 0 };
	struct coro		*co;

	memset(cap, 0, sizeof *cap);
	ck_assert_int_gt(request_parse(&req, head, strlen(head)), 0);
	ck_assert_int_eq(path_parse(&p, req.target.ptr, req.target.len), 0);
	exchange_init(&x, &capture_ops, cap, &req, root);
	ck_assert_ptr_nonnull(co = coro_create(serve_main, &sa));
	coro_resume(co);
	while (coro_live() > 0)
		ck_assert_int_ge(event_base_loop(base, EVLOOP_ONCE), 0);
	cap->rc = sa.rc;
	ck_assert_int_eq(x.head_sent, 1);
	ck_assert_int_eq(x.status, cap->status);
	ck_assert_uint_eq(x.body_bytes, cap->body_len);
	if (cap->body != NULL)
		cap->body[cap->body_len] = '\0';
}

/* The value of field name in a capture, or NULL. */
static const char *
field(const struct capture *cap, const char *name)
{
	static char	 value[RESPONSE_HEAD_MAX];
	char		 want[64];
	const char	*p, *end;

	snprintf(want, sizeof want, "%s: ", name);
	for (p = cap->fields; p != NULL && *p != '\0'; p = strchr(p, '\n') + 1)
		if (strncmp(p, want, strlen(want)) == 0) {
			p += strlen(want);
			end = strchr(p, '\n');
			snprintf(value, sizeof value, "%.*s", (int)(end - p), p);
			return value;
		}
	return NULL;
}

static void
free_capture(struct capture *cap)
{
	free(cap->body);
	cap->body = NULL;
}

START_TEST(whole_file)
{
	struct capture	 cap;
	char		 len[32];

	serve("GET /data.bin HTTP/1.1\r\nHost: x\r\n\r\n", &cap);
	ck_assert_int_eq(cap.rc, 0);
	ck_assert_int_eq(cap.status, 200);
	snprintf(len, sizeof len, "%d", FILE_BYTES);
	ck_assert_str_eq(field(&cap, "Content-Length"), len);
	ck_assert_str_eq(field(&cap, "Accept-Ranges"), "bytes");
	ck_assert_ptr_nonnull(field(&cap, "ETag"));
	ck_assert_ptr_nonnull(field(&cap, "Last-Modified"));
	ck_assert_ptr_nonnull(field(&cap, "Date"));
	/* HTTP/1.1's business, not the handler's. */
	ck_assert_ptr_null(field(&cap, "Connection"));
	ck_assert_uint_eq(cap.body_len, FILE_BYTES);
	ck_assert(memcmp(cap.body, content, FILE_BYTES) == 0);
	free_capture(&cap);
}
END_TEST

START_TEST(head_sends_no_body)
{
	struct capture	 cap;

	serve("HEAD /data.bin HTTP/1.1\r\nHost: x\r\n\r\n", &cap);
	ck_assert_int_eq(cap.status, 200);
	ck_assert_str_eq(field(&cap, "Content-Length"), "100000");
	ck_assert_uint_eq(cap.body_len, 0);
	free_capture(&cap);
}
END_TEST

START_TEST(empty_file)
{
	struct capture	 cap;

	serve("GET /empty.txt HTTP/1.1\r\nHost: x\r\n\r\n", &cap);
	ck_assert_int_eq(cap.status, 200);
	ck_assert_str_eq(field(&cap, "Content-Length"), "0");
	ck_assert_uint_eq(cap.body_len, 0);
	free_capture(&cap);
}
END_TEST

START_TEST(single_range)
{
	struct capture	 cap;

	serve("GET /data.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=70000-70009"
	    "\r\n\r\n", &cap);
	ck_assert_int_eq(cap.status, 206);
	ck_assert_str_eq(field(&cap, "Content-Range"),
	    "bytes 70000-70009/100000");
	ck_assert_str_eq(field(&cap, "Content-Length"), "10");
	ck_assert_uint_eq(cap.body_len, 10);
	ck_assert(memcmp(cap.body, content + 70000, 10) == 0);
	free_capture(&cap);
}
END_TEST

START_TEST(suffix_range)
{
	struct capture	 cap;

	serve("GET /data.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=-5\r\n\r\n",
	    &cap);
	ck_assert_int_eq(cap.status, 206);
	ck_assert_str_eq(field(&cap, "Content-Range"),
	    "bytes 99995-99999/100000");
	ck_assert(memcmp(cap.body, content + 99995, 5) == 0);
	free_capture(&cap);
}
END_TEST

START_TEST(multipart_ranges)
{
	struct capture	 cap;
	char		 boundary[128], expect[512];
	const char	*type;
	int		 n;

	serve("GET /data.bin HTTP/1.1\r\nHost: x\r\n"
	    "Range: bytes=0-2,99998-99999\r\n\r\n", &cap);
	ck_assert_int_eq(cap.status, 206);
	type = field(&cap, "Content-Type");
	ck_assert_int_eq(sscanf(type, "multipart/byteranges; boundary=%127s",
	    boundary), 1);
	ck_assert_ptr_null(field(&cap, "Content-Range"));
	n = snprintf(expect, sizeof expect,
	    "--%s\r\nContent-Type: application/octet-stream\r\n"
	    "Content-Range: bytes 0-2/100000\r\n\r\n%.3s\r\n"
	    "--%s\r\nContent-Type: application/octet-stream\r\n"
	    "Content-Range: bytes 99998-99999/100000\r\n\r\n%.2s\r\n"
	    "--%s--\r\n", boundary, content, boundary, content + 99998,
	    boundary);
	ck_assert_uint_eq(cap.body_len, (size_t)n);
	ck_assert_str_eq(cap.body, expect);
	ck_assert_uint_eq(strtoull(field(&cap, "Content-Length"), NULL, 10),
	    (uint64_t)n);
	free_capture(&cap);
}
END_TEST

START_TEST(unsatisfiable_range)
{
	struct capture	 cap;

	serve("GET /data.bin HTTP/1.1\r\nHost: x\r\n"
	    "Range: bytes=200000-300000\r\n\r\n", &cap);
	ck_assert_int_eq(cap.status, 416);
	ck_assert_str_eq(field(&cap, "Content-Range"), "bytes */100000");
	free_capture(&cap);
}
END_TEST

START_TEST(not_modified_and_precondition_failed)
{
	struct capture	 cap;
	char		 etag[64], last_modified[64], head[256];

	serve("HEAD /data.bin HTTP/1.1\r\nHost: x\r\n\r\n", &cap);
	snprintf(etag, sizeof etag, "%s", field(&cap, "ETag"));
	snprintf(last_modified, sizeof last_modified, "%s",
	    field(&cap, "Last-Modified"));
	free_capture(&cap);

	snprintf(head, sizeof head, "GET /data.bin HTTP/1.1\r\nHost: x\r\n"
	    "If-None-Match: %s\r\n\r\n", etag);
	serve(head, &cap);
	ck_assert_int_eq(cap.status, 304);
	/* What a 304 repeats of the 200, and no content fields or body. */
	ck_assert_str_eq(field(&cap, "ETag"), etag);
	ck_assert_ptr_null(field(&cap, "Content-Length"));
	ck_assert_uint_eq(cap.body_len, 0);
	free_capture(&cap);

	snprintf(head, sizeof head, "GET /data.bin HTTP/1.1\r\nHost: x\r\n"
	    "If-Modified-Since: %s\r\n\r\n", last_modified);
	serve(head, &cap);
	ck_assert_int_eq(cap.status, 304);
	free_capture(&cap);

	serve("GET /data.bin HTTP/1.1\r\nHost: x\r\n"
	    "If-Match: \"something-else\"\r\n\r\n", &cap);
	ck_assert_int_eq(cap.status, 412);
	free_capture(&cap);

	/* If-Range with another validator: the whole file, not the range. */
	serve("GET /data.bin HTTP/1.1\r\nHost: x\r\nRange: bytes=0-0\r\n"
	    "If-Range: \"old\"\r\n\r\n", &cap);
	ck_assert_int_eq(cap.status, 200);
	ck_assert_uint_eq(cap.body_len, FILE_BYTES);
	free_capture(&cap);
}
END_TEST

START_TEST(missing_and_directory)
{
	struct capture	 cap;

	serve("GET /nothing-here HTTP/1.1\r\nHost: x\r\n\r\n", &cap);
	ck_assert_int_eq(cap.status, 404);
	ck_assert_str_eq(field(&cap, "Content-Type"),
	    "text/html; charset=utf-8");
	ck_assert_ptr_nonnull(strstr(cap.body, "404 Not Found"));
	free_capture(&cap);

	ck_assert_int_eq(mkdir_sub("sub"), 0);
	serve("GET /sub?x=1 HTTP/1.1\r\nHost: x\r\n\r\n", &cap);
	ck_assert_int_eq(cap.status, 301);
	ck_assert_str_eq(field(&cap, "Location"), "/sub/?x=1");
	free_capture(&cap);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("file");
	TCase	*tc = tcase_create("serve");
	SRunner	*sr;
	int	 failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, whole_file);
	tcase_add_test(tc, head_sends_no_body);
	tcase_add_test(tc, empty_file);
	tcase_add_test(tc, single_range);
	tcase_add_test(tc, suffix_range);
	tcase_add_test(tc, multipart_ranges);
	tcase_add_test(tc, unsatisfiable_range);
	tcase_add_test(tc, not_modified_and_precondition_failed);
	tcase_add_test(tc, missing_and_directory);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
