/*
 * The await helpers: what a request coroutine calls where callback code
 * would register an event. Each one arms a libevent event (or an I/O job)
 * whose callback resumes the calling coroutine, then yields. Only on a
 * reactor's thread (reactor_current()), from inside a coroutine.
 */
#ifndef AWAIT_H
#define AWAIT_H

#include <stddef.h>

#include "iopool.h"
#include "reactor.h"

struct coro;

/*
 * A socket watched for the whole life of its connection: registered once,
 * edge-triggered, so waiting costs no epoll_ctl. The caller must try its
 * read or write first and wait only after EAGAIN, or after a read that
 * took all there was with no EV_READ in seen since: an edge that comes
 * while nobody waits wakes nobody, and only seen keeps a trace of it.
 */
struct await_watch {
	_Alignas(max_align_t) unsigned char ev[REACTOR_EVENT_BYTES];
	_Alignas(max_align_t) unsigned char idle_timer[REACTOR_EVENT_BYTES];
	struct coro *waiter; /* NULL: parked, see await_watch_idle */
	short waiting;	     /* EV_READ and/or EV_WRITE */
	short got;
	short seen; /* readiness reported since the owner cleared it */
	void (*idle_cb)(void *arg, int timed_out);
	void *idle_arg;
	long idle_deadline_ms; /* await_now_ms() when a park times out */
	long idle_armed_ms;    /* when idle_timer fires, if idle_armed */
	int idle_armed;
};

/*
 * Waits until fd is ready for what (EV_READ or EV_WRITE). timeout_ms < 0
 * waits for ever. Returns 0, or -1 with errno ETIMEDOUT, or ENOMEM when
 * the event cannot be armed.
 */
int await_fd(int fd, short what, long timeout_ms);
/*
 * Runs job->work on the I/O pool and waits for it to complete. Returns 0,
 * or -1 with errno EAGAIN when the pool's queue is full. Overwrites
 * job->done and job->data.
 */
int await_job(struct iojob *job);
/* Registers w for fd; 0, or -1 with errno ENOMEM. */
int await_watch_open(struct await_watch *w, int fd);
/* Unregisters it: before the fd is closed. */
void await_watch_close(struct await_watch *w);
/*
 * Parks the fd with no coroutine at all: cb(arg, 0) runs once when it
 * turns readable, or cb(arg, 1) after timeout_ms. An idle connection so
 * holds no stack. Like await_watch, only after a read returned EAGAIN or
 * took all there was, with no EV_READ seen since.
 */
int await_watch_idle(struct await_watch *w, long timeout_ms,
    void (*cb)(void *arg, int timed_out), void *arg);
/* Ends a park without its callback: the owner wakes the fd's user. */
void await_watch_unpark(struct await_watch *w);
/* await_fd() for a watched fd: the same results. */
int await_watch(struct await_watch *w, short what, long timeout_ms);
/*
 * Ends a coroutine's await_watch() on w early, as if the fd were ready
 * (it returns 0), for a protocol whose coroutine waits on its socket and
 * on other coroutines at once (HTTP/2). Nothing when none waits. Only
 * from the reactor's own stack (an event callback), never from a
 * coroutine, which the woken one could try to resume.
 */
void await_watch_wake(struct await_watch *w);
/* Sleeps without blocking the reactor; 0, or -1 with errno ENOMEM. */
int await_sleep(long ms);

/* monotime_ms(): the clock the deadlines here are measured on. */
long await_now_ms(void);

#endif
