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

#include "await.h"
#include "config.h"
#include "conn.h"
#include "file.h"
#include "resolve.h"
#include "httpdate.h"
#include "iopool.h"
#include "log.h"
#include "mime.h"
#include "path.h"
#include "range.h"
#include "request.h"
#include "response.h"

#define ETAG_MAX	48

/* The read and close jobs of one response. */
struct file_job {
	struct iojob		 job;
	int			 fd;
	void			*buf;
	size_t			 len;
	off_t			 off;
	ssize_t			 nread;
	int			 error;
};

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
	struct resolution	 res;
	struct file_job		 fj;
	struct response		 r;
	struct byte_range	 range;
	char			 etag[ETAG_MAX], lastmod[HTTPDATE_LEN + 1];
	uint64_t		 size, first = 0, length;
	int			 status = 200, rc;

	resolve_init(&res, root, p);
	if (await_job(&res.job) == -1) {
		log_warnx("I/O queue full");
		return conn_send_error(c, req, 503);
	}
	if (res.result == RESOLVE_REDIRECT)
		return send_redirect(c, req, p, &r);
	if (res.result == RESOLVE_FAILED)
		return conn_send_error(c, req, res.status);
	memset(&fj, 0, sizeof fj);
	fj.fd = res.fd;

	size = (uint64_t)res.st.st_size;
	length = size;
	make_etag(&res.st, etag, sizeof etag);
	httpdate_format(res.st.st_mtime, lastmod);
	if (not_modified(req, &res.st, etag)) {
		response_begin(&r, 304);
		response_add(&r, "ETag", "%s", etag);
		response_add(&r, "Last-Modified", "%s", lastmod);
		rc = conn_send_head(c, &r, NULL, 0);
		goto out;
	}
	if (req->method == HTTP_GET && req->range.ptr != NULL &&
	    if_range_holds(req, &res.st, etag)) {
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
	    res.name));
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

