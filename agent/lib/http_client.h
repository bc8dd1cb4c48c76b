/*
 * A small blocking HTTP/1.1 client: one keep-alive connection, answers parsed by http-parser.
 * For the local Lambda APIs (numeric address, no timeout: the long polls of /next may block for
 * hours) and for remote_write pushes (a host name resolved at each connect by resolve.c,
 * TLS on BearSSL, timeouts). No libcurl: it starts in microseconds and costs no memory to speak of.
 */
#ifndef VIGIL_HTTP_CLIENT_H
#define VIGIL_HTTP_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "http_server.h"
#include "tls.h"

#define HTTP_CLIENT_BODY_MAX (8 * 1024 * 1024)

struct http_client {
	struct sockaddr_storage addr;
	char host[300];		/* the Host header */
	char name[256];		/* the remote host as given (TLS server name) */
	bool resolve;		/* name is resolved at each connect; else addr is set */
	unsigned port;		/* with resolve */
	int fd;
	double timeout_s;	/* 0: none (the default); else for connect, each send and recv */
	bool tls;
	const struct tls_trust *trust;	/* with tls: NULL verifies nothing */
	struct tls_conn *conn;
	char error[512];	/* why the last connection failed, when there is more than errno */
	/* Called once, then cleared, when the next request is sent, before its answer is
	 * awaited: work that may overlap the server's answer (the extension starts its listener
	 * thread while its first event/next is on the way). */
	void (*on_sent)(void *arg);
	void *on_sent_arg;
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
/*
 * host: a name, an IPv4 address or an IPv6 one (without brackets); resolved at each connect
 * (resolve.h) when it is not numeric. tls: speak TLS, sending host as SNI and checking the
 * certificate against trust (NULL: no check). 0 or -EINVAL.
 */
int http_client_init_remote(struct http_client *c, const char *host, unsigned port, bool tls,
			    const struct tls_trust *trust);
void http_client_close(struct http_client *c);

/*
 * One request; headers are name, value pairs, NULL-terminated (may be NULL). A connection
 * the server closed while idle is reopened once. 0 with resp filled (free it with
 * http_response_free), or -errno.
 */
int http_client_request(struct http_client *c, const char *method, const char *path,
			const char *const *headers, const void *body, size_t len,
			struct http_response *resp);
#define HTTP_URL_PATH_MAX 512

struct http_url {
	char host[256];		/* without brackets */
	unsigned port;		/* 80 or 443 unless given */
	bool tls;		/* https */
	char path[HTTP_URL_PATH_MAX];	/* with its query; "/" when absent */
};

/*
 * http[s]://HOST[:PORT][/PATH]: HOST a name, an IPv4 address or [an IPv6 one]. Credentials in
 * the URL (user:pass@) are refused: they would show wherever the URL is printed. 0, or -1 with
 * err filled.
 */
int http_url_parse(const char *url, struct http_url *u, char *err, size_t err_len);
const char *http_response_header(const struct http_response *r, const char *name);
void http_response_free(struct http_response *r);

/* An answer from memory, fed piece bytes at a time (the client's own parsing, for fuzzing
 * and tests): 0 with resp filled, or -EPROTO; free it with http_response_free either way. */
int http_response_parse(const char *data, size_t n, size_t piece, struct http_response *resp);

#endif
