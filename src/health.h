/*
 * Health: what a load balancer polls to decide whether to send this
 * instance requests. The answer comes from memory on the reactor, never
 * from a file job: 200 while serving, 503 once a drain has begun, and 503
 * while the storage probe says the document roots are slow or failing.
 * The probe is one I/O pool job at a time that stats every site's root;
 * a probe still out after its deadline counts as a failure at once, so a
 * saturated pool or a hung network mount turns the instance unhealthy
 * without the reactor ever waiting. One health state per process, kept
 * by one reactor and read by any.
 */
#ifndef HEALTH_H
#define HEALTH_H

#include <stddef.h>
#include <stdint.h>

struct config;
struct event_base;
struct iopool;

/* Longest reason text, NUL included. */
#define HEALTH_REASON_MAX 256

/* For the metrics. */
struct health_stats {
	int enabled; /* probing: health is served somewhere */
	int healthy;
	uint64_t probes;	 /* completed */
	uint64_t probe_failures; /* failed or past the deadline */
	uint64_t last_probe_ns;	 /* the last completed probe's time */
};

/* Binds the module to the reactor and the pool; 0 or -1. */
int health_init(struct event_base *, struct iopool *);
/*
 * Takes the probe's settings and the roots to probe from a (new)
 * configuration. Probing runs only where health is served: health_path
 * set, or a metrics listener. Paths are copied.
 */
void health_configure(
    const struct config *, const char *const *roots, size_t nroots);
/*
 * Whether health is served, from cfg, before the first probe: at
 * start-up, so that a metrics scrape a reactor answers before
 * health_configure() already has the health lines.
 */
void health_enable(const struct config *);
/*
 * The ids of the listeners open and not retiring (server.c, on every
 * change): a connection accepted on any other is on its way out.
 */
void health_listeners(const unsigned *ids, size_t n);
/*
 * Whether listener's connections answer 503 "draining": a reload removed
 * it, and it closes or has closed. Read when a health request is
 * answered, so a reactor that has not yet taken the reload in answers as
 * the reload says. 0 for listener 0 (none: tests).
 */
int health_retiring(unsigned listener);
/* From now on 503 "draining", and no more probes. */
void health_drain(void);
/*
 * 200 or 503, with a one-line reason in reason: "ok", "draining", "storage
 * slow" or "storage failed", and with detail the root and error too (for
 * the metrics listener and the log, not the public listeners: it tells
 * anyone the server's file layout).
 */
int health_status(char *reason, size_t len, int detail);
/* A probe is still out: at exit, storage that may never answer. */
int health_probe_stuck(void);
void health_stats(struct health_stats *);
/* After the pool is gone (its done() calls have run). */
void health_shutdown(void);

#endif
