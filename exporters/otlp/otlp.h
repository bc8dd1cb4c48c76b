/*
 * OTLP/HTTP export (protobuf bodies) of all three signals, as one sink:
 *  - logs: shipped from the log segments on disk (a cursor per segment, kept in the log
 *    folder, moved only once the backend acknowledged: a SIGKILL, a restart or the next thaw
 *    resumes there; at least once);
 *  - traces: an `invoke` span per finished invocation (children from its platform spans and
 *    the extensions' time after the response), an `init` span on cold starts;
 *  - metrics: the registry (counters as cumulative monotonic sums, gauges, histograms with
 *    their explicit buckets).
 * One sender thread does everything (encoding, compression, POSTs, retries): the caller's
 * thread only hands over reports and asks. Retries as the OTLP specification says: 429, 502,
 * 503, 504 and connection errors, exponential backoff with jitter, Retry-After honoured.
 * Messages are written with core/pbwire.h, field numbers from the official .proto files
 * (tests decode them with the official bindings).
 * An exporter: it knows the core (registry, reports, segments), not the sources.
 */
#ifndef VIGIL_OTLP_H
#define VIGIL_OTLP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../../agent/core/metrics.h"
#include "../../agent/core/segment.h"
#include "../../agent/core/sink.h"
#include "../../agent/util/buf.h"

struct invocation_report;

/* Where vigil runs: the resource of everything it exports (semantic conventions' names). */
struct otlp_resource {
	bool aws;			/* cloud.provider=aws, cloud.platform=aws_lambda */
	char region[64];		/* cloud.region */
	char account_id[32];		/* cloud.account.id: the registration's accountId */
	char function_name[128];	/* faas.name */
	char function_version[64];	/* faas.version */
	char instance[256];		/* faas.instance: the log stream name (one environment) */
	long memory_mb;			/* faas.max_memory (in bytes on the wire), 0 unknown */
	char service_name[128];		/* service.name ("" = the function's name) */
	char log_group[256], log_stream[256];	/* aws.log.group.names, aws.log.stream.names */
	char arch[16];			/* host.arch: amd64 | arm64 */
	char attributes[1024];		/* OTEL_RESOURCE_ATTRIBUTES: key=value,… (percent-encoded) */
};

enum otlp_compression { OTLP_GZIP, OTLP_ZSTD, OTLP_NONE };

/* The exporter's own settings (the otlp_* keys, the standard OTEL_* variables resolved by the
 * wiring). Strings are borrowed, "" = unset. */
struct otlp_options {
	const char *logs_url, *traces_url, *metrics_url;	/* full URLs; "" = signal off */
	const char *headers;		/* key=value,… (W3C baggage-like, percent-encoded) */
	enum otlp_compression compression;
	long timeout_ms;
	const char *ca_file;		/* "" = the system's bundle */
	long interval_ms;		/* metrics and log polling period (0: at flushes only) */
	bool traces_unsampled;		/* export traces whose header says Sampled=0 too */
	bool metrics_delta;		/* delta temporality (else cumulative) */
	const char *log_dir;		/* the log segments to ship ("" = no logs) */
	long batch_records;		/* log records per request at most */
	long queue_spans;		/* spans waiting to be sent at most (past it: dropped) */
	const struct otlp_resource *resource;	/* read at the sink's start */
};

/* --- encoding (otlp_encode.c) ----------------------------------------------------------- */

/* The next item of a key=value,… list (OTEL_RESOURCE_ATTRIBUTES, OTEL_EXPORTER_OTLP_HEADERS):
 * its key and value trimmed and percent-decoded into k and v (cut to their sizes), *has_eq
 * false for an item without '='; *p moved past it. false at the list's end. */
bool otlp_list_next(const char **p, char *k, size_t kn, char *v, size_t vn, bool *has_eq);
/* A Resource message's bytes. */
void otlp_encode_resource(struct buf *b, const struct otlp_resource *r);
/* One LogRecord (as field 2 of ScopeLogs) appended to b. */
void otlp_encode_log(struct buf *b, const log_record *r);
/* The spans of a finished invocation (as fields 2 of ScopeSpans) appended to b: invoke, its
 * children and, on a cold start, init. The number of spans, 0 when the invocation is not
 * sampled (the X-Ray header's Sampled=0 and !unsampled). */
size_t otlp_encode_spans(struct buf *b, const struct invocation_report *r, bool unsampled);
/* A cold start's timeline as spans (fields 2 of ScopeSpans) appended to b: its top packages
 * and its network calls, children of the init span of request_id's invocation (in the trace
 * its header names, or the one made of its request id). The number of spans (0: unsampled). */
struct cs_report;
size_t otlp_encode_coldstart(struct buf *b, const struct cs_report *r, const char *request_id,
			     const char *trace, bool unsampled, unsigned top);
/* Delta temporality: what each counter and histogram was at the last export taken. */
struct otlp_delta;
struct otlp_delta *otlp_delta_new(void);
void otlp_delta_free(struct otlp_delta *d);
/* The export encoded last was taken by the backend: its values are the next deltas' base. */
void otlp_delta_commit(struct otlp_delta *d);
/* The registry's metrics (as fields 2 of ScopeMetrics) appended to b; start_ns the time the
 * series began; delta: NULL for cumulative series, else deltas since the last commit. The
 * number of data points. */
size_t otlp_encode_metrics(struct buf *b, struct metric_registry *reg, uint64_t start_ns,
			   uint64_t now_ns, struct otlp_delta *delta);
/* An Export*ServiceRequest: one Resource*{resource, Scope*{scope vigil, items}}. */
void otlp_encode_request(struct buf *out, const struct buf *resource, const struct buf *items);
/* The same without the items: what comes before items_len bytes of them. */
void otlp_encode_request_head(struct buf *out, const struct buf *resource, size_t items_len);
/* head then body, compressed with c into out (gzip: zlib's fastest level, 1: twice the speed
 * of its default for 6 % more bytes; zstd: level 3; none: the two joined). 0, or -1 on
 * ENOMEM. */
int otlp_compress_parts(enum otlp_compression c, const void *head, size_t head_len,
			const void *body, size_t body_len, struct buf *out);
/* An Export*ServiceResponse's partial_success: the rejected count and its message. 0, or -1
 * when the bytes are not such a message. */
int otlp_parse_response(const uint8_t *p, size_t n, int64_t *rejected, char *msg,
			size_t msg_len);

/* --- the sink (otlp.c) ------------------------------------------------------------------- */

/* The sender thread starts at the first flush (never on the init path). o must outlive the
 * sink. NULL when out of memory. */
extern const struct sink_ops otlp_sink_ops;
void *otlp_sink_new(const struct otlp_options *o, struct metric_registry *r);

#endif
