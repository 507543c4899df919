/*
 * The latency histogram: bounds in nanoseconds for bucketing, and the same
 * bounds as text so a rendering prints them exactly, not through a double.
 */
#include "autoconf.h"

#include "histogram.h"

static const struct {
	uint64_t ns;
	const char *label;
} bounds[HISTOGRAM_BOUNDS] = {
	{ 100000ULL, "0.0001" },
	{ 250000ULL, "0.00025" },
	{ 500000ULL, "0.0005" },
	{ 1000000ULL, "0.001" },
	{ 2500000ULL, "0.0025" },
	{ 5000000ULL, "0.005" },
	{ 10000000ULL, "0.01" },
	{ 25000000ULL, "0.025" },
	{ 50000000ULL, "0.05" },
	{ 100000000ULL, "0.1" },
	{ 250000000ULL, "0.25" },
	{ 500000000ULL, "0.5" },
	{ 1000000000ULL, "1" },
	{ 2500000000ULL, "2.5" },
	{ 5000000000ULL, "5" },
	{ 10000000000ULL, "10" },
};

/* Single writer: a plain add, made visible to a reader on another thread. */
static void
add(uint64_t *counter, uint64_t n)
{
	__atomic_store_n(counter,
	    __atomic_load_n(counter, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

void
histogram_observe(struct histogram *h, uint64_t ns)
{
	size_t i;

	for (i = 0; i < HISTOGRAM_BOUNDS; i++)
		if (ns <= bounds[i].ns)
			break;
	add(&h->counts[i], 1);
	add(&h->sum_ns, ns);
	add(&h->count, 1);
}

const char *
histogram_bound_label(size_t i)
{
	return bounds[i].label;
}
