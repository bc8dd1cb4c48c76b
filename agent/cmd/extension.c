/*
 * `vigil extension`, assembled: the settings into the extension's options, the registry, the
 * sinks the configuration asks for (EMF on stdout, summary lines on stderr, the Prometheus
 * endpoint, remote_write), and the Runtime API proxy on the extension's loop when the
 * runtime was started through vigil-wrapper.
 */
#include "extension.h"

#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "otlp_setup.h"
#include "serve.h"
#include "../core/custom.h"
#include "../core/emf_in.h"
#include "../core/self_metrics.h"
#include "../extension/extension.h"
#include "../proxy/proxy.h"
#include "../receiver/otlp_grpc.h"
#include "../receiver/otlp_http.h"
#include "../receiver/otlp_in.h"
#include "../receiver/statsd.h"
#include "../util/log.h"
#include "../util/version.h"
#include "../../exporters/emf/emf.h"
#include "../../exporters/lines/lines.h"
#include "../../exporters/otlp/otlp.h"
#include "../../exporters/prometheus/prometheus.h"
#include "../../exporters/remote_write/remote_write.h"

/* AWS_LAMBDA_EXEC_WRAPPER names vigil-wrapper: the runtime expects vigil's proxy. */
static bool wants_proxy(void)
{
	const char *w = getenv("AWS_LAMBDA_EXEC_WRAPPER"), *base;

	if (!w)
		return false;
	base = strrchr(w, '/');
	return strcmp(base ? base + 1 : w, "vigil-wrapper") == 0;
}

static void add_sink(struct sink_set *s, const struct sink_ops *ops, void *self)
{
	if (!self || sink_set_add(s, ops, self) < 0) {
		log_warn("extension", "no %s export: out of memory", ops->name);
		if (self)
			ops->stop(self, 0);
	}
}

/* The receivers of the function's own telemetry: started with the sinks, once init is over. */
struct receivers {
	const struct vigil_config *cfg;
	struct metric_registry *registry;
	struct custom_metrics *custom;
	struct extension *ext;
	struct sink_set *sinks;
	struct buf resource;		/* vigil's Resource, merged under the function's */
	struct statsd *statsd;
	struct otlp_in *otlp;
	struct otlp_http *otlp_http;
	struct otlp_grpc *otlp_grpc;
};

static struct log_pipe *receiver_log_pipe(void *arg)
{
	return extension_log_pipe(arg);
}

static void start_receivers(void *arg, struct loop *l)
{
	struct receivers *rc = arg;
	const struct vigil_config *cfg = rc->cfg;
	char listen[CONFIG_STR_MAX + 64];

	if (strcmp(cfg->statsd_listen, "off") != 0)
		rc->statsd = statsd_start(l, listen_address(cfg->statsd_listen, NULL, listen,
							    sizeof(listen)),
					  rc->custom, rc->registry);
	if (strcmp(cfg->otlp_receiver_http_listen, "off") != 0 ||
	    strcmp(cfg->otlp_receiver_grpc_listen, "off") != 0) {
		struct otlp_in_options io = {
			.custom = rc->custom,
			.sinks = rc->sinks,
			.tracker = extension_tracker(rc->ext),
			.log_pipe = receiver_log_pipe,
			.log_pipe_arg = rc->ext,
			.resource = (const uint8_t *)rc->resource.data,
			.resource_len = rc->resource.len,
			.function_name = extension_function_name(rc->ext),
			.function_version = extension_function_version(rc->ext),
			.loop = l,
			/* Managed instances: invocations overlap, time joins nothing */
			.concurrent = tracker_managed(extension_tracker(rc->ext)),
		};

		size_t max = (size_t)cfg->otlp_receiver_max_mb << 20;

		rc->otlp = otlp_in_new(&io, rc->registry);
		if (rc->otlp && strcmp(cfg->otlp_receiver_http_listen, "off") != 0)
			rc->otlp_http = otlp_http_start(
				l, listen_address(cfg->otlp_receiver_http_listen, NULL, listen,
						  sizeof(listen)), rc->otlp, max);
		if (rc->otlp && strcmp(cfg->otlp_receiver_grpc_listen, "off") != 0)
			rc->otlp_grpc = otlp_grpc_start(
				l, listen_address(cfg->otlp_receiver_grpc_listen, NULL, listen,
						  sizeof(listen)), rc->otlp, max);
	}
}

/* The listener thread stops: what the OTLP receiver holds goes to the sinks and the log pipe
 * while both still take it. */
static void stop_receivers(void *arg)
{
	struct receivers *rc = arg;

	otlp_in_flush(rc->otlp);
}

int extension_main(const char *argv0, const struct vigil_config *cfg)
{
	const char *slash = strrchr(argv0, '/');
	const char *mem = getenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE");
	char telemetry_listen[CONFIG_STR_MAX + 64];
	struct extension_options o = {
		.name = slash ? slash + 1 : argv0,
		.runtime_api = getenv("AWS_LAMBDA_RUNTIME_API"),
		.telemetry_listen = listen_address(cfg->telemetry_listen, NULL, telemetry_listen,
						   sizeof(telemetry_listen)),
		.telemetry_max_items = cfg->telemetry_max_items,
		.telemetry_max_bytes = cfg->telemetry_max_bytes,
		.telemetry_timeout_ms = cfg->telemetry_timeout_ms,
		.emf_namespace = cfg->emf_namespace,
		.logs_enabled = cfg->logs_enabled,
		.prices = prices_config(cfg),
		.memory_mb = mem ? atol(mem) : 128,
		.init_type = getenv("AWS_LAMBDA_INITIALIZATION_TYPE"),
		.managed_flush_s = (double)cfg->managed_flush_ms / 1000.0,
		.tenant_label_max = cfg->tenant_label ? (unsigned)cfg->tenant_label_max : 0,
		/* (vigil-wrapper writes there when VIGIL_COLDSTART is set) */
		.coldstart_file = strcmp(cfg->coldstart, "off") != 0 ? EXTENSION_COLDSTART_FILE :
									NULL,
	};
	struct remote_write_options rw = {
		.url = cfg->remote_write_url,
		.ca_file = cfg->remote_write_ca_file,
		.tls_skip_verify = cfg->remote_write_tls_skip_verify,
		.timeout_ms = cfg->remote_write_timeout_ms,
		.bearer_token = cfg->remote_write_bearer_token,
		.username = cfg->remote_write_username,
		.password = cfg->remote_write_password,
		.retries = cfg->remote_write_retries,
		.interval_ms = cfg->remote_write_interval_ms,
	};
	struct prom_server_config pc = metrics_endpoint_config(cfg);
	static struct otlp_setup otlp;	/* (large; the sink borrows it until stopped) */
	struct sink_set sinks = { .n = 0 };
	struct metric_registry *registry;
	struct extension *ext = NULL;
	struct proxy *proxy = NULL;
	struct receivers recv = { .cfg = cfg };
	struct emf_in *emf = NULL;
	int rc = 1;

	config_flush_strategy(cfg->flush, &o.flush, &o.period);
	log_writer_config(cfg, &o.logs, &o.log_queue_bytes);
	if (strcmp(cfg->coldstart, "probes") == 0)
		log_warn("extension", "coldstart=probes is vigil host's (no eBPF in Lambda): the "
			 "preload library's record is taken, as with coldstart=preload");
	signal(SIGPIPE, SIG_IGN);
	/* Buffers of 128 KiB and more (a log block, a segment read back, an OTLP request,
	 * zlib's state) are mapped on their own and unmapped when freed: glibc would otherwise
	 * raise this threshold after the first such free and keep them in its arenas, where
	 * they stay resident between invocations. */
	mallopt(M_MMAP_THRESHOLD, 128 * 1024);
	registry = metric_registry_new((unsigned)cfg->metrics_max_series);
	if (!registry)
		return 1;
	{
		struct custom_options co = { .max_families = (unsigned)cfg->custom_metrics_max,
					     .max_series = (unsigned)cfg->custom_metrics_max_series };

		recv.registry = registry;
		recv.custom = custom_metrics_new(registry, &co);
	}
	if (cfg->emf_enabled) {
		void *emf_sink = emf_sink_new(cfg->emf_namespace, STDOUT_FILENO);

		/* (the function's StatsD and OTLP metrics go out as EMF too) */
		emf_sink_custom(emf_sink, recv.custom);
		add_sink(&sinks, &emf_sink_ops, emf_sink);
	}
	if (cfg->report_lines)
		add_sink(&sinks, &lines_sink_ops, lines_sink_new(STDERR_FILENO));
	if (cfg->metrics_enabled)
		add_sink(&sinks, &prom_sink_ops, prom_sink_new(registry, &pc));
	if (rw.url[0])
		add_sink(&sinks, &remote_write_sink_ops, remote_write_sink_new(&rw, registry));
	{
		if (cfg->emf_metrics)
			emf = emf_in_new(recv.custom, registry, cfg->emf_namespace);
		o.emf = emf;
		o.on_start = start_receivers;
		o.on_start_arg = &recv;
		o.on_stop = stop_receivers;
	}
	if (otlp_setup(&otlp, cfg, true))
		add_sink(&sinks, &otlp_sink_ops, otlp_sink_new(&otlp.o, registry));
	recv.sinks = &sinks;
	ext = extension_new(&o, registry, &sinks);
	if (!ext)
		goto out;
	/* The proxy listens before registering: the runtime starts once every extension has
	 * registered, and connects to it at once. */
	if (wants_proxy()) {
		char listen[CONFIG_STR_MAX + 64];
		struct proxy_options po = {
			.listen = listen_address(cfg->proxy_listen, NULL, listen, sizeof(listen)),
			.upstream = o.runtime_api,
		};

		proxy = proxy_start(extension_loop(ext), &po, registry, NULL);
	}
	if (extension_register(ext) < 0)
		goto out;
	/* (read by the OTLP sink when it starts, at the first export) */
	snprintf(otlp.resource.account_id, sizeof(otlp.resource.account_id), "%s",
		 extension_account_id(ext));
	recv.ext = ext;
	buf_init(&recv.resource);
	otlp_encode_resource(&recv.resource, &otlp.resource);
	if (proxy && extension_tracker(ext))
		proxy_set_tracker(proxy, extension_tracker(ext));
	self_metrics_register(registry, VIGIL_VERSION, VIGIL_REVISION);
	rc = extension_run(ext);
out:
	sink_set_stop(&sinks, 0);	/* (extension_run stopped them already) */
	proxy_stop(proxy);
	statsd_stop(recv.statsd);
	otlp_http_stop(recv.otlp_http);
	otlp_grpc_stop(recv.otlp_grpc);
	otlp_in_free(recv.otlp);
	buf_free(&recv.resource);
	extension_destroy(ext);
	emf_in_free(emf);
	custom_metrics_free(recv.custom);
	metric_registry_destroy(registry);
	return rc;
}
