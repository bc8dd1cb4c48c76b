/* Loader of the lifecycle probe. See lifecycle.h and lifecycle.bpf.c. */
#include "lifecycle.h"

#include <errno.h>
#include <stdio.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "common.h"
#include "probes/lifecycle.skel.h"

struct lifecycle_bpf *lifecycle_start(bool raw, unsigned ring_kb, char *why, size_t why_len)
{
	struct lifecycle_bpf *l = lifecycle_bpf__open();
	char off[256] = "";
	long page = sysconf(_SC_PAGESIZE);
	int err;

	if (!l) {
		probe_why("lifecycle: open", -errno, why, why_len);
		return NULL;
	}
	probe_prepare(l->obj, raw, off, sizeof(off));
	l->rodata->page_kb = (unsigned)(page / 1024);
	bpf_map__set_max_entries(l->maps.events, ring_kb * 1024U);
	/* The exit program runs after the usage probe's (lifecycle_attach_exit): tracepoint
	 * programs run in the order they were attached, and the usage probe adds the last
	 * thread's final CPU time before this one reports and removes the process. */
	bpf_program__set_autoattach(l->progs.exit_btf, false);
	bpf_program__set_autoattach(l->progs.exit_raw, false);
	err = lifecycle_bpf__load(l);
	if (!err)
		err = lifecycle_bpf__attach(l);
	if (err) {
		probe_why("lifecycle", err, why, why_len);
		lifecycle_bpf__destroy(l);
		errno = -err;
		return NULL;
	}
	return l;
}

int lifecycle_attach_exit(struct lifecycle_bpf *l, bool raw)
{
	struct bpf_link *link = bpf_program__attach(raw ? l->progs.exit_raw : l->progs.exit_btf);

	if (!link)
		return -errno;
	if (raw)
		l->links.exit_raw = link;
	else
		l->links.exit_btf = link;
	return 0;
}

int lifecycle_procs_fd(struct lifecycle_bpf *l)
{
	return bpf_map__fd(l->maps.procs);
}

int lifecycle_events_fd(struct lifecycle_bpf *l)
{
	return bpf_map__fd(l->maps.events);
}

uint64_t lifecycle_lost(struct lifecycle_bpf *l)
{
	return __atomic_load_n(&l->bss->lost_events, __ATOMIC_RELAXED);
}

void lifecycle_stop(struct lifecycle_bpf *l)
{
	lifecycle_bpf__destroy(l);
}
