/*
 * The service manager: readiness, status, reload and stop notifications,
 * the watchdog, and sockets passed by socket activation. The only module
 * that talks to systemd; without systemd support these do nothing and
 * notify_listen_fds() finds no sockets.
 */
#ifndef NOTIFY_H
#define NOTIFY_H

/*
 * READY=1 with a STATUS= line in the same message: the service manager
 * shows a status from the moment the service is ready, and again after a
 * reload, not only from the first periodic update.
 */
void notify_ready(const char *status);
/* RELOADING=1 with MONOTONIC_USEC, as sd_notify(3) asks for Type=notify-reload.
 */
void notify_reloading(void);
void notify_stopping(void);
void notify_status(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Whether a service manager listens: STATUS= updates are worth making. */
int notify_status_wanted(void);
/* The watchdog interval in microseconds, 0 when none is asked for. */
unsigned long long notify_watchdog_usec(void);
void notify_watchdog(void);
/* Room for a socket's name, NUL included; a longer one is cut short. */
#define NOTIFY_FDNAME_MAX 32

/*
 * Stream sockets passed by the service manager, numbered from 3; returns
 * how many (0 without socket activation), -1 if one is not a listening
 * stream socket. The first max get their names in names: the unit's
 * FileDescriptorName= (systemd-socket-activate's --fdname), "" for none.
 */
int notify_listen_fds(char (*names)[NOTIFY_FDNAME_MAX], int max);

#endif
