/* Log lines into records. See logparse.h. */
#include "logparse.h"

#include "utf8.h"

#include <ctype.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

char *logparse_clean(const char *s, size_t n, size_t max, bool *repaired, bool *truncated)
{
	const unsigned char *p = (const unsigned char *)s;
	char *out = malloc((n < max ? n : max) * 3 + 4);
	size_t o = 0, i = 0;

	*repaired = false;
	*truncated = false;
	if (!out)
		return NULL;
	while (i < n) {
		size_t l = p[i] == 0 ? 0 : utf8_char_len(p + i, n - i);

		if (o + (l ? l : 3) > max) {
			*truncated = true;
			break;
		}
		if (p[i] == 0) {
			*repaired = true;
			i++;
			continue;
		}
		if (!l) {
			memcpy(out + o, "\xEF\xBF\xBD", 3);
			o += 3;
			i++;
			*repaired = true;
			continue;
		}
		memcpy(out + o, p + i, l);
		o += l;
		i += l;
	}
	out[o] = '\0';
	return out;
}

bool logparse_is_continuation(const char *s, size_t n)
{
	static const char *const starts[] = { "at ", "Caused by:", "Traceback ", "During handling",
					      "The above exception", "...", "goroutine " };

	if (n == 0)
		return false;
	if (s[0] == ' ' || s[0] == '\t')
		return true;
	for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
		size_t l = strlen(starts[i]);

		if (n >= l && memcmp(s, starts[i], l) == 0)
			return true;
	}
	return false;
}

static const char *const level_names[] = { "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL" };

/* The canonical name of a level word, or NULL. */
static const char *level_of(const char *s, size_t n)
{
	for (size_t i = 0; i < 6; i++) {
		size_t l = strlen(level_names[i]);

		if (n == l && strncasecmp(s, level_names[i], l) == 0)
			return level_names[i];
	}
	if (n == 7 && strncasecmp(s, "WARNING", 7) == 0)
		return "WARN";
	if (n == 8 && strncasecmp(s, "CRITICAL", 8) == 0)
		return "FATAL";
	return NULL;
}

static int64_t parse_iso_ns(const char *s, size_t n)
{
	struct tm tm = { 0 };
	char buf[64];
	const char *rest;
	int64_t ns = 0;

	if (n >= sizeof(buf) || n < 19)
		return 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
	rest = strptime(buf, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!rest)
		return 0;
	if (*rest == '.') {
		int64_t scale = 100000000;

		for (rest++; isdigit((unsigned char)*rest); rest++, scale /= 10)
			ns += (*rest - '0') * scale;
	}
	return (int64_t)timegm(&tm) * 1000000000LL + ns;
}

static bool is_uuidish(const char *s, size_t n)
{
	return n == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-';
}

/* Strings taken from a line are cleaned too; a repair anywhere marks the record. */
static _Thread_local bool dup_repaired;

static char *dupn(const char *s, size_t n)
{
	bool rep, trunc;
	char *out = logparse_clean(s, n, LOG_LINE_MAX, &rep, &trunc);

	dup_repaired |= rep;
	return out;
}

static void add_field(log_record *r, const char *key, json_t *v)
{
	Vigil__V1__Field *f, **fields;
	char *text;

	fields = realloc(r->fields, (r->n_fields + 1) * sizeof(*fields));
	if (!fields)
		return;
	r->fields = fields;
	f = calloc(1, sizeof(*f));
	if (!f)
		return;
	vigil__v1__field__init(f);
	f->key = dupn(key, strlen(key));
	if (json_is_integer(v)) {
		f->value_case = VIGIL__V1__FIELD__VALUE_INTEGER;
		f->integer = json_integer_value(v);
	} else if (json_is_real(v)) {
		f->value_case = VIGIL__V1__FIELD__VALUE_NUMBER;
		f->number = json_real_value(v);
	} else if (json_is_boolean(v)) {
		f->value_case = VIGIL__V1__FIELD__VALUE_FLAG;
		f->flag = json_is_true(v);
	} else {
		f->value_case = VIGIL__V1__FIELD__VALUE_TEXT;
		if (json_is_string(v)) {
			f->text = dupn(json_string_value(v), json_string_length(v));
		} else {
			text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
			f->text = text ? dupn(text, strlen(text)) : strdup("");
			free(text);
		}
	}
	r->fields[r->n_fields++] = f;
}

static void set(char **field, const char *s, size_t n)
{
	free(*field);
	*field = dupn(s, n);
}

/* Lambda JSON log format and Powertools: known keys to columns, the rest to fields. */
static bool parse_json(const char *line, size_t n, log_record *r)
{
	json_t *root = json_loadb(line, n, 0, NULL), *v;
	const char *key;

	if (!json_is_object(root)) {
		json_decref(root);
		return false;
	}
	json_object_foreach(root, key, v) {
		const char *s = json_string_value(v);
		size_t sl = s ? json_string_length(v) : 0;

		if (s && strcmp(key, "message") == 0) {
			set(&r->message, s, sl);
		} else if (s && strcmp(key, "level") == 0 && level_of(s, sl)) {
			set(&r->level, level_of(s, sl), strlen(level_of(s, sl)));
		} else if (s && (strcmp(key, "requestId") == 0 ||
				 strcmp(key, "function_request_id") == 0 ||
				 strcmp(key, "AWSRequestId") == 0)) {
			set(&r->request_id, s, sl);
		} else if (s && (strcmp(key, "xray_trace_id") == 0 || strcmp(key, "traceId") == 0)) {
			set(&r->trace_id, s, sl);
		} else if (s && (strcmp(key, "timestamp") == 0 || strcmp(key, "time") == 0) &&
			   parse_iso_ns(s, sl)) {
			r->time_ns = parse_iso_ns(s, sl);
		} else if (strcmp(key, "cold_start") == 0 && json_is_boolean(v)) {
			r->cold_start = json_is_true(v);
		} else if (s && strcmp(key, "function_name") == 0) {
			set(&r->function_name, s, sl);
		} else if (s && strcmp(key, "function_version") == 0) {
			set(&r->function_version, s, sl);
		} else {
			add_field(r, key, v);
		}
	}
	json_decref(root);
	return true;
}

/* Node "time\trequestId\tLEVEL\tmessage" and Python "[LEVEL]\ttime\trequestId\tmessage". */
static bool parse_text(const char *line, size_t n, log_record *r)
{
	const char *f[4], *p = line, *end = line + n;
	size_t len[4];
	int k = 0;

	while (k < 3) {
		const char *tab = memchr(p, '\t', (size_t)(end - p));

		if (!tab)
			return false;
		f[k] = p;
		len[k] = (size_t)(tab - p);
		k++;
		p = tab + 1;
	}
	f[3] = p;
	len[3] = (size_t)(end - p);
	if (len[0] > 2 && f[0][0] == '[' && f[0][len[0] - 1] == ']' && level_of(f[0] + 1, len[0] - 2) &&
	    is_uuidish(f[2], len[2])) {
		set(&r->level, level_of(f[0] + 1, len[0] - 2), strlen(level_of(f[0] + 1, len[0] - 2)));
		if (parse_iso_ns(f[1], len[1]))
			r->time_ns = parse_iso_ns(f[1], len[1]);
		set(&r->request_id, f[2], len[2]);
		set(&r->message, f[3], len[3]);
		return true;
	}
	if (is_uuidish(f[1], len[1]) && level_of(f[2], len[2]) && parse_iso_ns(f[0], len[0])) {
		r->time_ns = parse_iso_ns(f[0], len[0]);
		set(&r->request_id, f[1], len[1]);
		set(&r->level, level_of(f[2], len[2]), strlen(level_of(f[2], len[2])));
		set(&r->message, f[3], len[3]);
		return true;
	}
	return false;
}

void logparse_line(const char *line, size_t n, const char *default_request_id, log_record *r)
{
	bool repaired = false, truncated = false;

	vigil__v1__log_record__init(r);
	dup_repaired = false;
	r->request_id = strdup("");
	r->level = strdup("");
	r->message = strdup("");
	r->trace_id = strdup("");
	r->extension = strdup("");
	r->function_name = strdup("");
	r->function_version = strdup("");
	if (n > 0 && line[0] == '{' && n <= LOG_LINE_MAX && parse_json(line, n, r)) {
		/* structured */
	} else if (parse_text(line, n, r)) {
		/* Node or Python text */
	} else {
		const char *close = n > 2 && line[0] == '[' ? memchr(line, ']', n < 12 ? n : 12) : NULL;
		const char *lv = close ? level_of(line + 1, (size_t)(close - line - 1)) : NULL;

		/* Plain text; "[ERROR] …" still tells its level. */
		free(r->message);
		r->message = logparse_clean(line, n, LOG_LINE_MAX, &repaired, &truncated);
		free(r->level);
		r->level = strdup(lv ? lv : "INFO");
	}
	if (n > LOG_LINE_MAX)
		truncated = true;
	r->utf8_repaired = repaired || dup_repaired;
	r->truncated = truncated;
	if (!r->request_id[0] && default_request_id)
		set(&r->request_id, default_request_id, strlen(default_request_id));
	if (!r->level[0])
		set(&r->level, "INFO", 4);
}

void logparse_free(log_record *r)
{
	char **strs[] = { &r->request_id, &r->level, &r->message, &r->trace_id, &r->extension,
			  &r->function_name, &r->function_version };

	for (size_t i = 0; i < sizeof(strs) / sizeof(strs[0]); i++) {
		if (*strs[i] && *strs[i] != protobuf_c_empty_string)
			free(*strs[i]);
		*strs[i] = NULL;
	}
	for (size_t i = 0; i < r->n_fields; i++) {
		free(r->fields[i]->key);
		if (r->fields[i]->value_case == VIGIL__V1__FIELD__VALUE_TEXT)
			free(r->fields[i]->text);
		free(r->fields[i]);
	}
	free(r->fields);
	r->fields = NULL;
	r->n_fields = 0;
}
