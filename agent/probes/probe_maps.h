/*
 * What the probes' BPF programs and vigil share: the tracked-process table (one entry per
 * process, keyed by its tgid, holding the execution environment it belongs to and its
 * running totals) and the events of the ring buffer. Included by BPF code (after vmlinux.h)
 * and by user space (after <stdint.h>), so only fixed-size types.
 */
#ifndef VIGIL_PROBE_MAPS_H
#define VIGIL_PROBE_MAPS_H

/* Tracked processes, all environments. vigil sums an environment's entries once per
 * invocation by walking the table, which costs in proportion to its size (8192: ~30 µs). */
#define PROBE_MAX_PROCS 4096
#define PROBE_MAX_THREADS 32768
#define PROBE_FILE_LEN 160

/* A tracked process's totals: the BPF programs add, vigil reads. */
struct probe_proc {
	__u32 env;		/* the environment's index in vigil host */
	__u32 pad;
	__u64 cpu_ns;		/* on-CPU time of its threads (switched out or exited) */
	__u64 min_flt, maj_flt;
	__u64 opens;		/* open/openat/openat2/creat that returned a descriptor */
	__u64 read_bytes;	/* read/pread64/readv/preadv/preadv2 that returned > 0 */
	__u64 tcp_tx, tcp_rx;	/* TCP payload bytes sent and received */
	__u64 forks;		/* new processes it started */
};
/* Peak RSS is not probed: the kernel's own high-water mark (mm->hiwater_rss, brought up to
 * date before every RSS decrease) is exact, and vigil resets and reads it through /proc
 * (clear_refs, VmHWM). A probe on every RSS change cost 6-9 % on an allocation loop. */

enum probe_event_type {
	PROBE_EV_EXEC = 2,	/* (1 was FORK: forks are counted in the table, not sent) */
	PROBE_EV_EXIT = 3,
	PROBE_EV_OOM = 4,
};

struct probe_event {
	__u32 type;		/* enum probe_event_type */
	__u32 env;
	__s32 pid;		/* the process (tgid) */
	__s32 ppid;		/* FORK: the parent */
	__s32 exit_code;	/* EXIT: wait status as the parent sees it */
	__u32 tracked;		/* OOM: the victim is a tracked process */
	__u64 maxrss_kb;	/* EXIT: the process's peak RSS (the kernel's own hiwater) */
	__u64 ts_ns;		/* when (bpf_ktime_get_ns: CLOCK_MONOTONIC) */
	struct probe_proc totals; /* EXIT: its final totals */
	char comm[16];
	char file[PROBE_FILE_LEN]; /* EXEC: the file name handed to exec */
};

/* The init probe's events (initrace.bpf.c): an environment's init as a timeline. */
enum probe_init_type {
	PROBE_INIT_OPEN = 1,	/* ret: the descriptor or -errno; path */
	PROBE_INIT_READ = 2,	/* fd closed: bytes read from it since its open */
	PROBE_INIT_CONNECT = 3,	/* fd, ret, addr (a sockaddr, addr_len bytes of it) */
	PROBE_INIT_EXEC = 4,	/* path: the file; ret: the parent */
	PROBE_INIT_FORK = 5,	/* ret: the child */
};

#define PROBE_INIT_PATH 256

struct probe_init_event {
	__u32 type;		/* enum probe_init_type */
	__u32 env;
	__s32 pid, tid;
	__u64 ts_ns;		/* the call's start (CLOCK_MONOTONIC) */
	__u64 dur_ns;		/* how long it took */
	__s64 ret;
	__s32 fd;
	__u32 addr_len;
	__u64 bytes;
	__u8 addr[28];
	__u32 pad;
	char path[PROBE_INIT_PATH];
};

#endif
