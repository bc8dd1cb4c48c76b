/* libFuzzer harness: the segment reader on arbitrary files (agent/core/segment.c). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>

#include "../../agent/core/segment.h"
#include "../../agent/util/log.h"

static int each(void *arg, const log_record *r)
{
	(void)arg;
	(void)r;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char path[64];
	struct segment_read_result res;
	FILE *f;

	log_set_level(LOG_OFF);
	if (!path[0])
		snprintf(path, sizeof(path), "/tmp/fuzz-segment-%d.vseg", (int)getpid());
	f = fopen(path, "wb");
	if (!f)
		return 0;
	fwrite(data, 1, size, f);
	fclose(f);
	segment_read_file(path, NULL, 0, each, NULL, &res);
	return 0;
}
