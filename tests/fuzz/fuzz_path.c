/*
 * libFuzzer target for path.c. Each input is a request target. Beyond the
 * sanitizers the target checks what the file handler relies on:
 *  - a parsed path has no empty, "." or ".." segment, no leading or
 *    trailing '/', no control byte (so no NUL cut it short) and no '\';
 *  - an error leaves rel empty;
 *  - percent-encoding any byte of the path not '/' or already %XX changes
 *    nothing (so no decoded byte can play a role its raw form cannot);
 *  - appending '/' to a query-less target names the same path as a
 *    directory;
 *  - path_encode gives a target path_parse reads back to the same path,
 *    made only of pchar, '/' and %XX, never starting "//", and it never
 *    writes past the buffer it is given, however small;
 *  - path_is_hidden agrees with a plain reading of its definition, on
 *    parsed paths and on raw strings alike.
 */

#include "autoconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "path.h"

/* Longest target worth transforming; a path longer than rel is -404. */
#define TARGET_MAX (3 * sizeof(((struct path *)0)->rel) + 64)

static int
is_pchar_or_slash(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("-._~!$&'()*+,;=:@/", c));
}

static int
is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
}

/* RFC 8615's exception, then any segment starting with a dot. */
static int
hidden_reference(const char *rel)
{
	const char *seg = rel;
	size_t n;

	for (;;) {
		n = strcspn(seg, "/");
		if (n > 0 && seg[0] == '.' &&
		    !(seg == rel && n == 11 &&
			memcmp(seg, ".well-known", 11) == 0))
			return 1;
		if (seg[n] == '\0')
			return 0;
		seg += n + 1;
	}
}

static void
check_parsed(const struct path *p)
{
	const char *seg;
	size_t rel_len, seg_len, i;

	rel_len = strlen(p->rel);
	CHECK(rel_len < sizeof p->rel);
	CHECK(p->trailing_slash == 0 || p->trailing_slash == 1);
	for (i = 0; i < rel_len; i++) {
		unsigned char c = (unsigned char)p->rel[i];

		CHECK(c >= 0x20 && c != 0x7f && c != '\\');
	}
	if (rel_len == 0)
		return;
	for (seg = p->rel;; seg += seg_len + 1) {
		seg_len = strcspn(seg, "/");
		CHECK(seg_len > 0);
		CHECK(!(seg_len == 1 && seg[0] == '.'));
		CHECK(!(seg_len == 2 && seg[0] == '.' && seg[1] == '.'));
		if (seg[seg_len] == '\0')
			break;
	}
}

/* path_encode into exactly-sized heap buffers, so ASan sees any overrun. */
static void
check_encode(const char *rel)
{
	struct path again;
	char *out;
	long n, m;
	size_t size, i;

	size = 3 * strlen(rel) + 2;
	CHECK((out = malloc(size)) != NULL);
	n = path_encode(rel, out, size);
	CHECK(n > 0 && (size_t)n < size && strlen(out) == (size_t)n);
	CHECK(out[0] == '/' && !(n > 1 && out[1] == '/'));
	for (i = 0; i < (size_t)n; i++) {
		unsigned char c = (unsigned char)out[i];

		if (c == '%')
			CHECK(i + 2 < (size_t)n && is_hex(out[i + 1]) &&
			      is_hex(out[i + 2]));
		else
			CHECK(is_pchar_or_slash(c));
	}
	/* Read back: the same path, a file unless it is the root. */
	CHECK(path_parse(&again, out, (size_t)n) == 0);
	CHECK(strcmp(again.rel, rel) == 0);
	CHECK(again.trailing_slash == (rel[0] == '\0'));
	CHECK(again.query == NULL);
	free(out);

	/* Every buffer too small is refused, and none is overrun. */
	for (size = 0; size <= (size_t)n + 1; size++) {
		out = malloc(size > 0 ? size : 1);
		CHECK(out != NULL);
		m = path_encode(rel, out, size);
		CHECK(size > (size_t)n ? m == n : m == -1);
		free(out);
		/* The long paths need not try every size. */
		if (n > 64 && size > 8 && size < (size_t)n - 8)
			size = (size_t)n - 8;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char buf[3 * TARGET_MAX + 2];
	static char raw[TARGET_MAX + 1];
	const char *target = (const char *)data;
	struct path p, q;
	size_t i, n, path_start, path_end;
	int rc, rc2;

	/* path_is_hidden on an arbitrary string, NUL-terminated. */
	if (size <= TARGET_MAX) {
		memcpy(raw, data, size);
		raw[size] = '\0';
		CHECK(path_is_hidden(raw) == hidden_reference(raw));
	}

	rc = path_parse(&p, target, size);
	CHECK(rc == 0 || rc == -400 || rc == -404);
	if (rc != 0) {
		CHECK(p.rel[0] == '\0' && p.trailing_slash == 0);
		return 0;
	}
	check_parsed(&p);
	if (p.query != NULL)
		CHECK(p.query >= target &&
		      p.query + p.query_len == target + size &&
		      p.query[0] == '?');
	CHECK(path_is_hidden(p.rel) == hidden_reference(p.rel));
	check_encode(p.rel);
	if (size > TARGET_MAX)
		return 0;

	/* Where the path runs: after any scheme and authority, to the '?'. */
	path_start = 0;
	if (target[0] != '/') {
		/* "http://" or "https://": the first ':' ends the scheme. */
		path_start =
		    (size_t)((const char *)memchr(target, ':', size) - target) +
		    3;
		while (path_start < size && target[path_start] != '/' &&
		       target[path_start] != '?')
			path_start++;
	}
	path_end = p.query != NULL ? (size_t)(p.query - target) : size;

	/* Encode every byte of the path but '/' and %XX: same result. */
	memcpy(buf, target, path_start);
	n = path_start;
	for (i = path_start; i < path_end; i++) {
		unsigned char c = (unsigned char)target[i];

		if (c == '/')
			buf[n++] = (char)c;
		else if (c == '%') {
			/* Parsed, so a whole %XX: keep it as it is. */
			memcpy(buf + n, target + i, 3);
			n += 3;
			i += 2;
		} else {
			buf[n++] = '%';
			buf[n++] = "0123456789abcdef"[c >> 4];
			buf[n++] = "0123456789ABCDEF"[c & 15];
		}
	}
	memcpy(buf + n, target + path_end, size - path_end);
	n += size - path_end;
	rc2 = path_parse(&q, buf, n);
	CHECK(rc2 == 0);
	CHECK(
	    strcmp(q.rel, p.rel) == 0 && q.trailing_slash == p.trailing_slash);
	CHECK(q.query_len == p.query_len);

	/* A trailing '/' makes it a directory and changes nothing else. */
	if (p.query == NULL) {
		memcpy(buf, target, size);
		buf[size] = '/';
		rc2 = path_parse(&q, buf, size + 1);
		CHECK(rc2 == 0);
		CHECK(strcmp(q.rel, p.rel) == 0 && q.trailing_slash == 1);
	}
	return 0;
}
