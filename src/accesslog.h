/*
 * The access log, in the combined format or one of the administrator's
 * (nginx-style $variables). The reactor only formats a line
 * and appends it to a bounded buffer; a thread of the log's own writes the
 * buffer out, so a slow disk never stalls request handling.
 */
#ifndef ACCESSLOG_H
#define ACCESSLOG_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct accesslog;
struct logformat;
struct request;

/* nginx's "combined": the default format. */
#define ACCESSLOG_COMBINED                                                     \
	"$remote_addr - - [$time_local] \"$request\" $status "                 \
	"$body_bytes_sent \"$http_referer\" \"$http_user_agent\""

/* What one line can say about a request. */
struct accesslog_entry {
	const char *peer;
	struct timespec when; /* wall clock, response end */
	const struct request *req;
	int status;
	uint64_t body_bytes;
	long request_ms; /* head received to response end */
	/* TLS: what was negotiated, each NULL ("-") where none was. */
	const char *tls_protocol;
	const char *tls_cipher;
	const char *tls_server_name; /* SNI */
};

/*
 * A compiled format: literal text and $variables (or ${variables}), see
 * conf/coserve.conf for the list. NULL fmt means ACCESSLOG_COMBINED. NULL
 * with err set for an unknown variable.
 */
struct logformat *logformat_compile(const char *fmt, char *err, size_t errlen);
void logformat_free(struct logformat *);
/* One line, newline included, cut to fit size; returns its length. */
size_t logformat_render(const struct logformat *,
    const struct accesslog_entry *, char *buf, size_t size);

/* Opens (appends to) path and starts the writer; NULL with errno set. */
struct accesslog *accesslog_open(const char *path, const char *format);
/* Writes out what is buffered, stops the writer and closes the file. */
void accesslog_close(struct accesslog *);
/* Asks the writer to reopen the file, for log rotation. */
void accesslog_reopen(struct accesslog *);
/* Formats and queues one line; never waits for the disk. */
void accesslog_write(struct accesslog *, const struct accesslog_entry *);

#endif
