/* Numbers as text: the shortest decimal that reads back as exactly the same double. */
#ifndef VIGIL_NUMFMT_H
#define VIGIL_NUMFMT_H

#include "buf.h"

/* Append a finite v: integers plainly, 1e-4 <= |v| < 1e9 in shortest fixed point, others
 * in the shortest of %.15g / %.17g that round-trips. Valid JSON and Prometheus text. */
void numfmt_double(struct buf *out, double v);

#endif
