/*
 * The await helpers: what a request coroutine calls where callback code
 * would register an event. Each one arms a libevent event (or an I/O job)
 * whose callback resumes the calling coroutine, then yields. Only for the
 * reactor thread, from inside a coroutine.
 */
#ifndef AWAIT_H
#define AWAIT_H

#include "iopool.h"

struct event_base;

/* Binds the helpers to the reactor's base and pool; 0 or -1. */
int	 await_init(struct event_base *, struct iopool *);
void	 await_shutdown(void);

/*
 * Waits until fd is ready for what (EV_READ or EV_WRITE). timeout_ms < 0
 * waits for ever. Returns 0, or -1 with errno ETIMEDOUT, or ENOMEM when
 * the event cannot be armed.
 */
int	 await_fd(int fd, short what, long timeout_ms);
/*
 * Runs job->work on the I/O pool and waits for it to complete. Returns 0,
 * or -1 with errno EAGAIN when the pool's queue is full. Overwrites
 * job->done and job->data.
 */
int	 await_job(struct iojob *job);
/* Sleeps without blocking the reactor; 0, or -1 with errno ENOMEM. */
int	 await_sleep(long ms);

/* Milliseconds on a monotonic clock, for deadlines. */
long	 await_now_ms(void);

#endif
