/* libFuzzer harness: Accept-header negotiation and label-value escaping of the exporter. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../exporters/prometheus/prometheus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);
	struct buf b;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	prom_negotiate(s);
	buf_init(&b);
	prom_escape_label(&b, s);
	buf_free(&b);
	free(s);
	return 0;
}
