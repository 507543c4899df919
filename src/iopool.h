/*
 * Worker threads that run blocking filesystem work so the reactors never
 * do, shared by every reactor: a few at start, more (up to a maximum)
 * whenever a job finds them all busy, so a storage call stuck on one thread
 * does not hold up the rest. A job is a plain struct embedded in its owner:
 * work() runs on a worker, done() runs later on the reactor that submitted
 * it, from its completion channel's iopool_channel_reap().
 * Workers never touch libevent, sockets or coroutines.
 */
#ifndef IOPOOL_H
#define IOPOOL_H

#include <dirent.h>
#include <stdint.h>

#include "histogram.h"

struct iojob {
	void (*work)(struct iojob *); /* worker thread */
	void (*done)(struct iojob *); /* reactor thread */
	void *data;		      /* the submitter's */
	/*
	 * Queued even past queue_max: for jobs that release what an earlier
	 * job took (a close), which that earlier job already bounds.
	 */
	int past_limit;
	/*
	 * Nothing comes back: done() is never called, and work() owns the
	 * job (it may free it). For work the reactor has no use for.
	 */
	int detached;
	struct iojob *next; /* owned by the pool */
	struct iojob *prev; /* owned by the pool */
	uint64_t submit_ns; /* owned by the pool */
	/* The submitting thread's channel, where done() runs. */
	struct iopool_channel *channel; /* owned by the pool */
};

/* One channel's, written by its reactor only, like submit and reap. */
struct iopool_stats {
	uint64_t jobs;	     /* accepted by iopool_submit */
	uint64_t queue_full; /* refused with EAGAIN */
	/*
	 * Submit to the moment iopool_channel_reap() takes the completion, just
	 * before done(): queueing, work and the wake-up, which is what the
	 * waiting coroutine sees. Inline: submit to the end of work().
	 */
	struct histogram latency;
};

struct iopool;
struct iopool_channel;

/*
 * Starts nthreads workers, and more (up to max_threads) whenever a job
 * finds them all busy. nthreads == 0 makes a pool that runs work() inline
 * in iopool_submit(): it blocks the caller and exists to measure what the
 * threads buy.
 */
/*
 * Once the process's credentials are final (after the privilege drop):
 * the grower starts workers at nice 19 from now on, each raising its own
 * priority back before it takes a job, if the process may let it;
 * otherwise nothing changes.
 */
void iopool_nice_grower(struct iopool *);
struct iopool *iopool_create(
    unsigned nthreads, unsigned max_threads, unsigned queue_max);
/*
 * Finishes queued jobs, joins the workers, calls done() for every job not
 * yet reaped, on the calling thread (a job submitted from there runs
 * inline), frees the pool. Every reactor must have stopped.
 */
void iopool_destroy(struct iopool *);

/*
 * Queues job: returns 0, and done() will be called from the reap of the
 * channel bound to this thread, which a pool with threads requires. With
 * no threads, runs work() at once and returns 1; done() is not called.
 * Returns -1 with errno EAGAIN when the queue is full (unless
 * job->past_limit).
 */
int iopool_submit(struct iopool *, struct iojob *job);
/* Jobs queued or running, for status and tests. */
unsigned iopool_pending(struct iopool *);
unsigned iopool_threads(const struct iopool *);
/* For tests: the grower's thread id, 0 until it runs (or with none). */
pid_t iopool__grower(struct iopool *);
/* Every channel's statistics added up; safe from any thread. */
void iopool_stats(struct iopool *, struct iopool_stats *sum);

/*
 * A reactor's completion channel: its own done queue and eventfd, so the
 * completions of one reactor's jobs wake that reactor alone. Freed by its
 * owner after iopool_destroy() (a worker may still be waking it after its
 * last job was reaped), or before it if no job was ever submitted on it;
 * NULL when it cannot be had.
 */
struct iopool_channel *iopool_channel_create(struct iopool *);
void iopool_channel_free(struct iopool_channel *);
/* Jobs submitted on the calling thread from now on complete on ch. */
void iopool_channel_bind(struct iopool_channel *ch);
/*
 * started(arg) runs on the reactor when a batch of closes begins to fill
 * (iopool_close): the reactor is to call iopool_channel_flush() before it
 * next waits for events. Without it, the channel's fd turns readable and
 * iopool_channel_reap() flushes.
 */
void iopool_channel_on_closes(
    struct iopool_channel *ch, void (*started)(void *), void *arg);
/* Hands the closes gathered so far to the pool, as one job. */
void iopool_channel_flush(struct iopool_channel *ch);
/* Readable when completions wait for iopool_channel_reap(). */
int iopool_channel_fd(const struct iopool_channel *);
/* Calls done() for every completed job, outside the lock. */
void iopool_channel_reap(struct iopool_channel *);
const struct iopool_stats *iopool_channel_stats(const struct iopool_channel *);

/*
 * The one close job: a close can wait for storage (NFS flushes on it),
 * so it runs on a worker too. Never refused: it releases what an earlier
 * job took, which that job already bounded.
 */
struct iopool_close {
	struct iojob job;
	int fd;	  /* closed unless dir is set */
	DIR *dir; /* closedir()ed when set */
};

/* Prepares cj to close fd or dir; then await_job() or iopool_submit(). */
void iopool_close_init(struct iopool_close *cj, int fd, DIR *dir);
/*
 * Closes fd on the pool, and nobody waits for it. On a reactor the close
 * joins that reactor's batch: one job closes every descriptor given up in
 * a loop turn (up to 64). Elsewhere it is a job of its own.
 */
void iopool_close(struct iopool *, int fd);

#endif
