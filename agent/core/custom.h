/*
 * The function's own metrics (EMF documents it prints, StatsD datagrams, OTLP metrics it
 * exports) as registry families, so every exporter has them. Names and label names are made
 * Prometheus-valid; a family's label names are fixed by its first point (the union of what
 * that document, datagram or request named, at most CUSTOM_MAX_LABELS): a later point's other
 * labels are dropped, its missing ones are empty. Caps: families, series per family (the
 * registry's refused counter), labels; everything refused is counted in
 * vigil_custom_metrics_rejected_total{source,reason}.
 */
#ifndef VIGIL_CUSTOM_H
#define VIGIL_CUSTOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "metrics.h"

#define CUSTOM_MAX_LABELS METRIC_MAX_LABELS
#define CUSTOM_NAME_MAX 200

enum custom_kind { CUSTOM_COUNTER, CUSTOM_GAUGE, CUSTOM_HISTOGRAM };
enum custom_source { CUSTOM_EMF, CUSTOM_STATSD, CUSTOM_OTLP, CUSTOM_SOURCES };

/* Buckets for what has no unit vigil knows (0.001 … 1e6, 1-2.5-5 steps) and for bytes
 * (64 B … 1 GiB, ×4). Durations use metric_buckets_duration (seconds). */
extern const double custom_buckets_generic[];
extern const size_t custom_buckets_generic_len;
extern const double custom_buckets_bytes[];
extern const size_t custom_buckets_bytes_len;

struct custom_options {
	unsigned max_families;		/* metrics at most (0: 1000) */
	unsigned max_series;		/* series per metric at most (0: 1000) */
};

struct custom_label {
	const char *key, *value;	/* NUL-terminated */
};

/* One metric as its sender named it. name and suffix are made valid (suffix: "seconds",
 * "bytes", … appended unless the name ends in it; counters get _total). */
struct custom_metric {
	const char *name;
	const char *suffix;		/* NULL: none */
	enum custom_kind kind;
	const double *buckets;		/* histograms (NULL: generic) */
	size_t nbuckets;
	const char *help;		/* NULL: a default naming the source */
	/* The label names of the family if it is made now (NULL: the point's own keys). */
	const char *const *label_names;
	unsigned nlabel_names;
};

struct custom_metrics;

struct custom_metrics *custom_metrics_new(struct metric_registry *r, const struct custom_options *o);
void custom_metrics_free(struct custom_metrics *c);

/* The series for m with these labels (keys as sent: made valid here), its family made on
 * first use. NULL when refused (counted: a clash with a family of another type or labels,
 * the family cap, the series cap, an unusable name). */
struct metric_series *custom_series(struct custom_metrics *c, enum custom_source src,
				    const struct custom_metric *m, const struct custom_label *labels,
				    unsigned nlabels);
/* Count a point refused before it reached custom_series (reason: a short word). */
void custom_reject(struct custom_metrics *c, enum custom_source src, const char *reason);

/* The families made so far and where each came from (at most max, in no set order). */
size_t custom_families(struct custom_metrics *c, struct metric_family **families,
		       enum custom_source *sources, size_t max);

/* name made a valid Prometheus name into out ([a-zA-Z_:][a-zA-Z0-9_:]*: other bytes become
 * '_', a leading digit gets '_' before it); a metric name also in snake_case (bookingTime →
 * booking_time, HTTPRequests → http_requests); label names keep their case. false when
 * empty. */
bool custom_valid_name(const char *name, size_t n, char *out, size_t cap, bool label);

#endif
