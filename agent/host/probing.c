/*
 * vigil host and its eBPF probes: each environment's processes are tracked from their exec
 * (the child tracks itself between fork and exec, so nothing it does is missed); at the end
 * of init and of each invocation the host prints what they did (a PROBES line after Lambda's
 * REPORT) and counts it in metrics; fatal signals and OOM kills are printed when they happen
 * and inform the host's verdict on a runtime that ended. See probes.h.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#include <jansson.h>

#include "../core/coldstart.h"
#include "../util/clock.h"
#include "../util/json_str.h"
#include "../util/log.h"
#include "../util/netaddr.h"
#include "host.h"

#define INIT_LINES_MAX (64u << 20)	/* an init's timeline past this is cut (said) */

static struct environment *env_by_index(struct host *h, unsigned index)
{
	for (struct environment *env = h->envs; env; env = env->next)
		if (env->index == index)
			return env;
	return NULL;
}

static const char *signal_label(int sig, char *buf, size_t n)
{
	const char *abbrev = sig > 0 ? sigabbrev_np(sig) : NULL;

	if (sig == 0)
		return "none";
	if (abbrev)
		snprintf(buf, n, "SIG%s", abbrev);
	else
		snprintf(buf, n, "%d", sig);
	return buf;
}

/* A platform line of vigil's own, text or JSON like Lambda's lines. */
static void put_line(struct host *h, const char *request_id, const char *text, json_t *record,
		     const char *type)
{
	struct buf b;

	buf_init(&b);
	if (h->opt.log_format == LOG_FORMAT_JSON) {
		char when[32], *rec = json_dumps(record, JSON_COMPACT | JSON_PRESERVE_ORDER);

		iso_time_now(when);
		buf_printf(&b, "{\"time\":\"%s\",\"type\":\"%s\",\"record\":%s}\n", when, type,
			   rec ? rec : "{}");
		free(rec);
	} else {
		buf_puts(&b, text);
	}
	host_platform_output(h, &b, request_id);
	buf_free(&b);
	json_decref(record);
}

static void on_fact(void *arg, const struct probe_fact *f)
{
	struct host *h = arg;
	struct environment *env = env_by_index(h, f->env);
	const char *fn = h->opt.function_name;
	char text[512], label[32];
	int sig;

	switch (f->type) {
	case PROBE_EXEC:
		metric_inc(h->pm.execs);
		log_debug("probes", "environment %u: exec %s (pid %d)", f->env, f->file, f->pid);
		break;
	case PROBE_EXIT:
		sig = WIFSIGNALED(f->status) ? WTERMSIG(f->status) : 0;
		metric_inc(metric_with(h->pm.exits, fn, signal_label(sig, label, sizeof(label))));
		/* A fatal signal the process did not ask for (not the host's SIGTERM/SIGKILL of
		 * an environment it stops) is news. */
		if (sig == 0 || !env || env->state == ENV_STOPPING)
			break;
		env->probe_signal = sig;
		env->probe_signal_pid = f->pid;
		snprintf(env->probe_signal_comm, sizeof(env->probe_signal_comm), "%s", f->comm);
		snprintf(text, sizeof(text), "PROBES EXIT\tPid: %d\tCommand: %s\tSignal: %d (%s)%s\n",
			 f->pid, f->comm, sig, strsignal(sig),
			 WCOREDUMP(f->status) ? "\tCore Dumped: yes" : "");
		put_line(h, env->inv ? env->inv->id : NULL, text,
			 json_pack("{s:s,s:i,s:s,s:i,s:s,s:b}", "event", "exit", "pid", f->pid,
				   "command", f->comm, "signal", sig, "signalName", label,
				   "coreDumped", WCOREDUMP(f->status) != 0),
			 "vigil.probes");
		break;
	case PROBE_OOM:
		metric_inc(h->pm.ooms);
		if (!env)
			break;
		env->probe_oom_pid = f->pid;
		snprintf(text, sizeof(text), "PROBES OOM\tPid: %d\tCommand: %s\n", f->pid, f->comm);
		put_line(h, env->inv ? env->inv->id : NULL, text,
			 json_pack("{s:s,s:i,s:s}", "event", "oomKill", "pid", f->pid, "command",
				   f->comm),
			 "vigil.probes");
		break;
	}
}

static void on_readable(void *arg, uint32_t events)
{
	struct host *h = arg;

	(void)events;
	probes_poll(h->probes);
}

/* Routine events do not wake the host (see lifecycle.bpf.c): it collects them every 100 ms,
 * and before it reads any totals. */
static void on_poll_timer(void *arg)
{
	struct host *h = arg;

	probes_poll(h->probes);
	loop_timer_start(h->loop, &h->probes_timer, loop_now() + 0.1, on_poll_timer, h);
}

static void register_probe_metrics(struct host *h)
{
	const char *fn[] = { h->opt.function_name };
	struct metric_desc d;

#define SERIES(field, n, t, u, hlp, ...)                                                    \
	do {                                                                                \
		d = (struct metric_desc){ .name = n, .help = hlp, .type = t, .unit = u,     \
					  .labels = { "function", ##__VA_ARGS__ } };        \
		h->pm.field = metric_series_get(metric_register(h->registry, &d), fn);      \
	} while (0)

	d = (struct metric_desc){ .name = "vigil_probes_enabled",
				  .help = "1 when vigil host's eBPF probes are loaded, else 0.",
				  .type = METRIC_GAUGE };
	h->pm.enabled = metric_series_get(metric_register(h->registry, &d), NULL);
	d = (struct metric_desc){ .name = "vigil_probe_events_lost_total",
				  .help = "Probe events dropped because the ring buffer was full.",
				  .type = METRIC_COUNTER };
	h->pm.lost = metric_series_get(metric_register(h->registry, &d), NULL);
	SERIES(execs, "vigil_process_execs_total", METRIC_COUNTER, NULL,
	       "Programs executed by the function's processes (probes).");
	SERIES(ooms, "vigil_oom_kills_total", METRIC_COUNTER, NULL,
	       "Processes of the function killed by the OOM killer (probes).");
	SERIES(init_opens, "vigil_init_files_opened_total", METRIC_COUNTER, NULL,
	       "Files opened by the function's processes during init (probes).");
	SERIES(init_read, "vigil_init_read_bytes_total", METRIC_COUNTER, "bytes",
	       "Bytes read by the function's processes during init (probes).");
	SERIES(tcp_tx, "vigil_tcp_sent_bytes_total", METRIC_COUNTER, "bytes",
	       "TCP payload bytes sent by the function's processes (probes).");
	SERIES(tcp_rx, "vigil_tcp_received_bytes_total", METRIC_COUNTER, "bytes",
	       "TCP payload bytes received by the function's processes (probes).");
	d = (struct metric_desc){ .name = "vigil_process_cpu_seconds_total",
				  .help = "On-CPU time of the function's processes by phase (probes).",
				  .type = METRIC_COUNTER, .unit = "seconds",
				  .labels = { "function", "phase" } };
	h->pm.cpu_init = metric_with(metric_register(h->registry, &d), h->opt.function_name,
				     "init");
	h->pm.cpu_invoke = metric_with(metric_find(h->registry, d.name), h->opt.function_name,
				       "invoke");
	d = (struct metric_desc){ .name = "vigil_page_faults_total",
				  .help = "Page faults of the function's processes (probes).",
				  .type = METRIC_COUNTER, .labels = { "function", "kind" } };
	h->pm.minflt = metric_with(metric_register(h->registry, &d), h->opt.function_name,
				   "minor");
	h->pm.majflt = metric_with(metric_find(h->registry, d.name), h->opt.function_name,
				   "major");
	d = (struct metric_desc){ .name = "vigil_invocation_peak_rss_bytes",
				  .help = "Peak resident memory of the function's processes during "
					  "each invocation (probes).",
				  .type = METRIC_HISTOGRAM, .unit = "bytes",
				  .buckets = metric_buckets_memory,
				  .nbuckets = metric_buckets_memory_len, .labels = { "function" } };
	h->pm.peak_rss = metric_series_get(metric_register(h->registry, &d), fn);
	d = (struct metric_desc){ .name = "vigil_process_exits_total",
				  .help = "Processes of the function that ended, by fatal signal "
					  "(\"none\": they exited) (probes).",
				  .type = METRIC_COUNTER, .labels = { "function", "signal" },
				  .max_series = 70 };
	h->pm.exits = metric_register(h->registry, &d);
#undef SERIES
}

/* --- coldstart=probes: the init's timeline, as vigil-preload.so writes it ---------------- */

static void on_init_event(void *arg, const struct probe_init_ev *e)
{
	struct host *h = arg;
	struct environment *env = env_by_index(h, e->env);
	struct buf *b;
	char addr[80];

	if (!env || env->cs_done)
		return;
	b = &env->cs_lines;
	if (b->len > INIT_LINES_MAX) {
		env->cs_cut = true;
		return;
	}
#define HEAD(t, ev) buf_printf(b, "{\"t\":%llu,\"pid\":%d,\"tid\":%d,\"ev\":\"%s\"", \
			       (unsigned long long)clock_mono_to_epoch_ns(t), (int)e->pid, (int)e->tid, ev)
	switch (e->type) {
	case PROBE_INIT_EV_OPEN:
		HEAD(e->ts_ns, "open");
		buf_puts(b, ",\"path\":");
		json_put_string(b, e->path);
		buf_printf(b, ",\"fd\":%lld,\"ns\":%llu", (long long)e->ret,
			   (unsigned long long)e->dur_ns);
		if (e->ret < 0)
			buf_printf(b, ",\"error\":\"%s\"", strerror((int)-e->ret));
		break;
	case PROBE_INIT_EV_READ:
		HEAD(e->ts_ns, "read");
		buf_printf(b, ",\"fd\":%d,\"bytes\":%llu", e->fd, (unsigned long long)e->bytes);
		break;
	case PROBE_INIT_EV_CONNECT:
		HEAD(e->ts_ns, "connect");
		netaddr_format(e->addr, e->addr_len, addr, sizeof(addr));
		buf_printf(b, ",\"addr\":\"%s\",\"fd\":%d,\"ns\":%llu", addr, e->fd,
			   (unsigned long long)e->dur_ns);
		if (e->ret < 0)
			buf_printf(b, ",\"error\":\"%s\"", strerror((int)-e->ret));
		break;
	case PROBE_INIT_EV_EXEC:
		/* the old image's exec, then the new one's start (as the preload library writes
		 * them: it sees both) */
		HEAD(e->ts_ns - 1, "exec");
		buf_puts(b, ",\"path\":");
		json_put_string(b, e->path);
		buf_puts(b, "}\n");
		HEAD(e->ts_ns, "start");
		buf_puts(b, ",\"exe\":");
		json_put_string(b, e->path);
		buf_printf(b, ",\"ppid\":%lld,\"root\":", (long long)e->ret);
		json_put_string(b, h->task_root);
		break;
	case PROBE_INIT_EV_FORK:
		HEAD(e->ts_ns, "fork");
		buf_printf(b, ",\"child\":%lld", (long long)e->ret);
		break;
	default:
		return;
	}
#undef HEAD
	buf_puts(b, "}\n");
}

void host_probes_coldstart_begin(struct environment *env)
{
	struct host *h = env->host;

	buf_init(&env->cs_lines);
	if (h->probes && h->opt.coldstart == HOST_COLDSTART_PROBES)
		probes_init_record(h->probes, env->index, true);
}

void host_probes_coldstart_lines(struct environment *env, struct buf *b)
{
	struct host *h = env->host;

	if (!h->probes || h->opt.coldstart != HOST_COLDSTART_PROBES)
		return;
	probes_init_record(h->probes, env->index, false);	/* (polls first) */
	buf_append(b, env->cs_lines.data ? env->cs_lines.data : "", env->cs_lines.len);
	buf_free(&env->cs_lines);
	if (env->cs_cut)
		log_warn("probes", "environment %u: its init's timeline was cut at %u MiB",
			 env->index, INIT_LINES_MAX >> 20);
	if (env->runtime_ready_at > 0 && env->runtime.pid > 0) {
		buf_printf(b, "{\"t\":%llu,\"pid\":%d,\"tid\":%d,\"ev\":\"end\",\"why\":\"next\","
			   "\"cpu_ns\":%llu}\n",
			   (unsigned long long)clock_mono_to_epoch_ns(
				   (uint64_t)(env->runtime_ready_at * 1e9)),
			   (int)env->runtime.pid, (int)env->runtime.pid,
			   (unsigned long long)probes_proc_cpu_ns(h->probes, env->runtime.pid));
	}
}

/* coldstart=probes without the probes: the preload library records instead (said). */
static void coldstart_without_probes(struct host *h, const char *why)
{
	if (h->opt.coldstart != HOST_COLDSTART_PROBES)
		return;
	log_warn("probes", "coldstart=probes: %s; the preload library records instead", why);
	h->opt.coldstart = HOST_COLDSTART_PRELOAD;
}

void host_probes_start(struct host *h)
{
	unsigned ring_kb = h->opt.probes_ring_kb;
	enum probe_attach how = h->opt.probes_attach;
	char why[300];

	register_probe_metrics(h);
	if (!h->opt.probes_enabled) {
		log_info("probes", "off (probes_enabled = false): memory and CPU from cgroup files");
		coldstart_without_probes(h, "probes are off");
		return;
	}
	h->probes = probes_start(how, ring_kb, on_fact, h, why, sizeof(why));
	if (!h->probes) {
		log_warn("probes", "off: %s; memory and CPU from /proc and cgroup files", why);
		coldstart_without_probes(h, "no probes");
		return;
	}
	h->probes_watch = loop_watch_fd(h->loop, probes_fd(h->probes), EPOLLIN, on_readable, h);
	loop_timer_start(h->loop, &h->probes_timer, loop_now() + 0.1, on_poll_timer, h);
	metric_set(h->pm.enabled, 1);
	if (*probes_off(h->probes))
		log_warn("probes", "this kernel has no tracepoint for: %s (those facts stay 0)",
			 probes_off(h->probes));
	if (h->opt.coldstart == HOST_COLDSTART_PROBES &&
	    probes_init_start(h->probes, on_init_event, h, why, sizeof(why)) < 0)
		coldstart_without_probes(h, why);
	/* Loaded and attached: what loading needed is not needed any more. */
	if (probes_drop_caps() < 0)
		log_warn("probes", "cannot drop CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN: %s",
			 strerror(errno));
	log_info("probes", "on (%s, ring buffer %u KiB)", probes_mode(h->probes), ring_kb);
}

void host_probes_stop(struct host *h)
{
	if (!h->probes)
		return;
	loop_unwatch(h->probes_watch);
	h->probes_watch = NULL;
	loop_timer_stop(&h->probes_timer);
	probes_stop(h->probes);
	h->probes = NULL;
}

void host_probes_child(struct environment *env)
{
	if (env->host->probes)
		probes_track_self(env->host->probes, env->index);
}

static void count_lost(struct host *h)
{
	uint64_t lost = probes_lost(h->probes);

	if (lost > h->probes_lost_seen) {
		metric_add(h->pm.lost, (double)(lost - h->probes_lost_seen));
		h->probes_lost_seen = lost;
	}
}

/* What a window added: t - m, counter by counter (peak_rss is t's: a window's own). */
static struct probe_totals window_of(const struct probe_totals *t, const struct probe_totals *m)
{
	return (struct probe_totals){
		.cpu_ns = t->cpu_ns - m->cpu_ns, .min_flt = t->min_flt - m->min_flt,
		.maj_flt = t->maj_flt - m->maj_flt, .opens = t->opens - m->opens,
		.read_bytes = t->read_bytes - m->read_bytes, .tcp_tx = t->tcp_tx - m->tcp_tx,
		.tcp_rx = t->tcp_rx - m->tcp_rx, .peak_rss = t->peak_rss,
		.forks = t->forks - m->forks, .execs = t->execs - m->execs,
		.exits = t->exits - m->exits, .signaled = t->signaled - m->signaled,
		.ooms = t->ooms - m->ooms,
	};
}

/* The counters every window adds to (cpu: the phase's series). */
static void count_window(struct host *h, const struct probe_totals *d, struct metric_series *cpu)
{
	metric_add(cpu, (double)d->cpu_ns / 1e9);
	metric_add(h->pm.minflt, (double)d->min_flt);
	metric_add(h->pm.majflt, (double)d->maj_flt);
	metric_add(h->pm.tcp_tx, (double)d->tcp_tx);
	metric_add(h->pm.tcp_rx, (double)d->tcp_rx);
	count_lost(h);
}

/* What a window (an init, or an invocation: inv) did, as a PROBES line. */
static void window_line(struct host *h, const struct environment *env,
			const struct invocation *inv, const struct probe_totals *d)
{
	char text[640];
	int n;
	json_t *rec;

	if (inv)
		n = snprintf(text, sizeof(text), "PROBES\tRequestId: %s", inv->id);
	else
		n = snprintf(text, sizeof(text), "PROBES INIT\tEnvironment: %u", env->index);
	snprintf(text + n, sizeof(text) - (size_t)n,
		 "\tCPU: %.2f ms\tPeak RSS: %.1f MB\tPage Faults: %llu minor, %llu major\t"
		 "Files Opened: %llu\tBytes Read: %llu\tTCP: %llu B sent, %llu B received\t"
		 "Execs: %llu\n",
		 (double)d->cpu_ns / 1e6, (double)d->peak_rss / (1024.0 * 1024.0),
		 (unsigned long long)d->min_flt, (unsigned long long)d->maj_flt,
		 (unsigned long long)d->opens, (unsigned long long)d->read_bytes,
		 (unsigned long long)d->tcp_tx, (unsigned long long)d->tcp_rx,
		 (unsigned long long)d->execs);
	rec = json_pack("{s:s,s:f,s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:I}", "event",
			inv ? "invoke" : "init", "cpuMs", (double)d->cpu_ns / 1e6, "peakRssBytes",
			(json_int_t)d->peak_rss, "minorFaults", (json_int_t)d->min_flt,
			"majorFaults", (json_int_t)d->maj_flt, "filesOpened", (json_int_t)d->opens,
			"bytesRead", (json_int_t)d->read_bytes, "tcpSentBytes", (json_int_t)d->tcp_tx,
			"tcpReceivedBytes", (json_int_t)d->tcp_rx, "execs", (json_int_t)d->execs);
	if (inv)
		json_object_set_new(rec, "requestId", json_string(inv->id));
	else
		json_object_set_new(rec, "environment", json_integer(env->index));
	put_line(h, inv ? inv->id : NULL, text, rec, "vigil.probes");
}

void host_probes_init_done(struct environment *env)
{
	struct host *h = env->host;
	struct probe_totals t;

	if (!h->probes)
		return;
	probes_env_totals(h->probes, env->index, &t);
	env->probe_mark = t;
	env->peak_rss = t.peak_rss;
	count_window(h, &t, h->pm.cpu_init);
	metric_add(h->pm.init_opens, (double)t.opens);
	metric_add(h->pm.init_read, (double)t.read_bytes);
	window_line(h, env, NULL, &t);
}

/* The environment's own processes: its runtime and external extensions. */
static size_t env_pids(const struct environment *env, pid_t *pids)
{
	size_t n = 0;

	if (env->runtime.running)
		pids[n++] = env->runtime.pid;
	for (unsigned i = 0; i < env->next_ext; i++)
		if (env->ext[i].external && env->ext[i].proc.running)
			pids[n++] = env->ext[i].proc.pid;
	return n;
}

void host_probes_invoke_start(struct environment *env)
{
	struct host *h = env->host;
	pid_t pids[1 + HOST_MAX_EXTENSIONS];
	size_t n = 0;

	if (!h->probes)
		return;
	/* Cleared first: what follows collects events, maybe this invocation's own. The
	 * counters' starting point is the end of the previous invocation (or of init): between
	 * the two the environment is frozen, as in Lambda. */
	env->probe_signal = 0;
	env->probe_oom_pid = 0;
	n = env_pids(env, pids);
	/* From the event's delivery (the runtime may have answered, even exited, by now). */
	probes_env_new_window(h->probes, env->index, pids, n,
			      env->inv ? (uint64_t)(env->inv->started_at * 1e9) : 0);
}

void host_probes_invoke_measure(struct host *h, struct environment *env)
{
	struct probe_totals t;
	pid_t pids[1 + HOST_MAX_EXTENSIONS];

	if (!h->probes || !env)
		return;
	probes_env_totals_of(h->probes, env->index, pids, env_pids(env, pids), &t);
	env->probe_window = window_of(&t, &env->probe_mark);
	env->probe_mark = t;
	if (env->probe_window.peak_rss > env->peak_rss)
		env->peak_rss = env->probe_window.peak_rss;
}

void host_probes_invoke_end(struct host *h, struct invocation *inv, struct environment *env)
{
	if (!h->probes || !env)
		return;
	count_window(h, &env->probe_window, h->pm.cpu_invoke);
	metric_observe(h->pm.peak_rss, (double)env->probe_window.peak_rss);
	window_line(h, env, inv, &env->probe_window);
}

void host_probes_env_gone(struct environment *env)
{
	if (env->host->probes)
		probes_env_forget(env->host->probes, env->index);
}

void host_probes_describe_exit(struct environment *env, char *how, size_t how_len)
{
	struct host *h = env->host;

	if (!h->probes)
		return;
	probes_poll(h->probes);	/* the exit event is in the ring before the parent hears */
	if (env->probe_oom_pid)
		snprintf(how, how_len, "signal: Killed (OOM killer, pid %d)", env->probe_oom_pid);
	else if (env->probe_signal)
		snprintf(how, how_len, "signal: %s (pid %d, %s)", strsignal(env->probe_signal),
			 env->probe_signal_pid, env->probe_signal_comm);
}
