/*
 * A latency histogram with fixed bounds, 0.0001 s .. 10 s, the buckets the
 * Prometheus rendering shows. A module of its own so that whoever observes
 * latencies (the I/O pool) need not know the metrics registry that renders
 * them, which in turn reads the pool. Not locked: one thread (its owner's
 * reactor) writes it, with relaxed atomic stores, so that a rendering on
 * another thread may read it with relaxed atomic loads.
 */
#ifndef HISTOGRAM_H
#define HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>

/* Finite bounds; +Inf comes on top. */
#define HISTOGRAM_BOUNDS 16

/*
 * counts[i] holds the observations in bucket i alone
 * (counts[HISTOGRAM_BOUNDS] those above the last bound); a rendering makes
 * them cumulative.
 */
struct histogram {
	uint64_t counts[HISTOGRAM_BOUNDS + 1];
	uint64_t sum_ns;
	uint64_t count;
};

/* Adds one observation of ns nanoseconds; a bound is inclusive. */
void histogram_observe(struct histogram *, uint64_t ns);
/* Bound i (< HISTOGRAM_BOUNDS) in seconds, as an le label prints it. */
const char *histogram_bound_label(size_t i);

#endif
