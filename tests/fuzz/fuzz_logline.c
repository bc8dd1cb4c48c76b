/* libFuzzer harness: log line parsing (agent/core/logparse.c). */
#include <stddef.h>
#include <stdint.h>

#include "../../agent/core/logparse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	log_record r;

	logparse_line((const char *)data, size, "id", &r);
	logparse_free(&r);
	logparse_is_continuation((const char *)data, size);
	return 0;
}
