/* Loader of the usage probe. See usage.h and usage.bpf.c. */
#include "usage.h"

#include <errno.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "common.h"
#include "probe_maps.h"
#include "probes/usage.skel.h"

#ifndef SYS_open
#define SYS_open -1
#endif
#ifndef SYS_creat
#define SYS_creat -1
#endif
#ifndef SYS_openat2
#define SYS_openat2 437
#endif

struct usage_bpf *usage_start(bool raw, int procs_fd, char *off, size_t off_len, char *why,
			      size_t why_len)
{
	struct usage_bpf *u = usage_bpf__open();
	int err;

	if (!u) {
		probe_why("usage: open", -errno, why, why_len);
		return NULL;
	}
	probe_prepare(u->obj, raw, off, off_len);
	u->rodata->nr_open = SYS_open;
	u->rodata->nr_openat = SYS_openat;
	u->rodata->nr_openat2 = SYS_openat2;
	u->rodata->nr_creat = SYS_creat;
	u->rodata->nr_read = SYS_read;
	u->rodata->nr_pread64 = SYS_pread64;
	u->rodata->nr_readv = SYS_readv;
	u->rodata->nr_preadv = SYS_preadv;
	u->rodata->nr_preadv2 = SYS_preadv2;
	err = bpf_map__reuse_fd(u->maps.procs, procs_fd);
	if (!err)
		err = usage_bpf__load(u);
	if (!err)
		err = usage_bpf__attach(u);
	if (err) {
		probe_why("usage", err, why, why_len);
		usage_bpf__destroy(u);
		errno = -err;
		return NULL;
	}
	return u;
}

void usage_stop(struct usage_bpf *u)
{
	usage_bpf__destroy(u);
}
