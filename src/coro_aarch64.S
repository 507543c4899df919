/*
 * The coroutine context switch for AArch64 (AAPCS64). A suspended context
 * is nothing but its stack pointer: coro__switch stores the callee-saved
 * registers (x19-x28, the frame pointer x29, the link register x30 and the
 * low halves d8-d15 of v8-v15) and FPCR on the old stack, stores sp, loads
 * the new one and reloads the same frame; its ret then goes to the x30 it
 * reloaded. FPCR (rounding mode and friends) is kept per coroutine so it
 * behaves as MXCSR does on x86-64. coro__make builds the frame a fresh
 * coroutine is first switched to, with x30 pointing at the entry function.
 * Layout, from the saved sp upwards (176 bytes, a multiple of 16):
 *
 *	0	x19 .. x28
 *	80	x29, x30
 *	96	d8 .. d15
 *	160	FPCR, padding
 */
#if defined(__aarch64__)

	.text

/* void coro__switch(void **save, void *to) */
	.globl	coro__switch
	.hidden	coro__switch
	.type	coro__switch, %function
	.p2align 4
coro__switch:
	sub	sp, sp, #176
	stp	x19, x20, [sp, #0]
	stp	x21, x22, [sp, #16]
	stp	x23, x24, [sp, #32]
	stp	x25, x26, [sp, #48]
	stp	x27, x28, [sp, #64]
	stp	x29, x30, [sp, #80]
	stp	d8, d9, [sp, #96]
	stp	d10, d11, [sp, #112]
	stp	d12, d13, [sp, #128]
	stp	d14, d15, [sp, #144]
	mrs	x9, fpcr
	str	x9, [sp, #160]

	mov	x9, sp
	str	x9, [x0]
	mov	sp, x1

	ldr	x9, [sp, #160]
	msr	fpcr, x9
	ldp	x19, x20, [sp, #0]
	ldp	x21, x22, [sp, #16]
	ldp	x23, x24, [sp, #32]
	ldp	x25, x26, [sp, #48]
	ldp	x27, x28, [sp, #64]
	ldp	x29, x30, [sp, #80]
	ldp	d8, d9, [sp, #96]
	ldp	d10, d11, [sp, #112]
	ldp	d12, d13, [sp, #128]
	ldp	d14, d15, [sp, #144]
	add	sp, sp, #176
	ret
	.size	coro__switch, .-coro__switch

/*
 * void *coro__make(void *top, void (*entry)(void))
 *
 * After the first switch sp is top rounded down to 16, as AAPCS64 wants
 * at every public interface; x29 starts at zero so backtraces end there.
 * The new coroutine inherits the creator's FPCR.
 */
	.globl	coro__make
	.hidden	coro__make
	.type	coro__make, %function
	.p2align 4
coro__make:
	and	x0, x0, #~15
	sub	x0, x0, #176
	stp	xzr, xzr, [x0, #0]
	stp	xzr, xzr, [x0, #16]
	stp	xzr, xzr, [x0, #32]
	stp	xzr, xzr, [x0, #48]
	stp	xzr, xzr, [x0, #64]
	stp	xzr, x1, [x0, #80]	/* x29 = 0, x30 = entry */
	stp	xzr, xzr, [x0, #96]
	stp	xzr, xzr, [x0, #112]
	stp	xzr, xzr, [x0, #128]
	stp	xzr, xzr, [x0, #144]
	mrs	x9, fpcr
	stp	x9, xzr, [x0, #160]
	ret
	.size	coro__make, .-coro__make

	.section .note.GNU-stack,"",%progbits

#endif
