/* `vigil serve`: registry + self-metrics + the Prometheus endpoint, until a signal. */
#include "serve.h"

#include <signal.h>
#include <string.h>
#include <sys/resource.h>

#include "../../exporters/prometheus/prometheus.h"
#include "../core/metrics.h"
#include "../core/self_metrics.h"
#include "../util/log.h"
#include "../util/version.h"

void raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

struct prom_server *metrics_endpoint_start(const struct vigil_config *cfg,
					   struct metric_registry *r)
{
	struct prom_server_config pc = {
		.listen = cfg->metrics_listen,
		.max_connections = (unsigned)cfg->metrics_max_connections,
		.connection_timeout_s = (unsigned)cfg->metrics_conn_timeout,
		.connection_memory = 32 * 1024,
		.token = cfg->metrics_token,
	};
	const char *colon = strrchr(cfg->metrics_listen, ':');
	struct prom_server *server = prom_server_start(r, &pc);

	if (server)
		log_info("prometheus", "listening on %.*s:%u", (int)(colon - cfg->metrics_listen),
			 cfg->metrics_listen, prom_server_port(server));
	return server;
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
		server = metrics_endpoint_start(cfg, registry);
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
