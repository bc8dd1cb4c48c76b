/*
 * `vigil probe [--json] -- COMMAND [ARGS...]`: run a command with the eBPF probes on its
 * process tree and print what it did, like time(1) with more facts: exit status, on-CPU
 * time, peak RSS, page faults, files opened, bytes read, TCP bytes, forks, execs, exits by
 * signal, OOM kills, and the events the ring buffer lost. The command's own output passes
 * through; the summary goes to stderr.
 */
#include "probe.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "serve.h"
#include "../probes/probes.h"
#include "../util/caps.h"

#define ENV_ID 1

struct run {
	unsigned execs_shown;
	bool verbose;
};

static void on_fact(void *arg, const struct probe_fact *f)
{
	struct run *r = arg;

	if (!r->verbose)
		return;
	if (f->type == PROBE_EXEC)
		fprintf(stderr, "probe: exec %s (pid %d)\n", f->file, f->pid);
	else if (f->type == PROBE_EXIT && WIFSIGNALED(f->status))
		fprintf(stderr, "probe: pid %d (%s) killed by signal %d\n", f->pid, f->comm,
			WTERMSIG(f->status));
	else if (f->type == PROBE_OOM)
		fprintf(stderr, "probe: pid %d (%s) chosen by the OOM killer\n", f->pid, f->comm);
}

static int usage(const char *msg)
{
	fprintf(stderr, "vigil probe: %s\nusage: vigil probe [--json] [--verbose] -- COMMAND "
			"[ARGS...]\n", msg);
	return 2;
}

/* What the command's process tree did: a line, or one JSON object (--json), on stderr. */
static void print_summary(bool json, int status, const struct probe_totals *t,
			  struct probes *p)
{
	if (json)
		fprintf(stderr,
			"{\"status\":%d,\"exitCode\":%d,\"signal\":%d,\"cpuMs\":%.3f,"
			"\"peakRssBytes\":%llu,\"minorFaults\":%llu,\"majorFaults\":%llu,"
			"\"filesOpened\":%llu,\"bytesRead\":%llu,\"tcpSentBytes\":%llu,"
			"\"tcpReceivedBytes\":%llu,\"forks\":%llu,\"execs\":%llu,\"exits\":%llu,"
			"\"signaled\":%llu,\"oomKills\":%llu,\"lostEvents\":%llu,\"attach\":\"%s\"}\n",
			status, WIFEXITED(status) ? WEXITSTATUS(status) : -1,
			WIFSIGNALED(status) ? WTERMSIG(status) : 0, (double)t->cpu_ns / 1e6,
			(unsigned long long)t->peak_rss, (unsigned long long)t->min_flt,
			(unsigned long long)t->maj_flt, (unsigned long long)t->opens,
			(unsigned long long)t->read_bytes, (unsigned long long)t->tcp_tx,
			(unsigned long long)t->tcp_rx, (unsigned long long)t->forks,
			(unsigned long long)t->execs, (unsigned long long)t->exits,
			(unsigned long long)t->signaled, (unsigned long long)t->ooms,
			(unsigned long long)probes_lost(p), probes_mode(p));
	else
		fprintf(stderr,
			"probe: %s %d\tCPU: %.2f ms\tPeak RSS: %.1f MB\t"
			"Page Faults: %llu minor, %llu major\tFiles Opened: %llu\tBytes Read: %llu\t"
			"TCP: %llu B sent, %llu B received\tForks: %llu\tExecs: %llu\tExits: %llu "
			"(%llu by signal)\tOOM Kills: %llu\tLost Events: %llu\n",
			WIFSIGNALED(status) ? "signal" : "exit status",
			WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status),
			(double)t->cpu_ns / 1e6, (double)t->peak_rss / (1024.0 * 1024.0),
			(unsigned long long)t->min_flt, (unsigned long long)t->maj_flt,
			(unsigned long long)t->opens, (unsigned long long)t->read_bytes,
			(unsigned long long)t->tcp_tx, (unsigned long long)t->tcp_rx,
			(unsigned long long)t->forks, (unsigned long long)t->execs,
			(unsigned long long)t->exits, (unsigned long long)t->signaled,
			(unsigned long long)t->ooms, (unsigned long long)probes_lost(p));
}

/* Run argv under the probes until it ends: the child tracks itself, then waits for the go,
 * so that nothing it does escapes. Its wait status, or -1 (said) when it cannot start. */
static int run_under(struct probes *p, char **argv)
{
	int status = 0, go[2];
	pid_t pid;

	if (pipe2(go, O_CLOEXEC) < 0) {
		perror("vigil probe: pipe");
		return -1;
	}
	pid = fork();
	if (pid == 0) {
		char c;

		close(go[1]);
		probes_track_self(p, ENV_ID);
		if (read(go[0], &c, 1) < 0)
			_exit(126);
		execvp(argv[0], argv);
		fprintf(stderr, "vigil probe: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(go[0]);
	if (pid < 0) {
		perror("vigil probe: fork");
		close(go[1]);
		return -1;
	}
	/* The command has what vigil probe had; vigil probe itself needs nothing more: the
	 * probes are loaded, the command is its own child (same user). */
	if (geteuid() == 0 && caps_keep_only(0) < 0)
		fprintf(stderr, "vigil probe: cannot drop capabilities: %s\n", strerror(errno));
	signal(SIGINT, SIG_IGN);	/* the command gets ^C; the summary still prints */
	close(go[1]);
	for (;;) {
		struct pollfd pfd = { .fd = probes_fd(p), .events = POLLIN };
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			break;
		if (w < 0 && errno != EINTR)
			break;
		poll(&pfd, 1, 20);	/* routine events do not wake us: poll anyway */
		probes_poll(p);
	}
	return status;
}

int probe_main(int argc, char **argv, const struct vigil_config *cfg)
{
	bool json = false;
	struct run r = { 0 };
	struct probes *p;
	struct probe_totals t;
	char why[300];
	int i, status;
	enum probe_attach how;
	unsigned ring_kb;

	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (strcmp(argv[i], "--json") == 0)
			json = true;
		else if (strcmp(argv[i], "--verbose") == 0 || strcmp(argv[i], "-v") == 0)
			r.verbose = true;
		else if (argv[i][0] != '-')
			break;
		else
			return usage("unknown option");
	}
	if (i < argc && strcmp(argv[i], "--") == 0)
		i++;
	if (i >= argc)
		return usage("needs a command");
	probes_config(cfg, &how, &ring_kb);
	p = probes_start(how, ring_kb, on_fact, &r, why, sizeof(why));
	if (!p) {
		fprintf(stderr, "vigil probe: probes off: %s\n", why);
		return 1;
	}
	probes_drop_caps();
	status = run_under(p, argv + i);
	if (status < 0) {
		probes_stop(p);
		return 1;
	}
	probes_env_totals(p, ENV_ID, &t);	/* polls what is left */
	print_summary(json, status, &t, p);
	probes_stop(p);
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
