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
	int		 status;
	const char	*reason;
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
	size_t	 i;

	for (i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
		if (reasons[i].status == status)
			return reasons[i].reason;
	return "Unknown";
}

static const char *
date_now(void)
{
	static char	 cached[HTTPDATE_LEN + 1];
	static time_t	 cached_at = -1;
	time_t		 now = time(NULL);

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
static void
put(struct response *r, const char *s, size_t n)
{
	if (r->overflow)
		return;
	if (n >= r->size - r->len) {
		r->overflow = 1;
		return;
	}
	memcpy(r->head + r->len, s, n);
	r->len += n;
}

void
response_add_str(struct response *r, const char *name, const char *value)
{
	put(r, name, strlen(name));
	put(r, ": ", 2);
	put(r, value, strlen(value));
	put(r, "\r\n", 2);
}

void
response_add_u64(struct response *r, const char *name, uint64_t value)
{
	char	 digits[20], *p = digits + sizeof digits;

	do
		*--p = '0' + value % 10;
	while ((value /= 10) != 0);
	put(r, name, strlen(name));
	put(r, ": ", 2);
	put(r, p, digits + sizeof digits - p);
	put(r, "\r\n", 2);
}

static void
vappend(struct response *r, const char *fmt, va_list ap)
{
	int	 n;

	if (r->overflow)
		return;
	n = vsnprintf(r->head + r->len, r->size - r->len, fmt, ap);
	if (n < 0 || (size_t)n >= r->size - r->len)
		r->overflow = 1;
	else
		r->len += n;
}

static void
append(struct response *r, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vappend(r, fmt, ap);
	va_end(ap);
}

static void
begin(struct response *r, int status)
{
	char	 code[4] = { '0' + status / 100 % 10, '0' + status / 10 % 10,
	    '0' + status % 10, ' ' };
	const char *reason = response_reason(status);

	r->len = 0;
	r->overflow = 0;
	r->status = status;
	put(r, "HTTP/1.1 ", 9);
	put(r, code, 4);
	put(r, reason, strlen(reason));
	put(r, "\r\nDate: ", 8);
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
	va_list	 ap;

	append(r, "%s: ", name);
	va_start(ap, fmt);
	vappend(r, fmt, ap);
	va_end(ap);
	append(r, "\r\n");
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
	append(r, "%s\r\n", field);
}

int
response_end(struct response *r)
{
	append(r, "\r\n");
	return r->overflow ? -1 : 0;
}

size_t
response_error_body(int status, char buf[RESPONSE_ERROR_BODY_MAX])
{
	int	 n;

	n = snprintf(buf, RESPONSE_ERROR_BODY_MAX,
	    "<!DOCTYPE html>\n<html><head><title>%d %s</title></head>"
	    "<body><h1>%d %s</h1></body></html>\n",
	    status, response_reason(status), status, response_reason(status));
	return n < 0 ? 0 : (size_t)n;
}
