/*
 * A Lambda custom runtime in plain C for tests and benchmarks: one keep-alive socket to the
 * Runtime API, no libraries. The event says what to do:
 *   {"action":"echo"} (default)   answer the event itself
 *   {"action":"sleep","ms":200}  sleep, then answer {"slept_ms":200}
 *   {"action":"alloc","mb":100}  touch that much memory, then answer
 *   {"action":"big","bytes":N}   answer a JSON string of N bytes
 *   {"action":"error"}           post /error with errorType TestError
 *   {"action":"exit","code":1}   exit without answering
 *   {"action":"crash"}           SIGSEGV
 *   {"action":"print","text":T}  print T on stdout, then answer
 *   {"action":"run","cmd":PATH}  run PATH (no arguments) as a child, then answer its status
 * Environment: TEST_INIT_ERROR=1 posts /init/error and exits; TEST_INIT_SLEEP_MS sleeps
 * during init; TEST_NEVER_NEXT=1 never asks for an event; TEST_RESPONSE=TEXT answers every
 * event with TEXT; TEST_WRAP=1 answers {"statusCode":200,"body":"<the event as a string>"}.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static int sock = -1;
static char host[64];
static int port;

static void die(const char *what)
{
	fprintf(stderr, "test_runtime: %s\n", what);
	exit(70);
}

static void connect_api(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)port) };
	int one = 1;

	if (sock >= 0)
		close(sock);
	sock = socket(AF_INET, SOCK_STREAM, 0);
	inet_pton(AF_INET, host, &a.sin_addr);
	if (connect(sock, (struct sockaddr *)&a, sizeof(a)) < 0)
		die("connect");
	setsockopt(sock, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

static void send_all(const char *p, size_t n)
{
	while (n) {
		ssize_t w = send(sock, p, n, MSG_NOSIGNAL);

		if (w <= 0)
			die("send");
		p += w;
		n -= (size_t)w;
	}
}

/* Read one response: status, the request id header, the body (malloc'd). */
static int request(const char *method, const char *path, const char *extra, const char *body,
		   size_t blen, char *rid, char **out, size_t *olen)
{
	static char buf[1 << 16];
	static size_t have;
	char head[1024];
	size_t hl, clen = 0;
	char *end, *p;
	int status;

	hl = (size_t)snprintf(head, sizeof(head),
			      "%s %s HTTP/1.1\r\nHost: %s:%d\r\n%sContent-Length: %zu\r\n\r\n",
			      method, path, host, port, extra ? extra : "", blen);
	send_all(head, hl);
	if (blen)
		send_all(body, blen);
	for (;;) {
		end = memmem(buf, have, "\r\n\r\n", 4);
		if (end)
			break;
		ssize_t r = recv(sock, buf + have, sizeof(buf) - have - 1, 0);

		if (r <= 0)
			die("recv headers");
		have += (size_t)r;
	}
	*end = '\0';
	status = atoi(buf + 9);
	for (p = strstr(buf, "\r\n"); p && p < end; p = strstr(p + 2, "\r\n")) {
		if (strncasecmp(p + 2, "Content-Length:", 15) == 0)
			clen = strtoul(p + 17, NULL, 10);
		if (rid && strncasecmp(p + 2, "Lambda-Runtime-Aws-Request-Id:", 30) == 0)
			sscanf(p + 32, " %63[^\r]", rid);
	}
	{
		size_t off = (size_t)(end + 4 - buf), got = have - off;
		char *b = malloc(clen + 1);

		if (!b)
			die("malloc");
		memcpy(b, end + 4, got < clen ? got : clen);
		if (got > clen) {
			memmove(buf, end + 4 + clen, got - clen);
			have = got - clen;
		} else {
			have = 0;
		}
		while (got < clen) {
			ssize_t r = recv(sock, b + got, clen - got, 0);

			if (r <= 0)
				die("recv body");
			got += (size_t)r;
		}
		b[clen] = '\0';
		if (out) {
			*out = b;
			*olen = clen;
		} else {
			free(b);
		}
	}
	return status;
}

static long number_after(const char *json, const char *key, long def)
{
	const char *p = strstr(json, key);

	if (!p)
		return def;
	p = strchr(p + strlen(key), ':');
	return p ? strtol(p + 1, NULL, 10) : def;
}

static void post(const char *id, const char *verb, const char *body, size_t len,
		 const char *extra)
{
	char path[256];

	snprintf(path, sizeof(path), "/2018-06-01/runtime/invocation/%s/%s", id, verb);
	request("POST", path, extra, body, len, NULL, NULL, NULL);
}

int main(void)
{
	const char *api = getenv("AWS_LAMBDA_RUNTIME_API"), *colon;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!api || !(colon = strchr(api, ':')))
		die("no AWS_LAMBDA_RUNTIME_API");
	snprintf(host, sizeof(host), "%.*s", (int)(colon - api), api);
	port = atoi(colon + 1);
	connect_api();
	if (getenv("TEST_INIT_SLEEP_MS"))
		usleep((useconds_t)atol(getenv("TEST_INIT_SLEEP_MS")) * 1000);
	if (getenv("TEST_INIT_ERROR")) {
		const char *b = "{\"errorType\":\"Runtime.ConfigInvalid\",\"errorMessage\":\"bad\"}";

		request("POST", "/2018-06-01/runtime/init/error",
			"Lambda-Runtime-Function-Error-Type: Runtime.ConfigInvalid\r\n", b, strlen(b),
			NULL, NULL, NULL);
		return 1;
	}
	if (getenv("TEST_NEVER_NEXT"))
		for (;;)
			pause();
	for (;;) {
		char rid[64] = "", *ev = NULL;
		size_t elen = 0;
		int st = request("GET", "/2018-06-01/runtime/invocation/next", NULL, NULL, 0, rid,
				 &ev, &elen);

		if (st != 200)
			die("next did not answer 200");
		if (getenv("TEST_RESPONSE")) {
			const char *r = getenv("TEST_RESPONSE");

			post(rid, "response", r, strlen(r), NULL);
		} else if (getenv("TEST_WRAP")) {
			char *out = malloc(elen * 2 + 64);
			size_t o = (size_t)sprintf(out, "{\"statusCode\":200,\"body\":\"");

			for (size_t i = 0; i < elen; i++) {
				if (ev[i] == '"' || ev[i] == '\\')
					out[o++] = '\\';
				out[o++] = ev[i];
			}
			o += (size_t)sprintf(out + o, "\"}");
			post(rid, "response", out, o, NULL);
			free(out);
		} else if (strstr(ev, "\"sleep\"")) {
			long ms = number_after(ev, "\"ms\"", 0);
			char out[64];

			usleep((useconds_t)ms * 1000);
			snprintf(out, sizeof(out), "{\"slept_ms\":%ld}", ms);
			post(rid, "response", out, strlen(out), NULL);
		} else if (strstr(ev, "\"alloc\"")) {
			long mb = number_after(ev, "\"mb\"", 0);
			char *mem = malloc((size_t)mb << 20), out[64];

			if (mem)
				for (long i = 0; i < (mb << 20); i += 4096)
					mem[i] = (char)i;
			snprintf(out, sizeof(out), "{\"allocated_mb\":%ld}", mb);
			post(rid, "response", out, strlen(out), NULL);
			free(mem);
		} else if (strstr(ev, "\"big\"")) {
			long n = number_after(ev, "\"bytes\"", 0);
			char *out = malloc((size_t)n + 3);

			out[0] = '"';
			memset(out + 1, 'x', (size_t)n);
			out[n + 1] = '"';
			post(rid, "response", out, (size_t)n + 2, NULL);
			free(out);
		} else if (strstr(ev, "\"error\"")) {
			const char *b = "{\"errorType\":\"TestError\",\"errorMessage\":\"boom\","
					"\"stackTrace\":[]}";

			post(rid, "error", b, strlen(b),
			     "Lambda-Runtime-Function-Error-Type: Unhandled\r\n");
		} else if (strstr(ev, "\"exit\"")) {
			exit((int)number_after(ev, "\"code\"", 1));
		} else if (strstr(ev, "\"crash\"")) {
			raise(SIGSEGV);
		} else if (strstr(ev, "\"run\"")) {
			const char *t = strstr(ev, "\"cmd\"");
			char path[256] = "", out[320];
			int status = -1;
			pid_t pid;

			if (t && (t = strchr(t + 5, '"')))
				snprintf(path, sizeof(path), "%.*s", (int)strcspn(t + 1, "\""), t + 1);
			pid = fork();
			if (pid == 0) {
				execl(path, path, (char *)NULL);
				_exit(127);
			}
			if (pid > 0)
				waitpid(pid, &status, 0);
			snprintf(out, sizeof(out), "{\"ran\":\"%s\",\"status\":%d}", path, status);
			post(rid, "response", out, strlen(out), NULL);
		} else if (strstr(ev, "\"print\"")) {
			const char *t = strstr(ev, "\"text\"");

			if (t && (t = strchr(t + 6, '"')))
				printf("%.*s\n", (int)strcspn(t + 1, "\""), t + 1);
			post(rid, "response", "{\"printed\":true}", 16, NULL);
		} else {
			post(rid, "response", ev, elen, NULL);
		}
		free(ev);
	}
}
