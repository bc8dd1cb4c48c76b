/* Unit tests of the log line parsers (agent/core/logparse.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "../../agent/core/jscan.h"
#include "../../agent/core/logparse.h"

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
	assert_int_equal(r.n_fields, 2);	/* service, and the timestamp it cannot read */
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
	assert_true(iso8601_ns("2024-02-29T00:00:00.000000001", 29) == 1709164800000000001LL);
	assert_true(iso8601_ns("2024-06-17 17:23:50,123", 23) == 0);
	assert_true(iso8601_ns("2024-13-17T17:23:50Z", 20) == 0);
	assert_true(iso8601_ns("2024-06-17T17:23:50Zjunk", 24) == 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jscan),
		cmocka_unit_test(test_lambda_json_and_powertools),
		cmocka_unit_test(test_node_and_python_text),
		cmocka_unit_test(test_repair_and_truncation),
		cmocka_unit_test(test_continuations),
	};

	return cmocka_run_group_tests_name("logparse", tests, NULL, NULL);
}
