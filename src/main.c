/*
 * coserve: command line, configuration and start-up. Everything that runs
 * after start-up lives in server.c and below.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "privilege.h"
#include "resolve.h"
#include "log.h"
#include "server.h"
#include "tls.h"

#define DEFAULT_CONFIG SYSCONFDIR "/coserve/coserve.conf"

/* What the command line asks for. */
struct options {
	struct config_overrides overrides;
	const char *path; /* NULL: built-in defaults */
	int test;	  /* -t */
};

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: coserve [-htV] [-c file] [-l address:port]... [-r root] "
	    "[-u user]\n"
	    "               [-C certfile -K keyfile]\n"
	    "  -c file  configuration file (default " DEFAULT_CONFIG ")\n"
	    "  -l addr  listen on address:port, e.g. 127.0.0.1:8080 or "
	    "[::1]:8080;\n"
	    "           may be repeated; replaces the file's listen list\n"
	    "  -r root  serve this directory, replacing the file's root\n"
	    "  -C cert  TLS certificate chain (PEM, leaf first) and\n"
	    "  -K key   its key: the -l listeners speak HTTPS; replace the\n"
	    "           file's tls_certificate and tls_certificate_key\n"
	    "  -u user  after start-up as root, run as this user (\"root\" to\n"
	    "           stay root); replaces the file's user\n"
	    "  -t       check the configuration and exit\n"
	    "  -V       print the version and exit\n"
	    "  -h       print this help and exit\n"
	    "With -r, -l or -C and -K, and no -c, no configuration file is "
	    "read.\n");
}

/*
 * Fills opt from the command line. Returns -1 to go on, or the status to
 * exit with at once (-h, -V, a usage error).
 */
static int
parse_options(int argc, char **argv, struct options *opt)
{
	struct config_overrides *o = &opt->overrides;
	int ch;

	while ((ch = getopt(argc, argv, "C:c:hK:l:r:tu:V")) != -1) {
		switch (ch) {
		case 'C':
			o->tls_certificate = optarg;
			break;
		case 'c':
			opt->path = optarg;
			break;
		case 'K':
			o->tls_certificate_key = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'l':
			if (o->listen_count == CONFIG_LISTEN_MAX)
				fatalx("-l: at most %d addresses",
				    CONFIG_LISTEN_MAX);
			o->listen[o->listen_count++] = optarg;
			break;
		case 'r':
			o->root = optarg;
			break;
		case 't':
			opt->test = 1;
			break;
		case 'u':
			o->user = optarg;
			break;
		case 'V':
			printf("%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc ||
	    (o->tls_certificate == NULL) != (o->tls_certificate_key == NULL)) {
		usage(stderr);
		return 1;
	}
	/* Quick use: -r, -l or -C alone means built-in defaults, no file. */
	if (opt->path == NULL && o->root == NULL && o->listen_count == 0 &&
	    o->tls_certificate == NULL)
		opt->path = DEFAULT_CONFIG;
	return -1;
}

/*
 * Connections and the open-file caches each hold a descriptor: take the
 * hard limit rather than fail at the soft one (often 1024). max_connections
 * "auto" is worked out from the hard limit on this promise.
 */
static void
nofile_raise(void)
{
	struct rlimit nofile;

	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 &&
	    nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
}

/* Past the limit, accept fails with EMFILE and backs off: say so now. */
static void
nofile_check(const struct config *cfg)
{
	struct rlimit nofile;
	unsigned long long need;

	need = cfg->max_connections + config_nofile_reserved(cfg);
	if (cfg->open_file_cache_auto)
		log_info(
		    "open_file_cache_max auto: %u", cfg->open_file_cache_max);
	if (cfg->max_connections_auto)
		log_info("max_connections auto: %u", cfg->max_connections);
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 &&
	    nofile.rlim_cur != RLIM_INFINITY && need > nofile.rlim_cur)
		log_warnx("max_connections %u and the files they are served "
			  "need about %llu descriptors, but the limit is "
			  "%llu: raise the hard limit (LimitNOFILE=, ulimit "
			  "-Hn)",
		    cfg->max_connections, need,
		    (unsigned long long)nofile.rlim_cur);
}

/*
 * -t: the configuration loads, every root opens, every certificate and
 * key loads and each key matches its certificate.
 */
static int
check_only(const struct config *cfg, const char *path)
{
	struct docroot *root;
	struct tls *tls;
	char err[CONFIG_ERROR_MAX];
	size_t i;

	for (i = 0; i < cfg->site_count; i++) {
		if ((root = docroot_open(cfg, &cfg->sites[i], NULL, NULL, err,
			 sizeof err)) == NULL) {
			fprintf(stderr, "%s: %s\n",
			    path != NULL ? path : "(defaults)", err);
			return 1;
		}
		docroot_close(root);
	}
	if (cfg->sites[0].tls_certificate.count > 0) {
		/* Its errors say where: "file:line: ..." or -C and -K. */
		if ((tls = tls_create(cfg, NULL, err, sizeof err)) == NULL) {
			fprintf(stderr, "%s\n", err);
			return 1;
		}
		tls_free(tls);
	}
	printf("%s: configuration ok\n", path != NULL ? path : "(defaults)");
	return 0;
}

/*
 * Creates the server, then drops privileges when drop (privilege_check)
 * says to: sockets are bound and roots and logs open by then. Takes cfg.
 */
static struct server *
start(struct config *cfg, const struct options *opt, int drop)
{
	struct server *s;
	char err[CONFIG_ERROR_MAX];
	char *user = NULL, *group = NULL;

	/* cfg belongs to the server from here on: keep what the drop needs. */
	if (drop == 0 && (user = strdup(cfg->user)) == NULL)
		fatal("strdup");
	if (drop == 0 && cfg->group != NULL &&
	    (group = strdup(cfg->group)) == NULL)
		fatal("strdup");
	if ((s = server_create(cfg, opt->path, &opt->overrides)) == NULL)
		goto out;
	if (drop == 0) {
		if (privilege_drop(user, group, err, sizeof err) == -1)
			fatalx("%s", err);
		log_info("running as %s", user);
	} else if (geteuid() == 0)
		log_warnx("running as root, as configured");
out:
	free(user);
	free(group);
	return s;
}

int
main(int argc, char **argv)
{
	struct options opt = { 0 };
	struct config *cfg;
	struct server *s;
	char err[CONFIG_ERROR_MAX];
	int rc, drop;

	log_init(LOG_LEVEL_INFO);
	/* Reads the zone file now, not on the reactor at the first log line. */
	tzset();
	nofile_raise();
	if ((rc = parse_options(argc, argv, &opt)) != -1)
		return rc;
	if ((cfg = config_load(opt.path, &opt.overrides, err, sizeof err)) ==
	    NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	log_set_level(cfg->log_level);
	/* Refused before anything is bound or opened. */
	if ((drop = privilege_check(cfg->user, cfg->group, err, sizeof err)) ==
	    -1) {
		fprintf(stderr, "%s: %s\n",
		    opt.path != NULL ? opt.path : "coserve", err);
		config_free(cfg);
		return 1;
	}
	if (opt.test) {
		rc = check_only(cfg, opt.path);
		config_free(cfg);
		return rc;
	}
	nofile_check(cfg);
	if ((s = start(cfg, &opt, drop)) == NULL)
		return 1;
	rc = server_run(s);
	server_free(s);
	return rc;
}
