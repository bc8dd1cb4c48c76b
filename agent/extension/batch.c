/* Telemetry API batches into the invocation tracker. See batch.h. */
#include "batch.h"

#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* vigil's own output, back through the "extension" stream. */
static bool own_line(const char *ns, json_t *record)
{
	static const char *const levels[] = { "debug ", "info ", "warn ", "error " };
	const char *s = json_is_string(record) ? json_string_value(record) :
			json_string_value(json_object_get(record, "message"));

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

static int64_t parse_time(const char *iso)
{
	struct tm tm = { 0 };
	const char *rest;
	int ms = 0;

	if (!iso)
		return 0;
	rest = strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!rest)
		return 0;
	if (*rest == '.') {
		double frac = strtod(rest, NULL);

		if (frac >= 0 && frac < 1)
			ms = (int)(frac * 1000.0);
	}
	return (int64_t)timegm(&tm) * 1000 + ms;
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

void telemetry_batch_log(struct log_pipe *logs, const char *in_flight, const char *body,
			 size_t len, const char *emf_namespace, const char *function_name,
			 const char *version)
{
	json_t *root, *ev;
	char current[64];
	size_t i;

	if (!logs)
		return;
	root = json_loadb(body, len, 0, NULL);
	snprintf(current, sizeof(current), "%s", in_flight ? in_flight : "");
	json_array_foreach(root, i, ev) {
		const char *type = json_string_value(json_object_get(ev, "type"));
		json_t *record = json_object_get(ev, "record");
		struct log_line meta = { .function_name = function_name, .function_version = version,
					 .request_id = current };
		char *text = NULL;

		if (!type || !record)
			continue;
		meta.time_ns = parse_time(json_string_value(json_object_get(ev, "time"))) * 1000000LL;
		if (strcmp(type, "function") == 0 || strcmp(type, "extension") == 0) {
			if (strcmp(type, "extension") == 0 && own_line(emf_namespace, record))
				continue;
			meta.source = type[0] == 'f' ? VIGIL__V1__SOURCE__SOURCE_FUNCTION :
						       VIGIL__V1__SOURCE__SOURCE_EXTENSION;
			meta.stream = type[0] == 'f' ? 1 : 2;
			if (json_is_string(record)) {
				log_pipe_line(logs, &meta, json_string_value(record),
					      json_string_length(record));
				continue;
			}
			text = json_dumps(record, JSON_COMPACT);
		} else if (strncmp(type, "platform.", 9) == 0 && json_is_object(record)) {
			/* The platform's part of the story: its type as the message, the record's
			 * members as fields (requestId becomes the request id). */
			json_t *copy = json_deep_copy(record);
			const char *rid = json_string_value(json_object_get(record, "requestId"));

			/* Log lines after a start belong to it (the tracker may have closed it). */
			if (rid && strcmp(type, "platform.start") == 0)
				snprintf(current, sizeof(current), "%s", rid);

			json_object_set_new(copy, "message", json_string(type));
			meta.source = VIGIL__V1__SOURCE__SOURCE_PLATFORM;
			meta.stream = 0;
			meta.request_id = NULL;
			text = json_dumps(copy, JSON_COMPACT);
			json_decref(copy);
		}
		if (text) {
			log_pipe_line(logs, &meta, text, strlen(text));
			free(text);
		}
	}
	json_decref(root);
}
