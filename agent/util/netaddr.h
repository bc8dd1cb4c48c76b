/* Numeric socket addresses: "127.0.0.1:9464", "[::1]:9464", "localhost:9464", ":9464". */
#ifndef VIGIL_NETADDR_H
#define VIGIL_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

/* Parse HOST:PORT without DNS. ":PORT" means 127.0.0.1; port 0 is allowed (any free one).
 * 0 or -EINVAL. */
int netaddr_parse(const char *text, struct sockaddr_storage *out);
/* Whether a host (a name or a literal, IPv6 without brackets) is this machine's loopback:
 * localhost, 127.0.0.0/8 or ::1. Other names are not looked up: false. */
bool netaddr_is_loopback_name(const char *host);
/* A socket of type (SOCK_STREAM: listening; SOCK_DGRAM: bound) on HOST:PORT, non-blocking and
 * close-on-exec, and the port it got (*port, for port 0). The fd, or -1 with errno (EINVAL:
 * not HOST:PORT). */
int netaddr_listen(const char *addr, int type, unsigned *port);
/* A sockaddr of len bytes (perhaps cut short, perhaps unaligned) as "1.2.3.4:80",
 * "[::1]:80", "unix", or "?" when it is none of those. */
void netaddr_format(const void *sa, size_t len, char *out, size_t n);

#endif
