/* `vigil serve`: the exporters alone, until SIGINT or SIGTERM. */
#ifndef VIGIL_SERVE_H
#define VIGIL_SERVE_H

#include "config.h"
#include "../core/metrics.h"

struct prom_server;

/* The Prometheus endpoint as the configuration says (metrics_listen and its limits); logs
 * "listening on HOST:PORT". NULL (logged) when it cannot start. */
struct prom_server *metrics_endpoint_start(const struct vigil_config *cfg,
					   struct metric_registry *r);
/* Many concurrent connections need descriptors: lift the soft limit to the hard one. */
void raise_fd_limit(void);

/* Exit status for main(): 0 after a clean shutdown, 1 when an exporter cannot start. */
int serve_main(const struct vigil_config *cfg);

#endif
