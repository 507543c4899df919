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

#define DEFAULT_CONFIG	SYSCONFDIR "/coserve/coserve.conf"
/*
 * Descriptors beside the client sockets: listeners, logs, the pool's
 * eventfd, the event base, files in flight outside the open-file cache.
 */
#define NOFILE_MARGIN	64

static void
usage(FILE *out)
{
	fprintf(out,
	    "usage: coserve [-htV] [-c file] [-l address:port]... [-r root] "
	    "[-u user]\n"
	    "  -c file  configuration file (default " DEFAULT_CONFIG ")\n"
	    "  -l addr  listen on address:port, e.g. 127.0.0.1:8080 or "
	    "[::1]:8080;\n"
	    "           may be repeated; replaces the file's listen list\n"
	    "  -r root  serve this directory, replacing the file's root\n"
	    "  -u user  after start-up as root, run as this user (\"root\" to\n"
	    "           stay root); replaces the file's user\n"
	    "  -t       check the configuration and exit\n"
	    "  -V       print the version and exit\n"
	    "  -h       print this help and exit\n"
	    "With -r or -l and no -c, no configuration file is read.\n");
}

int
main(int argc, char **argv)
{
	struct config_overrides	 o = { 0 };
	struct config		*cfg;
	struct server		*s;
	struct docroot		*root;
	const char		*path = NULL;
	char			 err[CONFIG_ERROR_MAX];
	char			*user = NULL, *group = NULL;
	struct rlimit		 nofile;
	int			 ch, test = 0, rc, drop;
	size_t			 i;

	log_init(LOG_LEVEL_INFO);
	/* Reads the zone file now, not on the reactor at the first log line. */
	tzset();
	/*
	 * Connections and the open-file cache each hold a descriptor: take
	 * the hard limit rather than fail at the soft one (often 1024).
	 */
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 &&
	    nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &nofile);
	}
	while ((ch = getopt(argc, argv, "c:hl:r:tu:V")) != -1) {
		switch (ch) {
		case 'c':
			path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		case 'l':
			if (o.listen_count == CONFIG_LISTEN_MAX)
				fatalx("-l: at most %d addresses",
				    CONFIG_LISTEN_MAX);
			o.listen[o.listen_count++] = optarg;
			break;
		case 'r':
			o.root = optarg;
			break;
		case 't':
			test = 1;
			break;
		case 'u':
			o.user = optarg;
			break;
		case 'V':
			printf("%s %s\n", PACKAGE_NAME, PACKAGE_VERSION);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 1;
	}
	/* Quick use: -r or -l alone means built-in defaults, no file. */
	if (path == NULL && o.root == NULL && o.listen_count == 0)
		path = DEFAULT_CONFIG;

	if ((cfg = config_load(path, &o, err, sizeof err)) == NULL) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	log_set_level(cfg->log_level);
	/* Refused before anything is bound or opened. */
	if ((drop = privilege_check(cfg->user, cfg->group, err,
	    sizeof err)) == -1) {
		fprintf(stderr, "%s: %s\n", path != NULL ? path : "coserve", err);
		config_free(cfg);
		return 1;
	}
	if (test) {
		/* Roots are part of the configuration: check they open. */
		for (i = 0; i < cfg->site_count; i++) {
			if ((root = docroot_open(cfg, &cfg->sites[i], NULL,
			    NULL, err, sizeof err)) == NULL) {
				fprintf(stderr, "%s: %s\n", path != NULL ?
				    path : "(defaults)", err);
				config_free(cfg);
				return 1;
			}
			docroot_close(root);
		}
		printf("%s: configuration ok\n", path != NULL ? path :
		    "(defaults)");
		config_free(cfg);
		return 0;
	}
	/* Past the limit, accept fails with EMFILE and backs off. */
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 &&
	    nofile.rlim_cur != RLIM_INFINITY &&
	    (rlim_t)cfg->max_connections + cfg->open_file_cache_max +
	    NOFILE_MARGIN > nofile.rlim_cur)
		log_warnx("max_connections %u and open_file_cache_max %u need "
		    "about %llu descriptors, but the limit is %llu: raise "
		    "the hard limit (LimitNOFILE=, ulimit -Hn)",
		    cfg->max_connections, cfg->open_file_cache_max,
		    (unsigned long long)cfg->max_connections +
		    cfg->open_file_cache_max + NOFILE_MARGIN,
		    (unsigned long long)nofile.rlim_cur);
	if (drop == 0 && (user = strdup(cfg->user)) == NULL)
		fatal("strdup");
	if (drop == 0 && cfg->group != NULL &&
	    (group = strdup(cfg->group)) == NULL)
		fatal("strdup");
	if ((s = server_create(cfg, path, &o)) == NULL)
		return 1;
	/* Sockets bound, roots and logs open: root is no longer needed. */
	if (drop == 0) {
		if (privilege_drop(user, group, err, sizeof err) == -1)
			fatalx("%s", err);
		log_info("running as %s", user);
	} else if (geteuid() == 0)
		log_warnx("running as root, as configured");
	free(user);
	free(group);
	rc = server_run(s);
	server_free(s);
	return rc;
}
