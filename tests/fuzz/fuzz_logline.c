/* libFuzzer harness: log line parsing (agent/core/logparse.c) and the JSON scanner under it
 * (agent/core/jscan.c), checked against jansson: JSON that jansson reads, jscan reads too,
 * with the same type, and every string of an object unescapes within its bounds; jscan's
 * inline member and element reading gives what its general loop gives, step by step. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/core/jscan.h"
#include "../../agent/core/log_level.h"
#include "../../agent/core/logparse.h"
#include "../../agent/core/tracker.h"

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

static int same(const struct jval *a, const struct jval *b)
{
	return a->type == b->type && a->p == b->p && a->n == b->n && a->escaped == b->escaped;
}

/* The top level of s read inline and the general way in lockstep, plain and open. */
static void lockstep(const char *s, size_t n)
{
	for (int open = 0; open < 2; open++) {
		struct jiter a, b;
		struct jval ka, va, kb, vb, whole;
		int ra, rb;

		if (jscan_iter_text(s, n, &a) < 0)
			return;
		b = a;
		do {
			if (a.object) {
				ra = open ? jscan_next_member_open(&a, &ka, &va) :
					    jscan_next_member(&a, &ka, &va);
				rb = open ? jscan_next_member_open_any(&b, &kb, &vb) :
					    jscan_next_member_any(&b, &kb, &vb);
			} else {
				ra = open ? jscan_next_elem_open(&a, &va) :
					    jscan_next_elem(&a, &va);
				rb = open ? jscan_next_elem_open_any(&b, &vb) :
					    jscan_next_elem(&b, &vb);
			}
			if (ra != rb ||
			    (ra == 1 && (!same(&va, &vb) || (a.object && !same(&ka, &kb)))))
				abort();
			if (ra == 1 && open && (va.type == J_OBJECT || va.type == J_ARRAY)) {
				if (jscan_open_span(&va, &whole) < 0)
					break;
				jscan_iter_resume(&a, &va, whole.n);
				jscan_iter_resume(&b, &vb, whole.n);
			}
			if (jscan_iter_end(&a) != jscan_iter_end(&b))
				abort();
		} while (ra == 1);
	}
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
	{	/* vigil host's lines into the tracker's counts: any bytes, any length */
		static const struct tracker_prices prices = { 0, 0 };
		static struct tracker *t;
		struct invocation_report *done;

		if (!t)
			t = tracker_new("fn", "$LATEST", 128, &prices, NULL);
		tracker_log_line(t, "id", s, size);
		tracker_log_line(t, NULL, s, size);
		tracker_shutdown(t, "failure");
		for (done = tracker_take(t); done;) {
			struct invocation_report *next = done->next;

			free(done);
			done = next;
		}
	}
	lockstep(s, size);

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
