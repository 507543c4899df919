/*
 * The HTTP/1.1 request-head parser (RFC 9112). Pure: it reads a buffer and
 * fills a struct of slices into that buffer, so it can be unit tested and
 * fuzzed without a socket. Strict by design: anything ambiguous is an error,
 * because a lenient parser in front of another one is how requests get
 * smuggled.
 */
#ifndef REQUEST_H
#define REQUEST_H

#include <stddef.h>
#include <stdint.h>

/* The defaults of struct request_limits (and of the configuration). */
#define REQUEST_LINE_MAX 8192  /* longer: 414 */
#define REQUEST_FIELD_MAX 8192 /* one longer field line: 431 */
#define REQUEST_HEAD_MAX 16384 /* request line and fields: else 431 */
/*
 * Nothing is kept per field line (the parser keeps slices of the dozen
 * fields it acts on), so the count bounds no memory: request_head_max
 * does. 1000 lets through every head within the default 16 KiB whose
 * lines average 16 octets or more, the several hundred short fields a
 * proxy chain or CDN can add, where Apache's and HAProxy's 100 refuse
 * them (nginx counts none). It still stops a head of empty-valued lines.
 */
#define REQUEST_FIELDS_MAX 1000 /* more fields: 431 */

/*
 * How large a head may be. A request line too long is a 414 (RFC 9110
 * 15.5.15); a field line, the whole head or the number of fields too
 * large is a 431 (RFC 6585 5: "either an individual header field, or all
 * the header fields collectively, are too large").
 */
struct request_limits {
	unsigned line_max;   /* request line content, bytes */
	unsigned field_max;  /* one field line's content, bytes */
	unsigned head_max;   /* the whole head, line ends included */
	unsigned fields_max; /* field lines */
};

extern const struct request_limits request_limits_default;

enum http_method {
	HTTP_GET,
	HTTP_HEAD,
	HTTP_OPTIONS,
	HTTP_KNOWN_OTHER, /* POST, PUT, DELETE, CONNECT, TRACE, PATCH: 405 */
	HTTP_UNKNOWN	  /* any other token: 501 */
};

struct slice {
	const char *ptr; /* NULL when absent */
	size_t len;
};

struct request {
	enum http_method method;
	struct slice method_name;
	struct slice target; /* as sent: origin-form or absolute-form */
	int version_minor;   /* HTTP/1.x */
	int http2;	     /* came on an HTTP/2 stream (h2.c): HTTP/2.0 */
	int keep_alive;	     /* after version default and Connection */
	struct slice host;
	struct slice if_match;
	struct slice if_unmodified_since;
	struct slice if_none_match;
	struct slice if_modified_since;
	struct slice if_range;
	struct slice range;
	/* Repeated lines leave an empty value: identity only (RFC 9110 12.5.3).
	 */
	struct slice accept_encoding;
	struct slice user_agent;
	struct slice referer;
	int64_t content_length; /* -1 when absent */
	int transfer_encoding;	/* the field was present */
	int expect_continue;
	unsigned field_count;
	size_t head_len; /* bytes of the request head */
};

/*
 * Parses one request head at the start of buf. Returns the head's length
 * (leading empty lines included) when it is complete, 0 when more bytes
 * are needed, or the negated HTTP status to answer with before closing:
 * -400, -414, -431, -505. An unknown method is not an error here: the
 * caller answers HTTP_UNKNOWN with 501 and HTTP_KNOWN_OTHER with 405.
 * Does not look at the body; the caller decides what Content-Length and
 * Transfer-Encoding mean for it, except that both at once is a 400. On an
 * error or incomplete input, req holds nothing meaningful.
 */
long request_parse(struct request *req, const char *buf, size_t len);
/* The same within lim instead of request_limits_default. */
long request_parse_limited(struct request *req, const char *buf, size_t len,
    const struct request_limits *lim);
/* Case-insensitive compare of a slice with a NUL-terminated token. */
int slice_eq(struct slice s, const char *token);

#endif
