/*
 * Worker threads that run blocking filesystem work so the reactor never
 * does: a few at start, more (up to a maximum) whenever a job finds them
 * all busy, so a storage call stuck on one thread does not hold up the
 * rest. A job is a plain struct embedded in its owner: work() runs on a
 * worker, done() runs later on the reactor thread from iopool_reap().
 * Workers never touch libevent, sockets or coroutines.
 */
#ifndef IOPOOL_H
#define IOPOOL_H

#include <stdint.h>

#include "histogram.h"

struct iojob {
	void		(*work)(struct iojob *);	/* worker thread */
	void		(*done)(struct iojob *);	/* reactor thread */
	void		 *data;				/* the submitter's */
	/*
	 * Queued even past queue_max: for jobs that release what an earlier
	 * job took (a close), which that earlier job already bounds.
	 */
	int		  past_limit;
	struct iojob	 *next;				/* owned by the pool */
	uint64_t	  submit_ns;			/* owned by the pool */
};

/* Kept and read on the reactor thread only, like submit and reap. */
struct iopool_stats {
	uint64_t		 jobs;		/* accepted by iopool_submit */
	uint64_t		 queue_full;	/* refused with EAGAIN */
	/*
	 * Submit to the moment iopool_reap() takes the completion, just
	 * before done(): queueing, work and the wake-up, which is what the
	 * waiting coroutine sees. Inline: submit to the end of work().
	 */
	struct histogram latency;
};

struct iopool;

/*
 * Starts nthreads workers, and more (up to max_threads) whenever a job
 * finds them all busy. nthreads == 0 makes a pool that runs work() inline
 * in iopool_submit(): it blocks the caller and exists to measure what the
 * threads buy.
 */
struct iopool	*iopool_create(unsigned nthreads, unsigned max_threads,
		    unsigned queue_max);
/*
 * Finishes queued jobs, joins the workers, calls done() for every job not
 * yet reaped (a job submitted from there runs inline), frees the pool.
 */
void		 iopool_destroy(struct iopool *);

/*
 * Queues job: returns 0, and done() will be called from iopool_reap(). With
 * no threads, runs work() at once and returns 1; done() is not called.
 * Returns -1 with errno EAGAIN when the queue is full (unless
 * job->past_limit).
 */
int		 iopool_submit(struct iopool *, struct iojob *job);
/* Readable when completions wait for iopool_reap(). */
int		 iopool_fd(const struct iopool *);
/* Calls done() for every completed job, outside the lock. */
void		 iopool_reap(struct iopool *);
/* Jobs queued or running, for status and tests. */
unsigned	 iopool_pending(struct iopool *);
unsigned	 iopool_threads(const struct iopool *);
const struct iopool_stats *iopool_stats(const struct iopool *);

#endif
