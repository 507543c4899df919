/*
 * HTTP/2 (RFC 9113) over a connection's transport, with nghttp2 doing the
 * framing, HPACK and flow control. conn.c hands a connection over when
 * TLS chose "h2" by ALPN, or when a plain one opened with the preface and
 * h2c is on; the connection's coroutine then runs the session here until
 * it ends. Each stream is a request coroutine of its own, answered through
 * the same dispatch as HTTP/1.1, so a stream waiting on storage holds up
 * no other stream of its connection.
 */
#ifndef H2_H
#define H2_H

#include <stddef.h>

struct await_watch;
struct conn_env;
struct h2_conn;
struct transport;

/* What a client sends first on every HTTP/2 connection. */
#define H2_PREFACE "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
#define H2_PREFACE_LEN 24

/* What the connection lends its HTTP/2 session; all outlive it. */
struct h2_host {
	struct transport *transport;
	struct await_watch *watch; /* the transport's socket */
	const struct conn_env *env;
	const char *peer;  /* the client's address, as text */
	unsigned listener; /* the id it was accepted on */
	int *retiring;	   /* its listener is going away (may change) */
	int draining;	   /* the server drains already: GOAWAY at once */
};

/*
 * Serves HTTP/2 on the calling coroutine (the connection's) until the
 * client leaves, the connection fails or idles out, or a drain's GOAWAY
 * has let every stream finish (-1: the session is freed), or until it has
 * nothing in flight: then it returns how many ms the connection may wait
 * parked, with no coroutine, before h2_resume() on its next byte (or at
 * that deadline, for its GOAWAY). It returns only once every stream
 * coroutine has ended. preread: bytes the connection already read (the
 * preface, for h2c). *self points to the session from the start, for
 * h2_drain(), until -1.
 */
long h2_serve(const struct h2_host *, const void *preread, size_t len,
    struct h2_conn **self);
/* The same for a parked session, on a new coroutine. */
long h2_resume(struct h2_conn *, const struct h2_host *);
/* Frees a parked session (the connection closes). */
void h2_free(struct h2_conn *);
/*
 * For a parked session, every second: 1 at the second call since it
 * parked, when nghttp2's idle buffers are to go back to the kernel.
 */
int h2_trim(struct h2_conn *);
/* Gives them back, for a session still parked. */
void h2_give_back(struct h2_conn *);
/*
 * A drain: GOAWAY, so the client opens no new stream, and the connection
 * closes once the streams in flight are done. From the reactor's stack.
 */
void h2_drain(struct h2_conn *);

#endif
