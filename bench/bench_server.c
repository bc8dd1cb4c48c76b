/*
 * vigil's Prometheus exporter serving a synthetic registry, for scrape-latency runs with
 * wrk at a series count chosen to match a peer. usage: bench_server SERIES HOST:PORT
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "../exporters/prometheus/prometheus.h"
#include "synthetic.h"

int main(int argc, char **argv)
{
	struct prom_server_config pc = {
		.max_connections = 256,
		.connection_timeout_s = 10,
		.connection_memory = 32 * 1024,
		.token = "",
	};
	struct metric_registry *r;
	struct prom_server *srv;
	sigset_t set;
	int sig;

	if (argc != 3) {
		fprintf(stderr, "usage: bench_server SERIES HOST:PORT\n");
		return 2;
	}
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	r = synthetic_flat(atoi(argv[1]), 0);
	pc.listen = argv[2];
	srv = prom_server_start(r, &pc);
	if (!srv)
		return 1;
	printf("listening on port %u\n", prom_server_port(srv));
	fflush(stdout);
	sigwait(&set, &sig);
	prom_server_stop(srv);
	metric_registry_destroy(r);
	return 0;
}
