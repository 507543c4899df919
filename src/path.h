/*
 * Turns a request target into a relative path under the document root:
 * percent-decoding, dot-segment removal (RFC 3986 5.2.4) and refusal of
 * anything that could name a file outside the root. Pure string work; the
 * opener still resolves under a root directory fd, which is what stops
 * symlinks.
 */
#ifndef PATH_H
#define PATH_H

#include <stddef.h>

struct path {
	char rel[4096];	    /* "" for the root, else "a/b/c": no leading '/' */
	int trailing_slash; /* the decoded path ended with '/' */
	const char *query;  /* '?' and what follows in the target, or NULL */
	size_t query_len;
};

/*
 * Fills p from target (origin-form "/a/b?q" or absolute-form
 * "http://host/a/b?q"). Returns 0, or the negated HTTP status: -400 for a
 * malformed target, a fragment, an encoded '/' or control byte (NUL, CR,
 * LF...), a backslash, or '..' above the root; -404 when the path, or a
 * step of its dot-segment removal, does not fit in rel, since no file can
 * have it (414 is for a request line over its limit). On error rel is "".
 */
int path_parse(struct path *p, const char *target, size_t len);

/*
 * Percent-encodes rel for use as an absolute path in a Location field: a
 * leading '/' is added, and every byte outside RFC 3986 pchar and '/' is
 * encoded, so the result can neither start with "//" nor carry controls.
 * Returns the length, or -1 when out (size bytes) is too small.
 */
long path_encode(const char *rel, char *out, size_t size);
/*
 * Whether rel has a segment starting with '.' ("hidden" by convention),
 * not counting a first segment ".well-known" (RFC 8615), which is public.
 */
int path_is_hidden(const char *rel);

#endif
