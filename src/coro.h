/*
 * Stackful coroutines for the reactor thread. Each request runs in one, so
 * its code reads top to bottom while the reactor interleaves thousands of
 * them. Stacks are mmap'd with a guard page below them and pooled; running
 * into the guard page kills the process with a message instead of silently
 * corrupting a neighbour. Not thread-safe: every coroutine lives on the
 * thread that called coro_init().
 */
#ifndef CORO_H
#define CORO_H

#include <stddef.h>

struct coro;
typedef void coro_fn(void *arg);

/* Sets the stack size and how many free stacks to keep for reuse. */
int		 coro_init(size_t stack_bytes, unsigned pool_max);
/* Frees the pooled stacks; no coroutine may be alive. */
void		 coro_shutdown(void);

/* Returns NULL with errno set when no stack can be had. */
struct coro	*coro_create(coro_fn *fn, void *arg);
/*
 * Runs co until it yields (returns 1) or its function returns (returns 0):
 * then its deferred functions have run and co is freed.
 */
int		 coro_resume(struct coro *co);
/* Suspends the running coroutine; only valid inside one. */
void		 coro_yield(void);
/* The running coroutine, or NULL on the thread's own stack. */
struct coro	*coro_current(void);
/*
 * Registers fn(arg) to run when co finishes, last registered first: a
 * request's memory is released however its coroutine ends.
 */
int		 coro_defer(struct coro *co, void (*fn)(void *), void *arg);

/* Counters for tests and status: live coroutines, stacks in the pool. */
unsigned	 coro_live(void);
unsigned	 coro_pooled(void);

#endif
