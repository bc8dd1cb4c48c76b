/* vigil's metrics about itself, read from /proc/self at each render. */
#include "self_metrics.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../util/fields.h"
#include "../util/procfs.h"

struct self_metrics {
	struct metric_series *rss, *cpu_user, *cpu_system, *fds, *threads, *uptime, *start;
	struct timespec started;
	long page_size, ticks;
};

static struct self_metrics self;

static ssize_t read_small_file(const char *path, char *out, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, out, cap - 1);
	close(fd);
	if (n < 0)
		return -errno;
	out[n] = '\0';
	return n;
}

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)) != NULL) {
		if (e->d_name[0] != '.')
			n++;
	}
	closedir(d);
	return n - 1;	/* the directory stream's own fd */
}

static void collect(void *arg)
{
	struct self_metrics *m = arg;
	char stat[1024], statm[256];
	struct timespec now;
	struct proc_stat ps;
	long long resident;
	int fds;

	if (read_small_file("/proc/self/statm", statm, sizeof(statm)) > 0) {
		const char *f[2];
		size_t len[2];

		if (fields_split(statm, f, len, 2) == 2 && field_i64(f[1], len[1], &resident))
			metric_set(m->rss, (double)resident * (double)m->page_size);
	}
	/* Fields after the command name, which may hold spaces: start past the last ')'. */
	if (read_small_file("/proc/self/stat", stat, sizeof(stat)) > 0 && procfs_stat(stat, &ps) == 0) {
		metric_set(m->cpu_user, (double)ps.utime / (double)m->ticks);
		metric_set(m->cpu_system, (double)ps.stime / (double)m->ticks);
		metric_set(m->threads, (double)ps.threads);
	}
	fds = count_fds();
	if (fds >= 0)
		metric_set(m->fds, fds);
	clock_gettime(CLOCK_MONOTONIC, &now);
	metric_set(m->uptime, (double)(now.tv_sec - m->started.tv_sec) +
				      (double)(now.tv_nsec - m->started.tv_nsec) / 1e9);
}

static struct metric_series *gauge(struct metric_registry *r, const char *name, const char *help,
				   const char *unit)
{
	struct metric_desc d = { .name = name, .help = help, .type = METRIC_GAUGE, .unit = unit };

	return metric_series_get(metric_register(r, &d), NULL);
}

int self_metrics_register(struct metric_registry *r, const char *version, const char *revision)
{
	static const struct metric_desc build = {
		.name = "vigil_build_info",
		.help = "vigil's version and source revision; the value is always 1.",
		.type = METRIC_INFO,
		.labels = { "version", "revision" },
	};
	static const struct metric_desc cpu = {
		.name = "vigil_agent_cpu_seconds_total",
		.help = "CPU time vigil itself has used, by mode.",
		.type = METRIC_COUNTER,
		.unit = "seconds",
		.labels = { "mode" },
	};
	struct metric_family *f;
	struct timespec real;

	if (metric_find(r, build.name))
		return -EEXIST;
	f = metric_register(r, &build);
	metric_set(metric_with(f, version, revision), 1);
	f = metric_register(r, &cpu);
	self.cpu_user = metric_with(f, "user");
	self.cpu_system = metric_with(f, "system");
	self.rss = gauge(r, "vigil_agent_resident_memory_bytes",
			 "Resident memory (RSS) of the vigil process.", "bytes");
	self.fds = gauge(r, "vigil_agent_open_fds", "File descriptors vigil has open.", NULL);
	self.threads = gauge(r, "vigil_agent_threads", "Threads of the vigil process.", NULL);
	self.uptime = gauge(r, "vigil_agent_uptime_seconds", "Seconds since vigil started.",
			    "seconds");
	self.start = gauge(r, "vigil_agent_start_time_seconds",
			   "When vigil started, in seconds since the Unix epoch.", "seconds");
	if (!self.cpu_user || !self.rss || !self.fds || !self.threads || !self.uptime ||
	    !self.start)
		return -ENOMEM;
	clock_gettime(CLOCK_MONOTONIC, &self.started);
	clock_gettime(CLOCK_REALTIME, &real);
	metric_set(self.start, (double)real.tv_sec + (double)real.tv_nsec / 1e9);
	self.page_size = sysconf(_SC_PAGESIZE);
	self.ticks = sysconf(_SC_CLK_TCK);
	return metric_registry_add_collector(r, collect, &self);
}
