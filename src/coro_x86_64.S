/*
 * The coroutine context switch for x86-64 (System V ABI). A suspended
 * context is nothing but its stack pointer: coro__switch pushes the
 * callee-saved registers and the x87 control word and MXCSR (which the ABI
 * also makes callee-saved) on the old stack, stores rsp, loads the new one
 * and pops the same frame back. Caller-saved registers need no saving, the
 * compiler already assumes the call clobbers them. coro__make builds the
 * frame a fresh coroutine is first switched to, so that coro__switch's ret
 * enters the entry function as if it had been called. Layout, from the
 * saved sp upwards:
 *
 *	0	x87 control word (2 bytes)
 *	8	MXCSR (4 bytes)
 *	16	r15, r14, r13, r12, rbx, rbp
 *	64	return address
 */
#if defined(__x86_64__)

	.text

/* void coro__switch(void **save, void *to) */
	.globl	coro__switch
	.hidden	coro__switch
	.type	coro__switch, @function
	.p2align 4
coro__switch:
	pushq	%rbp
	pushq	%rbx
	pushq	%r12
	pushq	%r13
	pushq	%r14
	pushq	%r15
	subq	$16, %rsp
	fnstcw	(%rsp)
	stmxcsr	8(%rsp)

	movq	%rsp, (%rdi)
	movq	%rsi, %rsp

	fldcw	(%rsp)
	ldmxcsr	8(%rsp)
	addq	$16, %rsp
	popq	%r15
	popq	%r14
	popq	%r13
	popq	%r12
	popq	%rbx
	popq	%rbp
	ret
	.size	coro__switch, .-coro__switch

/*
 * void *coro__make(void *top, void (*entry)(void))
 *
 * The ret in coro__switch pops entry and leaves rsp at top - 8, which is
 * 8 mod 16 as at any function entry; the word there is a zero return
 * address and rbp starts at zero, so backtraces end cleanly. The new
 * coroutine inherits the creator's floating-point control state.
 */
	.globl	coro__make
	.hidden	coro__make
	.type	coro__make, @function
	.p2align 4
coro__make:
	andq	$-16, %rdi
	leaq	-80(%rdi), %rax
	xorl	%ecx, %ecx
	movq	%rcx, -8(%rdi)		/* entry's return address */
	movq	%rsi, -16(%rdi)		/* where coro__switch returns */
	movq	%rcx, -24(%rdi)		/* rbp */
	movq	%rcx, -32(%rdi)		/* rbx */
	movq	%rcx, -40(%rdi)		/* r12 */
	movq	%rcx, -48(%rdi)		/* r13 */
	movq	%rcx, -56(%rdi)		/* r14 */
	movq	%rcx, -64(%rdi)		/* r15 */
	movq	%rcx, (%rax)
	movq	%rcx, 8(%rax)
	fnstcw	(%rax)
	stmxcsr	8(%rax)
	ret
	.size	coro__make, .-coro__make

#endif

	.section .note.GNU-stack,"",@progbits
