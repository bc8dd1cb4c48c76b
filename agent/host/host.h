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

#include "../util/buf.h"
#include "../core/lambda_lines.h"
#include "../core/logpipe.h"
#include "../core/metrics.h"
#include "../lib/http_server.h"
#include "../util/ids.h"
#include "../lib/loop.h"
#include "../core/sink.h"
#include "../core/tracker.h"
#include "../util/version.h"
#include "../probes/probes.h"
#include "cgroup.h"

#define VIGIL_HOST_RUNTIME_VERSION VIGIL_VERSION

#define HOST_MAX_PAYLOAD (6 * 1024 * 1024)	/* request and response, as Lambda */
#define HOST_MAX_RESPONSE (6 * 1024 * 1024 + 100)	/* RIE's buffered response limit */
#define HOST_MAX_STREAM (200 * 1024 * 1024)	/* a streamed response, as Lambda's */
#define HOST_INIT_TIMEOUT 10.0			/* seconds, on-demand init */
#define HOST_RESTORE_TIMEOUT 10.0		/* seconds, SnapStart's after-restore hooks */
#define HOST_SHUTDOWN_GRACE 2.0			/* SIGTERM, then SIGKILL after this */
#define HOST_QUEUE_MAX 1000
#define HOST_MAX_EXTENSIONS 10			/* Lambda's limit */
#define HOST_MAX_CONCURRENCY 64			/* --max-concurrency: /next parked at once */

enum inv_status { INV_PENDING, INV_SUCCESS, INV_ERROR, INV_TIMEOUT, INV_FAILURE };

struct host;
struct environment;

struct invocation {
	struct invocation *next;	/* in the host's queue */
	struct invocation *env_next;	/* in its environment's list (managed instances) */
	struct host *host;
	char id[UUID_STR_LEN];
	char *payload;
	size_t payload_len;
	char trace_id[160];
	char tenant[128];		/* X-Amz-Tenant-Id, "" none */
	const char *trigger;		/* faas.trigger: http (the front door), other */
	double accepted_at;		/* monotonic, when the caller handed it in */
	double started_at;		/* delivered to the runtime */
	double init_retry_at;		/* an init retried inside it began (0: none): its
					 * Duration counts from here (a suppressed init is
					 * folded into the invoke) */
	double deadline;		/* monotonic */
	int64_t deadline_ms;		/* epoch ms, for the runtime */
	struct environment *env;
	struct loop_timer timer;
	enum inv_status status;
	char error_type[128];
	char *result;			/* response or error body */
	size_t result_len;
	char content_type[128];
	double response_started_at;	/* the runtime's /response or /error: headers in */
	double response_done_at;	/* … and its body */
	double runtime_done_at;		/* the runtime back on /next (or failed) */
	bool streaming;			/* answered in Lambda's streaming response mode */
	struct http_request *stream_req;	/* the runtime's streaming /response, open */
	uint64_t streamed_bytes;	/* …its body's bytes so far */
	bool answered;			/* the caller has been told */
	bool phase_over;		/* END/REPORT printed */
	void (*on_answer)(struct invocation *inv, void *arg);
	/* A streamed answer's bytes as they come (data NULL, n 0: it begins; content_type is
	 * set); on_answer ends it. With answer_arg. */
	void (*on_stream)(struct invocation *inv, const char *data, size_t n, void *arg);
	void *answer_arg;
};

enum env_state { ENV_STARTING, ENV_IDLE, ENV_BUSY, ENV_POST, ENV_STOPPING };

/* A process of an environment: the runtime or an external extension. */
struct proc {
	struct environment *env;
	struct extension *ext;		/* NULL: the runtime */
	pid_t pid;			/* 0: never started */
	bool running;			/* started and not reaped yet */
	int wait_status;
	int out_fd, err_fd;
	struct loop_watch *out_watch, *err_watch;
	struct buf out_line, err_line;
	int exec_fd;			/* CLOEXEC pipe: EOF when the child has exec'd */
	struct loop_watch *exec_watch;
	double exec_at;			/* loop_now() at the exec (0 until then) */
};

enum { EXT_INVOKE = 1, EXT_SHUTDOWN = 2 };

struct subscriber;

struct extension {
	struct environment *env;
	char name[128];
	char id[UUID_STR_LEN];
	bool external;			/* a file of the extensions folder, started by the host */
	bool registered;
	unsigned events;		/* EXT_INVOKE | EXT_SHUTDOWN */
	struct proc proc;		/* external extensions */
	struct http_request *next_req;	/* parked /extension/event/next */
	bool busy;			/* holds an event, not yet back on /next */
	bool shutdown_due;		/* SHUTDOWN to send when it is back on /next */
	bool shutdown_sent;
	double spawned_at;
	double registered_at;		/* its /extension/register */
	double ready_at;		/* its first /next: the end of its init */
	char error_type[128];		/* from /init/error or /exit/error */
	struct subscriber *sub;		/* its Telemetry API subscription */
};

struct environment {
	struct environment *next;
	struct host *host;
	unsigned index;
	enum env_state state;
	struct proc runtime;
	bool runtime_parked_first;	/* the runtime's first /next, held until init is done */
	struct extension ext[HOST_MAX_EXTENSIONS];
	unsigned next_ext;
	unsigned n_external;		/* files launched from the extensions folder */
	bool registration_open;
	struct cgroup cg;
	uint64_t oom_base;
	struct http_server *api;
	unsigned api_port;
	struct http_request *next_req;	/* the runtime's parked /next */
	struct invocation *inv;		/* being served, or waiting for this init */
	/* --mode managed-instances: the runtime's parked /next calls (one a concurrent
	 * invocation it can take) and the invocations in flight, linked by env_next. */
	struct http_request *mi_next[HOST_MAX_CONCURRENCY];
	unsigned mi_nnext, mi_ninv;
	struct invocation *mi_inv;
	char tenant[128];		/* the tenant it serves ("" none: never a tenant's) */
	/* --snapstart: the runtime waits on /runtime/restore/next (the snapshot is taken) */
	struct http_request *restore_req;
	double restore_at;		/* the restore began (0: not yet) */
	double restore_done_at;		/* the runtime's hooks done: its first /next after */
	double restore_ms;		/* < 0 until the restore is over */
	bool report_restore;		/* the next REPORT carries Restore Duration */
	double spawned_at;
	double runtime_ready_at;	/* the runtime's first /next */
	double init_ms;			/* < 0 until init is done */
	struct report_phase phases[REPORT_PHASES];	/* the init's parts, for the report */
	unsigned nphases;
	bool report_init;		/* the next REPORT carries Init Duration */
	const char *phase;		/* "init", or "invoke" for the retry inside an invoke */
	char init_error[128];		/* from /runtime/init/error */
	struct loop_timer init_timer, idle_timer, kill_timer;
	const char *stop_reason;
	struct telemetry_env *tel;	/* subscriptions and init history */
	char instance_id[40];
	/* coldstart (coldstart.c) */
	int cs_fd;			/* the preload library's record (-1: none) */
	bool cs_done;			/* this init's record handed to the log writer */
	bool cs_pending_invoke;		/* the first invocation's phase is still to come */
	struct buf cs_lines;		/* coldstart=probes: the timeline so far */
	bool cs_cut;			/* …past its limit */
	/* eBPF probe facts (probing.c) */
	struct probe_totals probe_mark;	/* totals at the start of the invocation */
	struct probe_totals probe_window; /* the invocation's, measured at its end */
	uint64_t peak_rss;		/* its processes' largest peak RSS so far (Max Memory Used) */
	int probe_signal;		/* a process of it died of this signal (0: none) */
	pid_t probe_signal_pid;
	char probe_signal_comm[17];
	pid_t probe_oom_pid;		/* an OOM-kill victim of it (0: none) */
	/* Back pressure (telemetry.c): its processes' output is not read while a subscriber
	 * is behind, for telemetry_hold_ms at most; past that, what does not fit is dropped
	 * (and said in platform.logsDropped) until the subscriber catches up. */
	unsigned output_held;		/* HOLD_* reasons; 0: read */
	pid_t ns_pid;			/* its namespaces' holder (sandbox.c), 0: none */
	int ns_user_fd, ns_mnt_fd;	/* -1: the host's own /tmp */
	double last_output;		/* loop_now() when its processes last wrote */
	double quiet_deadline;		/* a graceful stop waits for quiet output until then */
	double held_deadline;		/* …or, once vigil held it back (its own writers
					 * behind), until then (--stop-timeout) */
	bool held_in_stop;
	bool hold_expired;
	struct loop_timer hold_timer;
	/* Frozen between invocations (--freeze): everything waits on /next, nothing of it runs,
	 * no telemetry goes to it until the next event thaws it. */
	bool freeze_due;		/* wanted, once the deliveries in flight are answered */
};

enum host_coldstart { HOST_COLDSTART_OFF, HOST_COLDSTART_PRELOAD, HOST_COLDSTART_PROBES };

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
	unsigned client_timeout_s;	/* front door: idle or slow clients (not while suspended) */
	enum log_format log_format;
	int payload_version;		/* 2 or 1 */
	bool telemetry_drop;		/* --telemetry-overflow drop: Lambda's drop-and-report */
	unsigned telemetry_hold_ms;	/* --telemetry-hold-ms: the longest output is held */
	double stop_timeout_s;		/* --stop-timeout: a stop waits this long for invokes */
	const char *run_user;		/* --user: the functions' user when run as root */
	bool private_tmp;		/* --private-tmp: each environment its own /tmp */
	bool freeze;			/* --freeze: frozen between invocations */
	bool managed;			/* --mode managed-instances */
	long max_concurrency;		/* --max-concurrency: invocations per environment */
	bool snapstart;			/* --snapstart */
	char **argv;			/* the runtime command */
	char **env;			/* --env KEY=VALUE, NULL-terminated */
	size_t nenv;
	bool extensions_dir_given;
	/* From the configuration, filled by the wiring layer. */
	bool probes_enabled;
	enum probe_attach probes_attach;
	unsigned probes_ring_kb;	/* a power of two */
	bool logs_enabled;
	struct segment_writer_options logs;	/* identity: set to the function's name */
	size_t log_queue_bytes;
	struct tracker_prices prices;	/* for the reports' estimated cost */
	unsigned tenant_label_max;	/* tenant_label: the tenants labelled (0: none) */
	enum host_coldstart coldstart;	/* the setting coldstart */
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
	struct loop_timer logs_timer;	/* polls the log writer while it holds output back */
	struct loop_timer stop_timer;	/* a stop's wait for in-flight invocations */
	bool drop_user;			/* the functions' processes become run_uid/run_gid */
	uid_t run_uid;
	gid_t run_gid;
	struct metric_registry *registry;
	char extensions_dir[4096];	/* "" when none */
	struct tracker *tracker;	/* every invocation's report, from its platform events */
	struct sink_set *sinks;		/* where finished reports go */
	struct {	/* the host's own: environments, queue, extensions, telemetry delivery */
		struct metric_series *environments, *throttles;
		struct metric_family *extension_init, *deliveries;
		struct metric_series *telemetry_dropped;
	} m;
	struct frontdoor *frontdoor;
	struct log_pipe *logs;		/* NULL when logs are off */
	struct probes *probes;		/* NULL when off */
	struct loop_watch *probes_watch;
	struct loop_timer probes_timer;
	uint64_t probes_lost_seen;
	struct {
		struct metric_series *enabled, *lost, *execs, *ooms, *init_opens, *init_read;
		struct metric_series *cpu_init, *cpu_invoke, *minflt, *majflt, *tcp_tx, *tcp_rx;
		struct metric_series *peak_rss;
		struct metric_family *exits;
	} pm;
};

/* AWS_LAMBDA_INITIALIZATION_TYPE and the events' initializationType of the host's mode. */
const char *host_init_type(const struct host *h);

/* Hand in an invocation (payload ownership passes to the host). trace: the caller's
 * X-Amzn-Trace-Id (NULL or unusable: a new trace, Sampled=0, as Lambda's PassThrough makes);
 * trigger: what called (OpenTelemetry's faas.trigger: "http", "other"), a static string.
 * on_answer is called once, unless the caller detaches first. NULL when the queue is full
 * (throttled). */
struct invocation *host_invoke(struct host *h, char *payload, size_t len, const char *trace,
			       const char *tenant, const char *trigger,
			       void (*on_answer)(struct invocation *, void *), void *arg);
/* producedBytes: the bytes of the response (a streamed one's, failed or not; a buffered
 * one's when it succeeded). */
uint64_t invocation_produced(const struct invocation *inv);
/* The caller went away: never call its on_answer. */
void invocation_detach(struct invocation *inv);

/* Write a buffer to the host's stdout (Lambda lines and the runtime's output). */
void host_output(struct buf *b);
/* Lambda's own lines: to stdout, and to the log segments as platform records. */
void host_platform_output(struct host *h, struct buf *b, const char *request_id);

/* environment.c */
struct environment *env_spawn(struct host *h, struct invocation *inv, const char *phase);
void env_deliver(struct environment *env, struct invocation *inv);
/* Managed instances: the invocation in flight of that id, or NULL; one that ended (answered)
 * leaves the environment's list and is reported. */
struct invocation *env_mi_find(struct environment *env, const char *id);
void env_mi_finish(struct environment *env, struct invocation *inv);
void env_stop(struct environment *env, const char *reason);

/* privileges.c. The functions' user (run as root): --user, else "vigil" if it exists, else
 * "nobody"; root (with a warning) when that user cannot run the function's files and --user
 * did not name it. 0, or an exit status (said). */
int host_choose_user(struct host *h);
/* In a new process of an environment: become that user (no capabilities, no new privileges). */
void host_become_user(const struct host *h);
/* After the start, when the functions run as another user: vigil host keeps
 * host_kept_capabilities() and clears its bounding set of the rest. */
void host_drop_capabilities(const struct host *h);
uint64_t host_kept_capabilities(bool probes);

/* sandbox.c: an environment's own /tmp (and /etc/hosts naming sandbox.localdomain) when its
 * functions run as another user, through a holder process's user and mount namespace; its
 * processes join it (in the child, after becoming the user). */
void env_sandbox_start(struct environment *env);
void env_sandbox_join(const struct environment *env);
void env_sandbox_stop(struct environment *env);
/* The invocation in flight ends as failed with type (its answer, REPORT and events), and the
 * environment stops. */
void env_abort(struct environment *env, const char *type);
void env_reap(struct host *h, pid_t pid, int status);
/* (Re)start the idle timer of an environment waiting on /next, and freeze it. */
void env_arm_idle(struct environment *env);
/* --freeze: an idle environment's processes stop (once no telemetry delivery to it is in
 * flight); its next event, or its stop, thaws them and sends what waited. */
void env_freeze(struct environment *env);
void env_thaw(struct environment *env);
/* Start the runtime once every external extension has registered. */
void env_maybe_start_runtime(struct environment *env);
/* SnapStart: restore env (its init done), and the restore over (error_type NULL: it went
 * well; else the environment fails). */
void env_restore(struct environment *env);
void env_restore_done(struct environment *env, const char *error_type);
/* Init is done when the runtime and every registered extension wait on /next. */
void env_check_init_done(struct environment *env);
/* The invoke is done when the runtime is back on /next and no extension is busy. */
void env_check_invoke_done(struct environment *env);

/* process.c: the environment's processes */
/* The environment a runtime (for_extension 0) or an extension gets, as Lambda gives it:
 * a NULL-terminated array, freed with free_strv. */
char **process_environment(struct environment *env, int for_extension);
void free_strv(char **v);
/* Start argv in its own process group and env's cgroup, its output read by the loop. 0, or
 * -1 (said). */
int proc_start(struct proc *p, struct environment *env, char *const *argv, char **envp,
	       const char *dir);
/* Signal the process group of p, if it runs. */
void proc_signal(struct proc *p, int sig);
/* Read what is left of p's output, then stop watching it. */
void proc_close_output(struct proc *p);
/* Read what the process wrote so far, now (lines emitted as the loop would). */
void proc_read_output(struct proc *p);
/* Stop (hold) or go on reading the environment's processes' output, for a reason: a
 * Telemetry API subscriber behind, or the host's own log writer. Read again once no reason
 * holds it: what waited is read at once. */
enum { HOLD_TELEMETRY = 1, HOLD_LOGS = 2 };
void env_hold_output(struct environment *env, unsigned reason, bool hold);

/* listeners.c: whether a process group listens on a loopback port */
struct listener {
	pid_t pid;		/* the process, and its descriptor of the listening socket */
	int fd;
	unsigned long inode;	/* 0: none */
};
/* A socket listening on port (on loopback or any address) that a process of group pgid
 * holds: true with *out, else false. */
bool listener_of_group(unsigned port, pid_t pgid, struct listener *out);
/* Whether that process still holds that socket (one readlink: before each delivery). */
bool listener_still(const struct listener *l);
/* Whether anything listens on port (on any address): /proc/net/tcp{,6}. */
bool listener_any(unsigned port);

/* api.c: the environment's API endpoint */
/* Listen for env's Runtime, Extensions and Telemetry APIs: the configured address for the
 * first environment, then the next free ports after it. NULL (said) when it cannot. */
struct http_server *env_listen_api(struct environment *env);
/* JSON answers shared by the three APIs. */
void api_reply_json(struct http_request *req, int status, const char *body);
void api_reply_error(struct http_request *req, int status, const char *type, const char *msg);
void api_reply_accepted(struct http_request *req);

/* runtime_api.c: /2018-06-01/runtime/… */
void runtime_api_handle(struct environment *env, struct http_request *req, const char *path);
/* The API server's stream hook: a streaming /response's body goes to its caller as it comes. */
bool runtime_api_stream(void *env, struct http_request *req);
/* platform.runtimeDone for inv: the runtime is back on /next, or failed. */
void runtime_done_event(struct environment *env, struct invocation *inv);

/* extensions_api.c: /2020-01-01/extension/… */
void extensions_api_handle(struct environment *env, struct http_request *req, const char *path);
struct extension *extension_by_id(struct environment *env, const char *id);
/* The Extensions API's identifier checks; NULL after answering 403. */
struct extension *extension_from_request(struct environment *env, struct http_request *req);
/* The process group an extension's processes are in (an internal extension's: the
 * runtime's). */
pid_t extension_pgid(const struct environment *env, const struct extension *x);
void extension_deliver_invoke(struct extension *x, struct invocation *inv);
void extension_send_shutdown(struct extension *x);

/* telemetry.c: /2022-07-01/telemetry, the events and their delivery */
struct json_t;
/* The Extensions API register body: its events (EXT_INVOKE, EXT_SHUTDOWN) into *events. NULL,
 * or the message of the 403 to answer, with *type its error type. */
const char *extension_register_events(const char *body, size_t len, unsigned *events,
				      const char **type);
/* The error type of a runtime's /error: errorType of a JSON body, else the header h, else
 * "Unhandled". */
void runtime_error_type(const char *body, size_t len, const char *h, char *out, size_t n);

void telemetry_env_init(struct environment *env);
void telemetry_env_free(struct environment *env);
/* PUT /2022-07-01/telemetry, or (logs) PUT /2020-08-15/logs: the Logs API, its record shapes
 * made from the same events. */
void telemetry_handle(struct environment *env, struct http_request *req, bool logs);
/* Emit an event of type ("platform.start", "function", …) with record (reference stolen). */
void telemetry_emit(struct environment *env, const char *type, struct json_t *record);
/* Init is over: no more subscriptions; the init history is dropped. */
void telemetry_init_done(struct environment *env);
/* Whether an event would go anywhere (init is open or someone subscribed): callers on the
 * per-invoke path build events only then. */
bool telemetry_active(const struct environment *env);
/* Deliver what is queued now (SHUTDOWN, a thaw). */
void telemetry_flush(struct environment *env);
/* A batch is on its way to one of env's listeners. */
bool telemetry_in_flight(const struct environment *env);

/* A Telemetry API subscription body, validated (pure: for the handler and for fuzzing). */
struct subscription_spec {
	unsigned types;		/* 1 platform, 2 function, 4 extension */
	int schema;		/* 0: 2022-07-01, 1: 2022-12-13, 2: 2025-01-29; Logs API: 3:
				 * 2020-08-15, 4: 2021-03-18 */
	long max_items, max_bytes, timeout_ms;
	unsigned port;
	char host[300], path[1024];
};
/* 0, or -EINVAL with a message for a 400 ValidationError (managed: Managed Instances, where
 * only 2025-01-29 is taken, and the Logs API is not). */
int telemetry_parse_subscription(const char *body, size_t len, unsigned api_port, bool logs,
				 bool managed, struct subscription_spec *spec, char *err,
				 size_t errlen);
/* host.c: an environment has a parked /next and nothing to do. */
void host_env_ready(struct host *h, struct environment *env);
/* host.c: an environment is gone (its process reaped and state freed). */
void host_env_gone(struct host *h, struct environment *env);
/* host.c: finish the invoke phase (END and REPORT lines, metrics) and free inv. */
void host_finish(struct host *h, struct invocation *inv, struct environment *env);
/* host.c: an environment goes away with inv unfinished: fail it (if unanswered), free it. */
void host_abandon(struct host *h, struct invocation *inv);
/* host.c: the error body the caller gets: {"errorType":TYPE,"errorMessage":"RequestId: ID
 * Error: DETAIL"}, escaped (TYPE may come from the runtime). */
void invocation_error_result(struct invocation *inv, const char *type, const char *detail);
/* host.c: tell the caller (once). */
void host_answer(struct host *h, struct invocation *inv);
/* host.c: an init attempt failed. */
void host_init_failed(struct host *h, struct environment *env, const char *status,
		      const char *error_type);

/* probing.c: eBPF probe facts into lines, metrics and the host's verdicts. */
void host_probes_start(struct host *h);
void host_probes_stop(struct host *h);
void host_probes_child(struct environment *env);	/* in the child, before exec */
void host_probes_init_done(struct environment *env);
/* coldstart=probes: the environment's init recorded from now on; at its end, as timeline
 * lines (core/coldstart.h) into b (its runtime's end and time on CPU included). */
void host_probes_coldstart_begin(struct environment *env);
void host_probes_coldstart_lines(struct environment *env, struct buf *b);

/* --- coldstart.c: cold starts recorded for `vigil coldstart` ----------------------------- */
/* At the environment's start (its record's file, with coldstart=preload). */
void host_coldstart_spawn(struct environment *env);
/* The runtime's environment: the preload library and its record's descriptor. */
void host_coldstart_environment(struct environment *env, char **envp, size_t *n,
				void (*add)(char **, size_t *, const char *, const char *));
/* In the runtime's child, before its exec. */
void host_coldstart_child(struct environment *env);
/* The init ended (status: success, timeout, error): the record and the phases to the logs. */
void host_coldstart_init_done(struct environment *env, const char *status, double init_ms);
/* An invocation of env ended: the first after its init is a phase of the cold start. */
void host_coldstart_invoked(struct environment *env, const struct invocation *inv);
void host_coldstart_free(struct environment *env);
void host_probes_invoke_start(struct environment *env);
/* The invocation's window measured (at its end, before its REPORT line), then printed and
 * counted (after it). */
void host_probes_invoke_measure(struct host *h, struct environment *env);
void host_probes_invoke_end(struct host *h, struct invocation *inv, struct environment *env);
void host_probes_env_gone(struct environment *env);
/* How the runtime ended, when the probes know better than the wait status (a grandchild's
 * fatal signal behind a shell, an OOM kill): rewrites how, else leaves it. The OOM kill
 * itself is env->probe_oom_pid, which exit_error_type() reads. */
void host_probes_describe_exit(struct environment *env, char *how, size_t how_len);

/* frontdoor.c */
struct frontdoor *frontdoor_start(struct host *h, const char *listen);
unsigned frontdoor_port(const struct frontdoor *fd);
void frontdoor_stop(struct frontdoor *fd);

/* Run the host as o says (copied; its strings and arrays are borrowed) until SIGINT or
 * SIGTERM: metrics into r, which the caller made; sinks started before the front door
 * opens, stopped before it returns. Exit status for main(): 0, 1 when it cannot start, 2
 * for a function folder that cannot be used (said). */
int host_run(const struct host_options *o, struct metric_registry *r, struct sink_set *sinks);

#endif
