/*
 * A small blocking HTTP/1.1 client for the local Lambda APIs: one keep-alive connection,
 * answers parsed by http-parser, no timeout (the long polls of /next may block for hours).
 * No libcurl: it starts in microseconds and costs no memory to speak of.
 */
#ifndef VIGIL_HTTP_CLIENT_H
#define VIGIL_HTTP_CLIENT_H

#include <stddef.h>
#include <sys/socket.h>

#include "http_server.h"

#define HTTP_CLIENT_BODY_MAX (8 * 1024 * 1024)

struct http_client {
	struct sockaddr_storage addr;
	char host[128];		/* the Host header */
	int fd;
	double timeout_s;	/* 0: none (the default); else for connect, each send and recv */
};

struct http_response {
	int status;
	struct http_header *headers;
	size_t nheaders;
	char *body;		/* NUL-terminated */
	size_t body_len;
};

/* hostport: "127.0.0.1:9001". 0 or -EINVAL. Connects on first use. */
int http_client_init(struct http_client *c, const char *hostport);
void http_client_close(struct http_client *c);

/*
 * One request; headers are name, value pairs, NULL-terminated (may be NULL). A connection
 * the server closed while idle is reopened once. 0 with resp filled (free it with
 * http_response_free), or -errno.
 */
int http_client_request(struct http_client *c, const char *method, const char *path,
			const char *const *headers, const void *body, size_t len,
			struct http_response *resp);
const char *http_response_header(const struct http_response *r, const char *name);
void http_response_free(struct http_response *r);

#endif
