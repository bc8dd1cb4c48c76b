/* One HTTP/1.1 POST on the event loop. See http_post.h. */
#include "http_post.h"

#include <errno.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../util/buf.h"

#define ANSWER_MAX (64 * 1024)	/* the listener's answer is read and dropped; cap it */

struct http_post {
	struct loop *loop;
	int fd;
	struct loop_watch *watch;
	struct loop_timer timer;
	struct buf out;
	size_t out_off;
	http_parser parser;
	size_t answer_bytes;
	bool complete;
	int early_error;	/* connect failed at once: reported from a zero timer */
	http_post_done_fn done;
	void *arg;
};

static void finish(struct http_post *p, int status)
{
	http_post_done_fn done = p->done;
	void *arg = p->arg;

	http_post_cancel(p);
	if (done)
		done(arg, status);
}

static int on_complete(http_parser *hp)
{
	struct http_post *p = hp->data;

	p->complete = true;
	return 0;
}

static const http_parser_settings settings = { .on_message_complete = on_complete };

static void on_event(void *arg, uint32_t events)
{
	struct http_post *p = arg;
	char chunk[8192];

	if (p->out_off < p->out.len && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int err = 0;
		socklen_t el = sizeof(err);

		getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &el);
		if (err) {
			finish(p, -err);
			return;
		}
		while (p->out_off < p->out.len) {
			ssize_t n = send(p->fd, p->out.data + p->out_off, p->out.len - p->out_off,
					 MSG_NOSIGNAL);

			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && errno == EAGAIN)
				return;
			if (n <= 0) {
				finish(p, -(errno ? errno : EPIPE));
				return;
			}
			p->out_off += (size_t)n;
		}
		loop_watch_modify(p->watch, EPOLLIN);
		return;
	}
	for (;;) {
		ssize_t n = recv(p->fd, chunk, sizeof(chunk), 0);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0) {
			finish(p, -errno);
			return;
		}
		http_parser_execute(&p->parser, &settings, chunk, (size_t)n);
		p->answer_bytes += (size_t)n;
		if (p->complete || (n == 0 && p->parser.status_code)) {
			finish(p, p->parser.status_code ? (int)p->parser.status_code : -EPROTO);
			return;
		}
		if (n == 0 || HTTP_PARSER_ERRNO(&p->parser) != HPE_OK ||
		    p->answer_bytes > ANSWER_MAX) {
			finish(p, -EPROTO);
			return;
		}
	}
}

static void on_timeout(void *arg)
{
	struct http_post *p = arg;

	finish(p, p->early_error ? -p->early_error : -ETIMEDOUT);
}

struct http_post *http_post_start(struct loop *l, const struct sockaddr_storage *addr,
				  const char *host, const char *path, const char *content_type,
				  const void *body, size_t len, double timeout_s,
				  http_post_done_fn done, void *arg)
{
	struct http_post *p = calloc(1, sizeof(*p));
	socklen_t alen = addr->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
						       sizeof(struct sockaddr_in);

	if (!p)
		return NULL;
	p->loop = l;
	p->done = done;
	p->arg = arg;
	http_parser_init(&p->parser, HTTP_RESPONSE);
	p->parser.data = p;
	buf_printf(&p->out, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\n"
			    "Content-Length: %zu\r\nConnection: close\r\n\r\n",
		   path, host, content_type, len);
	buf_append(&p->out, body, len);
	p->fd = socket(addr->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->out.failed || p->fd < 0) {
		if (p->fd >= 0)
			close(p->fd);
		buf_free(&p->out);
		free(p);
		return NULL;
	}
	if (connect(p->fd, (const struct sockaddr *)addr, alen) < 0 && errno != EINPROGRESS) {
		/* Report through the callback, as any other failure, but not re-entrantly. */
		p->early_error = errno;
		close(p->fd);
		p->fd = -1;
		loop_timer_start(l, &p->timer, loop_now(), on_timeout, p);
		return p;
	}
	p->watch = loop_watch_fd(l, p->fd, EPOLLOUT, on_event, p);
	loop_timer_start(l, &p->timer, loop_now() + timeout_s, on_timeout, p);
	return p;
}

void http_post_cancel(struct http_post *p)
{
	if (!p)
		return;
	loop_unwatch(p->watch);
	loop_timer_stop(&p->timer);
	if (p->fd >= 0)
		close(p->fd);
	buf_free(&p->out);
	free(p);
}
