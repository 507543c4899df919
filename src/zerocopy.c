/*
 * Zero-copy file bodies. Before a sendfile on the reactor, cachestat(2)
 * (Linux 6.5) counts the pages of the range that are in the page cache;
 * all of them there, the reactor sends them itself. Any missing, or no
 * cachestat, and the same call goes to the I/O pool; so does every call
 * for a file whose caller started it cold: on a network or FUSE
 * filesystem a read revalidates the file with its server first.
 *
 * Threads: a pool job makes one transport_sendfile() on the connection's
 * socket. Nothing else writes to that socket meanwhile: the only writer is
 * the connection's coroutine, which waits in await_job() until the job's
 * done() has run on the reactor, and a drain or an abort only shuts the
 * socket down (the call then fails), never closes it while the coroutine
 * lives. The socket stays non-blocking, so a full one answers EAGAIN and
 * the worker is free again at once: the coroutine waits for writability
 * on the reactor, with the send timeout, as the copy path does (once it
 * has made sure the socket did not drain meanwhile). The job,
 * iov and transport are the coroutine's, alive until done().
 *
 * cachestat counts a page whose read is still in flight as cached, and a
 * sendfile would wait for that read. Such pages are where storage is being
 * read: behind a pool sendfile, the kernel's readahead. So once a file has
 * sent the coroutine to the pool, the rest of its run goes there too
 * (*cold), and only a file found whole in memory is sent on the reactor.
 * The probe and the send are still two calls: pages evicted in between
 * (memory pressure in those microseconds), or read ahead for another
 * request at that moment, make that one sendfile wait on the reactor.
 * preadv2(RWF_NOWAIT) has no such window, which is one reason small bodies
 * keep the copy path (file.c).
 */
#include "autoconf.h"

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <event2/event.h>

#include "await.h"
#include "log.h"
#include "metrics.h"
#include "transport.h"
#include "zerocopy.h"

#ifndef SYS_cachestat
#define SYS_cachestat 451 /* the same on every architecture */
#endif

struct cachestat_range {
	uint64_t off;
	uint64_t len;
};

struct cachestat {
	uint64_t nr_cache;
	uint64_t nr_dirty;
	uint64_t nr_writeback;
	uint64_t nr_evicted;
	uint64_t nr_recently_evicted;
};

/* Set once cachestat is known missing; read by every reactor. */
static int no_cachestat;

/* Whether every page of len (> 0) bytes of fd from off is in memory. */
static int
resident(int fd, off_t off, size_t len)
{
	struct cachestat_range range = { (uint64_t)off, len };
	struct cachestat cs;
	uint64_t page = (uint64_t)sysconf(_SC_PAGESIZE);

	if (__atomic_load_n(&no_cachestat, __ATOMIC_RELAXED))
		return 0;
	if (syscall(SYS_cachestat, fd, &range, &cs, 0) == -1) {
		/* Old kernels, and sandboxes that refuse what they do not know.
		 */
		if ((errno == ENOSYS || errno == EPERM) &&
		    !__atomic_exchange_n(&no_cachestat, 1, __ATOMIC_RELAXED))
			log_info("cachestat is unavailable: every sendfile "
				 "runs on the I/O pool");
		return 0;
	}
	return cs.nr_cache >=
	    ((uint64_t)off + len - 1) / page - (uint64_t)off / page + 1;
}

struct send_job {
	struct iojob job;
	struct transport *t;
	const struct iovec *iov;
	int iovcnt;
	int fd;
	off_t off;
	size_t len;
	ssize_t n;
	int error;
};

static void
send_work(struct iojob *job)
{
	struct send_job *sj = (struct send_job *)job;
	char byte;

	/*
	 * What goes in front (a head) waits until storage has given the first
	 * byte: a bad sector or a truncated file is then an error response,
	 * not a head followed by a close. The page read stays cached.
	 */
	if (sj->iovcnt > 0) {
		while ((sj->n = pread(sj->fd, &byte, 1, sj->off)) == -1 &&
		    errno == EINTR)
			;
		if (sj->n <= 0) {
			sj->error = sj->n == 0 ? ENODATA : errno;
			sj->n = -1;
			return;
		}
	}
	sj->n = transport_sendfile(
	    sj->t, sj->iov, sj->iovcnt, sj->fd, sj->off, sj->len);
	sj->error = errno;
}

/*
 * Whether the socket is ready again for what a worker's call found it
 * not ready for. The readiness edge may have come and gone between the
 * worker's EAGAIN and now, with nobody waiting (await_watch keeps none),
 * so it is looked for here, on the reactor, before the caller waits.
 */
static int
ready_again(const struct transport *t)
{
	struct pollfd p = { t->fd, t->want == EV_READ ? POLLIN : POLLOUT, 0 };

	return poll(&p, 1, 0) == 1;
}

ssize_t
zerocopy_send(struct transport *t, int *cold, const struct iovec *iov,
    int iovcnt, int fd, off_t off, size_t len)
{
	struct send_job sj;

	if (len > ZEROCOPY_STEP_BYTES)
		len = ZEROCOPY_STEP_BYTES;
	if (len == 0)
		return transport_sendfile(t, iov, iovcnt, fd, off, 0);
	if (!*cold && resident(fd, off, len)) {
		metrics_file_send(1);
		return transport_sendfile(t, iov, iovcnt, fd, off, len);
	}
	*cold = 1;
	metrics_file_send(0);
	do {
		memset(&sj, 0, sizeof sj);
		sj.job.work = send_work;
		sj.t = t;
		sj.iov = iov;
		sj.iovcnt = iovcnt;
		sj.fd = fd;
		sj.off = off;
		sj.len = len;
		if (await_job(&sj.job) == -1) {
			errno = EBUSY;
			return -1;
		}
	} while (sj.n == -1 &&
	    (sj.error == EAGAIN || sj.error == EWOULDBLOCK) && ready_again(t));
	errno = sj.error;
	return sj.n;
}
