/* Synthetic registries for the benchmarks: N series shaped like vigil's own metrics. */
#ifndef VIGIL_BENCH_SYNTHETIC_H
#define VIGIL_BENCH_SYNTHETIC_H

#include "../agent/core/metrics.h"

/* 100 families of n/100 series (labels function, status): integer counters, or gauges
 * with fractional values when fractional is set. */
struct metric_registry *synthetic_flat(int n, int fractional);
/* n/25 histogram series of the duration layout (25 samples each in the exposition). */
struct metric_registry *synthetic_histograms(int n);

#endif
