/*
 * The HTTP/1.1 request-head parser (RFC 9112 2-5, RFC 9110 5). It works on
 * whatever bytes have arrived: each call starts again from the beginning of
 * the buffer, reads complete lines only up to the head limit, and reports
 * an error as soon as one is visible, even in a line that has not ended,
 * so a client speaking TLS or garbage is answered at once instead of when
 * the head limit is reached. Every field it returns is a slice into the
 * caller's buffer; nothing is allocated and nothing is read at or past len.
 */

#include "autoconf.h"

#include <stdint.h>
#include <string.h>

#include "request.h"

/* RFC 9112 2.2 lets a server skip empty lines before the request line. */
#define REQUEST_EMPTY_LINES_MAX 4

enum line_kind {
	LINE_REQUEST, /* method, target and version: visible ASCII and SP */
	LINE_FIELD    /* also HTAB and obs-text */
};

/* Fields the parser fills in; anything else is counted and skipped. */
enum field_id {
	FIELD_OTHER,
	FIELD_HOST,
	FIELD_CONNECTION,
	FIELD_CONTENT_LENGTH,
	FIELD_TRANSFER_ENCODING,
	FIELD_EXPECT,
	FIELD_IF_MATCH,
	FIELD_IF_UNMODIFIED_SINCE,
	FIELD_IF_NONE_MATCH,
	FIELD_IF_MODIFIED_SINCE,
	FIELD_IF_RANGE,
	FIELD_RANGE,
	FIELD_ACCEPT_ENCODING,
	FIELD_USER_AGENT,
	FIELD_REFERER
};

/* Names with their lengths: no strlen per entry per request. */
#define NAME(s) s, sizeof s - 1

static const struct {
	const char *name;
	size_t len;
	enum field_id id;
} field_names[] = {
	{ NAME("Host"), FIELD_HOST },
	{ NAME("Connection"), FIELD_CONNECTION },
	{ NAME("Content-Length"), FIELD_CONTENT_LENGTH },
	{ NAME("Transfer-Encoding"), FIELD_TRANSFER_ENCODING },
	{ NAME("Expect"), FIELD_EXPECT },
	{ NAME("If-Match"), FIELD_IF_MATCH },
	{ NAME("If-Unmodified-Since"), FIELD_IF_UNMODIFIED_SINCE },
	{ NAME("If-None-Match"), FIELD_IF_NONE_MATCH },
	{ NAME("If-Modified-Since"), FIELD_IF_MODIFIED_SINCE },
	{ NAME("If-Range"), FIELD_IF_RANGE },
	{ NAME("Range"), FIELD_RANGE },
	{ NAME("Accept-Encoding"), FIELD_ACCEPT_ENCODING },
	{ NAME("User-Agent"), FIELD_USER_AGENT },
	{ NAME("Referer"), FIELD_REFERER },
};

static const struct {
	const char *name;
	size_t len;
	enum http_method method;
} method_names[] = {
	{ NAME("GET"), HTTP_GET },
	{ NAME("HEAD"), HTTP_HEAD },
	{ NAME("OPTIONS"), HTTP_OPTIONS },
	{ NAME("POST"), HTTP_KNOWN_OTHER },
	{ NAME("PUT"), HTTP_KNOWN_OTHER },
	{ NAME("DELETE"), HTTP_KNOWN_OTHER },
	{ NAME("CONNECT"), HTTP_KNOWN_OTHER },
	{ NAME("TRACE"), HTTP_KNOWN_OTHER },
	{ NAME("PATCH"), HTTP_KNOWN_OTHER },
};

const struct request_limits request_limits_default = { REQUEST_LINE_MAX,
	REQUEST_FIELD_MAX, REQUEST_HEAD_MAX, REQUEST_FIELDS_MAX };

/* What the Connection fields said, applied once the head is complete. */
struct parse_state {
	const struct request_limits *limits;
	int connection_close;
	int connection_keep_alive;
};

/*
 * What each byte may be, one lookup per byte on the hot path (the parser
 * runs once per request): a tchar (RFC 9110 5.6.2); allowed in a request
 * line (visible ASCII and SP); allowed in a field line (also HTAB and
 * obs-text); allowed in a Host value (unreserved, pct-encoded, sub-delims,
 * ':' and the IP-literal brackets). CR and LF are in none: they end lines.
 */
#define CHAR_TOKEN 1
#define CHAR_REQUEST 2
#define CHAR_FIELD 4
#define CHAR_HOST 8

static const unsigned char char_class[256] = {
	0, 0, 0, 0, 0, 0, 0, 0,		/* 0x00 */
	0, 4, 0, 0, 0, 0, 0, 0,		/* 0x08 */
	0, 0, 0, 0, 0, 0, 0, 0,		/* 0x10 */
	0, 0, 0, 0, 0, 0, 0, 0,		/* 0x18 */
	6, 15, 6, 7, 15, 15, 15, 15,	/* 0x20  !"#$%&' */
	14, 14, 15, 15, 14, 15, 15, 6,	/* 0x28 ()*+,-./ */
	15, 15, 15, 15, 15, 15, 15, 15, /* 0x30 01234567 */
	15, 15, 14, 14, 6, 14, 6, 6,	/* 0x38 89:;<=>? */
	6, 15, 15, 15, 15, 15, 15, 15,	/* 0x40 @ABCDEFG */
	15, 15, 15, 15, 15, 15, 15, 15, /* 0x48 HIJKLMNO */
	15, 15, 15, 15, 15, 15, 15, 15, /* 0x50 PQRSTUVW */
	15, 15, 15, 14, 6, 14, 7, 15,	/* 0x58 XYZ[\]^_ */
	7, 15, 15, 15, 15, 15, 15, 15,	/* 0x60 `abcdefg */
	15, 15, 15, 15, 15, 15, 15, 15, /* 0x68 hijklmno */
	15, 15, 15, 15, 15, 15, 15, 15, /* 0x70 pqrstuvw */
	15, 15, 15, 6, 7, 6, 15, 0,	/* 0x78 */
	4, 4, 4, 4, 4, 4, 4, 4,		/* 0x80 */
	4, 4, 4, 4, 4, 4, 4, 4,		/* 0x88 */
	4, 4, 4, 4, 4, 4, 4, 4,		/* 0x90 */
	4, 4, 4, 4, 4, 4, 4, 4,		/* 0x98 */
	4, 4, 4, 4, 4, 4, 4, 4,		/* 0xa0 */
	4, 4, 4, 4, 4, 4, 4, 4,		/* 0xa8 */
	4, 4, 4, 4, 4, 4, 4, 4,		/* 0xb0 */
	4, 4, 4, 4, 4, 4, 4, 4,		/* 0xb8 */
	4, 4, 4, 4, 4, 4, 4, 4,		/* 0xc0 */
	4, 4, 4, 4, 4, 4, 4, 4,		/* 0xc8 */
	4, 4, 4, 4, 4, 4, 4, 4,		/* 0xd0 */
	4, 4, 4, 4, 4, 4, 4, 4,		/* 0xd8 */
	4, 4, 4, 4, 4, 4, 4, 4,		/* 0xe0 */
	4, 4, 4, 4, 4, 4, 4, 4,		/* 0xe8 */
	4, 4, 4, 4, 4, 4, 4, 4,		/* 0xf0 */
	4, 4, 4, 4, 4, 4, 4, 4,		/* 0xf8 */
};

static int
is_tchar(unsigned char c)
{
	return char_class[c] & CHAR_TOKEN;
}

/* ASCII only: the locale must not change what a header name means. */
static int
lower(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A' + 'a';
	return c;
}

static int
mem_eq_nocase(const char *a, const char *b, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (lower(a[i]) != lower(b[i]))
			return 0;
	}
	return 1;
}

int
slice_eq(struct slice s, const char *token)
{
	size_t len = strlen(token);

	if (s.ptr == NULL || s.len != len)
		return 0;
	return mem_eq_nocase(s.ptr, token, len);
}

/*
 * Finds the end of the line starting at buf[pos], looking no further than
 * lim. Returns 1 with the content end and the start of the next line, 0 if
 * the line has not ended before lim, or the negated status: -400 for a bare
 * CR or a byte the line may not hold, -414 for a request line whose content
 * passes max, -431 for a field line whose content does. CRLF and a bare LF
 * both end a line (RFC 9112 2.2). Every byte is checked as it is scanned,
 * which is what lets an incomplete line fail early.
 */
static int
line_find(const char *buf, size_t pos, size_t lim, enum line_kind kind,
    size_t max, size_t *content_end, size_t *next)
{
	unsigned char allowed =
	    kind == LINE_REQUEST ? CHAR_REQUEST : CHAR_FIELD;
	size_t i, stop = lim - pos > max ? pos + max : lim;

	for (i = pos; i < stop && (char_class[(unsigned char)buf[i]] & allowed);
	     i++)
		;
	if (i == lim)
		return 0;
	if (buf[i] == '\n') {
		*content_end = i;
		*next = i + 1;
		return 1;
	}
	if (buf[i] == '\r') {
		if (i + 1 >= lim)
			return 0;
		if (buf[i + 1] != '\n')
			return -400;
		*content_end = i;
		*next = i + 2;
		return 1;
	}
	/* A byte that would make the content longer than max, or a bad one. */
	if (i == stop)
		return kind == LINE_REQUEST ? -414 : -431;
	return -400;
}

static enum http_method
method_classify(const char *p, size_t len)
{
	size_t i;

	/* Method names are case-sensitive (RFC 9110 9.1). */
	for (i = 0; i < sizeof method_names / sizeof method_names[0]; i++) {
		if (method_names[i].len == len &&
		    memcmp(method_names[i].name, p, len) == 0)
			return method_names[i].method;
	}
	return HTTP_UNKNOWN;
}

/*
 * Only the three forms a file server can be asked for: origin-form,
 * absolute-form with an http(s) scheme and a non-empty authority, and "*"
 * for OPTIONS. The bytes themselves were checked by line_find.
 */
static int
target_valid(const char *p, size_t len, enum http_method method)
{
	size_t skip;

	if (len == 0)
		return 0;
	if (p[0] == '/')
		return 1;
	if (len == 1 && p[0] == '*')
		return method == HTTP_OPTIONS;
	if (len >= 7 && mem_eq_nocase(p, "http://", 7))
		skip = 7;
	else if (len >= 8 && mem_eq_nocase(p, "https://", 8))
		skip = 8;
	else
		return 0;
	/* RFC 9110 4.2.1: an http URI with an empty host is invalid. */
	if (skip == len || p[skip] == '/' || p[skip] == '?' || p[skip] == '#')
		return 0;
	return 1;
}

/* HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 2.3). */
static int
version_parse(struct request *req, const char *p, size_t len)
{
	int major, minor;

	if (len != 8 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.' ||
	    p[5] < '0' || p[5] > '9' || p[7] < '0' || p[7] > '9')
		return -400;
	major = p[5] - '0';
	minor = p[7] - '0';
	if (major != 1)
		return -505;
	/* A higher 1.x minor is answered as 1.1 (RFC 9110 2.5). */
	req->version_minor = minor == 0 ? 0 : 1;
	return 0;
}

/* method SP request-target SP HTTP-version, exactly one SP each. */
static int
request_line_parse(struct request *req, const char *p, size_t len)
{
	size_t i, start;

	for (i = 0; i < len && is_tchar((unsigned char)p[i]); i++)
		;
	if (i == 0 || i == len || p[i] != ' ')
		return -400;
	req->method_name.ptr = p;
	req->method_name.len = i;
	req->method = method_classify(p, i);

	start = ++i;
	while (i < len && p[i] != ' ')
		i++;
	if (i == len)
		return -400;
	if (!target_valid(p + start, i - start, req->method))
		return -400;
	req->target.ptr = p + start;
	req->target.len = i - start;

	i++;
	return version_parse(req, p + i, len - i);
}

static enum field_id
field_lookup(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof field_names / sizeof field_names[0]; i++) {
		if (field_names[i].len == len &&
		    mem_eq_nocase(field_names[i].name, name, len))
			return field_names[i].id;
	}
	return FIELD_OTHER;
}

/*
 * Host = uri-host [ ":" port ]: checked by character class only, which
 * is enough to refuse what could confuse a virtual-host lookup or a log.
 */
static int
host_valid(const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (!(char_class[(unsigned char)p[i]] & CHAR_HOST))
			return 0;
	return 1;
}

/* Content-Length = 1*DIGIT, no list, no sign, no overflow. */
static int
content_length_parse(const char *p, size_t len, int64_t *out)
{
	size_t i;
	int64_t v = 0;
	int d;

	if (len == 0)
		return -1;
	for (i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		d = p[i] - '0';
		if (v > (INT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

static int
is_ows(char c)
{
	return c == ' ' || c == '\t';
}

/*
 * Connection = #connection-option (RFC 9110 7.6.1). Empty list elements
 * are allowed (RFC 9110 5.6.1.2); anything else must be a token.
 */
static int
connection_parse(struct parse_state *st, const char *p, size_t len)
{
	size_t i = 0, start, end;

	while (i <= len) {
		start = i;
		while (i < len && p[i] != ',')
			i++;
		end = i;
		while (start < end && is_ows(p[start]))
			start++;
		while (end > start && is_ows(p[end - 1]))
			end--;
		if (end > start) {
			for (size_t j = start; j < end; j++) {
				if (!is_tchar((unsigned char)p[j]))
					return -400;
			}
			if (end - start == 5 &&
			    mem_eq_nocase(p + start, "close", 5))
				st->connection_close = 1;
			else if (end - start == 10 &&
			    mem_eq_nocase(p + start, "keep-alive", 10))
				st->connection_keep_alive = 1;
		}
		i++; /* past the comma, or past the end to stop */
	}
	return 0;
}

/*
 * Fields whose meaning changes the response may appear once; for the rest
 * (logging, a list where using the first line only costs a 304) the first
 * line is kept. If-Match is a list too, but reading only its first line
 * could turn a match into a 412, so it is in the first group.
 */
static int
slice_set(struct slice *s, const char *p, size_t len, int unique)
{
	if (s->ptr != NULL)
		return unique ? -400 : 0;
	s->ptr = p;
	s->len = len;
	return 0;
}

/* field-line = field-name ":" OWS field-value OWS (RFC 9112 5). */
static int
field_line_parse(
    struct request *req, struct parse_state *st, const char *p, size_t len)
{
	size_t i, name_len, vstart, vend;
	const char *value;
	size_t value_len;
	int64_t cl;

	/* obs-fold, or whitespace before the first field (RFC 9112 5.2). */
	if (p[0] == ' ' || p[0] == '\t')
		return -400;
	for (i = 0; i < len && is_tchar((unsigned char)p[i]); i++)
		;
	/* Includes whitespace before the colon (RFC 9112 5.1). */
	if (i == 0 || i == len || p[i] != ':')
		return -400;
	name_len = i;

	vstart = i + 1;
	vend = len;
	while (vstart < vend && is_ows(p[vstart]))
		vstart++;
	while (vend > vstart && is_ows(p[vend - 1]))
		vend--;
	value = p + vstart;
	value_len = vend - vstart;

	if (++req->field_count > st->limits->fields_max)
		return -431;

	switch (field_lookup(p, name_len)) {
	case FIELD_HOST:
		/* RFC 9112 3.2: a second Host or a bad value is a 400. */
		if (req->host.ptr != NULL || !host_valid(value, value_len))
			return -400;
		req->host.ptr = value;
		req->host.len = value_len;
		return 0;
	case FIELD_CONNECTION:
		return connection_parse(st, value, value_len);
	case FIELD_CONTENT_LENGTH:
		/* RFC 9112 6.3: differing or invalid values are a 400. */
		if (content_length_parse(value, value_len, &cl) == -1)
			return -400;
		if (req->content_length != -1 && req->content_length != cl)
			return -400;
		req->content_length = cl;
		return 0;
	case FIELD_TRANSFER_ENCODING:
		req->transfer_encoding = 1;
		return 0;
	case FIELD_EXPECT:
		if (value_len == 12 && mem_eq_nocase(value, "100-continue", 12))
			req->expect_continue = 1;
		return 0;
	case FIELD_IF_MATCH:
		return slice_set(&req->if_match, value, value_len, 1);
	case FIELD_IF_UNMODIFIED_SINCE:
		return slice_set(
		    &req->if_unmodified_since, value, value_len, 1);
	case FIELD_IF_NONE_MATCH:
		return slice_set(&req->if_none_match, value, value_len, 0);
	case FIELD_IF_MODIFIED_SINCE:
		return slice_set(&req->if_modified_since, value, value_len, 1);
	case FIELD_IF_RANGE:
		return slice_set(&req->if_range, value, value_len, 1);
	case FIELD_RANGE:
		return slice_set(&req->range, value, value_len, 1);
	case FIELD_ACCEPT_ENCODING:
		/*
		 * A later line could refuse what the first allows ("gzip;q=0"),
		 * so several lines are read as the empty value: identity only,
		 * which is always safe to send.
		 */
		if (req->accept_encoding.ptr != NULL) {
			req->accept_encoding.len = 0;
			return 0;
		}
		return slice_set(&req->accept_encoding, value, value_len, 0);
	case FIELD_USER_AGENT:
		return slice_set(&req->user_agent, value, value_len, 0);
	case FIELD_REFERER:
		return slice_set(&req->referer, value, value_len, 0);
	case FIELD_OTHER:
		break;
	}
	return 0;
}

/* Checks that need the whole head. */
static int
head_finish(struct request *req, const struct parse_state *st)
{
	if (req->version_minor == 1 && req->host.ptr == NULL)
		return -400;
	/*
	 * Both framings at once is the classic smuggling vector; RFC 9112
	 * 6.3 says it "ought to be handled as an error".
	 */
	if (req->transfer_encoding && req->content_length != -1)
		return -400;
	if (st->connection_close)
		req->keep_alive = 0;
	else if (req->version_minor == 1)
		req->keep_alive = 1;
	else
		req->keep_alive = st->connection_keep_alive;
	return 0;
}

long
request_parse(struct request *req, const char *buf, size_t len)
{
	return request_parse_limited(req, buf, len, &request_limits_default);
}

long
request_parse_limited(struct request *req, const char *buf, size_t len,
    const struct request_limits *limits)
{
	struct parse_state st;
	size_t pos = 0, lim, end, next;
	int empty, rc;

	memset(req, 0, sizeof *req);
	memset(&st, 0, sizeof st);
	st.limits = limits;
	req->content_length = -1;

	/*
	 * Nothing past head_max can belong to an acceptable head, so lines
	 * are only looked for below it; running into it is a 431.
	 */
	lim = len < limits->head_max ? len : limits->head_max;

	for (empty = 0; empty < REQUEST_EMPTY_LINES_MAX; empty++) {
		if (pos < lim && buf[pos] == '\n')
			pos++;
		else if (pos < lim && buf[pos] == '\r') {
			if (pos + 1 >= lim)
				goto incomplete;
			if (buf[pos + 1] != '\n')
				return -400;
			pos += 2;
		} else
			break;
	}

	rc = line_find(
	    buf, pos, lim, LINE_REQUEST, limits->line_max, &end, &next);
	if (rc == 0)
		goto incomplete;
	if (rc < 0)
		return rc;
	if ((rc = request_line_parse(req, buf + pos, end - pos)) != 0)
		return rc;
	pos = next;

	for (;;) {
		rc = line_find(
		    buf, pos, lim, LINE_FIELD, limits->field_max, &end, &next);
		if (rc == 0)
			goto incomplete;
		if (rc < 0)
			return rc;
		if (end == pos)
			break;
		rc = field_line_parse(req, &st, buf + pos, end - pos);
		if (rc != 0)
			return rc;
		pos = next;
	}

	if ((rc = head_finish(req, &st)) != 0)
		return rc;
	req->head_len = next;
	return (long)next;

incomplete:
	if (len >= limits->head_max)
		return -431;
	return 0;
}
