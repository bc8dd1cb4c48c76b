/* Host names to addresses: /etc/hosts, then DNS over UDP. See resolve.h. */
#include "resolve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define DNS_MAX_MSG 512
#define MAX_SERVERS 3

static bool set_addr(const char *text, unsigned port, struct sockaddr_storage *out)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)out;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)out;

	memset(out, 0, sizeof(*out));
	if (inet_pton(AF_INET, text, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		return true;
	}
	if (inet_pton(AF_INET6, text, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		return true;
	}
	return false;
}

bool resolve_is_host_name(const char *name)
{
	size_t n = strlen(name), label = 0;

	if (n == 0 || n > 253)
		return false;
	for (const char *p = name; *p; p++) {
		if (*p == '.') {
			if (label == 0 && p[1])
				return false;	/* an empty label */
			label = 0;
			continue;
		}
		if (!(*p == '-' || *p == '_' || (*p >= '0' && *p <= '9') ||
		      ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z')) || ++label > 63)
			return false;
	}
	return true;
}

/* --- /etc/hosts ----------------------------------------------------------------------------- */

int resolve_from_hosts(const char *path, const char *name, unsigned port,
		       struct sockaddr_storage *out, int max)
{
	FILE *f = fopen(path ? path : "/etc/hosts", "r");
	char line[1024];
	int n = 0;

	if (!f)
		return 0;
	while (n < max && fgets(line, sizeof(line), f)) {
		char *save = NULL, *addr, *tok;

		line[strcspn(line, "#\n")] = '\0';
		addr = strtok_r(line, " \t", &save);
		if (!addr)
			continue;
		while ((tok = strtok_r(NULL, " \t", &save))) {
			if (strcasecmp(tok, name) == 0) {
				if (set_addr(addr, port, &out[n]))
					n++;
				break;
			}
		}
	}
	fclose(f);
	return n;
}

/* --- DNS messages ----------------------------------------------------------------------------- */

int dns_build_query(const char *name, uint16_t id, int qtype, unsigned char *buf, size_t cap)
{
	size_t len = 12;
	const char *p = name;

	if (cap < 12 + strlen(name) + 2 + 4 || !resolve_is_host_name(name))
		return -1;
	memset(buf, 0, 12);
	buf[0] = (unsigned char)(id >> 8);
	buf[1] = (unsigned char)id;
	buf[2] = 0x01;	/* RD: recursion desired */
	buf[5] = 1;	/* one question */
	while (*p) {
		size_t l = strcspn(p, ".");

		buf[len++] = (unsigned char)l;
		memcpy(buf + len, p, l);
		len += l;
		p += l;
		if (*p == '.')
			p++;
	}
	buf[len++] = 0;
	buf[len++] = (unsigned char)(qtype >> 8);
	buf[len++] = (unsigned char)qtype;
	buf[len++] = 0;
	buf[len++] = 1;	/* class IN */
	return (int)len;
}

/* Past the (possibly compressed) name at msg[off]; 0 when it runs outside the message. */
static size_t skip_name(const unsigned char *msg, size_t len, size_t off)
{
	while (off < len) {
		unsigned l = msg[off];

		if (l == 0)
			return off + 1;
		if ((l & 0xc0) == 0xc0)		/* a pointer ends the name */
			return off + 2 <= len ? off + 2 : 0;
		if (l & 0xc0)
			return 0;		/* reserved label types */
		off += 1 + l;
	}
	return 0;
}

static unsigned get16(const unsigned char *p)
{
	return (unsigned)p[0] << 8 | p[1];
}

int dns_parse_answer(const unsigned char *msg, size_t len, uint16_t id, int qtype,
		     unsigned port, struct sockaddr_storage *out, int max)
{
	size_t off = 12;
	unsigned qd, an, rcode;
	int n = 0;

	if (len < 12 || get16(msg) != id || !(msg[2] & 0x80))
		return -EPROTO;		/* not a reply to our query */
	rcode = msg[3] & 0x0f;
	if (rcode == 3)
		return -ENOENT;
	if (rcode != 0)
		return -EAGAIN;
	qd = get16(msg + 4);
	an = get16(msg + 6);
	for (unsigned i = 0; i < qd; i++) {
		off = skip_name(msg, len, off);
		if (!off || off + 4 > len)
			return -EPROTO;
		off += 4;
	}
	for (unsigned i = 0; i < an && n < max; i++) {
		unsigned type, class, rdlen;

		off = skip_name(msg, len, off);
		if (!off || off + 10 > len)
			return n ? n : -EPROTO;	/* truncated: what came whole is good */
		type = get16(msg + off);
		class = get16(msg + off + 2);
		rdlen = get16(msg + off + 8);
		off += 10;
		if (off + rdlen > len)
			return n ? n : -EPROTO;
		if (class == 1 && (int)type == qtype &&
		    rdlen == (qtype == 1 ? 4u : qtype == 28 ? 16u : 0u)) {
			memset(&out[n], 0, sizeof(out[n]));
			if (qtype == 1) {
				struct sockaddr_in *a = (struct sockaddr_in *)&out[n];

				a->sin_family = AF_INET;
				a->sin_port = htons((uint16_t)port);
				memcpy(&a->sin_addr, msg + off, 4);
			} else {
				struct sockaddr_in6 *a = (struct sockaddr_in6 *)&out[n];

				a->sin6_family = AF_INET6;
				a->sin6_port = htons((uint16_t)port);
				memcpy(&a->sin6_addr, msg + off, 16);
			}
			n++;
		}
		off += rdlen;
	}
	return n;
}

/* --- asking the nameservers ------------------------------------------------------------------ */

struct resolv {
	struct sockaddr_storage servers[MAX_SERVERS];
	int nservers;
	int timeout_ms, attempts;
};

static void read_resolv_conf(const char *path, unsigned port, struct resolv *r)
{
	FILE *f = fopen(path, "r");
	char line[512];

	r->nservers = 0;
	r->timeout_ms = 5000;
	r->attempts = 2;
	while (f && fgets(line, sizeof(line), f)) {
		char *save = NULL, *key = strtok_r(line, " \t\r\n", &save), *v;

		if (!key || *key == '#' || *key == ';')
			continue;
		if (strcmp(key, "nameserver") == 0) {
			v = strtok_r(NULL, " \t\r\n", &save);
			if (v && r->nservers < MAX_SERVERS && set_addr(v, port, &r->servers[r->nservers]))
				r->nservers++;
		} else if (strcmp(key, "options") == 0) {
			while ((v = strtok_r(NULL, " \t\r\n", &save))) {
				if (strncmp(v, "timeout:", 8) == 0 && atoi(v + 8) > 0)
					r->timeout_ms = atoi(v + 8) > 30 ? 30000 : atoi(v + 8) * 1000;
				else if (strncmp(v, "attempts:", 9) == 0 && atoi(v + 9) > 0)
					r->attempts = atoi(v + 9) > 5 ? 5 : atoi(v + 9);
			}
		}
	}
	if (f)
		fclose(f);
	if (r->nservers == 0) {	/* as glibc: the local machine */
		set_addr("127.0.0.1", port, &r->servers[0]);
		r->nservers = 1;
	}
}

/* One query to one server: count, or -errno. */
static int ask(const struct sockaddr_storage *server, const unsigned char *q, int qlen,
	       uint16_t id, int qtype, unsigned port, int timeout_ms,
	       struct sockaddr_storage *out, int max)
{
	socklen_t slen = server->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) :
							  sizeof(struct sockaddr_in);
	int fd = socket(server->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0), rc = -ETIMEDOUT;
	struct timespec t0, now;

	if (fd < 0)
		return -errno;
	/* connect: the kernel drops datagrams from anyone but the server. */
	if (connect(fd, (const struct sockaddr *)server, slen) < 0 ||
	    send(fd, q, (size_t)qlen, 0) != qlen) {
		rc = -errno;
		close(fd);
		return rc;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		unsigned char msg[DNS_MAX_MSG];
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		long left;
		ssize_t n;

		clock_gettime(CLOCK_MONOTONIC, &now);
		left = timeout_ms - ((now.tv_sec - t0.tv_sec) * 1000 +
				     (now.tv_nsec - t0.tv_nsec) / 1000000);
		if (left <= 0)
			break;
		if (poll(&pfd, 1, (int)left) <= 0)
			continue;	/* EINTR or the time is up: the loop decides */
		n = recv(fd, msg, sizeof(msg), 0);
		if (n < 0) {
			rc = errno == ECONNREFUSED ? -ECONNREFUSED : -errno;
			if (errno == EINTR)
				continue;
			break;
		}
		rc = dns_parse_answer(msg, (size_t)n, id, qtype, port, out, max);
		if (rc != -EPROTO)
			break;	/* a stray or forged datagram: keep waiting for ours */
		rc = -ETIMEDOUT;
	}
	close(fd);
	return rc;
}

int resolve_host(const char *name, unsigned port, struct sockaddr_storage *out, int max,
		 const struct resolve_conf *conf, char *err, size_t err_len)
{
	static const struct resolve_conf defaults = { 0 };
	unsigned char q[DNS_MAX_MSG];
	char fqdn[256];
	struct resolv r;
	int rc = -ETIMEDOUT;

	if (!conf)
		conf = &defaults;
	if (max > 0 && set_addr(name, port, &out[0]))
		return 1;
	if (max <= 0 || !resolve_is_host_name(name)) {
		snprintf(err, err_len, "'%s' is not a host name", name);
		return -EINVAL;
	}
	snprintf(fqdn, sizeof(fqdn), "%s", name);
	if (fqdn[strlen(fqdn) - 1] == '.')
		fqdn[strlen(fqdn) - 1] = '\0';
	rc = resolve_from_hosts(conf->hosts_path, fqdn, port, out, max);
	if (rc > 0)
		return rc;
	read_resolv_conf(conf->resolv_path ? conf->resolv_path : "/etc/resolv.conf",
			 conf->dns_port ? conf->dns_port : 53, &r);
	if (conf->timeout_ms > 0 && conf->timeout_ms < r.timeout_ms)
		r.timeout_ms = conf->timeout_ms;
	rc = -ETIMEDOUT;
	for (int qtype = 1; qtype; qtype = qtype == 1 ? 28 : 0) {	/* A, then AAAA */
		for (int attempt = 0; attempt < r.attempts; attempt++) {
			bool settled = false;

			for (int s = 0; s < r.nservers; s++) {
				uint16_t id;
				int qlen;

				if (getrandom(&id, sizeof(id), 0) != sizeof(id))
					id = (uint16_t)(time(NULL) ^ getpid());
				qlen = dns_build_query(fqdn, id, qtype, q, sizeof(q));
				if (qlen < 0) {
					snprintf(err, err_len, "'%s' is not a host name", name);
					return -EINVAL;
				}
				rc = ask(&r.servers[s], q, qlen, id, qtype, port, r.timeout_ms,
					 out, max);
				if (rc >= 0 || rc == -ENOENT) {
					settled = true;	/* an authoritative answer, empty or not */
					break;
				}
			}
			if (settled)
				break;
		}
		if (rc > 0)
			return rc;
		if (rc != 0 && rc != -ENOENT)
			break;	/* no server answered: AAAA would not fare better */
	}
	if (rc == 0 || rc == -ENOENT) {
		snprintf(err, err_len, "cannot resolve %s: no such host", name);
		return -ENOENT;
	}
	if (rc == -EAGAIN)
		snprintf(err, err_len, "cannot resolve %s: the nameservers failed (SERVFAIL or "
			 "REFUSED)", name);
	else
		snprintf(err, err_len, "cannot resolve %s: no nameserver answered (%s)", name,
			 strerror(-rc));
	return rc;
}
