/*
 * The invocation tracker: correlates, by request id, every event of an invocation (the
 * Extensions API's INVOKE, the Telemetry API's platform events and log records, SHUTDOWN)
 * into one invocation report, tolerating events out of order, twice, or never. Thread-safe:
 * sources feed it from their threads; exporters take finished reports.
 */
#ifndef VIGIL_TRACKER_H
#define VIGIL_TRACKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "metrics.h"

#define INIT_TYPE_MI "lambda-managed-instances"	/* AWS_LAMBDA_INITIALIZATION_TYPE */

enum report_status { REPORT_SUCCESS, REPORT_ERROR, REPORT_TIMEOUT, REPORT_FAILURE };

/* A part of a cold start's init: its name ("runtime", "extension NAME", Lambda's
 * "runtimeInit"…), start (ms after the init began) and duration (ms; 0: an instant). */
#define REPORT_PHASES 8
struct report_phase {
	char name[64];
	double start_ms, duration_ms;
};
enum { LEVEL_TRACE, LEVEL_DEBUG, LEVEL_INFO, LEVEL_WARN, LEVEL_ERROR, LEVEL_FATAL, LEVEL_COUNT };

struct invocation_report {
	struct invocation_report *next;
	char request_id[64];
	char function_name[128];
	char version[64];
	char trace_id[192];
	char trigger[16];		/* faas.trigger (http, other), "" unknown */
	int64_t start_ms;		/* epoch ms: INVOKE or platform.start */
	bool cold_start;
	char init_type[32];		/* on-demand, provisioned-concurrency, snap-start,
					 * lambda-managed-instances (AWS_LAMBDA_INITIALIZATION_TYPE) */
	char tenant_id[128];		/* tenant isolation: the tenant ("" none) */
	double restore_duration_ms;	/* > 0: the first after a SnapStart restore */
	char restore_status[16];	/* …and how the restore went ("" none) */
	bool streaming;			/* answered in streaming response mode */
	bool mode_known;		/* …as the proxy or the platform saw (the Telemetry API
					 * does not say) */
	bool durable;			/* a durable function (its runtime version says) */
	double init_duration_ms;	/* < 0: none */
	int64_t init_start_ms;		/* epoch ms the init began (0: unknown) */
	struct report_phase phases[REPORT_PHASES];	/* the init's parts, as far as known */
	unsigned nphases;
	double duration_ms;		/* platform.report (< 0 unknown) */
	int64_t billed_ms;
	double runtime_ms;		/* platform.runtimeDone durationMs */
	double post_runtime_ms;		/* extensionOverhead span, or duration - runtime */
	long memory_size_mb;
	long max_memory_used_mb;
	enum report_status status;
	char error_type[128];
	bool oom;
	double response_latency_ms, response_duration_ms;
	int64_t produced_bytes;
	uint64_t log_records[LEVEL_COUNT];
	uint64_t log_bytes;
	double cost_usd;
	/* resources, from /proc, over the invocation */
	double cpu_user_s, cpu_system_s;
	uint64_t net_rx_bytes, net_tx_bytes, tmp_used_bytes;
	long fds, threads;
	bool has_resources;		/* the fields above were sampled (not on vigil host) */
	/* from the Runtime API proxy, when it runs */
	double handler_ms;		/* /next delivery → the runtime's answer (< 0 unknown) */
	int64_t answer_bytes;		/* < 0 unknown */
	char error_message[257];
	bool complete;			/* platform.report arrived (else: finished at shutdown) */
	unsigned seen;			/* which events arrived (TRACK_*) */
	double done_at;			/* monotonic */
};

enum { TRACK_INVOKE = 1, TRACK_START = 2, TRACK_RUNTIME_DONE = 4, TRACK_REPORT = 8 };

/* Whether r ran on Lambda Managed Instances: memory, CPU and billing are the environment's
 * there, not one invocation's. */
static inline bool report_managed(const struct invocation_report *r)
{
	return __builtin_strcmp(r->init_type, INIT_TYPE_MI) == 0;
}

struct tracker_prices {
	double gb_second;
	double per_request;
};

struct tracker;

/* A tracker for one function; registry may be NULL (no Prometheus families). */
struct tracker *tracker_new(const char *function_name, const char *version, long memory_mb,
			    const struct tracker_prices *prices, struct metric_registry *registry);
void tracker_destroy(struct tracker *t);

/* The Extensions API's INVOKE. */
void tracker_invoke(struct tracker *t, const char *request_id, int64_t deadline_ms,
		    const char *trace_value);
/* One Telemetry API event: its type and record (object, or string for log records).
 * 0; -EINVAL for a record that does not fit its type (missing or mistyped fields); -ENOENT
 * for an unknown type. Both are ignored and counted. */
struct json_t;
int tracker_event(struct tracker *t, const char *type, struct json_t *record, int64_t time_ms);
/* A log record a source has read itself (LEVEL_*; rid "" when it names none: the invocation in
 * flight's; text its message, n bytes): counted as a "function" event's record is. */
void tracker_count_log(struct tracker *t, const char *rid, int level, const char *text,
		       size_t n);
/* For a source that is the platform itself (vigil host: its environments run side by side,
 * and it measures what it would send as platform events). */
/* A line the function printed during invocation request_id: counted by level as a Telemetry
 * "function" record is (Lambda's JSON keys, Node's and Python's text formats; a JSON line's
 * own requestId wins); a line that names Lambda's out-of-memory errors marks it OOM. */
void tracker_log_line(struct tracker *t, const char *request_id, const char *line, size_t n);
/* A finished invocation as the platform measured it: request_id, trace_id, trigger, start_ms,
 * cold_start, init_duration_ms, init_start_ms, phases, duration_ms, runtime_ms, post_runtime_ms, memory_size_mb,
 * max_memory_used_mb, status, error_type, response_latency_ms, response_duration_ms and
 * produced_bytes are taken from r; the lines already counted for it stay. Finished (billing,
 * cost, OOM) and exported as the reports built from events are. */
void tracker_add_report(struct tracker *t, const struct invocation_report *r);
/* The proxy's figures for an invocation (error_type and message NULL on a response). */
void tracker_proxy(struct tracker *t, const char *request_id, double handler_ms,
		   uint64_t answer_bytes, const char *error_type, const char *message,
		   bool streaming);
/* The environment's initialization type (AWS_LAMBDA_INITIALIZATION_TYPE; platform.initStart's
 * initializationType also sets it). Managed instances ("lambda-managed-instances"):
 * invocations overlap, none is a cold start (the environment's init is observed by itself),
 * log records without a request id belong to none, and billing is the instance's. */
void tracker_set_mode(struct tracker *t, const char *init_type);
bool tracker_managed(struct tracker *t);
/* SnapStart restores seen (platform.restoreStart): a source that keeps identities made
 * before the snapshot renews them when this changes. */
unsigned tracker_restores(struct tracker *t);
/* Tenant isolation: a tenant label on vigil_tenant_invocations_total, for at most max
 * tenants (past it: "other", counted in vigil_tenants_over_limit_total). Off (0) unless the
 * configuration asks: one series per tenant can be many. */
void tracker_tenant_label(struct tracker *t, unsigned max);
/* SHUTDOWN: what is open finishes, as timeout or failure when the reason says so. */
void tracker_shutdown(struct tracker *t, const char *reason);
/* The request in flight (for log lines that do not name theirs), "" when none. */
void tracker_current(struct tracker *t, char *out, size_t n);
/* The invocation whose trace header names trace_id — open ones and the last 256 finished —
 * for a span that began at at_ms (epoch ms, 0 unknown): the one nearest that time (running
 * then), the latest of equals. Its request id into rid, its header's parent (the caller's span) into parent
 * and *has_parent. false when none. */
bool tracker_trace_owner(struct tracker *t, const uint8_t trace_id[16], int64_t at_ms, char *rid,
			 size_t n, uint8_t parent[8], bool *has_parent);
/* The same over every invocation known when trace_id is NULL, and only one at most max_ms from
 * at_ms. */
bool tracker_owner(struct tracker *t, const uint8_t *trace_id, int64_t at_ms, int64_t max_ms,
		   char *rid, size_t n, uint8_t parent[8], bool *has_parent);
/* Whether every invocation that could have been running at at_ms (epoch ms; 0 unknown: true)
 * is known — one at a time: false while at_ms may belong to one the extension has not heard of
 * yet (its INVOKE still on the way), i.e. unless the newest one known began after at_ms or
 * ended before it, by the platform's times. */
bool tracker_settled(struct tracker *t, int64_t at_ms);
/* The environment's cold start as the platform reported it: its init and the invocation that
 * followed (for the cold-start record, core/coldstart.h). */
struct tracker_cold_start {
	int64_t init_start_ms;		/* epoch ms (0: unknown) */
	double init_ms;
	char init_type[32];
	char request_id[64];
	char trace_id[192];		/* …its trace header ("" none) */
	int64_t start_ms;		/* the first invocation: epoch ms, and its duration */
	double duration_ms;
};
/* The cold start, once, after its invocation's report finished: true and *out filled. */
bool tracker_take_cold_start(struct tracker *t, struct tracker_cold_start *out);
/* Open invocations still waiting for their report. */
unsigned tracker_open(struct tracker *t);

/* Whether finished reports wait to be taken. */
bool tracker_has_done(struct tracker *t);
/* Take the finished reports (oldest first); the caller frees each with free(). */
struct invocation_report *tracker_take(struct tracker *t);
/* Update the registry's invocation families from a finished report. */
void tracker_observe(struct tracker *t, const struct invocation_report *r);
/* Export: take the finished reports, observe each into the registry, hand them to the sinks
 * (in chunks) and flush the sinks by deadline_ms. The number exported. One caller at a time. */
struct sink_set;
size_t tracker_export(struct tracker *t, struct sink_set *sinks, int64_t deadline_ms);

/* Resource sampling (/proc) for the next finished report. */
void tracker_set_resources(struct tracker *t, double cpu_user, double cpu_system,
			   uint64_t rx, uint64_t tx, uint64_t tmp_used, long fds, long threads);

/* Counters for tests and the agent's metrics. */
struct tracker_stats {
	uint64_t events, rejected, unknown, duplicates, orphans, evicted;
};
void tracker_stats(struct tracker *t, struct tracker_stats *out);

#define TRACKER_MAX_OPEN 1000

#endif
