/* libFuzzer harness: Telemetry API batches into the invocation tracker, and into log
 * records both ways the log path reads them (in place on the pipe's writer thread, and
 * queued from another thread). */
#include <semaphore.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/extension/batch.h"

struct deferred {
	struct log_pipe *p;
	const char *data;
	size_t size;
	sem_t done;
};

static void run(void *arg)
{
	struct deferred *d = arg;

	telemetry_batch_log(d->p, "rid", d->data, d->size, "vigil", "fn", "$LATEST");
	sem_post(&d->done);
}

static struct log_pipe *pipe_once(void)
{
	static struct log_pipe *p;
	static char dir[] = "/tmp/vigil-fuzz-batch-XXXXXX";

	if (!p && mkdtemp(dir)) {
		/* Small segments, little kept: a long run does not fill the disk. */
		struct segment_writer_options o = { .dir = dir, .identity = "fuzz",
						    .segment_bytes = 1 << 20,
						    .retention_bytes = 8 << 20 };

		p = log_pipe_new(&o, 0, NULL);
	}
	return p;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct tracker_prices prices = { 0.0000166667, 2e-7 };
	struct tracker *t = tracker_new("fn", "$LATEST", 128, &prices, NULL);
	struct batch_counts c;
	struct invocation_report *r;

	if (!t)
		return 0;
	{
		struct deferred d = { .p = pipe_once(), .data = (const char *)data, .size = size };

		if (d.p) {
			sem_init(&d.done, 0, 0);
			/* Weighed at 64 KiB: the writer wakes at once instead of at its next poll. */
			if (log_pipe_defer(d.p, run, &d, 64 * 1024) == 0)
				sem_wait(&d.done);
			sem_destroy(&d.done);
			telemetry_batch_log(d.p, "", d.data, d.size, "vigil", "fn", "$LATEST");
		}
	}
	telemetry_batch_ingest(t, (const char *)data, size, "vigil", &c);
	tracker_shutdown(t, "failure");
	r = tracker_take(t);
	while (r) {
		struct invocation_report *n = r->next;

		free(r);
		r = n;
	}
	tracker_destroy(t);
	return 0;
}
