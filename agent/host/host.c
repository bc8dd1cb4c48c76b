/* `vigil host`: the pool of environments, the invocation queue, the lines. */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../util/clock.h"
#include "../util/fields.h"
#include "../util/log.h"
#include "../util/procfs.h"
#include "../util/version.h"
#include "host.h"

static const char *status_name(enum inv_status s)
{
	switch (s) {
	case INV_SUCCESS: return "success";
	case INV_ERROR: return "error";
	case INV_TIMEOUT: return "timeout";
	case INV_FAILURE: return "failure";
	case INV_PENDING: break;
	}
	return "pending";
}

/* Lines for stdout gather here and go out once per loop round (or at 64 KiB). */
static struct buf pending_output;

static void flush_output(void *arg)
{
	(void)arg;
	buf_write_fd(&pending_output, STDOUT_FILENO);
	buf_reset(&pending_output);
}

void host_platform_output(struct host *h, struct buf *b, const char *request_id)
{
	struct log_line meta = { .stream = 0, .source = VIGIL__V1__SOURCE__SOURCE_PLATFORM,
				 .request_id = request_id, .function_name = h->opt.function_name,
				 .function_version = "$LATEST" };
	size_t start = 0;

	host_output(b);
	if (!h->logs)
		return;
	for (size_t i = 0; i < b->len; i++) {
		if (b->data[i] == '\n') {
			log_pipe_line(h->logs, &meta, b->data + start, i - start);
			start = i + 1;
		}
	}
}

void host_output(struct buf *b)
{
	buf_append(&pending_output, b->data ? b->data : "", b->len);
	if (pending_output.len >= 65536 || pending_output.failed)
		flush_output(NULL);
}

uint64_t invocation_produced(const struct invocation *inv)
{
	return inv->streaming ? inv->streamed_bytes : inv->status == INV_SUCCESS ? inv->result_len : 0;
}

static void invocation_free(struct invocation *inv)
{
	if (inv->stream_req) {
		/* the runtime's stream outlives it (a timeout): its bytes go nowhere */
		inv->stream_req->on_chunk = NULL;
		inv->stream_req->stream_gone = NULL;
	}
	loop_timer_stop(&inv->timer);
	free(inv->payload);
	free(inv->result);
	free(inv);
}

/* Free inv once the caller has its answer and the invoke phase is over. */
static void maybe_free(struct invocation *inv)
{
	if (inv->answered && inv->phase_over)
		invocation_free(inv);
}

void host_abandon(struct host *h, struct invocation *inv)
{
	inv->env = NULL;
	if (!inv->answered) {
		inv->status = INV_FAILURE;
		snprintf(inv->error_type, sizeof(inv->error_type), "Sandbox.Shutdown");
		free(inv->result);
		inv->result = NULL;
		inv->result_len = 0;
		host_answer(h, inv);
	}
	inv->phase_over = true;
	maybe_free(inv);
}

void invocation_error_result(struct invocation *inv, const char *type, const char *detail)
{
	struct buf b;

	buf_init(&b);
	buf_puts(&b, "{\"errorType\":");
	json_put_string(&b, type);
	buf_printf(&b, ",\"errorMessage\":\"RequestId: %s Error: ", inv->id);
	/* detail is ours (an exit status, an init status): no escaping needed */
	buf_puts(&b, detail);
	buf_puts(&b, "\"}");
	free(inv->result);
	inv->result = buf_steal(&b, &inv->result_len);
}

void host_answer(struct host *h, struct invocation *inv)
{
	(void)h;
	if (inv->answered)
		return;
	inv->answered = true;
	if (inv->on_answer)
		inv->on_answer(inv, inv->answer_arg);
	inv->on_answer = NULL;
	inv->on_stream = NULL;
}

void invocation_detach(struct invocation *inv)
{
	inv->on_answer = NULL;
	inv->on_stream = NULL;
	if (!inv->env && !inv->answered) {
		/* Still queued: it will never run. */
		struct host *h = inv->host;
		struct invocation **pp;

		for (pp = &h->queue; *pp; pp = &(*pp)->next) {
			if (*pp == inv) {
				*pp = inv->next;
				if (h->queue_tail == inv) {
					struct invocation *t = h->queue;

					while (t && t->next)
						t = t->next;
					h->queue_tail = t;
				}
				h->queued--;
				invocation_free(inv);
				return;
			}
		}
	}
	inv->answered = true;
	maybe_free(inv);
}

/* A process's peak resident set (VmHWM), in bytes; 0 when it cannot be read. */
static uint64_t proc_peak_rss(const struct proc *p)
{
	char path[64], text[2048];
	long long kb;

	if (!p->running || p->pid <= 0)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)p->pid);
	kb = procfs_read(path, text, sizeof(text)) > 0 ? procfs_status_kb(text, "VmHWM:") : -1;
	return kb > 0 ? (uint64_t)kb * 1024 : 0;
}

/* Max Memory Used: the most the environment's processes have held so far — the sum of their
 * peak resident sets (anonymous, shared and mapped file pages; a page two of them map counts
 * in each, as in a sum of ps's RSS), from the probes (every process, children too), else from
 * /proc (the runtime and the extensions); the same in every environment of a function. Not
 * the cgroup's peak: cgroup v1 charges page cache to whichever environment read a file
 * first — the Python example measured 31 MB in its first environment, 11 in the next. The
 * cgroup's peak is the last resort, and what is left once the runtime died unseen. */
static long max_memory_mb(struct environment *env)
{
	uint64_t bytes = 0;

	if (!(env->host->probes && env->peak_rss)) {
		bytes = proc_peak_rss(&env->runtime);
		for (unsigned i = 0; i < env->next_ext; i++)
			bytes += proc_peak_rss(&env->ext[i].proc);
		if (bytes > env->peak_rss)
			env->peak_rss = bytes;
	}
	bytes = env->peak_rss;
	/* The runtime ended (an OOM kill, a crash) without the probes: its high-water mark went
	 * with it, and the cgroup's peak is the witness left. */
	if (!bytes || (!env->runtime.running && !env->host->probes)) {
		uint64_t cg = cgroup_peak_memory(&env->cg);

		bytes = cg > bytes ? cg : bytes;
	}
	return (long)((bytes + 1024 * 1024 - 1) / (1024 * 1024));
}

/* platform.report: the invoke phase is over (runtime and every extension back on /next). */
static json_t *report_record(struct environment *env, struct invocation *inv,
			     const struct report_fields *r)
{
	double overhead = inv->runtime_done_at > 0 ? loop_now() - inv->runtime_done_at : 0;
	json_t *rec, *metrics = json_pack("{s:f}", "durationMs", r->duration_ms), *spans = NULL;
	char when[32];

	iso_time_now(when);
	if (env->host->opt.managed) {
		/* Managed instances (2025-01-29): durationMs only; the response's spans. */
		spans = json_pack("[{s:s,s:s,s:f},{s:s,s:s,s:f}]", "name", "responseLatency",
				  "start", when, "durationMs", inv->response_started_at > 0 ?
				  (inv->response_started_at - inv->started_at) * 1000.0 : 0.0,
				  "name", "responseDuration", "start", when, "durationMs",
				  inv->response_done_at > inv->response_started_at ?
				  (inv->response_done_at - inv->response_started_at) * 1000.0 : 0.0);
	} else {
		json_object_set_new(metrics, "billedDurationMs",
				    json_integer(report_billed_ms(r)));
		json_object_set_new(metrics, "memorySizeMB", json_integer(r->memory_size_mb));
		json_object_set_new(metrics, "maxMemoryUsedMB",
				    json_integer(r->max_memory_used_mb));
		if (r->init_duration_ms >= 0)
			json_object_set_new(metrics, "initDurationMs",
					    json_real(r->init_duration_ms));
		if (r->restore_duration_ms > 0)
			json_object_set_new(metrics, "restoreDurationMs",
					    json_real(r->restore_duration_ms));
		if (env->next_ext)
			spans = json_pack("[{s:s,s:s,s:f}]", "name", "extensionOverhead", "start",
					  when, "durationMs", overhead * 1000.0);
	}
	rec = json_pack("{s:s,s:s,s:o}", "requestId", inv->id, "status", r->status, "metrics",
			metrics);
	if (strcmp(r->status, "success") != 0 && r->error_type && *r->error_type)
		json_object_set_new(rec, "errorType", json_string(r->error_type));
	if (inv->tenant[0])
		json_object_set_new(rec, "tenantId", json_string(inv->tenant));
	if (spans)
		json_object_set_new(rec, "spans", spans);
	json_object_set_new(rec, "tracing", json_pack("{s:s,s:s}", "type", "X-Amzn-Trace-Id",
						      "value", inv->trace_id));
	return rec;
}

/* The invocation's one report, from what the host measured (the figures of its REPORT line
 * and of the platform events it sends): to the tracker, which finishes it as it finishes
 * the extension's, updates the invocation families and hands it to the sinks. */
static void track(struct host *h, struct environment *env, struct invocation *inv,
		  const struct report_fields *f)
{
	static const enum report_status status[] = {
		[INV_PENDING] = REPORT_FAILURE, [INV_SUCCESS] = REPORT_SUCCESS,
		[INV_ERROR] = REPORT_ERROR, [INV_TIMEOUT] = REPORT_TIMEOUT,
		[INV_FAILURE] = REPORT_FAILURE,
	};
	struct invocation_report r = {
		.start_ms = clock_epoch_ms() - (int64_t)((loop_now() - inv->started_at) * 1000.0),
		.cold_start = f->init_duration_ms >= 0,
		.init_duration_ms = f->init_duration_ms,
		.duration_ms = f->duration_ms,
		.runtime_ms = inv->runtime_done_at > 0 ?
				      (inv->runtime_done_at - inv->started_at) * 1000.0 : -1,
		.post_runtime_ms = env && env->next_ext && inv->runtime_done_at > 0 ?
					   (loop_now() - inv->runtime_done_at) * 1000.0 : -1,
		.memory_size_mb = f->memory_size_mb,
		.max_memory_used_mb = f->max_memory_used_mb,
		.status = status[inv->status],
		.response_latency_ms = inv->response_started_at > 0 ?
				(inv->response_started_at - inv->started_at) * 1000.0 : 0,
		.response_duration_ms = inv->response_done_at > inv->response_started_at ?
				(inv->response_done_at - inv->response_started_at) * 1000.0 : 0,
		.produced_bytes = (int64_t)invocation_produced(inv),
	};

	snprintf(r.request_id, sizeof(r.request_id), "%s", inv->id);
	snprintf(r.init_type, sizeof(r.init_type), "%s", host_init_type(h));
	snprintf(r.tenant_id, sizeof(r.tenant_id), "%s", inv->tenant);
	r.restore_duration_ms = f->restore_duration_ms;
	r.streaming = inv->streaming;
	r.mode_known = true;
	snprintf(r.trace_id, sizeof(r.trace_id), "%s", inv->trace_id);
	snprintf(r.trigger, sizeof(r.trigger), "%s", inv->trigger ? inv->trigger : "");
	if (r.cold_start && env) {
		r.init_start_ms = clock_epoch_ms() - (int64_t)((loop_now() - env->spawned_at) * 1000.0);
		r.nphases = env->nphases;
		memcpy(r.phases, env->phases, sizeof(r.phases));
	}
	if (inv->status != INV_SUCCESS)
		snprintf(r.error_type, sizeof(r.error_type), "%s", inv->error_type);
	tracker_add_report(h->tracker, &r);
	tracker_export(h->tracker, h->sinks, clock_epoch_ms() + 1000);
}

void host_finish(struct host *h, struct invocation *inv, struct environment *env)
{
	struct report_fields r = { 0 };
	double duration_ms;
	struct buf b;

	loop_timer_stop(&inv->timer);
	duration_ms = inv->status == INV_TIMEOUT ? h->opt.timeout_s * 1000.0 :
						   (loop_now() - inv->started_at) * 1000.0;
	struct environment *own = env;

	if (h->opt.managed)
		env = NULL;	/* per environment, not per invocation: see the gauges */
	host_probes_invoke_measure(h, env);
	if (own)
		host_coldstart_invoked(own, inv);
	r.request_id = inv->id;
	r.restore_duration_ms = env && env->report_restore ? env->restore_ms : -1;
	r.managed = h->opt.managed;
	r.version = "$LATEST";
	r.duration_ms = duration_ms;
	r.init_duration_ms = env && env->report_init ? env->init_ms : -1;
	r.memory_size_mb = h->opt.memory_mb;
	r.max_memory_used_mb = env ? max_memory_mb(env) : 0;
	r.status = status_name(inv->status);
	r.error_type = inv->error_type;
	if (env)
		env->report_init = env->report_restore = false;
	buf_init(&b);
	line_end(&b, h->opt.log_format, inv->id);
	line_report(&b, h->opt.log_format, &r);
	host_platform_output(h, &b, inv->id);
	buf_free(&b);
	host_probes_invoke_end(h, inv, env);
	if (own && telemetry_active(own))
		telemetry_emit(own, "platform.report", report_record(own, inv, &r));
	track(h, env, inv, &r);
	inv->phase_over = true;
	maybe_free(inv);
}

/* inv, taken off the queue. */
static struct invocation *unqueue(struct host *h, struct invocation *inv)
{
	struct invocation **pp, *prev = NULL;

	for (pp = &h->queue; *pp != inv; prev = *pp, pp = &(*pp)->next)
		;
	*pp = inv->next;
	if (h->queue_tail == inv)
		h->queue_tail = prev;
	inv->next = NULL;
	h->queued--;
	return inv;
}

/* The oldest queued invocation env may serve (an environment serves one tenant only: an
 * invocation of tenant T, or of none, goes to an environment of T, or of none), taken off the
 * queue; env NULL: the oldest. */
static struct invocation *dequeue_for(struct host *h, const struct environment *env)
{
	for (struct invocation *inv = h->queue; inv; inv = inv->next) {
		if (!env || strcmp(inv->tenant, env->tenant) == 0)
			return unqueue(h, inv);
	}
	return NULL;
}

const char *host_init_type(const struct host *h)
{
	return h->opt.managed ? INIT_TYPE_MI : h->opt.snapstart ? "snap-start" : "on-demand";
}

/* Whether an environment (alive, not stopping) could take inv, now or once it is free. */
static bool served(const struct host *h, const struct invocation *inv)
{
	for (const struct environment *env = h->envs; env; env = env->next) {
		if (env->state != ENV_STOPPING && strcmp(env->tenant, inv->tenant) == 0)
			return true;
	}
	return false;
}

/* Start environments for queued invocations while the pool has room (managed instances: an
 * environment takes many at once, so one more only for a tenant none serves). A full pool
 * with a queued invocation of a tenant none of its environments serves makes room: an idle
 * environment of another tenant spins down (environments are never shared across tenants). */
static void grow_pool(struct host *h)
{
	while (h->queue && !h->shutting_down) {
		struct invocation *inv = h->queue, *q;

		if (h->opt.managed) {
			while (inv && served(h, inv))
				inv = inv->next;
			if (!inv)
				return;
		}
		if (h->nenvs >= (unsigned)h->opt.concurrency) {
			for (q = h->queue; q && served(h, q); q = q->next)
				;
			for (struct environment *env = h->envs; q && env; env = env->next) {
				if (env->state == ENV_IDLE && !env->inv && !env->mi_ninv &&
				    strcmp(env->tenant, q->tenant) != 0) {
					env_stop(env, "spindown");
					break;
				}
			}
			return;
		}
		if (!env_spawn(h, unqueue(h, inv), "init")) {
			inv->status = INV_FAILURE;
			snprintf(inv->error_type, sizeof(inv->error_type), "Runtime.InvalidEntrypoint");
			host_answer(h, inv);
			inv->phase_over = true;
			maybe_free(inv);
			return;
		}
	}
}

/* Managed instances: hand queued invocations of its tenant to env while the runtime waits on
 * /next calls; spin down when stopping and empty, else wait (idle timer) when nothing runs. */
static void mi_ready(struct host *h, struct environment *env)
{
	struct invocation *inv = env->inv;

	if (env->next_req && env->mi_nnext < HOST_MAX_CONCURRENCY) {
		/* the /next that ended init joins the others */
		env->mi_next[env->mi_nnext++] = env->next_req;
		env->next_req = NULL;
	}
	env->inv = NULL;
	if (inv && inv->status == INV_PENDING && !inv->answered && env->mi_nnext)
		env_deliver(env, inv);
	else if (inv)
		invocation_detach(inv);
	if (h->shutting_down) {
		if (!env->mi_ninv)
			env_stop(env, "spindown");
		return;
	}
	while (env->mi_nnext && (inv = dequeue_for(h, env)) != NULL)
		env_deliver(env, inv);
	if (!env->mi_ninv)
		env_arm_idle(env);
	else
		loop_timer_stop(&env->idle_timer);
}

void host_env_ready(struct host *h, struct environment *env)
{
	struct invocation *inv = env->inv;

	if (h->opt.managed) {
		mi_ready(h, env);
		return;
	}
	if (inv && inv->status == INV_PENDING && !inv->answered) {
		/* The invocation that started this environment (or a retried init). */
		env_deliver(env, inv);
		return;
	}
	env->inv = NULL;
	if (inv)
		invocation_detach(inv);
	if (h->shutting_down) {
		env_stop(env, "spindown");
		return;
	}
	inv = dequeue_for(h, env);
	if (inv) {
		env_deliver(env, inv);
		return;
	}
	env_arm_idle(env);
	/* A queued invocation of another tenant may need this environment's place. */
	if (h->queue)
		grow_pool(h);
}

void host_env_gone(struct host *h, struct environment *env)
{
	(void)env;
	grow_pool(h);
	if (h->shutting_down && !h->envs->next && h->envs == env)
		loop_stop(h->loop);
}

void host_init_failed(struct host *h, struct environment *env, const char *status,
		      const char *error_type_arg)
{
	double init_ms = (loop_now() - env->spawned_at) * 1000.0;
	char error_type[128];
	struct invocation *inv = env->inv;
	const char *phase = env->phase;
	struct buf b;

	/* error_type may live in env, which env_stop below can free. */
	snprintf(error_type, sizeof(error_type), "%s", error_type_arg);
	/* A timeout is its limit exactly: 10 s, or the invoke's timeout for a retry inside it. */
	if (strcmp(status, "timeout") == 0)
		init_ms = strcmp(phase, "invoke") == 0 && h->opt.timeout_s < HOST_INIT_TIMEOUT ?
				  h->opt.timeout_s * 1000.0 : HOST_INIT_TIMEOUT * 1000.0;
	host_coldstart_init_done(env, status, init_ms);
	buf_init(&b);
	line_init_report(&b, h->opt.log_format, init_ms, phase, status, error_type);
	host_platform_output(h, &b, inv ? inv->id : NULL);
	buf_free(&b);
	telemetry_emit(env, "platform.initRuntimeDone",
		       json_pack("{s:s,s:s,s:s,s:s}", "initializationType", host_init_type(h), "phase",
				 phase, "status", status, "errorType", error_type));
	telemetry_emit(env, "platform.initReport",
		       json_pack("{s:s,s:s,s:s,s:s,s:{s:f}}", "initializationType", host_init_type(h),
				 "phase", phase, "status", status, "errorType", error_type,
				 "metrics", "durationMs", init_ms));
	env->inv = NULL;
	env_stop(env, "failure");
	if (!inv)
		return;
	inv->env = NULL;
	if (strcmp(phase, "init") == 0 && !h->shutting_down) {
		/* Lambda retries a failed init inside the first invoke, under its timeout. */
		struct timespec now;

		inv->deadline = loop_now() + h->opt.timeout_s;
		clock_gettime(CLOCK_REALTIME, &now);
		inv->deadline_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 +
				   (int64_t)(h->opt.timeout_s * 1000);
		inv->init_retry_at = loop_now();
		h->nenvs++;	/* the retry takes the failed environment's place */
		if (env_spawn(h, inv, "invoke")) {
			h->nenvs--;
			return;
		}
		h->nenvs--;
	}
	/* The retry's time was the invoke's: its Duration (the timeout exactly, if it timed
	 * out), and what it bills. */
	inv->status = inv->init_retry_at > 0 && strcmp(status, "timeout") == 0 ? INV_TIMEOUT :
										  INV_ERROR;
	snprintf(inv->error_type, sizeof(inv->error_type), "%s", error_type);
	{
		char detail[64];

		snprintf(detail, sizeof(detail), "init failed (%s)", status);
		invocation_error_result(inv, error_type, detail);
	}
	inv->started_at = inv->init_retry_at > 0 ? inv->init_retry_at : loop_now();
	buf_init(&b);
	line_start(&b, h->opt.log_format, inv->id, "$LATEST");
	host_platform_output(h, &b, inv->id);
	buf_free(&b);
	host_answer(h, inv);
	host_finish(h, inv, NULL);
}

/* An X-Ray trace header a caller may hand in: Root=1-<8 hex>-<24 hex> in it, and only the
 * characters such headers have (it is passed on to the runtime as Lambda-Runtime-Trace-Id). */
static bool usable_trace(const char *t)
{
	const char *root;
	size_t n;

	if (!t || (n = strlen(t)) > 150 || !(root = strstr(t, "Root=1-")) || strlen(root) < 40 ||
	    root[15] != '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)t[i]) && !strchr("=;-_. ", t[i]))
			return false;
	return true;
}

struct invocation *host_invoke(struct host *h, char *payload, size_t len, const char *trace,
			       const char *tenant, const char *trigger,
			       void (*on_answer)(struct invocation *, void *), void *arg)
{
	struct invocation *inv;
	char root[40], parent[20];

	if (h->queued >= HOST_QUEUE_MAX || h->shutting_down) {
		metric_inc(h->m.throttles);
		free(payload);
		return NULL;
	}
	inv = calloc(1, sizeof(*inv));
	if (!inv) {
		free(payload);
		return NULL;
	}
	inv->host = h;
	inv->trigger = trigger;
	uuid_v4(inv->id);
	inv->payload = payload;
	inv->payload_len = len;
	inv->accepted_at = loop_now();
	inv->on_answer = on_answer;
	inv->answer_arg = arg;
	snprintf(inv->tenant, sizeof(inv->tenant), "%s", tenant ? tenant : "");
	if (usable_trace(trace)) {
		snprintf(inv->trace_id, sizeof(inv->trace_id), "%.150s", trace);
	} else {
		random_hex(root, 12);
		random_hex(parent, 8);
		snprintf(inv->trace_id, sizeof(inv->trace_id),
			 "Root=1-%08lx-%s;Parent=%s;Sampled=0", (unsigned long)time(NULL), root,
			 parent);
	}
	if (h->queue_tail)
		h->queue_tail->next = inv;
	else
		h->queue = inv;
	h->queue_tail = inv;
	h->queued++;
	/* An idle environment takes it at once; else the pool grows (a cold start). */
	for (struct environment *env = h->envs; env; env = env->next) {
		if (env->state == ENV_IDLE && strcmp(env->tenant, inv->tenant) == 0 &&
		    (h->opt.managed ? env->mi_nnext > 0 : env->next_req && !env->inv)) {
			env_deliver(env, dequeue_for(h, env));
			return inv;
		}
	}
	grow_pool(h);
	return inv;
}

/* --- command line --------------------------------------------------------------------- */

/* --- metrics ------------------------------------------------------------------------- */

static void register_metrics(struct host *h)
{
	const char *fn[] = { h->opt.function_name };
	struct metric_desc d;

	d = (struct metric_desc){ .name = "vigil_host_environments",
				  .help = "Execution environments alive in vigil host.",
				  .type = METRIC_GAUGE, .labels = { "function" } };
	h->m.environments = metric_series_get(metric_register(h->registry, &d), fn);
	d = (struct metric_desc){ .name = "vigil_host_throttles_total",
				  .help = "Invocations refused because the queue was full.",
				  .type = METRIC_COUNTER, .labels = { "function" } };
	h->m.throttles = metric_series_get(metric_register(h->registry, &d), fn);
	d = (struct metric_desc){ .name = "vigil_host_extension_init_duration_seconds",
				  .help = "Init time of each extension: exec to its first event/next.",
				  .type = METRIC_HISTOGRAM, .unit = "seconds",
				  .buckets = metric_buckets_duration,
				  .nbuckets = metric_buckets_duration_len,
				  .labels = { "function", "extension" }, .max_series = 100 };
	h->m.extension_init = metric_register(h->registry, &d);
	d = (struct metric_desc){ .name = "vigil_host_telemetry_batches_total",
				  .help = "Telemetry API batches POSTed to subscribers, by result.",
				  .type = METRIC_COUNTER, .labels = { "function", "result" } };
	h->m.deliveries = metric_register(h->registry, &d);
	d = (struct metric_desc){ .name = "vigil_host_telemetry_dropped_total",
				  .help = "Telemetry events dropped: a subscriber too slow or failing.",
				  .type = METRIC_COUNTER, .labels = { "function" } };
	h->m.telemetry_dropped = metric_series_get(metric_register(h->registry, &d), fn);
}

/* --- main ------------------------------------------------------------------------------ */

struct signals {
	struct host *host;
	int fd;
};

/* The stop's wait is over: what is still in flight ends as failed, with its REPORT. */
static void on_stop_timeout(void *arg)
{
	struct host *h = arg;

	for (struct environment *env = h->envs, *next; env; env = next) {
		next = env->next;
		if ((env->inv || env->mi_inv) && env->state != ENV_STOPPING)
			env_abort(env, "Sandbox.Shutdown");
	}
}

static void shutdown_all(struct host *h)
{
	h->shutting_down = true;
	while (h->queue) {
		struct invocation *inv = dequeue_for(h, NULL);

		inv->status = INV_FAILURE;
		snprintf(inv->error_type, sizeof(inv->error_type), "Sandbox.Shutdown");
		host_answer(h, inv);
		inv->phase_over = true;
		maybe_free(inv);
	}
	/* An environment serving an invocation finishes it first (its answer, its lines, its
	 * REPORT): host_env_ready stops it then. --stop-timeout bounds the wait. */
	for (struct environment *env = h->envs, *next; env; env = next) {
		next = env->next;
		if ((env->inv && env->state != ENV_IDLE && env->state != ENV_STOPPING) ||
		    (env->mi_inv && env->state != ENV_STOPPING)) {
			log_info("host", "environment %u: stopping once invoke %s is over (at most "
				 "%.3g s)", env->index, env->inv ? env->inv->id : env->mi_inv->id,
				 h->opt.stop_timeout_s);
			if (!loop_timer_active(&h->stop_timer))
				loop_timer_start(h->loop, &h->stop_timer,
						 loop_now() + h->opt.stop_timeout_s, on_stop_timeout, h);
			continue;
		}
		env_stop(env, "spindown");
	}
	if (!h->envs)
		loop_stop(h->loop);
}

static void on_signal(void *arg, uint32_t events)
{
	struct signals *s = arg;
	struct signalfd_siginfo si;

	(void)events;
	while (read(s->fd, &si, sizeof(si)) == (ssize_t)sizeof(si)) {
		if (si.ssi_signo == SIGCHLD) {
			pid_t pid;
			int status;

			while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
				env_reap(s->host, pid, status);
		} else if (!s->host->shutting_down) {
			log_info("host", "%s: shutting down", strsignal((int)si.ssi_signo));
			shutdown_all(s->host);
		} else {
			/* A second signal: do not wait for the grace period. */
			for (struct environment *env = s->host->envs; env; env = env->next) {
				if (env->runtime.running)
					kill(-env->runtime.pid, SIGKILL);
				for (unsigned i = 0; i < env->next_ext; i++)
					if (env->ext[i].proc.running)
						kill(-env->ext[i].proc.pid, SIGKILL);
			}
		}
	}
}

static int setup_function(struct host *h, char **bootstrap_argv)
{
	struct host_options *o = &h->opt;
	const char *base;

	if (o->function_dir) {
		struct stat st;

		if (!realpath(o->function_dir, h->task_root)) {
			fprintf(stderr, "vigil host: --function %s: %s\n", o->function_dir,
				strerror(errno));
			return 2;
		}
		snprintf(bootstrap_argv[0] = malloc(PATH_MAX + 16), PATH_MAX + 16, "%s/bootstrap",
			 h->task_root);
		bootstrap_argv[1] = NULL;
		if (stat(bootstrap_argv[0], &st) < 0 || !(st.st_mode & S_IXUSR)) {
			fprintf(stderr, "vigil host: %s is not an executable bootstrap\n",
				bootstrap_argv[0]);
			return 2;
		}
		o->argv = bootstrap_argv;
	} else if (!getcwd(h->task_root, sizeof(h->task_root))) {
		return 1;
	}
	/* Extensions: --extensions DIR, else DIR/extensions of --function, else /opt/extensions. */
	{
		char candidate[4200];
		struct stat st;

		if (o->extensions_dir_given) {
			if (!realpath(o->extensions_dir, h->extensions_dir)) {
				fprintf(stderr, "vigil host: --extensions %s: %s\n", o->extensions_dir,
					strerror(errno));
				return 2;
			}
		} else {
			snprintf(candidate, sizeof(candidate), "%s/extensions", h->task_root);
			if (o->function_dir && stat(candidate, &st) == 0 && S_ISDIR(st.st_mode))
				snprintf(h->extensions_dir, sizeof(h->extensions_dir), "%.4095s", candidate);
			else if (stat("/opt/extensions", &st) == 0 && S_ISDIR(st.st_mode))
				snprintf(h->extensions_dir, sizeof(h->extensions_dir),
					 "/opt/extensions");
		}
	}
	if (!o->function_name) {
		base = strrchr(h->task_root, '/');
		o->function_name = o->function_dir && base && base[1] ? base + 1 : "function";
	}
	{
		time_t now = time(NULL);
		struct tm tm;
		char hex[33];

		utc_tm((long long)now, &tm);
		random_hex(hex, 16);
		snprintf(h->log_stream, sizeof(h->log_stream), "%04d/%02d/%02d/[$LATEST]%s",
			 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, hex);
	}
	return 0;
}

int host_run(const struct host_options *o, struct metric_registry *r, struct sink_set *sinks)
{
	struct host h = { .opt = *o, .registry = r, .sinks = sinks };
	struct signals sig = { &h, -1 };
	struct loop_watch *sigwatch = NULL;
	char *bootstrap_argv[2] = { NULL, NULL }, why[200];
	sigset_t set;
	int rc;

	rc = setup_function(&h, bootstrap_argv);
	if (rc)
		goto out;
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGCHLD);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	rc = 1;
	h.loop = loop_new();
	if (!h.loop)
		goto out;
	register_metrics(&h);
	h.tracker = tracker_new(h.opt.function_name, "$LATEST", h.opt.memory_mb, &h.opt.prices,
				h.registry);
	if (!h.tracker)
		goto out;
	tracker_set_mode(h.tracker, host_init_type(&h));
	tracker_tenant_label(h.tracker, h.opt.tenant_label_max);
	loop_add_hook(h.loop, flush_output, NULL);
	host_probes_start(&h);
	h.use_cgroups = cgroup_probe(why, sizeof(why)) == 0;
	if (!h.use_cgroups) {
		log_warn("host", "cgroups unavailable (%s): memory is per-process, not enforced",
			 why);
	} else {
		int killed, swept = cgroup_sweep_stale(&killed);

		if (swept)
			log_info("host", "removed %d cgroups of environments whose vigil host ended "
				 "without removing them (killed %d of their processes)", swept, killed);
	}
	sig.fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	sigwatch = sig.fd >= 0 ? loop_watch_fd(h.loop, sig.fd, EPOLLIN, on_signal, &sig) : NULL;
	if (!sigwatch)
		goto out;
	if (sink_set_start(sinks) < 0)
		goto out;
	if (h.opt.logs_enabled) {
		struct segment_writer_options so = h.opt.logs;

		so.identity = h.opt.function_name;
		h.logs = log_pipe_open(&so, h.opt.log_queue_bytes, h.registry);
	}
	rc = host_choose_user(&h);
	if (rc)
		goto out;
	rc = 1;
	h.frontdoor = frontdoor_start(&h, h.opt.listen);
	if (!h.frontdoor)
		goto out;
	/* Started: probes loaded, listeners bound, limits raised. (Functions that run as root
	 * are forked from vigil and keep what it keeps: then it keeps root's.) */
	if (h.drop_user)
		host_drop_capabilities(&h);
	log_info("host", "function %s: front door on %.*s:%u, runtime %s, %ld MB, %.3g s timeout",
		 h.opt.function_name, (int)(strrchr(h.opt.listen, ':') - h.opt.listen),
		 h.opt.listen, frontdoor_port(h.frontdoor), h.opt.argv[0], h.opt.memory_mb,
		 h.opt.timeout_s);
	rc = loop_run(h.loop) < 0 ? 1 : 0;
	loop_timer_stop(&h.logs_timer);
	loop_timer_stop(&h.stop_timer);
	flush_output(NULL);
	log_pipe_close(h.logs);
	h.logs = NULL;
	log_info("host", "stopped");
out:
	host_probes_stop(&h);
	frontdoor_stop(h.frontdoor);
	log_pipe_close(h.logs);
	/* A few seconds for what exporters still send (OTLP: what is not sent waits on disk
	 * for the next start). */
	sink_set_stop(sinks, clock_epoch_ms() + 5000);
	while (h.envs) {
		struct environment *env = h.envs;

		/* Only reached on a failed start: nothing is running. */
		h.envs = env->next;
		free(env);
	}
	loop_unwatch(sigwatch);
	if (sig.fd >= 0)
		close(sig.fd);
	loop_destroy(h.loop);
	tracker_destroy(h.tracker);
	free(bootstrap_argv[0]);
	buf_free(&pending_output);
	return rc;
}
