/* The Runtime API proxy. See proxy.h. */
#include "proxy.h"

#include <errno.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../util/buf.h"
#include "../util/log.h"
#include "../util/netaddr.h"

#define HIGH_WATER (4 * 1024 * 1024)	/* stop reading a side while the other lags this much */
#define MESSAGE_MAX 256			/* of an error message, kept for the report */
#define PENDING_MAX 16			/* requests awaiting their answers on one connection */

enum kind { K_OTHER, K_NEXT, K_RESPONSE, K_ERROR };

struct proxy {
	struct loop *loop;
	int fd;
	struct loop_watch *watch;
	struct sockaddr_storage upstream;
	unsigned port;
	double started_at;
	bool first_next_seen;
	struct tracker *tracker;
	struct pair *pairs;
	struct pair *dead;		/* closed, freed at the next accept or at stop */
	struct {
		struct metric_series *handler, *init, *event_bytes, *response_bytes;
		struct metric_family *invocations, *failures;
	} m;
	/* The invocation most recently delivered: runtimes run one at a time. */
	char current_id[64];
	double delivered_at;
};

struct side {
	int fd;
	struct loop_watch *watch;
	struct buf out;		/* bytes to write to this side */
	size_t out_off;
	bool eof;		/* it sent EOF */
	bool shut;		/* we shut down our writing to it */
};

struct pair {
	struct pair *prev, *next;
	struct proxy *proxy;
	struct side down, up;
	bool connected;
	http_parser req, resp;
	/* the request being parsed */
	struct buf url, field, value;
	bool last_was_value;
	enum kind kinds[PENDING_MAX];	/* requests sent, answers not yet complete */
	unsigned nkinds;
	enum kind kind;
	char error_type[128];
	bool streaming;			/* Lambda-Runtime-Function-Response-Mode: streaming */
	char message[MESSAGE_MAX + 1];
	size_t message_len;
	uint64_t body_bytes;
	double req_started;
	/* the answer being parsed */
	char answer_id[64];
	uint64_t answer_bytes;
	bool resp_last_was_value;
	struct buf rfield, rvalue;
	bool parse_failed;
};

static void pair_close(struct pair *p);
static void side_flush(struct pair *p, struct side *s);

/* --- observation --------------------------------------------------------------------------- */

static enum kind classify(const char *method, const char *url)
{
	const char *q;
	size_t n;

	if (strcmp(method, "GET") == 0 && strncmp(url, "/2018-06-01/runtime/invocation/next", 35) == 0)
		return K_NEXT;
	if (strcmp(method, "POST") != 0 || strncmp(url, "/2018-06-01/runtime/invocation/", 31) != 0)
		return K_OTHER;
	q = strchr(url + 31, '/');
	if (!q)
		return K_OTHER;
	n = strcspn(q + 1, "?");
	if (n == 8 && strncmp(q + 1, "response", 8) == 0)
		return K_RESPONSE;
	if (n == 5 && strncmp(q + 1, "error", 5) == 0)
		return K_ERROR;
	return K_OTHER;
}

static void header_done(struct pair *p, bool request)
{
	struct buf *f = request ? &p->field : &p->rfield, *v = request ? &p->value : &p->rvalue;

	if (!f->len)
		return;
	/* (a streamed answer's error comes as this trailer) */
	if (request && strcasecmp(f->data, "Lambda-Runtime-Function-Error-Type") == 0)
		snprintf(p->error_type, sizeof(p->error_type), "%s", v->data ? v->data : "");
	if (request && strcasecmp(f->data, "Lambda-Runtime-Function-Response-Mode") == 0)
		p->streaming = v->data && strcasecmp(v->data, "streaming") == 0;
	if (!request && strcasecmp(f->data, "Lambda-Runtime-Aws-Request-Id") == 0)
		snprintf(p->answer_id, sizeof(p->answer_id), "%s", v->data ? v->data : "");
	buf_reset(f);
	buf_reset(v);
}

static int req_begin(http_parser *hp)
{
	struct pair *p = hp->data;

	buf_reset(&p->url);
	buf_reset(&p->field);
	buf_reset(&p->value);
	p->last_was_value = false;
	p->error_type[0] = '\0';
	p->streaming = false;
	p->message_len = 0;
	p->message[0] = '\0';
	p->body_bytes = 0;
	p->req_started = loop_now();
	return 0;
}

static int req_url(http_parser *hp, const char *at, size_t n)
{
	struct pair *p = hp->data;

	if (p->url.len + n < 8192)
		buf_append(&p->url, at, n);
	return 0;
}

static int on_field(struct pair *p, bool request, const char *at, size_t n)
{
	bool *last = request ? &p->last_was_value : &p->resp_last_was_value;
	struct buf *f = request ? &p->field : &p->rfield;

	if (*last)
		header_done(p, request);
	*last = false;
	if (f->len + n < 1024)
		buf_append(f, at, n);
	return 0;
}

static int on_value(struct pair *p, bool request, const char *at, size_t n)
{
	struct buf *v = request ? &p->value : &p->rvalue;

	*(request ? &p->last_was_value : &p->resp_last_was_value) = true;
	if (v->len + n < 8192)
		buf_append(v, at, n);
	return 0;
}

static int req_field(http_parser *hp, const char *at, size_t n)
{
	return on_field(hp->data, true, at, n);
}

static int req_value(http_parser *hp, const char *at, size_t n)
{
	return on_value(hp->data, true, at, n);
}

static int req_headers_done(http_parser *hp)
{
	struct pair *p = hp->data;

	header_done(p, true);
	p->kind = classify(http_method_str((enum http_method)hp->method),
			   p->url.data ? p->url.data : "");
	if (p->kind == K_NEXT && !p->proxy->first_next_seen) {
		p->proxy->first_next_seen = true;
		metric_set(p->proxy->m.init, loop_now() - p->proxy->started_at);
	}
	return 0;
}

static int req_body(http_parser *hp, const char *at, size_t n)
{
	struct pair *p = hp->data;

	p->body_bytes += n;
	if (p->kind == K_ERROR && p->message_len < MESSAGE_MAX) {
		size_t take = MESSAGE_MAX - p->message_len < n ? MESSAGE_MAX - p->message_len : n;

		memcpy(p->message + p->message_len, at, take);
		p->message_len += take;
		p->message[p->message_len] = '\0';
	}
	return 0;
}

/* The runtime answered an invocation: what it took, from /next delivery. */
static void observe_answer(struct pair *p)
{
	struct proxy *px = p->proxy;
	const char *url = p->url.data ? p->url.data + 31 : "";
	size_t idlen = strcspn(url, "/");
	char id[64];
	double handler;

	snprintf(id, sizeof(id), "%.*s", (int)(idlen < 63 ? idlen : 63), url);
	/* The kept prefix of the message must not end inside a UTF-8 sequence. */
	while (p->message_len > 0 && ((unsigned char)p->message[p->message_len - 1] & 0x80)) {
		size_t start = p->message_len - 1;

		while (start > 0 && ((unsigned char)p->message[start] & 0xC0) == 0x80)
			start--;
		if (p->message_len - start >= (size_t)((unsigned char)p->message[start] >= 0xF0 ? 4 :
						       (unsigned char)p->message[start] >= 0xE0 ? 3 : 2))
			break;
		p->message_len = start;
		p->message[start] = '\0';
	}
	handler = strcmp(id, px->current_id) == 0 ? loop_now() - px->delivered_at : -1;
	if (handler >= 0)
		metric_observe(px->m.handler, handler);
	metric_add(px->m.response_bytes, (double)p->body_bytes);
	metric_inc(metric_with(px->m.invocations, p->kind == K_ERROR ? "error" : "response"));
	if (px->tracker) {
		/* A stream that failed midway says so in its trailer. */
		bool failed = p->kind == K_ERROR || (p->streaming && p->error_type[0]);

		tracker_proxy(px->tracker, id, handler >= 0 ? handler * 1000.0 : -1, p->body_bytes,
			      failed ? (p->error_type[0] ? p->error_type : "Unhandled") : NULL,
			      p->kind == K_ERROR ? p->message : NULL, p->streaming);
	}
}

static int req_complete(http_parser *hp)
{
	struct pair *p = hp->data;

	header_done(p, true);	/* the last trailer, if any */
	if (p->kind == K_RESPONSE || p->kind == K_ERROR)
		observe_answer(p);
	if (p->nkinds < PENDING_MAX)
		p->kinds[p->nkinds++] = p->kind;
	return 0;
}

static int resp_begin(http_parser *hp)
{
	struct pair *p = hp->data;

	p->answer_id[0] = '\0';
	p->answer_bytes = 0;
	buf_reset(&p->rfield);
	buf_reset(&p->rvalue);
	p->resp_last_was_value = false;
	return 0;
}

static int resp_field(http_parser *hp, const char *at, size_t n)
{
	return on_field(hp->data, false, at, n);
}

static int resp_value(http_parser *hp, const char *at, size_t n)
{
	return on_value(hp->data, false, at, n);
}

static int resp_headers_done(http_parser *hp)
{
	struct pair *p = hp->data;

	header_done(p, false);
	/* The answer to a /next: an invocation is delivered now. */
	if (p->nkinds && p->kinds[0] == K_NEXT && hp->status_code == 200 && p->answer_id[0]) {
		snprintf(p->proxy->current_id, sizeof(p->proxy->current_id), "%s", p->answer_id);
		p->proxy->delivered_at = loop_now();
	}
	return 0;
}

static int resp_body(http_parser *hp, const char *at, size_t n)
{
	struct pair *p = hp->data;

	(void)at;
	p->answer_bytes += n;
	return 0;
}

static int resp_complete(http_parser *hp)
{
	struct pair *p = hp->data;

	if (p->nkinds) {
		if (p->kinds[0] == K_NEXT && hp->status_code == 200)
			metric_add(p->proxy->m.event_bytes, (double)p->answer_bytes);
		memmove(p->kinds, p->kinds + 1, (p->nkinds - 1) * sizeof(p->kinds[0]));
		p->nkinds--;
	}
	return 0;
}

static const http_parser_settings req_settings = {
	.on_message_begin = req_begin,
	.on_url = req_url,
	.on_header_field = req_field,
	.on_header_value = req_value,
	.on_headers_complete = req_headers_done,
	.on_body = req_body,
	.on_message_complete = req_complete,
};

static const http_parser_settings resp_settings = {
	.on_message_begin = resp_begin,
	.on_header_field = resp_field,
	.on_header_value = resp_value,
	.on_headers_complete = resp_headers_done,
	.on_body = resp_body,
	.on_message_complete = resp_complete,
};

void proxy_parse_buffer(const char *req, size_t n, const char *resp, size_t m, size_t piece)
{
	struct proxy px = { .fd = -1 };
	struct pair p = { .proxy = &px };

	http_parser_init(&p.req, HTTP_REQUEST);
	http_parser_init(&p.resp, HTTP_RESPONSE);
	p.req.data = p.resp.data = &p;
	/* The two streams interleaved a piece at a time, as the relay reads them. */
	for (size_t i = 0, j = 0; i < n || j < m;) {
		size_t a = n - i < piece ? n - i : piece, b = m - j < piece ? m - j : piece;

		if (a && HTTP_PARSER_ERRNO(&p.req) == HPE_OK)
			http_parser_execute(&p.req, &req_settings, req + i, a);
		if (b && HTTP_PARSER_ERRNO(&p.resp) == HPE_OK)
			http_parser_execute(&p.resp, &resp_settings, resp + j, b);
		i += a;
		j += b;
	}
	buf_free(&p.url);
	buf_free(&p.field);
	buf_free(&p.value);
	buf_free(&p.rfield);
	buf_free(&p.rvalue);
}

/* --- relaying ------------------------------------------------------------------------------- */

static void update_watches(struct pair *p)
{
	uint32_t down = 0, up = 0;

	/* Read a side only while the other side's queue is short (back pressure). */
	if (!p->down.eof && p->up.out.len - p->up.out_off < HIGH_WATER)
		down |= EPOLLIN;
	if (p->connected && !p->up.eof && p->down.out.len - p->down.out_off < HIGH_WATER)
		up |= EPOLLIN;
	if (p->down.out.len > p->down.out_off)
		down |= EPOLLOUT;
	if (!p->connected || p->up.out.len > p->up.out_off)
		up |= EPOLLOUT;
	loop_watch_modify(p->down.watch, down | EPOLLRDHUP);
	loop_watch_modify(p->up.watch, up | EPOLLRDHUP);
}

static void failure(struct pair *p, const char *reason)
{
	metric_inc(metric_with(p->proxy->m.failures, reason));
	log_debug("proxy", "connection closed: %s", reason);
	pair_close(p);
}

/* Read what one side sent, observe it, queue it for the other. 0, or -1 when closed. */
static int side_read(struct pair *p, struct side *from, struct side *to, http_parser *hp,
		     const http_parser_settings *settings)
{
	char chunk[65536];

	for (;;) {
		ssize_t n = recv(from->fd, chunk, sizeof(chunk), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0) {
			failure(p, from == &p->up ? "upstream_reset" : "runtime_reset");
			return -1;
		}
		if (n == 0) {
			from->eof = true;
			if (!p->parse_failed)
				http_parser_execute(hp, settings, NULL, 0);
			/* Pass the EOF on once what is queued is written. */
			side_flush(p, to);
			return p->down.fd < 0 ? -1 : 0;
		}
		if (!p->parse_failed) {
			http_parser_execute(hp, settings, chunk, (size_t)n);
			if (HTTP_PARSER_ERRNO(hp) != HPE_OK) {
				/* Not HTTP as we know it: still relayed unchanged, no longer observed. */
				p->parse_failed = true;
				metric_inc(metric_with(p->proxy->m.failures, from == &p->up ?
						       "upstream_malformed" : "runtime_malformed"));
			}
		}
		buf_append(&to->out, chunk, (size_t)n);
		if (to->out.failed) {
			failure(p, "out_of_memory");
			return -1;
		}
		/* A short read drained the socket (epoll is level-triggered: anything left
		 * wakes us again), which saves the recv that would say EAGAIN. */
		if ((size_t)n < sizeof(chunk) || to->out.len - to->out_off >= HIGH_WATER)
			return 0;
	}
}

static void side_flush(struct pair *p, struct side *s)
{
	struct side *other = s == &p->down ? &p->up : &p->down;

	if (s->fd < 0 || (s == &p->up && !p->connected))
		return;
	while (s->out_off < s->out.len) {
		ssize_t n = send(s->fd, s->out.data + s->out_off, s->out.len - s->out_off,
				 MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			failure(p, s == &p->up ? "upstream_reset" : "runtime_reset");
			return;
		}
		s->out_off += (size_t)n;
	}
	buf_reset(&s->out);
	s->out_off = 0;
	if (other->eof && !s->shut) {
		shutdown(s->fd, SHUT_WR);
		s->shut = true;
	}
	if (p->down.eof && p->up.eof && p->down.shut && p->up.shut)
		pair_close(p);
}

static void on_down(void *arg, uint32_t events)
{
	struct pair *p = arg;

	if (events & EPOLLOUT) {
		side_flush(p, &p->down);
		if (p->down.fd < 0)
			return;
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		if (side_read(p, &p->down, &p->up, &p->req, &req_settings) < 0)
			return;
		side_flush(p, &p->up);
		if (p->down.fd < 0)
			return;
	}
	update_watches(p);
}

static void on_up(void *arg, uint32_t events)
{
	struct pair *p = arg;

	if (!p->connected && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int err = 0;
		socklen_t len = sizeof(err);

		getsockopt(p->up.fd, SOL_SOCKET, SO_ERROR, &err, &len);
		if (err) {
			/* Upstream down: the runtime sees its connection fail, as it would. */
			failure(p, "upstream_unreachable");
			return;
		}
		p->connected = true;
	}
	if (events & EPOLLOUT) {
		side_flush(p, &p->up);
		if (p->down.fd < 0)
			return;
	}
	if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		if (side_read(p, &p->up, &p->down, &p->resp, &resp_settings) < 0)
			return;
		/* Upstream went away in the middle of an answer: nothing more will come. */
		if (p->up.eof && p->nkinds) {
			side_flush(p, &p->down);
			if (p->down.fd >= 0)
				failure(p, "upstream_closed_mid_request");
			return;
		}
		side_flush(p, &p->down);
		if (p->down.fd < 0)
			return;
	}
	update_watches(p);
}

static void side_close(struct side *s)
{
	if (s->fd >= 0) {
		loop_unwatch(s->watch);
		close(s->fd);
		s->fd = -1;
	}
	buf_free(&s->out);
}

static void pair_close(struct pair *p)
{
	struct proxy *px = p->proxy;

	if (p->down.fd < 0 && p->up.fd < 0)
		return;
	side_close(&p->down);
	side_close(&p->up);
	buf_free(&p->url);
	buf_free(&p->field);
	buf_free(&p->value);
	buf_free(&p->rfield);
	buf_free(&p->rvalue);
	if (p->prev)
		p->prev->next = p->next;
	else
		px->pairs = p->next;
	if (p->next)
		p->next->prev = p->prev;
	/* Freed later: callbacks of this loop round may still hold it. */
	p->next = px->dead;
	px->dead = p;
}

static void free_dead(struct proxy *px)
{
	while (px->dead) {
		struct pair *p = px->dead;

		px->dead = p->next;
		free(p);
	}
}

static void on_accept(void *arg, uint32_t events)
{
	struct proxy *px = arg;

	(void)events;
	free_dead(px);
	for (;;) {
		int fd = accept4(px->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
		socklen_t len = px->upstream.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
								      sizeof(struct sockaddr_in);
		struct pair *p;

		if (fd < 0)
			return;
		p = calloc(1, sizeof(*p));
		if (!p) {
			close(fd);
			continue;
		}
		p->proxy = px;
		p->down.fd = fd;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		p->up.fd = socket(px->upstream.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (p->up.fd < 0 ||
		    (connect(p->up.fd, (struct sockaddr *)&px->upstream, len) < 0 &&
		     errno != EINPROGRESS)) {
			metric_inc(metric_with(px->m.failures, "upstream_unreachable"));
			if (p->up.fd >= 0)
				close(p->up.fd);
			close(fd);
			free(p);
			continue;
		}
		setsockopt(p->up.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		http_parser_init(&p->req, HTTP_REQUEST);
		http_parser_init(&p->resp, HTTP_RESPONSE);
		p->req.data = p->resp.data = p;
		p->down.watch = loop_watch_fd(px->loop, fd, EPOLLIN | EPOLLRDHUP, on_down, p);
		p->up.watch = loop_watch_fd(px->loop, p->up.fd, EPOLLOUT | EPOLLRDHUP, on_up, p);
		p->next = px->pairs;
		if (px->pairs)
			px->pairs->prev = p;
		px->pairs = p;
	}
}

static void register_metrics(struct proxy *px, struct metric_registry *r)
{
	struct metric_desc d;

	if (!r)
		return;
	d = (struct metric_desc){ .name = "vigil_proxy_handler_duration_seconds",
				  .help = "From /next delivery to the runtime's response or error, "
					  "seen at the Runtime API.",
				  .type = METRIC_HISTOGRAM, .unit = "seconds",
				  .buckets = metric_buckets_duration,
				  .nbuckets = metric_buckets_duration_len };
	px->m.handler = metric_series_get(metric_register(r, &d), NULL);
	d = (struct metric_desc){ .name = "vigil_proxy_init_duration_seconds",
				  .help = "Runtime start (or the proxy's) to its first /next.",
				  .type = METRIC_GAUGE, .unit = "seconds" };
	px->m.init = metric_series_get(metric_register(r, &d), NULL);
	d = (struct metric_desc){ .name = "vigil_proxy_event_bytes_total",
				  .help = "Bytes of events delivered to the runtime.",
				  .type = METRIC_COUNTER, .unit = "bytes" };
	px->m.event_bytes = metric_series_get(metric_register(r, &d), NULL);
	d = (struct metric_desc){ .name = "vigil_proxy_response_bytes_total",
				  .help = "Bytes of the runtime's responses and errors.",
				  .type = METRIC_COUNTER, .unit = "bytes" };
	px->m.response_bytes = metric_series_get(metric_register(r, &d), NULL);
	d = (struct metric_desc){ .name = "vigil_proxy_invocations_total",
				  .help = "Invocations the runtime answered through the proxy, by "
					  "answer (response or error).",
				  .type = METRIC_COUNTER, .labels = { "answer" } };
	px->m.invocations = metric_register(r, &d);
	d = (struct metric_desc){ .name = "vigil_proxy_failures_total",
				  .help = "Connections the proxy closed or could not observe, by "
					  "reason.",
				  .type = METRIC_COUNTER, .labels = { "reason" }, .max_series = 16 };
	px->m.failures = metric_register(r, &d);
}

struct proxy *proxy_start(struct loop *l, const struct proxy_options *o,
			  struct metric_registry *r, struct tracker *t)
{
	struct sockaddr_storage ss;
	struct proxy *px;

	px = calloc(1, sizeof(*px));
	if (!px)
		return NULL;
	px->loop = l;
	px->tracker = t;
	px->started_at = o->started_at > 0 ? o->started_at : loop_now();
	if (netaddr_parse(o->upstream, &px->upstream) < 0 || netaddr_parse(o->listen, &ss) < 0) {
		log_error("proxy", "upstream and listen must be HOST:PORT");
		free(px);
		return NULL;
	}
	register_metrics(px, r);
	px->fd = netaddr_listen(o->listen, SOCK_STREAM, &px->port);
	if (px->fd < 0) {
		log_error("proxy", "cannot listen on %s: %s", o->listen, strerror(errno));
		free(px);
		return NULL;
	}
	px->watch = loop_watch_fd(l, px->fd, EPOLLIN, on_accept, px);
	log_info("proxy", "listening on %.*s:%u, upstream %s", (int)(strrchr(o->listen, ':') - o->listen),
		 o->listen, px->port, o->upstream);
	return px;
}

void proxy_set_tracker(struct proxy *p, struct tracker *t)
{
	p->tracker = t;
}

unsigned proxy_port(const struct proxy *p)
{
	return p->port;
}

void proxy_stop(struct proxy *px)
{
	if (!px)
		return;
	while (px->pairs)
		pair_close(px->pairs);
	free_dead(px);
	loop_unwatch(px->watch);
	close(px->fd);
	free(px);
}

/* --- the command ---------------------------------------------------------------------------- */

