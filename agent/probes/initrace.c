/* Loader of the init probe. See initrace.h and initrace.bpf.c. */
#include "initrace.h"

#include <errno.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "common.h"
#include "probe_maps.h"
#include "probes/initrace.skel.h"

#ifndef SYS_open
#define SYS_open -1
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif

/* (the skeleton's struct has no room of vigil's: which flavour was loaded, kept here) */
static bool loaded_raw;

struct initrace_bpf *initrace_start(bool raw, int procs_fd, char *why, size_t why_len)
{
	struct initrace_bpf *t = initrace_bpf__open();
	char off[256] = "";
	int err;

	if (!t) {
		probe_why("initrace: open", -errno, why, why_len);
		return NULL;
	}
	probe_prepare(t->obj, raw, off, sizeof(off));
	t->rodata->nr_open = SYS_open;
	t->rodata->nr_openat = SYS_openat;
	t->rodata->nr_openat2 = SYS_openat2;
	t->rodata->nr_read = SYS_read;
	t->rodata->nr_pread64 = SYS_pread64;
	t->rodata->nr_close = SYS_close;
	t->rodata->nr_connect = SYS_connect;
	/* sys_exit is attached only while an environment initialises (initrace_follow): one
	 * more program on every system call of the machine cost a read(2) 70 ns, measured */
	bpf_program__set_autoattach(t->progs.iexit_btf, false);
	bpf_program__set_autoattach(t->progs.iexit_raw, false);
	loaded_raw = raw;
	err = bpf_map__reuse_fd(t->maps.procs, procs_fd);
	if (!err)
		err = initrace_bpf__load(t);
	if (!err)
		err = initrace_bpf__attach(t);
	if (err) {
		probe_why("initrace", err, why, why_len);
		initrace_bpf__destroy(t);
		errno = -err;
		return NULL;
	}
	return t;
}

int initrace_events_fd(struct initrace_bpf *t)
{
	return bpf_map__fd(t->maps.init_events);
}

int initrace_recording_fd(struct initrace_bpf *t)
{
	return bpf_map__fd(t->maps.recording);
}

int initrace_files_fd(struct initrace_bpf *t)
{
	return bpf_map__fd(t->maps.files);
}

uint64_t initrace_lost(struct initrace_bpf *t)
{
	return __atomic_load_n(&t->bss->lost_init_events, __ATOMIC_RELAXED);
}

void initrace_set_active(struct initrace_bpf *t, unsigned n)
{
	__atomic_store_n(&t->bss->active, n, __ATOMIC_RELAXED);
}

int initrace_follow(struct initrace_bpf *t, bool on)
{
	struct bpf_link **link = loaded_raw ? &t->links.iexit_raw : &t->links.iexit_btf;

	if (on && !*link) {
		*link = bpf_program__attach(loaded_raw ? t->progs.iexit_raw : t->progs.iexit_btf);
		if (!*link)
			return -errno;
	} else if (!on && *link) {
		bpf_link__destroy(*link);
		*link = NULL;
	}
	return 0;
}

void initrace_stop(struct initrace_bpf *t)
{
	initrace_bpf__destroy(t);
}
