/*
 * CLOCK_MONOTONIC, read by clock_gettime(), which the vDSO answers without
 * a system call: cheap enough for every request and every pool job.
 */
#include "autoconf.h"

#include <time.h>

#include "monotime.h"

uint64_t
monotime_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

long
monotime_ms(void)
{
	return (long)(monotime_ns() / 1000000u);
}
