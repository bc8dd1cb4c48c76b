/* Small text readers. See fields.h. */
#include "fields.h"

#include <string.h>

size_t fields_split(const char *s, const char **start, size_t *len, size_t max)
{
	size_t n = 0;

	while (*s && *s != '\n' && n < max) {
		while (*s == ' ' || *s == '\t')
			s++;
		if (!*s || *s == '\n')
			break;
		start[n] = s;
		while (*s && *s != ' ' && *s != '\t' && *s != '\n')
			s++;
		len[n] = (size_t)(s - start[n]);
		n++;
	}
	return n;
}

bool field_u64(const char *p, size_t n, unsigned long long *out)
{
	unsigned long long v = 0;

	if (!n)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned d = (unsigned)(p[i] - '0');

		if (p[i] < '0' || p[i] > '9' || v > (~0ull - d) / 10)
			return false;
		v = v * 10 + d;
	}
	*out = v;
	return true;
}

bool field_i64(const char *p, size_t n, long long *out)
{
	unsigned long long v;
	bool neg = n && p[0] == '-';

	if (!field_u64(p + neg, n - neg, &v) || v > (unsigned long long)9223372036854775807LL)
		return false;
	*out = neg ? -(long long)v : (long long)v;
	return true;
}

int field_digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static bool set_time(struct tm *tm, int y, int mo, int d, int h, int mi, int s)
{
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 || h > 23 || mi < 0 ||
	    mi > 59 || s < 0 || s > 60)
		return false;
	memset(tm, 0, sizeof(*tm));
	tm->tm_year = y - 1900;
	tm->tm_mon = mo - 1;
	tm->tm_mday = d;
	tm->tm_hour = h;
	tm->tm_min = mi;
	tm->tm_sec = s;
	return true;
}

const char *parse_iso_seconds(const char *s, struct tm *tm)
{
	if (strnlen(s, 19) < 19 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') ||
	    s[13] != ':' || s[16] != ':')
		return NULL;
	if (!set_time(tm, field_digits(s, 4), field_digits(s + 5, 2), field_digits(s + 8, 2),
		      field_digits(s + 11, 2), field_digits(s + 14, 2), field_digits(s + 17, 2)))
		return NULL;
	return s + 19;
}

bool parse_http_date(const char *s, struct tm *tm)
{
	static const char months[] = "JanFebMarAprMayJunJulAugSepOctNovDec";
	int mo = 0;

	/* "Sun, 06 Nov 1994 08:49:37 GMT": 29 characters. */
	if (strlen(s) != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' ||
	    s[16] != ' ' || s[19] != ':' || s[22] != ':' || strcmp(s + 25, " GMT") != 0)
		return false;
	for (int i = 0; i < 12 && !mo; i++)
		if (strncmp(s + 8, months + 3 * i, 3) == 0)
			mo = i + 1;
	return mo && set_time(tm, field_digits(s + 12, 4), mo, field_digits(s + 5, 2),
			      field_digits(s + 17, 2), field_digits(s + 20, 2),
			      field_digits(s + 23, 2));
}

long long days_from_civil(long long y, unsigned m, unsigned d)
{
	long long era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long long)doe - 719468;
}

void utc_tm(long long secs, struct tm *tm)
{
	long long days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	long long rem = secs - days * 86400, z = days + 719468, era, y;
	unsigned doe, yoe, doy, mp, d, m;

	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	y = (long long)yoe + era * 400;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	d = doy - (153 * mp + 2) / 5 + 1;
	m = mp < 10 ? mp + 3 : mp - 9;
	memset(tm, 0, sizeof(*tm));
	tm->tm_year = (int)(y + (m <= 2) - 1900);
	tm->tm_mon = (int)m - 1;
	tm->tm_mday = (int)d;
	tm->tm_hour = (int)(rem / 3600);
	tm->tm_min = (int)(rem % 3600 / 60);
	tm->tm_sec = (int)(rem % 60);
	tm->tm_wday = (int)((days % 7 + 11) % 7);	/* 1970-01-01 was a Thursday */
	tm->tm_yday = (int)(days - days_from_civil(y + (m <= 2), 1, 1));
}

long long utc_secs(const struct tm *tm)
{
	long long y = (long long)tm->tm_year + 1900 + tm->tm_mon / 12;
	int mon = tm->tm_mon % 12;

	if (mon < 0) {
		mon += 12;
		y--;
	}
	return days_from_civil(y, (unsigned)mon + 1, 1) * 86400 + (long long)(tm->tm_mday - 1) * 86400 +
	       tm->tm_hour * 3600LL + tm->tm_min * 60LL + tm->tm_sec;
}
