/* libFuzzer harness: the Runtime API proxy's relay parsing (agent/proxy/proxy.c): a runtime's
 * requests and the API's answers, interleaved a piece at a time as the relay reads them. The
 * first byte says the piece size, the second where the requests end. */
#include <stddef.h>
#include <stdint.h>

#include "../../agent/proxy/proxy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t piece, split;

	if (size < 2)
		return 0;
	piece = 1 + data[0] % 97;
	split = size > 2 ? (size_t)data[1] * (size - 2) / 255 : 0;
	proxy_parse_buffer((const char *)data + 2, split, (const char *)data + 2 + split,
			   size - 2 - split, piece);
	return 0;
}
