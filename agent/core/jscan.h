/*
 * A JSON scanner for the log path: values are spans of the input (nothing is allocated),
 * strings are unescaped only when asked, numbers converted only when asked. jansson stays
 * the parser of everything that needs a tree (configuration, API payloads, the tracker's
 * events); logs go through here because a tree per line cost the ingest path most of its
 * time (bench: jansson was 52 % of the log ingest profile, malloc/free most of the rest).
 *
 * Strict enough for logs: RFC 8259 structure and escapes, checked level by level as the
 * levels are iterated (a nested container is skimmed — strings and bracket nesting — until
 * then); control characters inside strings are taken as they are (the cleaner repairs them
 * later); nesting deeper than JSCAN_MAX_DEPTH is an error.
 */
#ifndef VIGIL_JSCAN_H
#define VIGIL_JSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSCAN_MAX_DEPTH 64

enum jtype { J_NONE, J_STRING, J_NUMBER, J_TRUE, J_FALSE, J_NULL, J_OBJECT, J_ARRAY };

struct jval {
	enum jtype type;
	const char *p;		/* J_STRING: between the quotes (still escaped); else the text */
	size_t n;
	bool escaped;		/* J_STRING: a backslash inside */
};

struct jiter {
	const char *s;
	size_t n, pos;
	bool first;
	bool object;
};

/* The value starting at s[*pos] (whitespace skipped); *pos moves past it. 0, or -1 when the
 * text is not JSON. */
int jscan_value(const char *s, size_t n, size_t *pos, struct jval *v);
/* The index of the first non-whitespace byte at or after i (n when none). */
size_t jscan_skip_ws(const char *s, size_t n, size_t i);
/* The whole of s[0..n) as one value, with nothing but whitespace after it. */
int jscan_parse(const char *s, size_t n, struct jval *v);

/* Every level of v checked (a skimmed container's members' grammar too): 0 or -1. What a
 * parse that must reject all malformed JSON up front calls (tests, the fuzz harness). */
int jscan_check(const struct jval *v);

/* Members of an object / elements of an array: 1 with the next one, 0 at the end, -1 on
 * malformed text at this level. */
void jscan_iter(const struct jval *container, struct jiter *it);
/* Iterate the object or array at the start of s[0..n) without skimming it first (its end is
 * found by iterating it: jscan_iter_end then tells where it was). -1 when s does not start
 * with one. */
int jscan_iter_text(const char *s, size_t n, struct jiter *it);
size_t jscan_iter_end(const struct jiter *it);
int jscan_next_member(struct jiter *it, struct jval *key, struct jval *val);
int jscan_next_elem(struct jiter *it, struct jval *val);

/* The same, but a container value is not skimmed (each level read once): val gets its type,
 * val->p its opening bracket and val->n the bytes from there to the end of the text. Before
 * the next call the caller reads it — jscan_iter_text(val->p, val->n), or jscan_open_span for
 * its span — and tells where it ended with jscan_iter_resume (used: its length). */
int jscan_next_member_open(struct jiter *it, struct jval *key, struct jval *val);
int jscan_next_elem_open(struct jiter *it, struct jval *val);
int jscan_open_span(const struct jval *open, struct jval *whole);
void jscan_iter_resume(struct jiter *it, const struct jval *open, size_t used);

/* A string's bytes unescaped into out (room for v->n + 1 bytes: unescaping never grows);
 * NUL-terminated; returns the length. Lone surrogates become U+FFFD. */
size_t jscan_unescape(const struct jval *v, char *out);
/* Compare a string value to a plain C string (escapes resolved). Inline for the usual
 * string without escapes against a literal (its length known when compiled). */
bool jscan_eq_escaped(const struct jval *v, const char *s);

static inline bool jscan_eq(const struct jval *v, const char *s)
{
	if (v->type != J_STRING)
		return false;
	if (v->escaped)
		return jscan_eq_escaped(v, s);
	return v->n == __builtin_strlen(s) && __builtin_memcmp(v->p, s, v->n) == 0;
}

/* J_NUMBER as an integer: true when it is one (no fraction, no exponent) and fits. */
bool jscan_int(const struct jval *v, int64_t *out);
double jscan_double(const struct jval *v);

/* "YYYY-MM-DDTHH:MM:SS[.fraction][Z|±HH:MM|±HHMM]" (the whole of s[0..n)) in nanoseconds
 * since the epoch; 0 when it is not one (strptime was a visible share of the log profile). */
int64_t iso8601_ns(const char *s, size_t n);

#endif
