/* Helpers the probe loaders share (probes.c). */
#ifndef VIGIL_PROBE_COMMON_H
#define VIGIL_PROBE_COMMON_H

#include <stdbool.h>
#include <stddef.h>

struct bpf_object;

/* Keep the tp_btf or the raw_tp twin of every program, and drop the programs whose
 * tracepoint this kernel lacks, naming them in off ("rss_stat sock_send_length"). */
void probe_prepare(struct bpf_object *obj, bool raw, char *off, size_t off_len);
/* Why loading failed, in words (err: a negative errno). */
void probe_why(const char *what, int err, char *why, size_t why_len);

#endif
