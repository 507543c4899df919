/*
 * Unit tests for the coroutine module: switch ordering, argument passing,
 * deferred functions, stack pooling, many suspended coroutines at once,
 * register and floating-point state across switches, nested resumes, stack
 * alignment, and that a stack overflow kills the process with a message
 * rather than scribbling on a neighbour. The crash tests fork a child of
 * their own and look at how it died and what it wrote to stderr.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include <check.h>
#include <errno.h>
#include <fenv.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coro.h"

#define TEST_STACK_BYTES (64 * 1024)
#define TEST_POOL_MAX 8

/* An event log the coroutines and the test append to, in order. */
static char trace[512];

static void
trace_add(const char *what)
{
	size_t len = strlen(trace);

	ck_assert_uint_lt(len + strlen(what) + 1, sizeof trace);
	memcpy(trace + len, what, strlen(what) + 1);
}

static void
setup(void)
{
	trace[0] = '\0';
	ck_assert_int_eq(coro_init(TEST_STACK_BYTES, TEST_POOL_MAX), 0);
}

static void
teardown(void)
{
	coro_shutdown();
}

static void
pingpong_fn(void *arg)
{
	const char *name = arg;
	char buf[16];
	int i;

	for (i = 1; i <= 3; i++) {
		snprintf(buf, sizeof buf, "%s%d ", name, i);
		trace_add(buf);
		coro_yield();
	}
}

START_TEST(test_pingpong)
{
	struct coro *a, *b;
	int ra, rb;

	ck_assert_ptr_null(coro_current());
	a = coro_create(pingpong_fn, "a");
	b = coro_create(pingpong_fn, "b");
	ck_assert_ptr_nonnull(a);
	ck_assert_ptr_nonnull(b);
	ck_assert_uint_eq(coro_live(), 2);
	ck_assert_str_eq(trace, ""); /* creating runs nothing */

	for (;;) {
		ra = coro_resume(a);
		trace_add("m ");
		rb = coro_resume(b);
		trace_add("M ");
		if (ra == 0 && rb == 0)
			break;
		ck_assert_int_eq(ra, 1);
		ck_assert_int_eq(rb, 1);
	}
	ck_assert_str_eq(trace, "a1 m b1 M a2 m b2 M a3 m b3 M m M ");
	ck_assert_uint_eq(coro_live(), 0);
	ck_assert_ptr_null(coro_current());
}
END_TEST

struct arg_box {
	struct coro *self;
	int in;
	int out;
	const char *text;
};

static void
arg_fn(void *arg)
{
	struct arg_box *box = arg;

	box->self = coro_current();
	box->out = box->in * 2;
	coro_yield();
	box->out += 1;
	ck_assert_str_eq(box->text, "hello");
}

START_TEST(test_arg)
{
	struct arg_box box = {.in = 21, .text = "hello"};
	struct coro *co;

	co = coro_create(arg_fn, &box);
	ck_assert_ptr_nonnull(co);
	ck_assert_int_eq(coro_resume(co), 1);
	ck_assert_ptr_eq(box.self, co);
	ck_assert_int_eq(box.out, 42);
	ck_assert_ptr_null(coro_current());
	ck_assert_int_eq(coro_resume(co), 0);
	ck_assert_int_eq(box.out, 43);
}
END_TEST

static int defer_calls[4];
static struct coro *defer_current_seen = (struct coro *)1;

static void
defer_fn(void *arg)
{
	int i = (int)(intptr_t)arg;
	char buf[4];

	defer_calls[i]++;
	defer_current_seen = coro_current();
	snprintf(buf, sizeof buf, "%d ", i);
	trace_add(buf);
}

static void
defer_body(void *arg)
{
	struct coro *self = coro_current();

	(void)arg;
	ck_assert_int_eq(coro_defer(self, defer_fn, (void *)(intptr_t)1), 0);
	ck_assert_int_eq(coro_defer(self, defer_fn, (void *)(intptr_t)2), 0);
	coro_yield();
	ck_assert_int_eq(coro_defer(self, defer_fn, (void *)(intptr_t)3), 0);
	trace_add("end ");
}

START_TEST(test_defer_lifo_once)
{
	struct coro *co;

	memset(defer_calls, 0, sizeof defer_calls);
	co = coro_create(defer_body, NULL);
	ck_assert_ptr_nonnull(co);
	ck_assert_int_eq(coro_resume(co), 1);
	ck_assert_str_eq(trace, "");
	/* The resumer may defer on a suspended coroutine too. */
	ck_assert_int_eq(coro_defer(co, defer_fn, (void *)(intptr_t)0), 0);
	ck_assert_int_eq(coro_resume(co), 0);

	ck_assert_str_eq(trace, "end 3 0 2 1 ");
	ck_assert_int_eq(defer_calls[0], 1);
	ck_assert_int_eq(defer_calls[1], 1);
	ck_assert_int_eq(defer_calls[2], 1);
	ck_assert_int_eq(defer_calls[3], 1);
	/* They ran on the resumer's stack, outside any coroutine. */
	ck_assert_ptr_null(defer_current_seen);
	ck_assert_uint_eq(coro_live(), 0);
}
END_TEST

static uintptr_t stack_seen;

/* The frame, not a local: ASan may move locals to a fake stack. */
static void
stack_addr_fn(void *arg)
{
	(void)arg;
	stack_seen = (uintptr_t)__builtin_frame_address(0);
}

START_TEST(test_stack_pool)
{
	struct coro *cos[TEST_POOL_MAX * 3];
	uintptr_t first;
	size_t i;

	ck_assert_uint_eq(coro_pooled(), 0);

	/* One at a time: the same stack comes back each time. */
	ck_assert_int_eq(coro_resume(coro_create(stack_addr_fn, NULL)), 0);
	first = stack_seen;
	ck_assert_uint_eq(coro_pooled(), 1);
	for (i = 0; i < 1000; i++) {
		struct coro *co = coro_create(stack_addr_fn, NULL);

		ck_assert_ptr_nonnull(co);
		ck_assert_uint_eq(coro_pooled(), 0);
		ck_assert_uint_eq(coro_live(), 1);
		ck_assert_int_eq(coro_resume(co), 0);
		ck_assert_uint_eq(stack_seen, first);
		ck_assert_uint_eq(coro_pooled(), 1);
	}

	/* More at once than the pool keeps: the surplus is unmapped. */
	for (i = 0; i < sizeof cos / sizeof cos[0]; i++) {
		cos[i] = coro_create(stack_addr_fn, NULL);
		ck_assert_ptr_nonnull(cos[i]);
	}
	ck_assert_uint_eq(coro_live(), sizeof cos / sizeof cos[0]);
	ck_assert_uint_eq(coro_pooled(), 0);
	for (i = 0; i < sizeof cos / sizeof cos[0]; i++) {
		ck_assert_int_eq(coro_resume(cos[i]), 0);
		ck_assert_uint_le(coro_pooled(), TEST_POOL_MAX);
	}
	ck_assert_uint_eq(coro_pooled(), TEST_POOL_MAX);
	ck_assert_uint_eq(coro_live(), 0);

	coro_shutdown();
	ck_assert_uint_eq(coro_pooled(), 0);
	ck_assert_int_eq(coro_init(TEST_STACK_BYTES, 0), 0);
	ck_assert_int_eq(coro_resume(coro_create(stack_addr_fn, NULL)), 0);
	ck_assert_uint_eq(coro_pooled(), 0);
}
END_TEST

#define TOUCH_BYTES (16 * 1024)

/* Where each run of touch_fn wrote, a page inside its stack. */
static uintptr_t touched[2 * TEST_POOL_MAX + 1];
static size_t ntouched;

/* On the coroutine's stack, not a sanitizer's fake one. */
__attribute__((no_sanitize_address)) static void
touch_fn(void *arg)
{
	volatile char buf[TOUCH_BYTES];
	long page = sysconf(_SC_PAGESIZE);

	memset((char *)buf, 1, sizeof buf);
	touched[ntouched++] =
	    ((uintptr_t)buf + sizeof buf / 2) & ~((uintptr_t)page - 1);
}

static int
resident(uintptr_t page)
{
	unsigned char vec;

	ck_assert_int_eq(mincore((void *)page, 1, &vec), 0);
	return vec & 1;
}

/*
 * A trim finds the pooled stacks not lent since the one before, whose
 * pages then go back a batch at a time; a stack lent in between keeps
 * them.
 */
START_TEST(test_stack_pool_trim)
{
	struct coro *cos[TEST_POOL_MAX];
	size_t i, n = 0;

	ntouched = 0;
	for (i = 0; i < TEST_POOL_MAX; i++)
		ck_assert_ptr_nonnull(cos[i] = coro_create(touch_fn, NULL));
	for (i = 0; i < TEST_POOL_MAX; i++)
		ck_assert_int_eq(coro_resume(cos[i]), 0);
	ck_assert_uint_eq(coro_pooled(), TEST_POOL_MAX);
	for (i = 0; i < TEST_POOL_MAX; i++)
		ck_assert_int_eq(resident(touched[i]), 1);

	coro_pool_trim(); /* all were lent since the start */
	ck_assert_int_eq(coro_pool_give_back(TEST_POOL_MAX), 0);
	for (i = 0; i < TEST_POOL_MAX; i++)
		ck_assert_int_eq(resident(touched[i]), 1);
	ck_assert_int_eq(coro_resume(coro_create(touch_fn, NULL)), 0);
	coro_pool_trim(); /* all but the one lent again are idle */

	ck_assert_int_eq(coro_pool_give_back(1), 1);
	for (i = 0; i < TEST_POOL_MAX; i++)
		n += (size_t)resident(touched[i]);
	ck_assert_uint_eq(n, TEST_POOL_MAX - 1);
	while (coro_pool_give_back(1))
		;
	for (i = 0, n = 0; i < TEST_POOL_MAX; i++)
		n += (size_t)resident(touched[i]);
	ck_assert_uint_eq(n, 1);
	ck_assert_int_eq(resident(touched[TEST_POOL_MAX]), 1);
	ck_assert_uint_eq(coro_pooled(), TEST_POOL_MAX);

	/* A stack given back runs again, on fresh pages. */
	for (i = 0; i < TEST_POOL_MAX; i++)
		ck_assert_ptr_nonnull(cos[i] = coro_create(touch_fn, NULL));
	for (i = 0; i < TEST_POOL_MAX; i++)
		ck_assert_int_eq(coro_resume(cos[i]), 0);
	ck_assert_uint_eq(coro_pooled(), TEST_POOL_MAX);
}
END_TEST

/* Whether the pages 8 KiB and 24 KiB below the frame were resident. */
static int warm_near, warm_far;

__attribute__((no_sanitize_address)) static void
warm_fn(void *arg)
{
	long page = sysconf(_SC_PAGESIZE);
	uintptr_t frame = (uintptr_t)__builtin_frame_address(0);

	warm_near = resident((frame - 8 * 1024) & ~((uintptr_t)page - 1));
	warm_far = resident((frame - 24 * 1024) & ~((uintptr_t)page - 1));
}

/*
 * A stack with no pages, new or given back by a trim, gets the top 16 KiB
 * before its coroutine runs (one madvise, not a fault a page); the rest
 * is left to faults.
 */
START_TEST(test_stack_warm)
{
#ifdef MADV_POPULATE_WRITE
	warm_near = warm_far = -1;
	ck_assert_int_eq(coro_resume(coro_create(warm_fn, NULL)), 0);
	ck_assert_int_eq(warm_near, 1);
	ck_assert_int_eq(warm_far, 0);
	coro_pool_trim(); /* lent since the start: kept */
	coro_pool_trim(); /* not lent since: given back */
	ck_assert_int_eq(coro_pool_give_back(1), 0);
	warm_near = warm_far = -1;
	ck_assert_int_eq(coro_resume(coro_create(warm_fn, NULL)), 0);
	ck_assert_int_eq(warm_near, 1);
	ck_assert_int_eq(warm_far, 0);
#endif
}
END_TEST

#define MANY 10000
#define MANY_ROUNDS 3

static unsigned many_steps[MANY];

static void
many_fn(void *arg)
{
	unsigned idx = (unsigned)(uintptr_t)arg;
	int round;

	for (round = 0; round < MANY_ROUNDS; round++) {
		many_steps[idx]++;
		coro_yield();
	}
	many_steps[idx] += 1000;
}

START_TEST(test_many_suspended)
{
	static struct coro *cos[MANY];
	unsigned i;
	int round;

	memset(many_steps, 0, sizeof many_steps);
	for (i = 0; i < MANY; i++) {
		cos[i] = coro_create(many_fn, (void *)(uintptr_t)i);
		ck_assert_msg(
		    cos[i] != NULL, "coro_create: %s", strerror(errno));
	}
	ck_assert_uint_eq(coro_live(), MANY);

	for (round = 0; round < MANY_ROUNDS; round++) {
		for (i = 0; i < MANY; i++)
			ck_assert_int_eq(coro_resume(cos[i]), 1);
		for (i = 0; i < MANY; i++)
			ck_assert_uint_eq(many_steps[i], (unsigned)round + 1);
	}
	ck_assert_uint_eq(coro_live(), MANY);
	/* Finish them in reverse, to unlink from both ends of the list. */
	for (i = MANY; i-- > 0;)
		ck_assert_int_eq(coro_resume(cos[i]), 0);
	for (i = 0; i < MANY; i++)
		ck_assert_uint_eq(many_steps[i], 1000 + MANY_ROUNDS);
	ck_assert_uint_eq(coro_live(), 0);
	ck_assert_uint_eq(coro_pooled(), TEST_POOL_MAX);
}
END_TEST

/*
 * Doubles live in registers the ABI does not preserve, so the compiler has
 * to keep them around the switch; the rounding mode is per coroutine, kept
 * by the switch itself.
 */
static volatile double fp_seed = 1.0;

static void
fp_fn(void *arg)
{
	double *out = arg;
	double a = fp_seed * 3.0, b = fp_seed / 7.0, c = fp_seed + 0.5;
	int i;

	for (i = 0; i < 4; i++) {
		a = a * 1.5 + b;
		b = b - c * 0.25;
		c = c + a / 3.0;
		coro_yield();
	}
	out[0] = a;
	out[1] = b;
	out[2] = c;
}

static void
fp_expected(double *out)
{
	double a = fp_seed * 3.0, b = fp_seed / 7.0, c = fp_seed + 0.5;
	int i;

	for (i = 0; i < 4; i++) {
		a = a * 1.5 + b;
		b = b - c * 0.25;
		c = c + a / 3.0;
	}
	out[0] = a;
	out[1] = b;
	out[2] = c;
}

START_TEST(test_fp_values)
{
	double got1[3], got2[3], want[3];
	double mine = fp_seed * 11.0, mine_want = fp_seed * 11.0;
	struct coro *c1, *c2;
	int r1, r2, turns = 0;

	fp_expected(want);
	c1 = coro_create(fp_fn, got1);
	c2 = coro_create(fp_fn, got2);
	do {
		r1 = coro_resume(c1);
		mine = mine * 0.5 + 1.0;
		r2 = coro_resume(c2);
		turns++;
	} while (r1 || r2);
	while (turns-- > 0)
		mine_want = mine_want * 0.5 + 1.0;
	ck_assert(memcmp(got1, want, sizeof want) == 0);
	ck_assert(memcmp(got2, want, sizeof want) == 0);
	ck_assert(mine == mine_want);
}
END_TEST

#if defined(FE_UPWARD) && defined(FE_DOWNWARD)
static volatile double fp_one = 1.0, fp_three = 3.0;

static void
rounding_fn(void *arg)
{
	int *modes = arg;

	ck_assert_int_eq(fesetround(FE_UPWARD), 0);
	coro_yield();
	modes[0] = fegetround();
	modes[1] = fp_one / fp_three > 0.3333333333333333;
	/*
	 * long double is x87 arithmetic, with its own control word. Negative,
	 * because the nearest long double to 1/3 is already above it.
	 */
	modes[2] = -(long double)fp_one / fp_three > -0.333333333333333333333L;
	ck_assert_int_eq(fesetround(FE_TONEAREST), 0);
}

START_TEST(test_fp_rounding)
{
	int modes[3] = {-1, -1, -1};
	struct coro *co;

	co = coro_create(rounding_fn, modes);
	ck_assert_int_eq(coro_resume(co), 1);
	/* The coroutine's mode stayed with it. */
	ck_assert_int_eq(fegetround(), FE_TONEAREST);
	ck_assert_int_eq(fesetround(FE_DOWNWARD), 0);
	ck_assert_int_eq(coro_resume(co), 0);
	ck_assert_int_eq(fegetround(), FE_DOWNWARD);
	ck_assert_int_eq(modes[0], FE_UPWARD);
	ck_assert_int_eq(modes[1], 1);
	ck_assert_int_eq(modes[2], 1);
	ck_assert_int_eq(fesetround(FE_TONEAREST), 0);
}
END_TEST
#endif

/*
 * Misalignment shows up in SSE code that assumes a 16-byte aligned stack:
 * glibc's printf of a double and aligned locals.
 */
struct align_result {
	uintptr_t local_addr;
	uintptr_t frame_addr;
	char text[32];
};

static __attribute__((noinline)) void
align_probe(struct align_result *r)
{
	_Alignas(16) volatile char local[16];
	volatile long double ld = 2.5L;

	local[0] = 1;
	r->local_addr = (uintptr_t)local;
	r->frame_addr = (uintptr_t)__builtin_frame_address(0);
	snprintf(r->text, sizeof r->text, "%.3f %.1Lf", 3.14159, ld * 2);
}

static void
align_fn(void *arg)
{
	align_probe(arg);
	coro_yield();
	align_probe((struct align_result *)arg + 1);
}

START_TEST(test_alignment)
{
	struct align_result r[2];
	struct coro *co;
	int i;

	memset(r, 0, sizeof r);
	co = coro_create(align_fn, r);
	ck_assert_int_eq(coro_resume(co), 1);
	ck_assert_int_eq(coro_resume(co), 0);
	for (i = 0; i < 2; i++) {
		ck_assert_uint_eq(r[i].local_addr % 16, 0);
		ck_assert_uint_eq(r[i].frame_addr % 16, 0);
		ck_assert_str_eq(r[i].text, "3.142 5.0");
	}
}
END_TEST

struct nest {
	struct coro *outer;
	struct coro *inner;
};

static void
inner_fn(void *arg)
{
	struct nest *n = arg;

	ck_assert_ptr_eq(coro_current(), n->inner);
	trace_add("i1 ");
	coro_yield(); /* back to outer, not to the test */
	ck_assert_ptr_eq(coro_current(), n->inner);
	trace_add("i2 ");
}

static void
outer_fn(void *arg)
{
	struct nest *n = arg;

	ck_assert_ptr_eq(coro_current(), n->outer);
	trace_add("o1 ");
	n->inner = coro_create(inner_fn, n);
	ck_assert_ptr_nonnull(n->inner);
	ck_assert_int_eq(coro_resume(n->inner), 1);
	ck_assert_ptr_eq(coro_current(), n->outer);
	trace_add("o2 ");
	coro_yield(); /* to the test, inner stays suspended */
	trace_add("o3 ");
	ck_assert_int_eq(coro_resume(n->inner), 0);
	ck_assert_ptr_eq(coro_current(), n->outer);
	trace_add("o4 ");
}

START_TEST(test_nested)
{
	struct nest n;

	n.outer = coro_create(outer_fn, &n);
	ck_assert_int_eq(coro_resume(n.outer), 1);
	ck_assert_ptr_null(coro_current());
	ck_assert_str_eq(trace, "o1 i1 o2 ");
	ck_assert_uint_eq(coro_live(), 2);
	trace_add("t ");
	ck_assert_int_eq(coro_resume(n.outer), 0);
	ck_assert_str_eq(trace, "o1 i1 o2 t o3 i2 o4 ");
	ck_assert_uint_eq(coro_live(), 0);
}
END_TEST

START_TEST(test_init_errors)
{
	struct coro *co;

	co = coro_create(stack_addr_fn, NULL);
	ck_assert_ptr_nonnull(co);
	/* Changing the sizes under a live coroutine is refused. */
	ck_assert_int_eq(coro_init(TEST_STACK_BYTES * 2, 1), -1);
	ck_assert_int_eq(errno, EBUSY);
	ck_assert_int_eq(coro_resume(co), 0);
	ck_assert_int_eq(coro_init(0, 1), -1);
	ck_assert_int_eq(errno, EINVAL);
	ck_assert_int_eq(coro_init(TEST_STACK_BYTES * 2, 1), 0);
	ck_assert_uint_eq(coro_pooled(), 0);
	ck_assert_int_eq(coro_resume(coro_create(stack_addr_fn, NULL)), 0);
	ck_assert_uint_eq(coro_pooled(), 1);
}
END_TEST

/*
 * Crash tests: the child's stderr goes into a pipe, and the parent reports
 * how it died and what it said. An alarm makes a child that fails to die
 * show up as SIGALRM instead of hanging the suite.
 */
struct crash {
	int status;
	char text[4096];
};

static void
crash_run(void (*child)(void), struct crash *c)
{
	int fds[2];
	size_t len = 0;
	ssize_t n;
	pid_t pid;

	ck_assert_int_eq(pipe(fds), 0);
	pid = fork();
	ck_assert_int_ne(pid, -1);
	if (pid == 0) {
		close(fds[0]);
		dup2(fds[1], STDERR_FILENO);
		close(fds[1]);
		alarm(20);
		child();
		_exit(0);
	}
	close(fds[1]);
	while (len < sizeof c->text - 1) {
		n = read(fds[0], c->text + len, sizeof c->text - 1 - len);
		if (n == -1 && errno == EINTR)
			continue;
		ck_assert_int_ne(n, -1);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	c->text[len] = '\0';
	close(fds[0]);
	while (waitpid(pid, &c->status, 0) == -1)
		ck_assert_int_eq(errno, EINTR);
}

#define OVERFLOW_STACK_BYTES (16 * 1024)

static int
recurse(int depth)
{
	volatile char frame[1024];

	/* Far deeper than any stack here; it keeps gcc from objecting. */
	if (depth > 1000000)
		return 0;
	frame[0] = (char)depth;
	frame[sizeof frame - 1] = (char)depth;
	/* Using frame after the call keeps this from being a loop. */
	return recurse(depth + 1) + frame[0] + frame[sizeof frame - 1];
}

static void
overflow_fn(void *arg)
{
	*(int *)arg = recurse(0);
}

static void
overflow_child(void)
{
	struct coro *co;
	int result;

	coro_shutdown();
	if (coro_init(OVERFLOW_STACK_BYTES, 0) == -1)
		_exit(10);
	if ((co = coro_create(overflow_fn, &result)) == NULL)
		_exit(11);
	coro_resume(co);
	_exit(12); /* the overflow went unnoticed */
}

START_TEST(test_stack_overflow)
{
	struct crash c;

	crash_run(overflow_child, &c);
	ck_assert_msg(WIFSIGNALED(c.status) && WTERMSIG(c.status) == SIGSEGV,
	    "child status %#x, stderr: %s", c.status, c.text);
	ck_assert_msg(strstr(c.text, "coroutine stack overflow") != NULL,
	    "no overflow message, stderr: %s", c.text);
}
END_TEST

static void
wild_store_fn(void *arg)
{
	*(volatile int *)arg = 1;
}

static void
wild_store_child(void)
{
	struct coro *co;
	void *page;

	/* Not NULL, which UBSan would catch first in the sanitizer build. */
	page = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (page == MAP_FAILED)
		_exit(10);
	if ((co = coro_create(wild_store_fn, page)) == NULL)
		_exit(11);
	coro_resume(co);
	_exit(12);
}

START_TEST(test_other_segv)
{
	struct crash c;

	/* Any other fault still kills, without blaming the stack. */
	crash_run(wild_store_child, &c);
	ck_assert_msg(WIFSIGNALED(c.status) && WTERMSIG(c.status) == SIGSEGV,
	    "child status %#x, stderr: %s", c.status, c.text);
	ck_assert_msg(strstr(c.text, "coroutine stack overflow") == NULL,
	    "stderr: %s", c.text);
}
END_TEST

static Suite *
coro_suite(void)
{
	Suite *s = suite_create("coro");
	TCase *tc = tcase_create("core");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_pingpong);
	tcase_add_test(tc, test_arg);
	tcase_add_test(tc, test_defer_lifo_once);
	tcase_add_test(tc, test_stack_pool);
	tcase_add_test(tc, test_stack_pool_trim);
	tcase_add_test(tc, test_stack_warm);
	tcase_add_test(tc, test_many_suspended);
	tcase_add_test(tc, test_fp_values);
#if defined(FE_UPWARD) && defined(FE_DOWNWARD)
	tcase_add_test(tc, test_fp_rounding);
#endif
	tcase_add_test(tc, test_alignment);
	tcase_add_test(tc, test_nested);
	tcase_add_test(tc, test_init_errors);
	tcase_add_test(tc, test_stack_overflow);
	tcase_add_test(tc, test_other_segv);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner *sr = srunner_create(coro_suite());
	int failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
