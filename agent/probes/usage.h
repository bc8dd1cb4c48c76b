/* The usage probe (usage.bpf.c): CPU, page faults, files opened, bytes read, TCP bytes,
 * added into the lifecycle probe's process table. Loaded by probes.c. */
#ifndef VIGIL_PROBE_USAGE_H
#define VIGIL_PROBE_USAGE_H

#include <stdbool.h>
#include <stddef.h>

struct usage_bpf;

/* procs_fd: the lifecycle probe's process table, shared. off: names of the facts this kernel
 * cannot give (its tracepoint is missing), "" when none. */
struct usage_bpf *usage_start(bool raw, int procs_fd, char *off, size_t off_len, char *why,
			      size_t why_len);
void usage_stop(struct usage_bpf *u);

#endif
