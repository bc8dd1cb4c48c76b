/* Log lines into records. See logparse.h. */
#include "logparse.h"

#include "jscan.h"
#include "pbwire.h"
#include "../util/utf8.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Whether any of 8 bytes is ≥ 0x80 or zero (the classic haszero test). */
static inline bool special8(uint64_t w)
{
	return ((w | ((w - 0x0101010101010101ull) & ~w)) & 0x8080808080808080ull) != 0;
}

/* Copy the bytes at the start of p that need no look (ASCII without NUL) to out, 8 at a time
 * (checked and copied in one pass; the last 8 overlapping, not byte by byte); how many. out has
 * room for n + 8. */
static inline size_t ascii_copy(char *out, const unsigned char *p, size_t n)
{
	size_t i = 0;
	uint64_t w;

#ifdef __SSE2__
	if (n >= 16) {	/* 16 at a time: a byte ≥ 0x80 has its top bit set, a NUL equals zero */
		const __m128i zero = _mm_setzero_si128();
		__m128i v;

		for (; i + 16 <= n; i += 16) {
			v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
			if (_mm_movemask_epi8(_mm_or_si128(v, _mm_cmpeq_epi8(v, zero))))
				goto bytes;
			_mm_storeu_si128((__m128i *)(void *)(out + i), v);
		}
		if (i == n)
			return n;
		v = _mm_loadu_si128((const __m128i *)(const void *)(p + n - 16));
		if (!_mm_movemask_epi8(_mm_or_si128(v, _mm_cmpeq_epi8(v, zero)))) {
			_mm_storeu_si128((__m128i *)(void *)(out + n - 16), v);
			return n;
		}
		goto bytes;
	}
#endif
	if (n >= 8) {
		for (; i + 8 <= n; i += 8) {
			memcpy(&w, p + i, 8);
			if (special8(w))
				goto bytes;
			memcpy(out + i, &w, 8);
		}
		if (i == n)
			return n;
		memcpy(&w, p + n - 8, 8);
		if (!special8(w)) {
			memcpy(out + n - 8, &w, 8);
			return n;
		}
	} else if (n >= 4) {	/* a short key or word: two 4-byte halves, overlapping */
		uint32_t a, z;

		memcpy(&a, p, 4);
		memcpy(&z, p + n - 4, 4);
		if (!special8((uint64_t)a << 32 | z)) {
			memcpy(out, &a, 4);
			memcpy(out + n - 4, &z, 4);
			return n;
		}
	}
bytes:
	while (i < n && p[i] && p[i] < 0x80) {
		out[i] = (char)p[i];
		i++;
	}
	return i;
}

static void clean_rest(struct buf *b, const unsigned char *p, size_t i, size_t n, size_t max,
		       bool *repaired, bool *truncated);

/* Append s[0..n) to b as valid UTF-8 without NULs, at most max bytes of it. Inline: the
 * usual string (plain ASCII, copied as it is checked) costs no call. */
static inline void clean_append(struct buf *b, const char *s, size_t n, size_t max,
				bool *repaired, bool *truncated)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i, lim = n < max ? n : max;

	if (buf_reserve(b, lim * 3 + 8) < 0)
		return;
	i = ascii_copy(b->data + b->len, p, lim);
	if (i == n) {
		b->len += n;
		b->data[b->len] = '\0';
		return;
	}
	clean_rest(b, p, i, n, max, repaired, truncated);
}

/* clean_append from p[i] on, p[0..i) already copied. */
static __attribute__((noinline)) void clean_rest(struct buf *b, const unsigned char *p, size_t i,
						 size_t n, size_t max, bool *repaired,
						 bool *truncated)
{
	size_t o = i;

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
			memcpy(b->data + b->len + o, "\xEF\xBF\xBD", 3);
			o += 3;
			i++;
			*repaired = true;
			continue;
		}
		memcpy(b->data + b->len + o, p + i, l);
		o += l;
		i += l;
	}
	b->len += o;
	b->data[b->len] = '\0';
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

#define LEVEL_INFO 3	/* the level column's numbers: segment_level_name */

/* Whether s[0..n) is upper (the uppercase ASCII word), in any case. */
static bool word_is(const char *s, const char *upper, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c >= 'a' && c <= 'z')
			c = (char)(c - 32);
		if (c != upper[i])
			return false;
	}
	return true;
}

/* The level column's number of a level word, or 0. */
static uint32_t level_of(const char *s, size_t n)
{
	switch (n) {
	case 4:
		return word_is(s, "INFO", 4) ? 3 : word_is(s, "WARN", 4) ? 4 : 0;
	case 5:
		return word_is(s, "ERROR", 5) ? 5 : word_is(s, "DEBUG", 5) ? 2 :
		       word_is(s, "TRACE", 5) ? 1 : word_is(s, "FATAL", 5) ? 6 : 0;
	case 7:
		return word_is(s, "WARNING", 7) ? 4 : 0;
	case 8:
		return word_is(s, "CRITICAL", 8) ? 6 : 0;
	}
	return 0;
}

static bool is_uuidish(const char *s, size_t n)
{
	return n == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-';
}

/* A string value, unescaped and cleaned, appended to b. */
static void put_value(struct lrec *r, struct buf *b, const struct jval *v)
{
	bool trunc = false;

	if (!v->escaped) {
		clean_append(b, v->p, v->n, LOG_LINE_MAX, &r->repaired, &trunc);
		return;
	}
	buf_reset(&r->scratch);
	if (buf_reserve(&r->scratch, v->n) < 0)
		return;
	r->scratch.len = jscan_unescape(v, r->scratch.data);
	clean_append(b, r->scratch.data, r->scratch.len, LOG_LINE_MAX, &r->repaired, &trunc);
}

static void set_value(struct lrec *r, struct buf *b, const struct jval *v)
{
	buf_reset(b);
	put_value(r, b, v);
}

static void set_text(struct lrec *r, struct buf *b, const char *s, size_t n)
{
	bool trunc = false;

	buf_reset(b);
	clean_append(b, s, n, LOG_LINE_MAX, &r->repaired, &trunc);
}

/* A JSON integer that fits in 18 digits, without strtoll; else jscan_int. */
static bool int_of(const struct jval *v, int64_t *out)
{
	const char *p = v->p, *end = v->p + v->n;
	bool neg = p < end && *p == '-';
	int64_t x = 0;

	if (v->n > 18 + (size_t)neg)
		return jscan_int(v, out);
	for (p += neg; p < end; p++) {
		if (*p < '0' || *p > '9')
			return false;	/* a fraction or an exponent */
		x = x * 10 + (*p - '0');
	}
	*out = neg ? -x : x;
	return true;
}

/* add_field's usual field, written in one go: a plain ASCII key, a plain ASCII string or a
 * number for value, under 128 bytes in all (one-byte lengths). False (nothing written) for
 * any other. */
static bool add_short_field(struct lrec *r, const struct jval *k, const struct jval *v)
{
	struct buf *b = &r->rest;
	size_t kn = k->n, vn = v->n, at;
	uint8_t *o;
	int64_t x;

	if (k->escaped || !kn || kn + vn > 100 || buf_reserve(b, kn + vn + 32) < 0)
		return false;
	o = (uint8_t *)b->data + b->len;
	o[0] = PB_TAG1(LR_FIELDS, PB_LEN);
	o[2] = PB_TAG1(FIELD_KEY, PB_LEN);
	o[3] = (uint8_t)kn;
	if (ascii_copy((char *)o + 4, (const unsigned char *)k->p, kn) != kn)
		return false;
	at = 4 + kn;
	if (v->type == J_STRING && !v->escaped) {
		o[at] = PB_TAG1(FIELD_TEXT, PB_LEN);
		o[at + 1] = (uint8_t)vn;
		if (ascii_copy((char *)o + at + 2, (const unsigned char *)v->p, vn) != vn)
			return false;
		at += 2 + vn;
	} else if (v->type == J_NUMBER && int_of(v, &x)) {
		o[at] = PB_TAG1(FIELD_INTEGER, PB_VARINT);
		at += 1 + pb_put_varint(o + at + 1, (uint64_t)x);
	} else if (v->type == J_NUMBER && vn <= 64) {	/* as add_field: longer, a double */
		o[at] = PB_TAG1(FIELD_DECIMAL, PB_LEN);	/* checked JSON number text */
		o[at + 1] = (uint8_t)vn;
		memcpy(o + at + 2, v->p, vn);
		at += 2 + vn;
	} else {
		return false;
	}
	o[1] = (uint8_t)(at - 2);
	b->len += at;
	b->data[b->len] = '\0';
	return true;
}

/* Field {key, value} as LogRecord.fields (7): integers and flags as such, other numbers as
 * their decimal text, strings unescaped, objects, arrays and null as their JSON text. */
static void add_field(struct lrec *r, const struct jval *key, const struct jval *v)
{
	struct buf *b;
	size_t f, at;
	int64_t x;

	if (add_short_field(r, key, v))
		return;
	b = &r->rest;
	f = pb_open(b, PB_TAG(LR_FIELDS, PB_LEN));
	at = pb_open(b, PB_TAG(FIELD_KEY, PB_LEN));

	put_value(r, b, key);
	if (b->len == at)
		b->len -= 2;	/* an empty key is left out, as protobuf does */
	else
		pb_close(b, at);
	if (v->type == J_NUMBER && int_of(v, &x)) {
		pb_buf_varint(b, PB_TAG(FIELD_INTEGER, PB_VARINT), (uint64_t)x);
	} else if (v->type == J_NUMBER && v->n <= 64) {
		pb_buf_bytes(b, PB_TAG(FIELD_DECIMAL, PB_LEN), v->p, v->n);	/* checked JSON number text */
	} else if (v->type == J_NUMBER) {
		double d = jscan_double(v);
		uint64_t bits;
		uint8_t le[8];

		memcpy(&bits, &d, 8);
		for (int i = 0; i < 8; i++)
			le[i] = (uint8_t)(bits >> (8 * i));
		buf_putc(b, (char)PB_TAG1(FIELD_NUMBER, PB_I64));
		buf_append(b, le, 8);
	} else if (v->type == J_TRUE || v->type == J_FALSE) {
		pb_buf_varint(b, PB_TAG(FIELD_FLAG, PB_VARINT), v->type == J_TRUE);
	} else {
		bool trunc = false;

		at = pb_open(b, PB_TAG(FIELD_TEXT, PB_LEN));
		if (v->type == J_STRING)
			put_value(r, b, v);
		else
			clean_append(b, v->p, v->n, LOG_LINE_MAX, &r->repaired, &trunc);
		pb_close(b, at);
	}
	pb_close(b, f);
}

/* Known keys of Lambda's JSON format and Powertools. */
enum key { K_OTHER, K_MESSAGE, K_LEVEL, K_REQUEST_ID, K_TRACE_ID, K_TIME, K_COLD_START,
	   K_FUNCTION_NAME, K_FUNCTION_VERSION };

static enum key key_of(const struct jval *k)
{
#define IS(text) (k->n == sizeof(text) - 1 && memcmp(k->p, text, sizeof(text) - 1) == 0)
	if (k->escaped || k->n < 4)
		return K_OTHER;	/* no known key needs an escape */
	/* By first letter: most keys are none of these and leave after one comparison. */
	switch (k->p[0]) {
	case 'm':
		return IS("message") ? K_MESSAGE : K_OTHER;
	case 'l':
		return IS("level") ? K_LEVEL : K_OTHER;
	case 'r':
		return IS("requestId") ? K_REQUEST_ID : K_OTHER;
	case 'A':
		return IS("AWSRequestId") ? K_REQUEST_ID : K_OTHER;
	case 'x':
		return IS("xray_trace_id") ? K_TRACE_ID : K_OTHER;
	case 't':
		return IS("traceId") ? K_TRACE_ID :
		       IS("timestamp") || IS("time") ? K_TIME : K_OTHER;
	case 'c':
		return IS("cold_start") ? K_COLD_START : K_OTHER;
	case '@':
		return IS("@timestamp") ? K_TIME : K_OTHER;	/* ECS (log4j2, logback JSON) */
	case 'f':
		return IS("function_request_id") ? K_REQUEST_ID :
		       IS("function_name") ? K_FUNCTION_NAME :
		       IS("function_version") ? K_FUNCTION_VERSION : K_OTHER;
	}
	return K_OTHER;
#undef IS
}

/* One member of a JSON record: known keys to columns, the rest to fields. */
static void member(struct lrec *r, const struct jval *k, const struct jval *v)
{
	enum key key = key_of(k);
	bool str = v->type == J_STRING && !v->escaped;
	uint32_t lv;

	switch (key) {
	case K_MESSAGE:
		if (v->type == J_STRING) {
			set_value(r, &r->message, v);
			return;
		}
		break;
	case K_LEVEL:
		if (str && (lv = level_of(v->p, v->n))) {
			r->level = lv;
			return;
		}
		break;
	case K_REQUEST_ID:
	case K_TRACE_ID:
	case K_FUNCTION_NAME:
	case K_FUNCTION_VERSION:
		if (v->type == J_STRING) {
			set_value(r, key == K_REQUEST_ID ? &r->request_id :
				     key == K_TRACE_ID ? &r->trace_id :
				     key == K_FUNCTION_NAME ? &r->function_name :
				     &r->function_version, v);
			return;
		}
		break;
	case K_TIME:
		/* The record's time, when it is one to the millisecond at least (Lambda's JSON,
		 * Powertools, ECS); a time in whole seconds (zerolog's default) stays a field,
		 * and the platform's time, which has the milliseconds, the record's. */
		if (str && v->n > 20 && (v->p[19] == '.' || v->p[19] == ',')) {
			int64_t t = iso8601_ns(v->p, v->n);

			if (t) {
				r->time_ns = t;
				return;
			}
		}
		break;
	case K_COLD_START:
		if (v->type == J_TRUE || v->type == J_FALSE) {
			r->cold_start = v->type == J_TRUE;
			return;
		}
		break;
	case K_OTHER:
		break;
	}
	add_field(r, k, v);
}

/* Emptied for the next record; memory that one huge line grew is given back (a pending
 * record per stream keeps its buffers). */
static void empty(struct buf *b)
{
	if (b->cap > 64 * 1024)
		buf_free(b);
	else
		buf_reset(b);
}

/* fn on every buffer of r. */
static inline void each_buf(struct lrec *r, void (*fn)(struct buf *b))
{
	struct buf *all[] = { &r->message, &r->request_id, &r->trace_id, &r->function_name,
			      &r->function_version, &r->rest, &r->scratch };

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		fn(all[i]);
}

static void reset(struct lrec *r)
{
	r->time_ns = 0;
	r->level = 0;
	r->cold_start = r->truncated = r->repaired = false;
	each_buf(r, empty);
}

/* The object at the start of s[0..n), members as they come (one pass: a malformed one leaves
 * r half-filled, for the caller to reset). Its end, or 0. */
static size_t parse_object(const char *s, size_t n, struct lrec *r)
{
	struct jval k, v;
	struct jiter it;
	int rc;

	if (jscan_iter_text(s, n, &it) < 0 || !it.object)
		return 0;
	while ((rc = jscan_next_member(&it, &k, &v)) == 1)
		member(r, &k, &v);
	return rc < 0 ? 0 : jscan_iter_end(&it);
}

/* Node "time\trequestId\tLEVEL\tmessage" and Python "[LEVEL]\ttime\trequestId\tmessage". */
static bool parse_text(const char *line, size_t n, struct lrec *r)
{
	const char *f[4], *p = line, *end = line + n;
	size_t len[4];
	uint32_t lv;
	int64_t t;
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
	if (len[0] > 2 && f[0][0] == '[' && f[0][len[0] - 1] == ']' &&
	    (lv = level_of(f[0] + 1, len[0] - 2)) && is_uuidish(f[2], len[2])) {
		r->level = lv;
		r->time_ns = iso8601_ns(f[1], len[1]);
		set_text(r, &r->request_id, f[2], len[2]);
		set_text(r, &r->message, f[3], len[3]);
		return true;
	}
	if (is_uuidish(f[1], len[1]) && (lv = level_of(f[2], len[2])) &&
	    (t = iso8601_ns(f[0], len[0]))) {
		r->time_ns = t;
		set_text(r, &r->request_id, f[1], len[1]);
		r->level = lv;
		set_text(r, &r->message, f[3], len[3]);
		return true;
	}
	return false;
}

/* Java's Lambda layouts (aws-lambda-java-log4j2's "%d{yyyy-MM-dd HH:mm:ss} %X{AWSRequestId}
 * %-5p %c{1} - %m", logback's alike): "yyyy-MM-dd HH:mm:ss[.SSS|,SSS] requestId LEVEL rest".
 * The rest (logger and message) is the message; the line's time is taken only with its
 * milliseconds (without them the platform's time, which has them, stays). */
static bool parse_java(const char *line, size_t n, struct lrec *r)
{
	static const char digit_at[] = "dddd-dd-dd dd:dd:dd";
	const char *p = line + 19, *end = line + n, *id, *lv;
	bool millis = false;
	uint32_t level;

	if (n < 19 + 1 + 36 + 1 + 4)
		return false;
	for (int i = 0; i < 19; i++) {
		if (digit_at[i] == 'd' ? (line[i] < '0' || line[i] > '9') : line[i] != digit_at[i])
			return false;
	}
	if ((*p == '.' || *p == ',') && p + 4 < end && p[1] >= '0' && p[1] <= '9' &&
	    p[2] >= '0' && p[2] <= '9' && p[3] >= '0' && p[3] <= '9') {
		millis = true;
		p += 4;
	}
	if (*p != ' ')
		return false;
	id = ++p;
	p = memchr(id, ' ', (size_t)(end - id));
	if (!p || !is_uuidish(id, (size_t)(p - id)))
		return false;
	lv = ++p;
	while (p < end && *p != ' ')
		p++;
	if (!(level = level_of(lv, (size_t)(p - lv))))
		return false;
	while (p < end && *p == ' ')
		p++;
	if (millis)
		r->time_ns = iso8601_ns(line, 23);
	r->level = level;
	set_text(r, &r->request_id, id, 36);
	set_text(r, &r->message, p, (size_t)(end - p));
	return true;
}

static void set_default_id(struct lrec *r, const char *default_request_id)
{
	if (!r->request_id.len && default_request_id)
		buf_puts(&r->request_id, default_request_id);
	if (!r->level)
		r->level = LEVEL_INFO;
}

void logparse_lrec(const char *line, size_t n, const char *default_request_id, struct lrec *r)
{
	reset(r);
	if (n > 0 && line[0] == '{' && n <= LOG_LINE_MAX) {
		size_t end = parse_object(line, n, r);

		if (end && jscan_skip_ws(line, n, end) == n)
			goto done;	/* structured */
		reset(r);	/* not JSON after all: text, whole */
	}
	if (!parse_text(line, n, r) && !parse_java(line, n, r)) {
		const char *close = n > 2 && line[0] == '[' ?
					    memchr(line, ']', n < 12 ? n : 12) : NULL;
		uint32_t lv = close ? level_of(line + 1, (size_t)(close - line - 1)) : 0;

		/* Plain text; "[ERROR] …" still tells its level. */
		reset(r);
		clean_append(&r->message, line, n, LOG_LINE_MAX, &r->repaired, &r->truncated);
		r->level = lv ? lv : LEVEL_INFO;
	}
done:
	if (n > LOG_LINE_MAX)
		r->truncated = true;
	set_default_id(r, default_request_id);
}

void logparse_verbatim(const char *line, size_t n, const char *default_request_id,
		       struct lrec *r)
{
	reset(r);
	clean_append(&r->message, line, n, LOG_LINE_MAX, &r->repaired, &r->truncated);
	if (n > LOG_LINE_MAX)
		r->truncated = true;
	set_default_id(r, default_request_id);
}

size_t logparse_object(const char *s, size_t n, const char *message,
		       const char *default_request_id, struct lrec *r)
{
	size_t end;

	reset(r);
	if (message)
		buf_puts(&r->message, message);
	end = parse_object(s, n, r);
	if (!end)
		return 0;
	if (end > LOG_LINE_MAX) {
		/* As a line that long is read: its text, cut. */
		logparse_lrec(s, end, default_request_id, r);
		return end;
	}
	set_default_id(r, default_request_id);
	return end;
}

void logparse_append(struct lrec *r, const char *line, size_t n)
{
	size_t room = LOG_LINE_MAX > r->message.len + 1 ? LOG_LINE_MAX - r->message.len - 1 : 0;

	buf_putc(&r->message, '\n');
	clean_append(&r->message, line, n, room, &r->repaired, &r->truncated);
}

void logparse_finish(struct lrec *r, const char *extension, struct segment_record *out)
{
	struct buf *b = &r->rest;

	if (extension && extension[0])
		pb_buf_bytes(b, PB_TAG(LR_EXTENSION, PB_LEN), extension, strlen(extension));
	if (r->trace_id.len)
		pb_buf_bytes(b, PB_TAG(LR_TRACE_ID, PB_LEN), r->trace_id.data, r->trace_id.len);
	if (r->cold_start)
		pb_buf_varint(b, PB_TAG(LR_COLD_START, PB_VARINT), 1);
	if (r->truncated)
		pb_buf_varint(b, PB_TAG(LR_TRUNCATED, PB_VARINT), 1);
	if (r->repaired)
		pb_buf_varint(b, PB_TAG(LR_UTF8_REPAIRED, PB_VARINT), 1);
	/* Member by member: a compound literal cleared the whole struct first (rep stos, a
	 * visible share of this function in the ingest profile). */
	out->time_ns = r->time_ns;
	out->source = 0;
	out->level = r->level;
	out->request_id = r->request_id.len ? r->request_id.data : "";
	out->request_id_len = r->request_id.len;
	out->message = r->message.len ? r->message.data : "";
	out->message_len = r->message.len;
	out->function_name = r->function_name.len ? r->function_name.data : "";
	out->function_name_len = r->function_name.len;
	out->function_version = r->function_version.len ? r->function_version.data : "";
	out->function_version_len = r->function_version.len;
	out->rest = (const uint8_t *)b->data;
	out->rest_len = b->len;
}

void lrec_init(struct lrec *r)
{
	memset(r, 0, sizeof(*r));
}

void lrec_free(struct lrec *r)
{
	each_buf(r, buf_free);
}

/* The whole record as LogRecord protobuf (its columns added to the rest), read back by
 * protobuf-c: what a segment stores, in the form of a log_record. */
void logparse_line(const char *line, size_t n, const char *default_request_id, log_record *r)
{
	struct segment_record sr;
	struct lrec l;
	log_record *u;

	lrec_init(&l);
	logparse_lrec(line, n, default_request_id, &l);
	logparse_finish(&l, NULL, &sr);
	if (l.time_ns)
		pb_buf_varint(&l.rest, PB_TAG(LR_TIME_NS, PB_VARINT), (uint64_t)l.time_ns);
	if (sr.request_id[0])
		pb_buf_bytes(&l.rest, PB_TAG(LR_REQUEST_ID, PB_LEN), sr.request_id, strlen(sr.request_id));
	pb_buf_bytes(&l.rest, PB_TAG(LR_LEVEL, PB_LEN), segment_level_name(l.level),
		     strlen(segment_level_name(l.level)));
	if (l.message.len)
		pb_buf_bytes(&l.rest, PB_TAG(LR_MESSAGE, PB_LEN), l.message.data, l.message.len);
	if (l.function_name.len)
		pb_buf_bytes(&l.rest, PB_TAG(LR_FUNCTION_NAME, PB_LEN), l.function_name.data, l.function_name.len);
	if (l.function_version.len)
		pb_buf_bytes(&l.rest, PB_TAG(LR_FUNCTION_VERSION, PB_LEN), l.function_version.data,
			     l.function_version.len);
	u = l.rest.failed ? NULL :
			    vigil__v1__log_record__unpack(NULL, l.rest.len, (uint8_t *)l.rest.data);
	if (u) {
		*r = *u;
		free(u);	/* its members are r's now */
	} else {
		vigil__v1__log_record__init(r);
	}
	lrec_free(&l);
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
		Vigil__V1__Field *f = r->fields[i];

		if (f->key != protobuf_c_empty_string)
			free(f->key);
		if (f->value_case == VIGIL__V1__FIELD__VALUE_TEXT)
			free(f->text);
		else if (f->value_case == VIGIL__V1__FIELD__VALUE_DECIMAL)
			free(f->decimal);
		free(f);
	}
	free(r->fields);
	r->fields = NULL;
	r->n_fields = 0;
}
