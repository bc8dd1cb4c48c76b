/* The log pipeline. See logpipe.h. */
#include "logpipe.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../util/clock.h"
#include "../util/log.h"
#include "emf_in.h"
#include "jscan.h"
#include "logparse.h"

#define JOIN_STREAMS 64
#define IDLE_FLUSH_S 1.0	/* a partial block is written after this long without lines */
#define WAKE_S 0.05		/* the writer collects lines this often… */
#define WAKE_BYTES (64 * 1024)	/* …or at once when this much is waiting */
/* A record whose stream has been quiet this long is complete (no continuation line can join
 * it any more) and goes to the tail file: with WAKE_S, what a SIGKILL can lose is at most
 * the last ~0.2 s (the durability window the README states). */
#define JOIN_WAIT_S 0.08
/* The writer runs at idle priority (below); when what waits for it is older than this (the
 * CPUs are busy with other work), it runs at normal priority until it has caught up: the
 * durability window must not depend on a free CPU. */
#define BOOST_S 0.05

struct item {
	struct item *next;
	void (*fn)(void *arg);		/* deferred work (log_pipe_defer) instead of a line */
	void *arg;
	struct log_line meta;
	char *extension, *request_id, *function_name, *function_version;
	size_t n;
	char text[];
};

struct pending {
	bool used;
	unsigned stream;
	struct lrec rec;		/* its buffers stay, record after record */
	Vigil__V1__Source source;
	char extension[128];
	size_t len;
	double at;			/* when its last line came (monotonic) */
};

struct log_pipe {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_cond_t room;		/* the writer took what was queued */
	pthread_t thread;
	bool stop;
	struct item *head, *tail;
	size_t queued, limit;
	struct segment_writer *writer;
	struct pending pend[JOIN_STREAMS];
	double now;			/* the writer's batch started (monotonic) */
	double oldest;			/* the first queued item came (monotonic) */
	bool idle_policy;		/* the writer is SCHED_IDLE when it has caught up */
	bool boosted;			/* …and SCHED_OTHER now */
	size_t lost;			/* lines dropped since the last vigil.logsDropped record */
	struct metric_series *dropped_full, *dropped_long, *records, *repaired;
	struct emf_in *emf;		/* EMF documents' metrics into the registry (or NULL) */
};

static void emit(struct log_pipe *p, struct pending *pe)
{
	struct segment_record r;

	if (!pe->used)
		return;
	logparse_finish(&pe->rec, pe->extension, &r);
	r.source = (uint32_t)pe->source;
	segment_writer_add_parts(p->writer, &r);
	metric_inc(p->records);
	if (pe->rec.repaired)
		metric_inc(p->repaired);
	pe->used = false;
}

/* What the line does not tell, from where it came (meta's strings may be NULL: ""). */
static void complete(struct log_pipe *p, struct pending *pe, const struct log_line *meta,
		     size_t n)
{
	struct lrec *r = &pe->rec;

	if (!r->time_ns)
		r->time_ns = meta->time_ns;	/* stamped by log_pipe_line */
	pe->source = meta->source;
	if (meta->extension && meta->extension[0])
		snprintf(pe->extension, sizeof(pe->extension), "%s", meta->extension);
	else
		pe->extension[0] = '\0';
	if (!r->function_name.len && meta->function_name)
		buf_puts(&r->function_name, meta->function_name);
	if (!r->function_version.len && meta->function_version)
		buf_puts(&r->function_version, meta->function_version);
	if (r->truncated)
		metric_inc(p->dropped_long);
	pe->used = true;
	pe->stream = meta->stream;
	pe->len = n;
	pe->at = p->now;
}

/* One line into its stream's pending record. */
static void take(struct log_pipe *p, const struct log_line *meta, const char *text, size_t n)
{
	struct pending *pe = &p->pend[meta->stream % JOIN_STREAMS];
	const char *rid = meta->request_id && meta->request_id[0] ? meta->request_id : NULL;

	if (meta->verbatim) {
		emit(p, pe);
		logparse_verbatim(text, n, rid, &pe->rec);
		complete(p, pe, meta, n);
		pe->len = LOG_LINE_MAX;	/* (nothing joins it) */
		return;
	}
	/* A continuation line (a stack trace) joins the record before it. */
	if (pe->used && pe->stream == meta->stream &&
	    logparse_is_continuation(text, n) && pe->len + n < LOG_LINE_MAX) {
		logparse_append(&pe->rec, text, n);
		pe->len += n + 1;
		pe->at = p->now;
		return;
	}
	emit(p, pe);
	if (p->emf)
		emf_in_line(p->emf, text, n);
	logparse_lrec(text, n, rid, &pe->rec);
	complete(p, pe, meta, n);
}

int log_pipe_object(struct log_pipe *p, const struct log_line *meta, const char *s, size_t n,
		    const char *message, size_t *used)
{
	struct log_line now;
	struct pending *pe;
	size_t end;

	if (!p)
		return -1;
	now = *meta;
	if (!now.time_ns)
		now.time_ns = clock_epoch_ns();
	if (!pthread_equal(pthread_self(), p->thread)) {
		/* Another thread: the object goes through the queue as its text. */
		struct jval v;
		size_t pos = 0;

		if (jscan_value(s, n, &pos, &v) < 0 || v.type != J_OBJECT)
			return -1;
		*used = pos;
		if (message) {
			struct buf b;
			size_t body = 1;

			while (body < v.n && strchr(" \t\r\n", v.p[body]))
				body++;
			buf_init(&b);
			buf_printf(&b, "{\"message\":\"%s\"%s", message,
				   v.p[body] == '}' ? "" : ",");
			buf_append(&b, v.p + body, v.n - body);
			if (!b.failed)
				log_pipe_line(p, &now, b.data, b.len);
			buf_free(&b);
		} else {
			log_pipe_line(p, &now, v.p, v.n);
		}
		return 0;
	}
	pe = &p->pend[now.stream % JOIN_STREAMS];
	emit(p, pe);
	end = logparse_object(s, n, message, now.request_id && now.request_id[0] ?
					     now.request_id : NULL, &pe->rec);
	if (!end)
		return -1;
	if (p->emf)
		emf_in_line(p->emf, s, end);
	*used = end;
	complete(p, pe, &now, end);
	return 0;
}

static void take_item(struct log_pipe *p, const struct item *it)
{
	struct log_line meta = it->meta;

	meta.extension = it->extension;
	meta.request_id = it->request_id;
	meta.function_name = it->function_name;
	meta.function_version = it->function_version;
	take(p, &meta, it->text, it->n);
}

/* Records that can no longer grow are complete; what is complete goes to the tail file. */
static void settle(struct log_pipe *p)
{
	for (int i = 0; i < JOIN_STREAMS; i++)
		if (p->pend[i].used && p->now - p->pend[i].at >= JOIN_WAIT_S)
			emit(p, &p->pend[i]);
	segment_writer_sync(p->writer);
}

static void free_item(struct item *it)
{
	free(it);	/* its strings live in the same allocation */
}

/* A record of the lines dropped since the last one, where they would have been: vigil logs
 * shows the gap, as the platform's own platform.logsDropped does. The writer's thread. */
static void record_lost(struct log_pipe *p)
{
	struct log_line meta = { .stream = 0, .source = VIGIL__V1__SOURCE__SOURCE_PLATFORM };
	char text[128];
	size_t n, used;

	pthread_mutex_lock(&p->lock);
	n = p->lost;
	p->lost = 0;
	pthread_mutex_unlock(&p->lock);
	if (!n)
		return;
	snprintf(text, sizeof(text), "{\"droppedRecords\":%zu,\"reason\":\"queue_full\"}", n);
	log_pipe_object(p, &meta, text, strlen(text), "vigil.logsDropped", &used);
}

static void *writer_thread(void *arg)
{
	struct log_pipe *p = arg;
	double last_lines = clock_mono_s();
	bool idle_flushed = true;

	/* Compression yields to the function and to vigil's own invocation path: on a small
	 * sandbox (2 vCPUs or fewer) a block compressed at the wrong moment otherwise shows in
	 * invoke latency (measured: p99 of vigil host's round trip 0.15 → 2 ms with the writer
	 * at normal priority, even at nice 19, whose slices still last milliseconds).
	 * SCHED_IDLE: it runs when a CPU has nothing else to do, which between invocations is
	 * nearly always. The queue is bounded; what cannot wait is dropped and counted. */
	{
		struct sched_param sp = { 0 };
		bool idle = pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) == 0;

		if (!idle && setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 19) < 0)
			log_debug("logs", "writer priority: %s", strerror(errno));
		pthread_mutex_lock(&p->lock);
		p->idle_policy = idle;
		pthread_mutex_unlock(&p->lock);
	}
	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct item *batch;

		/* Lines are collected every WAKE_S (or at once past WAKE_BYTES): a wake-up per
		 * line would put one more runnable thread on a small sandbox's CPUs right when
		 * the function and the extension need them. */
		while (!p->head && !p->stop) {
			struct timespec until = clock_realtime_in(WAKE_S);
			int rc;

			rc = pthread_cond_timedwait(&p->cond, &p->lock, &until);
			if (rc != ETIMEDOUT || p->head)
				continue;
			pthread_mutex_unlock(&p->lock);
			p->now = clock_mono_s();
			settle(p);
			if (!idle_flushed && p->now - last_lines >= IDLE_FLUSH_S) {
				/* Quiet: the block goes out, compressed (its tail is on disk
				 * already). */
				for (int i = 0; i < JOIN_STREAMS; i++)
					emit(p, &p->pend[i]);
				segment_writer_flush(p->writer);
				idle_flushed = true;
			}
			pthread_mutex_lock(&p->lock);
		}
		last_lines = clock_mono_s();
		idle_flushed = false;
		if (!p->head && p->stop)
			break;
		batch = p->head;
		p->head = p->tail = NULL;
		p->queued = 0;
		pthread_cond_broadcast(&p->room);
		pthread_mutex_unlock(&p->lock);
		p->now = last_lines;
		while (batch) {
			struct item *it = batch;

			batch = it->next;
			if (it->fn)
				it->fn(it->arg);
			else
				take_item(p, it);
			free_item(it);
		}
		record_lost(p);
		settle(p);
		pthread_mutex_lock(&p->lock);
		if (p->boosted && !p->head && !p->stop) {
			/* Caught up: back to idle priority. */
			struct sched_param sp = { 0 };

			pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp);
			p->boosted = false;
		}
	}
	pthread_mutex_unlock(&p->lock);
	record_lost(p);
	for (int i = 0; i < JOIN_STREAMS; i++)
		emit(p, &p->pend[i]);
	return NULL;
}

struct log_pipe *log_pipe_new(const struct segment_writer_options *o, size_t queue_bytes,
			      struct metric_registry *registry)
{
	struct log_pipe *p = calloc(1, sizeof(*p));

	if (!p)
		return NULL;
	p->writer = segment_writer_open(o);
	if (!p->writer) {
		free(p);
		return NULL;
	}
	p->limit = queue_bytes ? queue_bytes : 8u << 20;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	pthread_cond_init(&p->room, NULL);
	if (registry) {
		struct metric_desc d = { .name = "vigil_logs_dropped_total",
					 .help = "Log lines dropped (queue_full: the writer fell "
						 "behind; platform: the Telemetry API said so in "
						 "platform.logsDropped) or cut (too_long: over 256 KiB).",
					 .type = METRIC_COUNTER, .labels = { "reason" } };
		struct metric_family *f = metric_register(registry, &d);

		p->dropped_full = metric_with(f, "queue_full");
		p->dropped_long = metric_with(f, "too_long");
		d = (struct metric_desc){ .name = "vigil_logs_records_total",
					  .help = "Log records written to segments.",
					  .type = METRIC_COUNTER };
		p->records = metric_series_get(metric_register(registry, &d), NULL);
		d = (struct metric_desc){ .name = "vigil_logs_utf8_repaired_total",
					  .help = "Log records whose invalid UTF-8 was repaired.",
					  .type = METRIC_COUNTER };
		p->repaired = metric_series_get(metric_register(registry, &d), NULL);
	}
	if (pthread_create(&p->thread, NULL, writer_thread, p) != 0) {
		segment_writer_close(p->writer);
		free(p);
		return NULL;
	}
	return p;
}

/* Lines dropped: counted, and said in the segments where they would have been. */
static void lost(struct log_pipe *p, size_t lines)
{
	pthread_mutex_lock(&p->lock);
	p->lost += lines;
	pthread_mutex_unlock(&p->lock);
	metric_add(p->dropped_full, (double)lines);
}

/* Room in the queue for bytes more, or -1 (the lines they hold counted as dropped). */
static int reserve(struct log_pipe *p, size_t bytes, size_t lines)
{
	pthread_mutex_lock(&p->lock);
	if (p->queued + bytes > p->limit + sizeof(struct item)) {
		p->lost += lines;
		pthread_mutex_unlock(&p->lock);
		metric_add(p->dropped_full, (double)lines);
		return -1;
	}
	p->queued += bytes;
	pthread_mutex_unlock(&p->lock);
	return 0;
}

/* Append to the queue; wake the writer only past WAKE_BYTES (it polls every WAKE_S). */
/* The writer at normal priority when what waits for it is late (p locked). */
static void boost(struct log_pipe *p)
{
	struct sched_param sp = { 0 };

	if (p->boosted || !p->idle_policy)
		return;
	p->boosted = true;	/* once, even if refused (EPERM without CAP_SYS_NICE and
				 * RLIMIT_NICE): then it stays at idle priority */
	if (pthread_setschedparam(p->thread, SCHED_OTHER, &sp) != 0)
		p->idle_policy = false;
	pthread_cond_signal(&p->cond);
}

static void boost_if_late(struct log_pipe *p)
{
	/* (the clock read only when it could matter: this runs for every line queued) */
	if (!p->boosted && p->idle_policy && p->head && clock_mono_s() - p->oldest >= BOOST_S)
		boost(p);
}

static void enqueue(struct log_pipe *p, struct item *it)
{
	pthread_mutex_lock(&p->lock);
	if (p->tail) {
		p->tail->next = it;
	} else {
		p->head = it;
		p->oldest = clock_mono_s();
	}
	p->tail = it;
	boost_if_late(p);
	if (p->queued >= WAKE_BYTES)
		pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

/* A copy of s after the text in the item's own allocation (one malloc a line). */
static char *pack(char **at, const char *s)
{
	size_t l = s ? strlen(s) : 0;
	char *out = *at;

	memcpy(out, s ? s : "", l + 1);
	*at += l + 1;
	return out;
}

void log_pipe_line(struct log_pipe *p, const struct log_line *meta, const char *text, size_t n)
{
	size_t keep = n > LOG_LINE_MAX + 1 ? LOG_LINE_MAX + 1 : n, strs;
	struct log_line now;
	struct item *it;
	char *at;

	if (!p)
		return;
	/* Stamped on arrival, not when the writer gets to it. */
	now = *meta;
	if (!now.time_ns)
		now.time_ns = clock_epoch_ns();
	if (pthread_equal(pthread_self(), p->thread)) {
		/* Already on the writer (a deferred batch): no queue to go through. Lines that
		 * other threads queued meanwhile follow, as they would have. */
		take(p, &now, text, keep);
		return;
	}
	strs = (meta->extension ? strlen(meta->extension) : 0) +
	       (meta->request_id ? strlen(meta->request_id) : 0) +
	       (meta->function_name ? strlen(meta->function_name) : 0) +
	       (meta->function_version ? strlen(meta->function_version) : 0) + 4;
	if (reserve(p, keep + sizeof(*it), 1) < 0)
		return;
	it = malloc(sizeof(*it) + keep + 1 + strs);
	if (!it) {
		lost(p, 1);
		return;
	}
	it->next = NULL;
	it->fn = NULL;
	it->meta = now;
	memcpy(it->text, text, keep);
	it->text[keep] = '\0';
	it->n = keep;
	at = it->text + keep + 1;
	it->extension = pack(&at, meta->extension);
	it->request_id = pack(&at, meta->request_id);
	it->function_name = pack(&at, meta->function_name);
	it->function_version = pack(&at, meta->function_version);
	enqueue(p, it);
}

size_t log_pipe_backlog(struct log_pipe *p, size_t *limit)
{
	size_t q;

	if (!p) {
		*limit = 1;
		return 0;
	}
	pthread_mutex_lock(&p->lock);
	q = p->queued;
	boost_if_late(p);
	pthread_mutex_unlock(&p->lock);
	*limit = p->limit;
	return q;
}

static int defer(struct log_pipe *p, void (*fn)(void *arg), void *arg, size_t bytes,
		 size_t lines)
{
	struct item *it;

	if (!p)
		return -1;
	if (reserve(p, bytes + sizeof(*it), lines) < 0)
		return -1;
	it = calloc(1, sizeof(*it) + 1);
	if (!it) {
		lost(p, lines);
		return -1;
	}
	it->fn = fn;
	it->arg = arg;
	it->extension = it->request_id = it->function_name = it->function_version = it->text;
	enqueue(p, it);
	return 0;
}

int log_pipe_defer_wait(struct log_pipe *p, void (*fn)(void *arg), void *arg, size_t bytes,
			size_t lines, double wait_s)
{
	struct timespec until = clock_realtime_in(wait_s);

	if (!p)
		return -1;
	pthread_mutex_lock(&p->lock);
	/* The writer is behind: wait for it to take the queue (it wakes at once past
	 * WAKE_BYTES), as long as wait_s allows. */
	while (p->queued && p->queued + bytes > p->limit && !p->stop) {
		/* (someone waits for it: late, whatever the time — at idle priority a busy CPU
		 * would never run it) */
		boost(p);
		pthread_cond_signal(&p->cond);
		if (pthread_cond_timedwait(&p->room, &p->lock, &until) == ETIMEDOUT)
			break;
	}
	pthread_mutex_unlock(&p->lock);
	return defer(p, fn, arg, bytes, lines);
}

int log_pipe_defer(struct log_pipe *p, void (*fn)(void *arg), void *arg, size_t bytes)
{
	return defer(p, fn, arg, bytes, 1);
}

void log_pipe_set_emf(struct log_pipe *p, struct emf_in *e)
{
	if (p)
		p->emf = e;
}

void log_pipe_close(struct log_pipe *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	boost(p);	/* (a stop waits for it) */
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	segment_writer_close(p->writer);
	for (int i = 0; i < JOIN_STREAMS; i++)
		lrec_free(&p->pend[i].rec);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	pthread_cond_destroy(&p->room);
	free(p);
}

struct log_pipe *log_pipe_open(const struct segment_writer_options *o, size_t queue_bytes,
			       struct metric_registry *registry)
{
	struct segment_writer_options so = *o;
	struct log_pipe *p;
	size_t dict_len = 0;
	void *dict;

	dict = segment_load_dictionary(o->dir, 0, &dict_len, &so.dict_id);
	so.dict = dict;
	so.dict_len = dict_len;
	p = log_pipe_new(&so, queue_bytes, registry);
	free(dict);
	if (!p)
		log_warn("logs", "log segments are off: cannot write to %s", o->dir);
	return p;
}

static void rotate(void *arg)
{
	struct log_pipe *p = arg;

	for (int i = 0; i < JOIN_STREAMS; i++)
		emit(p, &p->pend[i]);
	if (segment_writer_rotate(p->writer) < 0)
		log_warn("logs", "cannot start a new segment after a restore");
}

void log_pipe_renew(struct log_pipe *p)
{
	if (p)
		log_pipe_defer(p, rotate, p, 0);
}
