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

/* What a site serves from; built at start-up, read-only afterwards. */
struct docroot {
	int			 fd;		/* O_PATH directory */
	int			 use_openat2;	/* else check /proc/self/fd */
	char			*real;		/* its canonical path */
	char			*index;
	struct mime_table	*mime;
	size_t			 chunk_bytes;
};

struct docroot	*docroot_open(const struct config *, char *err, size_t errlen);
void		 docroot_close(struct docroot *);

/* Serves a GET or HEAD. Returns 0 to keep the connection, -1 to close it. */
int		 file_serve(struct conn *, const struct request *,
		    const struct path *);

#endif
