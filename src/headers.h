/*
 * Response fields by location: the Cache-Control, Expires and extra fields
 * a site's `headers` rules give to the files they match. Pure apart from
 * the clock the caller passes in.
 */
#ifndef HEADERS_H
#define HEADERS_H

#include <time.h>

struct response;
struct site_config;

/*
 * Adds to r the fields of every rule of site that matches: "/prefix" rules
 * against "/" + rel, "*.ext" rules against name (the file served). For
 * Cache-Control and Expires the last matching rule wins; `add` fields
 * accumulate in rule order.
 */
void headers_apply(const struct site_config *site, const char *rel,
    const char *name, struct response *r, time_t now);

#endif
