/*
 * Open-file cache. Entries live in a chained hash table and an LRU list.
 * An entry holds one reference for being in the table and one per request
 * streaming from it; pread with explicit offsets lets requests share the
 * descriptor. Eviction unlinks the entry and drops the table's reference;
 * the last reference closes the descriptor, as an I/O pool job, since a
 * close may wait for storage. Kept bodies are counted in one total for
 * the process, since each reactor has caches of its own for each site.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "filecache.h"
#include "iopool.h"
#include "monotime.h"

struct filecache_entry {
	struct filecache_entry *hash_next;
	struct filecache_entry *lru_prev, *lru_next; /* most recent first */
	unsigned refs;
	int cached;	  /* still in the table */
	int revalidating; /* past its TTL, one request resolving it again */
	long resolved_ms;
	unsigned long checked; /* the turn of its last still_valid() */
	void *body;	       /* the file's st_size bytes, or NULL */
	struct filecache_file file;
	char key[];
};

struct filecache {
	struct filecache_entry **buckets;
	size_t nbuckets; /* a power of two */
	struct filecache_entry *lru_head, *lru_tail;
	unsigned count;
	unsigned max_entries;
	unsigned cap;		 /* max_entries, less after a shortage */
	unsigned long shortages; /* the last one it answered */
	long shed_ms;		 /* when it did */
	unsigned ttl_ms;
	size_t body_max;     /* the bound on body_total */
	struct iopool *pool; /* closes descriptors */
};

/* Bytes kept by every cache, whichever reactor's: atomics. */
static size_t body_total;
/* Descriptor shortages met by any thread (filecache_short): atomic. */
static unsigned long shortages;

/* FNV-1a: short keys, no adversary who can pick them cheaply. */
static size_t
hash(const char *key)
{
	uint64_t h = 14695981039346656037ULL;

	for (; *key != '\0'; key++)
		h = (h ^ (unsigned char)*key) * 1099511628211ULL;
	return (size_t)h;
}

struct filecache *
filecache_create(unsigned max_entries, unsigned ttl_ms, size_t body_bytes,
    struct iopool *pool)
{
	struct filecache *fc;
	size_t n = 16;

	if (max_entries == 0)
		return NULL;
	while (n < (size_t)max_entries * 2)
		n *= 2;
	if ((fc = calloc(1, sizeof *fc)) == NULL ||
	    (fc->buckets = calloc(n, sizeof *fc->buckets)) == NULL) {
		free(fc);
		return NULL;
	}
	fc->nbuckets = n;
	fc->max_entries = fc->cap = max_entries;
	fc->shortages = __atomic_load_n(&shortages, __ATOMIC_RELAXED);
	fc->ttl_ms = ttl_ms;
	fc->body_max = body_bytes;
	fc->pool = pool;
	return fc;
}

static void
lru_unlink(struct filecache *fc, struct filecache_entry *e)
{
	if (e->lru_prev != NULL)
		e->lru_prev->lru_next = e->lru_next;
	else
		fc->lru_head = e->lru_next;
	if (e->lru_next != NULL)
		e->lru_next->lru_prev = e->lru_prev;
	else
		fc->lru_tail = e->lru_prev;
	e->lru_prev = e->lru_next = NULL;
}

static void
lru_push(struct filecache *fc, struct filecache_entry *e)
{
	e->lru_prev = NULL;
	e->lru_next = fc->lru_head;
	if (fc->lru_head != NULL)
		fc->lru_head->lru_prev = e;
	fc->lru_head = e;
	if (fc->lru_tail == NULL)
		fc->lru_tail = e;
}

/* Gives back what reserve() counted. */
static void
unreserve(size_t len)
{
	__atomic_sub_fetch(&body_total, len, __ATOMIC_RELAXED);
}

static void
entry_free(struct filecache_entry *e)
{
	if (e->body != NULL) {
		free(e->body);
		unreserve((size_t)e->file.st.st_size);
	}
	free(e);
}

static void
entry_unref(struct filecache *fc, struct filecache_entry *e)
{
	if (--e->refs > 0)
		return;
	iopool_close(fc->pool, e->file.fd);
	entry_free(e);
}

/* Takes e out of the table; requests still using it keep it alive. */
static void
evict(struct filecache *fc, struct filecache_entry *e)
{
	struct filecache_entry **pp;

	for (pp = &fc->buckets[hash(e->key) & (fc->nbuckets - 1)]; *pp != e;
	     pp = &(*pp)->hash_next)
		continue;
	*pp = e->hash_next;
	lru_unlink(fc, e);
	e->cached = 0;
	fc->count--;
	entry_unref(fc, e);
}

/*
 * Whether a file's bytes may be kept: small, and changed long enough ago
 * that a write in the same timestamp tick could not go unseen.
 */
static int
keepable(const struct stat *st)
{
	struct timespec now;

	return st->st_size > 0 && st->st_size <= FILECACHE_BODY_MAX &&
	    clock_gettime(CLOCK_REALTIME_COARSE, &now) == 0 &&
	    now.tv_sec - st->st_ctim.tv_sec >= 2;
}

/* Counts len bytes against the process's bound: -1 when over it. */
static int
reserve(const struct filecache *fc, size_t len)
{
	if (__atomic_add_fetch(&body_total, len, __ATOMIC_RELAXED) <=
	    fc->body_max)
		return 0;
	unreserve(len);
	return -1;
}

/*
 * A revalidation that found the file as it was: the bytes the entry it
 * replaces kept stay kept, copied since requests may still send them.
 */
static void
inherit_body(struct filecache *fc, struct filecache_entry *e,
    const struct filecache_entry *old)
{
	const struct stat *a = &e->file.st, *b = &old->file.st;
	size_t len = (size_t)a->st_size;

	if (old->body == NULL || a->st_dev != b->st_dev ||
	    a->st_ino != b->st_ino || a->st_size != b->st_size ||
	    a->st_mtim.tv_sec != b->st_mtim.tv_sec ||
	    a->st_mtim.tv_nsec != b->st_mtim.tv_nsec ||
	    a->st_ctim.tv_sec != b->st_ctim.tv_sec ||
	    a->st_ctim.tv_nsec != b->st_ctim.tv_nsec || reserve(fc, len) == -1)
		return;
	if ((e->body = malloc(len)) == NULL) {
		unreserve(len);
		return;
	}
	memcpy(e->body, old->body, len);
}

/* Down to the cap, the least recently used first. */
static void
trim(struct filecache *fc)
{
	while (fc->count > fc->cap)
		evict(fc, fc->lru_tail);
}

void
filecache_short(void)
{
	__atomic_add_fetch(&shortages, 1, __ATOMIC_RELAXED);
}

/*
 * After a shortage the cache halves, and grows back by one entry per miss
 * once FILECACHE_CALM_MS have passed without another: a load that keeps
 * the process short keeps the cache small, and the closes go in batches.
 */
void
filecache_shed(struct filecache *fc)
{
	unsigned long n;

	if (fc == NULL ||
	    (n = __atomic_load_n(&shortages, __ATOMIC_RELAXED)) ==
		fc->shortages)
		return;
	fc->shortages = n;
	fc->cap = fc->count / 2;
	fc->shed_ms = monotime_ms();
	trim(fc);
}

void
filecache_retire(struct filecache *fc)
{
	if (fc == NULL)
		return;
	fc->max_entries = fc->cap = 0;
	trim(fc);
}

/*
 * Whether the open file is still what was resolved: same size, mtime and
 * ctime (which every write and every utimensat sets to now, so a change
 * with the old mtime put back is seen too), still linked.
 * AT_STATX_DONT_SYNC answers from the attributes in memory, so this never
 * waits for storage, even on a network filesystem.
 */
static int
still_valid(const struct filecache_entry *e)
{
	struct statx sx;

	if (statx(e->file.fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC,
		STATX_SIZE | STATX_MTIME | STATX_CTIME | STATX_NLINK,
		&sx) == -1)
		return 0;
	return sx.stx_nlink > 0 && (off_t)sx.stx_size == e->file.st.st_size &&
	    sx.stx_mtime.tv_sec == e->file.st.st_mtim.tv_sec &&
	    sx.stx_mtime.tv_nsec == (unsigned)e->file.st.st_mtim.tv_nsec &&
	    sx.stx_ctime.tv_sec == e->file.st.st_ctim.tv_sec &&
	    sx.stx_ctime.tv_nsec == (unsigned)e->file.st.st_ctim.tv_nsec;
}

struct filecache_entry *
filecache_lookup(struct filecache *fc, const char *key, unsigned long turn,
    struct filecache_file *file)
{
	struct filecache_entry *e;

	if (fc == NULL || *key == '\0')
		return NULL;
	filecache_shed(fc);
	for (e = fc->buckets[hash(key) & (fc->nbuckets - 1)]; e != NULL;
	     e = e->hash_next)
		if (strcmp(e->key, key) == 0)
			break;
	if (e == NULL)
		return NULL;
	/* Resolved again by the caller, then inserted afresh. */
	if ((turn == 0 || e->checked != turn) && !still_valid(e)) {
		evict(fc, e);
		return NULL;
	}
	e->checked = turn;
	/*
	 * Past its TTL, the first request resolves the path again (a miss),
	 * and the others keep using the entry, which is still the file it
	 * was, until that one inserts or forgets: requests arriving together
	 * do not all resolve the same path at once.
	 */
	if (!e->revalidating &&
	    monotime_ms() - e->resolved_ms > (long)fc->ttl_ms) {
		e->revalidating = 1;
		return NULL;
	}
	lru_unlink(fc, e);
	lru_push(fc, e);
	e->refs++;
	*file = e->file;
	return e;
}

struct filecache_entry *
filecache_insert(
    struct filecache *fc, const char *key, const struct filecache_file *file)
{
	struct filecache_entry *e, **bucket;
	size_t keylen = strlen(key);

	if (fc == NULL || keylen == 0 ||
	    (e = calloc(1, sizeof *e + keylen + 1)) == NULL)
		return NULL;
	/*
	 * Requests that missed together all resolve and insert: the newest
	 * resolution replaces the entry, or each would hold a descriptor of
	 * the same file and push other files out until LRU reached it.
	 */
	e->file = *file;
	bucket = &fc->buckets[hash(key) & (fc->nbuckets - 1)];
	while (*bucket != NULL && strcmp((*bucket)->key, key) != 0)
		bucket = &(*bucket)->hash_next;
	if (*bucket != NULL) {
		inherit_body(fc, e, *bucket);
		evict(fc, *bucket);
	}
	if (fc->count >= fc->cap && fc->cap < fc->max_entries &&
	    monotime_ms() - fc->shed_ms >= FILECACHE_CALM_MS)
		fc->cap++;
	memcpy(e->key, key, keylen + 1);
	e->resolved_ms = monotime_ms();
	e->refs = 2; /* the table's and the caller's */
	e->cached = 1;
	bucket = &fc->buckets[hash(key) & (fc->nbuckets - 1)];
	e->hash_next = *bucket;
	*bucket = e;
	lru_push(fc, e);
	fc->count++;
	return e;
}

void
filecache_forget(struct filecache *fc, const char *key)
{
	struct filecache_entry *e;

	if (fc == NULL || *key == '\0')
		return;
	for (e = fc->buckets[hash(key) & (fc->nbuckets - 1)]; e != NULL;
	     e = e->hash_next)
		if (strcmp(e->key, key) == 0)
			break;
	if (e != NULL && e->revalidating)
		evict(fc, e);
}

const void *
filecache_body(struct filecache *fc, struct filecache_entry *e, int *read)
{
	size_t len = (size_t)e->file.st.st_size;
	struct iovec iov;
	ssize_t n;

	if (e->body != NULL || !e->cached)
		return e->body;
	if (!keepable(&e->file.st) || reserve(fc, len) == -1)
		return NULL;
	if ((iov.iov_base = malloc(len)) == NULL)
		goto fail;
	iov.iov_len = len;
#if defined(HAVE_PREADV2) && defined(RWF_NOWAIT)
	n = preadv2(e->file.fd, &iov, 1, 0, RWF_NOWAIT);
#else
	n = -1; /* a read that may wait for storage is not the reactor's */
#endif
	if (n != (ssize_t)len) {
		free(iov.iov_base);
		goto fail;
	}
	*read = 1;
	return e->body = iov.iov_base;
fail:
	unreserve(len);
	return NULL;
}

size_t
filecache_body_total(void)
{
	return __atomic_load_n(&body_total, __ATOMIC_RELAXED);
}

void
filecache_release(struct filecache *fc, struct filecache_entry *e)
{
	/* Bound the table on the way out, where closing is deferred anyway. */
	filecache_shed(fc);
	trim(fc);
	entry_unref(fc, e);
}

void
filecache_free(struct filecache *fc)
{
	struct filecache_entry *e, *next;

	if (fc == NULL)
		return;
	for (e = fc->lru_head; e != NULL; e = next) {
		next = e->lru_next;
		close(e->file.fd);
		entry_free(e);
	}
	free(fc->buckets);
	free(fc);
}

size_t
filecache_key(char *buf, size_t size, const char *rel, int trailing_slash,
    const unsigned *accept, size_t accept_count)
{
	size_t len = strlen(rel), i;

	/* Once per request: plain copies, no printf. */
	if (len + 6 > size) {
		buf[0] = '\0'; /* no key: not cached */
		return 0;
	}
	memcpy(buf, rel, len);
	if (trailing_slash)
		buf[len++] = '/';
	buf[len++] = '|';
	for (i = 0; i < 3; i++)
		buf[len++] = '0' + (i < accept_count ? accept[i] % 10 : 0);
	buf[len] = '\0';
	return len;
}
