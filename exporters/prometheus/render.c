/* Render the metric registry as Prometheus text 0.0.4 or OpenMetrics 1.0. */
#include "prometheus.h"

#include "../../agent/util/numfmt.h"
#include "../../agent/util/utf8.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Escape s; quote additionally escapes '"' (label values, OpenMetrics help). */
static void escape(struct buf *out, const char *s, int quote)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s);

	while (n > 0) {
		size_t run = 0, len;

		while (run < n && p[run] >= 0x20 && p[run] < 0x80 && p[run] != '\\' &&
		       p[run] != '"')
			run++;
		buf_append(out, p, run);
		p += run;
		n -= run;
		if (n == 0)
			break;
		if (*p == '\\') {
			buf_append(out, "\\\\", 2);
			len = 1;
		} else if (*p == '\n') {
			buf_append(out, "\\n", 2);
			len = 1;
		} else if (*p == '"') {
			buf_append(out, quote ? "\\\"" : "\"", quote ? 2 : 1);
			len = 1;
		} else if (*p < 0x80) {
			buf_putc(out, (char)*p);	/* other control bytes are legal */
			len = 1;
		} else if ((len = utf8_char_len(p, n)) > 0) {
			buf_append(out, p, len);
		} else {
			buf_append(out, "\xEF\xBF\xBD", 3);
			len = 1;
		}
		p += len;
		n -= len;
	}
}

void prom_escape_label(struct buf *out, const char *s)
{
	escape(out, s, 1);
}

void prom_format_value(struct buf *out, double v)
{
	if (isnan(v)) {
		buf_puts(out, "NaN");
	} else if (isinf(v)) {
		buf_puts(out, v > 0 ? "+Inf" : "-Inf");
	} else {
		numfmt_double(out, v);
	}
}

static const char *type_name(enum metric_type t, enum prom_format fmt)
{
	switch (t) {
	case METRIC_COUNTER:
		return "counter";
	case METRIC_HISTOGRAM:
		return "histogram";
	case METRIC_INFO:
		return fmt == PROM_OPENMETRICS ? "info" : "gauge";
	case METRIC_GAUGE:
		break;
	}
	return "gauge";
}

/* OpenMetrics names a counter family without _total and an info family without _info. */
static size_t family_name_len(const struct metric_family *f, enum prom_format fmt)
{
	size_t len = strlen(f->name);

	if (fmt != PROM_OPENMETRICS)
		return len;
	if (f->type == METRIC_COUNTER)
		return len - 6;
	if (f->type == METRIC_INFO)
		return len - 5;
	return len;
}

static int has_unit_suffix(const char *name, size_t len, const char *unit)
{
	size_t ul = strlen(unit);

	return len > ul + 1 && name[len - ul - 1] == '_' && memcmp(name + len - ul, unit, ul) == 0;
}

static void put_header(struct buf *out, const struct metric_family *f, enum prom_format fmt)
{
	size_t len = family_name_len(f, fmt);

	buf_puts(out, "# HELP ");
	buf_append(out, f->name, len);
	buf_putc(out, ' ');
	escape(out, f->help, fmt == PROM_OPENMETRICS);
	buf_puts(out, "\n# TYPE ");
	buf_append(out, f->name, len);
	buf_putc(out, ' ');
	buf_puts(out, type_name(f->type, fmt));
	buf_putc(out, '\n');
	if (fmt == PROM_OPENMETRICS && f->unit && has_unit_suffix(f->name, len, f->unit)) {
		buf_puts(out, "# UNIT ");
		buf_append(out, f->name, len);
		buf_putc(out, ' ');
		buf_puts(out, f->unit);
		buf_putc(out, '\n');
	}
}

/* name{labels[,le="x"]} */
static void put_series_name(struct buf *out, const struct metric_family *f,
			    const struct metric_series *s, const char *suffix, const char *le)
{
	buf_puts(out, f->name);
	if (suffix)
		buf_puts(out, suffix);
	if (f->nlabels == 0 && !le) {
		buf_putc(out, ' ');
		return;
	}
	buf_putc(out, '{');
	for (unsigned i = 0; i < f->nlabels; i++) {
		if (i)
			buf_putc(out, ',');
		buf_puts(out, f->labels[i]);
		buf_append(out, "=\"", 2);
		escape(out, s->values[i], 1);
		buf_putc(out, '"');
	}
	if (le) {
		if (f->nlabels)
			buf_putc(out, ',');
		buf_append(out, "le=\"", 4);
		buf_puts(out, le);
		buf_putc(out, '"');
	}
	buf_append(out, "} ", 2);
}

static void put_histogram(struct buf *out, const struct metric_family *f,
			  const struct metric_series *s, char les[][32])
{
	uint64_t cum[METRIC_MAX_BUCKETS + 1];
	double sum;

	metric_histogram_read(s, cum, &sum);
	for (size_t i = 0; i <= f->nbuckets; i++) {
		put_series_name(out, f, s, "_bucket", les[i]);
		buf_put_u64(out, cum[i]);
		buf_putc(out, '\n');
	}
	put_series_name(out, f, s, "_sum", NULL);
	prom_format_value(out, sum);
	buf_putc(out, '\n');
	put_series_name(out, f, s, "_count", NULL);
	buf_put_u64(out, cum[f->nbuckets]);
	buf_putc(out, '\n');
}

/* The le label values of a family's buckets, formatted once per render. */
static void format_bounds(const struct metric_family *f, char les[][32])
{
	struct buf b;

	buf_init(&b);
	for (size_t i = 0; i < f->nbuckets; i++) {
		buf_reset(&b);
		prom_format_value(&b, f->buckets[i]);
		snprintf(les[i], 32, "%s", b.failed ? "NaN" : b.data);
	}
	snprintf(les[f->nbuckets], 32, "+Inf");
	buf_free(&b);
}

int prom_render(struct metric_registry *r, enum prom_format fmt, struct buf *out)
{
	char les[METRIC_MAX_BUCKETS + 1][32];

	metric_registry_begin(r);
	for (struct metric_family *f = r->head; f; f = f->next) {
		struct metric_series *s = metric_first(f);

		/* A family with labels and no series yet says nothing. */
		if (!s)
			continue;
		put_header(out, f, fmt);
		if (f->type == METRIC_HISTOGRAM)
			format_bounds(f, les);
		for (; s; s = metric_next(s)) {
			if (f->type == METRIC_HISTOGRAM) {
				put_histogram(out, f, s, les);
				continue;
			}
			put_series_name(out, f, s, NULL, NULL);
			if (f->type == METRIC_INFO)
				buf_putc(out, '1');
			else
				prom_format_value(out, metric_value(s));
			buf_putc(out, '\n');
		}
	}
	metric_registry_end(r);
	if (fmt == PROM_OPENMETRICS)
		buf_puts(out, "# EOF\n");
	return out->failed ? -ENOMEM : 0;
}

/* q of one media-range parameter list ("; q=0.5; version=1"), 1 when absent. */
static double media_q(const char *params, size_t n)
{
	double q = 1.0;

	for (size_t i = 0; i < n; i++) {
		size_t j = i;

		while (j < n && (params[j] == ' ' || params[j] == ';' || params[j] == '\t'))
			j++;
		if (j + 2 <= n && (params[j] == 'q' || params[j] == 'Q') && params[j + 1] == '=') {
			char tmp[16];
			size_t k = 0;

			j += 2;
			while (j < n && k < sizeof(tmp) - 1 && params[j] != ';' && params[j] != ' ')
				tmp[k++] = params[j++];
			tmp[k] = '\0';
			q = strtod(tmp, NULL);
			if (!(q >= 0.0 && q <= 1.0))
				q = 0.0;
		}
		while (j < n && params[j] != ';')
			j++;
		i = j;
	}
	return q;
}

enum prom_format prom_negotiate(const char *accept)
{
	static const char om[] = "application/openmetrics-text";
	double best_om = -1.0, best_text = -1.0;
	size_t total;

	if (!accept)
		return PROM_TEXT;
	total = strnlen(accept, PROM_ACCEPT_MAX);
	for (size_t i = 0; i < total;) {
		size_t end = i, type_end;
		const char *range;
		double q;

		while (end < total && accept[end] != ',')
			end++;
		while (i < end && (accept[i] == ' ' || accept[i] == '\t'))
			i++;
		range = accept + i;
		type_end = i;
		while (type_end < end && accept[type_end] != ';' && accept[type_end] != ' ')
			type_end++;
		q = media_q(accept + type_end, end - type_end);
		if (type_end - i == sizeof(om) - 1 && strncasecmp(range, om, sizeof(om) - 1) == 0) {
			if (q > best_om)
				best_om = q;
		} else if ((type_end - i == 10 && strncasecmp(range, "text/plain", 10) == 0) ||
			   (type_end - i == 3 && strncmp(range, "*/*", 3) == 0)) {
			if (q > best_text)
				best_text = q;
		}
		i = end + 1;
	}
	return best_om > 0.0 && best_om >= best_text ? PROM_OPENMETRICS : PROM_TEXT;
}
