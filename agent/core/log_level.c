/* What a function's log line says of itself. See log_level.h. */
#include "log_level.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

int log_level_of(const char *s, size_t n)
{
	static const char *const names[LEVEL_COUNT] = { "TRACE", "DEBUG", "INFO", "WARN", "ERROR",
							"FATAL" };

	for (int i = 0; i < LEVEL_COUNT; i++) {
		size_t l = strlen(names[i]);

		if (n >= l && strncasecmp(s, names[i], l) == 0 && (n == l || !isalpha((unsigned char)s[l])))
			return i;
	}
	if (n >= 7 && strncasecmp(s, "WARNING", 7) == 0)
		return LEVEL_WARN;
	if (n >= 8 && strncasecmp(s, "CRITICAL", 8) == 0)
		return LEVEL_FATAL;
	return -1;
}

bool log_line_oom(const char *s, size_t n)
{
	static const char *const needles[] = {
		"JavaScript heap out of memory", "MemoryError", "java.lang.OutOfMemoryError",
		"Runtime.OutOfMemory", "fatal error: runtime: out of memory", "Cannot allocate memory",
	};

	if (!memmem(s, n, "emory", 5))	/* in every needle: one scan for most lines */
		return false;
	for (size_t i = 0; i < sizeof(needles) / sizeof(needles[0]); i++) {
		if (memmem(s, n, needles[i], strlen(needles[i])))
			return true;
	}
	return false;
}

/* A log line in text: Node's "time\trequestId\tLEVEL\tmessage", Python's
 * "[LEVEL]\ttime\trequestId\tmessage", or plain text (INFO). */
void log_text_line(const char *s, size_t len, int *level, char *rid, size_t ridlen)
{
	const char *p = s, *end = s + len;

	*level = LEVEL_INFO;
	rid[0] = '\0';
	for (int field = 0; field < 4 && p; field++) {
		const char *tab = memchr(p, '\t', (size_t)(end - p));
		size_t n = tab ? (size_t)(tab - p) : (size_t)(end - p);
		int l;

		if (n == 36 && p[8] == '-' && p[13] == '-')
			snprintf(rid, ridlen, "%.36s", p);
		else if (n > 2 && p[0] == '[' && p[n - 1] == ']' && (l = log_level_of(p + 1, n - 2)) >= 0)
			*level = l;
		else if ((l = log_level_of(p, n)) >= 0 && tab)
			*level = l;
		p = tab ? tab + 1 : NULL;
	}
}

/* A JSON line's level, requestId and message (top-level keys, as Lambda's JSON format and
 * Powertools write them). */
void log_json_fields(const struct jval *obj, int *level, char *rid, size_t ridlen,
		     struct jval *msg)
{
	struct jval key, val;
	struct jiter it;
	char lv[16];

	if (obj->type != J_OBJECT)
		return;
	jscan_iter(obj, &it);
	while (jscan_next_member_any(&it, &key, &val) == 1) {
		if (val.type != J_STRING || key.escaped)
			continue;
		if (key.n == 5 && memcmp(key.p, "level", 5) == 0 && val.n < sizeof(lv)) {
			int l = log_level_of(val.p, val.n);

			if (l >= 0)
				*level = l;
		} else if (key.n == 9 && memcmp(key.p, "requestId", 9) == 0 && val.n < ridlen &&
			   !val.escaped) {
			memcpy(rid, val.p, val.n);
			rid[val.n] = '\0';
		} else if (key.n == 7 && memcmp(key.p, "message", 7) == 0) {
			*msg = val;
		}
	}
}

void log_json_line(const char *s, size_t n, int *level, char *rid, size_t ridlen,
		   struct jval *msg)
{
	struct jval obj;

	if (jscan_parse(s, n, &obj) == 0)
		log_json_fields(&obj, level, rid, ridlen, msg);
}
