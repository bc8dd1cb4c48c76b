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

/* A part of the init (written by vigil host or the extension beside the timeline): an
 * extension's start → its registration → its first /next, the runtime's exec → its first
 * /next, the host's own setup, the first invocation. */
struct cs_phase {
	char name[160];
	const char *part;		/* extension, runtime, sandbox, invoke, other */
	double start_ms;		/* from the report's zero (the init's start when known) */
	double ms;
	double register_ms;		/* extensions: start → registration (< 0: unknown) */
};

struct cs_report {
	char exe[256];
	int pid;
	double total_ms;		/* first start → the runtime's first /next (or last event) */
	bool ended;			/* the record reached the first /next */
	unsigned events, damaged;	/* lines taken; lines that were not records */
	unsigned processes, execs, forks;
	unsigned others;		/* events of processes not the runtime's (left out) */
	unsigned files, missing;	/* opened; looked for and not there */
	uint64_t bytes;
	struct cs_group *groups;	/* by time, most first */
	size_t ngroups;
	struct cs_net *net;
	size_t nnet;
	char partial[200];		/* what is missing, "" when whole */
	/* From the lines vigil itself wrote (absent in a bare preload record): */
	char source[16];		/* "preload", "probes", "" */
	char id[64];			/* the cold start's id in the log segments */
	double init_ms;			/* the platform's Init Duration (< 0: unknown) */
	char init_type[40];
	char init_status[16];		/* success, timeout, error ("" unknown) */
	double start_ms;		/* the runtime's first event, from the zero */
	struct cs_phase *phases;	/* in start order */
	size_t nphases;
	double phases_ms;		/* the init's phases from the first start to the last end */
	double cpu_ms;			/* the runtime process's time on CPU during init (< 0: ?) */
	uint64_t zero_ns;		/* the zero of every *_ms above: ns since the epoch */
};

/* Where a cold start's lines go in the log segments: records of the extension column
 * COLDSTART_LOG_PREFIX "<id>", each line its message, as it is. */
#define COLDSTART_LOG_PREFIX "vigil.coldstart/"

/* A record as vigil-preload.so leaves it (a file mapped shared: a header, then the lines, with
 * gaps of NUL where a process died mid-line) or as plain lines (a copy, a test's): its lines
 * appended to out, at most max bytes. 0, or -errno (-EFBIG: cut at max). */
int coldstart_read_fd(int fd, struct buf *out, size_t max);

struct log_pipe;
/* Hand a timeline's lines (or vigil's own phase lines) to the log pipe as the records of cold
 * start id (each line's "t" its time). Lines past COLDSTART_MAX_LINE are left out. */
void coldstart_log(struct log_pipe *p, const char *id, const char *function_name,
		   const char *text, size_t len);
/* coldstart_log of a whole cold start (the record's text, then vigil's lines), and — when a
 * sink takes cold starts (sink_set_wants_coldstart) — its report to the sinks, for the
 * invocation request_id (trace: its header, "" none). For the log writer's thread. */
struct sink_set;
void coldstart_keep(struct log_pipe *p, struct sink_set *sinks, const char *id,
		    const char *function_name, struct buf *record, const struct buf *lines,
		    const char *request_id, const char *trace);
/* One of vigil's own lines: {"t":start_ns,"ev":"phase","name":…,"part":…,"ns":…} (register_ns
 * < 0: none), {"t":start_ns,"ev":"init","ns":…,"type":…,"status":…,"source":…} (with the
 * runtime's pid when known, > 0: whose processes the groups are). */
void coldstart_phase_line(struct buf *b, uint64_t start_ns, const char *name, const char *part,
			  uint64_t ns, int64_t register_ns);
void coldstart_init_line(struct buf *b, uint64_t start_ns, uint64_t ns, const char *type,
			 const char *status, const char *source, int runtime_pid);

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
