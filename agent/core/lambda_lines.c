/* Lambda's own log lines and the billing rule. See lambda_lines.h. */
#include "lambda_lines.h"
#include "../util/fields.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

int64_t billed_duration_ms(double duration_ms, double init_duration_ms)
{
	int64_t us = llround(duration_ms * 1000.0);

	if (init_duration_ms > 0)
		us += llround(init_duration_ms * 1000.0);
	if (us < 0)
		us = 0;
	/* Lambda bills at least 1 ms for any invoke that ran at all. */
	if (us == 0 && duration_ms > 0)
		return 1;
	return (us + 999) / 1000;
}

void iso_time_now(char out[32])
{
	struct timespec ts;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &ts);
	utc_tm((long long)ts.tv_sec, &tm);
	snprintf(out, 32, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000,
		 (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
		 tm.tm_sec % 100, (int)(ts.tv_nsec / 1000000) % 1000);
}

/* {"time":"…","type":"TYPE","record": — the caller closes the record and the object. */
static void json_head(struct buf *b, const char *type)
{
	char now[32];

	iso_time_now(now);
	buf_puts(b, "{\"time\":\"");
	buf_puts(b, now);
	buf_puts(b, "\",\"type\":\"");
	buf_puts(b, type);
	buf_puts(b, "\",\"record\":");
}

void line_init_start(struct buf *b, enum log_format f, const char *runtime_version,
		     const char *function_name, const char *version)
{
	if (f == LOG_FORMAT_TEXT) {
		buf_printf(b, "INIT_START Runtime Version: %s\tRuntime Version ARN: "
			      "arn:aws:lambda:local::runtime:%s\n", runtime_version, runtime_version);
		return;
	}
	json_head(b, "platform.initStart");
	buf_puts(b, "{\"initializationType\":\"on-demand\",\"phase\":\"init\",\"runtimeVersion\":");
	json_put_string(b, runtime_version);
	buf_puts(b, ",\"functionName\":");
	json_put_string(b, function_name);
	buf_puts(b, ",\"functionVersion\":");
	json_put_string(b, version);
	buf_puts(b, "}}\n");
}

void line_start(struct buf *b, enum log_format f, const char *request_id, const char *version)
{
	if (f == LOG_FORMAT_TEXT) {
		buf_printf(b, "START RequestId: %s Version: %s\n", request_id, version);
		return;
	}
	json_head(b, "platform.start");
	buf_puts(b, "{\"requestId\":");
	json_put_string(b, request_id);
	buf_puts(b, ",\"version\":");
	json_put_string(b, version);
	buf_puts(b, "}}\n");
}

void line_end(struct buf *b, enum log_format f, const char *request_id)
{
	if (f == LOG_FORMAT_TEXT) {
		buf_printf(b, "END RequestId: %s\n", request_id);
		return;
	}
	json_head(b, "platform.runtimeDone");
	buf_puts(b, "{\"requestId\":");
	json_put_string(b, request_id);
	buf_puts(b, "}}\n");
}

int64_t report_billed_ms(const struct report_fields *r)
{
	/* SnapStart bills the restore: ceil(Duration + Billed Restore Duration). */
	double restore = r->restore_duration_ms > 0 ?
				 (double)billed_duration_ms(r->restore_duration_ms, -1) : 0;

	return billed_duration_ms(r->duration_ms + restore, r->init_duration_ms);
}

void line_report(struct buf *b, enum log_format f, const struct report_fields *r)
{
	double restore = r->restore_duration_ms > 0 ? r->restore_duration_ms : 0;
	int64_t billed = report_billed_ms(r);
	int failed = r->status && strcmp(r->status, "success") != 0;

	if (f == LOG_FORMAT_TEXT && r->managed) {
		buf_printf(b, "REPORT RequestId: %s\tDuration: %.2f ms\t", r->request_id,
			   r->duration_ms);
	} else if (f == LOG_FORMAT_TEXT) {
		buf_printf(b, "REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %lld ms\t"
			      "Memory Size: %ld MB\tMax Memory Used: %ld MB\t",
			   r->request_id, r->duration_ms, (long long)billed, r->memory_size_mb,
			   r->max_memory_used_mb);
		if (r->init_duration_ms >= 0)
			buf_printf(b, "Init Duration: %.2f ms\t", r->init_duration_ms);
		if (restore > 0)
			buf_printf(b, "Restore Duration: %.2f ms\tBilled Restore Duration: %lld ms\t",
				   restore, (long long)billed_duration_ms(restore, -1));
	}
	if (f == LOG_FORMAT_TEXT) {
		if (failed && strcmp(r->status, "timeout") == 0)
			buf_puts(b, "Status: timeout");
		else if (failed)
			buf_printf(b, "Status: error\tError Type: %s",
				   r->error_type && *r->error_type ? r->error_type : "Unknown");
		buf_putc(b, '\n');
		return;
	}
	json_head(b, "platform.report");
	buf_puts(b, "{\"requestId\":");
	json_put_string(b, r->request_id);
	buf_printf(b, ",\"metrics\":{\"durationMs\":%.3f", r->duration_ms);
	if (!r->managed)
		buf_printf(b, ",\"billedDurationMs\":%lld,\"memorySizeMB\":%ld,"
			      "\"maxMemoryUsedMB\":%ld", (long long)billed, r->memory_size_mb,
			   r->max_memory_used_mb);
	if (restore > 0)
		buf_printf(b, ",\"restoreDurationMs\":%.3f", restore);
	if (r->init_duration_ms >= 0)
		buf_printf(b, ",\"initDurationMs\":%.3f", r->init_duration_ms);
	buf_puts(b, "},\"status\":");
	json_put_string(b, r->status ? r->status : "success");
	if (failed && r->error_type && *r->error_type) {
		buf_puts(b, ",\"errorType\":");
		json_put_string(b, r->error_type);
	}
	buf_puts(b, "}}\n");
}

void line_init_report(struct buf *b, enum log_format f, double init_ms, const char *phase,
		      const char *status, const char *error_type)
{
	if (f == LOG_FORMAT_TEXT) {
		buf_printf(b, "INIT_REPORT Init Duration: %.2f ms\tPhase: %s\tStatus: %s", init_ms,
			   phase, status);
		if (error_type && *error_type)
			buf_printf(b, "\tError Type: %s", error_type);
		buf_putc(b, '\n');
		return;
	}
	json_head(b, "platform.initReport");
	buf_puts(b, "{\"initializationType\":\"on-demand\",\"phase\":");
	json_put_string(b, phase);
	buf_puts(b, ",\"status\":");
	json_put_string(b, status);
	if (error_type && *error_type) {
		buf_puts(b, ",\"errorType\":");
		json_put_string(b, error_type);
	}
	buf_printf(b, ",\"metrics\":{\"durationMs\":%.3f}}}\n", init_ms);
}

void line_timeout(struct buf *b, enum log_format f, const char *request_id, double seconds)
{
	char now[32];

	iso_time_now(now);
	if (f == LOG_FORMAT_TEXT) {
		buf_printf(b, "%s %s Task timed out after %.2f seconds\n", now, request_id, seconds);
		return;
	}
	buf_puts(b, "{\"timestamp\":\"");
	buf_puts(b, now);
	buf_puts(b, "\",\"level\":\"ERROR\",\"requestId\":");
	json_put_string(b, request_id);
	buf_printf(b, ",\"message\":\"Task timed out after %.2f seconds\"}\n", seconds);
}
