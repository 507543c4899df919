/*
 * Response heads: the status line and fields of one response, built into a
 * bounded buffer, and the small bodies of error responses. Pure apart from
 * reading the clock.
 */
#ifndef RESPONSE_H
#define RESPONSE_H

#include <stddef.h>

/* Fits a Location made of a maximal path, encoded, and query. */
#define RESPONSE_HEAD_MAX	(24 * 1024)

struct response {
	char		 head[RESPONSE_HEAD_MAX];
	size_t		 len;
	int		 overflow;	/* a field did not fit: send 500 */
	int		 status;
};

/* Starts an HTTP/1.1 response with Date and Server. */
void		 response_begin(struct response *, int status);
void		 response_add(struct response *, const char *name,
		    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Ends the head; returns -1 when something did not fit. */
int		 response_end(struct response *);
const char	*response_reason(int status);
#define RESPONSE_ERROR_BODY_MAX	256

/* Writes a short HTML body for an error status into buf; returns its length. */
size_t		 response_error_body(int status,
		    char buf[RESPONSE_ERROR_BODY_MAX]);

#endif
