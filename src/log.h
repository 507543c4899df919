/*
 * The one logging API: every message is one line on stderr with a level.
 * Under systemd (JOURNAL_STREAM set) lines carry "<N>" priority prefixes
 * that journald understands; elsewhere they read "coserve: level: text".
 */
#ifndef LOG_H
#define LOG_H

#include <pthread.h>
#include <stdarg.h>

enum log_level {
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG
};

void log_init(enum log_level);
void log_set_level(enum log_level);
int log_level_parse(const char *name, enum log_level *out);

void log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
/* log_warn appends ": strerror(errno)"; log_warnx does not. */
void log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *, ...) __attribute__((format(printf, 1, 2)));
/*
 * A line about one connection, weighed against threshold: the log level
 * of the generation the connection was accepted under, not the running
 * one (log_set_level), so a reload does not change what a connection
 * already open logs, as nginx's per-connection log does.
 */
void log_at(enum log_level threshold, enum log_level level, const char *, ...)
    __attribute__((format(printf, 3, 4)));
/*
 * Warnings a client or a shortage can bring about once per request go
 * through one of these, as printk_ratelimit does: in each window of
 * LOG_RATELIMIT_MS, the first burst lines are written and the rest only
 * counted; the first line after the window says how many were left out
 * ("... (N more in the last 10 s)"). One per kind of message; safe from
 * any thread.
 */
#define LOG_RATELIMIT_MS 10000
struct log_ratelimit {
	pthread_mutex_t lock;
	unsigned burst;	     /* lines per window */
	unsigned written;    /* in this window */
	long window_ms;	     /* its start, monotonic */
	unsigned suppressed; /* left out since */
};
#define LOG_RATELIMIT_INITIALIZER(burst)                                       \
	{                                                                      \
		PTHREAD_MUTEX_INITIALIZER, (burst), 0, 0, 0                    \
	}

void log_warn_limited(struct log_ratelimit *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
void log_warnx_limited(struct log_ratelimit *, const char *, ...)
    __attribute__((format(printf, 2, 3)));
void fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
