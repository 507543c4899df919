/*
 * Directory listings (autoindex). Three layers in one module: the pure part
 * (a bounded set of entries, their order, and their rendering as HTML or
 * JSON through a writer that counts or emits), the I/O pool jobs that read
 * a directory into that set, and the handler that serves it with a
 * Content-Length worked out by a counting pass, then streams it in
 * bounded chunks.
 */
#ifndef LISTING_H
#define LISTING_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

struct docroot;
struct exchange;
struct path;

/* autoindex_max_entries above this is taken as this: offsets stay 32-bit. */
#define LISTING_ENTRIES_LIMIT 10000000u
/*
 * The rendered body goes out in chunks of this size, or as small as the
 * least when the protocol's buffer budget is short.
 */
#define LISTING_CHUNK_BYTES (64 * 1024)
#define LISTING_CHUNK_LEAST (16 * 1024)

enum listing_type {
	LISTING_DIR,
	LISTING_FILE,
	LISTING_OTHER /* devices, sockets, dangling links... */
};

enum listing_format { LISTING_HTML, LISTING_JSON };

struct listing_entry {
	uint64_t size_bytes;
	int64_t mtime;	   /* seconds since the epoch */
	uint32_t name_off; /* into the listing's names arena */
	uint16_t name_len; /* at most NAME_MAX; no NUL stored */
	uint8_t type;	   /* enum listing_type */
};

/*
 * At most max_entries entries; names live back to back in one arena that
 * grows by doubling up to max_entries * (NAME_MAX + 1) bytes. Entries past
 * the cap are only counted, in omitted.
 */
struct listing {
	struct listing_entry *entries;
	size_t count;
	size_t entries_cap;
	char *names;
	size_t names_len;
	size_t names_cap;
	size_t max_entries;
	uint64_t omitted;
	/* A merge sort in progress: the other buffer and where it stands. */
	struct listing_entry *sort_buf;
	size_t sort_width;
	size_t sort_lo, sort_mid, sort_hi;
	size_t sort_i, sort_j, sort_k;
	int sorted;
};

void listing_init(struct listing *, size_t max_entries);
/*
 * Adds one entry (len <= NAME_MAX, no '/'). Returns 0; 1 when the listing
 * is full and the entry was only counted in omitted; -1 with errno ENOMEM
 * or EINVAL.
 */
int listing_add(struct listing *, const char *name, size_t len,
    enum listing_type, uint64_t size_bytes, int64_t mtime);
/*
 * Sorts: directories first, then names in bytewise order. A bottom-up
 * merge sort that moves at most about budget entries per call, so a large
 * listing can be sorted in short pool jobs; it needs a second array of
 * count entries while it runs. Returns 1 when sorted, 0 when more steps
 * are needed, -1 with errno ENOMEM. Entries may not be added once it has
 * started.
 */
int listing_sort_step(struct listing *, size_t budget);
/* All of it at once: 0, or -1 with errno ENOMEM. */
int listing_sort(struct listing *);
/* Frees what the listing holds; it may be reused after listing_init(). */
void listing_free(struct listing *);

/*
 * Where rendered bytes go. With buf NULL it only counts them (total);
 * otherwise it fills buf and hands each full buffer to flush(), and
 * listing_render() flushes the rest at the end. A flush that fails stops
 * the rendering.
 */
struct listing_writer {
	char *buf;
	size_t cap;
	size_t len;
	uint64_t total; /* every byte put, flushed or not */
	int (*flush)(void *arg, const char *buf, size_t len);
	void *arg;
	int failed;
};

void listing_writer_init(struct listing_writer *, char *buf, size_t cap,
    int (*flush)(void *, const char *, size_t), void *arg);
/*
 * Renders the whole document for the directory dir ("" for the root, else
 * "a/b" as in struct path) into w. Returns 0, or -1 when a flush failed.
 *
 * HTML: "Index of /dir/", a "../" link except at the root, one table row
 * per entry (name, size in bytes or "-" for a directory, modification time
 * as ISO 8601 UTC), and a closing note when entries were omitted. Text is
 * escaped (& < > " '), with control characters and ill-formed UTF-8 shown
 * as U+FFFD; hrefs are relative and percent-encoded from the exact bytes,
 * every byte outside RFC 3986 unreserved encoded, '/' after a directory.
 *
 * JSON: an array of {"name", "type" ("dir" | "file" | "other"), "size",
 * "mtime" (ISO 8601 UTC), "href"}. A name is emitted as is where it is
 * valid UTF-8; each byte of an ill-formed sequence becomes U+FFFD, so the
 * document is always valid JSON, and "href" (the percent-encoded name, as
 * in the HTML) still names the entry exactly.
 */
int listing_render(const struct listing *, const char *dir, enum listing_format,
    struct listing_writer *w);
/*
 * The same document in parts, for a counting pass spread over several
 * jobs: *next starts at 0, each call renders at most budget entries (the
 * head before the first, the tail after the last) and returns 1 once the
 * tail is out. Leaves what it rendered in w's buffer (no final flush).
 */
int listing_render_step(const struct listing *, const char *dir,
    enum listing_format, struct listing_writer *w, size_t *next, size_t budget);
/* Whether a query string ("?a=b&c", or NULL) asks for format=json. */
int listing_wants_json(const char *query, size_t len);

/* What one site allows a listing to show. */
struct listing_options {
	const struct docroot *root; /* the site's, for symlink targets */
	unsigned max_entries;
	int dotfiles; /* 1: names starting with '.' are listed */
};

/*
 * Serves the listing of the directory open as dirfd (O_RDONLY, beneath the
 * root), which it takes over and closes on a pool worker whatever happens.
 * JSON when the query has format=json (Accept is not consulted), else
 * HTML; Cache-Control: no-cache, no validators; a truncated listing says
 * how many entries it left out in a Listing-Truncated field. Returns 0,
 * or -1 when the exchange was lost midway.
 */
int listing_serve(struct exchange *, const struct path *, int dirfd,
    const struct listing_options *);

#endif
