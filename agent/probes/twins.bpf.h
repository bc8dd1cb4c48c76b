/*
 * What both BPF objects declare alike. Every probe program exists twice: SEC("tp_btf/TP") NAME_btf, which calls FN_btf (bodies that
 * load kernel memory directly), and SEC("raw_tp/TP") NAME_raw, which calls FN_raw (CO-RE probe
 * reads); vigil loads one flavour (probes.c). TWINS(TP, NAME, FN, (ARGS), PARAMS...) defines
 * both: PARAMS are the tracepoint's parameters, ARGS what FN takes of them.
 */
#ifndef VIGIL_PROBE_TWINS_H
#define VIGIL_PROBE_TWINS_H

#define TWINS(tp, name, fn, args, ...)                                          \
	SEC("tp_btf/" #tp) int BPF_PROG(name##_btf, __VA_ARGS__)                \
	{                                                                       \
		return fn##_btf args;                                           \
	}                                                                       \
	SEC("raw_tp/" #tp) int BPF_PROG(name##_raw, __VA_ARGS__)                \
	{                                                                       \
		return fn##_raw args;                                           \
	}

/* The table of tracked processes (tgid → struct probe_proc), declared alike in both
 * objects so that the usage probe can take the lifecycle probe's map. */
#define PROCS_MAP                                                               \
	struct {                                                                \
		__uint(type, BPF_MAP_TYPE_HASH);                                \
		__uint(max_entries, PROBE_MAX_PROCS);                           \
		__type(key, __u32);                                             \
		__type(value, struct probe_proc);                               \
	} procs SEC(".maps")

#endif
