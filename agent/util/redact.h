/*
 * Secrets kept out of what vigil prints: a URL's password (userinfo) and the values of query
 * parameters whose names say they are credentials (key, token, secret, password, signature,
 * auth, credential, … in any case, as parts of longer names too: api_key, X-Amz-Signature).
 */
#ifndef VIGIL_REDACT_H
#define VIGIL_REDACT_H

#include <stdbool.h>
#include <stddef.h>

/* url with its secrets replaced by "***" into out (n bytes, always NUL-terminated; a URL
 * that does not fit is cut). Returns out. */
char *url_redact(const char *url, char *out, size_t n);
/* Whether url carries anything url_redact would hide. */
bool url_has_secret(const char *url);

#endif
