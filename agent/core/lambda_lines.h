/*
 * Lambda's own log lines (START, END, REPORT, INIT_START, INIT_REPORT, the timeout line) in
 * text and JSON log formats, and the billing rule. Formats: ../shared/spec/lambda-apis.md 5.
 */
#ifndef VIGIL_LAMBDA_LINES_H
#define VIGIL_LAMBDA_LINES_H

#include <stdbool.h>
#include <stdint.h>

#include "../util/buf.h"
#include "../util/json_str.h"

enum log_format { LOG_FORMAT_TEXT, LOG_FORMAT_JSON };

struct report_fields {
	const char *request_id;
	const char *version;		/* "$LATEST" */
	double duration_ms;
	double init_duration_ms;	/* < 0: not a cold start */
	long memory_size_mb;
	long max_memory_used_mb;
	const char *status;		/* "success", "error", "timeout", "failure" */
	const char *error_type;		/* NULL or empty when none */
	double restore_duration_ms;	/* > 0: after a SnapStart restore (Restore Duration) */
	bool managed;			/* Lambda Managed Instances: Duration only (billing and
					 * memory are the instance's, not the invocation's) */
};

/* Billed duration: ceil(duration), plus init on a cold start (INIT billed since Aug 2025).
 * Computed in whole microseconds so that 3000.00 bills 3000, not 3001. */
int64_t billed_duration_ms(double duration_ms, double init_duration_ms);

/* A REPORT's Billed Duration: billed_duration_ms of its Duration (plus a SnapStart restore's
 * Billed Restore Duration, whole ms) and its Init Duration. */
int64_t report_billed_ms(const struct report_fields *r);

/* ISO-8601 UTC with milliseconds, e.g. 2024-06-17T17:23:50.100Z, of the realtime clock. */
void iso_time_now(char out[32]);

/* Each appends one line, ending in '\n'. */
void line_init_start(struct buf *b, enum log_format f, const char *runtime_version,
		     const char *function_name, const char *version);
void line_start(struct buf *b, enum log_format f, const char *request_id, const char *version);
void line_end(struct buf *b, enum log_format f, const char *request_id);
void line_report(struct buf *b, enum log_format f, const struct report_fields *r);
void line_init_report(struct buf *b, enum log_format f, double init_ms, const char *phase,
		      const char *status, const char *error_type);
void line_timeout(struct buf *b, enum log_format f, const char *request_id, double seconds);

#endif
