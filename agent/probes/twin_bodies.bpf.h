/*
 * Includes TWIN_BODY (a file of program bodies) twice: once for the tp_btf twins — RD() a
 * direct load, RD2() two, CURRENT() the BTF-typed current task — and once for the raw_tp
 * twins, with CO-RE probe reads; FN(name) gives each copy its own names (name_btf,
 * name_raw). Define TWIN_BODY, then include this (see twins.bpf.h for the programs).
 */
#define RD(p, ...) ((p)->__VA_ARGS__)
#define RD2(p, a, b) ((p)->a->b)
#define FN(name) name##_btf
#define CURRENT() bpf_get_current_task_btf()
#include TWIN_BODY
#undef RD
#undef RD2
#undef FN
#undef CURRENT
#define RD BPF_CORE_READ
#define RD2 BPF_CORE_READ
#define FN(name) name##_raw
#define CURRENT() ((struct task_struct *)bpf_get_current_task())
#include TWIN_BODY
#undef RD
#undef RD2
#undef FN
#undef CURRENT
#undef TWIN_BODY
