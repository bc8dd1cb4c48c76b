/*
 * One execution environment's lifecycle: init (extensions register, then the runtime starts;
 * init ends when all wait on next), invoke (the freeze rule), timeouts, exits, OOM
 * classification, shutdown (../shared/spec/lambda-apis.md 2.2). Its processes are in
 * process.c, its API endpoint in api.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../util/log.h"
#include "host.h"

static const char json_ct[] = "application/json";

/* --- lifecycle -------------------------------------------------------------------------- */

/* What platform.initStart and platform.restoreStart say of the environment. */
static json_t *start_record(const struct environment *env)
{
	const struct host *h = env->host;

	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:i}", "runtimeVersion",
			 "vigil-host:" VIGIL_HOST_RUNTIME_VERSION, "runtimeVersionArn",
			 "arn:aws:lambda:local::runtime:vigil-host", "functionName",
			 h->opt.function_name, "functionVersion", "$LATEST", "instanceId",
			 env->instance_id, "instanceMaxMemory", (int)h->opt.memory_mb);
}


static void on_init_timeout(void *arg)
{
	struct environment *env = arg;

	host_init_failed(env->host, env, "timeout", "Sandbox.Timedout");
}

static void on_launch_failed(void *arg)
{
	struct environment *env = arg;

	host_init_failed(env->host, env, "error", "Extension.LaunchError");
}

static void on_idle(void *arg)
{
	struct environment *env = arg;

	env_stop(env, "spindown");
}

void env_arm_idle(struct environment *env)
{
	double idle = env->host->opt.idle_timeout_s;

	loop_timer_stop(&env->idle_timer);
	if (idle > 0)
		loop_timer_start(env->host->loop, &env->idle_timer, loop_now() + idle, on_idle, env);
	env_freeze(env);
}

void env_freeze(struct environment *env)
{
	static bool said;
	int rc;

	if (!env->host->opt.freeze || env->cg.freeze_fd < 0 || env->state != ENV_IDLE ||
	    env->inv || env->cg.frozen)
		return;
	/* A batch on its way to a listener is answered first (Lambda's deliveries do not hang
	 * on a frozen listener either). */
	if (telemetry_in_flight(env)) {
		env->freeze_due = true;
		return;
	}
	env->freeze_due = false;
	rc = cgroup_freeze(&env->cg, true);
	log_debug("host", "environment %u: frozen (%d)", env->index, rc);
	if (rc < 0 && !said) {
		said = true;
		log_warn("host", "cannot freeze environments (%s): they run between invocations",
			 strerror(-rc));
	}
}

void env_thaw(struct environment *env)
{
	env->freeze_due = false;
	if (!env->cg.frozen)
		return;
	cgroup_freeze(&env->cg, false);
	log_debug("host", "environment %u: thawed", env->index);
	/* What waited for the thaw goes now, as Lambda delivers it at the next invocation. */
	telemetry_flush(env);
}

static void on_invoke_timeout(void *arg)
{
	struct invocation *inv = arg;
	struct environment *env = inv->env;
	struct buf b;

	inv->status = INV_TIMEOUT;
	snprintf(inv->error_type, sizeof(inv->error_type), "Sandbox.Timedout");
	buf_init(&b);
	line_timeout(&b, env->host->opt.log_format, inv->id, env->host->opt.timeout_s);
	host_platform_output(env->host, &b, inv->id);
	buf_free(&b);
	host_answer(env->host, inv);
	if (env->host->opt.managed) {
		/* Reported, not enforced: the environment serves the others on. */
		env_mi_finish(env, inv);
		return;
	}
	if (inv->runtime_done_at == 0)
		runtime_done_event(env, inv);
	host_finish(env->host, inv, env);
	env->inv = NULL;
	env_stop(env, "timeout");
}

static void mi_unlink(struct environment *env, struct invocation *inv)
{
	for (struct invocation **pp = &env->mi_inv; *pp; pp = &(*pp)->env_next) {
		if (*pp == inv) {
			*pp = inv->env_next;
			inv->env_next = NULL;
			env->mi_ninv--;
			return;
		}
	}
}

struct invocation *env_mi_find(struct environment *env, const char *id)
{
	for (struct invocation *inv = env->mi_inv; inv; inv = inv->env_next) {
		if (strcmp(inv->id, id) == 0)
			return inv;
	}
	return NULL;
}

void env_mi_finish(struct environment *env, struct invocation *inv)
{
	mi_unlink(env, inv);
	host_finish(env->host, inv, env);
	if (!env->mi_ninv && env->state == ENV_IDLE)
		host_env_ready(env->host, env);
}

void env_deliver(struct environment *env, struct invocation *inv)
{
	struct host *h = env->host;
	struct http_request *req;
	char deadline[32], arn[256];
	const char *headers[20];
	struct timespec now;
	struct buf b;
	int n = 0;

	loop_timer_stop(&env->idle_timer);
	if (h->opt.managed) {
		/* one of the runtime's /next calls takes it; the others wait on */
		req = env->mi_next[--env->mi_nnext];
		inv->env_next = env->mi_inv;
		env->mi_inv = inv;
		env->mi_ninv++;
	} else {
		env_thaw(env);
		req = env->next_req;
		env->next_req = NULL;
		env->inv = inv;
		env->state = ENV_BUSY;
	}
	inv->env = env;
	inv->started_at = inv->init_retry_at > 0 ? inv->init_retry_at : loop_now();
	/* A retried init inside the invoke already set the deadline when it began. */
	if (inv->deadline == 0) {
		inv->deadline = inv->started_at + h->opt.timeout_s;
		clock_gettime(CLOCK_REALTIME, &now);
		inv->deadline_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 +
				   (int64_t)(h->opt.timeout_s * 1000);
	}
	if (!loop_timer_active(&inv->timer))
		loop_timer_start(h->loop, &inv->timer, inv->deadline, on_invoke_timeout, inv);
	buf_init(&b);
	line_start(&b, h->opt.log_format, inv->id, "$LATEST");
	host_platform_output(h, &b, inv->id);
	buf_free(&b);
	if (telemetry_active(env)) {
		json_t *rec = json_pack("{s:s,s:s,s:{s:s,s:s}}", "requestId", inv->id, "version",
					"$LATEST", "tracing", "type", "X-Amzn-Trace-Id", "value",
					inv->trace_id);

		if (inv->tenant[0])
			json_object_set_new(rec, "tenantId", json_string(inv->tenant));
		telemetry_emit(env, "platform.start", rec);
	}
	for (unsigned i = 0; i < env->next_ext; i++) {
		if (env->ext[i].registered && (env->ext[i].events & EXT_INVOKE))
			extension_deliver_invoke(&env->ext[i], inv);
	}
	snprintf(deadline, sizeof(deadline), "%lld", (long long)inv->deadline_ms);
	snprintf(arn, sizeof(arn), "arn:aws:lambda:us-east-1:000000000000:function:%s",
		 h->opt.function_name);
	headers[n++] = "Content-Type";
	headers[n++] = json_ct;
	headers[n++] = "Lambda-Runtime-Aws-Request-Id";
	headers[n++] = inv->id;
	headers[n++] = "Lambda-Runtime-Deadline-Ms";
	headers[n++] = deadline;
	headers[n++] = "Lambda-Runtime-Invoked-Function-Arn";
	headers[n++] = arn;
	headers[n++] = "Lambda-Runtime-Trace-Id";
	headers[n++] = inv->trace_id;
	if (inv->tenant[0]) {
		headers[n++] = "Lambda-Runtime-Aws-Tenant-Id";
		headers[n++] = inv->tenant;
	}
	headers[n] = NULL;
	http_respond(req, 200, headers, inv->payload, inv->payload_len);
	/* After the event is on its way: the probes' bookkeeping is not on the invoke path
	 * (per environment: not for managed instances' overlapping invocations). */
	if (!h->opt.managed)
		host_probes_invoke_start(env);
}

void env_check_invoke_done(struct environment *env)
{
	struct invocation *inv = env->inv;

	if (env->state != ENV_POST || !inv || inv->runtime_done_at == 0 || !env->next_req)
		return;
	for (unsigned i = 0; i < env->next_ext; i++) {
		if (env->ext[i].busy)
			return;
	}
	env->inv = NULL;
	if (env->next_ext)
		log_debug("host", "invoke %s: post-runtime %.3f ms", inv->id,
			  (loop_now() - inv->runtime_done_at) * 1000.0);
	host_finish(env->host, inv, env);
	env->state = ENV_IDLE;
	host_env_ready(env->host, env);
}

void env_maybe_start_runtime(struct environment *env)
{
	struct host *h = env->host;
	unsigned registered = 0;
	char **envp;
	int rc;

	if (env->runtime.pid || env->state != ENV_STARTING)
		return;
	for (unsigned i = 0; i < env->next_ext; i++)
		registered += env->ext[i].external && env->ext[i].registered;
	if (registered < env->n_external)
		return;
	envp = process_environment(env, 0);
	if (!envp) {
		host_init_failed(h, env, "error", "Runtime.Unknown");
		return;
	}
	env->runtime.ext = NULL;
	{
		/* AWS_LAMBDA_EXEC_WRAPPER (from --env): Lambda starts the runtime through it. */
		const char *wrapper = NULL;
		char **argv = h->opt.argv, *wrapped[256];

		for (size_t i = 0; i < h->opt.nenv; i++) {
			if (strncmp(h->opt.env[i], "AWS_LAMBDA_EXEC_WRAPPER=", 24) == 0)
				wrapper = h->opt.env[i] + 24;
		}
		if (wrapper && *wrapper) {
			size_t n = 0;

			wrapped[n++] = (char *)wrapper;
			for (size_t i = 0; h->opt.argv[i] && n < 255; i++)
				wrapped[n++] = h->opt.argv[i];
			wrapped[n] = NULL;
			argv = wrapped;
		}
		rc = proc_start(&env->runtime, env, argv, envp, h->task_root);
	}
	free_strv(envp);
	if (rc < 0) {
		log_error("host", "cannot start the runtime: %s", strerror(-rc));
		host_init_failed(h, env, "error", "Runtime.InvalidEntrypoint");
	}
}

void env_check_init_done(struct environment *env)
{
	struct host *h = env->host;

	if (env->state != ENV_STARTING || !env->runtime_parked_first ||
	    (!env->next_req && !env->restore_req) || env->restore_at > 0)
		return;
	for (unsigned i = 0; i < env->next_ext; i++) {
		if (env->ext[i].registered && env->ext[i].ready_at == 0)
			return;
	}
	env->init_ms = (loop_now() - env->spawned_at) * 1000.0;
	host_coldstart_init_done(env, "success", env->init_ms);
	/* A retry inside an invoke is part of its Duration, not an Init Duration; SnapStart's
	 * init is the snapshot's: its invocations report the restore instead. */
	env->report_init = strcmp(env->phase, "init") == 0 && !h->opt.snapstart;
	host_probes_init_done(env);
	loop_timer_stop(&env->init_timer);
	env->nphases = 0;
	for (unsigned i = 0; i < env->next_ext; i++) {
		struct extension *x = &env->ext[i];

		if (x->registered && x->external) {
			/* exec → first event/next: the extension's own init (the fork and the
			 * cgroup move before the exec are the host's). */
			double from = x->proc.exec_at > 0 ? x->proc.exec_at : x->spawned_at;

			if (env->nphases < REPORT_PHASES) {
				struct report_phase *p = &env->phases[env->nphases++];
				char name[sizeof(p->name)];

				/* (through a copy: the name and p are both in env) */
				snprintf(name, sizeof(name), "extension %.50s", x->name);
				memcpy(p->name, name, sizeof(name));
				p->start_ms = (from - env->spawned_at) * 1000.0;
				p->duration_ms = (x->ready_at - from) * 1000.0;
			}
			metric_observe(metric_with(h->m.extension_init, h->opt.function_name, x->name),
				       x->ready_at - from);
			log_debug("host", "extension %s: init %.3f ms", x->name,
				  (x->ready_at - from) * 1000.0);
		}
	}
	if (env->nphases < REPORT_PHASES && env->runtime_ready_at > 0) {
		/* exec of the runtime → its first /next */
		struct report_phase *p = &env->phases[env->nphases++];
		double from = env->runtime.exec_at > 0 ? env->runtime.exec_at : env->spawned_at;

		snprintf(p->name, sizeof(p->name), "runtime");
		p->start_ms = (from - env->spawned_at) * 1000.0;
		p->duration_ms = (env->runtime_ready_at - from) * 1000.0;
	}
	telemetry_emit(env, "platform.initReport",
		       json_pack("{s:s,s:s,s:s,s:{s:f}}", "initializationType",
				 host_init_type(h), "phase", env->phase, "status", "success",
				 "metrics", "durationMs", env->init_ms));
	telemetry_init_done(env);
	if (h->opt.snapstart) {
		env_restore(env);
		return;
	}
	env->state = ENV_IDLE;
	host_env_ready(h, env);
}

/* SnapStart, emulated: the snapshot would be taken here (no memory snapshot is: CRIU cannot
 * on this kernel) and this environment is restored from it: platform.restoreStart, the
 * runtime's restore/next answered (its after-restore hooks run), and the restore is over at
 * its next /next (at once when it never asked for restore/next). */
void env_restore(struct environment *env)
{
	struct host *h = env->host;

	env->restore_at = loop_now();
	loop_timer_stop(&env->init_timer);
	loop_timer_start(h->loop, &env->init_timer, env->restore_at + HOST_RESTORE_TIMEOUT,
			 on_init_timeout, env);
	telemetry_emit(env, "platform.restoreStart", start_record(env));
	if (env->restore_req) {
		struct http_request *req = env->restore_req;

		env->restore_req = NULL;
		http_respond(req, 200, NULL, "", 0);
		return;
	}
	if (env->next_req)
		env_restore_done(env, NULL);
}

void env_restore_done(struct environment *env, const char *error_type)
{
	struct host *h = env->host;
	const char *status = error_type ? "error" : "success";
	json_t *rec;

	env->restore_ms = (loop_now() - env->restore_at) * 1000.0;
	rec = json_pack("{s:s}", "status", status);
	if (error_type)
		json_object_set_new(rec, "errorType", json_string(error_type));
	telemetry_emit(env, "platform.restoreRuntimeDone", rec);
	rec = json_pack("{s:s,s:{s:f}}", "status", status, "metrics", "durationMs",
			env->restore_ms);
	if (error_type)
		json_object_set_new(rec, "errorType", json_string(error_type));
	telemetry_emit(env, "platform.restoreReport", rec);
	loop_timer_stop(&env->init_timer);
	if (error_type) {
		host_init_failed(h, env, "error", error_type);
		return;
	}
	env->report_restore = true;
	env->restore_at = 0;
	env->state = ENV_IDLE;
	host_env_ready(h, env);
}

/* The files of the extensions folder, sorted by name (Lambda starts all of them; one it
 * cannot execute fails the init: launch_extensions). */
static int list_extensions(const char *dir, char names[][128], int max)
{
	struct dirent **list;
	int n, count = 0;

	if (!dir[0])
		return 0;
	n = scandir(dir, &list, NULL, alphasort);
	if (n < 0)
		return 0;
	for (int i = 0; i < n; i++) {
		char path[4400];
		struct stat st;

		snprintf(path, sizeof(path), "%.4095s/%.255s", dir, list[i]->d_name);
		if (list[i]->d_name[0] != '.' && strlen(list[i]->d_name) < 128 &&
		    stat(path, &st) == 0 && S_ISREG(st.st_mode) && count < max)
			snprintf(names[count++], 128, "%.127s", list[i]->d_name);
		free(list[i]);
	}
	free(list);
	return count;
}

static int launch_extensions(struct environment *env)
{
	struct host *h = env->host;
	char names[HOST_MAX_EXTENSIONS + 1][128];
	int n = list_extensions(h->extensions_dir, names, HOST_MAX_EXTENSIONS + 1);
	char **envp;

	if (n > HOST_MAX_EXTENSIONS) {
		log_error("host", "%s holds more than %d extensions", h->extensions_dir,
			  HOST_MAX_EXTENSIONS);
		return -E2BIG;
	}
	if (n == 0)
		return 0;
	envp = process_environment(env, 1);
	if (!envp)
		return -ENOMEM;
	for (int i = 0; i < n; i++) {
		struct extension *x;
		char path[4400], *argv[2] = { path, NULL };

		snprintf(path, sizeof(path), "%.4095s/%.127s", h->extensions_dir, names[i]);
		if (access(path, X_OK) < 0) {
			/* Said as Lambda says it (a script shipped without its run bit), and the
			 * init fails. */
			struct buf b;

			buf_init(&b);
			buf_printf(&b, "EXTENSION\tName: %s\tState: LaunchError\tEvents: []\t"
				   "Error Type: PermissionDenied\n", names[i]);
			host_platform_output(h, &b, NULL);
			buf_free(&b);
			telemetry_emit(env, "platform.extension",
				       json_pack("{s:s,s:s,s:[],s:s}", "name", names[i], "state",
						 "LaunchError", "events", "errorType",
						 "PermissionDenied"));
			free_strv(envp);
			return -EACCES;
		}
		x = &env->ext[env->next_ext++];
		x->env = env;
		x->external = true;
		x->proc.ext = x;
		snprintf(x->name, sizeof(x->name), "%.127s", names[i]);
		x->spawned_at = loop_now();
		if (proc_start(&x->proc, env, argv, envp, h->task_root) < 0) {
			free_strv(envp);
			return -errno;
		}
		env->n_external++;
	}
	free_strv(envp);
	return 0;
}

struct environment *env_spawn(struct host *h, struct invocation *inv, const char *phase)
{
	struct environment *env = calloc(1, sizeof(*env));
	char name[64];
	struct buf b;

	if (!env)
		return NULL;
	env->host = h;
	env->index = h->next_index++;
	env->runtime.out_fd = env->runtime.err_fd = env->runtime.exec_fd = -1;
	env->runtime.env = env;
	env->init_ms = -1;
	env->phase = phase;
	env->state = ENV_STARTING;
	env->registration_open = true;
	env->inv = inv;
	env->cg.peak_fd = env->cg.freeze_fd = -1;
	env->ns_user_fd = env->ns_mnt_fd = -1;
	random_hex(env->instance_id, 16);
	host_coldstart_spawn(env);
	env->restore_ms = -1;
	if (inv) {
		inv->env = env;
		snprintf(env->tenant, sizeof(env->tenant), "%s", inv->tenant);
	}
	env->api = env_listen_api(env);
	if (!env->api)
		goto fail;
	env->api_port = http_server_port(env->api);
	if (h->use_cgroups) {
		snprintf(name, sizeof(name), "vigil-%d-env%u", (int)getpid(), env->index);
		if (cgroup_create(&env->cg, name, h->opt.memory_mb) < 0) {
			log_warn("host", "cannot create cgroup %s: per-process accounting", name);
			cgroup_destroy(&env->cg);
		}
		env->oom_base = cgroup_oom_kills(&env->cg);
	}
	telemetry_env_init(env);
	env_sandbox_start(env);
	buf_init(&b);
	line_init_start(&b, h->opt.log_format, "vigil-host:" VIGIL_HOST_RUNTIME_VERSION,
			h->opt.function_name, "$LATEST");
	host_platform_output(h, &b, NULL);
	buf_free(&b);
	{
		json_t *rec = start_record(env);

		json_object_set_new(rec, "initializationType", json_string(host_init_type(h)));
		json_object_set_new(rec, "phase", json_string(phase));
		telemetry_emit(env, "platform.initStart", rec);
	}
	env->spawned_at = loop_now();
	{
		/* A retry inside an invoke is also bounded by the invoke's deadline. */
		double until = env->spawned_at + HOST_INIT_TIMEOUT;

		if (inv && inv->deadline > 0 && inv->deadline < until)
			until = inv->deadline;
		loop_timer_start(h->loop, &env->init_timer, until, on_init_timeout, env);
	}
	env->next = h->envs;
	h->envs = env;
	h->nenvs++;
	metric_set(h->m.environments, h->nenvs);
	if (launch_extensions(env) < 0) {
		/* Failed on the next round, not here: the caller still holds env (and a retry
		 * inside an invoke would otherwise nest in the failure of the first). */
		loop_timer_start(h->loop, &env->init_timer, loop_now(), on_launch_failed, env);
		return env;
	}
	env_maybe_start_runtime(env);
	log_debug("host", "environment %u: API 127.0.0.1:%u, %u extensions, phase %s",
		  env->index, env->api_port, env->n_external, phase);
	return env;
fail:
	log_error("host", "cannot start an environment: %s", strerror(errno));
	http_server_destroy(env->api);
	cgroup_destroy(&env->cg);
	host_coldstart_free(env);
	if (inv)
		inv->env = NULL;
	free(env);
	return NULL;
}

static void on_kill_deadline(void *arg)
{
	struct environment *env = arg;

	proc_signal(&env->runtime, SIGKILL);
	for (unsigned i = 0; i < env->next_ext; i++)
		proc_signal(&env->ext[i].proc, SIGKILL);
	cgroup_kill_all(&env->cg);
}

static int all_gone(const struct environment *env)
{
	if (env->runtime.running)
		return 0;
	for (unsigned i = 0; i < env->next_ext; i++) {
		if (env->ext[i].proc.running)
			return 0;
	}
	return 1;
}

static void env_free(struct environment *env)
{
	struct host *h = env->host;
	struct environment **pp;

	if (env->inv) {
		struct invocation *inv = env->inv;

		env->inv = NULL;
		host_abandon(h, inv);
	}
	while (env->mi_inv) {
		struct invocation *inv = env->mi_inv;

		mi_unlink(env, inv);
		host_abandon(h, inv);
	}
	for (pp = &h->envs; *pp; pp = &(*pp)->next) {
		if (*pp == env) {
			*pp = env->next;
			break;
		}
	}
	loop_timer_stop(&env->init_timer);
	loop_timer_stop(&env->idle_timer);
	loop_timer_stop(&env->kill_timer);
	loop_timer_stop(&env->hold_timer);
	proc_close_output(&env->runtime);
	for (unsigned i = 0; i < env->next_ext; i++)
		proc_close_output(&env->ext[i].proc);
	telemetry_env_free(env);
	host_coldstart_free(env);
	env_sandbox_stop(env);
	http_server_destroy(env->api);
	cgroup_kill_all(&env->cg);
	cgroup_destroy(&env->cg);
	free(env);
}

static void finish_if_gone(struct environment *env)
{
	if (env->state == ENV_STOPPING && all_gone(env)) {
		host_probes_env_gone(env);
		host_env_gone(env->host, env);
		env_free(env);
	}
}

/* The end of a stop: a parked /next stays parked, the runtime gets SIGTERM, as in Lambda;
 * what is queued for subscribers goes (back to back from here on) before extensions
 * registered for SHUTDOWN get the event; the others are killed. */
static void shut_processes(struct environment *env)
{
	struct host *h = env->host;

	proc_read_output(&env->runtime);
	for (unsigned i = 0; i < env->next_ext; i++)
		proc_read_output(&env->ext[i].proc);
	proc_signal(&env->runtime, SIGTERM);
	telemetry_flush(env);
	for (unsigned i = 0; i < env->next_ext; i++) {
		struct extension *x = &env->ext[i];

		if (x->registered && (x->events & EXT_SHUTDOWN) && x->proc.running)
			extension_send_shutdown(x);
		else
			proc_signal(&x->proc, SIGKILL);
	}
	if (all_gone(env)) {
		finish_if_gone(env);
		return;
	}
	loop_timer_start(h->loop, &env->kill_timer, loop_now() + HOST_SHUTDOWN_GRACE,
			 on_kill_deadline, env);
}

#define QUIET_S 0.05		/* a runtime's output this long quiet: it has said all */
#define QUIET_MAX_S 1.0		/* …or this long after a graceful stop began */

static void on_quiet_check(void *arg)
{
	struct environment *env = arg;
	double now = loop_now();

	/* Output vigil holds back (its log writer or a subscriber behind) is output already
	 * made: the stop waits for it as long as --stop-timeout allows, or it would be lost
	 * with the runtime's own buffers at SIGTERM. */
	if (env->output_held)
		env->held_in_stop = true;
	if (now >= (env->held_in_stop ? env->held_deadline : env->quiet_deadline) ||
	    !env->runtime.running || (!env->output_held && now - env->last_output >= QUIET_S)) {
		shut_processes(env);
		return;
	}
	loop_timer_start(env->host->loop, &env->kill_timer, now + QUIET_S / 2, on_quiet_check, env);
}

void env_stop(struct environment *env, const char *reason)
{
	struct host *h = env->host;

	if (env->state == ENV_STOPPING)
		return;
	env_thaw(env);
	log_debug("host", "environment %u: shutting down (%s)", env->index, reason);
	env->stop_reason = reason;
	env->state = ENV_STOPPING;
	h->nenvs--;
	metric_set(h->m.environments, h->nenvs);
	loop_timer_stop(&env->init_timer);
	loop_timer_stop(&env->idle_timer);
	env->hold_expired = false;
	loop_timer_stop(&env->hold_timer);
	env_hold_output(env, HOLD_TELEMETRY, false);
	proc_read_output(&env->runtime);
	for (unsigned i = 0; i < env->next_ext; i++)
		proc_read_output(&env->ext[i].proc);
	if (strcmp(reason, "spindown") == 0 && env->runtime.running) {
		/* A graceful stop: what the runtime still holds in its own buffers (Node's
		 * stdout, once the pipe was full) comes out while it waits on /next. SIGTERM
		 * once its output has been quiet a moment. */
		env->quiet_deadline = loop_now() + QUIET_MAX_S;
		env->held_in_stop = env->output_held != 0;
		env->held_deadline = loop_now() + (h->opt.stop_timeout_s > QUIET_MAX_S ?
						   h->opt.stop_timeout_s : QUIET_MAX_S);
		loop_timer_start(h->loop, &env->kill_timer, loop_now() + QUIET_S, on_quiet_check,
				 env);
		return;
	}
	shut_processes(env);
}

/* Why the runtime ended, as Lambda names it. */
static const char *exit_error_type(struct environment *env)
{
	if (env->cg.version && cgroup_oom_kills(&env->cg) > env->oom_base)
		return "Runtime.OutOfMemory";
	if (env->probe_oom_pid)	/* the probes saw the OOM killer choose one of its processes */
		return "Runtime.OutOfMemory";
	return "Runtime.ExitError";
}

static void describe_exit(int status, char *out, size_t n)
{
	if (WIFEXITED(status))
		snprintf(out, n, "exit status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(out, n, "signal: %s", strsignal(WTERMSIG(status)));
	else
		snprintf(out, n, "status %d", status);
}

/* The invocation in flight ends as failed with type: the platform's line (what happened,
 * then the type), its answer if the caller has none yet (an error the caller already has — a
 * 413, a function error — stays the reported one), its runtimeDone and REPORT. */
static void end_failed(struct environment *env, const char *type, const char *what,
		       const char *detail)
{
	struct host *h = env->host;
	struct invocation *inv = env->inv;
	struct buf b;

	env->inv = NULL;
	buf_init(&b);
	buf_printf(&b, "RequestId: %s Error: %s\n%s\n", inv->id, what, type);
	host_platform_output(h, &b, inv->id);
	buf_free(&b);
	if (!inv->answered)
		invocation_error_result(inv, type, detail);
	if (!inv->answered || inv->status == INV_SUCCESS) {
		inv->status = INV_FAILURE;
		snprintf(inv->error_type, sizeof(inv->error_type), "%s", type);
	}
	host_answer(h, inv);
	if (inv->runtime_done_at == 0)
		runtime_done_event(env, inv);
	host_finish(h, inv, env);
}

/* An invocation in flight fails because a process of its environment ended. */
static void fail_invocation(struct environment *env, const char *type, const char *how)
{
	char what[160], detail[96];

	snprintf(what, sizeof(what), "%s exited with error: %s",
		 strncmp(type, "Extension.", 10) == 0 ? "Extension" : "Runtime", how);
	snprintf(detail, sizeof(detail), "exited with error: %s", how);
	end_failed(env, type, what, detail);
}

/* Managed instances: every invocation in flight fails (a process of the environment ended). */
static void fail_all(struct environment *env, const char *type, const char *how)
{
	while (env->mi_inv) {
		struct invocation *inv = env->mi_inv;

		mi_unlink(env, inv);
		env->inv = inv;
		fail_invocation(env, type, how);
	}
}

void env_abort(struct environment *env, const char *type)
{
	static const char why[] = "the host stopped before the invocation ended";

	if ((!env->inv && !env->mi_inv) || env->state == ENV_STOPPING)
		return;
	if (env->inv)
		end_failed(env, type, why, why);
	while (env->mi_inv) {
		struct invocation *inv = env->mi_inv;

		mi_unlink(env, inv);
		env->inv = inv;
		end_failed(env, type, why, why);
	}
	env_stop(env, "spindown");
}

static void runtime_exited(struct environment *env, const char *how)
{
	struct host *h = env->host;

	if (env->mi_inv && env->state != ENV_STOPPING) {
		fail_all(env, exit_error_type(env), how);
		env_stop(env, "failure");
		return;
	}
	switch (env->state) {
	case ENV_STARTING: {
		const char *type = env->init_error[0] ? env->init_error : exit_error_type(env);

		log_info("host", "environment %u: runtime exited during init (%s)", env->index, how);
		host_init_failed(h, env, "error", type);
		return;
	}
	case ENV_BUSY:
	case ENV_POST:
		fail_invocation(env, exit_error_type(env), how);
		env_stop(env, "failure");
		return;
	case ENV_IDLE:
		log_info("host", "environment %u: runtime exited while idle (%s)", env->index, how);
		env_stop(env, "failure");
		return;
	case ENV_STOPPING:
		finish_if_gone(env);
		return;
	}
}

static void extension_exited(struct environment *env, struct extension *x, const char *how)
{
	struct host *h = env->host;
	const char *type = x->error_type[0] ? x->error_type : "Extension.Crash";
	struct buf b;

	if (!x->registered && WIFEXITED(x->proc.wait_status) &&
	    WEXITSTATUS(x->proc.wait_status) == 127)
		type = "Extension.LaunchError";
	if (env->state != ENV_STOPPING) {
		buf_init(&b);
		buf_printf(&b, "EXTENSION\tName: %s\tState: %s\tEvents: []\n", x->name,
			   strcmp(type, "Extension.Crash") == 0 ? "Crashed" : "Failed");
		host_platform_output(h, &b, NULL);
		buf_free(&b);
		telemetry_emit(env, "platform.extension",
			       json_pack("{s:s,s:s,s:[],s:s}", "name", x->name, "state", "Failed",
					 "events", "errorType", type));
	}
	if (env->mi_inv && env->state != ENV_STOPPING) {
		fail_all(env, type, how);
		env_stop(env, "failure");
		return;
	}
	switch (env->state) {
	case ENV_STARTING:
		log_info("host", "environment %u: extension %s exited during init (%s)", env->index,
			 x->name, how);
		host_init_failed(h, env, "error", type);
		return;
	case ENV_BUSY:
	case ENV_POST:
		fail_invocation(env, type, how);
		env_stop(env, "failure");
		return;
	case ENV_IDLE:
		log_info("host", "environment %u: extension %s exited (%s)", env->index, x->name, how);
		env_stop(env, "failure");
		return;
	case ENV_STOPPING:
		finish_if_gone(env);
		return;
	}
}

void env_reap(struct host *h, pid_t pid, int status)
{
	struct environment *env;
	struct proc *p = NULL;
	char how[64];

	for (env = h->envs; env && !p; env = env->next) {
		if (env->runtime.pid == pid && env->runtime.running) {
			p = &env->runtime;
			break;
		}
		for (unsigned i = 0; i < env->next_ext; i++) {
			if (env->ext[i].proc.pid == pid && env->ext[i].proc.running) {
				p = &env->ext[i].proc;
				break;
			}
		}
		if (p)
			break;
	}
	if (!p)
		return;
	p->running = false;
	p->wait_status = status;
	/* Kill what it left behind in its group; print what it wrote last. */
	kill(-pid, SIGKILL);
	proc_close_output(p);
	describe_exit(status, how, sizeof(how));
	if (p->ext) {
		extension_exited(env, p->ext, how);
	} else {
		/* A fatal signal or an OOM kill the probes saw in the environment says more
		 * than the wait status of a shell in front of the real runtime. */
		host_probes_describe_exit(env, how, sizeof(how));
		runtime_exited(env, how);
	}
}
