/* The invocation tracker. See tracker.h. */
#include "tracker.h"

#include "log_level.h"
#include "sink.h"
#include "tracker_families.h"
#include "../util/clock.h"
#include "../util/tracectx.h"

#include <ctype.h>
#include <math.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define RECENT 256	/* finished ids remembered, to spot duplicates and late events */
#define SPARE 16	/* exported reports kept for the next ones (no malloc per invocation) */

struct tracker {
	pthread_mutex_t lock;
	char function_name[128], version[64];
	long memory_mb;
	struct tracker_prices prices;
	struct invocation_report *open, *done, *done_tail;
	unsigned nopen;
	char recent[RECENT][64];
	uint32_t recent_hash[RECENT];	/* each id's hash: compared before the id */
	struct {
		uint8_t trace[16], parent[8];
		bool has_trace, has_parent;
		int64_t start_ms, end_ms;	/* when it ran */
		bool precise;			/* start_ms is the platform's */
	} recent_trace[RECENT];
	unsigned recent_next;
	struct invocation_report *spare;	/* exported reports kept for reuse (SPARE) */
	unsigned nspare;
	char current[64];		/* the request in flight, for log records without an id */
	bool pending_cold;
	double pending_init_ms;
	int64_t pending_init_start;		/* platform.initStart's time */
	struct report_phase pending_phases[REPORT_PHASES];
	unsigned pending_nphases;
	char init_type[32];
	bool managed;			/* Lambda Managed Instances: overlapping invocations */
	bool durable;			/* a durable function's runtime */
	unsigned restores;		/* platform.restoreStart seen */
	double pending_restore_ms;	/* the restore's, for the next invocation (<= 0 none) */
	char pending_restore_status[16];
	struct metric_registry *registry;
	struct metric_series *in_flight;
	/* tenant label (tracker_tenant_label): the tenants labelled so far */
	struct metric_family *tenant_invocations;
	struct metric_series *tenants_over;
	unsigned tenant_max, ntenants;
	uint32_t *tenant_hash;
	struct tracker_cold_start cold;	/* the cold start's facts… */
	bool cold_seen, cold_taken;	/* …kept, and taken */
	struct tracker_stats stats;
	/* resources: the last cumulative sample, and reports finished since */
	bool have_sample;
	double cpu_user, cpu_system;
	uint64_t rx, tx;
	struct tracker_families f;
	bool has_families;
};

struct tracker *tracker_new(const char *function_name, const char *version, long memory_mb,
			    const struct tracker_prices *prices, struct metric_registry *registry)
{
	struct tracker *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	pthread_mutex_init(&t->lock, NULL);
	snprintf(t->function_name, sizeof(t->function_name), "%s", function_name);
	snprintf(t->version, sizeof(t->version), "%s", version);
	t->memory_mb = memory_mb;
	t->prices = *prices;
	t->pending_init_ms = -1;
	t->registry = registry;
	if (registry) {
		t->has_families = tracker_families_register(&t->f, registry) == 0;
		/* Counters of rare events exist at 0 from the start: an environment that times out
		 * or runs out of memory ends right after, and a counter first seen at 1 in its
		 * last scrape or push would show no increase at all. */
		if (t->has_families) {
			metric_add(metric_with(t->f.timeouts, t->function_name, t->version), 0);
			metric_add(metric_with(t->f.oom, t->function_name, t->version), 0);
			metric_add(metric_with(t->f.cold_starts, t->function_name, t->version), 0);
			t->in_flight = metric_with(t->f.in_flight, t->function_name, t->version);
		}
	}
	return t;
}

static void free_list(struct invocation_report *r)
{
	while (r) {
		struct invocation_report *next = r->next;

		free(r);
		r = next;
	}
}

void tracker_destroy(struct tracker *t)
{
	if (!t)
		return;
	free_list(t->open);
	free_list(t->done);
	free_list(t->spare);
	free(t->tenant_hash);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

static uint32_t id_hash(const char *id)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (; *id; id++)
		h = (h ^ (uint8_t)*id) * 16777619u;
	return h;
}

static bool recently_done(const struct tracker *t, const char *id)
{
	uint32_t h = id_hash(id);

	for (unsigned i = 0; i < RECENT; i++) {
		if (t->recent_hash[i] == h && t->recent[i][0] && strcmp(t->recent[i], id) == 0)
			return true;
	}
	return false;
}

static void finish_locked(struct tracker *t, struct invocation_report *r);

static void set_mode_locked(struct tracker *t, const char *init_type)
{
	snprintf(t->init_type, sizeof(t->init_type), "%s", init_type);
	t->managed = strcmp(init_type, INIT_TYPE_MI) == 0;
	if (t->managed)
		t->current[0] = '\0';
}

/* The open report of id, created on first sight (events may come in any order). */
static struct invocation_report *entry(struct tracker *t, const char *id)
{
	struct invocation_report *r, **pp;

	for (r = t->open; r; r = r->next) {
		if (strcmp(r->request_id, id) == 0)
			return r;
	}
	if (recently_done(t, id))
		return NULL;
	if (t->nopen >= TRACKER_MAX_OPEN) {
		/* Never unbounded: the oldest open report finishes as it is. */
		for (pp = &t->open; (*pp)->next; pp = &(*pp)->next)
			;
		r = *pp;
		*pp = NULL;
		t->nopen--;
		metric_set(t->in_flight, t->nopen);
		t->stats.evicted++;
		finish_locked(t, r);
	}
	if (t->spare) {
		r = t->spare;
		t->spare = r->next;
		t->nspare--;
		memset(r, 0, sizeof(*r));
	} else {
		r = calloc(1, sizeof(*r));
		if (!r)
			return NULL;
	}
	snprintf(r->request_id, sizeof(r->request_id), "%s", id);
	snprintf(r->function_name, sizeof(r->function_name), "%s", t->function_name);
	snprintf(r->version, sizeof(r->version), "%s", t->version);
	r->init_duration_ms = -1;
	r->duration_ms = -1;
	r->runtime_ms = -1;
	r->post_runtime_ms = -1;
	r->billed_ms = -1;
	r->memory_size_mb = t->memory_mb;
	r->produced_bytes = -1;
	r->handler_ms = -1;
	r->answer_bytes = -1;
	r->start_ms = clock_epoch_ms();
	snprintf(r->init_type, sizeof(r->init_type), "%s", t->init_type[0] ? t->init_type :
			 "on-demand");
	r->durable = t->durable;
	r->next = t->open;
	t->open = r;
	t->nopen++;
	metric_set(t->in_flight, t->nopen);
	return r;
}

static enum report_status parse_status(const char *s)
{
	if (!s || strcmp(s, "success") == 0)
		return REPORT_SUCCESS;
	if (strcmp(s, "timeout") == 0)
		return REPORT_TIMEOUT;
	if (strcmp(s, "failure") == 0)
		return REPORT_FAILURE;
	return REPORT_ERROR;
}

static int64_t billed(double duration_ms, double init_ms, double restore_ms)
{
	int64_t us = (int64_t)(duration_ms * 1000.0 + 0.5);

	/* SnapStart: ceil(Duration + Billed Restore Duration), the latter itself whole ms */
	if (restore_ms > 0)
		us += (int64_t)ceil(restore_ms) * 1000;
	if (init_ms > 0)
		us += (int64_t)(init_ms * 1000.0 + 0.5);
	return (us + 999) / 1000;
}

static void finish_locked(struct tracker *t, struct invocation_report *r)
{
	/* Managed instances bill the instance, not the invocation's milliseconds. */
	if (r->billed_ms < 0 && r->duration_ms >= 0 && strcmp(r->init_type, INIT_TYPE_MI) != 0)
		r->billed_ms = billed(r->duration_ms, r->init_duration_ms, r->restore_duration_ms);
	if (r->post_runtime_ms < 0 && r->duration_ms >= 0 && r->runtime_ms >= 0)
		r->post_runtime_ms = r->duration_ms > r->runtime_ms ? r->duration_ms - r->runtime_ms : 0;
	if (strcmp(r->error_type, "Runtime.OutOfMemory") == 0 ||
	    (r->memory_size_mb > 0 && r->max_memory_used_mb >= r->memory_size_mb))
		r->oom = true;
	if (r->oom && !r->error_type[0])
		snprintf(r->error_type, sizeof(r->error_type), "Runtime.OutOfMemory");
	r->cost_usd = t->prices.per_request;
	if (r->billed_ms > 0)
		r->cost_usd += (double)r->billed_ms / 1000.0 * (double)r->memory_size_mb / 1024.0 *
			       t->prices.gb_second;
	r->done_at = clock_mono_s();
	if (r->cold_start && r->init_duration_ms >= 0 && !t->cold_seen) {
		t->cold_seen = true;
		t->cold.init_start_ms = r->init_start_ms;
		t->cold.init_ms = r->init_duration_ms;
		snprintf(t->cold.init_type, sizeof(t->cold.init_type), "%s", r->init_type);
		snprintf(t->cold.request_id, sizeof(t->cold.request_id), "%s", r->request_id);
		snprintf(t->cold.trace_id, sizeof(t->cold.trace_id), "%s", r->trace_id);
		t->cold.start_ms = r->start_ms;
		t->cold.duration_ms = r->duration_ms;
	}
	snprintf(t->recent[t->recent_next], sizeof(t->recent[0]), "%s", r->request_id);
	t->recent_hash[t->recent_next] = id_hash(r->request_id);
	{
		int sampled;
		__typeof__(t->recent_trace[0]) *rt = &t->recent_trace[t->recent_next];

		double ran = r->duration_ms > r->runtime_ms ? r->duration_ms : r->runtime_ms;

		rt->has_trace = r->trace_id[0] &&
				trace_context(r->trace_id, rt->trace, rt->parent, &rt->has_parent,
					      &sampled);
		rt->start_ms = r->start_ms;
		/* (without its durations: it was over by now) */
		rt->end_ms = ran > 0 ? r->start_ms + (int64_t)ran + 1 : clock_epoch_ms();
		rt->precise = (r->seen & TRACK_START) || r->duration_ms >= 0;
	}
	t->recent_next = (t->recent_next + 1) % RECENT;
	if (strcmp(t->current, r->request_id) == 0)
		t->current[0] = '\0';
	r->next = NULL;
	if (t->done_tail)
		t->done_tail->next = r;
	else
		t->done = r;
	t->done_tail = r;
}

static void unlink_open(struct tracker *t, struct invocation_report *r)
{
	for (struct invocation_report **pp = &t->open; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			t->nopen--;
			metric_set(t->in_flight, t->nopen);
			return;
		}
	}
}

void tracker_invoke(struct tracker *t, const char *request_id, int64_t deadline_ms,
		    const char *trace_value)
{
	struct invocation_report *r;

	(void)deadline_ms;
	pthread_mutex_lock(&t->lock);
	r = entry(t, request_id);
	if (r) {
		r->seen |= TRACK_INVOKE;
		if (trace_value && !r->trace_id[0])
			snprintf(r->trace_id, sizeof(r->trace_id), "%s", trace_value);
		if (!t->managed)
			snprintf(t->current, sizeof(t->current), "%s", request_id);
	}
	pthread_mutex_unlock(&t->lock);
}

void tracker_proxy(struct tracker *t, const char *request_id, double handler_ms,
		   uint64_t answer_bytes, const char *error_type, const char *message,
		   bool streaming)
{
	struct invocation_report *r;

	pthread_mutex_lock(&t->lock);
	r = entry(t, request_id);
	if (r) {
		r->streaming = streaming;
		r->mode_known = true;
		r->handler_ms = handler_ms;
		r->answer_bytes = (int64_t)answer_bytes;
		if (error_type && !r->error_type[0])
			snprintf(r->error_type, sizeof(r->error_type), "%s", error_type);
		if (message)
			snprintf(r->error_message, sizeof(r->error_message), "%s", message);
	} else {
		t->stats.orphans++;
	}
	pthread_mutex_unlock(&t->lock);
}

static double num(json_t *o, const char *key, double def)
{
	json_t *v = json_object_get(o, key);

	return json_is_number(v) ? json_number_value(v) : def;
}

static void read_spans(struct invocation_report *r, json_t *spans)
{
	json_t *span;
	size_t i;

	json_array_foreach(spans, i, span) {
		const char *name = json_string_value(json_object_get(span, "name"));
		double d = num(span, "durationMs", -1);

		if (!name || d < 0)
			continue;
		if (strcmp(name, "responseLatency") == 0)
			r->response_latency_ms = d;
		else if (strcmp(name, "responseDuration") == 0)
			r->response_duration_ms = d;
		else if (strcmp(name, "extensionOverhead") == 0)
			r->post_runtime_ms = d;
	}
}

static void read_tracing(struct invocation_report *r, json_t *rec)
{
	const char *v = json_string_value(json_object_get(json_object_get(rec, "tracing"), "value"));
	const char *tenant = json_string_value(json_object_get(rec, "tenantId"));

	if (v && !r->trace_id[0])
		snprintf(r->trace_id, sizeof(r->trace_id), "%s", v);
	if (tenant && *tenant && !r->tenant_id[0])
		snprintf(r->tenant_id, sizeof(r->tenant_id), "%s", tenant);
}

/* One log record of invocation rid (else the one in flight when use_current): its level, its
 * message's bytes, and whether it tells of an out-of-memory error. */
static void count_log(struct tracker *t, const char *rid, bool use_current, int level,
		      const char *text, size_t bytes)
{
	struct invocation_report *r;

	if (!rid[0] && use_current)
		rid = t->current;
	if (!rid[0])
		return;		/* init-time logs: no invocation to charge */
	r = entry(t, rid);
	if (!r) {
		t->stats.orphans++;
		return;
	}
	r->log_records[level]++;
	r->log_bytes += bytes;
	if (text && log_line_oom(text, bytes))
		r->oom = true;
}

static void log_record(struct tracker *t, json_t *record)
{
	char rid[64] = "";
	int level = LEVEL_INFO;
	const char *text = NULL;
	size_t bytes;

	if (json_is_string(record)) {
		text = json_string_value(record);
		bytes = json_string_length(record);
		log_text_line(text, bytes, &level, rid, sizeof(rid));
	} else {
		const char *lv = json_string_value(json_object_get(record, "level"));
		const char *id = json_string_value(json_object_get(record, "requestId"));
		const char *msg = json_string_value(json_object_get(record, "message"));

		if (lv && log_level_of(lv, strlen(lv)) >= 0)
			level = log_level_of(lv, strlen(lv));
		if (id)
			snprintf(rid, sizeof(rid), "%s", id);
		text = msg;
		bytes = msg ? strlen(msg) : 0;
	}
	count_log(t, rid, true, level, text, bytes);
}

void tracker_count_log(struct tracker *t, const char *rid, int level, const char *text,
		       size_t n)
{
	pthread_mutex_lock(&t->lock);
	t->stats.events++;
	count_log(t, rid, true, level, text, n);
	pthread_mutex_unlock(&t->lock);
}

void tracker_log_line(struct tracker *t, const char *request_id, const char *line, size_t n)
{
	char rid[64] = "";
	int level = LEVEL_INFO;
	struct jval msg = { .type = J_NONE };

	pthread_mutex_lock(&t->lock);
	t->stats.events++;
	if (n && line[0] == '{') {
		log_json_line(line, n, &level, rid, sizeof(rid), &msg);
		if (msg.type == J_STRING)
			line = msg.p, n = msg.n;
	} else {
		log_text_line(line, n, &level, rid, sizeof(rid));
	}
	if (!rid[0] && request_id)
		snprintf(rid, sizeof(rid), "%s", request_id);
	count_log(t, rid, false, level, line, n);
	pthread_mutex_unlock(&t->lock);
}

void tracker_add_report(struct tracker *t, const struct invocation_report *m)
{
	struct invocation_report *r;

	pthread_mutex_lock(&t->lock);
	t->stats.events++;
	r = entry(t, m->request_id);
	if (!r) {
		t->stats.duplicates++;
		pthread_mutex_unlock(&t->lock);
		return;
	}
	r->seen |= TRACK_START | TRACK_RUNTIME_DONE | TRACK_REPORT;
	r->complete = true;
	snprintf(r->trace_id, sizeof(r->trace_id), "%s", m->trace_id);
	snprintf(r->trigger, sizeof(r->trigger), "%s", m->trigger);
	r->start_ms = m->start_ms;
	r->cold_start = m->cold_start;
	r->init_duration_ms = m->init_duration_ms;
	r->init_start_ms = m->init_start_ms;
	r->nphases = m->nphases < REPORT_PHASES ? m->nphases : REPORT_PHASES;
	memcpy(r->phases, m->phases, r->nphases * sizeof(r->phases[0]));
	r->duration_ms = m->duration_ms;
	r->runtime_ms = m->runtime_ms;
	r->post_runtime_ms = m->post_runtime_ms;
	r->memory_size_mb = m->memory_size_mb;
	r->max_memory_used_mb = m->max_memory_used_mb;
	r->status = m->status;
	snprintf(r->error_type, sizeof(r->error_type), "%s", m->error_type);
	r->response_latency_ms = m->response_latency_ms;
	r->response_duration_ms = m->response_duration_ms;
	r->produced_bytes = m->produced_bytes;
	r->restore_duration_ms = m->restore_duration_ms;
	snprintf(r->restore_status, sizeof(r->restore_status), "%s", m->restore_status);
	snprintf(r->tenant_id, sizeof(r->tenant_id), "%s", m->tenant_id);
	r->streaming = m->streaming;
	r->mode_known = m->mode_known;
	if (m->init_type[0])
		snprintf(r->init_type, sizeof(r->init_type), "%s", m->init_type);
	unlink_open(t, r);
	finish_locked(t, r);
	pthread_mutex_unlock(&t->lock);
}

/* platform.start: the invocation begins (a cold start when an init came before it). */
static void on_start(struct tracker *t, struct invocation_report *r, json_t *record,
		     int64_t time_ms)
{
	json_t *version = json_object_get(record, "version");

	r->seen |= TRACK_START;
	if (time_ms > 0)
		r->start_ms = time_ms;
	if (json_is_string(version))
		snprintf(r->version, sizeof(r->version), "%s", json_string_value(version));
	if (t->pending_restore_ms > 0) {
		/* The first invocation after a SnapStart restore carries it (not a cold start). */
		r->restore_duration_ms = t->pending_restore_ms;
		snprintf(r->restore_status, sizeof(r->restore_status), "%s",
			 t->pending_restore_status);
		t->pending_restore_ms = 0;
	}
	if (t->pending_cold && !t->managed) {
		r->cold_start = true;
		r->init_duration_ms = t->pending_init_ms;
		r->init_start_ms = t->pending_init_start;
		r->nphases = t->pending_nphases;
		memcpy(r->phases, t->pending_phases, r->nphases * sizeof(r->phases[0]));
		t->pending_cold = false;
		t->pending_init_ms = -1;
		t->pending_init_start = 0;
		t->pending_nphases = 0;
	}
	if (!t->managed)
		snprintf(t->current, sizeof(t->current), "%s", r->request_id);
}

/* The status and error type that platform.runtimeDone and platform.report both carry. */
static void read_status(struct invocation_report *r, json_t *record)
{
	const char *et = json_string_value(json_object_get(record, "errorType"));

	r->status = parse_status(json_string_value(json_object_get(record, "status")));
	if (et)
		snprintf(r->error_type, sizeof(r->error_type), "%s", et);
}

/* platform.runtimeDone: the runtime answered (or failed). */
static void on_runtime_done(struct invocation_report *r, json_t *record)
{
	json_t *m = json_object_get(record, "metrics");

	r->seen |= TRACK_RUNTIME_DONE;
	read_status(r, record);
	r->runtime_ms = num(m, "durationMs", -1);
	r->produced_bytes = (int64_t)num(m, "producedBytes", -1);
	read_spans(r, json_object_get(record, "spans"));
}

/* platform.report: the invocation is over; its report is finished. -EINVAL without metrics. */
static int on_report(struct tracker *t, struct invocation_report *r, json_t *record)
{
	json_t *m = json_object_get(record, "metrics");

	if (!json_is_object(m) || !json_is_number(json_object_get(m, "durationMs")))
		return -EINVAL;
	r->seen |= TRACK_REPORT;
	r->complete = true;
	read_status(r, record);
	r->duration_ms = num(m, "durationMs", -1);
	r->billed_ms = (int64_t)num(m, "billedDurationMs", -1);
	r->memory_size_mb = (long)num(m, "memorySizeMB", (double)t->memory_mb);
	r->max_memory_used_mb = (long)num(m, "maxMemoryUsedMB", 0);
	if (json_is_number(json_object_get(m, "initDurationMs"))) {
		r->init_duration_ms = num(m, "initDurationMs", -1);
		r->cold_start = true;
	}
	if (num(m, "restoreDurationMs", -1) > 0)
		r->restore_duration_ms = num(m, "restoreDurationMs", -1);
	read_spans(r, json_object_get(record, "spans"));
	unlink_open(t, r);
	finish_locked(t, r);
	return 0;
}

/* A platform event of one invocation (start, runtimeDone, report; type without
 * "platform."). 0, -EINVAL or -ENOENT as tracker_event. */
static int invocation_event(struct tracker *t, const char *type, json_t *record,
			    int64_t time_ms)
{
	struct invocation_report *r;
	const char *id;

	if (strcmp(type, "start") != 0 && strcmp(type, "runtimeDone") != 0 &&
	    strcmp(type, "report") != 0) {
		t->stats.unknown++;
		return -ENOENT;	/* a type newer than this code: ignored, counted */
	}
	id = json_string_value(json_object_get(record, "requestId"));
	if (!id || !*id || strlen(id) >= 64)
		return -EINVAL;
	r = entry(t, id);
	if (!r) {
		if (strcmp(type, "report") == 0)
			t->stats.duplicates++;
		else
			t->stats.orphans++;
		return 0;
	}
	read_tracing(r, record);
	if (strcmp(type, "start") == 0)
		on_start(t, r, record, time_ms);
	else if (strcmp(type, "runtimeDone") == 0)
		on_runtime_done(r, record);
	else
		return on_report(t, r, record);
	return 0;
}

/* A part of the pending init, from an event at time_ms lasting duration_ms. */
static void init_phase(struct tracker *t, const char *name, int64_t time_ms, double duration_ms)
{
	struct report_phase *p;

	if (!t->pending_init_start || time_ms <= 0 || t->pending_nphases == REPORT_PHASES)
		return;
	p = &t->pending_phases[t->pending_nphases++];
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->start_ms = (double)(time_ms - t->pending_init_start) - duration_ms;
	p->duration_ms = duration_ms;
	if (p->start_ms < 0)
		p->start_ms = 0;
}

/* A platform event of the environment, not of one invocation (type without "platform."):
 * 1 when it is one (taken in), 0 when it is not. The init's parts as Lambda tells them:
 * initStart → initRuntimeDone is the runtime's init; each platform.extension (an
 * extension registered) an instant. */
static int environment_event(struct tracker *t, const char *type, json_t *record,
			     int64_t time_ms)
{
	if (strcmp(type, "initStart") == 0) {
		const char *it = json_string_value(json_object_get(record, "initializationType"));
		const char *rv = json_string_value(json_object_get(record, "runtimeVersion"));

		if (it && *it)
			set_mode_locked(t, it);
		else if (!t->init_type[0])
			set_mode_locked(t, "on-demand");
		/* [?] durable functions: recognised by their runtime version's name */
		if (rv && strcasestr(rv, "durable"))
			t->durable = true;
		/* Managed instances: no invocation is a cold start. SnapStart: the init is the
		 * snapshot's, not this environment's (its cost is the restore). */
		t->pending_cold = !t->managed && strcmp(t->init_type, "snap-start") != 0;
		t->pending_init_start = time_ms;
		t->pending_nphases = 0;
		return 1;
	}
	if (strcmp(type, "initReport") == 0) {
		t->pending_init_ms = num(json_object_get(record, "metrics"), "durationMs", -1);
		/* The environment's own init, observed by itself where no invocation carries it. */
		if (t->managed && t->pending_init_ms >= 0 && t->has_families)
			metric_observe(metric_with(t->f.init, t->function_name, t->version,
						   t->init_type), t->pending_init_ms / 1000.0);
		return 1;
	}
	if (strcmp(type, "restoreStart") == 0) {
		t->restores++;
		t->pending_restore_ms = 0;
		snprintf(t->pending_restore_status, sizeof(t->pending_restore_status), "success");
		return 1;
	}
	if (strcmp(type, "restoreRuntimeDone") == 0 || strcmp(type, "restoreReport") == 0) {
		const char *st = json_string_value(json_object_get(record, "status"));
		double ms = num(json_object_get(record, "metrics"), "durationMs", -1);

		if (st)
			snprintf(t->pending_restore_status, sizeof(t->pending_restore_status), "%s",
				 st);
		if (strcmp(type, "restoreReport") != 0)
			return 1;
		if (ms >= 0)
			t->pending_restore_ms = ms > 0 ? ms : 0.001;
		if (t->has_families) {
			if (ms >= 0)
				metric_observe(metric_with(t->f.restore, t->function_name,
							   t->version), ms / 1000.0);
			metric_inc(metric_with(t->f.restores, t->function_name, t->version,
					       st ? st : "success"));
		}
		return 1;
	}
	if (strcmp(type, "initRuntimeDone") == 0 && t->pending_init_start && time_ms > 0) {
		init_phase(t, "runtimeInit", time_ms, (double)(time_ms - t->pending_init_start));
		return 1;
	}
	if (strcmp(type, "extension") == 0 && t->pending_init_start) {
		const char *name = json_string_value(json_object_get(record, "name"));
		char what[64];

		snprintf(what, sizeof(what), "extension %.40s registered", name ? name : "?");
		init_phase(t, what, time_ms, 0);
		return 1;
	}
	return strcmp(type, "initRuntimeDone") == 0 || strcmp(type, "extension") == 0 ||
	       strcmp(type, "telemetrySubscription") == 0 || strcmp(type, "logsDropped") == 0 ||
	       strncmp(type, "restore", 7) == 0 || strcmp(type, "end") == 0 ||
	       strcmp(type, "fault") == 0 || strcmp(type, "logsSubscription") == 0;
}

int tracker_event(struct tracker *t, const char *type, json_t *record, int64_t time_ms)
{
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	t->stats.events++;
	if (!type) {
		rc = -EINVAL;
	} else if (strcmp(type, "function") == 0 || strcmp(type, "extension") == 0) {
		if (json_is_string(record) || json_is_object(record))
			log_record(t, record);
		else
			rc = -EINVAL;
	} else if (strncmp(type, "platform.", 9) != 0) {
		t->stats.unknown++;
		rc = -ENOENT;
	} else if (!json_is_object(record)) {
		rc = -EINVAL;
	} else if (!environment_event(t, type + 9, record, time_ms)) {
		rc = invocation_event(t, type + 9, record, time_ms);
	}
	if (rc == -EINVAL)
		t->stats.rejected++;
	pthread_mutex_unlock(&t->lock);
	return rc;
}

void tracker_set_mode(struct tracker *t, const char *init_type)
{
	pthread_mutex_lock(&t->lock);
	set_mode_locked(t, init_type);
	pthread_mutex_unlock(&t->lock);
}

bool tracker_managed(struct tracker *t)
{
	bool m;

	pthread_mutex_lock(&t->lock);
	m = t->managed;
	pthread_mutex_unlock(&t->lock);
	return m;
}

unsigned tracker_restores(struct tracker *t)
{
	unsigned n;

	pthread_mutex_lock(&t->lock);
	n = t->restores;
	pthread_mutex_unlock(&t->lock);
	return n;
}

void tracker_tenant_label(struct tracker *t, unsigned max)
{
	struct metric_desc d = {
		.name = "vigil_tenant_invocations_total",
		.help = "Invocations finished, by tenant (tenant isolation; past the configured "
			"number of tenants: \"other\").",
		.type = METRIC_COUNTER, .labels = { "function", "version", "tenant", "status" } };
	struct metric_desc o = {
		.name = "vigil_tenants_over_limit_total",
		.help = "Invocations of tenants past the labelled limit, counted as \"other\".",
		.type = METRIC_COUNTER, .labels = { "function", "version" } };

	if (!max || !t->registry)
		return;
	pthread_mutex_lock(&t->lock);
	free(t->tenant_hash);
	t->tenant_hash = calloc(max, sizeof(uint32_t));
	t->tenant_max = t->tenant_hash ? max : 0;
	t->ntenants = 0;
	t->tenant_invocations = metric_register(t->registry, &d);
	t->tenants_over = metric_with(metric_register(t->registry, &o), t->function_name,
				      t->version);
	metric_add(t->tenants_over, 0);
	pthread_mutex_unlock(&t->lock);
}

/* The tenant label of a report: its tenant while fewer than tenant_max are labelled (by the
 * hash of its name: two tenants that collide share a count's slot, not a label), else
 * "other". */
static const char *tenant_label(struct tracker *t, const char *tenant)
{
	uint32_t h = id_hash(tenant);

	for (unsigned i = 0; i < t->ntenants; i++) {
		if (t->tenant_hash[i] == h)
			return tenant;
	}
	if (t->ntenants < t->tenant_max) {
		t->tenant_hash[t->ntenants++] = h;
		return tenant;
	}
	metric_inc(t->tenants_over);
	return "other";
}

void tracker_shutdown(struct tracker *t, const char *reason)
{
	pthread_mutex_lock(&t->lock);
	while (t->open) {
		struct invocation_report *r = t->open;

		t->open = r->next;
		t->nopen--;
		if (!(r->seen & TRACK_RUNTIME_DONE) && reason) {
			if (strcasecmp(reason, "timeout") == 0) {
				r->status = REPORT_TIMEOUT;
				snprintf(r->error_type, sizeof(r->error_type), "Sandbox.Timedout");
			} else if (strcasecmp(reason, "failure") == 0) {
				r->status = REPORT_FAILURE;
				if (!r->error_type[0])
					snprintf(r->error_type, sizeof(r->error_type), "%s",
						 r->oom ? "Runtime.OutOfMemory" : "Sandbox.Failure");
			}
		}
		finish_locked(t, r);
	}
	metric_set(t->in_flight, 0);
	pthread_mutex_unlock(&t->lock);
}

void tracker_current(struct tracker *t, char *out, size_t n)
{
	pthread_mutex_lock(&t->lock);
	snprintf(out, n, "%s", t->current);
	pthread_mutex_unlock(&t->lock);
}

/* How far (ms) a span that began at `at` (epoch ms; 0 unknown) is from an invocation that ran
 * [start, end] (end < 0: still open): 0 inside it. The clocks differ by a little (the
 * extension hears of an invocation a moment after the runtime starts it). */
static int64_t distance(int64_t start, int64_t end, int64_t at)
{
	if (!at)
		return 0;
	if (at < start)
		return start - at;
	return end >= 0 && at > end ? at - end : 0;
}

/* The end (epoch ms, rounded up) of an open invocation the runtime is done with, else -1. */
static int64_t open_end(const struct invocation_report *r)
{
	return (r->seen & TRACK_RUNTIME_DONE) && r->runtime_ms >= 0 ?
		       r->start_ms + (int64_t)r->runtime_ms + 1 : -1;
}

struct owner_pick {
	bool found;
	int64_t best, best_start;
};

static bool better(struct owner_pick *p, int64_t d, int64_t start, int64_t max_d)
{
	if (d > max_d || (p->found && (d > p->best || (d == p->best && start <= p->best_start))))
		return false;
	p->found = true;
	p->best = d;
	p->best_start = start;
	return true;
}

bool tracker_owner(struct tracker *t, const uint8_t *trace_id, int64_t at_ms, int64_t max_ms,
		   char *rid, size_t n, uint8_t parent[8], bool *has_parent)
{
	struct owner_pick pick = { 0 };

	/* One trace may hold several invocations (a caller that invokes the function again and
	 * again): the one nearest the span's start (0: it was running then), the latest of
	 * equals. */
	pthread_mutex_lock(&t->lock);
	for (struct invocation_report *r = t->open; r; r = r->next) {
		uint8_t tid[16], p[8] = { 0 };
		bool hp = false, has;
		int sampled;

		has = r->trace_id[0] && trace_context(r->trace_id, tid, p, &hp, &sampled);
		if (trace_id && (!has || memcmp(tid, trace_id, 16) != 0))
			continue;
		if (better(&pick, distance(r->start_ms, open_end(r), at_ms), r->start_ms, max_ms)) {
			snprintf(rid, n, "%s", r->request_id);
			memcpy(parent, p, 8);
			*has_parent = hp;
		}
	}
	for (unsigned i = 0; i < RECENT; i++) {
		__typeof__(t->recent_trace[0]) *rt = &t->recent_trace[i];

		if (!t->recent[i][0] ||
		    (trace_id && (!rt->has_trace || memcmp(rt->trace, trace_id, 16) != 0)))
			continue;
		if (better(&pick, distance(rt->start_ms, rt->end_ms, at_ms), rt->start_ms, max_ms)) {
			snprintf(rid, n, "%s", t->recent[i]);
			memcpy(parent, rt->parent, 8);
			*has_parent = rt->has_parent;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return pick.found;
}

bool tracker_trace_owner(struct tracker *t, const uint8_t trace_id[16], int64_t at_ms, char *rid,
			 size_t n, uint8_t parent[8], bool *has_parent)
{
	return tracker_owner(t, trace_id, at_ms, INT64_MAX, rid, n, parent, has_parent);
}

bool tracker_settled(struct tracker *t, int64_t at_ms)
{
	int64_t start = INT64_MIN, end = -1;
	bool precise = false;

	if (!at_ms)
		return true;
	pthread_mutex_lock(&t->lock);
	/* The newest invocation known: what began at at_ms is one of those known unless it
	 * began after this one's start and after its end (or it has none yet). */
	for (struct invocation_report *r = t->open; r; r = r->next) {
		if (r->start_ms > start) {
			start = r->start_ms;
			end = open_end(r);
			precise = (r->seen & TRACK_START) != 0;
		}
	}
	for (unsigned i = 0; i < RECENT; i++) {
		if (t->recent[i][0] && t->recent_trace[i].start_ms > start) {
			start = t->recent_trace[i].start_ms;
			end = t->recent_trace[i].end_ms;
			precise = t->recent_trace[i].precise;
		}
	}
	pthread_mutex_unlock(&t->lock);
	/* Its start as the extension heard it comes a moment late: only the platform's time
	 * (platform.start) tells. Times in whole ms: before the end by 2 is surely before. */
	return start != INT64_MIN && precise && (at_ms < start || (end >= 0 && at_ms <= end - 2));
}

unsigned tracker_open(struct tracker *t)
{
	unsigned n;

	pthread_mutex_lock(&t->lock);
	n = t->nopen;
	pthread_mutex_unlock(&t->lock);
	return n;
}

bool tracker_has_done(struct tracker *t)
{
	bool has;

	pthread_mutex_lock(&t->lock);
	has = t->done != NULL;
	pthread_mutex_unlock(&t->lock);
	return has;
}

struct invocation_report *tracker_take(struct tracker *t)
{
	struct invocation_report *r;

	pthread_mutex_lock(&t->lock);
	r = t->done;
	t->done = t->done_tail = NULL;
	pthread_mutex_unlock(&t->lock);
	return r;
}

void tracker_set_resources(struct tracker *t, double cpu_user, double cpu_system,
			   uint64_t rx, uint64_t tx, uint64_t tmp_used, long fds, long threads)
{
	struct invocation_report *r;
	unsigned n = 0;

	pthread_mutex_lock(&t->lock);
	for (r = t->done; r; r = r->next)
		n++;
	if (t->have_sample && n) {
		double du = cpu_user > t->cpu_user ? cpu_user - t->cpu_user : 0;
		double ds = cpu_system > t->cpu_system ? cpu_system - t->cpu_system : 0;
		uint64_t drx = rx > t->rx ? rx - t->rx : 0, dtx = tx > t->tx ? tx - t->tx : 0;

		/* Shared evenly between the reports finished since the last sample. */
		for (r = t->done; r; r = r->next) {
			r->cpu_user_s = du / n;
			r->cpu_system_s = ds / n;
			r->net_rx_bytes = drx / n;
			r->net_tx_bytes = dtx / n;
		}
	}
	for (r = t->done; r; r = r->next) {
		r->tmp_used_bytes = tmp_used;
		r->fds = fds;
		r->threads = threads;
		r->has_resources = true;
	}
	if (n || !t->have_sample) {
		t->cpu_user = cpu_user;
		t->cpu_system = cpu_system;
		t->rx = rx;
		t->tx = tx;
		t->have_sample = true;
	}
	pthread_mutex_unlock(&t->lock);
}

void tracker_observe(struct tracker *t, const struct invocation_report *r)
{
	if (t->has_families)
		tracker_families_observe(&t->f, r);
	if (t->tenant_max && r->tenant_id[0]) {
		const char *label;

		pthread_mutex_lock(&t->lock);
		label = tenant_label(t, r->tenant_id);
		metric_inc(metric_with(t->tenant_invocations, r->function_name, r->version, label,
				       report_status_name(r->status)));
		pthread_mutex_unlock(&t->lock);
	}
}

size_t tracker_export(struct tracker *t, struct sink_set *sinks, int64_t deadline_ms)
{
	struct invocation_report *list = tracker_take(t), *items[4096];
	size_t total = 0;

	while (list) {
		size_t n = 0;

		for (; list && n < sizeof(items) / sizeof(items[0]); list = list->next)
			items[n++] = list;
		for (size_t i = 0; i < n; i++)
			tracker_observe(t, items[i]);
		if (sinks)
			sink_set_reports(sinks, items, n);
		pthread_mutex_lock(&t->lock);
		for (size_t i = 0; i < n; i++) {
			if (t->nspare < SPARE) {
				items[i]->next = t->spare;
				t->spare = items[i];
				t->nspare++;
			} else {
				free(items[i]);
			}
		}
		pthread_mutex_unlock(&t->lock);
		total += n;
	}
	if (sinks)
		sink_set_flush(sinks, deadline_ms);
	return total;
}

bool tracker_take_cold_start(struct tracker *t, struct tracker_cold_start *out)
{
	bool take;

	pthread_mutex_lock(&t->lock);
	take = t->cold_seen && !t->cold_taken;
	if (take) {
		t->cold_taken = true;
		*out = t->cold;
	}
	pthread_mutex_unlock(&t->lock);
	return take;
}

void tracker_stats(struct tracker *t, struct tracker_stats *out)
{
	pthread_mutex_lock(&t->lock);
	*out = t->stats;
	pthread_mutex_unlock(&t->lock);
}
