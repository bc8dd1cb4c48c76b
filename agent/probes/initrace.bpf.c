// SPDX-License-Identifier: GPL-2.0
/*
 * An environment's init as a timeline (the setting coldstart=probes): while vigil says an
 * environment is initialising (its entry in `recording`), its processes' files opened (path,
 * result, how long the call took), the bytes read from each, outbound connects (address, how
 * long, result), execs and forks, each an event of its own ring buffer. Loaded only when
 * asked. Everything is read at the system calls' exit (their arguments are still in the
 * saved registers), which the usage probe follows anyway: a program on sys_enter made every
 * system call of the machine take the slow path (+150 ns a read(2) of an unrelated process,
 * measured), and fentry cannot attach on these kernels (no direct calls). A TCP connect's
 * start is its SYN_SENT (inet_sock_set_state, in the connecting thread). While no environment
 * initialises, every program returns after one load (`active`). tp_btf and raw_tp twins as
 * in lifecycle.bpf.c; the bodies are in initrace.body.h.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "probe_maps.h"
#include "twins.bpf.h"

char LICENSE[] SEC("license") = "GPL";

PROCS_MAP;	/* the lifecycle probe's (bpf_map__reuse_fd) */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20);
} init_events SEC(".maps");

/* Environments whose init is being recorded (set and cleared by vigil). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);
	__type(value, __u8);
} recording SEC(".maps");

/* When a recorded thread's TCP connect began (its SYN_SENT), by thread. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32);
	__type(value, __u64);
} pend SEC(".maps");

/* Files opened during init (tgid << 32 | fd) → bytes read from them so far. A descriptor
 * opened again is told (its bytes) first. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
} files SEC(".maps");

const volatile int nr_open = -1, nr_openat = -1, nr_openat2 = -1, nr_read = -1,
		   nr_pread64 = -1, nr_close = -1, nr_connect = -1;
__u64 lost_init_events;
/* Environments initialising now (vigil keeps it): 0 most of the time, and then every
 * program returns after this one load. */
__u32 active;

static __always_inline struct probe_init_event *reserve_init(__u32 type, __u32 env)
{
	struct probe_init_event *e = bpf_ringbuf_reserve(&init_events, sizeof(*e), 0);
	__u64 id = bpf_get_current_pid_tgid();

	if (!e) {
		__sync_fetch_and_add(&lost_init_events, 1);
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->type = type;
	e->env = env;
	e->pid = id >> 32;
	e->tid = (__u32)id;
	e->ts_ns = bpf_ktime_get_ns();
	return e;
}

/* vigil polls the ring (every 100 ms, and before it reads the init's end): no wakeups */
#define SUBMIT(e) bpf_ringbuf_submit(e, BPF_RB_NO_WAKEUP)

/* The environment of the current process when its init is being recorded. */
static __always_inline bool recorded(__u32 tgid, __u32 *env)
{
	struct probe_proc *p = bpf_map_lookup_elem(&procs, &tgid);

	if (!p || !bpf_map_lookup_elem(&recording, &p->env))
		return false;
	*env = p->env;
	return true;
}

#define TWIN_BODY "initrace.body.h"
#include "twin_bodies.bpf.h"

TWINS(sys_exit, iexit, on_exit, (regs, ret), struct pt_regs *regs, long ret)
TWINS(inet_sock_set_state, itcp, on_tcp_state, (newstate), const struct sock *sk,
      const int oldstate, const int newstate)
TWINS(sched_process_fork, ifork, on_fork, (parent, child),
      struct task_struct *parent, struct task_struct *child)
TWINS(sched_process_exec, iexec, on_exec, (task, bprm),
      struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
