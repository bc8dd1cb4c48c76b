/*
 * The Prometheus exporter: renders the metric registry as text format 0.0.4 or
 * OpenMetrics 1.0, and serves it over HTTP with libmicrohttpd.
 */
#ifndef VIGIL_PROMETHEUS_H
#define VIGIL_PROMETHEUS_H

#include <stddef.h>

#include "../../agent/util/buf.h"
#include "../../agent/core/metrics.h"
#include "../../agent/core/sink.h"

enum prom_format { PROM_TEXT, PROM_OPENMETRICS };

#define PROM_TEXT_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define PROM_OPENMETRICS_CONTENT_TYPE "application/openmetrics-text; version=1.0.0; charset=utf-8"
#define PROM_ACCEPT_MAX 4096	/* longer Accept headers are read up to here */

/* The format an Accept header asks for: OpenMetrics when it ranks above text. */
enum prom_format prom_negotiate(const char *accept);

/* Append every family of the registry to out. Runs the registry's collectors.
 * 0, or -ENOMEM when out could not grow. */
int prom_render(struct metric_registry *r, enum prom_format fmt, struct buf *out);

/* Escape a label value (backslash, double quote, newline; invalid UTF-8 becomes U+FFFD). */
void prom_escape_label(struct buf *out, const char *s);
/* Format a sample value: integers plainly, NaN, +Inf, -Inf, else the shortest round trip. */
void prom_format_value(struct buf *out, double v);

struct prom_server_config {
	const char *listen;		/* "HOST:PORT"; port 0 picks a free one */
	unsigned max_connections;
	unsigned connection_timeout_s;
	size_t connection_memory;	/* per connection: bounds header size */
	const char *token;		/* bearer token for /metrics, "" = none */
};

struct prom_server;

/* Start serving r. NULL (with a log line) when the address cannot be used. */
struct prom_server *prom_server_start(struct metric_registry *r,
				      const struct prom_server_config *cfg);
/* The port actually bound. */
unsigned prom_server_port(const struct prom_server *s);
void prom_server_stop(struct prom_server *s);
/* prom_server_start, and "listening on HOST:PORT" logged once it listens. */
struct prom_server *prom_endpoint_start(struct metric_registry *r,
					const struct prom_server_config *cfg);

/* The endpoint as a sink: it listens from start (once init is over: loading libmicrohttpd
 * costs about 2 ms) until stop; the registry is its only input. cfg's strings are borrowed.
 * NULL when out of memory. */
extern const struct sink_ops prom_sink_ops;
void *prom_sink_new(struct metric_registry *r, const struct prom_server_config *cfg);

#endif
