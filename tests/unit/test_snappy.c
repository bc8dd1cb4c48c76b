/* vigil's snappy compressor (agent/util/snappy.c), decoded by libsnappy: every kind of input
 * round-trips, and the size is close to libsnappy's own. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/util/snappy.h"

/* ours → libsnappy's decoder → the input; returns our compressed size. */
static size_t round_trip(const uint8_t *in, size_t n)
{
	uint8_t *c = malloc(snappy_bound(n)), *d = malloc(n ? n : 1);
	size_t cn, dn = n;

	assert_non_null(c);
	assert_non_null(d);
	cn = snappy_encode(in, n, c);
	assert_true(cn <= snappy_bound(n));
	assert_int_equal(snappy_validate_compressed_buffer((const char *)c, cn), SNAPPY_OK);
	assert_int_equal(snappy_uncompress((const char *)c, cn, (char *)d, &dn), SNAPPY_OK);
	assert_int_equal(dn, n);
	assert_memory_equal(d, in, n ? n : 0);
	free(c);
	free(d);
	return cn;
}

static size_t theirs(const uint8_t *in, size_t n)
{
	size_t cap = snappy_max_compressed_length(n);
	char *c = malloc(cap);

	assert_int_equal(snappy_compress((const char *)in, n, c, &cap), SNAPPY_OK);
	free(c);
	return cap;
}

static void test_edges(void **state)
{
	uint8_t b[300];

	(void)state;
	round_trip(NULL, 0);
	for (size_t n = 1; n < sizeof(b); n++) {
		memset(b, 'a', n);
		round_trip(b, n);
		for (size_t i = 0; i < n; i++)
			b[i] = (uint8_t)(i * 7);
		round_trip(b, n);
	}
}

static void test_random_and_text(void **state)
{
	size_t n = 3u << 20, ours, ref;
	uint8_t *b = malloc(n);
	uint32_t x = 12345;

	(void)state;
	for (size_t i = 0; i < n; i++) {	/* incompressible */
		x = x * 1103515245u + 12345u;
		b[i] = (uint8_t)(x >> 16);
	}
	round_trip(b, n);
	/* metric-like text: what remote_write compresses */
	for (size_t at = 0, i = 0; at + 200 < n; i++)
		at += (size_t)snprintf((char *)b + at, 200,
				       "vigil_invocation_duration_seconds_bucket{function=\"fn%zu\","
				       "le=\"%g\"} %zu\n", i % 7, (double)(i % 40) / 10, i * 31 % 977);
	ours = round_trip(b, n);
	ref = theirs(b, n);
	printf("text: ours %zu, libsnappy %zu bytes (%.3f×)\n", ours, ref, (double)ours / ref);
	assert_true(ours <= ref * 13 / 10);
	/* every fragment boundary, long matches, lengths of every size */
	for (size_t i = 0; i < n; i++)
		b[i] = (uint8_t)((i / 97) % 251);
	round_trip(b, n);
	for (size_t cut = 65530; cut < 65542; cut++)
		round_trip(b, cut);
	free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_edges),
		cmocka_unit_test(test_random_and_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
