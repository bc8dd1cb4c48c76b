/* Lambda-Insights-style resource figures of the function's processes, from /proc. */
#ifndef VIGIL_RESOURCES_H
#define VIGIL_RESOURCES_H

#include <stdint.h>

struct resources {
	double cpu_user_s, cpu_system_s;	/* cumulative, of the processes alive now */
	uint64_t net_rx_bytes, net_tx_bytes;	/* cumulative, all interfaces but lo */
	uint64_t tmp_used_bytes;
	long fds, threads;
};

/* The processes: those of vigil's own cgroup when it has one (vigil host gives each
 * environment its own), else every process in /proc (inside Lambda, the sandbox's). */
void resources_sample(struct resources *out);

/* The environment as a whole (Lambda Managed Instances: many invocations share it, so its
 * use is not any one invocation's): CPU ticks busy and in all since boot (/proc/stat's cpu
 * line), and memory in use and in all (/proc/meminfo: MemTotal - MemAvailable). -1 when
 * unreadable. */
struct env_usage {
	unsigned long long cpu_busy, cpu_total;
	uint64_t mem_used, mem_total;
};
int resources_environment(struct env_usage *out);

#endif
