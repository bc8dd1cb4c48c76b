/* libFuzzer harness: Telemetry API batches into the invocation tracker. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "../../agent/extension/batch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct tracker_prices prices = { 0.0000166667, 2e-7 };
	struct tracker *t = tracker_new("fn", "$LATEST", 128, &prices, NULL);
	struct batch_counts c;
	struct invocation_report *r;

	if (!t)
		return 0;
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
