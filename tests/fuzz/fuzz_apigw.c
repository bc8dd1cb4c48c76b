/* libFuzzer harness: mapping a function's answer to an API Gateway response (both payload
 * formats), and building an event from a fuzzed request target and body. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/host/apigw.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct apigw_response resp;
	struct http_header h = { "Content-Type", "text/plain" };
	struct apigw_request r = { 0 };
	char err[200], *target, *ev;
	size_t len;

	for (int v = 0; v < 2; v++) {
		if (apigw_map_response(v ? APIGW_V1 : APIGW_V2, (const char *)data, size, &resp, err,
				       sizeof(err)) == 0)
			apigw_response_free(&resp);
	}
	target = malloc(size + 2);
	if (!target)
		return 0;
	target[0] = '/';
	memcpy(target + 1, data, size);
	target[size + 1] = '\0';
	r.method = "POST";
	r.target = target;
	r.protocol = "HTTP/1.1";
	r.source_ip = "127.0.0.1";
	r.headers = &h;
	r.nheaders = 1;
	r.body = (const char *)data;
	r.body_len = size;
	r.request_id = "id";
	for (int v = 0; v < 2; v++) {
		ev = apigw_event(&r, v ? APIGW_V1 : APIGW_V2, &len);
		free(ev);
	}
	free(target);
	return 0;
}
