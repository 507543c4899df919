/*
 * The server and its reactors, one per core (`reactors`). Listening
 * sockets are non-blocking; each readiness event accepts a bounded batch
 * so one busy listener cannot starve the others. At max_connections a
 * reactor stops watching its listeners and watches them again when a
 * connection closes, on any reactor. SIGTERM or SIGINT starts a drain:
 * listeners close, idle connections close, busy ones finish their response, and
 * after shutdown_grace_ms (or a second signal) the rest are aborted. With
 * drain_delay_ms, the health endpoint turns 503 first and all of that
 * waits that long, so a load balancer takes the instance out before any
 * connection is refused.
 *
 * SIGHUP reloads: an I/O pool job reads the configuration and opens the
 * new generation's roots and log (storage calls, so not on the reactor);
 * back on the reactor, listeners are matched by address (kept, opened or
 * closed) and the new generation replaces the old for new connections.
 * Connections accepted earlier keep theirs until they close (HTTP/2 ones
 * get a GOAWAY). Any failure leaves the running configuration untouched.
 *
 * Threads. Reactor 0 runs on the main thread and does the server's own
 * work: signals, reload, drain, health, the service manager. Every
 * reactor, 0 included, is a lane: its thread accepts on its own socket
 * of each listening address's SO_REUSEPORT group (through a dup, so the
 * socket stays open until the lane lets it go) and serves what it
 * accepts to the end. The kernel hashes each connection to one socket:
 * a busy or stuck lane's connections wait for it, the others cannot
 * take them. Sockets from socket activation are one for all lanes,
 * whose queue feeds whichever accepts first. What the lanes share:
 * - s->lock guards the listener sets (s->listeners, s->retiring and what
 *   is in them), s->gen and the flags drain, abort and stop; reactor 0
 *   changes them under it, then wakes every lane (its eventfd), which
 *   copies what it needs under the same lock (lane_sync). A lane dups a
 *   listener's descriptor under the lock, and reactor 0 closes one under
 *   it after taking it out of the sets, so a lane never dups a closed one.
 * - s->conns, the open connections of every lane, is the max_connections
 *   budget: a lane takes a slot with an atomic add before accept4 and
 *   gives it back if no connection came of it, so the cap is exact. A
 *   lane out of slots is paused (s->npaused counts them); whoever frees a
 *   slot and sees a paused lane wakes them all. The pausing lane counts
 *   itself in npaused before it looks at the budget again, and the closer
 *   frees the slot before it looks at npaused (both sequentially
 *   consistent), so one of the two always sees the other.
 * - Each lane holds a reference to the generation its next connections
 *   get, taken from s->gen under the lock (the counts are atomic).
 * - lane->heartbeat_ms, stamped by each lane's timer, read by reactor 0
 *   before each watchdog ping.
 * The accept path takes no lock: the lane's own taps, its own generation
 * pointer, one atomic add.
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "accesslog.h"
#include "await.h"
#include "config.h"
#include "conn.h"
#include "coro.h"
#include "filecache.h"
#include "generation.h"
#include "health.h"
#include "iopool.h"
#include "log.h"
#include "metrics.h"
#include "notify.h"
#include "reactor.h"
#include "resolve.h"
#include "response.h"
#include "server.h"
#include "tls.h"

#define ACCEPT_BATCH 64
#define ACCEPT_BACKOFF_MS 100 /* after EMFILE and the like */
#define LISTEN_BACKLOG 511
/*
 * Time left for connections stuck in a storage call after the abort, and
 * for a storage probe still out when the last connection has gone.
 */
#define ABORT_WAIT_MS 1000
#ifdef CORO_SANITIZERS
#define CORO_STACK_BYTES (512 * 1024)
#else
#define CORO_STACK_BYTES (128 * 1024)
#endif
#define CORO_POOL_MAX 256
/*
 * Pooled stacks idle this long give their pages back, and HTTP/2
 * connections parked between one and two of these give nghttp2's.
 */
#define CORO_TRIM_MS 1000
#define CORO_GIVE_BACKS_PER_TURN 32

/* A lane's listener descriptors: the listeners and the retiring ones. */
#define TAPS_MAX (2 * CONFIG_LISTEN_MAX + 1)

#define STATUS_INTERVAL_MS 5000
/*
 * How often the ticket keys are looked at: a quarter of the shortest
 * tls_ticket_key_rotate_s, so a key is replaced within that of its due
 * time whatever a reload sets.
 */
#define TICKET_CHECK_MS 15000
#define STATUS_LINE_MAX 128

enum listener_kind { LISTENER_MAIN, LISTENER_METRICS };

/*
 * A listening address: one socket per reactor in a SO_REUSEPORT group
 * (or one socket for all, from socket activation); reactor 0's, each
 * lane accepting on a tap of its own socket.
 */
struct listener {
	int fd; /* fds[0] */
	int fds[CONFIG_REACTORS_MAX];
	unsigned nfds;
	struct server *server;
	enum listener_kind kind;
	struct config_listen addr; /* as configured, for reloads */
	int tls;		   /* under s->lock: a reload may change it */
	int named_tls;		   /* activated, named https or tls */
	unsigned id;		   /* never reused */
	int retiring;		   /* removed, open drain_delay_ms */
	long retire_at_ms;	   /* then closed */
	char name[80];		   /* as bound */
};

/* A lane's own descriptor for one listener, and the event that watches it. */
struct tap {
	struct lane *lane;
	unsigned id; /* the listener's */
	int fd;	     /* a dup of the listener's */
	enum listener_kind kind;
	int retiring; /* as last copied */
	int tls;      /* the same */
	struct event *ev;
};

/* One reactor and what the server keeps for it. */
struct lane {
	struct server *server;
	struct reactor *reactor;
	struct event_base *base;
	/* The rest is the lane's own, but for heartbeat_ms and drained. */
	struct generation *gen; /* its reference: for the next connections */
	struct tap *taps[TAPS_MAX];
	size_t ntaps;
	int accepting;	   /* its taps are watched */
	int paused;	   /* out of connection slots (counted in npaused) */
	int opened;	   /* conn_start() opened a connection */
	int drained;	   /* atomic: took the drain (taps closed) */
	int aborted;	   /* took the abort */
	long heartbeat_ms; /* atomic: its loop last turned */
	int wake_fd;	   /* eventfd: reactor 0 changed something */
	struct event *wake_ev;
	struct event *backoff_ev;
	struct event *heartbeat_ev;
	struct event *trim_ev;	    /* the trims, every CORO_TRIM_MS */
	struct event *give_back_ev; /* what they found, a batch a turn */
};

struct reload_job {
	struct iojob job;
	struct server *server;
	struct generation *gen;	 /* the result, or NULL */
	struct generation *prev; /* serving when it began: outlives the job */
	char err[CONFIG_ERROR_MAX];
};

struct server {
	struct reactor *reactor; /* reactor 0's, on the main thread */
	struct event_base *base; /* its */
	struct iopool *pool;
	pthread_mutex_t lock; /* see the top of the file */
	pthread_cond_t changed;
	struct lane *lanes[CONFIG_REACTORS_MAX];
	unsigned nlanes;
	unsigned conns;	  /* atomic: every lane's, the budget */
	unsigned npaused; /* atomic: lanes out of slots */
	int aborting;	  /* under lock */
	int stopping;	  /* under lock: lanes leave their loops */
	pthread_t threads[CONFIG_REACTORS_MAX]; /* [1..nthreads] */
	unsigned nthreads;			/* started */
	unsigned registered;	 /* under lock: lane threads that made theirs */
	int lanes_ready;	 /* under lock: every lane is in lanes[] */
	unsigned loops;		 /* under lock: lane threads in their loop */
	unsigned synced;	 /* under lock: lanes past their first sync */
	int pool_gone;		 /* under lock: lanes may free their reactor */
	long watchdog_ms;	 /* a lane silent this long stops the pings */
	unsigned nreactors;	 /* as started; a reload does not change it */
	struct generation *gen;	 /* for new connections; under lock */
	const char *config_path; /* NULL: built-in defaults */
	struct config_overrides overrides; /* with the reactors running */
	struct listener *listeners[CONFIG_LISTEN_MAX + 1];
	size_t nlisteners;
	/* Removed by a reload, still accepting until their retire_at_ms. */
	struct listener *retiring[CONFIG_LISTEN_MAX];
	size_t nretiring;
	struct event *retire_ev; /* the first one due */
	int activated;		 /* sockets from the manager */
	int running;		 /* server_run() has begun */
	int stuck;		 /* it ended with a storage call out */
	int draining;		 /* under lock */
	int drain_pending;	 /* in drain_delay_ms */
	const char *drain_why;
	int reloading;
	struct reload_job reload;
	struct event *grace_ev;
	struct event *drain_ev;
	struct event *status_ev;
	struct event *watchdog_ev;
	struct event *ticket_ev;
	int signal_fd; /* signalfd: the signals signals_handled() names */
	struct event *signal_ev; /* on it */
	uint64_t status_requests;
	long status_ms;
	unsigned listener_ids; /* the last given */
};

/* Connection hooks carry only their generation; there is one server. */
static struct server *the_server;
/* The lane running on this thread. */
static _Thread_local struct lane *this_lane;
static struct log_ratelimit accept_log = LOG_RATELIMIT_INITIALIZER(1);

static void
lane_wake(struct lane *lane)
{
	uint64_t one = 1;

	(void)write(lane->wake_fd, &one, sizeof one);
}

/* Every lane but self syncs (lane_sync). */
static void
lanes_wake_others(struct server *s, const struct lane *self)
{
	unsigned i;

	for (i = 0; i < s->nlanes; i++)
		if (s->lanes[i] != self)
			lane_wake(s->lanes[i]);
}

/* After a change under s->lock: every lane copies it (lane_sync). */
static void
lanes_wake(struct server *s)
{
	unsigned i;

	for (i = 0; i < s->nlanes; i++)
		lane_wake(s->lanes[i]);
}

static void
taps_enable(struct lane *lane, int on)
{
	size_t i;

	if (lane->accepting == on)
		return;
	lane->accepting = on;
	for (i = 0; i < lane->ntaps; i++) {
		if (on)
			event_add(lane->taps[i]->ev, NULL);
		else
			event_del(lane->taps[i]->ev);
	}
}

static void
tap_free(struct tap *t)
{
	if (t->ev != NULL)
		event_free(t->ev);
	if (t->fd != -1)
		close(t->fd);
	free(t);
}

static void
taps_close(struct lane *lane)
{
	size_t i;

	for (i = 0; i < lane->ntaps; i++)
		tap_free(lane->taps[i]);
	lane->ntaps = 0;
}

/* Under s->lock: lanes may be dup'ing its descriptor. */
static void
listener_free(struct listener *l)
{
	unsigned i;

	for (i = 0; i < l->nfds; i++)
		close(l->fds[i]);
	free(l);
}

static void
listeners_close(struct server *s)
{
	size_t i;

	pthread_mutex_lock(&s->lock);
	for (i = 0; i < s->nlisteners; i++)
		listener_free(s->listeners[i]);
	s->nlisteners = 0;
	for (i = 0; i < s->nretiring; i++)
		listener_free(s->retiring[i]);
	s->nretiring = 0;
	pthread_mutex_unlock(&s->lock);
	if (s->retire_ev != NULL)
		evtimer_del(s->retire_ev);
}

/* This reactor's open-file caches of g: see docroot_shed(). */
static void
lane_shed(const struct generation *g, int retire)
{
	size_t i;

	for (i = 0; i < g->nroots; i++)
		docroot_shed(g->roots[i], retire);
}

/*
 * Out of fds or memory: pending connections wait in the listen queue while
 * accepting pauses for ACCEPT_BACKOFF_MS (a level-triggered listener
 * would otherwise fire again at once, a busy loop), and the failure is
 * logged at most once per LOG_RATELIMIT_MS with the count since.
 */
static void
accept_backoff(struct lane *lane, int error)
{
	struct timeval tv = { 0, ACCEPT_BACKOFF_MS * 1000 };

	/*
	 * Out of descriptors: the open-file caches give some back, this
	 * reactor's now and the others' when woken (their clients may all be
	 * idle, asking nothing of the caches).
	 */
	if (error == EMFILE || error == ENFILE) {
		filecache_short();
		lane_shed(lane->gen, 0);
		lanes_wake_others(lane->server, lane);
	}
	errno = error;
	log_warn_limited(&accept_log, "accept");
	metrics_accept_error();
	taps_enable(lane, 0);
	evtimer_add(lane->backoff_ev, &tv);
}

/*
 * One timer for the retiring listener due first: each keeps the delay it
 * was retired with, whatever later reloads retire or take back.
 */
static void
retire_arm(struct server *s)
{
	struct timeval tv;
	long first, left;
	size_t i;

	if (s->retire_ev == NULL)
		return;
	evtimer_del(s->retire_ev);
	if (s->nretiring == 0)
		return;
	first = s->retiring[0]->retire_at_ms;
	for (i = 1; i < s->nretiring; i++)
		if (s->retiring[i]->retire_at_ms < first)
			first = s->retiring[i]->retire_at_ms;
	if ((left = first - await_now_ms()) < 0)
		left = 0;
	tv.tv_sec = left / 1000;
	tv.tv_usec = (left % 1000) * 1000;
	evtimer_add(s->retire_ev, &tv);
}

/* drain_delay_ms after a reload removed them: the due ones close. */
static void
retire_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	long now = await_now_ms();
	size_t i, j;

	pthread_mutex_lock(&s->lock);
	for (i = 0, j = 0; i < s->nretiring; i++) {
		if (s->retiring[i]->retire_at_ms <= now) {
			log_info(
			    "no longer listening on %s", s->retiring[i]->name);
			listener_free(s->retiring[i]);
		} else
			s->retiring[j++] = s->retiring[i];
	}
	s->nretiring = j;
	pthread_mutex_unlock(&s->lock);
	lanes_wake(s);
	retire_arm(s);
}

/*
 * A main listener a reload removed keeps accepting for drain_delay_ms,
 * its health answering 503, so a balancer polling it stops first. 0 when
 * it is kept that way, -1 when it must close now. Under s->lock.
 */
static int
listener_retire(struct server *s, struct listener *l, unsigned ms)
{
	if (ms == 0 || l->kind != LISTENER_MAIN || s->retire_ev == NULL ||
	    s->nretiring == CONFIG_LISTEN_MAX)
		return -1;
	log_info("closing %s in %u ms; its health answers 503 until then",
	    l->name, ms);
	l->retiring = 1;
	l->retire_at_ms = await_now_ms() + (long)ms;
	s->retiring[s->nretiring++] = l;
	retire_arm(s);
	return 0;
}

/*
 * Gives back a connection slot; a paused lane may take it. The free comes
 * before the look at npaused (see the top of the file).
 */
static void
slot_release(struct server *s)
{
	__atomic_sub_fetch(&s->conns, 1, __ATOMIC_SEQ_CST);
	if (__atomic_load_n(&s->npaused, __ATOMIC_SEQ_CST) != 0)
		lanes_wake_others(s, this_lane);
}

/* Watches the taps again if a slot is free. */
static void
lane_resume(struct lane *lane)
{
	struct server *s = lane->server;

	if (!lane->paused ||
	    __atomic_load_n(&s->conns, __ATOMIC_SEQ_CST) >=
		lane->gen->cfg->max_connections)
		return;
	lane->paused = 0;
	__atomic_sub_fetch(&s->npaused, 1, __ATOMIC_SEQ_CST);
	if (!evtimer_pending(lane->backoff_ev, NULL))
		taps_enable(lane, 1);
}

/* Out of slots: counted as paused first, then the budget looked at again. */
static void
lane_pause(struct lane *lane)
{
	taps_enable(lane, 0);
	if (!lane->paused) {
		lane->paused = 1;
		__atomic_add_fetch(&lane->server->npaused, 1, __ATOMIC_SEQ_CST);
	}
	lane_resume(lane);
}

/*
 * The server's generation, if the lane's is older; under s->lock. What
 * it held before is returned, to be released outside the lock.
 */
static struct generation *
lane_take_gen(struct lane *lane)
{
	struct server *s = lane->server;
	struct generation *old = lane->gen;

	if (old == s->gen)
		return NULL;
	generation_retain(s->gen);
	lane->gen = s->gen;
	return old;
}

/*
 * The generation a lane held before lane_take_gen(): the connections it
 * still serves finish with it (HTTP/2 ones told so by a GOAWAY), but its
 * caches keep no descriptors.
 */
static void
lane_drop_gen(struct lane *lane, struct generation *old)
{
	if (old == NULL)
		return;
	lane_shed(old, 1);
	generation_release(old);
	conn_generation_taken(lane->gen->cfg);
}

/*
 * The generation for a connection accepted now: a reload's, taken here if
 * the lane's wake has not come yet, so that whoever connects once
 * "configuration reloaded" is logged gets the new configuration (its
 * certificates, its limits) on any lane. Only the generation: the rest of
 * the sync (listeners) waits for the wake, as it may free the tap being
 * accepted on.
 */
static struct generation *
lane_current_gen(struct lane *lane)
{
	struct server *s = lane->server;
	struct generation *old;

	if (lane->gen != __atomic_load_n(&s->gen, __ATOMIC_ACQUIRE)) {
		pthread_mutex_lock(&s->lock);
		old = lane_take_gen(lane);
		pthread_mutex_unlock(&s->lock);
		lane_drop_gen(lane, old);
	}
	return lane->gen;
}

static void
accept_cb(evutil_socket_t fd, short what, void *arg)
{
	struct tap *t = arg;
	struct lane *lane = t->lane;
	struct server *s = lane->server;
	struct generation *g;
	struct sockaddr_storage ss;
	socklen_t sslen;
	struct timeval tv = { 0, ACCEPT_BACKOFF_MS * 1000 };
	int i, cfd, rc, one = 1;

	for (i = 0; i < ACCEPT_BATCH && lane->accepting; i++) {
		g = lane_current_gen(lane);
		/* A slot first, so that the cap holds across lanes. */
		if (__atomic_add_fetch(&s->conns, 1, __ATOMIC_SEQ_CST) >
		    g->cfg->max_connections) {
			slot_release(s);
			lane_pause(lane);
			return;
		}
		sslen = sizeof ss;
		cfd = accept4(fd, (struct sockaddr *)&ss, &sslen,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd == -1) {
			slot_release(s);
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				accept_backoff(lane, errno);
			return;
		}
		/*
		 * A passed socket is not ours to have set before its first
		 * connections completed (the one that started us among them):
		 * its connections get TCP_NODELAY one by one.
		 */
		if (s->activated)
			setsockopt(
			    cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		lane->opened = 0;
		rc = conn_start(t->retiring	   ? &g->retiring_env
			: t->kind == LISTENER_MAIN ? &g->env
						   : &g->metrics_env,
		    t->id, t->tls, cfd, (struct sockaddr *)&ss, sslen);
		/* Refused or failed: no connection holds the slot. */
		if (!lane->opened)
			slot_release(s);
		if (rc == -1) {
			/* Out of memory: let some connections finish first. */
			taps_enable(lane, 0);
			evtimer_add(lane->backoff_ev, &tv);
			return;
		}
	}
}

static void
backoff_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lane *lane = arg;

	if (!lane->paused)
		taps_enable(lane, 1);
}

static void
conn_opened(void *arg)
{
	generation_retain(arg);
	this_lane->opened = 1;
}

static void lane_check_done(struct lane *);

static void
conn_closed(void *arg)
{
	struct lane *lane = this_lane;

	generation_release(arg);
	slot_release(lane->server);
	if (lane->drained) {
		lane_check_done(lane);
		return;
	}
	lane_resume(lane);
}

static void
describe(struct listener *l)
{
	struct sockaddr_storage bound;
	socklen_t boundlen = sizeof bound;
	char host[64], port[8];

	if (getsockname(l->fd, (struct sockaddr *)&bound, &boundlen) == -1 ||
	    getnameinfo((struct sockaddr *)&bound, boundlen, host, sizeof host,
		port, sizeof port, NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
		snprintf(l->name, sizeof l->name, "fd %d", l->fd);
		return;
	}
	snprintf(l->name, sizeof l->name,
	    bound.ss_family == AF_INET6 ? "[%s]:%s" : "%s:%s", host, port);
}

/* A listener around fd, which it owns from here on; NULL on failure. */
static struct listener *
listener_new(struct server *s, int fd, enum listener_kind kind,
    const struct config_listen *addr)
{
	struct listener *l;

	if ((l = calloc(1, sizeof *l)) == NULL) {
		close(fd);
		return NULL;
	}
	l->fd = l->fds[0] = fd;
	l->nfds = 1;
	l->server = s;
	l->kind = kind;
	/* Never reused: connections outlive their listener. */
	l->id = ++s->listener_ids;
	if (addr != NULL) {
		l->addr = *addr;
		l->tls = addr->tls;
	}
	describe(l);
	return l;
}

/* A socket listening on addr, in its SO_REUSEPORT group; -1 on failure. */
static int
socket_listen(const struct sockaddr *addr, socklen_t len)
{
	int fd, one = 1;

	if ((fd = socket(addr->sa_family,
		 SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	/*
	 * A connection gets its listener's options when its handshake
	 * completes (Linux copies the listening socket): set before listen(),
	 * TCP_NODELAY costs no system call per connection.
	 */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (addr->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == -1 ||
	    bind(fd, addr, len) == -1 || listen(fd, LISTEN_BACKLOG) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * 0 if a socket outside any SO_REUSEPORT group can bind addr; -1 with
 * errno (EADDRINUSE) if not. A group's socket would instead join the
 * group another process of the same user holds there, and take a share
 * of its connections.
 */
static int
socket_probe(const struct sockaddr *addr, socklen_t len)
{
	int fd, one = 1, rc, saved;

	if ((fd = socket(addr->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0)) == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (addr->sa_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
	rc = bind(fd, addr, len);
	saved = errno;
	close(fd);
	errno = saved;
	return rc;
}

static int
port_of(const struct sockaddr *addr)
{
	if (addr->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)addr)->sin6_port);
	return ntohs(((const struct sockaddr_in *)addr)->sin_port);
}

/*
 * One socket per reactor on cl, all bound to the address the first one
 * got (port 0 asks for any port once), so the kernel spreads new
 * connections over them by their addresses' hash. listener_take() opens
 * only addresses this process does not hold, so a port someone else
 * holds is the probe's EADDRINUSE.
 */
static struct listener *
listener_open(
    struct server *s, const struct config_listen *cl, enum listener_kind kind)
{
	struct addrinfo hints, *res;
	struct sockaddr_storage bound;
	socklen_t boundlen = sizeof bound;
	struct listener *l = NULL;
	int fd = -1, rc;

	memset(&hints, 0, sizeof hints);
	/* "*" means every IPv4 address; "[::]" is how to ask for IPv6. */
	hints.ai_family = cl->host[0] != '\0' ? AF_UNSPEC : AF_INET;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	if ((rc = getaddrinfo(cl->host[0] != '\0' ? cl->host : NULL, cl->port,
		 &hints, &res)) != 0) {
		log_warnx(
		    "listen %s:%s: %s", cl->host, cl->port, gai_strerror(rc));
		return NULL;
	}
	if ((port_of(res->ai_addr) != 0 &&
		socket_probe(res->ai_addr, res->ai_addrlen) == -1) ||
	    (fd = socket_listen(res->ai_addr, res->ai_addrlen)) == -1 ||
	    getsockname(fd, (struct sockaddr *)&bound, &boundlen) == -1)
		goto fail;
	if ((l = listener_new(s, fd, kind, cl)) == NULL) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	while (l->nfds < s->nreactors) {
		if ((fd = socket_listen((struct sockaddr *)&bound, boundlen)) ==
		    -1)
			goto fail;
		l->fds[l->nfds++] = fd;
		fd = -1;
	}
	freeaddrinfo(res);
	return l;
fail:
	log_warn("listen %s%s%s:%s", strchr(cl->host, ':') ? "[" : "",
	    cl->host[0] ? cl->host : "*", strchr(cl->host, ':') ? "]" : "",
	    cl->port);
	if (fd != -1)
		close(fd);
	if (l != NULL)
		listener_free(l);
	freeaddrinfo(res);
	return NULL;
}

static int
same_addr(const struct listener *l, enum listener_kind kind,
    const struct config_listen *cl)
{
	return l->kind == kind && strcmp(l->addr.host, cl->host) == 0 &&
	    strcmp(l->addr.port, cl->port) == 0;
}

/* What cfg asks to listen on, in next's order; how many. */
static size_t
listeners_wanted(const struct server *s, const struct config *cfg,
    const struct config_listen **want, enum listener_kind *kinds)
{
	size_t nwant = 0, i;

	if (!s->activated)
		for (i = 0; i < cfg->listen_count; i++) {
			want[nwant] = &cfg->listen[i];
			kinds[nwant++] = LISTENER_MAIN;
		}
	if (cfg->metrics_listen_set) {
		want[nwant] = &cfg->metrics_listen;
		kinds[nwant++] = LISTENER_METRICS;
	}
	return nwant;
}

/*
 * The listener for one wanted address: an open one not taken yet (marked
 * in kept), a retiring one taken back (marked in back), or a new one;
 * NULL when it cannot be opened.
 */
static struct listener *
listener_take(struct server *s, const struct config_listen *cl,
    enum listener_kind kind, int *kept, int *back)
{
	struct listener *l;
	size_t j, r;

	for (j = 0; j < s->nlisteners; j++)
		if (!kept[j] && same_addr(s->listeners[j], kind, cl)) {
			kept[j] = 1;
			return s->listeners[j];
		}
	/* Removed by an earlier reload but not closed yet: back. */
	for (r = 0; r < s->nretiring; r++)
		if (!back[r] && same_addr(s->retiring[r], kind, cl)) {
			back[r] = 1;
			return s->retiring[r];
		}
	if ((l = listener_open(s, cl, kind)) == NULL)
		return NULL;
	/* At start-up, server_run() names them all. */
	if (s->running)
		log_info("listening on %s%s", l->name,
		    kind == LISTENER_METRICS ? " (metrics)"
			: cl->tls	     ? " (tls)"
					     : "");
	return l;
}

/*
 * Health answers retiring for a connection whose listener is not among
 * these from now on, on every lane, whether or not it has synced yet.
 * Under s->lock (health never takes it).
 */
static void
health_publish(struct server *s)
{
	unsigned ids[CONFIG_LISTEN_MAX + 1];
	size_t i;

	for (i = 0; i < s->nlisteners; i++)
		ids[i] = s->listeners[i]->id;
	health_listeners(ids, s->nlisteners);
}

/*
 * next becomes the listener set: retiring ones taken back serve again,
 * open ones not kept retire for retire_ms or close. A kept address may
 * turn TLS or plain (tls, in next's order) for the connections it accepts
 * next. The lanes follow.
 */
static void
listeners_commit(struct server *s, struct listener **next, const int *tls,
    size_t n, const int *kept, const int *back, unsigned retire_ms)
{
	size_t j, r;

	pthread_mutex_lock(&s->lock);
	for (j = 0; j < n; j++)
		next[j]->tls = tls[j];
	for (r = 0, j = 0; r < s->nretiring; r++)
		if (back[r])
			s->retiring[r]->retiring = 0;
		else
			s->retiring[j++] = s->retiring[r];
	s->nretiring = j;
	for (j = 0; j < s->nlisteners; j++)
		if (!kept[j] &&
		    (!s->running ||
			listener_retire(s, s->listeners[j], retire_ms) == -1)) {
			log_info(
			    "no longer listening on %s", s->listeners[j]->name);
			listener_free(s->listeners[j]);
		}
	memcpy(s->listeners, next, n * sizeof next[0]);
	s->nlisteners = n;
	/* Before any lane (woken for anything) can accept on a new one. */
	health_publish(s);
	pthread_mutex_unlock(&s->lock);
	retire_arm(s);
	lanes_wake(s);
}

/* Closes those of next[0..n) that the failed apply opened itself. */
static void
listeners_discard(struct server *s, struct listener **next, size_t n)
{
	size_t i, j, r;

	for (i = 0; i < n; i++) {
		for (j = 0; j < s->nlisteners; j++)
			if (next[i] == s->listeners[j])
				break;
		for (r = 0; r < s->nretiring; r++)
			if (next[i] == s->retiring[r])
				break;
		if (j == s->nlisteners && r == s->nretiring)
			listener_free(next[i]);
	}
}

/* What "listening on" says after l's name. */
static const char *
listener_note(const struct server *s, const struct listener *l)
{
	if (l->kind == LISTENER_METRICS)
		return " (metrics)";
	if (s->activated)
		return l->tls ? " (tls, socket activation)"
			      : " (socket activation)";
	return l->tls ? " (tls)" : "";
}

/* Whether l is bound to the address cl names (its port included). */
static int
bound_to(const struct listener *l, const struct config_listen *cl)
{
	struct sockaddr_storage bound;
	socklen_t len = sizeof bound;
	const struct sockaddr_in *sin = (const struct sockaddr_in *)&bound;
	const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)&bound;
	unsigned long port = strtoul(cl->port, NULL, 10);
	struct in6_addr a6;
	struct in_addr a4;

	if (getsockname(l->fd, (struct sockaddr *)&bound, &len) == -1)
		return 0;
	if (bound.ss_family == AF_INET)
		return ntohs(sin->sin_port) == port &&
		    (cl->host[0] == '\0'
			    ? sin->sin_addr.s_addr == htonl(INADDR_ANY)
			    : inet_pton(AF_INET, cl->host, &a4) == 1 &&
				a4.s_addr == sin->sin_addr.s_addr);
	if (bound.ss_family == AF_INET6)
		return ntohs(sin6->sin6_port) == port &&
		    inet_pton(AF_INET6, cl->host, &a6) == 1 &&
		    memcmp(&a6, &sin6->sin6_addr, sizeof a6) == 0;
	return 0;
}

/*
 * Whether a socket passed by the service manager speaks TLS: its name
 * says so ("https" or "tls"), or a listen entry marked tls names its
 * address. Under socket activation the listen list is not opened, but it
 * still says what each passed socket speaks, and a reload may change it.
 */
static int
activated_tls(const struct listener *l, const struct config *cfg)
{
	size_t i;

	if (l->named_tls)
		return 1;
	for (i = 0; i < cfg->listen_count; i++)
		if (cfg->listen[i].tls && bound_to(l, &cfg->listen[i]))
			return 1;
	return 0;
}

/*
 * Makes the listeners what cfg asks for: one already open on a wanted
 * address is kept (its queue of pending connections with it), others
 * are opened, the rest retired for retire_ms or closed. All or nothing:
 * on failure the running set is left as it was. Sockets from socket
 * activation are always kept, TLS or plain as activated_tls() says.
 */
static int
listeners_apply(struct server *s, const struct config *cfg, unsigned retire_ms)
{
	struct listener *next[CONFIG_LISTEN_MAX + 1];
	const struct config_listen *want[CONFIG_LISTEN_MAX + 1];
	enum listener_kind kinds[CONFIG_LISTEN_MAX + 1];
	int tls[CONFIG_LISTEN_MAX + 1] = { 0 };
	int kept[CONFIG_LISTEN_MAX + 1] = { 0 };
	int back[CONFIG_LISTEN_MAX] = { 0 };
	size_t nwant, n = 0, i, j;

	nwant = listeners_wanted(s, cfg, want, kinds);
	/* Activated sockets first: they are not the config's to change. */
	for (j = 0; j < s->nlisteners; j++)
		if (s->activated && s->listeners[j]->kind == LISTENER_MAIN) {
			tls[n] = activated_tls(s->listeners[j], cfg);
			if (tls[n] &&
			    cfg->sites[0].tls_certificate.count == 0) {
				log_warnx("%s, passed by the service manager, "
					  "is TLS: it needs tls_certificate "
					  "and tls_certificate_key at the top "
					  "level",
				    s->listeners[j]->name);
				return -1;
			}
			next[n++] = s->listeners[j];
			kept[j] = 1;
		}
	for (i = 0; i < nwant; i++) {
		if ((next[n] = listener_take(
			 s, want[i], kinds[i], kept, back)) == NULL) {
			listeners_discard(s, next, n);
			return -1;
		}
		tls[n++] = want[i]->tls;
	}
	listeners_commit(s, next, tls, n, kept, back, retire_ms);
	return 0;
}

/* Adopts the sockets systemd passed (socket activation), if any. */
static int
listeners_adopt(struct server *s)
{
	char names[CONFIG_LISTEN_MAX][NOTIFY_FDNAME_MAX];
	struct listener *l;
	int n, i, flags;

	if ((n = notify_listen_fds(names, CONFIG_LISTEN_MAX)) == -1) {
		log_warnx("a socket passed by the service manager is not a "
			  "listening stream socket");
		return -1;
	}
	if (n > CONFIG_LISTEN_MAX) {
		log_warnx("%d sockets passed, at most %d are used", n,
		    CONFIG_LISTEN_MAX);
		n = CONFIG_LISTEN_MAX;
	}
	for (i = 0; i < n; i++) {
		flags = fcntl(3 + i, F_GETFL);
		fcntl(3 + i, F_SETFL, flags | O_NONBLOCK);
		fcntl(3 + i, F_SETFD, FD_CLOEXEC);
		if ((l = listener_new(s, 3 + i, LISTENER_MAIN, NULL)) == NULL)
			return -1;
		l->named_tls = strcmp(names[i], "https") == 0 ||
		    strcmp(names[i], "tls") == 0;
		s->listeners[s->nlisteners++] = l;
	}
	s->activated = n > 0;
	return 0;
}

/* The lane's tap of l, made (its descriptor a dup of l's) if it has none. */
static struct tap *
tap_find(struct lane *lane, const struct listener *l)
{
	struct tap *t;
	size_t i;

	for (i = 0; i < lane->ntaps; i++)
		if (lane->taps[i]->id == l->id)
			return lane->taps[i];
	if (lane->ntaps == TAPS_MAX || (t = calloc(1, sizeof *t)) == NULL)
		return NULL;
	t->lane = lane;
	t->id = l->id;
	t->kind = l->kind;
	t->retiring = 0;
	/* Its own socket; with socket activation, the one passed. */
	if ((t->fd = fcntl(
		 l->fds[lane->reactor->index < l->nfds ? lane->reactor->index
						       : 0],
		 F_DUPFD_CLOEXEC, 0)) == -1 ||
	    (t->ev = event_new(lane->base, t->fd, EV_READ | EV_PERSIST,
		 accept_cb, t)) == NULL) {
		log_warn("reactor %u: listening on %s", lane->reactor->index,
		    l->name);
		tap_free(t);
		return NULL;
	}
	if (lane->accepting)
		event_add(t->ev, NULL);
	lane->taps[lane->ntaps++] = t;
	return t;
}

/*
 * Under s->lock: a tap for every listener, retiring ones included, and
 * none for a listener gone; a listener retired or taken back changes its
 * connections' health here, on their own reactor.
 */
static void
taps_sync(struct lane *lane)
{
	struct server *s = lane->server;
	struct listener *all[TAPS_MAX];
	struct tap *t;
	size_t n = 0, i, j, k;

	for (i = 0; i < s->nlisteners; i++)
		all[n++] = s->listeners[i];
	for (i = 0; i < s->nretiring; i++)
		all[n++] = s->retiring[i];
	for (i = 0; i < n; i++) {
		if ((t = tap_find(lane, all[i])) == NULL)
			continue;
		t->tls = all[i]->tls;
		if (t->retiring != all[i]->retiring) {
			t->retiring = all[i]->retiring;
			conn_listener_retiring(t->id, t->retiring);
		}
	}
	for (j = 0, k = 0; j < lane->ntaps; j++) {
		for (i = 0; i < n; i++)
			if (all[i]->id == lane->taps[j]->id)
				break;
		if (i < n)
			lane->taps[k++] = lane->taps[j];
		else
			tap_free(lane->taps[j]);
	}
	lane->ntaps = k;
}

/*
 * A lane leaves its loop when it has drained its last connection (or
 * the server stops it); reactor 0 when every lane has drained and no
 * connection is left anywhere. A lane sets drained before it looks at
 * s->conns, a closer frees its slot before reactor 0 looks at drained
 * (all sequentially consistent), so one of the two sees the other and
 * reactor 0 is woken for the last one.
 */
static void
lane_check_done(struct lane *lane)
{
	struct server *s = lane->server;
	unsigned i;

	if (lane->reactor->index > 0) {
		if (lane->drained && lane->reactor->nconns == 0)
			event_base_loopexit(lane->base, NULL);
		/* The last connection of all: reactor 0 may be done. */
		if (__atomic_load_n(&s->conns, __ATOMIC_SEQ_CST) == 0)
			lane_wake(s->lanes[0]);
		return;
	}
	if (!lane->drained || __atomic_load_n(&s->conns, __ATOMIC_SEQ_CST) > 0)
		return;
	for (i = 1; i < s->nlanes; i++)
		if (!__atomic_load_n(&s->lanes[i]->drained, __ATOMIC_SEQ_CST))
			return;
	event_base_loopexit(lane->base, NULL);
}

/* Copies what reactor 0 changed: listeners, generation, drain, abort. */
static void
lane_sync(struct lane *lane)
{
	struct server *s = lane->server;
	struct generation *old;
	int draining, aborting, stopping;

	pthread_mutex_lock(&s->lock);
	draining = s->draining;
	aborting = s->aborting;
	stopping = s->stopping;
	if (draining)
		taps_close(lane);
	else
		taps_sync(lane);
	old = lane_take_gen(lane);
	pthread_mutex_unlock(&s->lock);
	lane_drop_gen(lane, old);
	lane_shed(lane->gen, 0);
	if (draining && !lane->drained) {
		conn_drain();
		__atomic_store_n(&lane->drained, 1, __ATOMIC_SEQ_CST);
	}
	if (aborting && !lane->aborted) {
		lane->aborted = 1;
		conn_abort_all();
	}
	if (stopping && lane->reactor->index > 0)
		event_base_loopexit(lane->base, NULL);
	if (draining)
		lane_check_done(lane);
	else
		lane_resume(lane);
}

static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	uint64_t n;

	(void)read(fd, &n, sizeof n);
	lane_sync(arg);
}

static void
heartbeat_cb(evutil_socket_t fd, short what, void *arg)
{
	struct lane *lane = arg;

	__atomic_store_n(&lane->heartbeat_ms, await_now_ms(), __ATOMIC_RELAXED);
}

/*
 * Idle stacks go back CORO_GIVE_BACKS_PER_TURN a loop turn, each a
 * madvise of tens of KiB: all 256 of a pool in one turn held every
 * request on the reactor 13 ms.
 */
static void
give_back_cb(evutil_socket_t fd, short what, void *arg)
{
	static const struct timeval next_turn = { 0, 0 };
	struct lane *lane = arg;

	if (coro_pool_give_back(CORO_GIVE_BACKS_PER_TURN))
		evtimer_add(lane->give_back_ev, &next_turn);
}

static void
trim_cb(evutil_socket_t fd, short what, void *arg)
{
	coro_pool_trim();
	conn_trim();
	give_back_cb(fd, what, arg);
}

static void
lane_free(struct lane *lane)
{
	if (lane == NULL)
		return;
	taps_close(lane);
	if (lane->wake_ev != NULL)
		event_free(lane->wake_ev);
	if (lane->backoff_ev != NULL)
		event_free(lane->backoff_ev);
	if (lane->heartbeat_ev != NULL)
		event_free(lane->heartbeat_ev);
	if (lane->trim_ev != NULL)
		event_free(lane->trim_ev);
	if (lane->give_back_ev != NULL)
		event_free(lane->give_back_ev);
	if (lane->wake_fd != -1)
		close(lane->wake_fd);
	if (lane->gen != NULL)
		generation_free_now(lane->gen);
	reactor_free(lane->reactor);
	free(lane);
}

/*
 * A lane for reactor index, on the calling thread, which is to run it;
 * its taps come with its first lane_sync(). NULL on failure.
 */
static struct lane *
lane_create(struct server *s, unsigned index)
{
	struct lane *lane;
	struct timeval tv;

	if ((lane = calloc(1, sizeof *lane)) == NULL)
		return NULL;
	lane->server = s;
	lane->wake_fd = -1;
	if ((lane->reactor = reactor_create(
		 s->pool, index, CORO_STACK_BYTES, CORO_POOL_MAX)) == NULL)
		goto fail;
	lane->base = lane->reactor->base;
	if ((lane->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1 ||
	    (lane->wake_ev = event_new(lane->base, lane->wake_fd,
		 EV_READ | EV_PERSIST, wake_cb, lane)) == NULL ||
	    event_add(lane->wake_ev, NULL) == -1 ||
	    (lane->backoff_ev = evtimer_new(lane->base, backoff_cb, lane)) ==
		NULL)
		goto fail;
	tv.tv_sec = CORO_TRIM_MS / 1000;
	tv.tv_usec = CORO_TRIM_MS % 1000 * 1000;
	if ((lane->give_back_ev =
		    evtimer_new(lane->base, give_back_cb, lane)) == NULL ||
	    (lane->trim_ev = event_new(
		 lane->base, -1, EV_PERSIST, trim_cb, lane)) == NULL ||
	    event_add(lane->trim_ev, &tv) == -1)
		goto fail;
	lane->heartbeat_ms = await_now_ms();
	if (s->watchdog_ms > 0) {
		tv.tv_sec = s->watchdog_ms / 4000;
		tv.tv_usec = (s->watchdog_ms / 4 % 1000) * 1000;
		if ((lane->heartbeat_ev = event_new(lane->base, -1, EV_PERSIST,
			 heartbeat_cb, lane)) == NULL ||
		    event_add(lane->heartbeat_ev, &tv) == -1)
			goto fail;
	}
	this_lane = lane;
	return lane;
fail:
	log_warn("reactor %u", index);
	lane_free(lane);
	return NULL;
}

/*
 * A lane's thread: it makes its reactor, waits until every lane is there,
 * runs its loop until drained (or stopped), then waits for the pool to be
 * gone (jobs it submitted may complete until then) before freeing its
 * reactor on its own thread.
 */
static void *
lane_main(void *arg)
{
	struct server *s = the_server;
	unsigned index = (unsigned)(uintptr_t)arg;
	struct lane *lane = lane_create(s, index);
	char name[16];
	int go;

	/* "coserve-r1" in top -H, ps -L and /proc/PID/task/TID/comm. */
	snprintf(name, sizeof name, "coserve-r%u", index);
	pthread_setname_np(pthread_self(), name);

	pthread_mutex_lock(&s->lock);
	s->lanes[index] = lane;
	s->registered++;
	pthread_cond_broadcast(&s->changed);
	while (!s->lanes_ready)
		pthread_cond_wait(&s->changed, &s->lock);
	go = lane != NULL && !s->stopping;
	pthread_mutex_unlock(&s->lock);
	if (go) {
		lane->accepting = 1;
		lane_sync(lane);
	}
	pthread_mutex_lock(&s->lock);
	s->synced++;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
	if (go && reactor_run(lane->reactor) == -1)
		log_warnx("reactor %u: event loop failed", index);
	pthread_mutex_lock(&s->lock);
	s->loops--;
	pthread_cond_broadcast(&s->changed);
	while (!s->pool_gone)
		pthread_cond_wait(&s->changed, &s->lock);
	pthread_mutex_unlock(&s->lock);
	lane_free(lane);
	return NULL;
}

/* The signals reactor 0 handles, and no other thread takes. */
static void
signals_handled(sigset_t *set)
{
	static const int signals[] = { SIGTERM, SIGINT, SIGUSR1, SIGHUP };
	size_t i;

	sigemptyset(set);
	for (i = 0; i < sizeof signals / sizeof signals[0]; i++)
		sigaddset(set, signals[i]);
}

/*
 * Starts reactors 1..n-1, each on a thread of its own that takes none of
 * the signals reactor 0 handles; 0 once every one is ready, or -1.
 */
static int
lanes_start(struct server *s, unsigned n)
{
	unsigned i, started = 0;
	int rc = 0;

	/* They inherit this thread's mask, the signals blocked. */
	for (i = 1; i < n; i++) {
		if ((errno = pthread_create(&s->threads[i], NULL, lane_main,
			 (void *)(uintptr_t)i)) != 0) {
			log_warn("reactor %u: thread", i);
			rc = -1;
			break;
		}
		started++;
	}
	pthread_mutex_lock(&s->lock);
	s->nthreads = started;
	s->loops = started;
	while (s->registered < started)
		pthread_cond_wait(&s->changed, &s->lock);
	for (i = 1; i <= started; i++)
		if (s->lanes[i] == NULL)
			rc = -1;
	if (rc == 0)
		s->nlanes = n;
	else
		s->stopping = 1;
	s->lanes_ready = 1;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
	return rc;
}

/*
 * Ends the lane threads: out of their loops (told to stop, if they have
 * not drained), then, once the pool is gone, each frees its reactor.
 */
static void
lanes_stop(struct server *s)
{
	unsigned i;

	pthread_mutex_lock(&s->lock);
	s->stopping = 1;
	pthread_mutex_unlock(&s->lock);
	for (i = 1; i <= s->nthreads; i++)
		if (s->lanes[i] != NULL)
			lane_wake(s->lanes[i]);
	pthread_mutex_lock(&s->lock);
	while (s->loops > 0)
		pthread_cond_wait(&s->changed, &s->lock);
	pthread_mutex_unlock(&s->lock);
}

/* Open connections, every reactor's. */
static unsigned
conns_open(struct server *s)
{
	return __atomic_load_n(&s->conns, __ATOMIC_SEQ_CST);
}

/* Logged once, here; every lane aborts its own connections. */
static void
grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	struct timeval tv = { ABORT_WAIT_MS / 1000,
		(ABORT_WAIT_MS % 1000) * 1000 };
	unsigned n = conns_open(s);

	log_warnx("shutdown grace period over: aborting %u connection%s", n,
	    n == 1 ? "" : "s");
	pthread_mutex_lock(&s->lock);
	s->aborting = 1;
	pthread_mutex_unlock(&s->lock);
	lanes_wake(s);
	lane_sync(s->lanes[0]);
	/* Whatever still waits on storage is not waited for. */
	event_base_loopexit(s->base, &tv);
}

static void
shutdown_now(struct server *s, const char *why)
{
	struct timeval tv;
	unsigned ms = s->gen->cfg->shutdown_grace_ms, n = conns_open(s);

	log_info("%s: shutting down, %u connection%s open", why, n,
	    n == 1 ? "" : "s");
	s->drain_pending = 0;
	health_drain();
	notify_stopping();
	listeners_close(s);
	pthread_mutex_lock(&s->lock);
	s->draining = 1;
	pthread_mutex_unlock(&s->lock);
	lanes_wake(s);
	/* Reactor 0 drains itself now, and leaves when every lane is done. */
	lane_sync(s->lanes[0]);
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(s->grace_ev, &tv);
}

static void
drain_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	shutdown_now(s, s->drain_why);
}

/*
 * Health turns 503 at once; the listeners close drain_delay_ms later,
 * once a balancer polling health has stopped sending requests here.
 */
static void
shutdown_begin(struct server *s, const char *why)
{
	struct timeval tv;
	unsigned ms = s->gen->cfg->drain_delay_ms;

	if (s->draining || s->drain_pending) {
		log_info("%s again: aborting connections", why);
		if (s->drain_pending) {
			evtimer_del(s->drain_ev);
			shutdown_now(s, why);
		}
		if (conns_open(s) > 0)
			grace_cb(-1, 0, s);
		return;
	}
	if (ms == 0) {
		shutdown_now(s, why);
		return;
	}
	log_info(
	    "%s: health reports draining; shutting down in %u ms", why, ms);
	s->drain_pending = 1;
	s->drain_why = why;
	health_drain();
	notify_stopping();
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(s->drain_ev, &tv);
}

/* The service manager's status line; the rate is since the last one. */
static void
status_format(struct server *s, char *buf, size_t size)
{
	struct metrics_snapshot snap;
	uint64_t requests = 0;
	long now = await_now_ms(), elapsed;
	size_t i;

	metrics_snapshot(&snap, s->pool);
	for (i = 0; i < METRICS_STATUS_CLASSES; i++)
		requests += snap.requests[i];
	elapsed = now - s->status_ms;
	snprintf(buf, size,
	    "%u connections, %.1f requests/s, %u I/O jobs "
	    "queued",
	    conns_open(s),
	    elapsed > 0
		? (double)(requests - s->status_requests) * 1000 / elapsed
		: 0.0,
	    iopool_pending(s->pool));
	s->status_requests = requests;
	s->status_ms = now;
}

static void
status_cb(evutil_socket_t fd, short what, void *arg)
{
	char status[STATUS_LINE_MAX];

	status_format(arg, status, sizeof status);
	notify_status("%s", status);
}

/* READY=1 at start-up and after each reload, the status line with it. */
static void
ready(struct server *s)
{
	char status[STATUS_LINE_MAX];

	status_format(s, status, sizeof status);
	notify_ready(status);
}

/* The probe takes g's settings and its roots' paths. */
static void
health_roots(const struct generation *g)
{
	const char *paths[CONFIG_SITES_MAX];
	size_t i;

	for (i = 0; i < g->nroots; i++)
		paths[i] = g->roots[i]->real;
	health_configure(g->cfg, paths, g->nroots);
}

/* The expiry gauges of g's certificates, by site. */
static void
tls_expiry_publish(const struct generation *g)
{
	const char *sites[CONFIG_SITES_MAX];
	time_t not_after[CONFIG_SITES_MAX];
	size_t i, n = 0;

	for (i = 0; g->tls != NULL && i < g->cfg->site_count; i++) {
		if ((not_after[n] = tls_not_after(g->tls, i)) == 0)
			continue;
		sites[n++] = i == 0 ? "default" : g->cfg->sites[i].names[0];
	}
	if (metrics_tls_expiry(sites, not_after, n) == -1)
		log_warnx("certificate expiry metrics: out of memory");
}

/* Worker: everything a new configuration needs from storage. */
static void
reload_work(struct iojob *job)
{
	struct reload_job *rj = (struct reload_job *)job;
	struct server *s = rj->server;
	struct config *cfg;

	rj->gen = NULL;
	if ((cfg = config_load(s->config_path, &s->overrides, rj->err,
		 sizeof rj->err)) == NULL)
		return;
	rj->gen = generation_create(cfg, rj->prev, s->pool, conn_opened,
	    conn_closed, rj->err, sizeof rj->err);
}

static void
reload_done(struct iojob *job)
{
	struct reload_job *rj = (struct reload_job *)job;
	struct server *s = rj->server;
	struct generation *g = rj->gen, *old = s->gen;

	s->reloading = 0;
	/*
	 * An unused generation is released like any other: freeing it closes
	 * roots and the access log (joining its writer), storage calls that
	 * must not run here.
	 */
	if (g != NULL && (s->draining || s->drain_pending)) {
		generation_release(g);
		return;
	}
	/*
	 * A removed listener is retired with the longer of the two delays:
	 * the balancer polling it was set up for the old one, and a config
	 * that leaves drain_delay_ms out (or a truncated file) must not close
	 * it at once.
	 */
	if (g == NULL ||
	    listeners_apply(s, g->cfg,
		g->cfg->drain_delay_ms > old->cfg->drain_delay_ms
		    ? g->cfg->drain_delay_ms
		    : old->cfg->drain_delay_ms) == -1) {
		if (g == NULL)
			log_error("%s", rj->err);
		else
			generation_release(g);
		log_warnx("reload failed: still running the previous "
			  "configuration");
		ready(s);
		return;
	}
	if (g->cfg->io_threads != old->cfg->io_threads ||
	    g->cfg->io_queue_max != old->cfg->io_queue_max)
		log_warnx("io_threads and io_queue_max change only on restart");
	if (g->cfg->reactors_asked != s->nreactors)
		log_warnx(
		    "reactors changes only on restart: still %u", s->nreactors);
	/*
	 * The server's own lines follow the new level; a connection's lines
	 * and its Server field follow its own generation's (conn.c).
	 */
	log_set_level(g->cfg->log_level);
	pthread_mutex_lock(&s->lock);
	/* Atomic: accept_cb looks without the lock. */
	__atomic_store_n(&s->gen, g, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&s->lock);
	/* Each lane takes the new generation (and max_connections) itself. */
	lanes_wake(s);
	health_roots(g);
	tls_expiry_publish(g);
	generation_release(old);
	log_info("configuration reloaded");
	ready(s);
}

static void
reload_begin(struct server *s)
{
	if (s->draining || s->drain_pending)
		return;
	if (s->reloading) {
		log_info("SIGHUP: a reload is already under way");
		return;
	}
	log_info("SIGHUP: reloading %s",
	    s->config_path != NULL ? s->config_path
				   : "the built-in configuration");
	notify_reloading();
	s->reloading = 1;
	memset(&s->reload, 0, sizeof s->reload);
	s->reload.server = s;
	s->reload.prev = s->gen;
	s->reload.job.work = reload_work;
	s->reload.job.done = reload_done;
	s->reload.job.past_limit = 1;
	if (iopool_submit(s->pool, &s->reload.job) == 1)
		reload_done(&s->reload.job);
}

/*
 * From reactor 0, and only while every other reactor's heartbeat is
 * recent: one stalled reactor, whichever, stops the pings.
 */
static void
watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	long now = await_now_ms();
	unsigned i;

	for (i = 1; i < s->nlanes; i++)
		if (now -
			__atomic_load_n(
			    &s->lanes[i]->heartbeat_ms, __ATOMIC_RELAXED) >
		    s->watchdog_ms)
			return;
	notify_watchdog();
}

/* Reactor 0's: the keys every reactor's handshakes use. */
static void
ticket_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	tls_rotate(s->gen->tls, time(NULL));
}

static void
signal_take(struct server *s, int sig)
{
	switch (sig) {
	case SIGTERM:
		shutdown_begin(s, "SIGTERM");
		break;
	case SIGINT:
		shutdown_begin(s, "SIGINT");
		break;
	case SIGUSR1:
		if (s->gen->access_log != NULL)
			accesslog_reopen(s->gen->access_log);
		break;
	case SIGHUP:
		reload_begin(s);
		break;
	}
}

/*
 * The signals come through a signalfd, blocked in every thread: no handler
 * runs asynchronously anywhere (ThreadSanitizer runs one only at the
 * thread's next intercepted call, and CI saw a SIGTERM and a SIGHUP never
 * taken that way).
 */
static void
signal_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;
	struct signalfd_siginfo si;

	while (read(fd, &si, sizeof si) == (ssize_t)sizeof si)
		signal_take(s, (int)si.ssi_signo);
}

static struct event *
timer_every(struct server *s, long ms, event_callback_fn cb)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };
	struct event *ev;

	if ((ev = event_new(s->base, -1, EV_PERSIST, cb, s)) == NULL ||
	    event_add(ev, &tv) == -1)
		return NULL;
	return ev;
}

static struct server *
server_build(
    struct config *cfg, const char *path, const struct config_overrides *o)
{
	struct server *s;
	char err[CONFIG_ERROR_MAX];
	sigset_t set;

	if ((s = calloc(1, sizeof *s)) == NULL) {
		log_warn("server");
		config_free(cfg);
		return NULL;
	}
	s->signal_fd = -1;
	the_server = s;
	s->config_path = path;
	s->overrides = *o;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->changed, NULL);
	s->watchdog_ms = (long)(notify_watchdog_usec() / 2000);
	s->nreactors = s->overrides.reactors = cfg->reactors;
	signal(SIGPIPE, SIG_IGN);
	if ((s->pool = iopool_create(cfg->io_threads, cfg->io_threads_max,
		 cfg->io_queue_max)) == NULL) {
		log_warn("I/O pool");
		config_free(cfg);
		goto fail;
	}
	if ((s->lanes[0] = lane_create(s, 0)) == NULL) {
		config_free(cfg);
		goto fail;
	}
	s->nlanes = 1;
	s->reactor = s->lanes[0]->reactor;
	s->base = s->reactor->base;
	if (cfg->io_threads == 0)
		log_warnx("io_threads = 0: file I/O runs on the reactor and "
			  "blocks every client while it waits");
	/* Start-up: opening roots and logs here blocks nobody yet. */
	if ((s->gen = generation_create(cfg, NULL, s->pool, conn_opened,
		 conn_closed, err, sizeof err)) == NULL) {
		log_warnx("%s", err);
		goto fail;
	}
	s->grace_ev = evtimer_new(s->base, grace_cb, s);
	s->drain_ev = evtimer_new(s->base, drain_cb, s);
	s->retire_ev = evtimer_new(s->base, retire_cb, s);
	if (s->grace_ev == NULL || s->drain_ev == NULL || s->retire_ev == NULL)
		goto fail;
	if (health_init(s->base, s->pool) == -1)
		goto fail;
	signals_handled(&set);
	if ((s->signal_fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) ==
		-1 ||
	    (s->signal_ev = event_new(s->base, s->signal_fd,
		 EV_READ | EV_PERSIST, signal_cb, s)) == NULL ||
	    event_add(s->signal_ev, NULL) == -1) {
		log_warn("signals");
		goto fail;
	}
	if (listeners_adopt(s) == -1 || listeners_apply(s, cfg, 0) == -1)
		goto fail;
	if (notify_status_wanted() &&
	    (s->status_ev = timer_every(s, STATUS_INTERVAL_MS, status_cb)) ==
		NULL)
		goto fail;
	if (s->watchdog_ms > 0 &&
	    (s->watchdog_ev = timer_every(s, s->watchdog_ms, watchdog_cb)) ==
		NULL)
		goto fail;
	if ((s->ticket_ev = timer_every(s, TICKET_CHECK_MS, ticket_cb)) == NULL)
		goto fail;
	s->status_ms = await_now_ms();
	return s;
fail:
	server_free(s);
	return NULL;
}

struct server *
server_create(
    struct config *cfg, const char *path, const struct config_overrides *o)
{
	struct server *s;
	sigset_t block, old;

	/*
	 * Blocked from here on, in this thread and in every thread it starts
	 * (the I/O pool's, the access log's writer, the other reactors):
	 * reactor 0 reads them from its signalfd.
	 */
	signals_handled(&block);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	if ((s = server_build(cfg, path, o)) == NULL)
		pthread_sigmask(SIG_SETMASK, &old, NULL);
	return s;
}

/*
 * A probe out when the loop ends is most likely only slow: it gets
 * ABORT_WAIT_MS to come back before it counts as stuck (exit status 2).
 */
static void
probe_wait(struct server *s)
{
	struct timeval tv = { ABORT_WAIT_MS / 1000,
		(ABORT_WAIT_MS % 1000) * 1000 };
	long deadline = await_now_ms() + ABORT_WAIT_MS;

	/* The exit timer ends a turn that would otherwise wait past it. */
	if (!health_probe_stuck() || event_base_loopexit(s->base, &tv) == -1)
		return;
	while (health_probe_stuck() && await_now_ms() < deadline)
		if (event_base_loop(s->base, EVLOOP_ONCE) == -1)
			break;
}

int
server_run(struct server *s)
{
	const struct config *cfg = s->gen->cfg;
	unsigned n;
	size_t i;

	s->running = 1;
	/* After the privilege drop: whether workers may renice is known. */
	iopool_nice_grower(s->pool);
	/*
	 * Before any lane accepts: a client that scrapes the metrics once it
	 * can connect sees the certificates' expiry.
	 */
	tls_expiry_publish(s->gen);
	/*
	 * And whether health is served; its first probe waits for the loop
	 * (its deadline counts from its submission, to the reap).
	 */
	health_enable(cfg);
	if (lanes_start(s, s->nreactors) == -1)
		return SERVER_EXIT_FAILED;
	s->lanes[0]->accepting = 1;
	lane_sync(s->lanes[0]);
	/*
	 * "listening on" and READY=1 wait for every lane's own descriptors
	 * (its duplicates of the listeners): whoever counts ours from then on
	 * sees them all.
	 */
	pthread_mutex_lock(&s->lock);
	while (s->synced < s->nthreads)
		pthread_cond_wait(&s->changed, &s->lock);
	pthread_mutex_unlock(&s->lock);
	for (i = 0; i < s->nlisteners; i++)
		log_info("listening on %s%s", s->listeners[i]->name,
		    listener_note(s, s->listeners[i]));
	for (i = 0; i < s->gen->nroots; i++)
		log_info("serving %s%s%s", s->gen->roots[i]->real,
		    i == 0 ? " (default site)" : " for ",
		    i == 0 ? "" : cfg->sites[i].names[0]);
	log_info("%u reactor%s%s, %u I/O thread%s", s->nlanes,
	    s->nlanes == 1 ? "" : "s", cfg->reactors_auto ? " (auto)" : "",
	    cfg->io_threads, cfg->io_threads == 1 ? "" : "s");
	health_roots(s->gen);
	ready(s);
	if (reactor_run(s->reactor) == -1) {
		log_warnx("event loop failed");
		return SERVER_EXIT_FAILED;
	}
	if ((n = conns_open(s)) == 0)
		probe_wait(s);
	/*
	 * Coroutines still waiting for storage calls that never came back, or
	 * the probe stuck in one: joining the pool would wait for ever, and
	 * nothing they use can be freed, so it is all left to exit(), the
	 * other reactors' threads included. The access log is flushed first.
	 */
	if (n > 0)
		log_warnx("exiting with %u connection%s stuck in storage calls",
		    n, n == 1 ? "" : "s");
	else if (health_probe_stuck())
		log_warnx("exiting with the storage probe stuck in a storage "
			  "call");
	else {
		log_info("stopped");
		return SERVER_EXIT_OK;
	}
	accesslog_close(s->gen->access_log);
	s->gen->access_log = NULL;
	s->stuck = 1;
	return SERVER_EXIT_STUCK;
}

void
server_free(struct server *s)
{
	size_t i;

	if (s == NULL || s->stuck)
		return;
	lanes_stop(s);
	listeners_close(s);
	if (s->signal_ev != NULL)
		event_free(s->signal_ev);
	if (s->signal_fd != -1)
		close(s->signal_fd);
	if (s->status_ev != NULL)
		event_free(s->status_ev);
	if (s->watchdog_ev != NULL)
		event_free(s->watchdog_ev);
	if (s->ticket_ev != NULL)
		event_free(s->ticket_ev);
	if (s->grace_ev != NULL)
		event_free(s->grace_ev);
	if (s->drain_ev != NULL)
		event_free(s->drain_ev);
	if (s->retire_ev != NULL)
		event_free(s->retire_ev);
	/*
	 * Runs what is queued, a reload's or a generation's release included,
	 * on every channel; then the lanes free their reactors.
	 */
	iopool_destroy(s->pool);
	pthread_mutex_lock(&s->lock);
	s->pool_gone = 1;
	pthread_cond_broadcast(&s->changed);
	pthread_mutex_unlock(&s->lock);
	for (i = 1; i <= s->nthreads; i++)
		pthread_join(s->threads[i], NULL);
	health_shutdown();
	metrics_tls_expiry(NULL, NULL, 0);
	generation_free_now(s->gen);
	lane_free(s->lanes[0]);
	pthread_cond_destroy(&s->changed);
	pthread_mutex_destroy(&s->lock);
	free(s);
	the_server = NULL;
}
