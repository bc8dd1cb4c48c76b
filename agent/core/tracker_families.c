/* The invocation metric families, from finished reports. See tracker_families.h. */
#include "tracker_families.h"

#include <errno.h>
#include <string.h>

static struct metric_family *fam(struct metric_registry *r, const char *name, const char *help,
				 enum metric_type type, const char *unit, const char *l1,
				 const char *l2, const char *l3, const char *l4)
{
	struct metric_desc d = { .name = name, .help = help, .type = type, .unit = unit,
				 .labels = { l1, l2, l3, l4 } };

	if (type == METRIC_HISTOGRAM) {
		if (unit && strcmp(unit, "bytes") == 0) {
			d.buckets = metric_buckets_memory;
			d.nbuckets = metric_buckets_memory_len;
		} else if (unit && strcmp(unit, "ratio") == 0) {
			d.buckets = metric_buckets_ratio;
			d.nbuckets = metric_buckets_ratio_len;
		} else {
			d.buckets = metric_buckets_duration;
			d.nbuckets = metric_buckets_duration_len;
		}
	}
	return metric_register(r, &d);
}

int tracker_families_register(struct tracker_families *f, struct metric_registry *r)
{
	const char *fn = "function", *ver = "version";

	f->invocations = fam(r, "vigil_invocations_total", "Invocations finished.", METRIC_COUNTER,
			     NULL, fn, ver, "cold_start", "status");
	f->errors = fam(r, "vigil_errors_total", "Invocations that failed, by error type.",
			METRIC_COUNTER, NULL, fn, ver, "error_type", NULL);
	f->timeouts = fam(r, "vigil_timeouts_total", "Invocations that timed out.", METRIC_COUNTER,
			  NULL, fn, ver, NULL, NULL);
	f->cold_starts = fam(r, "vigil_cold_starts_total", "Invocations that were cold starts.",
			     METRIC_COUNTER, NULL, fn, ver, NULL, NULL);
	f->oom = fam(r, "vigil_out_of_memory_total", "Invocations that ran out of memory.",
		     METRIC_COUNTER, NULL, fn, ver, NULL, NULL);
	f->cpu = fam(r, "vigil_cpu_seconds_total", "CPU time of the function's processes.",
		     METRIC_COUNTER, "seconds", fn, ver, "mode", NULL);
	f->net = fam(r, "vigil_network_bytes_total", "Network bytes of the environment.",
		     METRIC_COUNTER, "bytes", fn, ver, "direction", NULL);
	f->cost = fam(r, "vigil_estimated_cost_usd_total",
		      "Estimated cost: billed GB-seconds and requests at the configured prices.",
		      METRIC_COUNTER, NULL, fn, ver, NULL, NULL);
	f->logs = fam(r, "vigil_log_records_total", "Log records of the function, by level.",
		      METRIC_COUNTER, NULL, fn, ver, "level", NULL);
	f->duration = fam(r, "vigil_invocation_duration_seconds", "Duration, as Lambda reports it.",
			  METRIC_HISTOGRAM, "seconds", fn, ver, "cold_start", NULL);
	f->billed = fam(r, "vigil_billed_duration_seconds", "Billed duration.", METRIC_HISTOGRAM,
			"seconds", fn, ver, NULL, NULL);
	f->init = fam(r, "vigil_init_duration_seconds",
		      "Init duration of cold starts (managed instances: of each environment).",
		      METRIC_HISTOGRAM, "seconds", fn, ver, "init_type", NULL);
	f->post_runtime = fam(r, "vigil_post_runtime_duration_seconds",
			      "Extensions' time after the runtime's answer (part of Duration).",
			      METRIC_HISTOGRAM, "seconds", fn, ver, NULL, NULL);
	f->latency = fam(r, "vigil_response_latency_seconds",
			 "From invoke to the runtime's first response byte.", METRIC_HISTOGRAM,
			 "seconds", fn, ver, "response_mode", NULL);
	f->response_duration = fam(r, "vigil_response_duration_seconds",
				   "From the runtime's first response byte to its last (a stream's "
				   "whole length).", METRIC_HISTOGRAM, "seconds", fn, ver,
				   "response_mode", NULL);
	f->response_bytes = fam(r, "vigil_response_bytes", "Response size the runtime produced.",
				METRIC_HISTOGRAM, "bytes", fn, ver, "response_mode", NULL);
	f->in_flight = fam(r, "vigil_invocations_in_flight",
			   "Invocations begun and not yet reported (managed instances: running "
			   "at once).", METRIC_GAUGE, NULL, fn, ver, NULL, NULL);
	f->restore = fam(r, "vigil_restore_duration_seconds",
			 "SnapStart: restore duration (platform.restoreReport).", METRIC_HISTOGRAM,
			 "seconds", fn, ver, NULL, NULL);
	f->restores = fam(r, "vigil_restores_total", "SnapStart restores, by status.",
			  METRIC_COUNTER, NULL, fn, ver, "status", NULL);
	f->utilization = fam(r, "vigil_memory_utilization_ratio",
			     "Max memory used over memory size.", METRIC_HISTOGRAM, "ratio", fn, ver,
			     NULL, NULL);
	f->memory = fam(r, "vigil_max_memory_used_bytes", "Max memory used.", METRIC_HISTOGRAM,
			"bytes", fn, ver, NULL, NULL);
	return f->invocations && f->errors && f->timeouts && f->cold_starts && f->oom && f->cpu &&
	       f->net && f->cost && f->logs && f->duration && f->billed && f->init &&
	       f->post_runtime && f->latency && f->utilization && f->memory && f->in_flight &&
	       f->restore && f->restores && f->response_duration && f->response_bytes ? 0 :
											  -ENOMEM;
}

const char *report_status_name(enum report_status s)
{
	static const char *const names[] = { "success", "error", "timeout", "failure" };

	return names[s];
}

void tracker_families_observe(const struct tracker_families *f,
			      const struct invocation_report *r)
{
	const char *cold = r->cold_start ? "true" : "false";
	const char *mode = !r->mode_known ? "unknown" : r->streaming ? "streaming" : "buffered";
	static const char *const levels[LEVEL_COUNT] = { "trace", "debug", "info", "warn", "error",
							 "fatal" };

	metric_inc(metric_with(f->invocations, r->function_name, r->version, cold,
			       report_status_name(r->status)));
	if (r->status != REPORT_SUCCESS)
		metric_inc(metric_with(f->errors, r->function_name, r->version,
				       r->error_type[0] ? r->error_type : "Unknown"));
	if (r->status == REPORT_TIMEOUT)
		metric_inc(metric_with(f->timeouts, r->function_name, r->version));
	if (r->cold_start)
		metric_inc(metric_with(f->cold_starts, r->function_name, r->version));
	if (r->oom)
		metric_inc(metric_with(f->oom, r->function_name, r->version));
	if (r->has_resources) {
		metric_add(metric_with(f->cpu, r->function_name, r->version, "user"),
			   r->cpu_user_s);
		metric_add(metric_with(f->cpu, r->function_name, r->version, "system"),
			   r->cpu_system_s);
		metric_add(metric_with(f->net, r->function_name, r->version, "rx"),
			   (double)r->net_rx_bytes);
		metric_add(metric_with(f->net, r->function_name, r->version, "tx"),
			   (double)r->net_tx_bytes);
	}
	metric_add(metric_with(f->cost, r->function_name, r->version), r->cost_usd);
	for (int i = 0; i < LEVEL_COUNT; i++) {
		if (r->log_records[i])
			metric_add(metric_with(f->logs, r->function_name, r->version, levels[i]),
				   (double)r->log_records[i]);
	}
	if (r->duration_ms >= 0)
		metric_observe(metric_with(f->duration, r->function_name, r->version, cold),
			       r->duration_ms / 1000.0);
	if (r->billed_ms >= 0)
		metric_observe(metric_with(f->billed, r->function_name, r->version),
			       (double)r->billed_ms / 1000.0);
	if (r->init_duration_ms >= 0)
		metric_observe(metric_with(f->init, r->function_name, r->version,
					   r->init_type[0] ? r->init_type : "on-demand"),
			       r->init_duration_ms / 1000.0);
	if (r->post_runtime_ms >= 0)
		metric_observe(metric_with(f->post_runtime, r->function_name, r->version),
			       r->post_runtime_ms / 1000.0);
	if (r->response_latency_ms > 0)
		metric_observe(metric_with(f->latency, r->function_name, r->version, mode),
			       r->response_latency_ms / 1000.0);
	if (r->response_duration_ms > 0)
		metric_observe(metric_with(f->response_duration, r->function_name, r->version,
					   mode), r->response_duration_ms / 1000.0);
	if (r->produced_bytes >= 0)
		metric_observe(metric_with(f->response_bytes, r->function_name, r->version, mode),
			       (double)r->produced_bytes);
	if (r->complete && r->memory_size_mb > 0 && !report_managed(r)) {
		metric_observe(metric_with(f->utilization, r->function_name, r->version),
			       (double)r->max_memory_used_mb / (double)r->memory_size_mb);
		metric_observe(metric_with(f->memory, r->function_name, r->version),
			       (double)r->max_memory_used_mb * 1024 * 1024);
	}
}
