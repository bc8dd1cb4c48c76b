/*
 * The bodies of lifecycle.bpf.c's programs, included twice, as usage.body.h: RD() is a direct
 * load for the tp_btf twins and BPF_CORE_READ for the raw_tp ones (RD2: two hops); FN() names
 * each copy.
 */
static __always_inline int FN(on_fork)(struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid = RD(parent, tgid);
	__u32 cpid = RD(child, pid), ctgid = RD(child, tgid);
	struct probe_proc *pp, np = {};

	if (cpid != ctgid)	/* a new thread, not a new process */
		return 0;
	pp = bpf_map_lookup_elem(&procs, &ptgid);
	if (!pp)
		return 0;
	__sync_fetch_and_add(&pp->forks, 1);
	np.env = pp->env;
	bpf_map_update_elem(&procs, &ctgid, &np, BPF_NOEXIST);
	return 0;
}

static __always_inline int FN(on_exec)(struct task_struct *task, struct linux_binprm *bprm)
{
	__u32 tgid = RD(task, tgid);
	struct probe_proc *p = bpf_map_lookup_elem(&procs, &tgid);
	struct probe_event *e;

	if (!p)
		return 0;
	e = reserve(PROBE_EV_EXEC, p->env, tgid);
	if (!e)
		return 0;
	e->ppid = RD2(task, real_parent, tgid);
	bpf_probe_read_kernel_str(&e->comm, sizeof(e->comm), &task->comm);
	bpf_probe_read_kernel_str(&e->file, sizeof(e->file), RD(bprm, filename));
	submit(e, false);
	return 0;
}

static __always_inline int FN(on_exit)(struct task_struct *task)
{
	__u32 tgid = RD(task, tgid);
	struct probe_proc *p = bpf_map_lookup_elem(&procs, &tgid);
	struct signal_struct *sig;
	struct probe_event *e;
	int code;

	if (!p)
		return 0;
	sig = RD(task, signal);
	/* The usage probe adds each thread's last stretch of CPU when it exits; here only the
	 * end of the whole process matters: the last thread out. */
	if (RD(sig, live.counter) != 0)
		return 0;
	code = RD(task, exit_code);
	if (RD(sig, flags) & 0x00000004 /* SIGNAL_GROUP_EXIT */)
		code = RD(sig, group_exit_code);
	e = reserve(PROBE_EV_EXIT, p->env, tgid);
	if (e) {
		e->exit_code = code;
		e->ppid = RD2(task, real_parent, tgid);
		/* Its image's own peak; where the mm is gone already (kernels before 6.16),
		 * signal->maxrss, which do_exit brought up to date (and which holds what exec
		 * replaced too). */
		__u64 peak = image_peak_pages(task);

		e->maxrss_kb = (peak ? peak : RD(sig, maxrss)) * page_kb;
		e->totals = *p;
		bpf_probe_read_kernel_str(&e->comm, sizeof(e->comm), &task->comm);
		submit(e, (code & 0x7f) != 0);
	}
	bpf_map_delete_elem(&procs, &tgid);
	return 0;
}

static __always_inline int FN(on_oom_victim)(struct task_struct *task)
{
	__u32 tgid = RD(task, tgid);
	struct probe_proc *p = bpf_map_lookup_elem(&procs, &tgid);
	struct probe_event *e;

	if (!p) {
		__sync_fetch_and_add(&untracked_ooms, 1);
		return 0;
	}
	e = reserve(PROBE_EV_OOM, p->env, tgid);
	if (e) {
		e->tracked = 1;
		bpf_probe_read_kernel_str(&e->comm, sizeof(e->comm), &task->comm);
		submit(e, true);
	}
	return 0;
}
