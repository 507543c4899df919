/*
 * libFuzzer target for config.c. Each input is a configuration file: it is
 * written to a memfd and loaded through /proc/self/fd, as the daemon
 * loads its file (libconfig parses it, config.c validates it). Inputs with
 * an @include are skipped: an include can name any file, /dev/zero too,
 * which tests the file system rather than the loader.
 *
 * Beyond the sanitizers (LeakSanitizer included, so an error path that
 * forgets what it took is a crash) the target checks the promise the rest
 * of the daemon relies on: a config that loads holds only valid values,
 * each within the bounds and the syntax docs/configuration.md gives, with
 * no control character in anything that ends up in a response header or
 * a log line, and none that another module would silently never use (a
 * mime_overrides extension with a '.'); a config that fails to load says
 * "file:line: message". The input is also given to config_parse_listen.
 */

#include "autoconf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/mman.h>
#include <unistd.h>

#include "accesslog.h"
#include "config.h"
#include "encoding.h"
#include "fuzz.h"
#include "log.h"

static int
no_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

/* NULL, or a non-empty string without control characters. */
static int
opt_clean(const char *s)
{
	return s == NULL || (*s != '\0' && no_control(s));
}

static int
is_tchar(unsigned char c)
{
	return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c));
}

static void
check_listen(const struct config_listen *l)
{
	unsigned char addr[16];
	char *end;
	long port;

	CHECK(memchr(l->host, '\0', sizeof l->host) != NULL);
	CHECK(l->host[0] == '\0' || inet_pton(AF_INET, l->host, addr) == 1 ||
	      inet_pton(AF_INET6, l->host, addr) == 1);
	/* Plain decimal 0-65535, as getaddrinfo will read it. */
	CHECK(memchr(l->port, '\0', sizeof l->port) != NULL);
	CHECK(isdigit((unsigned char)l->port[0]));
	port = strtol(l->port, &end, 10);
	CHECK(*end == '\0' && port >= 0 && port <= 65535);
	CHECK(l->port[0] != '0' || l->port[1] == '\0');
}

static void
check_site(const struct site_config *s, int is_default)
{
	const struct header_rule *r;
	const char *colon;
	size_t i, j;

	CHECK(is_default
		  ? s->name_count == 0
		  : s->name_count >= 1 && s->name_count <= CONFIG_NAMES_MAX);
	for (i = 0; i < s->name_count; i++) {
		const char *n = s->names[i];

		CHECK(n != NULL && n[0] != '\0' && strlen(n) <= 253);
		for (j = n[0] == '*' && n[1] == '.' ? 2 : 0; n[j] != '\0'; j++)
			CHECK(islower((unsigned char)n[j]) ||
			      isdigit((unsigned char)n[j]) || n[j] == '-' ||
			      n[j] == '.');
	}
	CHECK(s->root != NULL && s->root[0] != '\0');
	CHECK(s->index != NULL && s->index[0] != '\0' &&
	      strchr(s->index, '/') == NULL && no_control(s->index));
	CHECK(s->autoindex == 0 || s->autoindex == 1);
	CHECK(s->autoindex_max_entries >= 1 &&
	      s->autoindex_max_entries <= 10000000);
	CHECK((s->precompressed & ~(unsigned)(ENCODING_BR | ENCODING_ZSTD |
					      ENCODING_GZIP)) == 0);
	CHECK(s->dotfiles == 0 || s->dotfiles == 1);
	CHECK(
	    s->symlinks == SYMLINKS_INSIDE_ROOT || s->symlinks == SYMLINKS_OFF);
	CHECK(s->rule_count <= CONFIG_RULES_MAX);
	for (i = 0; i < s->rule_count; i++) {
		r = &s->rules[i];
		CHECK(r->match != NULL && no_control(r->match) &&
		      (r->match[0] == '/' || strncmp(r->match, "*.", 2) == 0));
		/* Sent as a response field: no CR, LF or other control. */
		CHECK(opt_clean(r->cache_control));
		CHECK(r->expires_s >= -1);
		CHECK(r->add_count <= CONFIG_ADD_MAX);
		for (j = 0; j < r->add_count; j++) {
			CHECK(r->add[j] != NULL && no_control(r->add[j]));
			colon = strchr(r->add[j], ':');
			CHECK(colon != NULL && colon > r->add[j]);
			for (const char *c = r->add[j]; c < colon; c++)
				CHECK(is_tchar((unsigned char)*c));
		}
	}
	CHECK(s->error_page_count <= CONFIG_ERROR_PAGES_MAX);
	for (i = 0; i < s->error_page_count; i++) {
		CHECK(s->error_pages[i].status >= 400 &&
		      s->error_pages[i].status <= 599);
		CHECK(s->error_pages[i].path != NULL &&
		      s->error_pages[i].path[0] == '/' &&
		      no_control(s->error_pages[i].path));
	}
}

static void
check_config(const struct config *c)
{
	struct logformat *lf;
	char msg[128];
	size_t i;

	CHECK(c->listen_count >= 1 && c->listen_count <= CONFIG_LISTEN_MAX);
	for (i = 0; i < c->listen_count; i++)
		check_listen(&c->listen[i]);
	if (c->metrics_listen_set)
		check_listen(&c->metrics_listen);
	/* The bounds of config.c's key table, as documented. */
	CHECK(c->io_threads <= 256);
	CHECK(c->io_threads_max <= 4096);
	CHECK(c->io_queue_max >= 1 && c->io_queue_max <= 1 << 20);
	CHECK(c->max_connections >= 1 && c->max_connections <= 1 << 20);
	CHECK(c->header_timeout_ms >= 1 && c->header_timeout_ms <= 3600000);
	CHECK(c->keepalive_timeout_ms <= 3600000);
	CHECK(c->send_timeout_ms >= 1 && c->send_timeout_ms <= 3600000);
	CHECK(c->shutdown_grace_ms <= 3600000);
	CHECK(c->chunk_bytes >= 4096 && c->chunk_bytes <= 16 << 20);
	CHECK(c->open_file_cache_max <= 1 << 20);
	CHECK(c->open_file_cache_ttl_ms <= 3600000);
	CHECK(
	    c->log_level == LOG_LEVEL_ERROR || c->log_level == LOG_LEVEL_WARN ||
	    c->log_level == LOG_LEVEL_INFO || c->log_level == LOG_LEVEL_DEBUG);
	CHECK(c->access_log == NULL || c->access_log[0] != '\0');
	/* A format that loaded compiles again. */
	CHECK(opt_clean(c->access_log_format));
	if (c->access_log_format != NULL) {
		lf = logformat_compile(c->access_log_format, msg, sizeof msg);
		CHECK(lf != NULL);
		logformat_free(lf);
	}
	CHECK(c->mime_types != NULL && c->mime_types[0] != '\0');
	CHECK(opt_clean(c->default_type));
	CHECK(c->default_type == NULL || strchr(c->default_type, '/') != NULL);
	CHECK(c->mime_count <= CONFIG_MIME_MAX);
	for (i = 0; i < c->mime_count; i++) {
		CHECK(c->mime[i].ext[0] != '\0' &&
		      memchr(c->mime[i].ext, '\0', sizeof c->mime[i].ext) !=
			  NULL);
		/* mime.c compares what follows a name's last '.'. */
		CHECK(strpbrk(c->mime[i].ext, " ./") == NULL &&
		      no_control(c->mime[i].ext));
		CHECK(c->mime[i].type != NULL && opt_clean(c->mime[i].type) &&
		      strchr(c->mime[i].type, '/') != NULL);
	}
	CHECK(opt_clean(c->metrics_path));
	CHECK(c->metrics_path == NULL ||
	      (c->metrics_path[0] == '/' &&
		  strchr(c->metrics_path, ' ') == NULL));
	CHECK(opt_clean(c->user) && (c->user == NULL || !strchr(c->user, '/')));
	CHECK(opt_clean(c->group) &&
	      (c->group == NULL || !strchr(c->group, '/')));
	CHECK(c->sites != NULL && c->site_count >= 1 &&
	      c->site_count <= CONFIG_SITES_MAX);
	for (i = 0; i < c->site_count; i++)
		check_site(&c->sites[i], i == 0);
}

/*
 * config_parse_listen, also behind -l: what it accepts ends in ':' and a
 * plain decimal port, and it writes nothing when it refuses.
 */
static void
check_parse_listen(const uint8_t *data, size_t size)
{
	struct config_listen l, poison;
	char text[128];
	const char *colon;
	size_t i;

	if (size >= sizeof text)
		return;
	memcpy(text, data, size);
	text[size] = '\0';
	memset(&poison, 0x5a, sizeof poison);
	l = poison;
	if (config_parse_listen(text, &l) != 0) {
		CHECK(memcmp(&l, &poison, sizeof l) == 0);
		return;
	}
	check_listen(&l);
	colon = strrchr(text, ':');
	CHECK(colon != NULL && colon[1] != '\0');
	for (i = 1; colon[i] != '\0'; i++)
		CHECK(isdigit((unsigned char)colon[i]));
	CHECK(strtol(colon + 1, NULL, 10) == strtol(l.port, NULL, 10));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	char err[CONFIG_ERROR_MAX];
	struct config *c;
	size_t i, plen;

	if (fd == -1) {
		CHECK((fd = memfd_create("coserve.conf", 0)) != -1);
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	}
	check_parse_listen(data, size);
	for (i = 0; i + 8 <= size; i++)
		if (strncasecmp((const char *)data + i, "@include", 8) == 0)
			return 0;
	CHECK(ftruncate(fd, 0) == 0);
	CHECK(pwrite(fd, data, size, 0) == (ssize_t)size);

	memset(err, 'x', sizeof err);
	c = config_load(path, NULL, err, sizeof err);
	CHECK(memchr(err, '\0', sizeof err) != NULL);
	if (c == NULL) {
		/* "file:line: message" */
		plen = strlen(path);
		CHECK(strncmp(err, path, plen) == 0 && err[plen] == ':');
		for (i = plen + 1; isdigit((unsigned char)err[i]); i++)
			;
		CHECK(i > plen + 1 && err[i] == ':' && err[i + 1] == ' ' &&
		      err[i + 2] != '\0');
		return 0;
	}
	check_config(c);
	config_free(c);
	return 0;
}
