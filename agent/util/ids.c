/* Random identifiers from getrandom(2). */
#include "ids.h"

#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

/* Random bytes come from a pool refilled 4 KiB at a time: one getrandom(2) per ~100 ids
 * instead of one per id. The pool is per thread. */
static _Thread_local uint8_t pool[4096];
static _Thread_local size_t pool_left;

static void fill_random_raw(uint8_t *p, size_t n);

static void fill_random(uint8_t *p, size_t n)
{
	if (n > sizeof(pool)) {
		fill_random_raw(p, n);
		return;
	}
	if (pool_left < n) {
		fill_random_raw(pool, sizeof(pool));
		pool_left = sizeof(pool);
	}
	memcpy(p, pool + sizeof(pool) - pool_left, n);
	memset(pool + sizeof(pool) - pool_left, 0, n);
	pool_left -= n;
}

static void fill_random_raw(uint8_t *p, size_t n)
{
	size_t got = 0;

	while (got < n) {
		ssize_t r = getrandom(p + got, n - got, 0);

		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (got < n) {
		/* No entropy source: never expected on Linux >= 3.17; stay unique anyway. */
		uint64_t x = (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)p;

		for (size_t i = got; i < n; i++) {
			x = x * 6364136223846793005ULL + 1442695040888963407ULL;
			p[i] = (uint8_t)(x >> 56);
		}
	}
}

void uuid_v4(char out[UUID_STR_LEN])
{
	uint8_t b[16];

	fill_random(b, sizeof(b));
	b[6] = (uint8_t)((b[6] & 0x0F) | 0x40);
	b[8] = (uint8_t)((b[8] & 0x3F) | 0x80);
	snprintf(out, UUID_STR_LEN,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
		 b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
		 b[14], b[15]);
}

void random_hex(char *out, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t b[64];

	if (n > sizeof(b))
		n = sizeof(b);
	fill_random(b, n);
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[2 * n] = '\0';
}

int uuid_valid(const char *s)
{
	if (!s || strlen(s) != 36)
		return 0;
	for (int i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-')
				return 0;
		} else if (!isxdigit((unsigned char)s[i])) {
			return 0;
		}
	}
	return 1;
}
