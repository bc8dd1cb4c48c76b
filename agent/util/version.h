/* vigil's version; the Makefile passes the source revision. */
#ifndef VIGIL_VERSION_H
#define VIGIL_VERSION_H

#define VIGIL_VERSION "0.1.0"
#ifndef VIGIL_REVISION
#define VIGIL_REVISION "unknown"
#endif

#endif
