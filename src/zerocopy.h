/*
 * Zero-copy file bodies: a file's bytes go from the page cache into the
 * socket with sendfile, and never through a buffer of ours. A sendfile
 * waits for storage when the pages are not in memory, so it runs on the
 * reactor only when the kernel has just said they are; otherwise an I/O
 * pool worker makes it on the connection's non-blocking socket, as
 * nginx's thread pool does, and the request's coroutine waits for the
 * job like for any other.
 */
#ifndef ZEROCOPY_H
#define ZEROCOPY_H

#include <sys/types.h>
#include <sys/uio.h>

struct transport;

/*
 * At most this much of the file per call: about what a socket buffer on
 * a fast path takes at once, and what one residency probe looks at.
 */
#define ZEROCOPY_STEP_BYTES (512 * 1024)

/*
 * One transport_sendfile() of iov and then up to len bytes of fd from off
 * (at most ZEROCOPY_STEP_BYTES), from a request coroutine; its results,
 * and -1 with errno EBUSY when the pool's queue is full and nothing was
 * sent. EAGAIN means the socket is full: wait for t->want and call again.
 * When the pool sends and iov is not empty, the file's first byte is read
 * before anything goes out: a file that cannot be read (errno from the
 * read) or ends before off (ENODATA) fails with iov still unsent.
 * *cold starts 0 for a run of calls through one file (1 where the file's
 * reads can wait even for cached pages: docroot_local); once a call finds
 * pages missing it is set, and the rest of the run goes to the pool.
 */
ssize_t zerocopy_send(struct transport *t, int *cold, const struct iovec *iov,
    int iovcnt, int fd, off_t off, size_t len);

#endif
