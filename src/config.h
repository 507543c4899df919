/*
 * The daemon's configuration: the only module that talks to libconfig. It
 * turns a file (and command-line overrides) into a validated struct that is
 * never modified afterwards; a reload builds a new one.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stddef.h>

#include "log.h"

#define CONFIG_LISTEN_MAX	16
#define CONFIG_ERROR_MAX	512

struct config_listen {
	char		 host[64];	/* numeric address, "" for any */
	char		 port[8];
};

struct config {
	struct config_listen listen[CONFIG_LISTEN_MAX];
	size_t		 listen_count;
	char		*root;
	char		*index;
	unsigned	 io_threads;
	unsigned	 io_queue_max;
	unsigned	 max_connections;
	unsigned	 header_timeout_ms;
	unsigned	 keepalive_timeout_ms;
	unsigned	 send_timeout_ms;
	unsigned	 shutdown_grace_ms;
	unsigned	 chunk_bytes;
	enum log_level	 log_level;
	char		*access_log;	/* NULL: off */
	char		*mime_types;
};

/* What -r and -l put over the file (or over the built-in defaults). */
struct config_overrides {
	const char	*root;
	const char	*listen[CONFIG_LISTEN_MAX];
	size_t		 listen_count;
};

/*
 * Reads path (NULL: built-in defaults only), applies overrides and checks
 * every value. On failure returns NULL and writes "file:line: message" into
 * err.
 */
struct config	*config_load(const char *path, const struct config_overrides *,
		    char *err, size_t errlen);
void		 config_free(struct config *);
/* Parses "host:port", "[v6]:port" or "*:port" into l; 0 or -1. */
int		 config_parse_listen(const char *text, struct config_listen *l);

#endif
