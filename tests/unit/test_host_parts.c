/* Unit tests of vigil host's pure parts: billing and Lambda's lines, API Gateway mapping,
 * the HTTP request parser, base64 and identifiers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <strings.h>

#include "../../agent/core/lambda_lines.h"
#include "../../agent/host/apigw.h"
#include "../../agent/util/base64.h"
#include "../../agent/lib/http_server.h"
#include "../../agent/util/ids.h"

static void test_billing_rule(void **state)
{
	(void)state;
	/* Cold starts observed in Lambda since INIT billing (digest 5.1). */
	assert_int_equal(billed_duration_ms(1233.96, 463.512), 1698);
	assert_int_equal(billed_duration_ms(395.99, 265.72), 662);
	assert_int_equal(billed_duration_ms(900000.00, 544.9), 900545);
	/* Warm: ceil(duration). */
	assert_int_equal(billed_duration_ms(15.39, -1), 16);
	assert_int_equal(billed_duration_ms(3000.00, -1), 3000);
	assert_int_equal(billed_duration_ms(0.0004, -1), 1);
	assert_int_equal(billed_duration_ms(0, -1), 0);
}

static void test_report_line(void **state)
{
	struct report_fields r = { .request_id = "id-1", .version = "$LATEST",
				   .duration_ms = 15.391, .init_duration_ms = 243.7,
				   .memory_size_mb = 128, .max_memory_used_mb = 45,
				   .status = "success" };
	struct buf b;

	(void)state;
	buf_init(&b);
	line_report(&b, LOG_FORMAT_TEXT, &r);
	assert_string_equal(b.data, "REPORT RequestId: id-1\tDuration: 15.39 ms\tBilled Duration: "
				    "260 ms\tMemory Size: 128 MB\tMax Memory Used: 45 MB\t"
				    "Init Duration: 243.70 ms\t\n");
	buf_reset(&b);
	r.init_duration_ms = -1;
	r.status = "timeout";
	r.duration_ms = 3000;
	line_report(&b, LOG_FORMAT_TEXT, &r);
	assert_string_equal(b.data, "REPORT RequestId: id-1\tDuration: 3000.00 ms\tBilled Duration: "
				    "3000 ms\tMemory Size: 128 MB\tMax Memory Used: 45 MB\t"
				    "Status: timeout\n");
	buf_reset(&b);
	r.status = "error";
	r.error_type = "Runtime.OutOfMemory";
	line_report(&b, LOG_FORMAT_TEXT, &r);
	assert_non_null(strstr(b.data, "\tStatus: error\tError Type: Runtime.OutOfMemory\n"));
	buf_reset(&b);
	line_start(&b, LOG_FORMAT_TEXT, "id-1", "$LATEST");
	line_end(&b, LOG_FORMAT_TEXT, "id-1");
	assert_string_equal(b.data, "START RequestId: id-1 Version: $LATEST\nEND RequestId: id-1\n");
	buf_reset(&b);
	line_init_report(&b, LOG_FORMAT_TEXT, 0.27, "init", "error", "Runtime.InvalidEntrypoint");
	assert_string_equal(b.data, "INIT_REPORT Init Duration: 0.27 ms\tPhase: init\tStatus: error"
				    "\tError Type: Runtime.InvalidEntrypoint\n");
	buf_reset(&b);
	line_report(&b, LOG_FORMAT_JSON, &r);
	assert_non_null(strstr(b.data, "\"type\":\"platform.report\""));
	assert_non_null(strstr(b.data, "\"billedDurationMs\":3000"));
	assert_non_null(strstr(b.data, "\"errorType\":\"Runtime.OutOfMemory\""));
	buf_free(&b);
}

static void test_json_string_escaping(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b);
	json_put_string(&b, "a\"b\\c\nd\x01");
	assert_string_equal(b.data, "\"a\\\"b\\\\c\\nd\\u0001\"");
	buf_free(&b);
}

static int map(enum apigw_payload v, const char *text, struct apigw_response *r)
{
	char err[200];

	return apigw_map_response(v, text, strlen(text), r, err, sizeof(err));
}

static const char *header(const struct apigw_response *r, const char *name, int nth)
{
	for (size_t i = 0; i < r->nheaders; i++) {
		if (strcasecmp(r->headers[i].name, name) == 0 && nth-- == 0)
			return r->headers[i].value;
	}
	return NULL;
}

static void test_apigw_v2_responses(void **state)
{
	struct apigw_response r;

	(void)state;
	assert_int_equal(map(APIGW_V2, "\"Hello\"", &r), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "Hello");
	assert_string_equal(header(&r, "content-type", 0), "application/json");
	apigw_response_free(&r);
	assert_int_equal(map(APIGW_V2, "[1,2]", &r), 0);
	assert_string_equal(r.body, "[1,2]");
	apigw_response_free(&r);
	assert_int_equal(map(APIGW_V2, "{\"statusCode\":404,\"body\":\"nope\",\"cookies\":[\"a=1\","
				       "\"b=2\"],\"headers\":{\"x\":1,\"y\":true}}", &r), 0);
	assert_int_equal(r.status, 404);
	assert_string_equal(header(&r, "set-cookie", 0), "a=1");
	assert_string_equal(header(&r, "set-cookie", 1), "b=2");
	assert_string_equal(header(&r, "x", 0), "1");
	assert_string_equal(header(&r, "y", 0), "true");
	apigw_response_free(&r);
	assert_int_equal(map(APIGW_V2, "{\"statusCode\":200,\"isBase64Encoded\":true,"
				       "\"body\":\"aGVsbG8=\"}", &r), 0);
	assert_int_equal(r.body_len, 5);
	assert_memory_equal(r.body, "hello", 5);
	apigw_response_free(&r);
	assert_int_equal(map(APIGW_V2, "", &r), 0);
	assert_int_equal(r.status, 200);
	apigw_response_free(&r);
	/* Malformed: each becomes 502 at the front door. */
	assert_int_equal(map(APIGW_V2, "{\"statusCode\":99}", &r), -EINVAL);
	assert_int_equal(map(APIGW_V2, "{\"statusCode\":\"x\"}", &r), -EINVAL);
	assert_int_equal(map(APIGW_V2, "{\"statusCode\":200,\"body\":1}", &r), -EINVAL);
	assert_int_equal(map(APIGW_V2, "{\"statusCode\":200,\"headers\":[]}", &r), -EINVAL);
	assert_int_equal(map(APIGW_V2, "{\"statusCode\":200,\"headers\":{\"a\":{}}}", &r), -EINVAL);
	assert_int_equal(map(APIGW_V2, "{\"statusCode\":200,\"headers\":{\"a\":\"b\\r\\nX: y\"}}",
			     &r), -EINVAL);
	assert_int_equal(map(APIGW_V2, "{\"statusCode\":200,\"cookies\":\"a=1\"}", &r), -EINVAL);
	assert_int_equal(map(APIGW_V2, "{\"statusCode\":200,\"isBase64Encoded\":true,"
				       "\"body\":\"!!\"}", &r), -EINVAL);
	assert_int_equal(map(APIGW_V2, "{oops", &r), -EINVAL);
}

static void test_apigw_v1_responses(void **state)
{
	struct apigw_response r;

	(void)state;
	assert_int_equal(map(APIGW_V1, "{\"statusCode\":200,\"headers\":{\"A\":\"1\",\"B\":\"2\"},"
				       "\"multiValueHeaders\":{\"B\":[\"3\",\"4\"]},\"body\":\"x\"}",
			     &r), 0);
	assert_string_equal(header(&r, "A", 0), "1");
	assert_string_equal(header(&r, "B", 0), "3");	/* multiValueHeaders win */
	assert_string_equal(header(&r, "B", 1), "4");
	assert_null(header(&r, "B", 2));
	apigw_response_free(&r);
	assert_int_equal(map(APIGW_V1, "\"bare\"", &r), -EINVAL);
	assert_int_equal(map(APIGW_V1, "{\"body\":\"no status\"}", &r), -EINVAL);
	assert_int_equal(map(APIGW_V1, "", &r), -EINVAL);
}

static void test_apigw_text_or_binary(void **state)
{
	(void)state;
	assert_true(apigw_is_text("application/json", "{}", 2));
	assert_true(apigw_is_text("text/html; charset=utf-8", "<p>", 3));
	assert_true(apigw_is_text("application/vnd.api+json", "{}", 2));
	assert_true(apigw_is_text(NULL, "plain", 5));
	assert_false(apigw_is_text("application/octet-stream", "abc", 3));
	assert_false(apigw_is_text("text/plain", "a\xff", 2));
	assert_false(apigw_is_text(NULL, "a\0b", 3));
}

static void test_apigw_event_v2(void **state)
{
	struct http_header h[] = { { "Host", "example" }, { "X-A", "1" }, { "x-a", "2" },
				   { "Cookie", "c1=v1; c2=v2" } };
	struct apigw_request r = { .method = "GET", .target = "/p/q?a=1&a=2&b=%41+c",
				   .protocol = "HTTP/1.1", .source_ip = "127.0.0.1", .headers = h,
				   .nheaders = 4, .body = "", .request_id = "rid",
				   .time_epoch_ms = 1583348638390 };
	char *ev;

	(void)state;
	ev = apigw_event(&r, APIGW_V2, NULL);
	assert_non_null(ev);
	assert_non_null(strstr(ev, "\"rawPath\":\"/p/q\""));
	assert_non_null(strstr(ev, "\"rawQueryString\":\"a=1&a=2&b=%41+c\""));
	assert_non_null(strstr(ev, "\"queryStringParameters\":{\"a\":\"1,2\",\"b\":\"A c\"}"));
	assert_non_null(strstr(ev, "\"x-a\":\"1,2\""));
	assert_non_null(strstr(ev, "\"cookies\":[\"c1=v1\",\"c2=v2\"]"));
	assert_non_null(strstr(ev, "\"time\":\"04/Mar/2020:19:03:58 +0000\""));
	assert_null(strstr(ev, "\"cookie\""));
	free(ev);
}

static void test_http_parser_limits(void **state)
{
	struct http_server_limits l = { .max_body = 10, .max_header_bytes = 200,
					.max_headers = 3, .max_connections = 1,
					.idle_timeout = 1 };
	const char two[] = "GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n";
	const char chunked[] = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
			       "3\r\nabc\r\n0\r\n\r\n";
	const char many[] = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
	const char big_body[] = "POST / HTTP/1.1\r\nContent-Length: 20\r\n\r\n01234567890123456789";
	char huge[400];
	unsigned n;

	(void)state;
	assert_int_equal(http_parse_buffer(two, strlen(two), &l, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(http_parse_buffer(chunked, strlen(chunked), &l, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(http_parse_buffer(many, strlen(many), &l, &n), -EINVAL);
	/* An oversized body is drained and flagged, not an error: the handler answers 413. */
	assert_int_equal(http_parse_buffer(big_body, strlen(big_body), &l, &n), 0);
	assert_int_equal(n, 1);
	snprintf(huge, sizeof(huge), "GET / HTTP/1.1\r\nX: %0300d\r\n\r\n", 0);
	assert_int_equal(http_parse_buffer(huge, strlen(huge), &l, &n), -EINVAL);
	assert_int_equal(http_parse_buffer("BLAH\r\n\r\n", 8, &l, &n), -EINVAL);
}

/* A streamed body (Lambda's streaming response) is handed over as it comes, past max_body, with
 * its trailers; past max_stream the connection is cut. */
static void test_http_streamed_bodies(void **state)
{
	struct http_server_limits l = { .max_body = 4, .max_header_bytes = 400,
					.max_headers = 8, .max_connections = 1,
					.idle_timeout = 1 };
	const char streamed[] = "POST /r HTTP/1.1\r\nLambda-Runtime-Function-Response-Mode: "
				"streaming\r\nTransfer-Encoding: chunked\r\n\r\n"
				"6\r\nfirst \r\n6\r\nsecond\r\n0\r\n"
				"Lambda-Runtime-Function-Error-Type: Function.X\r\n\r\n";
	size_t bytes = 0;
	unsigned n;

	(void)state;
	assert_int_equal(http_parse_buffer_streamed(streamed, strlen(streamed), &l, 0, &n, &bytes),
			 0);
	assert_int_equal(n, 1);
	assert_int_equal(bytes, 12);
	bytes = 0;
	assert_int_equal(http_parse_buffer_streamed(streamed, strlen(streamed), &l, 10, &n,
						    &bytes), -EINVAL);
	/* not marked: kept, and past max_body it is drained and flagged as ever */
	assert_int_equal(http_parse_buffer(streamed, strlen(streamed), &l, &n), 0);
}

static void test_base64_and_ids(void **state)
{
	char id[UUID_STR_LEN], id2[UUID_STR_LEN], *e, *d;
	size_t n;

	(void)state;
	for (size_t len = 0; len < 40; len++) {
		char data[40];

		for (size_t i = 0; i < len; i++)
			data[i] = (char)(i * 37 + len);
		e = base64_encode(data, len, NULL);
		d = base64_decode(e, strlen(e), &n);
		assert_int_equal(n, len);
		assert_memory_equal(d, data, len);
		free(e);
		free(d);
	}
	assert_null(base64_decode("a*b=", 4, &n));
	assert_null(base64_decode("ab=c", 4, &n));
	uuid_v4(id);
	uuid_v4(id2);
	assert_true(uuid_valid(id));
	assert_string_not_equal(id, id2);
	assert_int_equal(id[14], '4');
	assert_false(uuid_valid("not-a-uuid"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_billing_rule),
		cmocka_unit_test(test_report_line),
		cmocka_unit_test(test_json_string_escaping),
		cmocka_unit_test(test_apigw_v2_responses),
		cmocka_unit_test(test_apigw_v1_responses),
		cmocka_unit_test(test_apigw_text_or_binary),
		cmocka_unit_test(test_apigw_event_v2),
		cmocka_unit_test(test_http_parser_limits),
		cmocka_unit_test(test_http_streamed_bodies),
		cmocka_unit_test(test_base64_and_ids),
	};

	return cmocka_run_group_tests_name("host parts", tests, NULL, NULL);
}
