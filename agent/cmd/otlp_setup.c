/* The OTLP exporter's options from the configuration and the environment. See otlp_setup.h. */
#include "otlp_setup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "../util/log.h"

static const char *env(const char *name)
{
	const char *v = getenv(name);

	return v ? v : "";
}

static void copy(char *out, size_t n, const char *v)
{
	snprintf(out, n, "%s", v ? v : "");
}

/* base + suffix, with one slash between them. */
static void join(char *out, size_t n, const char *base, const char *suffix)
{
	size_t l = strlen(base);

	while (l && base[l - 1] == '/')
		l--;
	snprintf(out, n, "%.*s%s", (int)l, base, suffix);
}

/* Where vigil runs, for everything it exports (and what the function exports through it). */
static void fill_resource(struct otlp_setup *s, const struct vigil_config *cfg, bool lambda)
{
	struct utsname u;

	s->resource.aws = lambda;
	copy(s->resource.service_name, sizeof(s->resource.service_name), env("OTEL_SERVICE_NAME"));
	copy(s->resource.attributes, sizeof(s->resource.attributes),
	     env("OTEL_RESOURCE_ATTRIBUTES"));
	if (lambda) {
		copy(s->resource.region, sizeof(s->resource.region), env("AWS_REGION"));
		copy(s->resource.function_name, sizeof(s->resource.function_name),
		     env("AWS_LAMBDA_FUNCTION_NAME"));
		copy(s->resource.function_version, sizeof(s->resource.function_version),
		     env("AWS_LAMBDA_FUNCTION_VERSION"));
		copy(s->resource.instance, sizeof(s->resource.instance),
		     env("AWS_LAMBDA_LOG_STREAM_NAME"));
		copy(s->resource.log_group, sizeof(s->resource.log_group),
		     env("AWS_LAMBDA_LOG_GROUP_NAME"));
		copy(s->resource.log_stream, sizeof(s->resource.log_stream),
		     env("AWS_LAMBDA_LOG_STREAM_NAME"));
		s->resource.memory_mb = atol(env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE"));
	} else {
		char host[64] = "localhost";

		gethostname(host, sizeof(host) - 1);
		snprintf(s->resource.instance, sizeof(s->resource.instance), "%s:%d", host,
			 (int)getpid());
	}
	if (strcmp(cfg->architecture, "auto") != 0)
		copy(s->resource.arch, sizeof(s->resource.arch),
		     strcmp(cfg->architecture, "arm64") == 0 ? "arm64" : "amd64");
	else if (uname(&u) == 0)
		snprintf(s->resource.arch, sizeof(s->resource.arch), "%.15s",
			 strcmp(u.machine, "aarch64") == 0 ? "arm64" :
			 strcmp(u.machine, "x86_64") == 0 ? "amd64" : u.machine);
}

/* url names vigil's own OTLP receiver (a loopback host and the receiver's port): the function's
 * SDK is pointed at vigil; vigil must not export to itself. */
static bool is_own_receiver(const char *url, const struct vigil_config *cfg)
{
	const char *listens[2] = { cfg->otlp_receiver_http_listen, cfg->otlp_receiver_grpc_listen };
	const char *host = strstr(url, "://"), *colon, *end;
	char name[64], port[8];

	host = host ? host + 3 : url;
	end = host + strcspn(host, "/?#");
	if (*host == '[') {
		colon = strchr(host, ']');
		colon = colon && colon < end && colon[1] == ':' ? colon + 1 : NULL;
	} else {
		colon = memchr(host, ':', (size_t)(end - host));
	}
	snprintf(name, sizeof(name), "%.*s", (int)((colon ? colon : end) - host), host);
	snprintf(port, sizeof(port), "%.*s", colon ? (int)(end - colon - 1) : 0, colon ? colon + 1 : "");
	if (!port[0])
		snprintf(port, sizeof(port), "%s", strncmp(url, "https", 5) == 0 ? "443" : "80");
	if (strcmp(name, "localhost") != 0 && strncmp(name, "127.", 4) != 0 &&
	    strcmp(name, "[::1]") != 0 && strcmp(name, "sandbox.localdomain") != 0 &&
	    strcmp(name, "0.0.0.0") != 0)
		return false;
	for (int i = 0; i < 2; i++) {
		const char *p = strrchr(listens[i], ':');

		if (strcmp(listens[i], "off") != 0 && p && strcmp(p + 1, port) == 0)
			return true;
	}
	return false;
}

bool otlp_setup(struct otlp_setup *s, const struct vigil_config *cfg, bool lambda)
{
	static const char *const suffix[3] = { "/v1/logs", "/v1/traces", "/v1/metrics" };
	static const char *const otel[3] = { "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT",
					     "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
					     "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT" };
	const char *own[3] = { cfg->otlp_logs_endpoint, cfg->otlp_traces_endpoint,
			       cfg->otlp_metrics_endpoint };
	const bool on[3] = { cfg->otlp_logs && cfg->logs_enabled, cfg->otlp_traces,
			     cfg->otlp_metrics };
	bool mine = cfg->otlp_endpoint[0] || own[0][0] || own[1][0] || own[2][0];
	bool any = false;
	const char *compression = cfg->otlp_compression;
	long timeout = cfg->otlp_timeout_ms;

	memset(s, 0, sizeof(*s));
	fill_resource(s, cfg, lambda);
	copy(s->headers, sizeof(s->headers), cfg->otlp_headers);
	copy(s->ca_file, sizeof(s->ca_file), cfg->otlp_ca_file);
	if (mine) {
		for (int i = 0; i < 3; i++) {
			if (own[i][0])
				copy(s->urls[i], sizeof(s->urls[i]), own[i]);
			else if (cfg->otlp_endpoint[0])
				join(s->urls[i], sizeof(s->urls[i]), cfg->otlp_endpoint, suffix[i]);
		}
	} else if (getenv("OTEL_EXPORTER_OTLP_ENDPOINT") || getenv(otel[0]) || getenv(otel[1]) ||
		   getenv(otel[2])) {
		/* The standard variables, as the OpenTelemetry SDKs read them, when they ask
		 * for OTLP/HTTP with protobuf (the default): vigil speaks no gRPC. */
		const char *proto = env("OTEL_EXPORTER_OTLP_PROTOCOL");

		if (proto[0] && strcmp(proto, "http/protobuf") != 0) {
			log_warn("otlp", "OTEL_EXPORTER_OTLP_PROTOCOL=%s: vigil exports OTLP over "
				 "http/protobuf only; set otlp_endpoint to export", proto);
			return false;
		}
		for (int i = 0; i < 3; i++) {
			if (env(otel[i])[0])
				copy(s->urls[i], sizeof(s->urls[i]), env(otel[i]));
			else if (env("OTEL_EXPORTER_OTLP_ENDPOINT")[0])
				join(s->urls[i], sizeof(s->urls[i]),
				     env("OTEL_EXPORTER_OTLP_ENDPOINT"), suffix[i]);
			/* The function's SDK pointed at vigil's receiver: not where vigil
			 * exports (it would send to itself). */
			if (s->urls[i][0] && lambda && is_own_receiver(s->urls[i], cfg)) {
				log_info("otlp", "OTEL_EXPORTER_OTLP_* names vigil's own receiver "
					 "(%s): the function's telemetry comes in there; set "
					 "otlp_endpoint to export it", s->urls[i]);
				s->urls[i][0] = '\0';
			}
		}
		if (!s->headers[0])
			copy(s->headers, sizeof(s->headers), env("OTEL_EXPORTER_OTLP_HEADERS"));
		if (!s->ca_file[0])
			copy(s->ca_file, sizeof(s->ca_file), env("OTEL_EXPORTER_OTLP_CERTIFICATE"));
		if (env("OTEL_EXPORTER_OTLP_COMPRESSION")[0])
			compression = env("OTEL_EXPORTER_OTLP_COMPRESSION");
		if (atol(env("OTEL_EXPORTER_OTLP_TIMEOUT")) > 0)
			timeout = atol(env("OTEL_EXPORTER_OTLP_TIMEOUT"));
	}
	for (int i = 0; i < 3; i++) {
		if (!on[i])
			s->urls[i][0] = '\0';
		any |= s->urls[i][0] != '\0';
	}
	if (!any)
		return false;
	copy(s->log_dir, sizeof(s->log_dir), cfg->log_dir);
	s->o = (struct otlp_options){
		.logs_url = s->urls[0],
		.traces_url = s->urls[1],
		.metrics_url = s->urls[2],
		.headers = s->headers,
		.compression = strcmp(compression, "zstd") == 0 ? OTLP_ZSTD :
			       strcmp(compression, "none") == 0 ? OTLP_NONE : OTLP_GZIP,
		.timeout_ms = timeout < 100 ? 100 : timeout > 60000 ? 60000 : timeout,
		.ca_file = s->ca_file,
		.interval_ms = cfg->otlp_interval_ms,
		.traces_unsampled = cfg->otlp_traces_unsampled,
		.metrics_delta = strcmp(cfg->otlp_metrics_temporality, "delta") == 0,
		.log_dir = s->log_dir,
		.batch_records = cfg->otlp_batch_records,
		.queue_spans = cfg->otlp_queue_spans,
		.resource = &s->resource,
	};
	return true;
}
