/* Resource figures from /proc. See resources.h. */
#include "resources.h"

#include <ctype.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <unistd.h>

static void add_process(struct resources *r, long pid, long ticks)
{
	char path[64], text[1024], *p;
	unsigned long ut, st;
	long threads;
	ssize_t n;
	int fd;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, text, sizeof(text) - 1);
	close(fd);
	if (n <= 0)
		return;
	text[n] = '\0';
	p = strrchr(text, ')');
	if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %ld",
			&ut, &st, &threads) == 3) {
		r->cpu_user_s += (double)ut / (double)ticks;
		r->cpu_system_s += (double)st / (double)ticks;
		r->threads += threads;
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
	char line[512], path[700];
	FILE *f = fopen("/proc/self/cgroup", "re");
	FILE *procs = NULL;

	if (!f)
		return NULL;
	while (!procs && fgets(line, sizeof(line), f)) {
		char *a = strchr(line, ':'), *b = a ? strchr(a + 1, ':') : NULL;

		if (!b)
			continue;
		*b++ = '\0';
		b[strcspn(b, "\n")] = '\0';
		if (strcmp(b, "/") == 0)
			continue;
		if (strstr(a + 1, "memory"))
			snprintf(path, sizeof(path), "/sys/fs/cgroup/memory%s/cgroup.procs", b);
		else if (a[1] == '\0')
			snprintf(path, sizeof(path), "/sys/fs/cgroup%s/cgroup.procs", b);
		else
			continue;
		procs = fopen(path, "re");
	}
	fclose(f);
	return procs;
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
		long pid;

		while (fscanf(procs, "%ld", &pid) == 1)
			add_process(r, pid, ticks);
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
		char *colon = strchr(line, ':');
		unsigned long long rx, tx;
		char *name = line;

		if (!colon)
			continue;
		*colon = '\0';
		while (*name == ' ')
			name++;
		if (strcmp(name, "lo") == 0)
			continue;
		if (sscanf(colon + 1, "%llu %*u %*u %*u %*u %*u %*u %*u %llu", &rx, &tx) == 2) {
			r->net_rx_bytes += rx;
			r->net_tx_bytes += tx;
		}
	}
	if (net)
		fclose(net);
	if (statvfs("/tmp", &vfs) == 0)
		r->tmp_used_bytes = (uint64_t)(vfs.f_blocks - vfs.f_bfree) * vfs.f_frsize;
}
