/*
 * HTTP dates (RFC 9110 5.6.7): IMF-fixdate out; IMF-fixdate, RFC 850 and
 * asctime in. Pure.
 */
#ifndef HTTPDATE_H
#define HTTPDATE_H

#include <stddef.h>
#include <time.h>

#define HTTPDATE_LEN 29 /* "Sun, 06 Nov 1994 08:49:37 GMT" */

/* Writes HTTPDATE_LEN characters and a NUL into buf. */
void httpdate_format(time_t t, char buf[HTTPDATE_LEN + 1]);
/* Returns 0 and sets *out, or -1 for anything that is not a valid date. */
int httpdate_parse(const char *s, size_t len, time_t *out);

#endif
