/*
 * `vigil host`, assembled: its command line into the host's options, the settings it takes
 * from the configuration (probes, log segments), the registry with vigil's own metrics, and
 * the Prometheus endpoint as its sink.
 */
#include "host.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "otlp_setup.h"
#include "serve.h"
#include "../core/self_metrics.h"
#include "../host/host.h"
#include "../util/log.h"
#include "../util/netaddr.h"
#include "../util/version.h"
#include "../../exporters/prometheus/prometheus.h"

static const char host_usage[] =
	"usage: vigil host [options] -- RUNTIME_COMMAND [ARGS...]\n"
	"       vigil host [options] --function DIR   (DIR holds an executable bootstrap)\n"
	"options:\n"
	"  --listen ADDR:PORT       front door (default 127.0.0.1:8080)\n"
	"  --runtime-api ADDR:PORT  first environment's Runtime API (default 127.0.0.1:9001)\n"
	"  --handler NAME           _HANDLER (default function.handler)\n"
	"  --function-name NAME     (default: DIR's name, or 'function')\n"
	"  --memory MB              128..10240 (default 128)\n"
	"  --timeout SECONDS        1..900 (default 3)\n"
	"  --env KEY=VALUE          extra environment for the runtime (repeatable)\n"
	"  --extensions DIR         extensions to start (part 2)\n"
	"  --concurrency N          environments at most (default 1)\n"
	"  --idle-timeout SECONDS   spin an idle environment down (default 300, 0 = never)\n"
	"  --client-timeout SECONDS close a front-door connection idle or sending this long\n"
	"                           (default 30; never while its function runs)\n"
	"  --log-format text|json   (default text)\n"
	"  --payload 2.0|1.0        API Gateway payload format (default 2.0)\n"
	"  --telemetry-overflow block|drop\n"
	"                           a Telemetry API subscriber behind (its queue at 4 x its\n"
	"                           maxBytes): block holds the function's output until it\n"
	"                           catches up (default); drop is Lambda's: drop, then say so\n"
	"                           in platform.logsDropped\n"
	"  --telemetry-hold-ms MS   block's bound: held this long, drop (default 2000)\n"
	"  --stop-timeout SECONDS   on SIGTERM, invocations in flight get this long to end\n"
	"                           (then they fail as Sandbox.Shutdown; default 10)\n"
	"  --user NAME              run as root: the functions' user (default: vigil if it\n"
	"                           exists, else nobody; root keeps them root)\n"
	"  --private-tmp yes|no     with --user: each environment its own /tmp (a tmpfs,\n"
	"                           512 MB) and an /etc/hosts naming sandbox.localdomain\n"
	"                           (default yes)\n"
	"  --freeze yes|no          freeze an environment's processes while the runtime and\n"
	"                           every extension wait on /next, as Lambda does; thaw at\n"
	"                           its next event (default yes, where a cgroup freezer is)\n"
	"  --mode on-demand|managed-instances\n"
	"                           managed-instances: Lambda Managed Instances, one\n"
	"                           environment serving --max-concurrency invocations at once,\n"
	"                           never frozen (default on-demand)\n"
	"  --max-concurrency N      managed-instances: invocations per environment, 1..64\n"
	"                           (default 16)\n"
	"  --snapstart              SnapStart: the runtime's init, then a restore (the Runtime\n"
	"                           API's restore hooks and the platform.restore* events; no\n"
	"                           memory snapshot is taken)\n";

static int host_usage_error(const char *msg, const char *arg)
{
	fprintf(stderr, "vigil host: %s%s%s (try 'vigil host --help')\n", msg, arg ? " " : "",
		arg ? arg : "");
	return 2;
}

static int parse_number(const char *s, double min, double max, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* --memory, --timeout, --concurrency, --idle-timeout, --client-timeout: 0, or the usage
 * error's exit status. */
static int numeric_option(int c, const char *arg, struct host_options *o)
{
	double v;

	switch (c) {
	case 'm':
		if (parse_number(arg, 128, 10240, &v) < 0 || v != (long)v)
			return host_usage_error("--memory takes whole MB 128..10240, got", arg);
		o->memory_mb = (long)v;
		return 0;
	case 't':
		if (parse_number(arg, 0.001, 900, &v) < 0)
			return host_usage_error("--timeout takes seconds 1..900, got", arg);
		o->timeout_s = v;
		return 0;
	case 'c':
		if (parse_number(arg, 1, 1000, &v) < 0 || v != (long)v)
			return host_usage_error("--concurrency takes 1..1000, got", arg);
		o->concurrency = (long)v;
		return 0;
	case 'C':
		if (parse_number(arg, 1, 3600, &v) < 0 || v != (long)v)
			return host_usage_error("--client-timeout takes whole seconds 1..3600, got",
						arg);
		o->client_timeout_s = (unsigned)v;
		return 0;
	case 'M':
		if (parse_number(arg, 1, HOST_MAX_CONCURRENCY, &v) < 0 || v != (long)v)
			return host_usage_error("--max-concurrency takes 1..64, got", arg);
		o->max_concurrency = (long)v;
		return 0;
	case 'S':
		if (parse_number(arg, 0, 900, &v) < 0)
			return host_usage_error("--stop-timeout takes seconds 0..900, got", arg);
		o->stop_timeout_s = v;
		return 0;
	case 'T':
		if (parse_number(arg, 0, 600000, &v) < 0 || v != (long)v)
			return host_usage_error("--telemetry-hold-ms takes whole ms 0..600000, got",
						arg);
		o->telemetry_hold_ms = (unsigned)v;
		return 0;
	default:	/* 'i' */
		if (parse_number(arg, 0, 86400, &v) < 0)
			return host_usage_error("--idle-timeout takes seconds 0..86400, got", arg);
		o->idle_timeout_s = v;
		return 0;
	}
}

static int parse_options(struct host_options *o, int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "runtime-api", required_argument, NULL, 'r' },
		{ "handler", required_argument, NULL, 'H' },
		{ "function-name", required_argument, NULL, 'n' },
		{ "function", required_argument, NULL, 'f' },
		{ "memory", required_argument, NULL, 'm' },
		{ "timeout", required_argument, NULL, 't' },
		{ "env", required_argument, NULL, 'e' },
		{ "extensions", required_argument, NULL, 'x' },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "idle-timeout", required_argument, NULL, 'i' },
		{ "client-timeout", required_argument, NULL, 'C' },
		{ "log-format", required_argument, NULL, 'L' },
		{ "payload", required_argument, NULL, 'p' },
		{ "telemetry-overflow", required_argument, NULL, 'O' },
		{ "telemetry-hold-ms", required_argument, NULL, 'T' },
		{ "stop-timeout", required_argument, NULL, 'S' },
		{ "user", required_argument, NULL, 'u' },
		{ "private-tmp", required_argument, NULL, 'P' },
		{ "freeze", required_argument, NULL, 'F' },
		{ "mode", required_argument, NULL, 'D' },
		{ "max-concurrency", required_argument, NULL, 'M' },
		{ "snapstart", no_argument, NULL, 'N' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct sockaddr_storage ss;
	int c, rc;

	o->listen = "127.0.0.1:8080";
	o->runtime_api = "127.0.0.1:9001";
	o->handler = "function.handler";
	o->memory_mb = 128;
	o->timeout_s = 3;
	o->concurrency = 1;
	o->idle_timeout_s = 300;
	o->client_timeout_s = 30;
	o->payload_version = 2;
	o->telemetry_hold_ms = 2000;
	o->stop_timeout_s = 10;
	o->private_tmp = true;
	o->freeze = true;
	o->max_concurrency = 16;
	o->env = calloc((size_t)argc + 1, sizeof(char *));
	if (!o->env)
		return 1;
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'l':
		case 'r':
			if (netaddr_parse(optarg, &ss) < 0)
				return host_usage_error("not ADDR:PORT:", optarg);
			if (c == 'l')
				o->listen = optarg;
			else
				o->runtime_api = optarg;
			break;
		case 'H':
			o->handler = optarg;
			break;
		case 'n':
			if (!*optarg || strlen(optarg) > 64 || strpbrk(optarg, "/ :\"\\"))
				return host_usage_error("--function-name needs 1..64 characters "
							"without / : space quote or backslash, got",
							optarg);
			o->function_name = optarg;
			break;
		case 'f':
			o->function_dir = optarg;
			break;
		case 'm':
		case 't':
		case 'c':
		case 'i':
		case 'C':
		case 'T':
		case 'S':
		case 'M':
			rc = numeric_option(c, optarg, o);
			if (rc)
				return rc;
			break;
		case 'e':
			if (!strchr(optarg, '=') || optarg[0] == '=')
				return host_usage_error("--env takes KEY=VALUE, got", optarg);
			o->env[o->nenv++] = optarg;
			break;
		case 'x':
			o->extensions_dir = optarg;
			o->extensions_dir_given = true;
			break;
		case 'L':
			if (strcmp(optarg, "text") == 0)
				o->log_format = LOG_FORMAT_TEXT;
			else if (strcmp(optarg, "json") == 0)
				o->log_format = LOG_FORMAT_JSON;
			else
				return host_usage_error("--log-format is text or json, got", optarg);
			break;
		case 'P':
			if (strcmp(optarg, "yes") && strcmp(optarg, "no"))
				return host_usage_error("--private-tmp is yes or no, got", optarg);
			o->private_tmp = strcmp(optarg, "yes") == 0;
			break;
		case 'F':
			if (strcmp(optarg, "yes") && strcmp(optarg, "no"))
				return host_usage_error("--freeze is yes or no, got", optarg);
			o->freeze = strcmp(optarg, "yes") == 0;
			break;
		case 'D':
			if (strcmp(optarg, "on-demand") && strcmp(optarg, "managed-instances"))
				return host_usage_error("--mode is on-demand or managed-instances, got",
							optarg);
			o->managed = strcmp(optarg, "managed-instances") == 0;
			break;
		case 'N':
			o->snapstart = true;
			break;
		case 'u':
			if (!*optarg)
				return host_usage_error("--user needs a name", NULL);
			o->run_user = optarg;
			break;
		case 'O':
			if (strcmp(optarg, "block") && strcmp(optarg, "drop"))
				return host_usage_error("--telemetry-overflow is block or drop, got",
							optarg);
			o->telemetry_drop = strcmp(optarg, "drop") == 0;
			break;
		case 'p':
			if (strcmp(optarg, "2.0") == 0)
				o->payload_version = 2;
			else if (strcmp(optarg, "1.0") == 0)
				o->payload_version = 1;
			else
				return host_usage_error("--payload is 2.0 or 1.0, got", optarg);
			break;
		case 'h':
			fputs(host_usage, stdout);
			return -1;
		default:
			return host_usage_error("unknown or incomplete option",
						argv[optind - 1]);
		}
	}
	if (optind < argc)
		o->argv = argv + optind;
	if (!o->argv && !o->function_dir)
		return host_usage_error("needs --function DIR or -- RUNTIME_COMMAND", NULL);
	if (o->argv && o->function_dir)
		return host_usage_error("takes --function DIR or a command, not both", NULL);
	if (o->managed && o->snapstart)
		return host_usage_error("--snapstart is not for managed instances", NULL);
	if (o->managed)
		o->freeze = false;	/* Managed Instances are never frozen */
	return 0;
}

int host_main(int argc, char **argv, const struct vigil_config *cfg)
{
	struct host_options o = { 0 };
	struct prom_server_config pc = metrics_endpoint_config(cfg);
	struct sink_set sinks = { .n = 0 };
	struct metric_registry *registry;
	static struct otlp_setup otlp;	/* (large; the sink borrows it until stopped) */
	int rc;

	rc = parse_options(&o, argc, argv);
	if (rc) {
		free(o.env);
		return rc < 0 ? 0 : rc;
	}
	o.probes_enabled = cfg->probes_enabled;
	probes_config(cfg, &o.probes_attach, &o.probes_ring_kb);
	o.logs_enabled = cfg->logs_enabled;
	o.prices = prices_config(cfg);
	o.tenant_label_max = cfg->tenant_label ? (unsigned)cfg->tenant_label_max : 0;
	o.coldstart = strcmp(cfg->coldstart, "preload") == 0 ? HOST_COLDSTART_PRELOAD :
		      strcmp(cfg->coldstart, "probes") == 0 ? HOST_COLDSTART_PROBES :
							      HOST_COLDSTART_OFF;
	log_writer_config(cfg, &o.logs, &o.log_queue_bytes);
	raise_fd_limit();
	registry = metric_registry_new((unsigned)cfg->metrics_max_series);
	if (!registry || self_metrics_register(registry, VIGIL_VERSION, VIGIL_REVISION) < 0) {
		metric_registry_destroy(registry);
		free(o.env);
		return 1;
	}
	if (cfg->metrics_enabled) {
		void *prom = prom_sink_new(registry, &pc);

		if (!prom || sink_set_add(&sinks, &prom_sink_ops, prom) < 0) {
			free(prom);
			metric_registry_destroy(registry);
			free(o.env);
			return 1;
		}
	}
	if (otlp_setup(&otlp, cfg, false)) {
		void *x = otlp_sink_new(&otlp.o, registry);

		char root[4096];
		const char *base = o.function_dir && realpath(o.function_dir, root) ?
					   strrchr(root, '/') : NULL;

		/* (as host_run names it: --function-name, else the function folder's name) */
		snprintf(otlp.resource.function_name, sizeof(otlp.resource.function_name), "%s",
			 o.function_name ? o.function_name : base && base[1] ? base + 1 : "function");
		snprintf(otlp.resource.function_version, sizeof(otlp.resource.function_version),
			 "$LATEST");
		otlp.resource.memory_mb = o.memory_mb;
		if (!x || sink_set_add(&sinks, &otlp_sink_ops, x) < 0)
			log_warn("host", "no OTLP export: out of memory");
	}
	rc = host_run(&o, registry, &sinks);
	metric_registry_destroy(registry);
	free(o.env);
	return rc;
}
