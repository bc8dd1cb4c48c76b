/* The lifecycle probe (lifecycle.bpf.c): fork, exec, exit, OOM victims; owns the process
 * table and the ring buffer. Loaded by probes.c. */
#ifndef VIGIL_PROBE_LIFECYCLE_H
#define VIGIL_PROBE_LIFECYCLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct lifecycle_bpf;

/* Open, load and attach; raw: the raw_tp twins instead of tp_btf. ring_kb: the ring buffer.
 * NULL with errno and why filled when it cannot. */
struct lifecycle_bpf *lifecycle_start(bool raw, unsigned ring_kb, char *why, size_t why_len);
/* Attach the exit program: after the usage probe's (see lifecycle.c). */
int lifecycle_attach_exit(struct lifecycle_bpf *l, bool raw);
int lifecycle_procs_fd(struct lifecycle_bpf *l);
int lifecycle_events_fd(struct lifecycle_bpf *l);
uint64_t lifecycle_lost(struct lifecycle_bpf *l);
void lifecycle_stop(struct lifecycle_bpf *l);

#endif
