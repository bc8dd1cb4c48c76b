/*
 * `vigil extension`: vigil inside Lambda as an external extension. The wiring layer
 * (agent/cmd/extension.c) makes the registry and the sinks, and may put the Runtime API
 * proxy on the extension's loop before it registers.
 */
#ifndef VIGIL_EXTENSION_H
#define VIGIL_EXTENSION_H

#include <stdbool.h>
#include <stddef.h>

#include "../core/emf_in.h"
#include "../core/metrics.h"
#include "../core/segment.h"
#include "../core/sink.h"
#include "../core/tracker.h"
#include "../lib/loop.h"

/* When finished reports are exported: adaptive (invocation N's while the environment is
 * thawed for N+1), end (before each /next), periodic (every period seconds). */
enum flush_kind { FLUSH_ADAPTIVE, FLUSH_END, FLUSH_PERIODIC };

/* Where vigil-wrapper has vigil-preload.so write the runtime's cold-start record. */
#define EXTENSION_COLDSTART_FILE "/tmp/vigil-coldstart.jsonl"

struct extension_options {
	const char *name;		/* the extension's name: its file name */
	const char *runtime_api;	/* AWS_LAMBDA_RUNTIME_API, HOST:PORT */
	const char *telemetry_listen;	/* the telemetry listener's HOST:PORT */
	long telemetry_max_items, telemetry_max_bytes, telemetry_timeout_ms;
	enum flush_kind flush;
	double period;			/* seconds, FLUSH_PERIODIC */
	const char *emf_namespace;	/* vigil's own EMF lines are known by it */
	bool logs_enabled;
	struct segment_writer_options logs;	/* identity: set to the function's name */
	size_t log_queue_bytes;
	struct tracker_prices prices;
	long memory_mb;			/* AWS_LAMBDA_FUNCTION_MEMORY_SIZE */
	struct emf_in *emf;		/* EMF in the function's lines into the registry, or NULL */
	const char *init_type;		/* AWS_LAMBDA_INITIALIZATION_TYPE (NULL: on-demand) */
	double managed_flush_s;		/* Managed Instances: the export timer */
	unsigned tenant_label_max;	/* 0: no tenant label */
	/* The cold-start record vigil-preload.so writes when vigil-wrapper preloads it (the
	 * setting coldstart): taken into the log segments with the extension's own phases and
	 * the platform's init once the first invocation's report is in. NULL: off. */
	const char *coldstart_file;
	/* Called on the listener thread with its loop once init is over (where the sinks
	 * start): the wiring's receivers start there. NULL: none. */
	void (*on_start)(void *arg, struct loop *l);
	void *on_start_arg;
	/* Called on the listener thread as it stops (after on_start; the sinks and the log pipe
	 * still take things), with on_start_arg. NULL: none. */
	void (*on_stop)(void *arg);
};

struct extension;

/* An extension that reports into r and exports to sinks (both the caller's, to outlive it;
 * the extension stops the sinks). o's strings are borrowed. NULL when out of memory or
 * runtime_api is not HOST:PORT (said). */
struct extension *extension_new(const struct extension_options *o, struct metric_registry *r,
				struct sink_set *sinks);
/* The loop of the listener thread (not running before extension_run). */
struct loop *extension_loop(struct extension *e);
/* Register with the Extensions API and make the tracker. 0, or -1 (said). */
int extension_register(struct extension *e);
/* The register answer's accountId ("" when it gave none). */
const char *extension_account_id(struct extension *e);
/* The log pipe of the function's lines (opened now if due; NULL without segments). The
 * listener thread's: for the receivers on its loop. */
struct log_pipe *extension_log_pipe(struct extension *e);
/* The function's name and version (the register answer's). */
const char *extension_function_name(struct extension *e);
const char *extension_function_version(struct extension *e);
/* The tracker, once registered. */
struct tracker *extension_tracker(struct extension *e);
/* Listen, subscribe, and serve events until SHUTDOWN; the sinks are stopped and the listener
 * thread is joined when it returns. Exit status for main(). */
int extension_run(struct extension *e);
/* Free what extension_new made. */
void extension_destroy(struct extension *e);

/* An Extensions API event (GET event/next's body), read. */
struct extension_event {
	bool invoke, shutdown;
	int64_t deadline_ms;		/* 0: none given */
	char request_id[64];
	char trace[256];
	char reason[64];		/* shutdownReason */
};
/* 0, or -1 when body is no event (no eventType). */
int extension_parse_event(const char *body, size_t len, struct extension_event *e);
/* The register answer's function name and version (the environment's name, or "unknown",
 * and "$LATEST" when it has none) and accountId ("" when it has none). */
void extension_parse_register(const char *body, size_t len, char *function_name, size_t fn_len,
			      char *version, size_t v_len, char *account, size_t a_len);

#endif
