/* libFuzzer harness: Telemetry API subscription bodies (agent/host/telemetry.c). */
#include <stddef.h>
#include <stdint.h>

#include "../../agent/host/host.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct subscription_spec spec;
	char err[256];

	telemetry_parse_subscription((const char *)data, size, 9001, false, size & 1, &spec, err, sizeof(err));
	telemetry_parse_subscription((const char *)data, size, 9001, true, false, &spec, err, sizeof(err));
	return 0;
}
