/*
 * The OTLP exporter's options from the configuration: vigil's otlp_* keys first; when none
 * names an endpoint, the standard OTEL_EXPORTER_OTLP_* variables (inside Lambda they usually
 * point the function's own SDK at a local agent; vigil takes them only for http/protobuf);
 * OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES as the SDKs take them. The resource from
 * Lambda's environment variables (extension) or the host's options.
 */
#ifndef VIGIL_OTLP_SETUP_H
#define VIGIL_OTLP_SETUP_H

#include <stdbool.h>

#include "config.h"
#include "../../exporters/otlp/otlp.h"

struct otlp_setup {
	struct otlp_options o;
	struct otlp_resource resource;
	char urls[3][CONFIG_STR_MAX + 32];
	char headers[CONFIG_STR_MAX * 4];
	char ca_file[CONFIG_STR_MAX];
	char log_dir[CONFIG_STR_MAX];
};

/* Fill s from cfg and the environment; lambda: the resource is Lambda's (cloud.provider aws,
 * the AWS_* variables). false when no signal has an endpoint (no OTLP export; the resource is
 * filled all the same). OTEL_EXPORTER_OTLP_* naming vigil's own receiver (extension) are not
 * taken: the function's SDK sends there. */
bool otlp_setup(struct otlp_setup *s, const struct vigil_config *cfg, bool lambda);

#endif
