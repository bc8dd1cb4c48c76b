/*
 * An extension's start against a stand-in for Lambda's Extensions and Telemetry APIs that
 * answers as Lambda's Go server does (TCP_NODELAY, each small answer in one write): the
 * time from fork to the extension's first /extension/event/next, over ROUNDS starts of each
 * program, run in turn so both see the same machine.
 *
 *   start_server ROUNDS PROGRAM [ARG...] [-- PROGRAM [ARG...]]...
 *
 * Prints one line per program: the median, p10 and p90 in ms, and the peak RSS (kB) of the
 * process when it reached event/next. Each program gets AWS_LAMBDA_RUNTIME_API and inherits
 * the rest of the environment; it is SIGKILLed once it asked for its first event.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROGRAMS 4
#define MAX_ROUNDS 1000

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static long peak_rss_kb(pid_t pid)
{
	char path[64], line[256];
	long kb = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmHWM: %ld", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

/* One connection's bytes so far; answers each whole request in one write. Returns 1 when
 * the request was event/next, 0 otherwise, -1 on close. */
static int serve(int fd, char *buf, size_t *len)
{
	static const char reg_body[] = "{\"functionName\":\"fn\",\"functionVersion\":\"$LATEST\","
				       "\"handler\":\"index.handler\",\"accountId\":\"000000000000\"}";
	char out[1024];
	ssize_t n = recv(fd, buf + *len, 65536 - *len, 0);
	char *end;
	size_t head, body = 0;
	const char *cl;
	int w;

	if (n <= 0)
		return -1;
	*len += (size_t)n;
	buf[*len] = '\0';
	end = strstr(buf, "\r\n\r\n");
	if (!end)
		return 0;
	head = (size_t)(end - buf) + 4;
	cl = strcasestr(buf, "content-length:");
	if (cl && cl < end)
		body = strtoul(cl + 15, NULL, 10);
	if (*len < head + body)
		return 0;
	if (strncmp(buf, "GET /2020-01-01/extension/event/next", 36) == 0)
		return 1;
	if (strstr(buf, "/extension/register"))
		w = snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			     "Lambda-Extension-Identifier: 2b9c1e5e-6ef3-4c27-9b1f-56b0a2b8d1c2\r\n"
			     "Date: Sat, 05 Dec 2026 00:00:00 GMT\r\nContent-Length: %zu\r\n\r\n%s",
			     sizeof(reg_body) - 1, reg_body);
	else
		w = snprintf(out, sizeof(out), "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
			     "Date: Sat, 05 Dec 2026 00:00:00 GMT\r\nContent-Length: 4\r\n\r\n\"OK\"");
	send(fd, out, (size_t)w, MSG_NOSIGNAL);
	memmove(buf, buf + head + body, *len - head - body);
	*len -= head + body;
	return 0;
}

int main(int argc, char **argv)
{
	char *progs[MAX_PROGRAMS][32], api[64];
	int nprog = 0, rounds, ls, ep, one = 1;
	static double t[MAX_PROGRAMS][MAX_ROUNDS];
	long rss[MAX_PROGRAMS] = { 0 };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);

	if (argc < 3 || (rounds = atoi(argv[1])) < 1 || rounds > MAX_ROUNDS) {
		fprintf(stderr, "usage: start_server ROUNDS PROGRAM [ARG...] [-- PROGRAM...]\n");
		return 2;
	}
	for (int i = 2, k = 0; i < argc && nprog < MAX_PROGRAMS; i++) {
		if (strcmp(argv[i], "--") == 0) {
			progs[nprog++][k] = NULL;
			k = 0;
			continue;
		}
		if (k < 31)
			progs[nprog][k++] = argv[i];
		if (i == argc - 1)
			progs[nprog++][k] = NULL;
	}
	ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ls, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(ls, 64) < 0) {
		perror("listen");
		return 1;
	}
	getsockname(ls, (struct sockaddr *)&a, &alen);
	snprintf(api, sizeof(api), "127.0.0.1:%d", ntohs(a.sin_port));
	setenv("AWS_LAMBDA_RUNTIME_API", api, 1);
	ep = epoll_create1(EPOLL_CLOEXEC);
	for (int r = 0; r < rounds; r++) {
		for (int p = 0; p < nprog; p++) {
			struct epoll_event ev = { .events = EPOLLIN, .data.fd = ls }, got;
			size_t lens[1024] = { 0 };
			int fds[64], nfd = 0, done = 0;
			double t0 = now_ms();
			pid_t pid = fork();

			if (pid == 0) {
				execv(progs[p][0], progs[p]);
				_exit(127);
			}
			epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
			while (!done) {
				if (epoll_wait(ep, &got, 1, 5000) <= 0) {
					fprintf(stderr, "%s: no event/next within 5 s\n", progs[p][0]);
					return 1;
				}
				if (got.data.fd == ls) {
					int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);

					setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
					ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = c };
					epoll_ctl(ep, EPOLL_CTL_ADD, c, &ev);
					if (c < 1024 && nfd < 64)
						fds[nfd++] = c;
					continue;
				}
				/* Each connection's buffer: the fd's slot in one 64 KiB area a piece. */
				{
					static char bufs[16][65537];
					int slot = got.data.fd % 16;
					int rc = serve(got.data.fd, bufs[slot], &lens[got.data.fd]);

					if (rc == 1) {
						t[p][r] = now_ms() - t0;
						if (r == rounds - 1)
							rss[p] = peak_rss_kb(pid);
						done = 1;
					} else if (rc < 0) {
						epoll_ctl(ep, EPOLL_CTL_DEL, got.data.fd, NULL);
						close(got.data.fd);
						lens[got.data.fd] = 0;
					}
				}
			}
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			epoll_ctl(ep, EPOLL_CTL_DEL, ls, NULL);
			for (int i = 0; i < nfd; i++) {
				epoll_ctl(ep, EPOLL_CTL_DEL, fds[i], NULL);
				close(fds[i]);
			}
		}
	}
	for (int p = 0; p < nprog; p++) {
		qsort(t[p], (size_t)rounds, sizeof(double), cmp);
		printf("%s\tmedian %.2f ms\tp10 %.2f\tp90 %.2f\tpeak RSS %ld kB\n", progs[p][0],
		       t[p][rounds / 2], t[p][rounds / 10], t[p][rounds * 9 / 10], rss[p]);
	}
	return 0;
}
