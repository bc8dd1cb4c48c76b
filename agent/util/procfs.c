/* The text of /proc and cgroup files, parsed. See procfs.h. */
#include "procfs.h"

#include "fields.h"

#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

long procfs_read(const char *path, char *buf, size_t n)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t got;

	if (fd < 0)
		return -1;
	got = read(fd, buf, n - 1);
	close(fd);
	if (got <= 0)
		return -1;
	buf[got] = '\0';
	return (long)got;
}

int procfs_stat(const char *text, struct proc_stat *st)
{
	const char *p = strrchr(text, ')'), *f[18];
	size_t len[18];
	long long pgrp, threads;
	unsigned long long utime, stime;

	memset(st, 0, sizeof(*st));
	/* state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime
	 * cutime cstime priority nice num_threads */
	if (!p || !p[1] || fields_split(p + 2, f, len, 18) != 18 ||
	    !field_i64(f[2], len[2], &pgrp) || !field_u64(f[11], len[11], &utime) ||
	    !field_u64(f[12], len[12], &stime) || !field_i64(f[17], len[17], &threads))
		return -1;
	st->pgrp = (long)pgrp;
	st->utime = (unsigned long)utime;
	st->stime = (unsigned long)stime;
	st->threads = (long)threads;
	return 0;
}

/* The start of each line of text, in turn: *p is the line, its end at the next newline. */
static const char *next_line(const char *p)
{
	const char *nl = strchr(p, '\n');

	return nl ? nl + 1 : NULL;
}

long long procfs_status_kb(const char *text, const char *key)
{
	size_t kl = strlen(key);

	for (const char *p = text; p && *p; p = next_line(p)) {
		if (strncmp(p, key, kl) == 0) {
			char *end;
			long long v = strtoll(p + kl, &end, 10);

			return end == p + kl || v < 0 ? -1 : v;
		}
	}
	return -1;
}

uint64_t procfs_keyed(const char *text, const char *key)
{
	size_t kl = strlen(key);

	for (const char *p = text; p && *p; p = next_line(p)) {
		if (strncmp(p, key, kl) == 0 && p[kl] == ' ')
			return strtoull(p + kl + 1, NULL, 10);
	}
	return 0;
}

int procfs_cgroup_path(const char *text, const char *controller, char *out, size_t n)
{
	size_t cl = strlen(controller);

	for (const char *p = text; p && *p; p = next_line(p)) {
		const char *eol = strchr(p, '\n'), *list, *path;

		if (!eol)
			eol = p + strlen(p);
		list = memchr(p, ':', (size_t)(eol - p));
		path = list ? memchr(list + 1, ':', (size_t)(eol - list - 1)) : NULL;
		if (!path)
			continue;
		list++;
		if (!cl) {
			if (list != path)
				continue;
		} else {
			/* controller among the comma-separated names */
			const char *c = list;
			bool found = false;

			while (c < path && !found) {
				const char *e = memchr(c, ',', (size_t)(path - c));

				if (!e)
					e = path;
				found = (size_t)(e - c) == cl && strncmp(c, controller, cl) == 0;
				c = e + 1;
			}
			if (!found)
				continue;
		}
		path++;
		snprintf(out, n, "%.*s", (int)(eol - path), path);
		return 0;
	}
	return -1;
}

unsigned long procfs_tcp_listener(const char *line, unsigned port)
{
	char local[64], *colon;
	const char *f[10];
	size_t len[10], hl;
	unsigned long long inode;

	/* sl local_address rem_address st tx:rx tr:tm retrnsmt uid timeout inode */
	if (fields_split(line, f, len, 10) != 10 || len[1] >= sizeof(local) || len[3] != 2 ||
	    strncmp(f[3], "0A", 2) != 0 || !field_u64(f[9], len[9], &inode))
		return 0;
	memcpy(local, f[1], len[1]);
	local[len[1]] = '\0';
	colon = strchr(local, ':');
	if (!colon || strtoul(colon + 1, NULL, 16) != port)
		return 0;
	hl = (size_t)(colon - local);
	/* IPv4 (first octet last): any or 127/8; IPv6: ::, ::1 */
	if ((hl == 8 && (strncmp(local, "00000000", 8) == 0 || strncasecmp(local + 6, "7F", 2) == 0)) ||
	    (hl == 32 && (strncmp(local, "00000000000000000000000000000000", 32) == 0 ||
			  strncmp(local, "00000000000000000000000001000000", 32) == 0)))
		return inode;
	return 0;
}

int procfs_netdev(const char *line, char *name, size_t n, unsigned long long *rx,
		  unsigned long long *tx)
{
	const char *colon = strchr(line, ':'), *s = line;

	if (!colon)
		return -1;
	while (*s == ' ')
		s++;
	{
		const char *f[9];
		size_t len[9];

		/* rx: bytes packets errs drop fifo frame compressed multicast; tx: bytes … */
		if (fields_split(colon + 1, f, len, 9) != 9 || !field_u64(f[0], len[0], rx) ||
		    !field_u64(f[8], len[8], tx))
			return -1;
	}
	snprintf(name, n, "%.*s", (int)(colon - s), s);
	return 0;
}
