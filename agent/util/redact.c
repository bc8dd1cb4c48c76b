/* Secrets out of printed URLs. See redact.h. */
#include "redact.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Whether a query parameter's name says its value is a credential. */
static bool secret_name(const char *name, size_t n)
{
	static const char *const words[] = { "key", "token", "secret", "passw", "pwd",
					     "signature", "sig", "auth", "credential",
					     "session", "apikey" };
	char lower[64];

	if (n == 0 || n >= sizeof(lower))
		return n >= sizeof(lower);	/* a name that long: hide its value */
	for (size_t i = 0; i < n; i++)
		lower[i] = (char)((name[i] >= 'A' && name[i] <= 'Z') ? name[i] + 32 : name[i]);
	lower[n] = '\0';
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
		if (strstr(lower, words[i]))
			return true;
	}
	return false;
}

/* Append s[0..len) to out at *at (room n), keeping it NUL-terminated. */
static void put(char *out, size_t n, size_t *at, const char *s, size_t len)
{
	if (*at + 1 >= n)
		return;
	if (len > n - 1 - *at)
		len = n - 1 - *at;
	memcpy(out + *at, s, len);
	*at += len;
	out[*at] = '\0';
}

char *url_redact(const char *url, char *out, size_t n)
{
	const char *scheme = strstr(url, "://"), *auth, *end_auth, *at_sign, *q, *p;
	size_t at = 0;

	if (!n)
		return out;
	out[0] = '\0';
	auth = scheme ? scheme + 3 : url;
	end_auth = auth + strcspn(auth, "/?#");
	at_sign = memchr(auth, '@', (size_t)(end_auth - auth));
	if (at_sign) {
		const char *colon = memchr(auth, ':', (size_t)(at_sign - auth));

		put(out, n, &at, url, (size_t)((colon ? colon : at_sign) - url));
		if (colon)
			put(out, n, &at, ":***", 4);
		p = at_sign;
	} else {
		p = url;
	}
	q = strchr(p, '?');
	if (!q) {
		put(out, n, &at, p, strlen(p));
		return out;
	}
	put(out, n, &at, p, (size_t)(q + 1 - p));
	for (p = q + 1; *p && *p != '#';) {
		size_t len = strcspn(p, "&#"), name = strcspn(p, "=&#");

		if (name < len && secret_name(p, name)) {
			put(out, n, &at, p, name + 1);
			put(out, n, &at, "***", 3);
		} else {
			put(out, n, &at, p, len);
		}
		p += len;
		if (*p == '&')
			put(out, n, &at, p++, 1);
	}
	put(out, n, &at, p, strlen(p));
	return out;
}

bool url_has_secret(const char *url)
{
	char a[2048];

	url_redact(url, a, sizeof(a));
	return strlen(url) < sizeof(a) && strcmp(a, url) != 0;
}
