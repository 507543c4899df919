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

#define ACCESSLOG_BUFFER_MAX	(256 * 1024)
#define ACCESSLOG_LINE_MAX	4096
#define ACCESSLOG_FLUSH_MS	1000

struct accesslog {
	pthread_mutex_t	 lock;
	pthread_cond_t	 wake;
	char		*pending;
	size_t		 pending_len;
	char		*spare;
	uint64_t	 dropped;
	int		 reopen;
	int		 stopping;
	int		 fd;
	char		*path;
	pthread_t	 writer;
};

static void
write_all(int fd, const char *buf, size_t len)
{
	ssize_t	 n;

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
	struct accesslog	*log = arg;
	struct timespec		 until;
	char			*buf;
	size_t			 len;
	uint64_t		 dropped;
	int			 reopen, stopping, fd;

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
			log_warnx("access log: %" PRIu64 " lines dropped",
			    dropped);
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

struct accesslog *
accesslog_open(const char *path)
{
	struct accesslog	*log;
	int			 rc;

	if ((log = calloc(1, sizeof *log)) == NULL)
		return NULL;
	log->fd = -1;
	if ((log->path = strdup(path)) == NULL ||
	    (log->pending = malloc(ACCESSLOG_BUFFER_MAX)) == NULL ||
	    (log->spare = malloc(ACCESSLOG_BUFFER_MAX)) == NULL)
		goto fail;
	if ((log->fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0640)) == -1)
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
	if (log->fd != -1)
		close(log->fd);
	free(log->spare);
	free(log->pending);
	free(log->path);
	free(log);
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
	close(log->fd);
	free(log->spare);
	free(log->pending);
	free(log->path);
	free(log);
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
	char	*buf;
	size_t	 size;
	size_t	 len;
};

static void
line_printf(struct line *l, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(l->buf + l->len, l->size - l->len, fmt, ap);
	va_end(ap);
	if (n > 0)
		l->len += (size_t)n < l->size - l->len ? (size_t)n :
		    l->size - l->len - 1;
}

/* Copies s escaped: a client must not be able to forge log lines. */
static void
line_escaped(struct line *l, struct slice s)
{
	size_t		 i;
	unsigned char	 ch;

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

size_t
accesslog_format(char *buf, size_t size, const char *peer, time_t when,
    const struct request *req, int status, uint64_t body_bytes)
{
	struct line	 l = { buf, size, 0 };
	struct tm	 tm;
	char		 date[64];

	localtime_r(&when, &tm);
	strftime(date, sizeof date, "%d/%b/%Y:%H:%M:%S %z", &tm);
	line_printf(&l, "%s - - [%s] \"", peer, date);
	line_escaped(&l, req->method_name);
	line_printf(&l, " ");
	line_escaped(&l, req->target);
	line_printf(&l, " HTTP/1.%d\" %d %" PRIu64 " \"", req->version_minor,
	    status, body_bytes);
	line_escaped(&l, req->referer);
	line_printf(&l, "\" \"");
	line_escaped(&l, req->user_agent);
	/* Room for the newline is kept whatever was cut before it. */
	if (l.len > size - 2)
		l.len = size - 2;
	buf[l.len++] = '"';
	buf[l.len++] = '\n';
	return l.len;
}

void
accesslog_request(struct accesslog *log, const char *peer,
    const struct request *req, int status, uint64_t body_bytes)
{
	char	 line[ACCESSLOG_LINE_MAX];
	size_t	 n;

	n = accesslog_format(line, sizeof line, peer, time(NULL), req, status,
	    body_bytes);
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
