/*
 * Log lines into records: Lambda's JSON log format and Powertools keys, Node's
 * "time\trequestId\tLEVEL\tmessage", Python's "[LEVEL]\ttime\trequestId\tmessage", plain text.
 * Invalid UTF-8 is repaired (U+FFFD), NUL bytes dropped, lines over 256 KiB cut and flagged.
 *
 * The parser writes a struct lrec: the columns a segment keeps apart in buffers, every other
 * part of the record (structured fields, trace id, flags) encoded as LogRecord protobuf as it
 * is met — no protobuf-c structs, no allocation once the buffers have grown (the ingest
 * path's cost was mostly those). logparse_line gives a log_record, for tests and tools.
 */
#ifndef VIGIL_LOGPARSE_H
#define VIGIL_LOGPARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "../util/buf.h"
#include "segment.h"

#define LOG_LINE_MAX (256 * 1024)

struct lrec {
	int64_t time_ns;		/* 0: the line told none */
	uint32_t level;			/* the level column's number; never 0 once parsed */
	bool cold_start, truncated, repaired;
	struct buf message, request_id, trace_id, function_name, function_version;
	struct buf rest;		/* LogRecord.fields (7) as met; logparse_finish adds more */
	struct buf scratch;		/* unescaping */
};

void lrec_init(struct lrec *r);
void lrec_free(struct lrec *r);

/* Parse a line into r (its previous contents dropped). default_request_id (NULL: none) is
 * used when the line names none. */
void logparse_lrec(const char *line, size_t n, const char *default_request_id, struct lrec *r);
/* A line taken as it is: the message (repaired, cut as any line), level INFO. */
void logparse_verbatim(const char *line, size_t n, const char *default_request_id,
		       struct lrec *r);
/* The JSON object at the start of s[0..n) (a Telemetry API record, read in place: its end is
 * found by reading it) into r, as logparse_lrec reads a JSON line; message (NULL: none) is the
 * message unless the object has one. The bytes the object took, or 0 (r undefined) when s
 * does not start with a well-formed object. */
size_t logparse_object(const char *s, size_t n, const char *message,
		       const char *default_request_id, struct lrec *r);
/* A continuation line (logparse_is_continuation) joined to r's message. */
void logparse_append(struct lrec *r, const char *line, size_t n);
/* Complete r's rest (extension name, trace id, cold start, flags) and describe it for the
 * segment writer (out points into r; the caller sets time and source). */
void logparse_finish(struct lrec *r, const char *extension, struct segment_record *out);

/* Parse line into r (all strings malloc'd: free with logparse_free). */
void logparse_line(const char *line, size_t n, const char *default_request_id, log_record *r);
void logparse_free(log_record *r);

/* Continuation of a multi-line message (stack traces): indented, "at …", "Caused by:"… */
bool logparse_is_continuation(const char *line, size_t n);

#endif
