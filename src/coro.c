/*
 * Stackful coroutines for the reactor thread. A coroutine is an mmap'd
 * stack with a PROT_NONE guard page at its low end and its struct at its
 * high end, above the frames; finished stacks go to a bounded free list so
 * a busy server does not pay for mmap, mprotect and page faults, nor for a
 * malloc and free, on every request (a connection gets a coroutine per
 * request). The context switch is
 * a few lines of assembly (coro_x86_64.S, coro_aarch64.S) or, where there is
 * none, ucontext. A SIGSEGV handler on an alternate signal stack tells a
 * stack overflow apart from other faults by looking for the address in the
 * guard pages of live coroutines, says so on stderr, and lets the fault kill
 * the process where it happened. The scheduler (the running coroutine, the
 * live list, the stack pool, the alternate signal stack) is thread-local:
 * each reactor thread calls coro_init() and has its own, and a coroutine
 * lives and dies on the thread that created it. The only reader from
 * elsewhere is the signal handler, which runs on the faulting thread and
 * walks that thread's live list, so the list is linked in an order that
 * keeps it walkable at every instruction. The handler itself is
 * process-wide: installed by the first coro_init() and restored by the
 * last coro_shutdown(), counted under a lock.
 */
#include "autoconf.h"

#include <sys/types.h>
#include <sys/mman.h>

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef CORO_UCONTEXT
#include <ucontext.h>
#endif

#include "coro.h"

#if defined(__SANITIZE_ADDRESS__)
#define CORO_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CORO_ASAN 1
#endif
#endif
#ifdef CORO_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if defined(__SANITIZE_THREAD__)
#define CORO_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define CORO_TSAN 1
#endif
#endif
#ifdef CORO_TSAN
#include <sanitizer/tsan_interface.h>
#endif

/*
 * Valgrind takes a jump of the stack pointer to another stack for a huge
 * frame unless the stacks are registered; its client requests cost a few
 * instructions when not running under it. configure looks for the header,
 * so a build without valgrind installed simply leaves them out.
 */
#ifdef HAVE_VALGRIND_VALGRIND_H
#include <valgrind/valgrind.h>
#define CORO_VALGRIND 1
#endif

/*
 * The alternate signal stack the overflow handler runs on: the faulting
 * stack has no room left, by definition. An existing one at least
 * CORO_ALTSTACK_MIN bytes long (the sanitizers install their own) is kept.
 */
#define CORO_ALTSTACK_BYTES (64 * 1024)
#define CORO_ALTSTACK_MIN (16 * 1024)

#ifdef CORO_UCONTEXT
typedef ucontext_t coro_ctx;
#else
/* The switch pushes the callee-saved registers, so a context is its sp. */
typedef struct {
	void *sp;
} coro_ctx;

/* In coro_<arch>.S: saves our registers, stores sp in *save, loads to. */
void coro__switch(void **save, void *to);
/* Lays out a first frame below top that coro__switch "returns" to entry. */
void *coro__make(void *top, void (*entry)(void));
#endif

enum coro_state {
	CORO_SUSPENDED, /* created, or yielded */
	CORO_RUNNING,	/* running, or resuming another coroutine */
	CORO_DONE	/* fn returned; the resumer cleans up */
};

struct coro_defer {
	void (*fn)(void *);
	void *arg;
	struct coro_defer *next;
};

struct coro {
	coro_ctx ctx; /* saved while not running */
	coro_fn *fn;
	void *arg;
	enum coro_state state;
	struct coro *caller;	   /* who resumed us; NULL: the thread */
	struct coro_defer *defers; /* last registered first */
	/* The first one registered needs no malloc: most have just one. */
	struct coro_defer first_defer;
	int first_defer_taken;

	/* The mapping: guard page, then the stack. The handler reads it. */
	char *map;

	/* Live list, walked by the SIGSEGV handler. */
	struct coro *prev;
	struct coro *next;

#ifdef CORO_VALGRIND
	unsigned valgrind_stack;
#endif
#ifdef CORO_ASAN
	/* ASan's view of the switch: our fake stack, the resumer's stack. */
	void *fake_stack;
	const void *caller_stack;
	size_t caller_stack_bytes;
#endif
#ifdef CORO_TSAN
	/* TSan's: a fiber of our own, and the resumer's to go back to. */
	void *tsan_fiber;
	void *tsan_caller;
#endif
};

/*
 * What a request's frames touch of its stack, about (a multiple of pages):
 * a file request over HTTP/1.1 or an HTTP/2 stream 12 KiB (smaps of a
 * stack that was never warmed). A TLS handshake goes to 28 KiB and takes
 * the rest as faults, a few beside its key exchange; a page populated and
 * never touched costs its zeroing, and stays resident until a trim.
 */
#define CORO_WARM_BYTES (16 * 1024)

/* What the struct takes at the top of the mapping, alignment kept. */
#define CORO_HEADER_BYTES ((sizeof(struct coro) + 63) & ~(size_t)63)

static _Thread_local int coro_initialised;
static _Thread_local size_t coro_page_bytes;
static _Thread_local size_t coro_stack_bytes; /* usable, without the guard */

static _Thread_local char **coro_pool; /* free stacks, pool_max at most */
static _Thread_local unsigned coro_pool_len;
static _Thread_local unsigned coro_pool_max;
/*
 * The pool lends from its top, so its bottom coro_pool_low stacks have
 * not been lent since the last trim; the bottom coro_pool_cold have no
 * pages of their own (given back, or never touched since).
 */
static _Thread_local unsigned coro_pool_low;
static _Thread_local unsigned coro_pool_cold;
/* The last trim found those below idle: coro_pool_give_back()'s end. */
static _Thread_local unsigned coro_pool_idle;

static _Thread_local unsigned coro_live_count;
static _Thread_local struct coro *coro_live_head;
static _Thread_local struct coro *coro_running; /* NULL: the thread's stack */
static _Thread_local coro_ctx coro_thread_ctx;	/* the thread's, suspended */

static _Thread_local void *coro_altstack; /* ours, if we had to install one */
static _Thread_local stack_t coro_old_altstack;

/* The SIGSEGV handler, one per process: threads with coroutines counted. */
static pthread_mutex_t coro_segv_lock = PTHREAD_MUTEX_INITIALIZER;
static unsigned coro_segv_users;
static struct sigaction coro_old_segv;

/*
 * ASan tracks one stack per thread and must be told when we move to
 * another one, or it takes the new frames for wild accesses. Without ASan
 * these compile to nothing.
 */
static inline void
coro_san_start(void **fake_stack, const void *bottom, size_t bytes)
{
#ifdef CORO_ASAN
	__sanitizer_start_switch_fiber(fake_stack, bottom, bytes);
#else
	(void)fake_stack;
	(void)bottom;
	(void)bytes;
#endif
}

static inline void
coro_san_finish(void *fake_stack, const void **bottom, size_t *bytes)
{
#ifdef CORO_ASAN
	__sanitizer_finish_switch_fiber(fake_stack, bottom, bytes);
#else
	(void)fake_stack;
	(void)bottom;
	(void)bytes;
#endif
}

/* The coroutine side of a switch in: note whose stack we came from. */
static inline void
coro_san_enter(struct coro *co)
{
#ifdef CORO_ASAN
	__sanitizer_finish_switch_fiber(
	    co->fake_stack, &co->caller_stack, &co->caller_stack_bytes);
#else
	(void)co;
#endif
}

/* The coroutine side of a switch out; a finished one leaves no fake stack. */
static inline void
coro_san_leave(struct coro *co, int finished)
{
#ifdef CORO_ASAN
	__sanitizer_start_switch_fiber(finished ? NULL : &co->fake_stack,
	    co->caller_stack, co->caller_stack_bytes);
#else
	(void)co;
	(void)finished;
#endif
}

/*
 * TSan keeps a shadow call stack and a clock per thread; each coroutine is
 * a fiber to it, switched to right before the stack is, or it takes one
 * coroutine's frames for another's. Nothing without TSan.
 */
static inline void
coro_tsan_switch(void *fiber)
{
#ifdef CORO_TSAN
	__tsan_switch_to_fiber(fiber, 0);
#else
	(void)fiber;
#endif
}

static inline void *
coro_tsan_fiber(const struct coro *co)
{
#ifdef CORO_TSAN
	return co->tsan_fiber;
#else
	(void)co;
	return NULL;
#endif
}

static inline void *
coro_tsan_caller(const struct coro *co)
{
#ifdef CORO_TSAN
	return co->tsan_caller;
#else
	(void)co;
	return NULL;
#endif
}

/*
 * A stack carries the poisoned redzones of whoever used it last; clear them
 * before a new coroutine (or, after munmap, anyone at all) gets the pages.
 */
static inline void
coro_san_unpoison(void *addr, size_t bytes)
{
#ifdef CORO_ASAN
	__asan_unpoison_memory_region(addr, bytes);
#else
	(void)addr;
	(void)bytes;
#endif
}

static inline void
coro_switch(coro_ctx *save, coro_ctx *to)
{
#ifdef CORO_UCONTEXT
	/* Only fails for a bad context, which would be our bug. */
	if (swapcontext(save, to) == -1)
		abort();
#else
	coro__switch(&save->sp, to->sp);
#endif
}

/* Where the context of co, or of the thread's own stack, is kept. */
static inline coro_ctx *
coro_ctx_of(struct coro *co)
{
	return co != NULL ? &co->ctx : &coro_thread_ctx;
}

static inline char *
coro_stack_low(const struct coro *co)
{
	return co->map + coro_page_bytes;
}

/* The part of the stack the coroutine runs on: below its struct. */
static inline size_t
coro_run_bytes(void)
{
	return coro_stack_bytes - CORO_HEADER_BYTES;
}

/*
 * Runs on the alternate stack. Only async-signal-safe calls: write(2) and
 * sigaction(2). Returning re-executes the faulting instruction, which now
 * meets SIG_DFL, so the core dump shows the real site.
 */
static void
coro_segv(int sig, siginfo_t *si, void *uctx)
{
	static const char msg[] = "coserve: fatal: coroutine stack overflow\n";
	const char *addr = si->si_addr;
	struct coro *co;
	struct sigaction sa;
	ssize_t n;

	(void)uctx;
	for (co = coro_live_head; co != NULL; co = co->next) {
		if (addr >= co->map && addr < co->map + coro_page_bytes) {
			n = write(STDERR_FILENO, msg, sizeof msg - 1);
			(void)n;
			break;
		}
	}

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_DFL;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGSEGV, &sa, NULL);

	/* A SIGSEGV sent with kill(2) would not come back by itself. */
	if (si->si_code <= 0)
		raise(sig);
}

static void
coro_stack_unmap(char *map)
{
	coro_san_unpoison(map + coro_page_bytes, coro_stack_bytes);
	munmap(map, coro_page_bytes + coro_stack_bytes);
}

/*
 * A stack with no pages gets those a request's frames touch in one
 * madvise, not in a page fault each: in a virtual machine each fault is a
 * trap, and a burst of new requests (a hundred at once, each on a stack of
 * its own) spent a quarter of the reactor's time in them.
 */
static void
coro_stack_warm(char *map)
{
#ifdef MADV_POPULATE_WRITE
	size_t len = coro_stack_bytes < CORO_WARM_BYTES ? coro_stack_bytes
							: CORO_WARM_BYTES;

	/* EINVAL before Linux 5.14: the faults then come one by one. */
	(void)madvise(map + coro_page_bytes + coro_stack_bytes - len, len,
	    MADV_POPULATE_WRITE);
#else
	(void)map;
#endif
}

static char *
coro_stack_get(void)
{
	char *map;
	int saved_errno;

	if (coro_pool_len > 0) {
		map = coro_pool[--coro_pool_len];
		if (coro_pool_low > coro_pool_len)
			coro_pool_low = coro_pool_len;
		if (coro_pool_idle > coro_pool_len)
			coro_pool_idle = coro_pool_len;
		if (coro_pool_cold > coro_pool_len) {
			coro_pool_cold = coro_pool_len;
			coro_stack_warm(map);
		}
	} else {
		map = mmap(NULL, coro_page_bytes + coro_stack_bytes,
		    PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
		if (map == MAP_FAILED)
			return NULL;
		if (mprotect(map, coro_page_bytes, PROT_NONE) == -1) {
			saved_errno = errno;
			munmap(map, coro_page_bytes + coro_stack_bytes);
			errno = saved_errno;
			return NULL;
		}
		coro_stack_warm(map);
	}
	coro_san_unpoison(map + coro_page_bytes, coro_stack_bytes);
	return map;
}

static void
coro_stack_put(char *map)
{
	if (coro_pool_len < coro_pool_max)
		coro_pool[coro_pool_len++] = map;
	else
		coro_stack_unmap(map);
}

/*
 * A burst leaves the pool full of stacks holding the pages its coroutines
 * touched (tens of KiB each): those not lent since the last trim are
 * found here, and coro_pool_give_back() returns their pages to the
 * kernel a batch at a time. The mappings stay, so lending one again costs
 * page faults, not a system call.
 */
void
coro_pool_trim(void)
{
	coro_pool_idle = coro_pool_low;
	coro_pool_low = coro_pool_len;
}

int
coro_pool_give_back(unsigned max)
{
	for (; coro_pool_cold < coro_pool_idle && max > 0; max--)
		(void)madvise(coro_pool[coro_pool_cold++] + coro_page_bytes,
		    coro_stack_bytes, MADV_DONTNEED);
	return coro_pool_cold < coro_pool_idle;
}

static void
coro_pool_drain(void)
{
	while (coro_pool_len > 0)
		coro_stack_unmap(coro_pool[--coro_pool_len]);
	free(coro_pool);
	coro_pool = NULL;
	coro_pool_max = coro_pool_low = coro_pool_cold = coro_pool_idle = 0;
}

/*
 * Makes sure SIGSEGV can be handled while a stack is exhausted: an enabled
 * alternate stack of useful size, ours if there is none.
 */
static int
coro_altstack_install(void)
{
	stack_t ss;

	if (sigaltstack(NULL, &coro_old_altstack) == -1)
		return -1;
	if (!(coro_old_altstack.ss_flags & SS_DISABLE) &&
	    coro_old_altstack.ss_size >= CORO_ALTSTACK_MIN)
		return 0;

	coro_altstack = mmap(NULL, CORO_ALTSTACK_BYTES, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
	if (coro_altstack == MAP_FAILED) {
		coro_altstack = NULL;
		return -1;
	}
	memset(&ss, 0, sizeof ss);
	ss.ss_sp = coro_altstack;
	ss.ss_size = CORO_ALTSTACK_BYTES;
	if (sigaltstack(&ss, NULL) == -1) {
		munmap(coro_altstack, CORO_ALTSTACK_BYTES);
		coro_altstack = NULL;
		return -1;
	}
	return 0;
}

static void
coro_altstack_remove(void)
{
	if (coro_altstack == NULL)
		return;
	sigaltstack(&coro_old_altstack, NULL);
	munmap(coro_altstack, CORO_ALTSTACK_BYTES);
	coro_altstack = NULL;
}

/*
 * May be called again, with no coroutine alive, to change the sizes; the
 * pooled stacks are dropped then.
 */
int
coro_init(size_t stack_bytes, unsigned pool_max)
{
	struct sigaction sa;
	long page;
	size_t bytes;
	char **pool = NULL;

	if (coro_initialised && coro_live_count > 0) {
		errno = EBUSY;
		return -1;
	}
	page = sysconf(_SC_PAGESIZE);
	if (page <= 0)
		page = 4096;
	if (stack_bytes == 0 || stack_bytes > SIZE_MAX / 2) {
		errno = EINVAL;
		return -1;
	}
	/* The struct takes the top: at least a page is left to run on. */
	if (stack_bytes < CORO_HEADER_BYTES + (size_t)page)
		stack_bytes = CORO_HEADER_BYTES + (size_t)page;
	bytes = (stack_bytes + (size_t)page - 1) & ~((size_t)page - 1);

	if (pool_max > 0) {
		pool = calloc(pool_max, sizeof *pool);
		if (pool == NULL)
			return -1;
	}

	if (coro_initialised) {
		coro_pool_drain();
		goto done;
	}

	if (coro_altstack_install() == -1)
		goto fail;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = coro_segv;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	sigemptyset(&sa.sa_mask);
	pthread_mutex_lock(&coro_segv_lock);
	if (coro_segv_users == 0 &&
	    sigaction(SIGSEGV, &sa, &coro_old_segv) == -1) {
		pthread_mutex_unlock(&coro_segv_lock);
		goto fail_altstack;
	}
	coro_segv_users++;
	pthread_mutex_unlock(&coro_segv_lock);
	coro_initialised = 1;

done:
	coro_page_bytes = (size_t)page;
	coro_stack_bytes = bytes;
	coro_pool = pool;
	coro_pool_max = pool_max;
	coro_pool_len = coro_pool_low = coro_pool_cold = coro_pool_idle = 0;
	return 0;

fail_altstack:
	coro_altstack_remove();
fail:
	free(pool);
	return -1;
}

void
coro_shutdown(void)
{
	if (!coro_initialised)
		return;
	coro_pool_drain();
	pthread_mutex_lock(&coro_segv_lock);
	if (--coro_segv_users == 0)
		sigaction(SIGSEGV, &coro_old_segv, NULL);
	pthread_mutex_unlock(&coro_segv_lock);
	coro_altstack_remove();
	coro_initialised = 0;
}

/*
 * The first frame of every coroutine: coro__switch or swapcontext lands
 * here on the new stack, and it never returns; the last switch out leaves
 * the resumer to free the stack it runs on.
 */
static void
coro_entry(void)
{
	struct coro *co = coro_running;

	coro_san_enter(co);
	co->fn(co->arg);

	co->state = CORO_DONE;
	coro_san_leave(co, 1);
	coro_tsan_switch(coro_tsan_caller(co));
	coro_switch(&co->ctx, coro_ctx_of(co->caller));
	abort(); /* a finished coroutine is never resumed */
}

/*
 * Prepares ctx so that switching to it runs coro_entry() on the stack
 * starting at low. A function of its own so that no local of the caller
 * lives across getcontext(), which returns twice as far as gcc knows.
 */
static int
coro_ctx_make(coro_ctx *ctx, char *low)
{
#ifdef CORO_UCONTEXT
	if (getcontext(ctx) == -1)
		return -1;
	ctx->uc_stack.ss_sp = low;
	ctx->uc_stack.ss_size = coro_run_bytes();
	ctx->uc_link = NULL;
	makecontext(ctx, coro_entry, 0);
#else
	ctx->sp = coro__make(low + coro_run_bytes(), coro_entry);
#endif
	return 0;
}

struct coro *
coro_create(coro_fn *fn, void *arg)
{
	struct coro *co;
	char *map;
	int saved_errno;

	if (!coro_initialised) {
		errno = EINVAL;
		return NULL;
	}
	if ((map = coro_stack_get()) == NULL)
		return NULL;
	co = (struct coro *)(map + coro_page_bytes + coro_run_bytes());
	memset(co, 0, sizeof *co);
	co->map = map;
	co->fn = fn;
	co->arg = arg;
	co->state = CORO_SUSPENDED;

	if (coro_ctx_make(&co->ctx, coro_stack_low(co)) == -1)
		goto fail_stack;

#ifdef CORO_VALGRIND
	co->valgrind_stack = VALGRIND_STACK_REGISTER(
	    coro_stack_low(co), coro_stack_low(co) + coro_run_bytes());
#endif
#ifdef CORO_TSAN
	co->tsan_fiber = __tsan_create_fiber(0);
#endif

	/* Fill in the node, then publish it: the handler may run anywhere. */
	co->prev = NULL;
	co->next = coro_live_head;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (co->next != NULL)
		co->next->prev = co;
	coro_live_head = co;
	/* One writer; metrics read it from other threads. */
	__atomic_store_n(
	    &coro_live_count, coro_live_count + 1, __ATOMIC_RELAXED);
	return co;

fail_stack:
	saved_errno = errno;
	coro_stack_put(map);
	errno = saved_errno;
	return NULL;
}

/*
 * Runs on the resumer's stack once co's has been left for good, so the
 * deferred functions may free anything, and the stack can be reused.
 */
static void
coro_finish(struct coro *co)
{
	struct coro_defer *d;
	char *map = co->map;

	if (co->prev != NULL)
		co->prev->next = co->next;
	else
		coro_live_head = co->next;
	if (co->next != NULL)
		co->next->prev = co->prev;
	__atomic_store_n(
	    &coro_live_count, coro_live_count - 1, __ATOMIC_RELAXED);

	/* One at a time: a deferred function may defer another. */
	while ((d = co->defers) != NULL) {
		co->defers = d->next;
		d->fn(d->arg);
		if (d != &co->first_defer)
			free(d);
	}
#ifdef CORO_VALGRIND
	VALGRIND_STACK_DEREGISTER(co->valgrind_stack);
#endif
#ifdef CORO_TSAN
	__tsan_destroy_fiber(co->tsan_fiber);
#endif
	/* co lives in the mapping: gone, or another's, from here on. */
	coro_stack_put(map);
}

int
coro_resume(struct coro *co)
{
	struct coro *self = coro_running;
	void *fake_stack;

	/* Resuming a running coroutine would clobber a live stack. */
	if (co->state != CORO_SUSPENDED)
		abort();
	co->caller = self;
	co->state = CORO_RUNNING;
	coro_running = co;

	coro_san_start(&fake_stack, coro_stack_low(co), coro_run_bytes());
#ifdef CORO_TSAN
	co->tsan_caller = __tsan_get_current_fiber();
#endif
	coro_tsan_switch(coro_tsan_fiber(co));
	coro_switch(coro_ctx_of(self), &co->ctx);
	coro_san_finish(fake_stack, NULL, NULL);

	coro_running = self;
	if (co->state == CORO_DONE) {
		coro_finish(co);
		return 0;
	}
	return 1;
}

void
coro_yield(void)
{
	struct coro *co = coro_running;

	if (co == NULL)
		abort();
	co->state = CORO_SUSPENDED;
	coro_san_leave(co, 0);
	coro_tsan_switch(coro_tsan_caller(co));
	coro_switch(&co->ctx, coro_ctx_of(co->caller));
	/* Resumed, perhaps by another coroutine than last time. */
	coro_san_enter(co);
}

struct coro *
coro_current(void)
{
	return coro_running;
}

int
coro_defer(struct coro *co, void (*fn)(void *), void *arg)
{
	struct coro_defer *d = &co->first_defer;

	if (co->first_defer_taken)
		d = malloc(sizeof *d);
	if (d == NULL)
		return -1;
	co->first_defer_taken = 1;
	d->fn = fn;
	d->arg = arg;
	d->next = co->defers;
	co->defers = d;
	return 0;
}

unsigned
coro_live(void)
{
	return coro_live_count;
}

const unsigned *
coro_live_counter(void)
{
	return &coro_live_count;
}

unsigned
coro_pooled(void)
{
	return coro_pool_len;
}
