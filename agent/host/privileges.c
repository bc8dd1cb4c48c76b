/*
 * Who runs what when vigil host runs as root: the functions' processes (runtime and
 * extensions) as an unprivileged user with no capabilities, as Lambda runs function code;
 * vigil host itself, once started, with the few capabilities it still uses, its bounding set
 * cleared of the rest.
 */
#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../util/caps.h"
#include "../util/log.h"
#include "host.h"

/* What vigil host uses after its start: signals to the functions' processes (another user),
 * new environments' processes made that user, the listener check (pidfd_getfd on another
 * user's process, and its /proc/PID/fd, a folder only its owner may read), and the log
 * writer's return from idle priority; with the probes on, their peak window too (writing
 * another user's /proc/PID/clear_refs, mode 0200). */
static const int kept[] = { CAP_KILL, CAP_SETGID, CAP_SETUID, CAP_SYS_PTRACE, CAP_SYS_NICE,
			    CAP_DAC_READ_SEARCH };

uint64_t host_kept_capabilities(bool probes)
{
	uint64_t m = probes ? 1ull << CAP_DAC_OVERRIDE : 0;

	for (size_t i = 0; i < sizeof(kept) / sizeof(kept[0]); i++)
		m |= 1ull << kept[i];
	return m;
}

/* Whether user (uid, gid) may run path from dir, and enter the extensions folder ext (""
 * none): a child that becomes them and asks. */
static bool runnable_by(uid_t uid, gid_t gid, const char *path, const char *dir,
			const char *ext)
{
	pid_t pid = fork();
	int status;

	if (pid < 0)
		return true;	/* cannot tell: the exec will say */
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0)
			_exit(2);
		_exit(access(dir, X_OK) == 0 && (!strchr(path, '/') || access(path, X_OK) == 0) &&
			      (!ext[0] || access(ext, R_OK | X_OK) == 0) ? 0 : 1);
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

/* A user's ids from its /etc/passwd line (no NSS: the layer's static binary links this file,
 * and getpwnam would pull glibc's NSS machinery in). 0, or -1 when there is no such user. */
static int user_ids(const char *name, uid_t *uid, gid_t *gid)
{
	char line[1024];
	size_t nl = strlen(name);
	FILE *f = fopen("/etc/passwd", "re");
	int rc = -1;

	while (f && rc < 0 && fgets(line, sizeof(line), f)) {
		char *p = strchr(line, ':'), *u, *g;

		if (!p || (size_t)(p - line) != nl || strncmp(line, name, nl) != 0)
			continue;
		u = strchr(p + 1, ':');
		g = u ? strchr(u + 1, ':') : NULL;
		if (!g)
			continue;
		*uid = (uid_t)strtoul(u + 1, NULL, 10);
		*gid = (gid_t)strtoul(g + 1, NULL, 10);
		rc = 0;
	}
	if (f)
		fclose(f);
	return rc;
}

int host_choose_user(struct host *h)
{
	const char *name = h->opt.run_user;
	uid_t uid;
	gid_t gid;

	h->drop_user = false;
	if (geteuid() != 0) {
		if (name && strcmp(name, "root") != 0)
			log_warn("host", "--user %s needs root: the functions run as this user", name);
		return 0;
	}
	if (!name)
		name = user_ids("vigil", &uid, &gid) == 0 ? "vigil" : "nobody";
	if (strcmp(name, "root") == 0) {
		log_info("host", "functions run as root (--user root)");
		return 0;
	}
	if (user_ids(name, &uid, &gid) < 0) {
		fprintf(stderr, "vigil host: --user %s: no such user in /etc/passwd\n", name);
		return 2;
	}
	if (!runnable_by(uid, gid, h->opt.argv[0], h->task_root, h->extensions_dir)) {
		if (h->opt.run_user) {
			fprintf(stderr, "vigil host: user %s cannot run %s (in %s%s%s): give them "
				"the files, or run them as another --user\n", name, h->opt.argv[0],
				h->task_root, h->extensions_dir[0] ? ", extensions in " : "",
				h->extensions_dir);
			return 2;
		}
		log_warn("host", "the function's files (%s%s%s) are not readable by %s: it runs as "
			 "root (give %s the files, or say --user root)", h->task_root,
			 h->extensions_dir[0] ? ", extensions in " : "", h->extensions_dir, name,
			 name);
		return 0;
	}
	h->drop_user = true;
	h->run_uid = uid;
	h->run_gid = gid;
	log_info("host", "functions run as %s (uid %u), without capabilities", name,
		 (unsigned)uid);
	return 0;
}

void host_become_user(const struct host *h)
{
	if (!h->drop_user)
		return;
	/* Its groups, then its ids: from root to another uid, every capability goes. No new
	 * privileges through setuid files either. */
	if (setgroups(0, NULL) < 0 || setgid(h->run_gid) < 0 || setuid(h->run_uid) < 0 ||
	    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		_exit(126);
}

void host_drop_capabilities(const struct host *h)
{
	int rc;

	if (geteuid() != 0)
		return;
	rc = caps_keep_only(host_kept_capabilities(h->probes != NULL));
	if (rc < 0)
		log_warn("host", "cannot drop capabilities: %s", strerror(-rc));
}
