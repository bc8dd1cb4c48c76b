/* Random identifiers: UUID v4 strings and hex strings, from getrandom(2). */
#ifndef VIGIL_IDS_H
#define VIGIL_IDS_H

#include <stddef.h>

#define UUID_STR_LEN 37	/* 36 characters and the NUL */

void uuid_v4(char out[UUID_STR_LEN]);
/* n random bytes as 2n lowercase hex characters and a NUL (out holds 2n + 1). */
void random_hex(char *out, size_t n);
/* 1 when s has the 8-4-4-4-12 hex shape of a UUID. */
int uuid_valid(const char *s);

#endif
