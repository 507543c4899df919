/*
 * slowfs: an LD_PRELOAD library that makes chosen files slow, so the
 * integration tests can prove that one slow disk never stalls the reactor.
 * Every filesystem call that names a path containing the marker (env
 * SLOWFS_MARKER, default "SLOW"), or works on an fd whose /proc/self/fd link
 * contains it, sleeps SLOWFS_DELAY_MS (default 2000) before the real call.
 * Reading a directory whose path contains SLOWFS_DIR_MARKER (default: the
 * marker) is slow too, so a test can slow a listing's readdir alone.
 * When SLOWFS_NOTIFY_FD names an fd, one byte "s" is written to it as each
 * delay starts, so a test can wait until a slow call is really in flight
 * instead of sleeping. With SLOWFS_SWITCH naming a file, all of this
 * applies only while that file exists. With SLOWFS_CLOSE set, close(2) of
 * a marked fd is slow as well (not by default: the tests that came before
 * it count the slow calls they expect).
 *
 * Slow storage is also storage whose names are not in the dentry cache:
 * an openat2 with RESOLVE_CACHED of a marked path answers EAGAIN at once,
 * as the kernel does for a dentry miss, and only the uncached call sleeps.
 * SLOWFS_LOOKUP_MARKER (unset: none) marks paths whose lookup alone is
 * slow: opens, stats and openat2 of a path containing it sleep (or, with
 * RESOLVE_CACHED, answer EAGAIN at once), but the opened fd is fast: its
 * reads and fstat do not wait. Choose it so that it does not contain the
 * marker ("SLOW" is in "SLOWNAME"), or the file is slow to read as well.
 *
 * SLOWFS_SEND_US (unset: 0) makes every sendmsg, send and sendfile sleep
 * that many microseconds first: a server slower than its client, which
 * then empties the socket between two writes, so no write finds it full
 * (a fast client on a fast link, or a sanitizer build's pace).
 *
 * SLOWFS_DUP_THREAD names a thread ("coserve-r1", as in its comm) whose
 * fcntl(F_DUPFD_CLOEXEC) sleeps the delay first: a reactor late to take
 * its copies of the listeners, for the start-up ordering test.
 *
 * Threads: the daemon calls these from its reactor and its I/O workers at
 * once. The settings are read once under pthread_once and never change; the
 * real functions are looked up with dlsym(RTLD_NEXT) and published with
 * atomic stores (a race only looks the same symbol up twice). Nothing about
 * fds is cached: fd numbers are reused, so each call asks /proc again.
 * Internal work uses only functions we do not intercept, or the real
 * pointers, so there is no recursion through our own wrappers.
 */
#undef _FILE_OFFSET_BITS
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <sys/types.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_cachestat
#define SYS_cachestat 451
#endif
/* <linux/openat2.h>'s, spelt out: it is missing from older headers. */
#define SLOWFS_RESOLVE_CACHED 0x20

struct slowfs_open_how {
	unsigned long long flags;
	unsigned long long mode;
	unsigned long long resolve;
};

/* Fortified entry points that glibc's headers may route open() through. */
int	 __open_2(const char *, int);
int	 __open64_2(const char *, int);
int	 __openat_2(int, const char *, int);
int	 __openat64_2(int, const char *, int);

#define MARKER_MAX 256	/* longest marker honoured */

static pthread_once_t settings_once = PTHREAD_ONCE_INIT;
static char marker[MARKER_MAX] = "SLOW";
static char dir_marker[MARKER_MAX];
static char lookup_marker[MARKER_MAX];	/* "": none */
static long delay_ms = 2000;
static long send_us;	/* SLOWFS_SEND_US */
static int notify_fd = -1;
static int no_openat2;	/* SLOWFS_NO_OPENAT2: act as a kernel without it */
static int slow_close;	/* SLOWFS_CLOSE: close(2) of a marked fd too */
static char dup_thread[16]; /* SLOWFS_DUP_THREAD; "": none */

/* Reads the environment once; the daemon never changes it later. */
static void
settings_load(void)
{
	const char *s;
	char *end;
	long v;

	if ((s = getenv("SLOWFS_MARKER")) != NULL && *s != '\0' &&
	    strlen(s) < sizeof(marker))
		strcpy(marker, s);
	if ((s = getenv("SLOWFS_DIR_MARKER")) != NULL && *s != '\0' &&
	    strlen(s) < sizeof(dir_marker))
		strcpy(dir_marker, s);
	else
		strcpy(dir_marker, marker);
	if ((s = getenv("SLOWFS_LOOKUP_MARKER")) != NULL &&
	    strlen(s) < sizeof(lookup_marker))
		strcpy(lookup_marker, s);
	if ((s = getenv("SLOWFS_DELAY_MS")) != NULL && *s != '\0') {
		errno = 0;
		v = strtol(s, &end, 10);
		if (errno == 0 && *end == '\0' && v >= 0)
			delay_ms = v;
	}
	if ((s = getenv("SLOWFS_SEND_US")) != NULL && *s != '\0') {
		errno = 0;
		v = strtol(s, &end, 10);
		if (errno == 0 && *end == '\0' && v >= 0)
			send_us = v;
	}
	no_openat2 = getenv("SLOWFS_NO_OPENAT2") != NULL;
	slow_close = getenv("SLOWFS_CLOSE") != NULL;
	if ((s = getenv("SLOWFS_DUP_THREAD")) != NULL &&
	    strlen(s) < sizeof(dup_thread))
		strcpy(dup_thread, s);
	if ((s = getenv("SLOWFS_NOTIFY_FD")) != NULL && *s != '\0') {
		errno = 0;
		v = strtol(s, &end, 10);
		if (errno == 0 && *end == '\0' && v >= 0 && v <= INT_MAX)
			notify_fd = (int)v;
	}
}

static void
settings(void)
{
	pthread_once(&settings_once, settings_load);
}

/*
 * Looks a real function up once. dlsym failing means the process cannot go
 * on meaningfully; abort rather than call through NULL.
 */
static void *
real(void **slot, const char *name)
{
	void *fn;

	fn = __atomic_load_n(slot, __ATOMIC_ACQUIRE);
	if (fn == NULL) {
		fn = dlsym(RTLD_NEXT, name);
		if (fn == NULL)
			abort();
		__atomic_store_n(slot, fn, __ATOMIC_RELEASE);
	}
	return fn;
}

/* The next definition of name after ours, typed like our own. */
#define REAL(name) ((__typeof__(name) *)real(&slot_##name, #name))

static void *slot_open, *slot_open64, *slot_openat, *slot_openat64;
static void *slot___open_2, *slot___open64_2, *slot___openat_2,
    *slot___openat64_2;
static void *slot_syscall, *slot_fcntl;
static void *slot_stat, *slot_stat64, *slot_lstat, *slot_lstat64;
static void *slot_fstatat, *slot_fstatat64, *slot_statx, *slot_fstat,
    *slot_fstat64;
static void *slot_read, *slot_pread, *slot_pread64, *slot_preadv,
    *slot_preadv2;
static void *slot_sendfile, *slot_sendfile64, *slot_sendmsg, *slot_send;
static void *slot_close;
static void *slot_fopen, *slot_fopen64;
static void *slot_readdir, *slot_readdir64;

static long
sys4(long number, long a, long b, long c, long d)
{
	return REAL(syscall)(number, a, b, c, d);
}

/*
 * The runtime switch (SLOWFS_SWITCH=/some/file): when set, marked calls
 * are slow only while that file exists, so a test can make the storage of
 * a daemon that is already running and serving go slow, and come back.
 * Unset, marked calls are always slow. The file is looked for with a raw
 * syscall on every marked call: never through our own wrappers, and
 * never cached, since the test flips it at any moment.
 */
static pthread_once_t switch_once = PTHREAD_ONCE_INIT;
static char switch_path[PATH_MAX];

static void
switch_load(void)
{
	const char *s;

	if ((s = getenv("SLOWFS_SWITCH")) != NULL && *s != '\0' &&
	    strlen(s) < sizeof(switch_path))
		strcpy(switch_path, s);
}

static long sys4(long, long, long, long, long);

static int
switched_on(void)
{
	int saved_errno = errno, on;

	pthread_once(&switch_once, switch_load);
	if (switch_path[0] == '\0')
		return 1;
	on = sys4(SYS_faccessat, AT_FDCWD, (long)switch_path, F_OK, 0) == 0;
	errno = saved_errno;
	return on;
}

/* Whether looking path up is slow: the marker, or the lookup marker. */
static int
path_marked(const char *path)
{
	settings();
	return path != NULL && (strstr(path, marker) != NULL ||
	    (lookup_marker[0] != '\0' && strstr(path, lookup_marker) != NULL)) &&
	    switched_on();
}

/* Whether fd names a file whose path holds mark; asks the kernel. */
static int
fd_holds(int fd, const char *mark)
{
	char proc[64], link[PATH_MAX + 1];
	long n;

	if (fd < 0)
		return 0;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = sys4(SYS_readlinkat, AT_FDCWD, (long)proc, (long)link,
	    (long)(sizeof(link) - 1));
	if (n <= 0)
		return 0;
	link[n] = '\0';
	if (strncmp(link, "socket:", 7) == 0 || strncmp(link, "pipe:", 5) == 0 ||
	    strncmp(link, "anon_inode:", 11) == 0)
		return 0;
	return strstr(link, mark) != NULL && switched_on();
}

static int
fd_marked(int fd)
{
	settings();
	return fd_holds(fd, marker);
}

/* For *at calls: the path itself, the fd for AT_EMPTY_PATH, or the directory. */
static int
at_marked(int dirfd, const char *path)
{
	if (path_marked(path))
		return 1;
	if (path == NULL || path[0] == '\0')
		return fd_marked(dirfd);
	if (path[0] != '/' && dirfd != AT_FDCWD)
		return fd_marked(dirfd);
	return 0;
}

/*
 * Tells the test a delay has started. The write must never block or kill
 * the daemon: the fd is made non-blocking, and SIGPIPE from a closed reader
 * is blocked for this thread and swallowed.
 */
static void
notify(void)
{
	sigset_t pipe_set, old_set;
	struct timespec zero = { 0, 0 };
	int flags, saved_errno;

	if (notify_fd < 0)
		return;
	saved_errno = errno;
	flags = fcntl(notify_fd, F_GETFL);
	if (flags == -1)
		goto out;
	if ((flags & O_NONBLOCK) == 0)
		(void)fcntl(notify_fd, F_SETFL, flags | O_NONBLOCK);
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old_set);
	if (sys4(SYS_write, notify_fd, (long)"s", 1, 0) == -1 && errno == EPIPE &&
	    !sigismember(&old_set, SIGPIPE))
		(void)sigtimedwait(&pipe_set, NULL, &zero);
	pthread_sigmask(SIG_SETMASK, &old_set, NULL);
out:
	errno = saved_errno;
}

static void
delay(void)
{
	struct timespec until;
	int saved_errno;

	settings();
	saved_errno = errno;
	notify();
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += delay_ms / 1000;
	until.tv_nsec += (delay_ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) ==
	    EINTR)
		continue;
	errno = saved_errno;
}

static void
send_pause(void)
{
	struct timespec pause;
	int saved_errno;

	settings();
	if (send_us == 0)
		return;
	saved_errno = errno;
	pause.tv_sec = send_us / 1000000;
	pause.tv_nsec = send_us % 1000000 * 1000;
	while (nanosleep(&pause, &pause) == -1 && errno == EINTR)
		continue;
	errno = saved_errno;
}

static mode_t
open_mode(int flags, va_list ap)
{
	if ((flags & O_CREAT) != 0 || (flags & O_TMPFILE) == O_TMPFILE)
		return (mode_t)va_arg(ap, int);
	return 0;
}

/* Opening. */

int
open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	if (path_marked(path))
		delay();
	return REAL(open)(path, flags, mode);
}

int
open64(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	if (path_marked(path))
		delay();
	return REAL(open64)(path, flags, mode);
}

int
openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	if (at_marked(dirfd, path))
		delay();
	return REAL(openat)(dirfd, path, flags, mode);
}

int
openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = open_mode(flags, ap);
	va_end(ap);
	if (at_marked(dirfd, path))
		delay();
	return REAL(openat64)(dirfd, path, flags, mode);
}

/*
 * stdio opens through glibc's own open, not the one above: OpenSSL
 * reading a certificate or a key (BIO_new_file) comes here.
 */
FILE *
fopen(const char *path, const char *mode)
{
	if (path_marked(path))
		delay();
	return REAL(fopen)(path, mode);
}

FILE *
fopen64(const char *path, const char *mode)
{
	if (path_marked(path))
		delay();
	return REAL(fopen64)(path, mode);
}

int
__open_2(const char *path, int flags)
{
	if (path_marked(path))
		delay();
	return REAL(__open_2)(path, flags);
}

int
__open64_2(const char *path, int flags)
{
	if (path_marked(path))
		delay();
	return REAL(__open64_2)(path, flags);
}

int
__openat_2(int dirfd, const char *path, int flags)
{
	if (at_marked(dirfd, path))
		delay();
	return REAL(__openat_2)(dirfd, path, flags);
}

int
__openat64_2(int dirfd, const char *path, int flags)
{
	if (at_marked(dirfd, path))
		delay();
	return REAL(__openat64_2)(dirfd, path, flags);
}

static int eio_marked(int fd);

/*
 * glibc has no openat2() or cachestat() wrapper yet, so the daemon calls
 * syscall(2). Six longs are always forwarded: the kernel ignores the ones
 * a call lacks. A marked file's pages are never in the page cache, so
 * cachestat finds none of them (and a bad sector is never cached either).
 */
long
syscall(long number, ...)
{
	va_list ap;
	long a[6];
	int i;

	va_start(ap, number);
	for (i = 0; i < 6; i++)
		a[i] = va_arg(ap, long);
	va_end(ap);
	if (number == SYS_openat2) {
		settings();
		if (no_openat2) {
			errno = ENOSYS;
			return -1;
		}
		if (at_marked((int)a[0], (const char *)a[1])) {
			/* Not in the dentry cache: the kernel would not wait. */
			if (a[2] != 0 && (((const struct slowfs_open_how *)a[2])
			    ->resolve & SLOWFS_RESOLVE_CACHED) != 0) {
				errno = EAGAIN;
				return -1;
			}
			delay();
		}
	}
	if (number == SYS_cachestat &&
	    (fd_marked((int)a[0]) || eio_marked((int)a[0]))) {
		memset((void *)a[2], 0, 5 * sizeof(unsigned long long));
		return 0;
	}
	return REAL(syscall)(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

/*
 * EIO injection, for tests of storage that fails: reads of a file whose
 * path (as /proc/self/fd tells) contains SLOWFS_EIO_MARKER (unset or
 * empty: never) fail with EIO once they reach byte SLOWFS_EIO_AFTER
 * (default 0: the first read fails). A read that starts before that byte
 * and runs past it is cut short there, as a disk with one bad sector
 * answers, so the bytes before it still arrive. A read with RWF_NOWAIT
 * that reaches the bad byte gets EAGAIN instead: a bad sector is never in
 * the page cache. With SLOWFS_EIO_STAT set (non-empty), fstat of a
 * marked file fails with EIO too, and so does statx of its fd
 * (AT_EMPTY_PATH), so opening it fails. Marked files are
 * also slow if they hold the delay marker. Settings are read once, like
 * the others, under their own once.
 */
#define EIO_IOV_MAX 64	/* iovecs kept when a vector read is cut short */

static pthread_once_t eio_once = PTHREAD_ONCE_INIT;
static char eio_marker[MARKER_MAX];
static long long eio_after;
static int eio_stat;

static void
eio_load(void)
{
	const char *s;
	char *end;
	long long v;

	if ((s = getenv("SLOWFS_EIO_MARKER")) != NULL &&
	    strlen(s) < sizeof(eio_marker))
		strcpy(eio_marker, s);
	eio_stat = (s = getenv("SLOWFS_EIO_STAT")) != NULL && *s != '\0';
	if ((s = getenv("SLOWFS_EIO_AFTER")) != NULL && *s != '\0') {
		errno = 0;
		v = strtoll(s, &end, 10);
		if (errno == 0 && *end == '\0' && v >= 0)
			eio_after = v;
	}
}

/* Whether reads of fd fail at eio_after; asks the kernel for its path. */
static int
eio_marked(int fd)
{
	char proc[64], link[PATH_MAX + 1];
	long n;
	int saved_errno = errno;

	pthread_once(&eio_once, eio_load);
	if (fd < 0 || eio_marker[0] == '\0')
		return 0;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = sys4(SYS_readlinkat, AT_FDCWD, (long)proc, (long)link,
	    (long)(sizeof(link) - 1));
	errno = saved_errno;
	if (n <= 0)
		return 0;
	link[n] = '\0';
	return strstr(link, eio_marker) != NULL;
}

/*
 * How much of a len byte read at off (-1: the file position) may go
 * ahead: len for an unmarked fd, fewer when the read would reach the bad
 * byte, or -1 with errno EIO when it starts there.
 */
static long long
eio_allow(int fd, long long off, size_t len)
{
	long long allowed;

	if (len == 0 || !eio_marked(fd))
		return (long long)len;
	if (off < 0 && (off = sys4(SYS_lseek, fd, 0, SEEK_CUR, 0)) < 0)
		off = 0;
	allowed = eio_after - off;
	if (allowed <= 0) {
		errno = EIO;
		return -1;
	}
	return allowed < (long long)len ? allowed : (long long)len;
}

/* Whether an fstat of fd fails: 0, or -1 with errno EIO. */
static int
eio_stat_fails(int fd)
{
	if (!eio_marked(fd) || !eio_stat)
		return 0;
	errno = EIO;
	return -1;
}

/*
 * The vector form: iov itself when all of it may be read, else its first
 * entries copied into cut and shortened to what eio_allow grants, with
 * *iovcnt updated; NULL with errno EIO when nothing may be read.
 */
static const struct iovec *
eio_allow_iov(int fd, long long off, const struct iovec *iov, int *iovcnt,
    struct iovec *cut)
{
	size_t total = 0;
	long long allowed;
	int i, n = 0;

	for (i = 0; i < *iovcnt; i++)
		total += iov[i].iov_len;
	if ((allowed = eio_allow(fd, off, total)) == -1)
		return NULL;
	if (allowed == (long long)total)
		return iov;
	for (i = 0; i < *iovcnt && i < EIO_IOV_MAX && allowed > 0; i++) {
		cut[n] = iov[i];
		if ((long long)cut[n].iov_len > allowed)
			cut[n].iov_len = (size_t)allowed;
		allowed -= (long long)cut[n].iov_len;
		n++;
	}
	*iovcnt = n;
	return cut;
}

/* Status. */

int
stat(const char *path, struct stat *st)
{
	if (path_marked(path))
		delay();
	return REAL(stat)(path, st);
}

int
stat64(const char *path, struct stat64 *st)
{
	if (path_marked(path))
		delay();
	return REAL(stat64)(path, st);
}

int
lstat(const char *path, struct stat *st)
{
	if (path_marked(path))
		delay();
	return REAL(lstat)(path, st);
}

int
lstat64(const char *path, struct stat64 *st)
{
	if (path_marked(path))
		delay();
	return REAL(lstat64)(path, st);
}

int
fstatat(int dirfd, const char *path, struct stat *st, int flags)
{
	if (at_marked(dirfd, path))
		delay();
	return REAL(fstatat)(dirfd, path, st, flags);
}

int
fstatat64(int dirfd, const char *path, struct stat64 *st, int flags)
{
	if (at_marked(dirfd, path))
		delay();
	return REAL(fstatat64)(dirfd, path, st, flags);
}

int
statx(int dirfd, const char *path, int flags, unsigned int mask,
    struct statx *stx)
{
	/* Cached attributes only: what slow storage answers at once. */
	if (at_marked(dirfd, path) && !(flags & AT_STATX_DONT_SYNC))
		delay();
	/* An fstat by another name fails like one. */
	if ((flags & AT_EMPTY_PATH) && path[0] == '\0' &&
	    eio_stat_fails(dirfd) == -1)
		return -1;
	return REAL(statx)(dirfd, path, flags, mask, stx);
}

int
fstat(int fd, struct stat *st)
{
	if (fd_marked(fd))
		delay();
	if (eio_stat_fails(fd) == -1)
		return -1;
	return REAL(fstat)(fd, st);
}

int
fstat64(int fd, struct stat64 *st)
{
	if (fd_marked(fd))
		delay();
	if (eio_stat_fails(fd) == -1)
		return -1;
	return REAL(fstat64)(fd, st);
}

/* Reading. */

ssize_t
read(int fd, void *buf, size_t len)
{
	long long allowed;

	if (fd_marked(fd))
		delay();
	if ((allowed = eio_allow(fd, -1, len)) == -1)
		return -1;
	return REAL(read)(fd, buf, (size_t)allowed);
}

ssize_t
pread(int fd, void *buf, size_t len, off_t off)
{
	long long allowed;

	if (fd_marked(fd))
		delay();
	if ((allowed = eio_allow(fd, off, len)) == -1)
		return -1;
	return REAL(pread)(fd, buf, (size_t)allowed, off);
}

ssize_t
pread64(int fd, void *buf, size_t len, off64_t off)
{
	long long allowed;

	if (fd_marked(fd))
		delay();
	if ((allowed = eio_allow(fd, off, len)) == -1)
		return -1;
	return REAL(pread64)(fd, buf, (size_t)allowed, off);
}

ssize_t
preadv(int fd, const struct iovec *iov, int iovcnt, off_t off)
{
	struct iovec cut[EIO_IOV_MAX];

	if (fd_marked(fd))
		delay();
	if ((iov = eio_allow_iov(fd, off, iov, &iovcnt, cut)) == NULL)
		return -1;
	return REAL(preadv)(fd, iov, iovcnt, off);
}

/*
 * Slow storage is storage whose data is not in the page cache: a read
 * that must not wait (RWF_NOWAIT) gets EAGAIN at once, as the kernel
 * would answer; any other read waits.
 */
ssize_t
preadv2(int fd, const struct iovec *iov, int iovcnt, off_t off, int flags)
{
	struct iovec cut[EIO_IOV_MAX];

	if (fd_marked(fd)) {
		if (flags & RWF_NOWAIT) {
			errno = EAGAIN;
			return -1;
		}
		delay();
	}
	if ((iov = eio_allow_iov(fd, off, iov, &iovcnt, cut)) == NULL) {
		if (flags & RWF_NOWAIT)
			errno = EAGAIN;
		return -1;
	}
	return REAL(preadv2)(fd, iov, iovcnt, off, flags);
}

/*
 * Closing: on a network filesystem close(2) writes back what is dirty
 * and may wait as long as any write.
 */
int
close(int fd)
{
	settings();
	if (slow_close && fd_marked(fd))
		delay();
	return REAL(close)(fd);
}

int
fcntl(int fd, int cmd, ...)
{
	char name[16];
	va_list ap;
	long arg;

	settings();
	va_start(ap, cmd);
	arg = va_arg(ap, long);
	va_end(ap);
	if (cmd == F_DUPFD_CLOEXEC && dup_thread[0] != '\0' &&
	    prctl(PR_GET_NAME, name) == 0 && strcmp(name, dup_thread) == 0)
		delay();
	return REAL(fcntl)(fd, cmd, arg);
}

/*
 * A daemon that sends files with sendfile(2) reads them there: slow, and
 * failing at the bad byte like a read.
 */
ssize_t
sendfile(int out_fd, int in_fd, off_t *off, size_t len)
{
	long long allowed;

	send_pause();
	if (fd_marked(in_fd))
		delay();
	if ((allowed = eio_allow(in_fd, off != NULL ? *off : -1, len)) == -1)
		return -1;
	return REAL(sendfile)(out_fd, in_fd, off, (size_t)allowed);
}

ssize_t
sendfile64(int out_fd, int in_fd, off64_t *off, size_t len)
{
	long long allowed;

	send_pause();
	if (fd_marked(in_fd))
		delay();
	if ((allowed = eio_allow(in_fd, off != NULL ? *off : -1, len)) == -1)
		return -1;
	return REAL(sendfile64)(out_fd, in_fd, off, (size_t)allowed);
}

ssize_t
sendmsg(int fd, const struct msghdr *msg, int flags)
{
	send_pause();
	return REAL(sendmsg)(fd, msg, flags);
}

ssize_t
send(int fd, const void *buf, size_t len, int flags)
{
	send_pause();
	return REAL(send)(fd, buf, len, flags);
}

/*
 * Reading a directory. glibc's readdir fills its buffer with getdents64,
 * a system call made inside libc where no wrapper sees it; what a wrapper
 * can see is the directory's offset moving. A readdir that moved it read
 * the directory, and sleeps once that is done; one served from the buffer
 * does not, as a disk would not make it wait either. So listing a small
 * marked directory costs one delay, not one per entry.
 */

/* The offset of a stream on a marked directory; -1 when it is not marked. */
static long
dir_marked_offset(DIR *dir)
{
	int saved_errno = errno, fd;
	long off = -1;

	settings();
	fd = dirfd(dir);
	if (fd_holds(fd, dir_marker))
		off = sys4(SYS_lseek, fd, 0, SEEK_CUR, 0);
	errno = saved_errno;
	return off;
}

static void
dir_read_delay(DIR *dir, long before)
{
	int saved_errno = errno;
	long after;

	if (before == -1)
		return;
	after = sys4(SYS_lseek, dirfd(dir), 0, SEEK_CUR, 0);
	errno = saved_errno;
	if (after != before)
		delay();
}

struct dirent *
readdir(DIR *dir)
{
	struct dirent *de;
	long before;

	before = dir_marked_offset(dir);
	de = REAL(readdir)(dir);
	dir_read_delay(dir, before);
	return de;
}

struct dirent64 *
readdir64(DIR *dir)
{
	struct dirent64 *de;
	long before;

	before = dir_marked_offset(dir);
	de = REAL(readdir64)(dir);
	dir_read_delay(dir, before);
	return de;
}
