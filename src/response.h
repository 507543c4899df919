/*
 * Response heads: the status and fields of one response, built into a
 * bounded buffer, and the small bodies of error responses. Pure apart from
 * reading the clock. Nothing here is one protocol's: the fields are kept
 * as "Name: value\r\n" lines, which HTTP/1.1 (conn.c) sends as they are,
 * with its status line put into room kept in front of them and its own
 * fields and the empty line into room kept behind; another protocol reads
 * them as pairs with response_field_next().
 */
#ifndef RESPONSE_H
#define RESPONSE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * Enough for every head but a redirect with a very long Location, which
 * asks for a larger buffer: this one lives on a coroutine stack.
 */
#define RESPONSE_HEAD_MAX 4096
/* Room in front of the fields: "HTTP/1.1 431 " and the longest reason. */
#define RESPONSE_STATUS_LINE_MAX 64
/* Room behind them, for "Connection: keep-alive\r\n\r\n". */
#define RESPONSE_TRAILER_MAX 32

struct response {
	char *head; /* inline_head, or heap from begin_large */
	size_t size;
	/* The fields: head[RESPONSE_STATUS_LINE_MAX] to head[len]. */
	size_t len;
	int overflow; /* a field did not fit: send 500 */
	int status;
	char inline_head[RESPONSE_HEAD_MAX];
};

/* One field, pointing into the response; not NUL-terminated. */
struct response_field {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};

/* What the Server field says (server_tokens). */
enum response_tokens {
	RESPONSE_TOKENS_PRODUCT, /* "coserve" */
	RESPONSE_TOKENS_FULL,	 /* "coserve/1.2.3" */
	RESPONSE_TOKENS_OFF	 /* no Server field */
};

/* Starts a response with Date; the protocol adds Server. */
void response_begin(struct response *, int status);
/* The same with a head of size bytes on the heap; -1 on ENOMEM. */
int response_begin_large(struct response *, int status, size_t size);
/* Frees what response_begin_large() took; harmless after response_begin(). */
void response_free(struct response *);
void response_add(struct response *, const char *name, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/*
 * The same for a plain string value or a number, without printf; inline,
 * so that the length of a literal name is known when compiling.
 */
void response__field(struct response *, const char *name, size_t name_len,
    const char *value, size_t value_len);
void response__field_u64(
    struct response *, const char *name, size_t name_len, uint64_t value);

static inline void
response_add_str(struct response *r, const char *name, const char *value)
{
	response__field(r, name, strlen(name), value, strlen(value));
}

static inline void
response_add_u64(struct response *r, const char *name, uint64_t value)
{
	response__field_u64(r, name, strlen(name), value);
}
/*
 * Adds the Server field tokens asks for: the framing adds it from the
 * generation the connection was accepted under.
 */
void response_add_server(struct response *, enum response_tokens tokens);
/* Adds a whole "Name: value" field, already checked by its producer. */
void response_add_line(struct response *, const char *field);
/*
 * The fields in the order they were added: *pos starts at 0. Returns 1
 * with f set, 0 after the last.
 */
int response_field_next(
    const struct response *, size_t *pos, struct response_field *f);
const char *response_reason(int status);
#define RESPONSE_ERROR_BODY_MAX 256

/* Writes a short HTML body for an error status into buf; returns its length. */
size_t response_error_body(int status, char buf[RESPONSE_ERROR_BODY_MAX]);

#endif
