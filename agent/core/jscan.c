/* A JSON scanner over spans. See jscan.h. */
#include "jscan.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "../util/buf.h"
#include "../util/fields.h"

size_t jscan_skip_ws(const char *s, size_t n, size_t i)
{
	if (i < n && (unsigned char)s[i] > ' ')
		return i;	/* compact JSON: the usual case */
	while (i < n && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' || s[i] == '\t'))
		i++;
	return i;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)(c | 0x20);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

size_t jscan_string(const char *s, size_t n, size_t i, struct jval *v)
{
	size_t start = ++i;

	v->escaped = false;
	for (;;) {
		i = jscan_find_qb(s, n, i);
		if (i >= n)
			return 0;
		if (s[i] == '"')
			break;
		/* An escape. */
		v->escaped = true;
		if (i + 1 >= n)
			return 0;
		switch (s[i + 1]) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
			i += 2;
			break;
		case 'u':
			if (i + 6 > n || hexval(s[i + 2]) < 0 || hexval(s[i + 3]) < 0 ||
			    hexval(s[i + 4]) < 0 || hexval(s[i + 5]) < 0)
				return 0;
			i += 6;
			break;
		default:
			return 0;
		}
	}
	v->type = J_STRING;
	v->p = s + start;
	v->n = i - start;
	return i + 1;
}

/* The index of the first '"', '{', '}', '[' or ']' in s[i..n), or n. ('[' and ']' are '{' and
 * '}' with bit 5 clear, and no other byte is either with it set.) */
static size_t next_structural(const char *s, size_t n, size_t i)
{
#ifdef __SSE2__
	const __m128i quote = _mm_set1_epi8('"'), open = _mm_set1_epi8('{'),
		      close = _mm_set1_epi8('}'), bit5 = _mm_set1_epi8(0x20);

	for (; i + 16 <= n; i += 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
		__m128i l = _mm_or_si128(v, bit5);
		__m128i brackets = _mm_or_si128(_mm_cmpeq_epi8(l, open), _mm_cmpeq_epi8(l, close));
		unsigned m = (unsigned)_mm_movemask_epi8(
			_mm_or_si128(_mm_cmpeq_epi8(v, quote), brackets));

		if (m)
			return i + (size_t)__builtin_ctz(m);
	}
#endif
	while (i < n && s[i] != '"' && (s[i] | 0x20) != '{' && (s[i] | 0x20) != '}')
		i++;
	return i;
}

/*
 * An object or array from s[i]: the index past its closing bracket, or 0. Skimmed, not parsed:
 * strings and bracket nesting are checked here, the members' grammar when the container is
 * iterated (each level is read once for its structure, not once per enclosing level).
 */
static size_t skim_container(const char *s, size_t n, size_t i)
{
	char want[JSCAN_MAX_DEPTH + 1];
	int depth = 0;

	while ((i = next_structural(s, n, i)) < n) {
		char c = s[i];

		if (c == '"') {
			struct jval str;

			i = jscan_string(s, n, i, &str);
			if (!i)
				return 0;
			continue;
		}
		if (c == '{' || c == '[') {
			if (depth >= JSCAN_MAX_DEPTH)
				return 0;
			want[depth++] = c == '{' ? '}' : ']';
		} else if (c == '}' || c == ']') {
			if (depth == 0 || want[depth - 1] != c)
				return 0;
			if (--depth == 0)
				return i + 1;
		}
		i++;
	}
	return 0;
}

static size_t scan_number(const char *s, size_t n, size_t i)
{
	size_t start = i;

	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0') {
		i++;
	} else if (i < n && s[i] >= '1' && s[i] <= '9') {
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	} else {
		return 0;
	}
	if (i < n && s[i] == '.') {
		size_t d = ++i;

		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d)
			return 0;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t d;

		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		d = i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == d)
			return 0;
	}
	return i > start ? i : 0;
}

static int scan(const char *s, size_t n, size_t *pos, struct jval *v)
{
	size_t i = jscan_skip_ws(s, n, *pos), end;

	if (i >= n)
		return -1;
	v->escaped = false;
	switch (s[i]) {
	case '"':
		end = jscan_string(s, n, i, v);
		if (!end)
			return -1;
		*pos = end;
		return 0;
	case '{':
	case '[':
		end = skim_container(s, n, i);
		if (!end)
			return -1;
		v->type = s[i] == '{' ? J_OBJECT : J_ARRAY;
		v->p = s + i;
		v->n = end - i;
		*pos = end;
		return 0;
	case 't':
	case 'f':
	case 'n': {
		static const char *const words[] = { "true", "false", "null" };
		static const enum jtype types[] = { J_TRUE, J_FALSE, J_NULL };
		int w = s[i] == 't' ? 0 : s[i] == 'f' ? 1 : 2;
		size_t l = strlen(words[w]);

		if (n - i < l || memcmp(s + i, words[w], l) != 0)
			return -1;
		v->type = types[w];
		v->p = s + i;
		v->n = l;
		*pos = i + l;
		return 0;
	}
	default:
		end = scan_number(s, n, i);
		if (!end)
			return -1;
		v->type = J_NUMBER;
		v->p = s + i;
		v->n = end - i;
		*pos = end;
		return 0;
	}
}

int jscan_value(const char *s, size_t n, size_t *pos, struct jval *v)
{
	return scan(s, n, pos, v);
}

int jscan_parse(const char *s, size_t n, struct jval *v)
{
	size_t pos = 0;

	if (scan(s, n, &pos, v) < 0)
		return -1;
	return jscan_skip_ws(s, n, pos) == n ? 0 : -1;
}

void jscan_iter(const struct jval *c, struct jiter *it)
{
	it->s = c->p;
	it->n = c->n;
	it->pos = 1;
	it->first = true;
	it->object = c->type == J_OBJECT;
}

int jscan_iter_text(const char *s, size_t n, struct jiter *it)
{
	size_t i = jscan_skip_ws(s, n, 0);

	if (i >= n || (s[i] != '{' && s[i] != '['))
		return -1;
	it->s = s;
	it->n = n;
	it->pos = i + 1;
	it->first = true;
	it->object = s[i] == '{';
	return 0;
}

size_t jscan_iter_end(const struct jiter *it)
{
	return it->pos;
}

static int next(struct jiter *it, struct jval *key, struct jval *val, bool lazy)
{
	size_t i = jscan_skip_ws(it->s, it->n, it->pos);

	if (i >= it->n)
		return -1;	/* no closing bracket */
	if (it->s[i] == (it->object ? '}' : ']')) {
		it->pos = i + 1;
		return 0;
	}
	if (!it->first) {
		if (it->s[i] != ',')
			return -1;
		i++;
	}
	it->first = false;
	if (key) {
		i = jscan_skip_ws(it->s, it->n, i);
		if (i >= it->n || it->s[i] != '"' || !(i = jscan_string(it->s, it->n, i, key)))
			return -1;
		i = jscan_skip_ws(it->s, it->n, i);
		if (i >= it->n || it->s[i] != ':')
			return -1;
		i++;
	}
	if (lazy) {
		i = jscan_skip_ws(it->s, it->n, i);
		if (i < it->n && (it->s[i] == '{' || it->s[i] == '[')) {
			/* Left for the caller to read (jscan_iter_resume says where it ended). */
			val->type = it->s[i] == '{' ? J_OBJECT : J_ARRAY;
			val->p = it->s + i;
			val->n = it->n - i;
			val->escaped = false;
			it->pos = i;
			return 1;
		}
	}
	if (scan(it->s, it->n, &i, val) < 0)
		return -1;
	it->pos = i;
	return 1;
}

int jscan_next_member_any(struct jiter *it, struct jval *key, struct jval *val)
{
	return it->object ? next(it, key, val, false) : -1;
}

int jscan_next_elem(struct jiter *it, struct jval *val)
{
	return it->object ? -1 : next(it, NULL, val, false);
}

int jscan_next_member_open_any(struct jiter *it, struct jval *key, struct jval *val)
{
	return it->object ? next(it, key, val, true) : -1;
}

int jscan_next_elem_open_any(struct jiter *it, struct jval *val)
{
	return it->object ? -1 : next(it, NULL, val, true);
}

int jscan_open_span(const struct jval *open, struct jval *whole)
{
	size_t pos = 0;

	return scan(open->p, open->n, &pos, whole);
}

void jscan_iter_resume(struct jiter *it, const struct jval *open, size_t used)
{
	it->pos = (size_t)(open->p - it->s) + used;
}

static size_t put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		o[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (char)(0xc0 | cp >> 6);
		o[1] = (char)(0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (char)(0xe0 | cp >> 12);
		o[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
		o[2] = (char)(0x80 | (cp & 0x3f));
		return 3;
	}
	o[0] = (char)(0xf0 | cp >> 18);
	o[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
	o[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
	o[3] = (char)(0x80 | (cp & 0x3f));
	return 4;
}

static unsigned hex4(const char *p)
{
	return (unsigned)(hexval(p[0]) << 12 | hexval(p[1]) << 8 | hexval(p[2]) << 4 |
			  hexval(p[3]));
}

size_t jscan_unescape(const struct jval *v, char *out)
{
	const char *p = v->p, *end = v->p + v->n;
	size_t o = 0;

	if (!v->escaped) {
		memcpy(out, p, v->n);
		out[v->n] = '\0';
		return v->n;
	}
	while (p < end) {
#ifdef __SSE2__
		/* 16 bytes at a time up to the next backslash: runs between escapes are short
		 * (a text line's \t separators), where calls to memchr and memcpy cost more.
		 * Stores stay inside out: unescaping never grows, so o ≤ p - v->p. */
		{
			const __m128i bs = _mm_set1_epi8('\\');

			while (end - p >= 16) {
				__m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
				unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, bs));

				_mm_storeu_si128((__m128i *)(void *)(out + o), x);
				if (m) {
					o += (size_t)__builtin_ctz(m);
					p += __builtin_ctz(m);
					break;
				}
				o += 16;
				p += 16;
			}
		}
		while (p < end && *p != '\\')	/* the last 15 bytes at most */
			out[o++] = *p++;
		if (p >= end)
			break;
#else
		const char *b = memchr(p, '\\', (size_t)(end - p));
		size_t run;

		run = (size_t)((b ? b : end) - p);
		memcpy(out + o, p, run);
		o += run;
		p += run;
		if (!b)
			break;
#endif
		switch (p[1]) {
		case 'b': out[o++] = '\b'; break;
		case 'f': out[o++] = '\f'; break;
		case 'n': out[o++] = '\n'; break;
		case 'r': out[o++] = '\r'; break;
		case 't': out[o++] = '\t'; break;
		case 'u': {
			unsigned cp = hex4(p + 2);

			if (cp >= 0xd800 && cp < 0xdc00 && end - p >= 12 && p[6] == '\\' &&
			    p[7] == 'u' && hex4(p + 8) >= 0xdc00 && hex4(p + 8) < 0xe000) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (hex4(p + 8) - 0xdc00);
				p += 6;
			} else if (cp >= 0xd800 && cp < 0xe000) {
				cp = 0xfffd;	/* a lone surrogate */
			}
			o += put_utf8(out + o, cp);
			p += 4;
			break;
		}
		default: out[o++] = p[1]; break;	/* " \ / */
		}
		p += 2;
	}
	out[o] = '\0';
	return o;
}

bool jscan_eq_escaped(const struct jval *v, const char *s)
{
	char buf[256];
	size_t l = strlen(s);

	if (v->n >= sizeof(buf))
		return false;
	return jscan_unescape(v, buf) == l && memcmp(buf, s, l) == 0;
}

bool jscan_int(const struct jval *v, int64_t *out)
{
	char buf[32], *e;
	long long x;

	if (v->type != J_NUMBER || v->n >= sizeof(buf) || memchr(v->p, '.', v->n) ||
	    memchr(v->p, 'e', v->n) || memchr(v->p, 'E', v->n))
		return false;
	memcpy(buf, v->p, v->n);
	buf[v->n] = '\0';
	errno = 0;
	x = strtoll(buf, &e, 10);
	if (errno == ERANGE || *e)
		return false;
	*out = x;
	return true;
}

double jscan_double(const struct jval *v)
{
	char buf[64];
	size_t n = v->n < sizeof(buf) - 1 ? v->n : sizeof(buf) - 1;

	memcpy(buf, v->p, n);
	buf[n] = '\0';
	return strtod(buf, NULL);
}

int64_t iso8601_ns(const char *s, size_t n)
{
	/* A log's times come in runs a few milliseconds apart: they share their first 19
	 * bytes, down to the second, which is remembered (and the date, for the next second). */
	static _Thread_local char second[19];
	static _Thread_local int64_t second_ns = INT64_MIN;
	int y, mo, d, h, mi, sec;
	int64_t ns = 0, t, days;
	size_t i = 19;

	if (n < 19)
		return 0;
	if (second_ns != INT64_MIN && bytes_eq(s, second, 19)) {
		t = second_ns;
		goto fraction;
	}
	if (s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') ||
	    s[13] != ':' ||
	    s[16] != ':')
		return 0;
	{
		/* The date changes once a day: its day number is remembered. */
		static _Thread_local char date[10];
		static _Thread_local int64_t date_days = INT64_MIN;

		if (date_days != INT64_MIN && bytes_eq(s, date, 10)) {
			days = date_days;
		} else {
			y = field_digits(s, 4);
			mo = field_digits(s + 5, 2);
			d = field_digits(s + 8, 2);
			/* Nanoseconds since 1970 in 64 bits reach 1677-09-21 … 2262-04-11: a
			 * year outside 1678 … 2261 is not a time this reads (no overflow). */
			if (y < 1678 || y > 2261 || mo < 1 || mo > 12 || d < 1 || d > 31)
				return 0;
			days = days_from_civil(y, mo, d);
			memcpy(date, s, 10);
			date_days = days;
		}
	}
	h = field_digits(s + 11, 2);
	mi = field_digits(s + 14, 2);
	sec = field_digits(s + 17, 2);
	if (h < 0 || h > 23 || mi < 0 || mi > 59 || sec < 0 || sec > 60)
		return 0;
	t = (days * 86400 + h * 3600 + mi * 60 + sec) * 1000000000LL;
	memcpy(second, s, 19);
	second_ns = t;
fraction:
	if (i < n && (s[i] == '.' || s[i] == ',')) {	/* (ISO 8601's comma: Python's logging) */
		/* Digits past the ninth (below a nanosecond) are read and dropped. */
		static const int64_t scale[10] = { 1000000000, 100000000, 10000000, 1000000,
						   100000, 10000, 1000, 100, 10, 1 };
		int k = 0;

		for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
			if (k < 9) {
				ns = ns * 10 + (s[i] - '0');
				k++;
			}
		}
		ns *= scale[k];
	}
	t += ns;
	if (i < n && (s[i] == 'Z' || s[i] == 'z')) {
		i++;
	} else if (i + 5 <= n && (s[i] == '+' || s[i] == '-')) {	/* ±HH:MM or ±HHMM */
		size_t colon = s[i + 3] == ':';
		int oh = field_digits(s + i + 1, 2), om = i + 5 + colon <= n ?
							  field_digits(s + i + 3 + colon, 2) : -1;

		if (oh < 0 || om < 0)
			return 0;
		t -= (s[i] == '+' ? 1 : -1) * (int64_t)(oh * 3600 + om * 60) * 1000000000LL;
		i += 5 + colon;
	}
	return i == n ? t : 0;	/* anything else after it: not a time this reads */
}

int jscan_check(const struct jval *v)
{
	struct jval k, x;
	struct jiter it;
	int rc;

	if (v->type != J_OBJECT && v->type != J_ARRAY)
		return 0;
	jscan_iter(v, &it);
	while ((rc = v->type == J_OBJECT ? jscan_next_member(&it, &k, &x) :
					   jscan_next_elem(&it, &x)) == 1) {
		if (jscan_check(&x) < 0)
			return -1;
	}
	return rc;
}
