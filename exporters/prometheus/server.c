/*
 * The /metrics HTTP server on libmicrohttpd: one internal polling thread (epoll), bounded
 * connections, per-connection memory (so header size) and idle timeouts.
 */
#include "prometheus.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../../agent/lib/mhd.h"
#include "../../agent/util/log.h"
#include "../../agent/util/netaddr.h"

#define BODY_MAX (64 * 1024)	/* a scrape has no body; anything bigger is refused */

struct prom_server {
	struct MHD_Daemon *daemon;
	struct metric_registry *registry;
	char token[256];
	unsigned port;
	struct metric_series *scrapes[2];
	struct metric_series *scrape_seconds;
	struct metric_family *responses;
	struct mhd_idle idle;		/* its connections, for the idle-longest eviction */
};

struct request {
	size_t body;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static enum MHD_Result reply(struct prom_server *srv, struct MHD_Connection *c,
			     unsigned status, const char *body, const char *allow)
{
	struct MHD_Response *resp;
	enum MHD_Result rc;
	char code[8];

	resp = MHD_create_response_from_buffer(strlen(body), (void *)body,
					       MHD_RESPMEM_PERSISTENT);
	if (!resp)
		return MHD_NO;
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; charset=utf-8");
	if (allow)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
	rc = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	snprintf(code, sizeof(code), "%u", status);
	metric_inc(metric_with(srv->responses, code));
	return rc;
}

/* Constant-time comparison of the Authorization header against "Bearer TOKEN". */
static int authorized(const struct prom_server *srv, struct MHD_Connection *c)
{
	const char *h;
	size_t tl = strlen(srv->token), hl;
	unsigned char diff = 0;

	if (tl == 0)
		return 1;
	h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return 0;
	h += 7;
	hl = strlen(h);
	for (size_t i = 0; i < tl; i++)
		diff |= (unsigned char)(srv->token[i] ^ (i < hl ? h[i] : 0));
	return diff == 0 && hl == tl;
}

static enum MHD_Result serve_metrics(struct prom_server *srv, struct MHD_Connection *c)
{
	const char *accept;
	enum prom_format fmt;
	struct MHD_Response *resp;
	struct buf out;
	enum MHD_Result rc;
	double t0 = now_s();
	size_t len;
	char *body;

	if (!authorized(srv, c))
		return reply(srv, c, MHD_HTTP_UNAUTHORIZED, "unauthorized\n", NULL);
	accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_ACCEPT);
	fmt = prom_negotiate(accept);
	buf_init(&out);
	if (buf_reserve(&out, 16384) < 0 || prom_render(srv->registry, fmt, &out) < 0) {
		buf_free(&out);
		return reply(srv, c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n", NULL);
	}
	body = buf_steal(&out, &len);
	resp = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (!resp) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
				fmt == PROM_OPENMETRICS ? PROM_OPENMETRICS_CONTENT_TYPE :
							  PROM_TEXT_CONTENT_TYPE);
	rc = MHD_queue_response(c, MHD_HTTP_OK, resp);
	MHD_destroy_response(resp);
	metric_inc(srv->scrapes[fmt]);
	metric_inc(metric_with(srv->responses, "200"));
	metric_observe(srv->scrape_seconds, now_s() - t0);
	return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
				  const char *method, const char *version,
				  const char *upload_data, size_t *upload_size, void **state)
{
	struct prom_server *srv = cls;
	struct request *req = *state;
	int get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
		  strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
	int known = strcmp(url, "/metrics") == 0 || strcmp(url, "/healthz") == 0;

	(void)version;
	(void)upload_data;
	if (!req) {
		mhd_idle_mark(c, true);
		/* First call: only the headers are in. Refuse early what will never be served,
		 * so its body is not read. */
		if (!known)
			return reply(srv, c, MHD_HTTP_NOT_FOUND, "not found\n", NULL);
		if (!get)
			return reply(srv, c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed\n",
				     "GET, HEAD");
		req = calloc(1, sizeof(*req));
		if (!req)
			return MHD_NO;
		*state = req;
		return MHD_YES;
	}
	if (*upload_size) {
		req->body += *upload_size;
		*upload_size = 0;
		if (req->body > BODY_MAX)
			return reply(srv, c, MHD_HTTP_CONTENT_TOO_LARGE, "request too large\n", NULL);
		return MHD_YES;
	}
	if (strcmp(url, "/healthz") == 0)
		return reply(srv, c, MHD_HTTP_OK, "ok\n", NULL);
	return serve_metrics(srv, c);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state,
			 enum MHD_RequestTerminationCode code)
{
	(void)cls;
	(void)code;
	mhd_idle_mark(c, false);	/* idle until its next request (keep-alive) */
	free(*state);
	*state = NULL;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_debug("prometheus", "%s", msg);
}

static void register_metrics(struct prom_server *srv)
{
	static const struct metric_desc scrapes = {
		.name = "vigil_exporter_scrapes_total",
		.help = "Scrapes of /metrics served, by exposition format.",
		.type = METRIC_COUNTER,
		.labels = { "format" },
	};
	static const struct metric_desc responses = {
		.name = "vigil_exporter_http_responses_total",
		.help = "HTTP responses of the metrics endpoint, by status code.",
		.type = METRIC_COUNTER,
		.labels = { "code" },
		.max_series = 16,
	};
	struct metric_desc seconds = {
		.name = "vigil_exporter_scrape_duration_seconds",
		.help = "Time to render one scrape of /metrics.",
		.type = METRIC_HISTOGRAM,
		.unit = "seconds",
		.buckets = metric_buckets_duration,
		.nbuckets = metric_buckets_duration_len,
	};
	struct metric_family *f;

	f = metric_find(srv->registry, scrapes.name);
	if (!f)
		f = metric_register(srv->registry, &scrapes);
	srv->scrapes[PROM_TEXT] = metric_with(f, "text");
	srv->scrapes[PROM_OPENMETRICS] = metric_with(f, "openmetrics");
	srv->responses = metric_find(srv->registry, responses.name);
	if (!srv->responses)
		srv->responses = metric_register(srv->registry, &responses);
	f = metric_find(srv->registry, seconds.name);
	if (!f)
		f = metric_register(srv->registry, &seconds);
	srv->scrape_seconds = metric_series_get(f, NULL);
}

struct prom_server *prom_server_start(struct metric_registry *r,
				      const struct prom_server_config *cfg)
{
	struct sockaddr_storage ss;
	struct prom_server *srv;
	const union MHD_DaemonInfo *info;
	int rc;

	if (mhd_load() < 0)
		return NULL;
	rc = netaddr_parse(cfg->listen, &ss);
	if (rc < 0) {
		log_error("prometheus", "cannot listen on '%s': not HOST:PORT", cfg->listen);
		return NULL;
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv)
		return NULL;
	srv->registry = r;
	snprintf(srv->token, sizeof(srv->token), "%s", cfg->token ? cfg->token : "");
	register_metrics(srv);
	/* Room for scrapes: a quarter of the limit (at least one) past which idle ones go. */
	srv->idle.evict_at = cfg->max_connections -
			     (cfg->max_connections >= 4 ? cfg->max_connections / 4 : 1);
	srv->daemon = MHD_start_daemon(
		MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ERROR_LOG |
			(ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
		0, NULL, NULL, on_request, srv,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_CONNECTION_LIMIT, cfg->max_connections,
		MHD_OPTION_CONNECTION_TIMEOUT, cfg->connection_timeout_s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, cfg->connection_memory,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv,
		MHD_OPTION_NOTIFY_CONNECTION, mhd_idle_notify, &srv->idle,
		MHD_OPTION_LISTENING_ADDRESS_REUSE, 1U,
		MHD_OPTION_END);
	if (!srv->daemon) {
		log_error("prometheus", "cannot listen on %s: %s", cfg->listen,
			  errno ? strerror(errno) : "libmicrohttpd refused");
		free(srv);
		return NULL;
	}
	info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = info ? info->port : 0;
	return srv;
}

unsigned prom_server_port(const struct prom_server *s)
{
	return s->port;
}

void prom_server_stop(struct prom_server *s)
{
	if (!s)
		return;
	MHD_stop_daemon(s->daemon);
	free(s);
}

struct prom_server *prom_endpoint_start(struct metric_registry *r,
					const struct prom_server_config *cfg)
{
	const char *colon = strrchr(cfg->listen, ':');
	struct prom_server *server = prom_server_start(r, cfg);

	if (server && colon)
		log_info("prometheus", "listening on %.*s:%u", (int)(colon - cfg->listen),
			 cfg->listen, prom_server_port(server));
	return server;
}

/* --- the sink ------------------------------------------------------------------------------ */

struct prom_sink {
	struct metric_registry *registry;
	struct prom_server_config cfg;
	struct prom_server *server;
};

void *prom_sink_new(struct metric_registry *r, const struct prom_server_config *cfg)
{
	struct prom_sink *s = calloc(1, sizeof(*s));

	if (s) {
		s->registry = r;
		s->cfg = *cfg;
	}
	return s;
}

static int prom_sink_start(void *self)
{
	struct prom_sink *s = self;

	if (!s->server)
		s->server = prom_endpoint_start(s->registry, &s->cfg);
	return s->server ? 0 : -EADDRNOTAVAIL;
}

static void prom_sink_stop(void *self, int64_t deadline_ms)
{
	struct prom_sink *s = self;

	(void)deadline_ms;
	prom_server_stop(s->server);
	free(s);
}

const struct sink_ops prom_sink_ops = {
	.name = "prometheus",
	.start = prom_sink_start,
	.stop = prom_sink_stop,
};
