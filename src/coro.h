/*
 * Stackful coroutines for the reactor thread. Each request runs in one, so
 * its code reads top to bottom while the reactor interleaves thousands of
 * them. Stacks are mmap'd with a guard page below them and pooled; running
 * into the guard page kills the process with a message instead of silently
 * corrupting a neighbour. Per thread: each thread that calls coro_init()
 * (each reactor) has its own scheduler and stack pool, and a coroutine
 * lives and dies on the thread that created it.
 */
#ifndef CORO_H
#define CORO_H

#include <stddef.h>

struct coro;
typedef void coro_fn(void *arg);

/*
 * Sets the calling thread's stack size and how many free stacks it keeps
 * for reuse.
 */
int coro_init(size_t stack_bytes, unsigned pool_max);
/* Frees the pooled stacks; no coroutine may be alive. */
void coro_shutdown(void);

/* Returns NULL with errno set when no stack can be had. */
struct coro *coro_create(coro_fn *fn, void *arg);
/*
 * Runs co until it yields (returns 1) or its function returns (returns 0):
 * then its deferred functions have run and co is freed.
 */
int coro_resume(struct coro *co);
/* Suspends the running coroutine; only valid inside one. */
void coro_yield(void);
/* The running coroutine, or NULL on the thread's own stack. */
struct coro *coro_current(void);
/*
 * Registers fn(arg) to run when co finishes, last registered first: a
 * request's memory is released however its coroutine ends.
 */
int coro_defer(struct coro *co, void (*fn)(void *), void *arg);

/* This thread's live coroutines and pooled stacks, for tests and status. */
unsigned coro_live(void);
/*
 * The calling thread's live count, for another thread to read with a
 * relaxed atomic load while this one lives (the metrics, per reactor).
 */
const unsigned *coro_live_counter(void);
unsigned coro_pooled(void);
/*
 * Finds the pooled stacks not lent since the last call, whose pages are
 * to go back to the kernel: for a timer of the thread's, every second or
 * so. coro_pool_give_back() gives back up to max of them, 1 while some
 * are left.
 */
void coro_pool_trim(void);
int coro_pool_give_back(unsigned max);

#endif
