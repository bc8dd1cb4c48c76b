/* libFuzzer harness: the HTTP/1.1 request parser under the Runtime, Extensions and Telemetry
 * API servers (agent/lib/http_server.c), with small limits so they are reached; bodies kept
 * and streamed. */
#include <stddef.h>
#include <stdint.h>

#include "../../agent/lib/http_server.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct http_server_limits limits = {
		.max_body = 4096,
		.max_header_bytes = 2048,
		.max_headers = 16,
		.max_connections = 1,
		.idle_timeout = 1,
	};
	unsigned n;
	size_t streamed = 0;

	http_parse_buffer((const char *)data, size, &limits, &n);
	/* streamed bodies (the Runtime API's streaming responses), trailers and all */
	http_parse_buffer_streamed((const char *)data, size, &limits, 8192, &n, &streamed);
	return 0;
}
