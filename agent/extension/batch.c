/* Telemetry API batches into the invocation tracker. See batch.h. */
#include "batch.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/jscan.h"
#include "../core/log_level.h"

static bool own_text(const char *ns, const char *s);
static struct jval member(const struct jval *obj, const char *name);
static const char *text_of(const struct jval *v, char **buf, size_t *cap, size_t *len);

/* An event's type, time and record members (J_NONE where absent), in one pass. */
static void read_event(const struct jval *ev, struct jval *type, struct jval *time,
		       struct jval *rec)
{
	struct jval k, v;
	struct jiter it;

	jscan_iter(ev, &it);
	while (jscan_next_member(&it, &k, &v) == 1) {
		if (jscan_eq(&k, "type"))
			*type = v;
		else if (jscan_eq(&k, "time"))
			*time = v;
		else if (jscan_eq(&k, "record"))
			*rec = v;
	}
}

/* A function's or extension's record into the tracker's log counts: its level, the request
 * id it names, its message (vigil's own lines skipped). 1 counted, 0 vigil's own, -1 not a
 * log record. */
static int ingest_log(struct tracker *t, bool ext, const struct jval *rec, const char *ns,
		      char **buf, size_t *cap)
{
	char rid[64] = "";
	int level = LEVEL_INFO;
	const char *text;
	size_t len = 0;

	if (rec->type == J_STRING) {
		text = text_of(rec, buf, cap, &len);
		if (!text)
			return -1;
		if (ext && own_text(ns, text))
			return 0;
		log_text_line(text, len, &level, rid, sizeof(rid));
	} else if (rec->type == J_OBJECT) {
		struct jval msg = { .type = J_NONE };

		log_json_fields(rec, &level, rid, sizeof(rid), &msg);
		text = text_of(&msg, buf, cap, &len);
		if (ext && own_text(ns, text))
			return 0;
	} else {
		return -1;
	}
	tracker_count_log(t, rid, level, text, text ? len : 0);
	return 1;
}

/* A platform event's record (few per invocation: their fields are many) into the tracker,
 * through jansson. tracker_event's result. */
static int ingest_platform(struct tracker *t, const struct jval *type, const struct jval *rec,
			   const struct jval *time)
{
	char name[64];
	json_t *record;
	int rc;

	if (type->escaped || type->n >= sizeof(name))
		return -ENOENT;		/* no type of Lambda's */
	memcpy(name, type->p, type->n);
	name[type->n] = '\0';
	record = json_loadb(rec->p, rec->n, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
	if (!record)
		return -EINVAL;
	rc = tracker_event(t, name, record,
			   time->type == J_STRING && !time->escaped ?
				   iso8601_ns(time->p, time->n) / 1000000 : 0);
	json_decref(record);
	return rc;
}

/* Read once with jscan (jansson over whole batches cost 7 times the log pipeline's CPU on the
 * bench corpus); only platform records are parsed into trees. A batch whose text breaks off
 * keeps what came before: the rest is counted as one malformed record. */
int telemetry_batch_ingest(struct tracker *t, const char *body, size_t len,
			   const char *emf_namespace, struct batch_counts *counts)
{
	struct jiter it;
	struct jval ev;
	char *buf = NULL;
	size_t cap = 0;
	int more;

	memset(counts, 0, sizeof(*counts));
	if (jscan_iter_text(body, len, &it) < 0 || it.object)
		return -EINVAL;
	while ((more = jscan_next_elem(&it, &ev)) == 1) {
		struct jval type = { .type = J_NONE }, time = type, rec = type;
		bool fn, ext;
		int rc;

		counts->records++;
		if (ev.type == J_OBJECT)
			read_event(&ev, &type, &time, &rec);
		if (type.type != J_STRING || rec.type == J_NONE) {
			counts->malformed++;
			continue;
		}
		fn = jscan_eq(&type, "function");
		ext = !fn && jscan_eq(&type, "extension");
		if (fn || ext) {
			rc = ingest_log(t, ext, &rec, emf_namespace, &buf, &cap);
			if (rc == 0)
				counts->own++;
			else if (rc < 0)
				counts->malformed++;
			continue;
		}
		if (type.n <= 9 || memcmp(type.p, "platform.", 9) != 0) {
			counts->unknown++;
			continue;
		}
		if (jscan_eq(&type, "platform.logsDropped")) {
			/* What the platform could not deliver: counted, as the log pipe's own
			 * drops are (vigil_logs_dropped_total{reason="platform"}). */
			struct jval v = member(&rec, "droppedRecords");
			int64_t n;

			if (jscan_int(&v, &n) && n > 0)
				counts->platform_dropped += (uint64_t)n;
		}
		switch (ingest_platform(t, &type, &rec, &time)) {
		case -EINVAL:
			counts->malformed++;
			break;
		case -ENOENT:
			counts->unknown++;
			break;
		}
	}
	if (more < 0) {
		counts->records++;
		counts->malformed++;
	}
	free(buf);
	return 0;
}

/* vigil's own line, by its text (the record, or an object record's message). */
static bool own_text(const char *ns, const char *s)
{
	static const char *const levels[] = { "debug ", "info ", "warn ", "error " };

	if (!s)
		return false;
	if (strncmp(s, "{\"_aws\":", 8) == 0 && strstr(s, ns))
		return true;
	if (strncmp(s, "VIGIL_REPORT ", 13) == 0)
		return true;
	for (size_t i = 0; i < 4; i++) {
		size_t l = strlen(levels[i]);

		if (strncmp(s, levels[i], l) == 0) {
			const char *p = s + l;

			while ((*p >= 'a' && *p <= 'z') || *p == '_')
				p++;
			if (p > s + l && p[0] == ':' && p[1] == ' ')
				return true;
		}
	}
	return false;
}

/* A member of an object value, or J_NONE. */
static struct jval member(const struct jval *obj, const char *name)
{
	struct jval k, v, none = { .type = J_NONE };
	struct jiter it;

	if (obj->type != J_OBJECT)
		return none;
	jscan_iter(obj, &it);
	while (jscan_next_member(&it, &k, &v) == 1) {
		if (jscan_eq(&k, name))
			return v;
	}
	return none;
}

/* A string value unescaped into *buf (grown as needed); NULL when it is not a string. */
static const char *text_of(const struct jval *v, char **buf, size_t *cap, size_t *len)
{
	if (v->type != J_STRING)
		return NULL;
	if (v->n + 1 > *cap) {
		char *b = realloc(*buf, v->n + 1);

		if (!b)
			return NULL;
		*buf = b;
		*cap = v->n + 1;
	}
	*len = jscan_unescape(v, *buf);
	return *buf;
}

struct event {
	struct jval type, time, record;
};

struct batch_log {
	struct log_pipe *logs;
	const char *ns, *function_name, *version;
	char current[64];
	char *tbuf;
	size_t tcap;
};

/* Whether an event's record can be read in place as its event is iterated (no skim, no second
 * pass): a function's or a platform event's object, its type and time already met. The
 * others (extensions' lines: vigil's own are recognised by their message) are skimmed and
 * read once the event is. */
static bool in_place(const struct event *e)
{
	return e->type.type == J_STRING && !e->type.escaped && e->time.type != J_NONE &&
	       (jscan_eq(&e->type, "function") ||
		(e->type.n > 9 && memcmp(e->type.p, "platform.", 9) == 0));
}

/* One event into the pipe. rec: its record, whole or open (jscan_next_member_open): *used
 * then gets its length. 0, or -1 when the record is not well-formed JSON. */
static int log_event(struct batch_log *bl, const struct event *e, const struct jval *rec,
		     size_t *used)
{
	struct log_line meta = { .function_name = bl->function_name,
				 .function_version = bl->version, .request_id = bl->current };
	bool fn = jscan_eq(&e->type, "function"), ext = !fn && jscan_eq(&e->type, "extension");

	*used = rec->n;
	meta.time_ns = e->time.type == J_STRING && !e->time.escaped ?
			       iso8601_ns(e->time.p, e->time.n) / 1000000 * 1000000 : 0;
	if (fn || ext) {
		if (ext) {
			struct jval msg = rec->type == J_OBJECT ? member(rec, "message") : *rec;
			size_t len;

			if (own_text(bl->ns, text_of(&msg, &bl->tbuf, &bl->tcap, &len)))
				return 0;
		}
		meta.source = fn ? VIGIL__V1__SOURCE__SOURCE_FUNCTION :
				   VIGIL__V1__SOURCE__SOURCE_EXTENSION;
		meta.stream = fn ? 1 : 2;
		if (rec->type == J_STRING && !rec->escaped) {
			log_pipe_line(bl->logs, &meta, rec->p, rec->n);	/* no copy needed */
			return 0;
		}
		if (rec->type == J_STRING) {
			size_t len;
			const char *text = text_of(rec, &bl->tbuf, &bl->tcap, &len);

			if (text)
				log_pipe_line(bl->logs, &meta, text, len);
			return 0;
		}
		if (rec->type == J_OBJECT)
			return log_pipe_object(bl->logs, &meta, rec->p, rec->n, NULL, used);
		log_pipe_line(bl->logs, &meta, rec->p, rec->n);
	} else if (e->type.n > 9 && memcmp(e->type.p, "platform.", 9) == 0 &&
		   rec->type == J_OBJECT && !e->type.escaped) {
		/* The platform's part of the story: its type as the message, the record's
		 * members as fields (requestId becomes the request id). */
		struct jval whole;
		char type[64];

		if (e->type.n >= sizeof(type)) {	/* no type of Lambda's: passed over */
			if (jscan_open_span(rec, &whole) < 0)
				return -1;
			*used = whole.n;
			return 0;
		}
		memcpy(type, e->type.p, e->type.n);
		type[e->type.n] = '\0';
		meta.source = VIGIL__V1__SOURCE__SOURCE_PLATFORM;
		meta.stream = 0;
		meta.request_id = NULL;
		if (log_pipe_object(bl->logs, &meta, rec->p, rec->n, type, used) < 0)
			return -1;
		if (jscan_eq(&e->type, "platform.start")) {
			/* Log lines after a start belong to it (the tracker may have closed
			 * it). Its requestId is usually its first member. */
			struct jval rid;

			whole = (struct jval){ .type = J_OBJECT, .p = rec->p, .n = *used };
			rid = member(&whole, "requestId");
			if (rid.type == J_STRING && rid.n < sizeof(bl->current))
				jscan_unescape(&rid, bl->current);
		}
		return 0;
	}
	return 0;
}

/* A string value of at most 64 bytes without escapes at s[0..n), closing quote included. */
static size_t plain_string(const char *s, size_t n, struct jval *v)
{
	size_t q = jscan_find_qb(s, n < 64 ? n : 64, 0);

	if (q >= n || s[q] != '"')
		return 0;
	*v = (struct jval){ .type = J_STRING, .p = s, .n = q };
	return q + 1;
}

/*
 * Lambda's own envelope, {"time":"…","type":"…", read without the generic member loop (a
 * third of a batch's values are these): it leaves m at the next member. Any other shape (other
 * order, spaces, escapes) is not taken here and goes the generic way from the start.
 */
static bool envelope(const struct jval *ev, struct event *e, struct jiter *m)
{
	static const char head[] = "{\"time\":\"", mid[] = "\"type\":\"";
	const char *s = ev->p;
	size_t n = ev->n, i = sizeof(head) - 1, l;

	if (n < 64 || memcmp(s, head, i) != 0 || !(l = plain_string(s + i, n - i, &e->time)))
		return false;
	i += l;
	if (i + sizeof(mid) > n || s[i] != ',' || memcmp(s + i + 1, mid, sizeof(mid) - 1) != 0)
		return false;
	i += sizeof(mid);
	if (i >= n || !(l = plain_string(s + i, n - i, &e->type)))
		return false;
	i += l;
	if (i >= n || s[i] != ',')
		return false;
	*m = (struct jiter){ .s = s, .n = n, .pos = i + 1, .first = true, .object = true };
	return true;
}

/*
 * The log path reads a batch once, with jscan (spans, no tree): the members of each event as
 * they come, and a record that can be read in place (in_place) handed to the pipe open, where
 * the parser reads it into the record being built — one pass over its bytes. Other records are
 * skimmed first. A malformed event ends the batch there (the tracker's path, which reads the
 * batch before this, has answered 400 to any batch that is not JSON).
 */
void telemetry_batch_log(struct log_pipe *logs, const char *in_flight, const char *body,
			 size_t len, const char *emf_namespace, const char *function_name,
			 const char *version)
{
	struct batch_log bl = { .logs = logs, .ns = emf_namespace,
				.function_name = function_name, .version = version };
	struct jval ev, whole;
	struct jiter it;
	int rc = 0;

	if (!logs || jscan_iter_text(body, len, &it) < 0 || it.object)
		return;
	snprintf(bl.current, sizeof(bl.current), "%s", in_flight ? in_flight : "");
	while (rc == 0 && jscan_next_elem_open(&it, &ev) == 1) {
		struct event e;	/* not cleared whole: per event, that cost a rep stos */
		bool done = false;
		struct jval k, v;
		struct jiter m;
		size_t used;

		if (ev.type == J_ARRAY) {	/* not an event: passed over */
			if (jscan_open_span(&ev, &whole) < 0)
				break;
			jscan_iter_resume(&it, &ev, whole.n);
			continue;
		}
		if (ev.type != J_OBJECT)
			continue;
		e.type.type = e.time.type = e.record.type = J_NONE;
		if (!envelope(&ev, &e, &m)) {
			e.time.type = e.type.type = J_NONE;
			if (jscan_iter_text(ev.p, ev.n, &m) < 0)
				continue;
		}
		while ((rc = jscan_next_member_open(&m, &k, &v)) == 1) {
			bool open = v.type == J_OBJECT || v.type == J_ARRAY;

			if (open && jscan_eq(&k, "record") && in_place(&e) && !done &&
			    v.type == J_OBJECT) {
				if (log_event(&bl, &e, &v, &used) < 0) {
					rc = -1;
					break;
				}
				jscan_iter_resume(&m, &v, used);
				done = true;
				continue;
			}
			if (open) {
				if (jscan_open_span(&v, &whole) < 0) {
					rc = -1;
					break;
				}
				jscan_iter_resume(&m, &v, whole.n);
				v = whole;
			}
			if (jscan_eq(&k, "type"))
				e.type = v;
			else if (jscan_eq(&k, "time"))
				e.time = v;
			else if (jscan_eq(&k, "record"))
				e.record = v;
		}
		if (rc < 0)
			break;
		jscan_iter_resume(&it, &ev, jscan_iter_end(&m));
		if (!done && e.type.type == J_STRING && e.record.type != J_NONE &&
		    log_event(&bl, &e, &e.record, &used) < 0)
			break;
	}
	free(bl.tbuf);
}
