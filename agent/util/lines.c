/* Output split into lines. See lines.h. */
#include "lines.h"

#include <string.h>

static void keep(struct buf *partial, const char *s, size_t n, size_t max)
{
	if (partial->len < max)
		buf_append(partial, s, n < max - partial->len ? n : max - partial->len);
}

void lines_split(struct buf *partial, const char *chunk, size_t n, size_t max, line_fn emit,
		 void *arg)
{
	const char *p = chunk, *end = chunk + n, *nl;

	while (p < end && (nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if (partial->len) {	/* the line began in an earlier chunk */
			keep(partial, p, (size_t)(nl - p), max);
			emit(arg, partial->data, partial->len);
			buf_reset(partial);
		} else {	/* whole in this chunk: no copy */
			size_t len = (size_t)(nl - p);

			emit(arg, p, len < max ? len : max);
		}
		p = nl + 1;
	}
	if (p < end)
		keep(partial, p, (size_t)(end - p), max);
}
