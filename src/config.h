/*
 * The daemon's configuration: the only module that talks to libconfig. It
 * turns a file (and command-line overrides) into a validated struct that is
 * never modified afterwards; a reload builds a new one.
 *
 * Settings come in two scopes. Global ones (listeners, threads, timeouts,
 * logs) exist once. Site ones (root, index, policies, headers, error pages)
 * describe what one virtual host serves: the top level of the file is the
 * default site, and each entry of `servers` is a site selected by Host that
 * starts from the default site's values.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <limits.h>
#include <stddef.h>

#include "encoding.h"
#include "log.h"
#include "request.h"
#include "response.h"

#define CONFIG_LISTEN_MAX 16
#define CONFIG_ERROR_MAX 512
#define CONFIG_SITES_MAX 64
#define CONFIG_NAMES_MAX 16
#define CONFIG_RULES_MAX 64
#define CONFIG_ADD_MAX 16
#define CONFIG_ERROR_PAGES_MAX 32
#define CONFIG_MIME_MAX 256
#define CONFIG_CONNECTIONS_MAX (1 << 20) /* max_connections */
#define CONFIG_FILE_CACHE_AUTO_MAX 65536 /* open_file_cache_max "auto" */
/* How a KEY_UINT_AUTO key says "auto" until config_load works it out. */
#define CONFIG_AUTO UINT_MAX
#define CONFIG_REACTORS_MAX 64
/* Certificate and key pairs per site: an ECDSA and an RSA one, say. */
#define CONFIG_TLS_PAIRS_MAX 4
/* tls_protocols, as bits. */
#define CONFIG_TLS_1_2 1
#define CONFIG_TLS_1_3 2
/*
 * Descriptors beside client sockets, caches and listeners: logs, the
 * pool's eventfd, the event base, files in flight outside the caches.
 */
#define CONFIG_NOFILE_MARGIN 64

struct config_listen {
	char host[64]; /* numeric address, "" for any IPv4 */
	char port[8];
	int tls; /* "address:port tls" */
};

/* tls_certificate or tls_certificate_key: one path, or a list. */
struct tls_files {
	char *paths[CONFIG_TLS_PAIRS_MAX];
	size_t count;
};

enum symlinks_policy {
	SYMLINKS_INSIDE_ROOT, /* followed while they stay beneath the root */
	SYMLINKS_OFF	      /* never followed */
};

/* Response fields for the paths a rule matches. */
struct header_rule {
	char *match;		   /* "/prefix" or "*.ext" */
	char *cache_control;	   /* NULL: none */
	long expires_s;		   /* -1: none; else now + this */
	char *add[CONFIG_ADD_MAX]; /* "Name: value" */
	size_t add_count;
};

struct error_page {
	int status;
	char *path; /* served from the same site */
};

struct site_config {
	char *names[CONFIG_NAMES_MAX]; /* lower case; "*.x" */
	size_t name_count;	       /* 0 for the default site */
	char *root;
	char *index;
	int autoindex;
	unsigned autoindex_max_entries;
	unsigned precompressed; /* ENCODING_* bits */
	int dotfiles;		/* 1: served; 0: 404 but /.well-known/ */
	enum symlinks_policy symlinks;
	struct header_rule rules[CONFIG_RULES_MAX];
	size_t rule_count;
	struct error_page error_pages[CONFIG_ERROR_PAGES_MAX];
	size_t error_page_count;
	/*
	 * Pairs in the same order, chains leaf first; none in a server block:
	 * the default site's. tls_line: where the key is set, for errors
	 * (0: -C and -K).
	 */
	struct tls_files tls_certificate;
	struct tls_files tls_certificate_key;
	int tls_line;
	char *tls_ocsp_response; /* NULL: no stapling */
	int tls_ocsp_line;
	unsigned redirect_https; /* 0: no; else the https port */
};

/* The TLS settings every listener shares (tls.c applies them). */
struct tls_config {
	unsigned protocols; /* CONFIG_TLS_* bits */
	char *ciphers;	    /* TLS 1.2; NULL: Mozilla intermediate */
	char *ciphersuites; /* TLS 1.3; NULL: OpenSSL's */
	char *groups;	    /* NULL: X25519:prime256v1:secp384r1 */
	/* Their lines in the file, for errors only tls.c can find. */
	int ciphers_line, ciphersuites_line, groups_line;
	unsigned handshake_timeout_ms;
	int session_tickets;
	int prefer_server_ciphers;
	char *ticket_key_file; /* NULL: keys of our own */
	int ticket_key_file_line;
	unsigned ticket_key_rotate_s;
};

struct mime_override {
	char ext[16];
	char *type;
};

struct config {
	char *path; /* the file read; NULL: built-in defaults */
	struct config_listen listen[CONFIG_LISTEN_MAX];
	size_t listen_count;
	unsigned reactors;	 /* "auto" worked out at load */
	int reactors_auto;	 /* it was "auto" */
	unsigned reactors_asked; /* the file's: what a restart runs */
	unsigned io_threads;
	unsigned io_threads_max;
	unsigned io_queue_max;
	unsigned max_connections;	     /* "auto" worked out at load */
	int max_connections_auto;	     /* it was "auto" */
	unsigned max_connections_per_client; /* 0: no cap */
	unsigned keepalive_requests;	     /* 0: no limit */
	int h2;	 /* HTTP/2 by ALPN on TLS listeners */
	int h2c; /* HTTP/2 by prior knowledge on plain listeners */
	unsigned h2_max_concurrent_streams;
	unsigned h2_max_header_list_size; /* bytes, as HTTP/2 counts them */
	unsigned h2_max_buffer_bytes;	  /* body buffers per connection */
	struct request_limits request_limits;
	enum response_tokens server_tokens;
	unsigned header_timeout_ms;
	unsigned keepalive_timeout_ms;
	unsigned send_timeout_ms;
	unsigned shutdown_grace_ms;
	unsigned chunk_bytes;
	unsigned sendfile_min_bytes;  /* 0: never */
	unsigned open_file_cache_max; /* 0: no cache; "auto" worked out */
	int open_file_cache_auto;     /* it was "auto" */
	unsigned open_file_cache_ttl_ms;
	unsigned open_file_cache_bytes; /* small files' bytes, all caches */
	enum log_level log_level;
	char *access_log;	 /* NULL: off */
	char *access_log_format; /* NULL: combined */
	char *mime_types;
	char *default_type; /* NULL: application/octet-stream */
	struct mime_override mime[CONFIG_MIME_MAX];
	size_t mime_count;
	struct config_listen metrics_listen;
	int metrics_listen_set;
	char *metrics_path; /* NULL: not on the main listeners */
	char *health_path;  /* NULL: not on the main listeners */
	unsigned health_probe_interval_ms;
	unsigned health_probe_timeout_ms;
	unsigned drain_delay_ms; /* health 503 before the drain */
	char *user;		 /* to become after start-up as root */
	char *group;		 /* NULL: user's primary group */
	struct tls_config tls;
	struct site_config *sites; /* [0] is the default site */
	size_t site_count;
};

/*
 * What -r, -l, -C and -K put over the file (or over the built-in
 * defaults), and on a reload the reactors running (0: none), which only a
 * restart changes. A certificate and key make the -l listeners TLS.
 */
struct config_overrides {
	const char *user;
	const char *root;
	const char *listen[CONFIG_LISTEN_MAX];
	size_t listen_count;
	unsigned reactors;
	const char *tls_certificate;
	const char *tls_certificate_key;
};

/*
 * Reads path (NULL: built-in defaults only), applies overrides and checks
 * every value. On failure returns NULL and writes "file:line: message" into
 * err.
 */
struct config *config_load(const char *path, const struct config_overrides *,
    char *err, size_t errlen);
void config_free(struct config *);
/*
 * Descriptors kept from client connections: a quarter of the hard limit
 * for the files being served and what the open-file caches keep when
 * clients take the rest, the listeners, and CONFIG_NOFILE_MARGIN.
 * max_connections "auto" is the hard RLIMIT_NOFILE less this.
 */
unsigned long long config_nofile_reserved(const struct config *);
/* Parses "host:port", "[v6]:port" or "*:port" into l; 0 or -1. */
int config_parse_listen(const char *text, struct config_listen *l);
/*
 * The site whose names match host (len bytes, no port, no trailing dot,
 * any case): the first naming it exactly, else the first whose "*.x"
 * matches; 0, the default site, when none does.
 */
size_t config_site_find(const struct config *, const char *host, size_t len);

#endif
