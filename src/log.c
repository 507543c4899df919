/*
 * Logging to stderr, one line per event. Lines are built in a local buffer
 * and written with one write(2) so that lines from the I/O threads and the
 * reactor never interleave mid-line.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "monotime.h"

#define LOG_LINE_MAX 1024

/* Set by a reload on one reactor, read by all: relaxed atomics. */
static enum log_level log_threshold = LOG_LEVEL_INFO;
static int log_journal;

static const struct {
	const char *name;
	int syslog_priority;
} log_levels[] = {
	[LOG_LEVEL_ERROR] = { "error", 3 },
	[LOG_LEVEL_WARN] = { "warn", 4 },
	[LOG_LEVEL_INFO] = { "info", 6 },
	[LOG_LEVEL_DEBUG] = { "debug", 7 },
};

/* Formats and writes one line, whatever the threshold. */
static void
log_vemit(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	char line[LOG_LINE_MAX];
	int n, m;

	if (log_journal)
		n = snprintf(line, sizeof line, "<%d>",
		    log_levels[level].syslog_priority);
	else
		n = snprintf(
		    line, sizeof line, "coserve: %s: ", log_levels[level].name);
	m = vsnprintf(line + n, sizeof line - n, fmt, ap);
	if (m < 0)
		return;
	n = (size_t)(n + m) >= sizeof line - 1 ? (int)sizeof line - 2 : n + m;
	if (errnum != 0) {
		m = snprintf(
		    line + n, sizeof line - n, ": %s", strerror(errnum));
		n = (size_t)(n + m) >= sizeof line - 1 ? (int)sizeof line - 2
						       : n + m;
	}
	line[n++] = '\n';
	(void)write(STDERR_FILENO, line, n);
}

static void
log_vwrite(enum log_level level, int errnum, const char *fmt, va_list ap)
{
	if (level <= __atomic_load_n(&log_threshold, __ATOMIC_RELAXED))
		log_vemit(level, errnum, fmt, ap);
}

static void
log_libevent(int severity, const char *msg)
{
	switch (severity) {
	case EVENT_LOG_DEBUG:
		log_debug("libevent: %s", msg);
		break;
	case EVENT_LOG_MSG:
		log_info("libevent: %s", msg);
		break;
	case EVENT_LOG_WARN:
		log_warnx("libevent: %s", msg);
		break;
	default:
		log_error("libevent: %s", msg);
		break;
	}
}

void
log_init(enum log_level level)
{
	__atomic_store_n(&log_threshold, level, __ATOMIC_RELAXED);
	log_journal = getenv("JOURNAL_STREAM") != NULL;
	event_set_log_callback(log_libevent);
}

void
log_set_level(enum log_level level)
{
	__atomic_store_n(&log_threshold, level, __ATOMIC_RELAXED);
}

int
log_level_parse(const char *name, enum log_level *out)
{
	size_t i;

	for (i = 0; i < sizeof log_levels / sizeof log_levels[0]; i++) {
		if (strcasecmp(name, log_levels[i].name) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

#define LOG_FN(fn, level, errnum)                                              \
	void fn(const char *fmt, ...)                                          \
	{                                                                      \
		int saved = errno;                                             \
		va_list ap;                                                    \
                                                                               \
		va_start(ap, fmt);                                             \
		log_vwrite(level, errnum, fmt, ap);                            \
		va_end(ap);                                                    \
		errno = saved;                                                 \
	}

LOG_FN(log_debug, LOG_LEVEL_DEBUG, 0)
LOG_FN(log_info, LOG_LEVEL_INFO, 0)
LOG_FN(log_warn, LOG_LEVEL_WARN, saved)
LOG_FN(log_warnx, LOG_LEVEL_WARN, 0)
LOG_FN(log_error, LOG_LEVEL_ERROR, 0)

void
log_at(enum log_level threshold, enum log_level level, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	if (level > threshold)
		return;
	va_start(ap, fmt);
	log_vemit(level, 0, fmt, ap);
	va_end(ap);
	errno = saved;
}

static void
log_write(enum log_level level, int errnum, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(level, errnum, fmt, ap);
	va_end(ap);
}

/*
 * Decides under the limiter's lock whether this line goes out, and
 * formats it outside: the lock is held for a few loads and stores only.
 */
static void
log_vlimited(struct log_ratelimit *rl, int errnum, const char *fmt, va_list ap)
{
	char text[LOG_LINE_MAX];
	long now, since = 0;
	unsigned left_out = 0;
	int write_it = 1;

	if (LOG_LEVEL_WARN > __atomic_load_n(&log_threshold, __ATOMIC_RELAXED))
		return;
	now = monotime_ms();
	pthread_mutex_lock(&rl->lock);
	if (rl->written == 0 || now - rl->window_ms >= LOG_RATELIMIT_MS) {
		/* A new window; the count of the last one goes with it. */
		left_out = rl->suppressed;
		since = now - rl->window_ms;
		rl->window_ms = now;
		rl->written = 1;
		rl->suppressed = 0;
	} else if (rl->written < rl->burst)
		rl->written++;
	else {
		rl->suppressed++;
		write_it = 0;
	}
	pthread_mutex_unlock(&rl->lock);
	if (!write_it)
		return;
	vsnprintf(text, sizeof text, fmt, ap);
	if (left_out > 0)
		log_write(LOG_LEVEL_WARN, errnum,
		    "%s (%u more in the last %ld s)", text, left_out,
		    since / 1000);
	else
		log_write(LOG_LEVEL_WARN, errnum, "%s", text);
}

void
log_warn_limited(struct log_ratelimit *rl, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vlimited(rl, saved, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_warnx_limited(struct log_ratelimit *rl, const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vlimited(rl, 0, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vwrite(LOG_LEVEL_ERROR, 0, fmt, ap);
	va_end(ap);
	exit(1);
}
