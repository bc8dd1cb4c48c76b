/* Telemetry API batches into the invocation tracker. See batch.h. */
#include "batch.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../core/buf.h"
#include "../core/jscan.h"

static bool own_text(const char *ns, const char *s);

/* vigil's own output, back through the "extension" stream. */
static bool own_line(const char *ns, json_t *record)
{
	return own_text(ns, json_is_string(record) ? json_string_value(record) :
			json_string_value(json_object_get(record, "message")));
}

/* Milliseconds since the epoch of an ISO 8601 time, 0 for none. */
static int64_t parse_time(const char *iso)
{
	return iso ? iso8601_ns(iso, strlen(iso)) / 1000000 : 0;
}

int telemetry_batch_ingest(struct tracker *t, const char *body, size_t len,
			   const char *emf_namespace, struct batch_counts *counts)
{
	json_t *root = json_loadb(body, len, 0, NULL), *ev;
	size_t i;

	memset(counts, 0, sizeof(*counts));
	if (!json_is_array(root)) {
		json_decref(root);
		return -EINVAL;
	}
	json_array_foreach(root, i, ev) {
		const char *type = json_string_value(json_object_get(ev, "type"));
		json_t *record = json_object_get(ev, "record");

		counts->records++;
		if (!type || !record) {
			counts->malformed++;
			continue;
		}
		if (strcmp(type, "extension") == 0 && own_line(emf_namespace, record)) {
			counts->own++;
			continue;
		}
		switch (tracker_event(t, type, record,
				      parse_time(json_string_value(json_object_get(ev, "time"))))) {
		case -EINVAL:
			counts->malformed++;
			break;
		case -ENOENT:
			counts->unknown++;
			break;
		}
	}
	json_decref(root);
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
static const char *text_of(const struct jval *v, char **buf, size_t *cap)
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
	jscan_unescape(v, *buf);
	return *buf;
}

struct event {
	struct jval type, time, record;
};

/*
 * The log path reads batches with jscan (spans, no tree): an object record goes to the pipe
 * as its own JSON text, a string record unescaped. A batch that is not JSON keeps nothing
 * (its events are collected first), as the tracker's path rejects it whole.
 */
void telemetry_batch_log(struct log_pipe *logs, const char *in_flight, const char *body,
			 size_t len, const char *emf_namespace, const char *function_name,
			 const char *version)
{
	struct event *evs = NULL;
	size_t nev = 0, cap = 0, tcap = 0;
	char current[64], *tbuf = NULL;
	struct jval ev;
	struct jiter it;
	int rc = 0;

	if (!logs || jscan_iter_text(body, len, &it) < 0 || it.object)
		return;
	while ((rc = jscan_next_elem(&it, &ev)) == 1) {
		struct event e = { .type = { .type = J_NONE }, .time = { .type = J_NONE },
				   .record = { .type = J_NONE } };
		struct jval k, v;
		struct jiter m;

		if (ev.type != J_OBJECT)
			continue;
		jscan_iter(&ev, &m);
		while ((rc = jscan_next_member(&m, &k, &v)) == 1) {
			if (jscan_eq(&k, "type"))
				e.type = v;
			else if (jscan_eq(&k, "time"))
				e.time = v;
			else if (jscan_eq(&k, "record"))
				e.record = v;
		}
		if (rc < 0)
			break;
		if (e.type.type != J_STRING || e.record.type == J_NONE)
			continue;
		if (nev == cap) {
			struct event *n = realloc(evs, (cap ? cap * 2 : 64) * sizeof(*n));

			if (!n) {
				rc = -1;
				break;
			}
			evs = n;
			cap = cap ? cap * 2 : 64;
		}
		evs[nev++] = e;
	}
	if (rc == 0 && jscan_skip_ws(body, len, jscan_iter_end(&it)) != len)
		rc = -1;	/* something after the array */
	snprintf(current, sizeof(current), "%s", in_flight ? in_flight : "");
	for (size_t i = 0; rc == 0 && i < nev; i++) {
		const struct event *e = &evs[i];
		struct log_line meta = { .function_name = function_name, .function_version = version,
					 .request_id = current };
		bool fn = jscan_eq(&e->type, "function"), ext = !fn && jscan_eq(&e->type, "extension");

		meta.time_ns = e->time.type == J_STRING && !e->time.escaped ?
				       iso8601_ns(e->time.p, e->time.n) / 1000000 * 1000000 : 0;
		if (fn || ext) {
			const char *text = NULL;

			if (ext) {
				struct jval msg = e->record.type == J_OBJECT ?
							  member(&e->record, "message") : e->record;

				if (own_text(emf_namespace, text_of(&msg, &tbuf, &tcap)))
					continue;
			}
			meta.source = fn ? VIGIL__V1__SOURCE__SOURCE_FUNCTION :
					   VIGIL__V1__SOURCE__SOURCE_EXTENSION;
			meta.stream = fn ? 1 : 2;
			if (e->record.type == J_STRING) {
				text = text_of(&e->record, &tbuf, &tcap);
				if (text)
					log_pipe_line(logs, &meta, text, strlen(text));
			} else {
				log_pipe_line(logs, &meta, e->record.p, e->record.n);
			}
		} else if (e->type.n > 9 && memcmp(e->type.p, "platform.", 9) == 0 &&
			   e->record.type == J_OBJECT && !e->type.escaped) {
			/* The platform's part of the story: its type as the message, the record's
			 * members as fields (requestId becomes the request id). */
			struct jval rid = member(&e->record, "requestId");
			size_t body_at = 1;
			struct buf b;

			/* Log lines after a start belong to it (the tracker may have closed it). */
			if (rid.type == J_STRING && rid.n < sizeof(current) &&
			    jscan_eq(&e->type, "platform.start"))
				jscan_unescape(&rid, current);
			while (body_at < e->record.n && strchr(" \t\r\n", e->record.p[body_at]))
				body_at++;
			buf_init(&b);
			buf_printf(&b, "{\"message\":\"%.*s\"%s", (int)e->type.n, e->type.p,
				   e->record.p[body_at] == '}' ? "" : ",");
			buf_append(&b, e->record.p + body_at, e->record.n - body_at);
			meta.source = VIGIL__V1__SOURCE__SOURCE_PLATFORM;
			meta.stream = 0;
			meta.request_id = NULL;
			if (!b.failed)
				log_pipe_line(logs, &meta, b.data, b.len);
			buf_free(&b);
		}
	}
	free(evs);
	free(tbuf);
}
