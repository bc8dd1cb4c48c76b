/* Synthetic registries for the benchmarks. */
#include "synthetic.h"

#include <stdio.h>

/* See synthetic.h. */
struct metric_registry *synthetic_flat(int n, int fractional)
{
	struct metric_registry *r = metric_registry_new(1000000);
	char name[64], fn[32];

	for (int f = 0; f < 100; f++) {
		struct metric_desc d = { .name = name, .help = "A benchmark metric.",
					 .type = fractional ? METRIC_GAUGE : METRIC_COUNTER,
					 .labels = { "function", "status" } };
		struct metric_family *fam;

		snprintf(name, sizeof(name), fractional ? "bench_family_%d_ratio" :
							  "bench_family_%d_total", f);
		fam = metric_register(r, &d);
		for (int s = 0; s < n / 100; s++) {
			snprintf(fn, sizeof(fn), "function-%d", s);
			metric_add(metric_with(fam, fn, s % 2 ? "success" : "error"),
				   fractional ? (double)(s * 7919 % 10007) / 10007.0 : s * 13 + f);
		}
	}
	return r;
}

/* See synthetic.h. */
struct metric_registry *synthetic_histograms(int n)
{
	struct metric_registry *r = metric_registry_new(1000000);
	struct metric_desc d = { .name = "bench_duration_seconds", .help = "A benchmark histogram.",
				 .type = METRIC_HISTOGRAM, .unit = "seconds",
				 .buckets = metric_buckets_duration,
				 .nbuckets = metric_buckets_duration_len,
				 .labels = { "function" } };
	struct metric_family *fam = metric_register(r, &d);
	char fn[32];

	for (int s = 0; s < n / 25; s++) {
		struct metric_series *h;

		snprintf(fn, sizeof(fn), "function-%d", s);
		h = metric_with(fam, fn);
		for (int i = 0; i < 50; i++)
			metric_observe(h, (double)(i * s % 1000) / 997.0);
	}
	return r;
}
