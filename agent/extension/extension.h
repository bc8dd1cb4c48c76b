/* `vigil extension`: vigil inside Lambda as an external extension. */
#ifndef VIGIL_EXTENSION_H
#define VIGIL_EXTENSION_H

#include "../cmd/config.h"

/* Run until SHUTDOWN. argv0 names the extension (its file name). Exit status for main(). */
int extension_main(const char *argv0, const struct vigil_config *cfg);

#endif
