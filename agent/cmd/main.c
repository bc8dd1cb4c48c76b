/* vigil's command line: global options, then one subcommand. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "coldstart.h"
#include "config.h"
#include "extension.h"
#include "host.h"
#include "logs.h"
#include "probe.h"
#include "proxy.h"
#include "../util/buf.h"
#include "../util/log.h"
#include "serve.h"
#include "../util/version.h"

extern char **environ;

static const char usage_text[] =
	"usage: vigil [--config FILE] COMMAND [ARGS...]\n"
	"\n"
	"Observability and log agent for Lambda-style serverless functions.\n"
	"\n"
	"commands:\n"
	"  extension      run inside Lambda as an external extension (the default when\n"
	"                 the binary runs as /opt/extensions/vigil)\n"
	"  host           run Lambda functions locally (see 'vigil host --help')\n"
	"  proxy          Runtime API proxy that measures invocations\n"
	"  logs           read vigil's log segments (cat, tail -f, grep, stats, train)\n"
	"  probe          run a command with the eBPF probes on it and print what it did\n"
	"  coldstart      where a cold start's time went (vigil-preload.so's record)\n"
	"  serve          serve the exporters only (Prometheus on VIGIL_METRICS_LISTEN)\n"
	"  config print   show the effective configuration, secrets masked\n"
	"  config doc     print docs/configuration.md, generated from the key table\n"
	"  config sample  print a config file, every key commented out at its default\n"
	"\n"
	"options:\n"
	"  -c, --config FILE   read 'key = value' settings from FILE (VIGIL_* variables win)\n"
	"  -h, --help          show this help\n"
	"  -V, --version       show the version\n"
	"\n"
	"Settings: see 'vigil config doc' or docs/configuration.md.\n";

/* A usage error: one line on stderr, exit status 2. */
static int usage_error(const char *fmt, const char *arg)
{
	fputs("vigil: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs(" (try 'vigil --help')\n", stderr);
	return 2;
}

static int write_buf(struct buf *b)
{
	int rc = 0;

	if (b->len && fwrite(b->data, 1, b->len, stdout) != b->len)
		rc = 1;
	buf_free(b);
	if (fflush(stdout) != 0)
		rc = 1;
	return rc;
}

static int config_main(const struct vigil_config *cfg, int argc, char **argv)
{
	struct buf out;

	if (argc != 1)
		return usage_error("config takes one of: print, doc%s", "");
	buf_init(&out);
	if (strcmp(argv[0], "print") == 0)
		config_print(cfg, &out);
	else if (strcmp(argv[0], "doc") == 0)
		config_markdown(&out);
	else if (strcmp(argv[0], "sample") == 0)
		config_sample(&out);
	else
		return usage_error("unknown config command '%s'", argv[0]);
	return write_buf(&out);
}

/* The name Lambda starts an extension by: a file directly in an "extensions" folder. */
static int started_as_extension(const char *argv0)
{
	const char *slash = strrchr(argv0, '/');
	size_t dir_len;

	if (!slash)
		return 0;
	dir_len = (size_t)(slash - argv0);
	return dir_len >= 10 && memcmp(slash - 10, "extensions", 10) == 0 &&
	       (dir_len == 10 || slash[-11] == '/');
}

int main(int argc, char **argv)
{
	const char *config_file = NULL, *cmd = NULL;
	struct vigil_config cfg;
	char err[600];
	int i;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage_text, stdout);
			return 0;
		}
		if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
			printf("vigil %s (%s)\n", VIGIL_VERSION, VIGIL_REVISION);
			return 0;
		}
		if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			if (i + 1 >= argc)
				return usage_error("%s needs a FILE", a);
			config_file = argv[++i];
			continue;
		}
		if (strncmp(a, "--config=", 9) == 0) {
			config_file = a + 9;
			continue;
		}
		if (a[0] == '-')
			return usage_error("unknown option '%s'", a);
		cmd = a;
		i++;
		break;
	}
	/* Lambda starts extensions without arguments: as …/extensions/NAME, with the API set. */
	if (!cmd && (started_as_extension(argv[0]) || getenv("AWS_LAMBDA_RUNTIME_API")))
		cmd = "extension";
	if (!cmd)
		return usage_error("missing command%s", "");

	config_defaults(&cfg);
	if (config_file && config_load_file(&cfg, config_file, err, sizeof(err)) < 0) {
		fprintf(stderr, "vigil: config: %s\n", err);
		return 2;
	}
	/* Inside Lambda a setting the extension cannot use must not fail every invocation
	 * (Extension.Crash): it is said, and the default stays. */
	if (strcmp(cmd, "extension") == 0) {
		config_load_env_lenient(&cfg, environ);
	} else if (config_load_env(&cfg, environ, err, sizeof(err)) < 0) {
		fprintf(stderr, "vigil: config: %s\n", err);
		return 2;
	}
	log_set_level((enum log_level)cfg.log_level);

	if (strcmp(cmd, "serve") == 0) {
		if (i < argc)
			return usage_error("serve takes no arguments, got '%s'", argv[i]);
		return serve_main(&cfg);
	}
	if (strcmp(cmd, "host") == 0)
		return host_main(argc - i + 1, argv + i - 1, &cfg);
	if (strcmp(cmd, "config") == 0)
		return config_main(&cfg, argc - i, argv + i);
	if (strcmp(cmd, "extension") == 0) {
		if (i < argc)
			return usage_error("extension takes no arguments, got '%s'", argv[i]);
		return extension_main(argv[0], &cfg);
	}
	if (strcmp(cmd, "proxy") == 0)
		return proxy_main(argc - i + 1, argv + i - 1, &cfg);
	if (strcmp(cmd, "logs") == 0)
		return logs_main(argc - i + 1, argv + i - 1, &cfg);
	if (strcmp(cmd, "probe") == 0)
		return probe_main(argc - i + 1, argv + i - 1, &cfg);
	if (strcmp(cmd, "coldstart") == 0) {
#ifndef VIGIL_STATIC
		return coldstart_main(argc - i + 1, argv + i - 1, &cfg);
#else
		/* (a tool for the developer's machine: the layer's binary must fit 2 MB) */
		fputs("vigil: coldstart is not in the layer's binary: use the vigil package's\n",
		      stderr);
		return 2;
#endif
	}
	return usage_error("unknown command '%s'", cmd);
}
