/*
 * A small HTTP/1.1 server on the event loop, parsing with http-parser. A handler may answer
 * at once or keep the request and answer later (long polls). Limits: header bytes and
 * count, body size (larger bodies are drained and flagged, then the handler decides),
 * connections (at the limit the connection idle longest makes room: idle ones cannot lock
 * the server out), the time to send a whole request once begun (slow senders are cut), and
 * an idle timeout that never applies to a request awaiting its answer.
 */
#ifndef VIGIL_HTTP_SERVER_H
#define VIGIL_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include "loop.h"

struct http_header {
	char *name;
	char *value;
};

struct http_request {
	struct http_request *next;	/* pipelined requests of one connection */
	struct http_conn *conn;		/* NULL once the client went away */
	bool keep_alive;
	int method;			/* enum http_method of http_parser.h */
	const char *method_name;
	char *url;			/* raw request target: path and query */
	struct http_header *headers;
	size_t nheaders;
	char *body;			/* NUL-terminated; chunked bodies arrive decoded */
	size_t body_len;
	size_t body_seen;		/* bytes of body the client sent */
	bool body_too_large;		/* body_seen > max_body: body holds nothing */
	double headers_at;		/* loop_now() when its headers were in */
	double received_at;		/* loop_now() when the request was complete */
	/* Called when the client goes away before the answer; the request is freed after. */
	void (*on_abort)(struct http_request *req, void *arg);
	void *abort_arg;
	/* A streamed body (http_server_set_stream): its bytes go to on_chunk as they arrive and
	 * are not kept (body stays empty; trailers join the headers); stream_gone is called if
	 * the request is freed before the handler had it (the client went away midway). The
	 * hook sets them; either may be cleared later. */
	bool streamed;
	bool dispatched;
	void (*on_chunk)(struct http_request *req, const char *data, size_t n, void *arg);
	void (*stream_gone)(struct http_request *req, void *arg);
	void *chunk_arg;
};

struct http_server_limits {
	size_t max_body;		/* larger bodies are drained and flagged */
	size_t max_drain;		/* …up to this many bytes, then the connection is
					 * closed (0: 4 × max_body + 1 MiB) */
	size_t max_header_bytes;	/* request line + headers */
	unsigned max_headers;
	unsigned max_connections;	/* at the limit, the connection idle longest is closed
					 * for a new one (none idle: the new one is) */
	double idle_timeout;		/* seconds without progress (not while awaiting an answer) */
	double request_timeout;		/* seconds from a request's first byte to its last
					 * (0: none) */
};

typedef void (*http_handler_fn)(void *arg, struct http_request *req);

struct http_server;

/* Listen on HOST:PORT (port 0: any). NULL with errno set on failure. */
struct http_server *http_server_new(struct loop *l, const char *listen,
				    const struct http_server_limits *limits,
				    http_handler_fn handler, void *arg);
unsigned http_server_port(const struct http_server *s);
/* Streamed request bodies: hook is asked when a request's headers are in (method, url and
 * headers set); true, with req->on_chunk set, streams its body (no max_body and no
 * request_timeout for it: up to max_stream bytes, then the connection is closed). */
void http_server_set_stream(struct http_server *s,
			    bool (*hook)(void *arg, struct http_request *req), size_t max_stream);
/* Close the listener and every connection (pending requests are aborted). */
void http_server_destroy(struct http_server *s);

/* Free n malloc'd headers (names and values) and the array. */
void http_headers_free(struct http_header *h, size_t n);

/* Take the request's body (malloc'd, NUL-terminated; the caller frees it): req->body becomes
 * NULL. For handlers that keep a body past their answer without copying it. */
char *http_request_take_body(struct http_request *req, size_t *len);
/* The value of a header (case-insensitive name), or NULL. */
const char *http_request_header(const struct http_request *req, const char *name);

/*
 * Answer req and free it. headers: name, value pairs, NULL-terminated (may be NULL).
 * Content-Length is added. When the client went away the answer is dropped. 0 or -errno.
 */
int http_respond(struct http_request *req, int status, const char *const *headers,
		 const void *body, size_t len);
/* Close the connection of req without an answer, and free req. */
void http_drop(struct http_request *req);

/* Parse data as one connection's input without a socket (tests and fuzzing): 0, or -EINVAL
 * when the server would answer 4xx; *requests counts the complete requests. */
int http_parse_buffer(const char *data, size_t len, const struct http_server_limits *limits,
		      unsigned *requests);
/* The same with streamed bodies (requests with Lambda-Runtime-Function-Response-Mode:
 * streaming): their bytes counted into *streamed, up to max_stream (0: no limit). */
int http_parse_buffer_streamed(const char *data, size_t len,
			       const struct http_server_limits *limits, size_t max_stream,
			       unsigned *requests, size_t *streamed);

/* The reason phrase of a status code. */
const char *http_status_text(int status);

#endif
