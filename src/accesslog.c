/*
 * Access log writer.
 *
 * Ownership and locking: log->lock guards pending (bytes formatted but not
 * written), dropped, reopen and stopping. The reactor appends to pending
 * under the lock and never waits for the disk; when pending is full, lines
 * are counted as dropped rather than queued without bound. The writer
 * thread swaps pending with its own spare buffer under the lock and writes
 * the spare with no lock held. Only the writer touches fd after start-up.
 * There is nothing to cancel: accesslog_close() lets the writer flush and
 * joins it.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "accesslog.h"
#include "log.h"
#include "request.h"

#define ACCESSLOG_BUFFER_MAX (256 * 1024)
#define ACCESSLOG_LINE_MAX 4096
#define ACCESSLOG_FLUSH_MS 1000

struct accesslog {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	char *pending;
	size_t pending_len;
	char *spare;
	uint64_t dropped;
	int reopen;
	int stopping;
	int fd;
	char *path;
	struct logformat *format;
	pthread_t writer;
};

static void
write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			log_warn("access log write");
			return;
		}
		buf += n;
		len -= n;
	}
}

static void *
writer_main(void *arg)
{
	struct accesslog *log = arg;
	struct timespec until;
	char *buf;
	size_t len;
	uint64_t dropped;
	int reopen, stopping, fd;

	pthread_mutex_lock(&log->lock);
	for (;;) {
		if (log->pending_len == 0 && !log->reopen && !log->stopping) {
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += ACCESSLOG_FLUSH_MS / 1000;
			pthread_cond_timedwait(&log->wake, &log->lock, &until);
		}
		buf = log->pending;
		len = log->pending_len;
		log->pending = log->spare;
		log->pending_len = 0;
		log->spare = buf;
		dropped = log->dropped;
		log->dropped = 0;
		reopen = log->reopen;
		log->reopen = 0;
		stopping = log->stopping;
		pthread_mutex_unlock(&log->lock);

		if (len > 0)
			write_all(log->fd, buf, len);
		if (dropped > 0)
			log_warnx(
			    "access log: %" PRIu64 " lines dropped", dropped);
		if (reopen) {
			fd = open(log->path,
			    O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
			if (fd == -1)
				log_warn("access log reopen %s", log->path);
			else {
				close(log->fd);
				log->fd = fd;
			}
		}

		pthread_mutex_lock(&log->lock);
		if (stopping && log->pending_len == 0)
			break;
	}
	pthread_mutex_unlock(&log->lock);
	return NULL;
}

/* What accesslog_open() takes besides the thread and its lock. */
static void
free_parts(struct accesslog *log)
{
	if (log->fd != -1)
		close(log->fd);
	logformat_free(log->format);
	free(log->spare);
	free(log->pending);
	free(log->path);
	free(log);
}

struct accesslog *
accesslog_open(const char *path, const char *format)
{
	struct accesslog *log;
	char err[128];
	int rc;

	if ((log = calloc(1, sizeof *log)) == NULL)
		return NULL;
	log->fd = -1;
	if ((log->format = logformat_compile(format, err, sizeof err)) ==
	    NULL) {
		errno = EINVAL;
		goto fail;
	}
	if ((log->path = strdup(path)) == NULL ||
	    (log->pending = malloc(ACCESSLOG_BUFFER_MAX)) == NULL ||
	    (log->spare = malloc(ACCESSLOG_BUFFER_MAX)) == NULL)
		goto fail;
	if ((log->fd = open(
		 path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640)) == -1)
		goto fail;
	pthread_mutex_init(&log->lock, NULL);
	pthread_cond_init(&log->wake, NULL);
	if ((rc = pthread_create(&log->writer, NULL, writer_main, log)) != 0) {
		pthread_cond_destroy(&log->wake);
		pthread_mutex_destroy(&log->lock);
		errno = rc;
		goto fail;
	}
	return log;
fail:
	free_parts(log);
	return NULL;
}

void
accesslog_close(struct accesslog *log)
{
	if (log == NULL)
		return;
	pthread_mutex_lock(&log->lock);
	log->stopping = 1;
	pthread_cond_signal(&log->wake);
	pthread_mutex_unlock(&log->lock);
	pthread_join(log->writer, NULL);
	pthread_cond_destroy(&log->wake);
	pthread_mutex_destroy(&log->lock);
	free_parts(log);
}

void
accesslog_reopen(struct accesslog *log)
{
	pthread_mutex_lock(&log->lock);
	log->reopen = 1;
	pthread_cond_signal(&log->wake);
	pthread_mutex_unlock(&log->lock);
}

/* A bounded line being built: writes past the end are cut, never made. */
struct line {
	char *buf;
	size_t size;
	size_t len;
};

static void
line_printf(struct line *l, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(l->buf + l->len, l->size - l->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->len += (size_t)n < l->size - l->len ? (size_t)n
						       : l->size - l->len - 1;
}

/* Copies s escaped: a client must not be able to forge log lines. */
static void
line_escaped(struct line *l, struct slice s)
{
	size_t i;
	unsigned char ch;

	if (s.ptr == NULL || s.len == 0) {
		line_printf(l, "-");
		return;
	}
	for (i = 0; i < s.len; i++) {
		ch = (unsigned char)s.ptr[i];
		if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
			line_printf(l, "%c", ch);
		else
			line_printf(l, "\\x%02x", ch);
	}
}

/* A text that may be missing, escaped like the request's. */
static void
line_optional(struct line *l, const char *s)
{
	struct slice text = { s, s != NULL ? strlen(s) : 0 };

	line_escaped(l, text);
}

enum field {
	F_LITERAL,
	F_REMOTE_ADDR,
	F_TIME_LOCAL,
	F_TIME_ISO8601,
	F_MSEC,
	F_REQUEST,
	F_REQUEST_METHOD,
	F_REQUEST_URI,
	F_SERVER_PROTOCOL,
	F_STATUS,
	F_BODY_BYTES_SENT,
	F_HTTP_REFERER,
	F_HTTP_USER_AGENT,
	F_HOST,
	F_REQUEST_TIME,
	F_SSL_PROTOCOL,
	F_SSL_CIPHER,
	F_SSL_SERVER_NAME
};

static const struct {
	const char *name;
	enum field field;
} variables[] = {
	{ "remote_addr", F_REMOTE_ADDR },
	{ "time_local", F_TIME_LOCAL },
	{ "time_iso8601", F_TIME_ISO8601 },
	{ "msec", F_MSEC },
	{ "request", F_REQUEST },
	{ "request_method", F_REQUEST_METHOD },
	{ "request_uri", F_REQUEST_URI },
	{ "server_protocol", F_SERVER_PROTOCOL },
	{ "status", F_STATUS },
	{ "body_bytes_sent", F_BODY_BYTES_SENT },
	{ "http_referer", F_HTTP_REFERER },
	{ "http_user_agent", F_HTTP_USER_AGENT },
	{ "host", F_HOST },
	{ "request_time", F_REQUEST_TIME },
	{ "ssl_protocol", F_SSL_PROTOCOL },
	{ "ssl_cipher", F_SSL_CIPHER },
	{ "ssl_server_name", F_SSL_SERVER_NAME },
};

#define LOGFORMAT_ITEMS_MAX 64

struct logformat {
	struct {
		enum field field;
		const char *text; /* F_LITERAL: into fmt */
		size_t len;
	} items[LOGFORMAT_ITEMS_MAX];
	size_t count;
	char *fmt;
};

struct logformat *
logformat_compile(const char *fmt, char *err, size_t errlen)
{
	struct logformat *lf;
	const char *p, *name;
	size_t len, i;
	int braces;

	if (fmt == NULL)
		fmt = ACCESSLOG_COMBINED;
	if ((lf = calloc(1, sizeof *lf)) == NULL ||
	    (lf->fmt = strdup(fmt)) == NULL) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	for (p = lf->fmt; *p != '\0'; p += len) {
		if (lf->count == LOGFORMAT_ITEMS_MAX) {
			snprintf(err, errlen, "more than %d parts",
			    LOGFORMAT_ITEMS_MAX);
			goto fail;
		}
		if (*p != '$') {
			len = strcspn(p, "$");
			lf->items[lf->count].field = F_LITERAL;
			lf->items[lf->count].text = p;
			lf->items[lf->count++].len = len;
			continue;
		}
		braces = p[1] == '{';
		name = p + 1 + braces;
		len = strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_");
		for (i = 0; i < sizeof variables / sizeof variables[0]; i++)
			if (strlen(variables[i].name) == len &&
			    strncmp(variables[i].name, name, len) == 0)
				break;
		if (i == sizeof variables / sizeof variables[0] ||
		    (braces && name[len] != '}')) {
			snprintf(err, errlen, "unknown variable $%.*s",
			    (int)len, name);
			goto fail;
		}
		lf->items[lf->count++].field = variables[i].field;
		len += 1 + 2 * braces;
	}
	return lf;
fail:
	logformat_free(lf);
	return NULL;
}

void
logformat_free(struct logformat *lf)
{
	if (lf == NULL)
		return;
	free(lf->fmt);
	free(lf);
}

/* The protocol as $request and $server_protocol name it. */
static const char *
protocol_name(const struct request *req)
{
	if (req->http2)
		return "HTTP/2.0";
	return req->version_minor == 0 ? "HTTP/1.0" : "HTTP/1.1";
}

size_t
logformat_render(const struct logformat *lf, const struct accesslog_entry *e,
    char *buf, size_t size)
{
	const struct request *req = e->req;
	struct line l = { buf, size, 0 };
	struct tm tm;
	char date[64];
	size_t i;

	for (i = 0; i < lf->count; i++) {
		switch (lf->items[i].field) {
		case F_LITERAL:
			line_printf(&l, "%.*s", (int)lf->items[i].len,
			    lf->items[i].text);
			break;
		case F_REMOTE_ADDR:
			line_printf(&l, "%s", e->peer);
			break;
		case F_TIME_LOCAL:
			localtime_r(&e->when.tv_sec, &tm);
			strftime(
			    date, sizeof date, "%d/%b/%Y:%H:%M:%S %z", &tm);
			line_printf(&l, "%s", date);
			break;
		case F_TIME_ISO8601:
			localtime_r(&e->when.tv_sec, &tm);
			strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%S%z", &tm);
			line_printf(&l, "%s", date);
			break;
		case F_MSEC:
			line_printf(&l, "%lld.%03ld", (long long)e->when.tv_sec,
			    e->when.tv_nsec / 1000000);
			break;
		case F_REQUEST:
			line_escaped(&l, req->method_name);
			line_printf(&l, " ");
			line_escaped(&l, req->target);
			line_printf(&l, " %s", protocol_name(req));
			break;
		case F_REQUEST_METHOD:
			line_escaped(&l, req->method_name);
			break;
		case F_REQUEST_URI:
			line_escaped(&l, req->target);
			break;
		case F_SERVER_PROTOCOL:
			line_printf(&l, "%s", protocol_name(req));
			break;
		case F_STATUS:
			line_printf(&l, "%d", e->status);
			break;
		case F_BODY_BYTES_SENT:
			line_printf(&l, "%" PRIu64, e->body_bytes);
			break;
		case F_HTTP_REFERER:
			line_escaped(&l, req->referer);
			break;
		case F_HTTP_USER_AGENT:
			line_escaped(&l, req->user_agent);
			break;
		case F_HOST:
			line_escaped(&l, req->host);
			break;
		case F_REQUEST_TIME:
			line_printf(&l, "%ld.%03ld", e->request_ms / 1000,
			    e->request_ms % 1000);
			break;
		case F_SSL_PROTOCOL:
			line_optional(&l, e->tls_protocol);
			break;
		case F_SSL_CIPHER:
			line_optional(&l, e->tls_cipher);
			break;
		case F_SSL_SERVER_NAME:
			/* The client's own text, like Host. */
			line_optional(&l, e->tls_server_name);
			break;
		}
	}
	/* Room for the newline is kept whatever was cut before it. */
	if (l.len > size - 1)
		l.len = size - 1;
	buf[l.len++] = '\n';
	return l.len;
}

void
accesslog_write(struct accesslog *log, const struct accesslog_entry *e)
{
	char line[ACCESSLOG_LINE_MAX];
	size_t n;

	n = logformat_render(log->format, e, line, sizeof line);
	pthread_mutex_lock(&log->lock);
	if (log->pending_len + n > ACCESSLOG_BUFFER_MAX)
		log->dropped++;
	else {
		memcpy(log->pending + log->pending_len, line, n);
		log->pending_len += n;
		/* Wake the writer early enough that the buffer never fills. */
		if (log->pending_len - n < ACCESSLOG_BUFFER_MAX / 4 &&
		    log->pending_len >= ACCESSLOG_BUFFER_MAX / 4)
			pthread_cond_signal(&log->wake);
	}
	pthread_mutex_unlock(&log->lock);
}
