/* libFuzzer harness: a runtime's output split into lines (agent/util/lines.c, vigil host's
 * reader of the function's pipes) in chunks of any size, each line then repaired for
 * telemetry (agent/util/utf8.h). A line never holds a newline or passes the limit. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/util/lines.h"
#include "../../agent/util/utf8.h"

#define MAX 300

static void on_line(void *arg, const char *line, size_t n)
{
	char *fixed = malloc(3 * n + 1);
	size_t m;

	(void)arg;
	if (n > MAX || memchr(line, '\n', n))
		__builtin_trap();
	m = utf8_repair(line, n, fixed);
	if (!utf8_valid(fixed, m) || (utf8_valid(line, n) && (m != n || memcmp(line, fixed, n))))
		__builtin_trap();
	free(fixed);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct buf partial;
	size_t piece, at = 1;

	if (size < 1)
		return 0;
	piece = 1 + data[0] % 89;
	buf_init(&partial);
	while (at < size) {
		size_t k = size - at < piece ? size - at : piece;

		lines_split(&partial, (const char *)data + at, k, MAX, on_line, NULL);
		at += k;
	}
	if (partial.len > MAX)
		__builtin_trap();
	buf_free(&partial);
	return 0;
}
