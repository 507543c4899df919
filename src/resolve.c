/*
 * Path resolution. A path is opened beneath the root's directory fd with
 * openat2(RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS), so the kernel refuses
 * every escape, symlinks included; where openat2 is missing the path is
 * opened O_PATH, where that descriptor really points is checked, and only
 * then is the file opened for reading.
 *
 * A resolution runs in one of two places. On the reactor, first
 * (resolve_cached): openat2 with RESOLVE_CACHED is answered from the
 * dentry cache or fails at once with EAGAIN, and statx with
 * AT_STATX_DONT_SYNC reads the attributes in memory, so neither waits for
 * storage; descriptors it lets go are closed on the pool. Anything it
 * cannot answer that way sends the whole resolution to an I/O pool
 * worker (resolve_work), where every call may block. Both walk the same
 * code (struct walk says where it runs), so they cannot disagree about
 * what is served.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#ifdef HAVE_LINUX_OPENAT2_H
#include <linux/openat2.h>
#endif
#include <linux/magic.h>

/* Where <linux/magic.h> is older, or never named them. */
#ifndef CIFS_SUPER_MAGIC
#define CIFS_SUPER_MAGIC 0xFF534D42
#endif
#ifndef SMB2_SUPER_MAGIC
#define SMB2_SUPER_MAGIC 0xFE534D42
#endif
#ifndef FUSE_SUPER_MAGIC
#define FUSE_SUPER_MAGIC 0x65735546
#endif
#ifndef AFS_FS_MAGIC
#define AFS_FS_MAGIC 0x6B414653
#endif
#define GFS2_MAGIC 0x01161970
#define LUSTRE_SUPER_MAGIC 0x0BD00BD0
#define ORANGEFS_DEVREQ_MAGIC 0x13661366

#include "config.h"
#include "filecache.h"
#include "iopool.h"
#include "log.h"
#include "mime.h"
#include "path.h"
#include "reactor.h"
#include "resolve.h"

/*
 * Opens rel beneath the root. openat2(RESOLVE_BENEATH) lets the kernel
 * refuse every escape, symlinks included; where it is missing, the
 * fallback checks where an O_PATH descriptor really points before it
 * opens anything. O_NONBLOCK keeps a FIFO from waiting for a writer, and
 * is what lets an open on the reactor never wait (io_uring pairs it with
 * RESOLVE_CACHED's LOOKUP_CACHED for its own non-blocking opens).
 */
#define OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
/*
 * openat2 with RESOLVE_BENEATH answers EAGAIN when a rename elsewhere
 * raced a ".." it walked (a symlink's target, say) and it cannot prove
 * the walk stayed beneath; the call is safe to repeat. Bounded, since
 * someone renaming in a loop could keep it failing. With RESOLVE_CACHED
 * EAGAIN is also the dentry cache's "not here": never repeated then, the
 * pool's uncached walk is the retry.
 */
#define OPENAT2_TRIES 8
/* What a file's description needs from statx. */
#define STATX_NEEDED (STATX_TYPE | STATX_MODE | STATX_SIZE | STATX_MTIME)

static int
openat2_beneath(int dirfd, const char *rel, int no_symlinks, int cached)
{
#if defined(HAVE_LINUX_OPENAT2_H) && defined(SYS_openat2)
	struct open_how how;
	int fd, tries = 0;

	memset(&how, 0, sizeof how);
	how.flags = OPEN_FLAGS;
	how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
	if (no_symlinks)
		how.resolve |= RESOLVE_NO_SYMLINKS;
	/* Cached: only on the root's own filesystem (docroot_probe). */
	if (cached)
		how.resolve |= RESOLVE_CACHED | RESOLVE_NO_XDEV;
	do
		fd = (int)syscall(SYS_openat2, dirfd, rel, &how, sizeof how);
	while (fd == -1 && (errno == EINTR || (errno == EAGAIN && !cached)) &&
	    ++tries < OPENAT2_TRIES);
	return fd;
#else
	(void)dirfd, (void)rel, (void)no_symlinks, (void)cached;
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
		return openat2_beneath(root->fd, rel, no_symlinks, 0);
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

/*
 * Where a resolution runs. On a worker (cached 0) every call may block.
 * On the reactor only calls that cannot wait for storage are made, and
 * gave_up says one of them could not answer: the resolution has released
 * what it opened and must run again, from the start, on the pool.
 */
struct walk {
	struct resolution *res;
	int cached;
	int gave_up;
};

/*
 * Opens rel as the walk may. -1 with errno is final (no such file, or
 * one that may not be served) unless gave_up is set: on the reactor that
 * is every answer but those, EAGAIN from a dentry cache miss first.
 */
static int
walk_open(struct walk *w, const char *rel)
{
	const struct docroot *root = w->res->root;
	int fd;

	if (!w->cached)
		return open_beneath(root, rel);
	/*
	 * The /proc fallback has no cached-only form: its O_PATH openat may
	 * look names up on storage, so such a root resolves on the pool.
	 */
	if (!root->use_cached) {
		w->gave_up = 1;
		errno = EAGAIN;
		return -1;
	}
	fd = openat2_beneath(
	    root->fd, rel, root->site->symlinks == SYMLINKS_OFF, 1);
	/*
	 * ENOENT from the cache is a negative dentry: as sure as a lookup.
	 * EXDEV may be a mount point (RESOLVE_NO_XDEV), not an escape.
	 */
	if (fd == -1 && (status_of_errno(errno) >= 500 || errno == EXDEV))
		w->gave_up = 1;
	return fd;
}

static void
stat_from_statx(struct stat *st, const struct statx *sx)
{
	memset(st, 0, sizeof *st);
	st->st_dev = makedev(sx->stx_dev_major, sx->stx_dev_minor);
	st->st_ino = sx->stx_ino;
	st->st_mode = sx->stx_mode;
	st->st_nlink = sx->stx_nlink;
	st->st_uid = sx->stx_uid;
	st->st_gid = sx->stx_gid;
	st->st_size = (off_t)sx->stx_size;
	st->st_blksize = sx->stx_blksize;
	st->st_blocks = (blkcnt_t)sx->stx_blocks;
	st->st_atim.tv_sec = sx->stx_atime.tv_sec;
	st->st_atim.tv_nsec = sx->stx_atime.tv_nsec;
	st->st_mtim.tv_sec = sx->stx_mtime.tv_sec;
	st->st_mtim.tv_nsec = sx->stx_mtime.tv_nsec;
	st->st_ctim.tv_sec = sx->stx_ctime.tv_sec;
	st->st_ctim.tv_nsec = sx->stx_ctime.tv_nsec;
}

/*
 * The open file's attributes. On the reactor, AT_STATX_DONT_SYNC answers
 * from what is in memory (fstat may ask a network filesystem's server);
 * a failure there, or attributes it could not give, go to the pool.
 */
static int
walk_stat(struct walk *w, int fd, struct stat *st)
{
	struct statx sx;

	if (!w->cached)
		return fstat(fd, st);
	if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_BASIC_STATS,
		&sx) == -1 ||
	    (sx.stx_mask & STATX_NEEDED) != STATX_NEEDED) {
		w->gave_up = 1;
		errno = EAGAIN;
		return -1;
	}
	stat_from_statx(st, &sx);
	return 0;
}

/*
 * A close can wait for storage: on the reactor it is left to the pool,
 * batched (iopool_close). A root without a pool (-t, unit tests) has no
 * reactor either.
 */
static void
walk_close(struct walk *w, int fd)
{
	if (w->cached && w->res->root->pool != NULL)
		iopool_close(w->res->root->pool, fd);
	else
		close(fd);
}

static void
walk_failed(struct walk *w, int status)
{
	struct resolution *res = w->res;

	if (res->fd != -1)
		walk_close(w, res->fd);
	res->fd = -1;
	res->result = RESOLVE_FAILED;
	res->status = status;
}

/*
 * Fails the resolution with the status error calls for, or, when the
 * walk gave up, only releases what it holds. ENOENT and its kind are the
 * client's doing; anything that ends in a 5xx is the server's, and says
 * so in one line (a worker may log: lines are single writes, and the
 * limiter has a lock). A walk on the reactor never gets that far: it
 * gives up first, and the pool's walk logs.
 */
static void
walk_error(struct walk *w, const char *rel, int error)
{
	static struct log_ratelimit rl = LOG_RATELIMIT_INITIALIZER(10);
	struct resolution *res = w->res;
	int status = status_of_errno(error);

	if (w->gave_up) {
		if (res->fd != -1)
			walk_close(w, res->fd);
		res->fd = -1;
		return;
	}
	if (status >= 500) {
		/* One per request a client can repeat: rate-limited. */
		errno = error;
		log_warn_limited(&rl, "/%s: cannot open", rel);
	}
	if (error == EMFILE || error == ENFILE)
		filecache_short();
	walk_failed(w, status);
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
 * sidecar must be at least as new as X: a stale one is not served. On the
 * reactor a sidecar the dentry cache cannot vouch for either way (not
 * even as missing) gives the whole resolution up: which file is served
 * must not depend on where it was resolved.
 */
static __attribute__((noinline)) void
walk_sidecar(struct walk *w, const char *rel)
{
	struct resolution *res = w->res;
	char name[PATH_MAX];
	struct stat st;
	size_t i;
	int fd;

	for (i = 0; i < res->accept_count; i++) {
		if ((size_t)snprintf(name, sizeof name, "%s%s", rel,
			encoding_suffix(res->accept[i])) >= sizeof name)
			continue;
		if ((fd = walk_open(w, name)) == -1) {
			if (w->gave_up)
				return;
			continue;
		}
		if (walk_stat(w, fd, &st) == 0 && S_ISREG(st.st_mode) &&
		    (st.st_mtim.tv_sec > res->st.st_mtim.tv_sec ||
			(st.st_mtim.tv_sec == res->st.st_mtim.tv_sec &&
			    st.st_mtim.tv_nsec >= res->st.st_mtim.tv_nsec))) {
			walk_close(w, res->fd);
			res->fd = fd;
			res->st = st;
			res->encoding = res->accept[i];
			return;
		}
		walk_close(w, fd);
		if (w->gave_up)
			return;
	}
}

/*
 * What rel opened: a regular file is the resolution, with the sidecar the
 * client takes best; name gives its media type.
 */
static void
walk_file(struct walk *w, const char *rel, const char *name)
{
	struct resolution *res = w->res;

	if (!S_ISREG(res->st.st_mode)) {
		walk_failed(w, 403);
		return;
	}
	set_name(res, name);
	res->result = RESOLVE_FILE;
	if (res->accept_count > 0)
		walk_sidecar(w, rel);
	if (w->gave_up) {
		walk_close(w, res->fd);
		res->fd = -1;
	}
}

/*
 * A directory named with its '/': its index, or the directory to list.
 * Not inlined, as walk_sidecar() is not: a path's worth of stack each,
 * which a plain file's walk would otherwise fault in on every new
 * coroutine stack (stack-clash probes touch a whole frame).
 */
static __attribute__((noinline)) void
walk_index(struct walk *w, int dirfd)
{
	struct resolution *res = w->res;
	const struct path *p = res->path;
	char index_rel[sizeof p->rel + NAME_MAX + 2];
	int error;

	if ((size_t)snprintf(index_rel, sizeof index_rel, "%s%s%s", p->rel,
		p->rel[0] != '\0' ? "/" : "",
		res->root->index) >= sizeof index_rel) {
		walk_close(w, dirfd);
		walk_failed(w, 404);
		return;
	}
	if ((res->fd = walk_open(w, index_rel)) == -1) {
		error = errno;
		if (!w->gave_up && error == ENOENT &&
		    res->root->site->autoindex) {
			/* No index: the directory itself is listed. */
			res->fd = dirfd;
			res->result = RESOLVE_LISTING;
			return;
		}
		walk_close(w, dirfd);
		if (!w->gave_up && error == ENOENT)
			walk_failed(w, 403);
		else
			walk_error(w, index_rel, error);
		return;
	}
	walk_close(w, dirfd);
	if (walk_stat(w, res->fd, &res->st) == -1) {
		walk_error(w, index_rel, errno);
		return;
	}
	walk_file(w, index_rel, res->root->index);
}

/* Open, stat, and for a directory its index, wherever w says. */
static void
walk_resolve(struct walk *w)
{
	struct resolution *res = w->res;
	const struct path *p = res->path;
	int dirfd;

	if (!res->root->site->dotfiles && path_is_hidden(p->rel)) {
		walk_failed(w, 404);
		return;
	}
	res->fd = walk_open(w, p->rel[0] != '\0' ? p->rel : ".");
	if (res->fd == -1 || walk_stat(w, res->fd, &res->st) == -1) {
		walk_error(w, p->rel, errno);
		return;
	}
	if (S_ISDIR(res->st.st_mode)) {
		dirfd = res->fd;
		res->fd = -1;
		if (!p->trailing_slash) {
			walk_close(w, dirfd);
			res->result = RESOLVE_REDIRECT;
			return;
		}
		walk_index(w, dirfd);
		return;
	}
	if (p->trailing_slash) {
		/* "/file/" names a directory that is not there. */
		walk_failed(w, 404);
		return;
	}
	walk_file(w, p->rel, p->rel);
}

/* Worker: the whole of a file of at most read_max bytes, or nothing. */
static void
read_body(struct resolution *res)
{
	size_t len = (size_t)res->st.st_size;
	ssize_t n;

	if (len == 0 || len > res->read_max ||
	    (res->body = malloc(len)) == NULL)
		return;
	do
		n = pread(res->fd, res->body, len, 0);
	while (n == -1 && errno == EINTR);
	if (n != (ssize_t)len) {
		/* The copy path reads again, and says what went wrong. */
		free(res->body);
		res->body = NULL;
	}
}

/* Worker: the walk that may block. */
static void
resolve_work(struct iojob *job)
{
	struct resolution *res = (struct resolution *)job;
	struct walk w = { res, 0, 0 };

	walk_resolve(&w);
	if (res->result == RESOLVE_FILE && res->read_max > 0)
		read_body(res);
}

int
resolve_cached(struct resolution *res)
{
	struct walk w = { res, 1, 0 };

	walk_resolve(&w);
	if (!w.gave_up)
		return 0;
	/* As resolve_init left it, for the pool's walk. */
	res->result = RESOLVE_FILE;
	res->status = 0;
	res->encoding = 0;
	return -1;
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
	struct reactor *r = reactor_current();
	struct filecache_file file;
	struct filecache_entry *e;

	if ((e = filecache_lookup(docroot_cache(res->root), key,
		 r != NULL ? r->turn : 0, &file)) == NULL)
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

void
resolve_cache_forget(const struct resolution *res, const char *key)
{
	filecache_forget(docroot_cache(res->root), key);
}

/*
 * Filesystems whose reads can wait on a server, a daemon or another
 * node even for pages in memory: before a sendfile the kernel may
 * revalidate the file (NFS asks for its attributes once their cache has
 * expired, every few seconds), so only the pool sends from them.
 */
static int
remote_fs(uint32_t type)
{
	switch (type) {
	case NFS_SUPER_MAGIC:
	case SMB_SUPER_MAGIC:
	case CIFS_SUPER_MAGIC:
	case SMB2_SUPER_MAGIC:
	case CEPH_SUPER_MAGIC:
	case FUSE_SUPER_MAGIC:
	case V9FS_MAGIC:
	case AFS_SUPER_MAGIC:
	case AFS_FS_MAGIC:
	case CODA_SUPER_MAGIC:
	case GFS2_MAGIC:
	case OCFS2_SUPER_MAGIC:
	case LUSTRE_SUPER_MAGIC:
	case ORANGEFS_DEVREQ_MAGIC:
		return 1;
	default:
		return 0;
	}
}

/*
 * Whether the root's filesystem is a local one, and which it is: on
 * another (a mount beneath the root) or a remote one, a file's sendfile
 * goes to the pool. Start-up or a reload's pool job: fstatfs on a network
 * root may wait here. An unknown filesystem counts as remote.
 */
static void
probe_filesystem(struct docroot *root)
{
	struct statfs sf;
	struct stat st;

	root->local = fstat(root->fd, &st) == 0 &&
	    fstatfs(root->fd, &sf) == 0 && !remote_fs((uint32_t)sf.f_type);
	root->dev = root->local ? st.st_dev : 0;
	if (!root->local)
		log_info("root %s: on a network or FUSE filesystem: every "
			 "sendfile goes to the I/O pool",
		    root->real);
}

int
docroot_local(const struct docroot *root, const struct stat *st)
{
	return root->local && st->st_dev == root->dev;
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

	probe_filesystem(root);
	if ((fd = openat2_beneath(root->fd, ".", 0, 0)) != -1) {
		close(fd);
		root->use_openat2 = 1;
		/* RESOLVE_CACHED is Linux 5.12's; older kernels say EINVAL. */
		if ((fd = openat2_beneath(root->fd, ".", 0, 1)) != -1)
			close(fd);
		root->use_cached = fd != -1 || errno == EAGAIN;
		if (!root->use_cached)
			log_info("openat2 lacks RESOLVE_CACHED: every open "
				 "goes to the I/O pool");
		else if (!root->local) {
			/*
			 * Names on a network filesystem are revalidated, so
			 * RESOLVE_CACHED would answer EAGAIN anyway; FUSE
			 * asks its daemon on every open, which the dentry
			 * cache answering does not spare. Other mounts
			 * beneath the root are not looked at: the reactor's
			 * opens do not cross into them (RESOLVE_NO_XDEV).
			 */
			root->use_cached = 0;
			log_info("root %s: opens can wait: every open goes "
				 "to the I/O pool",
			    root->real);
		}
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

/* Where the calling reactor's cache for root is kept; NULL with none. */
static struct filecache **
cache_slot(const struct docroot *root)
{
	struct reactor *r = reactor_current();
	unsigned i = r != NULL ? r->index : 0;

	if (root->caches == NULL || i >= CONFIG_REACTORS_MAX)
		return NULL;
	return &root->caches[i];
}

struct filecache *
docroot_cache(const struct docroot *root)
{
	struct filecache **slot = cache_slot(root);

	if (slot == NULL)
		return NULL;
	if (*slot == NULL)
		*slot = filecache_create(root->cache_max, root->cache_ttl_ms,
		    root->cache_body_bytes, root->pool);
	return *slot;
}

void
docroot_shed(const struct docroot *root, int retire)
{
	struct filecache **slot = cache_slot(root);

	if (slot == NULL)
		return;
	if (retire)
		filecache_retire(*slot);
	else
		filecache_shed(*slot);
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
	root->pool = pool;
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
		root->cache_body_bytes = cfg->open_file_cache_bytes;
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
