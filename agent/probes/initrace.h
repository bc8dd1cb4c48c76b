/* The init probe (initrace.bpf.c): an environment's init as a timeline, loaded only with
 * coldstart=probes. Loaded by probes.c. */
#ifndef VIGIL_PROBE_INITRACE_H
#define VIGIL_PROBE_INITRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct initrace_bpf;

/* Open, load and attach (raw: the raw_tp twins), sharing the process table procs_fd. NULL
 * with errno and why filled when it cannot. */
struct initrace_bpf *initrace_start(bool raw, int procs_fd, char *why, size_t why_len);
int initrace_events_fd(struct initrace_bpf *t);
int initrace_recording_fd(struct initrace_bpf *t);
int initrace_files_fd(struct initrace_bpf *t);
uint64_t initrace_lost(struct initrace_bpf *t);
/* How many environments initialise now (0: every hook returns at once). */
void initrace_set_active(struct initrace_bpf *t, unsigned n);
/* Attach (on) or detach the system-call hook: only while some environment initialises.
 * 0, or -errno. */
int initrace_follow(struct initrace_bpf *t, bool on);
void initrace_stop(struct initrace_bpf *t);

#endif
