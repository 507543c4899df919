/*
 * Metrics: a few counters and gauges, and their rendering in the
 * Prometheus text exposition format 0.0.4 for an opt-in endpoint. Each
 * reactor counts in a shard of its own, with no lock; the rendering adds
 * the shards up (process-wide totals). The I/O pool keeps its own job
 * counters and latency histogram per reactor (struct iopool_stats); the
 * render sums them through the pool. Formatting is pure: it takes a
 * snapshot, so it is unit tested without threads or sockets.
 */
#ifndef METRICS_H
#define METRICS_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "histogram.h"

struct iopool;

/* Upper bound of any rendering; the fixed metric set needs about 5 KiB. */
#define METRICS_TEXT_MAX (64 * 1024)
/* Response status classes 1xx .. 5xx. */
#define METRICS_STATUS_CLASSES 5
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* Why a connection was cut off. */
enum metrics_timeout_kind {
	METRICS_TIMEOUT_HEADER, /* header_timeout_ms */
	METRICS_TIMEOUT_SEND,	/* send_timeout_ms */
	METRICS_TIMEOUT_KINDS
};

/* Why a connection was refused before any request was read. */
enum metrics_refused_reason {
	METRICS_REFUSED_PER_CLIENT, /* max_connections_per_client */
	METRICS_REFUSED_NO_MEMORY,  /* answered 503 */
	METRICS_REFUSED_REASONS
};

/* Why a TLS handshake did not finish. */
enum metrics_tls_failure {
	METRICS_TLS_TIMEOUT,	/* tls_handshake_timeout_ms */
	METRICS_TLS_PROTOCOL,	/* not TLS, or malformed */
	METRICS_TLS_PLAIN_HTTP, /* plain HTTP on a TLS port: answered 400 */
	METRICS_TLS_VERSION,	/* no version in common (tls_protocols) */
	METRICS_TLS_CIPHER,	/* no cipher, group or signature in common */
	METRICS_TLS_ALERT,	/* the client's alert (distrust, often) */
	METRICS_TLS_CUT_SHORT,	/* closed or reset half-way */
	METRICS_TLS_FAILURES
};

/* The TLS versions counted by name (those tls_protocols allows). */
enum metrics_tls_protocol {
	METRICS_TLS_1_2, /* "TLSv1.2" */
	METRICS_TLS_1_3, /* "TLSv1.3" */
	METRICS_TLS_PROTOCOLS
};

/*
 * Cipher suites counted by name, in slots filled as each is first seen;
 * a handshake with a suite seen after they are full counts as "other",
 * in the slot after them. Mozilla's intermediate profile has 12.
 */
#define METRICS_TLS_CIPHERS 16

/* Reactors with gauges of their own (CONFIG_REACTORS_MAX). */
#define METRICS_REACTORS_MAX 64

/* One reactor's gauges. */
struct metrics_reactor {
	int present;
	uint64_t connections_open;
	uint64_t coroutines;
};

/* Everything one rendering shows. */
struct metrics_snapshot {
	uint64_t requests[METRICS_STATUS_CLASSES]; /* [0] is 1xx */
	uint64_t response_bytes;
	uint64_t connections_accepted;
	uint64_t connections_open;
	uint64_t coroutines;
	uint64_t io_threads;
	uint64_t io_queue_depth;
	uint64_t io_jobs;
	uint64_t io_queue_full;
	uint64_t reads_cached; /* chunks read from the page cache */
	uint64_t reads_pool;   /* chunks the pool had to read */
	uint64_t sends_cached; /* sendfiles on the reactor, pages resident */
	uint64_t sends_pool;   /* sendfiles the pool made */
	struct histogram io_latency;
	uint64_t timeouts[METRICS_TIMEOUT_KINDS];
	uint64_t refused[METRICS_REFUSED_REASONS];
	uint64_t accept_errors;
	uint64_t tls_handshakes;
	uint64_t tls_failures[METRICS_TLS_FAILURES];
	uint64_t tls_resumed;
	uint64_t tls_protocols[METRICS_TLS_PROTOCOLS];
	/* Each slot's suite; NULL: not filled yet (nothing to show). */
	const char *tls_cipher_names[METRICS_TLS_CIPHERS];
	uint64_t tls_ciphers[METRICS_TLS_CIPHERS + 1]; /* by slot, then other */
	/* The health state; shown only while health is served (enabled). */
	int health_enabled;
	uint64_t healthy;
	uint64_t health_probes;
	uint64_t health_probe_failures;
	uint64_t health_probe_ns; /* the last probe's time */
	/* By reactor index, for those attached now. */
	struct metrics_reactor reactors[METRICS_REACTORS_MAX];
};

/*
 * One reactor's counters, in its struct reactor: written only by the
 * thread it is attached to, read by any snapshot.
 */
struct metrics_shard {
	uint64_t requests[METRICS_STATUS_CLASSES];
	uint64_t response_bytes;
	uint64_t connections_accepted;
	uint64_t connections_closed;
	uint64_t reads[2]; /* [0] pool, [1] page cache */
	uint64_t sends[2]; /* the same, for sendfile */
	uint64_t timeouts[METRICS_TIMEOUT_KINDS];
	uint64_t refused[METRICS_REFUSED_REASONS];
	uint64_t accept_errors;
	uint64_t tls_handshakes;
	uint64_t tls_failures[METRICS_TLS_FAILURES];
	uint64_t tls_resumed;
	uint64_t tls_protocols[METRICS_TLS_PROTOCOLS];
	uint64_t tls_ciphers[METRICS_TLS_CIPHERS + 1]; /* by slot, then other */
	/* A reactor's shard: its index and its live coroutine count. */
	int reactor; /* -1: not a reactor's */
	const unsigned *coroutines;
	struct metrics_shard *next; /* the registry's list */
};

/* The calling thread counts in s from now on; s joins the totals. */
void metrics_shard_attach(struct metrics_shard *s);
/* Before s is freed: its counts stay in the totals. */
void metrics_shard_detach(struct metrics_shard *s);

/*
 * Counters, each into the calling thread's shard. One response by its
 * status class and its body bytes:
 */
void metrics_request(int status, uint64_t body_bytes);
void metrics_connection_opened(void);
/* A chunk found in the page cache (hit), or left to the pool. */
void metrics_cached_read(int hit);
/* A sendfile made on the reactor (resident), or left to the pool. */
void metrics_file_send(int resident);
void metrics_connection_closed(void);
void metrics_timeout(enum metrics_timeout_kind);
void metrics_refused(enum metrics_refused_reason);
/* accept() failed for want of fds or memory. */
void metrics_accept_error(void);
/*
 * A TLS handshake done (resumed: a session resumed), its protocol
 * ("TLSv1.2", "TLSv1.3"; another is not counted by name) and its cipher
 * suite by OpenSSL's name, which must live as long as the process (the
 * names of OpenSSL's own tables do); either may be NULL.
 */
void metrics_tls_handshake(
    int resumed, const char *protocol, const char *cipher);
void metrics_tls_failure(enum metrics_tls_failure);

/*
 * Fills snap from every shard, coro_live() and pool (may be NULL); from
 * any thread.
 */
void metrics_snapshot(struct metrics_snapshot *snap, struct iopool *pool);
/*
 * Formats snap into buf like snprintf: writes at most size bytes including
 * a NUL and returns the length the whole text needs.
 */
size_t metrics_format(
    const struct metrics_snapshot *snap, char *buf, size_t size);
/*
 * The certificate expiry gauges, one per site (label, earliest notAfter),
 * replacing the last set: reactor 0 sets those of the generation it
 * serves, at start-up and on each reload; n = 0 clears them. 0, or -1
 * (no memory: the last set stays).
 */
int metrics_tls_expiry(
    const char *const *sites, const time_t *not_after, size_t n);
/*
 * The current metrics as text, in a buffer of at most METRICS_TEXT_MAX
 * bytes that the caller frees; its length goes to *len. NULL with errno
 * set (ENOMEM) when it cannot be had: answer 503.
 */
char *metrics_render(struct iopool *pool, size_t *len);

#endif
