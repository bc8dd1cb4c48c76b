/* The function's own OTLP telemetry, taken in. See otlp_in.h. */
#include "otlp_in.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "../core/pbwire.h"
#include "../util/base64.h"
#include "../util/clock.h"
#include "../util/log.h"
#include "../util/fields.h"
#include "../util/json_str.h"
#include "../util/numfmt.h"
#include "../util/tracectx.h"

#define T(f, w) PB_TAG(f, w)
#define LOG_STREAM 0x4F544C50u	/* the stream of received log records ("OTLP") */
#define MAX_DEPTH 16		/* nested arrays and key-value lists in an attribute value */
#define MAX_POINT_BUCKETS 64

static const char *const signal_names[OTLP_SIGNALS] = { "traces", "logs", "metrics" };

/* A request held until the tracker can place its times (see otlp_in_take). */
struct held {
	struct held *next;
	enum otlp_signal sig;
	int64_t at_ms;		/* its latest time the tracker could not place yet */
	double until;		/* monotonic: taken then as things stand */
	size_t items;		/* spans or log records it holds */
	char in_flight[64];	/* the invocation in flight when it came */
	size_t n;
	uint8_t p[];
};

struct otlp_in {
	struct otlp_in_options o;
	struct metric_family *requests, *items;
	/* Joins: a dry run (nothing taken) notes the latest time it could not place yet. */
	bool dry, unsettled, closed;
	int64_t unsettled_at;
	size_t takes;			/* items a dry run would take */
	const char *in_flight;		/* a held request's (else the tracker's now) */
	/* The last lookup by trace ([0]) and by time alone ([1]) within one take: a request's
	 * items mostly share both. */
	struct lookup {
		bool valid, found, has_caller;
		uint8_t trace[16], caller[8];
		int64_t at_ms;
		char rid[64];
	} memo[2];
	struct held *held, **held_tail;
	size_t held_bytes;
	struct loop_timer timer;
};

/* --- reading protobuf ---------------------------------------------------------------------- */

struct pbit {
	const uint8_t *p;
	size_t n, at;
};

struct pbf {
	uint32_t field;
	int wire;
	const uint8_t *v;	/* PB_LEN: the bytes; else the value's own bytes */
	size_t n;
	size_t start, len;	/* the whole element (tag included) within the message */
};

static struct pbit pbit(const uint8_t *p, size_t n)
{
	return (struct pbit){ .p = p, .n = n };
}

/* 1 the next element, 0 the end, -1 malformed. */
static int next(struct pbit *it, struct pbf *f)
{
	size_t used;

	if (it->at >= it->n)
		return 0;
	used = pb_element(it->p + it->at, it->n - it->at, &f->field, &f->wire, &f->v, &f->n);
	if (!used)
		return -1;
	f->start = it->at;
	f->len = used;
	it->at += used;
	return 1;
}

static uint64_t varint_of(const struct pbf *f)
{
	size_t at = 0;
	uint64_t v = 0;

	pb_get_varint(f->v, f->n, &at, &v);
	return v;
}

static uint64_t fixed64_of(const struct pbf *f)
{
	uint64_t v = 0;

	if (f->n == 8)
		for (int i = 7; i >= 0; i--)
			v = v << 8 | f->v[i];
	return v;
}

static double double_of(const struct pbf *f)
{
	uint64_t u = fixed64_of(f);
	double d;

	memcpy(&d, &u, sizeof(d));
	return d;
}

/* Every element of a message well-formed (and, to depth, its AnyValues). */
static bool well_formed(const uint8_t *p, size_t n)
{
	struct pbit it = pbit(p, n);
	struct pbf f;
	int rc;

	while ((rc = next(&it, &f)) == 1)
		;
	return rc == 0;
}

/* Each item of an Export*ServiceRequest — field 2 of a Scope* message, itself field 2 of a
 * Resource* message, itself field 1 of the request — with its scope's name (field 1 of the
 * scope's field 1). fn: 0, or -1 (malformed: the walk stops). 0, or -1 when malformed. */
typedef int (*item_fn)(void *arg, const char *scope, size_t scope_n, const uint8_t *item,
		       size_t item_n);

static int each_item(const uint8_t *p, size_t n, item_fn fn, void *arg)
{
	struct pbit it = pbit(p, n);
	struct pbf res;
	int rc;

	while ((rc = next(&it, &res)) == 1) {
		struct pbit r = pbit(res.v, res.n);
		struct pbf sc;

		if (res.field != 1)
			continue;
		if (res.wire != PB_LEN)
			return -1;
		while ((rc = next(&r, &sc)) == 1) {
			struct pbit s = pbit(sc.v, sc.n);
			struct pbf g;
			const char *scope = NULL;
			size_t scope_n = 0;

			if (sc.field != 2 || sc.wire != PB_LEN)
				continue;
			while ((rc = next(&s, &g)) == 1) {
				if (g.field == 1 && g.wire == PB_LEN) {
					struct pbit x = pbit(g.v, g.n);
					struct pbf h;

					while (next(&x, &h) == 1)
						if (h.field == 1 && h.wire == PB_LEN)
							scope = (const char *)h.v, scope_n = h.n;
				}
			}
			if (rc < 0)
				return -1;
			s = pbit(sc.v, sc.n);
			while ((rc = next(&s, &g)) == 1)
				if (g.field == 2 && (g.wire != PB_LEN ||
						     fn(arg, scope, scope_n, g.v, g.n) < 0))
					return -1;
			if (rc < 0)
				return -1;
		}
		if (rc < 0)
			return -1;
	}
	return rc < 0 ? -1 : 0;
}

/* --- attribute values ------------------------------------------------------------------------ */

/* An AnyValue as a JSON value into b. false when malformed. */
static bool any_json(struct buf *b, const uint8_t *p, size_t n, int depth)
{
	struct pbit it = pbit(p, n);
	struct pbf f;
	bool any = false;
	int rc;

	if (depth > MAX_DEPTH)
		return false;
	while ((rc = next(&it, &f)) == 1) {
		if (any)
			continue;	/* (a oneof: the first one) */
		any = true;
		switch (f.field) {
		case 1:
			if (f.wire != PB_LEN)
				return false;
			json_put_stringn(b, (const char *)f.v, f.n);
			break;
		case 2:
			buf_puts(b, varint_of(&f) ? "true" : "false");
			break;
		case 3:
			buf_put_i64(b, (long long)varint_of(&f));
			break;
		case 4:
			if (f.wire != PB_I64)
				return false;
			if (isfinite(double_of(&f)))
				numfmt_double(b, double_of(&f));
			else
				buf_puts(b, "null");
			break;
		case 5:
		case 6: {
			struct pbit in = pbit(f.v, f.n);
			struct pbf e;
			bool first = true;

			if (f.wire != PB_LEN)
				return false;
			buf_putc(b, f.field == 5 ? '[' : '{');
			while ((rc = next(&in, &e)) == 1) {
				if (e.field != 1 || e.wire != PB_LEN)
					continue;
				if (!first)
					buf_putc(b, ',');
				first = false;
				if (f.field == 5) {
					if (!any_json(b, e.v, e.n, depth + 1))
						return false;
				} else {
					struct pbit kv = pbit(e.v, e.n);
					struct pbf x;
					const uint8_t *k = (const uint8_t *)"", *v = NULL;
					size_t kn = 0, vn = 0;

					while ((rc = next(&kv, &x)) == 1) {
						if (x.field == 1 && x.wire == PB_LEN)
							k = x.v, kn = x.n;
						else if (x.field == 2 && x.wire == PB_LEN)
							v = x.v, vn = x.n;
					}
					if (rc < 0)
						return false;
					json_put_stringn(b, (const char *)k, kn);
					buf_putc(b, ':');
					if (!v)
						buf_puts(b, "null");
					else if (!any_json(b, v, vn, depth + 1))
						return false;
				}
			}
			if (rc < 0)
				return false;
			buf_putc(b, f.field == 5 ? ']' : '}');
			break;
		}
		case 7: {
			if (f.wire != PB_LEN)
				return false;
			size_t len;
			char *text = base64_encode(f.v, f.n, &len);

			if (!text)
				return false;
			buf_putc(b, '"');
			buf_append(b, text, len);
			buf_putc(b, '"');
			free(text);
			break;
		}
		default:
			any = false;	/* unknown: passed over */
			break;
		}
	}
	if (rc < 0)
		return false;
	if (!any)
		buf_puts(b, "null");
	return true;
}

/* An AnyValue as text (a label's value): a string as it is, anything else as its JSON. */
static bool any_text(struct buf *b, const uint8_t *p, size_t n)
{
	struct pbit it = pbit(p, n);
	struct pbf f;

	if (next(&it, &f) == 1 && f.field == 1 && f.wire == PB_LEN) {
		buf_append(b, f.v, f.n);
		return true;
	}
	return any_json(b, p, n, 0);
}

/* A KeyValue's key and value bytes. false when malformed. */
static bool key_value(const uint8_t *p, size_t n, const uint8_t **k, size_t *kn,
		      const uint8_t **v, size_t *vn)
{
	struct pbit it = pbit(p, n);
	struct pbf f;
	int rc;

	*k = NULL;
	*v = NULL;
	*kn = *vn = 0;
	while ((rc = next(&it, &f)) == 1) {
		if (f.field == 1 && f.wire == PB_LEN)
			*k = f.v, *kn = f.n;
		else if (f.field == 2 && f.wire == PB_LEN)
			*v = f.v, *vn = f.n;
	}
	return rc == 0 && *k;
}

static bool key_is(const uint8_t *k, size_t kn, const char *name)
{
	return kn == strlen(name) && memcmp(k, name, kn) == 0;
}

/* The string value of attribute name among a message's `field` entries (KeyValue). */
static bool attr_string(const uint8_t *p, size_t n, uint32_t field, const char *name, char *out,
			size_t cap)
{
	struct pbit it = pbit(p, n);
	struct pbf f;

	while (next(&it, &f) == 1) {
		const uint8_t *k, *v;
		size_t kn, vn;

		if (f.field != field || f.wire != PB_LEN || !key_value(f.v, f.n, &k, &kn, &v, &vn) ||
		    !key_is(k, kn, name) || !v)
			continue;
		{
			struct pbit av = pbit(v, vn);
			struct pbf s;

			if (next(&av, &s) == 1 && s.field == 1 && s.wire == PB_LEN && s.n < cap) {
				memcpy(out, s.v, s.n);
				out[s.n] = '\0';
				return true;
			}
		}
	}
	return false;
}

/* --- the resource ------------------------------------------------------------------------ */

/* The SDK's Resource with vigil's attributes added where the SDK has no such key. */
static void merge_resource(struct otlp_in *in, struct buf *out, const uint8_t *sdk, size_t n)
{
	struct pbit it = pbit(in->o.resource, in->o.resource_len);
	struct pbf f;
	size_t at = pb_open(out, T(1, PB_LEN));

	buf_append(out, sdk, n);
	while (next(&it, &f) == 1) {
		const uint8_t *k, *v;
		size_t kn, vn;
		struct pbit s = pbit(sdk, n);
		struct pbf g;
		bool has = false;

		if (f.field != 1 || f.wire != PB_LEN || !key_value(f.v, f.n, &k, &kn, &v, &vn))
			continue;
		while (!has && next(&s, &g) == 1) {
			const uint8_t *k2, *v2;
			size_t kn2, vn2;

			has = g.field == 1 && g.wire == PB_LEN &&
			      key_value(g.v, g.n, &k2, &kn2, &v2, &vn2) && kn2 == kn &&
			      memcmp(k, k2, kn) == 0;
		}
		if (!has)
			buf_append(out, in->o.resource + f.start, f.len);
	}
	pb_close(out, at);
}

/* --- traces ------------------------------------------------------------------------------- */

/* How far (ms) outside an invocation something may begin and still be its, joined by time
 * alone: the extension hears of an invocation a moment after the runtime starts it. */
#define JOIN_SLACK_MS 50

/* Requests held for their joins (otlp_in_take): for at most HOLD_MAX_S, HOLD_MAX_BYTES in all,
 * looked at every HOLD_TICK_S (HOLD_BUSY_S while the queues they go to are full). */
#define HOLD_MAX_S 1.0
#define HOLD_MAX_BYTES ((size_t)32 << 20)
#define HOLD_TICK_S 0.005
#define HOLD_BUSY_S 0.1

/* The invocation a span belongs to, and whether it becomes the invoke span's child. */
struct owner {
	char rid[64];
	uint8_t caller[8];
	bool has_caller, same_trace;
};

static void current_invocation(struct otlp_in *in, char *rid, size_t n)
{
	rid[0] = '\0';
	if (in->in_flight)
		snprintf(rid, n, "%s", in->in_flight);
	else if (in->o.tracker && !in->o.concurrent)
		tracker_current(in->o.tracker, rid, n);
}

/* An item (span, log record) of the function's that began at at_ms (epoch ms, 0 unknown), its
 * faas.invocation_id in ow->rid when it has one: joined to that invocation, else to the one
 * whose trace it shares (the nearest in time of those), else — one invocation at a time only
 * — to the one running then (none when none was: init, between two), or when its time is
 * unknown the one in flight. A dry run only notes the latest time to place. */
static bool lookup(struct otlp_in *in, const uint8_t *trace, int64_t at_ms, char rid[64],
		   uint8_t caller[8], bool *has_caller)
{
	struct lookup *m = &in->memo[trace ? 0 : 1];

	if (!m->valid || m->at_ms != at_ms || (trace && memcmp(m->trace, trace, 16) != 0)) {
		m->valid = true;
		m->at_ms = at_ms;
		if (trace)
			memcpy(m->trace, trace, 16);
		m->found = tracker_owner(in->o.tracker, trace, at_ms,
					 trace ? INT64_MAX : JOIN_SLACK_MS, m->rid, sizeof(m->rid),
					 m->caller, &m->has_caller);
	}
	if (m->found) {
		memcpy(rid, m->rid, sizeof(m->rid));
		memcpy(caller, m->caller, 8);
		*has_caller = m->has_caller;
	}
	return m->found;
}

static void join(struct otlp_in *in, const uint8_t *trace, int64_t at_ms, const char *in_flight,
		 struct owner *ow)
{
	struct tracker *t = in->o.tracker;
	bool by_attr = ow->rid[0] != '\0';
	char rid[64];

	if (in->dry) {
		/* (only its time: tracker_settled is monotonic, the latest decides) */
		if (!by_attr && t && !in->o.concurrent && at_ms) {
			in->unsettled = true;
			if (at_ms > in->unsettled_at)
				in->unsettled_at = at_ms;
		}
		return;
	}
	if (t && trace && lookup(in, trace, at_ms, rid, ow->caller, &ow->has_caller) &&
	    (!by_attr || strcmp(rid, ow->rid) == 0)) {
		snprintf(ow->rid, sizeof(ow->rid), "%s", rid);
		ow->same_trace = true;
	}
	if (by_attr || !t || in->o.concurrent)
		return;
	if (ow->same_trace) {
		return;
	} else if (!at_ms) {
		snprintf(ow->rid, sizeof(ow->rid), "%s", in_flight);
	} else {
		uint8_t parent[8];
		bool has_parent;

		if (lookup(in, NULL, at_ms, rid, parent, &has_parent))
			snprintf(ow->rid, sizeof(ow->rid), "%s", rid);
	}
}

static void rewrite_span(struct otlp_in *in, struct buf *out, const uint8_t *p, size_t n,
			 const char *in_flight)
{
	struct pbit it = pbit(p, n);
	struct pbf f;
	const uint8_t *trace = NULL, *parent = NULL;
	int64_t start_ms = 0;
	struct owner ow = { .rid = "" };
	bool has_rid;
	size_t at = pb_open(out, T(2, PB_LEN));

	while (next(&it, &f) == 1) {
		if (f.field == 1 && f.wire == PB_LEN && f.n == 16)
			trace = f.v;
		else if (f.field == 4 && f.wire == PB_LEN && f.n == 8)
			parent = f.v;
		else if (f.field == 7 && f.wire == PB_I64)
			start_ms = (int64_t)(fixed64_of(&f) / 1000000u);
	}
	has_rid = attr_string(p, n, 9, "faas.invocation_id", ow.rid, sizeof(ow.rid));
	join(in, trace, start_ms, in_flight, &ow);
	/* Everything as it came, but the parent of a root (or of a span whose parent is the
	 * caller's, which is invoke's parent too): invoke. */
	it = pbit(p, n);
	while (next(&it, &f) == 1) {
		if (f.field == 4)
			continue;
		buf_append(out, p + f.start, f.len);
	}
	if (ow.same_trace && (!parent || (ow.has_caller && memcmp(parent, ow.caller, 8) == 0))) {
		uint8_t invoke[8];

		trace_invoke_span_id(ow.rid, invoke);
		pb_buf_bytes(out, T(4, PB_LEN), invoke, 8);
	} else if (parent) {
		pb_buf_bytes(out, T(4, PB_LEN), parent, 8);
	}
	if (!has_rid && ow.rid[0]) {
		size_t kv = pb_open(out, T(9, PB_LEN)), v;

		pb_buf_bytes(out, T(1, PB_LEN), "faas.invocation_id", 18);
		v = pb_open(out, T(2, PB_LEN));
		pb_buf_bytes(out, T(1, PB_LEN), ow.rid, strlen(ow.rid));
		pb_close(out, v);
		pb_close(out, kv);
	}
	pb_close(out, at);
}

/* A dry run's look at a span: only what its join needs to know now (its time). */
static void note_span(struct otlp_in *in, const uint8_t *p, size_t n)
{
	struct pbit it = pbit(p, n);
	struct pbf f;
	struct owner ow = { .rid = "" };
	int64_t start_ms = 0;

	while (next(&it, &f) == 1)
		if (f.field == 7 && f.wire == PB_I64)
			start_ms = (int64_t)(fixed64_of(&f) / 1000000u);
	attr_string(p, n, 9, "faas.invocation_id", ow.rid, sizeof(ow.rid));
	join(in, NULL, start_ms, "", &ow);
}

/* A span: trace id of 16 bytes and span id of 8, well-formed. */
static bool span_ok(const uint8_t *p, size_t n)
{
	struct pbit it = pbit(p, n);
	struct pbf f;
	bool trace = false, id = false;
	int rc;

	while ((rc = next(&it, &f)) == 1) {
		if (f.field == 1)
			trace = f.wire == PB_LEN && f.n == 16;
		else if (f.field == 2)
			id = f.wire == PB_LEN && f.n == 8;
		else if ((f.field == 9 || f.field == 11 || f.field == 13 || f.field == 15) &&
			 (f.wire != PB_LEN || !well_formed(f.v, f.n)))
			return false;
	}
	return rc == 0 && trace && id;
}

static void take_traces(struct otlp_in *in, const uint8_t *p, size_t n, struct otlp_in_result *res)
{
	struct pbit it = pbit(p, n);
	struct pbf rs;
	struct buf out;
	size_t spans = 0;
	char in_flight[64];
	int rc;

	buf_init(&out);
	current_invocation(in, in_flight, sizeof(in_flight));
	while ((rc = next(&it, &rs)) == 1) {
		struct pbit r;
		struct pbf f;
		size_t at;
		bool resource = false;

		if (rs.field != 1)
			continue;
		if (rs.wire != PB_LEN)
			goto bad;
		at = pb_open(&out, T(1, PB_LEN));
		r = pbit(rs.v, rs.n);
		while ((rc = next(&r, &f)) == 1) {
			if (f.field == 1 && f.wire == PB_LEN) {
				if (!well_formed(f.v, f.n))
					goto bad;
				if (!in->dry)
					merge_resource(in, &out, f.v, f.n);
				resource = true;
			} else if (f.field == 2 && f.wire == PB_LEN) {
				struct pbit s = pbit(f.v, f.n);
				struct pbf g;
				size_t sat = pb_open(&out, T(2, PB_LEN));

				while ((rc = next(&s, &g)) == 1) {
					if (g.field == 2 && g.wire == PB_LEN) {
						if (!span_ok(g.v, g.n)) {
							res->rejected++;
							snprintf(res->message, sizeof(res->message),
								 "a span without a 16-byte trace id and "
								 "an 8-byte span id");
							continue;
						}
						if (in->dry)
							note_span(in, g.v, g.n);
						else
							rewrite_span(in, &out, g.v, g.n,
								     in_flight);
						spans++;
					} else {
						buf_append(&out, f.v + g.start, g.len);
					}
				}
				if (rc < 0)
					goto bad;
				pb_close(&out, sat);
			} else {
				buf_append(&out, rs.v + f.start, f.len);
			}
		}
		if (rc < 0)
			goto bad;
		if (!resource)
			if (!in->dry)
				merge_resource(in, &out, NULL, 0);
		pb_close(&out, at);
	}
	if (rc < 0)
		goto bad;
	if (spans) {
		bool able = false;

		if (in->dry && in->o.sinks) {
			sink_set_otlp_spans(in->o.sinks, NULL, 0, 0, &able);	/* (asked only) */
			if (able) {
				in->takes += spans;
				buf_free(&out);
				return;
			}
		}
		if (!in->dry && !out.failed && in->o.sinks &&
		    sink_set_otlp_spans(in->o.sinks, out.data, out.len, spans, &able)) {
			metric_add(metric_with(in->items, "traces", "taken"), (double)spans);
		} else if (able || out.failed) {
			/* The exporter's queue is full: the SDK sends them again a little later
			 * (429 / UNAVAILABLE, with Retry-After). */
			res->status = -2;
			snprintf(res->message, sizeof(res->message),
				 "the span queue is full (otlp_queue_spans)");
		} else {
			res->rejected += (int64_t)spans;
			snprintf(res->message, sizeof(res->message),
				 "spans are not exported from here (no OTLP export configured)");
			metric_add(metric_with(in->items, "traces", "dropped"), (double)spans);
		}
	}
	buf_free(&out);
	return;
bad:
	buf_free(&out);
	res->status = -1;
	snprintf(res->message, sizeof(res->message), "not an ExportTraceServiceRequest");
}

/* --- logs --------------------------------------------------------------------------------- */

static const char *severity_name(uint64_t n)
{
	static const char *const names[] = { "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL" };

	return n >= 1 && n <= 24 ? names[(n - 1) / 4] : "INFO";
}

static void put_time(struct buf *b, uint64_t ns)
{
	struct tm tm;

	utc_tm((long long)(ns / 1000000000u), &tm);
	buf_printf(b, "\"%04d-%02d-%02dT%02d:%02d:%02d.%09uZ\"", tm.tm_year + 1900, tm.tm_mon + 1,
		   tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ns % 1000000000u));
}

/* One LogRecord as a JSON line of the function's, into lp (NULL: only checked). false when
 * malformed. */
static bool log_line_of(struct otlp_in *in, struct log_pipe *lp, const uint8_t *p, size_t n,
			const char *scope, size_t scope_n, const char *in_flight)
{
	struct pbit it = pbit(p, n);
	struct pbf f;
	uint64_t time_ns = 0, observed = 0, sev = 0;
	const uint8_t *sev_text = NULL, *body = NULL, *trace = NULL, *span = NULL;
	size_t sev_n = 0, body_n = 0;
	char rid[64] = "", hex[33];
	struct buf line;
	struct log_line meta = { .stream = LOG_STREAM, .source = VIGIL__V1__SOURCE__SOURCE_FUNCTION,
				 .function_name = in->o.function_name,
				 .function_version = in->o.function_version };
	int rc;
	bool ok = true;

	while ((rc = next(&it, &f)) == 1) {
		switch (f.field) {
		case 1: time_ns = f.wire == PB_I64 ? fixed64_of(&f) : 0; break;
		case 11: observed = f.wire == PB_I64 ? fixed64_of(&f) : 0; break;
		case 2: sev = f.wire == PB_VARINT ? varint_of(&f) : 0; break;
		case 3: if (f.wire == PB_LEN) sev_text = f.v, sev_n = f.n; break;
		case 5: if (f.wire == PB_LEN) body = f.v, body_n = f.n; break;
		case 9: if (f.wire == PB_LEN && f.n == 16) trace = f.v; break;
		case 10: if (f.wire == PB_LEN && f.n == 8) span = f.v; break;
		default: break;
		}
	}
	if (rc < 0)
		return false;
	if (!time_ns)
		time_ns = observed;
	{
		struct owner ow = { .rid = "" };

		attr_string(p, n, 6, "faas.invocation_id", ow.rid, sizeof(ow.rid));
		join(in, trace, (int64_t)(time_ns / 1000000u), in_flight, &ow);
		snprintf(rid, sizeof(rid), "%s", ow.rid);
	}
	buf_init(&line);
	buf_puts(&line, "{\"timestamp\":");
	put_time(&line, time_ns ? time_ns : (uint64_t)clock_epoch_ns());
	buf_puts(&line, ",\"level\":");
	if (sev_n)
		json_put_stringn(&line, (const char *)sev_text, sev_n);
	else
		json_put_string(&line, severity_name(sev));
	buf_puts(&line, ",\"message\":");
	if (body) {
		struct buf text;

		buf_init(&text);
		ok &= any_text(&text, body, body_n);
		json_put_stringn(&line, text.data ? text.data : "", text.len);
		buf_free(&text);
	} else {
		buf_puts(&line, "\"\"");
	}
	if (rid[0]) {
		buf_puts(&line, ",\"requestId\":");
		json_put_string(&line, rid);
	}
	if (trace) {
		trace_hex(trace, 16, hex);
		buf_printf(&line, ",\"traceId\":\"%s\"", hex);
	}
	if (span) {
		trace_hex(span, 8, hex);
		buf_printf(&line, ",\"spanId\":\"%s\"", hex);
	}
	if (scope_n) {
		buf_puts(&line, ",\"otel.scope.name\":");
		json_put_stringn(&line, scope, scope_n);
	}
	it = pbit(p, n);
	while (ok && next(&it, &f) == 1) {
		const uint8_t *k, *v;
		size_t kn, vn;

		if (f.field != 6 || f.wire != PB_LEN)
			continue;
		if (!key_value(f.v, f.n, &k, &kn, &v, &vn)) {
			ok = false;
			break;
		}
		if (key_is(k, kn, "faas.invocation_id"))
			continue;
		buf_putc(&line, ',');
		json_put_stringn(&line, (const char *)k, kn);
		buf_putc(&line, ':');
		if (v)
			ok &= any_json(&line, v, vn, 0);
		else
			buf_puts(&line, "null");
	}
	buf_putc(&line, '}');
	if (ok && !line.failed && lp) {
		meta.request_id = rid;
		meta.time_ns = (int64_t)(time_ns ? time_ns : 0);
		log_pipe_line(lp, &meta, line.data, line.len);
	}
	buf_free(&line);
	return ok;
}

struct logs_walk {
	struct otlp_in *in;
	struct log_pipe *lp;	/* NULL: checking only */
	const char *in_flight;
	size_t records;
};

static int log_item(void *arg, const char *scope, size_t scope_n, const uint8_t *item,
		    size_t item_n)
{
	struct logs_walk *w = arg;

	if (!log_line_of(w->in, w->lp, item, item_n, scope, scope_n, w->in_flight))
		return -1;
	w->records++;
	return 0;
}

static void take_logs(struct otlp_in *in, const uint8_t *p, size_t n, struct otlp_in_result *res)
{
	struct log_pipe *lp = in->o.log_pipe ? in->o.log_pipe(in->o.log_pipe_arg) : NULL;
	char in_flight[64];
	struct logs_walk w = { .in = in, .in_flight = in_flight };

	/* All of it read first: a request refused (400) must have left nothing behind, or the
	 * SDK's retry would write its records twice. */
	current_invocation(in, in_flight, sizeof(in_flight));
	if (each_item(p, n, log_item, &w) < 0) {
		res->status = -1;
		snprintf(res->message, sizeof(res->message), "not an ExportLogsServiceRequest");
		return;
	}
	if (!lp) {
		res->rejected = (int64_t)w.records;
		if (w.records)
			snprintf(res->message, sizeof(res->message), "log segments are off here");
		metric_add(metric_with(in->items, "logs", "dropped"), (double)w.records);
		return;
	}
	{
		size_t limit, backlog = log_pipe_backlog(lp, &limit);

		/* The writer behind: the SDK retries a little later rather than lines dropped. */
		if (backlog + n > limit / 2) {
			res->status = -2;
			snprintf(res->message, sizeof(res->message), "the log queue is full");
			return;
		}
	}
	if (in->dry) {
		in->takes += w.records;
		return;
	}
	w.lp = lp;
	w.records = 0;
	each_item(p, n, log_item, &w);
	metric_add(metric_with(in->items, "logs", "taken"), (double)w.records);
}

/* --- metrics ------------------------------------------------------------------------------ */

/* The name suffix of an OTLP unit (UCUM), in Prometheus' base units: *scale turns a value into
 * them (ms → seconds × 0.001, KiBy → bytes × 1024). */
static const char *unit_suffix(const uint8_t *u, size_t n, enum custom_kind kind, char *out,
			       size_t cap, double *scale)
{
	static const struct { const char *ucum, *suffix; double scale; } map[] = {
		{ "s", "seconds", 1 }, { "ms", "seconds", 1e-3 }, { "us", "seconds", 1e-6 },
		{ "ns", "seconds", 1e-9 }, { "min", "seconds", 60 }, { "h", "seconds", 3600 },
		{ "By", "bytes", 1 }, { "KiBy", "bytes", 1024.0 }, { "MiBy", "bytes", 1048576.0 },
		{ "GiBy", "bytes", 1073741824.0 }, { "KBy", "bytes", 1e3 }, { "MBy", "bytes", 1e6 },
		{ "GBy", "bytes", 1e9 }, { "bit", "bytes", 0.125 }, { "%", "percent", 1 },
		{ "m", "meters", 1 }, { "Hz", "hertz", 1 }, { "Cel", "celsius", 1 },
		{ "V", "volts", 1 }, { "A", "amperes", 1 }, { "J", "joules", 1 }, { "W", "watts", 1 },
	};

	*scale = 1;
	if (!n || u[0] == '{')
		return NULL;
	if (n == 1 && u[0] == '1')
		return kind == CUSTOM_GAUGE ? "ratio" : NULL;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (key_is(u, n, map[i].ucum)) {
			*scale = map[i].scale;
			return map[i].suffix;
		}
	}
	/* Other units: their name, made valid ("By/s" → By_s). */
	return custom_valid_name((const char *)u, n, out, cap, true) ? out : NULL;
}

/* The labels of a data point's attributes (field af), into text kept in store. */
static unsigned point_labels(const uint8_t *p, size_t n, uint32_t af, struct custom_label *l,
			     struct buf *store, size_t *offs)
{
	struct pbit it = pbit(p, n);
	struct pbf f;
	unsigned nl = 0;

	buf_reset(store);
	while (next(&it, &f) == 1 && nl < CUSTOM_MAX_LABELS * 2) {
		const uint8_t *k, *v;
		size_t kn, vn;

		if (f.field != af || f.wire != PB_LEN || !key_value(f.v, f.n, &k, &kn, &v, &vn) ||
		    key_is(k, kn, "faas.invocation_id"))	/* (one series an invocation: no) */
			continue;
		offs[2 * nl] = store->len;
		buf_append(store, k, kn);
		buf_putc(store, '\0');
		offs[2 * nl + 1] = store->len;
		if (v)
			any_text(store, v, vn);
		buf_putc(store, '\0');
		nl++;
	}
	for (unsigned i = 0; i < nl && !store->failed; i++) {
		l[i].key = store->data + offs[2 * i];
		l[i].value = store->data + offs[2 * i + 1];
	}
	return store->failed ? 0 : nl;
}

/* Packed (or repeated) fixed64 / double values of field fn in a data point. */
static size_t point_array(const uint8_t *p, size_t n, uint32_t fn, double *d, uint64_t *u,
			  size_t cap, bool *over)
{
	struct pbit it = pbit(p, n);
	struct pbf f;
	size_t k = 0;

	while (next(&it, &f) == 1) {
		if (f.field != fn)
			continue;
		if (f.wire == PB_I64) {
			if (k == cap) {
				*over = true;
				return k;
			}
			if (d)
				d[k++] = double_of(&f);
			else
				u[k++] = fixed64_of(&f);
		} else if (f.wire == PB_LEN && f.n % 8 == 0) {
			for (size_t i = 0; i < f.n; i += 8) {
				struct pbf one = { .v = f.v + i, .n = 8 };

				if (k == cap) {
					*over = true;
					return k;
				}
				if (d)
					d[k++] = double_of(&one);
				else
					u[k++] = fixed64_of(&one);
			}
		}
	}
	return k;
}

struct metric_in {
	const uint8_t *name, *unit, *help;
	size_t name_n, unit_n, help_n;
	const uint8_t *data;	/* the gauge, sum or histogram message */
	size_t data_n;
	uint32_t kind;		/* 5 gauge, 7 sum, 9 histogram, 10, 11: refused */
};

static void take_points(struct otlp_in *in, const struct metric_in *m, struct otlp_in_result *res,
			size_t *taken)
{
	struct pbit it = pbit(m->data, m->data_n);
	struct pbf f;
	uint64_t temporality = 0;
	bool monotonic = false;
	char name[CUSTOM_NAME_MAX + 1], help[256], unit[64];
	const char *keys[CUSTOM_MAX_LABELS * 2];
	unsigned nkeys = 0;
	struct custom_label labels[CUSTOM_MAX_LABELS * 2];
	size_t offs[CUSTOM_MAX_LABELS * 4];
	struct buf store, keystore;
	struct custom_metric cm;
	enum custom_kind kind;
	double scale;

	while (next(&it, &f) == 1) {
		if (f.field == 2 && f.wire == PB_VARINT)
			temporality = varint_of(&f);
		else if (f.field == 3 && f.wire == PB_VARINT)
			monotonic = varint_of(&f) != 0;
	}
	kind = m->kind == 9 ? CUSTOM_HISTOGRAM :
	       m->kind == 7 && monotonic ? CUSTOM_COUNTER : CUSTOM_GAUGE;
	snprintf(name, sizeof(name), "%.*s", (int)(m->name_n < CUSTOM_NAME_MAX ? m->name_n :
						    CUSTOM_NAME_MAX), (const char *)m->name);
	snprintf(help, sizeof(help), "%.*s", (int)(m->help_n < 255 ? m->help_n : 255),
		 (const char *)m->help);
	cm = (struct custom_metric){
		.name = name, .kind = kind, .help = help,
		.suffix = unit_suffix(m->unit, m->unit_n, kind, unit, sizeof(unit), &scale),
	};
	/* The family's labels: every point's attribute keys. */
	buf_init(&store);
	buf_init(&keystore);
	it = pbit(m->data, m->data_n);
	while (next(&it, &f) == 1) {
		unsigned nl;

		if (f.field != 1 || f.wire != PB_LEN)
			continue;
		nl = point_labels(f.v, f.n, m->kind == 9 ? 9 : 7, labels, &store, offs);
		for (unsigned i = 0; i < nl && nkeys < CUSTOM_MAX_LABELS * 2; i++) {
			bool dup = false;

			for (unsigned j = 0; j < nkeys && !dup; j++)
				dup = strcmp(keystore.data + (size_t)(uintptr_t)keys[j], labels[i].key) == 0;
			if (!dup) {
				keys[nkeys++] = (const char *)(uintptr_t)keystore.len;
				buf_puts(&keystore, labels[i].key);
				buf_putc(&keystore, '\0');
			}
		}
	}
	for (unsigned j = 0; j < nkeys && !keystore.failed; j++)
		keys[j] = keystore.data + (size_t)(uintptr_t)keys[j];
	cm.label_names = keys;
	cm.nlabel_names = keystore.failed ? 0 : nkeys;
	it = pbit(m->data, m->data_n);
	while (next(&it, &f) == 1) {
		struct metric_series *s;
		unsigned nl;

		if (f.field != 1 || f.wire != PB_LEN)
			continue;
		nl = point_labels(f.v, f.n, m->kind == 9 ? 9 : 7, labels, &store, offs);
		if (kind == CUSTOM_HISTOGRAM) {
			double bounds[MAX_POINT_BUCKETS], sum = 0;
			uint64_t counts[MAX_POINT_BUCKETS + 1];
			bool over = false;
			size_t nb = point_array(f.v, f.n, 7, bounds, NULL, MAX_POINT_BUCKETS, &over);
			size_t nc = point_array(f.v, f.n, 6, NULL, counts, MAX_POINT_BUCKETS + 1, &over);
			struct pbit pt = pbit(f.v, f.n);
			struct pbf g;

			while (next(&pt, &g) == 1)
				if (g.field == 5 && g.wire == PB_I64)
					sum = double_of(&g) * scale;
			for (size_t i = 0; i < nb && i < MAX_POINT_BUCKETS; i++)
				bounds[i] *= scale;
			if (over || nb > METRIC_MAX_BUCKETS || nb == 0 || nc != nb + 1) {
				res->rejected++;
				custom_reject(in->o.custom, CUSTOM_OTLP, "buckets");
				continue;
			}
			cm.buckets = bounds;
			cm.nbuckets = nb;
			s = custom_series(in->o.custom, CUSTOM_OTLP, &cm, labels, nl);
			if (!s || s->family->nbuckets != nb ||
			    memcmp(s->family->buckets, bounds, nb * sizeof(double)) != 0) {
				if (s)
					custom_reject(in->o.custom, CUSTOM_OTLP, "buckets");
				res->rejected++;
				continue;
			}
			metric_histogram_merge(s, counts, sum, temporality != 1);
		} else {
			struct pbit pt = pbit(f.v, f.n);
			struct pbf g;
			double v = NAN;

			while (next(&pt, &g) == 1) {
				if (g.field == 4 && g.wire == PB_I64)
					v = double_of(&g);
				else if (g.field == 6 && g.wire == PB_I64)
					v = (double)(int64_t)fixed64_of(&g);
			}
			v *= scale;
			if (!isfinite(v)) {
				res->rejected++;
				continue;
			}
			s = custom_series(in->o.custom, CUSTOM_OTLP, &cm, labels, nl);
			if (!s) {
				res->rejected++;
				continue;
			}
			/* Cumulative (and gauges): the value; delta: added. */
			if (m->kind == 7 && temporality == 1)
				metric_add(s, v);
			else
				metric_set(s, v);
		}
		(*taken)++;
	}
	buf_free(&store);
	buf_free(&keystore);
}

/* A Metric's name, help, unit and data; -1 when malformed. */
static int metric_of(const uint8_t *p, size_t n, struct metric_in *m)
{
	struct pbit mt = pbit(p, n);
	struct pbf h;
	int rc;

	memset(m, 0, sizeof(*m));
	while ((rc = next(&mt, &h)) == 1) {
		if (h.wire != PB_LEN)
			continue;
		if (h.field == 1)
			m->name = h.v, m->name_n = h.n;
		else if (h.field == 2)
			m->help = h.v, m->help_n = h.n;
		else if (h.field == 3)
			m->unit = h.v, m->unit_n = h.n;
		else if (h.field == 5 || h.field == 7 || h.field == 9 || h.field == 10 || h.field == 11)
			m->kind = h.field, m->data = h.v, m->data_n = h.n;
	}
	if (rc < 0 || (m->data && !well_formed(m->data, m->data_n)))
		return -1;
	if (m->data) {
		struct pbit d = pbit(m->data, m->data_n);
		struct pbf e;

		while (next(&d, &e) == 1)
			if (e.field == 1 && (e.wire != PB_LEN || !well_formed(e.v, e.n)))
				return -1;
	}
	return 0;
}

struct metrics_walk {
	struct otlp_in *in;
	struct otlp_in_result *res;
	bool apply;		/* false: checking only */
	size_t taken;
};

static int metric_item(void *arg, const char *scope, size_t scope_n, const uint8_t *item,
		       size_t item_n)
{
	struct metrics_walk *w = arg;
	struct metric_in m;

	(void)scope;
	(void)scope_n;
	if (metric_of(item, item_n, &m) < 0)
		return -1;
	if (!w->apply)
		return 0;
	if (!m.name || !m.name_n || !m.data) {
		custom_reject(w->in->o.custom, CUSTOM_OTLP, "name");
		w->res->rejected++;
		return 0;
	}
	if (m.kind == 10 || m.kind == 11) {
		struct pbit d = pbit(m.data, m.data_n);
		struct pbf e;

		while (next(&d, &e) == 1)
			if (e.field == 1) {
				w->res->rejected++;
				custom_reject(w->in->o.custom, CUSTOM_OTLP, "unsupported");
			}
		snprintf(w->res->message, sizeof(w->res->message),
			 "exponential histograms and summaries are not taken");
		return 0;
	}
	take_points(w->in, &m, w->res, &w->taken);
	return 0;
}

static void take_metrics(struct otlp_in *in, const uint8_t *p, size_t n, struct otlp_in_result *res)
{
	struct metrics_walk w = { .in = in, .res = res };

	/* All of it read first: nothing enters the registry from a request refused (400). */
	if (each_item(p, n, metric_item, &w) < 0) {
		res->status = -1;
		snprintf(res->message, sizeof(res->message), "not an ExportMetricsServiceRequest");
		return;
	}
	w.apply = true;
	each_item(p, n, metric_item, &w);
	if (res->rejected && !res->message[0])
		snprintf(res->message, sizeof(res->message),
			 "points refused: see vigil_custom_metrics_rejected_total");
	metric_add(metric_with(in->items, "metrics", "taken"), (double)w.taken);
	metric_add(metric_with(in->items, "metrics", "dropped"), (double)res->rejected);
}

/* --- the receiver ------------------------------------------------------------------------- */

struct otlp_in *otlp_in_new(const struct otlp_in_options *o, struct metric_registry *r)
{
	struct otlp_in *in = calloc(1, sizeof(*in));
	struct metric_desc rq = {
		.name = "vigil_otlp_receiver_requests_total",
		.help = "OTLP export requests the function made to vigil, by signal and outcome "
			"(ok, partial, invalid, too_large, busy, unsupported)",
		.type = METRIC_COUNTER, .labels = { "signal", "outcome" },
	};
	struct metric_desc it = {
		.name = "vigil_otlp_receiver_items_total",
		.help = "Spans, log records and metric points the function exported to vigil, by "
			"signal and result (taken, dropped)",
		.type = METRIC_COUNTER, .labels = { "signal", "result" },
	};

	if (!in)
		return NULL;
	in->o = *o;
	in->held_tail = &in->held;
	in->requests = metric_register(r, &rq);
	in->items = metric_register(r, &it);
	return in;
}

static void free_held(struct otlp_in *in)
{
	while (in->held) {
		struct held *h = in->held;

		in->held = h->next;
		free(h);
	}
	in->held_tail = &in->held;
	in->held_bytes = 0;
}

void otlp_in_free(struct otlp_in *in)
{
	if (!in)
		return;
	loop_timer_stop(&in->timer);
	free_held(in);
	free(in);
}

void otlp_in_count(struct otlp_in *in, enum otlp_signal sig, const char *outcome)
{
	if (in && sig < OTLP_SIGNALS)
		metric_inc(metric_with(in->requests, signal_names[sig], outcome));
}

static void take_now(struct otlp_in *in, enum otlp_signal sig, const uint8_t *p, size_t n,
		     struct otlp_in_result *res)
{
	memset(res, 0, sizeof(*res));
	in->memo[0].valid = in->memo[1].valid = false;	/* (the tracker moves on) */
	if (sig == OTLP_TRACES)
		take_traces(in, p, n, res);
	else if (sig == OTLP_LOGS)
		take_logs(in, p, n, res);
	else
		take_metrics(in, p, n, res);
}

/* A held request taken, as things stand, when the tracker can place its times now or when
 * forced (its time is up; the receiver stops): 1, 0 not yet, -1 no room in the queues now. */
static int take_held(struct otlp_in *in, struct held *h, bool force)
{
	struct otlp_in_result res;

	if (!force && !tracker_settled(in->o.tracker, h->at_ms))
		return 0;
	in->in_flight = h->in_flight;
	take_now(in, h->sig, h->p, h->n, &res);
	in->in_flight = NULL;
	return res.status == -2 ? -1 : 1;
}

static void on_held(void *arg)
{
	struct otlp_in *in = arg;
	double now = loop_now(), again = HOLD_TICK_S;

	while (in->held) {
		struct held *h = in->held;
		int rc = take_held(in, h, now >= h->until);

		if (rc <= 0) {
			if (rc < 0)
				again = HOLD_BUSY_S;	/* (the exporter behind: not every tick) */
			break;
		}
		in->held = h->next;
		in->held_bytes -= h->n;
		free(h);
	}
	if (!in->held)
		in->held_tail = &in->held;
	else
		loop_timer_start(in->o.loop, &in->timer, now + again, on_held, in);
}

void otlp_in_take(struct otlp_in *in, enum otlp_signal sig, const uint8_t *p, size_t n,
		  struct otlp_in_result *res)
{
	struct held *h;

	/* Spans and log records join the invocation running when they began, but the SDK may
	 * export them before the extension has heard of that invocation (its INVOKE and the
	 * runtime's go out at once): such a request is answered now (checked by a dry run) and
	 * held — its order kept — until the tracker can place it (the platform's start and end
	 * of the invocations around it), HOLD_MAX_S at most. */
	if (sig == OTLP_METRICS || !in->o.loop || !in->o.tracker || in->o.concurrent ||
	    in->closed || n > HOLD_MAX_BYTES) {
		take_now(in, sig, p, n, res);
		goto out;
	}
	in->dry = true;
	in->unsettled = false;
	in->unsettled_at = 0;
	in->takes = 0;
	take_now(in, sig, p, n, res);
	in->dry = false;
	if (res->status != 0 || !in->takes)
		goto out;		/* (refused, or nothing to take) */
	if (in->unsettled && tracker_settled(in->o.tracker, in->unsettled_at))
		in->unsettled = false;
	if (!in->unsettled && !in->held) {
		take_now(in, sig, p, n, res);
		goto out;
	}
	if (in->held_bytes + n > HOLD_MAX_BYTES || !(h = malloc(sizeof(*h) + n))) {
		res->status = -2;
		snprintf(res->message, sizeof(res->message),
			 "waiting for the invocation it belongs to: full");
		goto out;
	}
	h->next = NULL;
	h->sig = sig;
	h->at_ms = in->unsettled ? in->unsettled_at : 0;
	h->items = in->takes;
	current_invocation(in, h->in_flight, sizeof(h->in_flight));
	h->until = loop_now() + HOLD_MAX_S;
	h->n = n;
	memcpy(h->p, p, n);
	*in->held_tail = h;
	in->held_tail = &h->next;
	in->held_bytes += n;
	if (!loop_timer_active(&in->timer))
		loop_timer_start(in->o.loop, &in->timer, loop_now() + HOLD_TICK_S, on_held, in);
out:
	otlp_in_count(in, sig, res->status == -1 ? "invalid" : res->status == -2 ? "busy" :
			       res->rejected ? "partial" : "ok");
}

void otlp_in_flush(struct otlp_in *in)
{
	if (!in)
		return;
	in->closed = true;
	loop_timer_stop(&in->timer);
	while (in->held) {
		struct held *h = in->held;

		if (take_held(in, h, true) < 0) {
			metric_add(metric_with(in->items, signal_names[h->sig], "dropped"),
				   (double)h->items);
			log_warn("otlp", "%zu %s of the function's dropped at the stop: no room "
				 "left", h->items, h->sig == OTLP_TRACES ? "spans" : "log records");
		}
		in->held = h->next;
		free(h);
	}
	free_held(in);
}

void otlp_in_response(const struct otlp_in_result *res, struct buf *out)
{
	size_t at;

	if (!res->rejected && !res->message[0])
		return;	/* an empty message: no bytes */
	at = pb_open(out, T(1, PB_LEN));
	if (res->rejected)
		pb_buf_varint(out, T(1, PB_VARINT), (uint64_t)res->rejected);
	if (res->message[0])
		pb_buf_bytes(out, T(2, PB_LEN), res->message, strlen(res->message));
	pb_close(out, at);
}

void otlp_in_status(int code, const char *message, struct buf *out)
{
	pb_buf_varint(out, T(1, PB_VARINT), (uint64_t)code);
	pb_buf_bytes(out, T(2, PB_LEN), message, strlen(message));
}

int otlp_in_gunzip(const void *data, size_t n, size_t max, struct buf *out)
{
	z_stream z;
	int rc = Z_OK;

	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 15 + 32) != Z_OK)	/* gzip or zlib, by its header */
		return -1;
	z.next_in = (Bytef *)(uintptr_t)data;
	z.avail_in = (uInt)n;
	while (rc == Z_OK) {
		size_t room = 64 * 1024;

		if (out->len >= max) {
			inflateEnd(&z);
			return -2;
		}
		if (room > max - out->len + 1)
			room = max - out->len + 1;
		if (buf_reserve(out, room) < 0) {
			inflateEnd(&z);
			return -1;
		}
		z.next_out = (Bytef *)out->data + out->len;
		z.avail_out = (uInt)room;
		rc = inflate(&z, Z_NO_FLUSH);
		out->len += room - z.avail_out;
		if (rc == Z_BUF_ERROR && z.avail_in == 0)
			break;	/* cut short */
	}
	inflateEnd(&z);
	if (out->len > max)
		return -2;
	return rc == Z_STREAM_END ? 0 : -1;
}
