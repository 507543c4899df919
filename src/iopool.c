/*
 * The I/O thread pool.
 *
 * Ownership and locking: the pool owns one queue of jobs to do, "todo"
 * (first in, first out, but see todo_take), guarded by pool->lock, and
 * is shared by every reactor. Each reactor has a completion channel of
 * its own: a "done" queue guarded by the channel's lock and an eventfd.
 * iopool_submit() records in the job the channel bound to the submitting
 * thread (as libuv's work requests record their loop) and appends it to
 * todo; a worker takes the head of todo (or, while it is congested, every
 * other time its tail: todo_take), runs work() with no lock held, appends
 * the job to its channel's done queue and, when that was empty, writes
 * the channel's eventfd once, so a burst of completions costs one
 * wake-up; it holds no lock by then, so the reactor it wakes does not
 * block at once on one. A channel outlives the workers (its reactor
 * frees it after iopool_destroy()). The reactor, in
 * iopool_channel_reap(), swaps its whole done queue out under the
 * channel's lock, clears the eventfd, and calls done() for each job
 * outside the lock: done() always runs on the thread that submitted the
 * job. No thread holds both locks at once. A job's memory
 * belongs to its submitter throughout; the pool only links it. A detached
 * job is the exception: nothing comes back for it, and its
 * work() owns it (a batch of closes frees itself). There is no
 * cancellation of a queued or running job: its submitter must keep the job
 * alive until done() runs, which is how a request whose client went away still
 * gets a safe completion.
 *
 * Growth: a job that finds every worker busy (more jobs waiting than
 * workers idle or starting) asks for another worker, up to max_threads. A
 * fixed pool would let as many slow storage calls as it has threads hold
 * up every other request; growing keeps the fast ones moving while fewer
 * than max_threads calls are stuck. Workers are never retired. The
 * grower thread starts them, so that a reactor never waits in a
 * pthread_create (a stack mapped, a clone) while a burst of slow requests
 * asks for a hundred workers. Nor does a reactor wait for the CPU
 * those starts take (60-80 µs each here with 256 KiB stacks, twice that
 * with glibc's 8 MiB): once the credentials are final
 * (iopool_nice_grower), the grower runs at nice 19 (but halfway to the
 * workers' nice while the oldest job has waited GROWER_PATIENCE_NS:
 * grower_pace), and each worker it starts goes back to the pool's own
 * nice before it takes a job, where the process may (CAP_SYS_NICE, or an
 * RLIMIT_NICE such as the unit's LimitNICE=+0); else nothing changes.
 * The lock guards idle, todo_count, takes, the
 * counts of workers asked for and the list of channels; nthreads is
 * written under it too (by the grower alone, once started) and read
 * without it (atomically) to tell the inline pool (none, for good or
 * after iopool_destroy()) from one with workers. threads[] is the
 * grower's while it runs; iopool_destroy() reads it after joining it.
 *
 * Statistics are per channel (ch->stats) and take no lock: only the
 * channel's reactor, in iopool_submit() and iopool_channel_reap(), writes
 * them, with relaxed atomic stores so that iopool_stats() may sum them
 * from another thread. Submit stamps job->submit_ns from the monotonic
 * clock before the job is queued; a worker never touches the stamp, and
 * reap observes the latency once the job is back on the reactor. Jobs
 * that iopool_destroy() finishes, and detached jobs, are never reaped and
 * so are not observed.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>
#ifdef HAVE_SYS_EVENTFD_H
#include <sys/eventfd.h>
#endif

#include "iopool.h"
#include "log.h"
#include "monotime.h"

struct jobq {
	struct iojob *head;
	struct iojob *tail;
};

/*
 * Descriptors to close, gathered on one reactor and closed by one job:
 * a close may wait for storage, but a job per close would cost a pool
 * round trip per request that opened a file on the reactor.
 */
#define CLOSE_BATCH 64

struct close_batch {
	struct iojob job;
	unsigned count;
	int fds[CLOSE_BATCH];
};

struct iopool_channel {
	pthread_mutex_t lock; /* guards done */
	struct jobq done;
	int notify_rfd; /* eventfd, or a pipe's read end */
	int notify_wfd;
	struct iopool_stats stats;	/* its reactor writes, no lock */
	struct close_batch *closes;	/* filling; its reactor's alone */
	void (*closes_started)(void *); /* see iopool_channel_on_closes */
	void *closes_arg;
	struct iopool *pool;	     /* NULL once the pool is destroyed */
	struct iopool_channel *next; /* pool->channels, under pool->lock */
};

struct iopool {
	pthread_mutex_t lock;
	pthread_cond_t wake; /* todo became non-empty, or stop */
	pthread_cond_t grow; /* a worker is wanted, or stop */
	struct jobq todo;
	struct iopool_channel *channels;
	unsigned queued; /* in todo or running; bounded */
	unsigned queue_max;
	int stopping;
	unsigned nthreads;
	unsigned max_threads;
	unsigned idle;	     /* workers waiting for a job, or about to look */
	unsigned todo_count; /* jobs in todo */
	unsigned takes;	     /* jobs taken while congested (todo_take) */
	unsigned starting;   /* workers asked for, not yet taking jobs */
	unsigned wanted;     /* of those, not yet given a slot */
	pthread_t *threads;
	pthread_t grower;
	int growing;   /* the grower runs */
	int base_nice; /* the nice workers run at */
	int niced;     /* the grower runs at GROWER_NICE */
	int hurried;   /* ... but nearer base_nice for now (grower_pace) */
	pid_t grower_tid;
};

/* Where jobs submitted on this thread complete: its reactor's channel. */
static _Thread_local struct iopool_channel *bound;

static void closes_flush(struct iopool_channel *);

/* Single writer: a plain add, made visible to a reader on another thread. */
static void
stat_add(uint64_t *counter, uint64_t n)
{
	__atomic_store_n(counter,
	    __atomic_load_n(counter, __ATOMIC_RELAXED) + n, __ATOMIC_RELAXED);
}

/* A clock step backwards cannot happen (monotonic), but never wrap. */
static void
observe(struct iopool_channel *ch, const struct iojob *job, uint64_t end_ns)
{
	histogram_observe(&ch->stats.latency,
	    end_ns > job->submit_ns ? end_ns - job->submit_ns : 0);
}

static void
jobq_push(struct jobq *q, struct iojob *job)
{
	job->next = NULL;
	job->prev = q->tail;
	if (q->tail != NULL)
		q->tail->next = job;
	else
		q->head = job;
	q->tail = job;
}

static void
jobq_unlink(struct jobq *q, struct iojob *job)
{
	if (job->prev != NULL)
		job->prev->next = job->next;
	else
		q->head = job->next;
	if (job->next != NULL)
		job->next->prev = job->prev;
	else
		q->tail = job->prev;
}

static void
notify(struct iopool_channel *ch)
{
	uint64_t one = 1;
	ssize_t n;

	do
		n = write(ch->notify_wfd, &one,
		    ch->notify_rfd == ch->notify_wfd ? sizeof one : 1);
	while (n == -1 && errno == EINTR);
}

static void *worker_main(void *);
#ifdef CORO_SANITIZERS
#define WORKER_STACK_BYTES (2 * 1024 * 1024) /* instrumented frames */
#else
#define WORKER_STACK_BYTES (256 * 1024)
#endif
/* Starting threads waits its turn behind any work of the reactors'. */
#define GROWER_NICE 19
/*
 * A hurried grower's nice: halfway from the workers' to GROWER_NICE. At
 * the workers' own, it and the threads it had just started kept a
 * reactor serving from memory off its CPU for 8.5 ms straight when a
 * hundred slow calls came at once (perf sched timehist, one CPU); nine
 * steps up it still gets about a tenth of a busy CPU, and the scheduler
 * lets it run ahead of the reactor for a tenth as long.
 */
static int
hurry_nice(int base)
{
	return base + (GROWER_NICE - base) / 2;
}

/*
 * How long the oldest job may wait for a worker before the grower stops
 * giving way: at nice 19 beside a busy reactor it gets about 1.5 % of
 * the CPU, and a worker start (80-180 µs of CPU here) then takes 5-12 ms,
 * so a hundred of them kept a job behind a hundred slow calls waiting
 * for most of a second.
 */
#define GROWER_PATIENCE_NS (2 * 1000 * 1000)

static void *grown_main(void *);
static void *grower_main(void *);

/*
 * The daemon's signals (SIGTERM, SIGHUP...) are blocked in every thread
 * and read by reactor 0 from a signalfd: one left unblocked in a worker
 * would be delivered there, with its default action (the process killed).
 * So a worker starts with them blocked, from its first instruction,
 * whichever thread starts it; faults (SIGSEGV and the like) stay
 * deliverable.
 */
static int
thread_start(pthread_t *thread, void *(*main)(void *), struct iopool *pool)
{
	pthread_attr_t attr;
	sigset_t set, old;
	int rc;

	/*
	 * A job's frames are a resolution's paths, a listing's entry or
	 * OpenSSL reading a certificate, far from glibc's 8 MiB; and a
	 * smaller stack halves a thread's start here (130-180 µs of CPU
	 * with 8 MiB, 63-82 µs with 256 KiB), the price of every worker a
	 * burst of slow calls adds.
	 */
	if ((rc = pthread_attr_init(&attr)) != 0)
		return rc;
	(void)pthread_attr_setstacksize(&attr, WORKER_STACK_BYTES);
	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGHUP);
	sigaddset(&set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &set, &old);
	rc = pthread_create(thread, &attr, main, pool);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	return rc;
}

/*
 * The job a worker takes: the oldest, but while the oldest has waited
 * GROWER_PATIENCE_NS (every worker busy, most likely with calls that
 * take long) every other one is the newest. A burst of slow calls queued
 * ahead would otherwise keep a job for a file in memory waiting until
 * the pool had grown a worker for each of them: a slow disk must delay
 * only the requests that touch it. Taking the oldest in turn keeps every
 * job moving. (Facebook's servers answer overload with the same
 * "adaptive LIFO".)
 */
static struct iojob *
todo_take(struct iopool *pool)
{
	struct iojob *job = pool->todo.head;

	if (job != NULL && job != pool->todo.tail &&
	    monotime_ns() - job->submit_ns > GROWER_PATIENCE_NS &&
	    pool->takes++ % 2 == 0)
		job = pool->todo.tail;
	if (job != NULL)
		jobq_unlink(&pool->todo, job);
	return job;
}

/* A worker's loop, entered and left with pool->lock held. */
static void
work_loop(struct iopool *pool)
{
	struct iopool_channel *ch;
	struct iojob *job;
	int was_empty, detached;

	for (;;) {
		while (pool->todo.head == NULL && !pool->stopping) {
			pool->idle++;
			pthread_cond_wait(&pool->wake, &pool->lock);
			pool->idle--;
		}
		if ((job = todo_take(pool)) == NULL)
			break;
		pool->todo_count--;
		pthread_mutex_unlock(&pool->lock);

		/* A detached job is work()'s own: it may be gone after. */
		detached = job->detached;
		job->work(job);

		/*
		 * Not pending once it can be reaped (a gauge read before the
		 * push below misses it for that moment). Counted idle from
		 * here: the reactor woken below may run at once and submit its
		 * next job, which this thread will take, not a new one.
		 * Neither lock is held across the wake-up, so the woken
		 * reactor does not block on one and hand the CPU straight
		 * back.
		 */
		pthread_mutex_lock(&pool->lock);
		pool->queued--;
		pool->idle++;
		pthread_mutex_unlock(&pool->lock);
		if (!detached) {
			ch = job->channel;
			pthread_mutex_lock(&ch->lock);
			was_empty = ch->done.head == NULL;
			jobq_push(&ch->done, job);
			pthread_mutex_unlock(&ch->lock);
			/* A reap between the push and this write finds the job
			 * early; the wake-up it then gets finds nothing. */
			if (was_empty)
				notify(ch);
		}
		pthread_mutex_lock(&pool->lock);
		pool->idle--;
	}
}

/* A worker: no longer starting once it can take jobs. */
static void *
worker_main(void *arg)
{
	struct iopool *pool = arg;

	pthread_mutex_lock(&pool->lock);
	pool->starting--;
	work_loop(pool);
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

/* A worker the grower started, at the grower's nice until here. */
static void *
grown_main(void *arg)
{
	struct iopool *pool = arg;

	/* On Linux a nice is a thread's own: PRIO_PROCESS 0 is this one. */
	if (__atomic_load_n(&pool->niced, __ATOMIC_ACQUIRE) &&
	    setpriority(PRIO_PROCESS, 0, pool->base_nice) == -1)
		log_warn("I/O worker: back to nice %d", pool->base_nice);
	return worker_main(pool);
}

/*
 * The grower's nice, called with the lock held and busy when it is about
 * to start a worker: GROWER_NICE while the oldest job is young or nothing
 * is to be started, hurry_nice() once a job has waited
 * GROWER_PATIENCE_NS. The renice is made with the lock released: a
 * thread going to nice 19 may lose its CPU at once, and must not hold
 * what the reactors submit under.
 */
static void
grower_pace(struct iopool *pool, int busy)
{
	int hurry = busy && pool->todo.head != NULL &&
	    monotime_ns() - pool->todo.head->submit_ns > GROWER_PATIENCE_NS;

	if (!__atomic_load_n(&pool->niced, __ATOMIC_ACQUIRE) ||
	    hurry == pool->hurried)
		return;
	pthread_mutex_unlock(&pool->lock);
	if (setpriority(PRIO_PROCESS, 0,
		hurry ? hurry_nice(pool->base_nice) : GROWER_NICE) == 0)
		pool->hurried = hurry; /* the grower's alone */
	pthread_mutex_lock(&pool->lock);
}

/*
 * Starts the workers asked for, one at a time, with the lock released
 * around each pthread_create so that workers and reactors go on meanwhile.
 */
static void *
grower_main(void *arg)
{
	struct iopool *pool = arg;
	unsigned slot;
	int rc;

	pthread_mutex_lock(&pool->lock);
	pool->grower_tid = (pid_t)syscall(SYS_gettid);
	if (pool->niced && setpriority(PRIO_PROCESS, 0, GROWER_NICE) == -1)
		__atomic_store_n(&pool->niced, 0, __ATOMIC_RELAXED);
	for (;;) {
		if (pool->wanted == 0)
			grower_pace(pool, 0);
		while (pool->wanted == 0 && !pool->stopping)
			pthread_cond_wait(&pool->grow, &pool->lock);
		/* Only this thread takes from wanted: still there after. */
		grower_pace(pool, 1);
		if (pool->stopping)
			break;
		/*
		 * The slot is counted before the worker runs: it may take jobs
		 * and stop counting as starting before pthread_create returns,
		 * and the cap (nthreads + wanted) must still see it.
		 */
		pool->wanted--;
		slot = pool->nthreads;
		__atomic_store_n(&pool->nthreads, slot + 1, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&pool->lock);
		rc = thread_start(&pool->threads[slot], grown_main, pool);
		pthread_mutex_lock(&pool->lock);
		/* Failing to grow is not fatal: the job still waits its turn.
		 */
		if (rc != 0) {
			__atomic_store_n(
			    &pool->nthreads, slot, __ATOMIC_RELAXED);
			pool->starting--;
		}
	}
	pthread_mutex_unlock(&pool->lock);
	return NULL;
}

static int
notify_open(struct iopool_channel *ch)
{
#ifdef HAVE_SYS_EVENTFD_H
	ch->notify_rfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ch->notify_rfd != -1) {
		ch->notify_wfd = ch->notify_rfd;
		return 0;
	}
#endif
	int fds[2];

	if (pipe(fds) == -1)
		return -1;
	fcntl(fds[0], F_SETFL, O_NONBLOCK);
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	fcntl(fds[0], F_SETFD, FD_CLOEXEC);
	fcntl(fds[1], F_SETFD, FD_CLOEXEC);
	ch->notify_rfd = fds[0];
	ch->notify_wfd = fds[1];
	return 0;
}

static void
notify_close(struct iopool_channel *ch)
{
	if (ch->notify_wfd != ch->notify_rfd)
		close(ch->notify_wfd);
	close(ch->notify_rfd);
}

/*
 * Whether a thread may lower its nice to base again after raising it:
 * CAP_SYS_NICE, or an RLIMIT_NICE that allows down to base (20 - rlim_cur).
 */
static int
may_return(int base)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3,
		0 };
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3];
	struct rlimit rl;

	if (getrlimit(RLIMIT_NICE, &rl) == 0 &&
	    (rl.rlim_cur == RLIM_INFINITY || 20 - (long)rl.rlim_cur <= base))
		return 1;
	return syscall(SYS_capget, &hdr, data) == 0 &&
	    (data[CAP_SYS_NICE / 32].effective & (1U << (CAP_SYS_NICE % 32)));
}

void
iopool_nice_grower(struct iopool *pool)
{
	int base;

	if (!pool->growing)
		return;
	errno = 0;
	base = getpriority(PRIO_PROCESS, 0);
	if (errno != 0 || base >= GROWER_NICE || !may_return(base))
		return;
	pthread_mutex_lock(&pool->lock);
	pool->base_nice = base;
	/*
	 * Else the grower does it itself, when it starts. A seccomp filter
	 * may refuse setpriority: then nothing is niced.
	 */
	if (pool->grower_tid == 0 ||
	    setpriority(PRIO_PROCESS, (id_t)pool->grower_tid, GROWER_NICE) == 0)
		__atomic_store_n(&pool->niced, 1, __ATOMIC_RELEASE);
	pthread_mutex_unlock(&pool->lock);
}

struct iopool *
iopool_create(unsigned nthreads, unsigned max_threads, unsigned queue_max)
{
	struct iopool *pool;
	unsigned i;
	int rc;

	if ((pool = calloc(1, sizeof *pool)) == NULL)
		return NULL;
	pool->queue_max = queue_max;
	pool->max_threads = max_threads > nthreads ? max_threads : nthreads;
	if (pthread_mutex_init(&pool->lock, NULL) != 0)
		goto fail_pool;
	if (pthread_cond_init(&pool->wake, NULL) != 0)
		goto fail_lock;
	if (pthread_cond_init(&pool->grow, NULL) != 0)
		goto fail_wake;
	if (nthreads > 0 &&
	    (pool->threads =
		    calloc(pool->max_threads, sizeof *pool->threads)) == NULL)
		goto fail_grow;
	/* Jobs submitted before the first workers wait ask for no more. */
	pool->starting = nthreads;
	for (i = 0; i < nthreads; i++) {
		if ((rc = thread_start(&pool->threads[i], worker_main, pool)) !=
		    0) {
			errno = rc;
			goto fail_threads;
		}
		pool->nthreads++;
	}
	if (nthreads > 0 && pool->max_threads > nthreads) {
		if ((rc = thread_start(&pool->grower, grower_main, pool)) !=
		    0) {
			errno = rc;
			goto fail_threads;
		}
		pool->growing = 1;
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
fail_grow:
	pthread_cond_destroy(&pool->grow);
fail_wake:
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
	struct iopool_channel *ch;
	struct iojob *job, *next;
	unsigned i;

	if (pool == NULL)
		return;
	pthread_mutex_lock(&pool->lock);
	pool->stopping = 1;
	pthread_cond_broadcast(&pool->wake);
	pthread_cond_signal(&pool->grow);
	pthread_mutex_unlock(&pool->lock);
	/* First the grower: then nthreads no longer changes. */
	if (pool->growing)
		pthread_join(pool->grower, NULL);
	for (i = 0; i < pool->nthreads; i++)
		pthread_join(pool->threads[i], NULL);
	free(pool->threads);
	pool->threads = NULL;
	/* Alone now: completions run here, and a job they submit runs inline.
	 */
	__atomic_store_n(&pool->nthreads, 0, __ATOMIC_RELAXED);
	for (ch = pool->channels; ch != NULL; ch = ch->next) {
		job = ch->done.head;
		ch->done.head = ch->done.tail = NULL;
		for (; job != NULL; job = next) {
			next = job->next;
			job->done(job);
		}
	}
	/* Each channel is its reactor's to free, after this. */
	for (ch = pool->channels; ch != NULL; ch = ch->next) {
		closes_flush(ch);
		ch->pool = NULL;
	}
	pthread_cond_destroy(&pool->grow);
	pthread_cond_destroy(&pool->wake);
	pthread_mutex_destroy(&pool->lock);
	free(pool);
}

int
iopool_submit(struct iopool *pool, struct iojob *job)
{
	struct iopool_channel *ch = bound;
	int grow, wake;

	job->submit_ns = monotime_ns();
	job->channel = ch;
	if (__atomic_load_n(&pool->nthreads, __ATOMIC_RELAXED) == 0) {
		/* Inline: counted where this thread's jobs are, if anywhere. */
		if (ch != NULL)
			stat_add(&ch->stats.jobs, 1);
		if (job->detached) {
			job->work(job); /* may free job */
			return 1;
		}
		job->work(job);
		if (ch != NULL)
			observe(ch, job, monotime_ns());
		return 1;
	}
	if (ch == NULL || ch->pool != pool)
		fatalx("an I/O job submitted with no completion channel");
	pthread_mutex_lock(&pool->lock);
	if (pool->queued >= pool->queue_max && !job->past_limit) {
		pthread_mutex_unlock(&pool->lock);
		stat_add(&ch->stats.queue_full, 1);
		errno = EAGAIN;
		return -1;
	}
	stat_add(&ch->stats.jobs, 1);
	pool->queued++;
	jobq_push(&pool->todo, job);
	pool->todo_count++;
	grow = pool->todo_count > pool->idle + pool->starting &&
	    pool->nthreads + pool->wanted < pool->max_threads;
	if (grow) {
		pool->starting++;
		pool->wanted++;
	}
	wake = pool->idle > 0;
	pthread_mutex_unlock(&pool->lock);
	/*
	 * Signalled with the lock released: a woken thread that runs at once
	 * (on the submitter's CPU) does not block on the lock straight away
	 * and hand the CPU back.
	 */
	if (grow)
		pthread_cond_signal(&pool->grow);
	if (wake)
		pthread_cond_signal(&pool->wake);
	return 0;
}

struct iopool_channel *
iopool_channel_create(struct iopool *pool)
{
	struct iopool_channel *ch;

	if ((ch = calloc(1, sizeof *ch)) == NULL)
		return NULL;
	if (pthread_mutex_init(&ch->lock, NULL) != 0)
		goto fail;
	if (notify_open(ch) == -1)
		goto fail_lock;
	ch->pool = pool;
	pthread_mutex_lock(&pool->lock);
	ch->next = pool->channels;
	pool->channels = ch;
	pthread_mutex_unlock(&pool->lock);
	return ch;

fail_lock:
	pthread_mutex_destroy(&ch->lock);
fail:
	free(ch);
	return NULL;
}

void
iopool_channel_free(struct iopool_channel *ch)
{
	struct iopool_channel **pp;

	if (ch == NULL)
		return;
	if (bound == ch)
		bound = NULL;
	if (ch->pool != NULL &&
	    __atomic_load_n(&ch->pool->nthreads, __ATOMIC_RELAXED) > 0 &&
	    __atomic_load_n(&ch->stats.jobs, __ATOMIC_RELAXED) > 0)
		fatalx("an I/O channel freed while workers may wake it");
	if (ch->pool != NULL) {
		pthread_mutex_lock(&ch->pool->lock);
		for (pp = &ch->pool->channels; *pp != NULL; pp = &(*pp)->next)
			if (*pp == ch) {
				*pp = ch->next;
				break;
			}
		pthread_mutex_unlock(&ch->pool->lock);
	}
	closes_flush(ch);
	notify_close(ch);
	pthread_mutex_destroy(&ch->lock);
	free(ch);
}

void
iopool_channel_bind(struct iopool_channel *ch)
{
	bound = ch;
}

int
iopool_channel_fd(const struct iopool_channel *ch)
{
	return ch->notify_rfd;
}

void
iopool_channel_reap(struct iopool_channel *ch)
{
	struct iojob *job, *next;
	char drain[64];
	uint64_t reaped_ns;

	pthread_mutex_lock(&ch->lock);
	job = ch->done.head;
	ch->done.head = ch->done.tail = NULL;
	/*
	 * Cleared under the lock: a worker finding done empty writes again.
	 * One read empties an eventfd; a pipe is read until it is empty.
	 */
	while (read(ch->notify_rfd, drain, sizeof drain) > 0 &&
	    ch->notify_rfd != ch->notify_wfd)
		continue;
	pthread_mutex_unlock(&ch->lock);

	/* One clock read per batch: all of it reached the reactor together. */
	reaped_ns = job != NULL ? monotime_ns() : 0;
	for (; job != NULL; job = next) {
		next = job->next;
		observe(ch, job, reaped_ns);
		job->done(job);
	}
	/* With no reactor to ask for the end of the turn, here is as late. */
	if (ch->closes_started == NULL)
		closes_flush(ch);
}

const struct iopool_stats *
iopool_channel_stats(const struct iopool_channel *ch)
{
	return &ch->stats;
}

unsigned
iopool_pending(struct iopool *pool)
{
	unsigned n;

	pthread_mutex_lock(&pool->lock);
	n = pool->queued;
	pthread_mutex_unlock(&pool->lock);
	return n;
}

pid_t
iopool__grower(struct iopool *pool)
{
	pid_t tid;

	pthread_mutex_lock(&pool->lock);
	tid = pool->grower_tid;
	pthread_mutex_unlock(&pool->lock);
	return tid;
}

unsigned
iopool_threads(const struct iopool *pool)
{
	return __atomic_load_n(&pool->nthreads, __ATOMIC_RELAXED);
}

void
iopool_stats(struct iopool *pool, struct iopool_stats *sum)
{
	const struct iopool_channel *ch;
	size_t i;

	memset(sum, 0, sizeof *sum);
	pthread_mutex_lock(&pool->lock);
	for (ch = pool->channels; ch != NULL; ch = ch->next) {
		sum->jobs += __atomic_load_n(&ch->stats.jobs, __ATOMIC_RELAXED);
		sum->queue_full +=
		    __atomic_load_n(&ch->stats.queue_full, __ATOMIC_RELAXED);
		for (i = 0; i <= HISTOGRAM_BOUNDS; i++)
			sum->latency.counts[i] += __atomic_load_n(
			    &ch->stats.latency.counts[i], __ATOMIC_RELAXED);
		sum->latency.sum_ns += __atomic_load_n(
		    &ch->stats.latency.sum_ns, __ATOMIC_RELAXED);
		sum->latency.count +=
		    __atomic_load_n(&ch->stats.latency.count, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&pool->lock);
}

static void
close_work(struct iojob *job)
{
	struct iopool_close *cj = (struct iopool_close *)job;

	if (cj->dir != NULL)
		closedir(cj->dir);
	else if (cj->fd != -1)
		close(cj->fd);
}

void
iopool_close_init(struct iopool_close *cj, int fd, DIR *dir)
{
	memset(cj, 0, sizeof *cj);
	cj->job.work = close_work;
	cj->job.past_limit = 1;
	cj->fd = fd;
	cj->dir = dir;
}

static void
close_free(struct iojob *job)
{
	free(job);
}

/* Detached: nothing comes back to the reactor, which has no use for it. */
static void
close_batch_work(struct iojob *job)
{
	struct close_batch *b = (struct close_batch *)job;
	unsigned i;

	for (i = 0; i < b->count; i++)
		close(b->fds[i]);
	free(b);
}

/*
 * Hands the channel's batch to the pool. Once the pool is gone (teardown,
 * where blocking is allowed), or off the reactor, it is closed here.
 */
static void
closes_flush(struct iopool_channel *ch)
{
	struct close_batch *b = ch->closes;

	if (b == NULL)
		return;
	ch->closes = NULL;
	if (ch->pool == NULL || bound != ch)
		close_batch_work(&b->job);
	else
		iopool_submit(ch->pool, &b->job);
}

void
iopool_channel_on_closes(
    struct iopool_channel *ch, void (*started)(void *), void *arg)
{
	ch->closes_started = started;
	ch->closes_arg = arg;
}

void
iopool_channel_flush(struct iopool_channel *ch)
{
	closes_flush(ch);
}

/*
 * Batched on the calling reactor's channel: the batch goes to the pool
 * when full, or at the end of this loop turn, which its first descriptor
 * asks the reactor for (or, with no one to ask, the channel's fd, which
 * iopool_channel_reap() answers). So at most CLOSE_BATCH descriptors wait
 * to be handed over, for one loop turn at most.
 */
void
iopool_close(struct iopool *pool, int fd)
{
	struct iopool_channel *ch = bound;
	struct iopool_close *cj;
	struct close_batch *b;

	if (fd == -1)
		return;
	if (ch != NULL && ch->pool == pool &&
	    __atomic_load_n(&pool->nthreads, __ATOMIC_RELAXED) > 0) {
		if ((b = ch->closes) == NULL &&
		    (b = malloc(sizeof *b)) != NULL) {
			memset(&b->job, 0, sizeof b->job);
			b->job.work = close_batch_work;
			b->job.past_limit = 1;
			b->job.detached = 1;
			b->count = 0;
			ch->closes = b;
			if (ch->closes_started != NULL)
				ch->closes_started(ch->closes_arg);
			else
				notify(ch);
		}
		if (b != NULL) {
			b->fds[b->count++] = fd;
			if (b->count == CLOSE_BATCH)
				closes_flush(ch);
			return;
		}
	}
	if ((cj = malloc(sizeof *cj)) == NULL) {
		close(fd); /* no memory for a job: a brief block */
		return;
	}
	iopool_close_init(cj, fd, NULL);
	cj->job.done = close_free;
	if (iopool_submit(pool, &cj->job) == 1)
		free(cj); /* no threads: closed inline */
}
