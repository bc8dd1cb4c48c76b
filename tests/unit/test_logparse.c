/* Unit tests of the log line parsers (agent/core/logparse.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

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
	assert_int_equal(r.fields[1]->value_case, VIGIL__V1__FIELD__VALUE_NUMBER);
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lambda_json_and_powertools),
		cmocka_unit_test(test_node_and_python_text),
		cmocka_unit_test(test_repair_and_truncation),
		cmocka_unit_test(test_continuations),
	};

	return cmocka_run_group_tests_name("logparse", tests, NULL, NULL);
}
