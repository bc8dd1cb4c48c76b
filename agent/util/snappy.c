/* Snappy's raw format, compressed. See snappy.h. */
#include "snappy.h"

#include <stdint.h>
#include <string.h>

#define FRAGMENT 65536u
#define HASH_BITS 14

size_t snappy_bound(size_t n)
{
	return 32 + n + n / 6;
}

static uint32_t load32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t hash(uint32_t v)
{
	return (v * 0x1e35a7bdu) >> (32 - HASH_BITS);
}

static uint8_t *put_varint(uint8_t *o, uint64_t v)
{
	while (v >= 0x80) {
		*o++ = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	*o++ = (uint8_t)v;
	return o;
}

static uint8_t *literal(uint8_t *o, const uint8_t *p, size_t n)
{
	size_t m = n - 1;

	if (!n)
		return o;
	if (m < 60) {
		*o++ = (uint8_t)(m << 2);
	} else {
		int bytes = m < (1u << 8) ? 1 : m < (1u << 16) ? 2 : m < (1u << 24) ? 3 : 4;

		*o++ = (uint8_t)((59 + bytes) << 2);
		for (int i = 0; i < bytes; i++)
			*o++ = (uint8_t)(m >> (8 * i));
	}
	memcpy(o, p, n);
	return o + n;
}

/* One copy of len (1..64) bytes from offset back (< 65536). */
static uint8_t *copy1(uint8_t *o, size_t offset, size_t len)
{
	if (len >= 4 && len <= 11 && offset < 2048) {
		*o++ = (uint8_t)(1 | ((len - 4) << 2) | ((offset >> 8) << 5));
		*o++ = (uint8_t)offset;
	} else {
		*o++ = (uint8_t)(2 | ((len - 1) << 2));
		*o++ = (uint8_t)offset;
		*o++ = (uint8_t)(offset >> 8);
	}
	return o;
}

static uint8_t *copy(uint8_t *o, size_t offset, size_t len)
{
	while (len >= 68) {
		o = copy1(o, offset, 64);
		len -= 64;
	}
	if (len > 64) {
		o = copy1(o, offset, 60);
		len -= 60;
	}
	return copy1(o, offset, len);
}

static uint8_t *fragment(uint8_t *o, const uint8_t *p, size_t n, uint16_t *table)
{
	size_t i = 0, lit = 0, limit = n >= 15 ? n - 15 : 0;
	unsigned misses = 32;

	memset(table, 0, sizeof(uint16_t) << HASH_BITS);
	while (i < limit) {
		uint32_t h = hash(load32(p + i));
		size_t cand = table[h];

		table[h] = (uint16_t)i;
		if (cand < i && load32(p + cand) == load32(p + i)) {
			size_t len = 4;

			while (i + len < n && p[cand + len] == p[i + len])
				len++;
			o = literal(o, p + lit, i - lit);
			o = copy(o, i - cand, len);
			i += len;
			lit = i;
			misses = 32;
			if (i - 1 < limit)	/* the position just before, for the next match */
				table[hash(load32(p + i - 1))] = (uint16_t)(i - 1);
		} else {
			i += misses++ >> 5;	/* faster over data that does not repeat */
		}
	}
	return literal(o, p + lit, n - lit);
}

size_t snappy_encode(const void *in, size_t n, void *out)
{
	const uint8_t *p = in;
	uint8_t *o = put_varint(out, n);
	uint16_t table[1u << HASH_BITS];

	for (size_t at = 0; at < n; at += FRAGMENT)
		o = fragment(o, p + at, n - at < FRAGMENT ? n - at : FRAGMENT, table);
	return (size_t)(o - (uint8_t *)out);
}
