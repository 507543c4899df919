/*
 * Client connections. Each accepted socket gets a coroutine that reads
 * request heads, dispatches them and writes responses, one after another,
 * for as long as keep-alive lasts. This module owns the transport, the
 * timeouts and HTTP/1.1 framing; each request becomes an exchange that
 * the handlers answer without knowing the connection.
 */
#ifndef CONN_H
#define CONN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "dispatch.h"

struct conn;

/*
 * Takes ownership of fd (non-blocking), accepted on the listener with
 * that id (a TLS one if tls), and starts serving it. Over
 * max_connections_per_client the fd is closed at once (0). Returns -1
 * when memory is short: the client then gets a 503, or waits parked for
 * its request and another try.
 */
int conn_start(const struct conn_env *, unsigned listener, int tls, int fd,
    const struct sockaddr *peer, socklen_t peerlen);
/*
 * A reload removed that listener (1) or took it back (0): from their
 * next answer on, its connections' health says 503 "draining" and they
 * close after it, or they serve as before. Set at accept from
 * conn_env.retiring, decided here from then on.
 */
void conn_listener_retiring(unsigned listener, int retiring);
/*
 * The calling reactor took a reload's generation (configuration cfg):
 * its HTTP/2 connections from before get a GOAWAY, their streams in
 * flight finish, and the client opens its next ones on a new connection,
 * under cfg. An HTTP/1.1 connection keeps its generation until it closes.
 */
void conn_generation_taken(const struct config *cfg);
unsigned conn_count(void);
/* Finish in-flight responses, close idle connections, keep-alive no more. */
void conn_drain(void);
/* Fail every connection's pending socket I/O so its coroutine unwinds. */
void conn_abort_all(void);
/*
 * Every second, from the calling reactor's timer: its HTTP/2
 * connections parked a second give their idle buffers back (h2_trim),
 * a batch a loop turn.
 */
void conn_trim(void);

#endif
