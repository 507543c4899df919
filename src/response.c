/*
 * Response heads. The Date field is formatted at most once a second: every
 * response carries one, and formatting it each time shows up in profiles
 * of small-file serving.
 */
#include "autoconf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "httpdate.h"
#include "response.h"

static const struct {
	int status;
	const char *reason;
} reasons[] = {
	{ 100, "Continue" },
	{ 200, "OK" },
	{ 204, "No Content" },
	{ 206, "Partial Content" },
	{ 301, "Moved Permanently" },
	{ 304, "Not Modified" },
	{ 400, "Bad Request" },
	{ 403, "Forbidden" },
	{ 404, "Not Found" },
	{ 405, "Method Not Allowed" },
	{ 408, "Request Timeout" },
	{ 412, "Precondition Failed" },
	{ 413, "Content Too Large" },
	{ 414, "URI Too Long" },
	{ 416, "Range Not Satisfiable" },
	{ 431, "Request Header Fields Too Large" },
	{ 500, "Internal Server Error" },
	{ 501, "Not Implemented" },
	{ 503, "Service Unavailable" },
	{ 505, "HTTP Version Not Supported" },
};

const char *
response_reason(int status)
{
	size_t i;

	for (i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
		if (reasons[i].status == status)
			return reasons[i].reason;
	return "Unknown";
}

/* "Date: <IMF-fixdate>\r\n", the line every response starts with. */
#define DATE_LINE_LEN (6 + HTTPDATE_LEN + 2)

static const char *
date_line(void)
{
	/* Per thread: each reactor keeps its own. */
	static _Thread_local char cached[DATE_LINE_LEN + 1];
	static _Thread_local time_t cached_at = -1;
	time_t now = time(NULL);

	if (now != cached_at) {
		memcpy(cached, "Date: ", 6);
		httpdate_format(now, cached + 6);
		memcpy(cached + 6 + HTTPDATE_LEN, "\r\n", 2);
		cached_at = now;
	}
	return cached;
}

/*
 * Plain copies for the fields every response carries: printf showed up as
 * a fifth of the CPU time of small-file serving, and then a put, with its
 * checks, per piece of a field as a tenth of what was left.
 */
/* What the fields may still take: the trailer's room is not theirs. */
static size_t
room(const struct response *r)
{
	return r->size - RESPONSE_TRAILER_MAX - r->len;
}

/* Appends n bytes, or marks the head overflowed and appends nothing. */
static void
put(struct response *r, const char *s, size_t n)
{
	if (r->overflow)
		return;
	if (n >= room(r)) {
		r->overflow = 1;
		return;
	}
	memcpy(r->head + r->len, s, n);
	r->len += n;
}

void
response__field(struct response *r, const char *name, size_t name_len,
    const char *value, size_t value_len)
{
	char *p;

	if (r->overflow)
		return;
	if (name_len + value_len + 4 >= room(r)) {
		r->overflow = 1;
		return;
	}
	p = r->head + r->len;
	memcpy(p, name, name_len);
	p += name_len;
	*p++ = ':';
	*p++ = ' ';
	memcpy(p, value, value_len);
	p += value_len;
	*p++ = '\r';
	*p++ = '\n';
	r->len = (size_t)(p - r->head);
}

void
response__field_u64(
    struct response *r, const char *name, size_t name_len, uint64_t value)
{
	char digits[20], *p = digits + sizeof digits;

	do
		*--p = '0' + value % 10;
	while ((value /= 10) != 0);
	response__field(
	    r, name, name_len, p, (size_t)(digits + sizeof digits - p));
}

/* A field that did not fit leaves nothing behind. */
static void
field_end(struct response *r, size_t start)
{
	if (r->overflow)
		r->len = start;
}

static void
vappend(struct response *r, const char *fmt, va_list ap)
{
	int n;

	if (r->overflow)
		return;
	n = vsnprintf(r->head + r->len, room(r), fmt, ap);
	if (n < 0 || (size_t)n >= room(r))
		r->overflow = 1;
	else
		r->len += n;
}

static void
append(struct response *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vappend(r, fmt, ap);
	va_end(ap);
}

static void
begin(struct response *r, int status)
{
	r->len = RESPONSE_STATUS_LINE_MAX;
	r->overflow = 0;
	r->status = status;
	put(r, date_line(), DATE_LINE_LEN);
}

void
response_begin(struct response *r, int status)
{
	r->head = r->inline_head;
	r->size = sizeof r->inline_head;
	begin(r, status);
}

int
response_begin_large(struct response *r, int status, size_t size)
{
	if (size < RESPONSE_HEAD_MAX)
		size = RESPONSE_HEAD_MAX;
	if ((r->head = malloc(size)) == NULL) {
		r->head = r->inline_head;
		r->size = 0;
		return -1;
	}
	r->size = size;
	begin(r, status);
	return 0;
}

void
response_free(struct response *r)
{
	if (r->head != r->inline_head)
		free(r->head);
	r->head = r->inline_head;
}

void
response_add(struct response *r, const char *name, const char *fmt, ...)
{
	va_list ap;
	size_t start = r->len;

	append(r, "%s: ", name);
	va_start(ap, fmt);
	vappend(r, fmt, ap);
	va_end(ap);
	append(r, "\r\n");
	field_end(r, start);
}

/*
 * The product name alone by default: the version helps an attacker pick
 * an exploit more than it helps anyone debug (nginx's server_tokens,
 * Apache's ServerTokens Prod).
 */
void
response_add_server(struct response *r, enum response_tokens tokens)
{
	static const char full[] =
	    "Server: " PACKAGE_NAME "/" PACKAGE_VERSION "\r\n";
	static const char product[] = "Server: " PACKAGE_NAME "\r\n";

	if (tokens == RESPONSE_TOKENS_FULL)
		put(r, full, sizeof full - 1);
	else if (tokens != RESPONSE_TOKENS_OFF)
		put(r, product, sizeof product - 1);
}

void
response_add_line(struct response *r, const char *field)
{
	size_t len = strlen(field);

	if (!r->overflow && len + 2 >= room(r))
		r->overflow = 1;
	put(r, field, len);
	put(r, "\r\n", 2);
}

int
response_field_next(
    const struct response *r, size_t *pos, struct response_field *f)
{
	const char *line, *colon, *end;

	if (*pos < RESPONSE_STATUS_LINE_MAX)
		*pos = RESPONSE_STATUS_LINE_MAX;
	if (*pos >= r->len)
		return 0;
	/* Every line was put there whole by this module, ending in CRLF. */
	line = r->head + *pos;
	end = memchr(line, '\r', r->len - *pos);
	colon = memchr(line, ':', end - line);
	f->name = line;
	f->name_len = (size_t)(colon - line);
	for (colon++; colon < end && (*colon == ' ' || *colon == '\t'); colon++)
		;
	f->value = colon;
	f->value_len = (size_t)(end - colon);
	*pos = (size_t)(end + 2 - r->head);
	return 1;
}

size_t
response_error_body(int status, char buf[RESPONSE_ERROR_BODY_MAX])
{
	int n;

	n = snprintf(buf, RESPONSE_ERROR_BODY_MAX,
	    "<!DOCTYPE html>\n<html><head><title>%d %s</title></head>"
	    "<body><h1>%d %s</h1></body></html>\n",
	    status, response_reason(status), status, response_reason(status));
	return n < 0 ? 0 : (size_t)n;
}
