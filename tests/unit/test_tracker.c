/* Unit tests of the invocation tracker (agent/core/tracker.c) and batch intake
 * (agent/extension/batch.c): order, duplicates, missing reports, unknown ids, OOM, cost. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/core/sink.h"
#include "../../agent/core/tracker.h"
#include "../../agent/util/clock.h"
#include "../../agent/extension/batch.h"

static const struct tracker_prices prices = { .gb_second = 0.0000166667, .per_request = 2e-7 };

static int ev(struct tracker *t, const char *type, const char *record_json)
{
	json_t *rec = json_loads(record_json, JSON_DECODE_ANY, NULL);
	int rc = tracker_event(t, type, rec, 0);

	json_decref(rec);
	return rc;
}

static int count(struct invocation_report *r)
{
	int n = 0;

	for (; r; r = r->next)
		n++;
	return n;
}

static void free_reports(struct invocation_report *r)
{
	while (r) {
		struct invocation_report *n = r->next;

		free(r);
		r = n;
	}
}

static const char report_a[] =
	"{\"requestId\":\"a\",\"status\":\"success\",\"metrics\":{\"durationMs\":200.4,"
	"\"billedDurationMs\":450,\"memorySizeMB\":1024,\"maxMemoryUsedMB\":100,"
	"\"initDurationMs\":249.1},\"spans\":[{\"name\":\"extensionOverhead\",\"durationMs\":1.5}]}";

static void test_in_order(void **state)
{
	struct tracker *t = tracker_new("fn", "$LATEST", 1024, &prices, NULL);
	struct invocation_report *r;

	(void)state;
	ev(t, "platform.initStart", "{\"initializationType\":\"on-demand\",\"phase\":\"init\"}");
	ev(t, "platform.initReport", "{\"metrics\":{\"durationMs\":249.1}}");
	tracker_invoke(t, "a", 0, "Root=1-x");
	ev(t, "platform.start", "{\"requestId\":\"a\",\"version\":\"7\"}");
	ev(t, "function", "\"2024-01-01T00:00:00.000Z\\ta\\tERROR\\tboom\"");
	ev(t, "function", "{\"level\":\"WARN\",\"requestId\":\"a\",\"message\":\"careful\"}");
	ev(t, "platform.runtimeDone", "{\"requestId\":\"a\",\"status\":\"success\","
	   "\"metrics\":{\"durationMs\":198.9,\"producedBytes\":12},"
	   "\"spans\":[{\"name\":\"responseLatency\",\"durationMs\":198.0}]}");
	assert_int_equal(tracker_open(t), 1);
	assert_int_equal(ev(t, "platform.report", report_a), 0);
	assert_int_equal(tracker_open(t), 0);
	r = tracker_take(t);
	assert_int_equal(count(r), 1);
	assert_string_equal(r->request_id, "a");
	assert_string_equal(r->version, "7");
	assert_string_equal(r->trace_id, "Root=1-x");
	assert_true(r->cold_start && r->complete);
	assert_true(r->duration_ms == 200.4 && r->init_duration_ms == 249.1);
	assert_int_equal(r->billed_ms, 450);
	assert_true(r->post_runtime_ms == 1.5 && r->runtime_ms == 198.9);
	assert_true(r->response_latency_ms == 198.0);
	assert_int_equal(r->produced_bytes, 12);
	assert_int_equal(r->log_records[LEVEL_ERROR], 1);
	assert_int_equal(r->log_records[LEVEL_WARN], 1);
	assert_false(r->oom);
	/* 0.45 s × 1 GB × price + one request */
	assert_true(r->cost_usd > 0.45 * 0.0000166667 + 2e-7 - 1e-12);
	assert_true(r->cost_usd < 0.45 * 0.0000166667 + 2e-7 + 1e-12);
	free_reports(r);
	tracker_destroy(t);
}

static void test_out_of_order_and_duplicates(void **state)
{
	struct tracker *t = tracker_new("fn", "$LATEST", 1024, &prices, NULL);
	struct tracker_stats st;
	struct invocation_report *r;

	(void)state;
	/* The report first, then the start and runtimeDone late, then the report again. */
	assert_int_equal(ev(t, "platform.report", report_a), 0);
	assert_int_equal(ev(t, "platform.start", "{\"requestId\":\"a\"}"), 0);
	assert_int_equal(ev(t, "platform.runtimeDone", "{\"requestId\":\"a\",\"status\":\"error\"}"),
			 0);
	assert_int_equal(ev(t, "platform.report", report_a), 0);
	assert_int_equal(tracker_open(t), 0);
	r = tracker_take(t);
	assert_int_equal(count(r), 1);	/* counted once */
	assert_int_equal(r->status, REPORT_SUCCESS);
	tracker_stats(t, &st);
	assert_int_equal(st.duplicates, 1);
	assert_int_equal(st.orphans, 2);
	free_reports(r);
	tracker_destroy(t);
}

static void test_report_that_never_comes(void **state)
{
	struct tracker *t = tracker_new("fn", "$LATEST", 128, &prices, NULL);
	struct invocation_report *r;

	(void)state;
	tracker_invoke(t, "b", 0, NULL);
	ev(t, "platform.start", "{\"requestId\":\"b\"}");
	tracker_invoke(t, "c", 0, NULL);
	ev(t, "platform.start", "{\"requestId\":\"c\"}");
	ev(t, "platform.runtimeDone", "{\"requestId\":\"c\",\"status\":\"error\","
	   "\"errorType\":\"Runtime.ExitError\"}");
	assert_null(tracker_take(t));
	tracker_shutdown(t, "timeout");
	r = tracker_take(t);
	assert_int_equal(count(r), 2);
	for (struct invocation_report *x = r; x; x = x->next) {
		assert_false(x->complete);
		if (strcmp(x->request_id, "b") == 0) {
			assert_int_equal(x->status, REPORT_TIMEOUT);	/* no runtimeDone: it timed out */
			assert_string_equal(x->error_type, "Sandbox.Timedout");
		} else {
			assert_int_equal(x->status, REPORT_ERROR);	/* as runtimeDone said */
			assert_string_equal(x->error_type, "Runtime.ExitError");
		}
	}
	free_reports(r);
	tracker_destroy(t);
}

static void test_oom_three_ways_once(void **state)
{
	struct tracker *t = tracker_new("fn", "$LATEST", 128, &prices, NULL);
	struct invocation_report *r;

	(void)state;
	ev(t, "platform.report", "{\"requestId\":\"e\",\"status\":\"failure\",\"errorType\":"
	   "\"Runtime.OutOfMemory\",\"metrics\":{\"durationMs\":5}}");
	ev(t, "platform.report", "{\"requestId\":\"f\",\"status\":\"failure\",\"metrics\":"
	   "{\"durationMs\":5,\"memorySizeMB\":128,\"maxMemoryUsedMB\":128}}");
	tracker_invoke(t, "g", 0, NULL);
	ev(t, "function", "\"FATAL ERROR: Reached heap limit - JavaScript heap out of memory\"");
	ev(t, "function", "\"<--- JavaScript heap out of memory again\"");
	ev(t, "platform.report", "{\"requestId\":\"g\",\"status\":\"error\",\"metrics\":"
	   "{\"durationMs\":5}}");
	r = tracker_take(t);
	assert_int_equal(count(r), 3);
	for (struct invocation_report *x = r; x; x = x->next) {
		assert_true(x->oom);
		assert_string_equal(x->error_type, "Runtime.OutOfMemory");
	}
	free_reports(r);
	tracker_destroy(t);
}

static void test_bad_records(void **state)
{
	struct tracker *t = tracker_new("fn", "$LATEST", 128, &prices, NULL);
	struct tracker_stats st;

	(void)state;
	assert_int_equal(ev(t, "platform.report", "{\"status\":\"success\"}"), -EINVAL);
	assert_int_equal(ev(t, "platform.report", "{\"requestId\":\"x\"}"), -EINVAL);
	assert_int_equal(ev(t, "platform.start", "42"), -EINVAL);
	assert_int_equal(ev(t, "function", "7"), -EINVAL);
	assert_int_equal(ev(t, "platform.somethingNew", "{}"), -ENOENT);
	assert_int_equal(ev(t, "weird", "{}"), -ENOENT);
	assert_int_equal(ev(t, "platform.logsDropped", "{\"droppedRecords\":1}"), 0);
	tracker_stats(t, &st);
	assert_int_equal(st.rejected, 4);
	assert_int_equal(st.unknown, 2);
	tracker_destroy(t);
}

static void test_bounded(void **state)
{
	struct tracker *t = tracker_new("fn", "$LATEST", 128, &prices, NULL);
	struct tracker_stats st;
	struct invocation_report *r;
	char id[32];

	(void)state;
	for (int i = 0; i < TRACKER_MAX_OPEN + 5; i++) {
		snprintf(id, sizeof(id), "id-%d", i);
		tracker_invoke(t, id, 0, NULL);
	}
	assert_int_equal(tracker_open(t), TRACKER_MAX_OPEN);
	tracker_stats(t, &st);
	assert_int_equal(st.evicted, 5);
	r = tracker_take(t);
	assert_int_equal(count(r), 5);
	free_reports(r);
	tracker_destroy(t);
}

static void test_batch_intake(void **state)
{
	struct tracker *t = tracker_new("fn", "$LATEST", 128, &prices, NULL);
	struct batch_counts c;
	const char batch[] =
		"[{\"time\":\"2024-06-17T17:23:50.660Z\",\"type\":\"platform.start\","
		"\"record\":{\"requestId\":\"r\"}},"
		"{\"type\":\"extension\",\"record\":\"info extension: hello\"},"
		"{\"type\":\"extension\",\"record\":\"{\\\"_aws\\\":{\\\"CloudWatchMetrics\\\":"
		"[{\\\"Namespace\\\":\\\"vigil\\\"}]}}\"},"
		"{\"type\":\"extension\",\"record\":\"another extension's line\"},"
		"{\"type\":\"platform.report\"},"
		"{\"type\":\"platform.future\",\"record\":{}},"
		"17]";
	struct invocation_report *r;

	(void)state;
	assert_int_equal(telemetry_batch_ingest(t, "{}", 2, "vigil", &c), -EINVAL);
	assert_int_equal(telemetry_batch_ingest(t, "nope", 4, "vigil", &c), -EINVAL);
	assert_int_equal(telemetry_batch_ingest(t, batch, strlen(batch), "vigil", &c), 0);
	assert_int_equal(c.records, 7);
	assert_int_equal(c.own, 2);
	assert_int_equal(c.malformed, 2);
	assert_int_equal(c.unknown, 1);
	tracker_shutdown(t, "spindown");
	r = tracker_take(t);
	assert_int_equal(count(r), 1);
	assert_int_equal(r->log_records[LEVEL_INFO], 1);	/* the other extension's line */
	assert_true(r->start_ms == 1718645030660LL);
	free_reports(r);
	tracker_destroy(t);
}

/* The intake as it was, one jansson tree per batch: what the scanner must agree with. */
static void reference_ingest(struct tracker *t, const char *body)
{
	json_t *root = json_loads(body, 0, NULL), *ev;
	size_t i;

	json_array_foreach(root, i, ev) {
		const char *type = json_string_value(json_object_get(ev, "type"));
		json_t *rec = json_object_get(ev, "record");
		const char *msg = json_is_string(rec) ? json_string_value(rec) :
				  json_string_value(json_object_get(rec, "message"));

		if (!type || !rec)
			continue;
		if (strcmp(type, "extension") == 0 && msg &&
		    (strncmp(msg, "info ", 5) == 0 || strncmp(msg, "VIGIL_REPORT ", 13) == 0))
			continue;	/* vigil's own (the shapes this test uses) */
		tracker_event(t, type, rec, 0);
	}
	json_decref(root);
}

/* The scanner's intake gives the reports jansson's did: levels in Node, Python and JSON
 * lines (escapes, tabs, unicode), request ids named by lines, OOM lines, platform events. */
static void test_batch_intake_agrees(void **state)
{
	static const char *const batches[] = {
		"[{\"time\":\"2024-06-17T17:23:50.660Z\",\"type\":\"platform.initStart\","
		"\"record\":{\"initializationType\":\"on-demand\"}},"
		"{\"type\":\"platform.initReport\",\"record\":{\"metrics\":{\"durationMs\":80.5}}},"
		"{\"type\":\"platform.start\",\"record\":{\"requestId\":\"r1\",\"version\":\"3\"}},"
		"{\"type\":\"function\",\"record\":\"2024-06-17T17:23:50.700Z\\tr1\\tERROR\\tInvoke "
		"Error \\u00e9\\n    at x\"},"
		"{\"type\":\"function\",\"record\":\"[WARNING]\\t2024-06-17T17:23:50Z\\tr1\\tslow\"},"
		"{\"type\":\"function\",\"record\":{\"level\":\"DEBUG\",\"message\":\"q\\\"x\\\"\","
		"\"requestId\":\"r1\",\"extra\":[1,{\"a\":\"b\"}]}},"
		"{\"type\":\"function\",\"record\":{\"message\":\"no level\",\"n\":1e3}},"
		"{\"type\":\"function\",\"record\":\"plain print\"},"
		"{\"type\":\"extension\",\"record\":\"info extension: vigil's own\"},"
		"{\"type\":\"extension\",\"record\":\"[ERROR] another extension\"},"
		"{\"type\":\"function\",\"record\":\"FATAL ERROR: Reached heap limit "
		"Allocation failed - JavaScript heap out of memory\"},"
		"{\"type\":\"platform.runtimeDone\",\"record\":{\"requestId\":\"r1\",\"status\":"
		"\"error\",\"errorType\":\"Runtime.Unknown\",\"metrics\":{\"durationMs\":12.5,"
		"\"producedBytes\":9},\"spans\":[{\"name\":\"responseLatency\",\"durationMs\":3}]}}]",
		"[{\"type\":\"platform.start\",\"record\":{\"requestId\":\"r2\"}},"
		"{\"type\":\"function\",\"record\":\"2024-06-17T17:23:51.000Z\\tr1\\tINFO\\tlate line "
		"of r1\"},"
		"{\"type\":\"function\",\"record\":{\"level\":\"critical\",\"message\":"
		"\"MemoryError\"}},"
		"{\"type\":\"platform.report\",\"record\":{\"requestId\":\"r1\",\"status\":\"error\","
		"\"metrics\":{\"durationMs\":13.25,\"billedDurationMs\":14,\"memorySizeMB\":128,"
		"\"maxMemoryUsedMB\":64,\"initDurationMs\":80.5}}},"
		"{\"type\":\"platform.report\",\"record\":{\"requestId\":\"r2\",\"status\":\"success\","
		"\"metrics\":{\"durationMs\":1.5,\"billedDurationMs\":2,\"memorySizeMB\":128,"
		"\"maxMemoryUsedMB\":65}}}]",
	};
	struct tracker *a = tracker_new("fn", "$LATEST", 128, &prices, NULL);
	struct tracker *b = tracker_new("fn", "$LATEST", 128, &prices, NULL);
	struct invocation_report *ra, *rb, *x, *y;
	struct batch_counts c;

	(void)state;
	for (size_t i = 0; i < sizeof(batches) / sizeof(batches[0]); i++) {
		assert_int_equal(telemetry_batch_ingest(a, batches[i], strlen(batches[i]), "vigil",
							&c), 0);
		assert_int_equal(c.malformed + c.unknown, 0);
		reference_ingest(b, batches[i]);
	}
	ra = tracker_take(a);
	rb = tracker_take(b);
	assert_int_equal(count(ra), 2);
	for (x = ra, y = rb; x && y; x = x->next, y = y->next) {
		assert_string_equal(x->request_id, y->request_id);
		assert_memory_equal(x->log_records, y->log_records, sizeof(x->log_records));
		assert_int_equal(x->log_bytes, y->log_bytes);
		assert_int_equal(x->oom, y->oom);
		assert_true(x->duration_ms == y->duration_ms && x->runtime_ms == y->runtime_ms);
		assert_true(x->init_duration_ms == y->init_duration_ms);
		assert_int_equal(x->cold_start, y->cold_start);
		assert_int_equal(x->status, y->status);
		assert_string_equal(x->error_type, y->error_type);
		assert_string_equal(x->version, y->version);
		assert_true(x->response_latency_ms == y->response_latency_ms);
	}
	assert_null(x);
	assert_null(y);
	assert_int_equal(ra->log_records[LEVEL_ERROR] + ra->log_records[LEVEL_FATAL] > 0, 1);
	assert_true(ra->oom);
	free_reports(ra);
	free_reports(rb);
	tracker_destroy(a);
	tracker_destroy(b);
}

/* A batch that breaks off keeps what came before it; the rest is one malformed record. */
static void test_batch_cut(void **state)
{
	const char batch[] = "[{\"type\":\"platform.start\",\"record\":{\"requestId\":\"c\"}},"
			     "{\"type\":\"function\",\"record\":\"[ERROR]\\tx\"},"
			     "{\"type\":\"platform.report\",\"record\":{\"requestId\":\"c\","
			     "\"status\":\"success\",\"metrics\":{\"durationMs\":2}}},{\"type\":";
	struct tracker *t = tracker_new("fn", "$LATEST", 128, &prices, NULL);
	struct invocation_report *r;
	struct batch_counts c;

	(void)state;
	assert_int_equal(telemetry_batch_ingest(t, batch, strlen(batch), "vigil", &c), 0);
	assert_int_equal(c.records, 4);
	assert_int_equal(c.malformed, 1);
	r = tracker_take(t);
	assert_non_null(r);
	assert_int_equal(r->log_records[LEVEL_ERROR], 1);
	assert_true(r->duration_ms == 2);
	free_reports(r);
	/* NUL and a lone surrogate in a record (JSON-escaped, as Lambda sends them) refuse
	 * nothing. */
	{
		const char nul[] = "[{\"type\":\"platform.start\",\"record\":{\"requestId\":\"n\"}},"
				   "{\"type\":\"function\",\"record\":\"a\\u0000b \\ud800 c\"},"
				   "{\"type\":\"platform.report\",\"record\":{\"requestId\":\"n\","
				   "\"status\":\"success\",\"metrics\":{\"durationMs\":1}}}]";

		assert_int_equal(telemetry_batch_ingest(t, nul, strlen(nul), "vigil", &c), 0);
		assert_int_equal(c.malformed, 0);
		r = tracker_take(t);
		assert_non_null(r);
		assert_int_equal(r->log_records[LEVEL_INFO], 1);
		free_reports(r);
	}
	tracker_destroy(t);
}

/* A sink that keeps what it is told, for tracker_export. */
struct kept {
	char ids[64][64];
	uint64_t errors[64];
	double duration[64];
	size_t n, flushes;
};

static void kept_reports(void *self, struct invocation_report *const *items, size_t n)
{
	struct kept *k = self;

	for (size_t i = 0; i < n && k->n < 64; i++, k->n++) {
		snprintf(k->ids[k->n], sizeof(k->ids[0]), "%s", items[i]->request_id);
		k->errors[k->n] = items[i]->log_records[LEVEL_ERROR];
		k->duration[k->n] = items[i]->duration_ms;
	}
}

static void kept_flush(void *self, int64_t deadline_ms)
{
	(void)deadline_ms;
	((struct kept *)self)->flushes++;
}

static void kept_stop(void *self, int64_t deadline_ms)
{
	(void)self;
	(void)deadline_ms;
}

static const struct sink_ops kept_ops = {
	.name = "kept", .reports = kept_reports, .flush = kept_flush, .stop = kept_stop,
};

/* vigil host's way in: its own measurements and lines, exported to sinks; reports reused
 * for the next invocations carry nothing of the ones before. */
static void test_platform_reports(void **state)
{
	struct metric_registry *reg = metric_registry_new(1000);
	struct tracker *t = tracker_new("fn", "$LATEST", 128, &prices, reg);
	struct sink_set sinks = { .n = 0 };
	struct kept k = { .n = 0 };
	char id[64];

	(void)state;
	sink_set_add(&sinks, &kept_ops, &k);
	for (int i = 0; i < 40; i++) {
		struct invocation_report r = {
			.duration_ms = 10.0 + i, .init_duration_ms = i == 0 ? 50.0 : -1,
			.cold_start = i == 0, .runtime_ms = 9.0, .post_runtime_ms = -1,
			.memory_size_mb = 128, .max_memory_used_mb = 20,
			.status = i % 2 ? REPORT_ERROR : REPORT_SUCCESS,
		};
		static const char json_err[] = "{\"level\":\"ERROR\",\"message\":\"x\"}";
		static const char node_warn[] = "2024-01-01T00:00:00.000Z\tother\tWARN\thi";

		snprintf(id, sizeof(id), "req-%d", i);
		snprintf(r.request_id, sizeof(r.request_id), "%s", id);
		if (i % 2) {
			snprintf(r.error_type, sizeof(r.error_type), "E");
			/* the line's own level; its request id is the one given */
			tracker_log_line(t, id, json_err, sizeof(json_err) - 1);
		}
		tracker_log_line(t, id, "[INFO]\tplain", 12);
		/* a line naming another request is that one's, not this one's */
		tracker_log_line(t, id, node_warn, sizeof(node_warn) - 1);
		tracker_log_line(t, NULL, "init output", 11);	/* no invocation: not counted */
		tracker_add_report(t, &r);
		assert_int_equal(tracker_export(t, &sinks, 0), 1);
	}
	assert_int_equal(k.n, 40);
	assert_int_equal(k.flushes, 40);
	for (size_t i = 0; i < k.n; i++) {
		snprintf(id, sizeof(id), "req-%zu", i);
		assert_string_equal(k.ids[i], id);
		assert_int_equal(k.errors[i], i % 2);
		assert_true(k.duration[i] == 10.0 + (double)i);
	}
	tracker_log_line(t, "oom", "FATAL ERROR: JavaScript heap out of memory", 42);
	{
		struct invocation_report r = { .duration_ms = 1, .init_duration_ms = -1,
					       .runtime_ms = -1, .post_runtime_ms = -1,
					       .memory_size_mb = 128, .status = REPORT_ERROR };
		struct invocation_report *got;

		snprintf(r.request_id, sizeof(r.request_id), "oom");
		tracker_add_report(t, &r);
		got = tracker_take(t);
		assert_non_null(got);
		assert_true(got->oom);
		assert_string_equal(got->error_type, "Runtime.OutOfMemory");
		assert_int_equal(got->billed_ms, 1);
		tracker_add_report(t, &r);	/* twice: a duplicate, not a second report */
		assert_null(tracker_take(t));
		free_reports(got);
	}
	tracker_destroy(t);
	metric_registry_destroy(reg);
}

static void ev_at(struct tracker *t, const char *type, const char *record_json, int64_t at)
{
	json_t *rec = json_loads(record_json, JSON_DECODE_ANY, NULL);

	assert_int_equal(tracker_event(t, type, rec, at), 0);
	json_decref(rec);
}

#define TRACED "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"

/* Which invocation a time belongs to, and whether the tracker can say yet: the one that began
 * after another ended may not be known yet (its INVOKE on the way). */
static void test_owner_and_settled(void **state)
{
	struct tracker *t = tracker_new("fn", "$LATEST", 128, &prices, NULL);
	int64_t T = clock_epoch_ms() - 10000;
	char rid[64];
	uint8_t parent[8];
	bool hp;
	static const uint8_t tid[16] = { 0x57, 0x59, 0xe9, 0x88, 0xbd, 0x86, 0x2e, 0x3f,
					 0xe1, 0xbe, 0x46, 0xa9, 0x94, 0x27, 0x27, 0x93 };

	(void)state;
	assert_true(tracker_settled(t, 0));		/* (no time: as things stand) */
	assert_false(tracker_settled(t, T));		/* nothing known yet */
	assert_false(tracker_owner(t, NULL, T, 50, rid, sizeof(rid), parent, &hp));
	tracker_invoke(t, "a", 0, TRACED);
	/* Heard of, not yet from the platform: its start is the moment the extension heard. */
	assert_false(tracker_settled(t, T + 10));
	ev_at(t, "platform.start", "{\"requestId\":\"a\"}", T);
	assert_true(tracker_settled(t, T - 1));		/* before the newest: one of those known */
	assert_false(tracker_settled(t, T + 10));	/* a, or one after it not heard of yet */
	ev_at(t, "platform.runtimeDone",
	      "{\"requestId\":\"a\",\"status\":\"success\",\"metrics\":{\"durationMs\":100}}",
	      T + 100);
	assert_true(tracker_settled(t, T + 10));
	assert_true(tracker_settled(t, T + 99));
	assert_false(tracker_settled(t, T + 101));	/* after a ended: the next one's */
	assert_true(tracker_owner(t, NULL, T + 10, 50, rid, sizeof(rid), parent, &hp));
	assert_string_equal(rid, "a");
	ev_at(t, "platform.report", "{\"requestId\":\"a\",\"status\":\"success\","
	      "\"metrics\":{\"durationMs\":102,\"billedDurationMs\":103,\"memorySizeMB\":128,"
	      "\"maxMemoryUsedMB\":60}}", T + 103);
	assert_true(tracker_settled(t, T + 100));
	assert_false(tracker_settled(t, T + 150));
	tracker_invoke(t, "b", 0, TRACED);
	ev_at(t, "platform.start", "{\"requestId\":\"b\"}", T + 120);
	assert_true(tracker_settled(t, T + 110));
	assert_false(tracker_settled(t, T + 130));
	/* By time alone: the nearest within the slack, none past it. */
	assert_true(tracker_owner(t, NULL, T + 110, 50, rid, sizeof(rid), parent, &hp));
	assert_string_equal(rid, "a");
	assert_true(tracker_owner(t, NULL, T + 125, 50, rid, sizeof(rid), parent, &hp));
	assert_string_equal(rid, "b");
	assert_false(tracker_owner(t, NULL, T - 1000, 50, rid, sizeof(rid), parent, &hp));
	/* By trace: both share it; the one running at the time, the nearest else. */
	assert_true(tracker_trace_owner(t, tid, T + 50, rid, sizeof(rid), parent, &hp));
	assert_string_equal(rid, "a");
	assert_true(hp);
	assert_true(tracker_trace_owner(t, tid, T + 119, rid, sizeof(rid), parent, &hp));
	assert_string_equal(rid, "b");
	assert_true(tracker_trace_owner(t, tid, T + 5000, rid, sizeof(rid), parent, &hp));
	assert_string_equal(rid, "b");
	free_reports(tracker_take(t));
	tracker_destroy(t);
}

/* Lambda Managed Instances: invocations interleave, there is no runtimeDone and the report
 * carries durationMs only; none is a cold start; the environment's init is observed alone. */
static void test_managed_instances(void **state)
{
	struct metric_registry *reg = metric_registry_new(1000);
	struct tracker *t = tracker_new("fn", "$LATEST", 1024, &prices, reg);
	struct invocation_report *r, *x;
	char rid[64];

	(void)state;
	tracker_set_mode(t, INIT_TYPE_MI);
	assert_true(tracker_managed(t));
	ev(t, "platform.initStart", "{\"initializationType\":\"lambda-managed-instances\","
	   "\"phase\":\"init\"}");
	ev(t, "platform.initReport", "{\"initializationType\":\"lambda-managed-instances\","
	   "\"phase\":\"init\",\"status\":\"success\",\"metrics\":{\"durationMs\":300}}");
	ev(t, "platform.start", "{\"requestId\":\"a\",\"tenantId\":\"t1\"}");
	ev(t, "platform.start", "{\"requestId\":\"b\"}");
	ev(t, "platform.start", "{\"requestId\":\"c\"}");
	assert_int_equal(tracker_open(t), 3);
	/* a record that names no invocation belongs to none while many run */
	tracker_current(t, rid, sizeof(rid));
	assert_string_equal(rid, "");
	ev(t, "platform.report", "{\"requestId\":\"b\",\"status\":\"success\",\"metrics\":"
	   "{\"durationMs\":5.5},\"spans\":[{\"name\":\"responseLatency\",\"durationMs\":5.0},"
	   "{\"name\":\"responseDuration\",\"durationMs\":0.2}]}");
	ev(t, "platform.report", "{\"requestId\":\"a\",\"status\":\"timeout\",\"metrics\":"
	   "{\"durationMs\":3000},\"tenantId\":\"t1\"}");
	assert_int_equal(tracker_open(t), 1);
	r = tracker_take(t);
	assert_int_equal(count(r), 2);
	assert_string_equal(r->request_id, "b");
	assert_false(r->cold_start);
	assert_true(r->init_duration_ms < 0);
	assert_int_equal(r->billed_ms, -1);	/* the instance is billed, not the invocation */
	assert_true(r->response_latency_ms == 5.0 && r->response_duration_ms == 0.2);
	assert_string_equal(r->init_type, INIT_TYPE_MI);
	x = r->next;
	assert_string_equal(x->request_id, "a");
	assert_int_equal(x->status, REPORT_TIMEOUT);
	assert_string_equal(x->tenant_id, "t1");
	for (x = r; x; x = x->next)
		tracker_observe(t, x);
	{
		struct metric_family *f = metric_find(reg, "vigil_init_duration_seconds");

		assert_non_null(f);
	}
	free_reports(r);
	tracker_destroy(t);
	metric_registry_destroy(reg);
}

/* SnapStart: the init events are the snapshot's (no cold start); the restore's duration goes
 * with the first invocation after it and bills ceil(duration + ceil(restore)). */
static void test_snapstart_restore(void **state)
{
	struct tracker *t = tracker_new("fn", "$LATEST", 1024, &prices, NULL);
	struct invocation_report *r;

	(void)state;
	ev(t, "platform.initStart", "{\"initializationType\":\"snap-start\",\"phase\":\"init\","
	   "\"runtimeVersion\":\"java:21.v20\"}");
	ev(t, "platform.initReport", "{\"initializationType\":\"snap-start\",\"phase\":\"init\","
	   "\"metrics\":{\"durationMs\":2000}}");
	assert_int_equal(tracker_restores(t), 0);
	ev(t, "platform.restoreStart", "{\"functionName\":\"fn\"}");
	assert_int_equal(tracker_restores(t), 1);
	ev(t, "platform.restoreRuntimeDone", "{\"status\":\"success\"}");
	ev(t, "platform.restoreReport", "{\"status\":\"success\",\"metrics\":{\"durationMs\":181.2}}");
	ev(t, "platform.start", "{\"requestId\":\"a\"}");
	ev(t, "platform.report", "{\"requestId\":\"a\",\"status\":\"success\",\"metrics\":"
	   "{\"durationMs\":10.5,\"memorySizeMB\":1024,\"maxMemoryUsedMB\":90}}");
	ev(t, "platform.start", "{\"requestId\":\"b\"}");
	ev(t, "platform.report", "{\"requestId\":\"b\",\"status\":\"success\",\"metrics\":"
	   "{\"durationMs\":2.0}}");
	r = tracker_take(t);
	assert_int_equal(count(r), 2);
	assert_false(r->cold_start);
	assert_true(r->restore_duration_ms == 181.2);
	assert_string_equal(r->restore_status, "success");
	assert_int_equal(r->billed_ms, 193);	/* ceil(10.5 + 182) */
	assert_false(r->next->cold_start);
	assert_true(r->next->restore_duration_ms <= 0);
	free_reports(r);
	tracker_destroy(t);
}

/* Tenants labelled up to the cap, then "other"; the proxy's streaming mode kept. */
static void test_tenant_label_and_streaming(void **state)
{
	struct metric_registry *reg = metric_registry_new(1000);
	struct tracker *t = tracker_new("fn", "$LATEST", 128, &prices, reg);
	struct invocation_report *r, *x;
	const char *ids[] = { "1", "2", "3", "4" }, *tenants[] = { "a", "b", "c", "a" };
	struct metric_family *f;
	int n = 0;

	(void)state;
	tracker_tenant_label(t, 2);
	for (int i = 0; i < 4; i++) {
		char rec[200];

		snprintf(rec, sizeof(rec), "{\"requestId\":\"%s\",\"tenantId\":\"%s\"}", ids[i],
			 tenants[i]);
		ev(t, "platform.start", rec);
		tracker_proxy(t, ids[i], 5.0, 10, NULL, NULL, i == 0);
		snprintf(rec, sizeof(rec), "{\"requestId\":\"%s\",\"status\":\"success\","
			 "\"metrics\":{\"durationMs\":1}}", ids[i]);
		ev(t, "platform.report", rec);
	}
	r = tracker_take(t);
	assert_int_equal(count(r), 4);
	assert_true(r->streaming && r->mode_known);
	assert_false(r->next->streaming);
	for (x = r; x; x = x->next)
		tracker_observe(t, x);
	f = metric_find(reg, "vigil_tenant_invocations_total");
	assert_non_null(f);
	for (struct metric_series *m = metric_first(f); m; m = metric_next(m))
		n++;
	assert_int_equal(n, 3);		/* a, b, other: c is not a label */
	assert_true(metric_value(metric_with(f, "fn", "$LATEST", "a", "success")) == 2);
	assert_true(metric_value(metric_with(f, "fn", "$LATEST", "other", "success")) == 1);
	assert_true(metric_value(metric_with(metric_find(reg, "vigil_tenants_over_limit_total"),
					     "fn", "$LATEST")) == 1);
	free_reports(r);
	tracker_destroy(t);
	metric_registry_destroy(reg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_in_order),
		cmocka_unit_test(test_out_of_order_and_duplicates),
		cmocka_unit_test(test_report_that_never_comes),
		cmocka_unit_test(test_oom_three_ways_once),
		cmocka_unit_test(test_bad_records),
		cmocka_unit_test(test_bounded),
		cmocka_unit_test(test_batch_intake),
		cmocka_unit_test(test_batch_intake_agrees),
		cmocka_unit_test(test_batch_cut),
		cmocka_unit_test(test_platform_reports),
		cmocka_unit_test(test_owner_and_settled),
		cmocka_unit_test(test_managed_instances),
		cmocka_unit_test(test_snapstart_restore),
		cmocka_unit_test(test_tenant_label_and_streaming),
	};

	return cmocka_run_group_tests_name("tracker", tests, NULL, NULL);
}
