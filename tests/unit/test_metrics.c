/* Unit tests of the metric registry (agent/core/metrics.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "../../agent/core/metrics.h"
#include "../../agent/util/log.h"

#define THREADS 8
#define PER_THREAD 200000

struct worker {
	struct metric_family *counter, *hist;
	int id;
};

static void *hammer(void *arg)
{
	struct worker *w = arg;
	struct metric_series *shared = metric_with(w->counter, "shared");
	struct metric_series *h = metric_series_get(w->hist, NULL);
	char own[16];

	snprintf(own, sizeof(own), "t%d", w->id);
	for (int i = 0; i < PER_THREAD; i++) {
		metric_inc(shared);
		/* Look the series up every time, racing creation against other threads. */
		metric_add(metric_with(w->counter, own), 0.5);
		metric_observe(h, (double)(i % 4));
	}
	return NULL;
}

static void test_concurrent_exact_totals(void **state)
{
	static const double b[] = { 0, 1, 2, 3 };
	struct metric_desc cd = { .name = "t_ops_total", .help = "h", .type = METRIC_COUNTER,
				  .labels = { "who" } };
	struct metric_desc hd = { .name = "t_seconds", .help = "h", .type = METRIC_HISTOGRAM,
				  .buckets = b, .nbuckets = 4 };
	struct metric_registry *r = metric_registry_new(100);
	struct worker w[THREADS];
	pthread_t th[THREADS];
	uint64_t cum[5];
	double sum;

	(void)state;
	for (int i = 0; i < THREADS; i++) {
		w[i].counter = i ? w[0].counter : metric_register(r, &cd);
		w[i].hist = i ? w[0].hist : metric_register(r, &hd);
		w[i].id = i;
	}
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, hammer, &w[i]), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);

	assert_true(metric_value(metric_with(w[0].counter, "shared")) ==
		    (double)THREADS * PER_THREAD);
	for (int i = 0; i < THREADS; i++) {
		char own[16];

		snprintf(own, sizeof(own), "t%d", i);
		assert_true(metric_value(metric_with(w[0].counter, own)) == PER_THREAD * 0.5);
	}
	assert_int_equal(atomic_load(&w[0].counter->nseries), THREADS + 1);
	metric_histogram_read(metric_series_get(w[0].hist, NULL), cum, &sum);
	assert_int_equal(cum[4], (uint64_t)THREADS * PER_THREAD);
	assert_int_equal(cum[0], (uint64_t)THREADS * PER_THREAD / 4);
	assert_true(sum == (double)THREADS * (PER_THREAD / 4) * (0 + 1 + 2 + 3));
	metric_registry_destroy(r);
}

static void test_histogram_bucket_edges(void **state)
{
	static const double b[] = { 0.001, 0.01, 0.1, 1 };
	struct metric_desc hd = { .name = "t_edges_seconds", .help = "h",
				  .type = METRIC_HISTOGRAM, .buckets = b, .nbuckets = 4 };
	struct metric_registry *r = metric_registry_new(10);
	struct metric_series *s = metric_series_get(metric_register(r, &hd), NULL);
	uint64_t cum[5];
	double sum;

	(void)state;
	metric_observe(s, 0.001);	/* equal to the first bound: first bucket */
	metric_observe(s, 0.0010001);	/* just above: second */
	metric_observe(s, 0.1);		/* equal to the third bound */
	metric_observe(s, 1);		/* equal to the last bound */
	metric_observe(s, 1.5);		/* +Inf only */
	metric_observe(s, -3);		/* below everything: first */
	metric_observe(s, 0.0 / 0.0);	/* NaN: ignored */
	metric_histogram_read(s, cum, &sum);
	assert_int_equal(cum[0], 2);
	assert_int_equal(cum[1], 3);
	assert_int_equal(cum[2], 4);
	assert_int_equal(cum[3], 5);
	assert_int_equal(cum[4], 6);
	assert_true(sum == 0.001 + 0.0010001 + 0.1 + 1 + 1.5 - 3);
	metric_registry_destroy(r);
}

static void test_standard_layouts(void **state)
{
	(void)state;
	assert_true(metric_buckets_duration[0] == 0.0001);
	assert_true(metric_buckets_duration[metric_buckets_duration_len - 1] == 900);
	for (size_t i = 1; i < metric_buckets_duration_len; i++)
		assert_true(metric_buckets_duration[i] > metric_buckets_duration[i - 1]);
	for (size_t i = 1; i < metric_buckets_memory_len; i++)
		assert_true(metric_buckets_memory[i] > metric_buckets_memory[i - 1]);
}

static void test_cardinality_cap(void **state)
{
	struct metric_desc cd = { .name = "t_capped_total", .help = "h", .type = METRIC_COUNTER,
				  .labels = { "k" }, .max_series = 3 };
	struct metric_registry *r = metric_registry_new(1000);
	struct metric_family *f = metric_register(r, &cd), *refused;
	struct metric_series *s;

	(void)state;
	assert_non_null(metric_with(f, "a"));
	assert_non_null(metric_with(f, "b"));
	assert_non_null(metric_with(f, "c"));
	assert_null(metric_with(f, "d"));
	assert_null(metric_with(f, "e"));
	metric_inc(metric_with(f, "e"));	/* NULL is a no-op, never a crash */
	assert_non_null(metric_with(f, "a"));	/* existing series still work */
	assert_int_equal(atomic_load(&f->nseries), 3);
	refused = metric_find(r, "vigil_metric_series_refused_total");
	assert_non_null(refused);
	s = metric_with(refused, "t_capped_total");
	assert_non_null(s);
	assert_true(metric_value(s) == 3.0);
	metric_registry_destroy(r);
}

static void test_default_cap_from_registry(void **state)
{
	struct metric_desc cd = { .name = "t_default_total", .help = "h",
				  .type = METRIC_COUNTER, .labels = { "k" } };
	struct metric_registry *r = metric_registry_new(2);
	struct metric_family *f = metric_register(r, &cd);

	(void)state;
	assert_non_null(metric_with(f, "x"));
	assert_non_null(metric_with(f, "y"));
	assert_null(metric_with(f, "z"));
	metric_registry_destroy(r);
}

static void test_registration_rules(void **state)
{
	struct metric_registry *r = metric_registry_new(10);
	struct metric_desc ok = { .name = "t_ok_total", .help = "h", .type = METRIC_COUNTER };
	struct metric_desc no_total = { .name = "t_bad", .help = "h", .type = METRIC_COUNTER };
	struct metric_desc bad_name = { .name = "1abc", .help = "h", .type = METRIC_GAUGE };
	struct metric_desc bad_label = { .name = "t_g", .help = "h", .type = METRIC_GAUGE,
					 .labels = { "le" } };
	struct metric_desc reserved = { .name = "t_g2", .help = "h", .type = METRIC_GAUGE,
					.labels = { "__x" } };
	struct metric_desc no_help = { .name = "t_g3", .type = METRIC_GAUGE };
	static const double down[] = { 2, 1 };
	struct metric_desc bad_buckets = { .name = "t_h", .help = "h", .type = METRIC_HISTOGRAM,
					   .buckets = down, .nbuckets = 2 };

	(void)state;
	log_set_level(LOG_OFF);
	struct metric_desc clash = { .name = "t_ok_total", .help = "h", .type = METRIC_COUNTER,
				     .labels = { "reason" } };
	struct metric_family *f = metric_register(r, &ok);

	assert_non_null(f);
	/* The same family registered again by another part: the one family. */
	assert_ptr_equal(metric_register(r, &ok), f);
	assert_null(metric_register(r, &clash));	/* the same name, another shape */
	assert_null(metric_register(r, &no_total));
	assert_null(metric_register(r, &bad_name));
	assert_null(metric_register(r, &bad_label));
	assert_null(metric_register(r, &reserved));
	assert_null(metric_register(r, &no_help));
	assert_null(metric_register(r, &bad_buckets));
	assert_true(metric_name_valid("a:b_c9"));
	assert_false(metric_label_name_valid("a:b"));
	log_set_level(LOG_INFO);
	metric_registry_destroy(r);
}

static void test_long_label_value_cut_on_utf8_boundary(void **state)
{
	struct metric_desc gd = { .name = "t_long", .help = "h", .type = METRIC_GAUGE,
				  .labels = { "v" } };
	struct metric_registry *r = metric_registry_new(10);
	struct metric_family *f = metric_register(r, &gd);
	char big[600];
	struct metric_series *s;

	(void)state;
	/* 'a' then 2-byte characters: the cut at 256 bytes would split one. */
	big[0] = 'a';
	for (int i = 1; i < 599; i += 2) {
		big[i] = (char)0xC3;
		big[i + 1] = (char)0xA9;
	}
	big[599] = '\0';
	s = metric_with(f, big);
	assert_non_null(s);
	assert_int_equal(strlen(s->values[0]), 255);
	metric_registry_destroy(r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrent_exact_totals),
		cmocka_unit_test(test_histogram_bucket_edges),
		cmocka_unit_test(test_standard_layouts),
		cmocka_unit_test(test_cardinality_cap),
		cmocka_unit_test(test_default_cap_from_registry),
		cmocka_unit_test(test_registration_rules),
		cmocka_unit_test(test_long_label_value_cut_on_utf8_boundary),
	};

	return cmocka_run_group_tests_name("metrics", tests, NULL, NULL);
}
