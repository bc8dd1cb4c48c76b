/* `vigil serve`: registry + self-metrics + the Prometheus endpoint, until a signal. */
#include "serve.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/utsname.h>

#include "../core/metrics.h"
#include "../core/self_metrics.h"
#include "../lib/resolve.h"
#include "../util/log.h"
#include "../util/version.h"

struct tracker_prices prices_config(const struct vigil_config *cfg)
{
	struct utsname u;
	const char *arch = cfg->architecture;

	if (strcmp(arch, "auto") == 0)
		arch = uname(&u) == 0 && (strcmp(u.machine, "aarch64") == 0 ||
					  strcmp(u.machine, "arm64") == 0) ? "arm64" : "x86_64";
	return (struct tracker_prices){
		.gb_second = strcmp(arch, "arm64") == 0 ? cfg->price_gb_second_arm64 :
							  cfg->price_gb_second_x86_64,
		.per_request = cfg->price_per_request,
	};
}

void probes_config(const struct vigil_config *cfg, enum probe_attach *how, unsigned *ring_kb)
{
	*how = strcmp(cfg->probes_attach, "tp_btf") == 0 ? PROBE_ATTACH_TP_BTF :
	       strcmp(cfg->probes_attach, "raw_tp") == 0 ? PROBE_ATTACH_RAW_TP : PROBE_ATTACH_AUTO;
	*ring_kb = 64;
	while (*ring_kb < (unsigned long)cfg->probes_ring_kb)
		*ring_kb *= 2;
}

const char *listen_address(const char *value, const char *hosts_path, char *out, size_t n)
{
	struct sockaddr_storage ss;
	char addr[INET6_ADDRSTRLEN] = "127.0.0.1";
	const char *port;

	if (strncasecmp(value, SANDBOX_NAME ":", sizeof(SANDBOX_NAME)) != 0)
		return value;
	port = value + sizeof(SANDBOX_NAME);
	if (resolve_from_hosts(hosts_path, SANDBOX_NAME, 0, &ss, 1) == 1) {
		if (ss.ss_family == AF_INET6) {
			inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, addr,
				  sizeof(addr));
			snprintf(out, n, "[%s]:%s", addr, port);
			return out;
		}
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, addr, sizeof(addr));
	}
	snprintf(out, n, "%s:%s", addr, port);
	return out;
}

void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

struct prom_server_config metrics_endpoint_config(const struct vigil_config *cfg)
{
	static char listen[CONFIG_STR_MAX + 64];

	return (struct prom_server_config){
		.listen = listen_address(cfg->metrics_listen, NULL, listen, sizeof(listen)),
		.max_connections = (unsigned)cfg->metrics_max_connections,
		.connection_timeout_s = (unsigned)cfg->metrics_conn_timeout,
		.connection_memory = 32 * 1024,
		.token = cfg->metrics_token,
	};
}

/* A group's id from its number or its /etc/group line (no NSS: the layer's binary is
 * static), or -1. */
static long group_id(const char *name)
{
	char line[1024], *end;
	long gid = strtol(name, &end, 10);
	FILE *f;

	if (*name && !*end)
		return gid >= 0 ? gid : -1;
	f = fopen("/etc/group", "re");
	gid = -1;
	while (f && gid < 0 && fgets(line, sizeof(line), f)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

		if (c2 && (size_t)(c1 - line) == strlen(name) && strncmp(line, name, strlen(name)) == 0)
			gid = strtol(c2 + 1, NULL, 10);
	}
	if (f)
		fclose(f);
	return gid;
}

void log_writer_config(const struct vigil_config *cfg, struct segment_writer_options *so,
		       size_t *queue_bytes)
{
	long gid = cfg->log_group[0] ? group_id(cfg->log_group) : -1;

	*so = (struct segment_writer_options){
		.dir = cfg->log_dir,
		.segment_bytes = (uint64_t)cfg->log_segment_mb << 20,
		.retention_bytes = (uint64_t)cfg->log_retention_mb << 20,
		.retention_age_s = (double)cfg->log_retention_hours * 3600.0,
		.fsync = (int)cfg->log_fsync,
		.set_group = gid >= 0,
		.group = gid >= 0 ? (gid_t)gid : 0,
	};
	if (cfg->log_group[0] && gid < 0)
		log_warn("logs", "log_group %s: no such group: segments keep the writer's group",
			 cfg->log_group);
	*queue_bytes = (size_t)cfg->log_queue_mb << 20;
}

int serve_main(const struct vigil_config *cfg)
{
	struct prom_server *server = NULL;
	struct metric_registry *registry;
	sigset_t set;
	int sig = 0, rc = 0;

	/* Block the stop signals before any thread starts, so every thread inherits the
	 * mask and only sigwait below sees them. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	raise_fd_limit();

	registry = metric_registry_new((unsigned)cfg->metrics_max_series);
	if (!registry || self_metrics_register(registry, VIGIL_VERSION, VIGIL_REVISION) < 0) {
		log_error("serve", "out of memory");
		metric_registry_destroy(registry);
		return 1;
	}
	if (cfg->metrics_enabled) {
		struct prom_server_config pc = metrics_endpoint_config(cfg);

		server = prom_endpoint_start(registry, &pc);
		if (!server) {
			metric_registry_destroy(registry);
			return 1;
		}
	}
	log_info("serve", "ready");
	if (sigwait(&set, &sig) != 0)
		rc = 1;
	log_info("serve", "%s: shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
	prom_server_stop(server);
	metric_registry_destroy(registry);
	return rc;
}
