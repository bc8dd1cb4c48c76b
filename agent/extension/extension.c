/*
 * `vigil extension`: register with the Extensions API, listen for and subscribe to the
 * Telemetry API, then block on /extension/event/next. Two threads: the main one speaks the
 * Extensions API and does nothing slow between an INVOKE and its next /next; the listener
 * thread takes telemetry batches into the invocation tracker and exports finished reports
 * (EMF on stdout, the Prometheus registry, summary lines) while the environment is thawed.
 */
#include "extension.h"

#include <errno.h>
#include <http_parser.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/eventfd.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "../../exporters/emf/emf.h"
#include "../../exporters/prometheus/prometheus.h"
#include "../../exporters/remote_write/remote_write.h"
#include "../core/lambda_lines.h"
#include "../core/metrics.h"
#include "../core/self_metrics.h"
#include "../core/tracker.h"
#include "../util/clock.h"
#include "../lib/http_client.h"
#include "../lib/http_server.h"
#include "../lib/loop.h"
#include "../util/log.h"
#include "../cmd/logs.h"
#include "../cmd/serve.h"
#include "../util/version.h"
#include "batch.h"
#include "../proxy/proxy.h"
#include "resources.h"

#define EXT "/2020-01-01/extension"
#define BATCH_EMF_FROM 4	/* reports in one flush from which EMF documents carry arrays */
#define SHUTDOWN_MARGIN_MS 300

struct agent {
	const struct vigil_config *cfg;
	char name[128];
	char id[64];
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
	pthread_mutex_t export_lock;
	bool telemetry;			/* subscribed (not a local emulator's "not supported") */
	struct metric_series *post_runtime, *batches_ok, *batches_bad, *records_bad,
		*records_unknown, *own_lines;
	struct metric_series *reports_exported;
	struct prom_server *metrics;	/* started by the listener thread, after init */
	struct proxy *proxy;		/* when the runtime runs through vigil-wrapper */
	struct log_pipe *logs;		/* the records of the telemetry, as segments */
	struct remote_write *rw;	/* started at the first export (never on the init path) */
	bool rw_tried;
	char function_name[128], version[64];
	_Atomic bool metrics_due;
	_Atomic bool logs_due;		/* open the log pipe on the listener thread */
};

/* The log pipe looks through the log folder (a dictionary, retention): not on the init path.
 * The listener thread opens it after the main thread's first event/next, or at the first
 * batch, whichever comes first (both run on that thread). */
static void open_logs_if_due(struct agent *a)
{
	if (a->logs_due) {
		a->logs_due = false;
		a->logs = logs_open_pipe(a->cfg, a->function_name, a->registry);
	}
}

/* --- export ------------------------------------------------------------------------------ */

static void write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return;
		p += w;
		n -= (size_t)w;
	}
}

static void summary_line(struct buf *b, const struct invocation_report *r)
{
	static const char *const st[] = { "success", "error", "timeout", "failure" };

	buf_printf(b, "VIGIL_REPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %lld ms\t"
		      "Memory Size: %ld MB\tMax Memory Used: %ld MB\t",
		   r->request_id, r->duration_ms < 0 ? 0 : r->duration_ms,
		   (long long)(r->billed_ms < 0 ? 0 : r->billed_ms), r->memory_size_mb,
		   r->max_memory_used_mb);
	if (r->cold_start && r->init_duration_ms >= 0)
		buf_printf(b, "Init Duration: %.2f ms\t", r->init_duration_ms);
	buf_printf(b, "Cold Start: %s\tStatus: %s", r->cold_start ? "true" : "false",
		   st[r->status]);
	if (r->error_type[0])
		buf_printf(b, "\tError Type: %s", r->error_type);
	buf_printf(b, "\tCost: %.10f USD\n", r->cost_usd);
}

/* Export every finished report: metrics, EMF, summary lines. Any thread; one at a time. */
static void export_now(struct agent *a)
{
	struct invocation_report *list, *r, *items[4096];
	struct resources res;
	struct buf emf, lines;
	size_t n = 0;

	pthread_mutex_lock(&a->export_lock);
	if (!tracker_has_done(a->tracker)) {
		pthread_mutex_unlock(&a->export_lock);
		return;
	}
	resources_sample(&res);
	tracker_set_resources(a->tracker, res.cpu_user_s, res.cpu_system_s, res.net_rx_bytes,
			      res.net_tx_bytes, res.tmp_used_bytes, res.fds, res.threads);
	list = tracker_take(a->tracker);
	buf_init(&emf);
	buf_init(&lines);
	while (list) {
		for (n = 0; list && n < sizeof(items) / sizeof(items[0]); list = list->next)
			items[n++] = list;
		for (size_t i = 0; i < n; i++) {
			tracker_observe(a->tracker, items[i]);
			if (a->cfg->report_lines)
				summary_line(&lines, items[i]);
		}
		if (a->cfg->emf_enabled) {
			if (n >= BATCH_EMF_FROM)
				emf_render_batch(&emf, a->cfg->emf_namespace, items, n);
			else
				emf_render_each(&emf, a->cfg->emf_namespace, items, n);
		}
		metric_add(a->reports_exported, (double)n);
		for (size_t i = 0; i < n; i++) {
			r = items[i];
			free(r);
		}
	}
	if (emf.len)
		write_all(STDOUT_FILENO, emf.data, emf.len);
	if (lines.len)
		write_all(STDERR_FILENO, lines.data, lines.len);
	buf_free(&emf);
	buf_free(&lines);
	/* remote_write: started at the first export, so it costs the init nothing; a push only
	 * asks its thread, which takes the snapshot. */
	if (a->cfg->remote_write_url[0] && !a->rw_tried) {
		char err[300];

		a->rw_tried = true;
		a->rw = remote_write_start(a->cfg, a->registry, err, sizeof(err));
		if (!a->rw)
			log_warn("extension", "no remote_write push: %s", err);
	}
	remote_write_push(a->rw);
	pthread_mutex_unlock(&a->export_lock);
}

/* --- the telemetry listener ---------------------------------------------------------------- */

/* A batch's records as log records: parsed on the log pipe's writer thread (which runs when
 * a CPU is idle), not here on the listener thread, whose time counts in the invocation. */
struct deferred_batch {
	struct agent *a;
	char current[64];	/* the request in flight when the batch arrived */
	size_t len;
	char *body;		/* the request's own, taken from it (no copy) */
};

static void run_batch_log(void *arg)
{
	struct deferred_batch *d = arg;

	telemetry_batch_log(d->a->logs, d->current, d->body, d->len, d->a->cfg->emf_namespace,
			    d->a->function_name, d->a->version);
	free(d->body);
	free(d);
}

static void defer_batch_log(struct agent *a, struct http_request *req)
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
	if (!d->body || log_pipe_defer(a->logs, run_batch_log, d, d->len) < 0) {
		free(d->body);
		free(d);
	}
}

/* One POSTed batch: acknowledged first (Lambda waits for it), then taken in. */
static void on_batch(void *arg, struct http_request *req)
{
	struct agent *a = arg;
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
	if (telemetry_batch_ingest(a->tracker, req->body, req->body_len, a->cfg->emf_namespace,
				   &counts) < 0) {
		http_respond(req, 400, NULL, NULL, 0);
		metric_inc(a->batches_bad);
		return;
	}
	/* All of it before answering: http_respond frees the request and its body, and what
	 * the sender sees answered must already be counted. */
	open_logs_if_due(a);
	defer_batch_log(a, req);
	metric_inc(a->batches_ok);
	metric_add(a->records_bad, counts.malformed);
	metric_add(a->records_unknown, counts.unknown);
	metric_add(a->own_lines, counts.own);
	http_respond(req, 200, NULL, NULL, 0);
	if (a->flush == FLUSH_ADAPTIVE)
		export_now(a);
}

/* The Prometheus endpoint: loading libmicrohttpd costs about 2 ms, so it happens here, in
 * the listener thread, once the main thread waits on its first event/next (init is over). */
static void start_metrics(struct agent *a)
{
	a->metrics = metrics_endpoint_start(a->cfg, a->registry);
}

static void on_wake(void *arg, uint32_t events)
{
	struct agent *a = arg;
	uint64_t v;

	(void)events;
	if (read(a->wake_fd, &v, sizeof(v)) < 0)
		return;
	open_logs_if_due(a);
	if (a->metrics_due) {
		a->metrics_due = false;
		start_metrics(a);
	}
	if (a->stopping)
		loop_stop(a->loop);
	else if (a->flush == FLUSH_ADAPTIVE)
		export_now(a);
}

static void on_period(void *arg)
{
	struct agent *a = arg;

	export_now(a);
	loop_timer_at(a->loop, loop_now() + (a->flush == FLUSH_PERIODIC ? a->period : 1.0),
		      on_period, a);
}

static void *listener_thread(void *arg)
{
	struct agent *a = arg;
	sigset_t all;

	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, NULL);
	loop_run(a->loop);
	return NULL;
}

static void wake(struct agent *a)
{
	uint64_t one = 1;

	if (write(a->wake_fd, &one, sizeof(one)) < 0)
		log_debug("extension", "wake: %s", strerror(errno));
}

/* --- the Extensions and Telemetry APIs ----------------------------------------------------- */

static int api_call(struct agent *a, const char *method, const char *path, const char *body,
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

static int do_register(struct agent *a, char *function_name, size_t fn_len, char *version,
		       size_t v_len)
{
	const char *extra[] = { "Lambda-Extension-Name", a->name,
				"Lambda-Extension-Accept-Feature", "accountId",
				"Content-Type", "application/json", NULL };
	struct http_response resp;
	const char *id, *fn, *ver;
	json_t *root;

	if (api_call(a, "POST", EXT "/register", "{\"events\":[\"INVOKE\",\"SHUTDOWN\"]}", &resp,
		     extra) < 0)
		return -1;
	id = http_response_header(&resp, "Lambda-Extension-Identifier");
	if (resp.status != 200 || !id) {
		log_error("extension", "register answered %d: %.200s", resp.status, resp.body);
		http_response_free(&resp);
		return -1;
	}
	snprintf(a->id, sizeof(a->id), "%s", id);
	root = json_loadb(resp.body, resp.body_len, 0, NULL);
	fn = json_string_value(json_object_get(root, "functionName"));
	ver = json_string_value(json_object_get(root, "functionVersion"));
	if (!fn)
		fn = getenv("AWS_LAMBDA_FUNCTION_NAME") ? getenv("AWS_LAMBDA_FUNCTION_NAME") : "unknown";
	snprintf(function_name, fn_len, "%s", fn);
	snprintf(version, v_len, "%s", ver ? ver : "$LATEST");
	json_decref(root);
	http_response_free(&resp);
	return 0;
}

static void report_init_error(struct agent *a, const char *type)
{
	const char *extra[] = { "Lambda-Extension-Function-Error-Type", type, NULL };
	struct http_response resp;

	if (api_call(a, "POST", EXT "/init/error", "{}", &resp, extra) == 0)
		http_response_free(&resp);
}

/* Subscribe: schema 2025-01-29, falling back to 2022-12-13 on a 400. 0 subscribed, 1 not
 * supported here (local emulators), -1 refused. */
static int subscribe(struct agent *a)
{
	static const char *const schemas[] = { "2025-01-29", "2022-12-13" };
	const char *extra[] = { "Content-Type", "application/json", NULL };
	const struct vigil_config *c = a->cfg;

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

static int start_listener(struct agent *a)
{
	struct http_server_limits limits = {
		.max_body = (size_t)a->cfg->telemetry_max_bytes * 2 + 64 * 1024,
		.max_header_bytes = 16 * 1024,
		.max_headers = 64,
		.max_connections = 16,
		.idle_timeout = 600,
	};

	if (!a->loop)
		a->loop = loop_new();
	a->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (!a->loop || a->wake_fd < 0)
		return -1;
	a->listener = http_server_new(a->loop, a->cfg->telemetry_listen, &limits, on_batch, a);
	if (!a->listener) {
		log_error("extension", "cannot listen for telemetry on %s: %s",
			  a->cfg->telemetry_listen, strerror(errno));
		return -1;
	}
	a->listener_port = http_server_port(a->listener);
	log_info("extension", "telemetry listener on %.*s:%u",
		 (int)(strrchr(a->cfg->telemetry_listen, ':') - a->cfg->telemetry_listen),
		 a->cfg->telemetry_listen, a->listener_port);
	loop_watch_fd(a->loop, a->wake_fd, EPOLLIN, on_wake, a);
	if (a->flush != FLUSH_END)
		loop_timer_at(a->loop, loop_now() + (a->flush == FLUSH_PERIODIC ? a->period : 1.0),
			      on_period, a);
	if (pthread_create(&a->thread, NULL, listener_thread, a) != 0)
		return -1;
	a->thread_started = true;
	return 0;
}

static void register_agent_metrics(struct agent *a)
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
	a->batches_bad = metric_with(f, "rejected");
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
}

/* AWS_LAMBDA_EXEC_WRAPPER names vigil-wrapper: the runtime expects vigil's proxy. */
static bool wants_proxy(void)
{
	const char *w = getenv("AWS_LAMBDA_EXEC_WRAPPER"), *base;

	if (!w)
		return false;
	base = strrchr(w, '/');
	return strcmp(base ? base + 1 : w, "vigil-wrapper") == 0;
}

static double price_per_gb_second(const struct vigil_config *c)
{
	struct utsname u;
	const char *arch = c->architecture;

	if (strcmp(arch, "auto") == 0)
		arch = uname(&u) == 0 && (strcmp(u.machine, "aarch64") == 0 ||
					  strcmp(u.machine, "arm64") == 0) ? "arm64" : "x86_64";
	return strcmp(arch, "arm64") == 0 ? c->price_gb_second_arm64 : c->price_gb_second_x86_64;
}

/* SHUTDOWN: wait (within the budget) for what is still open, then export everything. */
static void shut_down(struct agent *a, json_t *event)
{
	const char *reason = json_string_value(json_object_get(event, "shutdownReason"));
	json_t *dl = json_object_get(event, "deadlineMs");
	int64_t deadline = json_is_number(dl) ? (int64_t)json_number_value(dl) : clock_epoch_ms() + 2000;

	log_debug("extension", "SHUTDOWN (%s)", reason ? reason : "?");
	while (a->telemetry && tracker_open(a->tracker) > 0 &&
	       clock_epoch_ms() < deadline - SHUTDOWN_MARGIN_MS)
		usleep(2000);
	a->stopping = true;
	wake(a);
	if (a->thread_started)
		pthread_join(a->thread, NULL);
	a->thread_started = false;
	tracker_shutdown(a->tracker, reason);
	export_now(a);
	/* What is queued goes out while the budget allows. */
	remote_write_stop(a->rw, (double)(deadline - SHUTDOWN_MARGIN_MS - clock_epoch_ms()) / 1000.0);
	a->rw = NULL;
}

int extension_main(const char *argv0, const struct vigil_config *cfg)
{
	struct agent a = { .cfg = cfg, .wake_fd = -1 };
	struct tracker_prices prices;
	const char *api = getenv("AWS_LAMBDA_RUNTIME_API"), *slash = strrchr(argv0, '/');
	const char *mem = getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE");
	char function_name[128], version[64];
	int rc = 1;

	snprintf(a.name, sizeof(a.name), "%s", slash ? slash + 1 : argv0);
	pthread_mutex_init(&a.export_lock, NULL);
	config_flush_strategy(cfg->flush, &a.flush, &a.period);
	signal(SIGPIPE, SIG_IGN);
	if (!api || http_client_init(&a.api, api) < 0) {
		log_error("extension", "AWS_LAMBDA_RUNTIME_API is missing or not HOST:PORT");
		return 1;
	}
	a.registry = metric_registry_new((unsigned)cfg->metrics_max_series);
	a.loop = loop_new();
	if (!a.registry || !a.loop)
		goto out;
	/* The proxy listens before registering: the runtime starts once every extension has
	 * registered, and connects to it at once. */
	if (wants_proxy()) {
		struct proxy_options po = { .listen = cfg->proxy_listen, .upstream = api };

		a.proxy = proxy_start(a.loop, &po, a.registry, NULL);
	}
	if (do_register(&a, function_name, sizeof(function_name), version, sizeof(version)) < 0)
		goto out;
	prices.gb_second = price_per_gb_second(cfg);
	prices.per_request = cfg->price_per_request;
	a.tracker = tracker_new(function_name, version, mem ? atol(mem) : 128, &prices, a.registry);
	snprintf(a.function_name, sizeof(a.function_name), "%s", function_name);
	snprintf(a.version, sizeof(a.version), "%s", version);
	a.logs_due = cfg->logs_enabled;
	if (a.proxy && a.tracker)
		proxy_set_tracker(a.proxy, a.tracker);
	self_metrics_register(a.registry, VIGIL_VERSION, VIGIL_REVISION);
	register_agent_metrics(&a);
	if (!a.tracker || start_listener(&a) < 0) {
		report_init_error(&a, "Extension.ListenerFailed");
		goto out;
	}
	switch (subscribe(&a)) {
	case 0:
		a.telemetry = true;
		break;
	case 1:
		break;
	default:
		report_init_error(&a, "Extension.SubscriptionFailed");
		goto out;
	}
	if (cfg->metrics_enabled)
		a.metrics_due = true;
	if (a.metrics_due || a.logs_due)
		wake(&a);
	for (;;) {
		struct http_response resp;
		const char *type;
		json_t *ev;
		double t0;

		if (api_call(&a, "GET", EXT "/event/next", NULL, &resp, NULL) < 0)
			goto out;
		t0 = clock_mono_s();
		if (resp.status != 200) {
			log_error("extension", "event/next answered %d: %.200s", resp.status,
				  resp.body);
			http_response_free(&resp);
			goto out;
		}
		ev = json_loadb(resp.body, resp.body_len, 0, NULL);
		http_response_free(&resp);
		type = json_string_value(json_object_get(ev, "eventType"));
		if (type && strcmp(type, "SHUTDOWN") == 0) {
			shut_down(&a, ev);
			json_decref(ev);
			rc = 0;
			break;
		}
		if (type && strcmp(type, "INVOKE") == 0) {
			const char *id = json_string_value(json_object_get(ev, "requestId"));
			json_t *dl = json_object_get(ev, "deadlineMs");
			const char *trace = json_string_value(
				json_object_get(json_object_get(ev, "tracing"), "value"));

			if (!a.telemetry)
				tracker_shutdown(a.tracker, NULL);	/* the previous one is over */
			if (id)
				tracker_invoke(a.tracker, id,
					       json_is_number(dl) ? (int64_t)json_number_value(dl) : 0,
					       trace);
			/* adaptive: N's report arrives (and is exported) while N+1 runs, from the
			 * listener thread; nothing to do here. end: export before /next. */
			if (a.flush == FLUSH_END)
				export_now(&a);
		}
		json_decref(ev);
		metric_observe(a.post_runtime, clock_mono_s() - t0);
	}
out:
	if (a.thread_started) {
		a.stopping = true;
		wake(&a);
		pthread_join(a.thread, NULL);
	}
	remote_write_stop(a.rw, 0.2);
	prom_server_stop(a.metrics);
	proxy_stop(a.proxy);
	log_pipe_close(a.logs);
	http_server_destroy(a.listener);
	loop_destroy(a.loop);
	if (a.wake_fd >= 0)
		close(a.wake_fd);
	tracker_destroy(a.tracker);
	metric_registry_destroy(a.registry);
	http_client_close(&a.api);
	pthread_mutex_destroy(&a.export_lock);
	return rc;
}
