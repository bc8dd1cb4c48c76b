/*
 * The least an extension must do before its first event: register, listen, subscribe to the
 * Telemetry API, ask for the next event — with blocking sockets, nothing else. The floor
 * bench/start_server.c measures vigil's extension start against.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int api_fd(void)
{
	const char *api = getenv("AWS_LAMBDA_RUNTIME_API");
	struct sockaddr_in a = { .sin_family = AF_INET };
	char host[64];
	const char *colon = api ? strrchr(api, ':') : NULL;
	int fd;

	if (!colon || colon - api >= (long)sizeof(host))
		exit(2);
	memcpy(host, api, (size_t)(colon - api));
	host[colon - api] = '\0';
	inet_pton(AF_INET, host, &a.sin_addr);
	a.sin_port = htons((unsigned short)atoi(colon + 1));
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0)
		exit(1);
	return fd;
}

/* One request, its whole answer read into out; the Lambda-Extension-Identifier if any. */
static void call(int fd, const char *req, char *id, size_t idlen)
{
	char out[8192], *end, *h;
	size_t len = 0, body = 0;

	send(fd, req, strlen(req), 0);
	for (;;) {
		ssize_t n = recv(fd, out + len, sizeof(out) - 1 - len, 0);

		if (n <= 0)
			exit(1);
		len += (size_t)n;
		out[len] = '\0';
		end = strstr(out, "\r\n\r\n");
		if (!end)
			continue;
		h = strcasestr(out, "content-length:");
		body = h ? strtoul(h + 15, NULL, 10) : 0;
		if (len >= (size_t)(end - out) + 4 + body)
			break;
	}
	h = strcasestr(out, "lambda-extension-identifier:");
	if (id && h) {
		h += 28;
		while (*h == ' ')
			h++;
		snprintf(id, idlen, "%.*s", (int)strcspn(h, "\r\n"), h);
	}
}

int main(void)
{
	char id[128] = "", req[1024], body[512];
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int fd = api_fd(), ls = socket(AF_INET, SOCK_STREAM, 0);

	call(fd, "POST /2020-01-01/extension/register HTTP/1.1\r\nHost: api\r\n"
		 "Lambda-Extension-Name: bare\r\nContent-Type: application/json\r\n"
		 "Content-Length: 32\r\n\r\n{\"events\":[\"INVOKE\",\"SHUTDOWN\"]}", id, sizeof(id));
	bind(ls, (struct sockaddr *)&a, sizeof(a));
	listen(ls, 16);
	getsockname(ls, (struct sockaddr *)&a, &alen);
	snprintf(body, sizeof(body), "{\"schemaVersion\":\"2022-12-13\",\"types\":[\"platform\","
		 "\"function\"],\"buffering\":{\"timeoutMs\":25},\"destination\":{\"protocol\":"
		 "\"HTTP\",\"URI\":\"http://sandbox.localdomain:%d\"}}", ntohs(a.sin_port));
	snprintf(req, sizeof(req), "PUT /2022-07-01/telemetry HTTP/1.1\r\nHost: api\r\n"
		 "Lambda-Extension-Identifier: %s\r\nContent-Type: application/json\r\n"
		 "Content-Length: %zu\r\n\r\n%s", id, strlen(body), body);
	call(fd, req, NULL, 0);
	snprintf(req, sizeof(req), "GET /2020-01-01/extension/event/next HTTP/1.1\r\nHost: api\r\n"
		 "Lambda-Extension-Identifier: %s\r\n\r\n", id);
	call(fd, req, NULL, 0);
	return 0;
}
