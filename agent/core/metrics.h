/*
 * The metric registry: counters, gauges and histograms with a small fixed label set.
 * Sources update series lock-free (atomics); creating a series takes its family's lock
 * briefly. Series live until the registry is destroyed, so callers may cache pointers.
 * Exporters walk families and series read-only with the accessors at the end.
 */
#ifndef VIGIL_METRICS_H
#define VIGIL_METRICS_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define METRIC_MAX_LABELS 8
#define METRIC_MAX_BUCKETS 32
#define METRIC_LABEL_VALUE_MAX 256	/* longer label values are cut (UTF-8 safe) */

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_HISTOGRAM, METRIC_INFO };

/* What a family is. Strings are copied at registration. */
struct metric_desc {
	const char *name;	/* exposition name: counters end in _total, info in _info */
	const char *help;
	enum metric_type type;
	const char *unit;	/* base unit ("seconds", "bytes") or NULL */
	const char *labels[METRIC_MAX_LABELS + 1];	/* NULL-terminated label names */
	const double *buckets;	/* histograms: ascending upper bounds, no +Inf */
	size_t nbuckets;
	unsigned max_series;	/* cardinality cap; 0 = the registry default */
};

struct metric_family;

struct metric_series {
	_Atomic(struct metric_series *) next;	/* creation order, for exporters */
	struct metric_series *hash_next;	/* under the family lock */
	struct metric_family *family;
	uint32_t hash;
	const char *values[METRIC_MAX_LABELS];
	_Atomic uint64_t value;	/* double bits: counter/gauge value, histogram sum */
	_Atomic uint64_t *counts;	/* histograms: per-bucket counts, last one is +Inf */
};

struct metric_family {
	struct metric_family *next;	/* registration order */
	struct metric_registry *registry;
	char *name, *help, *unit;
	char *labels[METRIC_MAX_LABELS];
	unsigned nlabels;
	enum metric_type type;
	double buckets[METRIC_MAX_BUCKETS];
	size_t nbuckets;
	unsigned max_series;
	pthread_mutex_t lock;	/* guards the hash table and creation */
	_Atomic(struct metric_series *) head;
	struct metric_series *tail;
	struct metric_series **table;
	size_t table_size;
	_Atomic unsigned nseries;
	struct metric_series *refused;	/* this family's row in the refused counter */
};

typedef void (*metric_collect_fn)(void *arg);

struct metric_registry {
	pthread_mutex_t lock;	/* guards the family list and collectors */
	struct metric_family *head, *tail;
	unsigned default_max_series;
	struct metric_family *refused_family;
	struct { metric_collect_fn fn; void *arg; } collectors[16];
	unsigned ncollectors;
	pthread_mutex_t collect_lock;	/* one collection/render at a time */
};

/* Bucket layouts: durations 100 us .. 15 min (seconds), memory sizes (bytes), ratios 0..1. */
extern const double metric_buckets_duration[];
extern const size_t metric_buckets_duration_len;
extern const double metric_buckets_memory[];
extern const size_t metric_buckets_memory_len;
extern const double metric_buckets_ratio[];
extern const size_t metric_buckets_ratio_len;

/* A registry whose families refuse series beyond default_max_series. NULL on ENOMEM. */
struct metric_registry *metric_registry_new(unsigned default_max_series);
void metric_registry_destroy(struct metric_registry *r);

/* Add a family. NULL (and a log line) on an invalid or duplicate name or ENOMEM. */
struct metric_family *metric_register(struct metric_registry *r, const struct metric_desc *d);
struct metric_family *metric_find(struct metric_registry *r, const char *name);

/*
 * The series with these label values (exactly nlabels of them; NULL when the family has
 * none), created on first use. NULL when the cardinality cap refused it: that is counted
 * in vigil_metric_series_refused_total, and every update function accepts NULL.
 */
struct metric_series *metric_series_get(struct metric_family *f, const char *const *values);
#define metric_with(f, ...) metric_series_get((f), (const char *const[]){ __VA_ARGS__ })

void metric_inc(struct metric_series *s);
void metric_add(struct metric_series *s, double v);	/* counters: v >= 0 */
void metric_set(struct metric_series *s, double v);	/* gauges */
void metric_observe(struct metric_series *s, double v);	/* histograms */
void metric_observe_n(struct metric_series *s, double v, uint64_t n);	/* v, n times */
/* Histograms: per-bucket counts (nbuckets + 1, the last +Inf's, not cumulative) and their sum
 * added, or (set) made the series' own (a sender's cumulative figures). */
void metric_histogram_merge(struct metric_series *s, const uint64_t *counts, double sum, bool set);

/* Run fn before every render (to refresh gauges read from the system). 0 or -ENOSPC. */
int metric_registry_add_collector(struct metric_registry *r, metric_collect_fn fn, void *arg);

/* Read side, for exporters. metric_registry_begin runs the collectors and holds the
 * render lock until metric_registry_end. */
void metric_registry_begin(struct metric_registry *r);
void metric_registry_end(struct metric_registry *r);
double metric_value(const struct metric_series *s);
/* Histogram: cumulative counts per bucket (nbuckets + 1 entries, last is +Inf = count). */
void metric_histogram_read(const struct metric_series *s, uint64_t *cumulative, double *sum);
static inline struct metric_series *metric_first(struct metric_family *f)
{
	return atomic_load_explicit(&f->head, memory_order_acquire);
}
static inline struct metric_series *metric_next(struct metric_series *s)
{
	return atomic_load_explicit(&s->next, memory_order_acquire);
}

/* Name checks as Prometheus defines them. */
int metric_name_valid(const char *name);
int metric_label_name_valid(const char *name);

#endif
