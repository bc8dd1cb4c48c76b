/* JSON string literals: quoted, with Lambda's escapes (\" \\ \n \r \t, \u00XX below 0x20);
 * other bytes, UTF-8 or not, pass through as they are. */
#ifndef VIGIL_JSON_STR_H
#define VIGIL_JSON_STR_H

#include <stddef.h>

#include "buf.h"

/* Append s (NUL-terminated) as a JSON string literal. */
void json_put_string(struct buf *b, const char *s);
/* The same for n bytes of s. */
void json_put_stringn(struct buf *b, const char *s, size_t n);

#endif
