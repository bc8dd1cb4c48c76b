/*
 * The function's own OTLP telemetry (its SDK exports to vigil on loopback), taken in: the
 * transport-free part shared by OTLP/HTTP (otlp_http.c) and OTLP/gRPC (otlp_grpc.c), for
 * protobuf bodies (JSON bodies are turned into protobuf first, otlp_json.c).
 *  - traces: each span joined to its invocation (its faas.invocation_id attribute, else the
 *    invocation whose trace it shares, else — one invocation at a time only — the one
 *    running when it began), which it is given as faas.invocation_id; a span of the invocation's trace
 *    whose parent is none or the caller's becomes a child of vigil's invoke span; vigil's
 *    resource attributes are added under the SDK's (the SDK's win); handed to the sinks
 *    that take OTLP spans (the OTLP exporter).
 *  - logs: joined as spans are; each record a log line of the function's (a JSON object: time, level, message,
 *    requestId, traceId, spanId, its attributes), into the segments, shipped from there.
 *  - metrics: gauges, sums and histograms into the registry (core/custom.h); exponential
 *    histograms and summaries are refused and counted.
 * Everything is taken from memory at once: the caller answers before anything leaves. Spans
 * and log records that may belong to an invocation the extension has not heard of yet are
 * held (on the loop's timers, bounded) until it has, then taken.
 * A source: it knows the core, not the exporters.
 */
#ifndef VIGIL_OTLP_IN_H
#define VIGIL_OTLP_IN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../core/custom.h"
#include "../core/logpipe.h"
#include "../core/metrics.h"
#include "../core/sink.h"
#include "../core/tracker.h"
#include "../lib/loop.h"
#include "../util/buf.h"

enum otlp_signal { OTLP_TRACES, OTLP_LOGS, OTLP_METRICS, OTLP_SIGNALS };

struct otlp_in_options {
	struct custom_metrics *custom;	/* metrics (NULL: refused) */
	struct sink_set *sinks;		/* spans (NULL: refused) */
	struct tracker *tracker;	/* joins (NULL: none) */
	/* The log pipe now (it opens late, after init): NULL when there is none. */
	struct log_pipe *(*log_pipe)(void *arg);
	void *log_pipe_arg;
	const uint8_t *resource;	/* vigil's Resource message, merged under the SDK's */
	size_t resource_len;
	bool concurrent;		/* invocations overlap: join by attribute and trace only */
	/* The loop the receivers run on: requests whose joins must wait are held on its timers
	 * (NULL: nothing held, joined as things stand). */
	struct loop *loop;
	const char *function_name, *function_version;
};

/* What a request came to. */
struct otlp_in_result {
	int status;			/* 0 taken, -1 undecodable, -2 no room now (retry) */
	int64_t rejected;		/* items refused (partial success) */
	char message[160];		/* why (for the error or the partial success) */
};

struct otlp_in;

struct otlp_in *otlp_in_new(const struct otlp_in_options *o, struct metric_registry *r);
void otlp_in_free(struct otlp_in *in);

/* An Export*ServiceRequest's protobuf bytes. */
void otlp_in_take(struct otlp_in *in, enum otlp_signal sig, const uint8_t *p, size_t n,
		  struct otlp_in_result *res);
/* The receivers stop: what is held is taken now, as things stand, and nothing is held any
 * more. On the loop's thread. */
void otlp_in_flush(struct otlp_in *in);
/* The Export*ServiceResponse for res (empty, or its partial_success), as protobuf. */
void otlp_in_response(const struct otlp_in_result *res, struct buf *out);
/* A google.rpc.Status (code, message) as protobuf: OTLP/HTTP's error body. */
void otlp_in_status(int code, const char *message, struct buf *out);
/* Count a request refused before it was read (its transport's reason). */
void otlp_in_count(struct otlp_in *in, enum otlp_signal sig, const char *outcome);

/* gzip (or zlib) data inflated into out, at most max bytes: 0, -1 when it is not gzip, -2 when
 * it inflates past max. */
int otlp_in_gunzip(const void *data, size_t n, size_t max, struct buf *out);

/* JSON (OTLP/JSON: lowerCamelCase keys, hex ids, 64-bit integers as strings or numbers, enums
 * as integers) turned into the same message's protobuf (otlp_json.c). 0, or -1 with why. */
int otlp_json_to_pb(enum otlp_signal sig, const char *json, size_t n, struct buf *out,
		    char *why, size_t why_len);

#endif
