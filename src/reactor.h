/*
 * A reactor: one thread's event loop and everything that thread owns. Its
 * libevent base, its completion channel from the shared I/O pool (with
 * the event that reaps it), its connections (linked and counted by
 * conn.c), and its metrics shard live here; its coroutine scheduler and
 * stack pool are coro.c's thread-local state, set up when the reactor is
 * created on its thread. Code running on a reactor reaches it through
 * reactor_current(), or through a pointer it already holds (a
 * connection's c->reactor). Process-wide state is not here: the
 * configuration generation, limits, metrics totals and health are shared
 * deliberately, each saying how where it lives. The server runs one
 * reactor per core (server.c).
 */
#ifndef REACTOR_H
#define REACTOR_H

#include <stddef.h>

#include "metrics.h"

struct conn;
struct event;
struct event_base;
struct iopool;
struct iopool_channel;

/*
 * Room for one struct event, for events kept in other structs (an await
 * on a coroutine's stack, a connection's watch). libevent keeps the
 * struct's layout private to stay ABI-stable, so reactor_create() checks
 * the size against the running library instead of taking it from
 * event_struct.h. libevent 2.1's is 128 bytes on 64-bit systems; every
 * connection holds two (three with HTTP/2), so no more room than that.
 */
#define REACTOR_EVENT_BYTES 128

struct reactor {
	unsigned index; /* 0 .. reactors - 1; 0 runs the server's own work */
	struct event_base *base;
	struct iopool *pool;		    /* shared by every reactor */
	struct iopool_channel *completions; /* its jobs come back here */
	struct event *completion_ev;	    /* reaps them */
	struct event *flush_ev;		    /* hands its closes over */
	/* Its connections: conn.c links, counts and drains them. */
	struct conn *conns;
	unsigned nconns;
	int draining; /* no keep-alive, no parking */
	/* Parked HTTP/2 sessions owed work, a batch a turn (conn.c). */
	struct conn *due, *due_tail;
	struct event *due_ev;
	/*
	 * Counts the loop's turns from 1, and the reads that found bytes
	 * nobody reported (reactor_read_unreported): a request served at
	 * a turn arrived before it began, so what was checked at that turn
	 * holds for it (the open-file cache's statx, once a turn per file).
	 */
	unsigned long turn;
	struct metrics_shard metrics; /* summed at render */
};

/*
 * Creates reactor number index for the calling thread, which is to run it
 * (and free it): its base, its completion channel on pool, and a
 * coroutine scheduler with stacks of stack_bytes, keeping up to
 * stack_pool_max free. NULL when any of it cannot be had.
 */
struct reactor *reactor_create(struct iopool *pool, unsigned index,
    size_t stack_bytes, unsigned stack_pool_max);
/*
 * Frees it on its thread, after iopool_destroy() (or before, if it never
 * submitted a job); no connection or coroutine may be left.
 */
void reactor_free(struct reactor *);
/*
 * Runs r's loop until it is told to exit or has nothing left to wait
 * for, counting its turns: 0, or -1 if the loop failed.
 */
int reactor_run(struct reactor *r);
/*
 * A read found bytes that no readiness reported this turn: they may have
 * come after it began, so it is a new turn from here on.
 */
static inline void
reactor_read_unreported(struct reactor *r)
{
	r->turn++;
}
/* The calling thread's reactor, or NULL on a thread without one. */
struct reactor *reactor_current(void);

#endif
