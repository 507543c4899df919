/*
 * The server: the reactor's event_base, the listening sockets, accepting
 * within max_connections, signals, and the drain on shutdown. It owns the
 * configuration, document root, I/O pool and access log for its lifetime.
 */
#ifndef SERVER_H
#define SERVER_H

struct config;
struct server;

/* Takes ownership of cfg. NULL after logging why on failure. */
struct server	*server_create(struct config *cfg);
/* Runs until shut down; returns the exit status. */
int		 server_run(struct server *);
void		 server_free(struct server *);

#endif
