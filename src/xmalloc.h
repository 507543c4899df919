/*
 * Start-up allocations that cannot fail: on exhaustion they log and exit.
 * Never used per request; a request that cannot get memory gets a 503.
 */
#ifndef XMALLOC_H
#define XMALLOC_H

#include <stddef.h>

void *xmalloc(size_t);
void *xcalloc(size_t, size_t);
char *xstrdup(const char *);

#endif
