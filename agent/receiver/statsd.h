/*
 * StatsD / DogStatsD over UDP into the registry (core/custom.h): counters (c), gauges (g,
 * a leading +/- changes the value), timers (ms: a histogram in seconds), histograms (h) and
 * distributions (d), sets (s: a gauge of the distinct values seen); sample rates (@r);
 * DogStatsD tags (#k:v,…) as labels; several metrics a datagram, several values a metric
 * (name:1:2|d). Events and service checks are skipped. Malformed lines are counted and
 * skipped; the rest of the datagram is read.
 * A source: it knows the core, not the exporters.
 */
#ifndef VIGIL_STATSD_H
#define VIGIL_STATSD_H

#include <stdbool.h>
#include <stddef.h>

#include "../core/custom.h"
#include "../core/metrics.h"
#include "../lib/loop.h"

#define STATSD_MAX_TAGS 16
#define STATSD_MAX_VALUES 64

enum statsd_type { STATSD_COUNTER, STATSD_GAUGE, STATSD_TIMER, STATSD_HISTOGRAM,
		   STATSD_DISTRIBUTION, STATSD_SET };

/* One line, parsed in place (its strings are NUL-terminated inside the caller's copy). */
struct statsd_metric {
	char *name;
	enum statsd_type type;
	double values[STATSD_MAX_VALUES];
	char *set_values[STATSD_MAX_VALUES];	/* sets: the members as text */
	unsigned nvalues;
	bool relative;			/* gauges: +N / -N */
	double rate;			/* (0, 1]; 1 when none was given */
	struct custom_label tags[STATSD_MAX_TAGS];
	unsigned ntags;
	bool tags_cut;			/* more than STATSD_MAX_TAGS */
};

/* Parse one line (line[n] may be anything; line is modified). 0, 1 for a line to skip
 * quietly (an event, a service check, an empty line), -1 when malformed. */
int statsd_parse_line(char *line, size_t n, struct statsd_metric *m);

struct statsd;

/* The listener on listen (HOST:PORT, UDP) on l, feeding c. NULL (said) when it cannot bind. */
struct statsd *statsd_start(struct loop *l, const char *listen, struct custom_metrics *c,
			    struct metric_registry *r);
/* The port it is bound to. */
unsigned statsd_port(const struct statsd *s);
/* Take one datagram (for tests and fuzzing: what the listener does with each). */
void statsd_datagram(struct statsd *s, char *data, size_t n);
/* A statsd without a socket (statsd_datagram only). */
struct statsd *statsd_new(struct custom_metrics *c, struct metric_registry *r);
void statsd_stop(struct statsd *s);

#endif
