/*
 * OTLP/gRPC in: the three Export services over cleartext HTTP/2 (prior knowledge, as gRPC
 * clients speak it), with libnghttp2's server session, on the caller's loop. A request is one
 * gRPC message (gzip when grpc-encoding says so), answered with the Export*ServiceResponse
 * and grpc-status 0, or a Trailers-Only error: INVALID_ARGUMENT (undecodable),
 * RESOURCE_EXHAUSTED (too large), UNAVAILABLE (the log queue full: retry), UNIMPLEMENTED
 * (another method). Connections are capped (the idle longest makes room) and closed when
 * idle a minute; streams per connection are capped by SETTINGS.
 */
#include "otlp_grpc.h"

#include <errno.h>
#include <nghttp2/nghttp2.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../util/log.h"
#include "../util/netaddr.h"

#define MAX_CONNS 64
#define MAX_STREAMS 32		/* concurrent streams a connection may open */
#define IDLE_S 60.0
#define SWEEP_S 5.0
#define READ_CHUNK 65536

static const char *const paths[OTLP_SIGNALS] = {
	"/opentelemetry.proto.collector.trace.v1.TraceService/Export",
	"/opentelemetry.proto.collector.logs.v1.LogsService/Export",
	"/opentelemetry.proto.collector.metrics.v1.MetricsService/Export",
};

struct stream {
	struct stream *prev, *next;	/* the connection's open streams */
	int sig;		/* -1: a path that is none of the three */
	bool gzip, too_large, grpc;
	struct buf body;
	struct buf answer;	/* the response message, framed */
	size_t sent;
	char status[8];
	char message[192];
};

struct conn {
	struct conn *prev, *next;
	struct otlp_grpc *g;
	int fd;
	struct loop_watch *watch;
	nghttp2_session *session;
	double active;		/* loop_now() of its last input */
	bool want_out;
	struct stream *streams;	/* open ones: freed with the session (which does not) */
};

struct otlp_grpc {
	struct loop *loop;
	struct otlp_in *in;
	size_t max_body;
	int fd;
	unsigned port;
	struct loop_watch *watch;
	struct loop_timer sweep;
	struct conn *conns;
	unsigned nconns;
	nghttp2_session_callbacks *cbs;
};

/* --- a request ------------------------------------------------------------------------------ */

static void stream_free(struct conn *c, struct stream *s)
{
	if (!s)
		return;
	if (s->prev)
		s->prev->next = s->next;
	else
		c->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	buf_free(&s->body);
	buf_free(&s->answer);
	free(s);
}

static ssize_t read_answer(nghttp2_session *session, int32_t id, uint8_t *out, size_t len,
			   uint32_t *flags, nghttp2_data_source *src, void *user)
{
	struct stream *s = src->ptr;
	size_t left = s->answer.len - s->sent;

	(void)user;
	if (len > left)
		len = left;
	memcpy(out, s->answer.data + s->sent, len);
	s->sent += len;
	if (s->sent == s->answer.len) {
		const nghttp2_nv trailers[] = {
			{ (uint8_t *)"grpc-status", (uint8_t *)"0", 11, 1, NGHTTP2_NV_FLAG_NONE },
		};

		*flags |= NGHTTP2_DATA_FLAG_EOF | NGHTTP2_DATA_FLAG_NO_END_STREAM;
		if (nghttp2_submit_trailer(session, id, trailers, 1) != 0)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	return (ssize_t)len;
}

/* grpc-message is percent-encoded (gRPC over HTTP/2). */
static void grpc_message(char *out, size_t cap, const char *text)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (const unsigned char *p = (const unsigned char *)text; *p && o + 4 < cap; p++) {
		if (*p >= 0x20 && *p < 0x7f && *p != '%') {
			out[o++] = (char)*p;
		} else {
			out[o++] = '%';
			out[o++] = hex[*p >> 4];
			out[o++] = hex[*p & 15];
		}
	}
	out[o] = '\0';
}

static void answer_error(nghttp2_session *session, int32_t id, struct stream *s, int code,
			 const char *message)
{
	nghttp2_nv h[4];
	size_t n = 0;

	snprintf(s->status, sizeof(s->status), "%d", code);
	grpc_message(s->message, sizeof(s->message), message);
#define NV(k, v) (nghttp2_nv){ (uint8_t *)(k), (uint8_t *)(v), strlen(k), strlen(v), NGHTTP2_NV_FLAG_NONE }
	h[n++] = NV(":status", "200");
	h[n++] = NV("content-type", "application/grpc");
	h[n++] = NV("grpc-status", s->status);
	h[n++] = NV("grpc-message", s->message);
	nghttp2_submit_response(session, id, h, n, NULL);
}

static void handle(struct otlp_grpc *g, nghttp2_session *session, int32_t id, struct stream *s)
{
	const uint8_t *msg;
	size_t len;
	struct buf plain;
	struct otlp_in_result res;
	nghttp2_nv h[2];
	nghttp2_data_provider dp = { .source.ptr = s, .read_callback = read_answer };
	struct buf out;

	if (s->sig < 0) {
		answer_error(session, id, s, 12, "vigil serves the OTLP Export methods only");
		return;
	}
	if (s->too_large) {
		otlp_in_count(g->in, (enum otlp_signal)s->sig, "too_large");
		answer_error(session, id, s, 8, "the message is larger than otlp_receiver_max_mb");
		return;
	}
	/* One message: the compressed flag, its length (big-endian), its bytes. */
	if (s->body.len < 5 || ((uint8_t)s->body.data[0] & ~1u) ||
	    ((size_t)(uint8_t)s->body.data[1] << 24 | (size_t)(uint8_t)s->body.data[2] << 16 |
	     (size_t)(uint8_t)s->body.data[3] << 8 | (uint8_t)s->body.data[4]) != s->body.len - 5) {
		otlp_in_count(g->in, (enum otlp_signal)s->sig, "invalid");
		answer_error(session, id, s, 3, "not one gRPC message (length prefix)");
		return;
	}
	msg = (const uint8_t *)s->body.data + 5;
	len = s->body.len - 5;
	buf_init(&plain);
	if (s->body.data[0] & 1) {
		int rc = s->gzip ? otlp_in_gunzip(msg, len, g->max_body, &plain) : -1;

		if (rc < 0) {
			otlp_in_count(g->in, (enum otlp_signal)s->sig, rc == -2 ? "too_large" : "invalid");
			answer_error(session, id, s, rc == -2 ? 8 : 3, rc == -2 ?
				     "the message inflates past otlp_receiver_max_mb" :
				     "a compressed message that is not gzip");
			buf_free(&plain);
			return;
		}
		msg = (const uint8_t *)plain.data;
		len = plain.len;
	}
	otlp_in_take(g->in, (enum otlp_signal)s->sig, msg ? msg : (const uint8_t *)"", len, &res);
	buf_free(&plain);
	if (res.status == -1) {
		answer_error(session, id, s, 3, res.message);
		return;
	}
	if (res.status == -2) {
		answer_error(session, id, s, 14, res.message);
		return;
	}
	buf_init(&out);
	otlp_in_response(&res, &out);
	buf_reset(&s->answer);
	buf_putc(&s->answer, 0);
	buf_putc(&s->answer, (char)(out.len >> 24));
	buf_putc(&s->answer, (char)(out.len >> 16));
	buf_putc(&s->answer, (char)(out.len >> 8));
	buf_putc(&s->answer, (char)out.len);
	buf_append(&s->answer, out.data, out.len);
	buf_free(&out);
	h[0] = NV(":status", "200");
	h[1] = NV("content-type", "application/grpc");
	nghttp2_submit_response(session, id, h, 2, &dp);
#undef NV
}

/* --- nghttp2's callbacks ------------------------------------------------------------------ */

static ssize_t on_send(nghttp2_session *session, const uint8_t *data, size_t len, int flags,
		       void *user)
{
	struct conn *c = user;
	ssize_t n;

	(void)session;
	(void)flags;
	if (c->fd < 0)
		return (ssize_t)len;	/* (fuzzing: the output goes nowhere) */
	n = send(c->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ? NGHTTP2_ERR_WOULDBLOCK :
								  NGHTTP2_ERR_CALLBACK_FAILURE;
	return n;
}

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user)
{
	struct conn *c = user;
	struct stream *s;

	if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST)
		return 0;
	s = calloc(1, sizeof(*s));
	if (!s)
		return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	s->sig = -1;
	buf_init(&s->body);
	buf_init(&s->answer);
	s->next = c->streams;
	if (c->streams)
		c->streams->prev = s;
	c->streams = s;
	nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, s);
	return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *user)
{
	struct stream *s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);

	(void)flags;
	(void)user;
	if (!s || frame->hd.type != NGHTTP2_HEADERS)
		return 0;
	if (namelen == 5 && memcmp(name, ":path", 5) == 0) {
		for (int i = 0; i < OTLP_SIGNALS; i++)
			if (valuelen == strlen(paths[i]) && memcmp(value, paths[i], valuelen) == 0)
				s->sig = i;
	} else if (namelen == 13 && memcmp(name, "grpc-encoding", 13) == 0) {
		s->gzip = valuelen == 4 && memcmp(value, "gzip", 4) == 0;
	}
	return 0;
}

static int on_data(nghttp2_session *session, uint8_t flags, int32_t id, const uint8_t *data,
		   size_t len, void *user)
{
	struct conn *c = user;
	struct stream *s = nghttp2_session_get_stream_user_data(session, id);

	(void)flags;
	if (!s || s->too_large)
		return 0;
	if (s->body.len + len > c->g->max_body + 5) {
		s->too_large = true;
		buf_free(&s->body);
		buf_init(&s->body);
		return 0;
	}
	buf_append(&s->body, data, len);
	return 0;
}

static int on_frame(nghttp2_session *session, const nghttp2_frame *frame, void *user)
{
	struct conn *c = user;
	struct stream *s;

	if ((frame->hd.type != NGHTTP2_DATA && frame->hd.type != NGHTTP2_HEADERS) ||
	    !(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	s = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	if (s)
		handle(c->g, session, frame->hd.stream_id, s);
	return 0;
}

static int on_close(nghttp2_session *session, int32_t id, uint32_t error, void *user)
{
	(void)error;
	stream_free(user, nghttp2_session_get_stream_user_data(session, id));
	nghttp2_session_set_stream_user_data(session, id, NULL);
	return 0;
}

static nghttp2_session_callbacks *callbacks(void)
{
	nghttp2_session_callbacks *cbs;

	if (nghttp2_session_callbacks_new(&cbs) != 0)
		return NULL;
	nghttp2_session_callbacks_set_send_callback(cbs, on_send);
	nghttp2_session_callbacks_set_on_begin_headers_callback(cbs, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cbs, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cbs, on_data);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cbs, on_frame);
	nghttp2_session_callbacks_set_on_stream_close_callback(cbs, on_close);
	return cbs;
}

static int session_start(struct conn *c, nghttp2_session_callbacks *cbs)
{
	/* Windows of 1 MiB a stream, 4 MiB the connection: a request of a few MiB arrives in a
	 * few round trips, not in 64 KiB steps. */
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, MAX_STREAMS },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20 },
	};

	if (nghttp2_session_server_new(&c->session, cbs, c) != 0)
		return -1;
	if (nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, iv, 2) != 0)
		return -1;
	return nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0, 4 << 20);
}

/* --- connections --------------------------------------------------------------------------- */

static void conn_close(struct conn *c)
{
	struct otlp_grpc *g = c->g;

	if (c->prev)
		c->prev->next = c->next;
	else
		g->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	g->nconns--;
	loop_unwatch(c->watch);
	close(c->fd);
	nghttp2_session_del(c->session);
	while (c->streams)
		stream_free(c, c->streams);
	free(c);
}

/* Send what nghttp2 has; false when the connection is over. */
static bool flush_out(struct conn *c)
{
	bool want;

	if (nghttp2_session_send(c->session) != 0)
		return false;
	if (!nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session))
		return false;
	want = nghttp2_session_want_write(c->session);
	if (want != c->want_out) {
		c->want_out = want;
		loop_watch_modify(c->watch, EPOLLIN | (want ? EPOLLOUT : 0));
	}
	return true;
}

static void on_conn(void *arg, uint32_t events)
{
	struct conn *c = arg;
	uint8_t in[READ_CHUNK];

	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
		for (int i = 0; i < 16; i++) {
			ssize_t n = recv(c->fd, in, sizeof(in), MSG_DONTWAIT);

			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
				conn_close(c);
				return;
			}
			if (n < 0)
				break;
			c->active = loop_now();
			if (nghttp2_session_mem_recv(c->session, in, (size_t)n) < 0) {
				/* Not HTTP/2 (or broken): a GOAWAY if nghttp2 queued one, then
				 * the connection is closed. */
				nghttp2_session_send(c->session);
				conn_close(c);
				return;
			}
			if ((size_t)n < sizeof(in))
				break;
		}
	}
	if (!flush_out(c))
		conn_close(c);
}

static void on_accept(void *arg, uint32_t events)
{
	struct otlp_grpc *g = arg;
	int one = 1;

	(void)events;
	for (;;) {
		int fd = accept4(g->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		struct conn *c;

		if (fd < 0)
			return;
		if (g->nconns >= MAX_CONNS) {
			/* The one idle longest makes room. */
			struct conn *idle = g->conns;

			for (struct conn *x = g->conns; x; x = x->next)
				if (x->active < idle->active)
					idle = x;
			conn_close(idle);
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->g = g;
		c->fd = fd;
		c->active = loop_now();
		if (session_start(c, g->cbs) < 0 ||
		    !(c->watch = loop_watch_fd(g->loop, fd, EPOLLIN, on_conn, c))) {
			if (c->session)
				nghttp2_session_del(c->session);
			close(fd);
			free(c);
			continue;
		}
		c->next = g->conns;
		if (g->conns)
			g->conns->prev = c;
		g->conns = c;
		g->nconns++;
		if (!flush_out(c))
			conn_close(c);
	}
}

static void on_sweep(void *arg)
{
	struct otlp_grpc *g = arg;
	double now = loop_now();

	for (struct conn *c = g->conns, *next; c; c = next) {
		next = c->next;
		if (now - c->active > IDLE_S)
			conn_close(c);
	}
	loop_timer_start(g->loop, &g->sweep, now + SWEEP_S, on_sweep, g);
}

struct otlp_grpc *otlp_grpc_start(struct loop *l, const char *addr, struct otlp_in *in,
				  size_t max_body)
{
	struct otlp_grpc *g = calloc(1, sizeof(*g));

	if (!g)
		return NULL;
	g->loop = l;
	g->in = in;
	g->max_body = max_body;
	g->cbs = callbacks();
	g->fd = netaddr_listen(addr, SOCK_STREAM, &g->port);
	if (!g->cbs || g->fd < 0) {
		log_warn("otlp-receiver", "cannot listen on %s: %s", addr,
			 errno == EINVAL ? "not HOST:PORT" : strerror(errno));
		otlp_grpc_stop(g);
		return NULL;
	}
	g->watch = loop_watch_fd(l, g->fd, EPOLLIN, on_accept, g);
	if (!g->watch) {
		otlp_grpc_stop(g);
		return NULL;
	}
	loop_timer_start(l, &g->sweep, loop_now() + SWEEP_S, on_sweep, g);
	log_info("otlp-receiver", "OTLP/gRPC listening on %s (port %u)", addr, g->port);
	return g;
}

unsigned otlp_grpc_port(const struct otlp_grpc *g)
{
	return g ? g->port : 0;
}

void otlp_grpc_stop(struct otlp_grpc *g)
{
	if (!g)
		return;
	while (g->conns)
		conn_close(g->conns);
	loop_timer_stop(&g->sweep);
	if (g->watch)
		loop_unwatch(g->watch);
	if (g->fd >= 0)
		close(g->fd);
	if (g->cbs)
		nghttp2_session_callbacks_del(g->cbs);
	free(g);
}

void otlp_grpc_feed(struct otlp_in *in, const uint8_t *data, size_t n)
{
	struct otlp_grpc g = { .in = in, .max_body = 1 << 20, .fd = -1 };
	struct conn c = { .g = &g, .fd = -1 };

	g.cbs = callbacks();
	if (g.cbs && session_start(&c, g.cbs) == 0) {
		if (nghttp2_session_mem_recv(c.session, data, n) >= 0)
			nghttp2_session_send(c.session);
	}
	if (c.session)
		nghttp2_session_del(c.session);
	while (c.streams)
		stream_free(&c, c.streams);
	if (g.cbs)
		nghttp2_session_callbacks_del(g.cbs);
}
