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

/* What server_run() returns, the daemon's exit status (README). */
#define SERVER_EXIT_OK 0     /* stopped, everything finished */
#define SERVER_EXIT_FAILED 1 /* the event loop failed */
/*
 * Stopped, but a connection or the storage probe was still in a storage
 * call: its thread cannot be joined, and what it uses cannot be freed.
 */
#define SERVER_EXIT_STUCK 2

/*
 * Takes ownership of cfg, which came from path (NULL: built-in defaults)
 * and o; a reload reads them again. NULL after logging why on failure.
 */
struct server *server_create(
    struct config *cfg, const char *path, const struct config_overrides *o);
/* Runs until shut down; returns one of the SERVER_EXIT_* statuses. */
int server_run(struct server *);
/*
 * Frees what server_create() built. After SERVER_EXIT_STUCK it frees
 * nothing and returns: the stuck threads still use it, and exit() takes
 * it all.
 */
void server_free(struct server *);

#endif
