/*
 * CloudWatch Embedded Metric Format (../shared/spec/lambda-apis.md 6): invocation reports as
 * one JSON document per line, for Lambda to turn into CloudWatch metrics. Dimension sets
 * [function_name] and [function_name, version]; request_id, trace_id and cold_start are
 * properties, never dimensions.
 */
#ifndef VIGIL_EMF_H
#define VIGIL_EMF_H

#include <stddef.h>

#include "../../agent/util/buf.h"
#include "../../agent/core/sink.h"
#include "../../agent/core/tracker.h"

#define EMF_MAX_VALUES 100	/* values per metric array */
#define EMF_MAX_BYTES (256 * 1024)	/* stay under the oldest documented event size */

/* One document per report. */
void emf_render_each(struct buf *out, const char *ns, struct invocation_report *const *reports,
		     size_t n);
/* Busy functions: the reports' values as arrays, one document per 100 reports. */
void emf_render_batch(struct buf *out, const char *ns, struct invocation_report *const *reports,
		      size_t n);

/* EMF as a sink: each export's reports rendered (arrays from EMF_BATCH_FROM reports on, as
 * busy functions need) and written to fd at the flush, in one write where it can. ns is
 * borrowed. NULL when out of memory. */
#define EMF_BATCH_FROM 4
extern const struct sink_ops emf_sink_ops;
void *emf_sink_new(const char *ns, int fd);

/* The function's own metrics that came by StatsD or OTLP (core/custom.h) in the EMF output
 * too, at each export after its reports: a document per series that changed (its labels
 * and function_name as the dimensions) — counters as the increase since the last export
 * (Count), gauges as their value, histograms as two metrics, NAME_count (the observations
 * since the last export, Count) and NAME_sum (their sum). What came by EMF is not written
 * again (CloudWatch has it). At most EMF_CUSTOM_MAX documents an export, EMF_CUSTOM_SERIES
 * series followed. c outlives the sink. */
#define EMF_CUSTOM_MAX 100
#define EMF_CUSTOM_SERIES 4096
struct custom_metrics;
void emf_sink_custom(void *sink, struct custom_metrics *c);

#endif
