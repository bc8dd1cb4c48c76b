/*
 * The invocation metric families (vigil_invocations_total, vigil_invocation_duration_seconds,
 * … in docs/metrics.md) and how a finished report updates them. The tracker's; core only.
 */
#ifndef VIGIL_TRACKER_FAMILIES_H
#define VIGIL_TRACKER_FAMILIES_H

#include "metrics.h"
#include "tracker.h"

struct tracker_families {
	struct metric_family *invocations, *errors, *timeouts, *cold_starts, *oom, *cpu, *net,
		*cost, *logs, *duration, *billed, *init, *post_runtime, *latency, *utilization,
		*memory, *in_flight, *restore, *restores, *response_duration, *response_bytes;
};

/* A status as its label says it: success, error, timeout, failure. */
const char *report_status_name(enum report_status s);
/* Register every family in r. 0, or -ENOMEM when one could not be. */
int tracker_families_register(struct tracker_families *f, struct metric_registry *r);
/* One finished report into the families (the resources only when sampled). */
void tracker_families_observe(const struct tracker_families *f,
			      const struct invocation_report *r);

#endif
