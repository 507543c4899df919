/*
 * Generations. Every reactor's connections hold references, and each
 * reactor holds one for the connections it accepts next, so the count is
 * atomic: the release that takes it to zero sees every earlier use
 * (acquire-release). Creation may run on an I/O thread: it touches
 * nothing shared.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accesslog.h"
#include "generation.h"
#include "iopool.h"
#include "log.h"
#include "mime.h"
#include "resolve.h"
#include "tls.h"

/* Closes the roots and the log: storage calls, so never on the reactor. */
static void
free_work(struct iojob *job)
{
	struct generation *g = job->data;
	size_t i;

	for (i = 0; i < g->nroots; i++)
		docroot_close(g->roots[i]);
	accesslog_close(g->access_log);
	tls_free(g->tls);
	mime_free(g->mime);
	config_free(g->cfg);
	g->nroots = 0;
	g->access_log = NULL;
	g->tls = NULL;
	g->mime = NULL;
	g->cfg = NULL;
}

static void
free_done(struct iojob *job)
{
	free(job->data);
}

static void
generation_free(struct generation *g)
{
	g->free_job.data = g;
	free_work(&g->free_job);
	free(g);
}

struct generation *
generation_create(struct config *cfg, const struct generation *prev,
    struct iopool *pool, void (*opened)(void *), void (*closed)(void *),
    char *err, size_t errlen)
{
	const char *exts[CONFIG_MIME_MAX], *types[CONFIG_MIME_MAX];
	struct generation *g;
	size_t i;

	if ((g = calloc(1, sizeof *g)) == NULL) {
		snprintf(err, errlen, "out of memory");
		config_free(cfg);
		return NULL;
	}
	g->refs = 1;
	g->cfg = cfg;
	for (i = 0; i < cfg->mime_count; i++) {
		exts[i] = cfg->mime[i].ext;
		types[i] = cfg->mime[i].type;
	}
	if ((g->mime = mime_load_with(
		 cfg->mime_types, exts, types, cfg->mime_count)) == NULL ||
	    (cfg->default_type != NULL &&
		mime_set_default(g->mime, cfg->default_type) == -1)) {
		snprintf(err, errlen, "media types: out of memory");
		goto fail;
	}
	for (i = 0; i < cfg->site_count; i++) {
		if ((g->roots[i] = docroot_open(cfg, &cfg->sites[i], g->mime,
			 pool, err, errlen)) == NULL)
			goto fail;
		g->nroots++;
	}
	/* Certificates of the default site's make TLS listeners possible. */
	if (cfg->sites[0].tls_certificate.count > 0 &&
	    (g->tls = tls_create(
		 cfg, prev != NULL ? prev->tls : NULL, err, errlen)) == NULL)
		goto fail;
	if (cfg->access_log != NULL &&
	    (g->access_log = accesslog_open(
		 cfg->access_log, cfg->access_log_format)) == NULL) {
		snprintf(err, errlen, "access log %s: %s", cfg->access_log,
		    strerror(errno));
		goto fail;
	}
	g->env.cfg = cfg;
	g->env.roots = g->roots;
	g->env.root_count = g->nroots;
	g->env.access_log = g->access_log;
	g->env.pool = pool;
	g->env.tls = g->tls;
	g->env.opened = opened;
	g->env.closed = closed;
	g->env.arg = g;
	g->metrics_env = g->env;
	g->metrics_env.metrics_only = 1;
	g->retiring_env = g->env;
	g->retiring_env.retiring = 1;
	return g;
fail:
	generation_free(g);
	return NULL;
}

void
generation_retain(struct generation *g)
{
	__atomic_add_fetch(&g->refs, 1, __ATOMIC_RELAXED);
}

void
generation_release(struct generation *g)
{
	if (__atomic_sub_fetch(&g->refs, 1, __ATOMIC_ACQ_REL) > 0)
		return;
	g->free_job.work = free_work;
	g->free_job.done = free_done;
	g->free_job.data = g;
	g->free_job.past_limit = 1;
	switch (iopool_submit(g->env.pool, &g->free_job)) {
	case 0:
		break;
	case 1: /* no I/O threads: it ran inline */
		free(g);
		break;
	default:
		generation_free(g);
		break;
	}
}

void
generation_free_now(struct generation *g)
{
	if (g != NULL && __atomic_sub_fetch(&g->refs, 1, __ATOMIC_ACQ_REL) == 0)
		generation_free(g);
}
