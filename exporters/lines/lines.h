/*
 * Summary lines: one line per invocation report, in the shape of Lambda's REPORT line with
 * vigil's figures (status, error type, cost) — `VIGIL_REPORT RequestId: …`, tab-separated.
 * What `report_lines` (VIGIL_REPORT_LINES=1) turns on in the extension.
 */
#ifndef VIGIL_LINES_H
#define VIGIL_LINES_H

#include "../../agent/core/sink.h"
#include "../../agent/core/tracker.h"
#include "../../agent/util/buf.h"

/* Append r's summary line (with its newline) to b. */
void report_line(struct buf *b, const struct invocation_report *r);

/* The lines as a sink: rendered at each export, written to fd at the flush. NULL when out
 * of memory. */
extern const struct sink_ops lines_sink_ops;
void *lines_sink_new(int fd);

#endif
