/*
 * The server: the reactor's event_base, the listening sockets, accepting
 * within max_connections, signals, live reload, service-manager status,
 * and the drain on shutdown. It owns the I/O pool and the running
 * generation (configuration, roots, access log).
 */
#ifndef SERVER_H
#define SERVER_H

struct config;
struct config_overrides;
struct server;

/*
 * Takes ownership of cfg, which came from path (NULL: built-in defaults)
 * and o; a reload reads them again. NULL after logging why on failure.
 */
struct server	*server_create(struct config *cfg, const char *path,
		    const struct config_overrides *o);
/* Runs until shut down; returns the exit status. */
int		 server_run(struct server *);
void		 server_free(struct server *);

#endif
