/*
 * The health state and its storage probe.
 *
 * Threads: everything here runs on the reactor except probe_work(), which
 * runs on an I/O worker and touches only its own struct probe (paths
 * copied at submission, results written before the job completes). The
 * one field both sides touch while the job is out is probe->current, the
 * index of the root being statted, stored and loaded atomically so a
 * deadline can name the root that hangs. At most one probe is out: a tick
 * that finds one still out submits nothing, so a hung mount costs one
 * worker, not one per tick. A probe is freed by its done(), which the pool
 * always calls (iopool_destroy() included), so nothing is freed under a
 * worker.
 *
 * Health is process-wide, not a reactor's: one state, one probe. Its
 * timers and its probe's completion run on the reactor whose base
 * health_init() was given, the only writer; every reactor reads the state
 * to answer a health request or render the metrics. health.lock guards
 * what they read (the verdict with its reason, the draining flag, the
 * counters), so a reader never sees a reason from one verdict beside the
 * flag of another. It is taken per health request, never per file
 * request. The writer reads its own fields without it.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <event2/event.h>

#include "config.h"
#include "health.h"
#include "iopool.h"
#include "log.h"
#include "monotime.h"

/* Listeners open at once: the main ones and the metrics one. */
#define HEALTH_LISTENERS_MAX (CONFIG_LISTEN_MAX + 1)

struct probe {
	struct iojob job;
	uint64_t start_ns;
	unsigned timeout_ms; /* as configured when submitted */
	int late;	     /* the deadline passed first */
	size_t npaths;
	const char *paths[CONFIG_SITES_MAX];
	/* Set by the worker. */
	size_t current; /* atomic: the root being statted */
	int error;	/* errno of the failure, or 0 */
	char strings[]; /* the paths */
};

static struct {
	pthread_mutex_t lock; /* see above */
	struct event_base *base;
	struct iopool *pool;
	struct event *tick_ev;
	struct event *deadline_ev;
	unsigned interval_ms;
	unsigned timeout_ms;
	int enabled;
	int draining;
	/*
	 * The listeners open and not retiring, once the server has said:
	 * a connection from any other answers 503 "draining".
	 */
	unsigned listeners[HEALTH_LISTENERS_MAX];
	size_t nlisteners;
	int listeners_known;
	/* The roots to probe: npaths NUL-terminated strings in a row. */
	char *paths;
	size_t paths_len;
	size_t npaths;
	struct probe *probe; /* out, or NULL */
	int healthy;
	const char *summary; /* a fixed reason, for all */
	/* The detail, naming the root: for the metrics listener and log. */
	char reason[HEALTH_REASON_MAX];
	uint64_t probes;
	uint64_t probe_failures;
	uint64_t last_probe_ns;
} health = { .lock = PTHREAD_MUTEX_INITIALIZER, .healthy = 1 };

/*
 * Worker: asks storage for each root's attributes. AT_STATX_FORCE_SYNC
 * makes a network filesystem ask its server instead of answering from
 * the attribute cache, which would hide a hung server for up to a minute.
 */
static void
probe_work(struct iojob *job)
{
	struct probe *p = (struct probe *)job;
	struct statx sx;
	size_t i;

	for (i = 0; i < p->npaths; i++) {
		__atomic_store_n(&p->current, i, __ATOMIC_RELAXED);
		if (statx(AT_FDCWD, p->paths[i], AT_STATX_FORCE_SYNC,
			STATX_TYPE | STATX_MTIME, &sx) == -1) {
			p->error = errno;
			return;
		}
		if (!S_ISDIR(sx.stx_mode)) {
			p->error = ENOTDIR;
			return;
		}
	}
}

/* One log line per change of verdict, not one per probe. */
static void verdict(int healthy, const char *summary, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
verdict(int healthy, const char *summary, const char *fmt, ...)
{
	va_list ap;
	int was = health.healthy;

	pthread_mutex_lock(&health.lock);
	health.summary = summary;
	va_start(ap, fmt);
	vsnprintf(health.reason, sizeof health.reason, fmt, ap);
	va_end(ap);
	health.healthy = healthy;
	pthread_mutex_unlock(&health.lock);
	if (was && !healthy)
		log_warnx("health: %s: reporting unhealthy", health.reason);
	else if (!was && healthy)
		log_info("health: storage answers again: reporting healthy");
}

static void
probe_done(struct iojob *job)
{
	struct probe *p = (struct probe *)job;
	uint64_t ns = monotime_ns() - p->start_ns;
	long ms = (long)(ns / 1000000u);
	const char *path = p->npaths > 0
	    ? p->paths[__atomic_load_n(&p->current, __ATOMIC_RELAXED)]
	    : "";

	if (health.deadline_ev != NULL)
		evtimer_del(health.deadline_ev);
	health.probe = NULL;
	pthread_mutex_lock(&health.lock);
	health.probes++;
	health.last_probe_ns = ns;
	/*
	 * Late but back before deadline_cb could run (the reactor was busy, or
	 * both were ready in one turn): a failure all the same; counted once.
	 */
	if ((p->error != 0 || ms > (long)p->timeout_ms) && !p->late)
		health.probe_failures++;
	pthread_mutex_unlock(&health.lock);
	if (!health.enabled || health.draining)
		; /* health off since, or shutting down: no verdict */
	else if (p->error != 0)
		verdict(0, "storage failed", "storage failed: %s: %s", path,
		    strerror(p->error));
	else if (p->late || ms > (long)p->timeout_ms)
		verdict(0, "storage slow",
		    "storage slow: %s answered in "
		    "%ld ms (deadline %u ms)",
		    path, ms, p->timeout_ms);
	else
		verdict(1, "ok", "ok");
	free(p);
}

/* The probe is still out at its deadline: unhealthy now, not when it ends. */
static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct probe *p = health.probe;

	if (p == NULL)
		return;
	p->late = 1; /* stuck, whatever health says: see server_run */
	if (!health.enabled)
		return;
	pthread_mutex_lock(&health.lock);
	health.probe_failures++;
	pthread_mutex_unlock(&health.lock);
	verdict(0, "storage slow", "storage slow: %s: no answer in %u ms",
	    p->npaths > 0
		? p->paths[__atomic_load_n(&p->current, __ATOMIC_RELAXED)]
		: "",
	    p->timeout_ms);
}

static void
probe_start(void)
{
	struct probe *p;
	struct timeval tv;
	const char *s;
	size_t i;

	if (health.probe != NULL || health.draining || !health.enabled)
		return;
	if ((p = calloc(1, sizeof *p + health.paths_len)) == NULL) {
		log_warn("health probe");
		return;
	}
	memcpy(p->strings, health.paths, health.paths_len);
	for (i = 0, s = p->strings; i < health.npaths; i++, s += strlen(s) + 1)
		p->paths[i] = s;
	p->npaths = health.npaths;
	p->timeout_ms = health.timeout_ms;
	p->start_ns = monotime_ns();
	p->job.work = probe_work;
	p->job.done = probe_done;
	/* A full queue is slow storage too: wait in line and be judged. */
	p->job.past_limit = 1;
	health.probe = p;
	tv.tv_sec = p->timeout_ms / 1000;
	tv.tv_usec = (p->timeout_ms % 1000) * 1000;
	evtimer_add(health.deadline_ev, &tv);
	switch (iopool_submit(health.pool, &p->job)) {
	case 0:
		break;
	case 1: /* no I/O threads: it ran inline */
		probe_done(&p->job);
		break;
	default:
		health.probe = NULL;
		evtimer_del(health.deadline_ev);
		verdict(0, "storage failed", "storage probe refused: %s",
		    strerror(errno));
		free(p);
		break;
	}
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	probe_start();
}

int
health_init(struct event_base *base, struct iopool *pool)
{
	health.base = base;
	health.pool = pool;
	if ((health.tick_ev = event_new(base, -1, EV_PERSIST, tick_cb, NULL)) ==
		NULL ||
	    (health.deadline_ev = evtimer_new(base, deadline_cb, NULL)) ==
		NULL) {
		health_shutdown();
		return -1;
	}
	return 0;
}

void
health_enable(const struct config *cfg)
{
	pthread_mutex_lock(&health.lock);
	health.enabled = cfg->health_path != NULL || cfg->metrics_listen_set;
	if (!health.enabled || health.draining)
		health.healthy = 1;
	pthread_mutex_unlock(&health.lock);
}

void
health_configure(
    const struct config *cfg, const char *const *roots, size_t nroots)
{
	struct timeval tv;
	char *paths, *s;
	size_t i, j, len = 0, n = 0;

	for (i = 0; i < nroots; i++)
		len += strlen(roots[i]) + 1;
	if ((paths = malloc(len > 0 ? len : 1)) == NULL) {
		/* Keep probing what was probed before. */
		log_warn("health: roots");
		return;
	}
	/* Sites often share a root: each distinct one once. */
	for (i = 0, s = paths; i < nroots; i++) {
		for (j = 0; j < i; j++)
			if (strcmp(roots[i], roots[j]) == 0)
				break;
		if (j < i)
			continue;
		strcpy(s, roots[i]);
		s += strlen(s) + 1;
		n++;
	}
	free(health.paths);
	health.paths = paths;
	health.paths_len = (size_t)(s - paths);
	health.npaths = n;
	health.interval_ms = cfg->health_probe_interval_ms;
	health.timeout_ms = cfg->health_probe_timeout_ms;
	health_enable(cfg);
	if (health.tick_ev == NULL)
		return;
	event_del(health.tick_ev);
	if (!health.enabled || health.draining)
		return;
	tv.tv_sec = health.interval_ms / 1000;
	tv.tv_usec = (health.interval_ms % 1000) * 1000;
	event_add(health.tick_ev, &tv);
	/* Judge the storage now, not one interval from now. */
	probe_start();
}

void
health_drain(void)
{
	pthread_mutex_lock(&health.lock);
	health.draining = 1;
	pthread_mutex_unlock(&health.lock);
	if (health.tick_ev != NULL)
		event_del(health.tick_ev);
}

void
health_listeners(const unsigned *ids, size_t n)
{
	if (n > HEALTH_LISTENERS_MAX)
		n = HEALTH_LISTENERS_MAX;
	pthread_mutex_lock(&health.lock);
	memcpy(health.listeners, ids, n * sizeof ids[0]);
	health.nlisteners = n;
	health.listeners_known = 1;
	pthread_mutex_unlock(&health.lock);
}

int
health_retiring(unsigned listener)
{
	size_t i;
	int retiring;

	if (listener == 0)
		return 0;
	pthread_mutex_lock(&health.lock);
	retiring = health.listeners_known;
	for (i = 0; retiring && i < health.nlisteners; i++)
		if (health.listeners[i] == listener)
			retiring = 0;
	pthread_mutex_unlock(&health.lock);
	return retiring;
}

int
health_status(char *reason, size_t len, int detail)
{
	int status = 503;

	pthread_mutex_lock(&health.lock);
	if (health.draining)
		snprintf(reason, len, "draining");
	else if (!health.healthy)
		snprintf(
		    reason, len, "%s", detail ? health.reason : health.summary);
	else {
		snprintf(reason, len, "ok");
		status = 200;
	}
	pthread_mutex_unlock(&health.lock);
	return status;
}

/*
 * At exit any probe still out counts: one that is not yet past its
 * deadline may be just as stuck on a hung mount, and joining the pool
 * would wait on it for ever.
 */
int
health_probe_stuck(void)
{
	return health.probe != NULL;
}

void
health_stats(struct health_stats *st)
{
	memset(st, 0, sizeof *st);
	pthread_mutex_lock(&health.lock);
	st->enabled = health.enabled;
	st->healthy = health.healthy && !health.draining;
	st->probes = health.probes;
	st->probe_failures = health.probe_failures;
	st->last_probe_ns = health.last_probe_ns;
	pthread_mutex_unlock(&health.lock);
}

void
health_shutdown(void)
{
	if (health.tick_ev != NULL)
		event_free(health.tick_ev);
	if (health.deadline_ev != NULL)
		event_free(health.deadline_ev);
	free(health.paths);
	/* A probe stuck in storage is the pool's to finish; not freed here. */
	health.base = NULL;
	health.pool = NULL;
	health.tick_ev = NULL;
	health.deadline_ev = NULL;
	health.paths = NULL;
	health.paths_len = 0;
	health.npaths = 0;
	health.probe = NULL;
	pthread_mutex_lock(&health.lock);
	health.enabled = 0;
	health.draining = 0;
	health.healthy = 1;
	health.summary = NULL;
	health.reason[0] = '\0';
	health.probes = 0;
	health.probe_failures = 0;
	health.last_probe_ns = 0;
	pthread_mutex_unlock(&health.lock);
}
