/* `vigil proxy`, assembled: a Runtime API proxy on its own loop, its registry and the
 * Prometheus endpoint, until SIGINT or SIGTERM. */
#include "proxy.h"

#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <sys/signalfd.h>

#include "serve.h"
#include "../core/self_metrics.h"
#include "../proxy/proxy.h"
#include "../util/netaddr.h"
#include "../util/version.h"
#include "../../exporters/prometheus/prometheus.h"

static void on_signal(void *arg, uint32_t events)
{
	(void)events;
	loop_stop(arg);
}

int proxy_main(int argc, char **argv, const struct vigil_config *cfg)
{
	static const struct option opts[] = {
		{ "upstream", required_argument, NULL, 'u' },
		{ "listen", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct proxy_options o = { .listen = "127.0.0.1:9009" };
	struct metric_registry *registry = NULL;
	struct prom_server *metrics = NULL;
	struct sockaddr_storage ss;
	struct proxy *px = NULL;
	struct loop *l = NULL;
	sigset_t set;
	int c, sfd = -1, rc = 1;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "+h", opts, NULL)) != -1) {
		switch (c) {
		case 'u':
			o.upstream = optarg;
			break;
		case 'l':
			o.listen = optarg;
			break;
		case 'h':
			puts("usage: vigil proxy --upstream ADDR:PORT [--listen ADDR:PORT]\n"
			     "Relays the Runtime API unchanged and measures each invocation.\n"
			     "--listen defaults to 127.0.0.1:9009.");
			return 0;
		default:
			fprintf(stderr, "vigil proxy: unknown or incomplete option %s (try 'vigil "
				"proxy --help')\n", argv[optind - 1]);
			return 2;
		}
	}
	if (!o.upstream || optind < argc || netaddr_parse(o.upstream, &ss) < 0 ||
	    netaddr_parse(o.listen, &ss) < 0) {
		fprintf(stderr, "vigil proxy: needs --upstream ADDR:PORT (and --listen ADDR:PORT) "
			"(try 'vigil proxy --help')\n");
		return 2;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	signal(SIGPIPE, SIG_IGN);
	l = loop_new();
	registry = metric_registry_new((unsigned)cfg->metrics_max_series);
	if (!l || !registry)
		goto out;
	self_metrics_register(registry, VIGIL_VERSION, VIGIL_REVISION);
	px = proxy_start(l, &o, registry, NULL);
	if (!px)
		goto out;
	if (cfg->metrics_enabled) {
		struct prom_server_config pc = metrics_endpoint_config(cfg);

		metrics = prom_endpoint_start(registry, &pc);
		if (!metrics)
			goto out;
	}
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	loop_watch_fd(l, sfd, EPOLLIN, on_signal, l);
	rc = loop_run(l) < 0 ? 1 : 0;
out:
	proxy_stop(px);
	prom_server_stop(metrics);
	if (sfd >= 0)
		close(sfd);
	loop_destroy(l);
	metric_registry_destroy(registry);
	return rc;
}
