/*
 * Path resolution: from a normalised request path to an open regular file
 * (or, with autoindex, a directory to list) beneath a document root. It
 * is tried on the reactor from the kernel's caches alone, and otherwise
 * is one I/O pool job, where blocking on storage is allowed. Everything a
 * site's policies say about which names may be served is decided here.
 */
#ifndef RESOLVE_H
#define RESOLVE_H

#include <limits.h>
#include <stddef.h>
#include <sys/stat.h>

#include "encoding.h"
#include "httpdate.h"
#include "iopool.h"
#include "precond.h"

struct config;
struct filecache;
struct filecache_entry;
struct mime_table;
struct site_config;
struct path;

/* What a site serves from; built at start-up, read-only afterwards. */
struct docroot {
	int fd;				/* O_PATH directory */
	int use_openat2;		/* else check /proc/self/fd */
	int use_cached;			/* openat2 knows RESOLVE_CACHED */
	int local;			/* on a local filesystem, */
	dev_t dev;			/* this one */
	char *real;			/* its canonical path */
	const char *index;		/* site->index */
	const struct site_config *site; /* borrowed from the config */
	const struct mime_table *mime;	/* borrowed, shared by sites */
	size_t chunk_bytes;
	size_t sendfile_min_bytes; /* 0: never */
	/*
	 * An open-file cache per reactor, indexed by reactor, each made on
	 * its reactor's first use and touched by that reactor only, so a
	 * lookup takes no lock. NULL: no cache.
	 */
	struct filecache **caches;
	unsigned cache_max;
	unsigned cache_ttl_ms;
	size_t cache_body_bytes;
	struct iopool *pool;
};

/*
 * The calling reactor's open-file cache for root, made on first use; NULL
 * with no cache (or no memory for one: files are then opened each time).
 */
struct filecache *docroot_cache(const struct docroot *);
/*
 * The calling reactor's cache for root answers a shortage now
 * (filecache_shed), or with retire, once a reload has replaced root,
 * gives back every descriptor and keeps no more (filecache_retire).
 */
void docroot_shed(const struct docroot *, int retire);

/*
 * Whether the reactor may sendfile st's file from the page cache: only
 * on the root's own filesystem, and that a local one, whose reads of
 * cached pages never wait on a server (docroot_probe).
 */
int docroot_local(const struct docroot *, const struct stat *st);

/*
 * Opens site's root at start-up or for a reload; NULL with err set. pool
 * (may be NULL: no open-file cache) closes what the cache lets go.
 */
struct docroot *docroot_open(const struct config *,
    const struct site_config *site, const struct mime_table *mime,
    struct iopool *pool, char *err, size_t errlen);
void docroot_close(struct docroot *);

enum resolve_result {
	RESOLVE_FILE,	  /* fd and st describe a regular file */
	RESOLVE_REDIRECT, /* a directory named without its trailing slash */
	RESOLVE_LISTING,  /* fd is the directory to list (autoindex) */
	RESOLVE_FAILED	  /* status says which error to send */
};

struct resolution {
	struct iojob job;
	const struct docroot *root;
	const struct path *path;
	/* Results, set by the worker. */
	enum resolve_result result;
	int status;
	int fd;
	struct stat st;
	char name[NAME_MAX + 1]; /* for the media type */
	/* Validators, formatted once per open and kept by the file cache. */
	char etag[PRECOND_ETAG_MAX];
	char last_modified[HTTPDATE_LEN + 1];
	const char *type;  /* Content-Type */
	unsigned encoding; /* a sidecar's ENCODING_*, or 0 */
	/*
	 * A small file's bytes, read by the job that opened it so that its
	 * answer needs no second job: malloc'd, the caller's, at most
	 * read_max bytes for each request in flight. NULL when read_max was
	 * 0 or the file is larger, or no job was needed.
	 */
	void *body;
	/* Input: sidecar encodings the client takes, best first. */
	unsigned accept[ENCODING_COUNT];
	size_t accept_count;
	size_t read_max; /* the largest file whose bytes the job reads */
};

/*
 * For listing.c, on a worker: opens rel beneath root as a resolution
 * would (symlink policy included); an fd, or -1 with errno.
 */
int resolve__open_beneath(const struct docroot *root, const char *rel);

/*
 * Prepares res to resolve path under root, looking for the sidecars the
 * Accept-Encoding value allows (NULL: none); then await_job(&res->job).
 */
void resolve_init(struct resolution *res, const struct docroot *root,
    const struct path *path, const char *accept_encoding, size_t accept_len);

/*
 * On the reactor: resolves res from what the kernel has in memory, with
 * no call that can wait for storage (openat2 RESOLVE_CACHED, statx
 * AT_STATX_DONT_SYNC). 0 when res is resolved, whatever the answer; -1
 * when only the pool can answer: then await_job(&res->job), as if this
 * had not been tried.
 */
int resolve_cached(struct resolution *res);

/*
 * The root's open-file cache, under key (filecache_key): a hit fills res
 * as a RESOLVE_FILE job would, with no job at all, and returns the entry,
 * referenced until filecache_release(); NULL on a miss or with no cache.
 */
struct filecache_entry *resolve_cache_lookup(
    struct resolution *res, const char *key);
/*
 * Hands a RESOLVE_FILE result, its validators made, to the cache, which
 * takes over res->fd: the entry, referenced, or NULL when it could not be
 * cached and res->fd stays the caller's. After a lookup miss that ends in
 * no insert, resolve_cache_forget() (filecache_forget).
 */
struct filecache_entry *resolve_cache_insert(
    const struct resolution *res, const char *key);
void resolve_cache_forget(const struct resolution *res, const char *key);

#endif
