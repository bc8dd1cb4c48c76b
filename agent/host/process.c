/*
 * An environment's processes (the runtime and external extensions): each started in its own
 * process group and the environment's cgroup, with the environment Lambda gives it, its
 * output read line by line to the host's stdout, the log segments, the tracker and the
 * telemetry subscribers.
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
#include "../util/lines.h"
#include "apigw.h"
#include "host.h"

#define LINE_MAX_BYTES (256 * 1024)

/* --- output of the processes ---------------------------------------------------------- */

static const char *current_request(const struct environment *env)
{
	if (env->inv && (env->state == ENV_BUSY || env->state == ENV_POST))
		return env->inv->id;
	return NULL;
}

/* One line of a process: to the host's output, and to telemetry as function/extension. */
static void emit_line(struct proc *p, const char *line, size_t n)
{
	struct environment *env = p->env;
	int json_line = n > 0 && line[0] == '{';
	bool tel = telemetry_active(env);
	const char *rid = current_request(env);
	json_t *record = NULL;
	struct buf b;

	buf_init(&b);
	if (env->host->opt.log_format == LOG_FORMAT_JSON && !json_line) {
		char now[32];

		iso_time_now(now);
		buf_puts(&b, "{\"timestamp\":\"");
		buf_puts(&b, now);
		buf_puts(&b, "\",\"level\":\"INFO\",\"requestId\":");
		json_put_string(&b, rid ? rid : "");
		buf_puts(&b, ",\"message\":");
		json_put_stringn(&b, line, n);
		buf_puts(&b, "}");
		if (tel)
			record = json_loadb(b.data, b.len, 0, NULL);
		buf_putc(&b, '\n');
	} else {
		buf_append(&b, line, n);
		buf_putc(&b, '\n');
		if (tel && env->host->opt.log_format == LOG_FORMAT_JSON && json_line)
			record = json_loadb(line, n, 0, NULL);
	}
	if (tel && !record)
		record = json_text(line, n);
	host_output(&b);
	buf_free(&b);
	if (env->host->logs) {
		struct log_line meta = {
			.stream = 1 + (env->index % 4096) * (HOST_MAX_EXTENSIONS + 1) +
				  (p->ext ? (unsigned)(p->ext - env->ext) + 1 : 0),
			.source = p->ext ? VIGIL__V1__SOURCE__SOURCE_EXTENSION :
					   VIGIL__V1__SOURCE__SOURCE_FUNCTION,
			.extension = p->ext ? p->ext->name : NULL,
			.request_id = rid,
			.function_name = env->host->opt.function_name,
			.function_version = "$LATEST",
		};

		log_pipe_line(env->host->logs, &meta, line, n);
	}
	if (rid)	/* the invocation's log counts */
		tracker_log_line(env->host->tracker, rid, line, n);
	if (record)
		telemetry_emit(env, p->ext ? "extension" : "function", record);
}

#define LOGS_POLL_S 0.005

/* The host's log writer caught up (its queue under a quarter): every environment it held
 * is read again. */
static void on_logs_poll(void *arg)
{
	struct host *h = arg;
	size_t limit, q = log_pipe_backlog(h->logs, &limit);

	if (q > limit / 4) {
		loop_timer_start(h->loop, &h->logs_timer, loop_now() + LOGS_POLL_S, on_logs_poll, h);
		return;
	}
	for (struct environment *env = h->envs; env; env = env->next)
		env_hold_output(env, HOLD_LOGS, false);
}

/* The log writer past half its queue: hold the environment's output (its queue's end drops
 * lines) until it catches up. */
static void logs_backlog(struct environment *env)
{
	struct host *h = env->host;
	size_t limit;

	if (!h->logs || log_pipe_backlog(h->logs, &limit) <= limit / 2)
		return;
	env_hold_output(env, HOLD_LOGS, true);
	if (!loop_timer_active(&h->logs_timer))
		loop_timer_start(h->loop, &h->logs_timer, loop_now() + LOGS_POLL_S, on_logs_poll, h);
}

static void on_line(void *arg, const char *line, size_t n)
{
	emit_line(arg, n ? line : "", n);
}

/* Read what a process wrote; emit whole lines (a line over 256 KiB is cut). */
static void drain(struct proc *p, int *fdp, struct loop_watch **wp, struct buf *line,
		  bool to_end)
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
				emit_line(p, line->data, line->len);
			buf_reset(line);
			loop_unwatch(*wp);
			*wp = NULL;
			close(*fdp);
			*fdp = -1;
			return;
		}
		p->env->last_output = loop_now();
		lines_split(line, chunk, (size_t)n, LINE_MAX_BYTES, on_line, p);
		/* A subscriber or the log writer fell behind: the rest waits in the pipe (the
		 * process blocks on it once it is full, as on a slow disk). */
		logs_backlog(p->env);
		if (p->env->output_held && !to_end)
			return;
	}
}

void proc_read_output(struct proc *p)
{
	if (p->out_fd >= 0)
		drain(p, &p->out_fd, &p->out_watch, &p->out_line, false);
	if (p->err_fd >= 0)
		drain(p, &p->err_fd, &p->err_watch, &p->err_line, false);
}

static void hold_proc(struct proc *p, bool hold)
{
	if (p->out_watch)
		loop_watch_modify(p->out_watch, hold ? 0 : EPOLLIN);
	if (p->err_watch)
		loop_watch_modify(p->err_watch, hold ? 0 : EPOLLIN);
}

void env_hold_output(struct environment *env, unsigned reason, bool hold)
{
	unsigned was = env->output_held;

	env->output_held = hold ? was | reason : was & ~reason;
	if (!was == !env->output_held)
		return;
	hold = env->output_held != 0;
	hold_proc(&env->runtime, hold);
	for (unsigned i = 0; i < env->next_ext; i++)
		hold_proc(&env->ext[i].proc, hold);
	if (hold)
		return;
	proc_read_output(&env->runtime);
	for (unsigned i = 0; i < env->next_ext && !env->output_held; i++)
		proc_read_output(&env->ext[i].proc);
}

static void on_stdout(void *arg, uint32_t events)
{
	struct proc *p = arg;

	(void)events;
	drain(p, &p->out_fd, &p->out_watch, &p->out_line, false);
}

static void on_stderr(void *arg, uint32_t events)
{
	struct proc *p = arg;

	(void)events;
	drain(p, &p->err_fd, &p->err_watch, &p->err_line, false);
}

static void on_exec(void *arg, uint32_t events)
{
	struct proc *p = arg;

	(void)events;
	/* EOF: the write end closed at exec (or at exit, when exec failed). */
	if (p->exec_at == 0)
		p->exec_at = loop_now();
	loop_unwatch(p->exec_watch);
	p->exec_watch = NULL;
	close(p->exec_fd);
	p->exec_fd = -1;
}

void proc_close_output(struct proc *p)
{
	if (p->exec_fd >= 0) {
		loop_unwatch(p->exec_watch);
		p->exec_watch = NULL;
		close(p->exec_fd);
		p->exec_fd = -1;
	}
	/* Everything it wrote, held or not (past the hold's slack: dropped and said). */
	if (p->out_fd >= 0)
		drain(p, &p->out_fd, &p->out_watch, &p->out_line, true);
	if (p->err_fd >= 0)
		drain(p, &p->err_fd, &p->err_watch, &p->err_line, true);
	/* Still open (a grandchild holds them): stop reading. */
	if (p->out_fd >= 0) {
		loop_unwatch(p->out_watch);
		close(p->out_fd);
		p->out_fd = -1;
	}
	if (p->err_fd >= 0) {
		loop_unwatch(p->err_watch);
		close(p->err_fd);
		p->err_fd = -1;
	}
	buf_free(&p->out_line);
	buf_free(&p->err_line);
}

/* --- environment variables --------------------------------------------------------------- */

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

/* The runtime's environment, or (for_extension) the reduced set extensions get. */
char **process_environment(struct environment *env, int for_extension)
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
	add_env(envp, &n, "AWS_LAMBDA_FUNCTION_NAME", h->opt.function_name);
	add_env(envp, &n, "AWS_LAMBDA_FUNCTION_VERSION", "$LATEST");
	add_env(envp, &n, "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", mem);
	add_env(envp, &n, "AWS_REGION", "us-east-1");
	add_env(envp, &n, "AWS_DEFAULT_REGION", "us-east-1");
	/* (the extensions too: they tell the mode by it, as the OpenTelemetry layer does) */
	add_env(envp, &n, "AWS_LAMBDA_INITIALIZATION_TYPE", host_init_type(h));
	if (h->opt.managed) {
		char max[24];

		snprintf(max, sizeof(max), "%ld", h->opt.max_concurrency);
		add_env(envp, &n, "AWS_LAMBDA_MAX_CONCURRENCY", max);
	}
	if (!for_extension) {
		add_env(envp, &n, "_HANDLER", h->opt.handler);
		add_env(envp, &n, "LAMBDA_TASK_ROOT", h->task_root);
		add_env(envp, &n, "LAMBDA_RUNTIME_DIR", h->task_root);
		/* SnapStart functions never get the two log-name variables. */
		if (!h->opt.snapstart) {
			add_env(envp, &n, "AWS_LAMBDA_LOG_GROUP_NAME", group);
			add_env(envp, &n, "AWS_LAMBDA_LOG_STREAM_NAME", h->log_stream);
		}
		add_env(envp, &n, "AWS_LAMBDA_LOG_FORMAT",
			h->opt.log_format == LOG_FORMAT_JSON ? "JSON" : "Text");
		add_env(envp, &n, "AWS_XRAY_CONTEXT_MISSING", "LOG_ERROR");
	}
	for (size_t i = 0; i < h->opt.nenv; i++) {
		char *eq = strchr(h->opt.env[i], '=');

		if (eq) {
			char key[256];

			snprintf(key, sizeof(key), "%.*s", (int)(eq - h->opt.env[i]), h->opt.env[i]);
			/* Extensions never get variables starting with '_'. */
			if (!for_extension || key[0] != '_')
				add_env(envp, &n, key, eq + 1);
		}
	}
	if (!for_extension)
		host_coldstart_environment(env, envp, &n, add_env);
	envp[n] = NULL;
	return envp;
}

void free_strv(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* --- processes ----------------------------------------------------------------------- */

static void child_exec(struct environment *env, char *const *argv, char **envp, int out_w,
		       int err_w, const char *dir, bool runtime)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	setpgid(0, 0);
	if (cgroup_enter(&env->cg) < 0)
		_exit(126);
	host_probes_child(env);
	host_become_user(env->host);
	env_sandbox_join(env);
	dup2(out_w, STDOUT_FILENO);
	dup2(err_w, STDERR_FILENO);
	if (runtime)
		host_coldstart_child(env);
	if (chdir(dir) < 0) {
		dprintf(err_w, "vigil host: cannot enter %s: %s\n", dir, strerror(errno));
		_exit(126);
	}
	execve(argv[0], argv, envp);
	/* Not a path: search PATH like a shell would. */
	if (!strchr(argv[0], '/'))
		execvpe(argv[0], argv, envp);
	dprintf(err_w, "vigil host: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

/* Start argv as a process of env with its output captured. 0 or -errno. */
int proc_start(struct proc *p, struct environment *env, char *const *argv, char **envp,
		      const char *dir)
{
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, ex[2] = { -1, -1 };

	p->env = env;
	p->out_fd = p->err_fd = p->exec_fd = -1;
	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0 || pipe2(ex, O_CLOEXEC) < 0)
		goto fail;
	p->pid = fork();
	if (p->pid < 0)
		goto fail;
	if (p->pid == 0)
		child_exec(env, argv, envp, out[1], err[1], dir, p == &env->runtime);
	setpgid(p->pid, p->pid);
	p->running = true;
	close(out[1]);
	close(err[1]);
	close(ex[1]);
	p->exec_fd = ex[0];
	p->exec_watch = loop_watch_fd(env->host->loop, p->exec_fd, EPOLLIN, on_exec, p);
	p->out_fd = out[0];
	p->err_fd = err[0];
	fcntl(p->out_fd, F_SETFL, O_NONBLOCK);
	fcntl(p->err_fd, F_SETFL, O_NONBLOCK);
	p->out_watch = loop_watch_fd(env->host->loop, p->out_fd, EPOLLIN, on_stdout, p);
	p->err_watch = loop_watch_fd(env->host->loop, p->err_fd, EPOLLIN, on_stderr, p);
	return 0;
fail:
	{
		int e = errno;

		for (int i = 0; i < 2; i++) {
			if (out[i] >= 0)
				close(out[i]);
			if (err[i] >= 0)
				close(err[i]);
			if (ex[i] >= 0)
				close(ex[i]);
		}
		p->pid = 0;
		return -e;
	}
}

void proc_signal(struct proc *p, int sig)
{
	if (p->running && p->pid > 0)
		kill(-p->pid, sig);
}
