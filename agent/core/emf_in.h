/*
 * EMF documents the function prints (aws-embedded-metrics, Powertools, by hand), recognised
 * in its log lines: their metrics enter the registry through core/custom.h. Each dimension
 * set is a series (its dimensions as labels); a metric's family has the union of its sets'
 * dimensions. Values: a number, an array of numbers, or {"Values":[…],"Counts":[…]}. Units:
 *   Seconds, Milliseconds, Microseconds  → a histogram in seconds (NAME_seconds)
 *   Bytes … Terabytes, Bits … Terabits   → a histogram in bytes (NAME_bytes, 1 KB = 1024 B)
 *   Count                                → a counter of the values' sum (NAME_total)
 *   anything else (None, Percent, rates) → a gauge of the last value (NAME_percent,
 *                                          NAME_count_per_second, …)
 * The line itself is never changed or swallowed: it stays a log record (and reaches
 * CloudWatch). A document that breaks the specification's rules is counted and left alone.
 */
#ifndef VIGIL_EMF_IN_H
#define VIGIL_EMF_IN_H

#include <stdbool.h>
#include <stddef.h>

#include "custom.h"

struct emf_in;

/* own_namespace: vigil's own EMF namespace (its lines are not the function's); NULL: none. */
struct emf_in *emf_in_new(struct custom_metrics *c, struct metric_registry *r,
			  const char *own_namespace);
void emf_in_free(struct emf_in *e);

/* A log line: if it holds an EMF document (a JSON object with "_aws", after a runtime's
 * prefix), its metrics are taken. 1 when it was EMF and taken, 0 when it is no EMF, -1 when
 * it was EMF but invalid (counted). Cheap for other lines: a memchr and a memmem. */
int emf_in_line(struct emf_in *e, const char *line, size_t n);

#endif
