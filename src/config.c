/*
 * Configuration loading. Every key is declared once in a table with its
 * type and bounds, so parsing, validation and the error messages for
 * unknown keys and bad values all come from one place.
 */
#include "autoconf.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <libconfig.h>

#include "config.h"

enum key_type { KEY_UINT, KEY_STRING, KEY_LISTEN, KEY_LOG_LEVEL };

struct key {
	const char	*name;
	enum key_type	 type;
	size_t		 offset;
	long long	 min, max;	/* KEY_UINT bounds */
};

#define OFF(member)	offsetof(struct config, member)

static const struct key keys[] = {
	{ "listen", KEY_LISTEN, 0, 0, 0 },
	{ "root", KEY_STRING, OFF(root), 0, 0 },
	{ "index", KEY_STRING, OFF(index), 0, 0 },
	{ "io_threads", KEY_UINT, OFF(io_threads), 0, 256 },
	{ "io_queue_max", KEY_UINT, OFF(io_queue_max), 1, 1 << 20 },
	{ "max_connections", KEY_UINT, OFF(max_connections), 1, 1 << 20 },
	{ "header_timeout_ms", KEY_UINT, OFF(header_timeout_ms), 1, 3600000 },
	{ "keepalive_timeout_ms", KEY_UINT, OFF(keepalive_timeout_ms), 0,
	    3600000 },
	{ "send_timeout_ms", KEY_UINT, OFF(send_timeout_ms), 1, 3600000 },
	{ "shutdown_grace_ms", KEY_UINT, OFF(shutdown_grace_ms), 0, 3600000 },
	{ "chunk_bytes", KEY_UINT, OFF(chunk_bytes), 4096, 16 << 20 },
	{ "log_level", KEY_LOG_LEVEL, OFF(log_level), 0, 0 },
	{ "access_log", KEY_STRING, OFF(access_log), 0, 0 },
	{ "mime_types", KEY_STRING, OFF(mime_types), 0, 0 },
};

static void
set_error(char *err, size_t errlen, const char *file, int line,
    const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	n = snprintf(err, errlen, "%s:%d: ", file, line);
	if (n < 0 || (size_t)n >= errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - n, fmt, ap);
	va_end(ap);
}

int
config_parse_listen(const char *text, struct config_listen *l)
{
	const char	*colon, *host, *port;
	size_t		 hostlen;
	char		 buf[INET6_ADDRSTRLEN];
	unsigned char	 addr[sizeof(struct in6_addr)];
	char		*end;
	long		 n;

	if (text[0] == '[') {
		if ((colon = strstr(text, "]:")) == NULL)
			return -1;
		host = text + 1;
		hostlen = colon - host;
		port = colon + 2;
	} else {
		if ((colon = strrchr(text, ':')) == NULL)
			return -1;
		host = text;
		hostlen = colon - host;
		port = colon + 1;
		/* An IPv6 address needs brackets to keep its port apart. */
		if (memchr(host, ':', hostlen) != NULL)
			return -1;
	}
	if (hostlen >= sizeof buf || hostlen >= sizeof l->host)
		return -1;
	memcpy(buf, host, hostlen);
	buf[hostlen] = '\0';
	if (strcmp(buf, "*") == 0 || hostlen == 0)
		buf[0] = '\0';
	else if (inet_pton(AF_INET, buf, addr) != 1 &&
	    inet_pton(AF_INET6, buf, addr) != 1)
		return -1;
	errno = 0;
	n = strtol(port, &end, 10);
	if (*port == '\0' || *end != '\0' || errno != 0 || n < 0 || n > 65535)
		return -1;
	strcpy(l->host, buf);
	snprintf(l->port, sizeof l->port, "%ld", n);
	return 0;
}

/* A relative path in the file is relative to the file's own directory. */
static char *
resolve_path(const char *file, const char *value)
{
	const char	*slash;
	char		*out;
	int		 dirlen;

	if (value[0] == '/' || file == NULL ||
	    (slash = strrchr(file, '/')) == NULL)
		return strdup(value);
	dirlen = (int)(slash - file);
	if (asprintf(&out, "%.*s/%s", dirlen, file, value) == -1)
		return NULL;
	return out;
}

static int
set_defaults(struct config *c)
{
	c->listen_count = 1;
	strcpy(c->listen[0].host, "127.0.0.1");
	strcpy(c->listen[0].port, "8080");
	c->io_threads = 4;
	c->io_queue_max = 4096;
	c->max_connections = 1024;
	c->header_timeout_ms = 10000;
	c->keepalive_timeout_ms = 15000;
	c->send_timeout_ms = 30000;
	c->shutdown_grace_ms = 10000;
	c->chunk_bytes = 65536;
	c->log_level = LOG_LEVEL_INFO;
	if ((c->root = strdup(".")) == NULL ||
	    (c->index = strdup("index.html")) == NULL ||
	    (c->mime_types = strdup("/etc/mime.types")) == NULL)
		return -1;
	return 0;
}

static int
load_key(struct config *c, const struct key *k, config_setting_t *s,
    const char *file, char *err, size_t errlen)
{
	int		 line = config_setting_source_line(s);
	const char	*str;
	long long	 v;
	char		**dst;
	int		 i, n;

	switch (k->type) {
	case KEY_UINT:
		if (config_setting_type(s) != CONFIG_TYPE_INT &&
		    config_setting_type(s) != CONFIG_TYPE_INT64) {
			set_error(err, errlen, file, line,
			    "%s must be an integer", k->name);
			return -1;
		}
		v = config_setting_get_int64(s);
		if (v < k->min || v > k->max) {
			set_error(err, errlen, file, line,
			    "%s must be between %lld and %lld", k->name,
			    k->min, k->max);
			return -1;
		}
		*(unsigned *)((char *)c + k->offset) = (unsigned)v;
		return 0;
	case KEY_STRING:
		if ((str = config_setting_get_string(s)) == NULL) {
			set_error(err, errlen, file, line,
			    "%s must be a string", k->name);
			return -1;
		}
		if (*str == '\0') {
			set_error(err, errlen, file, line, "%s is empty",
			    k->name);
			return -1;
		}
		if (k->offset == OFF(index) && strchr(str, '/') != NULL) {
			set_error(err, errlen, file, line,
			    "index must be a file name without '/'");
			return -1;
		}
		dst = (char **)((char *)c + k->offset);
		free(*dst);
		*dst = NULL;
		if (k->offset == OFF(access_log) && strcmp(str, "off") == 0)
			return 0;
		if (k->offset == OFF(index))
			*dst = strdup(str);
		else
			*dst = resolve_path(file, str);
		if (*dst == NULL) {
			set_error(err, errlen, file, line, "out of memory");
			return -1;
		}
		return 0;
	case KEY_LOG_LEVEL:
		if ((str = config_setting_get_string(s)) == NULL ||
		    log_level_parse(str, &c->log_level) == -1) {
			set_error(err, errlen, file, line,
			    "log_level must be one of error, warn, info, debug");
			return -1;
		}
		return 0;
	case KEY_LISTEN:
		if (!config_setting_is_array(s) && !config_setting_is_list(s)) {
			set_error(err, errlen, file, line,
			    "listen must be a list of \"address:port\" strings");
			return -1;
		}
		n = config_setting_length(s);
		if (n == 0 || n > CONFIG_LISTEN_MAX) {
			set_error(err, errlen, file, line,
			    "listen needs 1 to %d addresses", CONFIG_LISTEN_MAX);
			return -1;
		}
		for (i = 0; i < n; i++) {
			str = config_setting_get_string_elem(s, i);
			if (str == NULL ||
			    config_parse_listen(str, &c->listen[i]) == -1) {
				set_error(err, errlen, file, line,
				    "listen: bad address \"%s\" (want "
				    "\"1.2.3.4:80\", \"[::1]:80\" or \"*:80\")",
				    str == NULL ? "?" : str);
				return -1;
			}
		}
		c->listen_count = n;
		return 0;
	}
	return -1;
}

static int
load_file(struct config *c, const char *path, char *err, size_t errlen)
{
	config_t		 cf;
	config_setting_t	*top, *s;
	const char		*name;
	size_t			 k;
	int			 i, rc = -1;

	config_init(&cf);
	if (config_read_file(&cf, path) != CONFIG_TRUE) {
		if (config_error_type(&cf) == CONFIG_ERR_FILE_IO)
			snprintf(err, errlen, "%s:0: cannot read: %s", path,
			    strerror(errno));
		else
			set_error(err, errlen, path, config_error_line(&cf),
			    "%s", config_error_text(&cf));
		goto out;
	}
	top = config_root_setting(&cf);
	for (i = 0; i < config_setting_length(top); i++) {
		s = config_setting_get_elem(top, i);
		name = config_setting_name(s);
		for (k = 0; k < sizeof keys / sizeof keys[0]; k++)
			if (strcmp(keys[k].name, name) == 0)
				break;
		if (k == sizeof keys / sizeof keys[0]) {
			set_error(err, errlen, path,
			    config_setting_source_line(s), "unknown key \"%s\"",
			    name);
			goto out;
		}
		if (load_key(c, &keys[k], s, path, err, errlen) == -1)
			goto out;
	}
	rc = 0;
out:
	config_destroy(&cf);
	return rc;
}

struct config *
config_load(const char *path, const struct config_overrides *o, char *err,
    size_t errlen)
{
	struct config	*c;
	size_t		 i;

	if ((c = calloc(1, sizeof *c)) == NULL || set_defaults(c) == -1) {
		snprintf(err, errlen, "%s:0: out of memory",
		    path ? path : "(defaults)");
		goto fail;
	}
	if (path != NULL && load_file(c, path, err, errlen) == -1)
		goto fail;
	if (o != NULL && o->root != NULL) {
		free(c->root);
		if ((c->root = strdup(o->root)) == NULL)
			goto fail;
	}
	if (o != NULL && o->listen_count > 0) {
		for (i = 0; i < o->listen_count; i++) {
			if (config_parse_listen(o->listen[i],
			    &c->listen[i]) == -1) {
				snprintf(err, errlen,
				    "-l %s: want ADDRESS:PORT", o->listen[i]);
				goto fail;
			}
		}
		c->listen_count = o->listen_count;
	}
	return c;
fail:
	config_free(c);
	return NULL;
}

void
config_free(struct config *c)
{
	if (c == NULL)
		return;
	free(c->root);
	free(c->index);
	free(c->access_log);
	free(c->mime_types);
	free(c);
}
