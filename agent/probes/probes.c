/* The probes as vigil host sees them. See probes.h. */
#include "probes.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "../util/log.h"
#include "../util/procfs.h"
#include "common.h"
#include "initrace.h"
#include "lifecycle.h"
#include "probe_maps.h"
#include "usage.h"

/* What user space keeps per environment: the totals of its processes that are gone (their
 * entries leave the process table at exit) and the counts of facts. */
struct env_acc {
	unsigned env;
	bool used;
	struct probe_totals gone;	/* peak_rss: the largest exit since the last reset */
	uint64_t window_ns;		/* the peak window began (CLOCK_MONOTONIC ns) */
};

struct probes {
	struct lifecycle_bpf *lc;
	struct usage_bpf *us;
	struct ring_buffer *rb;
	int procs_fd;
	bool raw;
	char off[256];
	probe_fact_fn fn;
	void *arg;
	struct env_acc *envs;
	size_t nenvs;
	struct initrace_bpf *it;	/* coldstart=probes */
	unsigned init_active;		/* environments being recorded */
	probe_init_fn init_fn;
	void *init_arg;
};

static int quiet_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[512];

	if (level != LIBBPF_WARN)
		return 0;
	vsnprintf(line, sizeof(line), fmt, ap);
	line[strcspn(line, "\n")] = '\0';
	log_debug("probes", "libbpf: %s", line);
	return 0;
}

void probe_why(const char *what, int err, char *why, size_t why_len)
{
	if (err == -EPERM || err == -EACCES)
		snprintf(why, why_len, "%s: not permitted (needs root, or CAP_BPF and CAP_PERFMON)",
			 what);
	else
		snprintf(why, why_len, "%s: %s", what, strerror(err < 0 ? -err : err));
}

void probe_prepare(struct bpf_object *obj, bool raw, char *off, size_t off_len)
{
	struct btf *vmlinux = btf__load_vmlinux_btf();
	struct bpf_program *prog;

	bpf_object__for_each_program(prog, obj) {
		const char *sec = bpf_program__section_name(prog);
		bool is_raw = strncmp(sec, "raw_tp/", 7) == 0;
		const char *tp = strchr(sec, '/') + 1;
		char type[128];

		if (is_raw != raw) {
			bpf_program__set_autoload(prog, false);
			continue;
		}
		snprintf(type, sizeof(type), "btf_trace_%s", tp);
		if (vmlinux && btf__find_by_name_kind(vmlinux, type, BTF_KIND_TYPEDEF) < 0) {
			bpf_program__set_autoload(prog, false);
			if (!strstr(off, tp) && strlen(off) + strlen(tp) + 2 < off_len) {
				if (*off)
					strcat(off, " ");
				strcat(off, tp);
			}
		}
	}
	btf__free(vmlinux);
}

static struct env_acc *acc_of(struct probes *p, unsigned env, bool create)
{
	struct env_acc *free_slot = NULL;

	for (size_t i = 0; i < p->nenvs; i++) {
		if (p->envs[i].used && p->envs[i].env == env)
			return &p->envs[i];
		if (!p->envs[i].used && !free_slot)
			free_slot = &p->envs[i];
	}
	if (!create)
		return NULL;
	if (!free_slot) {
		struct env_acc *n = realloc(p->envs, (p->nenvs + 8) * sizeof(*n));

		if (!n)
			return NULL;
		memset(n + p->nenvs, 0, 8 * sizeof(*n));
		p->envs = n;
		free_slot = &p->envs[p->nenvs];
		p->nenvs += 8;
	}
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->used = true;
	free_slot->env = env;
	return free_slot;
}

static int on_event(void *ctx, void *data, size_t size)
{
	struct probes *p = ctx;
	const struct probe_event *e = data;
	struct probe_fact f = { 0 };
	struct env_acc *a;
	char comm[sizeof(e->comm) + 1], file[sizeof(e->file) + 1];

	if (size < sizeof(*e))
		return 0;
	memcpy(comm, e->comm, sizeof(e->comm));
	comm[sizeof(e->comm)] = '\0';
	memcpy(file, e->file, sizeof(e->file));
	file[sizeof(e->file)] = '\0';
	f.type = (enum probe_fact_type)e->type;
	f.env = e->env;
	f.pid = e->pid;
	f.ppid = e->ppid;
	f.comm = comm;
	f.file = file;
	a = acc_of(p, e->env, true);
	switch (e->type) {
	case PROBE_EV_EXEC:
		if (a)
			a->gone.execs++;
		break;
	case PROBE_EV_EXIT:
		f.status = e->exit_code;
		f.maxrss_kb = e->maxrss_kb;
		if (a) {
			a->gone.cpu_ns += e->totals.cpu_ns;
			a->gone.min_flt += e->totals.min_flt;
			a->gone.maj_flt += e->totals.maj_flt;
			a->gone.opens += e->totals.opens;
			a->gone.read_bytes += e->totals.read_bytes;
			a->gone.tcp_tx += e->totals.tcp_tx;
			a->gone.tcp_rx += e->totals.tcp_rx;
			a->gone.forks += e->totals.forks;
			a->gone.exits++;
			if ((e->exit_code & 0x7f) != 0 && (e->exit_code & 0x7f) != 0x7f)
				a->gone.signaled++;
			/* The kernel's high-water mark of its whole life (its mm is gone by now):
			 * for a process started in the window, the window's. */
			uint64_t peak = e->maxrss_kb * 1024;

			if (e->ts_ns >= a->window_ns && peak > a->gone.peak_rss)
				a->gone.peak_rss = peak;
		}
		break;
	case PROBE_EV_OOM:
		if (a)
			a->gone.ooms++;
		break;
	default:
		return 0;
	}
	if (p->fn)
		p->fn(p->arg, &f);
	return 0;
}

struct probes *probes_start(enum probe_attach how, unsigned ring_kb, probe_fact_fn fn,
			    void *arg, char *why, size_t why_len)
{
	struct probes *p;
	char w[256] = "";

	if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) {
		snprintf(why, why_len, "no kernel BTF (/sys/kernel/btf/vmlinux: %s)",
			 strerror(errno));
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(why, why_len, "out of memory");
		return NULL;
	}
	libbpf_set_print(quiet_libbpf);
	p->fn = fn;
	p->arg = arg;
	/* tp_btf first; the raw_tp twins when this kernel cannot attach tp_btf programs. */
	for (int raw = how == PROBE_ATTACH_RAW_TP; raw <= (how != PROBE_ATTACH_TP_BTF) && !p->us;
	     raw++) {
		p->off[0] = '\0';
		p->raw = raw;
		p->lc = lifecycle_start(raw, ring_kb, w, sizeof(w));
		if (!p->lc) {
			if (errno == EPERM || errno == EACCES)
				break;
			continue;
		}
		p->us = usage_start(raw, lifecycle_procs_fd(p->lc), p->off, sizeof(p->off), w,
				    sizeof(w));
		if (p->us && lifecycle_attach_exit(p->lc, raw) < 0) {
			probe_why("lifecycle: attach exit", -errno, w, sizeof(w));
			usage_stop(p->us);
			p->us = NULL;
		}
		if (!p->us) {
			lifecycle_stop(p->lc);
			p->lc = NULL;
		}
	}
	if (!p->us) {
		snprintf(why, why_len, "%s", w);
		free(p);
		return NULL;
	}
	p->procs_fd = lifecycle_procs_fd(p->lc);
	p->rb = ring_buffer__new(lifecycle_events_fd(p->lc), on_event, p, NULL);
	if (!p->rb) {
		probe_why("ring buffer", -errno, why, why_len);
		probes_stop(p);
		return NULL;
	}
	return p;
}

static void hand_init(struct probes *p, const struct probe_init_event *e)
{
	char path[sizeof(e->path) + 1];
	struct probe_init_ev v = {
		.type = (enum probe_init_kind)e->type, .env = e->env, .pid = e->pid, .tid = e->tid,
		.ts_ns = e->ts_ns, .dur_ns = e->dur_ns, .ret = e->ret, .fd = e->fd,
		.bytes = e->bytes, .addr = e->addr, .addr_len = e->addr_len, .path = path,
	};

	memcpy(path, e->path, sizeof(e->path));
	path[sizeof(e->path)] = '\0';
	if (p->init_fn)
		p->init_fn(p->init_arg, &v);
}

static int on_init_event(void *ctx, void *data, size_t size)
{
	if (size >= sizeof(struct probe_init_event))
		hand_init(ctx, data);
	return 0;
}

int probes_init_start(struct probes *p, probe_init_fn fn, void *arg, char *why, size_t why_len)
{
	if (p->it)
		return 0;
	p->it = initrace_start(p->raw, p->procs_fd, why, why_len);
	if (!p->it)
		return -1;
	if (ring_buffer__add(p->rb, initrace_events_fd(p->it), on_init_event, p) < 0) {
		probe_why("initrace: ring buffer", -errno, why, why_len);
		initrace_stop(p->it);
		p->it = NULL;
		return -1;
	}
	p->init_fn = fn;
	p->init_arg = arg;
	return 0;
}

/* The files still open at env's init end: their bytes so far told, then forgotten (the
 * entries of processes that are gone go too). Keys first, deletions after: a hash map's
 * next key after a deleted one starts over. */
static void flush_open_files(struct probes *p, unsigned env)
{
	int files = initrace_files_fd(p->it);
	__u64 k, *prev = NULL, *keys = NULL;
	size_t n = 0, cap = 0;
	struct timespec now;

	while (bpf_map_get_next_key(files, prev, &k) == 0) {
		__u32 tgid = (__u32)(k >> 32);
		struct probe_proc v;

		if (n == cap) {
			__u64 *more = realloc(keys, (cap = cap ? cap * 2 : 256) * sizeof(*keys));

			if (!more)
				break;
			keys = more;
		}
		keys[n] = k;
		prev = &keys[n];
		if (bpf_map_lookup_elem(p->procs_fd, &tgid, &v) != 0 || v.env == env)
			n++;
	}
	clock_gettime(CLOCK_MONOTONIC, &now);
	for (size_t i = 0; i < n; i++) {
		__u64 bytes;

		if (bpf_map_lookup_elem(files, &keys[i], &bytes) == 0 && bytes) {
			struct probe_init_event e = {
				.type = PROBE_INIT_READ, .env = env, .pid = (__s32)(keys[i] >> 32),
				.tid = (__s32)(keys[i] >> 32), .fd = (__s32)(__u32)keys[i],
				.bytes = bytes,
				.ts_ns = (__u64)now.tv_sec * 1000000000u + (__u64)now.tv_nsec,
			};

			hand_init(p, &e);
		}
		bpf_map_delete_elem(files, &keys[i]);
	}
	free(keys);
}

void probes_init_record(struct probes *p, unsigned env, bool on)
{
	__u32 key = env;
	__u8 one = 1;

	if (!p || !p->it)
		return;
	if (on) {
		int err;

		if (bpf_map_update_elem(initrace_recording_fd(p->it), &key, &one, BPF_NOEXIST))
			return;
		if (!p->init_active && (err = initrace_follow(p->it, true)) < 0)
			log_warn("probes", "coldstart: cannot follow system calls: %s",
				 strerror(-err));
		initrace_set_active(p->it, ++p->init_active);
		return;
	}
	if (bpf_map_delete_elem(initrace_recording_fd(p->it), &key) == 0 && p->init_active) {
		initrace_set_active(p->it, --p->init_active);
		if (!p->init_active)
			initrace_follow(p->it, false);
	}
	probes_poll(p);
	flush_open_files(p, env);
}

uint64_t probes_proc_cpu_ns(struct probes *p, pid_t pid)
{
	__u32 tgid = (__u32)pid;
	struct probe_proc v;

	if (!p || pid <= 0 || bpf_map_lookup_elem(p->procs_fd, &tgid, &v) != 0)
		return 0;
	return v.cpu_ns;
}

const char *probes_mode(const struct probes *p)
{
	return p->raw ? "raw_tp" : "tp_btf";
}

const char *probes_off(const struct probes *p)
{
	return p->off;
}

int probes_fd(const struct probes *p)
{
	return ring_buffer__epoll_fd(p->rb);
}

void probes_poll(struct probes *p)
{
	ring_buffer__consume(p->rb);
}

int probes_track_self(const struct probes *p, unsigned env)
{
	__u32 tgid = (__u32)getpid();
	struct probe_proc v = { .env = env };

	return bpf_map_update_elem(p->procs_fd, &tgid, &v, BPF_ANY);
}

/* Calls fn for every live process of env (key, its entry). */
static void each_live(struct probes *p, unsigned env,
		      void (*fn)(struct probes *, __u32, const struct probe_proc *, void *),
		      void *arg)
{
	__u32 key, next;
	__u32 *prev = NULL;
	struct probe_proc v;

	while (bpf_map_get_next_key(p->procs_fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(p->procs_fd, &key, &v) == 0 && v.env == env)
			fn(p, key, &v, arg);
	}
}

/* VmHWM of a process: max(hiwater_rss, rss), exact (see probe_maps.h). */
static uint64_t hwm_bytes(__u32 tgid)
{
	char path[64], text[2048];
	long long kb;

	snprintf(path, sizeof(path), "/proc/%u/status", tgid);
	if (procfs_read(path, text, sizeof(text)) < 0)
		return 0;
	kb = procfs_status_kb(text, "VmHWM:");
	return kb > 0 ? (uint64_t)kb * 1024 : 0;
}

/* A new high-water mark for a process: its RSS now (CLEAR_REFS_MM_HIWATER_RSS). */
static void reset_hwm(__u32 tgid)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%u/clear_refs", tgid);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd >= 0) {
		if (write(fd, "5", 1) < 0)
			log_debug("probes", "%s: %s", path, strerror(errno));
		close(fd);
	}
}

/* each_live() callback: adds a live process's counters and its peak into arg's totals. */
static void add_live(struct probes *p, __u32 tgid, const struct probe_proc *v, void *arg)
{
	struct probe_totals *t = arg;

	(void)p;
	t->cpu_ns += v->cpu_ns;
	t->min_flt += v->min_flt;
	t->maj_flt += v->maj_flt;
	t->opens += v->opens;
	t->read_bytes += v->read_bytes;
	t->tcp_tx += v->tcp_tx;
	t->tcp_rx += v->tcp_rx;
	t->forks += v->forks;
	t->peak_rss += hwm_bytes(tgid);
}

/* pids: the environment's own processes, read directly unless one of them ever forked (a
 * child may live: then the whole table is walked); NULL: walk the table. */
static void env_pass(struct probes *p, unsigned env, struct probe_totals *t, const pid_t *pids,
		     size_t npids)
{
	struct probe_totals live = { 0 };
	struct env_acc *a;
	uint64_t forks = 0;

	probes_poll(p);	/* first: it may add (and move) the accumulators */
	a = acc_of(p, env, false);
	*t = a ? a->gone : (struct probe_totals){ 0 };
	for (size_t i = 0; pids && i < npids; i++) {
		__u32 tgid = (__u32)pids[i];
		struct probe_proc v;

		if (pids[i] > 0 && bpf_map_lookup_elem(p->procs_fd, &tgid, &v) == 0 &&
		    v.env == env) {
			add_live(p, tgid, &v, &live);
			forks += v.forks;
		}
	}
	if (!pids || forks || (a && a->gone.forks)) {
		live = (struct probe_totals){ 0 };
		each_live(p, env, add_live, &live);
	}
	t->cpu_ns += live.cpu_ns;
	t->min_flt += live.min_flt;
	t->maj_flt += live.maj_flt;
	t->opens += live.opens;
	t->read_bytes += live.read_bytes;
	t->tcp_tx += live.tcp_tx;
	t->tcp_rx += live.tcp_rx;
	t->forks += live.forks;
	/* The live processes' peaks added (an upper bound when they peak at different
	 * moments), or the largest process that ended, whichever is more. */
	if (live.peak_rss > t->peak_rss)
		t->peak_rss = live.peak_rss;
}

void probes_env_totals(struct probes *p, unsigned env, struct probe_totals *t)
{
	env_pass(p, env, t, NULL, 0);
}

void probes_env_totals_of(struct probes *p, unsigned env, const pid_t *pids, size_t n,
			  struct probe_totals *t)
{
	env_pass(p, env, t, pids, n);
}

void probes_env_new_window(struct probes *p, unsigned env, const pid_t *pids, size_t n,
			   uint64_t start_ns)
{
	struct env_acc *a = acc_of(p, env, true);

	/* The window first, then the events: an exit since start_ns (a runtime that ended
	 * before the host got here) is the new window's; older ones are not. */
	if (a) {
		a->gone.peak_rss = 0;
		a->window_ns = start_ns;
	}
	probes_poll(p);
	for (size_t i = 0; i < n; i++)
		if (pids[i] > 0)
			reset_hwm((__u32)pids[i]);
}

void probes_env_forget(struct probes *p, unsigned env)
{
	struct env_acc *a;

	probes_poll(p);
	a = acc_of(p, env, false);
	if (a)
		a->used = false;
}

uint64_t probes_lost(const struct probes *p)
{
	return lifecycle_lost(p->lc);
}

void probes_stop(struct probes *p)
{
	if (!p)
		return;
	ring_buffer__free(p->rb);
	if (p->it)
		initrace_stop(p->it);
	/* The usage probe first: it adds into the table the lifecycle probe owns. */
	if (p->us)
		usage_stop(p->us);
	if (p->lc)
		lifecycle_stop(p->lc);
	free(p->envs);
	free(p);
}

int probes_drop_caps(void)
{
	struct __user_cap_header_struct hdr = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct data[2];
	static const int drop[] = { CAP_SYS_ADMIN, 38 /* CAP_PERFMON */, 39 /* CAP_BPF */ };

	if (syscall(SYS_capget, &hdr, data) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++) {
		unsigned w = (unsigned)drop[i] / 32, bit = 1U << ((unsigned)drop[i] % 32);

		data[w].effective &= ~bit;
		data[w].permitted &= ~bit;
		data[w].inheritable &= ~bit;
	}
	return (int)syscall(SYS_capset, &hdr, data);
}
