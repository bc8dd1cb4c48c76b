/*
 * The bodies of initrace.bpf.c's programs, included twice as usage.body.h: RD() a direct load
 * (tp_btf) or BPF_CORE_READ (raw_tp); FN() names each copy.
 */
#include "sysregs.body.h"

static __always_inline int FN(on_exit)(struct pt_regs *regs, long ret)
{
	__u64 a0, a1, key, zero = 0, *bytes;
	__u32 tgid, tid, env;
	struct probe_init_event *e;
	long nr;

	if (!active)
		return 0;
	nr = FN(syscall_nr)(regs);
	if (nr != nr_read && nr != nr_openat && nr != nr_close && nr != nr_pread64 &&
	    nr != nr_open && nr != nr_openat2 && nr != nr_connect)
		return 0;
	tgid = bpf_get_current_pid_tgid() >> 32;
	tid = (__u32)bpf_get_current_pid_tgid();
	FN(syscall_args)(regs, &a0, &a1);
	if (nr == nr_read || nr == nr_pread64) {
		if (ret <= 0)
			return 0;
		key = (__u64)tgid << 32 | (__u32)a0;
		bytes = bpf_map_lookup_elem(&files, &key);
		if (bytes)
			__sync_fetch_and_add(bytes, ret);
		return 0;
	}
	if (!recorded(tgid, &env))
		return 0;
	if (nr == nr_close) {
		key = (__u64)tgid << 32 | (__u32)a0;
		bytes = bpf_map_lookup_elem(&files, &key);
		if (!bytes)
			return 0;
		e = reserve_init(PROBE_INIT_READ, env);
		if (e) {
			e->fd = (__s32)a0;
			e->bytes = *bytes;
			SUBMIT(e);
		}
		bpf_map_delete_elem(&files, &key);
		return 0;
	}
	if (nr == nr_connect) {
		__u64 *t = bpf_map_lookup_elem(&pend, &tid);

		e = reserve_init(PROBE_INIT_CONNECT, env);
		if (e) {
			e->ret = ret;
			e->fd = (__s32)a0;
			if (t && *t <= e->ts_ns) {
				e->dur_ns = e->ts_ns - *t;
				e->ts_ns = *t;
			}
			/* (a sockaddr_in6 is 28 bytes; a shorter one is read as sockaddr_in) */
			if (bpf_probe_read_user(e->addr, 28, (void *)a1) == 0)
				e->addr_len = 28;
			else if (bpf_probe_read_user(e->addr, 16, (void *)a1) == 0)
				e->addr_len = 16;
			SUBMIT(e);
		}
		if (t)
			bpf_map_delete_elem(&pend, &tid);
		return 0;
	}
	/* an open: at its exit (its own time unknown: 0) */
	if (ret >= 0) {
		key = (__u64)tgid << 32 | (__u32)ret;
		bytes = bpf_map_lookup_elem(&files, &key);
		if (bytes) {
			/* a descriptor opened again whose close went unseen: its bytes first */
			e = reserve_init(PROBE_INIT_READ, env);
			if (e) {
				e->fd = (__s32)ret;
				e->bytes = *bytes;
				SUBMIT(e);
			}
		}
	}
	e = reserve_init(PROBE_INIT_OPEN, env);
	if (e) {
		e->ret = ret;
		e->fd = (__s32)ret;
		bpf_probe_read_user_str(e->path, sizeof(e->path),
					(void *)(nr == nr_open ? a0 : a1));
		SUBMIT(e);
	}
	if (ret >= 0)
		bpf_map_update_elem(&files, &key, &zero, BPF_ANY);
	return 0;
}

/* A TCP connect's start: SYN_SENT, set in the connecting thread. */
static __always_inline int FN(on_tcp_state)(int newstate)
{
	__u64 id, now;
	__u32 tid, env;

	if (!active || newstate != 2 /* TCP_SYN_SENT */)
		return 0;
	id = bpf_get_current_pid_tgid();
	if (!recorded(id >> 32, &env))
		return 0;
	tid = (__u32)id;
	now = bpf_ktime_get_ns();
	bpf_map_update_elem(&pend, &tid, &now, BPF_ANY);
	return 0;
}

static __always_inline int FN(on_fork)(struct task_struct *parent, struct task_struct *child)
{
	__u32 ptgid, cpid, ctgid, env;
	struct probe_init_event *e;

	if (!active)
		return 0;
	ptgid = RD(parent, tgid);
	cpid = RD(child, pid);
	ctgid = RD(child, tgid);
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

	if (!active || !recorded(RD(task, tgid), &env))
		return 0;
	e = reserve_init(PROBE_INIT_EXEC, env);
	if (e) {
		e->ret = RD2(task, real_parent, tgid);	/* the parent */
		bpf_probe_read_kernel_str(e->path, sizeof(e->path), RD(bprm, filename));
		SUBMIT(e);
	}
	return 0;
}
