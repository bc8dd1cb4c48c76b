/* `vigil logs`: read the log segments of a directory (cat, tail -f, grep, stats, train). */
#ifndef VIGIL_LOGS_CLI_H
#define VIGIL_LOGS_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "../core/segment.h"

int logs_main(int argc, char **argv, const struct vigil_config *cfg);

/* A record as one JSON line (what `vigil logs cat --json` prints). */
struct buf;
void logs_print_json(struct buf *b, const Vigil__V1__LogRecord *r);

/* The log pipeline the configuration asks for (log_dir, sizes, retention, fsync, and the
 * newest trained dictionary of log_dir). NULL when logs are off or the directory cannot be
 * used (said once). */
struct log_pipe;
struct metric_registry;
struct log_pipe *logs_open_pipe(const struct vigil_config *cfg, const char *identity,
				struct metric_registry *registry);

/* The newest trained dictionary of dir ("<id>.zdict"): malloc'd bytes and its id, or NULL. */
void *logs_load_dictionary(const char *dir, uint32_t want_id, size_t *len, uint32_t *id);

#endif
