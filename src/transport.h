/*
 * Transports: how a connection's bytes cross the wire. The HTTP code
 * reads, writes and shuts down through one of these and never calls recv
 * or send itself, so TLS goes in underneath (transport_tls.c) without the
 * protocol code or the handlers changing. A transport never waits: where
 * it would, it fails with EAGAIN and sets want to the socket readiness
 * (EV_READ or EV_WRITE) to wait for through await_watch, since a TLS write
 * can need the socket readable and a read can need it writable.
 */
#ifndef TRANSPORT_H
#define TRANSPORT_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* What the client has sent that nobody has read yet. */
enum transport_input {
	TRANSPORT_INPUT_NONE,  /* nothing: a read would wait */
	TRANSPORT_INPUT_READY, /* bytes a read would return */
	TRANSPORT_INPUT_CLOSED /* the end of its stream, or an error */
};

struct transport;
struct ssl_st;
struct tls;

/* What one step of a handshake came to. */
enum transport_handshake {
	TRANSPORT_HANDSHAKE_DONE,
	TRANSPORT_HANDSHAKE_AGAIN,	/* wait for want, then step again */
	TRANSPORT_HANDSHAKE_PLAIN_HTTP, /* plain HTTP: the transport is plain */
	TRANSPORT_HANDSHAKE_CLOSED,	/* the client left before a byte */
	TRANSPORT_HANDSHAKE_FAILED	/* not TLS, refused, or cut short */
};

struct transport_ops {
	/* > 0 bytes, 0 at the end of the stream, -1 with errno. */
	ssize_t (*read)(struct transport *, void *buf, size_t len);
	/* Bytes written (maybe fewer than asked), or -1 with errno. */
	ssize_t (*writev)(struct transport *, const struct iovec *, int iovcnt);
	/*
	 * Writes iov, then up to len bytes of the file fd from off, without
	 * copying them through user space: the bytes written of both (maybe
	 * fewer than asked; 0 with nothing in iov: fd ends before off), or
	 * -1 with errno. Unlike the others it waits for storage when fd's
	 * pages are not in memory, so only zerocopy.c calls it. NULL in a
	 * transport that must see the bytes (TLS without kTLS): the caller
	 * copies them.
	 */
	ssize_t (*sendfile)(struct transport *, const struct iovec *,
	    int iovcnt, int fd, off_t off, size_t len);
	/* SHUT_RD, SHUT_WR or SHUT_RDWR; a pending read or write fails. */
	int (*shutdown)(struct transport *, int how);
	/* Looks without consuming anything and without waiting. */
	enum transport_input (*input)(struct transport *);
	/* Releases the transport and closes its socket. */
	void (*close)(struct transport *);
	/*
	 * One step of the handshake, which must be done before the first
	 * read or write (handshaking says whether it is); NULL where there
	 * is none.
	 */
	enum transport_handshake (*handshake)(struct transport *);
};

struct transport {
	const struct transport_ops *ops;
	int fd;	    /* the socket, for await_watch */
	short want; /* after EAGAIN: EV_READ or EV_WRITE */
	/*
	 * The last read took all there was (it returned fewer bytes than
	 * asked, or EAGAIN): until the socket is reported readable again, a
	 * read would find nothing.
	 */
	int drained;
	int handshaking; /* a handshake is still to finish */
	/* After TRANSPORT_HANDSHAKE_FAILED: why (enum metrics_tls_failure). */
	int failure;
	struct ssl_st *ssl; /* TLS: the session; NULL: plain */
	/*
	 * TLS: records written and not yet sent, out[sent..len) (out NULL
	 * when there are none). A writev returns once its records are in
	 * here, and the caller writes again (with no iovec at all at the
	 * end) until unsent says nothing is left.
	 */
	char *out;
	size_t out_sent, out_len;
	int out_batch; /* a writev of several records is under way */
};

/* The plain socket: fd (non-blocking) is the transport's from now on. */
void transport_socket_init(struct transport *, int fd);
/* What the socket fd holds unread, looked at without consuming it. */
enum transport_input transport__socket_peek(int fd);
/*
 * TLS over the plain socket fd, with tls's contexts: 0, or -1 when memory
 * is short (fd then still the caller's). The handshake comes first.
 */
int transport_tls_init(struct transport *, int fd, struct tls *);
/*
 * What a TLS transport negotiated, for the access log (each NULL where
 * there is nothing to say): protocol, cipher, the name the client asked
 * for (SNI); whether the session was resumed.
 */
void transport_tls_info(const struct transport *, const char **protocol,
    const char **cipher, const char **server_name);
int transport_tls_resumed(const struct transport *);
/* Whether the handshake chose HTTP/2 by ALPN ("h2"); 0 on a plain one. */
int transport_tls_h2(const struct transport *);

static inline ssize_t
transport_read(struct transport *t, void *buf, size_t len)
{
	return t->ops->read(t, buf, len);
}

static inline ssize_t
transport_writev(struct transport *t, const struct iovec *iov, int iovcnt)
{
	return t->ops->writev(t, iov, iovcnt);
}

/* Whether bytes a writev took are still to go out. */
static inline int
transport_unsent(const struct transport *t)
{
	return t->out_len > t->out_sent;
}

static inline ssize_t
transport_sendfile(struct transport *t, const struct iovec *iov, int iovcnt,
    int fd, off_t off, size_t len)
{
	return t->ops->sendfile(t, iov, iovcnt, fd, off, len);
}

static inline int
transport_shutdown(struct transport *t, int how)
{
	return t->ops->shutdown(t, how);
}

static inline enum transport_input
transport_input(struct transport *t)
{
	return t->ops->input(t);
}

static inline void
transport_close(struct transport *t)
{
	t->ops->close(t);
}

static inline enum transport_handshake
transport_handshake(struct transport *t)
{
	return t->ops->handshake(t);
}

#endif
