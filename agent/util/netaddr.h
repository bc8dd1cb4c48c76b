/* Numeric socket addresses: "127.0.0.1:9464", "[::1]:9464", "localhost:9464", ":9464". */
#ifndef VIGIL_NETADDR_H
#define VIGIL_NETADDR_H

#include <sys/socket.h>

/* Parse HOST:PORT without DNS. ":PORT" means 127.0.0.1; port 0 is allowed (any free one).
 * 0 or -EINVAL. */
int netaddr_parse(const char *text, struct sockaddr_storage *out);

#endif
