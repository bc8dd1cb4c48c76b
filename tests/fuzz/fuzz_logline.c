/* libFuzzer harness: log line parsing (agent/core/logparse.c) and the JSON scanner under it
 * (agent/core/jscan.c), checked against jansson: JSON that jansson reads, jscan reads too,
 * with the same type, and every string of an object unescapes within its bounds. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/core/jscan.h"
#include "../../agent/core/logparse.h"

static void walk(const struct jval *v, int depth)
{
	struct jval k, x;
	struct jiter it;
	char *buf;

	if (v->type == J_STRING) {
		buf = malloc(v->n + 1);
		if (buf) {
			if (jscan_unescape(v, buf) > v->n)
				abort();
			free(buf);
		}
		return;
	}
	if (v->type == J_NUMBER) {
		int64_t i;

		jscan_int(v, &i);
		jscan_double(v);
		return;
	}
	if ((v->type != J_OBJECT && v->type != J_ARRAY) || depth > 8)
		return;
	jscan_iter(v, &it);
	while ((v->type == J_OBJECT ? jscan_next_member(&it, &k, &x) : jscan_next_elem(&it, &x)) == 1)
		walk(&x, depth + 1);
}

/* Deepest bracket nesting outside strings (jansson allows 2048 levels, jscan 64). */
static int nesting(const char *s, size_t n)
{
	int depth = 0, max = 0;
	int in_string = 0;

	for (size_t i = 0; i < n; i++) {
		if (in_string) {
			if (s[i] == '\\')
				i++;
			else if (s[i] == '"')
				in_string = 0;
		} else if (s[i] == '"') {
			in_string = 1;
		} else if (s[i] == '{' || s[i] == '[') {
			if (++depth > max)
				max = depth;
		} else if (s[i] == '}' || s[i] == ']') {
			depth--;
		}
	}
	return max;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	log_record r;
	struct jval v;
	json_t *j;
	int ok;

	logparse_line(s, size, "id", &r);
	logparse_free(&r);
	logparse_is_continuation(s, size);
	iso8601_ns(s, size);

	ok = jscan_parse(s, size, &v) == 0 && jscan_check(&v) == 0;
	if (ok)
		walk(&v, 0);
	j = json_loadb(s, size, JSON_DECODE_ANY, NULL);
	/* (jansson also takes a NUL byte after a value as the end of the text: not JSON.) */
	if (j && json_is_object(j) != (ok && v.type == J_OBJECT) &&
	    nesting(s, size) <= JSCAN_MAX_DEPTH && !memchr(s, 0, size))
		abort();
	json_decref(j);
	return 0;
}
