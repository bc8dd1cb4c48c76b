/*
 * What a function's log line says of itself, as the tracker counts it: its level (Lambda's
 * JSON "level", Node's "time\trequestId\tLEVEL\tmessage", Python's "[LEVEL]\ttime\t…",
 * plain text as INFO), the request id it names, and whether it tells of an out-of-memory
 * error.
 */
#ifndef VIGIL_LOG_LEVEL_H
#define VIGIL_LOG_LEVEL_H

#include <stdbool.h>
#include <stddef.h>

#include "jscan.h"
#include "tracker.h"	/* LEVEL_* */

/* The level a name such as "WARN", "warning" or "Critical" stands for, or -1. */
int log_level_of(const char *s, size_t n);
/* Whether the text names one of the runtimes' out-of-memory errors. */
bool log_line_oom(const char *s, size_t n);
/* A text line: its level (INFO when it names none) and request id ("" when none). */
void log_text_line(const char *s, size_t len, int *level, char *rid, size_t ridlen);
/* A JSON line: its top-level level, requestId and message (left as they were when absent). */
void log_json_line(const char *s, size_t n, int *level, char *rid, size_t ridlen,
		   struct jval *msg);
/* The same for an object already scanned. */
void log_json_fields(const struct jval *obj, int *level, char *rid, size_t ridlen,
		     struct jval *msg);

#endif
