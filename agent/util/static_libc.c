/*
 * The layer's static binary only (STATIC=1): gmtime_r with vigil's own UTC conversion. glibc's
 * gmtime_r goes through its time-zone code, which reads TZ with sscanf and pulls in 90 KB of
 * scanf and float parsing for nothing (UTC has no zone); libmicrohttpd calls it for its Date
 * header. Same contract: UTC fields of *t, tm returned.
 */
#include <time.h>

#include "fields.h"

struct tm *gmtime_r(const time_t *t, struct tm *tm)
{
	utc_tm((long long)*t, tm);
	return tm;
}
