/* Log lines into records. See logparse.h. */
#include "logparse.h"

#include "jscan.h"
#include "utf8.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Bytes at the start of p that need no look: ASCII without NUL, 8 at a time. */
static size_t ascii_prefix(const unsigned char *p, size_t n)
{
	size_t i = 0;

	for (; i + 8 <= n; i += 8) {
		uint64_t w;

		memcpy(&w, p + i, 8);
		/* A byte ≥ 0x80, or a zero byte (the classic haszero test). */
		if ((w | ((w - 0x0101010101010101ull) & ~w)) & 0x8080808080808080ull)
			break;
	}
	while (i < n && p[i] && p[i] < 0x80)
		i++;
	return i;
}

char *logparse_clean(const char *s, size_t n, size_t max, bool *repaired, bool *truncated)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0, i = ascii_prefix(p, n < max ? n : max);
	char *out;

	*repaired = false;
	*truncated = false;
	if (i == n) {	/* the usual line: plain ASCII, copied as it is */
		out = malloc(n + 1);
		if (out) {
			memcpy(out, s, n);
			out[n] = '\0';
		}
		return out;
	}
	out = malloc((n < max ? n : max) * 3 + 4);
	if (!out)
		return NULL;
	memcpy(out, s, i);
	o = i;
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
#define START(text) { text, sizeof(text) - 1 }
	static const struct { const char *text; size_t len; } starts[] = {
		START("at "), START("Caused by:"), START("Traceback "), START("During handling"),
		START("The above exception"), START("..."), START("goroutine "),
	};
#undef START

	if (n == 0)
		return false;
	if (s[0] == ' ' || s[0] == '\t')
		return true;
	for (size_t i = 0; i < sizeof(starts) / sizeof(starts[0]); i++) {
		if (n >= starts[i].len && s[0] == starts[i].text[0] &&
		    memcmp(s, starts[i].text, starts[i].len) == 0)
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

/* A string value as a cleaned, malloc'd copy (zero-copy cleaning when it has no escapes). */
static char *dup_value(const struct jval *v)
{
	char stack[512], *tmp;
	char *out;

	if (!v->escaped)
		return dupn(v->p, v->n);
	tmp = v->n < sizeof(stack) ? stack : malloc(v->n + 1);
	if (!tmp)
		return strdup("");
	out = dupn(tmp, jscan_unescape(v, tmp));
	if (tmp != stack)
		free(tmp);
	return out;
}

static void add_field(log_record *r, const struct jval *key, const struct jval *v)
{
	Vigil__V1__Field *f, **fields;

	fields = realloc(r->fields, (r->n_fields + 1) * sizeof(*fields));
	if (!fields)
		return;
	r->fields = fields;
	f = calloc(1, sizeof(*f));
	if (!f)
		return;
	vigil__v1__field__init(f);
	f->key = dup_value(key);
	if (v->type == J_NUMBER && jscan_int(v, &f->integer)) {
		f->value_case = VIGIL__V1__FIELD__VALUE_INTEGER;
	} else if (v->type == J_NUMBER && v->n <= 64) {
		f->value_case = VIGIL__V1__FIELD__VALUE_DECIMAL;	/* checked JSON number text */
		f->decimal = dupn(v->p, v->n);
	} else if (v->type == J_NUMBER) {
		f->value_case = VIGIL__V1__FIELD__VALUE_NUMBER;
		f->number = jscan_double(v);
	} else if (v->type == J_TRUE || v->type == J_FALSE) {
		f->value_case = VIGIL__V1__FIELD__VALUE_FLAG;
		f->flag = v->type == J_TRUE;
	} else {
		/* Strings unescaped; objects, arrays and null as their JSON text. */
		f->value_case = VIGIL__V1__FIELD__VALUE_TEXT;
		f->text = v->type == J_STRING ? dup_value(v) : dupn(v->p, v->n);
	}
	r->fields[r->n_fields++] = f;
}

/* Fields start as protobuf-c's empty string (no allocation); replaced ones are freed. */
static void replace(char **field, char *v)
{
	if (*field && *field != protobuf_c_empty_string)
		free(*field);
	*field = v;
}

void logparse_set(char **field, const char *s)
{
	replace(field, strdup(s ? s : ""));
}

static void set(char **field, const char *s, size_t n)
{
	replace(field, dupn(s, n));
}

static void set_value(char **field, const struct jval *v)
{
	replace(field, dup_value(v));
}

/* Known keys of Lambda's JSON format and Powertools, by length first (most keys are not). */
enum key { K_OTHER, K_MESSAGE, K_LEVEL, K_REQUEST_ID, K_TRACE_ID, K_TIME, K_COLD_START,
	   K_FUNCTION_NAME, K_FUNCTION_VERSION };

static enum key key_of(const struct jval *k)
{
#define KEY(text, key) { text, sizeof(text) - 1, key }
	static const struct { const char *name; size_t len; enum key key; } known[] = {
		KEY("message", K_MESSAGE), KEY("level", K_LEVEL), KEY("requestId", K_REQUEST_ID),
		KEY("function_request_id", K_REQUEST_ID), KEY("AWSRequestId", K_REQUEST_ID),
		KEY("xray_trace_id", K_TRACE_ID), KEY("traceId", K_TRACE_ID),
		KEY("timestamp", K_TIME), KEY("time", K_TIME), KEY("cold_start", K_COLD_START),
		KEY("function_name", K_FUNCTION_NAME), KEY("function_version", K_FUNCTION_VERSION),
	};
#undef KEY

	if (k->escaped)
		return K_OTHER;	/* no known key needs an escape */
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (known[i].len == k->n && memcmp(known[i].name, k->p, k->n) == 0)
			return known[i].key;
	}
	return K_OTHER;
}

/* Lambda JSON log format and Powertools: known keys to columns, the rest to fields. */
static bool parse_json(const char *line, size_t n, log_record *r)
{
	struct member { struct jval k, v; } stack[32], *m = stack, *grown;
	size_t nm = 0, cap = sizeof(stack) / sizeof(stack[0]);
	struct jval k, v;
	struct jiter it;
	int rc;

	/* The members first (one pass): a line that is not JSON after all stays text, whole. */
	if (jscan_iter_text(line, n, &it) < 0 || !it.object)
		return false;
	while ((rc = jscan_next_member(&it, &k, &v)) == 1) {
		if (nm == cap) {
			grown = realloc(m == stack ? NULL : m, cap * 2 * sizeof(*m));
			if (!grown) {
				rc = -1;
				break;
			}
			if (m == stack)
				memcpy(grown, stack, sizeof(stack));
			m = grown;
			cap *= 2;
		}
		m[nm].k = k;
		m[nm++].v = v;
	}
	if (rc < 0 || jscan_skip_ws(line, n, jscan_iter_end(&it)) != n) {
		if (m != stack)
			free(m);
		return false;
	}
	for (size_t i = 0; i < nm; i++) {
		const struct jval k = m[i].k, v = m[i].v;
		enum key key = key_of(&k);
		bool str = v.type == J_STRING && !v.escaped;
		const char *lv;

		switch (key) {
		case K_MESSAGE:
			if (v.type == J_STRING) {
				set_value(&r->message, &v);
				continue;
			}
			break;
		case K_LEVEL:
			if (str && (lv = level_of(v.p, v.n))) {
				set(&r->level, lv, strlen(lv));
				continue;
			}
			break;
		case K_REQUEST_ID:
		case K_TRACE_ID:
		case K_FUNCTION_NAME:
		case K_FUNCTION_VERSION:
			if (v.type == J_STRING) {
				set_value(key == K_REQUEST_ID ? &r->request_id :
					  key == K_TRACE_ID ? &r->trace_id :
					  key == K_FUNCTION_NAME ? &r->function_name :
					  &r->function_version, &v);
				continue;
			}
			break;
		case K_TIME:
			if (str && iso8601_ns(v.p, v.n)) {
				r->time_ns = iso8601_ns(v.p, v.n);
				continue;
			}
			break;
		case K_COLD_START:
			if (v.type == J_TRUE || v.type == J_FALSE) {
				r->cold_start = v.type == J_TRUE;
				continue;
			}
			break;
		case K_OTHER:
			break;
		}
		add_field(r, &k, &v);
	}
	if (m != stack)
		free(m);
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
		if (iso8601_ns(f[1], len[1]))
			r->time_ns = iso8601_ns(f[1], len[1]);
		set(&r->request_id, f[2], len[2]);
		set(&r->message, f[3], len[3]);
		return true;
	}
	if (is_uuidish(f[1], len[1]) && level_of(f[2], len[2]) && iso8601_ns(f[0], len[0])) {
		r->time_ns = iso8601_ns(f[0], len[0]);
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

	vigil__v1__log_record__init(r);	/* strings: protobuf_c_empty_string */
	dup_repaired = false;
	r->message = strdup("");	/* always its own: continuation lines grow it */
	if (n > 0 && line[0] == '{' && n <= LOG_LINE_MAX && parse_json(line, n, r)) {
		/* structured */
	} else if (parse_text(line, n, r)) {
		/* Node or Python text */
	} else {
		const char *close = n > 2 && line[0] == '[' ? memchr(line, ']', n < 12 ? n : 12) : NULL;
		const char *lv = close ? level_of(line + 1, (size_t)(close - line - 1)) : NULL;

		/* Plain text; "[ERROR] …" still tells its level. */
		replace(&r->message, logparse_clean(line, n, LOG_LINE_MAX, &repaired, &truncated));
		set(&r->level, lv ? lv : "INFO", strlen(lv ? lv : "INFO"));
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
		else if (r->fields[i]->value_case == VIGIL__V1__FIELD__VALUE_DECIMAL)
			free(r->fields[i]->decimal);
		free(r->fields[i]);
	}
	free(r->fields);
	r->fields = NULL;
	r->n_fields = 0;
}
