/*
 * The log pipeline: sources hand in lines (or whole records); a writer thread joins
 * multi-line messages, parses, and writes segments. Memory is bounded: past the queue's
 * limit lines are dropped and counted (vigil_logs_dropped_total{reason}).
 */
#ifndef VIGIL_LOGPIPE_H
#define VIGIL_LOGPIPE_H

#include <stdbool.h>
#include <stdint.h>

#include "metrics.h"
#include "segment.h"

struct log_pipe;

struct log_line {
	unsigned stream;		/* lines of one stream join into multi-line records */
	Vigil__V1__Source source;
	const char *extension;		/* name, for SOURCE_EXTENSION */
	const char *request_id;		/* the request in flight, if any */
	const char *function_name, *function_version;
	int64_t time_ns;		/* 0: now */
	bool verbatim;			/* the text is the message as it is: not parsed, never
					 * joined (a record vigil wrote itself, such as a cold
					 * start's timeline line) */
};

/* NULL (logged) when the log directory cannot be used. */
struct log_pipe *log_pipe_new(const struct segment_writer_options *o, size_t queue_bytes,
			      struct metric_registry *registry);
/* log_pipe_new with the newest trained dictionary of o->dir. NULL, said once, when the
 * folder cannot be used. */
struct log_pipe *log_pipe_open(const struct segment_writer_options *o, size_t queue_bytes,
			       struct metric_registry *registry);
/* Hand in one line (copied). Never blocks: drops and counts when the queue is full. */
void log_pipe_line(struct log_pipe *p, const struct log_line *meta, const char *text, size_t n);
/* The JSON object at the start of s[0..n) (a Telemetry API record), as one line: read in
 * place on the writer thread (a deferred batch: its end found by reading it, no copy),
 * queued as its text from any other. message: the record's message unless it has one (NULL:
 * none). 0 with *used the object's length, or -1 when s does not start with one. */
int log_pipe_object(struct log_pipe *p, const struct log_line *meta, const char *s, size_t n,
		    const char *message, size_t *used);
/* Run fn(arg) on the writer thread, in order with the lines (bytes: what it weighs in the
 * queue). -1, fn not called, when the queue is full (one line counted as dropped): the caller frees
 * arg. For work that can wait, such as parsing a batch into lines. */
int log_pipe_defer(struct log_pipe *p, void (*fn)(void *arg), void *arg, size_t bytes);
/* log_pipe_defer, after waiting up to wait_s for room when the queue is full (back pressure
 * for a source that can make its sender wait); lines: how many a drop loses (counted). */
int log_pipe_defer_wait(struct log_pipe *p, void (*fn)(void *arg), void *arg, size_t bytes,
			size_t lines, double wait_s);
/* Bytes queued for the writer now, and (in *limit) the most it queues before dropping: a
 * source that can stop reading does so well before. */
size_t log_pipe_backlog(struct log_pipe *p, size_t *limit);
struct emf_in;
/* Recognise EMF documents in the lines (core/emf_in.h), on the writer thread; before the
 * first line. e outlives p. */
void log_pipe_set_emf(struct log_pipe *p, struct emf_in *e);
/* Write everything queued, then stop the thread and close the segment. */
void log_pipe_close(struct log_pipe *p);
/* The environment took a new identity (a SnapStart restore): what follows goes to a segment
 * of a new name (the one open was the snapshot's, and every restored copy has it). */
void log_pipe_renew(struct log_pipe *p);

#endif
