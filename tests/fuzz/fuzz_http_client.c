/* libFuzzer harness: the HTTP client's answer parsing (agent/lib/http_client.c, the
 * extension's client of the local APIs and remote_write's), fed a piece at a time (the first
 * byte says how big). */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../agent/lib/http_client.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_response r;

	if (size < 1)
		return 0;
	if (http_response_parse((const char *)data + 1, size - 1, 1 + data[0] % 61, &r) == 0) {
		/* An answer: its body is NUL-terminated, its headers named. */
		if (r.body[r.body_len] != '\0')
			__builtin_trap();
		http_response_header(&r, "Lambda-Extension-Identifier");
	}
	http_response_free(&r);
	return 0;
}
