/* exporters/otlp's hand-written encoder, decoded with protobuf-c code generated from the
 * official OTLP .proto files (Debian's opentelemetry-proto): logs, spans, metrics, resource;
 * trace headers and the backend's answers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

#include "../../agent/core/metrics.h"
#include "../../agent/core/tracker.h"
#include "../../agent/util/tracectx.h"
#include "../../exporters/otlp/otlp.h"
#include "opentelemetry/proto/collector/logs/v1/logs_service.pb-c.h"
#include "opentelemetry/proto/collector/metrics/v1/metrics_service.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

typedef Opentelemetry__Proto__Common__V1__KeyValue KeyValue;

static const Opentelemetry__Proto__Common__V1__AnyValue *attr(KeyValue **kv, size_t n,
								const char *key)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(kv[i]->key, key) == 0)
			return kv[i]->value;
	return NULL;
}

static const char *attr_str(KeyValue **kv, size_t n, const char *key)
{
	const Opentelemetry__Proto__Common__V1__AnyValue *v = attr(kv, n, key);

	return v && v->value_case == OPENTELEMETRY__PROTO__COMMON__V1__ANY_VALUE__VALUE_STRING_VALUE ?
		       v->string_value : NULL;
}

static void resource(struct otlp_resource *r)
{
	memset(r, 0, sizeof(*r));
	r->aws = true;
	strcpy(r->region, "eu-west-1");
	strcpy(r->account_id, "123456789012");
	strcpy(r->function_name, "orders");
	strcpy(r->function_version, "7");
	strcpy(r->instance, "2024/06/01/[7]abc");
	strcpy(r->log_group, "/aws/lambda/orders");
	strcpy(r->log_stream, "2024/06/01/[7]abc");
	strcpy(r->arch, "arm64");
	r->memory_mb = 512;
	strcpy(r->attributes, "deployment.environment=prod, team=a%2Cb,faas.version=override,bad");
}

static void test_logs(void **state)
{
	struct otlp_resource res;
	struct buf rb, items, req;
	Vigil__V1__Field f1 = VIGIL__V1__FIELD__INIT, f2 = VIGIL__V1__FIELD__INIT,
			 f3 = VIGIL__V1__FIELD__INIT, f4 = VIGIL__V1__FIELD__INIT;
	Vigil__V1__Field *fields[] = { &f1, &f2, &f3, &f4 };
	log_record r = VIGIL__V1__LOG_RECORD__INIT;
	Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceRequest *m;
	Opentelemetry__Proto__Logs__V1__LogRecord *lr;
	Opentelemetry__Proto__Resource__V1__Resource *rs;
	static const uint8_t tid[16] = { 0x57, 0x59, 0xe9, 0x88, 0xbd, 0x86, 0x2e, 0x3f,
					 0xe1, 0xbe, 0x46, 0xa9, 0x94, 0x27, 0x27, 0x93 };

	(void)state;
	resource(&res);
	buf_init(&rb);
	buf_init(&items);
	buf_init(&req);
	otlp_encode_resource(&rb, &res);
	f1.key = "orderId";
	f1.value_case = VIGIL__V1__FIELD__VALUE_TEXT;
	f1.text = "o-1";
	f2.key = "amount";
	f2.value_case = VIGIL__V1__FIELD__VALUE_DECIMAL;
	f2.decimal = "2.50";
	f3.key = "n";
	f3.value_case = VIGIL__V1__FIELD__VALUE_INTEGER;
	f3.integer = -3;
	f4.key = "ok";
	f4.value_case = VIGIL__V1__FIELD__VALUE_FLAG;
	f4.flag = 1;
	r.time_ns = 1717200000123456789LL;
	r.source = VIGIL__V1__SOURCE__SOURCE_FUNCTION;
	r.level = "ERROR";
	r.message = "payment failed";
	r.request_id = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";
	r.trace_id = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1";
	r.fields = fields;
	r.n_fields = 4;
	otlp_encode_log(&items, &r);
	r.level = "";
	r.message = "";
	r.trace_id = "";
	r.n_fields = 0;
	r.source = VIGIL__V1__SOURCE__SOURCE_EXTENSION;
	r.extension = "vigil";
	otlp_encode_log(&items, &r);
	otlp_encode_request(&req, &rb, &items);
	m = opentelemetry__proto__collector__logs__v1__export_logs_service_request__unpack(
		NULL, req.len, (const uint8_t *)req.data);
	assert_non_null(m);
	assert_int_equal(m->n_resource_logs, 1);
	rs = m->resource_logs[0]->resource;
	assert_string_equal(attr_str(rs->attributes, rs->n_attributes, "cloud.provider"), "aws");
	assert_string_equal(attr_str(rs->attributes, rs->n_attributes, "cloud.platform"),
			    "aws_lambda");
	assert_string_equal(attr_str(rs->attributes, rs->n_attributes, "service.name"), "orders");
	assert_string_equal(attr_str(rs->attributes, rs->n_attributes, "faas.version"),
			    "override");	/* OTEL_RESOURCE_ATTRIBUTES wins */
	assert_string_equal(attr_str(rs->attributes, rs->n_attributes, "team"), "a,b");
	assert_string_equal(attr_str(rs->attributes, rs->n_attributes, "cloud.account.id"),
			    "123456789012");
	assert_int_equal(attr(rs->attributes, rs->n_attributes, "faas.max_memory")->int_value,
			 512 << 20);
	assert_int_equal(attr(rs->attributes, rs->n_attributes, "aws.log.group.names")
				 ->array_value->n_values, 1);
	assert_null(attr(rs->attributes, rs->n_attributes, "bad"));
	{	/* each key once */
		for (size_t i = 0; i < rs->n_attributes; i++)
			for (size_t j = i + 1; j < rs->n_attributes; j++)
				assert_string_not_equal(rs->attributes[i]->key,
							rs->attributes[j]->key);
	}
	assert_string_equal(m->resource_logs[0]->scope_logs[0]->scope->name, "vigil");
	assert_int_equal(m->resource_logs[0]->scope_logs[0]->n_log_records, 2);
	lr = m->resource_logs[0]->scope_logs[0]->log_records[0];
	assert_int_equal(lr->time_unix_nano, 1717200000123456789ULL);
	assert_int_equal(lr->observed_time_unix_nano, 1717200000123456789ULL);
	assert_int_equal(lr->severity_number, 17);
	assert_string_equal(lr->severity_text, "ERROR");
	assert_string_equal(lr->body->string_value, "payment failed");
	assert_string_equal(attr_str(lr->attributes, lr->n_attributes, "faas.invocation_id"),
			    "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
	assert_string_equal(attr_str(lr->attributes, lr->n_attributes, "orderId"), "o-1");
	assert_true(attr(lr->attributes, lr->n_attributes, "amount")->double_value == 2.5);
	assert_int_equal(attr(lr->attributes, lr->n_attributes, "n")->int_value, -3);
	assert_true(attr(lr->attributes, lr->n_attributes, "ok")->bool_value);
	assert_int_equal(lr->trace_id.len, 16);
	assert_memory_equal(lr->trace_id.data, tid, 16);
	assert_int_equal(lr->span_id.len, 8);
	assert_int_equal(lr->flags, 1);
	lr = m->resource_logs[0]->scope_logs[0]->log_records[1];
	assert_int_equal(lr->severity_number, 0);
	assert_string_equal(lr->body->string_value, "");
	assert_string_equal(attr_str(lr->attributes, lr->n_attributes, "vigil.extension"), "vigil");
	assert_int_equal(lr->trace_id.len, 0);
	opentelemetry__proto__collector__logs__v1__export_logs_service_request__free_unpacked(m, NULL);
	buf_free(&rb);
	buf_free(&items);
	buf_free(&req);
}

static void test_spans(void **state)
{
	struct invocation_report r = { 0 };
	struct buf rb, items, req;
	Opentelemetry__Proto__Collector__Trace__V1__ExportTraceServiceRequest *m;
	Opentelemetry__Proto__Trace__V1__Span **s, *invoke = NULL, *init = NULL;
	size_t n, got;

	(void)state;
	buf_init(&rb);
	buf_init(&items);
	buf_init(&req);
	strcpy(r.request_id, "rid-1");
	strcpy(r.trace_id, "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;"
			   "Sampled=1");
	r.start_ms = 1717200000000;
	r.cold_start = true;
	r.init_duration_ms = 120.5;
	r.duration_ms = 42.25;
	r.runtime_ms = 40;
	r.post_runtime_ms = 2.25;
	r.response_latency_ms = 30;
	r.response_duration_ms = 10;
	r.status = REPORT_TIMEOUT;
	n = otlp_encode_spans(&items, &r, false);
	assert_int_equal(n, 5);
	otlp_encode_request(&req, &rb, &items);
	m = opentelemetry__proto__collector__trace__v1__export_trace_service_request__unpack(
		NULL, req.len, (const uint8_t *)req.data);
	assert_non_null(m);
	got = m->resource_spans[0]->scope_spans[0]->n_spans;
	s = m->resource_spans[0]->scope_spans[0]->spans;
	assert_int_equal(got, 5);
	for (size_t i = 0; i < got; i++) {
		if (strcmp(s[i]->name, "invoke") == 0)
			invoke = s[i];
		if (strcmp(s[i]->name, "init") == 0)
			init = s[i];
	}
	assert_non_null(invoke);
	assert_non_null(init);
	assert_int_equal(invoke->kind, OPENTELEMETRY__PROTO__TRACE__V1__SPAN__SPAN_KIND__SPAN_KIND_SERVER);
	assert_int_equal(invoke->start_time_unix_nano, 1717200000000000000ULL);
	assert_int_equal(invoke->end_time_unix_nano - invoke->start_time_unix_nano, 42250000);
	assert_int_equal(invoke->parent_span_id.len, 8);
	assert_int_equal(invoke->status->code,
			 OPENTELEMETRY__PROTO__TRACE__V1__STATUS__STATUS_CODE__STATUS_CODE_ERROR);
	assert_string_equal(invoke->status->message, "timeout");
	assert_int_equal(invoke->n_links, 1);
	assert_memory_equal(invoke->links[0]->span_id.data, init->span_id.data, 8);
	assert_int_equal(init->end_time_unix_nano, invoke->start_time_unix_nano);
	assert_int_equal(init->end_time_unix_nano - init->start_time_unix_nano, 120500000);
	assert_true(attr(invoke->attributes, invoke->n_attributes, "faas.coldstart")->bool_value);
	for (size_t i = 0; i < got; i++) {
		assert_memory_equal(s[i]->trace_id.data, invoke->trace_id.data, 16);
		if (s[i] == invoke || s[i] == init)
			continue;
		assert_memory_equal(s[i]->parent_span_id.data, invoke->span_id.data, 8);
		assert_true(s[i]->start_time_unix_nano >= invoke->start_time_unix_nano);
		assert_true(s[i]->end_time_unix_nano <= invoke->end_time_unix_nano);
	}
	opentelemetry__proto__collector__trace__v1__export_trace_service_request__free_unpacked(m, NULL);
	/* Sampled=0: nothing, unless asked. */
	buf_reset(&items);
	strcpy(r.trace_id, "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;"
			   "Sampled=0");
	assert_int_equal(otlp_encode_spans(&items, &r, false), 0);
	assert_int_equal(items.len, 0);
	assert_int_equal(otlp_encode_spans(&items, &r, true), 5);
	/* No header: a trace of its own, no parent. */
	r.trace_id[0] = '\0';
	r.cold_start = false;
	assert_int_equal(otlp_encode_spans(&items, &r, false), 4);
	buf_free(&rb);
	buf_free(&items);
	buf_free(&req);
}

static void test_metrics(void **state)
{
	struct metric_registry *reg = metric_registry_new(100);
	struct metric_desc d;
	struct metric_family *c, *h;
	struct buf rb, items, req;
	Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest *m;
	Opentelemetry__Proto__Metrics__V1__ScopeMetrics *sm;
	static const double bounds[] = { 0.1, 1, 10 };
	size_t points;

	(void)state;
	buf_init(&rb);
	buf_init(&items);
	buf_init(&req);
	d = (struct metric_desc){ .name = "t_invocations_total", .help = "Invocations.",
				  .type = METRIC_COUNTER, .labels = { "function", "status" } };
	c = metric_register(reg, &d);
	metric_add(metric_with(c, "fn", "ok"), 3);
	metric_add(metric_with(c, "fn", ""), 1);
	d = (struct metric_desc){ .name = "t_duration_seconds", .help = "Durations.",
				  .type = METRIC_HISTOGRAM, .unit = "seconds", .buckets = bounds,
				  .nbuckets = 3 };
	h = metric_register(reg, &d);
	metric_observe(metric_series_get(h, NULL), 0.05);
	metric_observe(metric_series_get(h, NULL), 5);
	metric_observe(metric_series_get(h, NULL), 50);
	d = (struct metric_desc){ .name = "t_queue", .help = "Queue.", .type = METRIC_GAUGE };
	metric_set(metric_series_get(metric_register(reg, &d), NULL), 7);
	points = otlp_encode_metrics(&items, reg, 100, 200, NULL);
	assert_int_equal(points, 4);
	otlp_encode_request(&req, &rb, &items);
	m = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
		NULL, req.len, (const uint8_t *)req.data);
	assert_non_null(m);
	sm = m->resource_metrics[0]->scope_metrics[0];
	assert_int_equal(sm->n_metrics, 3);
	{
		Opentelemetry__Proto__Metrics__V1__Metric *x = sm->metrics[0];
		Opentelemetry__Proto__Metrics__V1__NumberDataPoint *p;

		assert_string_equal(x->name, "t_invocations_total");
		assert_int_equal(x->data_case, OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM);
		assert_true(x->sum->is_monotonic);
		assert_int_equal(x->sum->aggregation_temporality,
				 OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_CUMULATIVE);
		assert_int_equal(x->sum->n_data_points, 2);
		p = x->sum->data_points[0];
		assert_true(p->as_double == 3);
		assert_int_equal(p->start_time_unix_nano, 100);
		assert_int_equal(p->time_unix_nano, 200);
		assert_int_equal(p->n_attributes, 2);
		assert_int_equal(x->sum->data_points[1]->n_attributes, 1);	/* "" is no label */
	}
	{
		Opentelemetry__Proto__Metrics__V1__Metric *x = sm->metrics[1];
		Opentelemetry__Proto__Metrics__V1__HistogramDataPoint *p;

		assert_string_equal(x->unit, "s");
		assert_int_equal(x->data_case,
				 OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_HISTOGRAM);
		p = x->histogram->data_points[0];
		assert_int_equal(p->count, 3);
		assert_true(p->sum == 55.05);
		assert_int_equal(p->n_explicit_bounds, 3);
		assert_int_equal(p->n_bucket_counts, 4);
		assert_int_equal(p->bucket_counts[0], 1);
		assert_int_equal(p->bucket_counts[1], 0);
		assert_int_equal(p->bucket_counts[2], 1);
		assert_int_equal(p->bucket_counts[3], 1);
		assert_true(p->explicit_bounds[1] == 1);
	}
	assert_int_equal(sm->metrics[2]->data_case,
			 OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_GAUGE);
	assert_true(sm->metrics[2]->gauge->data_points[0]->as_double == 7);
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(m, NULL);
	metric_registry_destroy(reg);
	buf_free(&rb);
	buf_free(&items);
	buf_free(&req);
}

/* The value of the first point of metric name in an encoded metrics request. */
static double first_point(const struct buf *items, const char *name, uint64_t *start,
			  uint64_t *count)
{
	struct buf rb, req;
	Opentelemetry__Proto__Collector__Metrics__V1__ExportMetricsServiceRequest *m;
	double v = -1;

	buf_init(&rb);
	buf_init(&req);
	otlp_encode_request(&req, &rb, items);
	m = opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__unpack(
		NULL, req.len, (const uint8_t *)req.data);
	assert_non_null(m);
	for (size_t i = 0; i < m->resource_metrics[0]->scope_metrics[0]->n_metrics; i++) {
		Opentelemetry__Proto__Metrics__V1__Metric *x =
			m->resource_metrics[0]->scope_metrics[0]->metrics[i];

		if (strcmp(x->name, name) != 0)
			continue;
		if (x->data_case == OPENTELEMETRY__PROTO__METRICS__V1__METRIC__DATA_SUM) {
			assert_int_equal(x->sum->aggregation_temporality,
					 OPENTELEMETRY__PROTO__METRICS__V1__AGGREGATION_TEMPORALITY__AGGREGATION_TEMPORALITY_DELTA);
			v = x->sum->data_points[0]->as_double;
			*start = x->sum->data_points[0]->start_time_unix_nano;
		} else {
			v = x->histogram->data_points[0]->sum;
			*start = x->histogram->data_points[0]->start_time_unix_nano;
			*count = x->histogram->data_points[0]->count;
		}
	}
	opentelemetry__proto__collector__metrics__v1__export_metrics_service_request__free_unpacked(m, NULL);
	buf_free(&rb);
	buf_free(&req);
	return v;
}

/* Delta temporality: each export the change since the last one the backend took; an export
 * that was not taken is carried into the next. */
static void test_metrics_delta(void **state)
{
	struct metric_registry *reg = metric_registry_new(100);
	struct otlp_delta *delta = otlp_delta_new();
	struct metric_desc d = { .name = "t_total", .help = "T.", .type = METRIC_COUNTER };
	struct metric_series *c = metric_series_get(metric_register(reg, &d), NULL), *h;
	static const double bounds[] = { 1, 10 };
	struct buf items;
	uint64_t start = 0, count = 0;

	(void)state;
	d = (struct metric_desc){ .name = "t_seconds", .help = "H.", .type = METRIC_HISTOGRAM,
				  .buckets = bounds, .nbuckets = 2 };
	h = metric_series_get(metric_register(reg, &d), NULL);
	buf_init(&items);
	metric_add(c, 3);
	metric_observe(h, 5);
	otlp_encode_metrics(&items, reg, 100, 200, delta);
	assert_true(first_point(&items, "t_total", &start, &count) == 3);
	assert_int_equal(start, 100);
	assert_true(first_point(&items, "t_seconds", &start, &count) == 5);
	assert_int_equal(count, 1);
	otlp_delta_commit(delta);	/* taken */
	metric_add(c, 2);
	metric_observe(h, 0.5);
	buf_reset(&items);
	otlp_encode_metrics(&items, reg, 100, 300, delta);
	assert_true(first_point(&items, "t_total", &start, &count) == 2);
	assert_int_equal(start, 200);
	assert_true(first_point(&items, "t_seconds", &start, &count) == 0.5);
	assert_int_equal(count, 1);
	/* not taken: the next export carries it */
	metric_add(c, 1);
	buf_reset(&items);
	otlp_encode_metrics(&items, reg, 100, 400, delta);
	assert_true(first_point(&items, "t_total", &start, &count) == 3);
	assert_int_equal(start, 200);
	assert_int_equal(count, 1);
	otlp_delta_free(delta);
	metric_registry_destroy(reg);
	buf_free(&items);
}

/* A head and a body compressed as one stream, for each compression, and back. */
static void test_compress_parts(void **state)
{
	static const enum otlp_compression kinds[] = { OTLP_GZIP, OTLP_ZSTD, OTLP_NONE };
	size_t n = 300000;
	char *body = malloc(n), head[40], *back = malloc(n + sizeof(head));

	(void)state;
	memset(head, 'h', sizeof(head));
	for (size_t i = 0; i < n; i++)
		body[i] = (char)("orders processed "[i % 17] + (i / 1000) % 3);
	for (size_t k = 0; k < 3; k++) {
		for (size_t bn = 0; bn <= n; bn += bn ? n / 2 : 1) {
			struct buf out;
			size_t got = n + sizeof(head);

			buf_init(&out);
			assert_int_equal(otlp_compress_parts(kinds[k], head, sizeof(head), body, bn,
							     &out), 0);
			if (kinds[k] == OTLP_GZIP) {
				z_stream z = { 0 };

				assert_int_equal(inflateInit2(&z, 15 + 16), Z_OK);
				z.next_in = (Bytef *)out.data;
				z.avail_in = (uInt)out.len;
				z.next_out = (Bytef *)back;
				z.avail_out = (uInt)got;
				assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
				got = z.total_out;
				inflateEnd(&z);
			} else if (kinds[k] == OTLP_ZSTD) {
				got = ZSTD_decompress(back, got, out.data, out.len);
				assert_false(ZSTD_isError(got));
			} else {
				memcpy(back, out.data, out.len);
				got = out.len;
			}
			assert_int_equal(got, sizeof(head) + bn);
			assert_memory_equal(back, head, sizeof(head));
			assert_memory_equal(back + sizeof(head), body, bn);
			buf_free(&out);
		}
	}
	free(body);
	free(back);
}

static void test_trace_context(void **state)
{
	uint8_t t[16], p[8];
	bool hp;
	int sampled;

	(void)state;
	assert_true(trace_context("Root=1-5759e988-bd862e3fe1be46a994272793;Parent="
				       "53995c3f42cd8ad8;Sampled=1", t, p, &hp, &sampled));
	assert_true(hp);
	assert_int_equal(sampled, 1);
	assert_int_equal(t[0], 0x57);
	assert_int_equal(t[15], 0x93);
	assert_int_equal(p[7], 0xd8);
	assert_true(trace_context("Sampled=0; Root=1-5759e988-bd862e3fe1be46a994272793", t, p,
				       &hp, &sampled));
	assert_false(hp);
	assert_int_equal(sampled, 0);
	assert_true(trace_context("1-5759e988-bd862e3fe1be46a994272793", t, p, &hp, &sampled));
	assert_int_equal(sampled, -1);
	assert_true(trace_context("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
				       t, p, &hp, &sampled));
	assert_true(hp);
	assert_int_equal(sampled, 1);
	assert_int_equal(t[0], 0x0a);
	assert_true(trace_context("0af7651916cd43dd8448eb211c80319c", t, p, &hp, &sampled));
	assert_false(trace_context("00000000000000000000000000000000", t, p, &hp, &sampled));
	assert_false(trace_context("Root=1-00000000-000000000000000000000000", t, p, &hp,
					&sampled));
	assert_false(trace_context("Root=1-5759e988-bd862e3fe1be46a99427279;Parent=x", t, p,
					&hp, &sampled));
	assert_false(trace_context("Root=1-5759e98g-bd862e3fe1be46a994272793", t, p, &hp,
					&sampled));
	assert_false(trace_context("", t, p, &hp, &sampled));
	assert_false(trace_context("Parent=53995c3f42cd8ad8", t, p, &hp, &sampled));
	assert_false(hp);
}

static void test_responses(void **state)
{
	Opentelemetry__Proto__Collector__Logs__V1__ExportLogsServiceResponse resp =
		OPENTELEMETRY__PROTO__COLLECTOR__LOGS__V1__EXPORT_LOGS_SERVICE_RESPONSE__INIT;
	Opentelemetry__Proto__Collector__Logs__V1__ExportLogsPartialSuccess ps =
		OPENTELEMETRY__PROTO__COLLECTOR__LOGS__V1__EXPORT_LOGS_PARTIAL_SUCCESS__INIT;
	uint8_t b[256] = { 0 };
	size_t n;
	int64_t rejected;
	char msg[64];

	(void)state;
	assert_int_equal(otlp_parse_response(b, 0, &rejected, msg, sizeof(msg)), 0);
	assert_int_equal(rejected, 0);
	ps.rejected_log_records = 42;
	ps.error_message = "too old";
	resp.partial_success = &ps;
	n = opentelemetry__proto__collector__logs__v1__export_logs_service_response__pack(&resp, b);
	assert_int_equal(otlp_parse_response(b, n, &rejected, msg, sizeof(msg)), 0);
	assert_int_equal(rejected, 42);
	assert_string_equal(msg, "too old");
	for (size_t cut = 1; cut < n; cut++)
		otlp_parse_response(b, cut, &rejected, msg, sizeof(msg));	/* never past */
	assert_int_equal(otlp_parse_response(b, n - 1, &rejected, msg, sizeof(msg)), -1);
	assert_int_equal(otlp_parse_response((const uint8_t *)"{\"partialSuccess\":{}}", 21,
					     &rejected, msg, sizeof(msg)), -1);
	assert_int_equal(otlp_parse_response(b, n, &rejected, msg, 4), 0);
	assert_string_equal(msg, "too");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_logs),
		cmocka_unit_test(test_spans),
		cmocka_unit_test(test_metrics),
		cmocka_unit_test(test_metrics_delta),
		cmocka_unit_test(test_compress_parts),
		cmocka_unit_test(test_trace_context),
		cmocka_unit_test(test_responses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
