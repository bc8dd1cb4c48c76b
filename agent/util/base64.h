/* Standard base64 (RFC 4648, with padding). */
#ifndef VIGIL_BASE64_H
#define VIGIL_BASE64_H

#include <stddef.h>

/* Encode n bytes; a malloc'd NUL-terminated string (caller frees), NULL on ENOMEM. */
char *base64_encode(const void *data, size_t n, size_t *out_len);
/* Decode; whitespace is skipped. A malloc'd buffer (NUL-terminated, caller frees) or NULL
 * when the text is not base64 or on ENOMEM. */
char *base64_decode(const char *text, size_t n, size_t *out_len);

#endif
