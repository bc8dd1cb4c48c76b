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
#include "twins.bpf.h"

char LICENSE[] SEC("license") = "GPL";

PROCS_MAP;	/* the lifecycle probe's, shared with the usage probe (bpf_map__reuse_fd) */

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

#define TWIN_BODY "usage.body.h"
#include "twin_bodies.bpf.h"

TWINS(sched_switch, switch, on_switch, (prev),
      bool preempt, struct task_struct *prev, struct task_struct *next)
TWINS(sched_process_exit, texit, on_thread_exit, (task), struct task_struct *task)
TWINS(sys_exit, sysexit, on_sys_exit, (regs, ret), struct pt_regs *regs, long ret)
TWINS(sock_send_length, send, on_sock, (sk, ret, true), struct sock *sk, int ret, int flags)
TWINS(sock_recv_length, recv, on_sock, (sk, ret, false), struct sock *sk, int ret, int flags)
