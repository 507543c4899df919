/*
 * The reactor's set-up and teardown, in the order their dependencies
 * need: the base first, then the completion channel and the event that
 * reaps it, then the coroutine scheduler; the calling thread is bound to
 * all of it (reactor_current(), the channel its jobs complete on, the
 * metrics shard it counts in). Teardown undoes it in reverse. Nothing here
 * is shared with another reactor except the I/O pool, which has a lock of
 * its own, and the metrics registry, which takes one to add a shard.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdlib.h>

#include <event2/event.h>

#include "coro.h"
#include "iopool.h"
#include "log.h"
#include "metrics.h"
#include "reactor.h"

static _Thread_local struct reactor *current;

static void
reap_cb(evutil_socket_t fd, short what, void *arg)
{
	iopool_channel_reap(arg);
}

/*
 * Closes given up in a loop turn go to the pool as one job at its end:
 * an event made active runs after the callbacks already due this turn,
 * before the loop waits again.
 */
static void
flush_cb(evutil_socket_t fd, short what, void *arg)
{
	iopool_channel_flush(arg);
}

static void
closes_started(void *arg)
{
	event_active(arg, 0, 0);
}

struct reactor *
reactor_create(struct iopool *pool, unsigned index, size_t stack_bytes,
    unsigned stack_pool_max)
{
	struct reactor *r;

	if (event_get_struct_event_size() > REACTOR_EVENT_BYTES) {
		log_warnx("libevent's struct event is %zu bytes, more than %d",
		    event_get_struct_event_size(), REACTOR_EVENT_BYTES);
		errno = EINVAL;
		return NULL;
	}
	if ((r = calloc(1, sizeof *r)) == NULL)
		return NULL;
	r->index = index;
	r->pool = pool;
	if ((r->base = event_base_new()) == NULL) {
		errno = ENOMEM;
		goto fail;
	}
	if ((r->completions = iopool_channel_create(pool)) == NULL)
		goto fail_base;
	if ((r->completion_ev = event_new(r->base,
		 iopool_channel_fd(r->completions), EV_READ | EV_PERSIST,
		 reap_cb, r->completions)) == NULL) {
		errno = ENOMEM;
		goto fail_channel;
	}
	if (event_add(r->completion_ev, NULL) == -1) {
		errno = ENOMEM;
		goto fail_event;
	}
	if ((r->flush_ev = event_new(
		 r->base, -1, 0, flush_cb, r->completions)) == NULL) {
		errno = ENOMEM;
		goto fail_event;
	}
	if (coro_init(stack_bytes, stack_pool_max) == -1)
		goto fail_flush;
	iopool_channel_on_closes(r->completions, closes_started, r->flush_ev);
	iopool_channel_bind(r->completions);
	r->metrics.reactor = (int)index;
	r->metrics.coroutines = coro_live_counter();
	metrics_shard_attach(&r->metrics);
	current = r;
	return r;

fail_flush:
	event_free(r->flush_ev);
fail_event:
	event_free(r->completion_ev);
fail_channel:
	iopool_channel_free(r->completions);
fail_base:
	event_base_free(r->base);
fail:
	free(r);
	return NULL;
}

void
reactor_free(struct reactor *r)
{
	if (r == NULL)
		return;
	if (current == r)
		current = NULL;
	metrics_shard_detach(&r->metrics);
	coro_shutdown();
	/* Closes still gathered are made here: the reactor is done. */
	iopool_channel_on_closes(r->completions, NULL, NULL);
	if (r->due_ev != NULL)
		event_free(r->due_ev);
	event_free(r->flush_ev);
	event_free(r->completion_ev);
	iopool_channel_free(r->completions);
	event_base_free(r->base);
	free(r);
}

int
reactor_run(struct reactor *r)
{
	int rc;

	for (;;) {
		r->turn++;
		if ((rc = event_base_loop(r->base, EVLOOP_ONCE)) != 0)
			return rc == -1 ? -1 : 0;
		if (event_base_got_exit(r->base) ||
		    event_base_got_break(r->base))
			return 0;
	}
}

struct reactor *
reactor_current(void)
{
	return current;
}
