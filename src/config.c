/*
 * Configuration loading. Every key is declared once in a table with its
 * scope, type and bounds, so parsing, validation and the error messages
 * for unknown keys and bad values all come from one place. Sites own deep
 * copies of their strings: a server block starts as a copy of the default
 * site and config_free() frees each site alike.
 */
#include "autoconf.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <arpa/inet.h>
#include <sys/resource.h>
#include <unistd.h>

#include <libconfig.h>

#include "accesslog.h"
#include "config.h"

enum scope { SCOPE_GLOBAL, SCOPE_SITE };

enum key_type {
	KEY_UINT,
	KEY_UINT_AUTO, /* a KEY_UINT, or "auto", stored as CONFIG_AUTO */
	KEY_BOOL,
	KEY_PATH,	/* a file path, relative to the config file */
	KEY_FILE_NAME,	/* a name without '/' */
	KEY_URL_PATH,	/* "/..." */
	KEY_LOG_FORMAT, /* an access log format */
	KEY_MEDIA_TYPE, /* "type/subtype" and maybe parameters */
	KEY_ACCESS_LOG, /* a path or "off" */
	KEY_LOG_LEVEL,
	KEY_TOKENS,
	KEY_LISTEN,
	KEY_LISTEN_ONE,
	KEY_ENCODINGS,
	KEY_DOTFILES,
	KEY_SYMLINKS,
	KEY_HEADERS,
	KEY_ERROR_PAGES,
	KEY_MIME,
	KEY_NAMES,
	KEY_TLS_PATH,	   /* a KEY_PATH that may be a credential */
	KEY_TLS_FILES,	   /* one KEY_TLS_PATH or a list of them */
	KEY_TLS_PROTOCOLS, /* "TLSv1.2 TLSv1.3" */
	KEY_TLS_STRING,	   /* an OpenSSL list, which tls.c checks */
	KEY_REDIRECT	   /* true (443), false or a port */
};

struct key {
	const char *name;
	enum key_type type;
	enum scope scope;
	size_t offset;
	long long min, max; /* KEY_UINT bounds */
};

#define G(member) SCOPE_GLOBAL, offsetof(struct config, member)
#define S(member) SCOPE_SITE, offsetof(struct site_config, member)

static const struct key keys[] = {
	{ "listen", KEY_LISTEN, G(listen), 0, 0 },
	{ "reactors", KEY_UINT_AUTO, G(reactors), 1, CONFIG_REACTORS_MAX },
	{ "io_threads", KEY_UINT, G(io_threads), 0, 256 },
	{ "io_threads_max", KEY_UINT, G(io_threads_max), 0, 4096 },
	{ "io_queue_max", KEY_UINT, G(io_queue_max), 1, 1 << 20 },
	{ "max_connections", KEY_UINT_AUTO, G(max_connections), 1,
	    CONFIG_CONNECTIONS_MAX },
	{ "max_connections_per_client", KEY_UINT, G(max_connections_per_client),
	    0, 1 << 20 },
	{ "keepalive_requests", KEY_UINT, G(keepalive_requests), 0, 1 << 30 },
	{ "h2", KEY_BOOL, G(h2), 0, 0 },
	{ "h2c", KEY_BOOL, G(h2c), 0, 0 },
	{ "h2_max_concurrent_streams", KEY_UINT, G(h2_max_concurrent_streams),
	    1, 65536 },
	{ "h2_max_header_list_size", KEY_UINT, G(h2_max_header_list_size), 1024,
	    1 << 20 },
	{ "h2_max_buffer_bytes", KEY_UINT, G(h2_max_buffer_bytes), 65536,
	    1 << 30 },
	{ "request_line_max", KEY_UINT, G(request_limits.line_max), 256,
	    1 << 20 },
	{ "request_field_max", KEY_UINT, G(request_limits.field_max), 256,
	    1 << 20 },
	{ "request_head_max", KEY_UINT, G(request_limits.head_max), 1024,
	    1 << 20 },
	{ "request_fields_max", KEY_UINT, G(request_limits.fields_max), 1,
	    10000 },
	{ "server_tokens", KEY_TOKENS, G(server_tokens), 0, 0 },
	{ "header_timeout_ms", KEY_UINT, G(header_timeout_ms), 1, 3600000 },
	{ "keepalive_timeout_ms", KEY_UINT, G(keepalive_timeout_ms), 0,
	    3600000 },
	{ "send_timeout_ms", KEY_UINT, G(send_timeout_ms), 1, 3600000 },
	{ "shutdown_grace_ms", KEY_UINT, G(shutdown_grace_ms), 0, 3600000 },
	{ "chunk_bytes", KEY_UINT, G(chunk_bytes), 4096, 16 << 20 },
	{ "sendfile_min_bytes", KEY_UINT, G(sendfile_min_bytes), 0, 1 << 30 },
	{ "open_file_cache_max", KEY_UINT_AUTO, G(open_file_cache_max), 0,
	    1 << 20 },
	{ "open_file_cache_ttl_ms", KEY_UINT, G(open_file_cache_ttl_ms), 0,
	    3600000 },
	{ "open_file_cache_bytes", KEY_UINT, G(open_file_cache_bytes), 0,
	    1 << 30 },
	{ "log_level", KEY_LOG_LEVEL, G(log_level), 0, 0 },
	{ "access_log", KEY_ACCESS_LOG, G(access_log), 0, 0 },
	{ "access_log_format", KEY_LOG_FORMAT, G(access_log_format), 0, 0 },
	{ "mime_types", KEY_PATH, G(mime_types), 0, 0 },
	{ "mime_overrides", KEY_MIME, G(mime), 0, 0 },
	{ "default_type", KEY_MEDIA_TYPE, G(default_type), 0, 0 },
	{ "metrics_listen", KEY_LISTEN_ONE, G(metrics_listen), 0, 0 },
	{ "metrics_path", KEY_URL_PATH, G(metrics_path), 0, 0 },
	{ "health_path", KEY_URL_PATH, G(health_path), 0, 0 },
	{ "health_probe_interval_ms", KEY_UINT, G(health_probe_interval_ms), 10,
	    3600000 },
	{ "health_probe_timeout_ms", KEY_UINT, G(health_probe_timeout_ms), 1,
	    3600000 },
	{ "drain_delay_ms", KEY_UINT, G(drain_delay_ms), 0, 3600000 },
	{ "user", KEY_FILE_NAME, G(user), 0, 0 },
	{ "group", KEY_FILE_NAME, G(group), 0, 0 },
	{ "tls_protocols", KEY_TLS_PROTOCOLS, G(tls.protocols), 0, 0 },
	{ "tls_ciphers", KEY_TLS_STRING, G(tls.ciphers), 0, 0 },
	{ "tls_ciphersuites", KEY_TLS_STRING, G(tls.ciphersuites), 0, 0 },
	{ "tls_groups", KEY_TLS_STRING, G(tls.groups), 0, 0 },
	{ "tls_handshake_timeout_ms", KEY_UINT, G(tls.handshake_timeout_ms), 1,
	    3600000 },
	{ "tls_session_tickets", KEY_BOOL, G(tls.session_tickets), 0, 0 },
	{ "tls_prefer_server_ciphers", KEY_BOOL, G(tls.prefer_server_ciphers),
	    0, 0 },
	{ "tls_ticket_key_file", KEY_TLS_PATH, G(tls.ticket_key_file), 0, 0 },
	{ "tls_ticket_key_rotate_s", KEY_UINT, G(tls.ticket_key_rotate_s), 60,
	    7 * 86400 },
	{ "names", KEY_NAMES, S(names), 0, 0 },
	{ "root", KEY_PATH, S(root), 0, 0 },
	{ "index", KEY_FILE_NAME, S(index), 0, 0 },
	{ "autoindex", KEY_BOOL, S(autoindex), 0, 0 },
	{ "autoindex_max_entries", KEY_UINT, S(autoindex_max_entries), 1,
	    10000000 },
	{ "precompressed", KEY_ENCODINGS, S(precompressed), 0, 0 },
	{ "dotfiles", KEY_DOTFILES, S(dotfiles), 0, 0 },
	{ "symlinks", KEY_SYMLINKS, S(symlinks), 0, 0 },
	{ "headers", KEY_HEADERS, S(rules), 0, 0 },
	{ "error_pages", KEY_ERROR_PAGES, S(error_pages), 0, 0 },
	{ "tls_certificate", KEY_TLS_FILES, S(tls_certificate), 0, 0 },
	{ "tls_certificate_key", KEY_TLS_FILES, S(tls_certificate_key), 0, 0 },
	{ "tls_ocsp_response", KEY_TLS_PATH, S(tls_ocsp_response), 0, 0 },
	{ "redirect_https", KEY_REDIRECT, S(redirect_https), 1, 65535 },
};

struct loader {
	const char *file;
	char *err;
	size_t errlen;
};

static int fail(struct loader *ld, const config_setting_t *s, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

static int
fail(struct loader *ld, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	n = snprintf(ld->err, ld->errlen, "%s:%d: ", ld->file,
	    s != NULL ? config_setting_source_line(s) : 0);
	if (n < 0 || (size_t)n >= ld->errlen)
		return -1;
	va_start(ap, fmt);
	vsnprintf(ld->err + n, ld->errlen - n, fmt, ap);
	va_end(ap);
	return -1;
}

int
config_parse_listen(const char *text, struct config_listen *l)
{
	const char *colon, *host, *port;
	size_t hostlen;
	char buf[INET6_ADDRSTRLEN];
	unsigned char addr[sizeof(struct in6_addr)];
	char *end;
	long n;

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
	/* Digits only: strtol alone would also take " 80", "+80" and "-0". */
	if (*port == '\0' || strspn(port, "0123456789") != strlen(port))
		return -1;
	errno = 0;
	n = strtol(port, &end, 10);
	if (*end != '\0' || errno != 0 || n < 0 || n > 65535)
		return -1;
	strcpy(l->host, buf);
	snprintf(l->port, sizeof l->port, "%ld", n);
	return 0;
}

static int
host_matches(const char *name, const char *host, size_t len)
{
	size_t namelen = strlen(name);

	if (name[0] == '*' && name[1] == '.')
		/* "*.example.com" matches any name below example.com. */
		return len > namelen - 1 &&
		    strncasecmp(
			host + len - (namelen - 1), name + 1, namelen - 1) == 0;
	return len == namelen && strncasecmp(host, name, len) == 0;
}

size_t
config_site_find(const struct config *c, const char *host, size_t len)
{
	const struct site_config *site;
	size_t i, j;
	int wild;

	for (wild = 0; wild < 2; wild++)
		for (i = 1; i < c->site_count; i++) {
			site = &c->sites[i];
			for (j = 0; j < site->name_count; j++)
				if ((site->names[j][0] == '*') == wild &&
				    host_matches(site->names[j], host, len))
					return i;
		}
	return 0;
}

/* A relative path in the file is relative to the file's own directory. */
static char *
resolve_path(const char *file, const char *value)
{
	const char *slash;
	char *out;
	int dirlen;

	if (value[0] == '/' || file == NULL ||
	    (slash = strrchr(file, '/')) == NULL)
		return strdup(value);
	dirlen = (int)(slash - file);
	if (asprintf(&out, "%.*s/%s", dirlen, file, value) == -1)
		return NULL;
	return out;
}

/*
 * A secret's path: with $CREDENTIALS_DIRECTORY set (systemd's
 * LoadCredential=), one that does not exist as given is looked up by its
 * base name there. path is the caller's, and freed if replaced.
 */
static char *
credential_path(char *path)
{
	const char *dir = getenv("CREDENTIALS_DIRECTORY"), *base;
	char *cred;

	if (path == NULL || dir == NULL || *dir == '\0' ||
	    access(path, F_OK) == 0)
		return path;
	base = strrchr(path, '/') != NULL ? strrchr(path, '/') + 1 : path;
	if (asprintf(&cred, "%s/%s", dir, base) == -1)
		return path;
	if (access(cred, F_OK) == -1) {
		free(cred);
		return path;
	}
	free(path);
	return cred;
}

static int
has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

static int
is_token(const char *s, size_t len)
{
	size_t i;

	if (len == 0)
		return 0;
	for (i = 0; i < len; i++)
		if (!isalnum((unsigned char)s[i]) &&
		    strchr("!#$%&'*+-.^_`|~", s[i]) == NULL)
			return 0;
	return 1;
}

/* Reads a string setting; NULL (with the error set) when it is not one. */
static const char *
get_string(struct loader *ld, const config_setting_t *s, const char *what)
{
	const char *str = config_setting_get_string(s);

	if (str == NULL)
		fail(ld, s, "%s must be a string", what);
	else if (*str == '\0') {
		fail(ld, s, "%s is empty", what);
		str = NULL;
	}
	return str;
}

static int
set_string(
    struct loader *ld, const config_setting_t *s, char **dst, char *value)
{
	if (value == NULL)
		return fail(ld, s, "out of memory");
	free(*dst);
	*dst = value;
	return 0;
}

static int
load_encodings(struct loader *ld, const config_setting_t *s, unsigned *out)
{
	static const struct {
		const char *name;
		unsigned bit;
	} names[] = { { "br", ENCODING_BR }, { "zstd", ENCODING_ZSTD },
		{ "gzip", ENCODING_GZIP } };
	const char *str;
	size_t k;
	int i;

	if (config_setting_type(s) == CONFIG_TYPE_BOOL) {
		*out = config_setting_get_bool(s)
		    ? ENCODING_BR | ENCODING_ZSTD | ENCODING_GZIP
		    : 0;
		return 0;
	}
	if (!config_setting_is_aggregate(s))
		return fail(ld, s,
		    "precompressed must be true, false or a "
		    "list of \"br\", \"zstd\", \"gzip\"");
	*out = 0;
	for (i = 0; i < config_setting_length(s); i++) {
		str = config_setting_get_string_elem(s, i);
		for (k = 0; str != NULL && k < sizeof names / sizeof names[0];
		     k++)
			if (strcmp(str, names[k].name) == 0)
				break;
		if (str == NULL || k == sizeof names / sizeof names[0])
			return fail(ld, s,
			    "precompressed: unknown encoding "
			    "\"%s\" (want br, zstd or gzip)",
			    str != NULL ? str : "?");
		*out |= names[k].bit;
	}
	return 0;
}

static int
load_header_rule(
    struct loader *ld, const config_setting_t *g, struct header_rule *rule)
{
	const config_setting_t *s, *add;
	const char *str, *colon;
	int i;

	rule->expires_s = -1;
	if (!config_setting_is_group(g))
		return fail(ld, g,
		    "headers: each rule is a group "
		    "{ match = ...; ... }");
	for (i = 0; i < config_setting_length(g); i++) {
		s = config_setting_get_elem(g, i);
		if (strcmp(config_setting_name(s), "match") == 0) {
			if ((str = get_string(ld, s, "match")) == NULL)
				return -1;
			/* A decoded request path never holds a control. */
			if ((str[0] != '/' && strncmp(str, "*.", 2) != 0) ||
			    has_control(str))
				return fail(ld, s,
				    "match must be a path prefix "
				    "(\"/assets/\") or an extension "
				    "(\"*.css\")");
			if (set_string(ld, s, &rule->match, strdup(str)) == -1)
				return -1;
		} else if (strcmp(config_setting_name(s), "cache_control") ==
		    0) {
			if ((str = get_string(ld, s, "cache_control")) == NULL)
				return -1;
			if (has_control(str))
				return fail(ld, s,
				    "cache_control has a "
				    "control character");
			if (set_string(
				ld, s, &rule->cache_control, strdup(str)) == -1)
				return -1;
		} else if (strcmp(config_setting_name(s), "expires_s") == 0) {
			if (config_setting_type(s) != CONFIG_TYPE_INT ||
			    config_setting_get_int(s) < 0)
				return fail(ld, s,
				    "expires_s must be an "
				    "integer of seconds, 0 or more");
			rule->expires_s = config_setting_get_int(s);
		} else if (strcmp(config_setting_name(s), "add") == 0) {
			add = s;
			if (!config_setting_is_aggregate(add) ||
			    config_setting_length(add) > CONFIG_ADD_MAX)
				return fail(ld, s,
				    "add must be a list of at "
				    "most %d \"Name: value\" strings",
				    CONFIG_ADD_MAX);
			for (; rule->add_count <
			     (size_t)config_setting_length(add);
			     rule->add_count++) {
				str = config_setting_get_string_elem(
				    add, rule->add_count);
				colon = str != NULL ? strchr(str, ':') : NULL;
				if (colon == NULL ||
				    !is_token(str, colon - str) ||
				    has_control(colon))
					return fail(ld, s,
					    "add: \"%s\" is not "
					    "\"Name: value\"",
					    str != NULL ? str : "?");
				if ((rule->add[rule->add_count] =
					    strdup(str)) == NULL)
					return fail(ld, s, "out of memory");
			}
		} else
			return fail(ld, s,
			    "headers: unknown key \"%s\" (want "
			    "match, cache_control, expires_s, add)",
			    config_setting_name(s));
	}
	if (rule->match == NULL)
		return fail(ld, g, "headers: a rule needs match");
	return 0;
}

static int
load_error_page(
    struct loader *ld, const config_setting_t *g, struct error_page *page)
{
	const char *path;
	int status;

	if (!config_setting_is_group(g) ||
	    config_setting_lookup_int(g, "status", &status) != CONFIG_TRUE ||
	    config_setting_lookup_string(g, "path", &path) != CONFIG_TRUE ||
	    config_setting_length(g) != 2)
		return fail(ld, g,
		    "error_pages: each entry is "
		    "{ status = 404; path = \"/404.html\"; }");
	if (status < 400 || status > 599)
		return fail(
		    ld, g, "error_pages: status %d is not 400-599", status);
	if (path[0] != '/' || has_control(path))
		return fail(ld, g, "error_pages: path must start with '/'");
	page->status = status;
	if ((page->path = strdup(path)) == NULL)
		return fail(ld, g, "out of memory");
	return 0;
}

static int
load_names(
    struct loader *ld, const config_setting_t *s, struct site_config *site)
{
	const char *str;
	char *name;
	size_t j;
	int i;

	if (!config_setting_is_aggregate(s) || config_setting_length(s) == 0 ||
	    config_setting_length(s) > CONFIG_NAMES_MAX)
		return fail(ld, s, "names must list 1 to %d host names",
		    CONFIG_NAMES_MAX);
	for (i = 0; i < config_setting_length(s); i++) {
		str = config_setting_get_string_elem(s, i);
		if (str == NULL || *str == '\0' || strlen(str) > 253)
			return fail(ld, s, "names: bad host name");
		for (j = str[0] == '*' && str[1] == '.' ? 2 : 0; str[j] != '\0';
		     j++)
			if (!isalnum((unsigned char)str[j]) && str[j] != '-' &&
			    str[j] != '.')
				return fail(ld, s,
				    "names: bad host name "
				    "\"%s\"",
				    str);
		if ((name = strdup(str)) == NULL)
			return fail(ld, s, "out of memory");
		for (j = 0; name[j] != '\0'; j++)
			name[j] = tolower((unsigned char)name[j]);
		site->names[site->name_count++] = name;
	}
	return 0;
}

static int
load_mime(struct loader *ld, const config_setting_t *s, struct config *c)
{
	const char *str, *space;
	size_t extlen;
	int i;

	if (!config_setting_is_aggregate(s) ||
	    config_setting_length(s) > CONFIG_MIME_MAX)
		return fail(ld, s,
		    "mime_overrides must be a list of at most "
		    "%d \"ext type/subtype\" strings",
		    CONFIG_MIME_MAX);
	for (i = 0; i < config_setting_length(s); i++) {
		str = config_setting_get_string_elem(s, i);
		space = str != NULL ? strchr(str, ' ') : NULL;
		extlen = space != NULL ? (size_t)(space - str) : 0;
		/*
		 * mime.c matches what follows a name's last '.', so an
		 * extension holding a '.' or '/' would never match.
		 */
		if (extlen == 0 || extlen >= sizeof c->mime[0].ext ||
		    strcspn(str, "./") < extlen || has_control(str) ||
		    strchr(space + 1, '/') == NULL)
			return fail(ld, s,
			    "mime_overrides: \"%s\" is not "
			    "\"ext type/subtype\"",
			    str != NULL ? str : "?");
		memcpy(c->mime[c->mime_count].ext, str, extlen);
		c->mime[c->mime_count].ext[extlen] = '\0';
		while (*space == ' ')
			space++;
		if ((c->mime[c->mime_count].type = strdup(space)) == NULL)
			return fail(ld, s, "out of memory");
		c->mime_count++;
	}
	return 0;
}

static int
load_uint(struct loader *ld, const struct key *k, const config_setting_t *s,
    unsigned *dst)
{
	long long v;

	if (k->type == KEY_UINT_AUTO &&
	    config_setting_type(s) == CONFIG_TYPE_STRING &&
	    strcmp(config_setting_get_string(s), "auto") == 0) {
		*dst = CONFIG_AUTO;
		return 0;
	}
	if (config_setting_type(s) != CONFIG_TYPE_INT &&
	    config_setting_type(s) != CONFIG_TYPE_INT64)
		return fail(ld, s, "%s must be %san integer", k->name,
		    k->type == KEY_UINT_AUTO ? "\"auto\" or " : "");
	v = config_setting_get_int64(s);
	if (v < k->min || v > k->max)
		return fail(ld, s, "%s must be between %lld and %lld", k->name,
		    k->min, k->max);
	*dst = (unsigned)v;
	return 0;
}

/* The keys whose value is one string, checked for what it must look like. */
static int
load_string(struct loader *ld, const struct key *k, const config_setting_t *s,
    char **dst)
{
	const char *str;
	struct logformat *lf;
	char msg[128];

	if ((str = get_string(ld, s, k->name)) == NULL)
		return -1;
	switch (k->type) {
	case KEY_ACCESS_LOG:
		if (strcmp(str, "off") == 0) {
			free(*dst);
			*dst = NULL;
			return 0;
		}
		/* FALLTHROUGH */
	case KEY_PATH:
		return set_string(ld, s, dst, resolve_path(ld->file, str));
	case KEY_TLS_PATH:
		return set_string(
		    ld, s, dst, credential_path(resolve_path(ld->file, str)));
	case KEY_TLS_STRING:
		if (has_control(str))
			return fail(
			    ld, s, "%s has a control character", k->name);
		break;
	case KEY_FILE_NAME:
		if (strchr(str, '/') != NULL || has_control(str))
			return fail(ld, s,
			    "%s must be a file name without "
			    "'/'",
			    k->name);
		break;
	case KEY_URL_PATH:
		if (str[0] != '/' || has_control(str) || strchr(str, ' '))
			return fail(ld, s,
			    "%s must be a path starting with "
			    "'/'",
			    k->name);
		break;
	case KEY_LOG_FORMAT:
		if (has_control(str))
			return fail(
			    ld, s, "%s has a control character", k->name);
		if ((lf = logformat_compile(str, msg, sizeof msg)) == NULL)
			return fail(ld, s, "%s: %s", k->name, msg);
		logformat_free(lf);
		break;
	case KEY_MEDIA_TYPE:
		if (strchr(str, '/') == NULL || has_control(str))
			return fail(ld, s,
			    "%s must be a media type like "
			    "\"text/plain\"",
			    k->name);
		break;
	default:
		return -1;
	}
	return set_string(ld, s, dst, strdup(str));
}

/* The keys that take one of a few words. */
static int
load_choice(struct loader *ld, const struct key *k, const config_setting_t *s,
    struct config *c, struct site_config *site)
{
	const char *str = config_setting_get_string(s);

	switch (k->type) {
	case KEY_LOG_LEVEL:
		if (str == NULL || log_level_parse(str, &c->log_level) == -1)
			return fail(ld, s,
			    "log_level must be one of error, "
			    "warn, info, debug");
		return 0;
	case KEY_TOKENS:
		if (str != NULL && strcmp(str, "product") == 0)
			c->server_tokens = RESPONSE_TOKENS_PRODUCT;
		else if (str != NULL && strcmp(str, "full") == 0)
			c->server_tokens = RESPONSE_TOKENS_FULL;
		else if (str != NULL && strcmp(str, "off") == 0)
			c->server_tokens = RESPONSE_TOKENS_OFF;
		else
			return fail(ld, s,
			    "server_tokens must be \"product\", "
			    "\"full\" or \"off\"");
		return 0;
	case KEY_DOTFILES:
		if (str != NULL && strcmp(str, "deny") == 0)
			site->dotfiles = 0;
		else if (str != NULL && strcmp(str, "allow") == 0)
			site->dotfiles = 1;
		else
			return fail(ld, s,
			    "dotfiles must be \"deny\" or "
			    "\"allow\"");
		return 0;
	case KEY_SYMLINKS:
		if (str != NULL && strcmp(str, "inside-root") == 0)
			site->symlinks = SYMLINKS_INSIDE_ROOT;
		else if (str != NULL && strcmp(str, "off") == 0)
			site->symlinks = SYMLINKS_OFF;
		else
			return fail(ld, s,
			    "symlinks must be \"inside-root\" "
			    "or \"off\"");
		return 0;
	default:
		return -1;
	}
}

/* "address:port", or "address:port tls" for a TLS listener. */
static int
parse_listen_entry(const char *str, struct config_listen *l)
{
	char addr[96];
	size_t len = strlen(str);

	l->tls = 0;
	if (len > 4 && strcmp(str + len - 4, " tls") == 0) {
		for (len -= 4; len > 0 && str[len - 1] == ' '; len--)
			;
		if (len >= sizeof addr)
			return -1;
		memcpy(addr, str, len);
		addr[len] = '\0';
		l->tls = 1;
		str = addr;
	}
	return config_parse_listen(str, l);
}

static int
load_listen(struct loader *ld, const config_setting_t *s, struct config *c)
{
	const char *str;
	int i, n;

	if (!config_setting_is_aggregate(s))
		return fail(ld, s,
		    "listen must be a list of \"address:port\" "
		    "strings");
	n = config_setting_length(s);
	if (n == 0 || n > CONFIG_LISTEN_MAX)
		return fail(
		    ld, s, "listen needs 1 to %d addresses", CONFIG_LISTEN_MAX);
	for (i = 0; i < n; i++) {
		str = config_setting_get_string_elem(s, i);
		if (str == NULL || parse_listen_entry(str, &c->listen[i]) == -1)
			return fail(ld, s,
			    "listen: bad address \"%s\" (want "
			    "\"1.2.3.4:80\", \"[::1]:80\" or \"*:80\", "
			    "and \" tls\" after one for TLS)",
			    str == NULL ? "?" : str);
	}
	c->listen_count = n;
	return 0;
}

/* tls_certificate or tls_certificate_key: a path or a list of them. */
static int
load_tls_files(struct loader *ld, const struct key *k,
    const config_setting_t *s, struct tls_files *files)
{
	const config_setting_t *one;
	const char *str;
	size_t i, n = 1;

	if (config_setting_is_aggregate(s)) {
		n = (size_t)config_setting_length(s);
		if (n == 0 || n > CONFIG_TLS_PAIRS_MAX)
			return fail(ld, s,
			    "%s must be a path or a list of 1 to %d", k->name,
			    CONFIG_TLS_PAIRS_MAX);
	}
	for (i = 0; i < files->count; i++)
		free(files->paths[i]);
	files->count = 0;
	for (i = 0; i < n; i++) {
		one = config_setting_is_aggregate(s)
		    ? config_setting_get_elem(s, (unsigned)i)
		    : s;
		if ((str = get_string(ld, one, k->name)) == NULL)
			return -1;
		if ((files->paths[i] = credential_path(
			 resolve_path(ld->file, str))) == NULL)
			return fail(ld, s, "out of memory");
		files->count++;
	}
	return 0;
}

/* tls_protocols: some of "TLSv1.2" and "TLSv1.3", by spaces. */
static int
load_tls_protocols(
    struct loader *ld, const config_setting_t *s, unsigned *protocols)
{
	const char *str = config_setting_get_string(s), *p;
	size_t len;

	*protocols = 0;
	for (p = str; p != NULL && *p != '\0'; p += len) {
		p += strspn(p, " ");
		len = strcspn(p, " ");
		if (len == 7 && strncmp(p, "TLSv1.2", 7) == 0)
			*protocols |= CONFIG_TLS_1_2;
		else if (len == 7 && strncmp(p, "TLSv1.3", 7) == 0)
			*protocols |= CONFIG_TLS_1_3;
		else if (len > 0)
			break;
	}
	if (p == NULL || *p != '\0' || *protocols == 0)
		return fail(ld, s,
		    "tls_protocols must name TLSv1.2, TLSv1.3 or both "
		    "(\"TLSv1.2 TLSv1.3\"), nothing older");
	return 0;
}

static int
load_header_rules(
    struct loader *ld, const config_setting_t *s, struct site_config *site)
{
	int i;

	if (!config_setting_is_list(s) ||
	    config_setting_length(s) > CONFIG_RULES_MAX)
		return fail(ld, s,
		    "headers must be a list ( {...}, ... ) of "
		    "at most %d rules",
		    CONFIG_RULES_MAX);
	for (i = 0; i < config_setting_length(s); i++)
		if (load_header_rule(ld, config_setting_get_elem(s, i),
			&site->rules[site->rule_count++]) == -1)
			return -1;
	return 0;
}

static int
load_error_pages(
    struct loader *ld, const config_setting_t *s, struct site_config *site)
{
	int i;

	if (!config_setting_is_list(s) ||
	    config_setting_length(s) > CONFIG_ERROR_PAGES_MAX)
		return fail(ld, s,
		    "error_pages must be a list ( {...}, ... ) "
		    "of at most %d entries",
		    CONFIG_ERROR_PAGES_MAX);
	for (i = 0; i < config_setting_length(s); i++)
		if (load_error_page(ld, config_setting_get_elem(s, i),
			&site->error_pages[site->error_page_count++]) == -1)
			return -1;
	return 0;
}

/* Stores setting s for key k in c (a global key) or site (a site key). */
static int
load_key(struct loader *ld, const struct key *k, config_setting_t *s,
    struct config *c, struct site_config *site)
{
	char *base = k->scope == SCOPE_GLOBAL ? (char *)c : (char *)site;
	void *dst = base + k->offset;
	const char *str;

	switch (k->type) {
	case KEY_UINT:
	case KEY_UINT_AUTO:
		return load_uint(ld, k, s, dst);
	case KEY_BOOL:
		if (config_setting_type(s) != CONFIG_TYPE_BOOL)
			return fail(ld, s, "%s must be true or false", k->name);
		*(int *)dst = config_setting_get_bool(s);
		return 0;
	case KEY_REDIRECT:
		if (config_setting_type(s) == CONFIG_TYPE_BOOL) {
			*(unsigned *)dst = config_setting_get_bool(s) ? 443 : 0;
			return 0;
		}
		if (config_setting_type(s) != CONFIG_TYPE_INT &&
		    config_setting_type(s) != CONFIG_TYPE_INT64)
			return fail(
			    ld, s, "%s must be true, false or a port", k->name);
		return load_uint(ld, k, s, dst);
	case KEY_PATH:
	case KEY_TLS_PATH:
	case KEY_TLS_STRING:
	case KEY_FILE_NAME:
	case KEY_URL_PATH:
	case KEY_LOG_FORMAT:
	case KEY_MEDIA_TYPE:
	case KEY_ACCESS_LOG:
		return load_string(ld, k, s, dst);
	case KEY_TLS_FILES:
		return load_tls_files(ld, k, s, dst);
	case KEY_TLS_PROTOCOLS:
		return load_tls_protocols(ld, s, dst);
	case KEY_LOG_LEVEL:
	case KEY_TOKENS:
	case KEY_DOTFILES:
	case KEY_SYMLINKS:
		return load_choice(ld, k, s, c, site);
	case KEY_LISTEN:
		return load_listen(ld, s, c);
	case KEY_LISTEN_ONE:
		if ((str = get_string(ld, s, k->name)) == NULL)
			return -1;
		if (config_parse_listen(str, dst) == -1)
			return fail(
			    ld, s, "%s: bad address \"%s\"", k->name, str);
		c->metrics_listen_set = 1;
		return 0;
	case KEY_ENCODINGS:
		return load_encodings(ld, s, dst);
	case KEY_HEADERS:
		return load_header_rules(ld, s, site);
	case KEY_ERROR_PAGES:
		return load_error_pages(ld, s, site);
	case KEY_MIME:
		return load_mime(ld, s, c);
	case KEY_NAMES:
		return load_names(ld, s, site);
	}
	return -1;
}

static void
site_clear(struct site_config *site)
{
	size_t i, j;

	for (i = 0; i < site->name_count; i++)
		free(site->names[i]);
	free(site->root);
	free(site->index);
	for (i = 0; i < site->rule_count; i++) {
		free(site->rules[i].match);
		free(site->rules[i].cache_control);
		for (j = 0; j < site->rules[i].add_count; j++)
			free(site->rules[i].add[j]);
	}
	for (i = 0; i < site->error_page_count; i++)
		free(site->error_pages[i].path);
	for (i = 0; i < site->tls_certificate.count; i++)
		free(site->tls_certificate.paths[i]);
	for (i = 0; i < site->tls_certificate_key.count; i++)
		free(site->tls_certificate_key.paths[i]);
	free(site->tls_ocsp_response);
	memset(site, 0, sizeof *site);
}

/*
 * A server block inherits the default site's scalar settings. Lists
 * (headers, error pages) are per site: a block that wants the default's
 * rules repeats them, which keeps one block's meaning readable on its own.
 */
static int
site_inherit(struct site_config *dst, const struct site_config *src)
{
	memset(dst, 0, sizeof *dst);
	dst->autoindex = src->autoindex;
	dst->autoindex_max_entries = src->autoindex_max_entries;
	dst->precompressed = src->precompressed;
	dst->dotfiles = src->dotfiles;
	dst->symlinks = src->symlinks;
	dst->redirect_https = src->redirect_https;
	if ((dst->root = strdup(src->root)) == NULL ||
	    (dst->index = strdup(src->index)) == NULL)
		return -1;
	return 0;
}

static int
set_defaults(struct config *c)
{
	struct site_config *site = &c->sites[0];

	c->listen_count = 1;
	strcpy(c->listen[0].host, "127.0.0.1");
	strcpy(c->listen[0].port, "8080");
	c->reactors = CONFIG_AUTO;
	c->io_threads = 4;
	c->io_threads_max = 256;
	c->io_queue_max = 4096;
	c->max_connections = CONFIG_AUTO;
	c->keepalive_requests = 1000;
	c->h2 = 1;
	c->h2_max_concurrent_streams = 128;
	c->h2_max_header_list_size = 16384;
	c->h2_max_buffer_bytes = 1 << 20;
	c->request_limits = request_limits_default;
	c->header_timeout_ms = 10000;
	c->keepalive_timeout_ms = 15000;
	c->send_timeout_ms = 30000;
	c->shutdown_grace_ms = 10000;
	c->chunk_bytes = 65536;
	c->sendfile_min_bytes = 16384;
	c->open_file_cache_max = CONFIG_AUTO;
	c->open_file_cache_ttl_ms = 2000;
	c->open_file_cache_bytes = 64 << 20;
	c->health_probe_interval_ms = 2000;
	c->health_probe_timeout_ms = 500;
	c->log_level = LOG_LEVEL_INFO;
	c->tls.protocols = CONFIG_TLS_1_2 | CONFIG_TLS_1_3;
	c->tls.handshake_timeout_ms = 10000;
	c->tls.session_tickets = 1;
	c->tls.prefer_server_ciphers = 1;
	c->tls.ticket_key_rotate_s = 3600;
	site->autoindex_max_entries = 100000;
	site->precompressed = ENCODING_BR | ENCODING_ZSTD | ENCODING_GZIP;
	site->symlinks = SYMLINKS_INSIDE_ROOT;
	if ((c->mime_types = strdup("/etc/mime.types")) == NULL ||
	    (site->root = strdup(".")) == NULL ||
	    (site->index = strdup("index.html")) == NULL)
		return -1;
	return 0;
}

static const struct key *
find_key(const char *name)
{
	size_t k;

	for (k = 0; k < sizeof keys / sizeof keys[0]; k++)
		if (strcmp(keys[k].name, name) == 0)
			return &keys[k];
	return NULL;
}

/*
 * A key for each certificate, and where they and the OCSP response are
 * set, for the errors tls.c finds when it loads them.
 */
static int
tls_pairs_check(
    struct loader *ld, config_setting_t *g, struct site_config *site)
{
	config_setting_t *cert, *key;

	cert = config_setting_get_member(g, "tls_certificate");
	key = config_setting_get_member(g, "tls_certificate_key");
	if (site->tls_certificate.count != site->tls_certificate_key.count)
		return fail(ld, key != NULL ? key : cert,
		    "%zu tls_certificate and %zu tls_certificate_key: "
		    "each certificate needs its key, in the same order",
		    site->tls_certificate.count,
		    site->tls_certificate_key.count);
	site->tls_line = key != NULL ? config_setting_source_line(key) : 0;
	if ((key = config_setting_get_member(g, "tls_ocsp_response")) != NULL)
		site->tls_ocsp_line = config_setting_source_line(key);
	return 0;
}

/*
 * A TLS listener needs the default site's certificate, which a client
 * naming no site (or none of ours) gets. -l replaces the file's
 * listeners; -C and -K replace the default site's certificate.
 */
static int
tls_listen_check(struct loader *ld, config_t *cf, const struct config *c,
    const struct config_overrides *o)
{
	size_t i;

	if ((o != NULL &&
		(o->listen_count > 0 || o->tls_certificate != NULL)) ||
	    c->sites[0].tls_certificate.count > 0)
		return 0;
	for (i = 0; i < c->listen_count; i++)
		if (c->listen[i].tls)
			return fail(ld, config_lookup(cf, "listen"),
			    "listen: a tls listener needs tls_certificate "
			    "and tls_certificate_key at the top level");
	return 0;
}

static int
load_server(struct loader *ld, config_setting_t *g, struct config *c)
{
	struct site_config *site = &c->sites[c->site_count];
	config_setting_t *s;
	const struct key *k;
	int i;

	if (!config_setting_is_group(g))
		return fail(ld, g,
		    "servers: each entry is a group "
		    "{ names = [...]; root = ...; }");
	if (site_inherit(site, &c->sites[0]) == -1)
		return fail(ld, g, "out of memory");
	c->site_count++;
	for (i = 0; i < config_setting_length(g); i++) {
		s = config_setting_get_elem(g, i);
		if ((k = find_key(config_setting_name(s))) == NULL ||
		    k->scope != SCOPE_SITE)
			return fail(ld, s,
			    "\"%s\" cannot be set in a server "
			    "block",
			    config_setting_name(s));
		if (load_key(ld, k, s, c, site) == -1)
			return -1;
	}
	if (site->name_count == 0)
		return fail(ld, g, "a server block needs names");
	return tls_pairs_check(ld, g, site);
}

/*
 * The request limits against each other: a line written longer than the
 * whole head could never be accepted, which is a mistake worth an error
 * rather than a silent cap. A line limit left at its default follows a
 * smaller request_head_max down instead: the user never wrote it.
 */
static int
limits_check(struct loader *ld, config_t *cf, struct config *c)
{
	struct request_limits *l = &c->request_limits;
	const config_setting_t *s;

	if (config_lookup(cf, "request_line_max") == NULL &&
	    l->line_max + 2 > l->head_max)
		l->line_max = l->head_max - 2;
	if (config_lookup(cf, "request_field_max") == NULL &&
	    l->field_max + 2 > l->head_max)
		l->field_max = l->head_max - 2;

	if (l->line_max + 2 > l->head_max) {
		s = config_lookup(cf, "request_line_max");
		return fail(ld,
		    s != NULL ? s : config_lookup(cf, "request_head_max"),
		    "request_line_max (%u) must be "
		    "below request_head_max (%u)",
		    l->line_max, l->head_max);
	}
	if (l->field_max + 2 > l->head_max) {
		s = config_lookup(cf, "request_field_max");
		return fail(ld,
		    s != NULL ? s : config_lookup(cf, "request_head_max"),
		    "request_field_max (%u) must be "
		    "below request_head_max (%u)",
		    l->field_max, l->head_max);
	}
	return 0;
}

static int
load_file(struct config *c, const char *path, const struct config_overrides *o,
    char *err, size_t errlen)
{
	struct loader ld = { path, err, errlen };
	config_t cf;
	config_setting_t *top, *s, *servers = NULL;
	const struct key *k;
	int i, rc = -1;

	config_init(&cf);
	if (config_read_file(&cf, path) != CONFIG_TRUE) {
		if (config_error_type(&cf) == CONFIG_ERR_FILE_IO)
			snprintf(err, errlen, "%s:0: cannot read: %s", path,
			    strerror(errno));
		else
			snprintf(err, errlen, "%s:%d: %s", path,
			    config_error_line(&cf), config_error_text(&cf));
		goto out;
	}
	top = config_root_setting(&cf);
	for (i = 0; i < config_setting_length(top); i++) {
		s = config_setting_get_elem(top, i);
		if (strcmp(config_setting_name(s), "servers") == 0) {
			servers = s;
			continue;
		}
		if ((k = find_key(config_setting_name(s))) == NULL ||
		    k->type == KEY_NAMES) {
			fail(&ld, s, "unknown key \"%s\"",
			    config_setting_name(s));
			goto out;
		}
		if (load_key(&ld, k, s, c, &c->sites[0]) == -1)
			goto out;
	}
	if (limits_check(&ld, &cf, c) == -1 ||
	    tls_pairs_check(&ld, top, &c->sites[0]) == -1)
		goto out;
	if ((s = config_lookup(&cf, "tls_ciphers")) != NULL)
		c->tls.ciphers_line = config_setting_source_line(s);
	if ((s = config_lookup(&cf, "tls_ciphersuites")) != NULL)
		c->tls.ciphersuites_line = config_setting_source_line(s);
	if ((s = config_lookup(&cf, "tls_groups")) != NULL)
		c->tls.groups_line = config_setting_source_line(s);
	if ((s = config_lookup(&cf, "tls_ticket_key_file")) != NULL)
		c->tls.ticket_key_file_line = config_setting_source_line(s);
	if (c->health_path != NULL && c->metrics_path != NULL &&
	    strcmp(c->health_path, c->metrics_path) == 0) {
		fail(&ld, config_lookup(&cf, "health_path"),
		    "health_path is "
		    "metrics_path: the two need paths of their own");
		goto out;
	}
	/* After the top level, wherever it was written: blocks inherit it. */
	if (servers != NULL) {
		if (!config_setting_is_list(servers) ||
		    config_setting_length(servers) >= CONFIG_SITES_MAX) {
			fail(&ld, servers,
			    "servers must be a list ( {...}, "
			    "... ) of at most %d blocks",
			    CONFIG_SITES_MAX - 1);
			goto out;
		}
		for (i = 0; i < config_setting_length(servers); i++)
			if (load_server(&ld,
				config_setting_get_elem(servers, i), c) == -1)
				goto out;
	}
	if (tls_listen_check(&ld, &cf, c, o) == -1)
		goto out;
	rc = 0;
out:
	config_destroy(&cf);
	return rc;
}

/* The hard descriptor limit (main raises the soft one to it), bounded. */
static unsigned long long
nofile_limit(void)
{
	struct rlimit nofile;
	unsigned long long limit = CONFIG_CONNECTIONS_MAX;

	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 &&
	    nofile.rlim_max != RLIM_INFINITY && nofile.rlim_max < limit)
		limit = nofile.rlim_max;
	return limit;
}

unsigned long long
config_nofile_reserved(const struct config *c)
{
	unsigned reactors = c->reactors != CONFIG_AUTO ? c->reactors : 1;

	/* Each reactor has its own copy of each listening socket. */
	return nofile_limit() / 4 +
	    (unsigned long long)reactors *
	    (c->listen_count + c->metrics_listen_set) +
	    CONFIG_NOFILE_MARGIN;
}

/*
 * reactors "auto": one per CPU the process may run on (its affinity mask,
 * which taskset and systemd's CPUAffinity= narrow), not per CPU present.
 */
static unsigned
reactors_auto(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof set, &set) == -1 ||
	    (n = CPU_COUNT(&set)) < 1)
		return 1;
	return n < CONFIG_REACTORS_MAX ? (unsigned)n : CONFIG_REACTORS_MAX;
}

/*
 * open_file_cache_max "auto": half the descriptors, shared by every site's
 * caches (one per reactor). They may hold more than the clients leave
 * them, since they give descriptors back when the process runs short
 * (filecache_short); the fifth they had before missed a tree of 10,000
 * hot files one request in two under a limit of 20,000. An entry is
 * memory only while a file is in it.
 */
static unsigned
open_file_cache_auto(const struct config *c)
{
	unsigned long long n =
	    nofile_limit() / (2ULL * c->site_count * c->reactors);

	return n < CONFIG_FILE_CACHE_AUTO_MAX ? (unsigned)n
					      : CONFIG_FILE_CACHE_AUTO_MAX;
}

/*
 * max_connections "auto": every descriptor the hard limit allows (main
 * raises the soft limit to it) that is not reserved. A limit too low for
 * both still lets half of it go to clients; main then warns.
 */
static unsigned
max_connections_auto(const struct config *c)
{
	unsigned long long limit = nofile_limit(), reserved, n;

	reserved = config_nofile_reserved(c);
	n = reserved < limit / 2 ? limit - reserved : limit / 2;
	return n > 0 ? (unsigned)n : 1;
}

/* -C and -K: the default site's one pair, replacing the file's. */
static int
tls_override(struct site_config *site, const struct config_overrides *o)
{
	struct tls_files *cert = &site->tls_certificate;
	struct tls_files *key = &site->tls_certificate_key;
	size_t i;

	for (i = 0; i < cert->count; i++)
		free(cert->paths[i]);
	for (i = 0; i < key->count; i++)
		free(key->paths[i]);
	cert->count = key->count = 0;
	site->tls_line = 0;
	if ((cert->paths[0] = credential_path(strdup(o->tls_certificate))) ==
	    NULL)
		return -1;
	cert->count = 1;
	if ((key->paths[0] = credential_path(strdup(o->tls_certificate_key))) ==
	    NULL)
		return -1;
	key->count = 1;
	return 0;
}

struct config *
config_load(const char *path, const struct config_overrides *o, char *err,
    size_t errlen)
{
	struct config *c;
	size_t i;

	snprintf(
	    err, errlen, "%s:0: out of memory", path ? path : "(defaults)");
	if ((c = calloc(1, sizeof *c)) == NULL)
		return NULL;
	c->site_count = 1;
	if ((c->sites = calloc(CONFIG_SITES_MAX, sizeof *c->sites)) == NULL ||
	    set_defaults(c) == -1)
		goto fail;
	if (path != NULL &&
	    ((c->path = strdup(path)) == NULL ||
		load_file(c, path, o, err, errlen) == -1))
		goto fail;
	if (o != NULL && o->user != NULL) {
		free(c->user);
		if ((c->user = strdup(o->user)) == NULL)
			goto fail;
	}
	if (o != NULL && o->root != NULL) {
		free(c->sites[0].root);
		if ((c->sites[0].root = strdup(o->root)) == NULL)
			goto fail;
	}
	if (o != NULL &&
	    (o->tls_certificate == NULL) != (o->tls_certificate_key == NULL)) {
		snprintf(err, errlen, "-C and -K go together");
		goto fail;
	}
	if (o != NULL && o->tls_certificate != NULL &&
	    tls_override(&c->sites[0], o) == -1)
		goto fail;
	if (o != NULL && o->listen_count > 0) {
		for (i = 0; i < o->listen_count; i++) {
			if (config_parse_listen(o->listen[i], &c->listen[i]) ==
			    -1) {
				snprintf(err, errlen,
				    "-l %s: want ADDRESS:PORT", o->listen[i]);
				goto fail;
			}
			c->listen[i].tls = o->tls_certificate != NULL;
		}
		c->listen_count = o->listen_count;
	}
	/* Quick use without a file: -C and -K make the default listener TLS. */
	for (i = 0; path == NULL && o != NULL && o->tls_certificate != NULL &&
	     i < c->listen_count;
	     i++)
		c->listen[i].tls = 1;
	/*
	 * The reactors first, then the caches (one per site and reactor):
	 * max_connections "auto" leaves them their room.
	 */
	if (c->reactors == CONFIG_AUTO) {
		c->reactors = reactors_auto();
		c->reactors_auto = 1;
	}
	c->reactors_asked = c->reactors;
	if (o != NULL && o->reactors > 0)
		c->reactors = o->reactors;
	if (c->open_file_cache_max == CONFIG_AUTO) {
		c->open_file_cache_max = open_file_cache_auto(c);
		c->open_file_cache_auto = 1;
	}
	if (c->max_connections == CONFIG_AUTO) {
		c->max_connections = max_connections_auto(c);
		c->max_connections_auto = 1;
	}
	return c;
fail:
	config_free(c);
	return NULL;
}

void
config_free(struct config *c)
{
	size_t i;

	if (c == NULL)
		return;
	for (i = 0; c->sites != NULL && i < c->site_count; i++)
		site_clear(&c->sites[i]);
	free(c->sites);
	for (i = 0; i < c->mime_count; i++)
		free(c->mime[i].type);
	free(c->access_log);
	free(c->access_log_format);
	free(c->mime_types);
	free(c->default_type);
	free(c->metrics_path);
	free(c->health_path);
	free(c->user);
	free(c->group);
	free(c->tls.ciphers);
	free(c->tls.ciphersuites);
	free(c->tls.groups);
	free(c->tls.ticket_key_file);
	free(c->path);
	free(c);
}
