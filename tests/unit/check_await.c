/*
 * Unit tests for await.c: a coroutine waiting on an fd, a timer and an I/O
 * job is resumed by the event loop, and the waits time out and complete in
 * the order the events happen. The watches every connection uses
 * (await_watch, await_watch_idle) run on real socketpairs: woken by the
 * direction waited for only, by data and by EOF, and timed out.
 */
#include "autoconf.h"

#include <check.h>
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
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
	ck_assert_ptr_nonnull(reactor = reactor_create(pool, 0, 64 * 1024, 8));
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

/* A watched socketpair: sv[0] is the connection's end, sv[1] the peer's. */
struct watch_test {
	int		 sv[2];
	struct await_watch w;
	short		 what;		/* waited for */
	long		 timeout_ms;
	long		 peer_after_ms;	/* the peer acts after this long */
	int		 result;
	int		 error;
	long		 waited_ms;
	int		 idle_calls;
	int		 idle_timed_out;
};

static void
watch_setup(struct watch_test *t)
{
	memset(t, 0, sizeof *t);
	setup_threads(1);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    t->sv), 0);
	ck_assert_int_eq(await_watch_open(&t->w, t->sv[0]), 0);
}

static void
watch_teardown(struct watch_test *t)
{
	await_watch_close(&t->w);
	close(t->sv[0]);
	if (t->sv[1] != -1)
		close(t->sv[1]);
	teardown();
}

/* One wait, after the try that returned EAGAIN, as conn.c does. */
static void
watch_once(void *arg)
{
	struct watch_test	*t = arg;
	long			 start = await_now_ms();

	t->result = await_watch(&t->w, t->what, t->timeout_ms);
	t->error = errno;
	t->waited_ms = await_now_ms() - start;
}

static void
peer_writes(void *arg)
{
	struct watch_test	*t = arg;

	ck_assert_int_eq(await_sleep(t->peer_after_ms), 0);
	ck_assert_int_eq(write(t->sv[1], "x", 1), 1);
}

static void
peer_closes(void *arg)
{
	struct watch_test	*t = arg;

	ck_assert_int_eq(await_sleep(t->peer_after_ms), 0);
	close(t->sv[1]);
	t->sv[1] = -1;
}

static void
peer_drains(void *arg)
{
	struct watch_test	*t = arg;
	char			 buf[4096];	/* on a 64 KiB coroutine stack */

	ck_assert_int_eq(await_sleep(t->peer_after_ms), 0);
	while (read(t->sv[1], buf, sizeof buf) > 0)
		continue;
}

/* The connection's coroutine and the peer's, until both have ended. */
static void
run_both(struct watch_test *t, coro_fn *peer)
{
	struct coro	*a = coro_create(watch_once, t);
	struct coro	*b = coro_create(peer, t);

	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	coro_resume(a);
	coro_resume(b);
	while (coro_live() > 0)
		ck_assert_int_ge(event_base_loop(base, EVLOOP_ONCE), 0);
}

START_TEST(watch_wakes_on_data)
{
	struct watch_test	 t;
	char			 c;

	watch_setup(&t);
	ck_assert_int_eq(read(t.sv[0], &c, 1), -1);	/* EAGAIN first */
	t.what = EV_READ;
	t.timeout_ms = 10000;
	t.peer_after_ms = 50;
	run_both(&t, peer_writes);
	ck_assert_int_eq(t.result, 0);
	/* Woken by the byte, not before it (the socket was writable). */
	ck_assert_int_ge(t.waited_ms, 40);
	ck_assert_int_lt(t.waited_ms, 5000);
	ck_assert_int_eq(read(t.sv[0], &c, 1), 1);
	ck_assert_int_eq(c, 'x');
	watch_teardown(&t);
}
END_TEST

START_TEST(watch_wakes_on_eof)
{
	struct watch_test	 t;
	char			 c;

	watch_setup(&t);
	t.what = EV_READ;
	t.timeout_ms = 10000;
	t.peer_after_ms = 20;
	run_both(&t, peer_closes);
	ck_assert_int_eq(t.result, 0);
	ck_assert_int_lt(t.waited_ms, 5000);
	ck_assert_int_eq(read(t.sv[0], &c, 1), 0);
	watch_teardown(&t);
}
END_TEST

/* A writable socket does not end a wait for input: it times out. */
START_TEST(watch_times_out)
{
	struct watch_test	 t;

	watch_setup(&t);
	t.what = EV_READ;
	t.timeout_ms = 100;
	run(watch_once, &t);
	ck_assert_int_eq(t.result, -1);
	ck_assert_int_eq(t.error, ETIMEDOUT);
	ck_assert_int_ge(t.waited_ms, 90);
	watch_teardown(&t);
}
END_TEST

START_TEST(watch_wakes_when_writable)
{
	struct watch_test	 t;
	int			 sndbuf = 4096;
	char			 buf[4096];

	watch_setup(&t);
	ck_assert_int_eq(setsockopt(t.sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf,
	    sizeof sndbuf), 0);
	memset(buf, 'y', sizeof buf);
	while (write(t.sv[0], buf, sizeof buf) > 0)
		continue;
	ck_assert_int_eq(errno, EAGAIN);
	t.what = EV_WRITE;
	t.timeout_ms = 10000;
	t.peer_after_ms = 50;
	run_both(&t, peer_drains);
	ck_assert_int_eq(t.result, 0);
	ck_assert_int_ge(t.waited_ms, 40);
	ck_assert_int_lt(t.waited_ms, 5000);
	ck_assert_int_gt(write(t.sv[0], buf, 1), 0);
	watch_teardown(&t);
}
END_TEST

static void
idle_cb(void *arg, int timed_out)
{
	struct watch_test	*t = arg;

	t->idle_calls++;
	t->idle_timed_out = timed_out;
}

/* Runs the loop for ms: the timers due in that time fire. */
static void
loop_for(long ms)
{
	long	 until = await_now_ms() + ms;

	while (await_now_ms() < until) {
		ck_assert_int_ge(event_base_loop(base, EVLOOP_NONBLOCK), 0);
		usleep(5000);
	}
}

/* Runs the loop until idle_cb has run, or 10 s. */
static void
loop_until_idle_cb(struct watch_test *t)
{
	long	 deadline = await_now_ms() + 10000;

	while (t->idle_calls == 0) {
		ck_assert_int_lt(await_now_ms(), deadline);
		ck_assert_int_ge(event_base_loop(base, EVLOOP_ONCE), 0);
	}
}

/* Parked with no coroutine: the callback runs once, when input comes. */
START_TEST(idle_wakes_on_data)
{
	struct watch_test	 t;
	int			 i;

	watch_setup(&t);
	ck_assert_int_eq(await_watch_idle(&t.w, 100, idle_cb, &t), 0);
	/* Writable is not readable: nothing yet. */
	for (i = 0; i < 3; i++)
		ck_assert_int_ge(event_base_loop(base, EVLOOP_NONBLOCK), 0);
	ck_assert_int_eq(t.idle_calls, 0);
	ck_assert_int_eq(write(t.sv[1], "x", 1), 1);
	loop_until_idle_cb(&t);
	ck_assert_int_eq(t.idle_timed_out, 0);
	/* Its timer may still fire, but says nothing to an awake watch. */
	loop_for(200);
	ck_assert_int_eq(t.idle_calls, 1);
	watch_teardown(&t);
}
END_TEST

/*
 * Woken and parked again, the watch times out at the new deadline: the
 * timer armed for the first one finds it parked until later, and one
 * armed for later than a new, shorter deadline is armed again.
 */
START_TEST(idle_deadline_is_the_latest_park)
{
	struct watch_test	 t;
	long			 start;
	char			 c;

	watch_setup(&t);
	ck_assert_int_eq(await_watch_idle(&t.w, 60, idle_cb, &t), 0);
	ck_assert_int_eq(write(t.sv[1], "x", 1), 1);
	loop_until_idle_cb(&t);
	ck_assert_int_eq(t.idle_timed_out, 0);
	ck_assert_int_eq(read(t.sv[0], &c, 1), 1);
	t.idle_calls = 0;
	start = await_now_ms();
	ck_assert_int_eq(await_watch_idle(&t.w, 300, idle_cb, &t), 0);
	loop_until_idle_cb(&t);
	ck_assert_int_eq(t.idle_timed_out, 1);
	ck_assert_int_ge(await_now_ms() - start, 290);

	/* A long park, then a short one: the short one's deadline holds. */
	ck_assert_int_eq(await_watch_idle(&t.w, 100000, idle_cb, &t), 0);
	ck_assert_int_eq(write(t.sv[1], "x", 1), 1);
	t.idle_calls = 0;
	loop_until_idle_cb(&t);
	ck_assert_int_eq(t.idle_timed_out, 0);
	ck_assert_int_eq(read(t.sv[0], &c, 1), 1);
	t.idle_calls = 0;
	start = await_now_ms();
	ck_assert_int_eq(await_watch_idle(&t.w, 60, idle_cb, &t), 0);
	loop_until_idle_cb(&t);
	ck_assert_int_eq(t.idle_timed_out, 1);
	ck_assert_int_ge(await_now_ms() - start, 50);
	ck_assert_int_lt(await_now_ms() - start, 5000);
	watch_teardown(&t);
}
END_TEST

/* Nothing comes: the callback says so once, and later input is not news. */
START_TEST(idle_times_out)
{
	struct watch_test	 t;
	long			 start;
	int			 i;

	watch_setup(&t);
	start = await_now_ms();
	ck_assert_int_eq(await_watch_idle(&t.w, 60, idle_cb, &t), 0);
	loop_until_idle_cb(&t);
	ck_assert_int_eq(t.idle_timed_out, 1);
	ck_assert_int_ge(await_now_ms() - start, 50);
	ck_assert_int_eq(write(t.sv[1], "x", 1), 1);
	for (i = 0; i < 3; i++)
		ck_assert_int_ge(event_base_loop(base, EVLOOP_NONBLOCK), 0);
	ck_assert_int_eq(t.idle_calls, 1);
	watch_teardown(&t);
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
	tcase_add_test(tc, watch_wakes_on_data);
	tcase_add_test(tc, watch_wakes_on_eof);
	tcase_add_test(tc, watch_times_out);
	tcase_add_test(tc, watch_wakes_when_writable);
	tcase_add_test(tc, idle_wakes_on_data);
	tcase_add_test(tc, idle_times_out);
	tcase_add_test(tc, idle_deadline_is_the_latest_park);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
