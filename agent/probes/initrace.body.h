/*
 * The bodies of initrace.bpf.c's programs, included twice as usage.body.h: RD() a direct load
 * (tp_btf) or BPF_CORE_READ (raw_tp); FN() names each copy.
 */
static __always_inline void FN(args)(struct pt_regs *regs, struct pending *p)
{
#if defined(__TARGET_ARCH_x86)
	p->a0 = RD(regs, di);
	p->a1 = RD(regs, si);
	p->a2 = RD(regs, dx);
#elif defined(__TARGET_ARCH_arm64)
	p->a0 = RD((struct user_pt_regs *)regs, regs[0]);
	p->a1 = RD((struct user_pt_regs *)regs, regs[1]);
	p->a2 = RD((struct user_pt_regs *)regs, regs[2]);
#endif
}

static __always_inline int FN(on_enter)(struct pt_regs *regs, long id)
{
	__u64 pid_tgid;
	__u32 tgid, tid, env;
	struct pending p = {};

	if (id != nr_openat && id != nr_read && id != nr_close && id != nr_open &&
	    id != nr_openat2 && id != nr_pread64 && id != nr_connect)
		return 0;
	pid_tgid = bpf_get_current_pid_tgid();
	tgid = pid_tgid >> 32;
	tid = (__u32)pid_tgid;
	if (!recorded(tgid, &env))
		return 0;
	FN(args)(regs, &p);
	if (id == nr_close) {
		__u64 key = (__u64)tgid << 32 | (__u32)p.a0, *bytes;
		struct probe_init_event *e;

		bytes = bpf_map_lookup_elem(&files, &key);
		if (!bytes)
			return 0;
		e = reserve_init(PROBE_INIT_READ, env);
		if (e) {
			e->fd = (__s32)p.a0;
			e->bytes = *bytes;
			SUBMIT(e);
		}
		bpf_map_delete_elem(&files, &key);
		return 0;
	}
	p.ts = bpf_ktime_get_ns();
	p.nr = id;
	bpf_map_update_elem(&pend, &tid, &p, BPF_ANY);
	return 0;
}

static __always_inline int FN(on_exit)(struct pt_regs *regs, long ret)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();
	__u32 tgid = pid_tgid >> 32, tid = (__u32)pid_tgid, env;
	struct pending *p = bpf_map_lookup_elem(&pend, &tid);
	struct probe_init_event *e;
	__u64 key;

	(void)regs;
	if (!p)
		return 0;
	if (p->nr == nr_read || p->nr == nr_pread64) {
		key = (__u64)tgid << 32 | (__u32)p->a0;
		__u64 *bytes = ret > 0 ? bpf_map_lookup_elem(&files, &key) : NULL;

		if (bytes)
			__sync_fetch_and_add(bytes, ret);
		goto out;
	}
	if (!recorded(tgid, &env))
		goto out;
	if (p->nr == nr_connect) {
		e = reserve_init(PROBE_INIT_CONNECT, env);
		if (e) {
			__u32 len = p->a2 < sizeof(e->addr) ? (__u32)p->a2 : sizeof(e->addr);

			e->ret = ret;
			e->fd = (__s32)p->a0;
			e->dur_ns = bpf_ktime_get_ns() - p->ts;
			e->ts_ns = p->ts;
			if (len >= 16 && bpf_probe_read_user(e->addr, 16, (void *)p->a1) == 0)
				e->addr_len = 16;
			if (len >= 28 && bpf_probe_read_user(e->addr, 28, (void *)p->a1) == 0)
				e->addr_len = 28;
			SUBMIT(e);
		}
		goto out;
	}
	/* an open */
	e = reserve_init(PROBE_INIT_OPEN, env);
	if (e) {
		e->ret = ret;
		e->fd = (__s32)ret;
		e->dur_ns = bpf_ktime_get_ns() - p->ts;
		e->ts_ns = p->ts;
		bpf_probe_read_user_str(e->path, sizeof(e->path),
					(void *)(p->nr == nr_open ? p->a0 : p->a1));
		SUBMIT(e);
	}
	if (ret >= 0) {
		__u64 zero = 0;

		key = (__u64)tgid << 32 | (__u32)ret;
		bpf_map_update_elem(&files, &key, &zero, BPF_ANY);
	}
out:
	bpf_map_delete_elem(&pend, &tid);
	return 0;
}

static __always_inline int FN(on_fork)(struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = RD(parent, tgid), cpid = RD(child, pid), ctgid = RD(child, tgid), env;
	struct probe_init_event *e;

	if (cpid != ctgid || !recorded(ptgid, &env))
		return 0;
	e = reserve_init(PROBE_INIT_FORK, env);
	if (e) {
		e->ret = ctgid;		/* the child */
		SUBMIT(e);
	}
	return 0;
}

static __always_inline int FN(on_exec)(struct task_struct *task, struct linux_binprm *bprm)
{
	__u32 env;
	struct probe_init_event *e;

	if (!recorded(RD(task, tgid), &env))
		return 0;
	e = reserve_init(PROBE_INIT_EXEC, env);
	if (e) {
		e->ret = RD2(task, real_parent, tgid);	/* the parent */
		bpf_probe_read_kernel_str(e->path, sizeof(e->path), RD(bprm, filename));
		SUBMIT(e);
	}
	return 0;
}
