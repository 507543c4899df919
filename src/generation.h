/*
 * A generation is everything one configuration serves with: the config
 * itself, the media types, one docroot per site, the access log, the TLS
 * contexts, and the connection environments that point at them. A reload
 * builds a new generation beside the running one; connections keep the
 * generation they were accepted under until they close, so a reload never
 * changes what a request in flight sees. Building one touches the
 * filesystem (config, roots, mime.types, the log, certificates and keys),
 * so the server does it on an I/O thread.
 */
#ifndef GENERATION_H
#define GENERATION_H

#include "config.h"
#include "conn.h"
#include "iopool.h"

struct iopool;
struct mime_table;
struct tls;

struct generation {
	/* Atomic: the server's, each reactor's, each connection's. */
	unsigned refs;
	struct config *cfg;
	struct mime_table *mime;
	struct docroot *roots[CONFIG_SITES_MAX]; /* one per site */
	size_t nroots;
	struct accesslog *access_log;
	struct tls *tls;	      /* NULL: no certificate, no TLS */
	struct conn_env env;	      /* for the main listeners */
	struct conn_env metrics_env;  /* for metrics_listen */
	struct conn_env retiring_env; /* listeners in drain_delay_ms */
	struct iojob free_job;
};

/*
 * Builds a generation for cfg, which it then owns; NULL with err set (cfg
 * freed). prev (NULL at start-up): the generation serving now, which must
 * live until this returns; the new one carries on its session-ticket keys
 * when it can (tls_create). The environments' hooks are the caller's: opened()
 * and closed() are called with the generation itself (conn_env.arg), so a
 * connection's hooks know which generation it holds.
 */
struct generation *generation_create(struct config *cfg,
    const struct generation *prev, struct iopool *pool, void (*opened)(void *),
    void (*closed)(void *), char *err, size_t errlen);
void generation_retain(struct generation *);
/*
 * Frees it with the last reference, on an I/O thread: the only way on the
 * reactor, since closing the access log joins its writer, which may be in
 * a write to slow storage.
 */
void generation_release(struct generation *);
/* The same, at once on this thread: for shutdown, once the pool is gone. */
void generation_free_now(struct generation *);

#endif
