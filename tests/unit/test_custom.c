/* Unit tests of the function's own metrics: core/custom.c (names, labels, caps), the StatsD
 * parser and listener's intake (agent/receiver/statsd.c), EMF recognition (core/emf_in.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "../../agent/core/custom.h"
#include "../../agent/core/emf_in.h"
#include "../../agent/core/metrics.h"
#include "../../agent/receiver/statsd.h"
#include "../../agent/util/log.h"

struct fx {
	struct metric_registry *r;
	struct custom_metrics *c;
	struct statsd *s;
	struct emf_in *e;
};

static int setup(void **state)
{
	static struct fx f;
	struct custom_options o = { .max_families = 20, .max_series = 5 };

	f.r = metric_registry_new(100);
	f.c = custom_metrics_new(f.r, &o);
	f.s = statsd_new(f.c, f.r);
	f.e = emf_in_new(f.c, f.r, "vigil");
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	statsd_stop(f->s);
	emf_in_free(f->e);
	custom_metrics_free(f->c);
	metric_registry_destroy(f->r);
	return 0;
}

/* The value of name{labels…} (label=value pairs in the family's order), NAN when absent. */
static double value(struct metric_registry *r, const char *name, const char *const *values)
{
	struct metric_family *f = metric_find(r, name);

	if (!f)
		return NAN;
	for (struct metric_series *s = metric_first(f); s; s = metric_next(s)) {
		bool same = true;

		for (unsigned i = 0; i < f->nlabels && values; i++)
			same &= strcmp(s->values[i], values[i]) == 0;
		if (same)
			return metric_value(s);
	}
	return NAN;
}

static double rejected(struct metric_registry *r, const char *source, const char *reason)
{
	return value(r, "vigil_custom_metrics_rejected_total", (const char *const[]){ source, reason });
}

static void datagram(struct fx *f, const char *text)
{
	char buf[4096];
	size_t n = strlen(text);

	memcpy(buf, text, n + 1);
	statsd_datagram(f->s, buf, n);
}

static void test_names(void **state)
{
	char out[128];
	static const char *const cases[][2] = {
		{ "bookingTime", "booking_time" }, { "HTTPRequests", "http_requests" },
		{ "orders.placed", "orders_placed" }, { "9lives", "_9lives" },
		{ "a-b c", "a_b_c" }, { "Orders", "orders" }, { "already_snake", "already_snake" },
		{ "cpu:usage", "cpu:usage" }, { "userID2Count", "user_id2_count" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_true(custom_valid_name(cases[i][0], strlen(cases[i][0]), out, sizeof(out), false));
		assert_string_equal(out, cases[i][1]);
	}
	assert_true(custom_valid_name("Service", 7, out, sizeof(out), true));
	assert_string_equal(out, "Service");	/* labels keep their case */
	assert_true(custom_valid_name("__name__", 8, out, sizeof(out), true));
	assert_string_equal(out, "x_name__");
	assert_true(custom_valid_name("a:b", 3, out, sizeof(out), true));
	assert_string_equal(out, "a_b");
	assert_false(custom_valid_name("", 0, out, sizeof(out), false));
}

static void test_statsd_parse(void **state)
{
	struct statsd_metric m;
	char line[256];

	(void)state;
	strcpy(line, "page.views:3|c|@0.5|#env:prod,shop:north,flag");
	assert_int_equal(statsd_parse_line(line, strlen(line), &m), 0);
	assert_string_equal(m.name, "page.views");
	assert_int_equal(m.type, STATSD_COUNTER);
	assert_true(m.rate == 0.5 && m.nvalues == 1 && m.values[0] == 3);
	assert_int_equal(m.ntags, 3);
	assert_string_equal(m.tags[1].key, "shop");
	assert_string_equal(m.tags[1].value, "north");
	assert_string_equal(m.tags[2].value, "");
	strcpy(line, "lat:1:2:3|d");
	assert_int_equal(statsd_parse_line(line, strlen(line), &m), 0);
	assert_int_equal(m.nvalues, 3);
	strcpy(line, "q:-4|g");
	assert_int_equal(statsd_parse_line(line, strlen(line), &m), 0);
	assert_true(m.relative && m.values[0] == -4);
	strcpy(line, "u:someone|s");
	assert_int_equal(statsd_parse_line(line, strlen(line), &m), 0);
	assert_string_equal(m.set_values[0], "someone");
	strcpy(line, "_e{1,1}:a|b");
	assert_int_equal(statsd_parse_line(line, strlen(line), &m), 1);
	static const char *const bad[] = { "x", "x:1", "x:1|q", ":1|c", "x:|c", "x:1|c|@0",
					   "x:1|c|@1.5", "x:nan|g", "x:1e999|ms", "x:1:-2|g",
					   "x:a|c" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		strcpy(line, bad[i]);
		assert_int_equal(statsd_parse_line(line, strlen(line), &m), -1);
	}
}

static void test_statsd_into_registry(void **state)
{
	struct fx *f = *state;
	uint64_t cum[40];
	double sum;

	datagram(f, "hits:2|c|#k:v\nhits:1|c|@0.5|#k:v\ndepth:10|g\ndepth:-3|g\ndepth:+1|g\n"
		    "db:250|ms|#t:x\nsize:5|h\nusers:a|s\nusers:b|s\nusers:a|s\nbroken\n");
	assert_true(value(f->r, "hits_total", (const char *const[]){ "v" }) == 4);
	assert_true(value(f->r, "depth", NULL) == 8);
	assert_true(value(f->r, "users", NULL) == 2);
	{
		struct metric_family *h = metric_find(f->r, "db_seconds");

		assert_non_null(h);
		metric_histogram_read(metric_first(h), cum, &sum);
		assert_true(fabs(sum - 0.25) < 1e-12);
		assert_int_equal(cum[h->nbuckets], 1);
	}
	/* A later point's new tag is dropped (counted); a missing one is empty. */
	datagram(f, "hits:1|c|#k:v,extra:1");
	datagram(f, "hits:1|c");
	assert_true(value(f->r, "hits_total", (const char *const[]){ "v" }) == 5);
	assert_true(value(f->r, "hits_total", (const char *const[]){ "" }) == 1);
	assert_true(rejected(f->r, "statsd", "labels") == 1);
	/* Same name, other kind: refused and counted. */
	datagram(f, "depth:1|h");
	assert_true(rejected(f->r, "statsd", "type") == 1);
}

static void test_caps(void **state)
{
	struct fx *f = *state;
	char line[64];

	/* Series per metric: 5. */
	for (int i = 0; i < 8; i++) {
		snprintf(line, sizeof(line), "capped:1|c|#id:%d", i);
		datagram(f, line);
	}
	assert_true(rejected(f->r, "statsd", "series") == 3);
	/* Metrics: 20 in all (this fixture's earlier ones count). */
	for (int i = 0; i < 30; i++) {
		snprintf(line, sizeof(line), "many%d:1|g", i);
		datagram(f, line);
	}
	assert_true(rejected(f->r, "statsd", "metrics") > 0);
	/* vigil's own names are never taken over. */
	datagram(f, "vigil_custom_metrics_rejected:1|c");
	assert_true(rejected(f->r, "statsd", "clash") >= 1 || rejected(f->r, "statsd", "metrics") > 0);
}

static const char emf_doc[] =
	"2024-01-01T00:00:00.000Z\tid\tINFO\t"
	"{\"_aws\":{\"Timestamp\":1700000000000,\"CloudWatchMetrics\":[{\"Namespace\":\"ns\","
	"\"Dimensions\":[[\"Service\"],[\"Service\",\"Op\"]],\"Metrics\":["
	"{\"Name\":\"Calls\",\"Unit\":\"Count\"},{\"Name\":\"Time\",\"Unit\":\"Milliseconds\","
	"\"StorageResolution\":1},{\"Name\":\"Load\"},{\"Name\":\"Rate\",\"Unit\":\"Count/Second\"}]}]},"
	"\"Service\":\"api\",\"Op\":\"get\",\"Calls\":[1,2],\"Time\":{\"Values\":[10,20],"
	"\"Counts\":[1,3]},\"Load\":0.5,\"Rate\":7}";

static void test_emf(void **state)
{
	struct fx *f = *state;
	struct metric_family *t;
	uint64_t cum[40];
	double sum;

	assert_int_equal(emf_in_line(f->e, emf_doc, strlen(emf_doc)), 1);
	assert_true(value(f->r, "calls_total", (const char *const[]){ "api", "" }) == 3);
	assert_true(value(f->r, "calls_total", (const char *const[]){ "api", "get" }) == 3);
	assert_true(value(f->r, "load", (const char *const[]){ "api", "get" }) == 0.5);
	assert_true(value(f->r, "rate_count_per_second", (const char *const[]){ "api", "get" }) == 7);
	t = metric_find(f->r, "time_seconds");
	assert_non_null(t);
	metric_histogram_read(metric_first(t), cum, &sum);
	assert_int_equal(cum[t->nbuckets], 4);
	assert_true(fabs(sum - 0.07) < 1e-12);
	/* Not EMF: no brace, no _aws, a message that only mentions it. */
	assert_int_equal(emf_in_line(f->e, "plain text", 10), 0);
	assert_int_equal(emf_in_line(f->e, "{\"a\":1}", 7), 0);
	assert_int_equal(emf_in_line(f->e, "see {\"_aws\" docs", 16), 0);
	/* vigil's own namespace is not the function's. */
	{
		const char own[] = "{\"_aws\":{\"Timestamp\":1,\"CloudWatchMetrics\":[{\"Namespace\":"
				   "\"vigil\",\"Dimensions\":[],\"Metrics\":[{\"Name\":\"Own\"}]}]},"
				   "\"Own\":1}";

		assert_int_equal(emf_in_line(f->e, own, strlen(own)), 0);
		assert_null(metric_find(f->r, "own"));
	}
}

static void test_emf_invalid(void **state)
{
	struct fx *f = *state;
	static const char *const bad[] = {
		/* no Timestamp */
		"{\"_aws\":{\"CloudWatchMetrics\":[{\"Namespace\":\"n\",\"Metrics\":[{\"Name\":\"A\"}]}]},\"A\":1}",
		/* a metric without its member */
		"{\"_aws\":{\"Timestamp\":1,\"CloudWatchMetrics\":[{\"Namespace\":\"n\",\"Metrics\":[{\"Name\":\"A\"}]}]}}",
		/* a dimension that is not a string member */
		"{\"_aws\":{\"Timestamp\":1,\"CloudWatchMetrics\":[{\"Namespace\":\"n\",\"Dimensions\":[[\"D\"]],\"Metrics\":[{\"Name\":\"A\"}]}]},\"A\":1,\"D\":5}",
		/* an unknown unit */
		"{\"_aws\":{\"Timestamp\":1,\"CloudWatchMetrics\":[{\"Namespace\":\"n\",\"Metrics\":[{\"Name\":\"A\",\"Unit\":\"Parsecs\"}]}]},\"A\":1}",
		/* StorageResolution other than 1 or 60 */
		"{\"_aws\":{\"Timestamp\":1,\"CloudWatchMetrics\":[{\"Namespace\":\"n\",\"Metrics\":[{\"Name\":\"A\",\"StorageResolution\":5}]}]},\"A\":1}",
		/* a value that is no number */
		"{\"_aws\":{\"Timestamp\":1,\"CloudWatchMetrics\":[{\"Namespace\":\"n\",\"Metrics\":[{\"Name\":\"A\"}]}]},\"A\":\"1\"}",
		/* an empty namespace, no directives */
		"{\"_aws\":{\"Timestamp\":1,\"CloudWatchMetrics\":[{\"Namespace\":\"\",\"Metrics\":[]}]}}",
		"{\"_aws\":{\"Timestamp\":1,\"CloudWatchMetrics\":[]}}",
		/* 101 values */
		NULL,
	};
	char big[2048];
	size_t o;

	for (size_t i = 0; bad[i]; i++)
		assert_int_equal(emf_in_line(f->e, bad[i], strlen(bad[i])), -1);
	o = (size_t)snprintf(big, sizeof(big), "{\"_aws\":{\"Timestamp\":1,\"CloudWatchMetrics\":"
				 "[{\"Namespace\":\"n\",\"Metrics\":[{\"Name\":\"A\"}]}]},\"A\":[");
	for (int i = 0; i < 101; i++)
		o += (size_t)snprintf(big + o, sizeof(big) - o, "%s1", i ? "," : "");
	snprintf(big + o, sizeof(big) - o, "]}");
	assert_int_equal(emf_in_line(f->e, big, strlen(big)), -1);
	assert_null(metric_find(f->r, "a"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_statsd_parse),
		cmocka_unit_test_setup_teardown(test_statsd_into_registry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_caps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_emf, setup, teardown),
		cmocka_unit_test_setup_teardown(test_emf_invalid, setup, teardown),
	};

	log_set_level(LOG_OFF);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
