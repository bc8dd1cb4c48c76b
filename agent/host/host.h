/*
 * `vigil host`: a Lambda-compatible platform on one Linux box. A pool of execution
 * environments (a runtime process in its own process group and cgroup, with its own
 * Runtime API endpoint), a queue of invocations, and Lambda's own log lines. Everything
 * here runs on one event loop thread; the metrics endpoint reads the registry from its own.
 */
#ifndef VIGIL_HOST_H
#define VIGIL_HOST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "../core/buf.h"
#include "../core/lambda_lines.h"
#include "../core/metrics.h"
#include "../lib/http_server.h"
#include "../lib/ids.h"
#include "../lib/loop.h"
#include "../config.h"
#include "../version.h"
#include "cgroup.h"

#define VIGIL_HOST_RUNTIME_VERSION VIGIL_VERSION

#define HOST_MAX_PAYLOAD (6 * 1024 * 1024)	/* request and response, as Lambda */
#define HOST_MAX_RESPONSE (6 * 1024 * 1024 + 100)	/* RIE's buffered response limit */
#define HOST_INIT_TIMEOUT 10.0			/* seconds, on-demand init */
#define HOST_SHUTDOWN_GRACE 2.0			/* SIGTERM, then SIGKILL after this */
#define HOST_QUEUE_MAX 1000

enum inv_status { INV_PENDING, INV_SUCCESS, INV_ERROR, INV_TIMEOUT, INV_FAILURE };

struct host;
struct environment;

struct invocation {
	struct invocation *next;	/* in the host's queue */
	struct host *host;
	char id[UUID_STR_LEN];
	char *payload;
	size_t payload_len;
	char trace_id[160];
	double accepted_at;		/* monotonic, when the caller handed it in */
	double started_at;		/* delivered to the runtime */
	double deadline;		/* monotonic */
	int64_t deadline_ms;		/* epoch ms, for the runtime */
	struct environment *env;
	struct loop_timer *timer;
	enum inv_status status;
	char error_type[128];
	char *result;			/* response or error body */
	size_t result_len;
	char content_type[128];
	bool answered;			/* the caller has been told */
	bool phase_over;		/* END/REPORT printed */
	void (*on_answer)(struct invocation *inv, void *arg);
	void *answer_arg;
};

enum env_state { ENV_STARTING, ENV_IDLE, ENV_BUSY, ENV_POST, ENV_STOPPING };

struct environment {
	struct environment *next;
	struct host *host;
	unsigned index;
	enum env_state state;
	pid_t pid;
	bool exited;
	int wait_status;
	struct cgroup cg;
	uint64_t oom_base;
	struct http_server *api;
	unsigned api_port;
	struct http_request *next_req;	/* the runtime's parked /next */
	struct invocation *inv;		/* being served, or waiting for this init */
	double spawned_at;
	double init_ms;			/* < 0 until init is done */
	bool report_init;		/* the next REPORT carries Init Duration */
	const char *phase;		/* "init", or "invoke" for the retry inside an invoke */
	char init_error[128];		/* from /runtime/init/error */
	struct loop_timer *init_timer, *idle_timer, *kill_timer;
	int out_fd, err_fd;
	struct loop_watch *out_watch, *err_watch;
	struct buf out_line, err_line;
	const char *stop_reason;
};

struct host_options {
	const char *listen;		/* front door */
	const char *runtime_api;	/* first environment's Runtime API */
	const char *handler;
	const char *function_name;
	const char *function_dir;	/* --function DIR */
	const char *extensions_dir;
	long memory_mb;
	double timeout_s;
	long concurrency;
	double idle_timeout_s;		/* 0: never */
	enum log_format log_format;
	int payload_version;		/* 2 or 1 */
	char **argv;			/* the runtime command */
	char **env;			/* --env KEY=VALUE, NULL-terminated */
	size_t nenv;
};

struct host {
	struct loop *loop;
	struct host_options opt;
	char task_root[4096];
	char log_stream[128];
	struct environment *envs;
	unsigned next_index;
	unsigned nenvs;			/* alive, not stopping */
	struct invocation *queue, *queue_tail;
	unsigned queued;
	bool use_cgroups;
	bool shutting_down;
	struct metric_registry *registry;
	struct {
		struct metric_series *environments, *cold_starts, *throttles;
		struct metric_family *invocations, *errors;
		struct metric_series *duration, *init_duration, *memory;
	} m;
	struct frontdoor *frontdoor;
};

/* Hand in an invocation (payload ownership passes to the host). on_answer is called once,
 * unless the caller detaches first. NULL when the queue is full (throttled). */
struct invocation *host_invoke(struct host *h, char *payload, size_t len,
			       void (*on_answer)(struct invocation *, void *), void *arg);
/* The caller went away: never call its on_answer. */
void invocation_detach(struct invocation *inv);

/* Write a buffer to the host's stdout (Lambda lines and the runtime's output). */
void host_output(struct buf *b);

/* environment.c */
struct environment *env_spawn(struct host *h, struct invocation *inv, const char *phase);
void env_deliver(struct environment *env, struct invocation *inv);
void env_stop(struct environment *env, const char *reason);
void env_reap(struct host *h, pid_t pid, int status);
/* (Re)start the idle timer of an environment waiting on /next. */
void env_arm_idle(struct environment *env);
/* host.c: an environment has a parked /next and nothing to do. */
void host_env_ready(struct host *h, struct environment *env);
/* host.c: an environment is gone (its process reaped and state freed). */
void host_env_gone(struct host *h, struct environment *env);
/* host.c: finish the invoke phase (END and REPORT lines, metrics) and free inv. */
void host_finish(struct host *h, struct invocation *inv, struct environment *env);
/* host.c: an environment goes away with inv unfinished: fail it (if unanswered), free it. */
void host_abandon(struct host *h, struct invocation *inv);
/* host.c: tell the caller (once). */
void host_answer(struct host *h, struct invocation *inv);
/* host.c: an init attempt failed. */
void host_init_failed(struct host *h, struct environment *env, const char *status,
		      const char *error_type);

/* frontdoor.c */
struct frontdoor *frontdoor_start(struct host *h, const char *listen);
unsigned frontdoor_port(const struct frontdoor *fd);
void frontdoor_stop(struct frontdoor *fd);

/* The `vigil host` command. */
int host_main(int argc, char **argv, const struct vigil_config *cfg);

#endif
