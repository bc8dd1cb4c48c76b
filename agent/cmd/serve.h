/* `vigil serve`, and what every command's wiring shares: settings from the configuration
 * turned into the options of an exporter or of the log writer. */
#ifndef VIGIL_SERVE_H
#define VIGIL_SERVE_H

#include <stddef.h>

#include "config.h"
#include "../core/metrics.h"
#include "../core/segment.h"
#include "../core/tracker.h"
#include "../probes/probes.h"
#include "../../exporters/prometheus/prometheus.h"

/* The Prometheus endpoint's settings (metrics_listen and its limits); strings borrowed. */
struct prom_server_config metrics_endpoint_config(const struct vigil_config *cfg);
/* The log writer's settings (log_dir, sizes, retention, fsync) and its queue's size in
 * bytes; identity is left for the source to set. Strings borrowed. */
void log_writer_config(const struct vigil_config *cfg, struct segment_writer_options *so,
		       size_t *queue_bytes);
/* The prices of the configuration's architecture (auto: this machine's), for cost estimates. */
struct tracker_prices prices_config(const struct vigil_config *cfg);
/* How to attach the probes (probes_attach) and their ring buffer's size in KiB (probes_ring_kb
 * rounded up to a power of two, 64 at least). */
void probes_config(const struct vigil_config *cfg, enum probe_attach *how, unsigned *ring_kb);
/* A listen setting as an address to bind: sandbox.localdomain:PORT becomes that name's address
 * in the hosts file (hosts_path NULL: /etc/hosts), else 127.0.0.1:PORT — never all
 * interfaces; any other value is returned as it is. out (n bytes) holds a rewritten one. */
const char *listen_address(const char *value, const char *hosts_path, char *out, size_t n);
/* Many concurrent connections need descriptors: lift the soft limit to the hard one. */
void raise_fd_limit(void);

/* Exit status for main(): 0 after a clean shutdown, 1 when an exporter cannot start. */
int serve_main(const struct vigil_config *cfg);

#endif
