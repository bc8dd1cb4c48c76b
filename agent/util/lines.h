/* Output split into lines: what a process writes to its pipe, read a chunk at a time. */
#ifndef VIGIL_LINES_H
#define VIGIL_LINES_H

#include <stddef.h>

#include "buf.h"

typedef void (*line_fn)(void *arg, const char *line, size_t n);

/* Each line that chunk completes goes to emit (without its newline; a line longer than max
 * keeps its first max bytes); the unfinished rest waits in partial for the next chunk. */
void lines_split(struct buf *partial, const char *chunk, size_t n, size_t max, line_fn emit,
		 void *arg);

#endif
