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
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

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
/* The string at s[i] (its opening quote) into *v; the index past its closing quote, or 0 when
 * it is not a well-formed string. */
size_t jscan_string(const char *s, size_t n, size_t i, struct jval *v);
/* The index of the first non-whitespace byte at or after i (n when none). */
size_t jscan_skip_ws(const char *s, size_t n, size_t i);
/* The whole of s[0..n) as one value, with nothing but whitespace after it. */
int jscan_parse(const char *s, size_t n, struct jval *v);

/* Every level of v checked (a skimmed container's members' grammar too): 0 or -1. What a
 * parse that must reject all malformed JSON up front calls (tests, the fuzz harness). */
int jscan_check(const struct jval *v);

/* Members of an object / elements of an array: 1 with the next one, 0 at the end, -1 on
 * malformed text at this level. jscan_next_member (inline, below) reads compact members
 * itself and calls jscan_next_member_any for the rest. */
void jscan_iter(const struct jval *container, struct jiter *it);
/* Iterate the object or array at the start of s[0..n) without skimming it first (its end is
 * found by iterating it: jscan_iter_end then tells where it was). -1 when s does not start
 * with one. */
int jscan_iter_text(const char *s, size_t n, struct jiter *it);
size_t jscan_iter_end(const struct jiter *it);
int jscan_next_member_any(struct jiter *it, struct jval *key, struct jval *val);
int jscan_next_elem(struct jiter *it, struct jval *val);

/* The same, but a container value is not skimmed (each level read once): val gets its type,
 * val->p its opening bracket and val->n the bytes from there to the end of the text. Before
 * the next call the caller reads it — jscan_iter_text(val->p, val->n), or jscan_open_span for
 * its span — and tells where it ended with jscan_iter_resume (used: its length). */
int jscan_next_member_open_any(struct jiter *it, struct jval *key, struct jval *val);
int jscan_next_elem_open_any(struct jiter *it, struct jval *val);	/* inline: _open */
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

/* The index of the first '"' or '\\' in s[i..n), or n: 16 bytes at a time with SSE2, 8 at a time
 * elsewhere (the strings of log lines are mostly short, where memchr's call costs more than
 * its scan). */
static inline size_t jscan_find_qb(const char *s, size_t n, size_t i)
{
#ifdef __SSE2__
	const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\');

	for (; i + 16 <= n; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
		unsigned m = (unsigned)_mm_movemask_epi8(
			_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash)));

		if (m)
			return i + (size_t)__builtin_ctz(m);
	}
#else
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;

	for (; i + 8 <= n; i += 8) {
		uint64_t w, q, b;

		memcpy(&w, s + i, 8);
		q = w ^ (ones * '"');
		b = w ^ (ones * '\\');
		/* The lowest flagged byte is the first match (higher flags may be borrows). */
		q = (q - ones) & ~q & highs;
		b = (b - ones) & ~b & highs;
		if (q | b) {
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
			return i + (size_t)(__builtin_ctzll(q | b) >> 3);
#else
			break;	/* the byte loop below finds it */
#endif
		}
	}
#endif
	while (i < n && s[i] != '"' && s[i] != '\\')
		i++;
	return i;
}

/* The end of the number at s[i] when it is -?(0|[1-9][0-9]*)(\.[0-9]+)? and a ',' or '}' follows
 * it (the usual number of a log record), else 0 (then scanned the general way). */
static inline size_t jscan_plain_number(const char *s, size_t n, size_t i)
{
	size_t d;

	if (i < n && s[i] == '-')
		i++;
	d = i;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++;
	if (i == d || (s[d] == '0' && i > d + 1))
		return 0;
	if (i < n && s[i] == '.') {
		d = ++i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d)
			return 0;
	}
	return i < n && (s[i] == ',' || s[i] == '}') ? i : 0;
}

/* The length of true, false or null at s (5 bytes readable), else 0. */
static inline size_t jscan_word(const char *s)
{
	if (memcmp(s, "true", 4) == 0 || memcmp(s, "null", 4) == 0)
		return 4;
	return memcmp(s, "false", 5) == 0 ? 5 : 0;
}

/* The next member, inline for the member of compact JSON — ,"key": then a string without
 * escapes, or any other value — which is most members of most log records: a call and the
 * general loop per member were a fifth of the log path's walk. Any other text (whitespace,
 * escapes, the end) goes the general way (the _any functions), from where it started. open:
 * jscan_next_member_open's. */
static inline int jscan_member(struct jiter *it, struct jval *key, struct jval *val, bool open)
{
	const char *s = it->s;
	size_t n = it->n, i = it->pos, q;

	if (!it->object || i + 2 >= n)
		goto general;
	if (s[i] == '}') {
		it->pos = i + 1;
		return 0;
	}
	if (!it->first && s[i++] != ',')
		goto general;
	if (s[i] != '"')
		goto general;
	q = jscan_find_qb(s, n, i + 1);
	if (q + 1 >= n || s[q] != '"' || s[q + 1] != ':')
		goto general;
	*key = (struct jval){ .type = J_STRING, .p = s + i + 1, .n = q - i - 1 };
	i = q + 2;
	if (i >= n || (unsigned char)s[i] <= ' ')
		goto general;	/* whitespace before the value (or none) */
	if (s[i] == '"') {
		q = jscan_find_qb(s, n, i + 1);
		if (q < n && s[q] == '"') {
			*val = (struct jval){ .type = J_STRING, .p = s + i + 1, .n = q - i - 1 };
			i = q + 1;
		} else if (!(i = jscan_string(s, n, i, val))) {	/* escapes: checked there */
			return -1;
		}
	} else if ((q = jscan_plain_number(s, n, i))) {
		*val = (struct jval){ .type = J_NUMBER, .p = s + i, .n = q - i };
		i = q;
	} else if (n - i >= 5 && (q = jscan_word(s + i))) {
		*val = (struct jval){ .type = q == 5 ? J_FALSE : s[i] == 't' ? J_TRUE : J_NULL,
				      .p = s + i, .n = q };
		i += q;
	} else if (open && (s[i] == '{' || s[i] == '[')) {
		*val = (struct jval){ .type = s[i] == '{' ? J_OBJECT : J_ARRAY, .p = s + i,
				      .n = n - i };
	} else if (jscan_value(s, n, &i, val) < 0) {
		return -1;
	}
	it->pos = i;
	it->first = false;
	return 1;
general:
	return open ? jscan_next_member_open_any(it, key, val) :
		      jscan_next_member_any(it, key, val);
}

static inline int jscan_next_member(struct jiter *it, struct jval *key, struct jval *val)
{
	return jscan_member(it, key, val, false);
}

static inline int jscan_next_member_open(struct jiter *it, struct jval *key, struct jval *val)
{
	return jscan_member(it, key, val, true);
}

/* The next element of an array, inline when it is an object or array after a ','. */
static inline int jscan_next_elem_open(struct jiter *it, struct jval *val)
{
	const char *s = it->s;
	size_t n = it->n, i = it->pos;

	if (it->object || i + 1 >= n)
		return jscan_next_elem_open_any(it, val);
	if (s[i] == ']') {
		it->pos = i + 1;
		return 0;
	}
	if (!it->first && s[i++] != ',')
		return jscan_next_elem_open_any(it, val);
	if (s[i] != '{' && s[i] != '[')
		return jscan_next_elem_open_any(it, val);
	*val = (struct jval){ .type = s[i] == '{' ? J_OBJECT : J_ARRAY, .p = s + i, .n = n - i };
	it->pos = i;
	it->first = false;
	return 1;
}

/* J_NUMBER as an integer: true when it is one (no fraction, no exponent) and fits. */
bool jscan_int(const struct jval *v, int64_t *out);
double jscan_double(const struct jval *v);

/* "YYYY-MM-DDTHH:MM:SS[.fraction][Z|±HH:MM|±HHMM]" (the whole of s[0..n)) in nanoseconds
 * since the epoch; 0 when it is not one (strptime was a visible share of the log profile). */
int64_t iso8601_ns(const char *s, size_t n);

#endif
