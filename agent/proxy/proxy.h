/*
 * The Runtime API proxy: relays every byte between a runtime and the Runtime API unchanged
 * (headers, bodies, chunked transfer, response streaming, trailers), parsing both directions
 * only to observe: the time from /next delivery to the runtime's response or error, the
 * event and response sizes, the error type and message, and init time (to the first /next).
 */
#ifndef VIGIL_PROXY_H
#define VIGIL_PROXY_H

#include <stdint.h>

#include "../core/metrics.h"
#include "../core/tracker.h"
#include "../lib/loop.h"

struct proxy;

struct proxy_options {
	const char *listen;		/* HOST:PORT for the runtime */
	const char *upstream;		/* HOST:PORT of the Runtime API (or the next proxy) */
	double started_at;		/* loop_now() of the runtime's start, 0: the proxy's */
};

/* Listen and relay on loop l. Observations go to the registry (may be NULL) and, by request
 * id, to the tracker (may be NULL). NULL (logged) when it cannot listen. */
struct proxy *proxy_start(struct loop *l, const struct proxy_options *o,
			  struct metric_registry *r, struct tracker *t);
unsigned proxy_port(const struct proxy *p);
/* Join the observations to this tracker from now on (set before the loop runs). */
void proxy_set_tracker(struct proxy *p, struct tracker *t);
void proxy_stop(struct proxy *p);

/* For fuzzing: the relay's request and answer parsing (what it learns of invocations) over
 * two streams from memory, fed piece bytes at a time, with no sockets, metrics or tracker. */
void proxy_parse_buffer(const char *req, size_t n, const char *resp, size_t m, size_t piece);

#endif
