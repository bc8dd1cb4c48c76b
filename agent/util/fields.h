/*
 * Small text readers instead of sscanf and strptime (which pull 90 KB of glibc into the
 * layer's static binary): whitespace-separated fields, decimal numbers, and the two time
 * formats vigil reads (ISO 8601 to the second, HTTP's IMF-fixdate).
 */
#ifndef VIGIL_FIELDS_H
#define VIGIL_FIELDS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

/* The whitespace-separated fields of s (up to its NUL or newline): at most max, each its start
 * and length. The number found. */
size_t fields_split(const char *s, const char **start, size_t *len, size_t max);
/* A whole field as a decimal number (a '-' for the signed one). false when it is not. */
bool field_u64(const char *p, size_t n, unsigned long long *out);
bool field_i64(const char *p, size_t n, long long *out);
/* The n decimal digits at s as a number, or -1. */
int field_digits(const char *s, int n);
/* "YYYY-MM-DDTHH:MM:SS" at s into tm (UTC fields): past it, or NULL. */
const char *parse_iso_seconds(const char *s, struct tm *tm);
/* An HTTP date ("Sun, 06 Nov 1994 08:49:37 GMT") into tm. false when it is not one. */
bool parse_http_date(const char *s, struct tm *tm);

/* UTC calendar time of seconds since the epoch, and back (gmtime_r and timegm without glibc's
 * time-zone code, which reads TZ with sscanf). */
void utc_tm(long long secs, struct tm *tm);
long long utc_secs(const struct tm *tm);
/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
long long days_from_civil(long long y, unsigned m, unsigned d);

#endif
