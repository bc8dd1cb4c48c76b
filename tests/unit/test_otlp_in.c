/* vigil's OTLP receiver's core (agent/receiver/otlp_in.c, otlp_json.c): requests built and
 * what it hands on read back with protobuf-c code generated from the official .proto files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/core/custom.h"
#include "../../agent/core/metrics.h"
#include "../../agent/core/pbwire.h"
#include "../../agent/core/sink.h"
#include "../../agent/core/tracker.h"
#include "../../agent/receiver/otlp_in.h"
#include "../../agent/util/clock.h"
#include "../../agent/util/log.h"
#include "../../agent/util/tracectx.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;
typedef Opentelemetry__Proto__Common__V1__AnyValue AnyValue;
typedef Opentelemetry__Proto__Trace__V1__Span Span;

#define HEADER "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
static const uint8_t TID[16] = { 0x57, 0x59, 0xe9, 0x88, 0xbd, 0x86, 0x2e, 0x3f,
				 0xe1, 0xbe, 0x46, 0xa9, 0x94, 0x27, 0x27, 0x93 };
static const uint8_t CALLER[8] = { 0x53, 0x99, 0x5c, 0x3f, 0x42, 0xcd, 0x8a, 0xd8 };

/* A sink that keeps what it is handed. */
struct capture {
	struct buf data;
	size_t spans;
	bool full;
};

static int capture_spans(void *self, const void *data, size_t n, size_t nspans)
{
	struct capture *c = self;

	if (!nspans)
		return 1;	/* (asked) */
	if (c->full)
		return 0;
	buf_append(&c->data, data, n);
	c->spans += nspans;
	return 1;
}

static void capture_stop(void *self, int64_t deadline)
{
	(void)self;
	(void)deadline;
}

static const struct sink_ops capture_ops = { .name = "capture", .otlp_spans = capture_spans,
					     .stop = capture_stop };

static const char *attr_str(KeyValue **kv, size_t n, const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(kv[i]->key, key) == 0 && kv[i]->value &&
		    kv[i]->value->value_case ==
			    OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE)
			return kv[i]->value->string_value;
	return NULL;
}

static void kv_set(KeyValue *kv, AnyValue *v, const char *k, const char *s)
{
	opentelemetry__proto__common__v1__key_value__init(kv);
	opentelemetry__proto__common__v1__any_value__init(v);
	kv->key = (char *)k;
	kv->value = v;
	v->value_case = OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE;
	v->string_value = (char *)s;
}

static void span_set(Span *s, const char *name, const uint8_t *tid, size_t tn, uint8_t id,
		     const uint8_t *parent)
{
	static uint8_t ids[256][8];

	opentelemetry__proto__trace__v1__span__init(s);
	s->name = (char *)name;
	s->trace_id.data = (uint8_t *)tid;
	s->trace_id.len = tn;
	memset(ids[id], id, 8);
	s->span_id.data = ids[id];
	s->span_id.len = 8;
	if (parent) {
		s->parent_span_id.data = (uint8_t *)parent;
		s->parent_span_id.len = 8;
	}
	s->start_time_unix_nano = 1;
	s->end_time_unix_nano = 2;
}

struct fx {
	struct metric_registry *r;
	struct custom_metrics *c;
	struct tracker *t;
	struct capture cap;
	struct sink_set sinks;
	struct buf resource;
	struct otlp_in *in;
	struct loop *loop;
};

static int setup(void **state)
{
	static struct fx f;
	KeyValue kv1, kv2;
	AnyValue v1, v2;
	KeyValue *kvs[] = { &kv1, &kv2 };
	Opentelemetry__Proto__Resource__V1__Resource res =
		OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
	struct otlp_in_options o;

	memset(&f, 0, sizeof(f));
	f.r = metric_registry_new(100);
	f.c = custom_metrics_new(f.r, NULL);
	{
		static const struct tracker_prices prices = { 0 };

		f.t = tracker_new("fn", "$LATEST", 128, &prices, NULL);
	}
	buf_init(&f.cap.data);
	sink_set_add(&f.sinks, &capture_ops, &f.cap);
	kv_set(&kv1, &v1, "faas.name", "vigil-fn");
	kv_set(&kv2, &v2, "service.name", "vigil-service");
	res.attributes = kvs;
	res.n_attributes = 2;
	buf_init(&f.resource);
	buf_reserve(&f.resource, opentelemetry__proto__resource__v1__resource__get_packed_size(&res));
	f.resource.len = opentelemetry__proto__resource__v1__resource__pack(&res, (uint8_t *)f.resource.data);
	o = (struct otlp_in_options){ .custom = f.c, .sinks = &f.sinks, .tracker = f.t,
				      .resource = (const uint8_t *)f.resource.data,
				      .resource_len = f.resource.len };
	f.in = otlp_in_new(&o, f.r);
	*state = &f;
	return 0;
}

/* The same, with a loop: requests wait for their joins there. */
static int setup_held(void **state)
{
	struct fx *f;
	struct otlp_in_options o;

	setup(state);
	f = *state;
	otlp_in_free(f->in);
	f->loop = loop_new();
	o = (struct otlp_in_options){ .custom = f->c, .sinks = &f->sinks, .tracker = f->t,
				      .resource = (const uint8_t *)f->resource.data,
				      .resource_len = f->resource.len, .loop = f->loop };
	f->in = otlp_in_new(&o, f->r);
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	otlp_in_free(f->in);
	if (f->loop)
		loop_destroy(f->loop);
	tracker_destroy(f->t);
	custom_metrics_free(f->c);
	metric_registry_destroy(f->r);
	buf_free(&f->cap.data);
	buf_free(&f->resource);
	return 0;
}

static Span *find(Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *m,
		  uint8_t id)
{
	for (size_t i = 0; i < m->n_resource_spans; i++)
		for (size_t j = 0; j < m->resource_spans[i]->n_scope_spans; j++)
			for (size_t k = 0; k < m->resource_spans[i]->scope_spans[j]->n_spans; k++) {
				Span *s = m->resource_spans[i]->scope_spans[j]->spans[k];

				if (s->span_id.len == 8 && s->span_id.data[0] == id)
					return s;
			}
	return NULL;
}

static void test_spans_joined_and_resource_merged(void **state)
{
	struct fx *f = *state;
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest req =
		OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT, *got;
	Opentelemetry__Proto__Trace__V1__ResourceSpans rs =
		OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT, *rsp = &rs;
	Opentelemetry__Proto__Trace__V1__ScopeSpans ss =
		OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT, *ssp = &ss;
	Opentelemetry__Proto__Resource__V1__Resource res =
		OPENTELEMETRY__PROTO__RESOURCE__V1__RESOURCE__INIT;
	Opentelemetry__Proto__Common__V1__InstrumentationScope scope =
		OPENTELEMETRY__PROTO__COMMON__V1__INSTRUMENTATION_SCOPE__INIT;
	static const uint8_t other[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
	uint8_t parent1[8], invoke[8];
	Span a, b, c, d, e, *spans[] = { &a, &b, &c, &d, &e };
	KeyValue kv;
	AnyValue v;
	KeyValue *kvs[] = { &kv };
	struct otlp_in_result result;
	uint8_t wire[4096];
	size_t n;

	(void)state;
	tracker_invoke(f->t, "rid-1", 0, HEADER);
	memset(parent1, 1, 8);
	span_set(&a, "root", TID, 16, 1, CALLER);	/* the caller's child: invoke's */
	span_set(&b, "child", TID, 16, 2, parent1);	/* the SDK's own parent stays */
	span_set(&c, "own root", TID, 16, 3, NULL);	/* no parent: invoke's */
	span_set(&d, "elsewhere", other, 16, 4, NULL);	/* another trace: the one in flight */
	span_set(&e, "bad", TID, 3, 5, NULL);		/* refused */
	kv_set(&kv, &v, "service.name", "sdk-service");
	res.attributes = kvs;
	res.n_attributes = 1;
	scope.name = "lib";
	ss.scope = &scope;
	ss.spans = spans;
	ss.n_spans = 5;
	rs.resource = &res;
	rs.scope_spans = &ssp;
	rs.n_scope_spans = 1;
	req.resource_spans = &rsp;
	req.n_resource_spans = 1;
	n = opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(&req, wire);
	otlp_in_take(f->in, OTLP_TRACES, wire, n, &result);
	assert_int_equal(result.status, 0);
	assert_int_equal(result.rejected, 1);
	assert_int_equal(f->cap.spans, 4);
	got = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
		NULL, f->cap.data.len, (const uint8_t *)f->cap.data.data);
	assert_non_null(got);
	assert_int_equal(got->n_resource_spans, 1);
	{
		Opentelemetry__Proto__Resource__V1__Resource *r = got->resource_spans[0]->resource;

		assert_string_equal(attr_str(r->attributes, r->n_attributes, "service.name"), "sdk-service");
		assert_string_equal(attr_str(r->attributes, r->n_attributes, "faas.name"), "vigil-fn");
		assert_int_equal(r->n_attributes, 2);
		assert_string_equal(got->resource_spans[0]->scope_spans[0]->scope->name, "lib");
	}
	trace_invoke_span_id("rid-1", invoke);
	assert_memory_equal(find(got, 1)->parent_span_id.data, invoke, 8);
	assert_memory_equal(find(got, 2)->parent_span_id.data, parent1, 8);
	assert_memory_equal(find(got, 3)->parent_span_id.data, invoke, 8);
	assert_int_equal(find(got, 4)->parent_span_id.len, 0);
	assert_null(find(got, 5));
	for (uint8_t id = 1; id <= 4; id++) {
		Span *s = find(got, id);

		assert_string_equal(attr_str(s->attributes, s->n_attributes, "faas.invocation_id"),
				    "rid-1");
		assert_int_equal(s->start_time_unix_nano, 1);
	}
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(got, NULL);
}

static void test_json_traces_equal_protobuf(void **state)
{
	struct fx *f = *state;
	static const char json[] =
		"{\"resourceSpans\":[{\"resource\":{\"attributes\":[{\"key\":\"service.name\","
		"\"value\":{\"stringValue\":\"j\"}}]},\"scopeSpans\":[{\"scope\":{\"name\":\"lib\"},"
		"\"spans\":[{\"traceId\":\"5759e988bd862e3fe1be46a994272793\",\"spanId\":"
		"\"0101010101010101\",\"parent_span_id\":\"\",\"name\":\"x\",\"kind\":2,"
		"\"startTimeUnixNano\":\"1700000000000000001\",\"endTimeUnixNano\":1700000000000000002,"
		"\"attributes\":[{\"key\":\"n\",\"value\":{\"intValue\":\"-5\"}},{\"key\":\"l\","
		"\"value\":{\"arrayValue\":{\"values\":[{\"boolValue\":true},{\"doubleValue\":1.5}]}}},"
		"{\"key\":\"b\",\"value\":{\"bytesValue\":\"aGk=\"}}],"
		"\"status\":{\"code\":2,\"message\":\"boom\"},\"unknownKey\":{\"a\":1}}]}]}]}";
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *m;
	struct buf pb;
	char why[160];
	Span *s;

	(void)f;
	buf_init(&pb);
	assert_int_equal(otlp_json_to_pb(OTLP_TRACES, json, strlen(json), &pb, why, sizeof(why)), 0);
	m = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
		NULL, pb.len, (const uint8_t *)pb.data);
	assert_non_null(m);
	s = m->resource_spans[0]->scope_spans[0]->spans[0];
	assert_memory_equal(s->trace_id.data, TID, 16);
	assert_string_equal(s->name, "x");
	assert_int_equal(s->kind, 2);
	assert_int_equal(s->start_time_unix_nano, 1700000000000000001ull);
	assert_int_equal(s->end_time_unix_nano, 1700000000000000002ull);
	assert_int_equal(s->attributes[0]->value->int_value, -5);
	assert_int_equal(s->attributes[1]->value->array_value->n_values, 2);
	assert_true(s->attributes[1]->value->array_value->values[1]->double_value == 1.5);
	assert_int_equal(s->attributes[2]->value->bytes_value.len, 2);
	assert_int_equal(s->status->code, 2);
	assert_string_equal(s->status->message, "boom");
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(m, NULL);
	buf_free(&pb);
	/* Wrong types, bad ids, not JSON: a clear reason. */
	static const char *const bad[][2] = {
		{ "{\"resourceSpans\":5}", "ExportTraceServiceRequest.resourceSpans: not an object" },
		{ "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"traceId\":\"xyz\"}]}]}]}",
		  "Span.traceId: not a hex id of the right length" },
		{ "{\"resourceSpans\":[{\"scopeSpans\":[{\"spans\":[{\"startTimeUnixNano\":\"-1\"}]}]}]}",
		  "Span.startTimeUnixNano: not a 64-bit integer" },
		{ "[1]", "not a JSON object: another value" },
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		buf_init(&pb);
		assert_int_equal(otlp_json_to_pb(OTLP_TRACES, bad[i][0], strlen(bad[i][0]), &pb, why,
						 sizeof(why)), -1);
		assert_string_equal(why, bad[i][1]);
		buf_free(&pb);
	}
}

static double value(struct metric_registry *r, const char *name)
{
	struct metric_family *f = metric_find(r, name);

	return f && metric_first(f) ? metric_value(metric_first(f)) : NAN;
}

static void test_metrics(void **state)
{
	struct fx *f = *state;
	static const char json[] =
		"{\"resourceMetrics\":[{\"scopeMetrics\":[{\"metrics\":["
		"{\"name\":\"req.count\",\"sum\":{\"aggregationTemporality\":1,\"isMonotonic\":true,"
		"\"dataPoints\":[{\"asInt\":\"3\"},{\"asDouble\":2}]}},"
		"{\"name\":\"lat\",\"unit\":\"ms\",\"histogram\":{\"aggregationTemporality\":2,"
		"\"dataPoints\":[{\"count\":\"4\",\"sum\":100,\"bucketCounts\":[\"1\",\"2\",\"1\"],"
		"\"explicitBounds\":[10,50]}]}},"
		"{\"name\":\"e\",\"exponentialHistogram\":{\"dataPoints\":[{},{}]}},"
		"{\"name\":\"bad.hist\",\"histogram\":{\"dataPoints\":[{\"bucketCounts\":[\"1\"],"
		"\"explicitBounds\":[1,2]}]}}]}]}]}";
	struct otlp_in_result res;
	struct buf pb;
	char why[160];
	struct metric_family *lat;
	uint64_t cum[8];
	double sum;

	buf_init(&pb);
	assert_int_equal(otlp_json_to_pb(OTLP_METRICS, json, strlen(json), &pb, why, sizeof(why)), 0);
	otlp_in_take(f->in, OTLP_METRICS, (const uint8_t *)pb.data, pb.len, &res);
	assert_int_equal(res.status, 0);
	assert_int_equal(res.rejected, 3);	/* two exponential points, one bad histogram */
	assert_true(value(f->r, "req_count_total") == 5);	/* delta: added */
	lat = metric_find(f->r, "lat_seconds");
	assert_non_null(lat);
	assert_int_equal(lat->nbuckets, 2);
	assert_true(lat->buckets[0] == 0.01 && lat->buckets[1] == 0.05);
	metric_histogram_read(metric_first(lat), cum, &sum);
	assert_int_equal(cum[0], 1);
	assert_int_equal(cum[1], 3);
	assert_int_equal(cum[2], 4);
	assert_true(fabs(sum - 0.1) < 1e-12);
	/* Cumulative again: the sender's figures, not added. */
	otlp_in_take(f->in, OTLP_METRICS, (const uint8_t *)pb.data, pb.len, &res);
	metric_histogram_read(metric_first(lat), cum, &sum);
	assert_int_equal(cum[2], 4);
	assert_true(value(f->r, "req_count_total") == 10);
	buf_free(&pb);
}

static void test_malformed(void **state)
{
	struct fx *f = *state;
	static const uint8_t cut[] = { 0x0a, 0x05, 0x12, 0x03, 0x12, 0x01 };
	static const uint8_t past[] = { 0x0a, 0xff, 0xff, 0xff, 0xff, 0x0f };
	static const uint8_t group[] = { 0x0b, 0x0c };
	struct otlp_in_result res;

	for (int sig = 0; sig < OTLP_SIGNALS; sig++) {
		otlp_in_take(f->in, (enum otlp_signal)sig, cut, sizeof(cut), &res);
		assert_int_equal(res.status, -1);
		otlp_in_take(f->in, (enum otlp_signal)sig, past, sizeof(past), &res);
		assert_int_equal(res.status, -1);
		otlp_in_take(f->in, (enum otlp_signal)sig, group, sizeof(group), &res);
		assert_int_equal(res.status, -1);
		otlp_in_take(f->in, (enum otlp_signal)sig, (const uint8_t *)"", 0, &res);
		assert_int_equal(res.status, 0);
	}
}

static void stop_loop(void *arg)
{
	loop_stop(arg);
}

/* Run the loop for s seconds. */
static void run_for(struct fx *f, double s)
{
	struct loop_timer stop = { 0 };

	loop_timer_start(f->loop, &stop, loop_now() + s, stop_loop, f->loop);
	loop_run(f->loop);
}

static void platform(struct tracker *t, const char *type, const char *rid, int64_t at,
		     double ms)
{
	char text[256];
	json_t *rec;

	snprintf(text, sizeof(text), "{\"requestId\":\"%s\",\"status\":\"success\","
		 "\"metrics\":{\"durationMs\":%g,\"billedDurationMs\":%g,\"memorySizeMB\":128,"
		 "\"maxMemoryUsedMB\":60}}", rid, ms, ms);
	rec = json_loads(text, 0, NULL);
	assert_int_equal(tracker_event(t, type, rec, at), 0);
	json_decref(rec);
}

/* One span (id, trace TID, parent the caller's) that began at ms, as its SDK sends it. */
static size_t one_span(uint8_t id, int64_t ms, uint8_t *wire)
{
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest req =
		OPENTELEMETRY__PROTO__COLLECTOR__TRACE__V1__EXPORT_TRACE_SERVICE_REQUEST__INIT;
	Opentelemetry__Proto__Trace__V1__ResourceSpans rs =
		OPENTELEMETRY__PROTO__TRACE__V1__RESOURCE_SPANS__INIT, *rsp = &rs;
	Opentelemetry__Proto__Trace__V1__ScopeSpans ss =
		OPENTELEMETRY__PROTO__TRACE__V1__SCOPE_SPANS__INIT, *ssp = &ss;
	Span a, *spans[] = { &a };

	span_set(&a, "handler", TID, 16, id, CALLER);
	a.start_time_unix_nano = (uint64_t)ms * 1000000u + 123;
	a.end_time_unix_nano = a.start_time_unix_nano + 1000;
	ss.spans = spans;
	ss.n_spans = 1;
	rs.scope_spans = &ssp;
	rs.n_scope_spans = 1;
	req.resource_spans = &rsp;
	req.n_resource_spans = 1;
	return opentelemetry__proto__collector__trace__v1__export_trace_service_request__pack(&req,
											      wire);
}

/* The invocation each span the sink got was given, in the order they came, into out. */
static void joined(struct fx *f, char out[][64], size_t *n)
{
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *got =
		opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
			NULL, f->cap.data.len, (const uint8_t *)f->cap.data.data);

	assert_non_null(got);
	*n = 0;
	for (size_t i = 0; i < got->n_resource_spans; i++) {
		Span *s = got->resource_spans[i]->scope_spans[0]->spans[0];
		uint8_t invoke[8];

		snprintf(out[*n], 64, "%s", attr_str(s->attributes, s->n_attributes,
						     "faas.invocation_id"));
		trace_invoke_span_id(out[*n], invoke);
		assert_memory_equal(s->parent_span_id.data, invoke, 8);
		(*n)++;
	}
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(
		got, NULL);
}

/* The SDK's export can reach vigil before the extension hears of the invocation it belongs
 * to (INVOKE goes to the runtime and the extension at once): such a span waits for it rather
 * than join the one before (they share the trace: a caller invoking again and again). */
static void test_span_waits_for_its_invocation(void **state)
{
	struct fx *f = *state;
	int64_t T = clock_epoch_ms() - 10000;
	struct otlp_in_result res;
	uint8_t wire[1024];
	char rids[8][64];
	size_t n, got;

	tracker_invoke(f->t, "rid-1", 0, HEADER);
	platform(f->t, "platform.start", "rid-1", T, 0);
	/* rid-1's own span, while it runs: its end not known yet, so it waits for it... */
	n = one_span(1, T + 10, wire);
	otlp_in_take(f->in, OTLP_TRACES, wire, n, &res);
	assert_int_equal(res.status, 0);
	assert_int_equal(res.rejected, 0);
	run_for(f, 0.02);
	assert_int_equal(f->cap.spans, 0);
	/* ...taken once the platform says rid-1 is over. */
	platform(f->t, "platform.runtimeDone", "rid-1", T + 100, 100);
	platform(f->t, "platform.report", "rid-1", T + 101, 101);
	run_for(f, 0.02);
	assert_int_equal(f->cap.spans, 1);
	/* rid-2's span, before the extension has heard of rid-2: waits (and so does the next
	 * request, in its order) */
	n = one_span(2, T + 130, wire);
	otlp_in_take(f->in, OTLP_TRACES, wire, n, &res);
	assert_int_equal(res.status, 0);
	n = one_span(3, T + 50, wire);		/* (rid-1's, late) */
	otlp_in_take(f->in, OTLP_TRACES, wire, n, &res);
	run_for(f, 0.05);
	assert_int_equal(f->cap.spans, 1);
	tracker_invoke(f->t, "rid-2", 0, HEADER);
	platform(f->t, "platform.start", "rid-2", T + 120, 0);
	run_for(f, 0.02);
	assert_int_equal(f->cap.spans, 1);	/* (rid-2's, or a third's after it?) */
	platform(f->t, "platform.runtimeDone", "rid-2", T + 200, 80);
	run_for(f, 0.02);
	assert_int_equal(f->cap.spans, 3);
	joined(f, rids, &got);
	assert_int_equal(got, 3);
	assert_string_equal(rids[0], "rid-1");
	assert_string_equal(rids[1], "rid-2");
	assert_string_equal(rids[2], "rid-1");
	/* Never heard of: taken after HOLD_MAX_S (1 s) as things stand. */
	n = one_span(4, T + 9000, wire);
	otlp_in_take(f->in, OTLP_TRACES, wire, n, &res);
	run_for(f, 0.5);
	assert_int_equal(f->cap.spans, 3);
	run_for(f, 0.7);
	assert_int_equal(f->cap.spans, 4);
	/* A full exporter queue: held on (nothing lost), taken once there is room. */
	f->cap.full = true;
	n = one_span(5, T + 9000, wire);
	otlp_in_take(f->in, OTLP_TRACES, wire, n, &res);
	assert_int_equal(res.status, 0);
	run_for(f, 1.2);
	assert_int_equal(f->cap.spans, 4);
	f->cap.full = false;
	run_for(f, 0.2);
	assert_int_equal(f->cap.spans, 5);
	/* The receiver stops: what waits is taken at once; nothing waits after. */
	n = one_span(6, T + 9000, wire);
	otlp_in_take(f->in, OTLP_TRACES, wire, n, &res);
	assert_int_equal(f->cap.spans, 5);
	otlp_in_flush(f->in);
	assert_int_equal(f->cap.spans, 6);
	n = one_span(7, T + 9000, wire);
	otlp_in_take(f->in, OTLP_TRACES, wire, n, &res);
	assert_int_equal(f->cap.spans, 7);
	/* Malformed: refused at once, never held. */
	otlp_in_take(f->in, OTLP_TRACES, (const uint8_t *)"\x0a\x05\x12", 3, &res);
	assert_int_equal(res.status, -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_spans_joined_and_resource_merged, setup, teardown),
		cmocka_unit_test_setup_teardown(test_json_traces_equal_protobuf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_metrics, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_span_waits_for_its_invocation, setup_held,
						teardown),
	};

	log_set_level(LOG_OFF);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
