/*
 * The open-file cache: descriptors and stat results of recently served
 * files, so a hot file costs no open, fstat or close at all. Bounded
 * (LRU), owned by one site's docroot, used on the reactor thread only.
 * An entry is trusted for ttl_ms after the path was last resolved, and at
 * its first use in each reactor turn its attributes (size, mtime, ctime,
 * link count) are re-read from the open descriptor with
 * statx(AT_STATX_DONT_SYNC), which never waits for
 * storage: a file rewritten in place, or unlinked or renamed over, is
 * noticed by the first request that arrives after the change.
 * Past the TTL one request resolves the path again while the others go on
 * using the entry. Bounded twice: by its size (LRU), and by the
 * process's descriptors, half of which it gives back whenever they run
 * short (filecache_short).
 * A small file's bytes can be kept with its entry, so a hit costs no read
 * either; they are as fresh as the attributes checked, since a file whose
 * ctime could still be its last write's is never kept (filecache_body).
 */
#ifndef FILECACHE_H
#define FILECACHE_H

#include <limits.h>
#include <stddef.h>
#include <sys/stat.h>

#include "httpdate.h"
#include "precond.h"

struct filecache;
struct filecache_entry;
struct iopool;

/* The largest file whose bytes an entry keeps. */
#define FILECACHE_BODY_MAX 16384
/* How long after a descriptor shortage a cache stays at what it shed to. */
#define FILECACHE_CALM_MS 1000

/* What an entry keeps of an open regular file, and gives back on a hit. */
struct filecache_file {
	int fd;
	struct stat st;
	unsigned encoding;	 /* a sidecar's ENCODING_*, or 0 */
	char name[NAME_MAX + 1]; /* for the media type */
	char etag[PRECOND_ETAG_MAX];
	char last_modified[HTTPDATE_LEN + 1];
	const char *type; /* Content-Type */
};

/*
 * NULL with max_entries 0 (no cache) or on ENOMEM. Descriptors it lets go
 * are closed by jobs on pool. body_bytes bounds the bytes every cache of
 * the process keeps together (0: none), counted in one shared total.
 */
struct filecache *filecache_create(unsigned max_entries, unsigned ttl_ms,
    size_t body_bytes, struct iopool *pool);
/* Closes every descriptor: no entry may be in use. Storage calls. */
void filecache_free(struct filecache *);

/*
 * A fresh entry for key: fills file and returns the entry, referenced;
 * NULL on a miss. file->fd is the entry's, good while the reference is.
 * A miss may be the one that revalidates an entry past its TTL: the
 * caller then inserts what it resolved, or calls filecache_forget().
 * turn is the caller's reactor's (reactor.h), or 0 for none: an entry
 * checked at the same turn is not checked again, since every request
 * served at that turn had arrived before the check.
 */
struct filecache_entry *filecache_lookup(struct filecache *, const char *key,
    unsigned long turn, struct filecache_file *file);
/*
 * Takes over file->fd and returns the entry, referenced. NULL when it
 * could not be cached: file->fd stays the caller's.
 */
struct filecache_entry *filecache_insert(
    struct filecache *, const char *key, const struct filecache_file *file);
/*
 * After a miss that resolved no file to insert (or could not insert it):
 * an entry being revalidated under key is dropped, so the others stop
 * using it. Any other entry stays.
 */
void filecache_forget(struct filecache *, const char *key);
/*
 * The whole file's bytes, good while the reference is: kept ones, or read
 * now with preadv2(RWF_NOWAIT) and kept (*read set to 1). NULL when the
 * file is empty or larger than FILECACHE_BODY_MAX, the bytes are not all
 * in the page cache, the budget is spent, or the ctime is within two
 * seconds of now: a write in the same timestamp tick as the last change
 * would leave it as it is, and the check at the next turn could not see
 * that the bytes are stale.
 */
const void *filecache_body(
    struct filecache *, struct filecache_entry *, int *read);
/* The bytes every cache keeps, for the metrics. */
size_t filecache_body_total(void);
/*
 * The process ran out of descriptors (EMFILE or ENFILE): any thread may
 * say so. Every cache then gives back half its entries at its next use,
 * and grows again only once FILECACHE_CALM_MS pass without another
 * shortage, so the caches may hold descriptors the clients are not using
 * and still never keep a client out for long.
 */
void filecache_short(void);
/* Gives back what a shortage since its last use asks (NULL: nothing). */
void filecache_shed(struct filecache *);
/*
 * For a configuration a reload replaced, whose connections still finish:
 * every entry goes now (those in use when released), and none is kept.
 */
void filecache_retire(struct filecache *);
/* Drops a reference; an evicted entry's descriptor is closed on the pool. */
void filecache_release(struct filecache *, struct filecache_entry *);
/* The longest key, NUL included, that a caller need make room for. */
#define FILECACHE_KEY_MAX 1024
/*
 * Builds the key for a path and the encodings a client takes; "" (not
 * cached) when it would not fit size bytes.
 */
size_t filecache_key(char *buf, size_t size, const char *rel,
    int trailing_slash, const unsigned *accept, size_t accept_count);

#endif
