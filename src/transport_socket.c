/*
 * The plain-socket transport: recv, sendmsg, sendfile and shutdown on a
 * non-blocking TCP (or UNIX) socket. Interrupted calls are retried here,
 * so callers see only data, the end of the stream, EAGAIN or a failure.
 */
#include "autoconf.h"

#include <errno.h>
#include <string.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "transport.h"

static ssize_t
socket_read(struct transport *t, void *buf, size_t len)
{
	ssize_t n;

	while ((n = recv(t->fd, buf, len, 0)) == -1 && errno == EINTR)
		;
	if (n == -1)
		t->want = EV_READ;
	/*
	 * A stream socket's recv copies everything queued, up to len: a short
	 * count means the queue was empty when it returned (nginx's epoll
	 * module relies on the same, clearing its ready flag).
	 */
	t->drained = n == -1 ? errno == EAGAIN || errno == EWOULDBLOCK
			     : n > 0 && (size_t)n < len;
	return n;
}

static ssize_t
socket_writev(struct transport *t, const struct iovec *iov, int iovcnt)
{
	struct msghdr msg;
	ssize_t n;

	memset(&msg, 0, sizeof msg);
	msg.msg_iov = (struct iovec *)iov;
	msg.msg_iovlen = iovcnt;
	/* MSG_NOSIGNAL: a client gone away is an error, not a SIGPIPE. */
	while ((n = sendmsg(t->fd, &msg, MSG_NOSIGNAL)) == -1 && errno == EINTR)
		;
	if (n == -1)
		t->want = EV_WRITE;
	return n;
}

/*
 * The head goes with MSG_MORE, so with TCP_NODELAY it still shares a
 * segment with the file's first bytes instead of leaving alone. Once any
 * of iov is out, a failing sendfile reports that progress and leaves its
 * error to the next call, which has nothing before the file.
 */
static ssize_t
socket_sendfile(struct transport *t, const struct iovec *iov, int iovcnt,
    int fd, off_t off, size_t len)
{
	struct msghdr msg;
	size_t total = 0;
	ssize_t n = 0, m;
	int i;

	if (iovcnt > 0) {
		for (i = 0; i < iovcnt; i++)
			total += iov[i].iov_len;
		memset(&msg, 0, sizeof msg);
		msg.msg_iov = (struct iovec *)iov;
		msg.msg_iovlen = iovcnt;
		while ((n = sendmsg(t->fd, &msg,
			    MSG_NOSIGNAL | (len > 0 ? MSG_MORE : 0))) == -1 &&
		    errno == EINTR)
			;
		if (n == -1) {
			t->want = EV_WRITE;
			return -1;
		}
		if ((size_t)n < total || len == 0)
			return n;
	}
	/* SIGPIPE is ignored process-wide: sendfile has no MSG_NOSIGNAL. */
	while ((m = sendfile(t->fd, fd, &off, len)) == -1 && errno == EINTR)
		;
	if (m == -1) {
		t->want = EV_WRITE;
		return n > 0 ? n : -1;
	}
	return n + m;
}

static int
socket_shutdown(struct transport *t, int how)
{
	return shutdown(t->fd, how);
}

enum transport_input
transport__socket_peek(int fd)
{
	char byte;
	ssize_t n;

	while ((n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT)) == -1 &&
	    errno == EINTR)
		;
	if (n > 0)
		return TRANSPORT_INPUT_READY;
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return TRANSPORT_INPUT_NONE;
	return TRANSPORT_INPUT_CLOSED;
}

static enum transport_input
socket_input(struct transport *t)
{
	return transport__socket_peek(t->fd);
}

static void
socket_close(struct transport *t)
{
	close(t->fd);
	t->fd = -1;
}

static const struct transport_ops socket_ops = {
	.read = socket_read,
	.writev = socket_writev,
	.sendfile = socket_sendfile,
	.shutdown = socket_shutdown,
	.input = socket_input,
	.close = socket_close,
};

void
transport_socket_init(struct transport *t, int fd)
{
	t->ops = &socket_ops;
	t->fd = fd;
	t->want = 0;
	t->drained = 0;
	t->handshaking = 0;
	t->ssl = NULL;
	t->out = NULL;
	t->out_sent = t->out_len = 0;
	t->out_batch = 0;
}
