/* OTLP/HTTP in (protobuf and JSON, gzip): see otlp_http.c. */
#ifndef VIGIL_OTLP_HTTP_H
#define VIGIL_OTLP_HTTP_H

#include "../lib/loop.h"
#include "otlp_in.h"

struct otlp_http;

/* Listen on HOST:PORT on l, into in; bodies past max_body (inflated too) are refused (413).
 * NULL (said) when it cannot listen. */
struct otlp_http *otlp_http_start(struct loop *l, const char *listen, struct otlp_in *in,
				  size_t max_body);
unsigned otlp_http_port(const struct otlp_http *h);
void otlp_http_stop(struct otlp_http *h);

#endif
