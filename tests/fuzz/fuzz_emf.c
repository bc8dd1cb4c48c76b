/* libFuzzer harness: EMF recognition in a log line (agent/core/emf_in.c): any line is taken,
 * counted as invalid or passed over, never a crash; every family it makes is valid. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/core/custom.h"
#include "../../agent/core/emf_in.h"
#include "../../agent/util/log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct metric_registry *r;
	static struct custom_metrics *c;
	static struct emf_in *e;

	if (!r) {
		struct custom_options o = { .max_families = 200, .max_series = 50 };

		log_set_level(LOG_OFF);
		r = metric_registry_new(100);
		c = custom_metrics_new(r, &o);
		e = emf_in_new(c, r, "vigil");
	}
	emf_in_line(e, (const char *)data, size);
	for (struct metric_family *f = r->head; f; f = f->next)
		if (!metric_name_valid(f->name))
			__builtin_trap();
	return 0;
}
