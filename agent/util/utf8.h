/* UTF-8 validation, shared by the exporters' escaping and the log parsers. */
#ifndef VIGIL_UTF8_H
#define VIGIL_UTF8_H

#include <stddef.h>

/* Length of the valid UTF-8 sequence at p (n bytes available): 1..4, or 0 when p does not
 * start a valid sequence (overlong forms, surrogates and code points past U+10FFFF are
 * invalid). */
static inline size_t utf8_char_len(const unsigned char *p, size_t n)
{
	size_t len;
	unsigned cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xC2 && p[0] <= 0xDF)
		len = 2, cp = p[0] & 0x1F;
	else if (p[0] >= 0xE0 && p[0] <= 0xEF)
		len = 3, cp = p[0] & 0x0F;
	else if (p[0] >= 0xF0 && p[0] <= 0xF4)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (n < len)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
		return 0;
	return len;
}

/* Whether s[0..n) is valid UTF-8 throughout. */
static inline int utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	for (size_t i = 0, l; i < n; i += l) {
		if (p[i] < 0x80) {
			l = 1;
			continue;
		}
		l = utf8_char_len(p + i, n - i);
		if (!l)
			return 0;
	}
	return 1;
}

/* s[0..n) into out with each byte that starts no valid sequence replaced by U+FFFD (out has
 * room for 3 * n bytes): its length. */
static inline size_t utf8_repair(const char *s, size_t n, char *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t o = 0;

	for (size_t i = 0, l; i < n; i += l) {
		l = utf8_char_len(p + i, n - i);
		if (l) {
			for (size_t k = 0; k < l; k++)
				out[o++] = s[i + k];
		} else {
			l = 1;
			out[o++] = (char)0xEF;
			out[o++] = (char)0xBF;
			out[o++] = (char)0xBD;
		}
	}
	return o;
}

#endif
