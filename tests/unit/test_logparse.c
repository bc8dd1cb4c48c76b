/* Unit tests of the log line parsers (agent/core/logparse.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../agent/util/buf.h"
#include "../../agent/core/jscan.h"
#include "../../agent/core/logparse.h"
#include "../../agent/core/logpipe.h"
#include "../../agent/core/metrics.h"
#include "../../agent/core/segment.h"
#include "../../agent/extension/batch.h"

static log_record r;

static void parse(const char *line)
{
	logparse_line(line, strlen(line), "default-id", &r);
}

static void test_lambda_json_and_powertools(void **state)
{
	(void)state;
	parse("{\"timestamp\":\"2024-06-17T17:23:50.123Z\",\"level\":\"ERROR\",\"requestId\":"
	      "\"79b4f56e-95b1-4643-9700-2807f4e68189\",\"message\":\"boom\",\"count\":3,"
	      "\"ratio\":0.5,\"ok\":true,\"nested\":{\"a\":1}}");
	assert_string_equal(r.level, "ERROR");
	assert_string_equal(r.message, "boom");
	assert_string_equal(r.request_id, "79b4f56e-95b1-4643-9700-2807f4e68189");
	assert_true(r.time_ns == 1718645030123000000LL);
	assert_int_equal(r.n_fields, 4);
	assert_string_equal(r.fields[0]->key, "count");
	assert_int_equal(r.fields[0]->value_case, VIGIL__V1__FIELD__VALUE_INTEGER);
	assert_int_equal(r.fields[1]->value_case, VIGIL__V1__FIELD__VALUE_DECIMAL);
	assert_string_equal(r.fields[1]->decimal, "0.5");	/* the text it came as */
	assert_int_equal(r.fields[2]->value_case, VIGIL__V1__FIELD__VALUE_FLAG);
	assert_string_equal(r.fields[3]->text, "{\"a\":1}");
	logparse_free(&r);
	parse("{\"level\":\"WARN\",\"message\":\"slow\",\"service\":\"orders\",\"cold_start\":true,"
	      "\"function_request_id\":\"abc\",\"xray_trace_id\":\"1-5759e988\","
	      "\"timestamp\":\"2024-06-17 17:23:50,123+0000\"}");
	assert_string_equal(r.level, "WARN");
	assert_true(r.cold_start);
	assert_string_equal(r.request_id, "abc");
	assert_string_equal(r.trace_id, "1-5759e988");
	/* Powertools for Python's time ("2024-06-17 17:23:50,123+0000") is the record's. */
	assert_true(r.time_ns == 1718645030123000000LL);
	assert_int_equal(r.n_fields, 1);	/* service */
	logparse_free(&r);
	/* A time in whole seconds (zerolog's default) stays a field: the platform's time, to
	 * the millisecond, stays the record's. ECS's @timestamp is the record's time. */
	parse("{\"level\":\"info\",\"time\":\"2024-06-17T17:23:50Z\",\"message\":\"m\"}");
	assert_true(r.time_ns == 0);
	assert_int_equal(r.n_fields, 1);
	assert_string_equal(r.fields[0]->key, "time");
	logparse_free(&r);
	parse("{\"@timestamp\":\"2024-06-17T17:23:50.123Z\",\"log.level\":\"INFO\",\"message\":\"m\"}");
	assert_true(r.time_ns == 1718645030123000000LL);
	assert_int_equal(r.n_fields, 1);	/* log.level: not Lambda's key */
	logparse_free(&r);
	/* A number over 64 characters is a double, short key or long (the one-go writer of
	 * short fields and the general one agree). */
	parse("{\"k\":0.00000000000000000000000000000000000000000000000000000000000000000000001,"
	      "\"a_much_longer_key_than_the_short_field_writer_would_take_in_one_go_at_all\":"
	      "0.00000000000000000000000000000000000000000000000000000000000000000000001}");
	assert_int_equal(r.n_fields, 2);
	assert_int_equal(r.fields[0]->value_case, VIGIL__V1__FIELD__VALUE_NUMBER);
	assert_int_equal(r.fields[1]->value_case, VIGIL__V1__FIELD__VALUE_NUMBER);
	assert_true(r.fields[0]->number == r.fields[1]->number);
	logparse_free(&r);
}

static void test_node_and_python_text(void **state)
{
	(void)state;
	parse("2024-06-17T17:23:50.100Z\t79b4f56e-95b1-4643-9700-2807f4e68189\tINFO\thello\tworld");
	assert_string_equal(r.level, "INFO");
	assert_string_equal(r.message, "hello\tworld");
	assert_string_equal(r.request_id, "79b4f56e-95b1-4643-9700-2807f4e68189");
	assert_true(r.time_ns == 1718645030100000000LL);
	logparse_free(&r);
	parse("[WARNING]\t2024-06-17T17:23:50.1Z\t79b4f56e-95b1-4643-9700-2807f4e68189\tcareful");
	assert_string_equal(r.level, "WARN");
	assert_string_equal(r.message, "careful");
	logparse_free(&r);
	parse("[ERROR] ValueError: cannot greet");
	assert_string_equal(r.level, "ERROR");
	assert_string_equal(r.request_id, "default-id");
	logparse_free(&r);
	parse("just text");
	assert_string_equal(r.level, "INFO");
	assert_string_equal(r.message, "just text");
	logparse_free(&r);
}

/* Java's Lambda layouts (aws-lambda-java-log4j2, logback): the time (with milliseconds
 * only), the request id and the level taken apart, the logger kept with the message. */
static void test_java_text(void **state)
{
	(void)state;
	parse("2024-06-17 17:23:50.255 79b4f56e-95b1-4643-9700-2807f4e68189 INFO  "
	      "com.example.OrderHandler - order placed");
	assert_string_equal(r.level, "INFO");
	assert_string_equal(r.request_id, "79b4f56e-95b1-4643-9700-2807f4e68189");
	assert_string_equal(r.message, "com.example.OrderHandler - order placed");
	assert_true(r.time_ns == 1718645030255000000LL);
	logparse_free(&r);
	parse("2024-06-17 17:23:50,255 79b4f56e-95b1-4643-9700-2807f4e68189 WARN Handler:42 - x");
	assert_string_equal(r.level, "WARN");
	assert_true(r.time_ns == 1718645030255000000LL);
	logparse_free(&r);
	/* Whole seconds: the platform's time (with its milliseconds) stays. */
	parse("2024-06-17 17:23:50 79b4f56e-95b1-4643-9700-2807f4e68189 ERROR Handler - boom");
	assert_string_equal(r.level, "ERROR");
	assert_string_equal(r.message, "Handler - boom");
	assert_true(r.time_ns == 0);
	logparse_free(&r);
	/* Not the layout: plain text, whole. */
	parse("2024-06-17 17:23:50.255 not-a-request-id INFO  Handler - x");
	assert_string_equal(r.request_id, "default-id");
	assert_string_equal(r.message, "2024-06-17 17:23:50.255 not-a-request-id INFO  Handler - x");
	logparse_free(&r);
	parse("2024-06-17 17:23:50.255 79b4f56e-95b1-4643-9700-2807f4e68189 NOTICE x");
	assert_string_equal(r.level, "INFO");
	assert_string_equal(r.request_id, "default-id");
	logparse_free(&r);
	parse("2024-06-17 17:23:50.255 79b4f56e-95b1-4643-9700-2807f4e68189");
	assert_string_equal(r.request_id, "default-id");
	logparse_free(&r);
}

static void test_repair_and_truncation(void **state)
{
	char *big = malloc(LOG_LINE_MAX + 100);

	(void)state;
	logparse_line("bad \xFF\xFE utf8 \x00 nul", 18, NULL, &r);
	assert_true(r.utf8_repaired);
	assert_string_equal(r.message, "bad \xEF\xBF\xBD\xEF\xBF\xBD utf8  nul");
	logparse_free(&r);
	memset(big, 'a', LOG_LINE_MAX + 100);
	logparse_line(big, LOG_LINE_MAX + 100, NULL, &r);
	assert_true(r.truncated);
	assert_int_equal(strlen(r.message), LOG_LINE_MAX);
	logparse_free(&r);
	free(big);
}

static void test_continuations(void **state)
{
	(void)state;
	assert_true(logparse_is_continuation("    at Object.<anonymous> (/var/task/index.js:3:9)", 47));
	assert_true(logparse_is_continuation("\tat java.lang.Thread.run", 24));
	assert_true(logparse_is_continuation("Caused by: java.io.IOException", 30));
	assert_true(logparse_is_continuation("Traceback (most recent call last):", 34));
	assert_false(logparse_is_continuation("START RequestId: x", 18));
	assert_false(logparse_is_continuation("", 0));
}

static void test_jscan(void **state)
{
	static const char *const bad[] = {
		"", "{", "[1,]", "{\"a\" 1}", "{\"a\":}", "{,}", "[1 2]", "\"open", "\"\\x\"",
		"\"\\u12G4\"", "01", "1.", "1e", "-", "tru", "nul", "{\"a\":1}}", "[]]", "{]",
		"[1] x",
	};
	char deep[200], buf[64];
	struct jval v, k, x;
	struct jiter it;
	int64_t i;

	(void)state;
	for (size_t j = 0; j < sizeof(bad) / sizeof(bad[0]); j++)
		assert_true(jscan_parse(bad[j], strlen(bad[j]), &v) < 0 || jscan_check(&v) < 0);
	memset(deep, '[', 100);
	memset(deep + 100, ']', 100);
	assert_int_equal(jscan_parse(deep, 200, &v), -1);	/* over JSCAN_MAX_DEPTH */
	assert_int_equal(jscan_parse(deep + 40, 120, &v), 0);

	/* Escapes: control characters, \u in one to three bytes, a surrogate pair, a lone one. */
	const char *str = "\"a\\n\\t\\\"\\/\\u00e9\\u20ac\\ud83d\\ude00\\udc00z\"";
	assert_int_equal(jscan_parse(str, strlen(str), &v), 0);
	assert_int_equal(v.type, J_STRING);
	assert_true(v.escaped);
	i = (int64_t)jscan_unescape(&v, buf);
	assert_int_equal(i, strlen(buf));
	assert_string_equal(buf, "a\n\t\"/\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xef\xbf\xbdz");

	/* Numbers. */
	assert_int_equal(jscan_parse("-42", 3, &v), 0);
	assert_true(jscan_int(&v, &i) && i == -42);
	assert_int_equal(jscan_parse("1.5e3", 5, &v), 0);
	assert_false(jscan_int(&v, &i));
	assert_true(jscan_double(&v) == 1500.0);
	assert_int_equal(jscan_parse("99999999999999999999", 20, &v), 0);
	assert_false(jscan_int(&v, &i));	/* too big: a number, not an integer */

	/* Members in order; nested values as their text; the end found by iterating. */
	const char *obj = " { \"a\" : [1, {\"b\": \"}\"}] , \"c\":null } ";
	assert_int_equal(jscan_iter_text(obj, strlen(obj), &it), 0);
	assert_int_equal(jscan_next_member(&it, &k, &x), 1);
	assert_true(jscan_eq(&k, "a"));
	assert_int_equal(x.type, J_ARRAY);
	assert_int_equal(x.n, strlen("[1, {\"b\": \"}\"}]"));
	assert_int_equal(jscan_next_member(&it, &k, &x), 1);
	assert_true(jscan_eq(&k, "c") && x.type == J_NULL);
	assert_int_equal(jscan_next_member(&it, &k, &x), 0);
	assert_int_equal(jscan_skip_ws(obj, strlen(obj), jscan_iter_end(&it)), strlen(obj));

	/* ISO 8601 times. */
	assert_true(iso8601_ns("2024-06-17T17:23:50.123Z", 24) == 1718645030123000000LL);
	assert_true(iso8601_ns("2024-06-17T17:23:50Z", 20) == 1718645030000000000LL);
	assert_true(iso8601_ns("2024-06-17T19:23:50.123+02:00", 29) == 1718645030123000000LL);
	assert_true(iso8601_ns("2024-06-17T16:23:50.123-0100", 28) == 1718645030123000000LL);
	assert_true(iso8601_ns("1969-12-31T23:59:59Z", 20) == -1000000000LL);
	/* 64-bit nanoseconds reach 1677-09-21 … 2262-04-11: outside 1678 … 2261, not a time. */
	assert_true(iso8601_ns("1000-01-01T00:00:00Z", 20) == 0);
	assert_true(iso8601_ns("1677-12-31T23:59:59Z", 20) == 0);
	assert_true(iso8601_ns("2262-01-01T00:00:00Z", 20) == 0);
	assert_true(iso8601_ns("9999-12-31T23:59:59.999999999+23:59", 35) == 0);
	assert_true(iso8601_ns("1678-01-01T00:00:00Z", 20) == -9214560000000000000LL);
	assert_true(iso8601_ns("2261-12-31T23:59:59.999999999-23:59", 35) > 9200000000000000000LL);
	assert_true(iso8601_ns("2024-02-29T00:00:00.000000001", 29) == 1709164800000000001LL);
	/* A space for the T (RFC 3339 allows it) and ISO 8601's decimal comma: Python's
	 * logging, Powertools for Python, log4j. */
	assert_true(iso8601_ns("2024-06-17 17:23:50,123", 23) == 1718645030123000000LL);
	assert_true(iso8601_ns("2024-06-17 17:23:50,123+0000", 28) == 1718645030123000000LL);
	assert_true(iso8601_ns("2024-06-17_17:23:50.123", 23) == 0);
	assert_true(iso8601_ns("2024-13-17T17:23:50Z", 20) == 0);
	assert_true(iso8601_ns("2024-06-17T17:23:50Zjunk", 24) == 0);
}

/* The open iteration (a container left for the caller) visits what the skimming one does. */
static void walk_open(const char *s, size_t n, struct buf *out, size_t *used, int depth)
{
	struct jval k, v, whole;
	struct jiter it;
	int rc;

	assert_int_equal(jscan_iter_text(s, n, &it), 0);
	buf_putc(out, it.object ? '{' : '[');
	while ((rc = it.object ? jscan_next_member_open(&it, &k, &v) :
				 jscan_next_elem_open(&it, &v)) == 1) {
		if (it.object)
			buf_printf(out, "%.*s:", (int)k.n, k.p);
		if (v.type == J_OBJECT || v.type == J_ARRAY) {
			size_t u;

			/* Deeper containers skimmed instead: both ways go on from their end. */
			if (depth < 1) {
				walk_open(v.p, v.n, out, &u, depth + 1);
			} else {
				assert_int_equal(jscan_open_span(&v, &whole), 0);
				buf_append(out, whole.p, whole.n);
				u = whole.n;
			}
			jscan_iter_resume(&it, &v, u);
		} else {
			buf_printf(out, "%.*s", (int)v.n, v.p);
		}
		buf_putc(out, ',');
	}
	assert_int_equal(rc, 0);
	buf_putc(out, it.object ? '}' : ']');
	*used = jscan_iter_end(&it);
}

static void test_jscan_open(void **state)
{
	const char *doc = "[{\"time\":\"t\",\"record\":{\"a\":[1,{\"b\":\"]}\"}],\"c\":{}},\"x\":2},"
			  " [[], {\"k\": [ {} ]}], \"s\", 3 ] tail";
	struct buf out;
	struct jval v;
	struct jiter it;
	size_t used;
	int rc;

	(void)state;
	buf_init(&out);
	walk_open(doc, strlen(doc), &out, &used, 0);
	assert_int_equal(used, strlen(doc) - strlen(" tail"));
	assert_string_equal(out.data, "[{time:t,record:{\"a\":[1,{\"b\":\"]}\"}],\"c\":{}},"
				      "x:2,},[[],{\"k\": [ {} ]},],s,3,]");
	buf_free(&out);
	/* A malformed member inside an open container is found when it is read. */
	assert_int_equal(jscan_iter_text("[{\"a\" 1}]", 9, &it), 0);
	assert_int_equal(jscan_next_elem_open(&it, &v), 1);
	assert_int_equal(jscan_iter_text(v.p, v.n, &it), 0);
	rc = jscan_next_member_open(&it, &v, &v);
	assert_int_equal(rc, -1);
}

static void same_jval(const struct jval *a, const struct jval *b)
{
	assert_int_equal(a->type, b->type);
	assert_ptr_equal(a->p, b->p);
	assert_int_equal(a->n, b->n);
	assert_int_equal(a->escaped, b->escaped);
}

/* jscan's inline member and element reading (compact JSON) against its general loop, in
 * lockstep over random objects and arrays, well-formed or not: the same values, the same
 * errors, at the same places, plain and open. */
static void test_jscan_inline_agrees(void **state)
{
	static const char *const keys[] = { "\"k\"", "\"\"", "\"a\\u00e9\"", "\"bad\\x\"",
					    " \"sp\"", "\"k\" ", "k", "\"unterminated" };
	static const char *const values[] = {
		"1", "-7", "0", "01", "1.", "-", "1e5", "-0", "0.5", "2.50", "12x", "\"\"",
		"\"text\"", "\"esc\\\"aped\"", "\"bad\\q\"", "\"\\u12\"", "true", "tru",
		"false", "null", "{}", "{\"o\":[1,{\"p\":\"]\"}]}", "[]", "[1,[2]]", " 3",
		"\"open", "{\"a\":", "[1,", " {\"b\":1}", "\r[2]",
	};
	static const char *const seps[] = { ",", ",", ",", " ,", ", ", "", ";" };
	static const char *const ends[] = { "}", "}", " }", "", "]" };
	uint64_t rng = 7;

	(void)state;
	for (int round = 0; round < 20000; round++) {
		bool array = round % 4 == 3;
		struct buf doc;
		int members;

		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		members = (int)(rng >> 61);
		buf_init(&doc);
		buf_putc(&doc, array ? '[' : '{');
		for (int m = 0; m < members; m++) {
			rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
			if (m)
				buf_puts(&doc, seps[(rng >> 20) % 7 * ((rng >> 40) % 8 == 0)]);
			if (!array)
				buf_printf(&doc, "%s%s",
					   keys[(rng >> 33) % 8 * ((rng >> 45) % 4 == 0)],
					   (rng >> 50) % 16 ? ":" : " :");
			buf_puts(&doc, values[(rng >> 10) % (sizeof(values) / sizeof(values[0]))]);
		}
		buf_puts(&doc, array ? "]" : ends[(rng >> 5) % 5 * ((rng >> 55) % 4 == 0)]);
		for (int open = 0; open < 2; open++) {
			struct jiter a, b;
			struct jval ka, va, kb, vb;
			int ra, rb;

			assert_int_equal(jscan_iter_text(doc.data, doc.len, &a), 0);
			b = a;
			do {
				if (array) {
					ra = open ? jscan_next_elem_open(&a, &va) :
						    jscan_next_elem(&a, &va);
					rb = open ? jscan_next_elem_open_any(&b, &vb) :
						    jscan_next_elem(&b, &vb);
				} else {
					ra = open ? jscan_next_member_open(&a, &ka, &va) :
						    jscan_next_member(&a, &ka, &va);
					rb = open ? jscan_next_member_open_any(&b, &kb, &vb) :
						    jscan_next_member_any(&b, &kb, &vb);
				}
				assert_int_equal(ra, rb);
				if (ra != 1)
					break;
				if (!array)
					same_jval(&ka, &kb);
				same_jval(&va, &vb);
				if (open && (va.type == J_OBJECT || va.type == J_ARRAY)) {
					struct jval whole;

					if (jscan_open_span(&va, &whole) < 0)
						break;
					jscan_iter_resume(&a, &va, whole.n);
					jscan_iter_resume(&b, &vb, whole.n);
				}
				assert_int_equal(jscan_iter_end(&a), jscan_iter_end(&b));
			} while (ra == 1);
			if (ra == 0)
				assert_int_equal(jscan_iter_end(&a), jscan_iter_end(&b));
		}
		buf_free(&doc);
	}
}

/* Random JSON lines: the parser's hand-written protobuf is what protobuf-c writes for the
 * same record, and reads back as it. */
static void test_encoding_is_protobuf(void **state)
{
	static const char *const keys[] = { "k", "", "service", "a\\u00e9", "level", "message",
					    "xray_trace_id", "cold_start", "nested", "n" };
	static const char *const values[] = {
		"1", "-7", "0", "123456789012345678", "-123456789012345678",
		"12345678901234567890123", "-9223372036854775808", "3.25", "1e300", "-0.5E-3",
		"true", "false", "null", "\"\"", "\"text\"", "\"esc\\\\aped\\n\\u00e9\"",
		"\"bad\\u0000nul\"", "{\"o\":[1,2]}", "[]", "\"INFO\"", "\"warning\"",
		"\"1-66707126-1e2feb89414c343c1027c4d1\"",
		"0.0000000000000000000000000000000000000000000000000000000000000000000001",
	};
	uint64_t rng = 42;

	(void)state;
	for (int round = 0; round < 2000; round++) {
		struct segment_record sr;
		struct lrec l;
		struct buf line;
		log_record *u, rest;
		size_t len;
		uint8_t *packed;
		int members;

		rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
		members = (int)(rng >> 60);
		buf_init(&line);
		buf_putc(&line, '{');
		for (int m = 0; m < members; m++) {
			rng = rng * 6364136223846793005ULL + 1442695040888963407ULL;
			buf_printf(&line, "%s\"%s\":%s", m ? "," : "", keys[(rng >> 33) % 10],
				   values[(rng >> 13) % (sizeof(values) / sizeof(values[0]))]);
			if ((rng >> 50) % 7 == 0) {	/* a long value: two-byte lengths */
				buf_printf(&line, ",\"long%d\":\"", m);
				for (int i = 0; i < 40; i++)
					buf_puts(&line, "abc\xc3\xa9");
				buf_puts(&line, "\xff\"");
			}
		}
		buf_putc(&line, '}');
		lrec_init(&l);
		logparse_lrec(line.data, line.len, NULL, &l);
		logparse_finish(&l, NULL, &sr);
		/* protobuf-c's bytes for the same rest: the record read back, columns cleared. */
		u = vigil__v1__log_record__unpack(NULL, sr.rest_len, sr.rest);
		assert_non_null(u);
		rest = *u;
		len = vigil__v1__log_record__get_packed_size(&rest);
		packed = malloc(len + 1);
		vigil__v1__log_record__pack(&rest, packed);
		if (len != sr.rest_len || (len && memcmp(packed, sr.rest, len) != 0))
			fail_msg("encodings differ for %s", line.data);
		/* And through logparse_line (everything, columns too) the same record. */
		logparse_line(line.data, line.len, NULL, &r);
		assert_int_equal(r.n_fields, u->n_fields);
		for (size_t i = 0; i < r.n_fields; i++)
			assert_string_equal(r.fields[i]->key, u->fields[i]->key);
		assert_string_equal(r.trace_id, u->trace_id);
		assert_int_equal(r.level[0] != 0, 1);
		logparse_free(&r);
		free(packed);
		vigil__v1__log_record__free_unpacked(u, NULL);
		lrec_free(&l);
		buf_free(&line);
	}
}

/* --- a Telemetry API batch into segments, three ways ---------------------------------------- */

struct deferred_batch {
	struct log_pipe *p;
	const char *body;
	size_t len;		/* 0: strlen(body) */
};

static void run_batch(void *arg)
{
	struct deferred_batch *d = arg;

	telemetry_batch_log(d->p, "in-flight-id", d->body, d->len ? d->len : strlen(d->body),
			    "vigil", "fn", "$LATEST");
}

struct packed_records {
	struct buf all;
	int n;
};

static int keep_record(void *arg, const log_record *rec)
{
	struct packed_records *out = arg;
	size_t len = vigil__v1__log_record__get_packed_size(rec);
	uint8_t *b = malloc(len + 1);

	vigil__v1__log_record__pack(rec, b);
	buf_printf(&out->all, "%zu:", len);
	buf_append(&out->all, b, len);
	free(b);
	out->n++;
	return 0;
}

/* The records a batch becomes, to fn: deferred (in place on the writer) or from another
 * thread. */
static void batch_records(const char *body, bool deferred, segment_record_fn fn, void *arg)
{
	struct segment_writer_options o = { .identity = "t" };
	struct deferred_batch d;
	char dir[64], path[400];
	struct segment_read_result res;
	struct log_pipe *p;
	struct dirent *e;
	DIR *dd;

	strcpy(dir, "/tmp/vigil-batch-XXXXXX");
	assert_non_null(mkdtemp(dir));
	o.dir = dir;
	p = log_pipe_new(&o, 0, NULL);
	assert_non_null(p);
	d.p = p;
	d.body = body;
	d.len = 0;
	if (deferred)
		assert_int_equal(log_pipe_defer(p, run_batch, &d, strlen(body)), 0);
	else
		run_batch(&d);
	log_pipe_close(p);
	dd = opendir(dir);
	while ((e = readdir(dd)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		assert_int_equal(segment_read_file(path, NULL, 0, fn, arg, &res), 0);
		unlink(path);
	}
	closedir(dd);
	rmdir(dir);
}

static void test_batch_read_once(void **state)
{
	/* The same events, members in Lambda's order (records read in place) and record
	 * first (records skimmed, read after). */
	static const char *const events[][3] = {
		{ "\"2024-06-17T17:23:50.100Z\"", "\"platform.start\"",
		  "{\"requestId\":\"r-1\",\"version\":\"$LATEST\",\"tracing\":{\"value\":\"Root=1\"}}" },
		{ "\"2024-06-17T17:23:50.200Z\"", "\"function\"",
		  "{\"level\":\"ERROR\",\"message\":\"boom \\u00e9\",\"n\":12,\"x\":1.5,"
		  "\"o\":{\"a\":[1,\"}\"]},\"xray_trace_id\":\"1-2-3\",\"cold_start\":true}" },
		{ "\"2024-06-17T17:23:50.300Z\"", "\"function\"",
		  "\"2024-06-17T17:23:50.300Z\\tr-1\\tINFO\\tError: x\\n\"" },
		{ "\"2024-06-17T17:23:50.301Z\"", "\"function\"", "\"    at f (index.js:1:1)\"" },
		{ "\"2024-06-17T17:23:50.302Z\"", "\"function\"", "\"plain \\\"quoted\\\"\"" },
		{ "\"2024-06-17T17:23:50.303Z\"", "\"extension\"", "\"ext line\"" },
		{ "\"2024-06-17T17:23:50.303Z\"",	/* no type of Lambda's: passed over */
		  "\"platform.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
		  "{\"requestId\":\"r-1\",\"o\":{\"p\":[]}}" },
		{ "\"2024-06-17T17:23:50.304Z\"", "\"extension\"", "\"info telemetry: vigil's own\"" },
		{ "\"2024-06-17T17:23:50.305Z\"", "\"function\"", "{\"message\":{\"not\":\"text\"}}" },
		{ "\"2024-06-17T17:23:50.400Z\"", "\"platform.report\"",
		  "{\"requestId\":\"r-1\",\"metrics\":{\"durationMs\":1.5},\"message\":\"m\"}" },
		{ "\"2024-06-17T17:23:50.500Z\"", "\"platform.runtimeDone\"", "{}" },
	};
	struct packed_records in_place, skimmed, queued;
	struct buf a, b;

	(void)state;
	buf_init(&a);
	buf_init(&b);
	for (size_t i = 0; i < sizeof(events) / sizeof(events[0]); i++) {
		buf_printf(&a, "%s{\"time\":%s,\"type\":%s,\"record\":%s}", i ? "," : "[",
			   events[i][0], events[i][1], events[i][2]);
		buf_printf(&b, "%s{ \"record\" : %s , \"type\":%s,\"time\":%s}", i ? "," : "[ ",
			   events[i][2], events[i][1], events[i][0]);
	}
	buf_puts(&a, "]");
	buf_puts(&b, " ]\n");
	memset(&in_place, 0, sizeof(in_place));
	memset(&skimmed, 0, sizeof(skimmed));
	memset(&queued, 0, sizeof(queued));
	batch_records(a.data, true, keep_record, &in_place);
	batch_records(b.data, true, keep_record, &skimmed);
	batch_records(a.data, false, keep_record, &queued);
	/* 11 events: vigil's own line and the unknown type skipped, the stack trace line joined
	 * to the one before. */
	assert_int_equal(in_place.n, 8);
	assert_int_equal(skimmed.n, 8);
	assert_int_equal(queued.n, 8);
	assert_int_equal(in_place.all.len, skimmed.all.len);
	assert_memory_equal(in_place.all.data, skimmed.all.data, in_place.all.len);
	assert_int_equal(in_place.all.len, queued.all.len);
	assert_memory_equal(in_place.all.data, queued.all.data, in_place.all.len);
	buf_free(&in_place.all);
	buf_free(&skimmed.all);
	buf_free(&queued.all);
	buf_free(&a);
	buf_free(&b);
}

static int check_huge(void *arg, const log_record *rec)
{
	int *n = arg;

	(*n)++;
	assert_true(rec->truncated);
	assert_true(strlen(rec->message) <= LOG_LINE_MAX);
	assert_int_equal(strncmp(rec->message, "{\"message\":\"xxxx", 16), 0);
	return 0;
}

/* A record over 256 KiB read in place is kept as a too-long line is: its text, cut, flagged. */
static void test_batch_huge_record(void **state)
{
	struct buf b;
	int n = 0;

	(void)state;
	buf_init(&b);
	buf_puts(&b, "[{\"time\":\"2024-06-17T17:23:50.100Z\",\"type\":\"function\",\"record\":"
		     "{\"message\":\"");
	for (int i = 0; i < 300 * 1024; i++)
		buf_putc(&b, 'x');
	buf_puts(&b, "\"}}]");
	batch_records(b.data, true, check_huge, &n);
	assert_int_equal(n, 1);
	buf_free(&b);
}

/* A batch cut at every length, each in a buffer of exactly that many bytes (no NUL after:
 * under make asan, any read past the end is caught), read in place on the writer thread and
 * queued from this one: no crash, no read outside. The envelope's fast path included (a time
 * string that ends near the cut). */
static void test_batch_every_cut(void **state)
{
	static const char batch[] =
		"[{\"time\":\"2024-06-17T17:23:50.660+00:00+++++++++++++++++++++++++++++start\","
		"\"type\":\"platform.start\",\"record\":{\"requestId\":\"r-1\"}},"
		"{\"time\":\"2024-06-17T17:23:50.700Z\",\"type\":\"function\",\"record\":"
		"{\"level\":\"INFO\",\"message\":\"m\",\"n\":1,\"t\":true,\"o\":{\"a\":[]}}},"
		"{\"time\":\"2024-06-17T17:23:50.701Z\",\"type\":\"function\",\"record\":"
		"\"2024-06-17T17:23:50.701Z\\tr-1\\tINFO\\tline\"}]";
	struct segment_writer_options o = { .identity = "t" };
	char dir[64];
	struct log_pipe *p;

	(void)state;
	strcpy(dir, "/tmp/vigil-cut-XXXXXX");
	assert_non_null(mkdtemp(dir));
	o.dir = dir;
	p = log_pipe_new(&o, 0, NULL);
	assert_non_null(p);
	for (size_t len = 1; len < sizeof(batch); len++) {
		struct deferred_batch d = { .p = p, .len = len };
		char *cut = malloc(len);

		assert_non_null(cut);
		memcpy(cut, batch, len);
		d.body = cut;
		run_batch(&d);	/* this thread: queued */
		while (log_pipe_defer(p, run_batch, &d, len) < 0)
			;
		log_pipe_close(p);	/* the writer has run it: cut can go */
		free(cut);
		p = log_pipe_new(&o, 0, NULL);
		assert_non_null(p);
	}
	log_pipe_close(p);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		assert_int_equal(system(cmd), 0);
	}
}

static atomic_int gate;	/* 1: the writer is held in hold_writer; 2: let go */

static void hold_writer(void *arg)
{
	(void)arg;
	atomic_store(&gate, 1);
	while (atomic_load(&gate) != 2)
		usleep(1000);
}

static void nothing(void *arg)
{
	(void)arg;
}

static int lost_record(void *arg, const log_record *r)
{
	int64_t *said = arg;

	if (r->message && strcmp(r->message, "vigil.logsDropped") == 0)
		for (size_t i = 0; i < r->n_fields; i++)
			if (strcmp(r->fields[i]->key, "droppedRecords") == 0)
				*said += r->fields[i]->integer;
	return 0;
}

/* A batch that finds the queue full after waiting is dropped with every line it holds
 * counted, not as one. */
static void test_deferred_batch_dropped_counts_its_lines(void **state)
{
	struct segment_writer_options o = { .identity = "t" };
	struct metric_registry *r = metric_registry_new(50);
	char dir[64];
	struct log_pipe *p;

	(void)state;
	strcpy(dir, "/tmp/vigil-full-XXXXXX");
	assert_non_null(mkdtemp(dir));
	o.dir = dir;
	p = log_pipe_new(&o, 8192, r);
	assert_non_null(p);
	atomic_store(&gate, 0);
	assert_int_equal(log_pipe_defer(p, hold_writer, NULL, 16), 0);
	while (atomic_load(&gate) != 1)
		usleep(1000);
	/* The writer busy: the first fits, the second waits 50 ms for room, then goes. */
	assert_int_equal(log_pipe_defer_wait(p, nothing, NULL, 6000, 10, 0.05), 0);
	assert_int_equal(log_pipe_defer_wait(p, nothing, NULL, 6000, 37, 0.05), -1);
	{
		struct metric_family *f = metric_find(r, "vigil_logs_dropped_total");

		assert_non_null(f);
		assert_true(metric_value(metric_with(f, "queue_full")) == 37);
	}
	atomic_store(&gate, 2);
	log_pipe_close(p);
	metric_registry_destroy(r);
	/* ...and said in the segment, where the lines would have been. */
	{
		DIR *d = opendir(dir);
		struct dirent *e;
		int64_t said = 0;

		assert_non_null(d);
		while ((e = readdir(d))) {
			char path[384];
			struct segment_read_result res;

			if (!strstr(e->d_name, ".vseg"))
				continue;
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			memset(&res, 0, sizeof(res));
			assert_int_equal(segment_read_file(path, NULL, 0, lost_record, &said, &res), 0);
		}
		closedir(d);
		assert_int_equal(said, 37);
	}
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		assert_int_equal(system(cmd), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_deferred_batch_dropped_counts_its_lines),
		cmocka_unit_test(test_jscan),
		cmocka_unit_test(test_jscan_open),
		cmocka_unit_test(test_jscan_inline_agrees),
		cmocka_unit_test(test_encoding_is_protobuf),
		cmocka_unit_test(test_batch_read_once),
		cmocka_unit_test(test_batch_huge_record),
		cmocka_unit_test(test_batch_every_cut),
		cmocka_unit_test(test_lambda_json_and_powertools),
		cmocka_unit_test(test_node_and_python_text),
		cmocka_unit_test(test_java_text),
		cmocka_unit_test(test_repair_and_truncation),
		cmocka_unit_test(test_continuations),
	};

	return cmocka_run_group_tests_name("logparse", tests, NULL, NULL);
}
