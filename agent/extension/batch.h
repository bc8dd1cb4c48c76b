/* A Telemetry API batch (a JSON array of {time, type, record}) into the tracker. */
#ifndef VIGIL_BATCH_H
#define VIGIL_BATCH_H

#include <stdint.h>
#include <stddef.h>

#include "../core/logpipe.h"
#include "../core/tracker.h"

struct batch_counts {
	unsigned records, malformed, unknown, own;
	uint64_t platform_dropped;	/* records platform.logsDropped says were lost */
};

/* 0 (each record taken, or ignored and counted), or -EINVAL when body is not a JSON array
 * (the listener still answers 200: a refused batch is lost whole, reports included). Records that are vigil's own output (EMF of emf_namespace,
 * vigil's log and summary lines) are skipped: no feedback loop. */
int telemetry_batch_ingest(struct tracker *t, const char *body, size_t len,
			   const char *emf_namespace, struct batch_counts *counts);
/* The same records, kept as log records (function, extension, platform) in logs; lines
 * before the batch's first platform.start belong to current (the request in flight when the
 * batch arrived, "" for none). */
void telemetry_batch_log(struct log_pipe *logs, const char *current, const char *body,
			 size_t len, const char *emf_namespace, const char *function_name,
			 const char *version);

#endif
