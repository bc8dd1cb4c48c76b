/* A blocking HTTP/1.1 client on one keep-alive socket. See http_client.h. */
#include "http_client.h"

#include <errno.h>
#include <http_parser.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <unistd.h>

#include "../util/buf.h"
#include "../util/netaddr.h"
#include "resolve.h"

struct parse_state {
	struct http_response *resp;
	struct buf body;
	bool last_was_value;
	bool complete;
	bool failed;
};

int http_client_init(struct http_client *c, const char *hostport)
{
	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (netaddr_parse(hostport, &c->addr) < 0)
		return -EINVAL;
	snprintf(c->host, sizeof(c->host), "%s", hostport);
	return 0;
}

int http_client_init_remote(struct http_client *c, const char *host, unsigned port, bool tls,
			    const struct tls_trust *trust)
{
	struct in6_addr a6;
	bool v6 = inet_pton(AF_INET6, host, &a6) == 1;
	char hostport[300];

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	if (!*host || strlen(host) >= sizeof(c->name) || port == 0 || port > 65535)
		return -EINVAL;
	snprintf(hostport, sizeof(hostport), v6 ? "[%s]:%u" : "%s:%u", host, port);
	if (netaddr_parse(hostport, &c->addr) < 0 || strcmp(host, "localhost") == 0) {
		/* A name: resolved at each connect, so a moved endpoint is followed. */
		if (!resolve_is_host_name(host))
			return -EINVAL;
		c->resolve = true;
	}
	snprintf(c->name, sizeof(c->name), "%s", host);
	c->port = port;
	if (port == (tls ? 443u : 80u))
		snprintf(c->host, sizeof(c->host), v6 ? "[%s]" : "%s", host);
	else
		snprintf(c->host, sizeof(c->host), "%s", hostport);
	c->tls = tls;
	c->trust = trust;
	return 0;
}

void http_client_close(struct http_client *c)
{
	tls_free(c->conn);
	c->conn = NULL;
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static int connect_addr(struct http_client *c, const struct sockaddr *sa, socklen_t len)
{
	int one = 1;

	c->fd = socket(sa->sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return -errno;
	if (c->timeout_s > 0) {
		/* Linux applies SO_SNDTIMEO to connect() too. */
		struct timeval tv = { .tv_sec = (time_t)c->timeout_s,
				      .tv_usec = (suseconds_t)((c->timeout_s - (double)(time_t)c->timeout_s) * 1e6) };

		setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
		setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	while (connect(c->fd, sa, len) < 0) {
		int e = errno;

		if (e == EINTR)
			continue;
		if (e == EINPROGRESS || e == EAGAIN)	/* SO_SNDTIMEO ran out */
			e = ETIMEDOUT;
		close(c->fd);
		c->fd = -1;
		return -e;
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return 0;
}

/* Connect to c->addr, or to each address the name resolves to until one answers. */
static int connect_now(struct http_client *c)
{
	int rc = -EHOSTUNREACH;

	c->error[0] = '\0';
	if (!c->resolve) {
		rc = connect_addr(c, (struct sockaddr *)&c->addr,
				  c->addr.ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
								   sizeof(struct sockaddr_in));
	} else {
		struct sockaddr_storage addrs[RESOLVE_MAX];
		struct resolve_conf rconf = { .timeout_ms = (int)(c->timeout_s * 1000) };
		int n = resolve_host(c->name, c->port, addrs, RESOLVE_MAX, &rconf,
				     c->error, sizeof(c->error));

		if (n < 0)
			return -EHOSTUNREACH;
		for (int i = 0; i < n; i++) {
			rc = connect_addr(c, (struct sockaddr *)&addrs[i],
					  addrs[i].ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
									    sizeof(struct sockaddr_in));
			if (rc == 0)
				break;
		}
	}
	if (rc == 0 && c->tls) {
		c->conn = tls_connect(c->fd, c->name, c->trust, c->error,
				      sizeof(c->error));
		if (!c->conn) {
			http_client_close(c);
			rc = -EPROTO;
		}
	}
	return rc;
}


static int send_all(struct http_client *c, const char *p, size_t n)
{
	if (c->conn)
		return tls_write_all(c->conn, p, n);
	while (n) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return w < 0 ? (errno == EAGAIN ? -ETIMEDOUT : -errno) : -EPIPE;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
	struct parse_state *st = p->data;
	struct http_response *r = st->resp;
	struct http_header *h;

	if (st->last_was_value || r->nheaders == 0) {
		if (r->nheaders >= 100)
			return -1;
		h = realloc(r->headers, (r->nheaders + 1) * sizeof(*h));
		if (!h)
			return -1;
		r->headers = h;
		r->headers[r->nheaders].name = strndup(at, n);
		r->headers[r->nheaders].value = strdup("");
		r->nheaders++;
	} else {
		h = &r->headers[r->nheaders - 1];
		size_t ol = strlen(h->name);
		char *t = realloc(h->name, ol + n + 1);

		if (!t)
			return -1;
		memcpy(t + ol, at, n);
		t[ol + n] = '\0';
		h->name = t;
	}
	st->last_was_value = false;
	return r->headers[r->nheaders - 1].name ? 0 : -1;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
	struct parse_state *st = p->data;
	struct http_header *h = &st->resp->headers[st->resp->nheaders - 1];
	size_t ol = strlen(h->value);
	char *t;

	if (ol + n > 16384)
		return -1;
	t = realloc(h->value, ol + n + 1);
	if (!t)
		return -1;
	memcpy(t + ol, at, n);
	t[ol + n] = '\0';
	h->value = t;
	st->last_was_value = true;
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct parse_state *st = p->data;

	if (st->body.len + n > HTTP_CLIENT_BODY_MAX)
		return -1;
	buf_append(&st->body, at, n);
	return st->body.failed ? -1 : 0;
}

static int on_complete(http_parser *p)
{
	struct parse_state *st = p->data;

	st->complete = true;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings settings = {
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_body = on_body,
	.on_message_complete = on_complete,
};

/* Bytes of an answer into the parser (n 0: the peer's EOF). 1 once the answer is complete,
 * 0 for more, -EPROTO when it cannot be one. */
static int feed(http_parser *parser, struct parse_state *st, const char *data, size_t n)
{
	http_parser_execute(parser, &settings, n ? data : NULL, n);
	if (HTTP_PARSER_ERRNO(parser) != HPE_OK && HTTP_PARSER_ERRNO(parser) != HPE_PAUSED)
		return -EPROTO;
	if (st->complete)
		return 1;
	return n ? 0 : -EPROTO;	/* EOF ends a body; else it ended too soon */
}

/* The parsed answer into resp (its body whole). */
static int finish(http_parser *parser, struct parse_state *st, struct http_response *resp)
{
	resp->status = (int)parser->status_code;
	if (!st->body.data)
		buf_append(&st->body, "", 0);
	resp->body = buf_steal(&st->body, &resp->body_len);
	if (!resp->body)
		resp->body = calloc(1, 1);
	return resp->body ? 0 : -ENOMEM;
}

/* Read one answer. -ECONNRESET when the connection closed before any byte of it. */
static int read_response(struct http_client *c, struct http_response *resp)
{
	struct parse_state st = { .resp = resp };
	http_parser parser;
	char chunk[16384];
	size_t total = 0;
	int rc = 0;

	http_parser_init(&parser, HTTP_RESPONSE);
	parser.data = &st;
	buf_init(&st.body);
	while (rc == 0) {
		ssize_t n;

		/* Acknowledge what arrives at once: a server that writes an answer's headers and
		 * body apart with Nagle's algorithm on (Python's http.server, for one) holds the
		 * body until the headers are acknowledged, and a delayed ACK is 40 ms (measured:
		 * the extension's start 52 ms instead of 3). Cleared by the kernel as it goes, so
		 * set before each read. */
		setsockopt(c->fd, IPPROTO_TCP, TCP_QUICKACK, &(int){ 1 }, sizeof(int));
		n = c->conn ? tls_read(c->conn, chunk, sizeof(chunk)) :
			      recv(c->fd, chunk, sizeof(chunk), 0);

		if (n < 0 && !c->conn && errno == EINTR)
			continue;	/* thawed after a freeze: keep waiting */
		if (n < 0 || (n == 0 && total == 0)) {
			int e = n < 0 ? (c->conn ? (int)-n : errno == EAGAIN ? ETIMEDOUT : errno) :
					ECONNRESET;

			buf_free(&st.body);
			return -e;
		}
		total += (size_t)n;
		rc = feed(&parser, &st, chunk, (size_t)n);
	}
	if (rc < 0) {
		buf_free(&st.body);
		return rc;
	}
	rc = finish(&parser, &st, resp);
	if (!http_should_keep_alive(&parser))
		http_client_close(c);
	return rc;
}

int http_response_parse(const char *data, size_t n, size_t piece, struct http_response *resp)
{
	struct parse_state st = { .resp = resp };
	http_parser parser;
	size_t at = 0;
	int rc = 0;

	memset(resp, 0, sizeof(*resp));
	http_parser_init(&parser, HTTP_RESPONSE);
	parser.data = &st;
	buf_init(&st.body);
	while (rc == 0) {
		size_t k = n - at < piece ? n - at : piece;

		rc = feed(&parser, &st, data + at, k);
		at += k;
	}
	if (rc < 0) {
		buf_free(&st.body);
		return rc;
	}
	return finish(&parser, &st, resp);
}

int http_client_request(struct http_client *c, const char *method, const char *path,
			const char *const *headers, const void *body, size_t len,
			struct http_response *resp)
{
	struct buf req;
	int rc = 0;

	memset(resp, 0, sizeof(*resp));
	buf_init(&req);
	buf_printf(&req, "%s %s HTTP/1.1\r\nHost: %s\r\n", method, path, c->host);
	for (size_t i = 0; headers && headers[i]; i += 2)
		buf_printf(&req, "%s: %s\r\n", headers[i], headers[i + 1]);
	buf_printf(&req, "Content-Length: %zu\r\n\r\n", len);
	if (len)
		buf_append(&req, body, len);
	if (req.failed) {
		buf_free(&req);
		return -ENOMEM;
	}
	for (int attempt = 0; attempt < 2; attempt++) {
		bool reused = c->fd >= 0;

		if (!reused && (rc = connect_now(c)) < 0)
			break;
		rc = send_all(c, req.data, req.len);
		if (rc == 0 && c->on_sent) {
			void (*sent)(void *) = c->on_sent;

			c->on_sent = NULL;
			sent(c->on_sent_arg);
		}
		if (rc == 0)
			rc = read_response(c, resp);
		if (rc == 0)
			break;
		http_response_free(resp);
		http_client_close(c);
		/* Only a kept-alive connection the server had closed is worth a second try. */
		if (!reused || (rc != -ECONNRESET && rc != -EPIPE))
			break;
	}
	buf_free(&req);
	return rc;
}

int http_url_parse(const char *url, struct http_url *u, char *err, size_t err_len)
{
	const char *rest, *end, *host, *colon;
	size_t hl;

	memset(u, 0, sizeof(*u));
	u->tls = strncmp(url, "https://", 8) == 0;
	if (!u->tls && strncmp(url, "http://", 7) != 0)
		goto bad;
	rest = url + (u->tls ? 8 : 7);
	end = rest + strcspn(rest, "/?#");
	if (memchr(rest, '@', (size_t)(end - rest))) {
		snprintf(err, err_len, "credentials (user:password@) go in their own settings, "
			 "not in the URL");
		return -1;
	}
	if (*rest == '[') {	/* [IPv6]:PORT */
		const char *close = memchr(rest, ']', (size_t)(end - rest));

		if (!close)
			goto bad;
		host = rest + 1;
		hl = (size_t)(close - host);
		colon = close + 1;
		if (colon != end && *colon != ':')
			goto bad;
	} else {
		host = rest;
		colon = memchr(rest, ':', (size_t)(end - rest));
		hl = (size_t)((colon ? colon : end) - rest);
	}
	if (hl == 0 || hl >= sizeof(u->host))
		goto bad;
	memcpy(u->host, host, hl);
	u->port = u->tls ? 443 : 80;
	if (colon && colon != end) {
		unsigned long p = 0;
		const char *d = colon + 1;

		for (; d < end && *d >= '0' && *d <= '9' && p <= 65535; d++)
			p = p * 10 + (unsigned long)(*d - '0');
		if (d != end || d == colon + 1 || p == 0 || p > 65535)
			goto bad;
		u->port = (unsigned)p;
	}
	if (*end && *end != '/') {
		snprintf(err, err_len, "'%s': the path must start with /", url);
		return -1;
	}
	if (strlen(*end ? end : "/") >= sizeof(u->path))
		goto bad;
	snprintf(u->path, sizeof(u->path), "%s", *end ? end : "/");
	return 0;
bad:
	snprintf(err, err_len, "'%s' is not http[s]://HOST[:PORT]/PATH", url);
	return -1;
}

const char *http_response_header(const struct http_response *r, const char *name)
{
	for (size_t i = 0; i < r->nheaders; i++) {
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	}
	return NULL;
}

void http_response_free(struct http_response *r)
{
	http_headers_free(r->headers, r->nheaders);
	free(r->body);
	memset(r, 0, sizeof(*r));
}
