/* libFuzzer harness: StatsD / DogStatsD datagrams (agent/receiver/statsd.c) into a registry:
 * never a crash, an overflow or a series past the caps. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/core/custom.h"
#include "../../agent/receiver/statsd.h"
#include "../../agent/util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct metric_registry *r;
	static struct custom_metrics *c;
	static struct statsd *s;
	char *buf;

	if (!r) {
		struct custom_options o = { .max_families = 200, .max_series = 50 };

		log_set_level(LOG_OFF);
		r = metric_registry_new(100);
		c = custom_metrics_new(r, &o);
		s = statsd_new(c, r);
	}
	buf = malloc(size + 1);
	memcpy(buf, data, size);
	statsd_datagram(s, buf, size);
	free(buf);
	return 0;
}
