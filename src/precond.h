/*
 * Conditional requests (RFC 9110 13): If-Match, If-Unmodified-Since,
 * If-None-Match, If-Modified-Since and If-Range, weighed against the
 * selected representation's validators in the order of RFC 9110 13.2.2.
 * Pure: the caller brings the parsed request, the validators and the
 * clock, and sends the response this decides on.
 */
#ifndef PRECOND_H
#define PRECOND_H

#include <time.h>

struct request;

/* The longest ETag made for a file (file.c), quotes and NUL included. */
#define PRECOND_ETAG_MAX 48

/* What the selected representation is validated by. */
struct precond_validators {
	const char
	    *etag; /* the ETag value, quotes and any W/ included; NULL: none */
	time_t last_modified; /* the Last-Modified value, whole seconds */
	time_t now; /* the server's clock: is last_modified strong yet? */
};

enum precond_result {
	PRECOND_PROCEED,      /* 200, or 206 when the range applies */
	PRECOND_NOT_MODIFIED, /* 304 */
	PRECOND_FAILED	      /* 412 */
};

/*
 * Evaluates the request's preconditions. *range_applies is set to whether
 * its Range is to be honoured: a GET with a Range whose If-Range, if any,
 * holds (RFC 9110 13.2.2 step 5); it is 0 whenever the result is not
 * PRECOND_PROCEED. Whether the Range itself is satisfiable is range.c's.
 */
enum precond_result precond_evaluate(const struct request *,
    const struct precond_validators *, int *range_applies);

#endif
