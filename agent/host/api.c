/*
 * An environment's API endpoint: one HTTP server for the Runtime, Extensions and Telemetry
 * APIs (routed by path), and the JSON answers they share.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/log.h"
#include "host.h"

static const char json_ct[] = "application/json";

void api_reply_json(struct http_request *req, int status, const char *body)
{
	const char *headers[] = { "Content-Type", json_ct, NULL };

	http_respond(req, status, headers, body, strlen(body));
}

void api_reply_error(struct http_request *req, int status, const char *type, const char *msg)
{
	struct buf b;

	buf_init(&b);
	buf_puts(&b, "{\"errorMessage\":");
	json_put_string(&b, msg);
	buf_puts(&b, ",\"errorType\":");
	json_put_string(&b, type);
	buf_putc(&b, '}');
	api_reply_json(req, status, b.data ? b.data : "{}");
	buf_free(&b);
}

void api_reply_accepted(struct http_request *req)
{
	api_reply_json(req, 202, "{\"status\":\"OK\"}");
}

/* --- the API endpoint ------------------------------------------------------------------- */

static void on_api_request(void *arg, struct http_request *req)
{
	struct environment *env = arg;
	char path[1024];
	size_t n = strcspn(req->url, "?");

	snprintf(path, sizeof(path), "%.*s", (int)(n < sizeof(path) ? n : sizeof(path) - 1),
		 req->url);
	if (strncmp(path, "/2018-06-01/runtime/", 20) == 0)
		runtime_api_handle(env, req, path);
	else if (strncmp(path, "/2020-01-01/extension/", 22) == 0)
		extensions_api_handle(env, req, path);
	else if (strcmp(path, "/2022-07-01/telemetry") == 0)
		telemetry_handle(env, req, false);
	else if (strcmp(path, "/2020-08-15/logs") == 0)
		telemetry_handle(env, req, true);
	else
		api_reply_error(req, 404, "NotFound", "unknown API path");
}

static const struct http_server_limits api_limits = {
	.max_body = HOST_MAX_RESPONSE,
	.max_header_bytes = 64 * 1024,
	.max_headers = 100,
	.max_connections = 160,	/* managed instances: a runtime's 64 threads, extensions */
	.idle_timeout = 3600,
	.request_timeout = 10,
};

/* The API listener: the configured address for the first environment, then the next free
 * ports after it (port 0: any free port). */
struct http_server *env_listen_api(struct environment *env)
{
	struct host *h = env->host;
	const char *colon = strrchr(h->opt.runtime_api, ':');
	long base = colon ? strtol(colon + 1, NULL, 10) : 0;
	char addr[128] = "";

	for (unsigned k = 0; k < 100; k++) {
		long port = base ? base + env->index + k : 0;
		struct http_server *s;

		if (port > 65535)
			break;
		snprintf(addr, sizeof(addr), "%.*s:%ld", (int)(colon - h->opt.runtime_api),
			 h->opt.runtime_api, port);
		s = http_server_new(h->loop, addr, &api_limits, on_api_request, env);
		if (s) {
			http_server_set_stream(s, runtime_api_stream, HOST_MAX_STREAM);
			return s;
		}
		if (errno != EADDRINUSE || env->index == 0)
			break;
	}
	log_error("host", "cannot listen for the Runtime API on %s: %s", addr, strerror(errno));
	return NULL;
}
