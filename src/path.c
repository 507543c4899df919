/*
 * Request target to relative path. The target is split into segments at
 * its raw slashes before anything is decoded, and an encoded slash is
 * refused, so decoding can never create a separator; each decoded segment
 * then goes through dot-segment removal (RFC 3986 5.2.4) with rel itself as
 * the stack. A ".." that would climb above the root is an error rather than
 * being clamped, since no honest client sends one.
 */

#include "autoconf.h"

#include <string.h>

#include "path.h"

static int
hex_value(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
prefix_nocase(const char *p, size_t len, const char *prefix)
{
	size_t i, plen = strlen(prefix);
	unsigned char c;

	if (len < plen)
		return 0;
	for (i = 0; i < plen; i++) {
		c = (unsigned char)p[i];
		if (c >= 'A' && c <= 'Z')
			c = c - 'A' + 'a';
		if (c != (unsigned char)prefix[i])
			return 0;
	}
	return 1;
}

/*
 * Decodes the raw segment seg[0..len) onto the end of p->rel at *used,
 * after a '/' when rel is not empty. Returns 0, -400 for a malformed or
 * forbidden byte, -404 when rel would overflow: rel holds PATH_MAX, so no
 * file has such a path, and the request line itself was within limits.
 * On success *seg_start is where the decoded segment begins, so the
 * caller can recognise dots.
 */
static int
segment_append(struct path *p, size_t *used, const char *seg, size_t len,
    size_t *seg_start)
{
	size_t i, n = *used;
	int hi, lo;
	unsigned char c;

	if (n > 0) {
		if (n + 1 >= sizeof p->rel)
			return -404;
		p->rel[n++] = '/';
	}
	*seg_start = n;
	for (i = 0; i < len; i++) {
		c = (unsigned char)seg[i];
		if (c == '%') {
			if (len - i < 3 ||
			    (hi = hex_value((unsigned char)seg[i + 1])) < 0 ||
			    (lo = hex_value((unsigned char)seg[i + 2])) < 0)
				return -400;
			c = (unsigned char)(hi << 4 | lo);
			i += 2;
			/*
			 * An encoded '/' would be a separator the segment split
			 * never saw; control bytes have no place in a file name
			 * and would let a Location header be split.
			 */
			if (c == '/' || c < 0x20 || c == 0x7f)
				return -400;
		}
		if (c == '\\')
			return -400;
		if (n + 1 >= sizeof p->rel)
			return -404;
		p->rel[n++] = (char)c;
	}
	*used = n;
	return 0;
}

/* 1 for ".", 2 for "..", 0 for a name. */
static int
dot_segment(const char *seg, size_t len)
{
	if (len == 1 && seg[0] == '.')
		return 1;
	if (len == 2 && seg[0] == '.' && seg[1] == '.')
		return 2;
	return 0;
}

/* Drops the last segment of rel, and the '/' before it. */
static void
segment_pop(struct path *p, size_t *used)
{
	size_t n = *used;

	while (n > 0 && p->rel[n - 1] != '/')
		n--;
	if (n > 0)
		n--;
	*used = n;
}

/* Request targets are visible ASCII (RFC 3986 2); a fragment is never sent. */
static int
target_visible(const char *target, size_t len)
{
	size_t i;
	unsigned char c;

	for (i = 0; i < len; i++) {
		c = (unsigned char)target[i];
		if (c <= 0x20 || c >= 0x7f || c == '#')
			return 0;
	}
	return 1;
}

/*
 * Where the path begins: at 0 in origin-form, just past the authority in
 * absolute-form ("http://host/a?q" at "/a?q"). -1 for any other form.
 */
static long
path_offset(const char *target, size_t len)
{
	size_t i, start;

	if (len == 0)
		return -1;
	if (target[0] == '/')
		return 0;
	if (prefix_nocase(target, len, "http://"))
		start = 7;
	else if (prefix_nocase(target, len, "https://"))
		start = 8;
	else
		return -1;
	for (i = start; i < len && target[i] != '/' && target[i] != '?'; i++)
		;
	if (i == start)
		return -1; /* empty authority: RFC 9110 4.2.1 */
	return (long)i;
}

/*
 * Adds the raw segment seg[0..len) to rel, "." and ".." resolved against
 * what is there (RFC 3986 5.2.4); *dots says which it was (dot_segment).
 * Returns 0, or as segment_append, or -400 for a ".." above the root.
 */
static int
segment_push(
    struct path *p, size_t *used, const char *seg, size_t len, int *dots)
{
	size_t seg_start;
	int rc;

	*dots = 0;
	if (len == 0)
		return 0;
	if ((rc = segment_append(p, used, seg, len, &seg_start)) != 0)
		return rc;
	if ((*dots = dot_segment(p->rel + seg_start, *used - seg_start)) == 0)
		return 0;
	/* Take the dots and their separator back off. */
	*used = seg_start > 0 ? seg_start - 1 : 0;
	if (*dots == 2) {
		if (*used == 0)
			return -400; /* above the root */
		segment_pop(p, used);
	}
	return 0;
}

int
path_parse(struct path *p, const char *target, size_t len)
{
	size_t i, start, path_end, used = 0;
	long offset;
	int rc, dots;

	p->rel[0] = '\0';
	p->trailing_slash = 0;
	p->query = NULL;
	p->query_len = 0;
	if (!target_visible(target, len) ||
	    (offset = path_offset(target, len)) == -1)
		return -400;
	start = (size_t)offset;
	for (path_end = start; path_end < len && target[path_end] != '?';
	     path_end++)
		;
	if (path_end < len) {
		p->query = target + path_end;
		p->query_len = len - path_end;
	}
	/* Absolute-form with nothing after the authority means "/". */
	if (path_end == start) {
		p->trailing_slash = 1;
		return 0;
	}

	/* start is at a '/'; each segment runs to the next one. */
	for (i = start + 1;; i++) {
		start = i;
		while (i < path_end && target[i] != '/')
			i++;
		rc = segment_push(p, &used, target + start, i - start, &dots);
		if (rc != 0)
			goto fail;
		if (i == path_end) {
			/*
			 * "/a/", "/a/." and "/a/b/.." all name a directory;
			 * the caller needs to know to redirect or list it.
			 */
			p->trailing_slash = i == start || dots > 0;
			break;
		}
	}
	p->rel[used] = '\0';
	return 0;

fail:
	/* Never leave a half-built path where a caller might use it. */
	p->rel[0] = '\0';
	p->trailing_slash = 0;
	return rc;
}

long
path_encode(const char *rel, char *out, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned char c;
	size_t n = 0;

	if (size < 2)
		return -1;
	out[n++] = '/';
	for (; *rel != '\0'; rel++) {
		c = (unsigned char)*rel;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || strchr("-._~!$&'()*+,;=:@/", c)) {
			if (n + 1 >= size)
				return -1;
			out[n++] = c;
		} else {
			if (n + 3 >= size)
				return -1;
			out[n++] = '%';
			out[n++] = hex[c >> 4];
			out[n++] = hex[c & 15];
		}
	}
	out[n] = '\0';
	return (long)n;
}

int
path_is_hidden(const char *rel)
{
	const char *seg = rel;

	if (strncmp(rel, ".well-known", 11) == 0 &&
	    (rel[11] == '/' || rel[11] == '\0'))
		seg = rel[11] == '/' ? rel + 12 : rel + 11;
	for (; *seg != '\0'; seg++) {
		if (*seg == '.')
			return 1;
		if ((seg = strchr(seg, '/')) == NULL)
			break;
	}
	return 0;
}
