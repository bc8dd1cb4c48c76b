/* Unit tests of the Prometheus renderer (exporters/prometheus/render.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../exporters/prometheus/prometheus.h"

static char *escaped(const char *in)
{
	static char out[512];
	struct buf b;

	buf_init(&b);
	prom_escape_label(&b, in);
	snprintf(out, sizeof(out), "%s", b.data ? b.data : "");
	buf_free(&b);
	return out;
}

static void test_label_escaping(void **state)
{
	(void)state;
	assert_string_equal(escaped("plain"), "plain");
	assert_string_equal(escaped("a\\b"), "a\\\\b");
	assert_string_equal(escaped("say \"hi\""), "say \\\"hi\\\"");
	assert_string_equal(escaped("line1\nline2"), "line1\\nline2");
	assert_string_equal(escaped("\\\"\n"), "\\\\\\\"\\n");
	assert_string_equal(escaped("caf\xC3\xA9"), "caf\xC3\xA9");	/* valid UTF-8 kept */
	assert_string_equal(escaped("bad\xFFz"), "bad\xEF\xBF\xBDz");	/* invalid replaced */
	assert_string_equal(escaped("\xC3"), "\xEF\xBF\xBD");		/* truncated sequence */
	assert_string_equal(escaped("\xED\xA0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");
}

static char *value(double v)
{
	static char out[64];
	struct buf b;

	buf_init(&b);
	prom_format_value(&b, v);
	snprintf(out, sizeof(out), "%s", b.data);
	buf_free(&b);
	return out;
}

static void test_value_format(void **state)
{
	(void)state;
	assert_string_equal(value(0), "0");
	assert_string_equal(value(42), "42");
	assert_string_equal(value(-7), "-7");
	assert_string_equal(value(0.1), "0.1");
	assert_string_equal(value(1.5e-7), "1.5e-07");
	assert_string_equal(value(INFINITY), "+Inf");
	assert_string_equal(value(-INFINITY), "-Inf");
	assert_string_equal(value(NAN), "NaN");
	assert_true(strtod(value(0.1 + 0.2), NULL) == 0.1 + 0.2);	/* round trip */
	assert_string_equal(value(1e20), "1e+20");
	assert_string_equal(value(0.0001), "0.0001");
	assert_string_equal(value(0.00025), "0.00025");
	assert_string_equal(value(0.3), "0.3");
	assert_string_equal(value(0.1 + 0.2), "0.30000000000000004");
	assert_string_equal(value(2.5), "2.5");
	assert_string_equal(value(-13.7), "-13.7");
	assert_string_equal(value(123456789.125), "123456789.125");
	assert_string_equal(value(0.9999999999999999), "0.9999999999999999");
	assert_string_equal(value(1.0 / 3.0), "0.3333333333333333");
}

/* Property: every value reads back exactly and is never longer than printf's %.17g. */
static void test_value_round_trip(void **state)
{
	unsigned long long x = 88172645463325252ULL;
	char ref[64];

	(void)state;
	for (int i = 0; i < 300000; i++) {
		double v;
		char *s;

		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		switch (i % 4) {
		case 0: /* any bit pattern */
			memcpy(&v, &x, sizeof(v));
			if (isnan(v))
				continue;
			break;
		case 1: /* fractions */
			v = (double)(x % 1000003) / 1000003.0;
			break;
		case 2: /* durations and sums around the fixed-point range edges */
			v = ldexp((double)(x % (1ULL << 53)), (int)(x % 90) - 66 - 53 + 30);
			break;
		default: /* neighbours of short decimals */
			v = nextafter((double)(x % 100000) / 1000.0, (x & 1) ? 1e300 : -1e300);
			break;
		}
		s = value(v);
		if (strtod(s, NULL) != v)
			fail_msg("%.17g printed as %s", v, s);
		snprintf(ref, sizeof(ref), "%.17g", v);
		if (fabs(v) >= 1e-4 && fabs(v) < 1e9 && strlen(s) > strlen(ref))
			fail_msg("%s is longer than %s", s, ref);
	}
}

static struct metric_registry *sample_registry(void)
{
	static const double b[] = { 0.5, 1 };
	struct metric_registry *r = metric_registry_new(100);
	struct metric_desc c = { .name = "t_requests_total", .help = "Requests \\ with \"help\"\nok",
				 .type = METRIC_COUNTER, .labels = { "path", "code" } };
	struct metric_desc g = { .name = "t_temp_celsius", .help = "Temp.",
				 .type = METRIC_GAUGE };
	struct metric_desc h = { .name = "t_latency_seconds", .help = "Latency.",
				 .type = METRIC_HISTOGRAM, .unit = "seconds", .buckets = b,
				 .nbuckets = 2, .labels = { "fn" } };
	struct metric_desc i = { .name = "t_build_info", .help = "Build.", .type = METRIC_INFO,
				 .labels = { "version" } };
	struct metric_desc empty = { .name = "t_unused_total", .help = "Never used.",
				     .type = METRIC_COUNTER, .labels = { "x" } };

	metric_add(metric_with(metric_register(r, &c), "/a\"b", "200"), 3);
	metric_set(metric_series_get(metric_register(r, &g), NULL), -1.25);
	metric_observe(metric_with(metric_register(r, &h), "f"), 0.5);
	metric_set(metric_with(metric_register(r, &i), "1.0"), 1);
	metric_register(r, &empty);
	return r;
}

static void test_text_format(void **state)
{
	struct metric_registry *r = sample_registry();
	struct buf b;

	(void)state;
	buf_init(&b);
	assert_int_equal(prom_render(r, PROM_TEXT, &b), 0);
	assert_non_null(strstr(b.data, "# HELP t_requests_total Requests \\\\ with \"help\"\\nok\n"));
	assert_non_null(strstr(b.data, "# TYPE t_requests_total counter\n"));
	assert_non_null(strstr(b.data, "t_requests_total{path=\"/a\\\"b\",code=\"200\"} 3\n"));
	assert_non_null(strstr(b.data, "t_temp_celsius -1.25\n"));
	assert_non_null(strstr(b.data, "t_latency_seconds_bucket{fn=\"f\",le=\"0.5\"} 1\n"));
	assert_non_null(strstr(b.data, "t_latency_seconds_bucket{fn=\"f\",le=\"1\"} 1\n"));
	assert_non_null(strstr(b.data, "t_latency_seconds_bucket{fn=\"f\",le=\"+Inf\"} 1\n"));
	assert_non_null(strstr(b.data, "t_latency_seconds_sum{fn=\"f\"} 0.5\n"));
	assert_non_null(strstr(b.data, "t_latency_seconds_count{fn=\"f\"} 1\n"));
	assert_non_null(strstr(b.data, "# TYPE t_build_info gauge\n"));
	assert_null(strstr(b.data, "t_unused_total"));	/* no series: no family */
	assert_null(strstr(b.data, "# EOF"));
	assert_null(strstr(b.data, "# UNIT"));
	buf_free(&b);
	metric_registry_destroy(r);
}

static void test_openmetrics_format(void **state)
{
	struct metric_registry *r = sample_registry();
	struct buf b;
	size_t len;

	(void)state;
	buf_init(&b);
	assert_int_equal(prom_render(r, PROM_OPENMETRICS, &b), 0);
	assert_non_null(strstr(b.data, "# HELP t_requests Requests \\\\ with \\\"help\\\"\\nok\n"));
	assert_non_null(strstr(b.data, "# TYPE t_requests counter\n"));
	assert_non_null(strstr(b.data, "t_requests_total{path=\"/a\\\"b\",code=\"200\"} 3\n"));
	assert_non_null(strstr(b.data, "# TYPE t_build info\n"));
	assert_non_null(strstr(b.data, "t_build_info{version=\"1.0\"} 1\n"));
	assert_non_null(strstr(b.data, "# UNIT t_latency_seconds seconds\n"));
	len = strlen(b.data);
	assert_true(len > 6);
	assert_string_equal(b.data + len - 6, "# EOF\n");
	buf_free(&b);
	metric_registry_destroy(r);
}

static void test_negotiation(void **state)
{
	(void)state;
	assert_int_equal(prom_negotiate(NULL), PROM_TEXT);
	assert_int_equal(prom_negotiate(""), PROM_TEXT);
	assert_int_equal(prom_negotiate("*/*"), PROM_TEXT);
	assert_int_equal(prom_negotiate("text/plain;version=0.0.4"), PROM_TEXT);
	assert_int_equal(prom_negotiate("application/openmetrics-text"), PROM_OPENMETRICS);
	/* What Prometheus 2.42 sends. */
	assert_int_equal(prom_negotiate("application/openmetrics-text;version=1.0.0,application/"
					"openmetrics-text;version=0.0.1;q=0.75,text/plain;"
					"version=0.0.4;q=0.5,*/*;q=0.1"),
			 PROM_OPENMETRICS);
	assert_int_equal(prom_negotiate("application/openmetrics-text;q=0.2, text/plain"),
			 PROM_TEXT);
	assert_int_equal(prom_negotiate("application/openmetrics-text;q=0"), PROM_TEXT);
	assert_int_equal(prom_negotiate("application/openmetrics-text;q=banana"), PROM_TEXT);
	assert_int_equal(prom_negotiate(",,;;q=,application/openmetrics-text ; q=1"),
			 PROM_OPENMETRICS);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_label_escaping),
		cmocka_unit_test(test_value_format),
		cmocka_unit_test(test_value_round_trip),
		cmocka_unit_test(test_text_format),
		cmocka_unit_test(test_openmetrics_format),
		cmocka_unit_test(test_negotiation),
	};

	return cmocka_run_group_tests_name("render", tests, NULL, NULL);
}
