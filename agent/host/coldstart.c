/*
 * Cold starts recorded (the setting coldstart): what each environment's init did, kept in the
 * log segments for `vigil coldstart` (core/coldstart.h). With coldstart=preload the runtime
 * runs with vigil-preload.so, which writes its timeline to a file the host made (a memfd,
 * inherited as descriptor COLDSTART_FD: no path the function's user must be able to reach); with coldstart=probes the eBPF probes send the same events (probing.c). When the
 * init ends — its last /next, a failure or a timeout — the host adds what only it saw (the
 * phases: its own setup, each extension's exec → registration → first /next, the runtime's
 * exec → first /next; the Init Duration) and hands the whole to the log writer's thread, so
 * nothing of it costs the first invocation; at that invocation's end, its own phase.
 */
#include "host.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../core/coldstart.h"
#include "../core/logpipe.h"
#include "../util/clock.h"
#include "../util/log.h"

#define COLDSTART_FD 1000		/* the runtime's descriptor of the record */
#define COLDSTART_READ_MAX (64u << 20)	/* a record longer than this is cut */

/* The preload library: beside the binary (a build tree, the layer), else the package's. */
static const char *preload_path(void)
{
	static char path[PATH_MAX];
	static bool looked;

	if (!looked) {
		char exe[PATH_MAX - 32];
		ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
		char *slash;

		looked = true;
		if (n > 0) {
			exe[n] = '\0';
			slash = strrchr(exe, '/');
			if (slash) {
				*slash = '\0';
				snprintf(path, sizeof(path), "%s/vigil-preload.so", exe);
				if (access(path, R_OK) == 0)
					return path;
			}
		}
		snprintf(path, sizeof(path), "/usr/lib/vigil/vigil-preload.so");
		if (access(path, R_OK) != 0) {
			log_warn("host", "coldstart=preload: no vigil-preload.so beside the binary or "
				 "in /usr/lib/vigil: no cold start is recorded");
			path[0] = '\0';
		}
	}
	return path[0] ? path : NULL;
}

void host_coldstart_spawn(struct environment *env)
{
	struct host *h = env->host;

	env->cs_fd = -1;
	env->cs_pending_invoke = false;
	host_probes_coldstart_begin(env);
	if (h->opt.coldstart != HOST_COLDSTART_PRELOAD || !preload_path())
		return;
	/* In memory: a file of a disk filesystem costs each page the record touches a
	 * journalled fault (ext4: +9 % on a Python init, measured; memory: +2 %). */
	env->cs_fd = memfd_create("vigil-coldstart", MFD_CLOEXEC);
	if (env->cs_fd < 0) {
		char tmpl[] = "/tmp/vigil-coldstart-XXXXXX";

		env->cs_fd = mkostemp(tmpl, O_CLOEXEC);
		if (env->cs_fd >= 0)
			unlink(tmpl);
	}
	if (env->cs_fd < 0)
		log_warn("host", "coldstart: cannot make the record's file: %s", strerror(errno));
}

void host_coldstart_environment(struct environment *env, char **envp, size_t *n,
				void (*add)(char **, size_t *, const char *, const char *))
{
	const char *lib = preload_path();
	char fd[16], *both = NULL;

	if (env->cs_fd < 0 || !lib)
		return;
	snprintf(fd, sizeof(fd), "%d", COLDSTART_FD);
	for (size_t i = 0; i < *n; i++) {
		/* (one of the function's own, from --env, is kept after ours) */
		if (strncmp(envp[i], "LD_PRELOAD=", 11) == 0 && envp[i][11] &&
		    asprintf(&both, "%s:%s", lib, envp[i] + 11) < 0)
			both = NULL;
	}
	add(envp, n, "LD_PRELOAD", both ? both : lib);
	add(envp, n, "VIGIL_COLDSTART_FD", fd);
	free(both);
}

void host_coldstart_child(struct environment *env)
{
	if (env->cs_fd >= 0)
		dup2(env->cs_fd, COLDSTART_FD);	/* (dup2's copy is not close-on-exec) */
}

/* Monotonic seconds (loop_now) as nanoseconds since the epoch. */
static uint64_t epoch_ns(double mono)
{
	return clock_mono_to_epoch_ns((uint64_t)(mono * 1e9));
}

struct cs_job {
	struct log_pipe *pipe;
	struct sink_set *sinks;
	int fd;				/* the preload's record (-1: none) */
	struct buf lines;		/* the probes' timeline and the host's own lines */
	char id[64];
	char function_name[128];
	char request_id[64];		/* the invocation that waited for this init ("" none) */
	char trace[160];		/* …and its trace header */
};

/* On the log writer's thread: the record, then the host's lines, as records of the id. */
static void write_job(void *arg)
{
	struct cs_job *j = arg;
	struct buf text;

	buf_init(&text);
	if (j->fd >= 0) {
		int rc = coldstart_read_fd(j->fd, &text, COLDSTART_READ_MAX);

		if (rc < 0)
			log_warn("host", "coldstart %s: cannot read the record: %s", j->id,
				 strerror(-rc));
		close(j->fd);
	}
	coldstart_keep(j->pipe, j->sinks, j->id, j->function_name, &text, &j->lines,
		       j->request_id, j->trace);
	buf_free(&text);
	buf_free(&j->lines);
	free(j);
}

static void phase(struct buf *b, const char *name, const char *part, double from, double to,
		  double reg)
{
	if (from <= 0 || to < from)
		return;
	coldstart_phase_line(b, epoch_ns(from), name, part,
			     (uint64_t)((to - from) * 1e9),
			     reg >= from ? (int64_t)((reg - from) * 1e9) : -1);
}

void host_coldstart_init_done(struct environment *env, const char *status, double init_ms)
{
	struct host *h = env->host;
	double now = loop_now(), first_exec = 0;
	struct cs_job *j;

	if (h->opt.coldstart == HOST_COLDSTART_OFF || !h->logs || env->cs_done)
		return;
	env->cs_done = true;
	j = calloc(1, sizeof(*j));
	if (!j)
		return;
	j->pipe = h->logs;
	j->sinks = h->sinks;
	if (env->inv) {
		snprintf(j->request_id, sizeof(j->request_id), "%s", env->inv->id);
		snprintf(j->trace, sizeof(j->trace), "%s", env->inv->trace_id);
	}
	j->fd = env->cs_fd >= 0 ? dup(env->cs_fd) : -1;
	buf_init(&j->lines);
	snprintf(j->id, sizeof(j->id), "%s", env->instance_id);
	snprintf(j->function_name, sizeof(j->function_name), "%s", h->opt.function_name);
	host_probes_coldstart_lines(env, &j->lines);
	for (unsigned i = 0; i < env->next_ext; i++) {
		const struct extension *x = &env->ext[i];
		double from = x->proc.exec_at > 0 ? x->proc.exec_at : x->spawned_at;
		char name[160];

		if (!x->external || from <= 0)
			continue;
		first_exec = first_exec == 0 || from < first_exec ? from : first_exec;
		snprintf(name, sizeof(name), "extension %.100s", x->name);
		phase(&j->lines, name, "extension", from, x->ready_at > 0 ? x->ready_at : now,
		      x->registered_at);
	}
	if (env->runtime.exec_at > 0) {
		first_exec = first_exec == 0 || env->runtime.exec_at < first_exec ?
				     env->runtime.exec_at : first_exec;
		phase(&j->lines, env->runtime_ready_at > 0 ? "runtime" : "runtime (no /next)",
		      "runtime", env->runtime.exec_at,
		      env->runtime_ready_at > 0 ? env->runtime_ready_at : now, -1);
	}
	/* the host's own part: the environment made, its first process started */
	phase(&j->lines, "sandbox", "sandbox", env->spawned_at,
	      first_exec > 0 ? first_exec : now, -1);
	coldstart_init_line(&j->lines, epoch_ns(env->spawned_at),
			    (uint64_t)(init_ms * 1e6), host_init_type(h), status,
			    h->opt.coldstart == HOST_COLDSTART_PROBES ? "probes" : "preload",
			    env->runtime.pid > 0 ? (int)env->runtime.pid : 0);
	env->cs_pending_invoke = strcmp(status, "success") == 0;
	if (log_pipe_defer(h->logs, write_job, j, j->lines.len + 4096) < 0) {
		if (j->fd >= 0)
			close(j->fd);
		buf_free(&j->lines);
		free(j);
	}
}

void host_coldstart_invoked(struct environment *env, const struct invocation *inv)
{
	struct host *h = env->host;
	struct buf b;

	if (!env->cs_pending_invoke || !h->logs || inv->started_at <= 0)
		return;
	env->cs_pending_invoke = false;
	buf_init(&b);
	phase(&b, "first invocation", "invoke", inv->started_at, loop_now(), -1);
	coldstart_log(h->logs, env->instance_id, h->opt.function_name, b.data ? b.data : "",
		      b.len);
	buf_free(&b);
}

void host_coldstart_free(struct environment *env)
{
	struct host *h = env->host;

	if (h->probes && h->opt.coldstart == HOST_COLDSTART_PROBES && !env->cs_done)
		probes_init_record(h->probes, env->index, false);
	buf_free(&env->cs_lines);
	if (env->cs_fd >= 0)
		close(env->cs_fd);
	env->cs_fd = -1;
}
