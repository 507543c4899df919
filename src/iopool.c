/*
 * The I/O thread pool.
 *
 * Ownership and locking: the pool owns two singly linked FIFO queues of
 * jobs, "todo" and "done", both guarded by pool->lock. The reactor thread
 * appends to todo in iopool_submit(); a worker takes the head of todo, runs
 * work() with no lock held, appends the job to done and, when done was
 * empty, writes the eventfd once, so a burst of completions costs one
 * wake-up. The reactor, in iopool_reap(), swaps the whole done queue out
 * under the lock, clears the eventfd, and calls done() for each job
 * outside the lock. A job's memory belongs to its submitter throughout; the
 * pool only links it. There is no cancellation of a queued or running job:
 * its submitter must keep the job alive until done() runs, which is how a
 * request whose client went away still gets a safe completion.
 *
 * Growth: a job that finds every worker busy (more jobs waiting than
 * workers idle) starts another worker, up to max_threads. A fixed pool
 * would let as many slow storage calls as it has threads hold up every
 * other request; growing keeps the fast ones moving while fewer than
 * max_threads calls are stuck. Workers are never retired. nthreads and
 * threads[] are touched only by the reactor; idle and todo_count are
 * guarded by the lock.
 *
 * Statistics (pool->stats) take no lock: only the reactor thread, in
 * iopool_submit() and iopool_reap(), writes or reads them. Submit stamps
 * job->submit_ns from the monotonic clock before the job is queued; a
 * worker never touches the stamp, and reap observes the latency once the
 * job is back on the reactor. Jobs that iopool_destroy() finishes are
 * never reaped and so are not observed.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#ifdef HAVE_SYS_EVENTFD_H
#include <sys/eventfd.h>
#endif

#include "iopool.h"
#include "log.h"
#include "monotime.h"

struct jobq {
	struct iojob	*head;
	struct iojob	*tail;
};

struct iopool {
	pthread_mutex_t	 lock;
	pthread_cond_t	 wake;		/* todo became non-empty, or stop */
	struct jobq	 todo;
	struct jobq	 done;
	unsigned	 queued;	/* in todo or running; bounded */
	unsigned	 queue_max;
	int		 stopping;
	unsigned	 nthreads;
	unsigned	 max_threads;
	unsigned	 idle;		/* workers waiting for a job */
	unsigned	 todo_count;	/* jobs in todo */
	pthread_t	*threads;
	int		 notify_rfd;	/* eventfd, or a pipe's read end */
	int		 notify_wfd;
	struct iopool_stats stats;	/* reactor thread only, no lock */
};

/* A clock step backwards cannot happen (monotonic), but never wrap. */
static void
observe(struct iopool *pool, const struct iojob *job, uint64_t end_ns)
{
	histogram_observe(&pool->stats.latency,
	    end_ns > job->submit_ns ? end_ns - job->submit_ns : 0);
}

static void
jobq_push(struct jobq *q, struct iojob *job)
{
	job->next = NULL;
	if (q->tail != NULL)
		q->tail->next = job;
	else
		q->head = job;
	q->tail = job;
}

static void
notify(struct iopool *pool)
{
	uint64_t	 one = 1;
	ssize_t		 n;

	do
		n = write(pool->notify_wfd, &one,
		    pool->notify_rfd == pool->notify_wfd ? sizeof one : 1);
	while (n == -1 && errno == EINTR);
}

static void *
worker_main(void *arg)
{
	struct iopool	*pool = arg;
	struct iojob	*job;
	int		 was_empty;

	pthread_mutex_lock(&pool->lock);
	for (;;) {
		while (pool->todo.head == NULL && !pool->stopping) {
			pool->idle++;
			pthread_cond_wait(&pool->wake, &pool->lock);
			pool->idle--;
		}
		if ((job = pool->todo.head) == NULL)
			break;
		if ((pool->todo.head = job->next) == NULL)
			pool->todo.tail = NULL;
		pool->todo_count--;
		pthread_mutex_unlock(&pool->lock);

		job->work(job);

		pthread_mutex_lock(&pool->lock);
		pool->queued--;
		was_empty = pool->done.head == NULL;
		jobq_push(&pool->done, job);
		if (was_empty)
			notify(pool);
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

static int
notify_open(struct iopool *pool)
{
#ifdef HAVE_SYS_EVENTFD_H
	pool->notify_rfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (pool->notify_rfd != -1) {
		pool->notify_wfd = pool->notify_rfd;
		return 0;
	}
#endif
	int	 fds[2];

	if (pipe(fds) == -1)
		return -1;
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	fcntl(fds[0], F_SETFD, FD_CLOEXEC);
	fcntl(fds[1], F_SETFD, FD_CLOEXEC);
	pool->notify_rfd = fds[0];
	pool->notify_wfd = fds[1];
	return 0;
}

static void
notify_close(struct iopool *pool)
{
	if (pool->notify_wfd != pool->notify_rfd)
		close(pool->notify_wfd);
	close(pool->notify_rfd);
}

struct iopool *
iopool_create(unsigned nthreads, unsigned max_threads, unsigned queue_max)
{
	struct iopool	*pool;
	unsigned	 i;
	int		 rc;

	if ((pool = calloc(1, sizeof *pool)) == NULL)
		return NULL;
	pool->queue_max = queue_max;
	pool->max_threads = max_threads > nthreads ? max_threads : nthreads;
	if (pthread_mutex_init(&pool->lock, NULL) != 0)
		goto fail_pool;
	if (pthread_cond_init(&pool->wake, NULL) != 0)
		goto fail_lock;
	if (notify_open(pool) == -1)
		goto fail_cond;
	if (nthreads > 0 && (pool->threads = calloc(pool->max_threads,
	    sizeof *pool->threads)) == NULL)
		goto fail_notify;
	for (i = 0; i < nthreads; i++) {
		if ((rc = pthread_create(&pool->threads[i], NULL, worker_main,
		    pool)) != 0) {
			errno = rc;
			goto fail_threads;
		}
		pool->nthreads++;
	}
	return pool;

fail_threads:
	pthread_mutex_lock(&pool->lock);
	pool->stopping = 1;
	pthread_cond_broadcast(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
	for (i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	free(pool->threads);
fail_notify:
	notify_close(pool);
fail_cond:
	pthread_cond_destroy(&pool->wake);
fail_lock:
	pthread_mutex_destroy(&pool->lock);
fail_pool:
	free(pool);
	return NULL;
}

void
iopool_destroy(struct iopool *pool)
{
	struct iojob	*job, *next;
	unsigned	 i;

	if (pool == NULL)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->stopping = 1;
	pthread_cond_broadcast(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
	for (i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	free(pool->threads);
	pool->threads = NULL;
	/* Alone now: completions run here, and a job they submit runs inline. */
	pool->nthreads = 0;
	for (job = pool->done.head; job != NULL; job = next) {
		next = job->next;
		job->done(job);
	}
	notify_close(pool);
	pthread_cond_destroy(&pool->wake);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}

int
iopool_submit(struct iopool *pool, struct iojob *job)
{
	int	 grow;

	job->submit_ns = monotime_ns();
	if (pool->nthreads == 0) {
		pool->stats.jobs++;
		job->work(job);
		observe(pool, job, monotime_ns());
		return 1;
	}
	pthread_mutex_lock(&pool->lock);
	if (pool->queued >= pool->queue_max && !job->past_limit) {
		pthread_mutex_unlock(&pool->lock);
		pool->stats.queue_full++;
		errno = EAGAIN;
		return -1;
	}
	pool->stats.jobs++;
	pool->queued++;
	jobq_push(&pool->todo, job);
	pool->todo_count++;
	grow = pool->todo_count > pool->idle &&
	    pool->nthreads < pool->max_threads;
	pthread_cond_signal(&pool->wake);
	pthread_mutex_unlock(&pool->lock);
	/* Failing to grow is not fatal: the job still waits its turn. */
	if (grow && pthread_create(&pool->threads[pool->nthreads], NULL,
	    worker_main, pool) == 0)
		pool->nthreads++;
	return 0;
}

int
iopool_fd(const struct iopool *pool)
{
	return pool->notify_rfd;
}

void
iopool_reap(struct iopool *pool)
{
	struct iojob	*job, *next;
	char		 drain[64];
	uint64_t	 reaped_ns;

	pthread_mutex_lock(&pool->lock);
	job = pool->done.head;
	pool->done.head = pool->done.tail = NULL;
	/* Cleared under the lock: a worker finding done empty writes again. */
	while (read(pool->notify_rfd, drain, sizeof drain) > 0)
		continue;
	pthread_mutex_unlock(&pool->lock);

	/* One clock read per batch: all of it reached the reactor together. */
	reaped_ns = job != NULL ? monotime_ns() : 0;
	for (; job != NULL; job = next) {
		next = job->next;
		observe(pool, job, reaped_ns);
		job->done(job);
	}
}

unsigned
iopool_pending(struct iopool *pool)
{
	unsigned	 n;

	pthread_mutex_lock(&pool->lock);
	n = pool->queued;
	pthread_mutex_unlock(&pool->lock);
	return n;
}

unsigned
iopool_threads(const struct iopool *pool)
{
	return pool->nthreads;
}

const struct iopool_stats *
iopool_stats(const struct iopool *pool)
{
	return &pool->stats;
}
