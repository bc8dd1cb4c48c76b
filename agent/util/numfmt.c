/* Shortest round-trip number formatting. See numfmt.h. */
#include "numfmt.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Shortest fixed-point digits that read back as exactly v, for 1e-4 <= |v| < 1e9 (the
 * free-format algorithm of Steele & White on 128-bit integers). v = m / 2^k exactly; the
 * doubles next to v are half a gap away on each side (the lower gap halves when m is a
 * power of two). Fraction digits are generated until the rest, or its complement to the
 * next digit, lies strictly inside that half gap, so strtod rounds the text back to v.
 * Returns 0 outside the range (the caller uses printf).
 */
static int shortest_fixed(struct buf *out, double v)
{
	unsigned __int128 frac, one, lo, hi;
	unsigned long long whole, m;
	char digits[32];
	int exp2, k, n = 0;
	uint64_t bits;

	if (!(fabs(v) >= 1e-4 && fabs(v) < 1e9))
		return 0;
	memcpy(&bits, &v, sizeof(bits));
	exp2 = (int)((bits >> 52) & 0x7FF);
	m = (bits & ((1ULL << 52) - 1)) | (1ULL << 52);
	k = 1075 - exp2;		/* |v| = m / 2^k, with 22 <= k <= 67 here */
	if (k < 1 || k > 110)
		return 0;
	whole = (unsigned long long)(m >> (k < 64 ? k : 63) >> (k < 64 ? 0 : k - 63));
	/* Work in units of 2^-(k+2): the fraction, the whole unit, and the half gaps. */
	one = (unsigned __int128)1 << (k + 2);
	frac = ((unsigned __int128)m << 2) & (one - 1);
	hi = 2;
	lo = (bits & ((1ULL << 52) - 1)) == 0 && exp2 > 1 ? 1 : 2;
	for (;;) {
		int low_ok, high_ok;

		frac *= 10;
		lo *= 10;
		hi *= 10;
		digits[n++] = (char)('0' + (int)(frac >> (k + 2)));
		frac &= one - 1;
		low_ok = frac < lo;
		high_ok = frac + hi > one;
		if (low_ok && (!high_ok || frac * 2 < one))
			break;
		if (high_ok) {
			/* Round the last digit up, carrying into the whole part if need be. */
			int i = n - 1;

			while (i >= 0 && digits[i] == '9')
				digits[i--] = '0';
			if (i >= 0)
				digits[i]++;
			else
				whole++;
			break;
		}
		if (n == (int)sizeof(digits))
			return 0;
	}
	while (n > 0 && digits[n - 1] == '0')
		n--;
	if (v < 0)
		buf_putc(out, '-');
	buf_put_u64(out, whole);
	if (n > 0) {
		buf_putc(out, '.');
		buf_append(out, digits, (size_t)n);
	}
	return 1;
}

void numfmt_double(struct buf *out, double v)
{
	char tmp[40];

	if (fabs(v) < 9007199254740992.0 && v == (double)(long long)v) {
		buf_put_i64(out, (long long)v);
	} else if (shortest_fixed(out, v)) {
		return;
	} else {
		snprintf(tmp, sizeof(tmp), "%.15g", v);
		if (strtod(tmp, NULL) != v)
			snprintf(tmp, sizeof(tmp), "%.17g", v);
		buf_puts(out, tmp);
	}
}
