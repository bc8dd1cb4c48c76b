/* `vigil extension`: the command that assembles vigil inside Lambda. */
#ifndef VIGIL_CMD_EXTENSION_H
#define VIGIL_CMD_EXTENSION_H

#include "config.h"

/* Run until SHUTDOWN. argv0 names the extension (its file name). Exit status for main(). */
int extension_main(const char *argv0, const struct vigil_config *cfg);

#endif
