/*
 * An environment's own /tmp, as each Lambda sandbox has one (and a /etc/hosts that names
 * sandbox.localdomain): when the functions run as another user, a holder process of that
 * user makes a user and mount namespace where /tmp is a fresh tmpfs, and every process of the
 * environment joins it. No capability of vigil's is needed: unprivileged user namespaces do
 * it (where the kernel refuses them, vigil says so once and the environments share /tmp).
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "../lib/resolve.h"
#include "../util/log.h"
#include "host.h"

#define TMP_SIZE "512m"		/* Lambda's default ephemeral storage */

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = write(fd, text, strlen(text));
	close(fd);
	return n == (ssize_t)strlen(text) ? 0 : -1;
}

/* /etc/hosts as it is, with sandbox.localdomain: a file in the new /tmp bound over it, then
 * unlinked (the mount keeps it). */
static void hosts_with_sandbox(void)
{
	static const char path[] = "/tmp/.vigil-hosts";
	char buf[65536];
	ssize_t n = 0;
	int in = open("/etc/hosts", O_RDONLY | O_CLOEXEC), out;

	if (in >= 0) {
		n = read(in, buf, sizeof(buf) - 128);
		close(in);
	}
	if (n < 0)
		n = 0;
	n += snprintf(buf + n, 128, "\n127.0.0.1\tsandbox.localdomain sandbox\n");
	out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (out < 0)
		return;
	if (write(out, buf, (size_t)n) == n)
		mount(path, "/etc/hosts", NULL, MS_BIND, NULL);
	close(out);
	unlink(path);
}

/* The holder: becomes the functions' user, makes the namespaces, says so, waits. */
static void holder(const struct host *h, int ready)
{
	pid_t parent = getppid();
	char map[64];

	/* It never execs: nothing of vigil's stays open in it (a log tail's flock would outlive
	 * a SIGKILLed host in it, and the next writer would take the dead tail for a live one). */
	if (ready > 3)
		close_range(3, (unsigned)ready - 1, 0);
	close_range((unsigned)ready + 1, ~0U, 0);
	/* Dumpable again after the change of user: else its /proc/self files stay root's and
	 * it cannot write its own id maps. */
	if (setgroups(0, NULL) < 0 || setgid(h->run_gid) < 0 || setuid(h->run_uid) < 0 ||
	    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) < 0 || unshare(CLONE_NEWUSER | CLONE_NEWNS) < 0)
		_exit(1);
	/* Dies with the host — set after the change of user, which clears it (a SIGKILLed
	 * host left its holders behind, each with its /tmp), and checked once: the host may
	 * have died before. */
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) < 0 || getppid() != parent)
		_exit(1);
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)h->run_uid, (unsigned)h->run_uid);
	if (write_file("/proc/self/uid_map", map) < 0 ||
	    write_file("/proc/self/setgroups", "deny") < 0)
		_exit(1);
	snprintf(map, sizeof(map), "%u %u 1\n", (unsigned)h->run_gid, (unsigned)h->run_gid);
	if (write_file("/proc/self/gid_map", map) < 0 ||
	    mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0 ||
	    mount("tmpfs", "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=" TMP_SIZE) < 0)
		_exit(1);
	hosts_with_sandbox();
	if (write(ready, "k", 1) != 1)
		_exit(1);
	for (;;)
		pause();
}

/* Whether path, or what it resolves to (a symbolic link), lies in /tmp: a private /tmp would
 * hide it from the environment. */
static bool in_tmp(const char *path)
{
	char real[PATH_MAX];
	const char *p[2] = { path, path && realpath(path, real) ? real : NULL };

	for (int i = 0; i < 2; i++)
		if (p[i] && strncmp(p[i], "/tmp", 4) == 0 && (p[i][4] == '/' || p[i][4] == '\0'))
			return true;
	return false;
}

/* Whether a file of the extensions folder is, or points, in /tmp. */
static bool extension_in_tmp(const char *dir)
{
	char path[PATH_MAX + 256];
	struct dirent *e;
	bool found = false;
	DIR *d = dir[0] ? opendir(dir) : NULL;

	while (d && !found && (e = readdir(d)) != NULL) {
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		found = e->d_name[0] != '.' && in_tmp(path);
	}
	if (d)
		closedir(d);
	return found;
}

/* Without an environment's own /etc/hosts, extensions in Lambda's mode listen on and
 * subscribe to sandbox.localdomain: where the machine's /etc/hosts lacks it, said once. */
static void say_hosts_once(void)
{
	static bool said;
	struct sockaddr_storage ss;

	if (said || resolve_from_hosts(NULL, "sandbox.localdomain", 0, &ss, 1) > 0)
		return;
	said = true;
	log_info("host", "sandbox.localdomain does not resolve here: extensions that use it (as "
		 "in Lambda) need the line '127.0.0.1 sandbox.localdomain' in /etc/hosts; run as "
		 "root with the functions as another user, each environment gets its own");
}

void env_sandbox_start(struct environment *env)
{
	struct host *h = env->host;
	static bool said;
	int pipefd[2];
	char c = 0, path[64];
	pid_t pid;

	env->ns_pid = 0;
	env->ns_user_fd = env->ns_mnt_fd = -1;
	if (!h->drop_user || !h->opt.private_tmp) {
		say_hosts_once();
		return;
	}
	if (in_tmp(h->task_root) || in_tmp(h->extensions_dir) || in_tmp(h->opt.argv[0]) ||
	    extension_in_tmp(h->extensions_dir)) {
		if (!said)
			log_warn("host", "the function lives in /tmp: its environments share /tmp "
				 "(a private /tmp would hide it)");
		said = true;
		say_hosts_once();
		return;
	}
	if (pipe2(pipefd, O_CLOEXEC) < 0)
		return;
	pid = fork();
	if (pid == 0) {
		close(pipefd[0]);
		holder(h, pipefd[1]);
	}
	close(pipefd[1]);
	if (pid > 0) {
		struct pollfd p = { .fd = pipefd[0], .events = POLLIN };

		if (poll(&p, 1, 2000) == 1 && read(pipefd[0], &c, 1) == 1 && c == 'k') {
			snprintf(path, sizeof(path), "/proc/%d/ns/user", (int)pid);
			env->ns_user_fd = open(path, O_RDONLY | O_CLOEXEC);
			snprintf(path, sizeof(path), "/proc/%d/ns/mnt", (int)pid);
			env->ns_mnt_fd = open(path, O_RDONLY | O_CLOEXEC);
		}
		env->ns_pid = pid;
	}
	close(pipefd[0]);
	if (env->ns_user_fd < 0 || env->ns_mnt_fd < 0) {
		if (!said)
			log_warn("host", "no private /tmp for the environments (the kernel refused "
				 "a user namespace: %s): they share /tmp", strerror(errno));
		said = true;
		env_sandbox_stop(env);
		say_hosts_once();
	}
}

void env_sandbox_join(const struct environment *env)
{
	if (env->ns_user_fd < 0)
		return;
	if (setns(env->ns_user_fd, CLONE_NEWUSER) < 0 || setns(env->ns_mnt_fd, CLONE_NEWNS) < 0)
		_exit(126);
}

void env_sandbox_stop(struct environment *env)
{
	if (env->ns_user_fd >= 0)
		close(env->ns_user_fd);
	if (env->ns_mnt_fd >= 0)
		close(env->ns_mnt_fd);
	env->ns_user_fd = env->ns_mnt_fd = -1;
	if (env->ns_pid > 0)
		kill(env->ns_pid, SIGKILL);	/* reaped with the others (SIGCHLD) */
	env->ns_pid = 0;
}
