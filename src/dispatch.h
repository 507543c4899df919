/*
 * Dispatch: what the server answers to one parsed request, whatever
 * protocol carried it. HTTP/1.1 (conn.c) and HTTP/2 (h2.c) each turn what
 * they read into a struct request and an exchange, then hand it here: the
 * site is chosen by Host or :authority, and the request goes to metrics,
 * health, the https redirect or the file handler. Also what the server
 * lends every connection (struct conn_env), and the access log line.
 */
#ifndef DISPATCH_H
#define DISPATCH_H

#include <stddef.h>

#include "request.h"

struct accesslog;
struct config;
struct docroot;
struct exchange;
struct iopool;
struct tls;
struct transport;

/* What the server lends to every connection; it outlives them all. */
struct conn_env {
	const struct config *cfg;
	struct docroot **roots; /* [0] the default site */
	size_t root_count;
	struct accesslog *access_log;
	struct iopool *pool; /* for the metrics */
	struct tls *tls;     /* the TLS listeners' contexts, if any */
	int metrics_only;    /* the metrics listener */
	int retiring;	     /* a listener a reload removed */
	/* Called on the reactor as each connection starts and ends. */
	void (*opened)(void *arg);
	void (*closed)(void *arg);
	void *arg;
};

/* The connection a request came on, as far as dispatching cares. */
struct dispatch_origin {
	const struct conn_env *env;
	const char *peer;		   /* the client's address, as text */
	const struct transport *transport; /* TLS or plain, for the log */
	unsigned listener;		   /* the id it was accepted on */
	int *retiring; /* its listener is going away: a health answer renews */
};

/*
 * Virtual hosts: the first site naming host exactly, else the first whose
 * wildcard matches, else the default site (config_site_find). host may
 * carry a port and a trailing dot; a NULL host is the default site.
 */
const struct docroot *dispatch_root(const struct conn_env *, struct slice host);
/*
 * Answers x, whose request is parsed and whose site is chosen: 0, or -1
 * when the exchange was lost or its answer means the connection must not
 * serve another request (501 for an unknown method).
 */
int dispatch_request(const struct dispatch_origin *, struct exchange *x);
/* One access log line for x, if its head went out; start_ms: its start. */
void dispatch_log(
    const struct dispatch_origin *, const struct exchange *x, long start_ms);

#endif
