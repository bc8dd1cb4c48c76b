/* cgroup v2 or v1 (memory + cpuacct + freezer) per execution environment. See cgroup.h. */
#include "cgroup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/fields.h"
#include "../util/procfs.h"

#define V1_ROOT "/sys/fs/cgroup"

static char v2_base[400], v1_mem_base[400], v1_cpu_base[400], v1_frz_base[400];
static int probed_version = -1;

static int write_file(const char *dir, const char *file, const char *value)
{
	char path[600];
	int fd, rc = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (write(fd, value, strlen(value)) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

static int read_file(const char *dir, const char *file, char *out, size_t n)
{
	char path[600];
	ssize_t r;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	r = read(fd, out, n - 1);
	close(fd);
	if (r < 0)
		return -errno;
	out[r] = '\0';
	return 0;
}

/* Our own cgroup path in the hierarchy of controller ("" = the v2 unified line). */
static int own_cgroup(const char *controller, char *out, size_t n)
{
	char text[4096];

	if (read_file("/proc/self", "cgroup", text, sizeof(text)) < 0)
		return -errno;
	return procfs_cgroup_path(text, controller, out, n) == 0 ? 0 : -ENOENT;
}

static int dir_exists(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

int cgroup_probe(char *why, size_t whylen)
{
	char own[300], controllers[256];
	const char *v2_root = NULL;

	if (probed_version >= 0)
		return probed_version ? 0 : -ENOTSUP;
	probed_version = 0;
	/* v2: a unified hierarchy with the memory controller enabled. */
	if (read_file(V1_ROOT, "cgroup.controllers", controllers, sizeof(controllers)) == 0)
		v2_root = V1_ROOT;
	else if (read_file(V1_ROOT "/unified", "cgroup.controllers", controllers,
			   sizeof(controllers)) == 0)
		v2_root = V1_ROOT "/unified";
	if (v2_root && strstr(controllers, "memory") && own_cgroup("", own, sizeof(own)) == 0) {
		snprintf(v2_base, sizeof(v2_base), "%s%s", v2_root, strcmp(own, "/") ? own : "");
		if (access(v2_base, W_OK) == 0) {
			probed_version = 2;
			return 0;
		}
	}
	if (dir_exists(V1_ROOT "/memory") && own_cgroup("memory", own, sizeof(own)) == 0) {
		snprintf(v1_mem_base, sizeof(v1_mem_base), V1_ROOT "/memory%s",
			 strcmp(own, "/") ? own : "");
		if (access(v1_mem_base, W_OK) == 0) {
			probed_version = 1;
			if (dir_exists(V1_ROOT "/cpuacct") && own_cgroup("cpuacct", own, sizeof(own)) == 0)
				snprintf(v1_cpu_base, sizeof(v1_cpu_base), V1_ROOT "/cpuacct%s",
					 strcmp(own, "/") ? own : "");
			if (dir_exists(V1_ROOT "/freezer") && own_cgroup("freezer", own, sizeof(own)) == 0)
				snprintf(v1_frz_base, sizeof(v1_frz_base), V1_ROOT "/freezer%s",
					 strcmp(own, "/") ? own : "");
			return 0;
		}
	}
	snprintf(why, whylen, "%s", access(V1_ROOT, W_OK) != 0 ?
		 "no permission to write /sys/fs/cgroup" :
		 "no cgroup v2 memory controller and no writable v1 memory hierarchy");
	return -ENOTSUP;
}

static int open_in(const char *dir, const char *file, int flags)
{
	char path[600];

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	return open(path, flags | O_CLOEXEC);
}

int cgroup_create(struct cgroup *cg, const char *name, long memory_mb)
{
	char why[200], limit[32];
	int rc;

	memset(cg, 0, sizeof(*cg));
	cg->peak_fd = cg->freeze_fd = -1;
	if (cgroup_probe(why, sizeof(why)) < 0)
		return -ENOTSUP;
	snprintf(limit, sizeof(limit), "%lld", (long long)memory_mb * 1024 * 1024);
	if (probed_version == 2) {
		snprintf(cg->memory, sizeof(cg->memory), "%s/%s", v2_base, name);
		if (mkdir(cg->memory, 0755) < 0 && errno != EEXIST)
			return -errno;
		cg->version = 2;
		rc = write_file(cg->memory, "memory.max", limit);
		write_file(cg->memory, "memory.swap.max", "0");
		cg->peak_fd = open_in(cg->memory, "memory.peak", O_RDONLY);
		cg->freeze_fd = open_in(cg->memory, "cgroup.freeze", O_WRONLY);
		return rc;
	}
	snprintf(cg->memory, sizeof(cg->memory), "%s/%s", v1_mem_base, name);
	if (mkdir(cg->memory, 0755) < 0 && errno != EEXIST)
		return -errno;
	cg->version = 1;
	rc = write_file(cg->memory, "memory.limit_in_bytes", limit);
	/* Without swap accounting this file is absent; the limit above still holds. */
	write_file(cg->memory, "memory.memsw.limit_in_bytes", limit);
	cg->peak_fd = open_in(cg->memory, "memory.max_usage_in_bytes", O_RDONLY);
	if (v1_cpu_base[0]) {
		snprintf(cg->cpuacct, sizeof(cg->cpuacct), "%s/%s", v1_cpu_base, name);
		if (mkdir(cg->cpuacct, 0755) < 0 && errno != EEXIST)
			cg->cpuacct[0] = '\0';
	}
	if (v1_frz_base[0]) {
		snprintf(cg->freezer, sizeof(cg->freezer), "%s/%s", v1_frz_base, name);
		if (mkdir(cg->freezer, 0755) < 0 && errno != EEXIST)
			cg->freezer[0] = '\0';
		else
			cg->freeze_fd = open_in(cg->freezer, "freezer.state", O_WRONLY);
	}
	return rc;
}

int cgroup_enter(const struct cgroup *cg)
{
	char pid[24];
	int rc;

	if (!cg->version)
		return 0;
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	rc = write_file(cg->memory, "cgroup.procs", pid);
	if (rc == 0 && cg->cpuacct[0])
		rc = write_file(cg->cpuacct, "cgroup.procs", pid);
	if (rc == 0 && cg->freezer[0])
		rc = write_file(cg->freezer, "cgroup.procs", pid);
	return rc;
}

static uint64_t read_u64(const char *dir, const char *file)
{
	char text[64];

	if (!dir[0] || read_file(dir, file, text, sizeof(text)) < 0)
		return 0;
	return strtoull(text, NULL, 10);
}

static uint64_t read_key(const char *dir, const char *file, const char *key)
{
	char text[4096];

	if (!dir[0] || read_file(dir, file, text, sizeof(text)) < 0)
		return 0;
	return procfs_keyed(text, key);
}

uint64_t cgroup_peak_memory(const struct cgroup *cg)
{
	char text[32];
	ssize_t n;

	if (cg->version && cg->peak_fd >= 0) {
		n = pread(cg->peak_fd, text, sizeof(text) - 1, 0);
		if (n > 0) {
			text[n] = '\0';
			return strtoull(text, NULL, 10);
		}
	}
	if (cg->version == 2)
		return read_u64(cg->memory, "memory.peak");
	if (cg->version == 1)
		return read_u64(cg->memory, "memory.max_usage_in_bytes");
	return 0;
}

uint64_t cgroup_oom_kills(const struct cgroup *cg)
{
	if (cg->version == 2)
		return read_key(cg->memory, "memory.events", "oom_kill");
	if (cg->version == 1)
		return read_key(cg->memory, "memory.oom_control", "oom_kill");
	return 0;
}

uint64_t cgroup_cpu_ns(const struct cgroup *cg)
{
	if (cg->version == 2)
		return read_key(cg->memory, "cpu.stat", "usage_usec") * 1000;
	if (cg->version == 1)
		return read_u64(cg->cpuacct, "cpuacct.usage");
	return 0;
}

int cgroup_freeze(struct cgroup *cg, bool frozen)
{
	const char *v = cg->version == 2 ? (frozen ? "1" : "0") : (frozen ? "FROZEN" : "THAWED");

	if (!cg->version || cg->freeze_fd < 0)
		return -ENOTSUP;
	if (cg->frozen == frozen)
		return 0;
	if (pwrite(cg->freeze_fd, v, strlen(v), 0) < 0)
		return -errno;
	cg->frozen = frozen;
	return 0;
}

/* SIGKILL every process of the cgroup dir; the number signalled. */
static int kill_procs(const char *dir)
{
	char text[8192], *p, *end;
	int n = 0;

	if (read_file(dir, "cgroup.procs", text, sizeof(text)) < 0)
		return 0;
	for (p = text; *p; p = end) {
		long pid = strtol(p, &end, 10);

		if (end == p)
			break;
		if (pid > 0 && kill((pid_t)pid, SIGKILL) == 0)
			n++;
	}
	return n;
}

/* Empty one stale environment cgroup dir of a controller: thawed (thaw_file, if any), its
 * processes killed, removed. The processes killed. */
static int sweep_dir(const char *dir, const char *thaw_file, const char *thaw_value)
{
	int n;

	if (thaw_file)
		write_file(dir, thaw_file, thaw_value);
	n = kill_procs(dir);
	/* Processes just killed leave the cgroup as they are reaped: a few tries. */
	for (int i = 0; i < 50 && rmdir(dir) < 0 && errno == EBUSY; i++)
		usleep(2000);
	return n;
}

int cgroup_sweep_stale(int *killed)
{
	/* The freezer first: a frozen process takes its SIGKILL once thawed. */
	const char *bases[] = { v2_base, v1_frz_base, v1_mem_base, v1_cpu_base };
	int removed = 0;

	*killed = 0;
	for (size_t b = 0; b < sizeof(bases) / sizeof(bases[0]); b++) {
		struct dirent *e;
		DIR *d;

		if (!bases[b][0] || (b == 0 && probed_version != 2) || (b > 0 && probed_version != 1))
			continue;
		d = opendir(bases[b]);
		while (d && (e = readdir(d)) != NULL) {
			char dir[700];
			/* vigil host's own names: vigil-PID-envN, PID the host that made it. A live
			 * PID is another host's, unless it is this one's (made before it started:
			 * a host that had this PID before). */
			const char *dash = strncmp(e->d_name, "vigil-", 6) == 0 ?
						   strstr(e->d_name + 6, "-env") : NULL;
			unsigned long long env;
			long long lp = 0;
			int pid;

			if (!dash || !field_i64(e->d_name + 6, (size_t)(dash - e->d_name - 6), &lp) ||
			    !field_u64(dash + 4, strlen(dash + 4), &env) || lp > 0x7fffffff)
				continue;
			pid = (int)lp;
			if (pid <= 0 ||
			    (pid != (int)getpid() && (kill(pid, 0) == 0 || errno != ESRCH)))
				continue;
			snprintf(dir, sizeof(dir), "%s/%s", bases[b], e->d_name);
			*killed += sweep_dir(dir, b == 0 ? "cgroup.freeze" : b == 1 ? "freezer.state" : NULL,
					     b == 0 ? "0" : "THAWED");
			removed++;
		}
		if (d)
			closedir(d);
	}
	return removed;
}

int cgroup_kill_all(struct cgroup *cg)
{
	/* A frozen process takes its SIGKILL only once thawed (v1). */
	cgroup_freeze(cg, false);
	return cg->version ? kill_procs(cg->memory) : 0;
}

int cgroup_empty(const struct cgroup *cg)
{
	char text[64];

	if (!cg->version || read_file(cg->memory, "cgroup.procs", text, sizeof(text)) < 0)
		return 1;
	return text[0] == '\0';
}

void cgroup_destroy(struct cgroup *cg)
{
	if (cg->version && cg->peak_fd >= 0)
		close(cg->peak_fd);
	if (cg->version && cg->freeze_fd >= 0)
		close(cg->freeze_fd);
	cg->peak_fd = cg->freeze_fd = -1;
	if (!cg->version)
		return;
	rmdir(cg->memory);
	if (cg->cpuacct[0])
		rmdir(cg->cpuacct);
	if (cg->freezer[0])
		rmdir(cg->freezer);
	cg->version = 0;
}
