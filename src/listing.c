/*
 * Directory listings. The directory is read, sorted, and its rendered
 * length counted on I/O pool workers in short jobs (a batch of entries
 * each), so a huge directory never holds a worker (or, with one worker,
 * every other request) for long. The reactor then sends the head with
 * that Content-Length and renders the body again, this time into one
 * LISTING_CHUNK_BYTES buffer that goes out whenever it fills: memory is
 * the entries (twice over while sorting) plus one chunk, whatever the
 * size of the document.
 *
 * Threads: a listing_job belongs to the request's coroutine. While a job
 * is queued or running only the worker touches it; the coroutine waits in
 * await_job() and reads it after. The DIR stream (and the directory fd
 * before it) is closed by the job that reaches the end, or by a close job
 * on any other way out, never on the reactor.
 */
#include "autoconf.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "await.h"
#include "exchange.h"
#include "listing.h"
#include "log.h"
#include "path.h"
#include "request.h"
#include "resolve.h"
#include "response.h"

/*
 * The work of one pool job, in each phase: directory entries read (and
 * stat'ed), entries moved by the merge sort, entries counted. Each is a
 * few milliseconds at most, so other requests' jobs get their turn.
 */
#define READ_BATCH 2048
#define SORT_BUDGET (64 * 1024)
#define COUNT_BUDGET 8192
/* The first allocations; both double from there up to their caps. */
#define NAMES_INITIAL_BYTES (16 * 1024)
#define ENTRIES_INITIAL 256
/* Reactor time between yields while a fast client takes the body. */
#define YIELD_EVERY_BYTES (256 * 1024)

/* --- the entries ------------------------------------------------------- */

void
listing_init(struct listing *l, size_t max_entries)
{
	memset(l, 0, sizeof *l);
	if (max_entries > LISTING_ENTRIES_LIMIT)
		max_entries = LISTING_ENTRIES_LIMIT;
	l->max_entries = max_entries;
}

void
listing_free(struct listing *l)
{
	free(l->entries);
	free(l->names);
	free(l->sort_buf);
	l->entries = l->sort_buf = NULL;
	l->names = NULL;
	l->count = l->entries_cap = l->names_len = l->names_cap = 0;
}

/* Grows *buf to hold need items of size bytes, doubling, never past max. */
static int
grow(void **buf, size_t *cap, size_t need, size_t initial, size_t max,
    size_t size)
{
	size_t ncap = *cap > 0 ? *cap : initial;
	void *p;

	if (need <= *cap)
		return 0;
	if (need > max) {
		errno = ENOMEM;
		return -1;
	}
	while (ncap < need)
		ncap = ncap > max / 2 ? max : ncap * 2;
	if (ncap > max)
		ncap = max;
	if ((p = realloc(*buf, ncap * size)) == NULL)
		return -1;
	*buf = p;
	*cap = ncap;
	return 0;
}

int
listing_add(struct listing *l, const char *name, size_t len,
    enum listing_type type, uint64_t size_bytes, int64_t mtime)
{
	struct listing_entry *e;

	if (len == 0 || len > NAME_MAX || memchr(name, '/', len) != NULL) {
		errno = EINVAL;
		return -1;
	}
	if (l->sort_buf != NULL || l->sorted) {
		errno = EINVAL;
		return -1;
	}
	if (l->count >= l->max_entries) {
		l->omitted++;
		return 1;
	}
	if (grow((void **)&l->entries, &l->entries_cap, l->count + 1,
		ENTRIES_INITIAL, l->max_entries, sizeof *l->entries) == -1 ||
	    grow((void **)&l->names, &l->names_cap, l->names_len + len,
		NAMES_INITIAL_BYTES, l->max_entries * (NAME_MAX + 1), 1) == -1)
		return -1;
	memcpy(l->names + l->names_len, name, len);
	e = &l->entries[l->count++];
	e->size_bytes = size_bytes;
	e->mtime = mtime;
	e->name_off = (uint32_t)l->names_len;
	e->name_len = (uint16_t)len;
	e->type = (uint8_t)type;
	l->names_len += len;
	return 0;
}

static int
entry_cmp(const struct listing *l, const struct listing_entry *x,
    const struct listing_entry *y)
{
	size_t n;
	int d;

	if ((x->type == LISTING_DIR) != (y->type == LISTING_DIR))
		return x->type == LISTING_DIR ? -1 : 1;
	n = x->name_len < y->name_len ? x->name_len : y->name_len;
	if ((d = memcmp(l->names + x->name_off, l->names + y->name_off, n)) !=
	    0)
		return d;
	return (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

/*
 * Runs of sort_width entries are merged pairwise from entries into
 * sort_buf, then the two arrays swap roles and the width doubles. The
 * cursors (sort_i, sort_j into the two runs, sort_k out) let a merge stop
 * anywhere and resume in the next call.
 */
int
listing_sort_step(struct listing *l, size_t budget)
{
	struct listing_entry *src, *dst, *tmp;
	size_t n = l->count;

	if (l->sorted)
		return 1;
	if (l->sort_buf == NULL) {
		if (n < 2) {
			l->sorted = 1;
			return 1;
		}
		if ((l->sort_buf = malloc(n * sizeof *l->sort_buf)) == NULL)
			return -1;
		l->sort_width = 1;
		l->sort_lo = l->sort_mid = l->sort_hi = 0;
		l->sort_i = l->sort_j = l->sort_k = 0;
	}
	src = l->entries;
	dst = l->sort_buf;
	while (budget > 0) {
		if (l->sort_k == l->sort_hi) {
			/* This pair is merged: the next, or the next pass. */
			if (l->sort_hi == n) {
				tmp = l->entries;
				l->entries = l->sort_buf;
				l->sort_buf = tmp;
				src = l->entries;
				dst = l->sort_buf;
				l->sort_hi = 0;
				if ((l->sort_width *= 2) >= n)
					break;
			}
			l->sort_lo = l->sort_hi;
			l->sort_mid = n - l->sort_lo > l->sort_width
			    ? l->sort_lo + l->sort_width
			    : n;
			l->sort_hi = n - l->sort_mid > l->sort_width
			    ? l->sort_mid + l->sort_width
			    : n;
			l->sort_i = l->sort_k = l->sort_lo;
			l->sort_j = l->sort_mid;
		}
		for (; l->sort_k < l->sort_hi && budget > 0;
		     l->sort_k++, budget--) {
			if (l->sort_j == l->sort_hi ||
			    (l->sort_i < l->sort_mid &&
				entry_cmp(
				    l, &src[l->sort_i], &src[l->sort_j]) <= 0))
				dst[l->sort_k] = src[l->sort_i++];
			else
				dst[l->sort_k] = src[l->sort_j++];
		}
	}
	if (l->sort_width < n)
		return 0;
	free(l->sort_buf);
	l->sort_buf = NULL;
	l->entries_cap = n;
	l->sorted = 1;
	return 1;
}

int
listing_sort(struct listing *l)
{
	int rc;

	while ((rc = listing_sort_step(l, SIZE_MAX)) == 0)
		;
	return rc == 1 ? 0 : -1;
}

/* --- the writer -------------------------------------------------------- */

void
listing_writer_init(struct listing_writer *w, char *buf, size_t cap,
    int (*flush)(void *, const char *, size_t), void *arg)
{
	memset(w, 0, sizeof *w);
	w->buf = buf;
	w->cap = cap;
	w->flush = flush;
	w->arg = arg;
}

static void
put(struct listing_writer *w, const char *s, size_t n)
{
	size_t take;

	w->total += n;
	if (w->buf == NULL)
		return;
	while (n > 0 && !w->failed) {
		if (w->len == w->cap) {
			if (w->flush(w->arg, w->buf, w->len) == -1)
				w->failed = 1;
			w->len = 0;
			continue;
		}
		take = w->cap - w->len < n ? w->cap - w->len : n;
		memcpy(w->buf + w->len, s, take);
		w->len += take;
		s += take;
		n -= take;
	}
}

static void
puts_w(struct listing_writer *w, const char *s)
{
	put(w, s, strlen(s));
}

/* --- escaping ---------------------------------------------------------- */

static const char hex[] = "0123456789abcdef";
static const char hex_upper[] = "0123456789ABCDEF"; /* RFC 3986 2.1 */
static const char replacement[] = "\xef\xbf\xbd";   /* U+FFFD */

/*
 * The length of the well-formed UTF-8 sequence at s (Unicode 15, table
 * 3-7: no overlongs, surrogates or code points past U+10FFFF), or 0.
 */
static size_t
utf8_len(const unsigned char *s, size_t n)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		if (s[0] == 0xe0)
			lo = 0xa0;
		else if (s[0] == 0xed)
			hi = 0x9f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		if (s[0] == 0xf0)
			lo = 0x90;
		else if (s[0] == 0xf4)
			hi = 0x8f;
	} else
		return 0;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return len;
}

/*
 * Text for HTML: markup characters as references, ill-formed UTF-8 and
 * control characters (which HTML does not allow in text) as U+FFFD, so the
 * page is always valid UTF-8. Links use the exact bytes (url_put).
 */
static void
html_put(struct listing_writer *w, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0, len;
	const char *esc;

	while (i < n) {
		esc = NULL;
		len = 1;
		switch (p[i]) {
		case '&':
			esc = "&amp;";
			break;
		case '<':
			esc = "&lt;";
			break;
		case '>':
			esc = "&gt;";
			break;
		case '"':
			esc = "&quot;";
			break;
		case '\'':
			esc = "&#39;";
			break;
		default:
			if (p[i] < 0x20 || p[i] == 0x7f ||
			    (len = utf8_len(p + i, n - i)) == 0) {
				esc = replacement;
				len = 1;
			}
		}
		if (esc == NULL) {
			i += len;
			continue;
		}
		put(w, s + run, i - run);
		puts_w(w, esc);
		i += len;
		run = i;
	}
	put(w, s + run, n - run);
}

static int
unreserved(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
	    c == '~';
}

/*
 * A name as a relative reference: everything but RFC 3986 unreserved is
 * percent-encoded, ':' included, so "a:b" cannot read as a scheme. The
 * result has no markup characters, so it goes into an attribute as is.
 */
static void
url_put(struct listing_writer *w, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i, run = 0;
	char enc[3];

	for (i = 0; i < n; i++) {
		if (unreserved(p[i]))
			continue;
		put(w, s + run, i - run);
		enc[0] = '%';
		enc[1] = hex_upper[p[i] >> 4];
		enc[2] = hex_upper[p[i] & 15];
		put(w, enc, 3);
		run = i + 1;
	}
	put(w, s + run, n - run);
}

/*
 * A JSON string body (RFC 8259 7): '"', '\\' and control characters
 * escaped, well-formed UTF-8 as is, each byte of an ill-formed sequence as
 * \ufffd.
 */
static void
json_put(struct listing_writer *w, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, run = 0, len;
	char esc[7];

	while (i < n) {
		len = utf8_len(p + i, n - i);
		if (len > 0 && p[i] >= 0x20 && p[i] != '"' && p[i] != '\\' &&
		    p[i] != 0x7f) {
			i += len;
			continue;
		}
		put(w, s + run, i - run);
		switch (p[i]) {
		case '"':
			puts_w(w, "\\\"");
			break;
		case '\\':
			puts_w(w, "\\\\");
			break;
		case '\b':
			puts_w(w, "\\b");
			break;
		case '\f':
			puts_w(w, "\\f");
			break;
		case '\n':
			puts_w(w, "\\n");
			break;
		case '\r':
			puts_w(w, "\\r");
			break;
		case '\t':
			puts_w(w, "\\t");
			break;
		default:
			if (len == 0)
				puts_w(w, "\\ufffd");
			else {
				memcpy(esc, "\\u00", 4);
				esc[4] = hex[p[i] >> 4];
				esc[5] = hex[p[i] & 15];
				put(w, esc, 6);
			}
		}
		i++;
		run = i;
	}
	put(w, s + run, n - run);
}

/* Decimal digits of v; returns the length (at most 20). */
static size_t
u64_text(uint64_t v, char buf[20])
{
	char tmp[20];
	size_t n = 0, i;

	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10) > 0);
	for (i = 0; i < n; i++)
		buf[i] = tmp[n - 1 - i];
	return n;
}

static void
put_u64(struct listing_writer *w, uint64_t v)
{
	char buf[20];

	put(w, buf, u64_text(v, buf));
}

/* Seconds of 0000-01-01T00:00:00Z and of 10000-01-01T00:00:00Z. */
#define ISO_MIN (-62167219200LL)
#define ISO_END (253402300800LL)
#define ISO_LEN 20

/*
 * ISO 8601 in UTC, "2024-02-29T13:05:00Z", for years 0000 to 9999;
 * returns 0 outside them. Days to a civil date as in Howard Hinnant's
 * "chrono-compatible low-level date algorithms": no gmtime, no locale.
 */
static int
iso_time(int64_t t, char buf[ISO_LEN])
{
	int64_t days, secs, era, doe, yoe, doy, mp, y, m, d;
	int i;

	if (t < ISO_MIN || t >= ISO_END)
		return 0;
	days = t / 86400;
	secs = t % 86400;
	if (secs < 0) {
		secs += 86400;
		days--;
	}
	days += 719468;
	era = (days >= 0 ? days : days - 146096) / 146097;
	doe = days - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	y = yoe + era * 400 + (m <= 2);
	memcpy(buf, "0000-00-00T00:00:00Z", ISO_LEN);
	for (i = 3; i >= 0; i--, y /= 10)
		buf[i] = (char)('0' + y % 10);
	buf[5] = (char)('0' + m / 10);
	buf[6] = (char)('0' + m % 10);
	buf[8] = (char)('0' + d / 10);
	buf[9] = (char)('0' + d % 10);
	buf[11] = (char)('0' + secs / 36000);
	buf[12] = (char)('0' + secs / 3600 % 10);
	buf[14] = (char)('0' + secs % 3600 / 600);
	buf[15] = (char)('0' + secs % 600 / 60);
	buf[17] = (char)('0' + secs % 60 / 10);
	buf[18] = (char)('0' + secs % 10);
	return 1;
}

/* --- rendering --------------------------------------------------------- */

static const char *const type_names[] = { "dir", "file", "other" };

/* "/" for the root, else "/dir/". */
static void
html_dir(struct listing_writer *w, const char *dir)
{
	puts_w(w, "/");
	if (*dir != '\0') {
		html_put(w, dir, strlen(dir));
		puts_w(w, "/");
	}
}

static void
html_head(struct listing_writer *w, const char *dir)
{
	puts_w(w,
	    "<!DOCTYPE html>\n<html>\n<head>\n<meta charset=\"utf-8\">\n"
	    "<meta name=\"viewport\" content=\"width=device-width\">\n"
	    "<title>Index of ");
	html_dir(w, dir);
	puts_w(w,
	    "</title>\n<style>body{font-family:sans-serif;margin:2em}"
	    "td,th{padding:0 1em 0 0;text-align:left}"
	    "td+td{text-align:right;font-family:monospace}</style>\n"
	    "</head>\n<body>\n<h1>Index of ");
	html_dir(w, dir);
	puts_w(w,
	    "</h1>\n<table>\n<thead><tr><th>Name</th><th>Size</th>"
	    "<th>Modified (UTC)</th></tr></thead>\n<tbody>\n");
	if (*dir != '\0')
		puts_w(w,
		    "<tr><td><a href=\"../\">../</a></td><td>-</td>"
		    "<td>-</td></tr>\n");
}

static void
html_entry(struct listing_writer *w, const struct listing *l,
    const struct listing_entry *e)
{
	const char *name = l->names + e->name_off;
	char when[ISO_LEN];
	int dir = e->type == LISTING_DIR;

	puts_w(w, "<tr><td><a href=\"");
	url_put(w, name, e->name_len);
	puts_w(w, dir ? "/\">" : "\">");
	html_put(w, name, e->name_len);
	puts_w(w, dir ? "/</a></td><td>-" : "</a></td><td>");
	if (!dir)
		put_u64(w, e->size_bytes);
	puts_w(w, "</td><td>");
	if (iso_time(e->mtime, when))
		put(w, when, ISO_LEN);
	else
		puts_w(w, "-");
	puts_w(w, "</td></tr>\n");
}

static void
html_tail(struct listing_writer *w, const struct listing *l)
{
	puts_w(w, "</tbody>\n</table>\n");
	if (l->omitted > 0) {
		puts_w(w, "<p class=\"truncated\">Listing truncated: ");
		put_u64(w, l->omitted);
		puts_w(w, " more entries not shown (the limit is ");
		put_u64(w, l->max_entries);
		puts_w(w, ").</p>\n");
	}
	puts_w(w, "</body>\n</html>\n");
}

static void
json_entry(struct listing_writer *w, const struct listing *l,
    const struct listing_entry *e, int first)
{
	const char *name = l->names + e->name_off;
	char when[ISO_LEN];

	puts_w(w, first ? "\n{\"name\":\"" : ",\n{\"name\":\"");
	json_put(w, name, e->name_len);
	puts_w(w, "\",\"type\":\"");
	puts_w(w, type_names[e->type]);
	puts_w(w, "\",\"size\":");
	put_u64(w, e->size_bytes);
	if (iso_time(e->mtime, when)) {
		puts_w(w, ",\"mtime\":\"");
		put(w, when, ISO_LEN);
		puts_w(w, "\"");
	} else
		puts_w(w, ",\"mtime\":null");
	puts_w(w, ",\"href\":\"");
	url_put(w, name, e->name_len);
	puts_w(w, e->type == LISTING_DIR ? "/\"}" : "\"}");
}

int
listing_render_step(const struct listing *l, const char *dir,
    enum listing_format format, struct listing_writer *w, size_t *next,
    size_t budget)
{
	const int json = format == LISTING_JSON;
	size_t end;

	if (*next == 0 && json)
		puts_w(w, "[");
	else if (*next == 0)
		html_head(w, dir);
	end = l->count - *next > budget ? *next + budget : l->count;
	for (; *next < end && !w->failed; (*next)++)
		if (json)
			json_entry(w, l, &l->entries[*next], *next == 0);
		else
			html_entry(w, l, &l->entries[*next]);
	if (*next < l->count)
		return 0;
	if (json)
		puts_w(w, "\n]\n");
	else
		html_tail(w, l);
	return 1;
}

int
listing_render(const struct listing *l, const char *dir,
    enum listing_format format, struct listing_writer *w)
{
	size_t next = 0;

	listing_render_step(l, dir, format, w, &next, SIZE_MAX);
	if (w->buf != NULL && !w->failed && w->len > 0) {
		if (w->flush(w->arg, w->buf, w->len) == -1)
			w->failed = 1;
		w->len = 0;
	}
	return w->failed ? -1 : 0;
}

int
listing_wants_json(const char *query, size_t len)
{
	const char *p, *end, *amp;
	static const char want[] = "format=json";

	if (query == NULL)
		return 0;
	p = query;
	end = query + len;
	if (p < end && *p == '?')
		p++;
	for (; p < end; p = amp + 1) {
		if ((amp = memchr(p, '&', end - p)) == NULL)
			amp = end;
		if ((size_t)(amp - p) == sizeof want - 1 &&
		    memcmp(p, want, sizeof want - 1) == 0)
			return 1;
	}
	return 0;
}

/* --- reading, on the pool ---------------------------------------------- */

enum listing_phase { PHASE_READ, PHASE_SORT, PHASE_COUNT, PHASE_DONE };

struct listing_job {
	struct iojob job;
	int dirfd; /* until fdopendir takes it */
	DIR *dir;
	const struct docroot *root;
	const char *rel; /* the directory, as in path */
	const struct listing_options *opt;
	enum listing_format format;
	enum listing_phase phase;
	int error; /* an errno; 0 */
	struct listing listing;
	struct listing_writer counter;
	size_t counted; /* entries */
};

/*
 * A symlink's target, opened as a resolution would open it (beneath the
 * root, and only if the site follows symlinks), so a listing shows nothing
 * of what a GET would refuse.
 */
static int
stat_link_target(struct listing_job *lj, const char *name, struct stat *st)
{
	char rel[PATH_MAX + NAME_MAX + 2];
	int fd, rc;

	if ((size_t)snprintf(rel, sizeof rel, "%s%s%s", lj->rel,
		*lj->rel != '\0' ? "/" : "", name) >= sizeof rel)
		return -1;
	if ((fd = resolve__open_beneath(lj->root, rel)) == -1)
		return -1;
	rc = fstat(fd, st);
	close(fd);
	return rc;
}

static enum listing_type
type_of(mode_t mode)
{
	if (S_ISDIR(mode))
		return LISTING_DIR;
	if (S_ISREG(mode))
		return LISTING_FILE;
	return LISTING_OTHER;
}

/* As path_is_hidden() decides for a GET: /.well-known/ is public. */
static int
hidden(const struct listing_job *lj, const char *name)
{
	return !lj->opt->dotfiles &&
	    (*lj->rel != '\0' || strcmp(name, ".well-known") != 0);
}

/* The next READ_BATCH names; at the end, the directory is closed. */
static void
read_batch(struct listing_job *lj)
{
	struct dirent *de;
	struct stat st, target;
	const char *name;
	unsigned n;

	if (lj->dir == NULL) {
		if ((lj->dir = fdopendir(lj->dirfd)) == NULL) {
			lj->error = errno;
			return;
		}
		lj->dirfd = -1;
	}
	for (n = 0; n < READ_BATCH; n++) {
		errno = 0;
		if ((de = readdir(lj->dir)) == NULL) {
			if (errno != 0) {
				lj->error = errno;
				return;
			}
			closedir(lj->dir);
			lj->dir = NULL;
			lj->phase = PHASE_SORT;
			return;
		}
		name = de->d_name;
		if (name[0] == '.' &&
		    (name[1] == '\0' || (name[1] == '.' && name[2] == '\0') ||
			hidden(lj, name)))
			continue;
		if (lj->listing.count >= lj->listing.max_entries) {
			lj->listing.omitted++;
			continue;
		}
		/* Gone since readdir, or unreadable: not listed. */
		if (fstatat(dirfd(lj->dir), name, &st, AT_SYMLINK_NOFOLLOW) ==
		    -1)
			continue;
		if (S_ISLNK(st.st_mode) &&
		    stat_link_target(lj, name, &target) == 0)
			st = target;
		if (listing_add(&lj->listing, name, strlen(name),
			type_of(st.st_mode), (uint64_t)st.st_size,
			(int64_t)st.st_mtime) == -1) {
			lj->error = errno;
			return;
		}
	}
}

/* Worker: one bounded step of reading, sorting or counting. */
static void
step_work(struct iojob *job)
{
	struct listing_job *lj = (struct listing_job *)job;

	switch (lj->phase) {
	case PHASE_READ:
		read_batch(lj);
		break;
	case PHASE_SORT:
		switch (listing_sort_step(&lj->listing, SORT_BUDGET)) {
		case -1:
			lj->error = errno;
			break;
		case 1:
			listing_writer_init(&lj->counter, NULL, 0, NULL, NULL);
			lj->phase = PHASE_COUNT;
			break;
		}
		break;
	case PHASE_COUNT:
		if (listing_render_step(&lj->listing, lj->rel, lj->format,
			&lj->counter, &lj->counted, COUNT_BUDGET) == 1)
			lj->phase = PHASE_DONE;
		break;
	case PHASE_DONE:
		break;
	}
}

/* --- serving, on the reactor ------------------------------------------- */

struct sender {
	struct exchange *exchange;
	struct response *head; /* until the first chunk */
	size_t since_yield;
};

/* The writer's flush: the head with the first chunk, then chunk by chunk. */
static int
send_chunk(void *arg, const char *buf, size_t len)
{
	struct sender *s = arg;
	int rc;

	if (s->head != NULL) {
		rc = exchange_send_head(s->exchange, s->head, buf, len);
		s->head = NULL;
	} else
		rc = exchange_send_body(s->exchange, buf, len);
	if (rc == -1)
		return -1;
	/*
	 * A client that reads as fast as we render never makes the socket
	 * block: let the reactor serve others now and then.
	 */
	if ((s->since_yield += len) >= YIELD_EVERY_BYTES) {
		s->since_yield = 0;
		await_sleep(0);
	}
	return 0;
}

static int
read_listing(struct listing_job *lj)
{
	lj->job.work = step_work;
	lj->job.past_limit = 0;
	while (lj->phase != PHASE_DONE && lj->error == 0)
		if (await_job(&lj->job) == -1) {
			log_warnx("I/O queue full");
			return 503;
		}
	if (lj->error == 0)
		return 0;
	if (lj->error == ENOMEM)
		return 503;
	log_warnx("listing /%s: %s", lj->rel, strerror(lj->error));
	return lj->error == EACCES ? 403 : 500;
}

static int
send_listing(struct exchange *x, struct listing_job *lj)
{
	struct response r;
	struct listing_writer w;
	struct sender s = { x, &r, 0 };
	char *buf;
	size_t size;
	int rc;

	response_begin(&r, 200);
	response_add(&r, "Content-Type", "%s",
	    lj->format == LISTING_JSON ? "application/json"
				       : "text/html; charset=utf-8");
	response_add(&r, "Content-Length", "%" PRIu64, lj->counter.total);
	response_add(&r, "Cache-Control", "no-cache");
	if (lj->listing.omitted > 0)
		response_add(
		    &r, "Listing-Truncated", "%" PRIu64, lj->listing.omitted);
	if (x->req->method == HTTP_HEAD)
		return exchange_send_head(x, &r, NULL, 0);
	if ((buf = exchange_buffer(
		 x, LISTING_CHUNK_BYTES, LISTING_CHUNK_LEAST, &size)) == NULL)
		return errno == ECANCELED ? -1 : exchange_send_error(x, 503);
	listing_writer_init(&w, buf, size, send_chunk, &s);
	rc = listing_render(&lj->listing, lj->rel, lj->format, &w);
	exchange_buffer_free(x, buf, size);
	if (rc == 0 && w.total != lj->counter.total) {
		/* The two passes disagree: the framing is lost. */
		log_warnx("listing /%s: %" PRIu64 " bytes, not %" PRIu64,
		    lj->rel, w.total, lj->counter.total);
		rc = -1;
	}
	return rc;
}

int
listing_serve(struct exchange *x, const struct path *p, int dirfd,
    const struct listing_options *opt)
{
	struct listing_job lj;
	struct iopool_close cj;
	int status, rc;

	memset(&lj, 0, sizeof lj);
	lj.dirfd = dirfd;
	lj.root = opt->root;
	lj.rel = p->rel;
	lj.opt = opt;
	lj.format = listing_wants_json(p->query, p->query_len) ? LISTING_JSON
							       : LISTING_HTML;
	listing_init(&lj.listing, opt->max_entries);

	if ((status = read_listing(&lj)) != 0)
		rc = exchange_send_error(x, status);
	else
		rc = send_listing(x, &lj);

	if (lj.dir != NULL || lj.dirfd != -1) {
		iopool_close_init(&cj, lj.dirfd, lj.dir);
		if (await_job(&cj.job) == -1)
			log_warnx("cannot queue a directory close");
	}
	listing_free(&lj.listing);
	return rc;
}
