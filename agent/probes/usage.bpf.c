// SPDX-License-Identifier: GPL-2.0
/*
 * What the tracked processes use, added into their entry of the shared process table (the
 * lifecycle probe's `procs`, which vigil hands to this object before it loads):
 *  - on-CPU time and page faults, from each thread's own counters when it is switched out or
 *    exits (the scheduler has just brought sum_exec_runtime up to date then);
 *  - files opened and bytes read, at the exit of those system calls;
 *  - TCP payload bytes, at each socket send and receive.
 * (Peak RSS: see probe_maps.h.) Every hook costs untracked processes one hash lookup at most (the system-call hook first
 * filters on the call number). tp_btf and raw_tp twins as in lifecycle.bpf.c.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "probe_maps.h"

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PROBE_MAX_PROCS);
	__type(key, __u32);
	__type(value, struct probe_proc);
} procs SEC(".maps");

/* Per thread: its counters when last accounted. */
struct thread_mark {
	__u64 runtime;
	__u64 min_flt, maj_flt;
};

/* A plain (preallocated) hash: cheaper per lookup than an LRU one; a thread's entry leaves
 * when it exits. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, PROBE_MAX_THREADS);
	__type(key, __u32);
	__type(value, struct thread_mark);
} threads SEC(".maps");

/* System-call numbers of this architecture, set by vigil (-1: absent). */
const volatile int nr_open = -1, nr_openat = -1, nr_openat2 = -1, nr_creat = -1;
const volatile int nr_read = -1, nr_pread64 = -1, nr_readv = -1, nr_preadv = -1,
		   nr_preadv2 = -1;

#define RD(p, ...) ((p)->__VA_ARGS__)
#define FN(name) name##_btf
#define CURRENT() bpf_get_current_task_btf()
#include "usage.body.h"
#undef RD
#undef FN
#undef CURRENT
#define RD BPF_CORE_READ
#define FN(name) name##_raw
#define CURRENT() ((struct task_struct *)bpf_get_current_task())
#include "usage.body.h"
#undef RD
#undef FN
#undef CURRENT

SEC("tp_btf/sched_switch")
int BPF_PROG(switch_btf, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return on_switch_btf(prev);
}

SEC("raw_tp/sched_switch")
int BPF_PROG(switch_raw, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	return on_switch_raw(prev);
}

SEC("tp_btf/sched_process_exit")
int BPF_PROG(texit_btf, struct task_struct *task)
{
	return on_thread_exit_btf(task);
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(texit_raw, struct task_struct *task)
{
	return on_thread_exit_raw(task);
}

SEC("tp_btf/sys_exit")
int BPF_PROG(sysexit_btf, struct pt_regs *regs, long ret)
{
	return on_sys_exit_btf(regs, ret);
}

SEC("raw_tp/sys_exit")
int BPF_PROG(sysexit_raw, struct pt_regs *regs, long ret)
{
	return on_sys_exit_raw(regs, ret);
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(send_btf, struct sock *sk, int ret, int flags)
{
	return on_sock_btf(sk, ret, true);
}

SEC("raw_tp/sock_send_length")
int BPF_PROG(send_raw, struct sock *sk, int ret, int flags)
{
	return on_sock_raw(sk, ret, true);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(recv_btf, struct sock *sk, int ret, int flags)
{
	return on_sock_btf(sk, ret, false);
}

SEC("raw_tp/sock_recv_length")
int BPF_PROG(recv_raw, struct sock *sk, int ret, int flags)
{
	return on_sock_raw(sk, ret, false);
}
