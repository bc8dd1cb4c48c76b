/*
 * `vigil extension`: register with the Extensions API, listen for and subscribe to the
 * Telemetry API, then block on /extension/event/next. Two threads: the main one speaks the
 * Extensions API and does nothing slow between an INVOKE and its next /next; the listener
 * thread takes telemetry batches into the invocation tracker and exports finished reports
 * (into the registry, then to the sinks it was given) while the environment is thawed.
 */
#include "extension.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <http_parser.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "../core/coldstart.h"
#include "../core/lambda_lines.h"
#include "../core/metrics.h"
#include "../core/logpipe.h"
#include "../core/tracker.h"
#include "../util/clock.h"
#include "../lib/http_client.h"
#include "../lib/http_server.h"
#include "../lib/loop.h"
#include "../util/ids.h"
#include "../util/log.h"
#include "batch.h"
#include "resources.h"

#define EXT "/2020-01-01/extension"
#define SHUTDOWN_MARGIN_MS 300
#define SHUTDOWN_QUIET_MS 100
#define BATCH_WAIT_S 0.5	/* the longest a batch waits for room in the log queue */

struct extension {
	const struct extension_options *o;
	char name[128];
	char id[64];
	char account_id[32];		/* the register answer's accountId, or "" */
	struct http_client api;
	enum flush_kind flush;
	double period;
	struct metric_registry *registry;
	struct tracker *tracker;
	struct loop *loop;
	struct http_server *listener;
	unsigned listener_port;
	int wake_fd;			/* eventfd: main thread → listener thread */
	pthread_t thread;
	bool thread_started;
	_Atomic bool stopping;
	bool started;			/* the sinks and on_start (the listener thread's) */
	pthread_mutex_t export_lock;
	bool telemetry;			/* subscribed (not a local emulator's "not supported") */
	struct metric_series *post_runtime, *batches_ok, *batches_bad, *records_bad,
		*records_unknown, *own_lines, *dropped_platform, *batches_unreadable;
	struct metric_series *reports_exported;
	_Atomic int64_t last_batch_ms;	/* when the last telemetry batch came (epoch ms) */
	_Atomic bool in_batch;		/* one is being taken in */
	struct sink_set *sinks;		/* started by the listener thread, after init */
	struct log_pipe *logs;		/* the records of the telemetry, as segments */
	char function_name[128], version[64];
	_Atomic bool sinks_due;
	struct loop_timer period_timer;	/* the next periodic export */
	bool managed;			/* Lambda Managed Instances */
	char env_id[40];		/* this environment's identity (new after a restore) */
	unsigned restores_seen;
	/* Managed instances: the environment's CPU and memory (utilisation and its max) */
	struct metric_series *env_cpu, *env_cpu_max, *env_mem, *env_mem_max, *env_mem_bytes;
	struct env_usage env_last;
	double env_cpu_peak, env_mem_peak;
	_Atomic bool logs_due;		/* open the log pipe on the listener thread */
	/* the cold-start record (o->coldstart_file): this extension's own init */
	uint64_t cs_start_ns, cs_register_ns, cs_ready_ns;	/* epoch ns */
	int cs_fd;			/* the memfd the record's path leads to (-1: a file) */
};

/* The log pipe looks through the log folder (a dictionary, retention): not on the init path.
 * The listener thread opens it after the main thread's first event/next, or at the first
 * batch, whichever comes first (both run on that thread). */
static void open_logs_if_due(struct extension *a)
{
	if (a->logs_due) {
		a->logs_due = false;
		struct segment_writer_options so = a->o->logs;

		so.identity = a->function_name;
		a->logs = log_pipe_open(&so, a->o->log_queue_bytes, a->registry);
		log_pipe_set_emf(a->logs, a->o->emf);
	}
}

struct log_pipe *extension_log_pipe(struct extension *e)
{
	open_logs_if_due(e);
	return e->logs;
}

const char *extension_function_name(struct extension *e)
{
	return e->function_name;
}

const char *extension_function_version(struct extension *e)
{
	return e->version;
}

/* --- export ------------------------------------------------------------------------------ */

/* A SnapStart restore: everything made before the snapshot (this identity, the open segment,
 * the sinks' connections and instance labels) is the same in every environment restored
 * from it. A new identity from getrandom(2) (never from state made during init), and the
 * sinks and the log pipe take it. Under export_lock. */
static void renew_if_restored(struct extension *a)
{
	unsigned n = tracker_restores(a->tracker);
	char was[sizeof(a->env_id)];

	if (n == a->restores_seen)
		return;
	a->restores_seen = n;
	memcpy(was, a->env_id, sizeof(was));
	random_hex(a->env_id, 16);
	log_info("extension", "restored from a snapshot: environment %s (was %s)", a->env_id,
		 was);
	sink_set_renew(a->sinks, a->env_id);
	log_pipe_renew(a->logs);
}

/* Managed instances: the environment's CPU and memory use since the last sample. */
static void sample_environment(struct extension *a)
{
	struct env_usage u;

	if (!a->env_cpu || resources_environment(&u) < 0)
		return;
	if (a->env_last.cpu_total && u.cpu_total > a->env_last.cpu_total) {
		double cpu = (double)(u.cpu_busy - a->env_last.cpu_busy) /
			     (double)(u.cpu_total - a->env_last.cpu_total);

		if (cpu > a->env_cpu_peak)
			a->env_cpu_peak = cpu;
		metric_set(a->env_cpu, cpu);
		metric_set(a->env_cpu_max, a->env_cpu_peak);
	}
	if (u.mem_total) {
		double mem = (double)u.mem_used / (double)u.mem_total;

		if (mem > a->env_mem_peak)
			a->env_mem_peak = mem;
		metric_set(a->env_mem, mem);
		metric_set(a->env_mem_max, a->env_mem_peak);
		metric_set(a->env_mem_bytes, (double)u.mem_used);
	}
	a->env_last = u;
}

/* Export every finished report: into the registry, then to the sinks. Any thread; one at a
 * time. */
static void export_now(struct extension *a)
{
	struct resources res;
	size_t n;

	pthread_mutex_lock(&a->export_lock);
	renew_if_restored(a);
	if (!tracker_has_done(a->tracker)) {
		pthread_mutex_unlock(&a->export_lock);
		return;
	}
	resources_sample(&res);
	tracker_set_resources(a->tracker, res.cpu_user_s, res.cpu_system_s, res.net_rx_bytes,
			      res.net_tx_bytes, res.tmp_used_bytes, res.fds, res.threads);
	n = tracker_export(a->tracker, a->sinks, clock_epoch_ms() + 1000);
	metric_add(a->reports_exported, (double)n);
	pthread_mutex_unlock(&a->export_lock);
}

/* --- the telemetry listener ---------------------------------------------------------------- */

/* A batch's records as log records: parsed on the log pipe's writer thread (which runs when
 * a CPU is idle), not here on the listener thread, whose time counts in the invocation. */
struct deferred_batch {
	struct extension *a;
	char current[64];	/* the request in flight when the batch arrived */
	size_t len;
	char *body;		/* the request's own, taken from it (no copy) */
};

static void run_batch_log(void *arg)
{
	struct deferred_batch *d = arg;

	telemetry_batch_log(d->a->logs, d->current, d->body, d->len, d->a->o->emf_namespace,
			    d->a->function_name, d->a->version);
	free(d->body);
	free(d);
}

static void defer_batch_log(struct extension *a, struct http_request *req, size_t records)
{
	struct deferred_batch *d;

	if (!a->logs)
		return;
	d = malloc(sizeof(*d));
	if (!d)
		return;
	d->a = a;
	tracker_current(a->tracker, d->current, sizeof(d->current));
	d->body = http_request_take_body(req, &d->len);
	/* The writer behind: the platform waits a little for the answer rather than the lines
	 * dropped (well inside its delivery timeout). */
	if (!d->body || log_pipe_defer_wait(a->logs, run_batch_log, d, d->len, records,
						  BATCH_WAIT_S) < 0) {
		free(d->body);
		free(d);
	}
}

/* Without log segments (logs off, or a folder that cannot be used) nothing reads the
 * function's lines on the writer thread: EMF documents in a batch are looked for here. Only a
 * batch that holds "_aws" is parsed. */
static void emf_without_logs(struct extension *a, const char *body, size_t len)
{
	json_t *batch, *ev;
	size_t i;

	if (a->logs || !a->o->emf || !memmem(body, len, "_aws", 4))
		return;
	batch = json_loadb(body, len, 0, NULL);
	json_array_foreach(batch, i, ev) {
		json_t *rec = json_object_get(ev, "record");
		const char *type = json_string_value(json_object_get(ev, "type"));

		if (!type || strcmp(type, "function") != 0)
			continue;
		if (json_is_string(rec)) {
			emf_in_line(a->o->emf, json_string_value(rec), json_string_length(rec));
		} else if (json_is_object(rec)) {
			char *text = json_dumps(rec, JSON_COMPACT);

			if (text)
				emf_in_line(a->o->emf, text, strlen(text));
			free(text);
		}
	}
	json_decref(batch);
}

static void take_batch(struct extension *a, struct http_request *req);

/* --- the cold-start record ------------------------------------------------------------------ */

/* The record's path leads to a memfd of the extension's (a symlink to /proc/PID/fd/N, which
 * the runtime, the same user, may open): the preload library maps memory, not a file of
 * /tmp's disk, whose journalled page faults cost a Python init 9 % (measured; memory: 2 %).
 * Without a memfd or the link, the path is a plain file the library makes. */
static void coldstart_file_prepare(struct extension *a)
{
	char target[64];
	int fd;

	unlink(a->o->coldstart_file);
	fd = memfd_create("vigil-coldstart", MFD_CLOEXEC);
	if (fd < 0)
		return;
	snprintf(target, sizeof(target), "/proc/%d/fd/%d", (int)getpid(), fd);
	if (symlink(target, a->o->coldstart_file) < 0) {
		log_info("extension", "coldstart: %s: %s (the record goes to a plain file)",
			 a->o->coldstart_file, strerror(errno));
		close(fd);
		return;
	}
	a->cs_fd = fd;
}

struct cs_job {
	struct log_pipe *pipe;
	struct sink_set *sinks;
	int fd;				/* the extension's memfd of the record (-1: the file) */
	char file[256];
	char id[40];
	char function_name[128];
	char request_id[64], trace[192];	/* the invocation after the init */
	struct buf lines;
};

#define COLDSTART_READ_MAX (64u << 20)

/* On the log writer's thread: the preload library's record, then the extension's lines. */
static void write_coldstart(void *arg)
{
	struct cs_job *j = arg;
	struct buf text;
	int rc;

	buf_init(&text);
	{
		int fd = j->fd >= 0 ? j->fd : open(j->file, O_RDONLY | O_CLOEXEC);
		struct stat st;

		rc = fd < 0 ? -errno : coldstart_read_fd(fd, &text, COLDSTART_READ_MAX);
		/* (a memfd the runtime never mapped: it is empty, there was no record) */
		if (j->fd >= 0 && fstat(fd, &st) == 0 && st.st_size == 0)
			rc = -ENOENT;
		if (fd >= 0 && j->fd < 0)
			close(fd);
	}
	if (rc < 0 && rc != -ENOENT)
		log_warn("extension", "coldstart: %s: %s", j->file, strerror(-rc));
	else if (rc == -ENOENT)
		log_info("extension", "coldstart: no record at %s (is AWS_LAMBDA_EXEC_WRAPPER "
			 "/opt/vigil-wrapper?): the extension's own phases only", j->file);
	coldstart_keep(j->pipe, j->sinks, j->id, j->function_name, &text, &j->lines,
		       j->request_id, j->trace);
	if (rc == 0)
		unlink(j->file);	/* (kept in the segments now; a link: only the link) */
	buf_free(&text);
	buf_free(&j->lines);
	free(j);
}

/* Once the cold start's invocation has its report: the record to the log segments. The
 * listener thread's (or the main thread's once the listener is joined). */
static void hand_coldstart(struct extension *a)
{
	struct tracker_cold_start c;
	struct cs_job *j;

	if (!a->o->coldstart_file || !a->logs || !a->tracker ||
	    !tracker_take_cold_start(a->tracker, &c))
		return;
	j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->pipe = a->logs;
	j->sinks = a->sinks;
	j->fd = a->cs_fd;	/* (the extension's until it exits: never closed before) */
	snprintf(j->request_id, sizeof(j->request_id), "%s", c.request_id);
	snprintf(j->trace, sizeof(j->trace), "%s", c.trace_id);
	snprintf(j->file, sizeof(j->file), "%s", a->o->coldstart_file);
	snprintf(j->id, sizeof(j->id), "%s", a->env_id);
	snprintf(j->function_name, sizeof(j->function_name), "%s", a->function_name);
	buf_init(&j->lines);
	if (a->cs_ready_ns > a->cs_start_ns) {
		char name[160];

		snprintf(name, sizeof(name), "extension %.100s", a->name);
		coldstart_phase_line(&j->lines, a->cs_start_ns, name, "extension",
				     a->cs_ready_ns - a->cs_start_ns,
				     a->cs_register_ns > a->cs_start_ns ?
					     (int64_t)(a->cs_register_ns - a->cs_start_ns) : -1);
	}
	if (c.start_ms > 0 && c.duration_ms >= 0)
		coldstart_phase_line(&j->lines, (uint64_t)c.start_ms * 1000000u, "first invocation",
				     "invoke", (uint64_t)(c.duration_ms * 1e6), -1);
	if (c.init_start_ms > 0)
		coldstart_init_line(&j->lines, (uint64_t)c.init_start_ms * 1000000u,
				    (uint64_t)(c.init_ms * 1e6), c.init_type[0] ? c.init_type :
				    "on-demand", "success", "preload", 0);
	if (log_pipe_defer(a->logs, write_coldstart, j, j->lines.len + 4096) < 0) {
		buf_free(&j->lines);
		free(j);
	}
}

/* One POSTed batch: taken in, then acknowledged (Lambda waits for the answer). */
static void on_batch(void *arg, struct http_request *req)
{
	struct extension *a = arg;

	atomic_store(&a->last_batch_ms, clock_epoch_ms());
	atomic_store(&a->in_batch, true);
	take_batch(a, req);
	/* (quiet counts from the answer: the platform sends its next batch after it, and a
	 * batch may have waited for the writer up to BATCH_WAIT_S) */
	atomic_store(&a->last_batch_ms, clock_epoch_ms());
	atomic_store(&a->in_batch, false);
	if (a->flush == FLUSH_ADAPTIVE)
		export_now(a);
	hand_coldstart(a);
}

static void take_batch(struct extension *a, struct http_request *req)
{
	struct batch_counts counts;

	if (req->method != HTTP_POST) {
		http_respond(req, 405, NULL, NULL, 0);
		metric_inc(a->batches_bad);
		return;
	}
	if (req->body_too_large) {
		http_respond(req, 413, NULL, NULL, 0);
		metric_inc(a->batches_bad);
		return;
	}
	if (telemetry_batch_ingest(a->tracker, req->body, req->body_len, a->o->emf_namespace,
				   &counts) < 0) {
		/* Not a JSON array at all: taken and counted. A 400 would make the platform
		 * retry and then drop the batch whole, reports included. */
		http_respond(req, 200, NULL, NULL, 0);
		metric_inc(a->batches_unreadable);
		metric_inc(a->records_bad);
		return;
	}
	/* All of it before answering: http_respond frees the request and its body, and what
	 * the sender sees answered must already be counted. */
	open_logs_if_due(a);
	emf_without_logs(a, req->body, req->body_len);
	defer_batch_log(a, req, counts.records);
	metric_inc(a->batches_ok);
	metric_add(a->records_bad, counts.malformed);
	metric_add(a->records_unknown, counts.unknown);
	metric_add(a->own_lines, counts.own);
	metric_add(a->dropped_platform, (double)counts.platform_dropped);
	http_respond(req, 200, NULL, NULL, 0);
}

/* The sinks' listeners and threads (the Prometheus endpoint: loading libmicrohttpd costs
 * about 2 ms) start here, in the listener thread, once the main thread waits on its first
 * event/next (init is over). */
static void start_sinks(struct extension *a)
{
	pthread_mutex_lock(&a->export_lock);
	sink_set_start(a->sinks);
	pthread_mutex_unlock(&a->export_lock);
	if (a->o->on_start)
		a->o->on_start(a->o->on_start_arg, a->loop);
	a->started = true;
}

static void on_wake(void *arg, uint32_t events)
{
	struct extension *a = arg;
	uint64_t v;

	(void)events;
	if (read(a->wake_fd, &v, sizeof(v)) < 0)
		return;
	open_logs_if_due(a);
	if (a->sinks_due) {
		a->sinks_due = false;
		start_sinks(a);
	}
	if (a->stopping) {
		if (a->started && a->o->on_stop)
			a->o->on_stop(a->o->on_start_arg);
		loop_stop(a->loop);
	}
	else if (a->flush == FLUSH_ADAPTIVE)
		export_now(a);
}

static void on_period(void *arg)
{
	struct extension *a = arg;

	sample_environment(a);
	export_now(a);
	loop_timer_start(a->loop, &a->period_timer, loop_now() + (a->flush == FLUSH_PERIODIC ? a->period : 1.0),
		      on_period, a);
}

static void *listener_thread(void *arg)
{
	struct extension *a = arg;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	loop_run(a->loop);
	return NULL;
}

static void wake(struct extension *a)
{
	uint64_t one = 1;

	if (write(a->wake_fd, &one, sizeof(one)) < 0)
		log_debug("extension", "wake: %s", strerror(errno));
}

/* --- the Extensions and Telemetry APIs ----------------------------------------------------- */

static int api_call(struct extension *a, const char *method, const char *path, const char *body,
		    struct http_response *resp, const char *const *extra)
{
	const char *headers[8];
	int n = 0, rc;

	if (a->id[0]) {
		headers[n++] = "Lambda-Extension-Identifier";
		headers[n++] = a->id;
	}
	for (int i = 0; extra && extra[i]; i++)
		headers[n++] = extra[i];
	headers[n] = NULL;
	rc = http_client_request(&a->api, method, path, headers, body, body ? strlen(body) : 0,
				 resp);
	if (rc < 0)
		log_error("extension", "%s %s: %s", method, path, strerror(-rc));
	return rc;
}

static int do_register(struct extension *a, char *function_name, size_t fn_len, char *version,
		       size_t v_len)
{
	const char *extra[] = { "Lambda-Extension-Name", a->name,
				"Lambda-Extension-Accept-Feature", "accountId",
				"Content-Type", "application/json", NULL };
	struct http_response resp;
	const char *id;

	/* Managed instances refuse INVOKE registration: SHUTDOWN only (invocations are known
	 * from the Telemetry API's platform.start and platform.report). */
	if (api_call(a, "POST", EXT "/register", a->managed ? "{\"events\":[\"SHUTDOWN\"]}" :
		     "{\"events\":[\"INVOKE\",\"SHUTDOWN\"]}", &resp, extra) < 0)
		return -1;
	id = http_response_header(&resp, "Lambda-Extension-Identifier");
	if (resp.status != 200 || !id) {
		log_error("extension", "register answered %d: %.200s", resp.status, resp.body);
		http_response_free(&resp);
		return -1;
	}
	snprintf(a->id, sizeof(a->id), "%s", id);
	extension_parse_register(resp.body, resp.body_len, function_name, fn_len, version, v_len,
				 a->account_id, sizeof(a->account_id));
	http_response_free(&resp);
	return 0;
}

void extension_parse_register(const char *body, size_t len, char *function_name, size_t fn_len,
			      char *version, size_t v_len, char *account, size_t a_len)
{
	json_t *root = json_loadb(body, len, 0, NULL);
	const char *fn = json_string_value(json_object_get(root, "functionName"));
	const char *ver = json_string_value(json_object_get(root, "functionVersion"));
	const char *acct = json_string_value(json_object_get(root, "accountId"));

	if (!fn)
		fn = getenv("AWS_LAMBDA_FUNCTION_NAME") ? getenv("AWS_LAMBDA_FUNCTION_NAME") : "unknown";
	snprintf(function_name, fn_len, "%s", fn);
	snprintf(version, v_len, "%s", ver ? ver : "$LATEST");
	snprintf(account, a_len, "%s", acct ? acct : "");
	json_decref(root);
}

int extension_parse_event(const char *body, size_t len, struct extension_event *e)
{
	json_t *ev = json_loadb(body, len, 0, NULL), *dl;
	const char *type = json_string_value(json_object_get(ev, "eventType"));
	const char *s;

	memset(e, 0, sizeof(*e));
	if (!type) {
		json_decref(ev);
		return -1;
	}
	e->shutdown = strcmp(type, "SHUTDOWN") == 0;
	e->invoke = strcmp(type, "INVOKE") == 0;
	dl = json_object_get(ev, "deadlineMs");
	/* (a number past int64's range, or negative, is no deadline: the cast would be UB) */
	e->deadline_ms = json_is_number(dl) && json_number_value(dl) > 0 &&
				 json_number_value(dl) < 9.2e18 ?
				 (int64_t)json_number_value(dl) : 0;
	if ((s = json_string_value(json_object_get(ev, "requestId"))) != NULL)
		snprintf(e->request_id, sizeof(e->request_id), "%s", s);
	if ((s = json_string_value(json_object_get(json_object_get(ev, "tracing"), "value"))))
		snprintf(e->trace, sizeof(e->trace), "%s", s);
	if ((s = json_string_value(json_object_get(ev, "shutdownReason"))) != NULL)
		snprintf(e->reason, sizeof(e->reason), "%s", s);
	json_decref(ev);
	return 0;
}

static void report_init_error(struct extension *a, const char *type)
{
	const char *extra[] = { "Lambda-Extension-Function-Error-Type", type, NULL };
	struct http_response resp;

	if (api_call(a, "POST", EXT "/init/error", "{}", &resp, extra) == 0)
		http_response_free(&resp);
}

/* Subscribe: schema 2025-01-29, falling back to 2022-12-13 on a 400. 0 subscribed, 1 not
 * supported here (local emulators), -1 refused. */
static int subscribe(struct extension *a)
{
	static const char *const schemas[] = { "2025-01-29", "2022-12-13" };
	const char *extra[] = { "Content-Type", "application/json", NULL };
	const struct extension_options *c = a->o;

	for (int i = 0; i < 2; i++) {
		struct http_response resp;
		char body[512];
		int status;

		snprintf(body, sizeof(body),
			 "{\"schemaVersion\":\"%s\",\"types\":[\"platform\",\"function\",\"extension\"],"
			 "\"buffering\":{\"maxItems\":%ld,\"maxBytes\":%ld,\"timeoutMs\":%ld},"
			 "\"destination\":{\"protocol\":\"HTTP\","
			 "\"URI\":\"http://sandbox.localdomain:%u\"}}",
			 schemas[i], c->telemetry_max_items, c->telemetry_max_bytes,
			 c->telemetry_timeout_ms, a->listener_port);
		if (api_call(a, "PUT", "/2022-07-01/telemetry", body, &resp, extra) < 0)
			return -1;
		status = resp.status;
		if (status == 202) {
			log_warn("extension", "the Telemetry API is not supported here: reports come "
				 "from Extensions API events alone");
			http_response_free(&resp);
			return 1;
		}
		if (status == 200) {
			http_response_free(&resp);
			return 0;
		}
		log_warn("extension", "telemetry subscription (%s) answered %d: %.200s", schemas[i],
			 status, resp.body);
		http_response_free(&resp);
		if (status != 400)
			return -1;
	}
	return -1;
}

static int start_listener(struct extension *a)
{
	struct http_server_limits limits = {
		.max_body = (size_t)a->o->telemetry_max_bytes * 2 + 64 * 1024,
		.max_header_bytes = 16 * 1024,
		.max_headers = 64,
		.max_connections = 16,	/* the idle longest make room for a new one */
		.idle_timeout = 60,
		.request_timeout = 10,
	};

	if (!a->loop)
		a->loop = loop_new();
	a->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!a->loop || a->wake_fd < 0)
		return -1;
	a->listener = http_server_new(a->loop, a->o->telemetry_listen, &limits, on_batch, a);
	if (!a->listener) {
		log_error("extension", "cannot listen for telemetry on %s: %s",
			  a->o->telemetry_listen, strerror(errno));
		return -1;
	}
	a->listener_port = http_server_port(a->listener);
	log_info("extension", "telemetry listener on %.*s:%u",
		 (int)(strrchr(a->o->telemetry_listen, ':') - a->o->telemetry_listen),
		 a->o->telemetry_listen, a->listener_port);
	loop_watch_fd(a->loop, a->wake_fd, EPOLLIN, on_wake, a);
	if (a->flush != FLUSH_END)
		loop_timer_start(a->loop, &a->period_timer, loop_now() + (a->flush == FLUSH_PERIODIC ? a->period : 1.0),
			      on_period, a);
	return 0;
}

/* The listener's thread starts once the first event/next is sent: the listening socket
 * already takes connections (Lambda delivers nothing before timeoutMs anyway), and making a
 * thread — with the log writer's and the metrics endpoint's that it starts — is then no
 * longer part of the init Lambda measures. */
static void spawn_listener(void *arg)
{
	struct extension *a = arg;

	if (!a->thread_started && pthread_create(&a->thread, NULL, listener_thread, a) == 0)
		a->thread_started = true;
}

static void register_agent_metrics(struct extension *a)
{
	struct metric_desc d;
	struct metric_family *f;

	d = (struct metric_desc){ .name = "vigil_agent_post_runtime_seconds",
				  .help = "vigil's own work between an INVOKE event and its next "
					  "/event/next (what it adds to Duration).",
				  .type = METRIC_HISTOGRAM, .unit = "seconds",
				  .buckets = metric_buckets_duration,
				  .nbuckets = metric_buckets_duration_len };
	a->post_runtime = metric_series_get(metric_register(a->registry, &d), NULL);
	d = (struct metric_desc){ .name = "vigil_telemetry_batches_total",
				  .help = "Telemetry API batches received, by result.",
				  .type = METRIC_COUNTER, .labels = { "result" } };
	f = metric_register(a->registry, &d);
	a->batches_ok = metric_with(f, "accepted");
	a->batches_bad = metric_with(f, "rejected");	/* not a POST, too large */
	a->batches_unreadable = metric_with(f, "unreadable");	/* taken, counted */
	d = (struct metric_desc){ .name = "vigil_logs_dropped_total",
				  .help = "Log lines dropped (queue_full: the writer fell behind; "
					  "platform: the Telemetry API said so in "
					  "platform.logsDropped) or cut (too_long: over 256 KiB).",
				  .type = METRIC_COUNTER, .labels = { "reason" } };
	a->dropped_platform = metric_with(metric_register(a->registry, &d), "platform");
	d = (struct metric_desc){ .name = "vigil_telemetry_records_ignored_total",
				  .help = "Telemetry records ignored, by reason: malformed (missing or "
					  "mistyped fields) or unknown_type.",
				  .type = METRIC_COUNTER, .labels = { "reason" } };
	f = metric_register(a->registry, &d);
	a->records_bad = metric_with(f, "malformed");
	a->records_unknown = metric_with(f, "unknown_type");
	d = (struct metric_desc){ .name = "vigil_telemetry_own_lines_total",
				  .help = "vigil's own output seen again in the extension stream "
					  "(skipped).",
				  .type = METRIC_COUNTER };
	a->own_lines = metric_series_get(metric_register(a->registry, &d), NULL);
	d = (struct metric_desc){ .name = "vigil_reports_exported_total",
				  .help = "Invocation reports exported.", .type = METRIC_COUNTER };
	a->reports_exported = metric_series_get(metric_register(a->registry, &d), NULL);
	if (a->managed) {
		static const struct {
			const char *name, *help;
		} g[] = {
			{ "vigil_environment_cpu_utilization_ratio",
			  "Managed instances: the environment's CPU in use over its CPUs, since the "
			  "last sample." },
			{ "vigil_environment_cpu_utilization_max_ratio",
			  "Managed instances: the most vigil_environment_cpu_utilization_ratio was." },
			{ "vigil_environment_memory_utilization_ratio",
			  "Managed instances: the environment's memory in use over its memory." },
			{ "vigil_environment_memory_utilization_max_ratio",
			  "Managed instances: the most vigil_environment_memory_utilization_ratio was." },
			{ "vigil_environment_memory_used_bytes",
			  "Managed instances: the environment's memory in use." },
		};
		struct metric_series **out[] = { &a->env_cpu, &a->env_cpu_max, &a->env_mem,
						 &a->env_mem_max, &a->env_mem_bytes };

		for (size_t k = 0; k < sizeof(g) / sizeof(g[0]); k++) {
			struct metric_desc gd = { .name = g[k].name, .help = g[k].help,
						  .type = METRIC_GAUGE };

			*out[k] = metric_series_get(metric_register(a->registry, &gd), NULL);
		}
		sample_environment(a);
	}
}

/* Let the listener thread go and wait for it. */
static void join_listener(struct extension *a)
{
	if (!a->thread_started)
		return;
	a->stopping = true;
	wake(a);
	pthread_join(a->thread, NULL);
	a->thread_started = false;
}

/* SHUTDOWN: wait (within the budget) for what is still open, then export everything. */
static void shut_down(struct extension *a, const struct extension_event *event)
{
	const char *reason = event->reason[0] ? event->reason : NULL;
	int64_t deadline = event->deadline_ms ? event->deadline_ms : clock_epoch_ms() + 2000;

	log_debug("extension", "SHUTDOWN (%s)", reason ? reason : "?");
	/* Until every invocation has its report and the platform has sent what it still had
	 * (its batches come back to back at a shutdown: a pause of SHUTDOWN_QUIET_MS means it
	 * is done), within the budget. */
	while (a->telemetry && clock_epoch_ms() < deadline - SHUTDOWN_MARGIN_MS &&
	       (tracker_open(a->tracker) > 0 || atomic_load(&a->in_batch) ||
		clock_epoch_ms() - atomic_load(&a->last_batch_ms) < SHUTDOWN_QUIET_MS))
		usleep(2000);
	join_listener(a);
	tracker_shutdown(a->tracker, reason);
	export_now(a);
	hand_coldstart(a);
	/* What is queued goes out while the budget allows. */
	/* Every line into the segments before the sinks go: an exporter that ships the logs
	 * (OTLP) reads them there. */
	log_pipe_close(a->logs);
	a->logs = NULL;
	sink_set_stop(a->sinks, deadline - SHUTDOWN_MARGIN_MS);
}

const char *extension_account_id(struct extension *e)
{
	return e->account_id;
}

/* --- the extension's life ------------------------------------------------------------------- */

struct extension *extension_new(const struct extension_options *o, struct metric_registry *r,
				struct sink_set *sinks)
{
	struct extension *a = calloc(1, sizeof(*a));

	if (!a)
		return NULL;
	a->o = o;
	a->cs_start_ns = (uint64_t)clock_epoch_ns();
	a->cs_fd = -1;
	a->wake_fd = -1;
	a->registry = r;
	a->sinks = sinks;
	a->flush = o->flush;
	a->period = o->period;
	snprintf(a->name, sizeof(a->name), "%s", o->name);
	pthread_mutex_init(&a->export_lock, NULL);
	if (!o->runtime_api || http_client_init(&a->api, o->runtime_api) < 0) {
		log_error("extension", "AWS_LAMBDA_RUNTIME_API is missing or not HOST:PORT");
		pthread_mutex_destroy(&a->export_lock);
		free(a);
		return NULL;
	}
	a->loop = loop_new();
	if (!a->loop) {
		extension_destroy(a);
		return NULL;
	}
	return a;
}

struct loop *extension_loop(struct extension *e)
{
	return e->loop;
}

struct tracker *extension_tracker(struct extension *e)
{
	return e->tracker;
}

int extension_register(struct extension *a)
{
	const char *it = a->o->init_type && *a->o->init_type ? a->o->init_type : "on-demand";

	a->managed = strcmp(it, INIT_TYPE_MI) == 0;
	if (a->managed) {
		/* never frozen, no INVOKE: reports leave on a timer */
		a->flush = FLUSH_PERIODIC;
		a->period = a->o->managed_flush_s > 0 ? a->o->managed_flush_s : 5.0;
	}
	/* (a record left by an earlier run: the runtime starts after every extension registered) */
	if (a->o->coldstart_file)
		coldstart_file_prepare(a);
	if (do_register(a, a->function_name, sizeof(a->function_name), a->version,
			sizeof(a->version)) < 0)
		return -1;
	a->cs_register_ns = (uint64_t)clock_epoch_ns();
	a->tracker = tracker_new(a->function_name, a->version, a->o->memory_mb, &a->o->prices,
				 a->registry);
	if (a->tracker) {
		tracker_set_mode(a->tracker, it);
		tracker_tenant_label(a->tracker, a->o->tenant_label_max);
	}
	random_hex(a->env_id, 16);
	log_info("extension", "environment %s (%s)", a->env_id, it);
	a->logs_due = a->o->logs_enabled;
	return 0;
}

int extension_run(struct extension *a)
{
	int rc = 1;

	register_agent_metrics(a);
	if (!a->tracker || start_listener(a) < 0) {
		report_init_error(a, "Extension.ListenerFailed");
		goto out;
	}
	switch (subscribe(a)) {
	case 0:
		a->telemetry = true;
		break;
	case 1:
		break;
	default:
		report_init_error(a, "Extension.SubscriptionFailed");
		goto out;
	}
	a->sinks_due = true;
	wake(a);
	a->api.on_sent = spawn_listener;
	a->api.on_sent_arg = a;
	for (;;) {
		struct http_response resp;
		struct extension_event ev;
		double t0;

		if (!a->cs_ready_ns)
			a->cs_ready_ns = (uint64_t)clock_epoch_ns();
		if (api_call(a, "GET", EXT "/event/next", NULL, &resp, NULL) < 0)
			goto out;
		if (!a->thread_started) {
			spawn_listener(a);
			if (!a->thread_started) {
				log_error("extension", "cannot start the listener's thread");
				goto out;
			}
		}
		t0 = clock_mono_s();
		if (resp.status != 200) {
			log_error("extension", "event/next answered %d: %.200s", resp.status,
				  resp.body);
			http_response_free(&resp);
			goto out;
		}
		extension_parse_event(resp.body, resp.body_len, &ev);
		http_response_free(&resp);
		if (ev.shutdown) {
			shut_down(a, &ev);
			rc = 0;
			break;
		}
		if (ev.invoke) {
			if (!a->telemetry)
				tracker_shutdown(a->tracker, NULL);	/* the previous one is over */
			if (ev.request_id[0])
				tracker_invoke(a->tracker, ev.request_id, ev.deadline_ms,
					       ev.trace[0] ? ev.trace : NULL);
			/* adaptive: N's report arrives (and is exported) while N+1 runs, from the
			 * listener thread; nothing to do here. end: export before /next. */
			if (a->flush == FLUSH_END)
				export_now(a);
		}
		metric_observe(a->post_runtime, clock_mono_s() - t0);
	}
out:
	join_listener(a);
	sink_set_stop(a->sinks, clock_epoch_ms() + 200);
	return rc;
}

void extension_destroy(struct extension *a)
{
	if (!a)
		return;
	join_listener(a);
	log_pipe_close(a->logs);
	http_server_destroy(a->listener);
	loop_destroy(a->loop);
	if (a->wake_fd >= 0)
		close(a->wake_fd);
	tracker_destroy(a->tracker);
	if (a->cs_fd >= 0)
		close(a->cs_fd);
	http_client_close(&a->api);
	pthread_mutex_destroy(&a->export_lock);
	free(a);
}
