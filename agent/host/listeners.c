/*
 * Whether a process group listens on a loopback port: vigil host delivers telemetry only to a
 * port a process of the subscribing extension listens on, never to vigil's own listeners or a
 * neighbour's. Each socket of the group's processes is looked at through pidfd_getfd (its
 * address and SO_ACCEPTCONN: a few microseconds); the group leader first, where extensions
 * listen. Where pidfd_getfd is missing: the listening sockets of /proc/net/tcp{,6} and the
 * group's /proc/PID/fd (reading /proc/net/tcp took 7 ms here, under gVisor).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../util/procfs.h"
#include "host.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif

/* Whether a bound address is loopback or any. */
static bool local_or_any_addr(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET) {
		uint32_t a = ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr);

		return a == INADDR_ANY || (a >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)ss)->sin6_addr;

		return IN6_IS_ADDR_UNSPECIFIED(a) || IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}

/* Whether a copy of another process's socket listens on port, on loopback or any. */
static bool listens_on(int sock, unsigned port)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	int acc = 0;
	socklen_t alen = sizeof(acc);
	unsigned p;

	if (getsockopt(sock, SOL_SOCKET, SO_ACCEPTCONN, &acc, &alen) < 0 || !acc ||
	    getsockname(sock, (struct sockaddr *)&ss, &len) < 0)
		return false;
	p = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) :
				       ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return p == port && local_or_any_addr(&ss);
}

/* The socket inode an fd link names ("socket:[N]"), or 0. */
static unsigned long socket_inode(const char *link)
{
	return strncmp(link, "socket:[", 8) == 0 ? strtoul(link + 8, NULL, 10) : 0;
}

/* Process pid's sockets, through pidfd_getfd: 1 found (into *out), 0 not there, -ENOSYS
 * when the kernel cannot (the caller falls back). */
static int search_process(pid_t pid, unsigned port, struct listener *out)
{
	int pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	char path[64], fdpath[400], link[64];
	struct dirent *e;
	int found = 0;
	DIR *d;

	if (pidfd < 0)
		return errno == ENOSYS || errno == EPERM ? -ENOSYS : 0;
	snprintf(path, sizeof(path), "/proc/%d/fd", (int)pid);
	d = opendir(path);
	while (d && !found && (e = readdir(d)) != NULL) {
		ssize_t n;
		int fd, copy;

		if (!isdigit((unsigned char)e->d_name[0]))
			continue;
		snprintf(fdpath, sizeof(fdpath), "%s/%s", path, e->d_name);
		n = readlink(fdpath, link, sizeof(link) - 1);
		if (n <= 0)
			continue;
		link[n] = '\0';
		if (!socket_inode(link))
			continue;
		fd = atoi(e->d_name);
		copy = (int)syscall(SYS_pidfd_getfd, pidfd, fd, 0);
		if (copy < 0) {
			if (errno == ENOSYS) {
				found = -ENOSYS;
				break;
			}
			continue;
		}
		if (listens_on(copy, port)) {
			*out = (struct listener){ .pid = pid, .fd = fd, .inode = socket_inode(link) };
			found = 1;
		}
		close(copy);
	}
	if (d)
		closedir(d);
	close(pidfd);
	return found;
}

/* The process group of pid (/proc/PID/stat's fifth field), or -1. */
static long pgid_of(const char *pid)
{
	char path[300], buf[512];
	struct proc_stat st;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	return procfs_read(path, buf, sizeof(buf)) > 0 && procfs_stat(buf, &st) == 0 ? st.pgrp : -1;
}

/* Without pidfd_getfd: the inodes of the sockets listening on port (/proc/net/tcp{,6}). */
static int listening_inodes(unsigned port, unsigned long *inodes, int max)
{
	static const char *const files[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	int n = 0;

	for (size_t i = 0; i < 2 && n < max; i++) {
		FILE *f = fopen(files[i], "re");
		char line[512];

		if (!f)
			continue;
		while (n < max && fgets(line, sizeof(line), f)) {
			unsigned long inode = procfs_tcp_listener(line, port);

			if (inode)
				inodes[n++] = inode;
		}
		fclose(f);
	}
	return n;
}

/* Without pidfd_getfd: whether process pid holds one of the inodes (into *out). */
static bool holds(const char *pid, const unsigned long *inodes, int n, struct listener *out)
{
	char path[300], fdpath[600], link[64];
	struct dirent *e;
	bool found = false;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%s/fd", pid);
	d = opendir(path);
	while (d && !found && (e = readdir(d)) != NULL) {
		ssize_t len;
		unsigned long inode;

		snprintf(fdpath, sizeof(fdpath), "%s/%s", path, e->d_name);
		len = readlink(fdpath, link, sizeof(link) - 1);
		if (len <= 0)
			continue;
		link[len] = '\0';
		inode = socket_inode(link);
		for (int i = 0; inode && i < n && !found; i++) {
			if (inodes[i] == inode) {
				*out = (struct listener){ .pid = (pid_t)atol(pid),
							  .fd = atoi(e->d_name), .inode = inode };
				found = true;
			}
		}
	}
	if (d)
		closedir(d);
	return found;
}

bool listener_of_group(unsigned port, pid_t pgid, struct listener *out)
{
	unsigned long inodes[16];
	int n = 0, rc;
	bool found = false;
	struct dirent *e;
	DIR *d;

	if (pgid <= 0)
		return false;
	rc = search_process(pgid, port, out);	/* the leader: where extensions listen */
	if (rc > 0)
		return true;
	if (rc == -ENOSYS && (n = listening_inodes(port, inodes, 16)) <= 0)
		return false;
	d = opendir("/proc");
	while (d && !found && (e = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)e->d_name[0]) || pgid_of(e->d_name) != (long)pgid)
			continue;
		if (rc == -ENOSYS)
			found = holds(e->d_name, inodes, n, out);
		else if (atol(e->d_name) != (long)pgid)
			found = search_process((pid_t)atol(e->d_name), port, out) > 0;
	}
	if (d)
		closedir(d);
	return found;
}

bool listener_any(unsigned port)
{
	unsigned long inodes[1];

	return listening_inodes(port, inodes, 1) > 0;
}

bool listener_still(const struct listener *l)
{
	char path[64], link[64];
	ssize_t n;

	if (!l->inode)
		return false;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", (int)l->pid, l->fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return false;
	link[n] = '\0';
	return socket_inode(link) == l->inode;
}
