/*
 * Who listens on a loopback port: the TCP sockets in LISTEN state on 127.0.0.0/8, ::1 or any
 * address (/proc/net/tcp and tcp6), and whether a process of a given process group holds
 * one (/proc/PID/fd). vigil host delivers telemetry only to a port a process of the
 * subscribing extension listens on: never to vigil's own listeners or a neighbour's.
 */
#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "host.h"

/* Whether a /proc/net/tcp{,6} local address (hex) is loopback or any. */
static bool local_or_any(const char *hex, size_t n)
{
	if (n == 8)	/* IPv4, the first octet last */
		return strncmp(hex, "00000000", 8) == 0 || strncasecmp(hex + 6, "7F", 2) == 0;
	if (n == 32)	/* IPv6: ::, ::1, ::ffff:127.x.y.z */
		return strncmp(hex, "00000000000000000000000000000000", 32) == 0 ||
		       strncmp(hex, "00000000000000000000000001000000", 32) == 0 ||
		       (strncasecmp(hex, "0000000000000000FFFF0000", 24) == 0 &&
			strncasecmp(hex + 30, "7F", 2) == 0);
	return false;
}

int listener_inodes(unsigned port, unsigned long *inodes, int max)
{
	static const char *const files[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	int n = 0;

	for (size_t i = 0; i < 2 && n < max; i++) {
		FILE *f = fopen(files[i], "re");
		char line[512];

		if (!f)
			continue;
		if (!fgets(line, sizeof(line), f)) {	/* the header */
			fclose(f);
			continue;
		}
		while (n < max && fgets(line, sizeof(line), f)) {
			char local[64], state[8];
			unsigned long inode;
			char *colon;

			if (sscanf(line, "%*s %63s %*s %7s %*s %*s %*s %*s %*s %lu", local, state,
				   &inode) != 3 || strcmp(state, "0A") != 0)
				continue;
			colon = strchr(local, ':');
			if (!colon || strtoul(colon + 1, NULL, 16) != port ||
			    !local_or_any(local, (size_t)(colon - local)))
				continue;
			inodes[n++] = inode;
		}
		fclose(f);
	}
	return n;
}

/* The process group of pid (/proc/PID/stat's fifth field), or -1. */
static long pgid_of(const char *pid)
{
	char path[300], buf[512], *rp;
	long pgid = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%s/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	if (fgets(buf, sizeof(buf), f) && (rp = strrchr(buf, ')')) != NULL &&
	    sscanf(rp + 1, " %*c %*d %ld", &pgid) != 1)
		pgid = -1;
	fclose(f);
	return pgid;
}

/* Whether process pid has one of the socket inodes open. */
static bool holds(const char *pid, const unsigned long *inodes, int n)
{
	char path[300], link[64], want[40];
	struct dirent *e;
	bool found = false;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%s/fd", pid);
	d = opendir(path);
	if (!d)
		return false;
	while (!found && (e = readdir(d)) != NULL) {
		char fd_path[600];
		ssize_t len;

		snprintf(fd_path, sizeof(fd_path), "%s/%s", path, e->d_name);
		len = readlink(fd_path, link, sizeof(link) - 1);
		if (len <= 8 || strncmp(link, "socket:[", 8) != 0)
			continue;
		link[len] = '\0';
		for (int i = 0; i < n && !found; i++) {
			snprintf(want, sizeof(want), "socket:[%lu]", inodes[i]);
			found = strcmp(link, want) == 0;
		}
	}
	closedir(d);
	return found;
}

unsigned long listener_of_group(unsigned port, pid_t pgid)
{
	unsigned long inodes[16], found = 0;
	int n = listener_inodes(port, inodes, 16);
	struct dirent *e;
	DIR *d;

	if (n <= 0 || pgid <= 0)
		return 0;
	d = opendir("/proc");
	if (!d)
		return 0;
	while (!found && (e = readdir(d)) != NULL) {
		if (!isdigit((unsigned char)e->d_name[0]) || pgid_of(e->d_name) != (long)pgid)
			continue;
		for (int i = 0; i < n && !found; i++) {
			if (holds(e->d_name, &inodes[i], 1))
				found = inodes[i];
		}
	}
	closedir(d);
	return found;
}

bool listener_still(unsigned port, unsigned long inode)
{
	unsigned long inodes[16];
	int n = listener_inodes(port, inodes, 16);

	for (int i = 0; i < n; i++) {
		if (inodes[i] == inode)
			return true;
	}
	return false;
}
