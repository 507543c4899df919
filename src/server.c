/*
 * The reactor. Listening sockets are non-blocking; each readiness event
 * accepts a bounded batch so one busy listener cannot starve the others.
 * At max_connections the listeners are disabled and re-enabled when a
 * connection closes. SIGTERM or SIGINT starts a drain: listeners close,
 * idle connections close, busy ones finish their response, and after
 * shutdown_grace_ms the rest are aborted.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "accesslog.h"
#include "await.h"
#include "config.h"
#include "conn.h"
#include "coro.h"
#include "resolve.h"
#include "iopool.h"
#include "log.h"
#include "mime.h"
#include "notify.h"
#include "server.h"

#define ACCEPT_BATCH		64
#define ACCEPT_BACKOFF_MS	100	/* after EMFILE and the like */
#define LISTEN_BACKLOG		511
/* Time left for connections stuck in a storage call after the abort. */
#define ABORT_WAIT_MS		1000
#ifdef CORO_SANITIZERS
#define CORO_STACK_BYTES	(512 * 1024)
#else
#define CORO_STACK_BYTES	(128 * 1024)
#endif
#define CORO_POOL_MAX		256

struct listener {
	int			 fd;
	struct event		*ev;
	struct server		*server;
	const struct conn_env	*env;	/* the server's, or the metrics one */
	char			 name[80];
};

struct server {
	struct config	*cfg;
	struct event_base *base;
	struct iopool	*pool;
	struct mime_table *mime;
	struct docroot	*roots[CONFIG_SITES_MAX];	/* one per site */
	size_t		 nroots;
	struct accesslog *access_log;
	struct conn_env	 env;
	struct conn_env	 metrics_env;
	struct listener	 listeners[CONFIG_LISTEN_MAX + 1];	/* + metrics */
	size_t		 nlisteners;
	int		 accepting;
	int		 draining;
	struct event	*backoff_ev;
	struct event	*grace_ev;
	struct event	*signal_evs[4];
	size_t		 nsignals;
};

static void
listeners_enable(struct server *s, int on)
{
	size_t	 i;

	if (s->accepting == on || s->draining)
		return;
	s->accepting = on;
	for (i = 0; i < s->nlisteners; i++) {
		if (on)
			event_add(s->listeners[i].ev, NULL);
		else
			event_del(s->listeners[i].ev);
	}
}

static void
listeners_close(struct server *s)
{
	size_t	 i;

	for (i = 0; i < s->nlisteners; i++) {
		event_free(s->listeners[i].ev);
		close(s->listeners[i].fd);
	}
	s->nlisteners = 0;
	s->accepting = 0;
}

static void
accept_cb(evutil_socket_t fd, short what, void *arg)
{
	struct listener		*l = arg;
	struct server		*s = l->server;
	struct sockaddr_storage	 ss;
	socklen_t		 sslen;
	struct timeval		 tv = { 0, ACCEPT_BACKOFF_MS * 1000 };
	int			 i, cfd;

	for (i = 0; i < ACCEPT_BATCH && s->accepting; i++) {
		if (conn_count() >= s->cfg->max_connections) {
			listeners_enable(s, 0);
			return;
		}
		sslen = sizeof ss;
		cfd = accept4(fd, (struct sockaddr *)&ss, &sslen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				log_warn("accept");
				listeners_enable(s, 0);
				evtimer_add(s->backoff_ev, &tv);
			}
			return;
		}
		if (conn_start(l->env, cfd, (struct sockaddr *)&ss, sslen) ==
		    -1) {
			/* Out of memory: let some connections finish first. */
			listeners_enable(s, 0);
			evtimer_add(s->backoff_ev, &tv);
			return;
		}
	}
}

static void
backoff_cb(evutil_socket_t fd, short what, void *arg)
{
	listeners_enable(arg, 1);
}

static void
conn_closed(void *arg)
{
	struct server	*s = arg;

	if (s->draining) {
		if (conn_count() == 0)
			event_base_loopexit(s->base, NULL);
		return;
	}
	if (!s->accepting && conn_count() < s->cfg->max_connections &&
	    !evtimer_pending(s->backoff_ev, NULL))
		listeners_enable(s, 1);
}

static int
listener_open(struct server *s, const struct config_listen *cl,
    const struct conn_env *env)
{
	struct listener		*l = &s->listeners[s->nlisteners];
	struct addrinfo		 hints, *res;
	struct sockaddr_storage	 bound;
	socklen_t		 boundlen = sizeof bound;
	char			 host[64], port[8];
	int			 rc, one = 1;

	memset(&hints, 0, sizeof hints);
	/* "*" means every IPv4 address; "[::]" is how to ask for IPv6. */
	hints.ai_family = cl->host[0] != '\0' ? AF_UNSPEC : AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if ((rc = getaddrinfo(cl->host[0] != '\0' ? cl->host : NULL, cl->port,
	    &hints, &res)) != 0) {
		log_warnx("listen %s:%s: %s", cl->host, cl->port,
		    gai_strerror(rc));
		return -1;
	}
	l->fd = socket(res->ai_family, res->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (l->fd == -1)
		goto fail;
	setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (res->ai_family == AF_INET6)
		setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (bind(l->fd, res->ai_addr, res->ai_addrlen) == -1 ||
	    listen(l->fd, LISTEN_BACKLOG) == -1 ||
	    getsockname(l->fd, (struct sockaddr *)&bound, &boundlen) == -1)
		goto fail;
	getnameinfo((struct sockaddr *)&bound, boundlen, host, sizeof host,
	    port, sizeof port, NI_NUMERICHOST | NI_NUMERICSERV);
	snprintf(l->name, sizeof l->name, bound.ss_family == AF_INET6 ?
	    "[%s]:%s" : "%s:%s", host, port);
	l->server = s;
	l->env = env;
	if ((l->ev = event_new(s->base, l->fd, EV_READ | EV_PERSIST, accept_cb,
	    l)) == NULL)
		goto fail;
	freeaddrinfo(res);
	s->nlisteners++;
	return 0;
fail:
	log_warn("listen %s%s%s:%s", strchr(cl->host, ':') ? "[" : "",
	    cl->host[0] ? cl->host : "*", strchr(cl->host, ':') ? "]" : "",
	    cl->port);
	if (l->fd != -1)
		close(l->fd);
	freeaddrinfo(res);
	return -1;
}

static void
grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server	*s = arg;
	struct timeval	 tv = { ABORT_WAIT_MS / 1000,
	    (ABORT_WAIT_MS % 1000) * 1000 };

	log_warnx("shutdown grace period over: aborting %u connection%s",
	    conn_count(), conn_count() == 1 ? "" : "s");
	conn_abort_all();
	/* Whatever still waits on storage is not waited for. */
	event_base_loopexit(s->base, &tv);
}

static void
shutdown_begin(struct server *s, const char *why)
{
	struct timeval	 tv;
	unsigned	 ms = s->cfg->shutdown_grace_ms;

	if (s->draining) {
		log_info("%s again: aborting connections", why);
		grace_cb(-1, 0, s);
		return;
	}
	log_info("%s: shutting down, %u connection%s open", why, conn_count(),
	    conn_count() == 1 ? "" : "s");
	notify_stopping();
	listeners_close(s);
	s->draining = 1;
	conn_drain();
	if (conn_count() == 0) {
		event_base_loopexit(s->base, NULL);
		return;
	}
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(s->grace_ev, &tv);
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct server	*s = arg;

	switch (sig) {
	case SIGTERM:
		shutdown_begin(s, "SIGTERM");
		break;
	case SIGINT:
		shutdown_begin(s, "SIGINT");
		break;
	case SIGUSR1:
		if (s->access_log != NULL)
			accesslog_reopen(s->access_log);
		break;
	case SIGHUP:
		log_warnx("SIGHUP: configuration reload is not supported yet; "
		    "restart to apply changes");
		break;
	}
}

/* The media types and one docroot per site, before the reactor runs. */
static int
server_open_sites(struct server *s)
{
	const struct config	*cfg = s->cfg;
	const char		*exts[CONFIG_MIME_MAX], *types[CONFIG_MIME_MAX];
	char			 err[CONFIG_ERROR_MAX];
	size_t			 i;

	for (i = 0; i < cfg->mime_count; i++) {
		exts[i] = cfg->mime[i].ext;
		types[i] = cfg->mime[i].type;
	}
	if ((s->mime = mime_load_with(cfg->mime_types, exts, types,
	    cfg->mime_count)) == NULL || (cfg->default_type != NULL &&
	    mime_set_default(s->mime, cfg->default_type) == -1)) {
		log_warn("media types");
		return -1;
	}
	for (i = 0; i < cfg->site_count; i++) {
		if ((s->roots[i] = docroot_open(cfg, &cfg->sites[i], s->mime,
		    err, sizeof err)) == NULL) {
			log_warnx("%s", err);
			return -1;
		}
		s->nroots++;
	}
	return 0;
}

struct server *
server_create(struct config *cfg)
{
	static const int	 signals[] = { SIGTERM, SIGINT, SIGUSR1, SIGHUP };
	struct server		*s;
	size_t			 i;

	if ((s = calloc(1, sizeof *s)) == NULL) {
		log_warn("server");
		config_free(cfg);
		return NULL;
	}
	s->cfg = cfg;
	signal(SIGPIPE, SIG_IGN);
	if ((s->base = event_base_new()) == NULL) {
		log_warnx("cannot create the event base");
		goto fail;
	}
	if (server_open_sites(s) == -1)
		goto fail;
	if (cfg->access_log != NULL &&
	    (s->access_log = accesslog_open(cfg->access_log,
	    cfg->access_log_format)) == NULL) {
		log_warn("access log %s", cfg->access_log);
		goto fail;
	}
	if ((s->pool = iopool_create(cfg->io_threads, cfg->io_queue_max)) ==
	    NULL) {
		log_warn("I/O pool");
		goto fail;
	}
	if (cfg->io_threads == 0)
		log_warnx("io_threads = 0: file I/O runs on the reactor and "
		    "blocks every client while it waits");
	if (coro_init(CORO_STACK_BYTES, CORO_POOL_MAX) == -1 ||
	    await_init(s->base, s->pool) == -1) {
		log_warn("coroutines");
		goto fail;
	}
	s->env.cfg = cfg;
	s->env.roots = s->roots;
	s->env.root_count = s->nroots;
	s->env.access_log = s->access_log;
	s->env.closed = conn_closed;
	s->env.closed_arg = s;
	s->env.pool = s->pool;
	s->backoff_ev = evtimer_new(s->base, backoff_cb, s);
	s->grace_ev = evtimer_new(s->base, grace_cb, s);
	if (s->backoff_ev == NULL || s->grace_ev == NULL)
		goto fail;
	for (i = 0; i < sizeof signals / sizeof signals[0]; i++) {
		s->signal_evs[i] = evsignal_new(s->base, signals[i], signal_cb,
		    s);
		if (s->signal_evs[i] == NULL ||
		    evsignal_add(s->signal_evs[i], NULL) == -1)
			goto fail;
		s->nsignals++;
	}
	s->metrics_env = s->env;
	s->metrics_env.metrics_only = 1;
	for (i = 0; i < cfg->listen_count; i++)
		if (listener_open(s, &cfg->listen[i], &s->env) == -1)
			goto fail;
	if (cfg->metrics_listen_set &&
	    listener_open(s, &cfg->metrics_listen, &s->metrics_env) == -1)
		goto fail;
	return s;
fail:
	server_free(s);
	return NULL;
}

int
server_run(struct server *s)
{
	size_t	 i;

	listeners_enable(s, 1);
	for (i = 0; i < s->nlisteners; i++)
		log_info("listening on %s%s", s->listeners[i].name,
		    s->listeners[i].env->metrics_only ? " (metrics)" : "");
	for (i = 0; i < s->nroots; i++)
		log_info("serving %s%s%s", s->roots[i]->real,
		    i == 0 ? " (default site)" : " for ",
		    i == 0 ? "" : s->cfg->sites[i].names[0]);
	log_info("%u I/O thread%s", s->cfg->io_threads,
	    s->cfg->io_threads == 1 ? "" : "s");
	notify_ready();
	if (event_base_dispatch(s->base) == -1) {
		log_warnx("event loop failed");
		return 1;
	}
	if (conn_count() > 0) {
		/*
		 * Their coroutines still wait for storage calls that never
		 * came back: nothing can be freed safely, so leave it all to
		 * exit().
		 */
		log_warnx("exiting with %u connection%s stuck in storage calls",
		    conn_count(), conn_count() == 1 ? "" : "s");
		accesslog_close(s->access_log);
		exit(0);
	}
	log_info("stopped");
	return 0;
}

void
server_free(struct server *s)
{
	size_t	 i;

	if (s == NULL)
		return;
	listeners_close(s);
	for (i = 0; i < s->nsignals; i++)
		event_free(s->signal_evs[i]);
	if (s->grace_ev != NULL)
		event_free(s->grace_ev);
	if (s->backoff_ev != NULL)
		event_free(s->backoff_ev);
	await_shutdown();
	iopool_destroy(s->pool);
	coro_shutdown();
	accesslog_close(s->access_log);
	for (i = 0; i < s->nroots; i++)
		docroot_close(s->roots[i]);
	mime_free(s->mime);
	if (s->base != NULL)
		event_base_free(s->base);
	config_free(s->cfg);
	free(s);
}
