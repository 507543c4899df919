/*
 * The static file handler. A request becomes up to three kinds of I/O
 * pool job: an open (resolve under the root, fstat, find the index),
 * reads of one chunk each, and a close. The open and the reads are first
 * tried on the reactor with calls that cannot wait for storage (openat2
 * RESOLVE_CACHED, preadv2 RWF_NOWAIT), and closes are batched, so a file
 * in memory costs no job of its own. The coroutine waits for each job, so the
 * code below reads as plain blocking code while the reactor thread never
 * waits for the filesystem. One chunk buffer per response bounds memory: the
 * next pread is not issued until the previous chunk has gone into the socket.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "await.h"
#include "config.h"
#include "encoding.h"
#include "exchange.h"
#include "file.h"
#include "filecache.h"
#include "headers.h"
#include "resolve.h"
#include "httpdate.h"
#include "iopool.h"
#include "listing.h"
#include "log.h"
#include "metrics.h"
#include "mime.h"
#include "path.h"
#include "precond.h"
#include "range.h"
#include "request.h"
#include "response.h"

/*
 * One part's delimiter and fields in a multipart/byteranges body: ample
 * for the longest media type mime.c keeps; a longer one would get the
 * whole file instead of a multipart response.
 */
#define PART_HEAD_MAX 512
/*
 * The smallest chunk worth streaming a file with, one HTTP/2 frame's
 * worth, when the protocol's buffer budget is short of chunk_bytes.
 */
#define CHUNK_LEAST_BYTES 16384
#define BOUNDARY_MAX 48

/* Warnings any client can repeat once per request: rate-limited. */
static struct log_ratelimit read_log = LOG_RATELIMIT_INITIALIZER(10);
static struct log_ratelimit queue_log = LOG_RATELIMIT_INITIALIZER(10);

/* What a 200, 206 or 304 says about the open file. */
struct representation {
	const struct resolution *res; /* the file, its site and encoding */
	const char *type;	      /* Content-Type */
	uint64_t size;
	const void *body; /* the whole file, kept by the cache; or NULL */
	char etag[PRECOND_ETAG_MAX];
	char last_modified[HTTPDATE_LEN + 1];
};

/* Which bytes a 200 or 206 sends, and how they are framed. */
struct body_plan {
	struct byte_range parts[RANGE_MAX_PARTS];
	size_t count;  /* 0: an empty body */
	int multipart; /* multipart/byteranges, else raw bytes */
	char boundary[BOUNDARY_MAX];
	uint64_t length; /* Content-Length */
};

/* The read jobs of one response. */
struct file_job {
	struct iojob job;
	int fd;
	void *buf;
	size_t len;
	off_t off;
	ssize_t nread;
	int error;
};

static void
read_work(struct iojob *job)
{
	struct file_job *fj = (struct file_job *)job;

	do
		fj->nread = pread(fj->fd, fj->buf, fj->len, fj->off);
	while (fj->nread == -1 && errno == EINTR);
	fj->error = errno;
}

/*
 * Page cache first: preadv2(RWF_NOWAIT) copies what is already in memory
 * and returns EAGAIN instead of waiting for storage, so it is the one
 * read the reactor may make itself. Returns -1 when the pool must read
 * (not cached, or a kernel or filesystem without RWF_NOWAIT: then never
 * tried again). A short read is fine: the caller asks again for the rest.
 */
static int
read_cached(struct file_job *fj)
{
#if defined(HAVE_PREADV2) && defined(RWF_NOWAIT)
	static int unsupported; /* any reactor may set it: relaxed atomics */
	struct iovec iov = { fj->buf, fj->len };
	ssize_t n;

	if (__atomic_load_n(&unsupported, __ATOMIC_RELAXED))
		return -1;
	n = preadv2(fj->fd, &iov, 1, fj->off, RWF_NOWAIT);
	if (n > 0) {
		fj->nread = n;
		metrics_cached_read(1);
		return 0;
	}
	if (n == -1 &&
	    (errno == EOPNOTSUPP || errno == ENOSYS || errno == EINVAL))
		__atomic_store_n(&unsupported, 1, __ATOMIC_RELAXED);
	metrics_cached_read(0);
#else
	(void)fj;
#endif
	return -1;
}

/* Runs job on the pool; a full queue means the server is overloaded. */
static int
run_job(struct file_job *fj, void (*work)(struct iojob *))
{
	fj->job.work = work;
	if (await_job(&fj->job) == -1) {
		log_warnx_limited(&queue_log, "I/O queue full");
		return -1;
	}
	return 0;
}

/*
 * Closes an fd this request opened (not the cache's) on the pool, with
 * the other closes of this loop turn; nothing waits for it.
 */
static void
file_close(const struct docroot *root, int fd)
{
	if (fd != -1)
		iopool_close(root->pool, fd);
}

/*
 * Resolves res: on the reactor when the kernel's caches can answer, else
 * as a pool job. -1 when the pool would not take the job.
 */
static int
resolve(struct resolution *res)
{
	if (resolve_cached(res) == 0)
		return 0;
	if (await_job(&res->job) == -1) {
		log_warnx_limited(&queue_log, "I/O queue full");
		return -1;
	}
	return 0;
}

static void
make_etag(const struct stat *st, unsigned encoding, char *buf, size_t len)
{
	/*
	 * Size and mtime only: equal copies on other hosts validate alike.
	 * A sidecar is another representation and gets its own tag.
	 */
	snprintf(buf, len, "\"%" PRIx64 "-%" PRIx64 "%s%s\"",
	    (uint64_t)st->st_mtim.tv_sec * 1000000000u +
		(uint64_t)st->st_mtim.tv_nsec,
	    (uint64_t)st->st_size, encoding != 0 ? "-" : "",
	    encoding != 0 ? encoding_name(encoding) : "");
}

/* What the head says about a resolved file, worked out once per open. */
static void
describe(struct resolution *res, const struct docroot *root)
{
	make_etag(&res->st, res->encoding, res->etag, sizeof res->etag);
	httpdate_format(res->st.st_mtime, res->last_modified);
	res->type = mime_lookup(root->mime, res->name);
}

/*
 * The Location is built from the resolved path, never from the client's
 * bytes: "//host/.." must not become a redirect to another site.
 */
static __attribute__((noinline)) int
send_redirect(struct exchange *x, const struct path *p, struct response *r)
{
	char location[sizeof p->rel * 3 + 2];
	char body[RESPONSE_ERROR_BODY_MAX];
	size_t len;

	long loclen;
	int rc;

	if ((loclen = path_encode(p->rel, location, sizeof location)) == -1)
		return exchange_send_error(x, 414);
	if (response_begin_large(
		r, 301, RESPONSE_HEAD_MAX + loclen + p->query_len) == -1)
		return exchange_send_error(x, 503);
	len = response_error_body(301, body);
	response_add(r, "Location", "%s/%.*s", location, (int)p->query_len,
	    p->query != NULL ? p->query : "");
	response_add(r, "Content-Type", "text/html; charset=utf-8");
	response_add(r, "Content-Length", "%zu", len);
	rc = exchange_send_head(
	    x, r, x->req->method == HTTP_HEAD ? NULL : body, len);
	response_free(r);
	return rc;
}

static int
send_unsatisfiable(struct exchange *x, uint64_t size, struct response *r)
{
	char body[RESPONSE_ERROR_BODY_MAX];
	size_t len;

	len = response_error_body(416, body);
	response_begin(r, 416);
	response_add(r, "Content-Range", "bytes */%" PRIu64, size);
	response_add(r, "Content-Type", "text/html; charset=utf-8");
	response_add(r, "Content-Length", "%zu", len);
	return exchange_send_head(x, r, body, len);
}

/*
 * Starts the head of a 200, 206 or 304 about the file. What a 304 must
 * repeat of the 200 it stands for (RFC 9110 15.4.5: ETag, Date, and
 * Cache-Control, Expires and Vary once there are any) is added here and
 * nowhere else, so the two cannot drift apart; the content fields that
 * only a 200 or 206 carries are the caller's.
 */
static void
head_begin(struct response *r, int status, const struct representation *rep)
{
	const struct site_config *site = rep->res->root->site;

	response_begin(r, status);
	response_add_str(r, "ETag", rep->etag);
	response_add_str(r, "Last-Modified", rep->last_modified);
	/* Whether a sidecar exists or not, the answer depends on the field. */
	if (site->precompressed != 0)
		response_add_str(r, "Vary", "Accept-Encoding");
	headers_apply(site, rep->res->path->rel, rep->res->name, r, time(NULL));
}

/*
 * A boundary for one multipart response (RFC 9110 14.6). It cannot be
 * checked against the parts' bytes, which are not read yet, so it is
 * made unguessable instead: 128 random bits, so that nobody who can put
 * bytes into a file can forge a part delimiter into its ranges.
 */
static void
make_boundary(char buf[BOUNDARY_MAX], const char *etag)
{
	static uint64_t counter; /* shared by the reactors: atomic */
	uint64_t bits[2];
	struct timespec ts;
	const char *p;

	if (getrandom(bits, sizeof bits, GRND_NONBLOCK) != sizeof bits) {
		/* Not seeded yet, or no getrandom: unique, if guessable. */
		clock_gettime(CLOCK_REALTIME, &ts);
		bits[0] =
		    (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
		bits[1] = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) ^
		    ((uint64_t)getpid() << 32);
		for (p = etag; *p != '\0'; p++)
			bits[1] = bits[1] * 1099511628211u ^ (unsigned char)*p;
	}
	snprintf(buf, BOUNDARY_MAX, "coserve-%016" PRIx64 "%016" PRIx64,
	    bits[0], bits[1]);
}

/*
 * Writes the delimiter and fields that open part i of a multipart body;
 * every part after the first also ends the one before it. Returns the
 * length, or -1 when it does not fit in size bytes.
 */
static long
part_head(char *buf, size_t size, const struct body_plan *plan,
    const struct representation *rep, size_t i)
{
	int n;

	n = snprintf(buf, size,
	    "%s--%s\r\nContent-Type: %s\r\n"
	    "Content-Range: bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64 "\r\n\r\n",
	    i > 0 ? "\r\n" : "", plan->boundary, rep->type,
	    plan->parts[i].first, plan->parts[i].last, rep->size);
	if (n < 0 || (size_t)n >= size)
		return -1;
	return n;
}

/* The close delimiter; always fits in PART_HEAD_MAX. */
static size_t
part_tail(char *buf, size_t size, const struct body_plan *plan)
{
	return (size_t)snprintf(buf, size, "\r\n--%s--\r\n", plan->boundary);
}

/*
 * Frames plan's ranges as multipart/byteranges and computes the exact
 * Content-Length up front, so GET and HEAD announce the same one. -1 when
 * a part head would not fit: the caller sends the whole file instead.
 */
static int
plan_multipart(struct body_plan *plan, const struct representation *rep)
{
	char tmp[PART_HEAD_MAX];
	long n;
	size_t i;

	make_boundary(plan->boundary, rep->etag);
	plan->length = 0;
	for (i = 0; i < plan->count; i++) {
		if ((n = part_head(tmp, sizeof tmp, plan, rep, i)) == -1)
			return -1;
		plan->length += (uint64_t)n + plan->parts[i].last -
		    plan->parts[i].first + 1;
	}
	plan->length += part_tail(tmp, sizeof tmp, plan);
	plan->multipart = 1;
	return 0;
}

/*
 * Sends the buffered bytes; the first call sends the head with them, so a
 * small response is one write.
 */
static int
send_buffered(
    struct exchange *x, struct response **head, const char *buf, size_t len)
{
	struct response *r = *head;

	if (r != NULL) {
		*head = NULL;
		return exchange_send_head(x, r, buf, len);
	}
	return exchange_send_body(x, buf, len);
}

/*
 * Whether a part of len bytes goes by sendfile: where the protocol can,
 * from sendfile_min_bytes up. Below it, one copy through a buffer costs
 * less than the extra calls (a residency probe, the head apart from the
 * bytes) that a sendfile takes.
 */
static int
zerocopy(const struct exchange *x, uint64_t len)
{
	size_t min = x->root->sendfile_min_bytes;

	return x->ops->send_file != NULL && min > 0 && len >= min;
}

/*
 * Sends one part with sendfile, the buffered bytes (and the head, the
 * first time) in front of it. -1 on failure, with *status the error to
 * answer if the head is still unsent, as the copy path answers.
 */
static int
send_part(struct exchange *x, struct response **head, const char *buf,
    size_t fill, int fd, uint64_t off, uint64_t len,
    const struct representation *rep, int *status)
{
	int rc;

	if ((rc = exchange_send_file(x, *head, buf, fill, fd, off, len,
		 docroot_local(x->root, &rep->res->st))) == 0) {
		*head = NULL;
		return 0;
	}
	if (errno == EBUSY)
		log_warnx_limited(&queue_log, "I/O queue full");
	else if (errno == ENODATA || errno == EIO)
		log_warnx_limited(&read_log, "/%s: sendfile from %ju: %s",
		    rep->res->path->rel, (uintmax_t)off,
		    errno == ENODATA ? "file shrank" : strerror(errno));
	if (rc == -1)
		*head = NULL;
	else if (errno != EBUSY && errno != ENODATA)
		*status = 500;
	return -1;
}

/*
 * Streams the plan's bytes. A part of sendfile_min_bytes or more goes by
 * sendfile, with whatever is buffered in front of it; the rest goes through
 * one buffer of at most chunk_bytes (plus room for one part head), filled
 * by a pread job and emptied into the socket in turn, so memory stays
 * bounded however large the file or the ranges; part delimiters go into
 * the same buffer as the bytes around them.
 */
static int
send_body(struct exchange *x, struct file_job *fj, struct response *r,
    const struct body_plan *plan, const struct representation *rep)
{
	const struct docroot *root = x->root;
	struct response *head = r;
	char *buf;
	size_t cap, size, extra, want, least, fill = 0, i;
	uint64_t off, left, copied = 0;
	int status = 503;

	for (i = 0; i < plan->count; i++) {
		left = plan->parts[i].last - plan->parts[i].first + 1;
		if (!zerocopy(x, left))
			copied += left;
	}
	cap = copied < root->chunk_bytes ? (size_t)copied : root->chunk_bytes;
	if (cap == 0)
		cap = 1;
	extra = plan->multipart ? PART_HEAD_MAX : 0;
	want = cap + extra;
	least = (cap < CHUNK_LEAST_BYTES ? cap : CHUNK_LEAST_BYTES) + extra;
	/* ECANCELED: the stream was reset while it waited for the budget. */
	if ((buf = exchange_buffer(x, want, least, &size)) == NULL)
		return errno == ECANCELED ? -1 : exchange_send_error(x, 503);
	cap = size - extra;
	/* Invariant: fill <= cap wherever a part head or the tail goes in. */
	for (i = 0; i < plan->count; i++) {
		if (plan->multipart)
			fill += (size_t)part_head(
			    buf + fill, size - fill, plan, rep, i);
		off = plan->parts[i].first;
		left = plan->parts[i].last - off + 1;
		if (zerocopy(x, left)) {
			if (send_part(x, &head, buf, fill, fj->fd, off, left,
				rep, &status) == -1)
				goto fail;
			fill = 0;
			continue;
		}
		while (left > 0) {
			if (fill >= cap) {
				if (send_buffered(x, &head, buf, fill) == -1)
					goto fail;
				fill = 0;
				if ((buf = exchange_buffer_share(
					 x, buf, want, least, &size)) == NULL)
					goto fail;
				cap = size - extra;
			}
			fj->buf = buf + fill;
			fj->len = left < cap - fill ? (size_t)left : cap - fill;
			fj->off = (off_t)off;
			if (read_cached(fj) == -1 &&
			    run_job(fj, read_work) == -1)
				goto fail;
			if (fj->nread <= 0) {
				/*
				 * Truncated under us, or storage failed: once
				 * the head is out, framing is lost and only a
				 * close tells the client. Before it, a 500
				 * for an error (which closes too); a 503 for
				 * a file that is changing, which a retry may
				 * find whole.
				 */
				log_warnx_limited(&read_log,
				    "/%s: read at %jd: %s", rep->res->path->rel,
				    (intmax_t)fj->off,
				    fj->nread == 0 ? "file shrank"
						   : strerror(fj->error));
				if (fj->nread == -1)
					status = 500;
				goto fail;
			}
			fill += (size_t)fj->nread;
			off += (uint64_t)fj->nread;
			left -= (uint64_t)fj->nread;
		}
	}
	if (plan->multipart)
		fill += part_tail(buf + fill, size - fill, plan);
	if ((fill > 0 || head != NULL) &&
	    send_buffered(x, &head, buf, fill) == -1)
		goto fail;
	fj->buf = NULL;
	exchange_buffer_free(x, buf, size);
	return 0;
fail:
	fj->buf = NULL;
	exchange_buffer_free(x, buf, size);
	/* Nothing sent yet: the error keeps the framing, and the connection. */
	if (head != NULL)
		return exchange_send_error(x, status);
	return -1;
}

/*
 * Sends status with the site's page for it, if it has one that can be
 * opened, else the built-in page. The page is served like a file, but
 * whole, with the error's status and without validators: it describes the
 * error, not a representation of the target. Not inlined: its frame would
 * more than double file_serve's, which every file request touches.
 */
static __attribute__((noinline)) int
send_error_page(struct exchange *x, int status)
{
	const struct docroot *root = x->root;
	const struct site_config *site = root->site;
	struct resolution res;
	struct representation rep;
	struct body_plan plan;
	struct file_job fj;
	struct response r;
	struct path page;
	size_t i;
	int rc;

	for (i = 0; i < site->error_page_count; i++)
		if (site->error_pages[i].status == status)
			break;
	if (i == site->error_page_count ||
	    path_parse(&page, site->error_pages[i].path,
		strlen(site->error_pages[i].path)) != 0)
		return exchange_send_error(x, status);
	resolve_init(&res, root, &page, NULL, 0);
	if (resolve(&res) == -1)
		return exchange_send_error(x, status);
	memset(&fj, 0, sizeof fj);
	fj.fd = res.fd;
	if (res.result != RESOLVE_FILE) {
		file_close(root, fj.fd);
		return exchange_send_error(x, status);
	}
	memset(&rep, 0, sizeof rep);
	rep.res = &res;
	rep.size = (uint64_t)res.st.st_size;
	memset(&plan, 0, sizeof plan);
	plan.count = rep.size > 0;
	plan.parts[0].last = rep.size - 1;
	plan.length = rep.size;
	response_begin(&r, status);
	response_add(
	    &r, "Content-Type", "%s", mime_lookup(root->mime, res.name));
	response_add(&r, "Content-Length", "%" PRIu64, plan.length);
	if (x->req->method == HTTP_HEAD)
		rc = exchange_send_head(x, &r, NULL, 0);
	else
		rc = send_body(x, &fj, &r, &plan, &rep);
	file_close(root, fj.fd);
	return rc;
}

/*
 * Open: the file p names, from the open-file cache (no open at all), from
 * the kernel's caches on the reactor (no pool job either), or from one
 * resolve job. Returns the cache entry the request now holds,
 * or NULL with res->fd, if any, the request's own to close. *queued is
 * -1 when the pool would not take the job.
 */
static struct filecache_entry *
open_target(const struct exchange *x, const struct path *p,
    struct resolution *res, int *queued)
{
	const struct docroot *root = x->root;
	struct filecache_entry *cached;
	/*
	 * Longer paths go uncached: a key as long as any path would be a
	 * page more of stack for every request to fault in (file_serve()).
	 */
	char key[FILECACHE_KEY_MAX];

	*queued = 0;
	resolve_init(res, root, p, x->req->accept_encoding.ptr,
	    x->req->accept_encoding.len);
	filecache_key(key, sizeof key, p->rel, p->trailing_slash, res->accept,
	    res->accept_count);
	/*
	 * A miss's job reads what the copy path would read in one chunk: for
	 * a GET likely to be answered whole (no validator, no Range), where
	 * buffers have no budget to take from (HTTP/1.1: not a stream's).
	 */
	if (x->req->method == HTTP_GET && x->ops->reserve == NULL &&
	    x->req->if_none_match.len == 0 &&
	    x->req->if_modified_since.len == 0 && x->req->range.len == 0 &&
	    root->cache_body_bytes > 0 && key[0] != '\0')
		res->read_max = zerocopy(x, FILECACHE_BODY_MAX)
		    ? root->sendfile_min_bytes - 1
		    : FILECACHE_BODY_MAX;
	/* A hot file: no open, no fstat, no close; nothing for the pool. */
	if ((cached = resolve_cache_lookup(res, key)) != NULL)
		return cached;
	if (resolve(res) == -1) {
		resolve_cache_forget(res, key);
		*queued = -1;
		return NULL;
	}
	/* On success the cache owns res->fd; this request a reference. */
	if (res->result == RESOLVE_FILE) {
		describe(res, root);
		cached = resolve_cache_insert(res, key);
	}
	if (res->body != NULL)
		metrics_cached_read(0); /* a read, by the pool */
	if (cached == NULL)
		resolve_cache_forget(res, key);
	return cached;
}

/*
 * Decide: what the validators, preconditions and Range make of a request
 * for rep. Returns 200 or 206 with plan filled in, or the status of an
 * answer without the file's bytes: 304, 412 or 416.
 */
static int
decide(const struct request *req, const struct representation *rep,
    struct body_plan *plan)
{
	struct precond_validators v;
	int status = 200, range_applies;

	v.etag = rep->etag;
	v.last_modified = rep->res->st.st_mtime;
	v.now = time(NULL);
	switch (precond_evaluate(req, &v, &range_applies)) {
	case PRECOND_FAILED:
		return 412;
	case PRECOND_NOT_MODIFIED:
		return 304;
	case PRECOND_PROCEED:
		break;
	}
	memset(plan, 0, sizeof *plan);
	if (range_applies) {
		switch (range_parse_list(req->range.ptr, req->range.len,
		    rep->size, plan->parts, RANGE_MAX_PARTS, &plan->count)) {
		case RANGE_OK:
			status = 206;
			break;
		case RANGE_UNSATISFIABLE:
			return 416;
		case RANGE_IGNORE:
			break;
		}
	}
	if (status == 206 && plan->count > 1 && plan_multipart(plan, rep) == -1)
		status = 200;
	if (status == 200) {
		plan->count = rep->size > 0;
		plan->parts[0].first = 0;
		plan->parts[0].last = rep->size - 1;
	}
	if (!plan->multipart)
		plan->length = plan->count > 0
		    ? plan->parts[0].last - plan->parts[0].first + 1
		    : 0;
	return status;
}

/* A cached file's bytes kept in memory, or read now to be kept. */
static const void *
kept_body(
    const struct exchange *x, struct filecache_entry *cached, uint64_t size)
{
	const void *body;
	int read = 0;

	/* Bodies sendfile sends are not the copy path's to keep. */
	if (cached == NULL || x->req->method == HTTP_HEAD || zerocopy(x, size))
		return NULL;
	body = filecache_body(docroot_cache(x->root), cached, &read);
	if (read)
		metrics_cached_read(1);
	return body;
}

/*
 * Frame: the head of a 200 or 206 as plan says, then its bytes, in the
 * caller's r: a second 4 KiB head in file_serve's frame would be one more
 * stack page that every new coroutine touches.
 */
static int
send_file(struct exchange *x, struct file_job *fj, struct response *r,
    int status, const struct body_plan *plan, const struct representation *rep)
{
	head_begin(r, status, rep);
	if (plan->multipart)
		response_add(r, "Content-Type",
		    "multipart/byteranges; boundary=%s", plan->boundary);
	else
		response_add_str(r, "Content-Type", rep->type);
	if (rep->res->encoding != 0)
		response_add_str(
		    r, "Content-Encoding", encoding_name(rep->res->encoding));
	response_add_u64(r, "Content-Length", plan->length);
	response_add_str(r, "Accept-Ranges", "bytes");
	if (status == 206 && !plan->multipart)
		response_add(r, "Content-Range",
		    "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64,
		    plan->parts[0].first, plan->parts[0].last, rep->size);
	if (x->req->method == HTTP_HEAD)
		return exchange_send_head(x, r, NULL, 0);
	/* Kept bytes: the head and the body in one write, and no read. */
	if (rep->body != NULL && !plan->multipart && plan->count == 1)
		return exchange_send_head(x, r,
		    (const char *)rep->body + plan->parts[0].first,
		    (size_t)plan->length);
	return send_body(x, fj, r, plan, rep);
}

int
file_serve(struct exchange *x, const struct path *p)
{
	const struct docroot *root = x->root;
	struct resolution res;
	struct file_job fj;
	struct response r;
	struct representation rep;
	struct body_plan plan;
	struct filecache_entry *cached;
	int queued, rc;

	cached = open_target(x, p, &res, &queued);
	if (queued == -1)
		return exchange_send_error(x, 503);
	if (res.result == RESOLVE_REDIRECT)
		return send_redirect(x, p, &r);
	if (res.result == RESOLVE_LISTING)
		return listing_serve(x, p, res.fd,
		    &(const struct listing_options){ .root = root,
			.max_entries = root->site->autoindex_max_entries,
			.dotfiles = root->site->dotfiles });
	if (res.result == RESOLVE_FAILED)
		return send_error_page(x, res.status);
	memset(&fj, 0, sizeof fj);
	fj.fd = res.fd;

	/* Fresh from fstat, or from a cache entry statx just checked. */
	rep.res = &res;
	rep.type = res.type;
	rep.size = (uint64_t)res.st.st_size;
	rep.body = NULL;
	memcpy(rep.etag, res.etag, sizeof rep.etag);
	memcpy(rep.last_modified, res.last_modified, sizeof rep.last_modified);
	switch (rc = decide(x->req, &rep, &plan)) {
	case 304:
		head_begin(&r, 304, &rep);
		rc = exchange_send_head(x, &r, NULL, 0);
		break;
	case 412:
		rc = exchange_send_error(x, 412);
		break;
	case 416:
		rc = send_unsatisfiable(x, rep.size, &r);
		break;
	default:
		/*
		 * The bytes the open brought are this answer's only: a
		 * file asked for once is not worth a page of memory kept,
		 * and its next request finds them in the page cache.
		 */
		rep.body = res.body != NULL ? res.body
					    : kept_body(x, cached, rep.size);
		rc = send_file(x, &fj, &r, rc, &plan, &rep);
		break;
	}
	free(res.body);
	if (cached != NULL)
		filecache_release(docroot_cache(root), cached);
	else
		file_close(root, fj.fd);
	return rc;
}
