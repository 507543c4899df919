/*
 * Unit tests for await.c: a coroutine waiting on an fd, a timer and an I/O
 * job is resumed by the event loop, and the waits time out and complete in
 * the order the events happen.
 */
#include "autoconf.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "await.h"
#include "coro.h"
#include "iopool.h"
#include "reactor.h"

static struct reactor		*reactor;
static struct event_base	*base;
static struct iopool		*pool;

static void
setup_threads(unsigned nthreads)
{
	ck_assert_ptr_nonnull(pool = iopool_create(nthreads, 0, 8));
	ck_assert_ptr_nonnull(reactor = reactor_create(pool, 64 * 1024, 8));
	ck_assert_ptr_eq(reactor_current(), reactor);
	base = reactor->base;
}

static void
teardown(void)
{
	iopool_destroy(pool);
	reactor_free(reactor);
	ck_assert_ptr_null(reactor_current());
}

/* Runs fn in a coroutine and the loop until the coroutine has ended. */
static void
run(coro_fn *fn, void *arg)
{
	struct coro	*co = coro_create(fn, arg);

	ck_assert_ptr_nonnull(co);
	coro_resume(co);
	while (coro_live() > 0)
		ck_assert_int_ge(event_base_loop(base, EVLOOP_ONCE), 0);
}

struct pipe_test {
	int	 fds[2];
	int	 result;
	int	 error;
	long	 waited_ms;
};

static void
wait_readable(void *arg)
{
	struct pipe_test	*t = arg;
	long			 start = await_now_ms();

	t->result = await_fd(t->fds[0], EV_READ, 100);
	t->error = errno;
	t->waited_ms = await_now_ms() - start;
}

START_TEST(fd_times_out)
{
	struct pipe_test	 t;

	setup_threads(1);
	ck_assert_int_eq(pipe(t.fds), 0);
	run(wait_readable, &t);
	ck_assert_int_eq(t.result, -1);
	ck_assert_int_eq(t.error, ETIMEDOUT);
	ck_assert_int_ge(t.waited_ms, 90);
	close(t.fds[0]);
	close(t.fds[1]);
	teardown();
}
END_TEST

START_TEST(fd_ready)
{
	struct pipe_test	 t;

	setup_threads(1);
	ck_assert_int_eq(pipe(t.fds), 0);
	ck_assert_int_eq(write(t.fds[1], "x", 1), 1);
	run(wait_readable, &t);
	ck_assert_int_eq(t.result, 0);
	close(t.fds[0]);
	close(t.fds[1]);
	teardown();
}
END_TEST

struct sleep_test {
	int	 id;
	long	 ms;
};

static int	 finished[2];
static int	 nfinished;

static void
sleeper(void *arg)
{
	struct sleep_test	*t = arg;

	await_sleep(t->ms);
	finished[nfinished++] = t->id;
}

START_TEST(timers_interleave)
{
	/*
	 * Far apart: the deadlines count from each resume, and a loaded
	 * machine may run other work between the two for tens of ms.
	 */
	struct sleep_test	 slow = { .id = 1, .ms = 500 };
	struct sleep_test	 fast = { .id = 2, .ms = 10 };
	struct coro		*a, *b;

	setup_threads(1);
	nfinished = 0;
	ck_assert_ptr_nonnull(a = coro_create(sleeper, &slow));
	ck_assert_ptr_nonnull(b = coro_create(sleeper, &fast));
	coro_resume(a);
	coro_resume(b);
	while (coro_live() > 0)
		event_base_loop(base, EVLOOP_ONCE);
	/* The later one finished first: neither blocked the other. */
	ck_assert_int_eq(nfinished, 2);
	ck_assert_int_eq(finished[0], 2);
	ck_assert_int_eq(finished[1], 1);
	teardown();
}
END_TEST

struct job_test {
	struct iojob	 job;
	pthread_t	 worker;
	int		 resumed;
};

static void
job_work(struct iojob *job)
{
	((struct job_test *)job)->worker = pthread_self();
}

static void
await_one_job(void *arg)
{
	struct job_test	*t = arg;

	t->job.work = job_work;
	ck_assert_int_eq(await_job(&t->job), 0);
	t->resumed = 1;
}

START_TEST(job_on_worker)
{
	struct job_test	 t = { .resumed = 0 };

	setup_threads(2);
	run(await_one_job, &t);
	ck_assert_int_eq(t.resumed, 1);
	ck_assert(!pthread_equal(t.worker, pthread_self()));
	teardown();
}
END_TEST

START_TEST(job_inline)
{
	struct job_test	 t = { .resumed = 0 };

	setup_threads(0);
	run(await_one_job, &t);
	ck_assert_int_eq(t.resumed, 1);
	ck_assert(pthread_equal(t.worker, pthread_self()));
	teardown();
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("await");
	TCase	*tc = tcase_create("await");
	SRunner	*sr;
	int	 failed;

	tcase_add_test(tc, fd_times_out);
	tcase_add_test(tc, fd_ready);
	tcase_add_test(tc, timers_interleave);
	tcase_add_test(tc, job_on_worker);
	tcase_add_test(tc, job_inline);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
