/*
 * Path resolution. A path is opened beneath the root's directory fd with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), so the kernel refuses
 * every escape, symlinks included; where openat2 is missing the path is
 * opened O_PATH, where that descriptor really points is checked, and only
 * then is the file opened for reading. Runs on I/O pool workers only
 * (docroot_open at start-up excepted).
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
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

#include "config.h"
#include "filecache.h"
#include "log.h"
#include "mime.h"
#include "path.h"
#include "reactor.h"
#include "resolve.h"

/*
 * Opens rel beneath the root. openat2(RESOLVE_BENEATH) lets the kernel
 * refuse every escape, symlinks included; where it is missing, the
 * fallback checks where an O_PATH descriptor really points before it
 * opens anything.
 */
#define OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
/*
 * openat2 with RESOLVE_BENEATH answers EAGAIN when a rename elsewhere
 * raced a ".." it walked (a symlink's target, say) and it cannot prove
 * the walk stayed beneath; the call is safe to repeat. Bounded, since
 * someone renaming in a loop could keep it failing.
 */
#define OPENAT2_TRIES 8

static int
openat2_beneath(int dirfd, const char *rel, int no_symlinks)
{
#if defined(HAVE_LINUX_OPENAT2_H) && defined(SYS_openat2)
	struct open_how how;
	int fd, tries = 0;

	memset(&how, 0, sizeof how);
	how.flags = OPEN_FLAGS;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	if (no_symlinks)
		how.resolve |= RESOLVE_NO_SYMLINKS;
	do
		fd = (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
	while (fd == -1 && (errno == EAGAIN || errno == EINTR) &&
	    ++tries < OPENAT2_TRIES);
	return fd;
#else
	errno = ENOSYS;
	return -1;
#endif
}

/* Where fd really points, from /proc; -1 when that cannot be known. */
static int
fd_path(int fd, char *buf, size_t size)
{
	char link[32];
	ssize_t n;

	snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
	if ((n = readlink(link, buf, size - 1)) == -1)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* Checks where pathfd really points, then opens it for reading. */
static int
reopen_beneath(
    const struct docroot *root, const char *rel, int pathfd, int no_symlinks)
{
	char real[PATH_MAX], link[32];
	size_t rootlen;

	if (fd_path(pathfd, real, sizeof real) == -1)
		goto escape;
	rootlen = strlen(root->real);
	if (strncmp(real, root->real, rootlen) != 0 ||
	    (real[rootlen] != '\0' && real[rootlen] != '/' &&
		strcmp(root->real, "/") != 0))
		goto escape;
	/* Without symlinks, the real path is exactly the one asked for. */
	if (no_symlinks && strcmp(rel, ".") != 0 &&
	    strcmp(real + rootlen + (real[rootlen] == '/'), rel) != 0) {
		errno = ELOOP;
		return -1;
	}
	snprintf(link, sizeof link, "/proc/self/fd/%d", pathfd);
	return open(link, OPEN_FLAGS);
escape:
	errno = EXDEV;
	return -1;
}

/*
 * The fallback. The path is first opened O_PATH, which follows symlinks
 * but opens nothing: a link out of the root must not open what it points
 * at, since for a device or a FIFO the open alone has effects. Only once
 * that descriptor is known to lie beneath the root is the file opened for
 * reading, through its /proc/self/fd link, which names that very inode
 * whatever has been renamed since.
 */
static int
open_beneath(const struct docroot *root, const char *rel)
{
	int no_symlinks = root->site->symlinks == SYMLINKS_OFF;
	int fd, pathfd, error;

	if (root->use_openat2)
		return openat2_beneath(root->fd, rel, no_symlinks);
	if ((pathfd = openat(root->fd, rel, O_PATH | O_CLOEXEC)) == -1)
		return -1;
	if ((fd = reopen_beneath(root, rel, pathfd, no_symlinks)) == -1) {
		error = errno;
		close(pathfd);
		errno = error;
		return -1;
	}
	close(pathfd);
	return fd;
}

int
resolve__open_beneath(const struct docroot *root, const char *rel)
{
	return open_beneath(root, rel);
}

static int
status_of_errno(int error)
{
	switch (error) {
	case ENOENT:
	case ENOTDIR:
	case EXDEV: /* escapes the root: as if it did not exist */
	case ELOOP:
	case ENAMETOOLONG: /* a name past NAME_MAX: no such file */
		return 404;
	case EACCES:
	case EPERM:
		return 403;
	case EMFILE:
	case ENFILE:
	case ENOMEM:
	case EAGAIN: /* openat2 kept losing a race with renames */
		return 503;
	default:
		return 500;
	}
}

static void
resolve_failed(struct resolution *res, int status)
{
	if (res->fd != -1)
		close(res->fd);
	res->fd = -1;
	res->result = RESOLVE_FAILED;
	res->status = status;
}

/*
 * Fails res with the status error calls for. ENOENT and its kind are the
 * client's doing; anything that ends in a 5xx is the server's, and says
 * so in one line (a worker may log: lines are single writes, and the
 * limiter has a lock).
 */
static void
resolve_error(struct resolution *res, const char *rel, int error)
{
	static struct log_ratelimit rl = LOG_RATELIMIT_INITIALIZER(10);
	int status = status_of_errno(error);

	if (status >= 500) {
		/* One per request a client can repeat: rate-limited. */
		errno = error;
		log_warn_limited(&rl, "/%s: cannot open", rel);
	}
	resolve_failed(res, status);
}

static void
set_name(struct resolution *res, const char *rel)
{
	const char *slash = strrchr(rel, '/'), *base;
	size_t len;

	/* An opened file's name is at most NAME_MAX: no cut in practice. */
	base = slash != NULL ? slash + 1 : rel;
	len = strnlen(base, NAME_MAX);
	memcpy(res->name, base, len);
	res->name[len] = '\0';
}

/*
 * Replaces the open file by its best precompressed sidecar ("X.br" beside
 * "X"), if the client takes one and one is there as a regular file. The
 * sidecar must be at least as new as X: a stale one is not served.
 */
static void
open_sidecar(struct resolution *res, const char *rel)
{
	char name[PATH_MAX];
	struct stat st;
	size_t i;
	int fd;

	for (i = 0; i < res->accept_count; i++) {
		if ((size_t)snprintf(name, sizeof name, "%s%s", rel,
			encoding_suffix(res->accept[i])) >= sizeof name)
			continue;
		if ((fd = open_beneath(res->root, name)) == -1)
			continue;
		if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    (st.st_mtim.tv_sec > res->st.st_mtim.tv_sec ||
			(st.st_mtim.tv_sec == res->st.st_mtim.tv_sec &&
			    st.st_mtim.tv_nsec >= res->st.st_mtim.tv_nsec))) {
			close(res->fd);
			res->fd = fd;
			res->st = st;
			res->encoding = res->accept[i];
			return;
		}
		close(fd);
	}
}

/* Worker: open, fstat, and for a directory its index. */
static void
resolve_work(struct iojob *job)
{
	struct resolution *res = (struct resolution *)job;
	struct resolution *fj = res;
	const struct path *p = res->path;
	char index_rel[sizeof p->rel + NAME_MAX + 2];
	int dirfd, error;

	if (!fj->root->site->dotfiles && path_is_hidden(p->rel)) {
		resolve_failed(fj, 404);
		return;
	}
	fj->fd = open_beneath(fj->root, p->rel[0] != '\0' ? p->rel : ".");
	if (fj->fd == -1 || fstat(fj->fd, &fj->st) == -1) {
		resolve_error(fj, p->rel, errno);
		return;
	}
	if (S_ISDIR(fj->st.st_mode)) {
		dirfd = fj->fd;
		fj->fd = -1;
		if (!p->trailing_slash) {
			close(dirfd);
			fj->result = RESOLVE_REDIRECT;
			return;
		}
		if ((size_t)snprintf(index_rel, sizeof index_rel, "%s%s%s",
			p->rel, p->rel[0] != '\0' ? "/" : "",
			fj->root->index) >= sizeof index_rel) {
			close(dirfd);
			resolve_failed(fj, 404);
			return;
		}
		if ((fj->fd = open_beneath(fj->root, index_rel)) == -1) {
			error = errno;
			if (error == ENOENT && fj->root->site->autoindex) {
				/* No index: the directory itself is listed. */
				fj->fd = dirfd;
				fj->result = RESOLVE_LISTING;
				return;
			}
			close(dirfd);
			if (error == ENOENT)
				resolve_failed(fj, 403);
			else
				resolve_error(fj, index_rel, error);
			return;
		}
		close(dirfd);
		if (fstat(fj->fd, &fj->st) == -1) {
			resolve_error(fj, index_rel, errno);
			return;
		}
	} else if (p->trailing_slash) {
		/* "/file/" names a directory that is not there. */
		resolve_failed(fj, 404);
		return;
	}
	if (!S_ISREG(fj->st.st_mode)) {
		resolve_failed(fj, 403);
		return;
	}
	set_name(fj, p->trailing_slash ? fj->root->index : p->rel);
	fj->result = RESOLVE_FILE;
	open_sidecar(fj, p->trailing_slash ? index_rel : p->rel);
}

void
resolve_init(struct resolution *res, const struct docroot *root,
    const struct path *path, const char *accept_encoding, size_t accept_len)
{
	memset(res, 0, sizeof *res);
	res->job.work = resolve_work;
	res->root = root;
	res->path = path;
	res->fd = -1;
	res->accept_count = encoding_rank(accept_encoding, accept_len,
	    root->site->precompressed, res->accept);
}

struct filecache_entry *
resolve_cache_lookup(struct resolution *res, const char *key)
{
	struct filecache_file file;
	struct filecache_entry *e;

	if ((e = filecache_lookup(docroot_cache(res->root), key, &file)) ==
	    NULL)
		return NULL;
	res->result = RESOLVE_FILE;
	res->fd = file.fd;
	res->st = file.st;
	res->encoding = file.encoding;
	memcpy(res->name, file.name, sizeof res->name);
	memcpy(res->etag, file.etag, sizeof res->etag);
	memcpy(
	    res->last_modified, file.last_modified, sizeof res->last_modified);
	res->type = file.type;
	return e;
}

struct filecache_entry *
resolve_cache_insert(const struct resolution *res, const char *key)
{
	struct filecache_file file;

	file.fd = res->fd;
	file.st = res->st;
	file.encoding = res->encoding;
	memcpy(file.name, res->name, sizeof file.name);
	memcpy(file.etag, res->etag, sizeof file.etag);
	memcpy(
	    file.last_modified, res->last_modified, sizeof file.last_modified);
	file.type = res->type;
	return filecache_insert(docroot_cache(res->root), key, &file);
}

/*
 * Chooses how paths are kept beneath the root, once: openat2 where the
 * kernel (and any seccomp filter) allows it, else /proc/self/fd checks.
 * With neither, nothing could be served safely.
 */
static int
docroot_probe(struct docroot *root, char *err, size_t errlen)
{
	char real[PATH_MAX];
	int fd, openat2_errno;

	if ((fd = openat2_beneath(root->fd, ".", 0)) != -1) {
		close(fd);
		root->use_openat2 = 1;
		return 0;
	}
	openat2_errno = errno;
	if (fd_path(root->fd, real, sizeof real) == -1) {
		snprintf(err, errlen,
		    "root %s: cannot keep paths beneath it: "
		    "openat2 fails (%s) and /proc/self/fd is unreadable",
		    root->real, strerror(openat2_errno));
		return -1;
	}
	log_info("openat2 is unavailable: checking opened paths through "
		 "/proc/self/fd instead");
	return 0;
}

struct filecache *
docroot_cache(const struct docroot *root)
{
	struct reactor *r = reactor_current();
	unsigned i = r != NULL ? r->index : 0;

	if (root->caches == NULL || i >= CONFIG_REACTORS_MAX)
		return NULL;
	if (root->caches[i] == NULL)
		root->caches[i] = filecache_create(
		    root->cache_max, root->cache_ttl_ms, root->pool);
	return root->caches[i];
}

struct docroot *
docroot_open(const struct config *cfg, const struct site_config *site,
    const struct mime_table *mime, struct iopool *pool, char *err,
    size_t errlen)
{
	struct docroot *root;

	if ((root = calloc(1, sizeof *root)) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	root->fd = -1;
	root->chunk_bytes = cfg->chunk_bytes;
	root->sendfile_min_bytes = cfg->sendfile_min_bytes;
	root->site = site;
	root->index = site->index;
	root->mime = mime;
	/* Start-up, before the reactor runs: blocking here is fine. */
	if ((root->fd = open(site->root, O_PATH | O_DIRECTORY | O_CLOEXEC)) ==
		-1 ||
	    (root->real = realpath(site->root, NULL)) == NULL) {
		snprintf(
		    err, errlen, "root %s: %s", site->root, strerror(errno));
		goto fail;
	}
	if (docroot_probe(root, err, errlen) == -1)
		goto fail;
	if (pool != NULL && cfg->open_file_cache_max > 0) {
		if ((root->caches = calloc(CONFIG_REACTORS_MAX,
			 sizeof root->caches[0])) == NULL) {
			snprintf(err, errlen, "open-file cache: out of memory");
			goto fail;
		}
		root->cache_max = cfg->open_file_cache_max;
		root->cache_ttl_ms = cfg->open_file_cache_ttl_ms;
		root->pool = pool;
	}
	return root;
fail:
	docroot_close(root);
	return NULL;
}

void
docroot_close(struct docroot *root)
{
	size_t i;

	if (root == NULL)
		return;
	if (root->fd != -1)
		close(root->fd);
	for (i = 0; root->caches != NULL && i < CONFIG_REACTORS_MAX; i++)
		filecache_free(root->caches[i]);
	free(root->caches);
	free(root->real);
	free(root);
}
