/*
 * The one monotonic clock. Deadlines, job latencies, cache lifetimes,
 * rate-limit windows and the service manager's MONOTONIC_USEC all read
 * CLOCK_MONOTONIC through here, so they agree with one another and never
 * jump with the wall clock. Safe on any thread.
 */
#ifndef MONOTIME_H
#define MONOTIME_H

#include <stdint.h>

/* Nanoseconds since an arbitrary start (boot, on Linux). */
uint64_t monotime_ns(void);
/* The same clock in milliseconds, for deadlines. */
long monotime_ms(void);

#endif
