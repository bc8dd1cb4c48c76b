/*
 * OTLP/JSON into OTLP's protobuf, by a table of the messages' fields (names and numbers
 * from the official .proto files): keys in lowerCamelCase (snake_case is taken too), trace
 * and span ids in hex, bytes values in base64, 64-bit integers as strings or numbers, enums
 * as integers. Unknown keys are passed over, as the specification asks of receivers.
 */
#include "otlp_in.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../core/pbwire.h"
#include "../util/base64.h"
#include "../util/tracectx.h"

#define MAX_DEPTH 24

enum ftype { F_MSG, F_STR, F_HEX, F_B64, F_FIXED64, F_SFIXED64, F_DOUBLE, F_VARINT, F_SINT,
	     F_FIXED32, F_PACKED_FIXED64, F_PACKED_DOUBLE };

struct msg;

struct field {
	const char *name;	/* lowerCamelCase */
	uint32_t num;
	enum ftype type;
	const struct msg *msg;	/* F_MSG */
	unsigned hex_len;	/* F_HEX: bytes */
};

struct msg {
	const char *name;
	const struct field *fields;
};

#define FIELDS(...) (const struct field[]){ __VA_ARGS__, { NULL, 0, 0, NULL, 0 } }

extern const struct msg m_any, m_kv;
static const struct msg m_array = { "ArrayValue", FIELDS({ "values", 1, F_MSG, &m_any, 0 }) };
static const struct msg m_kvlist = { "KeyValueList", FIELDS({ "values", 1, F_MSG, &m_kv, 0 }) };
const struct msg m_any = { "AnyValue", FIELDS(
	{ "stringValue", 1, F_STR, NULL, 0 }, { "boolValue", 2, F_VARINT, NULL, 0 },
	{ "intValue", 3, F_SINT, NULL, 0 }, { "doubleValue", 4, F_DOUBLE, NULL, 0 },
	{ "arrayValue", 5, F_MSG, &m_array, 0 }, { "kvlistValue", 6, F_MSG, &m_kvlist, 0 },
	{ "bytesValue", 7, F_B64, NULL, 0 }) };
const struct msg m_kv = { "KeyValue", FIELDS({ "key", 1, F_STR, NULL, 0 },
					     { "value", 2, F_MSG, &m_any, 0 }) };
static const struct msg m_resource = { "Resource", FIELDS(
	{ "attributes", 1, F_MSG, &m_kv, 0 }, { "droppedAttributesCount", 2, F_VARINT, NULL, 0 }) };
static const struct msg m_scope = { "InstrumentationScope", FIELDS(
	{ "name", 1, F_STR, NULL, 0 }, { "version", 2, F_STR, NULL, 0 },
	{ "attributes", 3, F_MSG, &m_kv, 0 }, { "droppedAttributesCount", 4, F_VARINT, NULL, 0 }) };

/* traces */
static const struct msg m_event = { "Span.Event", FIELDS(
	{ "timeUnixNano", 1, F_FIXED64, NULL, 0 }, { "name", 2, F_STR, NULL, 0 },
	{ "attributes", 3, F_MSG, &m_kv, 0 }, { "droppedAttributesCount", 4, F_VARINT, NULL, 0 }) };
static const struct msg m_link = { "Span.Link", FIELDS(
	{ "traceId", 1, F_HEX, NULL, 16 }, { "spanId", 2, F_HEX, NULL, 8 },
	{ "traceState", 3, F_STR, NULL, 0 }, { "attributes", 4, F_MSG, &m_kv, 0 },
	{ "droppedAttributesCount", 5, F_VARINT, NULL, 0 }, { "flags", 6, F_FIXED32, NULL, 0 }) };
static const struct msg m_status = { "Status", FIELDS(
	{ "message", 2, F_STR, NULL, 0 }, { "code", 3, F_VARINT, NULL, 0 }) };
static const struct msg m_span = { "Span", FIELDS(
	{ "traceId", 1, F_HEX, NULL, 16 }, { "spanId", 2, F_HEX, NULL, 8 },
	{ "traceState", 3, F_STR, NULL, 0 }, { "parentSpanId", 4, F_HEX, NULL, 8 },
	{ "flags", 16, F_FIXED32, NULL, 0 }, { "name", 5, F_STR, NULL, 0 },
	{ "kind", 6, F_VARINT, NULL, 0 }, { "startTimeUnixNano", 7, F_FIXED64, NULL, 0 },
	{ "endTimeUnixNano", 8, F_FIXED64, NULL, 0 }, { "attributes", 9, F_MSG, &m_kv, 0 },
	{ "droppedAttributesCount", 10, F_VARINT, NULL, 0 }, { "events", 11, F_MSG, &m_event, 0 },
	{ "droppedEventsCount", 12, F_VARINT, NULL, 0 }, { "links", 13, F_MSG, &m_link, 0 },
	{ "droppedLinksCount", 14, F_VARINT, NULL, 0 }, { "status", 15, F_MSG, &m_status, 0 }) };
static const struct msg m_scope_spans = { "ScopeSpans", FIELDS(
	{ "scope", 1, F_MSG, &m_scope, 0 }, { "spans", 2, F_MSG, &m_span, 0 },
	{ "schemaUrl", 3, F_STR, NULL, 0 }) };
static const struct msg m_resource_spans = { "ResourceSpans", FIELDS(
	{ "resource", 1, F_MSG, &m_resource, 0 }, { "scopeSpans", 2, F_MSG, &m_scope_spans, 0 },
	{ "schemaUrl", 3, F_STR, NULL, 0 }) };
static const struct msg m_traces = { "ExportTraceServiceRequest", FIELDS(
	{ "resourceSpans", 1, F_MSG, &m_resource_spans, 0 }) };

/* logs */
static const struct msg m_log = { "LogRecord", FIELDS(
	{ "timeUnixNano", 1, F_FIXED64, NULL, 0 }, { "observedTimeUnixNano", 11, F_FIXED64, NULL, 0 },
	{ "severityNumber", 2, F_VARINT, NULL, 0 }, { "severityText", 3, F_STR, NULL, 0 },
	{ "body", 5, F_MSG, &m_any, 0 }, { "attributes", 6, F_MSG, &m_kv, 0 },
	{ "droppedAttributesCount", 7, F_VARINT, NULL, 0 }, { "flags", 8, F_FIXED32, NULL, 0 },
	{ "traceId", 9, F_HEX, NULL, 16 }, { "spanId", 10, F_HEX, NULL, 8 },
	{ "eventName", 12, F_STR, NULL, 0 }) };
static const struct msg m_scope_logs = { "ScopeLogs", FIELDS(
	{ "scope", 1, F_MSG, &m_scope, 0 }, { "logRecords", 2, F_MSG, &m_log, 0 },
	{ "schemaUrl", 3, F_STR, NULL, 0 }) };
static const struct msg m_resource_logs = { "ResourceLogs", FIELDS(
	{ "resource", 1, F_MSG, &m_resource, 0 }, { "scopeLogs", 2, F_MSG, &m_scope_logs, 0 },
	{ "schemaUrl", 3, F_STR, NULL, 0 }) };
static const struct msg m_logs = { "ExportLogsServiceRequest", FIELDS(
	{ "resourceLogs", 1, F_MSG, &m_resource_logs, 0 }) };

/* metrics */
static const struct msg m_number_point = { "NumberDataPoint", FIELDS(
	{ "attributes", 7, F_MSG, &m_kv, 0 }, { "startTimeUnixNano", 2, F_FIXED64, NULL, 0 },
	{ "timeUnixNano", 3, F_FIXED64, NULL, 0 }, { "asDouble", 4, F_DOUBLE, NULL, 0 },
	{ "asInt", 6, F_SFIXED64, NULL, 0 }, { "flags", 8, F_VARINT, NULL, 0 }) };
static const struct msg m_hist_point = { "HistogramDataPoint", FIELDS(
	{ "attributes", 9, F_MSG, &m_kv, 0 }, { "startTimeUnixNano", 2, F_FIXED64, NULL, 0 },
	{ "timeUnixNano", 3, F_FIXED64, NULL, 0 }, { "count", 4, F_FIXED64, NULL, 0 },
	{ "sum", 5, F_DOUBLE, NULL, 0 }, { "bucketCounts", 6, F_PACKED_FIXED64, NULL, 0 },
	{ "explicitBounds", 7, F_PACKED_DOUBLE, NULL, 0 }, { "flags", 10, F_VARINT, NULL, 0 },
	{ "min", 11, F_DOUBLE, NULL, 0 }, { "max", 12, F_DOUBLE, NULL, 0 }) };
static const struct msg m_other_point = { "DataPoint", FIELDS(
	{ "timeUnixNano", 3, F_FIXED64, NULL, 0 }) };
static const struct msg m_gauge = { "Gauge", FIELDS({ "dataPoints", 1, F_MSG, &m_number_point, 0 }) };
static const struct msg m_sum = { "Sum", FIELDS(
	{ "dataPoints", 1, F_MSG, &m_number_point, 0 },
	{ "aggregationTemporality", 2, F_VARINT, NULL, 0 }, { "isMonotonic", 3, F_VARINT, NULL, 0 }) };
static const struct msg m_histogram = { "Histogram", FIELDS(
	{ "dataPoints", 1, F_MSG, &m_hist_point, 0 },
	{ "aggregationTemporality", 2, F_VARINT, NULL, 0 }) };
static const struct msg m_other = { "ExponentialHistogram", FIELDS(
	{ "dataPoints", 1, F_MSG, &m_other_point, 0 },
	{ "aggregationTemporality", 2, F_VARINT, NULL, 0 }) };
static const struct msg m_metric = { "Metric", FIELDS(
	{ "name", 1, F_STR, NULL, 0 }, { "description", 2, F_STR, NULL, 0 },
	{ "unit", 3, F_STR, NULL, 0 }, { "gauge", 5, F_MSG, &m_gauge, 0 },
	{ "sum", 7, F_MSG, &m_sum, 0 }, { "histogram", 9, F_MSG, &m_histogram, 0 },
	{ "exponentialHistogram", 10, F_MSG, &m_other, 0 }, { "summary", 11, F_MSG, &m_other, 0 },
	{ "metadata", 12, F_MSG, &m_kv, 0 }) };
static const struct msg m_scope_metrics = { "ScopeMetrics", FIELDS(
	{ "scope", 1, F_MSG, &m_scope, 0 }, { "metrics", 2, F_MSG, &m_metric, 0 },
	{ "schemaUrl", 3, F_STR, NULL, 0 }) };
static const struct msg m_resource_metrics = { "ResourceMetrics", FIELDS(
	{ "resource", 1, F_MSG, &m_resource, 0 }, { "scopeMetrics", 2, F_MSG, &m_scope_metrics, 0 },
	{ "schemaUrl", 3, F_STR, NULL, 0 }) };
static const struct msg m_metrics = { "ExportMetricsServiceRequest", FIELDS(
	{ "resourceMetrics", 1, F_MSG, &m_resource_metrics, 0 }) };

struct ctx {
	char *why;
	size_t why_len;
};

static int bad(struct ctx *c, const struct msg *m, const char *key, const char *what)
{
	snprintf(c->why, c->why_len, "%s.%s: %s", m->name, key, what);
	return -1;
}

/* key names field (lowerCamelCase, or the .proto's snake_case). */
static bool same_name(const char *key, const char *name)
{
	while (*key && *name) {
		if (*key == '_') {
			key++;
			continue;
		}
		if (tolower((unsigned char)*key) != tolower((unsigned char)*name))
			return false;
		key++;
		name++;
	}
	return !*key && !*name;
}

static bool int_of(json_t *v, bool is_signed, uint64_t *out)
{
	if (json_is_integer(v)) {
		*out = (uint64_t)json_integer_value(v);
		return is_signed || json_integer_value(v) >= 0;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);
		char *end;

		if (!*s)
			return false;
		errno = 0;
		if (is_signed)
			*out = (uint64_t)strtoll(s, &end, 10);
		else if (*s == '-')
			return false;
		else
			*out = strtoull(s, &end, 10);
		return *end == '\0' && errno == 0;
	}
	return false;
}

static bool double_of(json_t *v, double *out)
{
	if (json_is_number(v)) {
		*out = json_number_value(v);
		return true;
	}
	if (json_is_string(v)) {
		const char *s = json_string_value(v);

		if (strcmp(s, "NaN") == 0)
			*out = NAN;
		else if (strcmp(s, "Infinity") == 0)
			*out = INFINITY;
		else if (strcmp(s, "-Infinity") == 0)
			*out = -INFINITY;
		else
			return false;
		return true;
	}
	return false;
}

static void put_fixed64(struct buf *b, uint64_t v)
{
	uint8_t le[8];

	for (int i = 0; i < 8; i++)
		le[i] = (uint8_t)(v >> (8 * i));
	buf_append(b, le, 8);
}

static int encode_msg(struct ctx *c, const struct msg *m, json_t *obj, struct buf *out, int depth);

static int encode_one(struct ctx *c, const struct msg *m, const struct field *f, json_t *v,
		      struct buf *out, int depth)
{
	uint64_t u;
	double d;

	switch (f->type) {
	case F_MSG: {
		size_t at;

		if (!json_is_object(v))
			return bad(c, m, f->name, "not an object");
		at = pb_open(out, PB_TAG(f->num, PB_LEN));
		if (encode_msg(c, f->msg, v, out, depth + 1) < 0)
			return -1;
		pb_close(out, at);
		return 0;
	}
	case F_STR:
		if (!json_is_string(v))
			return bad(c, m, f->name, "not a string");
		pb_buf_bytes(out, PB_TAG(f->num, PB_LEN), json_string_value(v), json_string_length(v));
		return 0;
	case F_HEX: {
		const char *s = json_string_value(v);
		uint8_t id[16];

		if (!s)
			return bad(c, m, f->name, "not a string");
		if (!*s)
			return 0;	/* empty: unset */
		if (strlen(s) != 2 * f->hex_len)
			return bad(c, m, f->name, "not a hex id of the right length");
		if (!trace_hex_decode(s, 2 * f->hex_len, id))
			return bad(c, m, f->name, "not hex");
		pb_buf_bytes(out, PB_TAG(f->num, PB_LEN), id, f->hex_len);
		return 0;
	}
	case F_B64: {
		size_t n;
		char *raw;

		if (!json_is_string(v))
			return bad(c, m, f->name, "not a string");
		raw = base64_decode(json_string_value(v), json_string_length(v), &n);
		if (!raw)
			return bad(c, m, f->name, "not base64");
		pb_buf_bytes(out, PB_TAG(f->num, PB_LEN), raw, n);
		free(raw);
		return 0;
	}
	case F_FIXED64:
	case F_SFIXED64:
		if (!int_of(v, f->type == F_SFIXED64, &u))
			return bad(c, m, f->name, "not a 64-bit integer");
		pb_buf_fixed64(out, PB_TAG(f->num, PB_I64), u);
		return 0;
	case F_FIXED32:
		if (!int_of(v, false, &u) || u > UINT32_MAX)
			return bad(c, m, f->name, "not a 32-bit integer");
		pb_buf_fixed32(out, PB_TAG(f->num, 5), (uint32_t)u);
		return 0;
	case F_DOUBLE:
		if (!double_of(v, &d))
			return bad(c, m, f->name, "not a number");
		pb_buf_double(out, PB_TAG(f->num, PB_I64), d);
		return 0;
	case F_VARINT:
	case F_SINT:
		if (json_is_boolean(v))
			u = json_is_true(v);
		else if (!int_of(v, true, &u))
			return bad(c, m, f->name, "not an integer");
		pb_buf_varint(out, PB_TAG(f->num, PB_VARINT), u);
		return 0;
	case F_PACKED_FIXED64:
	case F_PACKED_DOUBLE: {
		size_t i, at;
		json_t *x;

		if (!json_is_array(v))
			return bad(c, m, f->name, "not an array");
		at = pb_open(out, PB_TAG(f->num, PB_LEN));
		json_array_foreach(v, i, x) {
			if (f->type == F_PACKED_DOUBLE) {
				if (!double_of(x, &d))
					return bad(c, m, f->name, "not numbers");
				memcpy(&u, &d, 8);
			} else if (!int_of(x, false, &u)) {
				return bad(c, m, f->name, "not 64-bit integers");
			}
			put_fixed64(out, u);
		}
		pb_close(out, at);
		return 0;
	}
	}
	return 0;
}

static int encode_msg(struct ctx *c, const struct msg *m, json_t *obj, struct buf *out, int depth)
{
	const char *key;
	json_t *v;

	if (depth > MAX_DEPTH)
		return bad(c, m, "", "nested too deep");
	json_object_foreach(obj, key, v) {
		const struct field *f = m->fields;

		while (f->name && !same_name(key, f->name))
			f++;
		if (!f->name || json_is_null(v))
			continue;	/* unknown keys are passed over */
		if (json_is_array(v) && f->type != F_PACKED_FIXED64 && f->type != F_PACKED_DOUBLE) {
			size_t i;
			json_t *x;

			json_array_foreach(v, i, x)
				if (encode_one(c, m, f, x, out, depth) < 0)
					return -1;
		} else if (encode_one(c, m, f, v, out, depth) < 0) {
			return -1;
		}
	}
	return 0;
}

int otlp_json_to_pb(enum otlp_signal sig, const char *json, size_t n, struct buf *out,
		    char *why, size_t why_len)
{
	static const struct msg *const roots[OTLP_SIGNALS] = { &m_traces, &m_logs, &m_metrics };
	struct ctx c = { why, why_len };
	json_error_t err;
	json_t *root = json_loadb(json, n, JSON_REJECT_DUPLICATES, &err);
	int rc;

	if (!json_is_object(root)) {
		snprintf(why, why_len, "not a JSON object: %s", root ? "another value" : err.text);
		json_decref(root);
		return -1;
	}
	rc = encode_msg(&c, roots[sig], root, out, 0);
	json_decref(root);
	if (rc == 0 && out->failed) {
		snprintf(why, why_len, "out of memory");
		rc = -1;
	}
	return rc;
}
