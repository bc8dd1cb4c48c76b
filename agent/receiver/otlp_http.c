/*
 * OTLP/HTTP in: POST /v1/traces, /v1/logs, /v1/metrics with protobuf or JSON bodies, gzip
 * or not, answered as the specification says (200 with the response message or its
 * partial_success; 400 with a google.rpc.Status; 413; 415; 429 with Retry-After when the
 * log queue is full). On the loop of the caller (vigil extension's listener thread), on
 * the HTTP server vigil's own APIs use (idle connections cannot starve it).
 */
#include "otlp_http.h"

#include <errno.h>
#include <http_parser.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/http_server.h"
#include "../util/json_str.h"
#include "../util/log.h"

struct otlp_http {
	struct http_server *server;
	struct otlp_in *in;
	size_t max_body;
};

static bool starts(const char *s, const char *prefix)
{
	return s && strncasecmp(s, prefix, strlen(prefix)) == 0;
}

static void answer(struct http_request *req, int status, bool json, const struct buf *body,
		   const char *retry_after)
{
	const char *h[7] = { "Content-Type", json ? "application/json" : "application/x-protobuf" };
	size_t n = 2;

	if (retry_after) {
		h[n++] = "Retry-After";
		h[n++] = retry_after;
	}
	h[n] = NULL;
	http_respond(req, status, h, body ? body->data : NULL, body ? body->len : 0);
}

static void fail(struct http_request *req, int status, bool json, const char *message)
{
	struct buf b;

	buf_init(&b);
	if (json) {
		buf_printf(&b, "{\"code\":%d,\"message\":", status == 400 ? 3 : 8);
		json_put_string(&b, message);
		buf_putc(&b, '}');
	} else {
		otlp_in_status(status == 400 ? 3 : status == 413 ? 8 : 14, message, &b);
	}
	answer(req, status, json, &b, status == 429 || status == 503 ? "1" : NULL);
	buf_free(&b);
}

static void on_request(void *arg, struct http_request *req)
{
	struct otlp_http *h = arg;
	const char *ct = http_request_header(req, "Content-Type");
	const char *ce = http_request_header(req, "Content-Encoding");
	enum otlp_signal sig;
	bool json = starts(ct, "application/json");
	struct otlp_in_result res;
	struct buf plain, pb, out;
	const uint8_t *body = (const uint8_t *)req->body;
	size_t len = req->body_len;
	char why[160];

	if (strcmp(req->url, "/v1/traces") == 0)
		sig = OTLP_TRACES;
	else if (strcmp(req->url, "/v1/logs") == 0)
		sig = OTLP_LOGS;
	else if (strcmp(req->url, "/v1/metrics") == 0)
		sig = OTLP_METRICS;
	else {
		http_respond(req, 404, NULL, NULL, 0);
		return;
	}
	if (req->method != HTTP_POST) {
		const char *allow[] = { "Allow", "POST", NULL };

		http_respond(req, 405, allow, NULL, 0);
		return;
	}
	if (req->body_too_large) {
		otlp_in_count(h->in, sig, "too_large");
		fail(req, 413, json, "the body is larger than otlp_receiver_max_mb");
		return;
	}
	if (!json && ct && !starts(ct, "application/x-protobuf") &&
	    !starts(ct, "application/protobuf")) {
		otlp_in_count(h->in, sig, "unsupported");
		fail(req, 415, false, "Content-Type: application/x-protobuf or application/json");
		return;
	}
	buf_init(&plain);
	buf_init(&pb);
	buf_init(&out);
	if (ce && strcasecmp(ce, "gzip") == 0) {
		int rc = otlp_in_gunzip(body, len, h->max_body, &plain);

		if (rc < 0) {
			otlp_in_count(h->in, sig, rc == -2 ? "too_large" : "invalid");
			fail(req, rc == -2 ? 413 : 400, json, rc == -2 ? "the body inflates past "
					     "otlp_receiver_max_mb" : "the body is not gzip");
			goto out;
		}
		body = (const uint8_t *)plain.data;
		len = plain.len;
	} else if (ce && strcasecmp(ce, "identity") != 0) {
		otlp_in_count(h->in, sig, "unsupported");
		fail(req, 415, json, "Content-Encoding: gzip or none");
		goto out;
	}
	if (json) {
		if (otlp_json_to_pb(sig, (const char *)(body ? body : (const uint8_t *)""), len, &pb,
				    why, sizeof(why)) < 0) {
			otlp_in_count(h->in, sig, "invalid");
			fail(req, 400, true, why);
			goto out;
		}
		body = (const uint8_t *)pb.data;
		len = pb.len;
	}
	otlp_in_take(h->in, sig, body ? body : (const uint8_t *)"", len, &res);
	if (res.status == -1) {
		fail(req, 400, json, res.message);
	} else if (res.status == -2) {
		fail(req, 429, json, res.message);
	} else if (json) {
		if (res.rejected)
		{
			buf_printf(&out, "{\"partialSuccess\":{\"rejected%s\":\"%lld\","
				   "\"errorMessage\":",
				   sig == OTLP_TRACES ? "Spans" : sig == OTLP_LOGS ? "LogRecords" :
				   "DataPoints", (long long)res.rejected);
			json_put_string(&out, res.message);
			buf_puts(&out, "}}");
		}
		else
			buf_puts(&out, "{}");
		answer(req, 200, true, &out, NULL);
	} else {
		otlp_in_response(&res, &out);
		answer(req, 200, false, &out, NULL);
	}
out:
	buf_free(&plain);
	buf_free(&pb);
	buf_free(&out);
}

struct otlp_http *otlp_http_start(struct loop *l, const char *listen, struct otlp_in *in,
				  size_t max_body)
{
	struct otlp_http *h = calloc(1, sizeof(*h));
	struct http_server_limits lim = {
		.max_body = max_body,
		/* A client that sends a body past the limit whole before it reads the answer
		 * (most do) gets its 413: loopback reads 256 MiB in a fraction of a second. */
		.max_drain = 256u << 20,
		.max_header_bytes = 16 * 1024,
		.max_headers = 64,
		.max_connections = 64,
		.idle_timeout = 30,
		.request_timeout = 30,
	};

	if (!h)
		return NULL;
	h->in = in;
	h->max_body = max_body;
	h->server = http_server_new(l, listen, &lim, on_request, h);
	if (!h->server) {
		log_warn("otlp-receiver", "cannot listen on %s: %s", listen, strerror(errno));
		free(h);
		return NULL;
	}
	log_info("otlp-receiver", "OTLP/HTTP listening on %s (port %u)", listen,
		 http_server_port(h->server));
	return h;
}

unsigned otlp_http_port(const struct otlp_http *h)
{
	return h ? http_server_port(h->server) : 0;
}

void otlp_http_stop(struct otlp_http *h)
{
	if (!h)
		return;
	http_server_destroy(h->server);
	free(h);
}
