/*
 * The access log, in the combined format. The reactor only formats a line
 * and appends it to a bounded buffer; a thread of the log's own writes the
 * buffer out, so a slow disk never stalls request handling.
 */
#ifndef ACCESSLOG_H
#define ACCESSLOG_H

#include <stdint.h>
#include <time.h>

struct accesslog;
struct request;

/* Opens (appends to) path and starts the writer; NULL with errno set. */
struct accesslog *accesslog_open(const char *path);
/* Writes out what is buffered, stops the writer and closes the file. */
void		 accesslog_close(struct accesslog *);
/* Asks the writer to reopen the file, for log rotation. */
void		 accesslog_reopen(struct accesslog *);
void		 accesslog_request(struct accesslog *, const char *peer,
		    const struct request *, int status, uint64_t body_bytes);
/* Formats one combined-format line into buf; returns its length. */
size_t		 accesslog_format(char *buf, size_t len, const char *peer,
		    time_t when, const struct request *, int status,
		    uint64_t body_bytes);

#endif
