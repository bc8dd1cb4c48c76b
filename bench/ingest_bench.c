/*
 * Log ingest benchmark: Telemetry-format JSON batches (one array per line, from
 * bench/gen_corpus.py) → records → compressed segments, through the same code as the vigil
 * extension: each batch copied and deferred to the log pipeline's writer thread
 * (log_pipe_defer), which runs telemetry_batch_log there, as the extension does. Prints input bytes, CPU seconds
 * (all threads), MB/s per CPU second, records and the segments' size.
 * usage: ingest_bench BATCHES_FILE OUT_DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "../agent/core/logpipe.h"
#include "../agent/core/tracker.h"
#include "../agent/extension/batch.h"

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

struct deferred {
	struct log_pipe *p;
	char current[64];
	size_t len;
	char body[];
};

static void run(void *arg)
{
	struct deferred *d = arg;

	telemetry_batch_log(d->p, d->current, d->body, d->len, "vigil", "orders-api", "$LATEST");
	free(d);
}

static double wall_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	static const struct tracker_prices prices = { 0, 0 };
	struct segment_writer_options o = { .identity = "bench", .segment_bytes = 1ull << 30, .level = getenv("LVL") ? atoi(getenv("LVL")) : 0 };
	struct metric_registry *r = metric_registry_new(1000);
	struct tracker *t = tracker_new("orders-api", "$LATEST", 512, &prices, NULL);
	struct log_pipe *p;
	char *line = NULL;
	size_t cap = 0, bytes = 0;
	ssize_t n;
	double c0, w0;
	FILE *f;

	if (argc != 3)
		return 2;
	f = fopen(argv[1], "r");
	o.dir = argv[2];
	p = log_pipe_new(&o, (size_t)4 << 30, r);
	if (!f || !p || !t)
		return 1;
	c0 = cpu_s();
	w0 = wall_s();
	while ((n = getline(&line, &cap, f)) > 0) {
		bytes += (size_t)n;
		{
			struct deferred *d = malloc(sizeof(*d) + (size_t)n + 1);

			if (!d)
				return 1;
			d->p = p;
			tracker_current(t, d->current, sizeof(d->current));
			d->len = (size_t)n;
			memcpy(d->body, line, (size_t)n + 1);
			/* A full queue drops, as in the extension; the bench's queue is 4 GiB. */
			if (log_pipe_defer(p, run, d, (size_t)n) < 0)
				free(d);
		}
	}
	log_pipe_close(p);
	printf("input_bytes=%zu cpu_s=%.3f wall_s=%.3f mb_per_cpu_s=%.1f mb_per_wall_s=%.1f\n", bytes,
	       cpu_s() - c0, wall_s() - w0, (double)bytes / 1048576.0 / (cpu_s() - c0),
	       (double)bytes / 1048576.0 / (wall_s() - w0));
	free(line);
	fclose(f);
	tracker_destroy(t);
	metric_registry_destroy(r);
	return 0;
}
