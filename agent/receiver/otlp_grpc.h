/* OTLP/gRPC in (cleartext HTTP/2, libnghttp2): see otlp_grpc.c. */
#ifndef VIGIL_OTLP_GRPC_H
#define VIGIL_OTLP_GRPC_H

#include "../lib/loop.h"
#include "otlp_in.h"

struct otlp_grpc;

/* Listen on HOST:PORT on l, into in; messages past max_body (inflated too) are refused
 * (RESOURCE_EXHAUSTED). NULL (said) when it cannot listen. */
struct otlp_grpc *otlp_grpc_start(struct loop *l, const char *listen, struct otlp_in *in,
				  size_t max_body);
unsigned otlp_grpc_port(const struct otlp_grpc *g);
void otlp_grpc_stop(struct otlp_grpc *g);
/* One connection's input without a socket (fuzzing): fed to a server session whose output is
 * dropped. */
void otlp_grpc_feed(struct otlp_in *in, const uint8_t *data, size_t n);

#endif
