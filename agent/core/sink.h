/*
 * An exporter as the rest of vigil sees it: a sink. The wiring layer (agent/cmd) makes each
 * exporter with its own options and hands a source the set; the source tells the set what
 * happened and never knows which exporters are in it. What a sink is told: that init is over
 * (start what costs time: listeners, threads), the finished invocation reports of one export,
 * and when to let what it holds leave (flush) or stop. The registry it reads (metrics) is
 * handed to it when it is made.
 */
#ifndef VIGIL_SINK_H
#define VIGIL_SINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct invocation_report;
struct cs_report;

struct sink_ops {
	const char *name;
	/* Init is over: start listeners or threads. 0, or -errno (the sink says why, once).
	 * May be NULL. */
	int (*start)(void *self);
	/* The finished reports of one export, in order; valid during the call only. May be
	 * NULL. Called from one thread at a time. */
	void (*reports)(void *self, struct invocation_report *const *items, size_t n);
	/* Let what was told so far leave (write, ask for a push) without waiting past
	 * deadline_ms (epoch milliseconds). May be NULL. */
	void (*flush)(void *self, int64_t deadline_ms);
	/* Spans that arrived already in OTLP's encoding (the function's own, through vigil's
	 * receiver): data is ExportTraceServiceRequest's field 1 entries (ResourceSpans, each
	 * tagged), holding nspans spans. 1 taken, 0 not now (a full queue), -1 never (the sink
	 * sends no spans). nspans 0: only asked (nothing queued). Any thread. May be NULL. */
	int (*otlp_spans)(void *self, const void *data, size_t n, size_t nspans);
	/* The environment took a new identity (a SnapStart restore: everything made before the
	 * snapshot is shared by every environment restored from it): label what follows with
	 * instance, and reconnect. Any thread. May be NULL. */
	void (*renew)(void *self, const char *instance);
	/* A cold start's timeline, analysed (core/coldstart.h), and the invocation it came
	 * before (its request id and trace header, "" none): the OTLP exporter sends the
	 * largest packages and the network calls as children of that invocation's init span.
	 * Any thread. May be NULL. */
	void (*coldstart)(void *self, const struct cs_report *r, const char *request_id,
			  const char *trace);
	/* Send what is still queued until deadline_ms at the latest, then free self. */
	void (*stop)(void *self, int64_t deadline_ms);
};

#define SINK_SET_MAX 8

/* The exporters of one process, in the order they are told things. Caller-allocated. */
struct sink_set {
	struct {
		const struct sink_ops *ops;
		void *self;
	} sinks[SINK_SET_MAX];
	size_t n;
};

/* Add a sink (ops and self stay the caller's until stop). -ENOSPC when the set is full. */
int sink_set_add(struct sink_set *s, const struct sink_ops *ops, void *self);
/* start every sink; 0, or the first failure (the others are started all the same). */
int sink_set_start(struct sink_set *s);
void sink_set_reports(struct sink_set *s, struct invocation_report *const *items, size_t n);
void sink_set_flush(struct sink_set *s, int64_t deadline_ms);
/* Hand OTLP-encoded spans to the sinks that take them: how many took them (*able: whether
 * any sink takes such spans at all, now or later; nspans 0 only asks that). */
size_t sink_set_otlp_spans(struct sink_set *s, const void *data, size_t n, size_t nspans,
			   bool *able);
void sink_set_renew(struct sink_set *s, const char *instance);
/* Whether any sink takes a cold start's timeline (it is analysed only then). */
bool sink_set_wants_coldstart(const struct sink_set *s);
void sink_set_coldstart(struct sink_set *s, const struct cs_report *r, const char *request_id,
			const char *trace);
/* Stop every sink by deadline_ms and empty the set: a second stop does nothing. */
void sink_set_stop(struct sink_set *s, int64_t deadline_ms);

#endif
