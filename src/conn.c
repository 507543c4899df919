/*
 * Connections. A connection's coroutine owns its struct conn: it is
 * allocated before the coroutine starts and freed by a deferred function
 * when the coroutine returns, whichever way it returns. Other code only
 * ever touches a connection through the list below, to wake it for a
 * drain or an abort; waking means shutting the socket down, which makes
 * the coroutine's own pending read or write fail, so the coroutine always
 * unwinds itself.
 */
#include "autoconf.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
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
#include "file.h"
#include "health.h"
#include "log.h"
#include "metrics.h"
#include "path.h"
#include "peers.h"
#include "request.h"
#include "response.h"

/* A GET body larger than this is refused instead of read and dropped. */
#define CONN_DISCARD_MAX	(64 * 1024)
/* A lingering close reads and drops at most this much, for this long. */
#define CONN_LINGER_BYTES	(256 * 1024)
#define CONN_LINGER_MS		2000
#define ALLOW_METHODS		"GET, HEAD, OPTIONS"

struct conn {
	int			 fd;
	struct await_watch	 watch;
	const struct conn_env	*env;
	unsigned		 listener;	/* the id of its listener */
	int			 retiring;	/* which is going away */
	const struct docroot	*root;		/* the site of this request */
	struct conn		*prev, *next;
	int			 idle;		/* waiting for a request's first byte */
	int			 close_after;	/* no keep-alive after this response */
	int			 http10_keep_alive;
	unsigned		 requests;
	int			 status;	/* of the response being sent */
	uint64_t		 body_bytes;
	int			 head_sent;
	int			 lost;		/* a send failed */
	long			 accepted_ms;
	int			 park;		/* the coroutine ends idle */
	int			 parked;	/* no coroutine, no buffer */
	char			 peer[INET6_ADDRSTRLEN];
	struct peer		*peer_count;	/* this address's connections */
	size_t			 in_len;
	/*
	 * One request head and the start of pipelined ones behind it:
	 * request_head_max + 1 bytes, while active.
	 */
	size_t			 in_size;
	char			*in;
};

static struct conn	*conns;
static unsigned		 nconns;
static int		 draining;

unsigned
conn_count(void)
{
	return nconns;
}

const struct docroot *
conn_docroot(const struct conn *c)
{
	return c->root;
}

static int
host_matches(const char *name, const char *host, size_t len)
{
	size_t	 namelen = strlen(name);

	if (name[0] == '*' && name[1] == '.')
		/* "*.example.com" matches any name below example.com. */
		return len > namelen - 1 &&
		    strncasecmp(host + len - (namelen - 1), name + 1,
		    namelen - 1) == 0;
	return len == namelen && strncasecmp(host, name, len) == 0;
}

/*
 * Virtual hosts: the first site naming the host exactly, else the first
 * whose wildcard matches, else the default site.
 */
static const struct docroot *
select_root(const struct conn_env *env, struct slice host)
{
	const struct site_config	*site;
	const char			*end;
	size_t				 i, j, len = host.len;
	int				 wild;

	if (host.ptr == NULL)
		return env->roots[0];
	/* Drop the port (not inside an IPv6 literal) and a trailing dot. */
	end = memchr(host.ptr, ']', host.len);
	for (j = end != NULL ? (size_t)(end - host.ptr) : 0; j < host.len; j++)
		if (host.ptr[j] == ':') {
			len = j;
			break;
		}
	if (len > 0 && host.ptr[len - 1] == '.')
		len--;
	for (wild = 0; wild < 2; wild++)
		for (i = 1; i < env->root_count; i++) {
			site = env->roots[i]->site;
			for (j = 0; j < site->name_count; j++)
				if ((site->names[j][0] == '*') == wild &&
				    host_matches(site->names[j], host.ptr, len))
					return env->roots[i];
		}
	return env->roots[0];
}

/* Writes all of iov, waiting for the socket to drain as often as needed. */
static int
conn_writev(struct conn *c, struct iovec *iov, int iovcnt)
{
	struct msghdr	 msg;
	ssize_t		 n;

	while (iovcnt > 0) {
		memset(&msg, 0, sizeof msg);
		msg.msg_iov = iov;
		msg.msg_iovlen = iovcnt;
		n = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				c->lost = 1;
				return -1;
			}
			if (await_watch(&c->watch, EV_WRITE,
			    c->env->cfg->send_timeout_ms) == -1) {
				log_at(c->env->cfg->log_level,
				    LOG_LEVEL_DEBUG, "%s: send timeout",
				    c->peer);
				metrics_timeout(METRICS_TIMEOUT_SEND);
				c->lost = 1;
				return -1;
			}
			continue;
		}
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

int
conn_send_head(struct conn *c, struct response *r, const void *body,
    size_t len)
{
	struct iovec	 iov[2];

	response_add_server(r, c->env->cfg->server_tokens);
	if (c->close_after)
		response_add_str(r, "Connection", "close");
	else if (c->http10_keep_alive)
		response_add_str(r, "Connection", "keep-alive");
	if (response_end(r) == -1) {
		log_warnx("%s: response head for %d too large", c->peer,
		    r->status);
		if (r->status == 500)
			return -1;
		return conn_send_error(c, NULL, 500), -1;
	}
	if (body == NULL)
		len = 0;
	c->status = r->status;
	c->head_sent = 1;
	iov[0].iov_base = r->head;
	iov[0].iov_len = r->len;
	iov[1].iov_base = (void *)body;
	iov[1].iov_len = len;
	if (conn_writev(c, iov, len > 0 ? 2 : 1) == -1)
		return -1;
	c->body_bytes += len;
	return 0;
}

int
conn_send_body(struct conn *c, const void *buf, size_t len)
{
	struct iovec	 iov = { (void *)buf, len };

	if (conn_writev(c, &iov, 1) == -1)
		return -1;
	c->body_bytes += len;
	return 0;
}

int
conn_send_error(struct conn *c, const struct request *req, int status)
{
	struct response	 r;
	char		 body[RESPONSE_ERROR_BODY_MAX];
	size_t		 len;

	/* Statuses that mean the stream can no longer be trusted. */
	if (status == 400 || status == 408 || status == 413 || status == 414 ||
	    status == 431 || status == 500 || status == 501 || status == 505)
		c->close_after = 1;
	len = response_error_body(status, body);
	response_begin(&r, status);
	if (status == 405)
		response_add(&r, "Allow", ALLOW_METHODS);
	response_add(&r, "Content-Type", "text/html; charset=utf-8");
	response_add(&r, "Content-Length", "%zu", len);
	return conn_send_head(c, &r, req != NULL && req->method == HTTP_HEAD ?
	    NULL : body, len);
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
	size_t	 i;

	for (i = *scanned; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (i + 1 == len || (i + 2 == len && buf[i + 1] == '\r')) {
			*scanned = i;	/* undecided until more comes */
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
 * Reads until buf holds a whole request head. Returns its length, 0 when
 * the connection should simply close, or a negated status to answer.
 *
 * The parser starts over from the head's first byte, so running it on
 * every arrival would cost time quadratic in the head's size for a client
 * trickling it in small segments (seconds of reactor time at a 1 MiB
 * request_head_max). It runs when the head's end has come, when the
 * buffer is full, and otherwise only once the input has doubled since the
 * last run: linear in all, and a bad head is still refused early.
 */
static long
read_head(struct conn *c, struct request *req)
{
	const struct config	*cfg = c->env->cfg;
	long			 deadline = -1, timeout, r;
	size_t			 parsed = 0, scanned = 0;
	ssize_t			 n;

	for (;;) {
		if (c->in_len > 0 && (c->in_len >= 2 * parsed ||
		    c->in_len == c->in_size ||
		    head_end_seen(c->in, c->in_len, &scanned))) {
			parsed = c->in_len;
			if ((r = request_parse_limited(req, c->in, c->in_len,
			    &cfg->request_limits)) != 0)
				return r;
			if (c->in_len == c->in_size)
				return -431;
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
		n = recv(c->fd, c->in + c->in_len, c->in_size - c->in_len, 0);
		if (n > 0) {
			c->in_len += n;
			continue;
		}
		if (n == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return 0;
		if (c->in_len == 0 && draining)
			return 0;
		if (deadline == -1) {
			/*
			 * Idle between requests: the coroutine ends and the
			 * connection waits parked, holding no stack or buffer.
			 * Waiting here a while first was measured: it saved no
			 * CPU per request, and 10,000 connections idle at once
			 * then held 34 KiB each instead of under 2.
			 */
			c->park = 1;
			return 0;
		}
		else if ((timeout = deadline - await_now_ms()) <= 0)
			return head_timeout(c);
		c->idle = c->in_len == 0;
		r = await_watch(&c->watch, EV_READ, timeout);
		c->idle = 0;
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
	long	 deadline = await_now_ms() + c->env->cfg->header_timeout_ms;
	long	 timeout;
	ssize_t	 n;
	size_t	 take;

	while (len > 0) {
		if (c->in_len > 0) {
			take = c->in_len < len ? c->in_len : (size_t)len;
			consume(c, take);
			len -= take;
			continue;
		}
		n = recv(c->fd, c->in, c->in_size, 0);
		if (n > 0)
			c->in_len = n;
		else if (n == 0)
			return -1;
		else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			/* The body gets the same kind of deadline as a head. */
			if ((timeout = deadline - await_now_ms()) <= 0 ||
			    await_watch(&c->watch, EV_READ, timeout) == -1)
				return -1;
		} else if (errno != EINTR)
			return -1;
	}
	return 0;
}

static void
log_access(struct conn *c, const struct request *req, long start_ms)
{
	struct accesslog_entry	 e;

	if (c->env->access_log == NULL || !c->head_sent)
		return;
	e.peer = c->peer;
	clock_gettime(CLOCK_REALTIME, &e.when);
	e.req = req;
	e.status = c->status;
	e.body_bytes = c->body_bytes;
	e.request_ms = await_now_ms() - start_ms;
	accesslog_write(c->env->access_log, &e);
}

static int
send_metrics(struct conn *c, const struct request *req)
{
	struct response	 r;
	char		*text;
	size_t		 len;
	int		 rc;

	if ((text = metrics_render(c->env->pool, &len)) == NULL)
		return conn_send_error(c, req, 503);
	response_begin(&r, 200);
	response_add(&r, "Content-Type", "%s", METRICS_CONTENT_TYPE);
	response_add(&r, "Cache-Control", "no-store");
	response_add(&r, "Content-Length", "%zu", len);
	rc = conn_send_head(c, &r, req->method == HTTP_HEAD ? NULL : text, len);
	free(text);
	return rc;
}

/* The metrics path on the main listeners, or /metrics on their own. */
static int
is_metrics(const struct conn *c, const struct path *p)
{
	const char	*want = c->env->metrics_only ? "/metrics" :
	    c->env->cfg->metrics_path;

	return want != NULL && strcmp(p->rel, want + 1) == 0 &&
	    !p->trailing_slash;
}

/*
 * Health for a load balancer, from memory only: this must answer at once
 * even while every I/O thread waits on storage.
 */
static int
send_health(struct conn *c, const struct request *req)
{
	struct response	 r;
	char		 body[HEALTH_REASON_MAX + 1];
	size_t		 len;
	int		 status;

	status = health_status(body, sizeof body - 1, c->env->metrics_only);
	if (c->retiring) {
		/* Its listener closes soon: a balancer must stop using it. */
		snprintf(body, sizeof body - 1, "draining");
		status = 503;
	}
	len = strlen(body);
	body[len++] = '\n';
	response_begin(&r, status);
	response_add(&r, "Content-Type", "text/plain; charset=utf-8");
	response_add(&r, "Cache-Control", "no-store");
	response_add(&r, "Content-Length", "%zu", len);
	return conn_send_head(c, &r, req->method == HTTP_HEAD ? NULL : body,
	    len);
}

/* health_path on the main listeners, or /health on the metrics one. */
static int
is_health(const struct conn *c, const struct path *p)
{
	const char	*want = c->env->metrics_only ? "/health" :
	    c->env->cfg->health_path;

	return want != NULL && strcmp(p->rel, want + 1) == 0 &&
	    !p->trailing_slash;
}

static int
send_options(struct conn *c)
{
	struct response	 r;

	response_begin(&r, 204);
	response_add(&r, "Allow", ALLOW_METHODS);
	return conn_send_head(c, &r, NULL, 0);
}

/* Answers one parsed request; returns -1 when the connection must close. */
static int
handle(struct conn *c, const struct request *req)
{
	struct path	 p;
	int		 rc;

	if (req->transfer_encoding)
		return conn_send_error(c, req, 501), -1;
	/*
	 * A body is answered first and dropped after. Rather than guess
	 * whether a client waiting for 100-continue will still send it, or
	 * read a large one, close instead.
	 */
	if (req->content_length > CONN_DISCARD_MAX ||
	    (req->content_length > 0 && req->expect_continue))
		c->close_after = 1;

	switch (req->method) {
	case HTTP_GET:
	case HTTP_HEAD:
		break;
	case HTTP_OPTIONS:
		return send_options(c);
	case HTTP_KNOWN_OTHER:
		return conn_send_error(c, req, 405);
	case HTTP_UNKNOWN:
		return conn_send_error(c, req, 501), -1;
	}
	if ((rc = path_parse(&p, req->target.ptr, req->target.len)) < 0)
		return conn_send_error(c, req, -rc);
	if (is_metrics(c, &p))
		return send_metrics(c, req);
	if (is_health(c, &p))
		return send_health(c, req);
	if (c->env->metrics_only)
		return conn_send_error(c, req, 404);
	return file_serve(c, req, &p);
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
	char	 byte;

	return c->in_len > 0 ||
	    recv(c->fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT) > 0;
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
	long	 deadline = await_now_ms() + CONN_LINGER_MS, timeout;
	size_t	 dropped = 0;
	ssize_t	 n;

	c->in_len = 0;
	if (shutdown(c->fd, SHUT_WR) == -1)
		return;
	while (dropped < CONN_LINGER_BYTES) {
		n = recv(c->fd, c->in, c->in_size, 0);
		if (n > 0) {
			dropped += (size_t)n;
			continue;
		}
		if (n == 0)
			return;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return;
		if ((timeout = deadline - await_now_ms()) <= 0 ||
		    await_watch(&c->watch, EV_READ, timeout) == -1)
			return;
	}
	log_at(c->env->cfg->log_level, LOG_LEVEL_DEBUG,
	    "%s: lingering close: %zu bytes dropped, closing", c->peer,
	    dropped);
}

static void
conn_main(void *arg)
{
	struct conn	*c = arg;
	struct request	 req;
	long		 head_len, start_ms;
	int		 rc;

	if (c->parked)
		return;
	for (;;) {
		if ((head_len = read_head(c, &req)) == 0)
			break;
		c->status = 0;
		c->body_bytes = 0;
		c->head_sent = 0;
		if (head_len < 0) {
			c->close_after = 1;
			conn_send_error(c, NULL, (int)-head_len);
			metrics_request(c->status, c->body_bytes);
			log_at(c->env->cfg->log_level, LOG_LEVEL_DEBUG,
			    "%s: bad request: %ld", c->peer, -head_len);
			/* The rest of a refused head may still be coming. */
			if (c->head_sent && !c->lost)
				conn_linger(c);
			break;
		}
		c->requests++;
		c->root = select_root(c->env, req.host);
		c->close_after = !req.keep_alive || draining || c->retiring ||
		    c->env->cfg->keepalive_timeout_ms == 0 ||
		    (c->env->cfg->keepalive_requests > 0 &&
		    c->requests >= c->env->cfg->keepalive_requests);
		c->http10_keep_alive = req.keep_alive && req.version_minor == 0;
		/* The head stays in c->in until the response is logged. */
		start_ms = await_now_ms();
		rc = handle(c, &req);
		log_access(c, &req, start_ms);
		if (c->head_sent)
			metrics_request(c->status, c->body_bytes);
		consume(c, (size_t)head_len);
		if (rc == -1 || c->close_after) {
			/* An answer sent in full, and the client goes on. */
			if (c->head_sent && !c->lost && input_pending(c))
				conn_linger(c);
			break;
		}
		if (req.content_length > 0 &&
		    discard_body(c, (uint64_t)req.content_length) == -1)
			break;
	}
}

static void	 conn_finish(void *);

static void
conn_free(struct conn *c)
{
	await_watch_close(&c->watch);
	free(c->in);
	close(c->fd);
	peers_release(c->peer_count);
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	nconns--;
	metrics_connection_closed();
	if (c->env->closed != NULL)
		c->env->closed(c->env->arg);
	free(c);
}

static void
peer_text(const struct sockaddr *sa, char *buf, size_t len)
{
	const void	*addr;

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
	struct coro	*co;

	c->in_size = (size_t)c->env->cfg->request_limits.head_max + 1;
	if ((c->in = malloc(c->in_size)) == NULL)
		return -1;
	if ((co = coro_create(conn_main, c)) == NULL)
		goto fail;
	if (coro_defer(co, conn_finish, c) == -1) {
		/* Run it empty: only a finished coroutine gives its stack back. */
		c->parked = 1;
		coro_resume(co);
		c->parked = 0;
		goto fail;
	}
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
refuse_fd(int fd)
{
	static const char	 answer[] = "HTTP/1.1 503 Service Unavailable\r\n"
	    "Content-Length: 0\r\nRetry-After: 1\r\nConnection: close\r\n"
	    "\r\n";
	char			 drain[1024];
	int			 i;

	for (i = 0; i < 64 && recv(fd, drain, sizeof drain, 0) > 0; i++)
		;
	if (send(fd, answer, sizeof answer - 1, MSG_NOSIGNAL) > 0)
		metrics_request(503, 0);
	metrics_refused(METRICS_REFUSED_NO_MEMORY);
}

/* The same for a connection, which it frees; silently if the client left. */
static void
conn_refuse(struct conn *c)
{
	/* Short of memory, every parked connection that wakes ends here. */
	static struct log_ratelimit	 rl = LOG_RATELIMIT_INITIALIZER(10);
	char				 byte;

	if (recv(c->fd, &byte, 1, MSG_PEEK) == 0) {
		/* Gone already: no one to answer, nothing refused. */
		log_at(c->env->cfg->log_level, LOG_LEVEL_DEBUG,
		    "%s: closed before its request", c->peer);
		conn_free(c);
		return;
	}
	refuse_fd(c->fd);
	log_warnx_limited(&rl, "%s: no memory for a connection: 503", c->peer);
	conn_free(c);
}

static void
conn_wake(void *arg, int timed_out)
{
	struct conn	*c = arg;

	c->parked = 0;
	if (timed_out) {
		if (c->requests == 0)
			metrics_timeout(METRICS_TIMEOUT_HEADER);
		conn_free(c);
	}
	else if (conn_activate(c) == -1)
		conn_refuse(c);
}

/* The end of a coroutine: park the connection, or free it. */
static void
conn_finish(void *arg)
{
	struct conn	*c = arg;

	if (c->park && !draining) {
		c->park = 0;
		c->parked = 1;
		free(c->in);
		c->in = NULL;
		if (await_watch_idle(&c->watch,
		    c->env->cfg->keepalive_timeout_ms, conn_wake, c) == 0)
			return;
	}
	conn_free(c);
}

int
conn_start(const struct conn_env *env, unsigned listener, int fd,
    const struct sockaddr *peer, socklen_t peerlen)
{
	struct conn	*c;
	struct peer	*pc;
	char		 byte;
	int		 one = 1;

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
	c->fd = fd;
	c->env = env;
	c->listener = listener;
	c->retiring = env->retiring;
	c->accepted_ms = await_now_ms();
	peer_text(peer, c->peer, sizeof c->peer);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c->next = conns;
	if (conns != NULL)
		conns->prev = c;
	conns = c;
	nconns++;
	metrics_connection_opened();
	if (env->opened != NULL)
		env->opened(env->arg);
	/*
	 * Nothing sent yet: wait parked, with no stack or buffer, as an idle
	 * keep-alive connection does. 10,000 connections opened before their
	 * first request held 9 KiB each otherwise.
	 */
	if (recv(fd, &byte, 1, MSG_PEEK) == -1 && (errno == EAGAIN ||
	    errno == EWOULDBLOCK) && await_watch_idle(&c->watch,
	    env->cfg->header_timeout_ms, conn_wake, c) == 0) {
		c->parked = 1;
		return 0;
	}
	if (conn_activate(c) == -1) {
		/*
		 * Wait for the request without a coroutine, as a parked
		 * connection does, and try again then; a 503 if it is
		 * already there or memory is still short.
		 */
		if (recv(fd, &byte, 1, MSG_PEEK) == -1 && (errno == EAGAIN ||
		    errno == EWOULDBLOCK) && await_watch_idle(&c->watch,
		    env->cfg->header_timeout_ms, conn_wake, c) == 0) {
			c->parked = 1;
			return -1;
		}
		conn_refuse(c);
		return -1;
	}
	return 0;

fail_conn:
	free(c);
fail_peer:
	peers_release(pc);
fail:
	log_warn("cannot serve a new connection");
	refuse_fd(fd);
	close(fd);
	return -1;
}

void
conn_listener_retiring(unsigned listener, int retiring)
{
	struct conn	*c;

	for (c = conns; c != NULL; c = c->next)
		if (c->listener == listener)
			c->retiring = retiring;
}

void
conn_drain(void)
{
	struct conn	*c, *next;

	draining = 1;
	for (c = conns; c != NULL; c = next) {
		next = c->next;
		c->close_after = 1;
		if (c->parked)
			conn_free(c);	/* idle, with no coroutine to unwind */
		else if (c->idle)
			shutdown(c->fd, SHUT_RD);
	}
}

void
conn_abort_all(void)
{
	struct conn	*c, *next;

	for (c = conns; c != NULL; c = next) {
		next = c->next;
		if (c->parked)
			conn_free(c);
		else
			shutdown(c->fd, SHUT_RDWR);
	}
}
