/*
 * Connections. A connection's coroutine owns its struct conn: it is
 * allocated before the coroutine starts and freed by a deferred function
 * when the coroutine returns, whichever way it returns. Other code only
 * ever touches a connection through its reactor's list, to wake it for a
 * drain or an abort; waking means shutting the socket down, which makes
 * the coroutine's own pending read or write fail, so the coroutine always
 * unwinds itself.
 */
#include "autoconf.h"

#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "accesslog.h"
#include "await.h"
#include "config.h"
#include "conn.h"
#include "resolve.h"
#include "coro.h"
#include "dispatch.h"
#include "exchange.h"
#include "file.h"
#include "h2.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "path.h"
#include "peers.h"
#include "reactor.h"
#include "request.h"
#include "response.h"
#include "transport.h"
#include "zerocopy.h"

/* read_head's answer for the HTTP/2 preface (no status is 2). */
#define CONN_HEAD_H2C (-2)
/* A GET body larger than this is refused instead of read and dropped. */
#define CONN_DISCARD_MAX (64 * 1024)
/* A lingering close reads and drops at most this much, for this long. */
#define CONN_LINGER_BYTES (256 * 1024)
#define CONN_LINGER_MS 2000
/*
 * What a connection may send in one turn of its reactor's loop. A client
 * that reads as fast as the server writes (a warm file, a fast link)
 * never fills the socket, so no write waits: without a limit, one
 * response would hold the reactor and every other connection on it until
 * its last byte. nginx gives up its turn after sendfile_max_chunk, 2 MiB.
 */
#define CONN_TURN_BYTES (2 * 1024 * 1024)
/*
 * A connection's input buffer starts this small, from malloc's per-thread
 * cache, and grows to request_head_max + 1 for a head that needs it. At
 * full speed nearly every keep-alive request parks its connection (freeing
 * the buffer) and wakes it (taking one), and a 16 KiB malloc and free cost
 * more than parsing the request.
 */
#define CONN_BUFFER_START 1024

/*
 * Where a connection is in its life. Only a busy or waiting one has a
 * coroutine and an input buffer; a drain closes a waiting one by shutting
 * its socket down for reading, and frees a parked one outright.
 */
enum conn_state {
	CONN_BUSY,    /* its coroutine reads a head or answers */
	CONN_WAITING, /* its coroutine waits for a first byte */
	CONN_LOST,    /* a send failed: the coroutine unwinds */
	CONN_PARKING, /* the coroutine ends, then the conn parks */
	CONN_PARKED,  /* no coroutine, no buffer, until readable */
	CONN_EMPTY    /* the coroutine must end before it begins */
};

struct conn {
	struct transport transport;
	struct await_watch watch;
	const struct conn_env *env;
	unsigned listener;	  /* the id of its listener */
	int retiring;		  /* which is going away */
	struct reactor *reactor;  /* the thread it lives on */
	struct conn *prev, *next; /* the reactor's list */
	enum conn_state state;
	/* Parked, owed paced work (CONN_DUE_*), in the reactor's queue. */
	unsigned due;
	struct conn *due_prev, *due_next;
	int close_after; /* no keep-alive after this response */
	int http10_keep_alive;
	unsigned requests;
	long accepted_ms; /* or its TLS handshake done: the head's start */
	unsigned long sent_turn; /* the reactor's turn of sent_bytes */
	size_t sent_bytes;
	char peer[INET6_ADDRSTRLEN];
	struct peer *peer_count; /* this address's connections */
	struct h2_conn *h2;	 /* its HTTP/2 session, parked or not */
	long park_ms;		 /* how long it may wait parked */
	size_t in_len;
	/*
	 * One request head and the start of pipelined ones behind it, while
	 * active: CONN_BUFFER_START bytes, or request_head_max + 1.
	 */
	size_t in_size;
	char *in;
};

unsigned
conn_count(void)
{
	return reactor_current()->nconns;
}

/*
 * transport_read, or EAGAIN without a system call when the last read took
 * all there was and the socket has not been reported readable since: at
 * full speed a client sends its next request only after the response, so
 * the read after each response would find nothing (lighttpd and nginx do
 * not make it either). Readiness is reported only while the coroutine is
 * suspended, so what seen holds before a read is what the read consumes.
 */
static ssize_t
conn_recv(struct conn *c, void *buf, size_t len)
{
	int reported = c->watch.seen & EV_READ;
	ssize_t n;

	if (c->transport.drained && !reported) {
		c->transport.want = EV_READ;
		errno = EAGAIN;
		return -1;
	}
	c->watch.seen &= ~EV_READ;
	if ((n = transport_read(&c->transport, buf, len)) > 0 && !reported)
		reactor_read_unreported(c->reactor);
	return n;
}

/*
 * Reads into buf, waiting for what the transport wants until deadline
 * (an await_now_ms() time; -1: none). Returns what transport_read does,
 * and -1 with ETIMEDOUT when the deadline passes.
 */
static ssize_t
conn_read(struct conn *c, void *buf, size_t len, long deadline)
{
	long timeout;
	ssize_t n;

	for (;;) {
		if ((n = conn_recv(c, buf, len)) != -1 ||
		    (errno != EAGAIN && errno != EWOULDBLOCK))
			return n;
		if (deadline == -1)
			return -1;
		if ((timeout = deadline - await_now_ms()) <= 0) {
			errno = ETIMEDOUT;
			return -1;
		}
		if (await_watch(&c->watch, c->transport.want, timeout) == -1)
			return -1;
	}
}

/* n bytes went out without a wait: past the turn's share, a turn passes. */
static void
conn_sent(struct conn *c, size_t n)
{
	if (c->sent_turn != c->reactor->turn)
		c->sent_bytes = 0;
	if ((c->sent_bytes += n) >= CONN_TURN_BYTES) {
		(void)await_sleep(0);
		c->sent_bytes = 0;
	}
	c->sent_turn = c->reactor->turn;
}

/*
 * Writes all of iov, waiting for the socket to drain as often as needed,
 * and whatever the transport still holds of it (TLS records).
 */
static int
conn_writev(struct conn *c, struct iovec *iov, int iovcnt)
{
	ssize_t n;

	while (iovcnt > 0 || transport_unsent(&c->transport)) {
		n = transport_writev(&c->transport, iov, iovcnt);
		if (n == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				c->state = CONN_LOST;
				return -1;
			}
			if (await_watch(&c->watch, c->transport.want,
				c->env->cfg->send_timeout_ms) == -1) {
				log_at(c->env->cfg->log_level, LOG_LEVEL_DEBUG,
				    "%s: send timeout", c->peer);
				metrics_timeout(METRICS_TIMEOUT_SEND);
				c->state = CONN_LOST;
				return -1;
			}
			continue;
		}
		conn_sent(c, (size_t)n);
		while (iovcnt > 0 && (size_t)n >= iov->iov_len) {
			n -= iov->iov_len;
			iov++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			iov->iov_base = (char *)iov->iov_base + n;
			iov->iov_len -= n;
		}
	}
	return 0;
}

/* Statuses that mean the rest of the stream can no longer be trusted. */
static int
ends_connection(int status)
{
	return status == 400 || status == 408 || status == 413 ||
	    status == 414 || status == 431 || status == 500 || status == 501 ||
	    status == 505;
}

/*
 * r as HTTP/1.1 text, in place: the status line goes into the room
 * response.c keeps in front of the fields, Connection and the empty line
 * into the room behind them, so the head is one buffer and no copy.
 */
static size_t
render_head(struct conn *c, struct response *r, char **text)
{
	const char *reason = response_reason(r->status);
	const char *connection = "";
	size_t reason_len = strlen(reason), len;
	char *p, *end = r->head + r->len;

	if (c->close_after)
		connection = "Connection: close\r\n";
	else if (c->http10_keep_alive)
		connection = "Connection: keep-alive\r\n";
	p = r->head + RESPONSE_STATUS_LINE_MAX - (13 + reason_len + 2);
	memcpy(p, "HTTP/1.1 ", 9);
	p[9] = '0' + r->status / 100 % 10;
	p[10] = '0' + r->status / 10 % 10;
	p[11] = '0' + r->status % 10;
	p[12] = ' ';
	memcpy(p + 13, reason, reason_len);
	memcpy(p + 13 + reason_len, "\r\n", 2);
	len = strlen(connection);
	memcpy(end, connection, len);
	memcpy(end + len, "\r\n", 2);
	*text = p;
	return (size_t)(end + len + 2 - p);
}

static int
http1_send_head(
    struct exchange *x, struct response *r, const void *body, size_t len)
{
	struct conn *c = x->owner;
	struct iovec iov[2];
	char *text;

	/* A health answer may just have found its listener retiring. */
	if (ends_connection(r->status) || c->retiring)
		c->close_after = 1;
	/* The connection's own generation: a reload does not change it. */
	response_add_server(r, c->env->cfg->server_tokens);
	iov[0].iov_len = render_head(c, r, &text);
	iov[0].iov_base = text;
	iov[1].iov_base = (void *)body;
	iov[1].iov_len = len;
	return conn_writev(c, iov, len > 0 ? 2 : 1);
}

static int
http1_send_body(struct exchange *x, const void *buf, size_t len)
{
	struct iovec iov = { (void *)buf, len };

	return conn_writev(x->owner, &iov, 1);
}

/* Whether a send's errno says the peer or the path to it is gone. */
static int
socket_gone(int err)
{
	switch (err) {
	case EPIPE:
	case ECONNRESET:
	case ECONNABORTED:
	case ENOTCONN:
	case ESHUTDOWN:
	case ETIMEDOUT:
	case EHOSTUNREACH:
	case ENETUNREACH:
	case ENETDOWN:
		return 1;
	default:
		return 0;
	}
}

/*
 * The head and buf ride in front of the file's first bytes, so a response
 * sent this way takes as few calls and segments as the copy path's. Each
 * call's EAGAIN waits for the socket with the send timeout, as
 * conn_writev does, so a slow client holds only its own coroutine.
 */
static int
http1_send_file(struct exchange *x, struct response *r, const void *buf,
    size_t len, int fd, uint64_t off, uint64_t count, int local)
{
	struct conn *c = x->owner;
	struct iovec iov[2], *v = iov;
	int iovcnt = 0, sent = 0, cold = !local;
	size_t head_left = 0;
	char *text;
	ssize_t n;

	if (r != NULL) {
		if (ends_connection(r->status))
			c->close_after = 1;
		response_add_server(r, c->env->cfg->server_tokens);
		iov[iovcnt].iov_len = head_left = render_head(c, r, &text);
		iov[iovcnt++].iov_base = text;
	}
	if (len > 0) {
		iov[iovcnt].iov_base = (void *)buf;
		iov[iovcnt++].iov_len = len;
	}
	while (iovcnt > 0 || count > 0) {
		n = zerocopy_send(&c->transport, &cold, v, iovcnt, fd,
		    (off_t)off, count < SIZE_MAX ? (size_t)count : SIZE_MAX);
		if (n == -1) {
			/*
			 * Only the file's error leaves room for an error
			 * answer; a client gone before the first byte is an
			 * abort, as it is on the copy path, not a 500.
			 */
			if (!sent && errno != EAGAIN && errno != EWOULDBLOCK &&
			    !socket_gone(errno))
				return 1;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				goto lost;
			if (await_watch(&c->watch, c->transport.want,
				c->env->cfg->send_timeout_ms) == -1) {
				log_at(c->env->cfg->log_level, LOG_LEVEL_DEBUG,
				    "%s: send timeout", c->peer);
				metrics_timeout(METRICS_TIMEOUT_SEND);
				goto lost;
			}
			continue;
		}
		if (n == 0 && iovcnt == 0) {
			errno = ENODATA;
			if (!sent)
				return 1;
			goto lost;
		}
		sent = 1;
		conn_sent(c, (size_t)n);
		/* Counted as they go: a cut-off download logs its bytes. */
		x->body_bytes += (uint64_t)n -
		    ((size_t)n < head_left ? (size_t)n : head_left);
		head_left -= (size_t)n < head_left ? (size_t)n : head_left;
		while (iovcnt > 0 && (size_t)n >= v->iov_len) {
			n -= v->iov_len;
			v++;
			iovcnt--;
		}
		if (iovcnt > 0) {
			v->iov_base = (char *)v->iov_base + n;
			v->iov_len -= n;
			n = 0;
		}
		off += (uint64_t)n;
		count -= (uint64_t)n;
	}
	return 0;
lost:
	c->state = CONN_LOST;
	return -1;
}

static const struct exchange_ops http1_ops = {
	.send_head = http1_send_head,
	.send_body = http1_send_body,
	.send_file = http1_send_file,
};

/* Over a transport that must see the bytes (TLS): handlers copy them. */
static const struct exchange_ops http1_copy_ops = {
	.send_head = http1_send_head,
	.send_body = http1_send_body,
};

static const struct exchange_ops *
http1_ops_for(const struct conn *c)
{
	return c->transport.ops->sendfile != NULL ? &http1_ops
						  : &http1_copy_ops;
}

/*
 * The header deadline passed: a 408 for a head begun, a silent close for
 * a connection that never sent a byte (as nginx does: there is no request
 * to answer, and a preconnecting browser would only log noise).
 */
static long
head_timeout(struct conn *c)
{
	metrics_timeout(METRICS_TIMEOUT_HEADER);
	log_at(c->env->cfg->log_level, LOG_LEVEL_DEBUG,
	    "%s: header timeout with %zu bytes", c->peer, c->in_len);
	return c->in_len > 0 ? -408 : 0;
}

/*
 * Whether buf holds an empty line (the end of a head) at or after
 * *scanned, which it moves on: each byte is looked at about once, however
 * finely the head trickles in. CRLF and a bare LF both end a line.
 */
static int
head_end_seen(const char *buf, size_t len, size_t *scanned)
{
	size_t i;

	for (i = *scanned; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (i + 1 == len || (i + 2 == len && buf[i + 1] == '\r')) {
			*scanned = i; /* undecided until more comes */
			return 0;
		}
		if (buf[i + 1] == '\n' ||
		    (buf[i + 1] == '\r' && buf[i + 2] == '\n')) {
			/* Past it: leading empty lines are no end. */
			*scanned = i + 1;
			return 1;
		}
	}
	*scanned = len;
	return 0;
}

/*
 * With h2c on, whether a plain connection's first bytes are the HTTP/2
 * preface: 1 when they are, -1 while they may still be (too few bytes to
 * tell: the HTTP/1.1 parser must not see them yet), 0 when they are not.
 */
static int
h2c_preface(const struct conn *c)
{
	size_t n = c->in_len < H2_PREFACE_LEN ? c->in_len : H2_PREFACE_LEN;

	if (!c->env->cfg->h2c || c->env->metrics_only || c->requests > 0 ||
	    c->transport.ssl != NULL || c->in_len == 0 ||
	    memcmp(c->in, H2_PREFACE, n) != 0)
		return 0;
	return n == H2_PREFACE_LEN ? 1 : -1;
}

/*
 * Reads until buf holds a whole request head. Returns its length, 0 when
 * the connection should simply close, or a negated status to answer.
 *
 * The parser starts over from the head's first byte, so running it on
 * every arrival would cost time quadratic in the head's size for a client
 * trickling it in small segments (seconds of reactor time at a 1 MiB
 * request_head_max). It runs when the head's end has come, when
 * request_head_max + 1 bytes have come, and otherwise only once the input
 * has doubled since the last run: linear in all, and a bad head is still
 * refused early. Answers 503 when a long head finds no memory to grow into.
 * CONN_HEAD_H2C: the client sent the HTTP/2 preface, and h2c is on.
 */
static long
read_head(struct conn *c, struct request *req)
{
	const struct config *cfg = c->env->cfg;
	size_t room = (size_t)cfg->request_limits.head_max + 1;
	long deadline = -1, timeout, r;
	size_t parsed = 0, scanned = 0;
	ssize_t n;
	char *in;
	int h2;

	for (;;) {
		if ((h2 = h2c_preface(c)) == 1)
			return CONN_HEAD_H2C;
		if (h2 == 0 && c->in_len > 0 &&
		    (c->in_len >= 2 * parsed || c->in_len == room ||
			head_end_seen(c->in, c->in_len, &scanned))) {
			parsed = c->in_len;
			if ((r = request_parse_limited(req, c->in, c->in_len,
				 &cfg->request_limits)) != 0)
				return r;
			if (c->in_len == room)
				return -431;
		}
		/* A head longer than the first buffer: room for the longest. */
		if (c->in_len == c->in_size) {
			if ((in = realloc(c->in, room)) == NULL)
				return -503;
			c->in = in;
			c->in_size = room;
		}
		/*
		 * One deadline for the whole head, from the connection's start
		 * or the first byte of a later request: trickling bytes buys
		 * nothing.
		 */
		if (deadline == -1 && c->requests == 0)
			deadline = c->accepted_ms + cfg->header_timeout_ms;
		else if (deadline == -1 && c->in_len > 0)
			deadline = await_now_ms() + cfg->header_timeout_ms;
		n = conn_recv(c, c->in + c->in_len, c->in_size - c->in_len);
		if (n > 0) {
			c->in_len += n;
			continue;
		}
		if (n == 0)
			return 0;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return 0;
		if (c->in_len == 0 && c->reactor->draining)
			return 0;
		if (deadline == -1) {
			/*
			 * Idle between requests: the coroutine ends and the
			 * connection waits parked, holding no stack or buffer.
			 * Waiting here a while first was measured: it saved no
			 * CPU per request, and 10,000 connections idle at once
			 * then held 34 KiB each instead of under 2.
			 */
			c->state = CONN_PARKING;
			c->park_ms = cfg->keepalive_timeout_ms;
			return 0;
		} else if ((timeout = deadline - await_now_ms()) <= 0)
			return head_timeout(c);
		c->state = c->in_len == 0 ? CONN_WAITING : CONN_BUSY;
		r = await_watch(&c->watch, c->transport.want, timeout);
		c->state = CONN_BUSY;
		if (r == -1)
			return head_timeout(c);
	}
}

static void
consume(struct conn *c, size_t len)
{
	memmove(c->in, c->in + len, c->in_len - len);
	c->in_len -= len;
}

/* Drops a request body we do not want, so the next request lines up. */
static int
discard_body(struct conn *c, uint64_t len)
{
	/* The body gets the same kind of deadline as a head. */
	long deadline = await_now_ms() + c->env->cfg->header_timeout_ms;
	ssize_t n;
	size_t take;

	while (len > 0) {
		if (c->in_len > 0) {
			take = c->in_len < len ? c->in_len : (size_t)len;
			consume(c, take);
			len -= take;
			continue;
		}
		if ((n = conn_read(c, c->in, c->in_size, deadline)) <= 0)
			return -1;
		c->in_len = (size_t)n;
	}
	return 0;
}

/* Answers one parsed request; returns -1 when the connection must close. */
static int
handle(struct conn *c, struct exchange *x)
{
	const struct request *req = x->req;
	const struct dispatch_origin origin = { c->env, c->peer, &c->transport,
		c->listener, &c->retiring };

	if (req->transfer_encoding)
		return exchange_send_error(x, 501), -1;
	/*
	 * A body is answered first and dropped after. Rather than guess
	 * whether a client waiting for 100-continue will still send it, or
	 * read a large one, close instead.
	 */
	if (req->content_length > CONN_DISCARD_MAX ||
	    (req->content_length > 0 && req->expect_continue))
		c->close_after = 1;

	return dispatch_request(&origin, x);
}

/*
 * Whether the client sent more than was answered: bytes in the buffer
 * (pipelined requests, a body) or waiting in the socket. nginx's test
 * for a lingering close; a client that sent one request and waits gets
 * a plain close, as it always did.
 */
static int
input_pending(struct conn *c)
{
	return c->in_len > 0 ||
	    transport_input(&c->transport) == TRANSPORT_INPUT_READY;
}

/*
 * Closing while the client is still sending (pipelined requests past
 * keepalive_requests, a head refused with 431, a drain): close() with
 * unread input makes the kernel send a reset, and a reset makes the
 * client's kernel drop response bytes it has not read yet. So send our
 * FIN first, then read and drop what still comes until the client closes
 * too, CONN_LINGER_BYTES have come or CONN_LINGER_MS have passed (nginx's
 * lingering_close). An abort shuts the socket down for reading as well,
 * which ends this at once.
 */
static void
conn_linger(struct conn *c)
{
	long deadline = await_now_ms() + CONN_LINGER_MS;
	size_t dropped = 0;
	ssize_t n;

	c->in_len = 0;
	if (transport_shutdown(&c->transport, SHUT_WR) == -1)
		return;
	while (dropped < CONN_LINGER_BYTES) {
		if ((n = conn_read(c, c->in, c->in_size, deadline)) <= 0)
			return;
		dropped += (size_t)n;
	}
	log_at(c->env->cfg->log_level, LOG_LEVEL_DEBUG,
	    "%s: lingering close: %zu bytes dropped, closing", c->peer,
	    dropped);
}

/*
 * The TLS handshake, on the connection's coroutine before its first
 * request, with a deadline of its own from the accept: a client trickling
 * it is cut off like one trickling a head. 0 when it is done, -1 when the
 * connection closes, or -400 when the client speaks plain HTTP to this
 * port (the transport is plain now, for the answer).
 */
static long
conn_handshake(struct conn *c)
{
	long deadline = c->accepted_ms + c->env->cfg->tls.handshake_timeout_ms;
	const char *protocol, *cipher, *server_name;
	long timeout;
	int r;

	for (;;) {
		switch (transport_handshake(&c->transport)) {
		case TRANSPORT_HANDSHAKE_DONE:
			transport_tls_info(
			    &c->transport, &protocol, &cipher, &server_name);
			metrics_tls_handshake(
			    transport_tls_resumed(&c->transport), protocol,
			    cipher);
			c->accepted_ms = await_now_ms();
			return 0;
		case TRANSPORT_HANDSHAKE_PLAIN_HTTP:
			metrics_tls_failure(METRICS_TLS_PLAIN_HTTP);
			log_at(c->env->cfg->log_level, LOG_LEVEL_DEBUG,
			    "%s: plain HTTP on a TLS port", c->peer);
			return -400;
		case TRANSPORT_HANDSHAKE_CLOSED:
			return -1;
		case TRANSPORT_HANDSHAKE_FAILED:
			metrics_tls_failure(c->transport.failure);
			log_at(c->env->cfg->log_level, LOG_LEVEL_DEBUG,
			    "%s: TLS handshake failed", c->peer);
			return -1;
		case TRANSPORT_HANDSHAKE_AGAIN:
			break;
		}
		if ((timeout = deadline - await_now_ms()) <= 0)
			break;
		/* Waiting on the client: a drain ends it at once. */
		c->state = CONN_WAITING;
		r = await_watch(&c->watch, c->transport.want, timeout);
		c->state = CONN_BUSY;
		if (r == -1)
			break;
	}
	metrics_tls_failure(METRICS_TLS_TIMEOUT);
	log_at(c->env->cfg->log_level, LOG_LEVEL_DEBUG,
	    "%s: TLS handshake timeout", c->peer);
	return -1;
}

/*
 * The connection speaks HTTP/2 from here to its end (ALPN chose h2, or
 * the h2c preface came, already read into preread), on this coroutine,
 * or goes on with its parked session.
 */
static void
conn_h2(struct conn *c, const void *preread, size_t len)
{
	const struct h2_host host = { &c->transport, &c->watch, c->env, c->peer,
		c->listener, &c->retiring, c->reactor->draining };
	long park;

	if (c->h2 != NULL)
		park = h2_resume(c->h2, &host);
	else {
		c->requests++;
		c->close_after = 1;
		park = h2_serve(&host, preread, len, &c->h2);
	}
	if (park >= 0) {
		c->state = CONN_PARKING;
		c->park_ms = park;
		return;
	}
	c->h2 = NULL;
	c->in_len = 0; /* the preface, if it came here */
	/* A reset would drop the GOAWAY a flood or a timeout was sent. */
	if (input_pending(c))
		conn_linger(c);
}

static void
conn_main(void *arg)
{
	struct conn *c = arg;
	struct dispatch_origin origin;
	struct request req;
	struct exchange x;
	long head_len, start_ms;
	int rc;

	if (c->state == CONN_EMPTY)
		return;
	for (;;) {
		if (c->h2 != NULL) {
			conn_h2(c, NULL, 0);
			break;
		}
		if (c->transport.handshaking &&
		    (head_len = conn_handshake(c)) < 0) {
			if (head_len == -1)
				break;
		} else if (c->requests == 0 &&
		    transport_tls_h2(&c->transport)) {
			conn_h2(c, NULL, 0);
			break;
		} else if ((head_len = read_head(c, &req)) == 0)
			break;
		if (head_len == CONN_HEAD_H2C) {
			conn_h2(c, c->in, c->in_len);
			break;
		}
		if (head_len < 0) {
			exchange_init(
			    &x, http1_ops_for(c), c, NULL, c->env->roots[0]);
			c->close_after = 1;
			exchange_send_error(&x, (int)-head_len);
			metrics_request(x.status, x.body_bytes);
			log_at(c->env->cfg->log_level, LOG_LEVEL_DEBUG,
			    "%s: bad request: %ld", c->peer, -head_len);
			/* The rest of a refused head may still be coming. */
			if (x.head_sent && c->state != CONN_LOST)
				conn_linger(c);
			break;
		}
		c->requests++;
		exchange_init(&x, http1_ops_for(c), c, &req,
		    dispatch_root(c->env, req.host));
		c->close_after = !req.keep_alive || c->reactor->draining ||
		    c->retiring || c->env->cfg->keepalive_timeout_ms == 0 ||
		    (c->env->cfg->keepalive_requests > 0 &&
			c->requests >= c->env->cfg->keepalive_requests);
		c->http10_keep_alive = req.keep_alive && req.version_minor == 0;
		/* The head stays in c->in until the response is logged. */
		start_ms = await_now_ms();
		rc = handle(c, &x);
		origin = (struct dispatch_origin){ c->env, c->peer,
			&c->transport, c->listener, &c->retiring };
		dispatch_log(&origin, &x, start_ms);
		if (x.head_sent)
			metrics_request(x.status, x.body_bytes);
		consume(c, (size_t)head_len);
		if (rc == -1 || c->close_after || c->state == CONN_LOST) {
			/* An answer sent in full, and the client goes on. */
			if (x.head_sent && c->state != CONN_LOST &&
			    input_pending(c))
				conn_linger(c);
			break;
		}
		if (req.content_length > 0 &&
		    discard_body(c, (uint64_t)req.content_length) == -1)
			break;
	}
}

static void conn_finish(void *);

static void
due_clear(struct conn *c)
{
	struct reactor *r = c->reactor;

	if (c->due == 0)
		return;
	c->due = 0;
	if (c->due_prev != NULL)
		c->due_prev->due_next = c->due_next;
	else
		r->due = c->due_next;
	if (c->due_next != NULL)
		c->due_next->due_prev = c->due_prev;
	else
		r->due_tail = c->due_prev;
	c->due_prev = c->due_next = NULL;
}

static void
conn_free(struct conn *c)
{
	due_clear(c);
	if (c->h2 != NULL)
		h2_free(c->h2);
	await_watch_close(&c->watch);
	free(c->in);
	transport_close(&c->transport);
	peers_release(c->peer_count);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		c->reactor->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->reactor->nconns--;
	metrics_connection_closed();
	if (c->env->closed != NULL)
		c->env->closed(c->env->arg);
	free(c);
}

static void
peer_text(const struct sockaddr *sa, char *buf, size_t len)
{
	const void *addr;

	if (sa->sa_family == AF_INET6)
		addr = &((const struct sockaddr_in6 *)sa)->sin6_addr;
	else
		addr = &((const struct sockaddr_in *)sa)->sin_addr;
	if (inet_ntop(sa->sa_family, addr, buf, len) == NULL)
		snprintf(buf, len, "?");
}

/*
 * Gives a connection a coroutine and a buffer: at accept, and when a
 * parked connection turns readable. -1 when they cannot be had.
 */
static int
conn_activate(struct conn *c)
{
	struct coro *co;

	c->in_size = (size_t)c->env->cfg->request_limits.head_max + 1;
	if (c->in_size > CONN_BUFFER_START)
		c->in_size = CONN_BUFFER_START;
	if ((c->in = malloc(c->in_size)) == NULL)
		return -1;
	if ((co = coro_create(conn_main, c)) == NULL)
		goto fail;
	if (coro_defer(co, conn_finish, c) == -1) {
		/* Run it empty: only a finished coroutine gives its stack back.
		 */
		c->state = CONN_EMPTY;
		coro_resume(co);
		goto fail;
	}
	c->state = CONN_BUSY;
	coro_resume(co);
	return 0;
fail:
	free(c->in);
	c->in = NULL;
	return -1;
}

/*
 * Answers 503 from static memory and closes: what a client gets when no
 * buffer or coroutine can be had for it. What it sent is read first (a
 * bounded amount), so the close is a FIN rather than a reset that could
 * destroy the answer before the client reads it.
 */
static void
refuse(struct transport *t)
{
	static const char answer[] =
	    "HTTP/1.1 503 Service Unavailable\r\n"
	    "Content-Length: 0\r\nRetry-After: 1\r\nConnection: close\r\n"
	    "\r\n";
	const struct iovec iov = { (void *)answer, sizeof answer - 1 };
	char drain[1024];
	int i;

	for (i = 0; i < 64 && transport_read(t, drain, sizeof drain) > 0; i++)
		;
	if (transport_writev(t, &iov, 1) > 0)
		metrics_request(503, 0);
	metrics_refused(METRICS_REFUSED_NO_MEMORY);
}

/* The same for a connection, which it frees; silently if the client left. */
static void
conn_refuse(struct conn *c)
{
	/* Short of memory, every parked connection that wakes ends here. */
	static struct log_ratelimit rl = LOG_RATELIMIT_INITIALIZER(10);

	if (transport_input(&c->transport) == TRANSPORT_INPUT_CLOSED) {
		/* Gone already: no one to answer, nothing refused. */
		log_at(c->env->cfg->log_level, LOG_LEVEL_DEBUG,
		    "%s: closed before its request", c->peer);
		conn_free(c);
		return;
	}
	refuse(&c->transport);
	log_warnx_limited(&rl, "%s: no memory for a connection: 503", c->peer);
	conn_free(c);
}

/*
 * Work owed to parked HTTP/2 sessions is done CONN_DUE_PER_TURN at a
 * time, a loop turn apart, first come first served: the wakes of those
 * that wake by themselves (a reload's or a drain's GOAWAY, a deadline),
 * about 35 us each over TLS, and the give-backs of those parked a second
 * (h2_trim), three madvise calls each. A reload that woke 10,000 idle
 * connections at once held every other request 345 ms, their notices'
 * deadlines a second later 172; giving back the buffers of as many that
 * had gone idle together, in one tick of the trim timer, 253.
 */
#define CONN_DUE_PER_TURN 64
#define CONN_DUE_WAKE 1 /* wake its session */
#define CONN_DUE_TRIM 2 /* give its session's idle buffers back */

static const struct timeval conn_next_turn = { 0, 0 };

static void
conn_h2_wake(struct conn *c)
{
	await_watch_unpark(&c->watch);
	if (conn_activate(c) == -1)
		conn_free(c);
}

/*
 * Arms the next turn's batch for a queue with work in it. An add that
 * fails (libevent's timer heap could not grow) is tried again at the
 * next conn_due_add() or trim tick, so the queue cannot stall for good.
 */
static void
due_arm(struct reactor *r)
{
	/* Entries are queued only once due_ev exists. */
	if (r->due != NULL && !evtimer_pending(r->due_ev, NULL))
		(void)evtimer_add(r->due_ev, &conn_next_turn);
}

static void
conn_due_run(struct conn *c, unsigned due)
{
	if (due & CONN_DUE_WAKE)
		conn_h2_wake(c);
	else
		h2_give_back(c->h2);
}

static void
conn_due_turn(evutil_socket_t fd, short what, void *arg)
{
	struct reactor *r = arg;
	struct conn *c;
	unsigned done, due;

	(void)fd;
	(void)what;
	for (done = 0; (c = r->due) != NULL; done++) {
		/* Without the next turn's timer, all of it in this one. */
		if (done >= CONN_DUE_PER_TURN &&
		    evtimer_add(r->due_ev, &conn_next_turn) == 0)
			return;
		due = c->due;
		due_clear(c);
		conn_due_run(c, due);
	}
}

static void
conn_due_add(struct conn *c, unsigned due)
{
	struct reactor *r = c->reactor;

	if (c->due != 0) {
		c->due |= due;
		return;
	}
	if (r->due_ev == NULL &&
	    (r->due_ev = evtimer_new(r->base, conn_due_turn, r)) == NULL) {
		conn_due_run(c, due);
		return;
	}
	c->due = due;
	c->due_prev = r->due_tail;
	if (r->due_tail != NULL)
		r->due_tail->due_next = c;
	else
		r->due = c;
	r->due_tail = c;
	due_arm(r);
}

static void
conn_wake(void *arg, int timed_out)
{
	struct conn *c = arg;

	due_clear(c); /* its client came first */
	if (timed_out && c->h2 != NULL)
		conn_due_add(c, CONN_DUE_WAKE); /* for a GOAWAY */
	else if (timed_out) {
		if (c->transport.handshaking)
			metrics_tls_failure(METRICS_TLS_TIMEOUT);
		else if (c->requests == 0)
			metrics_timeout(METRICS_TIMEOUT_HEADER);
		conn_free(c);
	} else if (conn_activate(c) == -1)
		conn_refuse(c);
}

/*
 * Waits for c's next byte with no coroutine and no buffer, for at most
 * timeout_ms: 0, or -1 when the watch cannot be armed. Only after
 * conn_recv found nothing, since an edge that came before is not seen
 * again.
 */
static int
conn_park(struct conn *c, long timeout_ms)
{
	if (await_watch_idle(&c->watch, timeout_ms, conn_wake, c) == -1)
		return -1;
	c->state = CONN_PARKED;
	return 0;
}

/*
 * Parks a new connection whose client has sent nothing yet: 0, or -1. A
 * TLS client has tls_handshake_timeout_ms from the accept to finish its
 * handshake, the head its header_timeout_ms.
 */
static int
park_new(struct conn *c)
{
	if (transport_input(&c->transport) != TRANSPORT_INPUT_NONE)
		return -1;
	return conn_park(c,
	    c->transport.handshaking ? c->env->cfg->tls.handshake_timeout_ms
				     : c->env->cfg->header_timeout_ms);
}

/* The end of a coroutine: park the connection, or free it. */
static void
conn_finish(void *arg)
{
	struct conn *c = arg;

	/* A draining one only while its HTTP/2 client has the notice. */
	if (c->state == CONN_PARKING &&
	    (!c->reactor->draining || c->h2 != NULL)) {
		free(c->in);
		c->in = NULL;
		if (conn_park(c, c->park_ms) == 0)
			return;
	}
	conn_free(c);
}

int
conn_start(const struct conn_env *env, unsigned listener, int tls, int fd,
    const struct sockaddr *peer, socklen_t peerlen)
{
	struct conn *c;
	struct peer *pc;
	struct transport t;

	if ((pc = peers_acquire(peer, env->cfg->max_connections_per_client)) ==
	    NULL) {
		if (errno != EAGAIN)
			goto fail;
		/* Closed at once: a 503 would need the resources refused. */
		metrics_refused(METRICS_REFUSED_PER_CLIENT);
		close(fd);
		return 0;
	}
	if ((c = calloc(1, sizeof *c)) == NULL)
		goto fail_peer;
	c->peer_count = pc;
	if (await_watch_open(&c->watch, fd) == -1)
		goto fail_conn;
	if (!tls)
		transport_socket_init(&c->transport, fd);
	else if (env->tls == NULL ||
	    transport_tls_init(&c->transport, fd, env->tls) == -1)
		goto fail_watch;
	c->env = env;
	c->listener = listener;
	c->retiring = env->retiring;
	c->accepted_ms = await_now_ms();
	peer_text(peer, c->peer, sizeof c->peer);
	c->reactor = reactor_current();
	c->next = c->reactor->conns;
	if (c->next != NULL)
		c->next->prev = c;
	c->reactor->conns = c;
	c->reactor->nconns++;
	metrics_connection_opened();
	if (env->opened != NULL)
		env->opened(env->arg);
	/*
	 * Nothing sent yet: wait parked, with no stack or buffer, as an idle
	 * keep-alive connection does. 10,000 connections opened before their
	 * first request held 9 KiB each otherwise.
	 */
	if (park_new(c) == 0 || conn_activate(c) == 0)
		return 0;
	/*
	 * No memory: wait for the request without a coroutine, as a parked
	 * connection does, and try again then; a 503 if it is already there
	 * or memory is still short.
	 */
	if (park_new(c) == -1)
		conn_refuse(c);
	return -1;

fail_watch:
	await_watch_close(&c->watch);
fail_conn:
	free(c);
fail_peer:
	peers_release(pc);
fail:
	log_warn("cannot serve a new connection");
	transport_socket_init(&t, fd);
	refuse(&t);
	transport_close(&t);
	return -1;
}

/*
 * GOAWAY: its streams finish. A parked session is woken to send it, as
 * the client will not wake it.
 */
static void
conn_h2_drain(struct conn *c)
{
	h2_drain(c->h2);
	if (c->state == CONN_PARKED)
		conn_due_add(c, CONN_DUE_WAKE);
}

void
conn_listener_retiring(unsigned listener, int retiring)
{
	struct conn *c, *next;

	for (c = reactor_current()->conns; c != NULL; c = next) {
		next = c->next;
		if (c->listener == listener) {
			c->retiring = retiring;
			if (retiring && c->h2 != NULL)
				conn_h2_drain(c);
		}
	}
}

void
conn_generation_taken(const struct config *cfg)
{
	struct conn *c, *next;

	for (c = reactor_current()->conns; c != NULL; c = next) {
		next = c->next;
		if (c->h2 != NULL && c->env->cfg != cfg)
			conn_h2_drain(c);
	}
}

void
conn_drain(void)
{
	struct reactor *r = reactor_current();
	struct conn *c, *next;

	r->draining = 1;
	for (c = r->conns; c != NULL; c = next) {
		next = c->next;
		c->close_after = 1;
		if (c->h2 != NULL)
			conn_h2_drain(c);
		else if (c->state == CONN_PARKED)
			conn_free(c); /* idle, with no coroutine to unwind */
		else if (c->state == CONN_WAITING)
			transport_shutdown(&c->transport, SHUT_RD);
	}
}

void
conn_trim(void)
{
	struct reactor *r = reactor_current();
	struct conn *c;

	for (c = r->conns; c != NULL; c = c->next)
		if (c->state == CONN_PARKED && c->h2 != NULL && h2_trim(c->h2))
			conn_due_add(c, CONN_DUE_TRIM);
	due_arm(r);
}

void
conn_abort_all(void)
{
	struct conn *c, *next;

	for (c = reactor_current()->conns; c != NULL; c = next) {
		next = c->next;
		if (c->state == CONN_PARKED)
			conn_free(c);
		else
			transport_shutdown(&c->transport, SHUT_RDWR);
	}
}
