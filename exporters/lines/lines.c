/* Summary lines of invocation reports. See lines.h. */
#include "lines.h"

#include <stdlib.h>

void report_line(struct buf *b, const struct invocation_report *r)
{
	static const char *const st[] = { "success", "error", "timeout", "failure" };

	if (report_managed(r))	/* billing and memory are the instance's */
		buf_printf(b, "VIGIL_REPORT RequestId: %s\tDuration: %.2f ms\t", r->request_id,
			   r->duration_ms < 0 ? 0 : r->duration_ms);
	else
		buf_printf(b, "VIGIL_REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: "
			      "%lld ms\tMemory Size: %ld MB\tMax Memory Used: %ld MB\t",
			   r->request_id, r->duration_ms < 0 ? 0 : r->duration_ms,
			   (long long)(r->billed_ms < 0 ? 0 : r->billed_ms), r->memory_size_mb,
			   r->max_memory_used_mb);
	if (r->cold_start && r->init_duration_ms >= 0)
		buf_printf(b, "Init Duration: %.2f ms\t", r->init_duration_ms);
	if (r->restore_duration_ms > 0)
		buf_printf(b, "Restore Duration: %.2f ms\t", r->restore_duration_ms);
	if (r->tenant_id[0])
		buf_printf(b, "Tenant: %s\t", r->tenant_id);
	buf_printf(b, "Cold Start: %s\tStatus: %s", r->cold_start ? "true" : "false",
		   st[r->status]);
	if (r->error_type[0])
		buf_printf(b, "\tError Type: %s", r->error_type);
	buf_printf(b, "\tCost: %.10f USD\n", r->cost_usd);
}

struct lines_sink {
	int fd;
	struct buf out;
};

void *lines_sink_new(int fd)
{
	struct lines_sink *s = calloc(1, sizeof(*s));

	if (s) {
		s->fd = fd;
		buf_init(&s->out);
	}
	return s;
}

static void lines_sink_reports(void *self, struct invocation_report *const *items, size_t n)
{
	struct lines_sink *s = self;

	for (size_t i = 0; i < n; i++)
		report_line(&s->out, items[i]);
}

static void lines_sink_flush(void *self, int64_t deadline_ms)
{
	struct lines_sink *s = self;

	(void)deadline_ms;
	buf_drain_fd(&s->out, s->fd);
}

static void lines_sink_stop(void *self, int64_t deadline_ms)
{
	lines_sink_flush(self, deadline_ms);
	free(self);
}

const struct sink_ops lines_sink_ops = {
	.name = "lines",
	.reports = lines_sink_reports,
	.flush = lines_sink_flush,
	.stop = lines_sink_stop,
};
