/*
 * Render benchmark: a registry of N series (counters with two labels, or histograms),
 * rendered many times in text and OpenMetrics; prints median and p99 per render.
 * usage: render_bench [SERIES] [ITERATIONS]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../agent/util/buf.h"
#include "../agent/core/metrics.h"
#include "../exporters/prometheus/prometheus.h"
#include "synthetic.h"

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void run(const char *what, struct metric_registry *r, enum prom_format fmt, int iters)
{
	double *t = malloc(sizeof(double) * (size_t)iters);
	size_t bytes = 0, lines = 0;
	struct buf b;

	buf_init(&b);
	for (int i = 0; i < iters; i++) {
		double t0;

		buf_reset(&b);
		t0 = now_ms();
		prom_render(r, fmt, &b);
		t[i] = now_ms() - t0;
		bytes = b.len;
	}
	for (size_t i = 0; i < b.len; i++)
		lines += b.data[i] == '\n';
	qsort(t, (size_t)iters, sizeof(double), cmp);
	printf("%-22s %-12s samples=%-6zu bytes=%-8zu median=%.3f ms  p99=%.3f ms\n", what,
	       fmt == PROM_TEXT ? "text" : "openmetrics", lines, bytes, t[iters / 2],
	       t[iters * 99 / 100]);
	buf_free(&b);
	free(t);
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 10000;
	int iters = argc > 2 ? atoi(argv[2]) : 300;
	struct metric_registry *c = synthetic_flat(n, 0), *g = synthetic_flat(n, 1),
				*h = synthetic_histograms(n);

	run("counters (integers)", c, PROM_TEXT, iters);
	run("counters (integers)", c, PROM_OPENMETRICS, iters);
	run("gauges (fractions)", g, PROM_TEXT, iters);
	run("gauges (fractions)", g, PROM_OPENMETRICS, iters);
	run("histograms", h, PROM_TEXT, iters);
	run("histograms", h, PROM_OPENMETRICS, iters);
	metric_registry_destroy(c);
	metric_registry_destroy(g);
	metric_registry_destroy(h);
	return 0;
}
