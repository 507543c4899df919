#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "h2req.h"

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
	n += (size_t)snprintf(out, size, "%s %s HTTP/1.1\r\n", method, path);
	if (authority != NULL)
		n += (size_t)snprintf(
		    out + n, size - n, "Host: %s\r\n", authority);
	for (p = fields; p < end; p = value + strlen(value) + 1) {
		name = p;
		value = name + strlen(name) + 1;
		if (name[0] == ':' ||
		    (authority != NULL && strcmp(name, "host") == 0))
			continue;
		n += (size_t)snprintf(
		    out + n, size - n, "%s: %s\r\n", name, value);
	}
	n += (size_t)snprintf(out + n, size - n, "\r\n");
	*text = out;
	*len = n;
	return 0;
}
