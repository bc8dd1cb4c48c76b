/* CloudWatch Embedded Metric Format documents. See emf.h. */
#include "emf.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/core/custom.h"
#include "../../agent/core/lambda_lines.h"
#include "../../agent/util/clock.h"
#include "../../agent/util/json_str.h"
#include "../../agent/util/numfmt.h"

enum metric_id {
	M_DURATION, M_BILLED, M_INIT, M_POST_RUNTIME, M_MAX_MEMORY, M_UTILIZATION, M_LATENCY,
	M_PRODUCED, M_INVOCATIONS, M_ERRORS, M_TIMEOUTS, M_COLD, M_OOM, M_CPU, M_RX, M_TX, M_TMP,
	M_FDS, M_THREADS, M_HANDLER, M_COST, M_COUNT
};

static const struct {
	const char *name, *unit;
} metrics[M_COUNT] = {
	[M_DURATION] = { "Duration", "Milliseconds" },
	[M_BILLED] = { "BilledDuration", "Milliseconds" },
	[M_INIT] = { "InitDuration", "Milliseconds" },
	[M_POST_RUNTIME] = { "PostRuntimeExtensionsDuration", "Milliseconds" },
	[M_MAX_MEMORY] = { "MaxMemoryUsed", "Megabytes" },
	[M_UTILIZATION] = { "MemoryUtilization", "Percent" },
	[M_LATENCY] = { "ResponseLatency", "Milliseconds" },
	[M_PRODUCED] = { "ProducedBytes", "Bytes" },
	[M_INVOCATIONS] = { "Invocations", "Count" },
	[M_ERRORS] = { "Errors", "Count" },
	[M_TIMEOUTS] = { "Timeouts", "Count" },
	[M_COLD] = { "ColdStart", "Count" },
	[M_OOM] = { "OutOfMemory", "Count" },
	[M_CPU] = { "CpuTotalTime", "Milliseconds" },
	[M_RX] = { "RxBytes", "Bytes" },
	[M_TX] = { "TxBytes", "Bytes" },
	[M_TMP] = { "TmpUsed", "Bytes" },
	[M_FDS] = { "FdUse", "Count" },
	[M_THREADS] = { "Threads", "Count" },
	[M_HANDLER] = { "HandlerDuration", "Milliseconds" },
	[M_COST] = { "EstimatedCost", "None" },
};

/* The value of metric m for report r; NaN when the report does not know it. */
static double value(const struct invocation_report *r, enum metric_id m)
{
	switch (m) {
	case M_DURATION: return r->duration_ms >= 0 ? r->duration_ms : NAN;
	case M_BILLED: return r->billed_ms >= 0 ? (double)r->billed_ms : NAN;
	case M_INIT: return r->cold_start && r->init_duration_ms >= 0 ? r->init_duration_ms : NAN;
	case M_POST_RUNTIME: return r->post_runtime_ms >= 0 ? r->post_runtime_ms : NAN;
	case M_MAX_MEMORY: return r->complete && !report_managed(r) ?
					  (double)r->max_memory_used_mb : NAN;
	case M_UTILIZATION:
		return r->complete && r->memory_size_mb > 0 && !report_managed(r) ?
			       100.0 * (double)r->max_memory_used_mb / (double)r->memory_size_mb :
			       NAN;
	case M_LATENCY: return r->response_latency_ms > 0 ? r->response_latency_ms : NAN;
	case M_PRODUCED: return r->produced_bytes >= 0 ? (double)r->produced_bytes : NAN;
	case M_INVOCATIONS: return 1;
	case M_ERRORS: return r->status != REPORT_SUCCESS;
	case M_TIMEOUTS: return r->status == REPORT_TIMEOUT;
	case M_COLD: return r->cold_start;
	case M_OOM: return r->oom;
	case M_CPU: return (r->cpu_user_s + r->cpu_system_s) * 1000.0;
	case M_RX: return (double)r->net_rx_bytes;
	case M_TX: return (double)r->net_tx_bytes;
	case M_TMP: return (double)r->tmp_used_bytes;
	case M_FDS: return r->fds > 0 ? (double)r->fds : NAN;
	case M_THREADS: return r->threads > 0 ? (double)r->threads : NAN;
	case M_HANDLER: return r->handler_ms >= 0 ? r->handler_ms : NAN;
	case M_COST: return r->cost_usd;
	case M_COUNT: break;
	}
	return NAN;
}

static void head(struct buf *out, const char *ns, int64_t ts, const bool *present)
{
	int first = 1;

	buf_puts(out, "{\"_aws\":{\"Timestamp\":");
	buf_put_i64(out, ts);
	buf_puts(out, ",\"CloudWatchMetrics\":[{\"Namespace\":");
	json_put_string(out, ns);
	buf_puts(out, ",\"Dimensions\":[[\"function_name\"],[\"function_name\",\"version\"]],"
		      "\"Metrics\":[");
	for (int m = 0; m < M_COUNT; m++) {
		if (!present[m])
			continue;
		if (!first)
			buf_putc(out, ',');
		first = 0;
		buf_printf(out, "{\"Name\":\"%s\",\"Unit\":\"%s\"}", metrics[m].name,
			   metrics[m].unit);
	}
	buf_puts(out, "]}]}");
}

static void dims(struct buf *out, const struct invocation_report *r)
{
	buf_puts(out, ",\"function_name\":");
	json_put_string(out, r->function_name);
	buf_puts(out, ",\"version\":");
	json_put_string(out, r->version);
}

void emf_render_each(struct buf *out, const char *ns, struct invocation_report *const *reports,
		     size_t n)
{
	for (size_t i = 0; i < n; i++) {
		const struct invocation_report *r = reports[i];
		bool present[M_COUNT];

		for (int m = 0; m < M_COUNT; m++)
			present[m] = isfinite(value(r, m));
		head(out, ns, r->start_ms, present);
		dims(out, r);
		for (int m = 0; m < M_COUNT; m++) {
			if (!present[m])
				continue;
			buf_printf(out, ",\"%s\":", metrics[m].name);
			numfmt_double(out, value(r, m));
		}
		buf_puts(out, ",\"request_id\":");
		json_put_string(out, r->request_id);
		if (r->trace_id[0]) {
			buf_puts(out, ",\"trace_id\":");
			json_put_string(out, r->trace_id);
		}
		buf_puts(out, r->cold_start ? ",\"cold_start\":true" : ",\"cold_start\":false");
		if (r->init_type[0]) {
			buf_puts(out, ",\"init_type\":");
			json_put_string(out, r->init_type);
		}
		if (r->restore_duration_ms > 0)
			buf_printf(out, ",\"restore_duration_ms\":%.3f", r->restore_duration_ms);
		if (r->tenant_id[0]) {
			buf_puts(out, ",\"tenant_id\":");
			json_put_string(out, r->tenant_id);
		}
		if (r->streaming)
			buf_puts(out, ",\"response_mode\":\"streaming\"");
		if (r->durable)
			buf_puts(out, ",\"durable\":true");
		if (r->error_type[0]) {
			buf_puts(out, ",\"error_type\":");
			json_put_string(out, r->error_type);
		}
		if (r->error_message[0]) {
			buf_puts(out, ",\"error_message\":");
			json_put_string(out, r->error_message);
		}
		buf_puts(out, "}\n");
	}
}

void emf_render_batch(struct buf *out, const char *ns, struct invocation_report *const *reports,
		      size_t n)
{
	for (size_t start = 0; start < n; start += EMF_MAX_VALUES) {
		size_t end = start + EMF_MAX_VALUES < n ? start + EMF_MAX_VALUES : n;
		bool present[M_COUNT] = { false };

		for (size_t i = start; i < end; i++)
			for (int m = 0; m < M_COUNT; m++)
				present[m] |= isfinite(value(reports[i], m));
		head(out, ns, reports[start]->start_ms, present);
		dims(out, reports[start]);
		for (int m = 0; m < M_COUNT; m++) {
			int first = 1;

			if (!present[m])
				continue;
			buf_printf(out, ",\"%s\":[", metrics[m].name);
			for (size_t i = start; i < end; i++) {
				double v = value(reports[i], m);

				if (!isfinite(v))
					continue;
				if (!first)
					buf_putc(out, ',');
				first = 0;
				numfmt_double(out, v);
			}
			buf_putc(out, ']');
		}
		buf_puts(out, ",\"request_ids\":[");
		for (size_t i = start; i < end; i++) {
			if (i > start)
				buf_putc(out, ',');
			json_put_string(out, reports[i]->request_id);
		}
		buf_puts(out, "]}\n");
	}
}

/* --- the sink ------------------------------------------------------------------------------ */

/* What a series was at the last document written for it. */
struct last {
	const struct metric_series *series;	/* NULL: a free slot */
	double value, sum;
	uint64_t count;
};

struct emf_sink {
	const char *ns;
	int fd;
	struct buf out;
	struct custom_metrics *custom;
	struct last *last;		/* EMF_CUSTOM_SERIES slots, open addressing */
	size_t nlast;
	char function_name[128];
};

void *emf_sink_new(const char *ns, int fd)
{
	struct emf_sink *s = calloc(1, sizeof(*s));

	if (s) {
		s->ns = ns;
		s->fd = fd;
		buf_init(&s->out);
	}
	return s;
}

void emf_sink_custom(void *sink, struct custom_metrics *c)
{
	struct emf_sink *s = sink;

	if (s)
		s->custom = c;
}

static struct last *last_of(struct emf_sink *s, const struct metric_series *series)
{
	size_t i = ((uintptr_t)series >> 4) * 0x9E3779B97F4A7C15ull >> 40;

	if (!s->last) {
		s->last = calloc(EMF_CUSTOM_SERIES, sizeof(*s->last));
		if (!s->last)
			return NULL;
	}
	for (size_t k = 0; k < EMF_CUSTOM_SERIES; k++) {
		struct last *l = &s->last[(i + k) % EMF_CUSTOM_SERIES];

		if (l->series == series)
			return l;
		if (!l->series) {
			if (s->nlast >= EMF_CUSTOM_SERIES * 3 / 4)
				return NULL;	/* full: this series is not followed */
			l->series = series;
			s->nlast++;
			return l;
		}
	}
	return NULL;
}

/* One document: the series' labels (non-empty) and function_name as its dimensions. */
static void custom_doc(struct emf_sink *s, const struct metric_series *x, const char *name,
		       const char *unit, double v, const char *name2, const char *unit2, double v2)
{
	const struct metric_family *f = x->family;
	struct buf *o = &s->out;

	buf_printf(o, "{\"_aws\":{\"Timestamp\":%lld,\"CloudWatchMetrics\":[{\"Namespace\":",
		   (long long)clock_epoch_ms());
	json_put_string(o, s->ns);
	buf_puts(o, ",\"Dimensions\":[[\"function_name\"");
	for (unsigned i = 0; i < f->nlabels; i++) {
		if (!x->values[i][0] || strcmp(f->labels[i], "function_name") == 0)
			continue;
		buf_putc(o, ',');
		json_put_string(o, f->labels[i]);
	}
	buf_puts(o, "]],\"Metrics\":[{\"Name\":");
	json_put_string(o, name);
	buf_printf(o, ",\"Unit\":\"%s\"}", unit);
	if (name2) {
		buf_puts(o, ",{\"Name\":");
		json_put_string(o, name2);
		buf_printf(o, ",\"Unit\":\"%s\"}", unit2);
	}
	buf_puts(o, "]}]},\"function_name\":");
	json_put_string(o, s->function_name);
	for (unsigned i = 0; i < f->nlabels; i++) {
		if (!x->values[i][0] || strcmp(f->labels[i], "function_name") == 0)
			continue;
		buf_putc(o, ',');
		json_put_string(o, f->labels[i]);
		buf_putc(o, ':');
		json_put_string(o, x->values[i]);
	}
	buf_putc(o, ',');
	json_put_string(o, name);
	buf_putc(o, ':');
	numfmt_double(o, v);
	if (name2) {
		buf_putc(o, ',');
		json_put_string(o, name2);
		buf_putc(o, ':');
		numfmt_double(o, v2);
	}
	buf_puts(o, "}\n");
}

/* The function's StatsD and OTLP metrics that changed since the last export. */
static void render_custom(struct emf_sink *s)
{
	struct metric_family *fams[256];
	enum custom_source src[256];
	size_t n = custom_families(s->custom, fams, src, 256), docs = 0;

	for (size_t i = 0; i < n && docs < EMF_CUSTOM_MAX; i++) {
		const struct metric_family *f = fams[i];

		if (src[i] == CUSTOM_EMF)
			continue;	/* CloudWatch has these from the function's own line */
		for (struct metric_series *x = metric_first(fams[i]); x && docs < EMF_CUSTOM_MAX;
		     x = metric_next(x)) {
			struct last *l = last_of(s, x);
			double v = metric_value(x);

			if (!l)
				return;
			if (f->type == METRIC_COUNTER) {
				/* (a counter set lower — an SDK's restarted cumulative sum — starts
				 * again from zero) */
				double d = v >= l->value ? v - l->value : v;

				l->value = v;
				if (d > 0) {
					custom_doc(s, x, f->name, "Count", d, NULL, NULL, 0);
					docs++;
				}
			} else if (f->type == METRIC_GAUGE) {
				if (v != l->value || !l->count) {
					l->value = v;
					l->count = 1;
					custom_doc(s, x, f->name, "None", v, NULL, NULL, 0);
					docs++;
				}
			} else if (f->type == METRIC_HISTOGRAM) {
				uint64_t cum[METRIC_MAX_BUCKETS + 1], dc;
				double sum, ds;
				char cn[300], sn[300];

				metric_histogram_read(x, cum, &sum);
				dc = cum[f->nbuckets] >= l->count ? cum[f->nbuckets] - l->count :
								   cum[f->nbuckets];
				ds = cum[f->nbuckets] >= l->count ? sum - l->sum : sum;
				l->count = cum[f->nbuckets];
				l->sum = sum;
				if (dc > 0) {
					snprintf(cn, sizeof(cn), "%s_count", f->name);
					snprintf(sn, sizeof(sn), "%s_sum", f->name);
					custom_doc(s, x, cn, "Count", (double)dc, sn, "None", ds);
					docs++;
				}
			}
		}
	}
}

static void emf_sink_reports(void *self, struct invocation_report *const *items, size_t n)
{
	struct emf_sink *s = self;

	if (n >= EMF_BATCH_FROM)
		emf_render_batch(&s->out, s->ns, items, n);
	else
		emf_render_each(&s->out, s->ns, items, n);
	if (n && items[0]->function_name[0])
		snprintf(s->function_name, sizeof(s->function_name), "%s", items[0]->function_name);
	if (s->custom)
		render_custom(s);
}

static void emf_sink_flush(void *self, int64_t deadline_ms)
{
	struct emf_sink *s = self;

	(void)deadline_ms;
	buf_drain_fd(&s->out, s->fd);	/* a busy flush's megabytes are not kept */
}

static void emf_sink_stop(void *self, int64_t deadline_ms)
{
	struct emf_sink *s = self;

	emf_sink_flush(s, deadline_ms);
	free(s->last);
	free(s);
}

const struct sink_ops emf_sink_ops = {
	.name = "emf",
	.reports = emf_sink_reports,
	.flush = emf_sink_flush,
	.stop = emf_sink_stop,
};
