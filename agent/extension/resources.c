/* Resource figures from /proc. See resources.h. */
#include "resources.h"

#include "../util/fields.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "../util/procfs.h"

static void add_process(struct resources *r, long pid, long ticks)
{
	char path[64], text[1024];
	struct proc_stat ps;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if (procfs_read(path, text, sizeof(text)) < 0)
		return;
	if (procfs_stat(text, &ps) == 0) {
		r->cpu_user_s += (double)ps.utime / (double)ticks;
		r->cpu_system_s += (double)ps.stime / (double)ticks;
		r->threads += ps.threads;
	}
	snprintf(path, sizeof(path), "/proc/%ld/fd", pid);
	d = opendir(path);
	if (d) {
		struct dirent *e;

		while ((e = readdir(d)) != NULL)
			r->fds += e->d_name[0] != '.';
		closedir(d);
	}
}

/* The memory cgroup's process list of this process, when it is not the root one. */
static FILE *own_cgroup_procs(void)
{
	char text[4096], cg[512], path[700];

	if (procfs_read("/proc/self/cgroup", text, sizeof(text)) < 0)
		return NULL;
	if (procfs_cgroup_path(text, "memory", cg, sizeof(cg)) == 0 && strcmp(cg, "/") != 0)
		snprintf(path, sizeof(path), "/sys/fs/cgroup/memory%s/cgroup.procs", cg);
	else if (procfs_cgroup_path(text, "", cg, sizeof(cg)) == 0 && strcmp(cg, "/") != 0)
		snprintf(path, sizeof(path), "/sys/fs/cgroup%s/cgroup.procs", cg);
	else
		return NULL;
	return fopen(path, "re");
}

void resources_sample(struct resources *r)
{
	long ticks = sysconf(_SC_CLK_TCK);
	struct statvfs vfs;
	FILE *procs, *net;
	char line[512];

	memset(r, 0, sizeof(*r));
	procs = own_cgroup_procs();
	if (procs) {
		char text[32];

		while (fgets(text, sizeof(text), procs)) {
			long long pid;
			size_t n = strcspn(text, "\n");

			if (field_i64(text, n, &pid))
				add_process(r, (long)pid, ticks);
		}
		fclose(procs);
	} else {
		DIR *d = opendir("/proc");
		struct dirent *e;

		while (d && (e = readdir(d)) != NULL) {
			if (isdigit((unsigned char)e->d_name[0]))
				add_process(r, strtol(e->d_name, NULL, 10), ticks);
		}
		if (d)
			closedir(d);
	}
	net = fopen("/proc/net/dev", "re");
	while (net && fgets(line, sizeof(line), net)) {
		unsigned long long rx, tx;
		char name[64];

		if (procfs_netdev(line, name, sizeof(name), &rx, &tx) == 0 && strcmp(name, "lo")) {
			r->net_rx_bytes += rx;
			r->net_tx_bytes += tx;
		}
	}
	if (net)
		fclose(net);
	if (statvfs("/tmp", &vfs) == 0)
		r->tmp_used_bytes = (uint64_t)(vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize;
}

int resources_environment(struct env_usage *u)
{
	char text[8192];
	const char *p;
	unsigned long long v[8] = { 0 };
	long long total_kb, avail_kb;
	int n = 0;

	memset(u, 0, sizeof(*u));
	if (procfs_read("/proc/stat", text, sizeof(text)) < 0 || strncmp(text, "cpu ", 4) != 0)
		return -1;
	/* cpu  user nice system idle iowait irq softirq steal */
	for (p = text + 4; n < 8;) {
		long long x;
		size_t len;

		while (*p == ' ')
			p++;
		len = strcspn(p, " \n");
		if (!len || !field_i64(p, len, &x) || x < 0)
			break;
		v[n++] = (unsigned long long)x;
		p += len;
	}
	if (n < 4)
		return -1;
	for (int i = 0; i < n; i++)
		u->cpu_total += v[i];
	u->cpu_busy = u->cpu_total - v[3] - (n > 4 ? v[4] : 0);
	if (procfs_read("/proc/meminfo", text, sizeof(text)) < 0)
		return -1;
	total_kb = procfs_status_kb(text, "MemTotal:");
	avail_kb = procfs_status_kb(text, "MemAvailable:");
	if (total_kb <= 0 || avail_kb < 0)
		return -1;
	u->mem_total = (uint64_t)total_kb * 1024;
	u->mem_used = (uint64_t)(total_kb - avail_kb) * 1024;
	return 0;
}
