/* Unit tests for config.c: defaults, every key, and file:line errors. */
#include "autoconf.h"

#include <sched.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"

static char	 dir[] = "/tmp/check_config.XXXXXX";
static char	 path[4096];

static void
setup(void)
{
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/coserve.conf", dir);
}

static void
teardown(void)
{
	unlink(path);
	rmdir(dir);
	strcpy(dir, "/tmp/check_config.XXXXXX");
}

static void
write_conf(const char *text)
{
	FILE	*f = fopen(path, "w");

	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
}

START_TEST(defaults)
{
	char		 err[CONFIG_ERROR_MAX];
	struct config	*c = config_load(NULL, NULL, err, sizeof err);

	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->listen_count, 1);
	ck_assert_str_eq(c->listen[0].host, "127.0.0.1");
	ck_assert_str_eq(c->listen[0].port, "8080");
	ck_assert_str_eq(c->sites[0].index, "index.html");
	ck_assert_uint_eq(c->io_threads, 4);
	ck_assert_ptr_null(c->access_log);
	/* The limits, as they were compile-time constants before. */
	ck_assert_uint_eq(c->request_limits.line_max, 8192);
	ck_assert_uint_eq(c->request_limits.field_max, 8192);
	ck_assert_uint_eq(c->request_limits.head_max, 16384);
	ck_assert_uint_eq(c->request_limits.fields_max, 1000);
	ck_assert_uint_eq(c->keepalive_requests, 1000);
	ck_assert_uint_eq(c->max_connections_per_client, 0);
	ck_assert_int_eq(c->server_tokens, RESPONSE_TOKENS_PRODUCT);
	ck_assert_ptr_null(c->health_path);
	ck_assert_uint_eq(c->health_probe_interval_ms, 2000);
	ck_assert_uint_eq(c->health_probe_timeout_ms, 500);
	ck_assert_uint_eq(c->drain_delay_ms, 0);
	ck_assert_uint_eq(c->sendfile_min_bytes, 16384);
	config_free(c);
}
END_TEST

START_TEST(full_file)
{
	char		 err[CONFIG_ERROR_MAX], want[4200];
	struct config	*c;

	write_conf("listen = [ \"127.0.0.1:0\", \"[::1]:8081\", \"*:81\" ];\n"
	    "root = \"site\";\n"
	    "index = \"home.htm\";\n"
	    "io_threads = 0;\n"
	    "io_queue_max = 10;\n"
	    "max_connections = 7;\n"
	    "header_timeout_ms = 1500;\n"
	    "keepalive_timeout_ms = 0;\n"
	    "send_timeout_ms = 2;\n"
	    "shutdown_grace_ms = 3;\n"
	    "chunk_bytes = 8192;\n"
	    "sendfile_min_bytes = 0;\n"
	    "request_line_max = 1000;\n"
	    "request_field_max = 2000;\n"
	    "request_head_max = 4000;\n"
	    "request_fields_max = 20;\n"
	    "keepalive_requests = 0;\n"
	    "max_connections_per_client = 9;\n"
	    "server_tokens = \"off\";\n"
	    "log_level = \"debug\";\n"
	    "access_log = \"/var/log/x.log\";\n"
	    "mime_types = \"/nonexistent\";\n");
	c = config_load(path, NULL, err, sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->listen_count, 3);
	ck_assert_str_eq(c->listen[1].host, "::1");
	ck_assert_str_eq(c->listen[1].port, "8081");
	ck_assert_str_eq(c->listen[2].host, "");
	snprintf(want, sizeof want, "%s/site", dir);
	ck_assert_str_eq(c->sites[0].root, want);
	ck_assert_str_eq(c->sites[0].index, "home.htm");
	ck_assert_uint_eq(c->io_threads, 0);
	ck_assert_uint_eq(c->io_queue_max, 10);
	ck_assert_uint_eq(c->max_connections, 7);
	ck_assert_uint_eq(c->header_timeout_ms, 1500);
	ck_assert_uint_eq(c->keepalive_timeout_ms, 0);
	ck_assert_uint_eq(c->send_timeout_ms, 2);
	ck_assert_uint_eq(c->shutdown_grace_ms, 3);
	ck_assert_uint_eq(c->chunk_bytes, 8192);
	ck_assert_uint_eq(c->sendfile_min_bytes, 0);
	ck_assert_uint_eq(c->request_limits.line_max, 1000);
	ck_assert_uint_eq(c->request_limits.field_max, 2000);
	ck_assert_uint_eq(c->request_limits.head_max, 4000);
	ck_assert_uint_eq(c->request_limits.fields_max, 20);
	ck_assert_uint_eq(c->keepalive_requests, 0);
	ck_assert_uint_eq(c->max_connections_per_client, 9);
	ck_assert_int_eq(c->server_tokens, RESPONSE_TOKENS_OFF);
	ck_assert_int_eq(c->log_level, LOG_LEVEL_DEBUG);
	ck_assert_str_eq(c->access_log, "/var/log/x.log");
	config_free(c);
}
END_TEST

START_TEST(overrides_win)
{
	char			 err[CONFIG_ERROR_MAX];
	struct config_overrides	 o = { "www-data", "/srv/www", { "[::1]:0" }, 1,
	    0, NULL, NULL };
	struct config		*c;

	write_conf("listen = [ \"127.0.0.1:80\", \"127.0.0.2:80\" ];\n"
	    "root = \"/a\";\n");
	c = config_load(path, &o, err, sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(c->sites[0].root, "/srv/www");
	ck_assert_str_eq(c->user, "www-data");
	ck_assert_uint_eq(c->listen_count, 1);
	ck_assert_str_eq(c->listen[0].host, "::1");
	config_free(c);
}
END_TEST

/* Each bad file must name its line and say what is wrong. */
static const struct {
	const char	*text;
	const char	*where;		/* ":LINE: " */
	const char	*what;
} bad[] = {
	{ "root = \"/x\";\nio_threads = ;\n", ":2: ", "syntax" },
	{ "\n\nbogus = 1;\n", ":3: ", "unknown key \"bogus\"" },
	{ "io_threads = \"four\";\n", ":1: ", "must be an integer" },
	{ "io_threads = -1;\n", ":1: ", "between 0 and 256" },
	{ "chunk_bytes = 1;\n", ":1: ", "between 4096" },
	{ "sendfile_min_bytes = -1;\n", ":1: ", "between 0 and 1073741824" },
	{ "listen = [];\n", ":1: ", "listen needs" },
	{ "listen = [ \"nowhere\" ];\n", ":1: ", "bad address \"nowhere\"" },
	{ "listen = [ \"1.2.3.4:99999\" ];\n", ":1: ", "bad address" },
	{ "listen = \"1.2.3.4:80\";\n", ":1: ", "must be a list" },
	{ "log_level = \"loud\";\n", ":1: ", "log_level must be" },
	{ "index = \"a/b.html\";\n", ":1: ", "without '/'" },
	{ "root = 5;\n", ":1: ", "must be a string" },
	{ "root = \"\";\n", ":1: ", "is empty" },
	{ "names = [ \"a\" ];\n", ":1: ", "unknown key \"names\"" },
	{ "servers = ( { root = \"/x\"; } );\n", ":1: ", "needs names" },
	{ "servers = ( { names = [\"a\"]; io_threads = 1; } );\n", ":1: ",
	    "cannot be set in a server block" },
	{ "servers = ( { names = [\"a b\"]; } );\n", ":1: ", "bad host name" },
	{ "headers = ( { cache_control = \"x\"; } );\n", ":1: ",
	    "needs match" },
	{ "headers = ( { match = \"css\"; } );\n", ":1: ",
	    "path prefix" },
	/* Found by fuzz_config: a rule no request path can ever match. */
	{ "headers = ( { match = \"/a\\x01\"; } );\n", ":1: ",
	    "path prefix" },
	{ "headers = ( { match = \"/\"; add = [ \"Bad Name: x\" ]; } );\n",
	    ":1: ", "is not \"Name: value\"" },
	{ "headers = ( { match = \"/\"; colour = 1; } );\n", ":1: ",
	    "unknown key \"colour\"" },
	{ "error_pages = ( { status = 200; path = \"/x\"; } );\n", ":1: ",
	    "not 400-599" },
	{ "error_pages = ( { status = 404; path = \"x\"; } );\n", ":1: ",
	    "must start with" },
	{ "precompressed = [ \"lzma\" ];\n", ":1: ", "unknown encoding" },
	{ "dotfiles = \"maybe\";\n", ":1: ", "dotfiles must be" },
	{ "symlinks = \"always\";\n", ":1: ", "symlinks must be" },
	{ "autoindex = 1;\n", ":1: ", "true or false" },
	{ "mime_overrides = [ \"md\" ];\n", ":1: ", "ext type/subtype" },
	/* Extensions mime.c can never match (fuzz_config asserts it). */
	{ "mime_overrides = [ \".md text/markdown\" ];\n", ":1: ",
	    "ext type/subtype" },
	{ "mime_overrides = [ \"tar.gz application/gzip\" ];\n", ":1: ",
	    "ext type/subtype" },
	{ "mime_overrides = [ \"a/b text/plain\" ];\n", ":1: ",
	    "ext type/subtype" },
	{ "mime_overrides = [ \"m\\x01d text/plain\" ];\n", ":1: ",
	    "ext type/subtype" },
	{ "listen = [ \"*: 80\" ];\n", ":1: ", "bad address" },
	{ "metrics_listen = \"nowhere\";\n", ":1: ", "bad address" },
	{ "metrics_path = \"metrics\";\n", ":1: ", "starting with '/'" },
	{ "health_path = \"health\";\n", ":1: ", "starting with '/'" },
	{ "metrics_path = \"/m\";\nhealth_path = \"/m\";\n", ":2: ",
	    "health_path is metrics_path" },
	{ "health_probe_interval_ms = 5;\n", ":1: ", "between 10 and" },
	{ "health_probe_timeout_ms = 0;\n", ":1: ", "between 1 and" },
	{ "drain_delay_ms = -1;\n", ":1: ", "between 0 and" },
	{ "servers = ( { names = [\"a\"]; health_path = \"/h\"; } );\n",
	    ":1: ", "cannot be set in a server block" },
	{ "default_type = \"binary\";\n", ":1: ", "media type like" },
	{ "access_log_format = \"$status $nope\";\n", ":1: ",
	    "unknown variable $nope" },
	{ "request_line_max = 100;\n", ":1: ", "between 256 and" },
	{ "request_head_max = 2000000;\n", ":1: ", "between 1024 and" },
	{ "request_fields_max = 0;\n", ":1: ", "between 1 and 10000" },
	{ "max_connections = \"lots\";\n", ":1: ",
	    "max_connections must be \"auto\" or an integer" },
	{ "max_connections = 0;\n", ":1: ", "between 1 and 1048576" },
	{ "\nrequest_head_max = 4096;\nrequest_line_max = 5000;\n", ":3: ",
	    "request_line_max (5000) must be below request_head_max (4096)" },
	{ "request_field_max = 20000;\n", ":1: ",
	    "request_field_max (20000) must be below request_head_max" },
	{ "server_tokens = \"on\";\n", ":1: ", "server_tokens must be" },
	{ "keepalive_requests = -1;\n", ":1: ", "between 0 and" },
	{ "root = \"/x\";\nlisten = [ \"127.0.0.1:443 tls\" ];\n", ":2: ",
	    "a tls listener needs tls_certificate and tls_certificate_key" },
	{ "servers = ( { names = [\"a\"]; tls_certificate = \"c\";\n"
	  "  tls_certificate_key = \"k\"; } );\n"
	  "listen = [ \"*:443 tls\" ];\n", ":3: ", "a tls listener needs" },
	{ "listen = [ \"127.0.0.1:443 ssl\" ];\n", ":1: ", "bad address" },
	{ "listen = [ \"127.0.0.1:443tls\" ];\n", ":1: ", "bad address" },
	{ "metrics_listen = \"127.0.0.1:9100 tls\";\n", ":1: ", "bad address" },
	{ "tls_protocols = \"TLSv1.1 TLSv1.2\";\n", ":1: ", "nothing older" },
	{ "tls_protocols = \" \";\n", ":1: ", "tls_protocols must name" },
	{ "tls_protocols = 2;\n", ":1: ", "tls_protocols must name" },
	{ "tls_certificate = [ \"a\", \"b\" ];\ntls_certificate_key = \"k\";\n",
	    ":2: ", "2 tls_certificate and 1 tls_certificate_key" },
	{ "tls_certificate = [ \"a\", \"b\", \"c\", \"d\", \"e\" ];\n", ":1: ",
	    "a path or a list of 1 to 4" },
	{ "tls_certificate = [];\n", ":1: ", "a path or a list of 1 to 4" },
	{ "tls_certificate_key = 5;\n", ":1: ", "must be a string" },
	{ "tls_certificate = [ \"\" ];\n", ":1: ", "is empty" },
	{ "servers = ( { names = [\"a\"];\n  tls_certificate = \"c\"; } );\n",
	    ":2: ", "1 tls_certificate and 0 tls_certificate_key" },
	{ "tls_handshake_timeout_ms = 0;\n", ":1: ", "between 1 and" },
	{ "servers = ( { names = [\"a\"]; tls_ciphers = \"HIGH\"; } );\n",
	    ":1: ", "cannot be set in a server block" },
	{ "tls_ciphers = \"A\\x01B\";\n", ":1: ", "control character" },
	{ "tls_session_tickets = \"yes\";\n", ":1: ", "true or false" },
	{ "tls_ticket_key_rotate_s = 1;\n", ":1: ", "between 60 and" },
};

START_TEST(bad_files)
{
	char		 err[CONFIG_ERROR_MAX], prefix[4200];
	struct config	*c;

	write_conf(bad[_i].text);
	c = config_load(path, NULL, err, sizeof err);
	ck_assert_ptr_null(c);
	snprintf(prefix, sizeof prefix, "%s%s", path, bad[_i].where);
	ck_assert_msg(strncmp(err, prefix, strlen(prefix)) == 0,
	    "want prefix %s, got %s", prefix, err);
	ck_assert_msg(strstr(err, bad[_i].what) != NULL, "want %s in %s",
	    bad[_i].what, err);
}
END_TEST

START_TEST(sites)
{
	char		 err[CONFIG_ERROR_MAX], want[4200];
	struct config	*c;

	write_conf("root = \"/srv/default\";\n"
	    "autoindex = true;\n"
	    "dotfiles = \"allow\";\n"
	    "precompressed = [ \"gzip\" ];\n"
	    "headers = ( { match = \"/assets/\"; cache_control = \"max-age=60\";\n"
	    "  expires_s = 60; add = [ \"X-A: 1\", \"X-B: two words\" ]; },\n"
	    "  { match = \"*.html\"; cache_control = \"no-cache\"; } );\n"
	    "error_pages = ( { status = 404; path = \"/404.html\"; } );\n"
	    "servers = (\n"
	    "  { names = [ \"Example.COM\", \"*.example.com\" ];\n"
	    "    root = \"ex\"; symlinks = \"off\"; },\n"
	    "  { names = [ \"other.test\" ]; autoindex = false; }\n"
	    ");\n"
	    "mime_overrides = [ \"md text/markdown\", \"7z application/x-7z\" ];\n"
	    "metrics_listen = \"127.0.0.1:9100\";\n"
	    "metrics_path = \"/metrics\";\n"
	    "health_path = \"/healthz\";\n"
	    "health_probe_interval_ms = 250;\n"
	    "health_probe_timeout_ms = 100;\n"
	    "drain_delay_ms = 3000;\n"
	    "access_log_format = \"$remote_addr $status\";\n");
	c = config_load(path, NULL, err, sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->site_count, 3);
	ck_assert_int_eq(c->sites[0].autoindex, 1);
	ck_assert_int_eq(c->sites[0].dotfiles, 1);
	ck_assert_uint_eq(c->sites[0].precompressed, ENCODING_GZIP);
	ck_assert_uint_eq(c->sites[0].rule_count, 2);
	ck_assert_str_eq(c->sites[0].rules[0].match, "/assets/");
	ck_assert_str_eq(c->sites[0].rules[0].cache_control, "max-age=60");
	ck_assert_int_eq(c->sites[0].rules[0].expires_s, 60);
	ck_assert_uint_eq(c->sites[0].rules[0].add_count, 2);
	ck_assert_str_eq(c->sites[0].rules[0].add[1], "X-B: two words");
	ck_assert_int_eq(c->sites[0].rules[1].expires_s, -1);
	ck_assert_uint_eq(c->sites[0].error_page_count, 1);
	ck_assert_int_eq(c->sites[0].error_pages[0].status, 404);
	/* Blocks inherit scalars, come after the top level, lower-case names. */
	ck_assert_uint_eq(c->sites[1].name_count, 2);
	ck_assert_str_eq(c->sites[1].names[0], "example.com");
	ck_assert_str_eq(c->sites[1].names[1], "*.example.com");
	snprintf(want, sizeof want, "%s/ex", dir);
	ck_assert_str_eq(c->sites[1].root, want);
	ck_assert_int_eq(c->sites[1].symlinks, SYMLINKS_OFF);
	ck_assert_int_eq(c->sites[1].autoindex, 1);
	ck_assert_uint_eq(c->sites[1].precompressed, ENCODING_GZIP);
	ck_assert_uint_eq(c->sites[1].rule_count, 0);
	ck_assert_str_eq(c->sites[2].root, "/srv/default");
	ck_assert_int_eq(c->sites[2].autoindex, 0);
	ck_assert_int_eq(c->sites[0].symlinks, SYMLINKS_INSIDE_ROOT);
	ck_assert_uint_eq(c->mime_count, 2);
	ck_assert_str_eq(c->mime[1].ext, "7z");
	ck_assert_str_eq(c->mime[1].type, "application/x-7z");
	ck_assert_int_eq(c->metrics_listen_set, 1);
	ck_assert_str_eq(c->metrics_listen.port, "9100");
	ck_assert_str_eq(c->metrics_path, "/metrics");
	ck_assert_str_eq(c->health_path, "/healthz");
	ck_assert_uint_eq(c->health_probe_interval_ms, 250);
	ck_assert_uint_eq(c->health_probe_timeout_ms, 100);
	ck_assert_uint_eq(c->drain_delay_ms, 3000);
	ck_assert_str_eq(c->access_log_format, "$remote_addr $status");
	config_free(c);
}
END_TEST

/* Line limits left unset follow a smaller request_head_max down. */
START_TEST(head_max_alone)
{
	char		 err[CONFIG_ERROR_MAX];
	struct config	*c;

	write_conf("request_head_max = 4096;\n");
	c = config_load(path, NULL, err, sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->request_limits.head_max, 4096);
	ck_assert_uint_eq(c->request_limits.line_max, 4094);
	ck_assert_uint_eq(c->request_limits.field_max, 4094);
	config_free(c);
	write_conf("request_head_max = 4096;\nrequest_line_max = 1000;\n");
	c = config_load(path, NULL, err, sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->request_limits.line_max, 1000);
	ck_assert_uint_eq(c->request_limits.field_max, 4094);
	config_free(c);
}
END_TEST

START_TEST(missing_file)
{
	char	 err[CONFIG_ERROR_MAX];

	ck_assert_ptr_null(config_load("/nonexistent/coserve.conf", NULL, err,
	    sizeof err));
	ck_assert_ptr_nonnull(strstr(err, "/nonexistent/coserve.conf:0: "));
}
END_TEST

START_TEST(listen_forms)
{
	struct config_listen	 l;

	ck_assert_int_eq(config_parse_listen("127.0.0.1:8080", &l), 0);
	ck_assert_str_eq(l.host, "127.0.0.1");
	ck_assert_int_eq(config_parse_listen("[::]:80", &l), 0);
	ck_assert_str_eq(l.host, "::");
	ck_assert_int_eq(config_parse_listen(":80", &l), 0);
	ck_assert_str_eq(l.host, "");
	ck_assert_int_eq(config_parse_listen("::1:80", &l), -1);
	ck_assert_int_eq(config_parse_listen("[::1]80", &l), -1);
	ck_assert_int_eq(config_parse_listen("1.2.3.4:", &l), -1);
	ck_assert_int_eq(config_parse_listen("1.2.3.4:-1", &l), -1);
	/* strtol's leniency let these through (fuzz_config asserts it). */
	ck_assert_int_eq(config_parse_listen("1.2.3.4: 80", &l), -1);
	ck_assert_int_eq(config_parse_listen("1.2.3.4:+80", &l), -1);
	ck_assert_int_eq(config_parse_listen("1.2.3.4:-0", &l), -1);
	ck_assert_int_eq(config_parse_listen("1.2.3.4:65536", &l), -1);
	ck_assert_int_eq(config_parse_listen("1.2.3.4:00080", &l), 0);
	ck_assert_str_eq(l.port, "80");
	ck_assert_int_eq(config_parse_listen("example.com:80", &l), -1);
}
END_TEST

/*
 * What a configuration's max_connections "auto" comes to, with one
 * reactor unless it says otherwise.
 */
static unsigned
auto_connections(const char *text)
{
	char		 err[CONFIG_ERROR_MAX], conf[1024];
	struct config	*c;
	unsigned	 n;

	snprintf(conf, sizeof conf, "%s%s",
	    strstr(text, "reactors") == NULL ? "reactors = 1;\n" : "", text);
	write_conf(conf);
	c = config_load(path, NULL, err, sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_int_eq(c->max_connections_auto, 1);
	n = c->max_connections;
	config_free(c);
	return n;
}

/*
 * "auto" is the hard RLIMIT_NOFILE less a quarter (files in flight, what
 * the caches keep when clients take the rest), the listeners and a margin
 * of 64, whatever the caches' size: they give descriptors back when the
 * process runs short. Their "auto" (the default) is half the limit, shared
 * by every site's caches on every reactor.
 */
START_TEST(max_connections_auto)
{
	char		 err[CONFIG_ERROR_MAX];
	struct config	*c;
	struct rlimit	 nofile;
	struct config_overrides running = { .reactors = 2 };

	/* Check runs each test in a child of its own: the limit is ours. */
	nofile.rlim_cur = nofile.rlim_max = 20000;
	if (setrlimit(RLIMIT_NOFILE, &nofile) == -1) {
		fprintf(stderr, "max_connections_auto: skipped, the hard "
		    "RLIMIT_NOFILE is below 20000 and cannot be raised\n");
		return;
	}

	ck_assert_uint_eq(auto_connections(""), 20000 - 5000 - 1 - 64);
	ck_assert_uint_eq(auto_connections("max_connections = \"auto\";\n"
	    "listen = [ \"127.0.0.1:1\", \"127.0.0.1:2\" ];\n"
	    "metrics_listen = \"127.0.0.1:3\";\n"),
	    20000 - 5000 - 3 - 64);
	ck_assert_uint_eq(auto_connections("servers = ( { names = [\"a\"]; },\n"
	    "  { names = [\"b\"]; } );\n"), 20000 - 5000 - 1 - 64);
	ck_assert_uint_eq(auto_connections("open_file_cache_max = 0;\n"),
	    20000 - 5000 - 1 - 64);
	ck_assert_uint_eq(auto_connections("open_file_cache_max = 50000;\n"),
	    20000 - 5000 - 1 - 64);
	/* Each reactor has its own listener descriptors. */
	ck_assert_uint_eq(auto_connections("reactors = 2;\n"),
	    20000 - 5000 - 2 * 1 - 64);

	/*
	 * A reload passes the reactors running: the file's count waits for a
	 * restart, and "auto" is worked out with the running one.
	 */
	write_conf("reactors = 1;\n");
	c = config_load(path, &running, err, sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->reactors, 2);
	ck_assert_uint_eq(c->reactors_asked, 1);
	ck_assert_uint_eq(c->open_file_cache_max, 5000);
	ck_assert_uint_eq(c->max_connections, 20000 - 5000 - 2 * 1 - 64);
	config_free(c);

	write_conf("reactors = 1;\nmax_connections = 7;\n");
	c = config_load(path, NULL, err, sizeof err);
	ck_assert_ptr_nonnull(c);
	ck_assert_uint_eq(c->max_connections, 7);
	ck_assert_int_eq(c->max_connections_auto, 0);
	ck_assert_uint_eq(c->open_file_cache_max, 10000);
	ck_assert_int_eq(c->open_file_cache_auto, 1);
	config_free(c);

	/* A huge limit: the caches stop at 65536 entries each. */
	nofile.rlim_cur = nofile.rlim_max = 1 << 20;
	if (setrlimit(RLIMIT_NOFILE, &nofile) == 0) {
		write_conf("reactors = 1;\nopen_file_cache_max = \"auto\";\n");
		c = config_load(path, NULL, err, sizeof err);
		ck_assert_ptr_nonnull(c);
		ck_assert_uint_eq(c->open_file_cache_max, 65536);
		config_free(c);
	}
}
END_TEST

/* The TLS keys: listeners, pairs per site, the shared settings. */
START_TEST(tls_keys)
{
	char		 err[CONFIG_ERROR_MAX], want[4200];
	struct config	*c;

	c = config_load(NULL, NULL, err, sizeof err);
	ck_assert_ptr_nonnull(c);
	ck_assert_int_eq(c->listen[0].tls, 0);
	ck_assert_uint_eq(c->tls.protocols, CONFIG_TLS_1_2 | CONFIG_TLS_1_3);
	ck_assert_uint_eq(c->tls.handshake_timeout_ms, 10000);
	ck_assert_ptr_null(c->tls.ciphers);
	ck_assert_int_eq(c->tls.session_tickets, 1);
	ck_assert_uint_eq(c->sites[0].tls_certificate.count, 0);
	config_free(c);

	write_conf("listen = [ \"127.0.0.1:80\", \"[::1]:443   tls\" ];\n"
	    "tls_certificate = [ \"ec.pem\", \"/etc/rsa.pem\" ];\n"
	    "tls_certificate_key = [ \"ec.key\", \"/etc/rsa.key\" ];\n"
	    "tls_protocols = \"TLSv1.3\";\n"
	    "tls_ciphers = \"ECDHE-ECDSA-AES128-GCM-SHA256\";\n"
	    "tls_groups = \"X25519\";\n"
	    "tls_handshake_timeout_ms = 2500;\n"
	    "tls_session_tickets = false;\n"
	    "servers = (\n"
	    "  { names = [ \"a.test\" ];\n"
	    "    tls_certificate = \"a.pem\"; tls_certificate_key = \"a.key\"; },\n"
	    "  { names = [ \"b.test\" ]; }\n"
	    ");\n");
	c = config_load(path, NULL, err, sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_str_eq(c->path, path);
	ck_assert_int_eq(c->listen[0].tls, 0);
	ck_assert_int_eq(c->listen[1].tls, 1);
	ck_assert_str_eq(c->listen[1].host, "::1");
	ck_assert_str_eq(c->listen[1].port, "443");
	ck_assert_uint_eq(c->sites[0].tls_certificate.count, 2);
	snprintf(want, sizeof want, "%s/ec.pem", dir);
	ck_assert_str_eq(c->sites[0].tls_certificate.paths[0], want);
	ck_assert_str_eq(c->sites[0].tls_certificate_key.paths[1],
	    "/etc/rsa.key");
	ck_assert_int_eq(c->sites[0].tls_line, 3);
	ck_assert_uint_eq(c->tls.protocols, CONFIG_TLS_1_3);
	ck_assert_str_eq(c->tls.ciphers, "ECDHE-ECDSA-AES128-GCM-SHA256");
	ck_assert_int_eq(c->tls.ciphers_line, 5);
	ck_assert_int_eq(c->tls.groups_line, 6);
	ck_assert_int_eq(c->tls.ciphersuites_line, 0);
	ck_assert_uint_eq(c->tls.handshake_timeout_ms, 2500);
	ck_assert_int_eq(c->tls.session_tickets, 0);
	/* A block's own pair, or none: the default site's (tls.c). */
	snprintf(want, sizeof want, "%s/a.key", dir);
	ck_assert_str_eq(c->sites[1].tls_certificate_key.paths[0], want);
	ck_assert_int_eq(c->sites[1].tls_line, 11);
	ck_assert_uint_eq(c->sites[2].tls_certificate.count, 0);
	config_free(c);
}
END_TEST

/* redirect_https: true is 443, a number its port; blocks inherit it. */
START_TEST(redirect_https)
{
	char err[CONFIG_ERROR_MAX];
	struct config *c;

	write_conf(
	    "redirect_https = 8443;\n"
	    "servers = ( { names = [ \"a.test\" ]; },\n"
	    "  { names = [ \"b.test\" ]; redirect_https = true; },\n"
	    "  { names = [ \"c.test\" ]; redirect_https = false; } );\n");
	c = config_load(path, NULL, err, sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->sites[0].redirect_https, 8443);
	ck_assert_uint_eq(c->sites[1].redirect_https, 8443);
	ck_assert_uint_eq(c->sites[2].redirect_https, 443);
	ck_assert_uint_eq(c->sites[3].redirect_https, 0);
	config_free(c);

	write_conf("\nredirect_https = \"yes\";\n");
	ck_assert_ptr_null(config_load(path, NULL, err, sizeof err));
	ck_assert_msg(strstr(err,
			  "coserve.conf:2: redirect_https must be "
			  "true, false or a port") != NULL,
	    "%s", err);
	write_conf("redirect_https = 65536;\n");
	ck_assert_ptr_null(config_load(path, NULL, err, sizeof err));
	ck_assert_msg(strstr(err,
			  "coserve.conf:1: redirect_https must be "
			  "between 1 and 65535") != NULL,
	    "%s", err);
}
END_TEST

/* -C and -K: the default site's pair, and the -l listeners are TLS. */
START_TEST(tls_overrides)
{
	char			 err[CONFIG_ERROR_MAX];
	struct config_overrides	 o = { NULL, NULL, { "127.0.0.1:0", "[::1]:0" },
	    2, 0, "c.pem", "k.pem" };
	struct config		*c;

	write_conf("listen = [ \"127.0.0.1:443 tls\", \"127.0.0.1:80\" ];\n"
	    "tls_certificate = \"file.pem\";\ntls_certificate_key = \"f.key\";\n");
	c = config_load(path, &o, err, sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(c->listen_count, 2);
	ck_assert_int_eq(c->listen[0].tls, 1);
	ck_assert_int_eq(c->listen[1].tls, 1);
	ck_assert_uint_eq(c->sites[0].tls_certificate.count, 1);
	ck_assert_str_eq(c->sites[0].tls_certificate.paths[0], "c.pem");
	ck_assert_str_eq(c->sites[0].tls_certificate_key.paths[0], "k.pem");
	ck_assert_int_eq(c->sites[0].tls_line, 0);
	config_free(c);

	/* -l alone is plain, whatever the file's listeners were. */
	o.tls_certificate = o.tls_certificate_key = NULL;
	o.listen_count = 1;
	c = config_load(path, &o, err, sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_int_eq(c->listen[0].tls, 0);
	config_free(c);

	/* No file: -C and -K make the default listener TLS. */
	o.listen_count = 0;
	o.tls_certificate = "c.pem";
	o.tls_certificate_key = "k.pem";
	c = config_load(NULL, &o, err, sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_int_eq(c->listen[0].tls, 1);
	config_free(c);

	o.tls_certificate_key = NULL;
	ck_assert_ptr_null(config_load(NULL, &o, err, sizeof err));
	ck_assert_msg(strstr(err, "-C and -K") != NULL, "%s", err);
}
END_TEST

/* systemd's LoadCredential=: a path missing as given, by its base name. */
START_TEST(tls_credentials)
{
	char		 err[CONFIG_ERROR_MAX], cred[4300], creds[4200];
	struct config	*c;
	FILE		*f;

	snprintf(creds, sizeof creds, "%s/creds", dir);
	ck_assert_int_eq(mkdir(creds, 0700), 0);
	snprintf(cred, sizeof cred, "%s/site.key", creds);
	ck_assert_ptr_nonnull(f = fopen(cred, "w"));
	fclose(f);
	ck_assert_int_eq(setenv("CREDENTIALS_DIRECTORY", creds, 1), 0);
	write_conf("tls_certificate = \"/nonexistent/site.pem\";\n"
	    "tls_certificate_key = \"/nonexistent/site.key\";\n");
	c = config_load(path, NULL, err, sizeof err);
	unsetenv("CREDENTIALS_DIRECTORY");
	unlink(cred);
	rmdir(creds);
	ck_assert_msg(c != NULL, "%s", err);
	/* Found there; not there: left as given, for tls.c's error. */
	ck_assert_str_eq(c->sites[0].tls_certificate_key.paths[0], cred);
	ck_assert_str_eq(c->sites[0].tls_certificate.paths[0],
	    "/nonexistent/site.pem");
	config_free(c);
}
END_TEST

/* SNI and Host pick a site alike: exact names first, then wildcards. */
START_TEST(site_find)
{
	char		 err[CONFIG_ERROR_MAX];
	struct config	*c;

	write_conf("servers = ( { names = [ \"*.example.com\" ]; },\n"
	    "  { names = [ \"www.example.com\", \"b.test\" ]; } );\n");
	c = config_load(path, NULL, err, sizeof err);
	ck_assert_msg(c != NULL, "%s", err);
	ck_assert_uint_eq(config_site_find(c, "www.example.com", 15), 2);
	ck_assert_uint_eq(config_site_find(c, "WWW.Example.COM", 15), 2);
	ck_assert_uint_eq(config_site_find(c, "x.example.com", 13), 1);
	ck_assert_uint_eq(config_site_find(c, "example.com", 11), 0);
	ck_assert_uint_eq(config_site_find(c, "b.test:80", 6), 2);
	ck_assert_uint_eq(config_site_find(c, "other", 5), 0);
	config_free(c);
}
END_TEST

/* reactors: a count, or "auto" for the CPUs this process may run on. */
START_TEST(reactors)
{
	char		 err[CONFIG_ERROR_MAX];
	struct config	*c;
	cpu_set_t	 set;

	write_conf("reactors = 3;\n");
	ck_assert_ptr_nonnull(c = config_load(path, NULL, err, sizeof err));
	ck_assert_uint_eq(c->reactors, 3);
	ck_assert_int_eq(c->reactors_auto, 0);
	config_free(c);

	write_conf("reactors = \"auto\";\n");
	ck_assert_ptr_nonnull(c = config_load(path, NULL, err, sizeof err));
	ck_assert_int_eq(sched_getaffinity(0, sizeof set, &set), 0);
	ck_assert_uint_eq(c->reactors, (unsigned)CPU_COUNT(&set));
	ck_assert_int_eq(c->reactors_auto, 1);
	config_free(c);

	write_conf("\nreactors = 0;\n");
	ck_assert_ptr_null(config_load(path, NULL, err, sizeof err));
	ck_assert_msg(strstr(err, ":2: reactors must be between 1 and 64") !=
	    NULL, "%s", err);
	write_conf("reactors = 65;\n");
	ck_assert_ptr_null(config_load(path, NULL, err, sizeof err));
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("config");
	TCase	*tc = tcase_create("config");
	SRunner	*sr;
	int	 failed;

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, defaults);
	tcase_add_test(tc, reactors);
	tcase_add_test(tc, full_file);
	tcase_add_test(tc, overrides_win);
	tcase_add_loop_test(tc, bad_files, 0, sizeof bad / sizeof bad[0]);
	tcase_add_test(tc, sites);
	tcase_add_test(tc, head_max_alone);
	tcase_add_test(tc, missing_file);
	tcase_add_test(tc, listen_forms);
	tcase_add_test(tc, max_connections_auto);
	tcase_add_test(tc, tls_keys);
	tcase_add_test(tc, redirect_https);
	tcase_add_test(tc, tls_overrides);
	tcase_add_test(tc, tls_credentials);
	tcase_add_test(tc, site_find);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
