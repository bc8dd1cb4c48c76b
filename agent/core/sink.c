/* The set of sinks a source exports to. See sink.h. */
#include "sink.h"

#include <errno.h>

int sink_set_add(struct sink_set *s, const struct sink_ops *ops, void *self)
{
	if (s->n >= SINK_SET_MAX)
		return -ENOSPC;
	s->sinks[s->n].ops = ops;
	s->sinks[s->n].self = self;
	s->n++;
	return 0;
}

int sink_set_start(struct sink_set *s)
{
	int rc = 0;

	for (size_t i = 0; i < s->n; i++) {
		int r = s->sinks[i].ops->start ? s->sinks[i].ops->start(s->sinks[i].self) : 0;

		if (r < 0 && rc == 0)
			rc = r;
	}
	return rc;
}

void sink_set_reports(struct sink_set *s, struct invocation_report *const *items, size_t n)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->sinks[i].ops->reports)
			s->sinks[i].ops->reports(s->sinks[i].self, items, n);
}

size_t sink_set_otlp_spans(struct sink_set *s, const void *data, size_t n, size_t nspans,
			   bool *able)
{
	size_t took = 0;

	*able = false;
	for (size_t i = 0; i < s->n; i++) {
		int rc = s->sinks[i].ops->otlp_spans ?
				 s->sinks[i].ops->otlp_spans(s->sinks[i].self, data, n, nspans) : -1;

		*able |= rc >= 0;
		took += rc > 0;
	}
	return took;
}

void sink_set_flush(struct sink_set *s, int64_t deadline_ms)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->sinks[i].ops->flush)
			s->sinks[i].ops->flush(s->sinks[i].self, deadline_ms);
}

void sink_set_stop(struct sink_set *s, int64_t deadline_ms)
{
	for (size_t i = 0; i < s->n; i++)
		s->sinks[i].ops->stop(s->sinks[i].self, deadline_ms);
	s->n = 0;
}

bool sink_set_wants_coldstart(const struct sink_set *s)
{
	for (size_t i = 0; s && i < s->n; i++) {
		if (s->sinks[i].ops->coldstart)
			return true;
	}
	return false;
}

void sink_set_coldstart(struct sink_set *s, const struct cs_report *r, const char *request_id,
			const char *trace)
{
	for (size_t i = 0; s && i < s->n; i++) {
		if (s->sinks[i].ops->coldstart)
			s->sinks[i].ops->coldstart(s->sinks[i].self, r, request_id ? request_id : "",
						   trace ? trace : "");
	}
}

void sink_set_renew(struct sink_set *s, const char *instance)
{
	for (size_t i = 0; i < s->n; i++) {
		if (s->sinks[i].ops->renew)
			s->sinks[i].ops->renew(s->sinks[i].self, instance);
	}
}
