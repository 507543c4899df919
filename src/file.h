/*
 * The static file handler: resolves a request path under the document
 * root, opens it, evaluates validators and ranges, and streams the bytes in
 * bounded chunks. Every filesystem call is an I/O pool job.
 */
#ifndef FILE_H
#define FILE_H

#include <stddef.h>

struct exchange;
struct path;

/*
 * Answers a GET or HEAD for p in the exchange's site. 0, or -1 when the
 * exchange was lost midway (exchange_send_head).
 */
int file_serve(struct exchange *, const struct path *p);

#endif
