/*
 * eBPF probes on the processes of vigil host's execution environments (libbpf, CO-RE):
 * exec, fork, exit (status, fatal signal, peak RSS), OOM-kill victims, on-CPU time, page
 * faults, RSS and its peak, files opened and bytes read, TCP bytes. One probe per concern
 * (lifecycle.bpf.c, usage.bpf.c); this is what the host sees of them. A process is tracked
 * from the moment it (or an ancestor) is tracked; children join their parent's environment.
 * Without BTF or privileges probes_start() says why and the host uses /proc and cgroup files.
 */
#ifndef VIGIL_PROBES_H
#define VIGIL_PROBES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct probes;

/* What an environment's processes did: counters since the environment's first process,
 * peak_rss since the last probes_env_new_window(). */
struct probe_totals {
	uint64_t cpu_ns, min_flt, maj_flt;
	uint64_t opens, read_bytes, tcp_tx, tcp_rx;
	uint64_t peak_rss;		/* bytes */
	uint64_t forks, execs, exits, signaled, ooms;
};

enum probe_fact_type { PROBE_EXEC = 2, PROBE_EXIT, PROBE_OOM };	/* forks: only counted */

struct probe_fact {
	enum probe_fact_type type;
	unsigned env;
	pid_t pid, ppid;
	int status;			/* EXIT: the wait status */
	uint64_t maxrss_kb;		/* EXIT: the process's peak */
	const char *comm;
	const char *file;		/* EXEC */
};

typedef void (*probe_fact_fn)(void *arg, const struct probe_fact *f);

enum probe_attach { PROBE_ATTACH_AUTO, PROBE_ATTACH_TP_BTF, PROBE_ATTACH_RAW_TP };

/* Load and attach every probe (auto: tp_btf, else the raw_tp fallback). NULL with why filled
 * when the kernel or the privileges do not allow it. fn gets each fact from probes_poll(). */
struct probes *probes_start(enum probe_attach how, unsigned ring_kb, probe_fact_fn fn,
			    void *arg, char *why, size_t why_len);
const char *probes_mode(const struct probes *p);	/* "tp_btf" or "raw_tp" */
const char *probes_off(const struct probes *p);	/* facts this kernel cannot give, or "" */
int probes_fd(const struct probes *p);		/* readable when facts are waiting */
void probes_poll(struct probes *p);
/* Track the calling process: for a child between fork and exec (only a system call). */
int probes_track_self(const struct probes *p, unsigned env);
void probes_env_totals(struct probes *p, unsigned env, struct probe_totals *t);
/* The same, faster when the environment's processes are these (its runtime and extensions)
 * and none of them ever forked: then only their entries are read, not the whole table. */
void probes_env_totals_of(struct probes *p, unsigned env, const pid_t *pids, size_t n,
			  struct probe_totals *t);
/* A new peak window for env without walking the process table (the start of an invocation:
 * nothing here may cost the invoke path): the high-water marks of the given processes (the
 * environment's runtime and extensions) restart; processes started later begin at zero. */
/* start_ns: when the window began (CLOCK_MONOTONIC ns; 0: now): a process of the environment
 * that exited since, before this call read its event, still counts in it. */
void probes_env_new_window(struct probes *p, unsigned env, const pid_t *pids, size_t n,
			   uint64_t start_ns);
void probes_env_forget(struct probes *p, unsigned env);
uint64_t probes_lost(const struct probes *p);
void probes_stop(struct probes *p);

/* coldstart=probes: an environment's init as a timeline (initrace.bpf.c). */
enum probe_init_kind { PROBE_INIT_EV_OPEN = 1, PROBE_INIT_EV_READ, PROBE_INIT_EV_CONNECT,
		       PROBE_INIT_EV_EXEC, PROBE_INIT_EV_FORK };

struct probe_init_ev {
	enum probe_init_kind type;
	unsigned env;
	pid_t pid, tid;
	uint64_t ts_ns, dur_ns;		/* CLOCK_MONOTONIC: the call's start; its length */
	int64_t ret;			/* OPEN, CONNECT: the result (-errno); EXEC: the parent;
					 * FORK: the child */
	int fd;				/* READ, CONNECT */
	uint64_t bytes;			/* READ: read from fd since its open */
	const void *addr;		/* CONNECT: the sockaddr (addr_len bytes, 0: unread) */
	unsigned addr_len;
	const char *path;		/* OPEN, EXEC */
};

typedef void (*probe_init_fn)(void *arg, const struct probe_init_ev *e);

/* Load the init probe; its events go to fn from probes_poll(). 0, or -1 with why. */
int probes_init_start(struct probes *p, probe_init_fn fn, void *arg, char *why, size_t why_len);
/* Record env's init (on), or stop: then the files its processes still hold open are handed
 * to fn as READ events (their bytes so far) and forgotten. */
void probes_init_record(struct probes *p, unsigned env, bool on);
/* A tracked process's time on CPU so far (its threads, as last switched out), 0 unknown. */
uint64_t probes_proc_cpu_ns(struct probes *p, pid_t pid);

/* Drop the capabilities only loading needed (CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN) from the
 * effective, permitted and inheritable sets. 0, or -1 with errno. */
int probes_drop_caps(void);

#endif
