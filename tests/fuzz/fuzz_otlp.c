/* libFuzzer harness: what the OTLP exporter reads (exporters/otlp): the backend's answers
 * (partial_success), trace headers (X-Ray, W3C, bare ids) and OTEL_RESOURCE_ATTRIBUTES. The
 * first byte picks which. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/util/tracectx.h"
#include "../../exporters/otlp/otlp.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char text[1100];
	size_t n;

	if (size < 1)
		return 0;
	switch (data[0] % 3) {
	case 0: {
		int64_t rejected;
		char msg[64];

		if (otlp_parse_response(data + 1, size - 1, &rejected, msg, sizeof(msg)) == 0 &&
		    strlen(msg) >= sizeof(msg))
			__builtin_trap();
		break;
	}
	case 1: {
		uint8_t t[16], p[8];
		bool hp;
		int sampled;

		n = size - 1 < 300 ? size - 1 : 300;
		memcpy(text, data + 1, n);
		text[n] = '\0';
		if (trace_context(text, t, p, &hp, &sampled)) {
			static const uint8_t zero[16];

			if (memcmp(t, zero, 16) == 0 || sampled < -1 || sampled > 1)
				__builtin_trap();
		}
		break;
	}
	default: {
		struct otlp_resource r = { 0 };
		struct buf b;

		n = size - 1 < sizeof(r.attributes) - 1 ? size - 1 : sizeof(r.attributes) - 1;
		memcpy(r.attributes, data + 1, n);
		r.attributes[n] = '\0';
		strcpy(r.function_name, "fn");
		buf_init(&b);
		otlp_encode_resource(&b, &r);
		buf_free(&b);
		break;
	}
	}
	return 0;
}
