/* `vigil logs`: read the log segments of a directory (cat, tail -f, grep, stats, train). */
#ifndef VIGIL_LOGS_CLI_H
#define VIGIL_LOGS_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "../core/segment.h"

/* logs_main's exit status when what could be read was shown but damage was passed over. */
#define LOGS_DAMAGED 3

/* --since/--until: ISO 8601 UTC (1970 … 2261), or an age ("30s", "15m", "2h", "1d"), as
 * nanoseconds since the epoch; -1 when it is neither. */
int64_t logs_parse_when(const char *s);

/* Every record of dir's segments, oldest segment first, to fn. 0, LOGS_DAMAGED when damage was
 * passed over (said on stderr), or -errno when dir cannot be read. */
int logs_each(const char *dir, segment_record_fn fn, void *arg);

int logs_main(int argc, char **argv, const struct vigil_config *cfg);

/* A record as one JSON line (what `vigil logs cat --json` prints). */
struct buf;
void logs_print_json(struct buf *b, const Vigil__V1__LogRecord *r);

#endif
