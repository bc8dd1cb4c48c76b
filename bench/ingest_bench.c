/*
 * Log ingest benchmark: Telemetry-format JSON batches (one array per line, from
 * bench/gen_corpus.py) → records → compressed segments, through the same code as the vigil
 * extension: each batch in a buffer of its own (what the extension's HTTP server receives it
 * into, and hands over) deferred to the log pipeline's writer thread (log_pipe_defer, the
 * agent's 8 MiB queue: the bench waits when it is full), which runs telemetry_batch_log
 * there, as the extension does. Prints input bytes, CPU seconds (all threads; main_cpu_s of
 * them filling the buffers), MB/s per CPU second. The file is read before the clock starts.
 * VIGIL_BENCH_LEVEL: another zstd level than the agent's. Then, apart, the extension's other
 * pass over the same batches: telemetry_batch_ingest (jansson, into the tracker, on the
 * listener thread before it answers): tracker_cpu_s and its MB per CPU second.
 * usage: ingest_bench BATCHES_FILE OUT_DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "../agent/util/buf.h"
#include "../agent/core/logpipe.h"
#include "../agent/core/tracker.h"
#include "../agent/extension/batch.h"

static double sys_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

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
	struct segment_writer_options o = { .identity = "bench", .segment_bytes = 1ull << 30 };
	struct metric_registry *r = metric_registry_new(1000);
	struct tracker *t = tracker_new("orders-api", "$LATEST", 512, &prices, NULL);
	struct log_pipe *p;
	struct buf in;
	size_t bytes = 0;
	double c0, w0, s0, main_s;

	if (argc != 3)
		return 2;
	/* The batches in memory first, as the extension has them once received: what is timed
	 * is batches → records → segments, not reading this file. */
	buf_init(&in);
	if (buf_read_file(&in, argv[1], (size_t)16 << 30) < 0)
		return 1;
	o.dir = argv[2];
	if (getenv("VIGIL_BENCH_LEVEL"))	/* for trying levels: the default is the agent's */
		o.level = atoi(getenv("VIGIL_BENCH_LEVEL"));
	p = log_pipe_new(&o, 0, r);	/* the agent's queue (8 MiB) */
	if (!p || !t)
		return 1;
	/* Where each batch ends, found before the clock too: the extension is told a body's
	 * length (Content-Length); it does not search for it. */
	size_t nb = 0, *ends = NULL;

	for (size_t at = 0; at < in.len; nb++) {
		const char *nl = memchr(in.data + at, '\n', in.len - at);
		size_t *e2 = realloc(ends, (nb + 1) * sizeof(*ends));

		if (!e2)
			return 1;
		ends = e2;
		at = nl ? (size_t)(nl - in.data) + 1 : in.len;
		ends[nb] = at;
	}
	c0 = cpu_s();
	s0 = sys_s();
	{
		struct timespec ts;

		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
		main_s = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	}
	w0 = wall_s();
	for (size_t b = 0, at = 0; b < nb; b++) {
		size_t n = ends[b] - at;
		struct deferred *d = malloc(sizeof(*d) + n + 1);

		if (!d)
			return 1;
		d->p = p;
		tracker_current(t, d->current, sizeof(d->current));
		d->len = n;
		memcpy(d->body, in.data + at, n);
		d->body[n] = '\0';
		bytes += n;
		at += n;
		/* A full queue: the extension would answer the Telemetry API 503 and be sent the
		 * batch again later; the bench waits for room instead (nothing dropped). */
		while (log_pipe_defer(p, run, d, n) < 0)
			nanosleep(&(struct timespec){ 0, 200000 }, NULL);
	}
	{
		struct timespec ts;

		clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
		main_s = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9 - main_s;
	}
	log_pipe_close(p);
	/* main_cpu_s: filling each batch's buffer, as receiving it would. */
	printf("input_bytes=%zu cpu_s=%.3f sys_s=%.3f main_cpu_s=%.3f wall_s=%.3f "
	       "mb_per_cpu_s=%.1f mb_per_wall_s=%.1f\n", bytes, cpu_s() - c0, sys_s() - s0,
	       main_s, wall_s() - w0, (double)bytes / 1048576.0 / (cpu_s() - c0),
	       (double)bytes / 1048576.0 / (wall_s() - w0));
	{
		double t0 = cpu_s();
		struct batch_counts counts;

		for (size_t b = 0, at = 0; b < nb; at = ends[b], b++) {
			struct invocation_report *done;

			telemetry_batch_ingest(t, in.data + at, ends[b] - at, "vigil", &counts);
			for (done = tracker_take(t); done;) {
				struct invocation_report *next = done->next;

				free(done);
				done = next;
			}
		}
		t0 = cpu_s() - t0;
		printf("tracker_cpu_s=%.3f tracker_mb_per_cpu_s=%.1f\n", t0,
		       (double)bytes / 1048576.0 / t0);
	}
	buf_free(&in);
	free(ends);
	tracker_destroy(t);
	metric_registry_destroy(r);
	return 0;
}
