/*
 * Unit tests for iopool.c: jobs run off the calling thread, completions
 * arrive through the notify fd of the channel bound where they were
 * submitted (and only there), the queue bound holds, a pool without
 * threads runs inline, destroy finishes every job and runs each done(),
 * the statistics count jobs, refusals and latencies per channel, and
 * closes given up on a reactor share one job per loop turn. The pool
 * grows past blocked workers, up to its cap, on a thread of its own; a
 * job queued behind a backlog is not left for last.
 */
#include "autoconf.h"

#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "iopool.h"

struct test_job {
	struct iojob	 job;
	pthread_t	 ran_on;
	int		 gate;		/* work() spins until set */
	int		 running;	/* work() has begun */
	int		 done_calls;
	int		 value;
};

static void
work(struct iojob *job)
{
	struct test_job	*tj = (struct test_job *)job;

	__atomic_store_n(&tj->running, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&tj->gate, __ATOMIC_ACQUIRE))
		usleep(1000);
	tj->ran_on = pthread_self();
	tj->value *= 2;
}

static void
done(struct iojob *job)
{
	((struct test_job *)job)->done_calls++;
}

/*
 * Threads started on the test's "reactor" thread while it is watched:
 * iopool.c's pthread_create comes here (-Wl,--wrap=pthread_create).
 */
int	__real_pthread_create(pthread_t *, const pthread_attr_t *,
	    void *(*)(void *), void *);
int	__wrap_pthread_create(pthread_t *, const pthread_attr_t *,
	    void *(*)(void *), void *);

static pthread_t	 watched;
static int		 watching;
static int		 started_watched;
static int		 holding;	/* a creator waits after creating */

int
__wrap_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
    void *(*main)(void *), void *arg)
{
	int	rc;

	if (__atomic_load_n(&watching, __ATOMIC_ACQUIRE) &&
	    pthread_equal(pthread_self(), watched))
		__atomic_add_fetch(&started_watched, 1, __ATOMIC_RELAXED);
	rc = __real_pthread_create(thread, attr, main, arg);
	while (__atomic_load_n(&holding, __ATOMIC_ACQUIRE))
		usleep(1000);
	return rc;
}

/* The channel of the test's one "reactor", bound to this thread. */
static struct iopool_channel	*ch;

static struct iopool *
pool_open(unsigned nthreads, unsigned max_threads, unsigned queue_max)
{
	struct iopool	*pool = iopool_create(nthreads, max_threads, queue_max);

	ck_assert_ptr_nonnull(pool);
	ck_assert_ptr_nonnull(ch = iopool_channel_create(pool));
	iopool_channel_bind(ch);
	return pool;
}

static void
pool_close(struct iopool *pool)
{
	iopool_destroy(pool);
	iopool_channel_free(ch);
	ch = NULL;
}

static void
init_job(struct test_job *tj, int value, int gate)
{
	tj->job.work = work;
	tj->job.done = done;
	tj->job.past_limit = 0;
	tj->job.detached = 0;
	tj->value = value;
	tj->gate = gate;
	tj->running = 0;
	tj->done_calls = 0;
}

/* Waits until tj's work() has begun, failing after 10 s. */
static void
wait_running(struct test_job *tj)
{
	int	rounds;

	for (rounds = 0; !__atomic_load_n(&tj->running, __ATOMIC_ACQUIRE);
	    rounds++) {
		ck_assert_int_lt(rounds, 10000);
		usleep(1000);
	}
}

/* Reaps until n jobs completed, failing after 10 s. */
static void
reap_until(struct iopool *pool, struct test_job *jobs, int n)
{
	struct pollfd	 pfd = { iopool_channel_fd(ch), POLLIN, 0 };
	int		 i, complete, rounds;

	for (rounds = 0; rounds < 1000; rounds++) {
		for (complete = 0, i = 0; i < n; i++)
			complete += jobs[i].done_calls;
		if (complete == n)
			return;
		ck_assert_int_ge(poll(&pfd, 1, 10), 0);
		iopool_channel_reap(ch);
	}
	ck_abort_msg("jobs did not complete");
}

START_TEST(runs_on_worker)
{
	struct iopool	*pool = pool_open(2, 0, 16);
	struct test_job	 jobs[8];
	int		 i;

	ck_assert_uint_eq(iopool_threads(pool), 2);
	for (i = 0; i < 8; i++) {
		init_job(&jobs[i], i, 1);
		ck_assert_int_eq(iopool_submit(pool, &jobs[i].job), 0);
	}
	reap_until(pool, jobs, 8);
	for (i = 0; i < 8; i++) {
		ck_assert_int_eq(jobs[i].value, i * 2);
		ck_assert_int_eq(jobs[i].done_calls, 1);
		ck_assert(!pthread_equal(jobs[i].ran_on, pthread_self()));
	}
	ck_assert_uint_eq(iopool_pending(pool), 0);
	pool_close(pool);
}
END_TEST

START_TEST(done_only_from_reap)
{
	struct iopool	*pool = pool_open(1, 0, 4);
	struct test_job	 job;
	struct pollfd	 pfd;

	init_job(&job, 21, 1);
	ck_assert_int_eq(iopool_submit(pool, &job.job), 0);
	pfd.fd = iopool_channel_fd(ch);
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	/* Completed, but done() waits for the reactor to reap. */
	ck_assert_int_eq(job.done_calls, 0);
	iopool_channel_reap(ch);
	ck_assert_int_eq(job.done_calls, 1);
	ck_assert_int_eq(job.value, 42);
	/* The notify fd is cleared once everything is reaped. */
	ck_assert_int_eq(poll(&pfd, 1, 0), 0);
	pool_close(pool);
}
END_TEST

START_TEST(queue_is_bounded)
{
	struct iopool	*pool = pool_open(1, 0, 3);
	struct test_job	 jobs[5];
	int		 i;

	for (i = 0; i < 3; i++) {
		init_job(&jobs[i], i, 0);
		ck_assert_int_eq(iopool_submit(pool, &jobs[i].job), 0);
	}
	init_job(&jobs[3], 3, 1);
	ck_assert_int_eq(iopool_submit(pool, &jobs[3].job), -1);
	ck_assert_uint_eq(iopool_pending(pool), 3);
	/* A job that releases something is queued past the bound. */
	init_job(&jobs[4], 4, 1);
	jobs[4].job.past_limit = 1;
	ck_assert_int_eq(iopool_submit(pool, &jobs[4].job), 0);
	ck_assert_uint_eq(iopool_pending(pool), 4);
	for (i = 0; i < 3; i++)
		__atomic_store_n(&jobs[i].gate, 1, __ATOMIC_RELEASE);
	reap_until(pool, jobs, 3);
	reap_until(pool, &jobs[4], 1);
	ck_assert_int_eq(iopool_submit(pool, &jobs[3].job), 0);
	reap_until(pool, &jobs[3], 1);
	pool_close(pool);
}
END_TEST

START_TEST(inline_without_threads)
{
	struct iopool	*pool = pool_open(0, 0, 1);
	struct test_job	 job;

	init_job(&job, 5, 1);
	ck_assert_int_eq(iopool_submit(pool, &job.job), 1);
	ck_assert_int_eq(job.value, 10);
	ck_assert(pthread_equal(job.ran_on, pthread_self()));
	ck_assert_int_eq(job.done_calls, 0);
	pool_close(pool);
}
END_TEST

/* Latency is observed at reap, not before; refusals are counted. */
START_TEST(stats_latency_and_refusals)
{
	struct iopool	*pool = pool_open(1, 0, 1);
	const struct iopool_stats *st = iopool_channel_stats(ch);
	struct test_job	 jobs[3];
	struct pollfd	 pfd = { iopool_channel_fd(ch), POLLIN, 0 };

	ck_assert_uint_eq(st->jobs, 0);
	ck_assert_uint_eq(st->latency.count, 0);
	init_job(&jobs[0], 1, 0);
	ck_assert_int_eq(iopool_submit(pool, &jobs[0].job), 0);
	init_job(&jobs[1], 2, 1);
	ck_assert_int_eq(iopool_submit(pool, &jobs[1].job), -1);
	ck_assert_int_eq(iopool_submit(pool, &jobs[1].job), -1);
	ck_assert_uint_eq(st->queue_full, 2);
	ck_assert_uint_eq(st->jobs, 1);
	/* Let it run for 2 ms at least, and complete, but not be reaped. */
	usleep(2000);
	__atomic_store_n(&jobs[0].gate, 1, __ATOMIC_RELEASE);
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	ck_assert_uint_eq(st->latency.count, 0);
	reap_until(pool, jobs, 1);
	ck_assert_uint_eq(st->latency.count, 1);
	ck_assert_uint_ge(st->latency.sum_ns, 2000000);
	/* At least 2 ms: the buckets up to le="0.001" stay empty. */
	ck_assert_uint_eq(st->latency.counts[0] + st->latency.counts[1] +
	    st->latency.counts[2] + st->latency.counts[3], 0);
	/* Room again: accepted and observed. */
	ck_assert_int_eq(iopool_submit(pool, &jobs[1].job), 0);
	reap_until(pool, &jobs[1], 1);
	ck_assert_uint_eq(st->jobs, 2);
	ck_assert_uint_eq(st->latency.count, 2);
	ck_assert_uint_eq(st->queue_full, 2);
	pool_close(pool);

	/* Inline: observed at once, with no reap. */
	pool = pool_open(0, 0, 1);
	st = iopool_channel_stats(ch);
	init_job(&jobs[2], 3, 1);
	ck_assert_int_eq(iopool_submit(pool, &jobs[2].job), 1);
	ck_assert_uint_eq(st->jobs, 1);
	ck_assert_uint_eq(st->latency.count, 1);
	ck_assert_uint_eq(st->queue_full, 0);
	pool_close(pool);
}
END_TEST

START_TEST(destroy_finishes_queued)
{
	struct iopool	*pool = pool_open(2, 0, 64);
	struct test_job	 jobs[32];
	int		 i;

	for (i = 0; i < 32; i++) {
		init_job(&jobs[i], i, 1);
		ck_assert_int_eq(iopool_submit(pool, &jobs[i].job), 0);
	}
	pool_close(pool);
	for (i = 0; i < 32; i++) {
		ck_assert_int_eq(jobs[i].value, i * 2);
		/* Never reaped, yet completed: shutdown relies on it. */
		ck_assert_int_eq(jobs[i].done_calls, 1);
	}
}
END_TEST

/*
 * Two reactors' channels: a job completes on the channel bound where it
 * was submitted, and nowhere else; destroy finishes both; the pool's
 * statistics add the two up.
 */
START_TEST(completes_where_submitted)
{
	struct iopool	*pool = pool_open(2, 0, 16);
	struct iopool_channel *first = ch, *second;
	struct test_job	 jobs[4];
	struct iopool_stats sum;
	struct pollfd	 pfd;

	ck_assert_ptr_nonnull(second = iopool_channel_create(pool));
	init_job(&jobs[0], 1, 1);
	ck_assert_int_eq(iopool_submit(pool, &jobs[0].job), 0);
	ck_assert_ptr_eq(jobs[0].job.channel, first);
	iopool_channel_bind(second);
	init_job(&jobs[1], 2, 1);
	ck_assert_int_eq(iopool_submit(pool, &jobs[1].job), 0);
	ck_assert_ptr_eq(jobs[1].job.channel, second);
	/* The second's completion wakes the second only. */
	pfd.fd = iopool_channel_fd(second);
	pfd.events = POLLIN;
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);
	iopool_channel_reap(second);
	ck_assert_int_eq(jobs[1].done_calls, 1);
	ck_assert_int_eq(jobs[0].done_calls, 0);
	ch = first;
	iopool_channel_bind(first);
	reap_until(pool, jobs, 1);
	ck_assert_int_eq(jobs[1].done_calls, 1);
	iopool_stats(pool, &sum);
	ck_assert_uint_eq(sum.jobs, 2);
	ck_assert_uint_eq(sum.latency.count, 2);
	ck_assert_uint_eq(iopool_channel_stats(first)->jobs, 1);
	ck_assert_uint_eq(iopool_channel_stats(second)->jobs, 1);
	/* Left unreaped on both: destroy finishes them all. */
	init_job(&jobs[2], 3, 1);
	ck_assert_int_eq(iopool_submit(pool, &jobs[2].job), 0);
	iopool_channel_bind(second);
	init_job(&jobs[3], 4, 1);
	ck_assert_int_eq(iopool_submit(pool, &jobs[3].job), 0);
	pool_close(pool);
	iopool_channel_free(second);	/* detached by the destroy */
	ck_assert_int_eq(jobs[2].done_calls, 1);
	ck_assert_int_eq(jobs[3].done_calls, 1);
}
END_TEST

/*
 * A completion that hands the pool a follow-up, as a read's completion
 * queues the close: from iopool_destroy() the follow-up runs inline.
 */
struct chain_job {
	struct test_job	 tj;
	struct test_job	 next;
	struct iopool	*pool;
	int		 submitted;	/* iopool_submit()'s result */
};

static void
chain_done(struct iojob *job)
{
	struct chain_job	*cj = (struct chain_job *)job;

	cj->tj.done_calls++;
	cj->submitted = iopool_submit(cj->pool, &cj->next.job);
}

/*
 * Shutdown frees a job's owner in its done(): iopool_destroy() must call
 * it once for every job not reaped, completed, running or still queued.
 */
START_TEST(destroy_runs_every_done)
{
	struct iopool	*pool = pool_open(1, 1, 16);
	struct test_job	 unreaped, held, queued;
	struct chain_job chain;
	struct pollfd	 pfd = { iopool_channel_fd(ch), POLLIN, 0 };

	init_job(&unreaped, 1, 1);
	ck_assert_int_eq(iopool_submit(pool, &unreaped.job), 0);
	ck_assert_int_eq(poll(&pfd, 1, 5000), 1);	/* complete, not reaped */
	/* The only worker is held: these two wait in the queue behind it. */
	init_job(&held, 2, 0);
	ck_assert_int_eq(iopool_submit(pool, &held.job), 0);
	init_job(&queued, 3, 1);
	ck_assert_int_eq(iopool_submit(pool, &queued.job), 0);
	init_job(&chain.tj, 4, 1);
	chain.tj.job.done = chain_done;
	chain.pool = pool;
	chain.submitted = -2;
	init_job(&chain.next, 5, 1);
	ck_assert_int_eq(iopool_submit(pool, &chain.tj.job), 0);
	ck_assert_int_eq(unreaped.done_calls + held.done_calls +
	    queued.done_calls + chain.tj.done_calls, 0);
	__atomic_store_n(&held.gate, 1, __ATOMIC_RELEASE);
	pool_close(pool);
	ck_assert_int_eq(unreaped.done_calls, 1);
	ck_assert_int_eq(held.done_calls, 1);
	ck_assert_int_eq(queued.done_calls, 1);
	ck_assert_int_eq(chain.tj.done_calls, 1);
	ck_assert_int_eq(held.value, 4);
	ck_assert_int_eq(queued.value, 6);
	/* The follow-up ran inline, on this thread, with no done() of its own. */
	ck_assert_int_eq(chain.submitted, 1);
	ck_assert_int_eq(chain.next.value, 10);
	ck_assert(pthread_equal(chain.next.ran_on, pthread_self()));
	ck_assert_int_eq(chain.next.done_calls, 0);
}
END_TEST

/*
 * The pool's workers once it has n, or after 5 s. A worker counts once its
 * pthread_create is back on the grower, which may be after it ran a job.
 */
static unsigned
threads_reach(struct iopool *pool, unsigned n)
{
	int	rounds;

	for (rounds = 0; iopool_threads(pool) < n && rounds < 5000; rounds++)
		usleep(1000);
	return iopool_threads(pool);
}

/* Workers blocked in slow jobs do not hold up the next one. */
START_TEST(grows_past_blocked_workers)
{
	struct iopool	*pool = pool_open(1, 8, 64);
	struct test_job	 slow[3], fast;
	int		 i;

	for (i = 0; i < 3; i++) {
		init_job(&slow[i], i, 0);
		ck_assert_int_eq(iopool_submit(pool, &slow[i].job), 0);
	}
	init_job(&fast, 7, 1);
	ck_assert_int_eq(iopool_submit(pool, &fast.job), 0);
	reap_until(pool, &fast, 1);
	ck_assert_int_eq(fast.value, 14);
	ck_assert_uint_ge(threads_reach(pool, 4), 4);
	ck_assert_uint_le(iopool_threads(pool), 8);
	for (i = 0; i < 3; i++)
		__atomic_store_n(&slow[i].gate, 1, __ATOMIC_RELEASE);
	reap_until(pool, slow, 3);
	pool_close(pool);
}
END_TEST

/*
 * The submitter never starts a worker itself: a burst of slow jobs would
 * make it pay a pthread_create each, and a reactor's fast requests wait.
 */
START_TEST(grows_off_the_submitter)
{
	struct iopool	*pool = pool_open(1, 32, 64);
	struct test_job	 slow[16], fast;
	int		 i;

	watched = pthread_self();
	__atomic_store_n(&watching, 1, __ATOMIC_RELEASE);
	for (i = 0; i < 16; i++) {
		init_job(&slow[i], i, 0);
		ck_assert_int_eq(iopool_submit(pool, &slow[i].job), 0);
	}
	init_job(&fast, 7, 1);
	ck_assert_int_eq(iopool_submit(pool, &fast.job), 0);
	reap_until(pool, &fast, 1);
	__atomic_store_n(&watching, 0, __ATOMIC_RELEASE);
	ck_assert_uint_ge(threads_reach(pool, 17), 17);
	ck_assert_int_eq(__atomic_load_n(&started_watched, __ATOMIC_RELAXED),
	    0);
	for (i = 0; i < 16; i++)
		__atomic_store_n(&slow[i].gate, 1, __ATOMIC_RELEASE);
	reap_until(pool, slow, 16);
	pool_close(pool);
}
END_TEST

/* work() that records the nice it ran at, then waits for its gate. */
static void
nice_work(struct iojob *job)
{
	struct test_job	*tj = (struct test_job *)job;

	errno = 0;
	tj->value = getpriority(PRIO_PROCESS, 0);
	if (errno != 0)
		tj->value = -100;
	__atomic_store_n(&tj->running, 1, __ATOMIC_RELEASE);
	while (!__atomic_load_n(&tj->gate, __ATOMIC_ACQUIRE))
		usleep(1000);
}

/* Whether a thread here may go to nice 19 and back: tried on one. */
static void *
probe_renice(void *arg)
{
	int	*may = arg, base = *may;

	*may = base < 19 && setpriority(PRIO_PROCESS, 0, 19) == 0 &&
	    setpriority(PRIO_PROCESS, 0, base) == 0;
	return NULL;
}

/* The nice of thread tid of this process. */
static int
nice_of(pid_t tid)
{
	char	 path[64], buf[512], *p;
	int	 field, nice = -100;
	FILE	*f;

	snprintf(path, sizeof path, "/proc/self/task/%d/stat", (int)tid);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	if (fgets(buf, sizeof buf, f) != NULL &&
	    (p = strrchr(buf, ')')) != NULL) {
		for (field = 2; field < 19 && p != NULL; field++)
			p = strchr(p + 1, ' ');
		if (p != NULL)
			nice = atoi(p + 1);
	}
	fclose(f);
	return nice;
}

/* The threads of this process at nice 19. */
static int
threads_at_19(void)
{
	DIR		*d;
	struct dirent	*de;
	char		 path[300], buf[512], *p;
	int		 n = 0, field;
	FILE		*f;

	ck_assert_ptr_nonnull(d = opendir("/proc/self/task"));
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof path, "/proc/self/task/%s/stat",
		    de->d_name);
		if ((f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(buf, sizeof buf, f) != NULL &&
		    (p = strrchr(buf, ')')) != NULL) {
			/* After the comm: field 3 on; the nice is field 19. */
			for (field = 2; field < 19 && p != NULL; field++)
				p = strchr(p + 1, ' ');
			if (p != NULL && atoi(p + 1) == 19)
				n++;
		}
		fclose(f);
	}
	closedir(d);
	return n;
}

/*
 * Once niced, the grower starts workers at nice 19, where the CPU they
 * take to start waits behind every other thread; each worker is back at
 * the pool's nice before it runs a job. Where the process may not renice
 * back, nothing is niced at all.
 */
START_TEST(grower_niced_workers_not)
{
	struct iopool	*pool = pool_open(1, 4, 64);
	struct test_job	 slow[3];
	pthread_t	 t;
	int		 base, may, rounds, i;

	errno = 0;
	base = may = getpriority(PRIO_PROCESS, 0);
	ck_assert_int_eq(errno, 0);
	ck_assert_int_eq(pthread_create(&t, NULL, probe_renice, &may), 0);
	pthread_join(t, NULL);
	iopool_nice_grower(pool);
	for (rounds = 0; may && threads_at_19() != 1 && rounds < 5000; rounds++)
		usleep(1000);
	ck_assert_int_eq(threads_at_19(), may ? 1 : 0);
	for (i = 0; i < 3; i++) {
		init_job(&slow[i], 0, 0);
		slow[i].job.work = nice_work;
		ck_assert_int_eq(iopool_submit(pool, &slow[i].job), 0);
	}
	/* Three blocked jobs on one worker: two were grown for them. */
	for (i = 0; i < 3; i++)
		wait_running(&slow[i]);
	ck_assert_uint_ge(iopool_threads(pool), 3);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(slow[i].value, base);
	/* A grower hurried by a job that waited is back at 19 once idle. */
	for (rounds = 0; may && threads_at_19() != 1 && rounds < 5000; rounds++)
		usleep(1000);
	ck_assert_int_eq(threads_at_19(), may ? 1 : 0);
	for (i = 0; i < 3; i++)
		__atomic_store_n(&slow[i].gate, 1, __ATOMIC_RELEASE);
	reap_until(pool, slow, 3);
	pool_close(pool);
}
END_TEST

/*
 * Pins this thread, and so the threads it starts, to the first CPU it may
 * use; *all gets what it had, for sched_setaffinity() after.
 */
static void
pin_to_one_cpu(cpu_set_t *all)
{
	cpu_set_t	one;
	int		i;

	ck_assert_int_eq(sched_getaffinity(0, sizeof *all, all), 0);
	CPU_ZERO(&one);
	for (i = 0; !CPU_ISSET(i, all); i++)
		continue;
	CPU_SET(i, &one);
	ck_assert_int_eq(sched_setaffinity(0, sizeof one, &one), 0);
}

/*
 * A niced grower beside a busy "reactor" on the same CPU gets almost none
 * of it, and the jobs behind blocked workers would wait for most of a
 * second: once the oldest has waited GROWER_PATIENCE_NS the grower runs
 * halfway between the workers' nice and 19 until the workers it starts
 * have caught up.
 */
START_TEST(grower_hurries_for_a_waiting_job)
{
	enum { N = 24 };
	struct iopool	*pool;
	struct test_job	 slow[N];
	pthread_t	 t;
	cpu_set_t	 all;
	int		 base, may, hurried = 0, i, running;
	pid_t		 grower = 0;
	struct timespec	 start, now;

	errno = 0;
	base = may = getpriority(PRIO_PROCESS, 0);
	ck_assert_int_eq(errno, 0);
	ck_assert_int_eq(pthread_create(&t, NULL, probe_renice, &may), 0);
	pthread_join(t, NULL);
	if (!may)
		return; /* nothing is niced here: grower_niced_workers_not */
	/* One CPU for the pool's threads and this one, which keeps it busy. */
	pin_to_one_cpu(&all);
	pool = pool_open(1, N + 1, 64);
	iopool_nice_grower(pool);
	for (i = 0; ((grower = iopool__grower(pool)) == 0 ||
		 nice_of(grower) != 19) && i < 5000; i++)
		usleep(1000);
	ck_assert_int_eq(nice_of(grower), 19);
	for (i = 0; i < N; i++) {
		init_job(&slow[i], 0, 0);
		slow[i].job.work = nice_work;
		ck_assert_int_eq(iopool_submit(pool, &slow[i].job), 0);
	}
	/* Busy, as a reactor is, and watching the grower's nice. */
	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		for (running = 0, i = 0; i < N; i++)
			running += __atomic_load_n(&slow[i].running,
			    __ATOMIC_ACQUIRE);
		/* Workers it started at 19 may still be there, starved. */
		if (nice_of(grower) == base + (19 - base) / 2)
			hurried = 1;
		clock_gettime(CLOCK_MONOTONIC, &now);
		ck_assert_int_lt(now.tv_sec - start.tv_sec, 30);
	} while (running < N);
	ck_assert_msg(hurried, "the grower stayed at nice 19 throughout");
	for (i = 0; i < N; i++)
		ck_assert_int_eq(slow[i].value, base);
	/* Nothing left to start: it gives way again. */
	for (i = 0; nice_of(grower) != 19 && i < 5000; i++)
		usleep(1000);
	ck_assert_int_eq(nice_of(grower), 19);
	for (i = 0; i < N; i++)
		__atomic_store_n(&slow[i].gate, 1, __ATOMIC_RELEASE);
	reap_until(pool, slow, N);
	pool_close(pool);
	ck_assert_int_eq(sched_setaffinity(0, sizeof all, &all), 0);
}
END_TEST

static unsigned	 ran_seq;

static void
order_work(struct iojob *job)
{
	struct test_job	*tj = (struct test_job *)job;

	work(job);
	tj->value = (int)__atomic_add_fetch(&ran_seq, 1, __ATOMIC_RELAXED);
}

/*
 * Behind a backlog that has waited for a worker past the grower's
 * patience (2 ms), a new job is not last: the next free worker takes it.
 */
START_TEST(congested_takes_the_newest_in_turn)
{
	enum { N = 5 };
	struct iopool	*pool = pool_open(1, 1, 64);
	struct test_job	 blocker, old[N], fresh;
	int		 i;

	ran_seq = 0;
	init_job(&blocker, 0, 0);
	blocker.job.work = order_work;
	ck_assert_int_eq(iopool_submit(pool, &blocker.job), 0);
	wait_running(&blocker);
	for (i = 0; i < N; i++) {
		init_job(&old[i], 0, 1);
		old[i].job.work = order_work;
		ck_assert_int_eq(iopool_submit(pool, &old[i].job), 0);
	}
	usleep(10 * 1000); /* an age, not an event: a lower bound is enough */
	init_job(&fresh, 0, 1);
	fresh.job.work = order_work;
	ck_assert_int_eq(iopool_submit(pool, &fresh.job), 0);
	__atomic_store_n(&blocker.gate, 1, __ATOMIC_RELEASE);
	reap_until(pool, old, N);
	reap_until(pool, &fresh, 1);
	ck_assert_int_eq(blocker.value, 1);
	ck_assert_int_eq(fresh.value, 2);
	/* Then the oldest, and the rest in turn: none left behind. */
	ck_assert_int_eq(old[0].value, 3);
	for (i = 0; i < N; i++)
		ck_assert_int_gt(old[i].value, 2);
	pool_close(pool);
}
END_TEST

/* The cap holds: with every worker blocked, a job waits its turn. */
START_TEST(growth_is_capped)
{
	struct iopool	*pool = pool_open(1, 2, 64);
	struct test_job	 slow[3];
	int		 i;

	for (i = 0; i < 3; i++) {
		init_job(&slow[i], i, 0);
		ck_assert_int_eq(iopool_submit(pool, &slow[i].job), 0);
	}
	ck_assert_uint_eq(threads_reach(pool, 2), 2);
	for (i = 0; i < 3; i++)
		__atomic_store_n(&slow[i].gate, 1, __ATOMIC_RELEASE);
	reap_until(pool, slow, 3);
	pool_close(pool);
}
END_TEST

/*
 * The cap holds while a worker starts: one that takes a job before
 * pthread_create has returned in the grower is counted all the same, and
 * the next job finding every worker busy asks for none past the cap.
 */
START_TEST(growth_is_capped_while_a_worker_starts)
{
	struct iopool	*pool = pool_open(1, 2, 64);
	struct test_job	 slow[3];
	int		 i;

	for (i = 0; i < 3; i++)
		init_job(&slow[i], i, 0);
	ck_assert_int_eq(iopool_submit(pool, &slow[0].job), 0);
	wait_running(&slow[0]);
	__atomic_store_n(&holding, 1, __ATOMIC_RELEASE);
	ck_assert_int_eq(iopool_submit(pool, &slow[1].job), 0);
	/* The second worker has it, its creator not yet back. */
	wait_running(&slow[1]);
	ck_assert_int_eq(iopool_submit(pool, &slow[2].job), 0);
	__atomic_store_n(&holding, 0, __ATOMIC_RELEASE);
	/* A third worker would be asked for already: the grower is awake. */
	for (i = 0; i < 1000; i++) {
		ck_assert_uint_le(iopool_threads(pool), 2);
		usleep(1000);
	}
	for (i = 0; i < 3; i++)
		__atomic_store_n(&slow[i].gate, 1, __ATOMIC_RELEASE);
	reap_until(pool, slow, 3);
	pool_close(pool);
}
END_TEST

/*
 * A reactor that submits its next job as soon as the last one completes
 * (a file streamed job by job) keeps the one worker: the worker that
 * woke it is about to take a job, not busy. On one CPU the woken thread
 * runs before the waker is back at the queue, which is where a pool that
 * counted only waiting workers as idle would ask for another.
 */
START_TEST(back_to_back_jobs_keep_one_worker)
{
	struct iopool	*pool;
	struct test_job	 tj;
	cpu_set_t	 all;
	int		 i;

	pin_to_one_cpu(&all);
	pool = pool_open(1, 8, 64);
	for (i = 0; i < 2000; i++) {
		init_job(&tj, i, 1);
		ck_assert_int_eq(iopool_submit(pool, &tj.job), 0);
		reap_until(pool, &tj, 1);
		ck_assert_int_eq(tj.value, 2 * i);
	}
	/* A worker asked for last may not be counted yet: give it time. */
	for (i = 0; i < 200 && iopool_threads(pool) == 1; i++)
		usleep(1000);
	ck_assert_uint_eq(iopool_threads(pool), 1);
	pool_close(pool);
	ck_assert_int_eq(sched_setaffinity(0, sizeof all, &all), 0);
}
END_TEST

static void
count_call(void *arg)
{
	(*(int *)arg)++;
}

/* Whether fd is open; fcntl never blocks. */
static int
is_open(int fd)
{
	return fcntl(fd, F_GETFD) != -1 || errno != EBADF;
}

START_TEST(closes_share_a_job)
{
	struct iopool	*pool = pool_open(1, 0, 4);
	struct pollfd	 pfd = { iopool_channel_fd(ch), POLLIN, 0 };
	int		 fds[10], i, rounds, started = 0;

	for (i = 0; i < 10; i += 2)
		ck_assert_int_eq(pipe(&fds[i]), 0);
	for (i = 0; i < 10; i++)
		iopool_close(pool, fds[i]);
	/* Held until the loop turn ends, which the channel's fd announces. */
	ck_assert_uint_eq(iopool_channel_stats(ch)->jobs, 0);
	ck_assert_int_eq(poll(&pfd, 1, 0), 1);
	iopool_channel_reap(ch);
	ck_assert_uint_eq(iopool_channel_stats(ch)->jobs, 1);
	for (rounds = 0; rounds < 1000 && is_open(fds[9]); rounds++) {
		ck_assert_int_ge(poll(&pfd, 1, 10), 0);
		iopool_channel_reap(ch);
	}
	for (i = 0; i < 10; i++)
		ck_assert_msg(!is_open(fds[i]), "fd %d still open", fds[i]);
	ck_assert_uint_eq(iopool_channel_stats(ch)->jobs, 1);

	/* A reactor is asked to flush, once per batch, at its turn's end. */
	iopool_channel_on_closes(ch, count_call, &started);
	ck_assert_int_eq(pipe(fds), 0);
	iopool_close(pool, fds[0]);
	iopool_close(pool, fds[1]);
	ck_assert_int_eq(started, 1);
	ck_assert_int_eq(poll(&pfd, 1, 0), 0);
	iopool_channel_flush(ch);
	ck_assert_uint_eq(iopool_channel_stats(ch)->jobs, 2);
	for (rounds = 0; rounds < 1000 && is_open(fds[1]); rounds++)
		usleep(10000);
	ck_assert(!is_open(fds[0]) && !is_open(fds[1]));
	pool_close(pool);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("iopool");
	TCase	*tc = tcase_create("iopool");
	SRunner	*sr;
	int	 failed;

	tcase_add_test(tc, runs_on_worker);
	tcase_add_test(tc, done_only_from_reap);
	tcase_add_test(tc, queue_is_bounded);
	tcase_add_test(tc, inline_without_threads);
	tcase_add_test(tc, stats_latency_and_refusals);
	tcase_add_test(tc, destroy_finishes_queued);
	tcase_add_test(tc, completes_where_submitted);
	tcase_add_test(tc, destroy_runs_every_done);
	tcase_add_test(tc, grows_past_blocked_workers);
	tcase_add_test(tc, grows_off_the_submitter);
	tcase_add_test(tc, growth_is_capped);
	tcase_add_test(tc, grower_niced_workers_not);
	tcase_add_test(tc, grower_hurries_for_a_waiting_job);
	tcase_add_test(tc, growth_is_capped_while_a_worker_starts);
	tcase_add_test(tc, closes_share_a_job);
	tcase_add_test(tc, congested_takes_the_newest_in_turn);
	tcase_add_test(tc, back_to_back_jobs_keep_one_worker);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
