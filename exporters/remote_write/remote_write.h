/*
 * Prometheus remote_write 1.0: the registry's series pushed as a protobuf WriteRequest
 * (protobuf-c), snappy-compressed, by HTTP POST with Content-Encoding: snappy and
 * X-Prometheus-Remote-Write-Version: 0.1.0, basic or bearer auth. Pushes never block the
 * caller: remote_write_push() only asks; a sender thread takes the snapshot, encodes and
 * sends it (pushes asked for meanwhile coalesce into its next one: the series are
 * cumulative), retries 5xx, 429 and network errors with backoff, drops 4xx answers, and
 * counts everything in the registry.
 * An exporter: it knows the registry, not where the metrics come from.
 */
#ifndef VIGIL_REMOTE_WRITE_H
#define VIGIL_REMOTE_WRITE_H

#include <stdbool.h>
#include <stddef.h>

#include "../../agent/core/metrics.h"
#include "../../agent/core/sink.h"

/* The exporter's own settings (the remote_write_* keys). Strings are borrowed, "" = unset. */
struct remote_write_options {
	const char *url;		/* http[s]://HOST[:PORT]/PATH; "" = no pushing */
	const char *ca_file;		/* "" = the system's bundle */
	bool tls_skip_verify;
	long timeout_ms;
	const char *bearer_token;	/* wins over username/password */
	const char *username, *password;
	long retries;
	long interval_ms;		/* one push per interval at most */
};

struct remote_write;

/* NULL without a url (err ""), or with err saying why it cannot push. */
struct remote_write *remote_write_start(const struct remote_write_options *o,
					struct metric_registry *r, char *err, size_t err_len);
/* Ask for a push of every series (taken by the sender thread). Any thread; never blocks. */
void remote_write_push(struct remote_write *w);
/* Push what is queued for at most deadline_s more seconds, then stop and free. */
void remote_write_stop(struct remote_write *w, double deadline_s);

/* remote_write as a sink: its thread starts at the first flush (never on the init path; a
 * failure is said once), each flush asks for a push, stop sends what is queued until the
 * deadline. o's strings must outlive the sink. NULL when out of memory. */
extern const struct sink_ops remote_write_sink_ops;
void *remote_write_sink_new(const struct remote_write_options *o, struct metric_registry *r);

#endif
