/* `vigil probe`: a command run with the eBPF probes on its process tree. See probe.c. */
#ifndef VIGIL_PROBE_CLI_H
#define VIGIL_PROBE_CLI_H

#include "config.h"

int probe_main(int argc, char **argv, const struct vigil_config *cfg);

#endif
