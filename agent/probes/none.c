/* Builds without the probes (the static layer binary: Lambda runs no eBPF). See probes.h. */
#include "probes.h"

#include <errno.h>
#include <stdio.h>

struct probes *probes_start(enum probe_attach how, unsigned ring_kb, probe_fact_fn fn,
			    void *arg, char *why, size_t why_len)
{
	(void)how;
	(void)ring_kb;
	(void)fn;
	(void)arg;
	snprintf(why, why_len, "not built into this binary (the static layer build)");
	return NULL;
}

const char *probes_mode(const struct probes *p) { (void)p; return "none"; }
const char *probes_off(const struct probes *p) { (void)p; return ""; }
int probes_fd(const struct probes *p) { (void)p; return -1; }
void probes_poll(struct probes *p) { (void)p; }
int probes_track_self(const struct probes *p, unsigned env) { (void)p; (void)env; return -1; }
void probes_env_totals(struct probes *p, unsigned env, struct probe_totals *t)
{
	(void)p;
	(void)env;
	*t = (struct probe_totals){ 0 };
}
void probes_env_totals_of(struct probes *p, unsigned env, const pid_t *pids, size_t n,
			  struct probe_totals *t)
{
	(void)pids;
	(void)n;
	probes_env_totals(p, env, t);
}
void probes_env_new_window(struct probes *p, unsigned env, const pid_t *pids, size_t n,
			   uint64_t start_ns)
{
	(void)start_ns;
	(void)p;
	(void)env;
	(void)pids;
	(void)n;
}
void probes_env_forget(struct probes *p, unsigned env) { (void)p; (void)env; }
uint64_t probes_lost(const struct probes *p) { (void)p; return 0; }
void probes_stop(struct probes *p) { (void)p; }
int probes_drop_caps(void) { errno = ENOSYS; return -1; }
int probes_init_start(struct probes *p, probe_init_fn fn, void *arg, char *why, size_t why_len)
{
	(void)p;
	(void)fn;
	(void)arg;
	snprintf(why, why_len, "not built into this binary (the static layer build)");
	return -1;
}
void probes_init_record(struct probes *p, unsigned env, bool on) { (void)p; (void)env; (void)on; }
uint64_t probes_proc_cpu_ns(struct probes *p, pid_t pid) { (void)p; (void)pid; return 0; }
