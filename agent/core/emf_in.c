/* EMF documents in the function's log lines, into the registry. See emf_in.h. */
#include "emf_in.h"

#include <ctype.h>
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The specification's limits. */
#define MAX_DIMENSIONS 30	/* a dimension set's keys */
#define MAX_METRICS 100		/* a directive's metrics */
#define MAX_VALUES 100		/* a metric's values */
#define MAX_NAME 1024		/* a metric name, a namespace, a dimension value */
#define MAX_DOC (1024 * 1024)	/* CloudWatch's largest log event */

struct emf_in {
	struct custom_metrics *custom;
	char own[256];
	struct metric_series *docs, *invalid;
};

struct emf_in *emf_in_new(struct custom_metrics *c, struct metric_registry *r,
			  const char *own_namespace)
{
	struct emf_in *e = calloc(1, sizeof(*e));
	struct metric_desc d = { .name = "vigil_emf_documents_total",
				 .help = "EMF documents found in the function's output, by outcome",
				 .type = METRIC_COUNTER, .labels = { "outcome" } };
	struct metric_family *f;

	if (!e)
		return NULL;
	e->custom = c;
	snprintf(e->own, sizeof(e->own), "%s", own_namespace ? own_namespace : "");
	f = metric_register(r, &d);
	e->docs = metric_with(f, "taken");
	e->invalid = metric_with(f, "invalid");
	return e;
}

void emf_in_free(struct emf_in *e)
{
	free(e);
}

struct unit_map {
	const char *unit;
	enum custom_kind kind;
	const char *suffix;
	double scale;
};

static const struct unit_map units[] = {
	{ "Seconds", CUSTOM_HISTOGRAM, "seconds", 1 },
	{ "Milliseconds", CUSTOM_HISTOGRAM, "seconds", 1e-3 },
	{ "Microseconds", CUSTOM_HISTOGRAM, "seconds", 1e-6 },
	{ "Bytes", CUSTOM_HISTOGRAM, "bytes", 1 },
	{ "Kilobytes", CUSTOM_HISTOGRAM, "bytes", 1024.0 },
	{ "Megabytes", CUSTOM_HISTOGRAM, "bytes", 1048576.0 },
	{ "Gigabytes", CUSTOM_HISTOGRAM, "bytes", 1073741824.0 },
	{ "Terabytes", CUSTOM_HISTOGRAM, "bytes", 1099511627776.0 },
	{ "Bits", CUSTOM_HISTOGRAM, "bytes", 1 / 8.0 },
	{ "Kilobits", CUSTOM_HISTOGRAM, "bytes", 1024 / 8.0 },
	{ "Megabits", CUSTOM_HISTOGRAM, "bytes", 1048576 / 8.0 },
	{ "Gigabits", CUSTOM_HISTOGRAM, "bytes", 1073741824 / 8.0 },
	{ "Terabits", CUSTOM_HISTOGRAM, "bytes", 1099511627776.0 / 8.0 },
	{ "Count", CUSTOM_COUNTER, NULL, 1 },
	{ "Percent", CUSTOM_GAUGE, "percent", 1 },
	{ "None", CUSTOM_GAUGE, NULL, 1 },
};

/* CloudWatch's other units (rates): a gauge named after the unit. */
static const char *const rate_units[] = {
	"Bytes/Second", "Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second",
	"Terabytes/Second", "Bits/Second", "Kilobits/Second", "Megabits/Second",
	"Gigabits/Second", "Terabits/Second", "Count/Second",
};

/* How a unit is taken; false for a unit CloudWatch does not have. */
static bool unit_of(const char *unit, struct unit_map *out, char *suffix, size_t cap)
{
	if (!unit) {
		*out = (struct unit_map){ NULL, CUSTOM_GAUGE, NULL, 1 };
		return true;
	}
	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(units[i].unit, unit) == 0) {
			*out = units[i];
			return true;
		}
	}
	for (size_t i = 0; i < sizeof(rate_units) / sizeof(rate_units[0]); i++) {
		if (strcmp(rate_units[i], unit) == 0) {
			size_t o = 0;

			for (const char *p = unit; *p && o + 6 < cap; p++) {
				if (*p == '/') {
					memcpy(suffix + o, "_per_", 5);
					o += 5;
				} else {
					suffix[o++] = (char)tolower((unsigned char)*p);
				}
			}
			suffix[o] = '\0';
			*out = (struct unit_map){ unit, CUSTOM_GAUGE, suffix, 1 };
			return true;
		}
	}
	return false;
}

static bool good_string(json_t *v)
{
	return json_is_string(v) && json_string_length(v) >= 1 &&
	       json_string_length(v) <= MAX_NAME;
}

/* A metric's values (and counts): false when the member is not one of EMF's forms. */
static bool read_values(json_t *v, double *vals, double *counts, size_t *n)
{
	json_t *arr = v, *cnt = NULL, *x;
	size_t i;

	*n = 0;
	if (json_is_number(v)) {
		vals[0] = json_number_value(v);
		counts[0] = 1;
		*n = 1;
		return isfinite(vals[0]);
	}
	if (json_is_object(v)) {
		arr = json_object_get(v, "Values");
		cnt = json_object_get(v, "Counts");
		if (!json_is_array(arr) || (cnt && (!json_is_array(cnt) ||
						    json_array_size(cnt) != json_array_size(arr))))
			return false;
	}
	if (!json_is_array(arr) || json_array_size(arr) > MAX_VALUES)
		return false;
	json_array_foreach(arr, i, x) {
		json_t *c = cnt ? json_array_get(cnt, i) : NULL;

		if (!json_is_number(x) || (cnt && !json_is_number(c)))
			return false;
		vals[i] = json_number_value(x);
		counts[i] = c ? json_number_value(c) : 1;
		if (!isfinite(vals[i]) || !isfinite(counts[i]) || counts[i] < 0)
			return false;
	}
	*n = json_array_size(arr);
	return true;
}

/* Every rule of the specification the document must keep; false (nothing taken) if not. */
static bool valid(json_t *doc, json_t *aws, const char *own, bool *is_own)
{
	json_t *directives = json_object_get(aws, "CloudWatchMetrics"), *dir;
	size_t i;

	*is_own = false;
	if (!json_is_number(json_object_get(aws, "Timestamp")) || !json_is_array(directives) ||
	    json_array_size(directives) == 0)
		return false;
	json_array_foreach(directives, i, dir) {
		json_t *ns = json_object_get(dir, "Namespace"), *dims = json_object_get(dir, "Dimensions");
		json_t *metrics = json_object_get(dir, "Metrics"), *set, *m;
		size_t j, k;

		if (!json_is_object(dir) || !good_string(ns) || !json_is_array(metrics) ||
		    json_array_size(metrics) > MAX_METRICS || (dims && !json_is_array(dims)))
			return false;
		if (own[0] && strcmp(json_string_value(ns), own) == 0)
			*is_own = true;
		json_array_foreach(dims, j, set) {
			json_t *d;

			if (!json_is_array(set) || json_array_size(set) > MAX_DIMENSIONS)
				return false;
			json_array_foreach(set, k, d) {
				if (!good_string(d) || !good_string(json_object_get(doc,
									    json_string_value(d))))
					return false;
			}
		}
		json_array_foreach(metrics, j, m) {
			json_t *name = json_object_get(m, "Name"), *unit = json_object_get(m, "Unit");
			json_t *res = json_object_get(m, "StorageResolution");
			struct unit_map um;
			char suffix[64];
			double vals[MAX_VALUES], counts[MAX_VALUES];
			size_t n;

			if (!json_is_object(m) || !good_string(name) ||
			    (unit && (!json_is_string(unit) ||
				      !unit_of(json_string_value(unit), &um, suffix, sizeof(suffix)))) ||
			    (res && (!json_is_integer(res) || (json_integer_value(res) != 1 &&
								json_integer_value(res) != 60))))
				return false;
			if (!read_values(json_object_get(doc, json_string_value(name)), vals, counts, &n))
				return false;
		}
	}
	return true;
}

static void take_metric(struct emf_in *e, json_t *doc, json_t *dims, json_t *m)
{
	const char *name = json_string_value(json_object_get(m, "Name"));
	json_t *unit = json_object_get(m, "Unit"), *set, *d;
	const char *names[CUSTOM_MAX_LABELS * 2];
	unsigned nnames = 0;
	double vals[MAX_VALUES], counts[MAX_VALUES];
	char suffix[64];
	struct unit_map um;
	size_t n, i, j;
	bool one = !dims || json_array_size(dims) == 0;

	unit_of(unit ? json_string_value(unit) : NULL, &um, suffix, sizeof(suffix));
	read_values(json_object_get(doc, name), vals, counts, &n);
	/* The family's labels: every dimension any set names (the first ones, up to the cap). */
	json_array_foreach(dims, i, set) {
		json_array_foreach(set, j, d) {
			const char *k = json_string_value(d);
			bool dup = false;

			for (unsigned x = 0; x < nnames && !dup; x++)
				dup = strcmp(names[x], k) == 0;
			if (!dup && nnames < sizeof(names) / sizeof(names[0]))
				names[nnames++] = k;
		}
	}
	for (i = 0; i < (one ? 1 : json_array_size(dims)); i++) {
		struct custom_metric cm = {
			.name = name, .suffix = um.suffix, .kind = um.kind,
			.label_names = names, .nlabel_names = nnames,
		};
		struct custom_label labels[MAX_DIMENSIONS];
		struct metric_series *s;
		unsigned nl = 0;

		if (um.kind == CUSTOM_HISTOGRAM) {
			bool secs = strcmp(um.suffix, "seconds") == 0;

			cm.buckets = secs ? metric_buckets_duration : custom_buckets_bytes;
			cm.nbuckets = secs ? metric_buckets_duration_len : custom_buckets_bytes_len;
		}
		if (!one) {
			json_array_foreach(json_array_get(dims, i), j, d) {
				labels[nl].key = json_string_value(d);
				labels[nl].value = json_string_value(json_object_get(doc, labels[nl].key));
				nl++;
			}
		}
		s = custom_series(e->custom, CUSTOM_EMF, &cm, labels, nl);
		if (!s)
			continue;
		for (size_t k = 0; k < n; k++) {
			double v = vals[k] * um.scale;

			if (um.kind == CUSTOM_COUNTER) {
				if (v * counts[k] >= 0)
					metric_add(s, v * counts[k]);
			} else if (um.kind == CUSTOM_GAUGE) {
				metric_set(s, v);
			} else {
				/* (counts are whole observations; past 2^53 they are cut) */
				double c = counts[k] < 9007199254740992.0 ? floor(counts[k]) : 9007199254740992.0;

				metric_observe_n(s, v, (uint64_t)c);
			}
		}
	}
}

int emf_in_line(struct emf_in *e, const char *line, size_t n)
{
	const char *brace = memchr(line, '{', n);
	json_t *doc, *aws, *dir;
	json_error_t err;
	size_t i, j, len;
	bool own;

	if (!e || !brace || n > MAX_DOC || !memmem(brace, n - (size_t)(brace - line), "\"_aws\"", 6))
		return 0;
	len = n - (size_t)(brace - line);
	while (len && strchr(" \t\r\n", brace[len - 1]))
		len--;
	doc = json_loadb(brace, len, JSON_REJECT_DUPLICATES, &err);
	aws = json_object_get(doc, "_aws");
	if (!json_is_object(doc) || !json_is_object(aws)) {
		json_decref(doc);
		return 0;	/* not a document (a message that mentions "_aws") */
	}
	if (!valid(doc, aws, e->own, &own)) {
		json_decref(doc);
		metric_inc(e->invalid);
		return -1;
	}
	if (own) {
		json_decref(doc);
		return 0;
	}
	json_array_foreach(json_object_get(aws, "CloudWatchMetrics"), i, dir) {
		json_t *m;

		json_array_foreach(json_object_get(dir, "Metrics"), j, m)
			take_metric(e, doc, json_object_get(dir, "Dimensions"), m);
	}
	json_decref(doc);
	metric_inc(e->docs);
	return 1;
}
