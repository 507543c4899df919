/*
 * Service manager notifications. The only module that talks to systemd;
 * without systemd support these do nothing.
 */
#ifndef NOTIFY_H
#define NOTIFY_H

void	 notify_ready(void);
void	 notify_stopping(void);

#endif
