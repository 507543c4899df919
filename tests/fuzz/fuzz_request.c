/*
 * libFuzzer target for the pure HTTP modules. Each input is a request
 * head; when request_parse accepts it, the target, Range and date fields
 * go on to path_parse, range_parse and httpdate_parse, as the server
 * would send them. Beyond the sanitizers, the target checks the promises
 * the callers rely on (slices inside the head, every prefix of an accepted
 * head incomplete, a path that cannot climb, a range inside the file) and
 * aborts when one is broken, so a logic bug is a crash like any other.
 */

#include "autoconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuzz.h"
#include "httpdate.h"
#include "path.h"
#include "range.h"
#include "request.h"

static void
check_slice(struct slice s, const char *head, size_t head_len)
{
	if (s.ptr == NULL) {
		CHECK(s.len == 0);
		return;
	}
	CHECK(s.ptr >= head && s.ptr + s.len <= head + head_len);
}

static void
check_path(const char *target, size_t len)
{
	struct path p;
	const char *seg;
	size_t rel_len, seg_len;
	int rc;

	rc = path_parse(&p, target, len);
	CHECK(rc == 0 || rc == -400 || rc == -404);
	if (rc != 0)
		return;
	rel_len = strlen(p.rel);
	CHECK(rel_len < sizeof p.rel);
	CHECK(strchr(p.rel, '\\') == NULL);
	CHECK(p.trailing_slash == 0 || p.trailing_slash == 1);
	if (p.query != NULL)
		CHECK(p.query >= target &&
		      p.query + p.query_len == target + len &&
		      p.query[0] == '?');
	if (rel_len == 0)
		return;
	/* No empty, "." or ".." segment, no leading or trailing '/'. */
	for (seg = p.rel;; seg += seg_len + 1) {
		seg_len = strcspn(seg, "/");
		CHECK(seg_len > 0);
		CHECK(!(seg_len == 1 && seg[0] == '.'));
		CHECK(!(seg_len == 2 && seg[0] == '.' && seg[1] == '.'));
		if (seg[seg_len] == '\0')
			break;
	}
}

static void
check_range(struct slice value, uint64_t size)
{
	struct byte_range r;
	enum range_result rc;

	rc = range_parse(value.ptr, value.len, size, &r);
	CHECK(
	    rc == RANGE_IGNORE || rc == RANGE_OK || rc == RANGE_UNSATISFIABLE);
	if (rc == RANGE_OK)
		CHECK(size > 0 && r.first <= r.last && r.last < size);
}

/* A date that parses must survive being written and read back. */
static void
check_date(struct slice value)
{
	char buf[HTTPDATE_LEN + 1];
	time_t t, again;

	if (value.ptr == NULL || httpdate_parse(value.ptr, value.len, &t) != 0)
		return;
	if (t < 0 || (int64_t)t > INT64_C(253402300799))
		return;
	httpdate_format(t, buf);
	CHECK(strlen(buf) == HTTPDATE_LEN);
	CHECK(httpdate_parse(buf, HTTPDATE_LEN, &again) == 0 && again == t);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint64_t sizes[] = {
	    0, 1, 100, UINT64_C(4294967296), UINT64_C(5368709121), UINT64_MAX};
	const char *buf = (const char *)data;
	struct request req, again;
	long rc;
	size_t n, i;

	rc = request_parse(&req, buf, size);
	CHECK(rc == 0 || rc == -400 || rc == -414 || rc == -431 || rc == -505 ||
	      (rc > 0 && (size_t)rc <= size && rc <= REQUEST_HEAD_MAX));
	if (rc <= 0)
		return 0;
	n = (size_t)rc;

	CHECK(req.head_len == n);
	CHECK(req.version_minor == 0 || req.version_minor == 1);
	CHECK(req.keep_alive == 0 || req.keep_alive == 1);
	CHECK(req.version_minor == 0 || req.host.ptr != NULL);
	CHECK(req.field_count <= REQUEST_FIELDS_MAX);
	CHECK(req.target.len > 0 && req.method_name.len > 0);
	check_slice(req.method_name, buf, n);
	check_slice(req.target, buf, n);
	check_slice(req.host, buf, n);
	check_slice(req.if_none_match, buf, n);
	check_slice(req.if_modified_since, buf, n);
	check_slice(req.if_range, buf, n);
	check_slice(req.range, buf, n);
	check_slice(req.user_agent, buf, n);
	check_slice(req.referer, buf, n);

	/* The head alone parses the same; any shorter prefix is incomplete. */
	CHECK(request_parse(&again, buf, n) == rc);
	CHECK(again.target.ptr == req.target.ptr &&
	      again.keep_alive == req.keep_alive);
	CHECK(request_parse(&again, buf, n - 1) == 0);
	CHECK(request_parse(&again, buf, n / 2) == 0);

	if (!(req.target.len == 1 && req.target.ptr[0] == '*'))
		check_path(req.target.ptr, req.target.len);
	if (req.range.ptr != NULL) {
		for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
			check_range(req.range, sizes[i]);
	}
	check_date(req.if_modified_since);
	check_date(req.if_range);
	(void)slice_eq(req.host, "localhost");
	return 0;
}
