/*
 * libFuzzer target for precond.c (and the dates it reads with httpdate.c).
 * An input is a flags byte, two clock bytes, then newline-separated
 * values: our ETag, If-Match, If-Unmodified-Since, If-None-Match,
 * If-Modified-Since, If-Range and Range, each present when its flag bit
 * is set. Values are OWS-trimmed, as request_parse hands them over. The
 * clock bytes place Last-Modified and now around 1994-11-06 08:49:37, the
 * date the seeds use.
 *
 * precond_evaluate must agree with a reference written straight from RFC
 * 9110 13.2.2 (entity-tag lists parsed in full, strong comparison for
 * If-Match and If-Range, weak for If-None-Match, invalid dates ignored, a
 * Last-Modified date strong only once its second is over), so a 304 is
 * never sent for a representation the client does not have, a 412 never
 * for one it does, and a Range is honoured only under a matching
 * If-Range. Also: 304 only for GET and HEAD, a range only for GET with a
 * Range and only with PRECOND_PROCEED.
 */

#include "autoconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fuzz.h"
#include "httpdate.h"
#include "precond.h"
#include "request.h"

#define BASE_TIME 784111777 /* Sun, 06 Nov 1994 08:49:37 GMT */

enum {
	F_ETAG,
	F_IF_MATCH,
	F_IUS,
	F_IF_NONE_MATCH,
	F_IMS,
	F_IF_RANGE,
	F_RANGE,
	F_COUNT
};

static int
ows(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * The reference's entity-tag: exactly [W/]"etagc*" over all of p[0..len).
 * Returns 1 and the opaque-tag (quotes included), or 0.
 */
static int
ref_etag(
    const char *p, size_t len, int *weak, const char **opaque, size_t *olen)
{
	size_t i;
	unsigned char c;

	*weak = len >= 2 && p[0] == 'W' && p[1] == '/';
	if (*weak) {
		p += 2;
		len -= 2;
	}
	if (len < 2 || p[0] != '"' || p[len - 1] != '"')
		return 0;
	for (i = 1; i + 1 < len; i++) {
		c = (unsigned char)p[i];
		if (!(c == 0x21 || (c >= 0x23 && c <= 0x7e) || c >= 0x80))
			return 0;
	}
	*opaque = p;
	*olen = len;
	return 1;
}

/*
 * "*" / #entity-tag: split at the commas outside quotes, trim, skip the
 * empty elements; every other one must be an entity-tag.
 */
static int
ref_list_matches(struct slice list, const char *ours, int strong)
{
	const char *p = list.ptr, *o1, *o2;
	size_t len = list.len, i, next, start, end, l1, l2;
	int w1, w2, have_ours, quoted, matched = 0;

	if (len == 1 && p[0] == '*')
		return 1;
	have_ours = ours != NULL && ref_etag(ours, strlen(ours), &w2, &o2, &l2);
	for (i = 0; i <= len; i = next + 1) {
		/* A comma is an etagc: inside quotes it splits nothing. */
		for (next = i, quoted = 0; next < len; next++) {
			if (p[next] == '"')
				quoted = !quoted;
			else if (p[next] == ',' && !quoted)
				break;
		}
		end = next;
		for (start = i; start < end && ows(p[start]); start++)
			;
		while (end > start && ows(p[end - 1]))
			end--;
		if (start < end) {
			if (!ref_etag(p + start, end - start, &w1, &o1, &l1))
				return 0;
			if (have_ours && l1 == l2 && memcmp(o1, o2, l1) == 0 &&
			    !(strong && (w1 || w2)))
				matched = 1;
		}
	}
	return matched;
}

static int
ref_date(struct slice s, time_t *out)
{
	return s.ptr != NULL && httpdate_parse(s.ptr, s.len, out) == 0;
}

static int
ref_if_range_holds(struct slice v, const char *ours, time_t lm, time_t now)
{
	const char *o1, *o2;
	size_t l1, l2;
	int w1, w2;
	time_t date;

	if (v.len > 0 && (v.ptr[0] == '"' ||
			     (v.len > 1 && v.ptr[0] == 'W' && v.ptr[1] == '/')))
		return ours != NULL && ref_etag(v.ptr, v.len, &w1, &o1, &l1) &&
		       ref_etag(ours, strlen(ours), &w2, &o2, &l2) && !w1 &&
		       !w2 && l1 == l2 && memcmp(o1, o2, l1) == 0;
	return ref_date(v, &date) && date == lm && now - 1 > lm;
}

/* RFC 9110 13.2.2, step by step. */
static enum precond_result
ref_evaluate(const struct request *r, const char *ours, time_t lm, time_t now,
    int *range)
{
	int safe = r->method == HTTP_GET || r->method == HTTP_HEAD;
	time_t date;

	*range = 0;
	if (r->if_match.ptr != NULL) {
		if (!ref_list_matches(r->if_match, ours, 1))
			return PRECOND_FAILED;
	} else if (ref_date(r->if_unmodified_since, &date) && lm > date)
		return PRECOND_FAILED;
	if (r->if_none_match.ptr != NULL) {
		if (ref_list_matches(r->if_none_match, ours, 0))
			return safe ? PRECOND_NOT_MODIFIED : PRECOND_FAILED;
	} else if (safe && ref_date(r->if_modified_since, &date) && lm <= date)
		return PRECOND_NOT_MODIFIED;
	if (r->method == HTTP_GET && r->range.ptr != NULL)
		*range = r->if_range.ptr == NULL ||
			 ref_if_range_holds(r->if_range, ours, lm, now);
	return PRECOND_PROCEED;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum http_method methods[4] = {
	    HTTP_GET, HTTP_HEAD, HTTP_OPTIONS, HTTP_KNOWN_OTHER};
	struct slice f[F_COUNT];
	struct request req;
	struct precond_validators v;
	char etag[256];
	const char *p = (const char *)data + 3, *nl;
	size_t len, i, n;
	enum precond_result rc, want;
	int range = -1, want_range;

	if (size < 3)
		return 0;
	len = size - 3;
	for (i = 0; i < F_COUNT; i++) {
		nl = memchr(p, '\n', len);
		n = nl != NULL ? (size_t)(nl - p) : len;
		f[i].ptr = p;
		f[i].len = n;
		while (f[i].len > 0 && ows(f[i].ptr[0])) {
			f[i].ptr++;
			f[i].len--;
		}
		while (f[i].len > 0 && ows(f[i].ptr[f[i].len - 1]))
			f[i].len--;
		/* The flags byte's high bit is the ETag's; bits 0-5 the rest.
		 */
		if (!(i == F_ETAG ? data[0] & 0x80 : data[0] & 1 << (i - 1)))
			f[i].ptr = NULL, f[i].len = 0;
		p += n + (nl != NULL);
		len -= n + (nl != NULL);
	}

	memset(&req, 0, sizeof req);
	req.method = methods[data[0] >> 6 & 1 ? 0 : data[1] & 3];
	req.if_match = f[F_IF_MATCH];
	req.if_unmodified_since = f[F_IUS];
	req.if_none_match = f[F_IF_NONE_MATCH];
	req.if_modified_since = f[F_IMS];
	req.if_range = f[F_IF_RANGE];
	req.range = f[F_RANGE];

	v.etag = NULL;
	if (f[F_ETAG].ptr != NULL && f[F_ETAG].len < sizeof etag &&
	    memchr(f[F_ETAG].ptr, '\0', f[F_ETAG].len) == NULL) {
		memcpy(etag, f[F_ETAG].ptr, f[F_ETAG].len);
		etag[f[F_ETAG].len] = '\0';
		v.etag = etag;
	}
	/* Last-Modified within a few seconds of the seeds' date, now after. */
	v.last_modified = BASE_TIME + (int8_t)(data[1] & 0xfc) / 4;
	v.now = v.last_modified + (int8_t)data[2];

	rc = precond_evaluate(&req, &v, &range);
	CHECK(rc == PRECOND_PROCEED || rc == PRECOND_NOT_MODIFIED ||
	      rc == PRECOND_FAILED);
	CHECK(range == 0 || range == 1);
	if (range)
		CHECK(rc == PRECOND_PROCEED && req.method == HTTP_GET &&
		      req.range.ptr != NULL);
	if (rc == PRECOND_NOT_MODIFIED)
		CHECK(req.method == HTTP_GET || req.method == HTTP_HEAD);

	want = ref_evaluate(&req, v.etag, v.last_modified, v.now, &want_range);
	CHECK(rc == want);
	CHECK(range == want_range);
	return 0;
}
