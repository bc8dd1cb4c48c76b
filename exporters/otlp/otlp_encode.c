/*
 * OTLP messages written with core/pbwire.h. Field numbers are those of the official .proto
 * files (opentelemetry-proto 1.5.0: common, resource, logs, trace, metrics and the collector
 * services); tests/e2e/test_otlp.py decodes what is sent with the official Python bindings.
 */
#include "otlp.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "../../agent/core/coldstart.h"
#include "../../agent/core/pbwire.h"
#include "../../agent/core/tracker.h"
#include "../../agent/util/tracectx.h"
#include "../../agent/util/version.h"

/* common.proto */
enum { ANY_STRING = 1, ANY_BOOL = 2, ANY_INT = 3, ANY_DOUBLE = 4, ANY_ARRAY = 5 };
enum { KV_KEY = 1, KV_VALUE = 2 };
enum { SCOPE_NAME = 1, SCOPE_VERSION = 2 };
/* resource.proto */
enum { RESOURCE_ATTRIBUTES = 1 };
/* logs.proto: LogRecord */
enum { LOG_TIME = 1, LOG_SEVERITY_NUMBER = 2, LOG_SEVERITY_TEXT = 3, LOG_BODY = 5,
       LOG_ATTRIBUTES = 6, LOG_FLAGS = 8, LOG_TRACE_ID = 9, LOG_SPAN_ID = 10,
       LOG_OBSERVED_TIME = 11 };
/* trace.proto: Span, Link, Status */
enum { SPAN_TRACE_ID = 1, SPAN_SPAN_ID = 2, SPAN_PARENT = 4, SPAN_NAME = 5, SPAN_KIND = 6,
       SPAN_START = 7, SPAN_END = 8, SPAN_ATTRIBUTES = 9, SPAN_EVENTS = 11, SPAN_LINKS = 13,
       SPAN_STATUS = 15, SPAN_FLAGS = 16 };
enum { EVENT_TIME = 1, EVENT_NAME = 2 };
enum { LINK_TRACE_ID = 1, LINK_SPAN_ID = 2 };
enum { STATUS_MESSAGE = 2, STATUS_CODE = 3 };
enum { KIND_INTERNAL = 1, KIND_SERVER = 2, KIND_CLIENT = 3 };
enum { CODE_ERROR = 2 };
/* metrics.proto */
enum { METRIC_NAME = 1, METRIC_DESCRIPTION = 2, METRIC_UNIT = 3, METRIC_GAUGE_F = 5,
       METRIC_SUM_F = 7, METRIC_HISTOGRAM_F = 9 };
enum { DATA_POINTS = 1, DATA_TEMPORALITY = 2, SUM_MONOTONIC = 3 };
enum { TEMPORALITY_DELTA = 1, TEMPORALITY_CUMULATIVE = 2 };
enum { NDP_START = 2, NDP_TIME = 3, NDP_DOUBLE = 4, NDP_ATTRIBUTES = 7 };
enum { HDP_START = 2, HDP_TIME = 3, HDP_COUNT = 4, HDP_SUM = 5, HDP_BUCKETS = 6,
       HDP_BOUNDS = 7, HDP_ATTRIBUTES = 9 };
/* Resource*, Scope* (the same numbers for the three signals) */
enum { RES_RESOURCE = 1, RES_SCOPES = 2 };
enum { SCOPE_SCOPE = 1, SCOPE_ITEMS = 2 };
/* Export*ServiceResponse, Export*PartialSuccess */
enum { RESP_PARTIAL = 1 };
enum { PARTIAL_REJECTED = 1, PARTIAL_MESSAGE = 2 };

#define T(field, wire) PB_TAG(field, wire)
#define PB_I32 5	/* fixed32's wire type */

/* --- attributes ------------------------------------------------------------------------- */

/* A KeyValue's start: its tag and length, the key, the value's tag and length (the caller
 * writes the AnyValue's any bytes next). */
static void kv_head(struct buf *b, uint32_t tag, const char *key, size_t any)
{
	size_t kn = strlen(key);

	pb_buf_len(b, tag, pb_len_field(T(KV_KEY, PB_LEN), kn) + pb_len_field(T(KV_VALUE, PB_LEN), any));
	pb_buf_bytes(b, T(KV_KEY, PB_LEN), key, kn);
	pb_buf_len(b, T(KV_VALUE, PB_LEN), any);
}

static void kv_string(struct buf *b, uint32_t tag, const char *key, const char *v, size_t vn)
{
	kv_head(b, tag, key, pb_len_field(T(ANY_STRING, PB_LEN), vn));
	pb_buf_bytes(b, T(ANY_STRING, PB_LEN), v, vn);
}

static void kv_str(struct buf *b, uint32_t tag, const char *key, const char *v)
{
	kv_string(b, tag, key, v, strlen(v));
}

static void kv_int(struct buf *b, uint32_t tag, const char *key, int64_t v)
{
	kv_head(b, tag, key, 1 + pb_varint_len((uint64_t)v));
	pb_buf_varint(b, T(ANY_INT, PB_VARINT), (uint64_t)v);
}

static void kv_bool(struct buf *b, uint32_t tag, const char *key, bool v)
{
	kv_head(b, tag, key, 2);
	pb_buf_varint(b, T(ANY_BOOL, PB_VARINT), v);
}

static void kv_double(struct buf *b, uint32_t tag, const char *key, double v)
{
	kv_head(b, tag, key, 9);
	pb_buf_double(b, T(ANY_DOUBLE, PB_I64), v);
}

/* A string array of one value (aws.log.group.names). */
static void kv_array1(struct buf *b, uint32_t tag, const char *key, const char *v)
{
	size_t vn = strlen(v);
	size_t inner = pb_len_field(T(ANY_STRING, PB_LEN), vn);	/* AnyValue */
	size_t array = pb_len_field(T(1, PB_LEN), inner);		/* ArrayValue */

	kv_head(b, tag, key, pb_len_field(T(ANY_ARRAY, PB_LEN), array));
	pb_buf_len(b, T(ANY_ARRAY, PB_LEN), array);
	pb_buf_len(b, T(1, PB_LEN), inner);
	pb_buf_bytes(b, T(ANY_STRING, PB_LEN), v, vn);
}

/* --- resource ----------------------------------------------------------------------------- */

static int unhex(int c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* s[0..n) trimmed and percent-decoded into out (cap bytes with its NUL). */
static void decode_part(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	while (n && isspace((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n && isspace((unsigned char)s[n - 1]))
		n--;
	for (size_t i = 0; i < n && o + 1 < cap; i++) {
		if (s[i] == '%' && i + 2 < n && unhex(s[i + 1]) >= 0 && unhex(s[i + 2]) >= 0) {
			out[o++] = (char)(unhex(s[i + 1]) * 16 + unhex(s[i + 2]));
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
}

bool otlp_list_next(const char **p, char *k, size_t kn, char *v, size_t vn, bool *has_eq)
{
	const char *s = *p, *end, *eq;
	size_t n;

	if (!s || !*s)
		return false;
	end = strchr(s, ',');
	n = end ? (size_t)(end - s) : strlen(s);
	eq = memchr(s, '=', n);
	*has_eq = eq != NULL;
	decode_part(s, eq ? (size_t)(eq - s) : n, k, kn);
	decode_part(eq ? eq + 1 : s + n, eq ? n - (size_t)(eq - s) - 1 : 0, v, vn);
	*p = end ? end + 1 : s + n;
	return true;
}

/* Whether the key=value list has key (its value copied into out). */
static bool list_get(const char *list, const char *key, char *out, size_t cap)
{
	char k[256];
	bool eq;

	while (otlp_list_next(&list, k, sizeof(k), out, cap, &eq))
		if (eq && strcmp(k, key) == 0)
			return true;
	return false;
}

void otlp_encode_resource(struct buf *b, const struct otlp_resource *r)
{
	const uint32_t tag = T(RESOURCE_ATTRIBUTES, PB_LEN);
	const char *list = r->attributes, *p = list;
	char v[1024], k[256];
	bool eq;

	/* OTEL_RESOURCE_ATTRIBUTES first: what the user set wins over what vigil found.
	 * service.name is OTEL_SERVICE_NAME's (resolved into r->service_name) below. */
	while (otlp_list_next(&p, k, sizeof(k), v, sizeof(v), &eq))
		if (eq && k[0] && strcmp(k, "service.name") != 0)
			kv_str(b, tag, k, v);
#define FOUND(key, value)                                                                 \
	do {                                                                               \
		if ((value)[0] && !list_get(list, key, v, sizeof(v)))                       \
			kv_str(b, tag, key, value);                                         \
	} while (0)
	if (r->service_name[0])
		kv_str(b, tag, "service.name", r->service_name);
	else if (list_get(list, "service.name", v, sizeof(v)) && v[0])
		kv_str(b, tag, "service.name", v);
	else
		kv_str(b, tag, "service.name", r->function_name[0] ? r->function_name :
								      "unknown_service:vigil");
	if (r->aws) {
		FOUND("cloud.provider", "aws");
		FOUND("cloud.platform", "aws_lambda");
	}
	FOUND("cloud.region", r->region);
	FOUND("cloud.account.id", r->account_id);
	FOUND("faas.name", r->function_name);
	FOUND("faas.version", r->function_version);
	FOUND("faas.instance", r->instance);
	if (r->memory_mb > 0 && !list_get(list, "faas.max_memory", v, sizeof(v)))
		kv_int(b, tag, "faas.max_memory", (int64_t)r->memory_mb << 20);
	if (r->log_group[0] && !list_get(list, "aws.log.group.names", v, sizeof(v)))
		kv_array1(b, tag, "aws.log.group.names", r->log_group);
	if (r->log_stream[0] && !list_get(list, "aws.log.stream.names", v, sizeof(v)))
		kv_array1(b, tag, "aws.log.stream.names", r->log_stream);
	FOUND("host.arch", r->arch);
#undef FOUND
}

/* --- logs --------------------------------------------------------------------------------- */

static const char *const source_names[] = { "", "function", "extension", "platform" };

static unsigned severity_number(const char *level)
{
	static const char *const names[] = { "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL" };

	for (unsigned i = 0; i < 6; i++)
		if (strcmp(level, names[i]) == 0)
			return 1 + 4 * i;	/* TRACE 1, DEBUG 5, INFO 9, WARN 13, ERROR 17, FATAL 21 */
	return 0;
}

void otlp_encode_log(struct buf *b, const log_record *r)
{
	const uint32_t at = T(LOG_ATTRIBUTES, PB_LEN);
	uint8_t tid[16], sid[8];
	bool has_span = false;
	int sampled = -1;
	size_t start = pb_open(b, T(SCOPE_ITEMS, PB_LEN));
	size_t mn = r->message ? strlen(r->message) : 0;
	unsigned sev = r->level ? severity_number(r->level) : 0;

	pb_buf_fixed64(b, T(LOG_TIME, PB_I64), (uint64_t)r->time_ns);
	if (sev) {
		pb_buf_varint(b, T(LOG_SEVERITY_NUMBER, PB_VARINT), sev);
		pb_buf_bytes(b, T(LOG_SEVERITY_TEXT, PB_LEN), r->level, strlen(r->level));
	}
	pb_buf_len(b, T(LOG_BODY, PB_LEN), pb_len_field(T(ANY_STRING, PB_LEN), mn));
	pb_buf_bytes(b, T(ANY_STRING, PB_LEN), r->message, mn);
	if (r->request_id && r->request_id[0])
		kv_str(b, at, "faas.invocation_id", r->request_id);
	if ((unsigned)r->source < 4 && r->source)
		kv_str(b, at, "vigil.source", source_names[r->source]);
	if (r->extension && r->extension[0])
		kv_str(b, at, "vigil.extension", r->extension);
	if (r->cold_start)
		kv_bool(b, at, "faas.coldstart", true);
	for (size_t i = 0; i < r->n_fields; i++) {
		const Vigil__V1__Field *f = r->fields[i];

		if (!f->key)
			continue;
		switch (f->value_case) {
		case VIGIL__V1__FIELD__VALUE_TEXT:
			kv_str(b, at, f->key, f->text ? f->text : "");
			break;
		case VIGIL__V1__FIELD__VALUE_NUMBER:
			kv_double(b, at, f->key, f->number);
			break;
		case VIGIL__V1__FIELD__VALUE_INTEGER:
			kv_int(b, at, f->key, f->integer);
			break;
		case VIGIL__V1__FIELD__VALUE_FLAG:
			kv_bool(b, at, f->key, f->flag);
			break;
		case VIGIL__V1__FIELD__VALUE_DECIMAL:
			kv_double(b, at, f->key, f->decimal ? strtod(f->decimal, NULL) : 0);
			break;
		default:
			break;
		}
	}
	if (r->truncated)
		kv_bool(b, at, "vigil.truncated", true);
	if (r->utf8_repaired)
		kv_bool(b, at, "vigil.utf8_repaired", true);
	if (r->trace_id && r->trace_id[0] &&
	    trace_context(r->trace_id, tid, sid, &has_span, &sampled)) {
		if (sampled > 0)
			pb_buf_fixed32(b, T(LOG_FLAGS, PB_I32), 1);
		pb_buf_bytes(b, T(LOG_TRACE_ID, PB_LEN), tid, 16);
		if (has_span)
			pb_buf_bytes(b, T(LOG_SPAN_ID, PB_LEN), sid, 8);
	}
	pb_buf_fixed64(b, T(LOG_OBSERVED_TIME, PB_I64), (uint64_t)r->time_ns);
	pb_close(b, start);
}

/* --- traces ------------------------------------------------------------------------------- */

static bool all_zero(const uint8_t *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i])
			return false;
	return true;
}

static void random_bytes(uint8_t *p, size_t n)
{
	do {
		if (getrandom(p, n, 0) != (ssize_t)n) {
			/* (never, for 8 or 16 bytes, but an id must not be zero) */
			for (size_t i = 0; i < n; i++)
				p[i] = (uint8_t)rand();
		}
	} while (all_zero(p, n));
}

struct span {
	const char *name;
	unsigned kind;
	const uint8_t *trace_id, *span_id, *parent;	/* parent may be NULL */
	uint64_t start_ns, end_ns;
	const uint8_t *link_span;	/* a link to a span of the same trace, or NULL */
};

static size_t span_open(struct buf *b, const struct span *s)
{
	size_t start = pb_open(b, T(SCOPE_ITEMS, PB_LEN));

	pb_buf_bytes(b, T(SPAN_TRACE_ID, PB_LEN), s->trace_id, 16);
	pb_buf_bytes(b, T(SPAN_SPAN_ID, PB_LEN), s->span_id, 8);
	if (s->parent)
		pb_buf_bytes(b, T(SPAN_PARENT, PB_LEN), s->parent, 8);
	pb_buf_bytes(b, T(SPAN_NAME, PB_LEN), s->name, strlen(s->name));
	pb_buf_varint(b, T(SPAN_KIND, PB_VARINT), s->kind);
	pb_buf_fixed64(b, T(SPAN_START, PB_I64), s->start_ns);
	pb_buf_fixed64(b, T(SPAN_END, PB_I64), s->end_ns < s->start_ns ? s->start_ns : s->end_ns);
	if (s->link_span) {
		size_t l = pb_open(b, T(SPAN_LINKS, PB_LEN));

		pb_buf_bytes(b, T(LINK_TRACE_ID, PB_LEN), s->trace_id, 16);
		pb_buf_bytes(b, T(LINK_SPAN_ID, PB_LEN), s->link_span, 8);
		pb_close(b, l);
	}
	return start;
}

static uint64_t ms_ns(double ms)
{
	return ms > 0 ? (uint64_t)(ms * 1e6 + 0.5) : 0;
}

/* A child of invoke, inside it. */
static void child(struct buf *b, const char *name, const uint8_t *tid, const uint8_t *parent,
		  uint64_t start, double ms, uint64_t limit)
{
	uint8_t sid[8];
	struct span s = { .name = name, .kind = KIND_INTERNAL, .trace_id = tid, .span_id = sid,
			  .parent = parent, .start_ns = start };
	size_t at;

	if (ms <= 0)
		return;
	random_bytes(sid, sizeof(sid));
	s.end_ns = start + ms_ns(ms);
	if (s.start_ns > limit)
		s.start_ns = limit;
	if (s.end_ns > limit)
		s.end_ns = limit;
	at = span_open(b, &s);
	pb_close(b, at);
}

size_t otlp_encode_spans(struct buf *b, const struct invocation_report *r, bool unsampled)
{
	const uint32_t at = T(SPAN_ATTRIBUTES, PB_LEN);
	uint8_t tid[16], caller[8], invoke_id[8], init_id[8];
	bool has_caller = false, has_init;
	int sampled = -1;
	uint64_t start = (uint64_t)(r->start_ms > 0 ? r->start_ms : 0) * 1000000u, end;
	double duration = r->duration_ms >= 0 ? r->duration_ms : r->runtime_ms;
	size_t n = 1, pos;
	struct span s;

	/* (none: one made of the request id, which the cold start's spans make alike) */
	if (!r->trace_id[0] || !trace_context(r->trace_id, tid, caller, &has_caller, &sampled))
		trace_fallback_id(r->request_id, tid);
	if (sampled == 0 && !unsampled)
		return 0;
	/* (from the request id: the function's own spans, through the receiver, name it) */
	trace_invoke_span_id(r->request_id, invoke_id);
	end = start + ms_ns(duration);
	has_init = r->cold_start && r->init_duration_ms > 0;
	if (has_init) {
		uint64_t init_start = r->init_start_ms > 0 ?
					      (uint64_t)r->init_start_ms * 1000000u :
					      start - ms_ns(r->init_duration_ms);
		uint64_t init_end = init_start + ms_ns(r->init_duration_ms);

		trace_init_span_id(r->request_id, init_id);	/* (the timeline's parent) */
		s = (struct span){ .name = "init", .kind = KIND_INTERNAL, .trace_id = tid,
				   .span_id = init_id, .parent = has_caller ? caller : NULL,
				   .start_ns = init_start, .end_ns = init_end };
		pos = span_open(b, &s);
		kv_str(b, at, "faas.invocation_id", r->request_id);
		if (r->init_type[0])
			kv_str(b, at, "vigil.init_type", r->init_type);
		/* Instants (an extension registered) as the span's events. */
		for (unsigned i = 0; i < r->nphases && i < REPORT_PHASES; i++) {
			const struct report_phase *ph = &r->phases[i];
			size_t e;

			if (ph->duration_ms > 0)
				continue;
			e = pb_open(b, T(SPAN_EVENTS, PB_LEN));
			pb_buf_fixed64(b, T(EVENT_TIME, PB_I64), init_start + ms_ns(ph->start_ms));
			pb_buf_bytes(b, T(EVENT_NAME, PB_LEN), ph->name, strnlen(ph->name,
										 sizeof(ph->name)));
			pb_close(b, e);
		}
		pb_close(b, pos);
		n++;
		/* Its parts (an extension's init, the runtime's) as its children. */
		for (unsigned i = 0; i < r->nphases && i < REPORT_PHASES; i++) {
			const struct report_phase *ph = &r->phases[i];
			char name[sizeof(ph->name) + 1];

			if (ph->duration_ms <= 0)
				continue;
			snprintf(name, sizeof(name), "%.*s", (int)sizeof(ph->name), ph->name);
			child(b, name, tid, init_id, init_start + ms_ns(ph->start_ms), ph->duration_ms,
			      init_end);
			n++;
		}
	}
	if (r->restore_duration_ms > 0) {
		/* SnapStart: the restore that made this environment, just before it. */
		uint64_t rs = start - ms_ns(r->restore_duration_ms);

		random_bytes(init_id, sizeof(init_id));
		s = (struct span){ .name = "restore", .kind = KIND_INTERNAL, .trace_id = tid,
				   .span_id = init_id, .parent = has_caller ? caller : NULL,
				   .start_ns = rs, .end_ns = start };
		pos = span_open(b, &s);
		kv_str(b, at, "faas.invocation_id", r->request_id);
		kv_str(b, at, "vigil.init_type", "snap-start");
		if (r->restore_status[0])
			kv_str(b, at, "vigil.restore_status", r->restore_status);
		pb_close(b, pos);
		n++;
		has_init = true;	/* (the invoke links it) */
	}
	s = (struct span){ .name = "invoke", .kind = KIND_SERVER, .trace_id = tid,
			   .span_id = invoke_id, .parent = has_caller ? caller : NULL,
			   .start_ns = start, .end_ns = end, .link_span = has_init ? init_id : NULL };
	pos = span_open(b, &s);
	kv_str(b, at, "faas.invocation_id", r->request_id);
	kv_bool(b, at, "faas.coldstart", r->cold_start);
	if (r->tenant_id[0])
		kv_str(b, at, "vigil.tenant_id", r->tenant_id);
	if (r->init_type[0])
		kv_str(b, at, "vigil.init_type", r->init_type);
	if (r->streaming)
		kv_str(b, at, "vigil.response_mode", "streaming");
	if (r->durable)
		kv_bool(b, at, "vigil.durable", true);
	if (r->trigger[0])
		kv_str(b, at, "faas.trigger", r->trigger);
	if (r->billed_ms > 0)
		kv_int(b, at, "vigil.billed_ms", r->billed_ms);
	if (r->max_memory_used_mb > 0)
		kv_int(b, at, "vigil.max_memory_used_mb", r->max_memory_used_mb);
	if (r->status != REPORT_SUCCESS) {
		static const char *const st[] = { "success", "error", "timeout", "failure" };
		const char *type = r->error_type[0] ? r->error_type : st[r->status];
		size_t tn = strlen(type);

		kv_str(b, at, "error.type", type);
		kv_str(b, at, "vigil.status", st[r->status]);
		pb_buf_len(b, T(SPAN_STATUS, PB_LEN), pb_len_field(T(STATUS_MESSAGE, PB_LEN), tn) + 2);
		pb_buf_bytes(b, T(STATUS_MESSAGE, PB_LEN), type, tn);
		pb_buf_varint(b, T(STATUS_CODE, PB_VARINT), CODE_ERROR);
	}
	pb_close(b, pos);
	/* Children: platform.runtimeDone's spans, then the extensions' time after the
	 * response (Lambda's extensionOverhead). */
	if (r->response_latency_ms > 0) {
		child(b, "responseLatency", tid, invoke_id, start, r->response_latency_ms, end);
		n++;
	}
	if (r->response_duration_ms > 0) {
		child(b, "responseDuration", tid, invoke_id, start + ms_ns(r->response_latency_ms),
		      r->response_duration_ms, end);
		n++;
	}
	if (r->post_runtime_ms > 0 && r->runtime_ms >= 0) {
		child(b, "extensionOverhead", tid, invoke_id, start + ms_ns(r->runtime_ms),
		      r->post_runtime_ms, end);
		n++;
	}
	return n;
}

/* --- metrics ------------------------------------------------------------------------------ */

static const char *ucum(const char *unit)
{
	if (!unit || !*unit)
		return "";
	if (strcmp(unit, "seconds") == 0)
		return "s";
	if (strcmp(unit, "bytes") == 0)
		return "By";
	if (strcmp(unit, "ratio") == 0)
		return "1";
	return unit;
}

static void labels(struct buf *b, uint32_t tag, const struct metric_family *f,
		   const struct metric_series *s)
{
	for (unsigned i = 0; i < f->nlabels; i++)
		if (s->values[i] && s->values[i][0])	/* an empty label is no label */
			kv_str(b, tag, f->labels[i], s->values[i]);
}

/* What the series were at the last export the backend took (delta temporality): an open
 * addressing table by series (series live as long as the registry). */
struct delta_entry {
	const struct metric_series *s;
	double value, pending;			/* counter value or histogram sum */
	uint64_t counts[METRIC_MAX_BUCKETS + 1];	/* histograms: cumulative, +Inf last */
	uint64_t pending_counts[METRIC_MAX_BUCKETS + 1];
	bool committed, touched;
};

struct otlp_delta {
	struct delta_entry *e;
	size_t n, cap;
	uint64_t since_ns, pending_ns;	/* the last export taken; the one being sent */
};

struct otlp_delta *otlp_delta_new(void)
{
	return calloc(1, sizeof(struct otlp_delta));
}

void otlp_delta_free(struct otlp_delta *d)
{
	if (d) {
		free(d->e);
		free(d);
	}
}

static size_t slot_of(const struct delta_entry *e, size_t cap, const struct metric_series *s)
{
	size_t i = ((uintptr_t)s >> 4) * 0x9E3779B97F4A7C15u & (cap - 1);

	while (e[i].s && e[i].s != s)
		i = (i + 1) & (cap - 1);
	return i;
}

/* The entry of s, made on first use; NULL on ENOMEM. */
static struct delta_entry *delta_entry(struct otlp_delta *d, const struct metric_series *s)
{
	size_t i;

	if (2 * (d->n + 1) > d->cap) {
		size_t cap = d->cap ? d->cap * 2 : 256;
		struct delta_entry *e = calloc(cap, sizeof(*e));

		if (!e)
			return NULL;
		for (size_t k = 0; k < d->cap; k++)
			if (d->e[k].s)
				e[slot_of(e, cap, d->e[k].s)] = d->e[k];
		free(d->e);
		d->e = e;
		d->cap = cap;
	}
	i = slot_of(d->e, d->cap, s);
	if (!d->e[i].s) {
		d->e[i].s = s;
		d->n++;
	}
	return &d->e[i];
}

void otlp_delta_commit(struct otlp_delta *d)
{
	for (size_t i = 0; d && i < d->cap; i++) {
		struct delta_entry *e = &d->e[i];

		if (!e->s || !e->touched)
			continue;
		e->value = e->pending;
		memcpy(e->counts, e->pending_counts, sizeof(e->counts));
		e->committed = true;
		e->touched = false;
	}
	if (d)
		d->since_ns = d->pending_ns;
}

size_t otlp_encode_metrics(struct buf *b, struct metric_registry *reg, uint64_t start_ns,
			   uint64_t now_ns, struct otlp_delta *delta)
{
	size_t points = 0;
	uint64_t since = delta && delta->since_ns ? delta->since_ns : start_ns;

	if (delta)
		delta->pending_ns = now_ns;
	metric_registry_begin(reg);
	for (struct metric_family *f = reg->head; f; f = f->next) {
		struct metric_series *first = metric_first(f);
		size_t m, d;
		uint32_t kind;

		if (!first)
			continue;
		m = pb_open(b, T(SCOPE_ITEMS, PB_LEN));
		pb_buf_bytes(b, T(METRIC_NAME, PB_LEN), f->name, strlen(f->name));
		if (f->help)
			pb_buf_bytes(b, T(METRIC_DESCRIPTION, PB_LEN), f->help, strlen(f->help));
		if (*ucum(f->unit))
			pb_buf_bytes(b, T(METRIC_UNIT, PB_LEN), ucum(f->unit), strlen(ucum(f->unit)));
		kind = f->type == METRIC_COUNTER ? METRIC_SUM_F :
		       f->type == METRIC_HISTOGRAM ? METRIC_HISTOGRAM_F : METRIC_GAUGE_F;
		d = pb_open(b, T(kind, PB_LEN));
		for (struct metric_series *s = first; s; s = metric_next(s)) {
			size_t p = pb_open(b, T(DATA_POINTS, PB_LEN));
			struct delta_entry *e = NULL;

			if (delta && (f->type == METRIC_COUNTER || f->type == METRIC_HISTOGRAM)) {
				e = delta_entry(delta, s);
				if (e)
					e->touched = true;
			}
			if (f->type == METRIC_HISTOGRAM) {
				uint64_t cum[METRIC_MAX_BUCKETS + 1], prev = 0;
				double sum;
				bool reset;

				metric_histogram_read(s, cum, &sum);
				/* A series that went down (never, but for a registry made anew) starts
				 * over: its whole value is the delta. */
				reset = !e || !e->committed || cum[f->nbuckets] < e->counts[f->nbuckets];
				if (e) {
					e->pending = sum;
					memcpy(e->pending_counts, cum, sizeof(cum));
				}
				pb_buf_fixed64(b, T(HDP_START, PB_I64), e ? since : start_ns);
				pb_buf_fixed64(b, T(HDP_TIME, PB_I64), now_ns);
				pb_buf_fixed64(b, T(HDP_COUNT, PB_I64),
					       cum[f->nbuckets] - (reset ? 0 : e->counts[f->nbuckets]));
				pb_buf_double(b, T(HDP_SUM, PB_I64), sum - (reset ? 0 : e->value));
				/* packed fixed64: counts per bucket (not cumulative), +Inf last */
				pb_buf_len(b, T(HDP_BUCKETS, PB_LEN), 8 * (f->nbuckets + 1));
				for (size_t i = 0; i <= f->nbuckets; i++) {
					uint64_t c = cum[i] - (i ? cum[i - 1] : 0);

					if (!reset) {
						uint64_t was = e->counts[i] - prev;

						prev = e->counts[i];
						c -= was;
					}
					for (int k = 0; k < 8; k++)
						buf_putc(b, (char)(c >> (8 * k)));
				}
				pb_buf_len(b, T(HDP_BOUNDS, PB_LEN), 8 * f->nbuckets);
				for (size_t i = 0; i < f->nbuckets; i++) {
					uint64_t v;

					memcpy(&v, &f->buckets[i], sizeof(v));
					for (int k = 0; k < 8; k++)
						buf_putc(b, (char)(v >> (8 * k)));
				}
				labels(b, T(HDP_ATTRIBUTES, PB_LEN), f, s);
			} else {
				double v = f->type == METRIC_INFO ? 1.0 : metric_value(s);

				if (e) {
					e->pending = v;
					if (e->committed && v >= e->value)
						v -= e->value;
				}
				if (f->type == METRIC_COUNTER)
					pb_buf_fixed64(b, T(NDP_START, PB_I64), e ? since : start_ns);
				pb_buf_fixed64(b, T(NDP_TIME, PB_I64), now_ns);
				pb_buf_double(b, T(NDP_DOUBLE, PB_I64), v);
				labels(b, T(NDP_ATTRIBUTES, PB_LEN), f, s);
			}
			pb_close(b, p);
			points++;
		}
		if (f->type != METRIC_GAUGE && f->type != METRIC_INFO)
			pb_buf_varint(b, T(DATA_TEMPORALITY, PB_VARINT),
				      delta ? TEMPORALITY_DELTA : TEMPORALITY_CUMULATIVE);
		if (f->type == METRIC_COUNTER)
			pb_buf_varint(b, T(SUM_MONOTONIC, PB_VARINT), 1);
		pb_close(b, d);
		pb_close(b, m);
	}
	metric_registry_end(reg);
	return points;
}

/* --- requests and answers ----------------------------------------------------------------- */

void otlp_encode_request(struct buf *out, const struct buf *resource, const struct buf *items)
{
	otlp_encode_request_head(out, resource, items->len);
	buf_append(out, items->data, items->len);
}

void otlp_encode_request_head(struct buf *out, const struct buf *resource, size_t items_len)
{
	static const char name[] = "vigil", version[] = VIGIL_VERSION;
	size_t scope = pb_len_field(T(SCOPE_NAME, PB_LEN), sizeof(name) - 1) +
		       pb_len_field(T(SCOPE_VERSION, PB_LEN), sizeof(version) - 1);
	size_t scopes = pb_len_field(T(SCOPE_SCOPE, PB_LEN), scope) + items_len;
	size_t res = pb_len_field(T(RES_RESOURCE, PB_LEN), resource->len) +
		     pb_len_field(T(RES_SCOPES, PB_LEN), scopes);

	pb_buf_len(out, T(1, PB_LEN), res);
	pb_buf_bytes(out, T(RES_RESOURCE, PB_LEN), resource->data, resource->len);
	pb_buf_len(out, T(RES_SCOPES, PB_LEN), scopes);
	pb_buf_len(out, T(SCOPE_SCOPE, PB_LEN), scope);
	pb_buf_bytes(out, T(SCOPE_NAME, PB_LEN), name, sizeof(name) - 1);
	pb_buf_bytes(out, T(SCOPE_VERSION, PB_LEN), version, sizeof(version) - 1);
}

int otlp_parse_response(const uint8_t *p, size_t n, int64_t *rejected, char *msg,
			size_t msg_len)
{
	size_t at = 0;

	*rejected = 0;
	if (msg_len)
		msg[0] = '\0';
	while (at < n) {
		uint32_t field;
		int wire;
		const uint8_t *pl;
		size_t pn, used = pb_element(p + at, n - at, &field, &wire, &pl, &pn);

		if (!used)
			return -1;
		if (field == RESP_PARTIAL && wire == PB_LEN) {
			size_t in = 0;

			while (in < pn) {
				uint32_t f2;
				int w2;
				const uint8_t *v;
				size_t vn, u2 = pb_element(pl + in, pn - in, &f2, &w2, &v, &vn);
				uint64_t x;
				size_t vat = 0;

				if (!u2)
					return -1;
				if (f2 == PARTIAL_REJECTED && w2 == PB_VARINT &&
				    pb_get_varint(v, vn, &vat, &x))
					*rejected = (int64_t)x;
				else if (f2 == PARTIAL_MESSAGE && w2 == PB_LEN && msg_len)
					snprintf(msg, msg_len, "%.*s", (int)(vn < msg_len ? vn :
									     msg_len - 1),
						 (const char *)v);
				in += u2;
			}
		}
		at += used;
	}
	return 0;
}

size_t otlp_encode_coldstart(struct buf *b, const struct cs_report *r, const char *request_id,
			     const char *trace, bool unsampled, unsigned top)
{
	const uint32_t at = T(SPAN_ATTRIBUTES, PB_LEN);
	uint8_t tid[16], init_id[8], parent[8], sid[8];
	bool has_parent;
	int sampled = -1;
	uint64_t limit = r->init_ms > 0 ? r->zero_ns + ms_ns(r->init_ms) : UINT64_MAX;
	size_t n = 0;

	if (!request_id[0])
		return 0;
	if (!trace[0] || !trace_context(trace, tid, parent, &has_parent, &sampled))
		trace_fallback_id(request_id, tid);
	if (sampled == 0 && !unsampled)
		return 0;
	trace_init_span_id(request_id, init_id);
	/* the largest packages and modules, each from its first event for its time */
	for (size_t i = 0; i < r->ngroups && i < top; i++) {
		const struct cs_group *g = &r->groups[i];
		char name[200];
		struct span s = { .name = name, .kind = KIND_INTERNAL, .trace_id = tid,
				  .span_id = sid, .parent = init_id };
		size_t pos;

		if (g->ms < 0.05)
			break;
		snprintf(name, sizeof(name), "%s %s", g->kind, g->name);
		random_bytes(sid, sizeof(sid));
		s.start_ns = r->zero_ns + ms_ns(r->start_ms + (g->first_ms > 0 ? g->first_ms : 0));
		s.end_ns = s.start_ns + ms_ns(g->ms);
		s.start_ns = s.start_ns > limit ? limit : s.start_ns;
		s.end_ns = s.end_ns > limit ? limit : s.end_ns;
		pos = span_open(b, &s);
		kv_str(b, at, "faas.invocation_id", request_id);
		kv_str(b, at, "vigil.coldstart.kind", g->kind);
		kv_int(b, at, "vigil.coldstart.files", g->files);
		kv_int(b, at, "vigil.coldstart.bytes_read", (int64_t)g->bytes);
		if (r->source[0])
			kv_str(b, at, "vigil.coldstart.source", r->source);
		pb_close(b, pos);
		n++;
	}
	/* the network calls made during init */
	for (size_t i = 0; i < r->nnet && i < 32; i++) {
		const struct cs_net *c = &r->net[i];
		char name[340];
		struct span s = { .name = name, .kind = KIND_CLIENT, .trace_id = tid,
				  .span_id = sid, .parent = init_id };
		size_t pos;

		snprintf(name, sizeof(name), "%s %s", c->what, c->target);
		random_bytes(sid, sizeof(sid));
		s.start_ns = r->zero_ns + ms_ns(r->start_ms + c->at_ms);
		s.end_ns = s.start_ns + ms_ns(c->ms);
		s.start_ns = s.start_ns > limit ? limit : s.start_ns;
		s.end_ns = s.end_ns > limit ? limit : s.end_ns;
		pos = span_open(b, &s);
		kv_str(b, at, "faas.invocation_id", request_id);
		if (c->failed)
			kv_bool(b, at, "vigil.coldstart.failed", true);
		pb_close(b, pos);
		n++;
	}
	return n;
}
