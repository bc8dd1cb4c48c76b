/*
 * The text of /proc and cgroup files, parsed (their reading is the callers'): every parser
 * takes NUL-terminated text of any content and never reads past it.
 */
#ifndef VIGIL_PROCFS_H
#define VIGIL_PROCFS_H

#include <stddef.h>
#include <stdint.h>

/* A small /proc or cgroup file read whole into buf (n bytes, NUL-terminated): its length, or
 * -1 when it cannot be read or is empty. */
long procfs_read(const char *path, char *buf, size_t n);

/* /proc/PID/stat: the fields after the command (which may hold spaces and parentheses). */
struct proc_stat {
	long pgrp;
	unsigned long utime, stime;	/* clock ticks */
	long threads;
};
/* 0, or -1 when text is not such a line. */
int procfs_stat(const char *text, struct proc_stat *st);

/* The number of a "Key:  N kB" line of /proc/PID/status (key with its colon), or -1. */
long long procfs_status_kb(const char *text, const char *key);

/* The number of a "key N" line (memory.events, memory.stat), or 0. */
uint64_t procfs_keyed(const char *text, const char *key);

/* /proc/self/cgroup ("ID:CONTROLLERS:PATH" lines): the path in controller's hierarchy (""
 * for the v2 unified line) into out. 0, or -1 when there is none. */
int procfs_cgroup_path(const char *text, const char *controller, char *out, size_t n);

/* One line of /proc/net/tcp or tcp6: the inode of a socket listening on port at 0.0.0.0,
 * 127/8, :: or ::1, else 0. */
unsigned long procfs_tcp_listener(const char *line, unsigned port);

/* One line of /proc/net/dev: the interface's name into name and its bytes received and sent.
 * 0, or -1 (a header line). */
int procfs_netdev(const char *line, char *name, size_t n, unsigned long long *rx,
		  unsigned long long *tx);

#endif
