#include "autoconf.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "h2req.h"

/*
 * Appends a then b at out + at, where the caller counted room for both:
 * no formatting per field, which a request of a dozen fields paid for
 * (vfprintf and its helpers were 1.8 % of an HTTP/2 page's CPU).
 */
static size_t
put(char *out, size_t at, const char *a, const char *b)
{
	size_t na = strlen(a), nb = strlen(b);

	memcpy(out + at, a, na);
	memcpy(out + at + na, b, nb);
	return at + na + nb;
}

long
h2req_text(
    const char *fields, size_t fields_len, char **text, size_t *len, int *head)
{
	const char *method = NULL, *path = NULL, *authority = NULL;
	const char *host = NULL, *name, *value, *p, *end = fields + fields_len;
	size_t size = 64, n = 0;
	char *out;

	*text = NULL;
	*len = 0;
	for (p = fields; p < end; p = value + strlen(value) + 1) {
		name = p;
		value = name + strlen(name) + 1;
		if (strcmp(name, ":method") == 0)
			method = value;
		else if (strcmp(name, ":path") == 0)
			path = value;
		else if (strcmp(name, ":authority") == 0)
			authority = value;
		else if (strcmp(name, "host") == 0)
			host = value;
		/* "name: value\r\n", or the request line's share. */
		size += strlen(name) + strlen(value) + 4;
	}
	*head = method != NULL && strcmp(method, "HEAD") == 0;
	if (method == NULL || path == NULL)
		return method != NULL && strcmp(method, "CONNECT") == 0 ? -405
									: -400;
	if (path[0] != '/' && strcmp(path, "*") != 0)
		return -400;
	/* Two names for the target: which one would the rules see? */
	if (authority != NULL && host != NULL &&
	    strcasecmp(authority, host) != 0)
		return -400;
	if ((out = malloc(size)) == NULL)
		return -503;
	n = put(out, n, method, " ");
	n = put(out, n, path, " HTTP/1.1\r\n");
	if (authority != NULL) {
		n = put(out, n, "Host: ", authority);
		n = put(out, n, "\r\n", "");
	}
	for (p = fields; p < end; p = value + strlen(value) + 1) {
		name = p;
		value = name + strlen(name) + 1;
		if (name[0] == ':' ||
		    (authority != NULL && strcmp(name, "host") == 0))
			continue;
		n = put(out, n, name, ": ");
		n = put(out, n, value, "\r\n");
	}
	n = put(out, n, "\r\n", "");
	out[n] = '\0';
	*text = out;
	*len = n;
	return 0;
}
