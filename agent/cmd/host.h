/* `vigil host`: the command that assembles the local Lambda platform. */
#ifndef VIGIL_CMD_HOST_H
#define VIGIL_CMD_HOST_H

#include "config.h"

/* Parse `vigil host`'s options and run it. Exit status for main(). */
int host_main(int argc, char **argv, const struct vigil_config *cfg);

#endif
