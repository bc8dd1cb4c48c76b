/* libFuzzer harness: a cold start's timeline (agent/core/coldstart.c) read back, rendered as
 * text, JSON and HTML, and diffed: damaged lines, absurd times and fds, paths of every shape. */
#include <stddef.h>
#include <stdint.h>

#include "../../agent/core/coldstart.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cs_report r;
	struct buf out;

	if (coldstart_analyze((const char *)data, size, &r) < 0)
		return 0;
	buf_init(&out);
	coldstart_text(&r, 20, &out);
	coldstart_json(&r, &out);
	coldstart_html(&r, 20, &out);
	coldstart_diff(&r, &r, 0, false, &out);
	coldstart_diff(&r, &r, 0, true, &out);
	buf_free(&out);
	coldstart_free(&r);
	return 0;
}
