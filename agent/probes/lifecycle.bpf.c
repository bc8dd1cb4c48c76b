// SPDX-License-Identifier: GPL-2.0
/*
 * Process lifecycle of the tracked execution environments: fork (children join their parent's
 * environment; counted, not sent), exec (file name), exit (wait status, peak RSS, final
 * totals) and OOM-kill victims. Each program comes twice: tp_btf (BTF-typed arguments, read
 * directly) and raw_tp (the fallback vigil chooses at run time when the kernel cannot attach
 * tp_btf; CO-RE relocated probe reads); the bodies are in lifecycle.body.h.
 */
#include "vmlinux.h"
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#include "probe_maps.h"
#include "twins.bpf.h"

char LICENSE[] SEC("license") = "GPL";

PROCS_MAP;	/* the lifecycle probe's, shared with the usage probe (bpf_map__reuse_fd) */

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);	/* vigil sets it from probes_ring_kb */
} events SEC(".maps");

const volatile __u32 page_kb = 4;	/* set by vigil before load */
__u64 lost_events;	/* the ring buffer was full */
__u64 untracked_ooms;	/* OOM victims outside every environment */

/* Waking the consumer costs more than everything else a probe does (an irq_work, then a
 * context switch on a busy machine), so routine events wait for vigil's next poll (it polls
 * every 100 ms, and before it reads any totals); a fatal signal or an OOM kill wakes it now,
 * and so does a ring buffer a quarter full. */
static __always_inline void submit(struct probe_event *e, bool urgent)
{
	__u64 flags = BPF_RB_NO_WAKEUP;

	if (urgent ||
	    bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >
		    bpf_ringbuf_query(&events, BPF_RB_RING_SIZE) / 4)
		flags = BPF_RB_FORCE_WAKEUP;
	bpf_ringbuf_submit(e, flags);
}

static __always_inline struct probe_event *reserve(__u32 type, __u32 env, __s32 pid)
{
	struct probe_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		__sync_fetch_and_add(&lost_events, 1);
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->type = type;
	e->env = env;
	e->pid = pid;
	e->ts_ns = bpf_ktime_get_ns();
	return e;
}

/*
 * The peak RSS of the image a process runs now, in pages, or 0 when its mm is gone. Kernels
 * since 6.16 trace the exit before the mm is released. signal->maxrss is no substitute: exec
 * folds the replaced mm's high-water mark into it, and for a child of vigil that is vigil's
 * own memory at fork (10.5 MB reported for a shell runtime that used 2 MB). VmHWM's rule:
 * the larger of the high-water mark (brought up to date before every decrease) and the RSS
 * now (file, anon and shmem pages; the counters are per-CPU since 6.2, read as their sum so
 * far: off by a few batches at most).
 */
static __always_inline __u64 image_peak_pages(struct task_struct *task)
{
	struct mm_struct *mm = BPF_CORE_READ(task, mm);
	__u64 hw;
	__s64 rss = 0;

	if (!mm)
		return 0;
	hw = BPF_CORE_READ(mm, hiwater_rss);
	if (bpf_core_field_exists(mm->rss_stat[0].count))
		rss = BPF_CORE_READ(mm, rss_stat[0].count) + BPF_CORE_READ(mm, rss_stat[1].count) +
		      BPF_CORE_READ(mm, rss_stat[3].count);
	return rss > 0 && (__u64)rss > hw ? (__u64)rss : hw;
}

#define TWIN_BODY "lifecycle.body.h"
#include "twin_bodies.bpf.h"

TWINS(sched_process_fork, fork, on_fork, (parent, child),
      struct task_struct *parent, struct task_struct *child)
TWINS(sched_process_exec, exec, on_exec, (task, bprm),
      struct task_struct *task, pid_t old_pid, struct linux_binprm *bprm)
TWINS(sched_process_exit, exit, on_exit, (task), struct task_struct *task)
TWINS(mark_victim, oom, on_oom_victim, (task), struct task_struct *task)
