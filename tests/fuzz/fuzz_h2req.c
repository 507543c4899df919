/*
 * libFuzzer target for the HTTP/2 request glue (h2req.c): each input is
 * a field list, NUL-separated "name", "value", "name", ... Fields that
 * nghttp2 would refuse (RFC 9113 8.2.1: a name not lower-case token
 * characters after an optional ':', a value with NUL, CR or LF, or
 * starting or ending with a space or tab) are dropped, as they never
 * reach the glue. What is left goes through h2req_text and, when it gives
 * text, the HTTP/1.1 parser, and the target aborts when a promise breaks:
 * the text is one complete head the parser consumes whole (no second
 * request smuggled in), and the Host it sees is :authority.
 */

#include "autoconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "h2req.h"
#include "request.h"

static int
valid_name(const char *s, size_t len)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~";
	size_t i = s[0] == ':' ? 1 : 0;

	if (i == len)
		return 0;
	for (; i < len; i++)
		if (!(s[i] >= 'a' && s[i] <= 'z') &&
		    !(s[i] >= '0' && s[i] <= '9') && strchr(tchar, s[i]) == NULL)
			return 0;
	return 1;
}

static int
valid_value(const char *s, size_t len)
{
	size_t i;

	if (len > 0 && (s[0] == ' ' || s[0] == '\t' || s[len - 1] == ' ' ||
			   s[len - 1] == '\t'))
		return 0;
	for (i = 0; i < len; i++)
		if (s[i] == '\r' || s[i] == '\n')
			return 0;
	return 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *in = (const char *)data, *end = in + size, *name, *value;
	const char *authority = NULL;
	char *fields, *text;
	size_t fields_len = 0, name_len, value_len, len;
	struct request req;
	struct request_limits limits = request_limits_default;
	long rc;
	int head;

	if ((fields = malloc(size + 2)) == NULL)
		return 0;
	while (in < end) {
		name = in;
		name_len = strnlen(name, (size_t)(end - name));
		value = name + name_len + 1;
		if (value >= end)
			break;
		value_len = strnlen(value, (size_t)(end - value));
		in = value + value_len + 1;
		if (!valid_name(name, name_len) || !valid_value(value, value_len))
			continue;
		memcpy(fields + fields_len, name, name_len);
		fields[fields_len + name_len] = '\0';
		if (name_len == 10 && memcmp(name, ":authority", 10) == 0)
			authority = fields + fields_len + name_len + 1;
		fields_len += name_len + 1;
		memcpy(fields + fields_len, value, value_len);
		fields[fields_len + value_len] = '\0';
		fields_len += value_len + 1;
	}
	rc = h2req_text(fields, fields_len, &text, &len, &head);
	CHECK(rc == 0 || rc == -400 || rc == -405 || rc == -503);
	if (rc == 0) {
		CHECK(text != NULL && strlen(text) == len);
		CHECK(len >= 4 && memcmp(text + len - 4, "\r\n\r\n", 4) == 0);
		limits.head_max = (unsigned)len;
		rc = request_parse_limited(&req, text, len, &limits);
		/* Complete, and all of it: nothing left to be a request. */
		CHECK(rc != 0);
		if (rc > 0) {
			CHECK((size_t)rc == len);
			if (authority != NULL)
				CHECK(req.host.len == strlen(authority) &&
				    memcmp(req.host.ptr, authority,
					req.host.len) == 0);
		}
		free(text);
	} else
		CHECK(text == NULL);
	free(fields);
	return 0;
}
