/*
 * Log lines into records: Lambda's JSON log format and Powertools keys, Node's
 * "time\trequestId\tLEVEL\tmessage", Python's "[LEVEL]\ttime\trequestId\tmessage", plain text.
 * Invalid UTF-8 is repaired (U+FFFD), NUL bytes dropped, lines over 256 KiB cut and flagged.
 */
#ifndef VIGIL_LOGPARSE_H
#define VIGIL_LOGPARSE_H

#include <stdbool.h>
#include <stddef.h>

#include "segment.h"

#define LOG_LINE_MAX (256 * 1024)

/* Parse line into r (all strings malloc'd: free with logparse_free). default_request_id is
 * used when the line names none. */
void logparse_line(const char *line, size_t n, const char *default_request_id, log_record *r);
void logparse_free(log_record *r);
/* Replace one of r's strings with a copy of s (the empty ones are not allocated). */
void logparse_set(char **field, const char *s);

/* Continuation of a multi-line message (stack traces): indented, "at …", "Caused by:"… */
bool logparse_is_continuation(const char *line, size_t n);

/* A copy of s (n bytes) as valid UTF-8 without NULs, at most max bytes; *repaired tells
 * whether anything changed. malloc'd. */
char *logparse_clean(const char *s, size_t n, size_t max, bool *repaired, bool *truncated);

#endif
