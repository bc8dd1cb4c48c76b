/* libFuzzer harness: vigil's OTLP receiver (agent/receiver/): the first byte picks the input —
 * a protobuf Export*ServiceRequest of each signal, its OTLP/JSON form, or an HTTP/2
 * connection's bytes (gRPC) — and the rest is it; protobuf requests go through the path that
 * holds them for their joins too (a receiver on a loop, flushed). Never a crash, a leak or a hang; spans go to
 * a sink that drops them, metrics to a registry with caps. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/core/custom.h"
#include "../../agent/core/sink.h"
#include "../../agent/core/tracker.h"
#include "../../agent/receiver/otlp_grpc.h"
#include "../../agent/receiver/otlp_in.h"
#include "../../agent/util/log.h"

static int drop_spans(void *self, const void *data, size_t n, size_t nspans)
{
	(void)self;
	(void)data;
	(void)n;
	(void)nspans;
	return 1;
}

static void drop_stop(void *self, int64_t deadline)
{
	(void)self;
	(void)deadline;
}

static const struct sink_ops drop_ops = { .name = "drop", .otlp_spans = drop_spans,
					  .stop = drop_stop };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct metric_registry *r;
	static struct custom_metrics *c;
	static struct tracker *t;
	static struct sink_set sinks;
	static struct otlp_in *in;
	static struct loop *loop;
	static struct otlp_in_options o;
	struct otlp_in_result res;
	struct buf out;
	char why[160];

	if (!r) {
		static const struct tracker_prices prices = { 0 };
		struct custom_options co = { .max_families = 100, .max_series = 20 };

		log_set_level(LOG_OFF);
		r = metric_registry_new(100);
		c = custom_metrics_new(r, &co);
		t = tracker_new("fn", "1", 128, &prices, NULL);
		tracker_invoke(t, "rid", 0, "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8");
		sink_set_add(&sinks, &drop_ops, NULL);
		o = (struct otlp_in_options){ .custom = c, .sinks = &sinks, .tracker = t };
		in = otlp_in_new(&o, r);
		loop = loop_new();
	}
	if (size < 1)
		return 0;
	buf_init(&out);
	switch (data[0] % 7) {
	case 0: case 1: case 2:
		if (data[0] & 0x80) {
			struct otlp_in_options ho = o;
			struct otlp_in *held;

			ho.loop = loop;
			held = otlp_in_new(&ho, r);
			otlp_in_take(held, (enum otlp_signal)(data[0] % 3), data + 1, size - 1,
				     &res);
			otlp_in_flush(held);
			otlp_in_free(held);
		} else {
			otlp_in_take(in, (enum otlp_signal)(data[0] % 3), data + 1, size - 1, &res);
		}
		otlp_in_response(&res, &out);
		break;
	case 3: case 4: case 5:
		if (otlp_json_to_pb((enum otlp_signal)(data[0] % 3), (const char *)data + 1, size - 1,
				    &out, why, sizeof(why)) == 0)
			otlp_in_take(in, (enum otlp_signal)(data[0] % 3), (const uint8_t *)out.data,
				     out.len, &res);
		break;
	default:
		otlp_grpc_feed(in, data + 1, size - 1);
		break;
	}
	buf_free(&out);
	return 0;
}
