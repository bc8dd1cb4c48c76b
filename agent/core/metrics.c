/* The metric registry. See metrics.h for the threading rules. */
#include "metrics.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../util/log.h"

const double metric_buckets_duration[] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
	1, 2.5, 5, 10, 30, 60, 120, 300, 600, 900,
};
const size_t metric_buckets_duration_len =
	sizeof(metric_buckets_duration) / sizeof(metric_buckets_duration[0]);

#define MIB (1024.0 * 1024.0)
const double metric_buckets_memory[] = {
	8 * MIB, 16 * MIB, 32 * MIB, 64 * MIB, 128 * MIB, 256 * MIB, 512 * MIB, 1024 * MIB,
	2048 * MIB, 4096 * MIB, 8192 * MIB, 10240 * MIB,
};
const size_t metric_buckets_memory_len =
	sizeof(metric_buckets_memory) / sizeof(metric_buckets_memory[0]);

const double metric_buckets_ratio[] = {
	0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99, 1,
};
const size_t metric_buckets_ratio_len =
	sizeof(metric_buckets_ratio) / sizeof(metric_buckets_ratio[0]);

static uint64_t dbits(double d)
{
	uint64_t u;

	memcpy(&u, &d, sizeof(u));
	return u;
}

static double bitsd(uint64_t u)
{
	double d;

	memcpy(&d, &u, sizeof(d));
	return d;
}

static void atomic_add_double(_Atomic uint64_t *p, double v)
{
	uint64_t old = atomic_load_explicit(p, memory_order_relaxed);

	while (!atomic_compare_exchange_weak_explicit(p, &old, dbits(bitsd(old) + v),
						      memory_order_relaxed, memory_order_relaxed))
		;
}

static int name_char_ok(char c, int first, int colon_ok)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_')
		return 1;
	if (colon_ok && c == ':')
		return 1;
	return !first && c >= '0' && c <= '9';
}

int metric_name_valid(const char *name)
{
	if (!name || !*name)
		return 0;
	for (const char *p = name; *p; p++) {
		if (!name_char_ok(*p, p == name, 1))
			return 0;
	}
	return 1;
}

int metric_label_name_valid(const char *name)
{
	if (!name || !*name || strncmp(name, "__", 2) == 0)
		return 0;
	for (const char *p = name; *p; p++) {
		if (!name_char_ok(*p, p == name, 0))
			return 0;
	}
	return 1;
}

struct metric_registry *metric_registry_new(unsigned default_max_series)
{
	static const struct metric_desc refused = {
		.name = "vigil_metric_series_refused_total",
		.help = "Series not created because their metric reached its cardinality cap.",
		.type = METRIC_COUNTER,
		.labels = { "metric" },
		.max_series = 100000,
	};
	struct metric_registry *r = calloc(1, sizeof(*r));

	if (!r)
		return NULL;
	pthread_mutex_init(&r->lock, NULL);
	pthread_mutex_init(&r->collect_lock, NULL);
	r->default_max_series = default_max_series ? default_max_series : 1;
	r->refused_family = metric_register(r, &refused);
	if (!r->refused_family) {
		metric_registry_destroy(r);
		return NULL;
	}
	return r;
}

static void family_free(struct metric_family *f)
{
	struct metric_series *s = atomic_load(&f->head);

	while (s) {
		struct metric_series *next = atomic_load(&s->next);

		free(s);
		s = next;
	}
	free(f->table);
	free(f->name);
	free(f->help);
	free(f->unit);
	for (unsigned i = 0; i < f->nlabels; i++)
		free(f->labels[i]);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

void metric_registry_destroy(struct metric_registry *r)
{
	struct metric_family *f;

	if (!r)
		return;
	f = r->head;
	while (f) {
		struct metric_family *next = f->next;

		family_free(f);
		f = next;
	}
	pthread_mutex_destroy(&r->lock);
	pthread_mutex_destroy(&r->collect_lock);
	free(r);
}

static struct metric_family *find_locked(struct metric_registry *r, const char *name)
{
	for (struct metric_family *f = r->head; f; f = f->next) {
		if (strcmp(f->name, name) == 0)
			return f;
	}
	return NULL;
}

struct metric_family *metric_find(struct metric_registry *r, const char *name)
{
	struct metric_family *f;

	pthread_mutex_lock(&r->lock);
	f = find_locked(r, name);
	pthread_mutex_unlock(&r->lock);
	return f;
}

static const char *desc_error(const struct metric_desc *d)
{
	size_t len;

	if (!metric_name_valid(d->name))
		return "invalid metric name";
	len = strlen(d->name);
	if (d->type == METRIC_COUNTER && (len < 6 || strcmp(d->name + len - 6, "_total") != 0))
		return "a counter's name must end in _total";
	if (d->type == METRIC_INFO && (len < 5 || strcmp(d->name + len - 5, "_info") != 0))
		return "an info metric's name must end in _info";
	if (!d->help || !*d->help)
		return "missing help text";
	if (d->type == METRIC_HISTOGRAM) {
		if (d->nbuckets == 0 || d->nbuckets > METRIC_MAX_BUCKETS)
			return "a histogram needs 1 to 32 buckets";
		for (size_t i = 1; i < d->nbuckets; i++) {
			if (!(d->buckets[i] > d->buckets[i - 1]))
				return "bucket bounds must ascend";
		}
	}
	for (unsigned i = 0; i < METRIC_MAX_LABELS && d->labels[i]; i++) {
		if (!metric_label_name_valid(d->labels[i]) || strcmp(d->labels[i], "le") == 0 ||
		    strcmp(d->labels[i], "quantile") == 0)
			return "invalid label name";
	}
	if (d->labels[METRIC_MAX_LABELS - 1] && d->labels[METRIC_MAX_LABELS])
		return "too many labels";
	return NULL;
}

static bool same_shape(const struct metric_family *a, const struct metric_family *b)
{
	if (a->type != b->type || a->nlabels != b->nlabels)
		return false;
	for (unsigned i = 0; i < a->nlabels; i++)
		if (strcmp(a->labels[i], b->labels[i]) != 0)
			return false;
	return true;
}

struct metric_family *metric_register(struct metric_registry *r, const struct metric_desc *d)
{
	const char *err = desc_error(d);
	struct metric_family *f;
	int bad = 0;

	if (err) {
		log_error("metrics", "cannot register %s: %s", d->name ? d->name : "(null)", err);
		return NULL;
	}
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	pthread_mutex_init(&f->lock, NULL);
	f->registry = r;
	f->type = d->type;
	f->name = strdup(d->name);
	f->help = strdup(d->help);
	bad |= !f->name || !f->help;
	if (d->unit) {
		f->unit = strdup(d->unit);
		bad |= !f->unit;
	}
	for (unsigned i = 0; i < METRIC_MAX_LABELS && d->labels[i]; i++) {
		f->labels[i] = strdup(d->labels[i]);
		bad |= !f->labels[i];
		f->nlabels = i + 1;
	}
	if (d->type == METRIC_HISTOGRAM) {
		memcpy(f->buckets, d->buckets, d->nbuckets * sizeof(double));
		f->nbuckets = d->nbuckets;
	}
	f->max_series = d->max_series ? d->max_series : r->default_max_series;
	if (f->nlabels == 0)
		f->max_series = 1;
	if (bad) {
		family_free(f);
		return NULL;
	}
	pthread_mutex_lock(&r->lock);
	{
		struct metric_family *old = find_locked(r, d->name);

		/* Two parts that count into one family (the log pipe's drops and the
		 * platform's) register it alike: the one family. Anything else is a clash. */
		if (old && same_shape(old, f)) {
			pthread_mutex_unlock(&r->lock);
			family_free(f);
			return old;
		}
		if (old) {
			pthread_mutex_unlock(&r->lock);
			log_error("metrics", "cannot register %s: registered already", d->name);
			family_free(f);
			return NULL;
		}
	}
	if (r->tail)
		r->tail->next = f;
	else
		r->head = f;
	r->tail = f;
	pthread_mutex_unlock(&r->lock);
	return f;
}

static uint32_t hash_values(const char *const *values, unsigned n)
{
	uint32_t h = 2166136261u;

	for (unsigned i = 0; i < n; i++) {
		for (const unsigned char *p = (const unsigned char *)values[i]; *p; p++)
			h = (h ^ *p) * 16777619u;
		h = (h ^ 0xff) * 16777619u;
	}
	return h;
}

static int values_equal(const struct metric_series *s, const char *const *values, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		if (strcmp(s->values[i], values[i]) != 0)
			return 0;
	}
	return 1;
}

/* Length of the longest prefix of s, at most max bytes, that does not split a UTF-8
 * sequence. Invalid bytes are left to the exporter's escaping. */
static size_t utf8_cut(const char *s, size_t max)
{
	size_t len = strlen(s);

	if (len <= max)
		return len;
	len = max;
	while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
		len--;
	return len;
}

static int table_grow(struct metric_family *f)
{
	size_t size = f->table_size ? f->table_size * 2 : 16;
	struct metric_series **t = calloc(size, sizeof(*t));

	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < f->table_size; i++) {
		struct metric_series *s = f->table[i];

		while (s) {
			struct metric_series *next = s->hash_next;

			s->hash_next = t[s->hash & (size - 1)];
			t[s->hash & (size - 1)] = s;
			s = next;
		}
	}
	free(f->table);
	f->table = t;
	f->table_size = size;
	return 0;
}

static struct metric_series *series_new(struct metric_family *f, const char *const *values,
					uint32_t hash)
{
	size_t lens[METRIC_MAX_LABELS], size = sizeof(struct metric_series), counts_off;
	struct metric_series *s;
	char *p;

	counts_off = size;
	if (f->type == METRIC_HISTOGRAM)
		size += (f->nbuckets + 1) * sizeof(_Atomic uint64_t);
	for (unsigned i = 0; i < f->nlabels; i++) {
		lens[i] = utf8_cut(values[i], METRIC_LABEL_VALUE_MAX);
		size += lens[i] + 1;
	}
	s = calloc(1, size);
	if (!s)
		return NULL;
	s->family = f;
	s->hash = hash;
	if (f->type == METRIC_HISTOGRAM)
		s->counts = (_Atomic uint64_t *)((char *)s + counts_off);
	p = (char *)s + counts_off;
	if (f->type == METRIC_HISTOGRAM)
		p += (f->nbuckets + 1) * sizeof(_Atomic uint64_t);
	for (unsigned i = 0; i < f->nlabels; i++) {
		memcpy(p, values[i], lens[i]);
		p[lens[i]] = '\0';
		s->values[i] = p;
		p += lens[i] + 1;
	}
	atomic_init(&s->value, dbits(0.0));
	return s;
}

struct metric_series *metric_series_get(struct metric_family *f, const char *const *values)
{
	static const char *const none[1] = { "" };
	struct metric_series *s;
	uint32_t hash;

	if (!f)
		return NULL;
	if (f->nlabels == 0)
		values = none;
	for (unsigned i = 0; i < f->nlabels; i++) {
		if (!values[i])
			return NULL;
	}
	hash = hash_values(values, f->nlabels);
	pthread_mutex_lock(&f->lock);
	if (f->table_size) {
		for (s = f->table[hash & (f->table_size - 1)]; s; s = s->hash_next) {
			if (s->hash == hash && values_equal(s, values, f->nlabels))
				goto out;
		}
	}
	if (atomic_load(&f->nseries) >= f->max_series) {
		s = NULL;
		goto refused;
	}
	if (atomic_load(&f->nseries) >= f->table_size && table_grow(f) < 0) {
		s = NULL;
		goto out;
	}
	s = series_new(f, values, hash);
	if (!s)
		goto out;
	s->hash_next = f->table[hash & (f->table_size - 1)];
	f->table[hash & (f->table_size - 1)] = s;
	if (f->tail)
		atomic_store_explicit(&f->tail->next, s, memory_order_release);
	else
		atomic_store_explicit(&f->head, s, memory_order_release);
	f->tail = s;
	atomic_fetch_add(&f->nseries, 1);
out:
	pthread_mutex_unlock(&f->lock);
	return s;
refused:
	pthread_mutex_unlock(&f->lock);
	if (!f->refused && f != f->registry->refused_family) {
		const char *name[1] = { f->name };

		/* Benign race: two threads may both look the row up; it is the same row. */
		f->refused = metric_series_get(f->registry->refused_family, name);
	}
	metric_inc(f->refused);
	return NULL;
}

void metric_inc(struct metric_series *s)
{
	metric_add(s, 1.0);
}

void metric_add(struct metric_series *s, double v)
{
	if (!s)
		return;
	atomic_add_double(&s->value, v);
}

void metric_set(struct metric_series *s, double v)
{
	if (!s)
		return;
	atomic_store_explicit(&s->value, dbits(v), memory_order_relaxed);
}

void metric_observe(struct metric_series *s, double v)
{
	metric_observe_n(s, v, 1);
}

void metric_histogram_merge(struct metric_series *s, const uint64_t *counts, double sum, bool set)
{
	if (!s || !s->counts)
		return;
	for (size_t i = 0; i <= s->family->nbuckets; i++) {
		if (set)
			atomic_store_explicit(&s->counts[i], counts[i], memory_order_relaxed);
		else
			atomic_fetch_add_explicit(&s->counts[i], counts[i], memory_order_relaxed);
	}
	if (set)
		metric_set(s, sum);
	else
		atomic_add_double(&s->value, sum);
}

void metric_observe_n(struct metric_series *s, double v, uint64_t n)
{
	const struct metric_family *f;
	size_t lo = 0, hi;

	if (!s || !s->counts || v != v || !n)
		return;
	f = s->family;
	hi = f->nbuckets;
	/* First bucket whose upper bound is >= v: a value equal to a bound lands in it. */
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (f->buckets[mid] < v)
			lo = mid + 1;
		else
			hi = mid;
	}
	atomic_fetch_add_explicit(&s->counts[lo], n, memory_order_relaxed);
	atomic_add_double(&s->value, v * (double)n);
}

double metric_value(const struct metric_series *s)
{
	return bitsd(atomic_load_explicit(&((struct metric_series *)s)->value,
					  memory_order_relaxed));
}

void metric_histogram_read(const struct metric_series *s, uint64_t *cumulative, double *sum)
{
	uint64_t total = 0;
	size_t n = s->family->nbuckets + 1;

	for (size_t i = 0; i < n; i++) {
		total += atomic_load_explicit(&s->counts[i], memory_order_relaxed);
		cumulative[i] = total;
	}
	*sum = metric_value(s);
}

int metric_registry_add_collector(struct metric_registry *r, metric_collect_fn fn, void *arg)
{
	int rc = 0;

	pthread_mutex_lock(&r->collect_lock);
	if (r->ncollectors == sizeof(r->collectors) / sizeof(r->collectors[0])) {
		rc = -ENOSPC;
	} else {
		r->collectors[r->ncollectors].fn = fn;
		r->collectors[r->ncollectors].arg = arg;
		r->ncollectors++;
	}
	pthread_mutex_unlock(&r->collect_lock);
	return rc;
}

void metric_registry_begin(struct metric_registry *r)
{
	pthread_mutex_lock(&r->collect_lock);
	for (unsigned i = 0; i < r->ncollectors; i++)
		r->collectors[i].fn(r->collectors[i].arg);
	pthread_mutex_lock(&r->lock);
}

void metric_registry_end(struct metric_registry *r)
{
	pthread_mutex_unlock(&r->lock);
	pthread_mutex_unlock(&r->collect_lock);
}
