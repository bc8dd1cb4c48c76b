/*
 * The bodies of usage.bpf.c's programs, included twice: with RD() a direct read (tp_btf:
 * BTF-typed pointers the verifier lets a program dereference, a plain load each) and with
 * RD() = BPF_CORE_READ (raw_tp: a probe-read helper call each). On the hot paths (every
 * context switch, every system call) the direct loads make the tp_btf twins several times
 * cheaper. FN(name) gives each copy its own names.
 */
static __always_inline void FN(account_thread)(struct task_struct *t, struct probe_proc *p)
{
	__u32 pid = RD(t, pid);
	struct thread_mark now, *m;

	now.runtime = RD(t, se.sum_exec_runtime);
	now.min_flt = RD(t, min_flt);
	now.maj_flt = RD(t, maj_flt);
	m = bpf_map_lookup_elem(&threads, &pid);
	if (m) {
		__sync_fetch_and_add(&p->cpu_ns, now.runtime - m->runtime);
		__sync_fetch_and_add(&p->min_flt, now.min_flt - m->min_flt);
		__sync_fetch_and_add(&p->maj_flt, now.maj_flt - m->maj_flt);
		*m = now;
	} else {
		/* First sight of this thread: everything it did since it started (a thread of a
		 * process tracked from before it existed, so all of it belongs here). */
		__sync_fetch_and_add(&p->cpu_ns, now.runtime);
		__sync_fetch_and_add(&p->min_flt, now.min_flt);
		__sync_fetch_and_add(&p->maj_flt, now.maj_flt);
		bpf_map_update_elem(&threads, &pid, &now, BPF_ANY);
	}
}

static __always_inline int FN(on_switch)(struct task_struct *prev)
{
	__u32 tgid = RD(prev, tgid);
	struct probe_proc *p = bpf_map_lookup_elem(&procs, &tgid);

	if (p)
		FN(account_thread)(prev, p);
	return 0;
}

static __always_inline int FN(on_thread_exit)(struct task_struct *task)
{
	__u32 tgid = RD(task, tgid), pid = RD(task, pid);
	struct probe_proc *p = bpf_map_lookup_elem(&procs, &tgid);

	if (!p)
		return 0;
	FN(account_thread)(task, p);
	bpf_map_delete_elem(&threads, &pid);
	return 0;
}

#include "sysregs.body.h"

static __always_inline int FN(on_sys_exit)(struct pt_regs *regs, long ret)
{
	long nr = FN(syscall_nr)(regs);
	bool open, read;
	__u32 tgid;
	struct probe_proc *p;

	if (ret < 0)
		return 0;
	open = nr == nr_open || nr == nr_openat || nr == nr_openat2 || nr == nr_creat;
	read = ret > 0 && (nr == nr_read || nr == nr_pread64 || nr == nr_readv ||
			   nr == nr_preadv || nr == nr_preadv2);
	if (!open && !read)
		return 0;
	tgid = bpf_get_current_pid_tgid() >> 32;
	p = bpf_map_lookup_elem(&procs, &tgid);
	if (!p)
		return 0;
	if (open)
		__sync_fetch_and_add(&p->opens, 1);
	else
		__sync_fetch_and_add(&p->read_bytes, ret);
	return 0;
}

static __always_inline int FN(on_sock)(struct sock *sk, int ret, bool tx)
{
	__u32 tgid;
	struct probe_proc *p;
	__u16 family;

	if (ret <= 0)
		return 0;
	tgid = bpf_get_current_pid_tgid() >> 32;
	p = bpf_map_lookup_elem(&procs, &tgid);
	if (!p)
		return 0;
	family = RD(sk, __sk_common.skc_family);
	if ((family != 2 /* AF_INET */ && family != 10 /* AF_INET6 */) ||
	    RD(sk, sk_protocol) != 6 /* IPPROTO_TCP */)
		return 0;
	__sync_fetch_and_add(tx ? &p->tcp_tx : &p->tcp_rx, ret);
	return 0;
}

