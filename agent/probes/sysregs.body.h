/*
 * A system call's number and first arguments from its saved registers, at its exit (part of
 * a .body.h: RD() and FN() as there). arm64's x0 holds the result by then: the first
 * argument is orig_x0.
 */
static __always_inline long FN(syscall_nr)(struct pt_regs *regs)
{
#if defined(__TARGET_ARCH_x86)
	return RD(regs, orig_ax);
#elif defined(__TARGET_ARCH_arm64)
	return RD((struct user_pt_regs *)regs, regs[8]);
#else
	return -1;
#endif
}

static __always_inline void FN(syscall_args)(struct pt_regs *regs, __u64 *a0, __u64 *a1)
{
#if defined(__TARGET_ARCH_x86)
	*a0 = RD(regs, di);
	*a1 = RD(regs, si);
#elif defined(__TARGET_ARCH_arm64)
	*a0 = RD(regs, orig_x0);
	*a1 = RD((struct user_pt_regs *)regs, regs[1]);
#else
	*a0 = *a1 = 0;
#endif
}
