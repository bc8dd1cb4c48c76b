/*
 * A cold start's timeline (the records vigil-preload.so writes: one JSON object a line) turned
 * into what a developer asks of it: where the init's time went, by package or module (Node's
 * node_modules/<pkg>, Python's packages and modules, jars, shared libraries, the function's
 * own code), the network calls made during init, and what is missing when the record is
 * partial. Pure (text in, report out): the command, the tests and the fuzzer share it.
 */
#ifndef VIGIL_COLDSTART_H
#define VIGIL_COLDSTART_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util/buf.h"

#define COLDSTART_MAX_LINE (64 * 1024)	/* a longer line is damaged */
#define COLDSTART_MAX_EVENTS 2000000

struct cs_group {
	char name[160];			/* "slowpkg", "express", "libssl.so.3", "function code" */
	const char *kind;		/* python, node, java, library, function, runtime, file */
	double ms;			/* time until each of its events' next on that thread */
	double first_ms;		/* its first event, from the start */
	unsigned files;			/* files of it opened (found) */
	uint64_t bytes;			/* bytes read from them */
};

struct cs_net {
	const char *what;		/* "connect", "dns" */
	char target[300];
	double at_ms;			/* from the start */
	double ms;			/* how long the call took */
	bool failed;
};

struct cs_report {
	char exe[256];
	int pid;
	double total_ms;		/* first start → the runtime's first /next (or last event) */
	bool ended;			/* the record reached the first /next */
	unsigned events, damaged;	/* lines taken; lines that were not records */
	unsigned processes, execs, forks;
	unsigned files, missing;	/* opened; looked for and not there */
	uint64_t bytes;
	struct cs_group *groups;	/* by time, most first */
	size_t ngroups;
	struct cs_net *net;
	size_t nnet;
	char partial[200];		/* what is missing, "" when whole */
};

/* Analyse a timeline's text. 0, or -ENOMEM. Damaged lines are counted, never fatal. */
int coldstart_analyze(const char *text, size_t len, struct cs_report *out);
void coldstart_free(struct cs_report *r);
/* The report as text (the top groups) or as JSON. */
void coldstart_text(const struct cs_report *r, unsigned top, struct buf *out);
void coldstart_json(const struct cs_report *r, struct buf *out);
/* One self-contained page (no script, font or network): the report's numbers and an SVG
 * waterfall — a row for the init as a whole, one per top group, each bar from the group's
 * first event for its time; hovering a bar gives its figures. */
void coldstart_html(const struct cs_report *r, unsigned top, struct buf *out);
/* What changed from cold start a to b: groups that grew or shrank by more than min_ms, and
 * those that appeared or went, the largest change first (text or JSON). */
void coldstart_diff(const struct cs_report *a, const struct cs_report *b, double min_ms,
		    bool json, struct buf *out);

#endif
