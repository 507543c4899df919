/*
 * Unit tests for metrics.c: the exact exposition text of a known snapshot,
 * histogram bucketing (le is inclusive) and cumulative buckets, snprintf
 * semantics on a short buffer, the registry's counters, the cipher suite
 * slots claimed by threads at once, and a rendering that reads a real
 * pool.
 */
#include "autoconf.h"

#include <check.h>
#include <pthread.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "iopool.h"
#include "metrics.h"

static const char expected[] =
    "# HELP coserve_requests_total Responses sent, by status class.\n"
    "# TYPE coserve_requests_total counter\n"
    "coserve_requests_total{class=\"1xx\"} 1\n"
    "coserve_requests_total{class=\"2xx\"} 200\n"
    "coserve_requests_total{class=\"3xx\"} 3\n"
    "coserve_requests_total{class=\"4xx\"} 40\n"
    "coserve_requests_total{class=\"5xx\"} 5\n"
    "# HELP coserve_response_bytes_total Response body bytes sent.\n"
    "# TYPE coserve_response_bytes_total counter\n"
    "coserve_response_bytes_total 18446744073709551615\n"
    "# HELP coserve_connections_accepted_total Client connections "
    "accepted.\n"
    "# TYPE coserve_connections_accepted_total counter\n"
    "coserve_connections_accepted_total 10\n"
    "# HELP coserve_connections_open Client connections open now.\n"
    "# TYPE coserve_connections_open gauge\n"
    "coserve_connections_open 2\n"
    "# HELP coserve_coroutines Coroutines alive now.\n"
    "# TYPE coserve_coroutines gauge\n"
    "coserve_coroutines 3\n"
    "# HELP coserve_io_threads I/O pool worker threads (0: jobs run inline "
    "on the reactor).\n"
    "# TYPE coserve_io_threads gauge\n"
    "coserve_io_threads 4\n"
    "# HELP coserve_io_queue_depth I/O pool jobs queued or running now.\n"
    "# TYPE coserve_io_queue_depth gauge\n"
    "coserve_io_queue_depth 5\n"
    "# HELP coserve_file_reads_total File chunks read: from the page cache "
    "on the reactor, or by the I/O pool.\n"
    "# TYPE coserve_file_reads_total counter\n"
    "coserve_file_reads_total{source=\"page_cache\"} 8\n"
    "coserve_file_reads_total{source=\"pool\"} 9\n"
    "# HELP coserve_file_cache_body_bytes Bytes of small files kept in "
    "memory by the open-file caches.\n"
    "# TYPE coserve_file_cache_body_bytes gauge\n"
    "coserve_file_cache_body_bytes 0\n"
    "# HELP coserve_file_sends_total File sendfile calls: on the reactor "
    "with the pages resident, or by the I/O pool.\n"
    "# TYPE coserve_file_sends_total counter\n"
    "coserve_file_sends_total{source=\"page_cache\"} 16\n"
    "coserve_file_sends_total{source=\"pool\"} 17\n"
    "# HELP coserve_io_jobs_total I/O pool jobs accepted (queued or run "
    "inline).\n"
    "# TYPE coserve_io_jobs_total counter\n"
    "coserve_io_jobs_total 77\n"
    "# HELP coserve_io_queue_full_total I/O pool jobs refused because the "
    "queue was full.\n"
    "# TYPE coserve_io_queue_full_total counter\n"
    "coserve_io_queue_full_total 6\n"
    "# HELP coserve_io_job_seconds Time from submitting an I/O job to the "
    "reactor reaping its completion (inline: to the end of its work).\n"
    "# TYPE coserve_io_job_seconds histogram\n"
    "coserve_io_job_seconds_bucket{le=\"0.0001\"} 2\n"
    "coserve_io_job_seconds_bucket{le=\"0.00025\"} 3\n"
    "coserve_io_job_seconds_bucket{le=\"0.0005\"} 3\n"
    "coserve_io_job_seconds_bucket{le=\"0.001\"} 3\n"
    "coserve_io_job_seconds_bucket{le=\"0.0025\"} 3\n"
    "coserve_io_job_seconds_bucket{le=\"0.005\"} 3\n"
    "coserve_io_job_seconds_bucket{le=\"0.01\"} 3\n"
    "coserve_io_job_seconds_bucket{le=\"0.025\"} 3\n"
    "coserve_io_job_seconds_bucket{le=\"0.05\"} 3\n"
    "coserve_io_job_seconds_bucket{le=\"0.1\"} 3\n"
    "coserve_io_job_seconds_bucket{le=\"0.25\"} 3\n"
    "coserve_io_job_seconds_bucket{le=\"0.5\"} 3\n"
    "coserve_io_job_seconds_bucket{le=\"1\"} 3\n"
    "coserve_io_job_seconds_bucket{le=\"2.5\"} 3\n"
    "coserve_io_job_seconds_bucket{le=\"5\"} 4\n"
    "coserve_io_job_seconds_bucket{le=\"10\"} 4\n"
    "coserve_io_job_seconds_bucket{le=\"+Inf\"} 5\n"
    "coserve_io_job_seconds_sum 23.000250001\n"
    "coserve_io_job_seconds_count 5\n"
    "# HELP coserve_timeouts_total Connections cut off: a request head not "
    "complete within header_timeout_ms, or a client not reading for "
    "send_timeout_ms.\n"
    "# TYPE coserve_timeouts_total counter\n"
    "coserve_timeouts_total{kind=\"header\"} 11\n"
    "coserve_timeouts_total{kind=\"send\"} 12\n"
    "# HELP coserve_connections_refused_total Connections refused before a "
    "request was read: over max_connections_per_client (closed), or for "
    "want of memory (503).\n"
    "# TYPE coserve_connections_refused_total counter\n"
    "coserve_connections_refused_total{reason=\"per_client\"} 13\n"
    "coserve_connections_refused_total{reason=\"no_memory\"} 14\n"
    "# HELP coserve_accept_errors_total accept() failures for want of file "
    "descriptors or memory; accepting pauses briefly after each.\n"
    "# TYPE coserve_accept_errors_total counter\n"
    "coserve_accept_errors_total 15\n"
    "# HELP coserve_tls_handshakes_total TLS handshakes completed.\n"
    "# TYPE coserve_tls_handshakes_total counter\n"
    "coserve_tls_handshakes_total 20\n"
    "# HELP coserve_tls_handshakes_by_protocol_total TLS handshakes "
    "completed, by protocol version.\n"
    "# TYPE coserve_tls_handshakes_by_protocol_total counter\n"
    "coserve_tls_handshakes_by_protocol_total{protocol=\"TLSv1.2\"} 25\n"
    "coserve_tls_handshakes_by_protocol_total{protocol=\"TLSv1.3\"} 26\n"
    "# HELP coserve_tls_handshakes_by_cipher_total TLS handshakes "
    "completed, by cipher suite (OpenSSL's name): the first 16 suites "
    "seen, then other.\n"
    "# TYPE coserve_tls_handshakes_by_cipher_total counter\n"
    "coserve_tls_handshakes_by_cipher_total"
    "{cipher=\"TLS_AES_256_GCM_SHA384\"} 27\n"
    "coserve_tls_handshakes_by_cipher_total"
    "{cipher=\"ECDHE-RSA-AES128-GCM-SHA256\"} 28\n"
    "coserve_tls_handshakes_by_cipher_total{cipher=\"other\"} 29\n"
    "# HELP coserve_tls_handshake_failures_total TLS handshakes that did "
    "not complete: not within tls_handshake_timeout_ms, not TLS or "
    "malformed, plain HTTP (answered 400), no version or no cipher in "
    "common, ended by the client's alert (an untrusted certificate), or "
    "closed half-way.\n"
    "# TYPE coserve_tls_handshake_failures_total counter\n"
    "coserve_tls_handshake_failures_total{reason=\"timeout\"} 21\n"
    "coserve_tls_handshake_failures_total{reason=\"protocol\"} 22\n"
    "coserve_tls_handshake_failures_total{reason=\"plain_http\"} 23\n"
    "coserve_tls_handshake_failures_total{reason=\"version\"} 30\n"
    "coserve_tls_handshake_failures_total{reason=\"cipher\"} 31\n"
    "coserve_tls_handshake_failures_total{reason=\"alert\"} 32\n"
    "coserve_tls_handshake_failures_total{reason=\"cut_short\"} 33\n"
    "# HELP coserve_tls_sessions_resumed_total TLS handshakes that resumed "
    "a session (a ticket).\n"
    "# TYPE coserve_tls_sessions_resumed_total counter\n"
    "coserve_tls_sessions_resumed_total 24\n";

static void
known_snapshot(struct metrics_snapshot *snap)
{
	static const uint64_t requests[] = { 1, 200, 3, 40, 5 };

	memset(snap, 0, sizeof *snap);
	memcpy(snap->requests, requests, sizeof requests);
	snap->response_bytes = UINT64_MAX;
	snap->connections_accepted = 10;
	snap->connections_open = 2;
	snap->coroutines = 3;
	snap->io_threads = 4;
	snap->io_queue_depth = 5;
	snap->io_jobs = 77;
	snap->io_queue_full = 6;
	snap->reads_cached = 8;
	snap->reads_pool = 9;
	snap->sends_cached = 16;
	snap->sends_pool = 17;
	snap->timeouts[METRICS_TIMEOUT_HEADER] = 11;
	snap->timeouts[METRICS_TIMEOUT_SEND] = 12;
	snap->refused[METRICS_REFUSED_PER_CLIENT] = 13;
	snap->refused[METRICS_REFUSED_NO_MEMORY] = 14;
	snap->accept_errors = 15;
	snap->tls_handshakes = 20;
	snap->tls_failures[METRICS_TLS_TIMEOUT] = 21;
	snap->tls_failures[METRICS_TLS_PROTOCOL] = 22;
	snap->tls_failures[METRICS_TLS_PLAIN_HTTP] = 23;
	snap->tls_failures[METRICS_TLS_VERSION] = 30;
	snap->tls_failures[METRICS_TLS_CIPHER] = 31;
	snap->tls_failures[METRICS_TLS_ALERT] = 32;
	snap->tls_failures[METRICS_TLS_CUT_SHORT] = 33;
	snap->tls_resumed = 24;
	snap->tls_protocols[METRICS_TLS_1_2] = 25;
	snap->tls_protocols[METRICS_TLS_1_3] = 26;
	/* Slot 1 not filled (yet): left out. */
	snap->tls_cipher_names[0] = "TLS_AES_256_GCM_SHA384";
	snap->tls_ciphers[0] = 27;
	snap->tls_cipher_names[2] = "ECDHE-RSA-AES128-GCM-SHA256";
	snap->tls_ciphers[2] = 28;
	snap->tls_ciphers[METRICS_TLS_CIPHERS] = 29;
	histogram_observe(&snap->io_latency, 50000);	  /* 50 us */
	histogram_observe(&snap->io_latency, 100000);	  /* on 0.0001 */
	histogram_observe(&snap->io_latency, 100001);	  /* just over */
	histogram_observe(&snap->io_latency, 3000000000); /* 3 s */
	histogram_observe(&snap->io_latency, 20000000000); /* 20 s */
}

START_TEST(format_exact)
{
	struct metrics_snapshot snap;
	char		 buf[METRICS_TEXT_MAX];
	size_t		 len;

	known_snapshot(&snap);
	len = metrics_format(&snap, buf, sizeof buf);
	ck_assert_str_eq(buf, expected);
	ck_assert_uint_eq(len, strlen(expected));
}
END_TEST

START_TEST(format_short_buffer)
{
	struct metrics_snapshot snap;
	char		 buf[100];

	known_snapshot(&snap);
	/* Like snprintf: the whole length, a truncated NUL-terminated text. */
	ck_assert_uint_eq(metrics_format(&snap, buf, sizeof buf),
	    strlen(expected));
	ck_assert_uint_eq(strlen(buf), sizeof buf - 1);
	ck_assert_int_eq(memcmp(buf, expected, sizeof buf - 1), 0);
	ck_assert_uint_eq(metrics_format(&snap, NULL, 0), strlen(expected));
}
END_TEST

/* Health lines come only while health is served, after the rest. */
START_TEST(format_health)
{
	struct metrics_snapshot snap;
	char		 buf[METRICS_TEXT_MAX];
	const char	*health;

	known_snapshot(&snap);
	snap.health_enabled = 1;
	snap.healthy = 0;
	snap.health_probes = 12;
	snap.health_probe_failures = 3;
	snap.health_probe_ns = 1500000001;
	metrics_format(&snap, buf, sizeof buf);
	ck_assert_int_eq(strncmp(buf, expected, strlen(expected)), 0);
	health = buf + strlen(expected);
	ck_assert_str_eq(health,
	    "# HELP coserve_healthy 1 while the health endpoint answers 200, "
	    "else 0.\n"
	    "# TYPE coserve_healthy gauge\n"
	    "coserve_healthy 0\n"
	    "# HELP coserve_health_probes_total Storage probes completed.\n"
	    "# TYPE coserve_health_probes_total counter\n"
	    "coserve_health_probes_total 12\n"
	    "# HELP coserve_health_probe_failures_total Storage probes that "
	    "failed or missed their deadline.\n"
	    "# TYPE coserve_health_probe_failures_total counter\n"
	    "coserve_health_probe_failures_total 3\n"
	    "# HELP coserve_health_probe_seconds Time the last completed "
	    "storage probe took.\n"
	    "# TYPE coserve_health_probe_seconds gauge\n"
	    "coserve_health_probe_seconds 1.500000001\n");
}
END_TEST

START_TEST(histogram_buckets)
{
	struct histogram h;

	memset(&h, 0, sizeof h);
	histogram_observe(&h, 0);
	histogram_observe(&h, 100000);		/* le is inclusive */
	histogram_observe(&h, 100001);
	histogram_observe(&h, 1000000000);	/* exactly 1 s */
	histogram_observe(&h, 10000000000);	/* exactly 10 s */
	histogram_observe(&h, 10000000001);	/* only +Inf */
	ck_assert_uint_eq(h.counts[0], 2);
	ck_assert_uint_eq(h.counts[1], 1);
	ck_assert_uint_eq(h.counts[12], 1);
	ck_assert_uint_eq(h.counts[HISTOGRAM_BOUNDS - 1], 1);
	ck_assert_uint_eq(h.counts[HISTOGRAM_BOUNDS], 1);
	ck_assert_uint_eq(h.count, 6);
	ck_assert_uint_eq(h.sum_ns, 21000200002ULL);
}
END_TEST

/* Rendered buckets never decrease and +Inf equals _count. */
START_TEST(buckets_cumulative)
{
	struct metrics_snapshot snap;
	char		 buf[METRICS_TEXT_MAX], *line;
	uint64_t	 ns = 1, value, last = 0, count = 0;
	int		 i, buckets = 0;

	memset(&snap, 0, sizeof snap);
	for (i = 0; i < 200; i++, ns = ns * 7 % 30000000011ULL)
		histogram_observe(&snap.io_latency, ns * 3);
	metrics_format(&snap, buf, sizeof buf);
	for (line = strtok(buf, "\n"); line != NULL;
	    line = strtok(NULL, "\n")) {
		if (sscanf(line, "coserve_io_job_seconds_count %" SCNu64,
		    &count) == 1)
			continue;
		if (strncmp(line, "coserve_io_job_seconds_bucket{", 30) != 0)
			continue;
		ck_assert_int_eq(sscanf(strchr(line, '}') + 1, " %" SCNu64,
		    &value), 1);
		ck_assert_uint_ge(value, last);
		last = value;
		buckets++;
	}
	ck_assert_int_eq(buckets, HISTOGRAM_BOUNDS + 1);
	ck_assert_uint_eq(last, 200);
	ck_assert_uint_eq(count, 200);
}
END_TEST

START_TEST(registry_counts)
{
	struct metrics_snapshot snap;

	metrics_connection_opened();
	metrics_connection_opened();
	metrics_connection_opened();
	metrics_connection_closed();
	metrics_request(200, 1000);
	metrics_request(206, 24);
	metrics_request(304, 0);
	metrics_request(404, 150);
	metrics_request(503, 0);
	metrics_request(101, 0);
	metrics_request(99, 7);		/* not a status: bytes still count */
	metrics_request(600, 0);
	metrics_tls_handshake(0, "TLSv1.3", "TLS_AES_256_GCM_SHA384");
	metrics_tls_handshake(1, "TLSv1.2", "ECDHE-RSA-AES128-GCM-SHA256");
	metrics_tls_handshake(0, "TLSv1.3", "TLS_AES_256_GCM_SHA384");
	metrics_tls_handshake(0, "SSLv3", NULL);	/* neither counted by name */
	metrics_tls_failure(METRICS_TLS_PLAIN_HTTP);
	metrics_snapshot(&snap, NULL);
	ck_assert_uint_eq(snap.requests[0], 1);
	ck_assert_uint_eq(snap.requests[1], 2);
	ck_assert_uint_eq(snap.requests[2], 1);
	ck_assert_uint_eq(snap.requests[3], 1);
	ck_assert_uint_eq(snap.requests[4], 1);
	ck_assert_uint_eq(snap.response_bytes, 1181);
	ck_assert_uint_eq(snap.connections_accepted, 3);
	ck_assert_uint_eq(snap.connections_open, 2);
	ck_assert_uint_eq(snap.coroutines, 0);
	ck_assert_uint_eq(snap.io_threads, 0);
	ck_assert_uint_eq(snap.io_latency.count, 0);
	ck_assert_uint_eq(snap.tls_handshakes, 4);
	ck_assert_uint_eq(snap.tls_resumed, 1);
	ck_assert_uint_eq(snap.tls_protocols[METRICS_TLS_1_2], 1);
	ck_assert_uint_eq(snap.tls_protocols[METRICS_TLS_1_3], 2);
	ck_assert_str_eq(snap.tls_cipher_names[0], "TLS_AES_256_GCM_SHA384");
	ck_assert_uint_eq(snap.tls_ciphers[0], 2);
	ck_assert_str_eq(snap.tls_cipher_names[1],
	    "ECDHE-RSA-AES128-GCM-SHA256");
	ck_assert_uint_eq(snap.tls_ciphers[1], 1);
	ck_assert_ptr_null(snap.tls_cipher_names[2]);
	ck_assert_uint_eq(snap.tls_ciphers[METRICS_TLS_CIPHERS], 0);
	ck_assert_uint_eq(snap.tls_failures[METRICS_TLS_PLAIN_HTTP], 1);
	ck_assert_uint_eq(snap.tls_failures[METRICS_TLS_TIMEOUT], 0);
}
END_TEST

/*
 * Two reactors' shards, each counted by its own thread: the totals add
 * them up, and each reactor's gauges are its own.
 */
static unsigned shard_coroutines[2] = { 3, 4 };

static void *
count_in_shard(void *arg)
{
	struct metrics_shard *s = arg;
	int i;

	metrics_shard_attach(s);
	for (i = 0; i < 5 + s->reactor; i++)
		metrics_connection_opened();
	metrics_connection_closed();
	return NULL;
}

START_TEST(reactor_gauges)
{
	struct metrics_shard	 shards[2];
	struct metrics_snapshot	 snap;
	pthread_t		 t[2];
	char			 buf[METRICS_TEXT_MAX];
	int			 i;

	memset(shards, 0, sizeof shards);
	for (i = 0; i < 2; i++) {
		shards[i].reactor = i;
		shards[i].coroutines = &shard_coroutines[i];
		ck_assert_int_eq(pthread_create(&t[i], NULL, count_in_shard,
		    &shards[i]), 0);
	}
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	metrics_snapshot(&snap, NULL);
	ck_assert_uint_eq(snap.connections_accepted, 11);
	ck_assert_uint_eq(snap.connections_open, 9);
	ck_assert_uint_eq(snap.coroutines, 7);
	ck_assert_int_eq(snap.reactors[0].present, 1);
	ck_assert_uint_eq(snap.reactors[0].connections_open, 4);
	ck_assert_uint_eq(snap.reactors[1].connections_open, 5);
	ck_assert_uint_eq(snap.reactors[1].coroutines, 4);
	ck_assert_int_eq(snap.reactors[2].present, 0);
	metrics_format(&snap, buf, sizeof buf);
	ck_assert_ptr_nonnull(strstr(buf,
	    "# TYPE coserve_reactor_connections_open gauge\n"
	    "coserve_reactor_connections_open{reactor=\"0\"} 4\n"
	    "coserve_reactor_connections_open{reactor=\"1\"} 5\n"));
	ck_assert_ptr_nonnull(strstr(buf,
	    "coserve_reactor_coroutines{reactor=\"0\"} 3\n"
	    "coserve_reactor_coroutines{reactor=\"1\"} 4\n"));
	for (i = 0; i < 2; i++)
		metrics_shard_detach(&shards[i]);
	/* Gone, their counts stay in the totals; their gauges go. */
	metrics_snapshot(&snap, NULL);
	ck_assert_uint_eq(snap.connections_accepted, 11);
	ck_assert_int_eq(snap.reactors[0].present, 0);
}
END_TEST

/*
 * Threads, each with a shard of its own, count handshakes with more
 * suites than there are slots, each starting at another one, and with
 * names of their own (equal strings, not equal pointers): every suite
 * gets one slot or none, a suite in a slot is counted there by every
 * thread, and the rest are other.
 */
#define SLOT_THREADS 4
#define SLOT_SUITES (METRICS_TLS_CIPHERS + 4)

struct slot_counter {
	struct metrics_shard	 shard;
	int			 first;
	char			 names[SLOT_SUITES][32];
};

static void *
count_suites(void *arg)
{
	struct slot_counter *c = arg;
	int i, k;

	metrics_shard_attach(&c->shard);
	for (i = 0; i < SLOT_SUITES; i++) {
		k = (c->first + i) % SLOT_SUITES;
		metrics_tls_handshake(0, "TLSv1.3", c->names[k]);
	}
	return NULL;
}

START_TEST(cipher_slots)
{
	static struct slot_counter counters[SLOT_THREADS];
	struct metrics_snapshot	 snap;
	pthread_t		 t[SLOT_THREADS];
	char			 buf[METRICS_TEXT_MAX], line[128];
	int			 i, j, k;

	for (i = 0; i < SLOT_THREADS; i++) {
		memset(&counters[i], 0, sizeof counters[i]);
		counters[i].shard.reactor = -1;
		counters[i].first = i * 5;
		for (k = 0; k < SLOT_SUITES; k++)
			snprintf(counters[i].names[k],
			    sizeof counters[i].names[k], "SUITE-%02d", k);
	}
	for (i = 0; i < SLOT_THREADS; i++)
		ck_assert_int_eq(pthread_create(&t[i], NULL, count_suites,
		    &counters[i]), 0);
	for (i = 0; i < SLOT_THREADS; i++)
		pthread_join(t[i], NULL);
	metrics_snapshot(&snap, NULL);
	ck_assert_uint_eq(snap.tls_handshakes, SLOT_THREADS * SLOT_SUITES);
	for (i = 0; i < METRICS_TLS_CIPHERS; i++) {
		ck_assert_ptr_nonnull(snap.tls_cipher_names[i]);
		ck_assert_uint_eq(snap.tls_ciphers[i], SLOT_THREADS);
		for (j = 0; j < i; j++)
			ck_assert_str_ne(snap.tls_cipher_names[i],
			    snap.tls_cipher_names[j]);
	}
	ck_assert_uint_eq(snap.tls_ciphers[METRICS_TLS_CIPHERS],
	    SLOT_THREADS * (SLOT_SUITES - METRICS_TLS_CIPHERS));
	metrics_format(&snap, buf, sizeof buf);
	snprintf(line, sizeof line,
	    "\ncoserve_tls_handshakes_by_cipher_total{cipher=\"%s\"} %d\n",
	    snap.tls_cipher_names[METRICS_TLS_CIPHERS - 1], SLOT_THREADS);
	ck_assert_ptr_nonnull(strstr(buf, line));
	snprintf(line, sizeof line,
	    "\ncoserve_tls_handshakes_by_cipher_total{cipher=\"other\"} %d\n",
	    SLOT_THREADS * (SLOT_SUITES - METRICS_TLS_CIPHERS));
	ck_assert_ptr_nonnull(strstr(buf, line));
	snprintf(line, sizeof line,
	    "\ncoserve_tls_handshakes_by_protocol_total{protocol=\"TLSv1.3\"} "
	    "%d\n", SLOT_THREADS * SLOT_SUITES);
	ck_assert_ptr_nonnull(strstr(buf, line));
	/* Detached, the counts stay. */
	for (i = 0; i < SLOT_THREADS; i++)
		metrics_shard_detach(&counters[i].shard);
	metrics_snapshot(&snap, NULL);
	ck_assert_uint_eq(snap.tls_ciphers[0], SLOT_THREADS);
	ck_assert_uint_eq(snap.tls_protocols[METRICS_TLS_1_3],
	    SLOT_THREADS * SLOT_SUITES);
}
END_TEST

static void
nop_work(struct iojob *job)
{
}

START_TEST(render_reads_pool)
{
	struct iopool	*pool = iopool_create(0, 0, 4);
	struct iopool_channel *ch;
	struct iojob	 job = { 0 };
	char		*text;
	size_t		 len;

	ck_assert_ptr_nonnull(pool);
	/* Inline jobs are counted in the channel of the submitting thread. */
	ck_assert_ptr_nonnull(ch = iopool_channel_create(pool));
	iopool_channel_bind(ch);
	job.work = nop_work;
	ck_assert_int_eq(iopool_submit(pool, &job), 1);
	ck_assert_int_eq(iopool_submit(pool, &job), 1);
	text = metrics_render(pool, &len);
	ck_assert_ptr_nonnull(text);
	ck_assert_uint_eq(len, strlen(text));
	ck_assert_uint_lt(len, METRICS_TEXT_MAX);
	ck_assert_ptr_nonnull(strstr(text, "\ncoserve_io_jobs_total 2\n"));
	ck_assert_ptr_nonnull(strstr(text, "\ncoserve_io_threads 0\n"));
	ck_assert_ptr_nonnull(strstr(text,
	    "\ncoserve_io_job_seconds_count 2\n"));
	ck_assert_ptr_nonnull(strstr(text,
	    "\ncoserve_io_job_seconds_bucket{le=\"+Inf\"} 2\n"));
	free(text);
	iopool_destroy(pool);
	iopool_channel_free(ch);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("metrics");
	TCase	*tc = tcase_create("metrics");
	SRunner	*sr;
	int	 failed;

	tcase_add_test(tc, format_exact);
	tcase_add_test(tc, format_short_buffer);
	tcase_add_test(tc, format_health);
	tcase_add_test(tc, histogram_buckets);
	tcase_add_test(tc, buckets_cumulative);
	tcase_add_test(tc, registry_counts);
	tcase_add_test(tc, render_reads_pool);
	tcase_add_test(tc, reactor_gauges);
	tcase_add_test(tc, cipher_slots);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
