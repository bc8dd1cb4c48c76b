/*
 * One cgroup per execution environment, so memory and CPU are measured and enforced:
 * v2 where the memory controller is there, else v1's memory and cpuacct controllers (and
 * the freezer, which stops an environment between invocations).
 */
#ifndef VIGIL_CGROUP_H
#define VIGIL_CGROUP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cgroup {
	int version;		/* 1 or 2; 0: none could be made (per-process accounting) */
	char memory[512];	/* v2: the one directory; v1: the memory controller's */
	char cpuacct[512];	/* v1 only; may be empty */
	char freezer[512];	/* v1 only; may be empty */
	int peak_fd;		/* the peak-memory file, kept open: read once per invoke */
	int freeze_fd;		/* v2 cgroup.freeze or v1 freezer.state, kept open; -1: none */
	bool frozen;
};

/* 0, or a negative errno with a reason in why when cgroups cannot be used here. */
int cgroup_probe(char *why, size_t whylen);

/* The environment cgroups of vigil hosts that ended without removing them (SIGKILL): thawed,
 * their processes killed, removed. Call once cgroup_probe succeeded, before making any. The
 * dirs swept (across controllers), the processes killed in *killed. */
int cgroup_sweep_stale(int *killed);
/* Make the cgroup NAME with a memory limit. 0 or -errno. */
int cgroup_create(struct cgroup *cg, const char *name, long memory_mb);
/* Move the calling process into cg (call in the child between fork and exec). */
int cgroup_enter(const struct cgroup *cg);
/* Peak memory in bytes since creation; 0 when unknown. */
uint64_t cgroup_peak_memory(const struct cgroup *cg);
/* OOM kills inside cg so far. */
uint64_t cgroup_oom_kills(const struct cgroup *cg);
/* CPU nanoseconds used inside cg. */
uint64_t cgroup_cpu_ns(const struct cgroup *cg);
/* Freeze (or thaw) every process in cg, as Lambda freezes an environment between invocations.
 * 0; -ENOTSUP without a freezer; -errno. Freezing returns at once, the processes stop soon
 * after; thawing makes them runnable before it returns. */
int cgroup_freeze(struct cgroup *cg, bool frozen);
/* SIGKILL every process in cg (thawed first); the number signalled. */
int cgroup_kill_all(struct cgroup *cg);
/* 1 when no process is left in cg. */
int cgroup_empty(const struct cgroup *cg);
/* Remove the directories (the cgroup must be empty). */
void cgroup_destroy(struct cgroup *cg);

#endif
