/*
 * sd_notify(3) and sd_listen_fds(3) when built with systemd, nothing
 * otherwise. Without NOTIFY_SOCKET in the environment, sd_notify is a
 * no-op, so a daemon run by hand pays nothing for this.
 */
#include "autoconf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#ifdef HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "monotime.h"
#include "notify.h"

void
notify_ready(const char *status)
{
#ifdef HAVE_SYSTEMD
	sd_notifyf(0, "READY=1\nSTATUS=%s", status);
#else
	(void)status;
#endif
}

void
notify_reloading(void)
{
#ifdef HAVE_SYSTEMD
	sd_notifyf(0, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)(monotime_ns() / 1000));
#endif
}

void
notify_stopping(void)
{
#ifdef HAVE_SYSTEMD
	sd_notify(0, "STOPPING=1");
#endif
}

void
notify_status(const char *fmt, ...)
{
#ifdef HAVE_SYSTEMD
	char status[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(status, sizeof status, fmt, ap);
	va_end(ap);
	sd_notifyf(0, "STATUS=%s", status);
#else
	(void)fmt;
#endif
}

int
notify_status_wanted(void)
{
#ifdef HAVE_SYSTEMD
	return getenv("NOTIFY_SOCKET") != NULL;
#else
	return 0;
#endif
}

unsigned long long
notify_watchdog_usec(void)
{
#ifdef HAVE_SYSTEMD
	uint64_t usec;

	if (sd_watchdog_enabled(0, &usec) > 0)
		return usec;
#endif
	return 0;
}

void
notify_watchdog(void)
{
#ifdef HAVE_SYSTEMD
	sd_notify(0, "WATCHDOG=1");
#endif
}

int
notify_listen_fds(char (*names)[NOTIFY_FDNAME_MAX], int max)
{
#ifdef HAVE_SYSTEMD
	char **passed = NULL;
	int n, i, rc;

	/* Without LISTEN_FDNAMES every name is "unknown": none given. */
	if ((n = sd_listen_fds_with_names(1, &passed)) <= 0)
		return 0;
	rc = n;
	for (i = 0; i < n; i++) {
		if (i < max)
			snprintf(names[i], NOTIFY_FDNAME_MAX, "%s",
			    passed != NULL && strcmp(passed[i], "unknown") != 0
				? passed[i]
				: "");
		if (sd_is_socket(SD_LISTEN_FDS_START + i, AF_UNSPEC,
			SOCK_STREAM, 1) <= 0)
			rc = -1;
	}
	for (i = 0; passed != NULL && i < n; i++)
		free(passed[i]);
	free(passed);
	return rc;
#else
	(void)names;
	(void)max;
	return 0;
#endif
}
