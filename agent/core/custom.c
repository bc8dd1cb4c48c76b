/* The function's own metrics as registry families. See custom.h. */
#include "custom.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const double custom_buckets_generic[] = {
	0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100,
	250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000,
};
const size_t custom_buckets_generic_len =
	sizeof(custom_buckets_generic) / sizeof(custom_buckets_generic[0]);
const double custom_buckets_bytes[] = {
	64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
	268435456, 1073741824,
};
const size_t custom_buckets_bytes_len =
	sizeof(custom_buckets_bytes) / sizeof(custom_buckets_bytes[0]);

static const char *const source_names[CUSTOM_SOURCES] = { "emf", "statsd", "otlp" };

struct entry {
	char *name;			/* the exposition name (the key) */
	struct metric_family *family;	/* NULL: refused for good (a clash) */
	enum custom_kind kind;
	enum custom_source source;	/* who made it */
};

struct custom_metrics {
	pthread_mutex_t lock;
	struct metric_registry *registry;
	unsigned max_families, max_series, nentries;
	struct entry *table;		/* open addressing, size a power of two */
	size_t size;
	struct metric_family *rejected;
};

static bool is_upper(char c)
{
	return c >= 'A' && c <= 'Z';
}

static bool is_lower_or_digit(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

bool custom_valid_name(const char *name, size_t n, char *out, size_t cap, bool label)
{
	size_t o = 0;

	if (!n || cap < 3)
		return false;
	if (name[0] >= '0' && name[0] <= '9')
		out[o++] = '_';
	for (size_t i = 0; i < n && o + 2 < cap; i++) {
		char ch = name[i];
		bool ok = is_upper(ch) || is_lower_or_digit(ch) || ch == '_' ||
			  (ch == ':' && !label);

		if (!ok) {
			out[o++] = '_';
			continue;
		}
		/* Metric names in snake_case, as Prometheus' conventions (and promtool) want:
		 * bookingTime → booking_time, HTTPRequests → http_requests. */
		if (!label && is_upper(ch)) {
			bool boundary = i > 0 && (is_lower_or_digit(name[i - 1]) ||
						  (is_upper(name[i - 1]) && i + 1 < n &&
						   name[i + 1] >= 'a' && name[i + 1] <= 'z'));

			if (boundary && o > 0 && out[o - 1] != '_')
				out[o++] = '_';
			ch = (char)(ch - 'A' + 'a');
		}
		out[o++] = ch;
	}
	out[o] = '\0';
	/* Names that start with __ are Prometheus' own. */
	if (label && o >= 2 && out[0] == '_' && out[1] == '_')
		out[0] = 'x';
	return true;
}

static uint32_t hash_str(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

struct custom_metrics *custom_metrics_new(struct metric_registry *r, const struct custom_options *o)
{
	struct custom_metrics *c = calloc(1, sizeof(*c));
	struct metric_desc d = {
		.name = "vigil_custom_metrics_rejected_total",
		.help = "Points of the function's own metrics (EMF, StatsD, OTLP) vigil did not "
			"take, by source and reason",
		.type = METRIC_COUNTER,
		.labels = { "source", "reason" },
	};

	if (!c)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	c->registry = r;
	c->max_families = o && o->max_families ? o->max_families : 1000;
	c->max_series = o && o->max_series ? o->max_series : 1000;
	for (c->size = 64; c->size < (size_t)c->max_families * 2; c->size *= 2)
		;
	c->table = calloc(c->size, sizeof(*c->table));
	if (!c->table) {
		free(c);
		return NULL;
	}
	c->rejected = metric_register(r, &d);
	return c;
}

void custom_metrics_free(struct custom_metrics *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->size; i++)
		free(c->table[i].name);
	free(c->table);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

size_t custom_families(struct custom_metrics *c, struct metric_family **families,
		       enum custom_source *sources, size_t max)
{
	size_t n = 0;

	if (!c)
		return 0;
	pthread_mutex_lock(&c->lock);
	for (size_t i = 0; i < c->size && n < max; i++) {
		if (c->table[i].name && c->table[i].family) {
			families[n] = c->table[i].family;
			sources[n] = c->table[i].source;
			n++;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return n;
}

void custom_reject(struct custom_metrics *c, enum custom_source src, const char *reason)
{
	if (c && src < CUSTOM_SOURCES)
		metric_inc(metric_with(c->rejected, source_names[src], reason));
}

static bool ends_with(const char *s, const char *tail)
{
	size_t n = strlen(s), t = strlen(tail);

	return n >= t && strcmp(s + n - t, tail) == 0;
}

/* The exposition name of m. false when it has none. */
static bool full_name(const struct custom_metric *m, char *out, size_t cap)
{
	size_t n;

	if (!m->name || !custom_valid_name(m->name, strlen(m->name), out, cap - 40, false))
		return false;
	n = strlen(out);
	if (m->kind == CUSTOM_COUNTER && ends_with(out, "_total")) {
		n -= 6;		/* (the suffix goes before it) */
		out[n] = '\0';
	}
	if (m->suffix && m->suffix[0]) {
		char tail[40];

		snprintf(tail, sizeof(tail), "_%s", m->suffix);
		if (!ends_with(out, tail))
			n += (size_t)snprintf(out + n, cap - n, "%s", tail);
	}
	if (m->kind == CUSTOM_COUNTER)
		snprintf(out + n, cap - n, "_total");
	return true;
}

/* The family's label names: given ones or the point's keys, made valid, without
 * duplicates or reserved names, at most CUSTOM_MAX_LABELS. */
static unsigned label_set(const struct custom_metric *m, const struct custom_label *labels,
			  unsigned nlabels, char names[][64], bool *dropped)
{
	unsigned n = 0, total = m->label_names ? m->nlabel_names : nlabels;

	for (unsigned i = 0; i < total; i++) {
		const char *k = m->label_names ? m->label_names[i] : labels[i].key;
		char v[64];
		bool dup = false;

		if (!k || !custom_valid_name(k, strlen(k), v, sizeof(v), true))
			continue;
		if (strcmp(v, "le") == 0 || strcmp(v, "quantile") == 0)
			snprintf(v, sizeof(v), "exported_%s", k);
		for (unsigned j = 0; j < n && !dup; j++)
			dup = strcmp(names[j], v) == 0;
		if (dup)
			continue;
		if (n == CUSTOM_MAX_LABELS) {
			*dropped = true;
			continue;
		}
		memcpy(names[n++], v, sizeof(v));
	}
	return n;
}

static struct entry *lookup(struct custom_metrics *c, const char *name, bool *found)
{
	size_t i = hash_str(name) & (c->size - 1);

	while (c->table[i].name) {
		if (strcmp(c->table[i].name, name) == 0) {
			*found = true;
			return &c->table[i];
		}
		i = (i + 1) & (c->size - 1);
	}
	*found = false;
	return &c->table[i];
}

static const char *kind_word(enum custom_kind k)
{
	return k == CUSTOM_COUNTER ? "counter" : k == CUSTOM_GAUGE ? "gauge" : "histogram";
}

/* A new family for m (under c->lock). NULL when refused. */
static struct metric_family *make_family(struct custom_metrics *c, enum custom_source src,
					 const struct custom_metric *m, const char *name,
					 const struct custom_label *labels, unsigned nlabels)
{
	char names[CUSTOM_MAX_LABELS][64], help[256];
	bool dropped = false;
	unsigned n = label_set(m, labels, nlabels, names, &dropped);
	struct metric_desc d = {
		.name = name,
		.help = help,
		.type = m->kind == CUSTOM_COUNTER ? METRIC_COUNTER :
			m->kind == CUSTOM_GAUGE ? METRIC_GAUGE : METRIC_HISTOGRAM,
		.buckets = m->buckets ? m->buckets : custom_buckets_generic,
		.nbuckets = m->buckets ? m->nbuckets : custom_buckets_generic_len,
		.max_series = c->max_series,
	};

	if (dropped)
		custom_reject(c, src, "labels");
	snprintf(help, sizeof(help), "%s", m->help && m->help[0] ? m->help : "");
	if (!help[0])
		snprintf(help, sizeof(help), "The function's own %s, from %s", kind_word(m->kind),
			 src == CUSTOM_EMF ? "EMF" : src == CUSTOM_STATSD ? "StatsD" : "OTLP");
	for (unsigned i = 0; i < n; i++)
		d.labels[i] = names[i];
	/* A name of vigil's own is never taken over. */
	if (metric_find(c->registry, name))
		return NULL;
	return metric_register(c->registry, &d);
}

struct metric_series *custom_series(struct custom_metrics *c, enum custom_source src,
				    const struct custom_metric *m, const struct custom_label *labels,
				    unsigned nlabels)
{
	char name[CUSTOM_NAME_MAX + 64];
	const char *values[METRIC_MAX_LABELS];
	struct metric_family *f;
	struct metric_series *s;
	struct entry *e;
	bool found, dropped = false;

	if (!c)
		return NULL;
	if (!full_name(m, name, sizeof(name))) {
		custom_reject(c, src, "name");
		return NULL;
	}
	pthread_mutex_lock(&c->lock);
	e = lookup(c, name, &found);
	if (!found) {
		if (c->nentries >= c->max_families) {
			pthread_mutex_unlock(&c->lock);
			custom_reject(c, src, "metrics");
			return NULL;
		}
		e->name = strdup(name);
		if (!e->name) {
			pthread_mutex_unlock(&c->lock);
			return NULL;
		}
		c->nentries++;
		e->kind = m->kind;
		e->source = src;
		e->family = make_family(c, src, m, name, labels, nlabels);
	}
	f = e->family;
	if (f && e->kind != m->kind)
		f = NULL;
	pthread_mutex_unlock(&c->lock);
	if (!f) {
		custom_reject(c, src, e->family ? "type" : "clash");
		return NULL;
	}
	/* The point's values in the family's label order; its other labels dropped. */
	for (unsigned i = 0; i < f->nlabels; i++)
		values[i] = "";
	for (unsigned j = 0; j < nlabels; j++) {
		char v[64];
		bool used = false;

		if (!labels[j].key || !custom_valid_name(labels[j].key, strlen(labels[j].key), v,
							 sizeof(v), true))
			continue;
		for (unsigned i = 0; i < f->nlabels && !used; i++) {
			const char *fl = f->labels[i];

			if (strcmp(fl, v) == 0 ||
			    (strncmp(fl, "exported_", 9) == 0 && strcmp(fl + 9, v) == 0)) {
				values[i] = labels[j].value ? labels[j].value : "";
				used = true;
			}
		}
		dropped |= !used;
	}
	if (dropped)
		custom_reject(c, src, "labels");
	s = metric_series_get(f, values);
	if (!s)
		custom_reject(c, src, "series");
	return s;
}
