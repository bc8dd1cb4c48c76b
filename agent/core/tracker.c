/* The invocation tracker. See tracker.h. */
#include "tracker.h"

#include "jscan.h"
#include "sink.h"
#include "../util/clock.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define RECENT 256	/* finished ids remembered, to spot duplicates and late events */
#define SPARE 16	/* exported reports kept for the next ones (no malloc per invocation) */

struct families {
	struct metric_family *invocations, *errors, *timeouts, *cold_starts, *oom, *cpu, *net,
		*cost, *logs, *duration, *billed, *init, *post_runtime, *latency, *utilization,
		*memory;
};

struct tracker {
	pthread_mutex_t lock;
	char function_name[128], version[64];
	long memory_mb;
	struct tracker_prices prices;
	struct invocation_report *open, *done, *done_tail;
	unsigned nopen;
	char recent[RECENT][64];
	uint32_t recent_hash[RECENT];	/* each id's hash: compared before the id */
	unsigned recent_next;
	struct invocation_report *spare;	/* exported reports kept for reuse (SPARE) */
	unsigned nspare;
	char current[64];		/* the request in flight, for log records without an id */
	bool pending_cold;
	double pending_init_ms;
	char init_type[32];
	struct tracker_stats stats;
	/* resources: the last cumulative sample, and reports finished since */
	bool have_sample;
	double cpu_user, cpu_system;
	uint64_t rx, tx;
	struct families f;
	bool has_families;
};

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

static void register_families(struct tracker *t, struct metric_registry *r)
{
	struct families *f = &t->f;
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
	f->init = fam(r, "vigil_init_duration_seconds", "Init duration of cold starts.",
		      METRIC_HISTOGRAM, "seconds", fn, ver, NULL, NULL);
	f->post_runtime = fam(r, "vigil_post_runtime_duration_seconds",
			      "Extensions' time after the runtime's answer (part of Duration).",
			      METRIC_HISTOGRAM, "seconds", fn, ver, NULL, NULL);
	f->latency = fam(r, "vigil_response_latency_seconds",
			 "From invoke to the runtime's first response byte.", METRIC_HISTOGRAM,
			 "seconds", fn, ver, NULL, NULL);
	f->utilization = fam(r, "vigil_memory_utilization_ratio",
			     "Max memory used over memory size.", METRIC_HISTOGRAM, "ratio", fn, ver,
			     NULL, NULL);
	f->memory = fam(r, "vigil_max_memory_used_bytes", "Max memory used.", METRIC_HISTOGRAM,
			"bytes", fn, ver, NULL, NULL);
	t->has_families = f->invocations && f->errors && f->timeouts && f->cold_starts && f->oom &&
			  f->cpu && f->net && f->cost && f->logs && f->duration && f->billed &&
			  f->init && f->post_runtime && f->latency && f->utilization && f->memory;
}

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
	if (registry) {
		register_families(t, registry);
		/* Counters of rare events exist at 0 from the start: an environment that times out
		 * or runs out of memory ends right after, and a counter first seen at 1 in its
		 * last scrape or push would show no increase at all. */
		if (t->has_families) {
			metric_add(metric_with(t->f.timeouts, t->function_name, t->version), 0);
			metric_add(metric_with(t->f.oom, t->function_name, t->version), 0);
			metric_add(metric_with(t->f.cold_starts, t->function_name, t->version), 0);
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
	r->next = t->open;
	t->open = r;
	t->nopen++;
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

static int64_t billed(double duration_ms, double init_ms)
{
	int64_t us = (int64_t)(duration_ms * 1000.0 + 0.5);

	if (init_ms > 0)
		us += (int64_t)(init_ms * 1000.0 + 0.5);
	return (us + 999) / 1000;
}

static void finish_locked(struct tracker *t, struct invocation_report *r)
{
	if (r->billed_ms < 0 && r->duration_ms >= 0)
		r->billed_ms = billed(r->duration_ms, r->init_duration_ms);
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
	snprintf(t->recent[t->recent_next], sizeof(t->recent[0]), "%s", r->request_id);
	t->recent_hash[t->recent_next] = id_hash(r->request_id);
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
		snprintf(t->current, sizeof(t->current), "%s", request_id);
	}
	pthread_mutex_unlock(&t->lock);
}

void tracker_proxy(struct tracker *t, const char *request_id, double handler_ms,
		   uint64_t answer_bytes, const char *error_type, const char *message)
{
	struct invocation_report *r;

	pthread_mutex_lock(&t->lock);
	r = entry(t, request_id);
	if (r) {
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

	if (v && !r->trace_id[0])
		snprintf(r->trace_id, sizeof(r->trace_id), "%s", v);
}

static int level_of(const char *s, size_t n)
{
	static const char *const names[LEVEL_COUNT] = { "TRACE", "DEBUG", "INFO", "WARN", "ERROR",
							"FATAL" };

	for (int i = 0; i < LEVEL_COUNT; i++) {
		size_t l = strlen(names[i]);

		if (n >= l && strncasecmp(s, names[i], l) == 0 && (n == l || !isalpha((unsigned char)s[l])))
			return i;
	}
	if (n >= 7 && strncasecmp(s, "WARNING", 7) == 0)
		return LEVEL_WARN;
	if (n >= 8 && strncasecmp(s, "CRITICAL", 8) == 0)
		return LEVEL_FATAL;
	return -1;
}

static bool oom_line(const char *s, size_t n)
{
	static const char *const needles[] = {
		"JavaScript heap out of memory", "MemoryError", "java.lang.OutOfMemoryError",
		"Runtime.OutOfMemory", "fatal error: runtime: out of memory", "Cannot allocate memory",
	};

	for (size_t i = 0; i < sizeof(needles) / sizeof(needles[0]); i++) {
		if (memmem(s, n, needles[i], strlen(needles[i])))
			return true;
	}
	return false;
}

/* A log line in text: Node's "time\trequestId\tLEVEL\tmessage", Python's
 * "[LEVEL]\ttime\trequestId\tmessage", or plain text (INFO). */
static void text_line(const char *s, size_t len, int *level, char *rid, size_t ridlen)
{
	const char *p = s, *end = s + len;

	*level = LEVEL_INFO;
	rid[0] = '\0';
	for (int field = 0; field < 4 && p; field++) {
		const char *tab = memchr(p, '\t', (size_t)(end - p));
		size_t n = tab ? (size_t)(tab - p) : (size_t)(end - p);
		int l;

		if (n == 36 && p[8] == '-' && p[13] == '-')
			snprintf(rid, ridlen, "%.36s", p);
		else if (n > 2 && p[0] == '[' && p[n - 1] == ']' && (l = level_of(p + 1, n - 2)) >= 0)
			*level = l;
		else if ((l = level_of(p, n)) >= 0 && tab)
			*level = l;
		p = tab ? tab + 1 : NULL;
	}
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
	if (text && oom_line(text, bytes))
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
		text_line(text, bytes, &level, rid, sizeof(rid));
	} else {
		const char *lv = json_string_value(json_object_get(record, "level"));
		const char *id = json_string_value(json_object_get(record, "requestId"));
		const char *msg = json_string_value(json_object_get(record, "message"));

		if (lv && level_of(lv, strlen(lv)) >= 0)
			level = level_of(lv, strlen(lv));
		if (id)
			snprintf(rid, sizeof(rid), "%s", id);
		text = msg;
		bytes = msg ? strlen(msg) : 0;
	}
	count_log(t, rid, true, level, text, bytes);
}

/* A JSON line's level, requestId and message (top-level keys, as Lambda's JSON format and
 * Powertools write them). */
static void json_line(const char *s, size_t n, int *level, char *rid, size_t ridlen,
		      struct jval *msg)
{
	struct jval obj, key, val;
	struct jiter it;
	char lv[16];

	if (jscan_parse(s, n, &obj) < 0 || obj.type != J_OBJECT)
		return;
	jscan_iter(&obj, &it);
	while (jscan_next_member_any(&it, &key, &val) == 1) {
		if (val.type != J_STRING || key.escaped)
			continue;
		if (key.n == 5 && memcmp(key.p, "level", 5) == 0 && val.n < sizeof(lv)) {
			int l = level_of(val.p, val.n);

			if (l >= 0)
				*level = l;
		} else if (key.n == 9 && memcmp(key.p, "requestId", 9) == 0 && val.n < ridlen &&
			   !val.escaped) {
			memcpy(rid, val.p, val.n);
			rid[val.n] = '\0';
		} else if (key.n == 7 && memcmp(key.p, "message", 7) == 0) {
			*msg = val;
		}
	}
}

void tracker_log_line(struct tracker *t, const char *request_id, const char *line, size_t n)
{
	char rid[64] = "";
	int level = LEVEL_INFO;
	struct jval msg = { .type = J_NONE };

	pthread_mutex_lock(&t->lock);
	t->stats.events++;
	if (n && line[0] == '{') {
		json_line(line, n, &level, rid, sizeof(rid), &msg);
		if (msg.type == J_STRING)
			line = msg.p, n = msg.n;
	} else {
		text_line(line, n, &level, rid, sizeof(rid));
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
	r->start_ms = m->start_ms;
	r->cold_start = m->cold_start;
	r->init_duration_ms = m->init_duration_ms;
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
	unlink_open(t, r);
	finish_locked(t, r);
	pthread_mutex_unlock(&t->lock);
}

int tracker_event(struct tracker *t, const char *type, json_t *record, int64_t time_ms)
{
	struct invocation_report *r;
	const char *id;
	int rc = 0;

	pthread_mutex_lock(&t->lock);
	t->stats.events++;
	if (!type) {
		rc = -EINVAL;
		goto out;
	}
	if (strcmp(type, "function") == 0 || strcmp(type, "extension") == 0) {
		if (!json_is_string(record) && !json_is_object(record)) {
			rc = -EINVAL;
			goto out;
		}
		log_record(t, record);
		goto out;
	}
	if (strncmp(type, "platform.", 9) != 0) {
		t->stats.unknown++;
		rc = -ENOENT;
		goto out;
	}
	if (!json_is_object(record)) {
		rc = -EINVAL;
		goto out;
	}
	type += 9;
	if (strcmp(type, "initStart") == 0) {
		const char *it = json_string_value(json_object_get(record, "initializationType"));

		t->pending_cold = true;
		snprintf(t->init_type, sizeof(t->init_type), "%s", it ? it : "on-demand");
		goto out;
	}
	if (strcmp(type, "initReport") == 0) {
		t->pending_init_ms = num(json_object_get(record, "metrics"), "durationMs", -1);
		goto out;
	}
	if (strcmp(type, "initRuntimeDone") == 0 || strcmp(type, "extension") == 0 ||
	    strcmp(type, "telemetrySubscription") == 0 || strcmp(type, "logsDropped") == 0 ||
	    strncmp(type, "restore", 7) == 0 || strcmp(type, "end") == 0 ||
	    strcmp(type, "fault") == 0 || strcmp(type, "logsSubscription") == 0) {
		goto out;	/* nothing per invocation */
	}
	if (strcmp(type, "start") != 0 && strcmp(type, "runtimeDone") != 0 &&
	    strcmp(type, "report") != 0) {
		t->stats.unknown++;
		rc = -ENOENT;	/* a type newer than this code: ignored, counted */
		goto out;
	}
	id = json_string_value(json_object_get(record, "requestId"));
	if (!id || !*id || strlen(id) >= 64) {
		rc = -EINVAL;
		goto out;
	}
	r = entry(t, id);
	if (!r) {
		if (strcmp(type, "report") == 0)
			t->stats.duplicates++;
		else
			t->stats.orphans++;
		goto out;
	}
	read_tracing(r, record);
	if (strcmp(type, "start") == 0) {
		r->seen |= TRACK_START;
		if (time_ms > 0)
			r->start_ms = time_ms;
		if (json_is_string(json_object_get(record, "version")))
			snprintf(r->version, sizeof(r->version), "%s",
				 json_string_value(json_object_get(record, "version")));
		if (t->pending_cold) {
			r->cold_start = true;
			r->init_duration_ms = t->pending_init_ms;
			t->pending_cold = false;
			t->pending_init_ms = -1;
		}
		snprintf(t->current, sizeof(t->current), "%s", id);
	} else if (strcmp(type, "runtimeDone") == 0) {
		json_t *m = json_object_get(record, "metrics");
		const char *et = json_string_value(json_object_get(record, "errorType"));

		r->seen |= TRACK_RUNTIME_DONE;
		r->status = parse_status(json_string_value(json_object_get(record, "status")));
		if (et)
			snprintf(r->error_type, sizeof(r->error_type), "%s", et);
		r->runtime_ms = num(m, "durationMs", -1);
		r->produced_bytes = (int64_t)num(m, "producedBytes", -1);
		read_spans(r, json_object_get(record, "spans"));
	} else {
		json_t *m = json_object_get(record, "metrics");
		const char *et = json_string_value(json_object_get(record, "errorType"));

		if (!json_is_object(m) || !json_is_number(json_object_get(m, "durationMs"))) {
			rc = -EINVAL;
			goto out;
		}
		r->seen |= TRACK_REPORT;
		r->complete = true;
		r->status = parse_status(json_string_value(json_object_get(record, "status")));
		if (et)
			snprintf(r->error_type, sizeof(r->error_type), "%s", et);
		r->duration_ms = num(m, "durationMs", -1);
		r->billed_ms = (int64_t)num(m, "billedDurationMs", -1);
		r->memory_size_mb = (long)num(m, "memorySizeMB", (double)t->memory_mb);
		r->max_memory_used_mb = (long)num(m, "maxMemoryUsedMB", 0);
		if (json_is_number(json_object_get(m, "initDurationMs"))) {
			r->init_duration_ms = num(m, "initDurationMs", -1);
			r->cold_start = true;
		}
		read_spans(r, json_object_get(record, "spans"));
		unlink_open(t, r);
		finish_locked(t, r);
	}
out:
	if (rc == -EINVAL)
		t->stats.rejected++;
	pthread_mutex_unlock(&t->lock);
	return rc;
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
	pthread_mutex_unlock(&t->lock);
}

void tracker_current(struct tracker *t, char *out, size_t n)
{
	pthread_mutex_lock(&t->lock);
	snprintf(out, n, "%s", t->current);
	pthread_mutex_unlock(&t->lock);
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

static const char *status_label(enum report_status s)
{
	static const char *const names[] = { "success", "error", "timeout", "failure" };

	return names[s];
}

void tracker_observe(struct tracker *t, const struct invocation_report *r)
{
	struct families *f = &t->f;
	const char *cold = r->cold_start ? "true" : "false";
	static const char *const levels[LEVEL_COUNT] = { "trace", "debug", "info", "warn", "error",
							 "fatal" };

	if (!t->has_families)
		return;
	metric_inc(metric_with(f->invocations, r->function_name, r->version, cold,
			       status_label(r->status)));
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
		metric_observe(metric_with(f->init, r->function_name, r->version),
			       r->init_duration_ms / 1000.0);
	if (r->post_runtime_ms >= 0)
		metric_observe(metric_with(f->post_runtime, r->function_name, r->version),
			       r->post_runtime_ms / 1000.0);
	if (r->response_latency_ms > 0)
		metric_observe(metric_with(f->latency, r->function_name, r->version),
			       r->response_latency_ms / 1000.0);
	if (r->complete && r->memory_size_mb > 0) {
		metric_observe(metric_with(f->utilization, r->function_name, r->version),
			       (double)r->max_memory_used_mb / (double)r->memory_size_mb);
		metric_observe(metric_with(f->memory, r->function_name, r->version),
			       (double)r->max_memory_used_mb * 1024 * 1024);
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

void tracker_stats(struct tracker *t, struct tracker_stats *out)
{
	pthread_mutex_lock(&t->lock);
	*out = t->stats;
	pthread_mutex_unlock(&t->lock);
}
