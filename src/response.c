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

static const char *
date_now(void)
{
	/* Per thread: each reactor keeps its own. */
	static _Thread_local char cached[HTTPDATE_LEN + 1];
	static _Thread_local time_t cached_at = -1;
	time_t now = time(NULL);

	if (now != cached_at) {
		httpdate_format(now, cached);
		cached_at = now;
	}
	return cached;
}

/*
 * Plain copies for the fields every response carries: printf showed up as
 * a fifth of the CPU time of small-file serving.
 */
/* What the fields may still take: the trailer's room is not theirs. */
static size_t
room(const struct response *r)
{
	return r->size - RESPONSE_TRAILER_MAX - r->len;
}

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

/* A field that did not fit leaves nothing behind: no line is partial. */
static void
field_end(struct response *r, size_t start)
{
	if (r->overflow)
		r->len = start;
}

void
response_add_str(struct response *r, const char *name, const char *value)
{
	size_t start = r->len;

	put(r, name, strlen(name));
	put(r, ": ", 2);
	put(r, value, strlen(value));
	put(r, "\r\n", 2);
	field_end(r, start);
}

void
response_add_u64(struct response *r, const char *name, uint64_t value)
{
	char digits[20], *p = digits + sizeof digits;
	size_t start = r->len;

	do
		*--p = '0' + value % 10;
	while ((value /= 10) != 0);
	put(r, name, strlen(name));
	put(r, ": ", 2);
	put(r, p, digits + sizeof digits - p);
	put(r, "\r\n", 2);
	field_end(r, start);
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
	put(r, "Date: ", 6);
	put(r, date_now(), HTTPDATE_LEN);
	put(r, "\r\n", 2);
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
	if (tokens == RESPONSE_TOKENS_FULL)
		response_add_str(r, "Server", PACKAGE_NAME "/" PACKAGE_VERSION);
	else if (tokens != RESPONSE_TOKENS_OFF)
		response_add_str(r, "Server", PACKAGE_NAME);
}

void
response_add_line(struct response *r, const char *field)
{
	size_t start = r->len;

	append(r, "%s\r\n", field);
	field_end(r, start);
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
