/*
 * Await helpers. Every wait keeps its event on the waiting coroutine's own
 * stack: the coroutine cannot end while it is suspended in here, so the
 * event outlives every callback that can touch it, and nothing is
 * allocated per wait. A non-persistent libevent event is already deleted
 * when its callback runs, so the coroutine may finish (and its stack be
 * recycled) inside that callback. Every wait is on the calling thread's
 * reactor (its base, its completion channel).
 */
#include "autoconf.h"

#include <errno.h>
#include <stddef.h>

#include <event2/event.h>

#include "await.h"
#include "coro.h"
#include "log.h"
#include "monotime.h"
#include "reactor.h"

struct event_storage {
	_Alignas(max_align_t) unsigned char bytes[REACTOR_EVENT_BYTES];
};

struct waiter {
	struct coro *co;
	short events;
};

static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct waiter *w = arg;

	w->events = what;
	coro_resume(w->co);
}

static void
ms_to_tv(long ms, struct timeval *tv)
{
	tv->tv_sec = ms / 1000;
	tv->tv_usec = (ms % 1000) * 1000;
}

int
await_fd(int fd, short what, long timeout_ms)
{
	struct waiter w = { coro_current(), 0 };
	struct event_storage storage;
	struct event *ev = (struct event *)&storage;
	struct timeval tv;

	if (timeout_ms < 0)
		timeout_ms = -1;
	ms_to_tv(timeout_ms, &tv);
	event_assign(ev, reactor_current()->base, fd, what, wake_cb, &w);
	if (event_add(ev, timeout_ms < 0 ? NULL : &tv) == -1) {
		errno = ENOMEM;
		return -1;
	}
	coro_yield();
	if (w.events & EV_TIMEOUT) {
		errno = ETIMEDOUT;
		return -1;
	}
	return 0;
}

static void
watch_cb(evutil_socket_t fd, short what, void *arg)
{
	struct await_watch *w = arg;

	w->seen |= what;
	if ((w->waiting & what) == 0)
		return; /* an edge nobody waits for: seen keeps it */
	w->got = what;
	w->waiting = 0;
	if (w->waiter == NULL) {
		/* The idle timer stays armed: see await_watch_idle. */
		w->idle_cb(w->idle_arg, 0);
		return;
	}
	coro_resume(w->waiter);
}

static int
idle_arm(struct await_watch *w, long timeout_ms)
{
	struct timeval tv;

	ms_to_tv(timeout_ms, &tv);
	if (evtimer_add((struct event *)w->idle_timer, &tv) == -1) {
		errno = ENOMEM;
		return -1;
	}
	w->idle_armed = 1;
	w->idle_armed_ms = await_now_ms() + timeout_ms;
	return 0;
}

/*
 * The idle timer fires at the deadline it was armed for, which may be an
 * earlier park's: parked until a later deadline, it is armed again for
 * the rest; not parked, it waits for the next park to arm it.
 */
static void
idle_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct await_watch *w = arg;
	long left;

	w->idle_armed = 0;
	if (w->waiter != NULL || w->waiting == 0)
		return;
	if ((left = w->idle_deadline_ms - await_now_ms()) > 0 &&
	    idle_arm(w, left) == 0)
		return;
	w->waiting = 0;
	w->idle_cb(w->idle_arg, 1);
}

/*
 * A connection parks after nearly every request and wakes for the next
 * one, so the timer is not deleted when it wakes nor added again when it
 * parks: only a deadline is noted, and the timer, once armed, is left to
 * fire and look at it (about once per timeout per connection, instead of
 * a heap insertion and removal per request). It is armed afresh only when
 * it is not armed or armed for later than the new deadline.
 */
int
await_watch_idle(struct await_watch *w, long timeout_ms,
    void (*cb)(void *arg, int timed_out), void *arg)
{
	w->waiter = NULL;
	w->idle_cb = cb;
	w->idle_arg = arg;
	w->idle_deadline_ms = await_now_ms() + timeout_ms;
	if ((!w->idle_armed || w->idle_armed_ms > w->idle_deadline_ms) &&
	    idle_arm(w, timeout_ms) == -1)
		return -1;
	w->waiting = EV_READ;
	return 0;
}

void
await_watch_unpark(struct await_watch *w)
{
	w->waiting = 0; /* the idle timer, if armed, fires and finds none */
}

int
await_watch_open(struct await_watch *w, int fd)
{
	w->waiter = NULL;
	w->waiting = 0;
	w->seen = 0;
	w->idle_armed = 0;
	evtimer_assign((struct event *)w->idle_timer, reactor_current()->base,
	    idle_timeout_cb, w);
	event_assign((struct event *)w->ev, reactor_current()->base, fd,
	    EV_READ | EV_WRITE | EV_PERSIST | EV_ET, watch_cb, w);
	if (event_add((struct event *)w->ev, NULL) == -1) {
		errno = ENOMEM;
		return -1;
	}
	return 0;
}

void
await_watch_close(struct await_watch *w)
{
	evtimer_del((struct event *)w->idle_timer);
	event_del((struct event *)w->ev);
}

static void
watch_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
	struct await_watch *w = arg;

	w->got = EV_TIMEOUT;
	w->waiting = 0;
	coro_resume(w->waiter);
}

int
await_watch(struct await_watch *w, short what, long timeout_ms)
{
	struct event_storage storage;
	struct event *timer = (struct event *)&storage;
	struct timeval tv;

	w->waiter = coro_current();
	w->waiting = what;
	w->got = 0;
	if (timeout_ms >= 0) {
		/* A timer costs no system call, unlike re-arming the fd. */
		ms_to_tv(timeout_ms, &tv);
		evtimer_assign(
		    timer, reactor_current()->base, watch_timeout_cb, w);
		if (evtimer_add(timer, &tv) == -1) {
			w->waiting = 0;
			errno = ENOMEM;
			return -1;
		}
	}
	coro_yield();
	if (timeout_ms >= 0)
		evtimer_del(timer);
	if (w->got & EV_TIMEOUT) {
		errno = ETIMEDOUT;
		return -1;
	}
	return 0;
}

void
await_watch_wake(struct await_watch *w)
{
	if (w->waiter == NULL || w->waiting == 0)
		return;
	w->got = 0;
	w->waiting = 0;
	coro_resume(w->waiter);
}

static void
job_done(struct iojob *job)
{
	coro_resume(job->data);
}

int
await_job(struct iojob *job)
{
	int rc;

	job->done = job_done;
	job->data = coro_current();
	if ((rc = iopool_submit(reactor_current()->pool, job)) == -1)
		return -1;
	if (rc == 0)
		coro_yield();
	return 0;
}

int
await_sleep(long ms)
{
	struct waiter w = { coro_current(), 0 };
	struct event_storage storage;
	struct event *ev = (struct event *)&storage;
	struct timeval tv;

	ms_to_tv(ms, &tv);
	evtimer_assign(ev, reactor_current()->base, wake_cb, &w);
	if (evtimer_add(ev, &tv) == -1) {
		errno = ENOMEM;
		return -1;
	}
	coro_yield();
	return 0;
}

long
await_now_ms(void)
{
	return monotime_ms();
}
