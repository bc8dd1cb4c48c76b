/* libFuzzer harness: `vigil logs --since/--until` times (agent/cmd/logs.c): an ISO 8601 time
 * or an age; never an overflow (UBSan aborts on one), never a time before 1970. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/cmd/logs.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	int64_t t;

	memcpy(s, data, size);
	s[size] = '\0';
	t = logs_parse_when(s);
	if (t < -1)
		__builtin_trap();
	free(s);
	return 0;
}
