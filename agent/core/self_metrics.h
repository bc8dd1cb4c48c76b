/* vigil's metrics about itself: build info, RSS, CPU, open fds, threads, uptime. */
#ifndef VIGIL_SELF_METRICS_H
#define VIGIL_SELF_METRICS_H

#include "metrics.h"

/* Register the families and a collector that refreshes them from /proc at each render.
 * 0, or -ENOMEM / -EEXIST. */
int self_metrics_register(struct metric_registry *r, const char *version, const char *revision);

#endif
