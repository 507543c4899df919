/*
 * The static file handler: resolves a request path under the document
 * root, opens it, evaluates validators and ranges, and streams the bytes in
 * bounded chunks. Every filesystem call is an I/O pool job.
 */
#ifndef FILE_H
#define FILE_H

#include <stddef.h>

struct config;
struct conn;
struct path;
struct request;


/* Serves a GET or HEAD. Returns 0 to keep the connection, -1 to close it. */
int		 file_serve(struct conn *, const struct request *,
		    const struct path *);

#endif
