/*
 * The static file handler. A request becomes three kinds of I/O pool job:
 * an open (resolve under the root, fstat, find the index), reads of one
 * chunk each, and a close. The coroutine waits for each job, so the code
 * below reads as plain blocking code while the reactor thread never touches
 * the filesystem. One chunk buffer per response bounds memory: the next
 * pread is not issued until the previous chunk has gone into the socket.
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
#include <sys/syscall.h>
#include <unistd.h>
#ifdef HAVE_LINUX_OPENAT2_H
#include <linux/openat2.h>
#endif

#include "await.h"
#include "config.h"
#include "conn.h"
#include "file.h"
#include "httpdate.h"
#include "iopool.h"
#include "log.h"
#include "mime.h"
#include "path.h"
#include "range.h"
#include "request.h"
#include "response.h"

#define ETAG_MAX	48

enum open_result {
	OPEN_FILE,	/* fd and st describe a regular file */
	OPEN_REDIRECT,	/* a directory named without its trailing slash */
	OPEN_FAILED	/* status says which error to send */
};

struct file_job {
	struct iojob		 job;
	const struct docroot	*root;
	const struct path	*path;
	enum open_result	 result;
	int			 status;
	int			 fd;
	struct stat		 st;
	void			*buf;
	size_t			 len;
	off_t			 off;
	ssize_t			 nread;
	int			 error;
};

/*
 * Opens rel beneath the root. openat2(RESOLVE_BENEATH) lets the kernel
 * refuse every escape, symlinks included; where it is missing, the
 * fallback opens normally and checks where the descriptor really points.
 */
#define OPEN_FLAGS	(O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)

static int
openat2_beneath(int dirfd, const char *rel)
{
#if defined(HAVE_LINUX_OPENAT2_H) && defined(SYS_openat2)
	struct open_how	 how;

	memset(&how, 0, sizeof how);
	how.flags = OPEN_FLAGS;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	return (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
#else
	errno = ENOSYS;
	return -1;
#endif
}

/* Where fd really points, from /proc; -1 when that cannot be known. */
static int
fd_path(int fd, char *buf, size_t size)
{
	char	 link[32];
	ssize_t	 n;

	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	if ((n = readlink(link, buf, size - 1)) == -1)
		return -1;
	buf[n] = '\0';
	return 0;
}

static int
open_beneath(const struct docroot *root, const char *rel)
{
	char	 real[PATH_MAX];
	size_t	 rootlen;
	int	 fd;

	if (root->use_openat2)
		return openat2_beneath(root->fd, rel);
	if ((fd = openat(root->fd, rel, OPEN_FLAGS)) == -1)
		return -1;
	if (fd_path(fd, real, sizeof real) == -1)
		goto escape;
	rootlen = strlen(root->real);
	if (strncmp(real, root->real, rootlen) != 0 ||
	    (real[rootlen] != '\0' && real[rootlen] != '/' &&
	    strcmp(root->real, "/") != 0))
		goto escape;
	return fd;
escape:
	close(fd);
	errno = EXDEV;
	return -1;
}

static int
status_of_errno(int error)
{
	switch (error) {
	case ENOENT:
	case ENOTDIR:
	case EXDEV:	/* escapes the root: as if it did not exist */
	case ELOOP:
		return 404;
	case EACCES:
	case EPERM:
		return 403;
	case ENAMETOOLONG:
		return 414;
	case EMFILE:
	case ENFILE:
	case ENOMEM:
		return 503;
	default:
		return 500;
	}
}

static void
open_failed(struct file_job *fj, int status)
{
	if (fj->fd != -1)
		close(fj->fd);
	fj->fd = -1;
	fj->result = OPEN_FAILED;
	fj->status = status;
}

/* Worker: open, fstat, and for a directory its index. */
static void
open_work(struct iojob *job)
{
	struct file_job		*fj = (struct file_job *)job;
	const struct path	*p = fj->path;
	char			 index_rel[sizeof p->rel + NAME_MAX + 2];

	fj->fd = open_beneath(fj->root, p->rel[0] != '\0' ? p->rel : ".");
	if (fj->fd == -1 || fstat(fj->fd, &fj->st) == -1) {
		open_failed(fj, status_of_errno(errno));
		return;
	}
	if (S_ISDIR(fj->st.st_mode)) {
		close(fj->fd);
		fj->fd = -1;
		if (!p->trailing_slash) {
			fj->result = OPEN_REDIRECT;
			return;
		}
		if ((size_t)snprintf(index_rel, sizeof index_rel, "%s%s%s",
		    p->rel, p->rel[0] != '\0' ? "/" : "", fj->root->index) >=
		    sizeof index_rel) {
			open_failed(fj, 414);
			return;
		}
		fj->fd = open_beneath(fj->root, index_rel);
		if (fj->fd == -1) {
			/* A directory without an index is not listed. */
			open_failed(fj, errno == ENOENT ? 403 :
			    status_of_errno(errno));
			return;
		}
		if (fstat(fj->fd, &fj->st) == -1) {
			open_failed(fj, status_of_errno(errno));
			return;
		}
	} else if (p->trailing_slash) {
		/* "/file/" names a directory that is not there. */
		open_failed(fj, 404);
		return;
	}
	if (!S_ISREG(fj->st.st_mode)) {
		open_failed(fj, 403);
		return;
	}
	fj->result = OPEN_FILE;
}

static void
read_work(struct iojob *job)
{
	struct file_job	*fj = (struct file_job *)job;

	do
		fj->nread = pread(fj->fd, fj->buf, fj->len, fj->off);
	while (fj->nread == -1 && errno == EINTR);
	fj->error = errno;
}

static void
close_work(struct iojob *job)
{
	struct file_job	*fj = (struct file_job *)job;

	close(fj->fd);
	fj->fd = -1;
}

/* Runs job on the pool; a full queue means the server is overloaded. */
static int
run_job(struct file_job *fj, void (*work)(struct iojob *))
{
	fj->job.work = work;
	/* A close releases what an earlier job took: never refuse it. */
	fj->job.past_limit = work == close_work;
	if (await_job(&fj->job) == -1) {
		log_warnx("I/O queue full");
		return -1;
	}
	return 0;
}

static void
file_close(struct file_job *fj)
{
	if (fj->fd != -1)
		run_job(fj, close_work);
}

static void
make_etag(const struct stat *st, char *buf, size_t len)
{
	/* Size and mtime only: equal copies on other hosts validate alike. */
	snprintf(buf, len, "\"%" PRIx64 "-%" PRIx64 "\"",
	    (uint64_t)st->st_mtim.tv_sec * 1000000000u +
	    (uint64_t)st->st_mtim.tv_nsec, (uint64_t)st->st_size);
}

/* Weak comparison of our strong etag with an If-None-Match list. */
static int
etag_list_matches(struct slice list, const char *etag)
{
	const char	*p = list.ptr, *end = list.ptr + list.len, *tag;
	size_t		 etaglen = strlen(etag);

	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == ','))
			p++;
		if (p == end)
			break;
		if (*p == '*')
			return 1;
		if (end - p >= 2 && p[0] == 'W' && p[1] == '/')
			p += 2;
		tag = p;
		if (p < end && *p == '"') {
			p++;
			while (p < end && *p != '"')
				p++;
			if (p < end)
				p++;
		}
		if ((size_t)(p - tag) == etaglen &&
		    memcmp(tag, etag, etaglen) == 0)
			return 1;
		while (p < end && *p != ',')
			p++;
	}
	return 0;
}

static int
not_modified(const struct request *req, const struct stat *st,
    const char *etag)
{
	time_t	 since;

	if (req->if_none_match.ptr != NULL)
		return etag_list_matches(req->if_none_match, etag);
	if (req->if_modified_since.ptr != NULL &&
	    httpdate_parse(req->if_modified_since.ptr,
	    req->if_modified_since.len, &since) == 0)
		return st->st_mtime <= since;
	return 0;
}

/* If-Range: the range applies only to the representation it names. */
static int
if_range_holds(const struct request *req, const struct stat *st,
    const char *etag)
{
	struct slice	 v = req->if_range;
	time_t		 date;

	if (v.ptr == NULL)
		return 1;
	if (v.len > 0 && v.ptr[0] == '"')
		return v.len == strlen(etag) && memcmp(v.ptr, etag, v.len) == 0;
	return httpdate_parse(v.ptr, v.len, &date) == 0 &&
	    date == st->st_mtime;
}

static const char *
base_name(const char *rel)
{
	const char	*slash = strrchr(rel, '/');

	return slash != NULL ? slash + 1 : rel;
}

/*
 * The Location is built from the resolved path, never from the client's
 * bytes: "//host/.." must not become a redirect to another site.
 */
static int
send_redirect(struct conn *c, const struct request *req,
    const struct path *p, struct response *r)
{
	char	 location[sizeof p->rel * 3 + 2];
	char	 body[RESPONSE_ERROR_BODY_MAX];
	size_t	 len;

	long	 loclen;
	int	 rc;

	if ((loclen = path_encode(p->rel, location, sizeof location)) == -1)
		return conn_send_error(c, req, 414);
	if (response_begin_large(r, 301, RESPONSE_HEAD_MAX + loclen +
	    p->query_len) == -1)
		return conn_send_error(c, req, 503);
	len = response_error_body(301, body);
	response_add(r, "Location", "%s/%.*s", location, (int)p->query_len,
	    p->query != NULL ? p->query : "");
	response_add(r, "Content-Type", "text/html; charset=utf-8");
	response_add(r, "Content-Length", "%zu", len);
	rc = conn_send_head(c, r, req->method == HTTP_HEAD ? NULL : body, len);
	response_free(r);
	return rc;
}

static int
send_unsatisfiable(struct conn *c, uint64_t size, struct response *r)
{
	char	 body[RESPONSE_ERROR_BODY_MAX];
	size_t	 len;

	len = response_error_body(416, body);
	response_begin(r, 416);
	response_add(r, "Content-Range", "bytes */%" PRIu64, size);
	response_add(r, "Content-Type", "text/html; charset=utf-8");
	response_add(r, "Content-Length", "%zu", len);
	return conn_send_head(c, r, body, len);
}

/* Streams [first, first + length) of the open file, one chunk at a time. */
static int
send_body(struct conn *c, struct file_job *fj, struct response *r,
    uint64_t first, uint64_t length)
{
	const struct docroot	*root = conn_docroot(c);
	size_t			 chunk;
	int			 head_pending = 1;

	chunk = length < root->chunk_bytes ? (size_t)length : root->chunk_bytes;
	if ((fj->buf = malloc(chunk > 0 ? chunk : 1)) == NULL) {
		log_warnx("no memory for a %zu byte chunk", chunk);
		return conn_send_error(c, NULL, 503);
	}
	fj->off = (off_t)first;
	do {
		fj->len = length < chunk ? (size_t)length : chunk;
		if (fj->len > 0) {
			if (run_job(fj, read_work) == -1)
				goto fail;
			if (fj->nread <= 0) {
				/* Truncated under us: framing is lost. */
				log_warnx("read at %jd: %s", (intmax_t)fj->off,
				    fj->nread == 0 ? "file shrank" :
				    strerror(fj->error));
				goto fail;
			}
		} else
			fj->nread = 0;
		if (head_pending) {
			head_pending = 0;
			if (conn_send_head(c, r, fj->buf, fj->nread) == -1)
				goto fail;
		} else if (conn_send_body(c, fj->buf, fj->nread) == -1)
			goto fail;
		fj->off += fj->nread;
		length -= fj->nread;
	} while (length > 0);
	free(fj->buf);
	fj->buf = NULL;
	return 0;
fail:
	free(fj->buf);
	fj->buf = NULL;
	if (head_pending)
		return conn_send_error(c, NULL, 503), -1;
	return -1;
}

int
file_serve(struct conn *c, const struct request *req, const struct path *p)
{
	const struct docroot	*root = conn_docroot(c);
	struct file_job		 fj;
	struct response		 r;
	struct byte_range	 range;
	char			 etag[ETAG_MAX], lastmod[HTTPDATE_LEN + 1];
	uint64_t		 size, first = 0, length;
	int			 status = 200, rc;

	memset(&fj, 0, sizeof fj);
	fj.root = root;
	fj.path = p;
	fj.fd = -1;
	if (run_job(&fj, open_work) == -1)
		return conn_send_error(c, req, 503);
	if (fj.result == OPEN_REDIRECT)
		return send_redirect(c, req, p, &r);
	if (fj.result == OPEN_FAILED)
		return conn_send_error(c, req, fj.status);

	size = (uint64_t)fj.st.st_size;
	length = size;
	make_etag(&fj.st, etag, sizeof etag);
	httpdate_format(fj.st.st_mtime, lastmod);
	if (not_modified(req, &fj.st, etag)) {
		response_begin(&r, 304);
		response_add(&r, "ETag", "%s", etag);
		response_add(&r, "Last-Modified", "%s", lastmod);
		rc = conn_send_head(c, &r, NULL, 0);
		goto out;
	}
	if (req->method == HTTP_GET && req->range.ptr != NULL &&
	    if_range_holds(req, &fj.st, etag)) {
		switch (range_parse(req->range.ptr, req->range.len, size,
		    &range)) {
		case RANGE_OK:
			status = 206;
			first = range.first;
			length = range.last - range.first + 1;
			break;
		case RANGE_UNSATISFIABLE:
			rc = send_unsatisfiable(c, size, &r);
			goto out;
		case RANGE_IGNORE:
			break;
		}
	}

	response_begin(&r, status);
	response_add(&r, "Content-Type", "%s", mime_lookup(root->mime,
	    base_name(p->trailing_slash ? root->index : p->rel)));
	response_add(&r, "Content-Length", "%" PRIu64, length);
	response_add(&r, "Last-Modified", "%s", lastmod);
	response_add(&r, "ETag", "%s", etag);
	response_add(&r, "Accept-Ranges", "bytes");
	if (status == 206)
		response_add(&r, "Content-Range", "bytes %" PRIu64 "-%" PRIu64
		    "/%" PRIu64, first, first + length - 1, size);
	if (req->method == HTTP_HEAD)
		rc = conn_send_head(c, &r, NULL, 0);
	else
		rc = send_body(c, &fj, &r, first, length);
out:
	file_close(&fj);
	return rc;
}

/*
 * Chooses how paths are kept beneath the root, once: openat2 where the
 * kernel (and any seccomp filter) allows it, else /proc/self/fd checks.
 * With neither, nothing could be served safely.
 */
static int
docroot_probe(struct docroot *root, char *err, size_t errlen)
{
	char	 real[PATH_MAX];
	int	 fd, openat2_errno;

	if ((fd = openat2_beneath(root->fd, ".")) != -1) {
		close(fd);
		root->use_openat2 = 1;
		return 0;
	}
	openat2_errno = errno;
	if (fd_path(root->fd, real, sizeof real) == -1) {
		snprintf(err, errlen, "root %s: cannot keep paths beneath it: "
		    "openat2 fails (%s) and /proc/self/fd is unreadable",
		    root->real, strerror(openat2_errno));
		return -1;
	}
	log_info("openat2 is unavailable: checking opened paths through "
	    "/proc/self/fd instead");
	return 0;
}

struct docroot *
docroot_open(const struct config *cfg, char *err, size_t errlen)
{
	struct docroot	*root;

	if ((root = calloc(1, sizeof *root)) == NULL)
		goto fail;
	root->fd = -1;
	root->chunk_bytes = cfg->chunk_bytes;
	if ((root->index = strdup(cfg->index)) == NULL)
		goto fail;
	/* Start-up, before the reactor runs: blocking here is fine. */
	if ((root->fd = open(cfg->root, O_PATH | O_DIRECTORY | O_CLOEXEC)) ==
	    -1 || (root->real = realpath(cfg->root, NULL)) == NULL) {
		snprintf(err, errlen, "root %s: %s", cfg->root,
		    strerror(errno));
		goto fail_quiet;
	}
	if ((root->mime = mime_load(cfg->mime_types)) == NULL)
		goto fail;
	if (docroot_probe(root, err, errlen) == -1)
		goto fail_quiet;
	return root;
fail:
	snprintf(err, errlen, "out of memory");
fail_quiet:
	docroot_close(root);
	return NULL;
}

void
docroot_close(struct docroot *root)
{
	if (root == NULL)
		return;
	if (root->fd != -1)
		close(root->fd);
	free(root->real);
	free(root->index);
	if (root->mime != NULL)
		mime_free(root->mime);
	free(root);
}
