/*
 * The front door of `vigil host`: libmicrohttpd driven by the host's event loop (its epoll
 * fd is watched; connections are suspended while their invocation runs). Any method and
 * path becomes an API Gateway event; the emulator's invoke endpoint takes raw events.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../lib/mhd.h"
#include "../util/log.h"
#include "../util/netaddr.h"
#include "apigw.h"
#include "host.h"

#define INVOKE_PATH "/2015-03-31/functions/function/invocations"

#define FD_CONNECTIONS 1024U

struct frontdoor {
	struct host *host;
	struct mhd_idle idle;		/* its connections, for the idle-longest eviction */
	struct MHD_Daemon *daemon;
	struct loop_watch *watch;
	struct loop_timer tick;
	unsigned port;
	bool needs_run;			/* a connection was resumed */
	struct fd_request *waiting;	/* suspended, awaiting an invocation */
	struct loop_timer soon;	/* run again at the next loop round */
};

enum req_state { REQ_READING, REQ_WAITING, REQ_DONE, REQ_STREAMING };

#define FD_STREAM_BUFFER (64u << 20)	/* streamed bytes a slow client may leave unread */
#define FD_STREAM_BLOCK 32768
#define HTTP_INTEGRATION "application/vnd.awslambda.http-integration-response"

struct fd_request {
	struct fd_request *prev, *next;	/* in fd->waiting while suspended */
	struct frontdoor *fd;
	struct MHD_Connection *conn;
	char *uri;			/* raw request target */
	struct buf body;
	bool too_large;
	bool raw;			/* the invoke endpoint */
	bool started;			/* the headers-only first call is past */
	bool suspended;
	enum req_state state;
	struct invocation *inv;
	/* the answer, copied from the invocation */
	enum inv_status status;
	char error_type[128];
	char request_id[UUID_STR_LEN];
	char *result;
	size_t result_len;
	/* a streamed answer: its bytes as they come, sent as they come (chunked) */
	bool streaming;			/* the runtime streams it */
	bool stream_done, stream_failed;
	struct buf sbuf;		/* streamed bytes not sent yet, from soff */
	size_t soff;
	char ctype[128];
};

static void on_soon(void *arg);

/* Let libmicrohttpd work. With edge-triggered sockets it may stop with data left to read
 * (its timeout is then 0): run it again, and after a while yield to the loop and come back
 * in the after-round hook. */
static void fd_run(struct frontdoor *f)
{
	for (int i = 0; i < 64; i++) {
		MHD_UNSIGNED_LONG_LONG timeout;

		MHD_run(f->daemon);
		if (MHD_get_timeout(f->daemon, &timeout) != MHD_YES || timeout > 0)
			return;
	}
	if (!loop_timer_active(&f->soon))
		loop_timer_start(f->host->loop, &f->soon, loop_now(), on_soon, f);
}

static void on_soon(void *arg)
{
	struct frontdoor *f = arg;

	fd_run(f);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct fd_request *r = calloc(1, sizeof(*r));

	mhd_idle_mark(conn, true);
	if (!r)
		return NULL;
	r->fd = cls;
	r->conn = conn;
	r->uri = strdup(uri);
	buf_init(&r->body);
	buf_init(&r->sbuf);
	return r;
}

static enum MHD_Result queue(struct MHD_Connection *c, unsigned status, const char *ct,
			     const void *body, size_t len, const struct http_header *headers,
			     size_t nheaders, const char *extra_name, const char *extra_value)
{
	struct MHD_Response *resp;
	enum MHD_Result rc;

	resp = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
	if (!resp)
		return MHD_NO;
	for (size_t i = 0; i < nheaders; i++)
		MHD_add_response_header(resp, headers[i].name, headers[i].value);
	if (ct && !MHD_get_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ct);
	if (extra_name)
		MHD_add_response_header(resp, extra_name, extra_value);
	rc = MHD_queue_response(c, status, resp);
	MHD_destroy_response(resp);
	return rc;
}

static enum MHD_Result queue_json(struct MHD_Connection *c, unsigned status, const char *body)
{
	return queue(c, status, "application/json", body, strlen(body), NULL, 0, NULL, NULL);
}

static void waiting_add(struct fd_request *r)
{
	r->next = r->fd->waiting;
	if (r->next)
		r->next->prev = r;
	r->fd->waiting = r;
}

static void waiting_remove(struct fd_request *r)
{
	if (r->prev)
		r->prev->next = r->next;
	else if (r->fd->waiting == r)
		r->fd->waiting = r->next;
	if (r->next)
		r->next->prev = r->prev;
	r->prev = r->next = NULL;
}

/* A suspended connection goes on (its answer, or more of its stream, is there). */
static void wake(struct fd_request *r)
{
	if (r->suspended) {
		waiting_remove(r);
		r->suspended = false;
		MHD_resume_connection(r->conn);
		r->fd->needs_run = true;
	}
}

static void park(struct fd_request *r)
{
	MHD_suspend_connection(r->conn);
	r->suspended = true;
	waiting_add(r);
}

static void on_stream(struct invocation *inv, const char *data, size_t n, void *arg)
{
	struct fd_request *r = arg;

	if (!data) {
		r->streaming = true;
		snprintf(r->ctype, sizeof(r->ctype), "%s", inv->content_type);
		return;
	}
	if (r->stream_done)
		return;
	if (r->sbuf.len - r->soff + n > FD_STREAM_BUFFER) {
		/* the client reads slower than the function writes, by this much: cut */
		log_warn("host", "request %s: the client fell %u MiB behind the stream: cut",
			 inv->id, FD_STREAM_BUFFER >> 20);
		r->stream_done = r->stream_failed = true;
	} else {
		buf_append(&r->sbuf, data, n);
	}
	wake(r);
}

static void on_answer(struct invocation *inv, void *arg)
{
	struct fd_request *r = arg;

	if (r->state == REQ_STREAMING) {
		/* the stream is on its way: this ends it */
		r->stream_done = true;
		r->stream_failed = r->stream_failed || inv->status != INV_SUCCESS;
		r->inv = NULL;
		wake(r);
		return;
	}
	r->status = inv->status;
	snprintf(r->error_type, sizeof(r->error_type), "%s", inv->error_type);
	snprintf(r->request_id, sizeof(r->request_id), "%s", inv->id);
	if (inv->result) {
		r->result = malloc(inv->result_len + 1);
		if (r->result) {
			memcpy(r->result, inv->result, inv->result_len);
			r->result[inv->result_len] = '\0';
			r->result_len = inv->result_len;
		}
	}
	r->inv = NULL;
	if (r->state == REQ_WAITING && r->suspended) {
		waiting_remove(r);
		r->suspended = false;
		MHD_resume_connection(r->conn);
		r->fd->needs_run = true;
	}
	r->state = REQ_DONE;
}

struct header_list {
	struct http_header *h;
	size_t n, cap;
};

static enum MHD_Result collect_header(void *cls, enum MHD_ValueKind kind, const char *key,
				      const char *value)
{
	struct header_list *l = cls;

	(void)kind;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		struct http_header *h = realloc(l->h, cap * sizeof(*h));

		if (!h)
			return MHD_NO;
		l->h = h;
		l->cap = cap;
	}
	l->h[l->n].name = (char *)key;
	l->h[l->n].value = (char *)(value ? value : "");
	l->n++;
	return MHD_YES;
}

static char *build_event(struct fd_request *r, const char *method, const char *version,
			 size_t *len)
{
	struct header_list hl = { 0 };
	const union MHD_ConnectionInfo *ci;
	char ip[INET6_ADDRSTRLEN] = "127.0.0.1", rid[UUID_STR_LEN];
	struct apigw_request ar;
	struct timespec now;
	char *ev;

	MHD_get_connection_values(r->conn, MHD_HEADER_KIND, collect_header, &hl);
	ci = MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci && ci->client_addr) {
		const struct sockaddr *sa = ci->client_addr;

		if (sa->sa_family == AF_INET)
			inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof(ip));
		else if (sa->sa_family == AF_INET6)
			inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip,
				  sizeof(ip));
	}
	clock_gettime(CLOCK_REALTIME, &now);
	uuid_v4(rid);
	ar = (struct apigw_request){
		.method = method,
		.target = r->uri,
		.protocol = version,
		.source_ip = ip,
		.headers = hl.h,
		.nheaders = hl.n,
		.body = r->body.data ? r->body.data : "",
		.body_len = r->body.len,
		.request_id = rid,
		.time_epoch_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000,
	};
	ev = apigw_event(&ar, r->fd->host->opt.payload_version == 1 ? APIGW_V1 : APIGW_V2, len);
	free(hl.h);
	return ev;
}

/* The answer to a raw invoke, as the runtime interface emulator gives it. */
static enum MHD_Result answer_raw(struct fd_request *r)
{
	const char *body = r->result ? r->result : "";

	if (r->status == INV_SUCCESS)
		return queue(r->conn, 200, "application/json", body, r->result_len, NULL, 0, NULL,
			     NULL);
	if (r->status == INV_TIMEOUT) {
		char msg[256];

		snprintf(msg, sizeof(msg), "{\"errorType\":\"Sandbox.Timedout\",\"errorMessage\":"
			 "\"RequestId: %s Error: Task timed out after %.2f seconds\"}",
			 r->request_id, r->fd->host->opt.timeout_s);
		return queue(r->conn, 200, "application/json", msg, strlen(msg), NULL, 0,
			     "X-Amz-Function-Error", "Unhandled");
	}
	if (!r->result) {
		char msg[256];

		snprintf(msg, sizeof(msg), "{\"errorType\":\"%s\",\"errorMessage\":\"RequestId: %s "
			 "Error: invocation failed\"}", r->error_type, r->request_id);
		return queue(r->conn, 200, "application/json", msg, strlen(msg), NULL, 0,
			     "X-Amz-Function-Error", "Unhandled");
	}
	return queue(r->conn, 200, "application/json", body, r->result_len, NULL, 0,
		     "X-Amz-Function-Error", "Unhandled");
}

/* The answer through API Gateway: the function's result mapped, or API Gateway's 5xx. */
static enum MHD_Result answer_apigw(struct fd_request *r)
{
	int v1 = r->fd->host->opt.payload_version == 1;
	struct apigw_response resp;
	enum MHD_Result rc;
	char err[200];

	if (r->status != INV_SUCCESS)
		return v1 ? queue_json(r->conn, 502, "{\"message\": \"Internal server error\"}") :
			    queue_json(r->conn, 500, "{\"message\":\"Internal Server Error\"}");
	if (apigw_map_response(v1 ? APIGW_V1 : APIGW_V2, r->result ? r->result : "",
			       r->result_len, &resp, err, sizeof(err)) < 0) {
		log_warn("host", "request %s: malformed Lambda proxy response: %s", r->request_id,
			 err);
		return v1 ? queue_json(r->conn, 502, "{\"message\": \"Internal server error\"}") :
			    queue_json(r->conn, 502, "{\"message\":\"Internal Server Error\"}");
	}
	rc = queue(r->conn, (unsigned)resp.status, NULL, resp.body ? resp.body : "",
		   resp.body_len, resp.headers, resp.nheaders, NULL, NULL);
	apigw_response_free(&resp);
	return rc;
}

/* A tenant id (X-Amz-Tenant-Id): 1..127 printable ASCII characters. */
static bool tenant_ok(const char *t)
{
	size_t n = strlen(t);

	if (n == 0 || n > 127)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (t[i] < 0x21 || t[i] > 0x7e)
			return false;
	}
	return true;
}

/* How the request says its body ends: Content-Length headers (how many, whether they agree)
 * and Transfer-Encoding. */
struct framing {
	unsigned lengths;
	bool differ, chunked;
	char first[32];
};

static enum MHD_Result check_framing(void *cls, enum MHD_ValueKind kind, const char *key,
				     const char *value)
{
	struct framing *fr = cls;

	(void)kind;
	if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
		if (fr->lengths++ == 0)
			snprintf(fr->first, sizeof(fr->first), "%s", value ? value : "");
		else if (strcmp(fr->first, value ? value : "") != 0)
			fr->differ = true;
	} else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
		fr->chunked = true;
	}
	return MHD_YES;
}

static ssize_t stream_reader(void *cls, uint64_t pos, char *out, size_t max)
{
	struct fd_request *r = cls;
	size_t left = r->sbuf.len - r->soff;

	(void)pos;
	if (left) {
		size_t n = left < max ? left : max;

		memcpy(out, r->sbuf.data + r->soff, n);
		r->soff += n;
		if (r->soff == r->sbuf.len) {
			buf_reset(&r->sbuf);
			r->soff = 0;
		}
		return (ssize_t)n;
	}
	if (r->stream_done)
		return r->stream_failed ? MHD_CONTENT_READER_END_WITH_ERROR :
					  MHD_CONTENT_READER_END_OF_STREAM;
	/* nothing yet: parked until the function writes more (libmicrohttpd's pattern) */
	park(r);
	return 0;
}

/* Where the body begins after a Function URL's prelude (its JSON, then 8 NUL bytes), or 0
 * while the NULs are still to come. */
static size_t prelude_end(const struct fd_request *r)
{
	static const char nuls[8] = { 0 };
	const char *p = r->sbuf.data ? memmem(r->sbuf.data + r->soff, r->sbuf.len - r->soff,
					      nuls, sizeof(nuls)) : NULL;

	return p ? (size_t)(p - r->sbuf.data) + sizeof(nuls) : 0;
}

/* The streamed answer begins: the raw invoke's bytes as they are; through the HTTP door, a
 * prelude's status, headers and cookies (application/vnd.awslambda.http-integration-
 * response), else 200 with the stream's type. MHD_YES with the response queued, or parked
 * until the prelude is whole. */
static enum MHD_Result start_stream(struct fd_request *r)
{
	struct apigw_response prelude = { .status = 200 };
	struct MHD_Response *resp;
	enum MHD_Result rc;

	if (!r->raw && strncmp(r->ctype, HTTP_INTEGRATION, strlen(HTTP_INTEGRATION)) == 0) {
		size_t end = prelude_end(r);
		char err[200] = "no prelude";

		if (!end && !r->stream_done) {
			park(r);
			return MHD_YES;
		}
		/* The prelude is a 2.0 answer without its body: read as API Gateway reads one
		 * (its status, headers and cookies checked the same way). */
		if (!end || apigw_map_response(APIGW_V2, r->sbuf.data + r->soff, end - 8 - r->soff,
					       &prelude, err, sizeof(err)) < 0) {
			log_warn("host", "request %s: a streamed answer's prelude: %s",
				 r->request_id, err);
			return queue_json(r->conn, 502, "{\"message\":\"Internal Server Error\"}");
		}
		r->soff = end;
	}
	resp = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, FD_STREAM_BLOCK, stream_reader,
						 r, NULL);
	if (!resp) {
		apigw_response_free(&prelude);
		return MHD_NO;
	}
	for (size_t i = 0; i < prelude.nheaders; i++)
		MHD_add_response_header(resp, prelude.headers[i].name, prelude.headers[i].value);
	if (!prelude.nheaders)	/* (the raw stream: its own type) */
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, r->ctype);
	r->state = REQ_STREAMING;
	rc = MHD_queue_response(r->conn, (unsigned)prelude.status, resp);
	MHD_destroy_response(resp);
	apigw_response_free(&prelude);
	return rc;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
				  const char *method, const char *version,
				  const char *upload, size_t *upload_size, void **state)
{
	struct frontdoor *f = cls;
	struct fd_request *r = *state;
	const char *tenant;
	char *payload;
	size_t len;

	(void)url;
	if (!r)
		return MHD_NO;
	if (r->state == REQ_DONE && r->streaming && r->status == INV_SUCCESS) {
		/* it streamed, and was over before the first round: all of it at once */
		r->stream_done = true;
		return start_stream(r);
	}
	if (r->state == REQ_DONE)
		return r->raw ? answer_raw(r) : answer_apigw(r);
	if (r->state == REQ_WAITING && r->streaming && (r->sbuf.len > r->soff || r->stream_done))
		return start_stream(r);
	if (r->state == REQ_WAITING && r->streaming) {
		park(r);	/* (woken by its first bytes) */
		return MHD_YES;
	}
	if (r->state == REQ_WAITING || r->state == REQ_STREAMING)
		return MHD_YES;
	if (!r->started) {
		/* First call, headers only: the body (if any) comes in the next calls. A body
		 * whose end two headers say differently (Content-Length twice, unequal; or with
		 * Transfer-Encoding) is refused, once, and the connection closed: a proxy in
		 * front could read it another way (request smuggling). libmicrohttpd takes the
		 * first Content-Length and would answer 200. */
		struct framing fr = { 0 };

		r->started = true;
		MHD_get_connection_values(conn, MHD_HEADER_KIND, check_framing, &fr);
		if (fr.differ || (fr.lengths && fr.chunked)) {
			static const char msg[] = "{\"message\":\"conflicting Content-Length or "
						  "Transfer-Encoding\"}";

			return queue(conn, 400, "application/json", msg, sizeof(msg) - 1, NULL, 0,
				     MHD_HTTP_HEADER_CONNECTION, "close");
		}
		return MHD_YES;
	}
	if (*upload_size) {
		if (r->body.len + *upload_size > HOST_MAX_PAYLOAD)
			r->too_large = true;
		else
			buf_append(&r->body, upload, *upload_size);
		*upload_size = 0;
		return MHD_YES;
	}
	if (!r->raw && strncmp(r->uri, INVOKE_PATH, strlen(INVOKE_PATH)) == 0 &&
	    (r->uri[strlen(INVOKE_PATH)] == '\0' || r->uri[strlen(INVOKE_PATH)] == '?'))
		r->raw = true;
	if (r->too_large || r->body.failed)
		return r->raw ? queue_json(conn, 413, "{\"errorType\":\"RequestEntityTooLarge\","
					   "\"errorMessage\":\"Request must be smaller than 6291456 "
					   "bytes for the InvokeFunction operation\"}") :
				queue_json(conn, 413, "{\"message\":\"Request Entity Too Large\"}");
	if (r->raw && strcmp(method, MHD_HTTP_METHOD_POST) != 0)
		return queue_json(conn, 405, "{\"message\":\"use POST\"}");
	if (r->raw) {
		len = r->body.len;
		payload = len ? buf_steal(&r->body, NULL) : strdup("{}");
		if (!len)
			len = 2;
	} else {
		payload = build_event(r, method, version, &len);
	}
	if (!payload)
		return queue_json(conn, 500, "{\"message\":\"out of memory\"}");
	tenant = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Amz-Tenant-Id");
	if (tenant && !tenant_ok(tenant)) {
		free(payload);
		return queue_json(conn, 400, "{\"errorType\":\"InvalidParameterValueException\","
				  "\"errorMessage\":\"X-Amz-Tenant-Id: 1 to 127 printable "
				  "characters\"}");
	}
	r->state = REQ_WAITING;
	r->inv = host_invoke(f->host, payload, len,
			     MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Amzn-Trace-Id"),
			     tenant, r->raw ? "other" : "http", on_answer, r);
	if (!r->inv) {
		r->state = REQ_DONE;
		return queue_json(conn, 429, r->raw ? "{\"Type\":\"User\",\"message\":\"Rate "
						      "Exceeded.\"}" :
						      "{\"message\":\"Too Many Requests\"}");
	}
	if (r->inv)
		r->inv->on_stream = on_stream;
	if (r->state == REQ_WAITING)
		park(r);
	return MHD_YES;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **state,
			 enum MHD_RequestTerminationCode code)
{
	struct fd_request *r = *state;

	(void)cls;
	(void)code;
	mhd_idle_mark(c, false);	/* idle until its next request (keep-alive) */
	if (!r)
		return;
	if (r->inv)
		invocation_detach(r->inv);
	if (r->suspended)
		waiting_remove(r);
	buf_free(&r->body);
	buf_free(&r->sbuf);
	free(r->uri);
	free(r->result);
	free(r);
	*state = NULL;
}

static void on_epoll(void *arg, uint32_t events)
{
	(void)events;
	fd_run(arg);
}

/* MHD's own timeouts and resumed connections need a turn even without socket events. */
static void on_hook(void *arg)
{
	struct frontdoor *f = arg;

	if (f->needs_run) {
		f->needs_run = false;
		fd_run(f);
	}
}

static void on_tick(void *arg)
{
	struct frontdoor *f = arg;

	fd_run(f);
	loop_timer_start(f->host->loop, &f->tick, loop_now() + 1.0, on_tick, f);
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_debug("frontdoor", "%s", msg);
}

struct frontdoor *frontdoor_start(struct host *h, const char *listen)
{
	struct sockaddr_storage ss;
	struct frontdoor *f;
	const union MHD_DaemonInfo *info;

	if (netaddr_parse(listen, &ss) < 0 || mhd_load() < 0)
		return NULL;
	f = calloc(1, sizeof(*f));
	if (!f)
		return NULL;
	f->host = h;
	f->idle.evict_at = FD_CONNECTIONS - 64;
	f->daemon = MHD_start_daemon(
		MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG |
			(ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0),
		0, NULL, NULL, on_request, f,
		MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, f,
		MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
		MHD_OPTION_URI_LOG_CALLBACK, on_uri, f,
		MHD_OPTION_NOTIFY_COMPLETED, on_completed, f,
		MHD_OPTION_NOTIFY_CONNECTION, mhd_idle_notify, &f->idle,
		MHD_OPTION_CONNECTION_LIMIT, FD_CONNECTIONS,
		/* Idle clients and slow senders are cut (a connection held open for nothing
		 * locked others out); one waiting on its function is suspended, and suspended
		 * connections do not time out (libmicrohttpd's manual, "Flow control"). */
		MHD_OPTION_CONNECTION_TIMEOUT, h->opt.client_timeout_s,
		MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024),
		MHD_OPTION_LISTENING_ADDRESS_REUSE, 1U,
		MHD_OPTION_END);
	if (!f->daemon) {
		log_error("host", "cannot listen on %s for the front door: %s", listen,
			  strerror(errno));
		free(f);
		return NULL;
	}
	info = MHD_get_daemon_info(f->daemon, MHD_DAEMON_INFO_BIND_PORT);
	f->port = info ? info->port : 0;
	info = MHD_get_daemon_info(f->daemon, MHD_DAEMON_INFO_EPOLL_FD);
	f->watch = loop_watch_fd(h->loop, info->epoll_fd, EPOLLIN, on_epoll, f);
	loop_add_hook(h->loop, on_hook, f);
	loop_timer_start(h->loop, &f->tick, loop_now() + 1.0, on_tick, f);
	return f;
}

unsigned frontdoor_port(const struct frontdoor *f)
{
	return f->port;
}

void frontdoor_stop(struct frontdoor *f)
{
	if (!f)
		return;
	/* libmicrohttpd must not stop with suspended connections: answer them first. */
	while (f->waiting) {
		struct fd_request *r = f->waiting;

		if (r->inv)
			invocation_detach(r->inv);
		r->inv = NULL;
		r->status = INV_FAILURE;
		snprintf(r->error_type, sizeof(r->error_type), "Sandbox.Shutdown");
		r->stream_done = r->stream_failed = true;
		waiting_remove(r);
		r->suspended = false;
		r->state = REQ_DONE;
		MHD_resume_connection(r->conn);
	}
	MHD_run(f->daemon);
	loop_unwatch(f->watch);
	loop_timer_stop(&f->tick);
	loop_timer_stop(&f->soon);
	MHD_stop_daemon(f->daemon);
	free(f);
}
