/*
 * One execution environment: the runtime process (own process group and cgroup), its
 * output, and its Runtime API 2018-06-01 endpoint (../shared/spec/lambda-apis.md 1).
 */
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../log.h"
#include "host.h"

#define PREFIX "/2018-06-01/runtime/"
#define LINE_MAX_BYTES (256 * 1024)

static const char json_ct[] = "application/json";

static void reply_json(struct http_request *req, int status, const char *body)
{
	const char *headers[] = { "Content-Type", json_ct, NULL };

	http_respond(req, status, headers, body, strlen(body));
}

static void reply_error(struct http_request *req, int status, const char *type, const char *msg)
{
	struct buf b;

	buf_init(&b);
	buf_puts(&b, "{\"errorMessage\":");
	json_put_string(&b, msg);
	buf_puts(&b, ",\"errorType\":");
	json_put_string(&b, type);
	buf_putc(&b, '}');
	reply_json(req, status, b.data ? b.data : "{}");
	buf_free(&b);
}

static void reply_accepted(struct http_request *req)
{
	reply_json(req, 202, "{\"status\":\"OK\"}");
}

/* --- output of the runtime ------------------------------------------------------------ */

static const char *current_request(const struct environment *env)
{
	if (env->inv && (env->state == ENV_BUSY || env->state == ENV_POST))
		return env->inv->id;
	return NULL;
}

static void emit_line(struct environment *env, const char *line, size_t n, int is_err)
{
	struct buf b;

	(void)is_err;
	buf_init(&b);
	if (env->host->opt.log_format == LOG_FORMAT_JSON && !(n > 0 && line[0] == '{')) {
		char now[32];
		const char *rid = current_request(env);

		iso_time_now(now);
		buf_puts(&b, "{\"timestamp\":\"");
		buf_puts(&b, now);
		buf_puts(&b, "\",\"level\":\"INFO\",\"requestId\":");
		json_put_string(&b, rid ? rid : "");
		buf_puts(&b, ",\"message\":");
		json_put_stringn(&b, line, n);
		buf_puts(&b, "}\n");
	} else {
		buf_append(&b, line, n);
		buf_putc(&b, '\n');
	}
	host_output(&b);
	buf_free(&b);
}

/* Read what the runtime wrote; print whole lines (a line over 256 KiB is cut). */
static void drain_output(struct environment *env, int *fdp, struct loop_watch **wp,
			 struct buf *line, int is_err)
{
	char chunk[16384];

	for (;;) {
		ssize_t n = read(*fdp, chunk, sizeof(chunk));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			if (line->len)
				emit_line(env, line->data, line->len, is_err);
			buf_reset(line);
			loop_unwatch(*wp);
			*wp = NULL;
			close(*fdp);
			*fdp = -1;
			return;
		}
		for (ssize_t i = 0; i < n; i++) {
			if (chunk[i] == '\n') {
				emit_line(env, line->data ? line->data : "", line->len, is_err);
				buf_reset(line);
			} else if (line->len < LINE_MAX_BYTES) {
				buf_putc(line, chunk[i]);
			}
		}
	}
}

static void on_stdout(void *arg, uint32_t events)
{
	struct environment *env = arg;

	(void)events;
	drain_output(env, &env->out_fd, &env->out_watch, &env->out_line, 0);
}

static void on_stderr(void *arg, uint32_t events)
{
	struct environment *env = arg;

	(void)events;
	drain_output(env, &env->err_fd, &env->err_watch, &env->err_line, 1);
}

/* --- Runtime API ---------------------------------------------------------------------- */

static void deliver_headers_and_body(struct environment *env, struct http_request *req,
				     struct invocation *inv)
{
	char deadline[32], arn[256];
	const char *headers[16];
	int n = 0;

	snprintf(deadline, sizeof(deadline), "%lld", (long long)inv->deadline_ms);
	snprintf(arn, sizeof(arn), "arn:aws:lambda:us-east-1:000000000000:function:%s",
		 env->host->opt.function_name);
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
	headers[n] = NULL;
	http_respond(req, 200, headers, inv->payload, inv->payload_len);
}

static void on_invoke_timeout(void *arg)
{
	struct invocation *inv = arg;
	struct environment *env = inv->env;
	struct buf b;

	inv->timer = NULL;
	inv->status = INV_TIMEOUT;
	snprintf(inv->error_type, sizeof(inv->error_type), "Sandbox.Timedout");
	buf_init(&b);
	line_timeout(&b, env->host->opt.log_format, inv->id, env->host->opt.timeout_s);
	host_output(&b);
	buf_free(&b);
	host_answer(env->host, inv);
	host_finish(env->host, inv, env);
	env->inv = NULL;
	env_stop(env, "timeout");
}

void env_deliver(struct environment *env, struct invocation *inv)
{
	struct http_request *req = env->next_req;
	struct timespec now;
	struct buf b;

	loop_timer_cancel(env->idle_timer);
	env->idle_timer = NULL;
	env->next_req = NULL;
	env->inv = inv;
	inv->env = env;
	env->state = ENV_BUSY;
	inv->started_at = loop_now();
	/* A retried init inside the invoke already set the deadline when it began. */
	if (inv->deadline == 0) {
		inv->deadline = inv->started_at + env->host->opt.timeout_s;
		clock_gettime(CLOCK_REALTIME, &now);
		inv->deadline_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 +
				   (int64_t)(env->host->opt.timeout_s * 1000);
	}
	if (!inv->timer)
		inv->timer = loop_timer_at(env->host->loop, inv->deadline, on_invoke_timeout, inv);
	buf_init(&b);
	line_start(&b, env->host->opt.log_format, inv->id, "$LATEST");
	host_output(&b);
	buf_free(&b);
	deliver_headers_and_body(env, req, inv);
}

static void on_next_abort(struct http_request *req, void *arg)
{
	struct environment *env = arg;

	if (env->next_req == req)
		env->next_req = NULL;
}

static void handle_next(struct environment *env, struct http_request *req)
{
	if (req->method != HTTP_GET) {
		reply_error(req, 405, "MethodNotAllowed", "use GET");
		return;
	}
	if (env->next_req || env->state == ENV_BUSY || env->state == ENV_STOPPING) {
		reply_error(req, 403, "InvalidStateTransition",
			    "State transition from the current state to Next is not allowed");
		return;
	}
	env->next_req = req;
	req->on_abort = on_next_abort;
	req->abort_arg = env;
	if (env->state == ENV_STARTING) {
		env->init_ms = (loop_now() - env->spawned_at) * 1000.0;
		env->report_init = true;
		loop_timer_cancel(env->init_timer);
		env->init_timer = NULL;
	} else if (env->state == ENV_POST) {
		struct invocation *inv = env->inv;

		env->inv = NULL;
		host_finish(env->host, inv, env);
	}
	env->state = ENV_IDLE;
	host_env_ready(env->host, env);
}

/* The id in PREFIX "invocation/{id}/response": the caller compares it to the current one. */
static int parse_invocation_path(const char *path, char *id, size_t idlen, const char **verb)
{
	const char *p = path + strlen(PREFIX "invocation/"), *slash = strchr(p, '/');

	if (!slash || (size_t)(slash - p) >= idlen)
		return -1;
	memcpy(id, p, (size_t)(slash - p));
	id[slash - p] = '\0';
	*verb = slash + 1;
	return 0;
}

static void take_body(struct invocation *inv, struct http_request *req)
{
	const char *ct = http_request_header(req, "Content-Type");

	free(inv->result);
	inv->result = req->body;
	inv->result_len = req->body_len;
	req->body = NULL;
	req->body_len = 0;
	snprintf(inv->content_type, sizeof(inv->content_type), "%s", ct ? ct : json_ct);
}

/* Lambda keeps an error type only when it reads Category.Reason. */
static void error_type_of(struct http_request *req, char *out, size_t n)
{
	const char *h = http_request_header(req, "Lambda-Runtime-Function-Error-Type");
	json_t *root;

	out[0] = '\0';
	root = json_loadb(req->body, req->body_len, 0, NULL);
	if (json_is_object(root) && json_is_string(json_object_get(root, "errorType")))
		snprintf(out, n, "%s", json_string_value(json_object_get(root, "errorType")));
	json_decref(root);
	if (!out[0] && h && *h)
		snprintf(out, n, "%s", h);
	if (!out[0])
		snprintf(out, n, "Unhandled");
}

static void handle_invocation(struct environment *env, struct http_request *req,
			      const char *path)
{
	struct invocation *inv = env->inv;
	const char *verb;
	char id[64];

	if (parse_invocation_path(path, id, sizeof(id), &verb) < 0 ||
	    (strcmp(verb, "response") != 0 && strcmp(verb, "error") != 0)) {
		reply_error(req, 404, "NotFound", "unknown Runtime API path");
		return;
	}
	if (req->method != HTTP_POST) {
		reply_error(req, 405, "MethodNotAllowed", "use POST");
		return;
	}
	if (!inv || strcmp(id, inv->id) != 0 || (env->state != ENV_BUSY && env->state != ENV_POST)) {
		reply_error(req, 400, "InvalidRequestID", "Invalid request ID");
		return;
	}
	if (env->state == ENV_POST) {
		/* Answered already (e.g. an error after a 413): accept, change nothing. */
		if (inv->status == INV_ERROR && strcmp(verb, "error") == 0) {
			reply_accepted(req);
			return;
		}
		reply_error(req, 400, "InvalidRequestID", "Invalid request ID: already answered");
		return;
	}
	if (strcmp(verb, "response") == 0) {
		const char *mode = http_request_header(req, "Lambda-Runtime-Function-Response-Mode");

		if (mode && strcasecmp(mode, "streaming") != 0) {
			reply_error(req, 400, "InvalidFunctionResponseMode",
				    "Lambda-Runtime-Function-Response-Mode must be streaming");
			inv->status = INV_ERROR;
			snprintf(inv->error_type, sizeof(inv->error_type),
				 "Runtime.InvalidResponseModeHeader");
		} else if (req->body_too_large || req->body_len > HOST_MAX_RESPONSE) {
			char msg[160];

			snprintf(msg, sizeof(msg), "Response payload size (%zu bytes) exceeded maximum "
				 "allowed payload size (%d bytes).", req->body_seen, HOST_MAX_RESPONSE);
			reply_error(req, 413, "RequestEntityTooLarge", msg);
			inv->status = INV_ERROR;
			snprintf(inv->error_type, sizeof(inv->error_type),
				 "Function.ResponseSizeTooLarge");
			free(inv->result);
			inv->result = NULL;
			{
				struct buf b;

				buf_init(&b);
				buf_puts(&b, "{\"errorMessage\":");
				json_put_string(&b, msg);
				buf_puts(&b, ",\"errorType\":\"Function.ResponseSizeTooLarge\"}");
				inv->result = buf_steal(&b, &inv->result_len);
			}
		} else {
			take_body(inv, req);
			inv->status = INV_SUCCESS;
			reply_accepted(req);
		}
	} else {
		error_type_of(req, inv->error_type, sizeof(inv->error_type));
		take_body(inv, req);
		inv->status = INV_ERROR;
		reply_accepted(req);
	}
	env->state = ENV_POST;
	host_answer(env->host, inv);
}

static void handle_init_error(struct environment *env, struct http_request *req)
{
	if (req->method != HTTP_POST) {
		reply_error(req, 405, "MethodNotAllowed", "use POST");
		return;
	}
	if (env->state != ENV_STARTING) {
		reply_error(req, 403, "InvalidStateTransition",
			    "init/error is only allowed during init");
		return;
	}
	error_type_of(req, env->init_error, sizeof(env->init_error));
	reply_accepted(req);
	/* Lambda waits for the runtime to exit; the exit finishes the failed init. */
}

static void on_api_request(void *arg, struct http_request *req)
{
	struct environment *env = arg;
	char path[1024];
	size_t n = strcspn(req->url, "?");

	snprintf(path, sizeof(path), "%.*s", (int)(n < sizeof(path) ? n : sizeof(path) - 1),
		 req->url);
	if (strcmp(path, PREFIX "invocation/next") == 0)
		handle_next(env, req);
	else if (strncmp(path, PREFIX "invocation/", strlen(PREFIX "invocation/")) == 0)
		handle_invocation(env, req, path);
	else if (strcmp(path, PREFIX "init/error") == 0)
		handle_init_error(env, req);
	else if (strncmp(path, PREFIX "restore/", strlen(PREFIX "restore/")) == 0)
		reply_error(req, 403, "InvalidStateTransition", "this function does not use SnapStart");
	else
		reply_error(req, 404, "NotFound", "unknown Runtime API path");
}

/* --- process ------------------------------------------------------------------------- */

static void on_init_timeout(void *arg)
{
	struct environment *env = arg;

	env->init_timer = NULL;
	host_init_failed(env->host, env, "timeout", "Sandbox.Timedout");
}

static void on_idle(void *arg)
{
	struct environment *env = arg;

	env->idle_timer = NULL;
	env_stop(env, "spindown");
}

void env_arm_idle(struct environment *env)
{
	double idle = env->host->opt.idle_timeout_s;

	loop_timer_cancel(env->idle_timer);
	env->idle_timer = idle > 0 ? loop_timer_at(env->host->loop, loop_now() + idle, on_idle, env) :
				     NULL;
}

static void add_env(char **envp, size_t *n, const char *key, const char *value)
{
	size_t kl = strlen(key);

	/* A later KEY replaces an earlier one, so --env may override the defaults. */
	for (size_t i = 0; i < *n; i++) {
		if (strncmp(envp[i], key, kl) == 0 && envp[i][kl] == '=') {
			free(envp[i]);
			if (asprintf(&envp[i], "%s=%s", key, value) < 0)
				envp[i] = NULL;
			return;
		}
	}
	if (asprintf(&envp[*n], "%s=%s", key, value) >= 0)
		(*n)++;
}

static char **runtime_environment(struct environment *env)
{
	struct host *h = env->host;
	char api[64], mem[32], group[300];
	size_t n = 0;
	char **envp = calloc(40 + h->opt.nenv, sizeof(char *));
	const char *path = getenv("PATH"), *home = getenv("HOME");

	if (!envp)
		return NULL;
	snprintf(api, sizeof(api), "127.0.0.1:%u", env->api_port);
	snprintf(mem, sizeof(mem), "%ld", h->opt.memory_mb);
	snprintf(group, sizeof(group), "/aws/lambda/%s", h->opt.function_name);
	add_env(envp, &n, "PATH", path ? path : "/usr/local/bin:/usr/bin:/bin");
	add_env(envp, &n, "HOME", home ? home : "/tmp");
	add_env(envp, &n, "LANG", "en_US.UTF-8");
	add_env(envp, &n, "TZ", ":UTC");
	add_env(envp, &n, "AWS_LAMBDA_RUNTIME_API", api);
	add_env(envp, &n, "_HANDLER", h->opt.handler);
	add_env(envp, &n, "LAMBDA_TASK_ROOT", h->task_root);
	add_env(envp, &n, "LAMBDA_RUNTIME_DIR", h->task_root);
	add_env(envp, &n, "AWS_LAMBDA_FUNCTION_NAME", h->opt.function_name);
	add_env(envp, &n, "AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
	add_env(envp, &n, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", mem);
	add_env(envp, &n, "AWS_LAMBDA_LOG_GROUP_NAME", group);
	add_env(envp, &n, "AWS_LAMBDA_LOG_STREAM_NAME", h->log_stream);
	add_env(envp, &n, "AWS_LAMBDA_LOG_FORMAT",
		h->opt.log_format == LOG_FORMAT_JSON ? "JSON" : "Text");
	add_env(envp, &n, "AWS_LAMBDA_INITIALIZATION_TYPE", "on-demand");
	add_env(envp, &n, "AWS_REGION", "us-east-1");
	add_env(envp, &n, "AWS_DEFAULT_REGION", "us-east-1");
	add_env(envp, &n, "AWS_XRAY_CONTEXT_MISSING", "LOG_ERROR");
	for (size_t i = 0; i < h->opt.nenv; i++) {
		char *eq = strchr(h->opt.env[i], '=');

		if (eq) {
			char key[256];

			snprintf(key, sizeof(key), "%.*s", (int)(eq - h->opt.env[i]), h->opt.env[i]);
			add_env(envp, &n, key, eq + 1);
		}
	}
	envp[n] = NULL;
	return envp;
}

static void free_strv(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

static const struct http_server_limits api_limits = {
	.max_body = HOST_MAX_RESPONSE,
	.max_header_bytes = 64 * 1024,
	.max_headers = 100,
	.max_connections = 64,
	.idle_timeout = 3600,
};

/* The Runtime API listener: the configured address for the first environment, then the
 * next free ports after it (port 0: any free port). */
static struct http_server *listen_api(struct environment *env)
{
	struct host *h = env->host;
	const char *colon = strrchr(h->opt.runtime_api, ':');
	long base = colon ? strtol(colon + 1, NULL, 10) : 0;
	char addr[128];

	for (unsigned k = 0; k < 100; k++) {
		long port = base ? base + env->index + k : 0;
		struct http_server *s;

		if (port > 65535)
			break;
		snprintf(addr, sizeof(addr), "%.*s:%ld", (int)(colon - h->opt.runtime_api),
			 h->opt.runtime_api, port);
		s = http_server_new(h->loop, addr, &api_limits, on_api_request, env);
		if (s)
			return s;
		if (errno != EADDRINUSE || env->index == 0)
			break;
	}
	log_error("host", "cannot listen for the Runtime API on %s: %s", addr, strerror(errno));
	return NULL;
}

static void child_exec(struct environment *env, char **envp, int out_w, int err_w)
{
	struct host *h = env->host;
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	setpgid(0, 0);
	if (cgroup_enter(&env->cg) < 0)
		_exit(126);
	dup2(out_w, STDOUT_FILENO);
	dup2(err_w, STDERR_FILENO);
	if (chdir(h->task_root) < 0)
		_exit(126);
	execve(h->opt.argv[0], h->opt.argv, envp);
	/* Not a path: search PATH like a shell would. */
	if (!strchr(h->opt.argv[0], '/'))
		execvpe(h->opt.argv[0], h->opt.argv, envp);
	dprintf(err_w, "vigil host: cannot run %s: %s\n", h->opt.argv[0], strerror(errno));
	_exit(127);
}

struct environment *env_spawn(struct host *h, struct invocation *inv, const char *phase)
{
	struct environment *env = calloc(1, sizeof(*env));
	int out[2] = { -1, -1 }, err[2] = { -1, -1 };
	char name[64], **envp = NULL;
	struct buf b;

	if (!env)
		return NULL;
	env->host = h;
	env->index = h->next_index++;
	env->out_fd = env->err_fd = -1;
	env->init_ms = -1;
	env->phase = phase;
	env->state = ENV_STARTING;
	env->inv = inv;
	if (inv)
		inv->env = env;
	env->api = listen_api(env);
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
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)
		goto fail;
	envp = runtime_environment(env);
	if (!envp)
		goto fail;
	buf_init(&b);
	line_init_start(&b, h->opt.log_format, "vigil-host:" VIGIL_HOST_RUNTIME_VERSION,
			h->opt.function_name, "$LATEST");
	host_output(&b);
	buf_free(&b);
	env->spawned_at = loop_now();
	env->pid = fork();
	if (env->pid < 0)
		goto fail;
	if (env->pid == 0)
		child_exec(env, envp, out[1], err[1]);
	setpgid(env->pid, env->pid);
	free_strv(envp);
	close(out[1]);
	close(err[1]);
	env->out_fd = out[0];
	env->err_fd = err[0];
	fcntl(env->out_fd, F_SETFL, O_NONBLOCK);
	fcntl(env->err_fd, F_SETFL, O_NONBLOCK);
	env->out_watch = loop_watch_fd(h->loop, env->out_fd, EPOLLIN, on_stdout, env);
	env->err_watch = loop_watch_fd(h->loop, env->err_fd, EPOLLIN, on_stderr, env);
	{
		/* A retry inside an invoke is also bounded by the invoke's deadline. */
		double until = env->spawned_at + HOST_INIT_TIMEOUT;

		if (inv && inv->deadline > 0 && inv->deadline < until)
			until = inv->deadline;
		env->init_timer = loop_timer_at(h->loop, until, on_init_timeout, env);
	}
	env->next = h->envs;
	h->envs = env;
	h->nenvs++;
	metric_set(h->m.environments, h->nenvs);
	log_debug("host", "environment %u: pid %d, Runtime API 127.0.0.1:%u, phase %s",
		  env->index, (int)env->pid, env->api_port, phase);
	return env;
fail:
	log_error("host", "cannot start an environment: %s", strerror(errno));
	free_strv(envp);
	for (int i = 0; i < 2; i++) {
		if (out[i] >= 0)
			close(out[i]);
		if (err[i] >= 0)
			close(err[i]);
	}
	http_server_destroy(env->api);
	cgroup_destroy(&env->cg);
	if (inv)
		inv->env = NULL;
	free(env);
	return NULL;
}

static void on_kill_deadline(void *arg)
{
	struct environment *env = arg;

	env->kill_timer = NULL;
	if (!env->exited)
		kill(-env->pid, SIGKILL);
	cgroup_kill_all(&env->cg);
}

void env_stop(struct environment *env, const char *reason)
{
	struct host *h = env->host;

	if (env->state == ENV_STOPPING)
		return;
	log_debug("host", "environment %u: shutting down (%s)", env->index, reason);
	env->stop_reason = reason;
	env->state = ENV_STOPPING;
	h->nenvs--;
	metric_set(h->m.environments, h->nenvs);
	loop_timer_cancel(env->init_timer);
	loop_timer_cancel(env->idle_timer);
	env->init_timer = env->idle_timer = NULL;
	/* A parked /next stays parked: the runtime gets SIGTERM, as in Lambda, and the
	 * connection closes with the environment. */
	if (env->exited) {
		env_reap(h, env->pid, env->wait_status);
		return;
	}
	kill(-env->pid, SIGTERM);
	env->kill_timer = loop_timer_at(h->loop, loop_now() + HOST_SHUTDOWN_GRACE,
					on_kill_deadline, env);
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
	for (pp = &h->envs; *pp; pp = &(*pp)->next) {
		if (*pp == env) {
			*pp = env->next;
			break;
		}
	}
	loop_timer_cancel(env->init_timer);
	loop_timer_cancel(env->idle_timer);
	loop_timer_cancel(env->kill_timer);
	if (env->out_fd >= 0)
		drain_output(env, &env->out_fd, &env->out_watch, &env->out_line, 0);
	if (env->err_fd >= 0)
		drain_output(env, &env->err_fd, &env->err_watch, &env->err_line, 1);
	/* Pipes still open (a grandchild holds them): stop reading. */
	if (env->out_fd >= 0) {
		loop_unwatch(env->out_watch);
		close(env->out_fd);
	}
	if (env->err_fd >= 0) {
		loop_unwatch(env->err_watch);
		close(env->err_fd);
	}
	buf_free(&env->out_line);
	buf_free(&env->err_line);
	http_server_destroy(env->api);
	cgroup_kill_all(&env->cg);
	cgroup_destroy(&env->cg);
	free(env);
}

/* Why the runtime ended, as Lambda names it. */
static const char *exit_error_type(struct environment *env)
{
	if (env->cg.version && cgroup_oom_kills(&env->cg) > env->oom_base)
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

void env_reap(struct host *h, pid_t pid, int status)
{
	struct environment *env;
	char how[64];

	for (env = h->envs; env && env->pid != pid; env = env->next)
		;
	if (!env)
		return;
	env->exited = true;
	env->wait_status = status;
	describe_exit(status, how, sizeof(how));
	/* Kill what the runtime left behind in its group. */
	kill(-env->pid, SIGKILL);
	switch (env->state) {
	case ENV_STARTING: {
		const char *type = env->init_error[0] ? env->init_error : exit_error_type(env);

		log_info("host", "environment %u: runtime exited during init (%s)", env->index, how);
		host_init_failed(h, env, "error", type);
		return;
	}
	case ENV_BUSY:
	case ENV_POST: {
		struct invocation *inv = env->inv;
		struct buf b;

		env->inv = NULL;
		buf_init(&b);
		buf_printf(&b, "RequestId: %s Error: Runtime exited with error: %s\n", inv->id, how);
		buf_printf(&b, "%s\n", exit_error_type(env));
		host_output(&b);
		buf_free(&b);
		if (!inv->answered) {
			inv->status = INV_FAILURE;
			snprintf(inv->error_type, sizeof(inv->error_type), "%s", exit_error_type(env));
			free(inv->result);
			inv->result = NULL;
			asprintf(&inv->result, "{\"errorType\":\"%s\",\"errorMessage\":\"RequestId: %s "
				 "Error: Runtime exited with error: %s\"}", inv->error_type, inv->id, how);
			inv->result_len = inv->result ? strlen(inv->result) : 0;
			host_answer(h, inv);
		} else if (inv->status == INV_SUCCESS) {
			inv->status = INV_FAILURE;
			snprintf(inv->error_type, sizeof(inv->error_type), "%s", exit_error_type(env));
		}
		host_finish(h, inv, env);
		env_stop(env, "failure");
		return;
	}
	case ENV_IDLE:
		log_info("host", "environment %u: runtime exited while idle (%s)", env->index, how);
		env_stop(env, "failure");
		return;
	case ENV_STOPPING:
		break;
	}
	host_env_gone(h, env);
	env_free(env);
}
