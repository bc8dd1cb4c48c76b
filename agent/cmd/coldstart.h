/* `vigil coldstart`: where a cold start's time went. See coldstart.c. */
#ifndef VIGIL_COLDSTART_CLI_H
#define VIGIL_COLDSTART_CLI_H

#include "config.h"

int coldstart_main(int argc, char **argv, const struct vigil_config *cfg);

#endif
