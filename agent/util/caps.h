/* Capabilities given up for good: what a process keeps after its start. */
#ifndef VIGIL_CAPS_H
#define VIGIL_CAPS_H

#include <stdint.h>

/* Keep only the capabilities of mask keep (bit n: capability n): the bounding set cleared of
 * the rest first (it needs CAP_SETPCAP, which goes next), then the effective, permitted and
 * inheritable sets. 0, or -errno (nothing changed when not root). */
int caps_keep_only(uint64_t keep);

#endif
