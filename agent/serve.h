/* `vigil serve`: the exporters alone, until SIGINT or SIGTERM. */
#ifndef VIGIL_SERVE_H
#define VIGIL_SERVE_H

#include "config.h"

/* Exit status for main(): 0 after a clean shutdown, 1 when an exporter cannot start. */
int serve_main(const struct vigil_config *cfg);

#endif
