/* libFuzzer harness: the /proc and cgroup readers' parsing (agent/util/procfs.c): stat,
 * status, cgroup key-value files, /proc/self/cgroup, /proc/net/tcp and /proc/net/dev. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/util/procfs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1), path[64], name[16];
	unsigned long long rx, tx;
	struct proc_stat st;

	memcpy(text, data, size);
	text[size] = '\0';
	procfs_stat(text, &st);
	procfs_status_kb(text, "VmHWM:");
	procfs_keyed(text, "oom_kill");
	if (procfs_cgroup_path(text, "memory", path, sizeof(path)) == 0 && strlen(path) >= 64)
		__builtin_trap();
	procfs_cgroup_path(text, "", path, sizeof(path));
	procfs_tcp_listener(text, 4243);
	procfs_netdev(text, name, sizeof(name), &rx, &tx);
	free(text);
	return 0;
}
