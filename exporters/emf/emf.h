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
#include "../../agent/core/tracker.h"

#define EMF_MAX_VALUES 100	/* values per metric array */
#define EMF_MAX_BYTES (256 * 1024)	/* stay under the oldest documented event size */

/* One document per report. */
void emf_render_each(struct buf *out, const char *ns, struct invocation_report *const *reports,
		     size_t n);
/* Busy functions: the reports' values as arrays, one document per 100 reports. */
void emf_render_batch(struct buf *out, const char *ns, struct invocation_report *const *reports,
		      size_t n);

#endif
