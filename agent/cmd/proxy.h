/* `vigil proxy`: the command that runs the Runtime API proxy alone. */
#ifndef VIGIL_CMD_PROXY_H
#define VIGIL_CMD_PROXY_H

#include "config.h"

/* Parse `vigil proxy`'s options and relay until SIGINT or SIGTERM. Exit status for main(). */
int proxy_main(int argc, char **argv, const struct vigil_config *cfg);

#endif
