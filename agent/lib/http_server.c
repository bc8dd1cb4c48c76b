/* HTTP/1.1 server on the event loop with http-parser. See http_server.h. */
#include "http_server.h"

#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../util/buf.h"
#include "../util/log.h"
#include "../util/netaddr.h"

#define READ_CHUNK 65536
#define URL_MAX 8192
#define MAX_PIPELINED 8

struct http_server {
	struct loop *loop;
	int fd;
	struct loop_watch *watch;
	struct loop_timer sweep;
	struct http_server_limits limits;
	http_handler_fn handler;
	void *arg;
	bool (*stream_hook)(void *arg, struct http_request *req);
	size_t max_stream;
	unsigned port;
	unsigned nconns;
	struct http_conn *conns;
};

struct http_conn {
	struct http_server *server;
	struct http_conn *prev, *next;
	int fd;
	struct loop_watch *watch;
	http_parser parser;
	struct buf in;		/* read but not yet parsed */
	struct buf out;		/* answer not yet written */
	size_t out_off;
	struct http_request *req;	/* being parsed */
	struct http_request *pending;	/* complete, handed to the handler, awaiting its answer */
	struct http_request *queue;	/* complete, pipelined behind pending */
	unsigned nqueued;
	size_t header_bytes;
	bool last_was_value;
	bool close_after_write;
	bool keep_alive;
	double last_activity;
	double request_started_at;	/* a request's first byte is in (0: none begun) */
};

static void conn_close(struct http_conn *c);
static void conn_dispatch(struct http_conn *c);

const char *http_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 413: return "Payload Too Large";
	case 414: return "URI Too Long";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	default: return "Unknown";
	}
}

void http_headers_free(struct http_header *h, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(h[i].name);
		free(h[i].value);
	}
	free(h);
}

static void request_free(struct http_request *r)
{
	if (!r)
		return;
	if (r->streamed && !r->dispatched && r->stream_gone)
		r->stream_gone(r, r->chunk_arg);
	http_headers_free(r->headers, r->nheaders);
	free(r->url);
	free(r->body);
	free(r);
}

char *http_request_take_body(struct http_request *req, size_t *len)
{
	char *body = req->body;

	*len = req->body_len;
	req->body = NULL;
	req->body_len = 0;
	return body;
}

const char *http_request_header(const struct http_request *req, const char *name)
{
	for (size_t i = 0; i < req->nheaders; i++) {
		if (strcasecmp(req->headers[i].name, name) == 0)
			return req->headers[i].value;
	}
	return NULL;
}

/* Append n bytes to a malloc'd NUL-terminated string with a length cap. */
static int str_append(char **s, size_t *len, const char *p, size_t n, size_t cap)
{
	char *t;

	if (*len + n > cap)
		return -1;
	t = realloc(*s, *len + n + 1);
	if (!t)
		return -1;
	memcpy(t + *len, p, n);
	*len += n;
	t[*len] = '\0';
	*s = t;
	return 0;
}

static struct http_conn *conn_of(http_parser *p)
{
	return p->data;
}

static int on_message_begin(http_parser *p)
{
	struct http_conn *c = conn_of(p);

	request_free(c->req);
	c->req = calloc(1, sizeof(*c->req));
	c->request_started_at = loop_now();
	c->header_bytes = 0;
	c->last_was_value = false;
	return c->req ? 0 : -1;
}

static int count_header_bytes(struct http_conn *c, size_t n)
{
	c->header_bytes += n;
	return c->header_bytes > c->server->limits.max_header_bytes ? -1 : 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
	struct http_conn *c = conn_of(p);
	size_t len = c->req->url ? strlen(c->req->url) : 0;

	if (count_header_bytes(c, n) < 0)
		return -1;
	return str_append(&c->req->url, &len, at, n, URL_MAX);
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
	struct http_conn *c = conn_of(p);
	struct http_request *r = c->req;
	size_t len;

	if (count_header_bytes(c, n) < 0)
		return -1;
	if (!c->last_was_value && r->nheaders > 0) {
		/* The field name continues from the previous read. */
		len = strlen(r->headers[r->nheaders - 1].name);
		return str_append(&r->headers[r->nheaders - 1].name, &len, at, n, 1024);
	}
	if (r->nheaders >= c->server->limits.max_headers)
		return -1;
	{
		struct http_header *h = realloc(r->headers, (r->nheaders + 1) * sizeof(*h));

		if (!h)
			return -1;
		r->headers = h;
	}
	r->headers[r->nheaders].name = NULL;
	r->headers[r->nheaders].value = NULL;
	r->nheaders++;
	c->last_was_value = false;
	len = 0;
	return str_append(&r->headers[r->nheaders - 1].name, &len, at, n, 1024);
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
	struct http_conn *c = conn_of(p);
	struct http_request *r = c->req;
	struct http_header *h = &r->headers[r->nheaders - 1];
	size_t len = h->value ? strlen(h->value) : 0;

	if (count_header_bytes(c, n) < 0)
		return -1;
	c->last_was_value = true;
	return str_append(&h->value, &len, at, n, c->server->limits.max_header_bytes);
}

static int on_headers_complete(http_parser *p)
{
	struct http_conn *c = conn_of(p);
	struct http_request *r = c->req;

	for (size_t i = 0; i < r->nheaders; i++) {
		if (!r->headers[i].value) {
			r->headers[i].value = strdup("");
			if (!r->headers[i].value)
				return -1;
		}
	}
	if (!r->url)
		r->url = strdup("/");
	if (!r->url)
		return -1;
	r->headers_at = loop_now();
	r->method = (int)p->method;
	r->method_name = http_method_str((enum http_method)p->method);
	if (c->server->stream_hook && c->server->stream_hook(c->server->arg, r) && r->on_chunk) {
		r->streamed = true;
		c->request_started_at = 0;	/* a stream may last as long as its sender */
	}
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct http_conn *c = conn_of(p);
	struct http_request *r = c->req;
	size_t max = c->server->limits.max_body;

	r->body_seen += n;
	if (r->streamed) {
		if (c->server->max_stream && r->body_seen > c->server->max_stream)
			return -1;
		if (r->on_chunk)
			r->on_chunk(r, at, n, r->chunk_arg);
		return 0;
	}
	/* Far past the limit: the client is not worth draining. */
	if (r->body_seen > (c->server->limits.max_drain ? c->server->limits.max_drain :
							 max * 4 + (1 << 20)))
		return -1;
	if (r->body_too_large)
		return 0;
	if (r->body_seen > max) {
		r->body_too_large = true;
		free(r->body);
		r->body = NULL;
		r->body_len = 0;
		return 0;
	}
	return str_append(&r->body, &r->body_len, at, n, max);
}

static int on_message_complete(http_parser *p)
{
	struct http_conn *c = conn_of(p);
	struct http_request *r = c->req;

	if (!r->body) {
		r->body = strdup("");
		if (!r->body)
			return -1;
	}
	r->conn = c;
	r->method = (int)p->method;
	r->method_name = http_method_str((enum http_method)p->method);
	r->received_at = loop_now();
	r->keep_alive = http_should_keep_alive(p);
	c->req = NULL;
	c->request_started_at = 0;
	if (c->nqueued >= MAX_PIPELINED) {
		request_free(r);
		return -1;
	}
	{
		struct http_request **pp = &c->queue;

		while (*pp)
			pp = &(*pp)->next;
		*pp = r;
		c->nqueued++;
	}
	return 0;
}

static const http_parser_settings settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

static void conn_flush(struct http_conn *c)
{
	while (c->out_off < c->out.len) {
		ssize_t n = send(c->fd, c->out.data + c->out_off, c->out.len - c->out_off,
				 MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			loop_watch_modify(c->watch, EPOLLOUT | EPOLLRDHUP);
			return;
		}
		if (n <= 0) {
			conn_close(c);
			return;
		}
		c->out_off += (size_t)n;
	}
	buf_reset(&c->out);
	c->out_off = 0;
	if (c->close_after_write) {
		conn_close(c);
		return;
	}
	/* Answer written: the next pipelined request, if any. */
	loop_watch_modify(c->watch, EPOLLIN | EPOLLRDHUP);
	conn_dispatch(c);
}

static void send_error_and_close(struct http_conn *c, int status)
{
	buf_printf(&c->out, "HTTP/1.1 %d %s\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
		   status, http_status_text(status));
	c->close_after_write = true;
	conn_flush(c);
}

/* Hand the oldest complete request to the handler when none awaits its answer. */
static void conn_dispatch(struct http_conn *c)
{
	struct http_request *r = c->queue;

	if (c->pending || !r || c->out.len)
		return;
	c->queue = r->next;
	c->nqueued--;
	r->next = NULL;
	c->pending = r;
	r->dispatched = true;
	c->keep_alive = r->keep_alive;
	c->server->handler(c->server->arg, r);
}

/* Parse everything read so far; complete requests queue up for conn_dispatch. */
static void conn_parse(struct http_conn *c)
{
	if (c->in.len) {
		size_t n = http_parser_execute(&c->parser, &settings, c->in.data, c->in.len);
		enum http_errno err = HTTP_PARSER_ERRNO(&c->parser);

		if (err != HPE_OK || (n != c->in.len && !c->parser.upgrade)) {
			int status = 400;

			if (err == HPE_HEADER_OVERFLOW ||
			    c->header_bytes > c->server->limits.max_header_bytes ||
			    (c->req && c->req->nheaders >= c->server->limits.max_headers))
				status = 431;
			else if (c->req && c->req->body_seen > c->server->limits.max_body)
				status = 413;
			log_debug("http", "bad request: %s", http_errno_name(err));
			if (c->pending) {
				/* Cannot answer out of order: just go. */
				conn_close(c);
				return;
			}
			send_error_and_close(c, status);
			return;
		}
		buf_reset(&c->in);
	}
	conn_dispatch(c);
}

static void conn_readable(struct http_conn *c)
{
	for (;;) {
		ssize_t n;

		if (buf_reserve(&c->in, READ_CHUNK) < 0) {
			conn_close(c);
			return;
		}
		n = recv(c->fd, c->in.data + c->in.len, READ_CHUNK, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n <= 0) {
			/* EOF: let the parser see it (a body delimited by close), then go. */
			conn_close(c);
			return;
		}
		c->in.len += (size_t)n;
		c->last_activity = loop_now();
		/* Parsed a few chunks at a time: a client that sends faster than the loop reads
		 * (a large body drained) never makes the buffer grow past this. The watch is
		 * level-triggered: what is left wakes the loop again. */
		if ((size_t)n < READ_CHUNK || c->in.len >= 4 * READ_CHUNK)
			break;
	}
	conn_parse(c);
}

static void on_conn_event(void *arg, uint32_t events)
{
	struct http_conn *c = arg;

	if ((events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) && !(events & EPOLLIN)) {
		conn_close(c);
		return;
	}
	if (events & EPOLLOUT) {
		conn_flush(c);
		return;
	}
	if (events & EPOLLIN)
		conn_readable(c);
}

static void conn_close(struct http_conn *c)
{
	struct http_server *s = c->server;

	if (c->fd < 0)
		return;
	loop_unwatch(c->watch);
	close(c->fd);
	c->fd = -1;
	if (c->pending) {
		struct http_request *r = c->pending;

		c->pending = NULL;
		r->conn = NULL;
		if (r->on_abort)
			r->on_abort(r, r->abort_arg);
		request_free(r);
	}
	request_free(c->req);
	while (c->queue) {
		struct http_request *r = c->queue;

		c->queue = r->next;
		request_free(r);
	}
	buf_free(&c->in);
	buf_free(&c->out);
	if (c->prev)
		c->prev->next = c->next;
	else
		s->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	s->nconns--;
	free(c);
}

/* Whether c waits on its client only: no answer owed or being written. */
static bool conn_idle(const struct http_conn *c)
{
	return !c->pending && !c->queue && c->out.len == 0;
}

/* At the connection limit: close the connection idle longest (a request half sent counts as
 * idle: that is how slow senders would hold the server). 0, or -1 when none is idle. */
static int make_room(struct http_server *s)
{
	struct http_conn *victim = NULL;

	for (struct http_conn *c = s->conns; c; c = c->next) {
		if (conn_idle(c) && (!victim || c->last_activity < victim->last_activity))
			victim = c;
	}
	if (!victim)
		return -1;
	conn_close(victim);
	return 0;
}

static void on_accept(void *arg, uint32_t events)
{
	struct http_server *s = arg;

	(void)events;
	for (;;) {
		int fd = accept4(s->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), one = 1;
		struct http_conn *c;

		if (fd < 0)
			return;
		if (s->nconns >= s->limits.max_connections && make_room(s) < 0) {
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->server = s;
		c->fd = fd;
		http_parser_init(&c->parser, HTTP_REQUEST);
		c->parser.data = c;
		c->last_activity = loop_now();
		c->watch = loop_watch_fd(s->loop, fd, EPOLLIN | EPOLLRDHUP, on_conn_event, c);
		if (!c->watch) {
			close(fd);
			free(c);
			continue;
		}
		c->next = s->conns;
		if (s->conns)
			s->conns->prev = c;
		s->conns = c;
		s->nconns++;
	}
}

/* Close connections idle too long; a request awaiting its answer is never idle. */
static void on_sweep(void *arg)
{
	struct http_server *s = arg;
	double now = loop_now();
	struct http_conn *c = s->conns;

	while (c) {
		struct http_conn *next = c->next;

		if (conn_idle(c) && (now - c->last_activity > s->limits.idle_timeout ||
				     (s->limits.request_timeout > 0 && c->request_started_at > 0 &&
				      now - c->request_started_at > s->limits.request_timeout)))
			conn_close(c);
		c = next;
	}
	loop_timer_start(s->loop, &s->sweep, now + 0.5, on_sweep, s);
}

void http_server_set_stream(struct http_server *s,
			    bool (*hook)(void *arg, struct http_request *req), size_t max_stream)
{
	s->stream_hook = hook;
	s->max_stream = max_stream;
}

struct http_server *http_server_new(struct loop *l, const char *addr,
				    const struct http_server_limits *limits,
				    http_handler_fn handler, void *arg)
{
	struct http_server *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->loop = l;
	s->limits = *limits;
	s->handler = handler;
	s->arg = arg;
	s->fd = netaddr_listen(addr, SOCK_STREAM, &s->port);
	if (s->fd < 0)
		goto fail;
	s->watch = loop_watch_fd(l, s->fd, EPOLLIN, on_accept, s);
	if (!s->watch)
		goto fail;
	loop_timer_start(l, &s->sweep, loop_now() + 0.5, on_sweep, s);
	return s;
fail:
	{
		int e = errno;

		if (s->fd >= 0)
			close(s->fd);
		free(s);
		errno = e;
	}
	return NULL;
}

unsigned http_server_port(const struct http_server *s)
{
	return s->port;
}

void http_server_destroy(struct http_server *s)
{
	if (!s)
		return;
	while (s->conns)
		conn_close(s->conns);
	loop_unwatch(s->watch);
	loop_timer_stop(&s->sweep);
	close(s->fd);
	free(s);
}

int http_respond(struct http_request *req, int status, const char *const *headers,
		 const void *body, size_t len)
{
	struct http_conn *c = req->conn;

	if (!c) {
		request_free(req);
		return -ENOTCONN;
	}
	c->pending = NULL;
	buf_printf(&c->out, "HTTP/1.1 %d %s\r\n", status, http_status_text(status));
	for (size_t i = 0; headers && headers[i]; i += 2)
		buf_printf(&c->out, "%s: %s\r\n", headers[i], headers[i + 1]);
	buf_printf(&c->out, "Content-Length: %zu\r\n", len);
	/* An oversized body was drained in full: the connection stays usable. */
	if (!c->keep_alive) {
		buf_puts(&c->out, "Connection: close\r\n");
		c->close_after_write = true;
	}
	buf_puts(&c->out, "\r\n");
	if (len)
		buf_append(&c->out, body, len);
	request_free(req);
	if (c->out.failed) {
		conn_close(c);
		return -ENOMEM;
	}
	c->last_activity = loop_now();
	conn_flush(c);
	return 0;
}

void http_drop(struct http_request *req)
{
	struct http_conn *c = req->conn;

	if (c) {
		c->pending = NULL;
		conn_close(c);
	}
	request_free(req);
}

static void count_chunk(struct http_request *req, const char *data, size_t n, void *arg)
{
	(void)req;
	(void)data;
	*(size_t *)arg += n;
}

/* http_parse_buffer's stream hook: requests that say streaming, as the Runtime API's. */
static bool stream_marked(void *arg, struct http_request *req)
{
	const char *mode = http_request_header(req, "Lambda-Runtime-Function-Response-Mode");

	if (!mode || strcasecmp(mode, "streaming") != 0)
		return false;
	req->on_chunk = count_chunk;
	req->chunk_arg = arg;
	return true;
}

int http_parse_buffer(const char *data, size_t len, const struct http_server_limits *limits,
		      unsigned *requests)
{
	return http_parse_buffer_streamed(data, len, limits, 0, requests, NULL);
}

int http_parse_buffer_streamed(const char *data, size_t len,
			       const struct http_server_limits *limits, size_t max_stream,
			       unsigned *requests, size_t *streamed)
{
	size_t ignored = 0;
	struct http_server server = { .limits = *limits, .max_stream = max_stream,
				      .stream_hook = streamed ? stream_marked : NULL,
				      .arg = streamed ? (void *)streamed : (void *)&ignored };
	struct http_conn c = { .server = &server, .fd = -1 };
	size_t n;
	int rc = 0;

	*requests = 0;
	http_parser_init(&c.parser, HTTP_REQUEST);
	c.parser.data = &c;
	n = http_parser_execute(&c.parser, &settings, data, len);
	if (HTTP_PARSER_ERRNO(&c.parser) != HPE_OK || n != len)
		rc = -EINVAL;
	request_free(c.req);
	while (c.queue) {
		struct http_request *r = c.queue;

		c.queue = r->next;
		(*requests)++;
		request_free(r);
	}
	return rc;
}
