/*
 * Exchanges: one request and its response, whatever protocol carries
 * them. A handler (files, listings, error pages, metrics, health) reads
 * the request and answers with a status, fields and a body stream through
 * exchange_send_head() and exchange_send_body(); the protocol that owns
 * the exchange renders them (HTTP/1.1 as text, in conn.c) and adds what is
 * its own business, such as Connection. Handlers never see a connection,
 * so nothing in them assumes one request at a time on it.
 */
#ifndef EXCHANGE_H
#define EXCHANGE_H

#include <stddef.h>
#include <stdint.h>

struct docroot;
struct exchange;
struct request;
struct response;

/* The methods every exchange allows (OPTIONS, 405). */
#define EXCHANGE_ALLOW_METHODS "GET, HEAD, OPTIONS"

/* What a protocol does with an answer; each returns 0 or -1. */
struct exchange_ops {
	/* Sends r's head, followed by len body bytes (len may be 0). */
	int (*send_head)(struct exchange *, struct response *r,
	    const void *body, size_t len);
	int (*send_body)(struct exchange *, const void *buf, size_t len);
	/*
	 * Sends r's head (NULL: already sent), len bytes of buf, then count
	 * bytes of the file fd from off without copying them. 0, -1 when
	 * the exchange is lost (errno ENODATA: the file ended early; a
	 * socket that fails, even before the first byte), or 1 when nothing
	 * went out: errno EBUSY, the I/O queue is full; ENODATA, the file
	 * ends before off; another, the file could not be read. The body
	 * bytes (buf's and the file's) are added to body_bytes as they go
	 * out, so a response cut off midway counts what the client got.
	 * local: fd is where docroot_local() lets the reactor send cached
	 * pages itself; else the I/O pool makes every sendfile. NULL where
	 * the transport cannot: handlers copy.
	 */
	int (*send_file)(struct exchange *, struct response *r, const void *buf,
	    size_t len, int fd, uint64_t off, uint64_t count, int local);
	/*
	 * Takes between least and want bytes of body buffer from the
	 * protocol's budget, waiting while it has not least left: the bytes
	 * granted, or 0 when the exchange is lost. release gives them back.
	 * NULL where buffers have no budget but their own size (HTTP/1.1's
	 * one request at a time).
	 */
	size_t (*reserve)(struct exchange *, size_t want, size_t least);
	void (*release)(struct exchange *, size_t);
	/* Whether others wait for the budget (NULL: never). */
	int (*contended)(struct exchange *);
};

struct exchange {
	const struct exchange_ops *ops;
	void *owner;		    /* the protocol's */
	const struct request *req;  /* NULL: a head refused */
	const struct docroot *root; /* the site answering */
	/* What went out, for the access log and the metrics. */
	int status;
	int head_sent;
	uint64_t body_bytes;
};

void exchange_init(struct exchange *, const struct exchange_ops *, void *owner,
    const struct request *, const struct docroot *);
/*
 * Sends r's head followed by body (NULL: none; a HEAD's is the caller's
 * to leave out). A head that did not fit its buffer is answered 500
 * instead. 0, or -1 when the exchange is lost: the protocol must then
 * abort it (HTTP/1.1 closes the connection), since the framing promised
 * can no longer be kept.
 */
int exchange_send_head(
    struct exchange *, struct response *r, const void *body, size_t len);
int exchange_send_body(struct exchange *, const void *buf, size_t len);
/*
 * The send_file op's results, with the accounting: after a 1 the exchange
 * is as it was, so the caller may still answer an error if r was its head.
 */
int exchange_send_file(struct exchange *, struct response *r, const void *buf,
    size_t len, int fd, uint64_t off, uint64_t count, int local);
/*
 * A body buffer of between least and want bytes (*size says how many),
 * within the protocol's budget: it may wait for other exchanges to give
 * theirs back. NULL when the exchange is lost or memory is short.
 */
void *exchange_buffer(
    struct exchange *, size_t want, size_t least, size_t *size);
void exchange_buffer_free(struct exchange *, void *buf, size_t size);
/*
 * Between chunks: when others wait for the budget, gives buf back and
 * waits its turn for another (between least and want bytes again, *size
 * says how many). buf, the new buffer, or NULL as exchange_buffer().
 */
void *exchange_buffer_share(
    struct exchange *, void *buf, size_t want, size_t least, size_t *size);
/* Answers status with a small HTML body (none for HEAD). */
int exchange_send_error(struct exchange *, int status);

#endif
