/*
 * The metrics registry and its Prometheus text rendering. The counters are
 * kept in shards, one per reactor (struct metrics_shard in its struct
 * reactor), so counting shares no cache line and takes no lock: each
 * shard has a single writer, its reactor's thread, which bumps a counter
 * with a plain add published by a relaxed atomic store. The totals are
 * process-wide: a snapshot adds up every shard with relaxed atomic loads,
 * from any thread, under the lock that guards the list of shards. Each
 * counter is exact; a snapshot taken while other reactors count is not
 * one instant, which a monotonic counter does not need. Code that counts
 * on a thread with no shard (tests, start-up) counts in a shard of its
 * own. The open-connection gauge is derived from two counters (accepted
 * minus closed) so it can never go negative. The certificate expiry
 * gauges belong to the generation serving, not to a shard: reactor 0
 * replaces their text under a lock of their own, which a render holds
 * while it copies them. The cipher suites are counted by slot: the
 * names of the slots are process-wide (any reactor may see a suite
 * first), each filled once by a compare-and-swap and never emptied, so a
 * slot names one suite for the process's life and the shards count by
 * slot as they count everything else.
 */
#include "autoconf.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coro.h"
#include "filecache.h"
#include "health.h"
#include "histogram.h"
#include "iopool.h"
#include "metrics.h"

static struct metrics_shard unbound = { .reactor = -1 }; /* no reactor */
static struct {
	pthread_mutex_t lock; /* guards the list */
	struct metrics_shard *shards;
} registry = { PTHREAD_MUTEX_INITIALIZER, &unbound };
static _Thread_local struct metrics_shard *bound;
static struct {
	pthread_mutex_t lock; /* guards text */
	char *text;	      /* NULL: no certificate */
} expiry = { PTHREAD_MUTEX_INITIALIZER, NULL };
/* Each slot's suite name, NULL until filled (atomics: see the top). */
static const char *cipher_slots[METRICS_TLS_CIPHERS];
static const char *const failure_names[METRICS_TLS_FAILURES] = {
	[METRICS_TLS_TIMEOUT] = "timeout",
	[METRICS_TLS_PROTOCOL] = "protocol",
	[METRICS_TLS_PLAIN_HTTP] = "plain_http",
	[METRICS_TLS_VERSION] = "version",
	[METRICS_TLS_CIPHER] = "cipher",
	[METRICS_TLS_ALERT] = "alert",
	[METRICS_TLS_CUT_SHORT] = "cut_short",
};
static const char *const protocol_names[METRICS_TLS_PROTOCOLS] = {
	[METRICS_TLS_1_2] = "TLSv1.2",
	[METRICS_TLS_1_3] = "TLSv1.3",
};

static struct metrics_shard *
shard(void)
{
	return bound != NULL ? bound : &unbound;
}

/* Single writer: a plain add, made visible to a reader on another thread. */
static void
count(uint64_t *counter, uint64_t n)
{
	__atomic_store_n(counter,
	    __atomic_load_n(counter, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

static uint64_t
load(const uint64_t *counter)
{
	return __atomic_load_n(counter, __ATOMIC_RELAXED);
}

void
metrics_shard_attach(struct metrics_shard *s)
{
	pthread_mutex_lock(&registry.lock);
	s->next = registry.shards;
	registry.shards = s;
	pthread_mutex_unlock(&registry.lock);
	bound = s;
}

void
metrics_shard_detach(struct metrics_shard *s)
{
	struct metrics_shard **pp;
	size_t i;

	pthread_mutex_lock(&registry.lock);
	for (pp = &registry.shards; *pp != NULL; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	/* What it counted stays in the totals: counters never go back. */
	for (i = 0; i < METRICS_STATUS_CLASSES; i++)
		count(&unbound.requests[i], s->requests[i]);
	count(&unbound.response_bytes, s->response_bytes);
	count(&unbound.connections_accepted, s->connections_accepted);
	count(&unbound.connections_closed, s->connections_closed);
	for (i = 0; i < 2; i++) {
		count(&unbound.reads[i], s->reads[i]);
		count(&unbound.sends[i], s->sends[i]);
	}
	for (i = 0; i < METRICS_TIMEOUT_KINDS; i++)
		count(&unbound.timeouts[i], s->timeouts[i]);
	for (i = 0; i < METRICS_REFUSED_REASONS; i++)
		count(&unbound.refused[i], s->refused[i]);
	count(&unbound.accept_errors, s->accept_errors);
	count(&unbound.tls_handshakes, s->tls_handshakes);
	for (i = 0; i < METRICS_TLS_FAILURES; i++)
		count(&unbound.tls_failures[i], s->tls_failures[i]);
	count(&unbound.tls_resumed, s->tls_resumed);
	for (i = 0; i < METRICS_TLS_PROTOCOLS; i++)
		count(&unbound.tls_protocols[i], s->tls_protocols[i]);
	for (i = 0; i <= METRICS_TLS_CIPHERS; i++)
		count(&unbound.tls_ciphers[i], s->tls_ciphers[i]);
	pthread_mutex_unlock(&registry.lock);
	if (bound == s)
		bound = NULL;
}

void
metrics_request(int status, uint64_t body_bytes)
{
	if (status >= 100 && status <= 599)
		count(&shard()->requests[status / 100 - 1], 1);
	count(&shard()->response_bytes, body_bytes);
}

void
metrics_cached_read(int hit)
{
	count(&shard()->reads[hit != 0], 1);
}

void
metrics_file_send(int resident)
{
	count(&shard()->sends[resident != 0], 1);
}

void
metrics_connection_opened(void)
{
	count(&shard()->connections_accepted, 1);
}

void
metrics_connection_closed(void)
{
	count(&shard()->connections_closed, 1);
}

void
metrics_timeout(enum metrics_timeout_kind kind)
{
	count(&shard()->timeouts[kind], 1);
}

void
metrics_refused(enum metrics_refused_reason reason)
{
	count(&shard()->refused[reason], 1);
}

void
metrics_accept_error(void)
{
	count(&shard()->accept_errors, 1);
}

/*
 * The slot of the suite named name: the one that names it, else the
 * first empty one, claimed; METRICS_TLS_CIPHERS (other) when all are
 * taken. Two reactors seeing a new suite at once cannot both claim a
 * slot for it: the one whose claim fails finds the winner's name there.
 */
static size_t
cipher_slot(const char *name)
{
	const char *seen;
	size_t i;

	for (i = 0; i < METRICS_TLS_CIPHERS; i++) {
		seen = __atomic_load_n(&cipher_slots[i], __ATOMIC_ACQUIRE);
		if (seen == NULL &&
		    __atomic_compare_exchange_n(&cipher_slots[i], &seen, name,
			0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE))
			return i;
		if (seen == name || strcmp(seen, name) == 0)
			return i;
	}
	return METRICS_TLS_CIPHERS;
}

void
metrics_tls_handshake(int resumed, const char *protocol, const char *cipher)
{
	size_t i;

	count(&shard()->tls_handshakes, 1);
	if (resumed)
		count(&shard()->tls_resumed, 1);
	for (i = 0; protocol != NULL && i < METRICS_TLS_PROTOCOLS; i++)
		if (strcmp(protocol, protocol_names[i]) == 0) {
			count(&shard()->tls_protocols[i], 1);
			break;
		}
	if (cipher != NULL)
		count(&shard()->tls_ciphers[cipher_slot(cipher)], 1);
}

void
metrics_tls_failure(enum metrics_tls_failure reason)
{
	count(&shard()->tls_failures[reason], 1);
}

void
metrics_snapshot(struct metrics_snapshot *snap, struct iopool *pool)
{
	const struct metrics_shard *s;
	struct iopool_stats st;
	struct health_stats hs;
	uint64_t closed = 0, shard_closed;
	unsigned coroutines;
	int reactors = 0;
	size_t i;

	memset(snap, 0, sizeof *snap);
	health_stats(&hs);
	snap->health_enabled = hs.enabled;
	snap->healthy = hs.healthy;
	snap->health_probes = hs.probes;
	snap->health_probe_failures = hs.probe_failures;
	snap->health_probe_ns = hs.last_probe_ns;
	/* A slot filled after this is left out of this rendering. */
	for (i = 0; i < METRICS_TLS_CIPHERS; i++)
		snap->tls_cipher_names[i] =
		    __atomic_load_n(&cipher_slots[i], __ATOMIC_ACQUIRE);
	pthread_mutex_lock(&registry.lock);
	for (s = registry.shards; s != NULL; s = s->next) {
		for (i = 0; i < METRICS_STATUS_CLASSES; i++)
			snap->requests[i] += load(&s->requests[i]);
		snap->response_bytes += load(&s->response_bytes);
		snap->connections_accepted += load(&s->connections_accepted);
		shard_closed = load(&s->connections_closed);
		closed += shard_closed;
		snap->reads_pool += load(&s->reads[0]);
		snap->reads_cached += load(&s->reads[1]);
		snap->sends_pool += load(&s->sends[0]);
		snap->sends_cached += load(&s->sends[1]);
		for (i = 0; i < METRICS_TIMEOUT_KINDS; i++)
			snap->timeouts[i] += load(&s->timeouts[i]);
		for (i = 0; i < METRICS_REFUSED_REASONS; i++)
			snap->refused[i] += load(&s->refused[i]);
		snap->accept_errors += load(&s->accept_errors);
		snap->tls_handshakes += load(&s->tls_handshakes);
		for (i = 0; i < METRICS_TLS_FAILURES; i++)
			snap->tls_failures[i] += load(&s->tls_failures[i]);
		snap->tls_resumed += load(&s->tls_resumed);
		for (i = 0; i < METRICS_TLS_PROTOCOLS; i++)
			snap->tls_protocols[i] += load(&s->tls_protocols[i]);
		for (i = 0; i <= METRICS_TLS_CIPHERS; i++)
			snap->tls_ciphers[i] += load(&s->tls_ciphers[i]);
		if (s->coroutines == NULL)
			continue;
		coroutines = __atomic_load_n(s->coroutines, __ATOMIC_RELAXED);
		snap->coroutines += coroutines;
		reactors++;
		if (s->reactor < 0 || s->reactor >= METRICS_REACTORS_MAX)
			continue;
		snap->reactors[s->reactor].present = 1;
		snap->reactors[s->reactor].connections_open =
		    load(&s->connections_accepted) - shard_closed;
		snap->reactors[s->reactor].coroutines = coroutines;
	}
	pthread_mutex_unlock(&registry.lock);
	snap->connections_open = snap->connections_accepted - closed;
	/* No reactor (a test): the calling thread's. */
	if (reactors == 0)
		snap->coroutines = coro_live();
	if (pool == NULL)
		return;
	iopool_stats(pool, &st);
	snap->io_threads = iopool_threads(pool);
	snap->io_queue_depth = iopool_pending(pool);
	snap->io_jobs = st.jobs;
	snap->io_queue_full = st.queue_full;
	snap->io_latency = st.latency;
}

/* An snprintf-like cursor: counts what it could not store. */
struct text {
	char *buf;
	size_t size;
	size_t len; /* needed so far; may exceed size */
};

static void text_printf(struct text *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
text_printf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	size_t room = t->len < t->size ? t->size - t->len : 0;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(room > 0 ? t->buf + t->len : NULL, room, fmt, ap);
	va_end(ap);
	if (n > 0)
		t->len += (size_t)n;
}

static void
text_header(
    struct text *t, const char *name, const char *type, const char *help)
{
	text_printf(t, "# HELP coserve_%s %s\n# TYPE coserve_%s %s\n", name,
	    help, name, type);
}

static void
text_value(struct text *t, const char *name, const char *type, const char *help,
    uint64_t value)
{
	text_header(t, name, type, help);
	text_printf(t, "coserve_%s %" PRIu64 "\n", name, value);
}

static void
text_histogram(struct text *t, const char *name, const char *help,
    const struct histogram *h)
{
	uint64_t cumulative = 0;
	size_t i;

	text_header(t, name, "histogram", help);
	for (i = 0; i < HISTOGRAM_BOUNDS; i++) {
		cumulative += h->counts[i];
		text_printf(t, "coserve_%s_bucket{le=\"%s\"} %" PRIu64 "\n",
		    name, histogram_bound_label(i), cumulative);
	}
	text_printf(t, "coserve_%s_bucket{le=\"+Inf\"} %" PRIu64 "\n", name,
	    cumulative + h->counts[HISTOGRAM_BOUNDS]);
	/* Seconds printed from integers, exact to the nanosecond. */
	text_printf(t, "coserve_%s_sum %" PRIu64 ".%09" PRIu64 "\n", name,
	    (uint64_t)(h->sum_ns / 1000000000u),
	    (uint64_t)(h->sum_ns % 1000000000u));
	text_printf(t, "coserve_%s_count %" PRIu64 "\n", name, h->count);
}

/* The handshakes by protocol, and by cipher suite for each slot filled. */
static void
text_tls_kinds(struct text *t, const struct metrics_snapshot *snap)
{
	int i;

	text_header(t, "tls_handshakes_by_protocol_total", "counter",
	    "TLS handshakes completed, by protocol version.");
	for (i = 0; i < METRICS_TLS_PROTOCOLS; i++)
		text_printf(t,
		    "coserve_tls_handshakes_by_protocol_total"
		    "{protocol=\"%s\"} %" PRIu64 "\n",
		    protocol_names[i], snap->tls_protocols[i]);
	text_printf(t,
	    "# HELP coserve_tls_handshakes_by_cipher_total TLS handshakes "
	    "completed, by cipher suite (OpenSSL's name): the first %d "
	    "suites seen, then other.\n"
	    "# TYPE coserve_tls_handshakes_by_cipher_total counter\n",
	    METRICS_TLS_CIPHERS);
	for (i = 0; i < METRICS_TLS_CIPHERS; i++)
		if (snap->tls_cipher_names[i] != NULL)
			text_printf(t,
			    "coserve_tls_handshakes_by_cipher_total"
			    "{cipher=\"%s\"} %" PRIu64 "\n",
			    snap->tls_cipher_names[i], snap->tls_ciphers[i]);
	text_printf(t,
	    "coserve_tls_handshakes_by_cipher_total{cipher=\"other\"} "
	    "%" PRIu64 "\n",
	    snap->tls_ciphers[METRICS_TLS_CIPHERS]);
}

/* The gauges per reactor; none with no reactor attached (a test). */
static void
text_reactors(struct text *t, const struct metrics_snapshot *snap)
{
	int i;

	for (i = 0; i < METRICS_REACTORS_MAX; i++)
		if (snap->reactors[i].present)
			break;
	if (i == METRICS_REACTORS_MAX)
		return;
	text_header(t, "reactor_connections_open", "gauge",
	    "Client connections open now, by reactor.");
	for (i = 0; i < METRICS_REACTORS_MAX; i++)
		if (snap->reactors[i].present)
			text_printf(t,
			    "coserve_reactor_connections_open{reactor=\"%d\"} "
			    "%" PRIu64 "\n",
			    i, snap->reactors[i].connections_open);
	text_header(t, "reactor_coroutines", "gauge",
	    "Coroutines alive now, by reactor.");
	for (i = 0; i < METRICS_REACTORS_MAX; i++)
		if (snap->reactors[i].present)
			text_printf(t,
			    "coserve_reactor_coroutines{reactor=\"%d\"} "
			    "%" PRIu64 "\n",
			    i, snap->reactors[i].coroutines);
}

size_t
metrics_format(const struct metrics_snapshot *snap, char *buf, size_t size)
{
	struct text t = { buf, size, 0 };
	int i;

	if (size > 0)
		buf[0] = '\0';
	text_header(&t, "requests_total", "counter",
	    "Responses sent, by status class.");
	for (i = 0; i < METRICS_STATUS_CLASSES; i++)
		text_printf(&t,
		    "coserve_requests_total{class=\"%dxx\"} %" PRIu64 "\n",
		    i + 1, snap->requests[i]);
	text_value(&t, "response_bytes_total", "counter",
	    "Response body bytes sent.", snap->response_bytes);
	text_value(&t, "connections_accepted_total", "counter",
	    "Client connections accepted.", snap->connections_accepted);
	text_value(&t, "connections_open", "gauge",
	    "Client connections open now.", snap->connections_open);
	text_value(&t, "coroutines", "gauge", "Coroutines alive now.",
	    snap->coroutines);
	text_reactors(&t, snap);
	text_value(&t, "io_threads", "gauge",
	    "I/O pool worker threads (0: jobs run inline on the reactor).",
	    snap->io_threads);
	text_value(&t, "io_queue_depth", "gauge",
	    "I/O pool jobs queued or running now.", snap->io_queue_depth);
	text_printf(&t,
	    "# HELP coserve_file_reads_total File chunks read: "
	    "from the page cache on the reactor, or by the I/O pool.\n"
	    "# TYPE coserve_file_reads_total counter\n"
	    "coserve_file_reads_total{source=\"page_cache\"} %" PRIu64 "\n"
	    "coserve_file_reads_total{source=\"pool\"} %" PRIu64 "\n",
	    snap->reads_cached, snap->reads_pool);
	text_value(&t, "file_cache_body_bytes", "gauge",
	    "Bytes of small files kept in memory by the open-file caches.",
	    filecache_body_total());
	text_printf(&t,
	    "# HELP coserve_file_sends_total File sendfile calls: "
	    "on the reactor with the pages resident, or by the I/O pool.\n"
	    "# TYPE coserve_file_sends_total counter\n"
	    "coserve_file_sends_total{source=\"page_cache\"} %" PRIu64 "\n"
	    "coserve_file_sends_total{source=\"pool\"} %" PRIu64 "\n",
	    snap->sends_cached, snap->sends_pool);
	text_value(&t, "io_jobs_total", "counter",
	    "I/O pool jobs accepted (queued or run inline).", snap->io_jobs);
	text_value(&t, "io_queue_full_total", "counter",
	    "I/O pool jobs refused because the queue was full.",
	    snap->io_queue_full);
	text_histogram(&t, "io_job_seconds",
	    "Time from submitting an I/O job to the reactor reaping its "
	    "completion (inline: to the end of its work).",
	    &snap->io_latency);
	text_printf(&t,
	    "# HELP coserve_timeouts_total Connections cut off: "
	    "a request head not complete within header_timeout_ms, or a "
	    "client not reading for send_timeout_ms.\n"
	    "# TYPE coserve_timeouts_total counter\n"
	    "coserve_timeouts_total{kind=\"header\"} %" PRIu64 "\n"
	    "coserve_timeouts_total{kind=\"send\"} %" PRIu64 "\n",
	    snap->timeouts[METRICS_TIMEOUT_HEADER],
	    snap->timeouts[METRICS_TIMEOUT_SEND]);
	text_printf(&t,
	    "# HELP coserve_connections_refused_total Connections "
	    "refused before a request was read: over "
	    "max_connections_per_client (closed), or for want of memory "
	    "(503).\n"
	    "# TYPE coserve_connections_refused_total counter\n"
	    "coserve_connections_refused_total{reason=\"per_client\"} %" PRIu64
	    "\n"
	    "coserve_connections_refused_total{reason=\"no_memory\"} %" PRIu64
	    "\n",
	    snap->refused[METRICS_REFUSED_PER_CLIENT],
	    snap->refused[METRICS_REFUSED_NO_MEMORY]);
	text_value(&t, "accept_errors_total", "counter",
	    "accept() failures for want of file descriptors or memory; "
	    "accepting pauses briefly after each.",
	    snap->accept_errors);
	text_value(&t, "tls_handshakes_total", "counter",
	    "TLS handshakes completed.", snap->tls_handshakes);
	text_tls_kinds(&t, snap);
	text_printf(&t,
	    "# HELP coserve_tls_handshake_failures_total TLS handshakes "
	    "that did not complete: not within tls_handshake_timeout_ms, "
	    "not TLS or malformed, plain HTTP (answered 400), no version "
	    "or no cipher in common, ended by the client's alert (an "
	    "untrusted certificate), or closed half-way.\n"
	    "# TYPE coserve_tls_handshake_failures_total counter\n");
	for (i = 0; i < METRICS_TLS_FAILURES; i++)
		text_printf(&t,
		    "coserve_tls_handshake_failures_total{reason=\"%s\"} "
		    "%" PRIu64 "\n",
		    failure_names[i], snap->tls_failures[i]);
	text_value(&t, "tls_sessions_resumed_total", "counter",
	    "TLS handshakes that resumed a session (a ticket).",
	    snap->tls_resumed);
	if (!snap->health_enabled)
		return t.len;
	text_value(&t, "healthy", "gauge",
	    "1 while the health endpoint answers 200, else 0.", snap->healthy);
	text_value(&t, "health_probes_total", "counter",
	    "Storage probes completed.", snap->health_probes);
	text_value(&t, "health_probe_failures_total", "counter",
	    "Storage probes that failed or missed their deadline.",
	    snap->health_probe_failures);
	text_header(&t, "health_probe_seconds", "gauge",
	    "Time the last completed storage probe took.");
	text_printf(&t,
	    "coserve_health_probe_seconds %" PRIu64 ".%09" PRIu64 "\n",
	    snap->health_probe_ns / 1000000000u,
	    snap->health_probe_ns % 1000000000u);
	return t.len;
}

static void
text_expiry(
    struct text *t, const char *const *sites, const time_t *not_after, size_t n)
{
	size_t i;

	text_header(t, "tls_certificate_expiry_timestamp_seconds", "gauge",
	    "When the first of a site's certificates lapses (Unix time).");
	for (i = 0; i < n; i++)
		text_printf(t,
		    "coserve_tls_certificate_expiry_timestamp_seconds"
		    "{site=\"%s\"} %lld\n",
		    sites[i], (long long)not_after[i]);
}

int
metrics_tls_expiry(const char *const *sites, const time_t *not_after, size_t n)
{
	struct text t = { NULL, 0, 0 };
	char *text = NULL, *old;

	if (n > 0) {
		text_expiry(&t, sites, not_after, n);
		if ((text = malloc(t.len + 1)) == NULL)
			return -1;
		t = (struct text){ text, t.len + 1, 0 };
		text_expiry(&t, sites, not_after, n);
	}
	pthread_mutex_lock(&expiry.lock);
	old = expiry.text;
	expiry.text = text;
	pthread_mutex_unlock(&expiry.lock);
	free(old);
	return 0;
}

char *
metrics_render(struct iopool *pool, size_t *len)
{
	struct metrics_snapshot snap;
	size_t size = 4096, need, extra;
	char *buf, *bigger;

	metrics_snapshot(&snap, pool);
	if ((buf = malloc(size)) == NULL)
		return NULL;
	pthread_mutex_lock(&expiry.lock);
	extra = expiry.text != NULL ? strlen(expiry.text) : 0;
	while ((need = metrics_format(&snap, buf, size)) + extra >= size) {
		if (need + extra >= METRICS_TEXT_MAX) {
			errno = ENOMEM;
			goto fail;
		}
		size = need + extra + 1;
		if ((bigger = realloc(buf, size)) == NULL)
			goto fail;
		buf = bigger;
	}
	if (extra > 0)
		memcpy(buf + need, expiry.text, extra + 1);
	pthread_mutex_unlock(&expiry.lock);
	*len = need + extra;
	return buf;
fail:
	pthread_mutex_unlock(&expiry.lock);
	free(buf);
	return NULL;
}
