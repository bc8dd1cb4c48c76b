/* Unit tests of the outbound path's parts: push URLs, the resolver (against a DNS server on a
 * real UDP socket on 127.0.0.1) and trust anchors from PEM files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../../agent/lib/http_client.h"
#include "../../agent/lib/resolve.h"
#include "../../agent/lib/tls.h"
#include "../../exporters/remote_write/remote_write.h"

#ifndef DATA_DIR
#define DATA_DIR "tests/unit/data"
#endif

static void test_url_parse(void **state)
{
	static const struct {
		const char *url, *host, *path;
		unsigned port;
		bool tls;
	} good[] = {
		{ "http://127.0.0.1:9090/api/v1/write", "127.0.0.1", "/api/v1/write", 9090, false },
		{ "https://prometheus-prod-01.grafana.net/api/prom/push",
		  "prometheus-prod-01.grafana.net", "/api/prom/push", 443, true },
		{ "http://localhost", "localhost", "/", 80, false },
		{ "https://[::1]:8443/w?tenant=a", "::1", "/w?tenant=a", 8443, true },
		{ "https://[fe80::1]/x", "fe80::1", "/x", 443, true },
	};
	static const char *const bad[] = {
		"ftp://h/", "http//h/", "http://", "http:///x", "http://h:/x", "http://h:0/x",
		"http://h:65536/x", "http://h:+80/x", "http://h:80x/y", "http://[::1/x",
		"http://[::1]x/", "http://[]/x", "https://user:pw@h/x", "http://h?x",
		"", "https://",
	};
	struct http_url u;
	char err[300];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		assert_int_equal(http_url_parse(good[i].url, &u, err, sizeof(err)), 0);
		assert_string_equal(u.host, good[i].host);
		assert_string_equal(u.path, good[i].path);
		assert_int_equal(u.port, good[i].port);
		assert_int_equal(u.tls, good[i].tls);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(http_url_parse(bad[i], &u, err, sizeof(err)), -1);
		assert_true(err[0]);
	}
	/* Credentials never show in the message. */
	http_url_parse("https://user:secret@h/x", &u, err, sizeof(err));
	assert_null(strstr(err, "secret"));
}

/* --- DNS ------------------------------------------------------------------------------------ */

static size_t answer(const unsigned char *q, size_t qlen, unsigned char *out, int rcode,
		     int type, const void *rdata, int nrr, unsigned rdlen)
{
	size_t n = qlen;

	memcpy(out, q, qlen);
	out[2] |= 0x80;		/* a response */
	out[3] = (unsigned char)rcode;
	out[7] = (unsigned char)nrr;
	for (int i = 0; i < nrr; i++) {
		const unsigned char rr[] = { 0xc0, 0x0c, 0, (unsigned char)type, 0, 1, 0, 0, 0, 60,
					     0, (unsigned char)rdlen };

		memcpy(out + n, rr, sizeof(rr));
		n += sizeof(rr);
		memcpy(out + n, (const unsigned char *)rdata + i * rdlen, rdlen);
		n += rdlen;
	}
	return n;
}

struct dns_server {
	int fd;
	unsigned port;
	pthread_t thread;
};

static void *serve_dns(void *arg)
{
	struct dns_server *s = arg;

	for (;;) {
		unsigned char q[512], out[1024];
		struct sockaddr_storage from;
		socklen_t fl = sizeof(from);
		ssize_t n = recvfrom(s->fd, q, sizeof(q), 0, (struct sockaddr *)&from, &fl);
		int qtype;
		size_t len = 0;
		char name[256] = "";

		if (n <= 0)
			return NULL;
		/* The name: labels from offset 12. */
		for (size_t off = 12; off < (size_t)n && q[off];) {
			size_t l = q[off];

			strncat(name, (const char *)q + off + 1, l);
			strcat(name, ".");
			off += 1 + l;
		}
		qtype = q[n - 3];
		if (strcmp(name, "a.test.") == 0 && qtype == 1) {
			const unsigned char ips[] = { 10, 1, 2, 3, 10, 1, 2, 4 };

			len = answer(q, (size_t)n, out, 0, 1, ips, 2, 4);
		} else if (strcmp(name, "six.test.") == 0) {
			struct in6_addr a6;

			inet_pton(AF_INET6, "2001:db8::7", &a6);
			len = qtype == 28 ? answer(q, (size_t)n, out, 0, 28, &a6, 1, 16) :
					    answer(q, (size_t)n, out, 0, 0, NULL, 0, 0);
		} else if (strcmp(name, "gone.test.") == 0) {
			len = answer(q, (size_t)n, out, 3, 0, NULL, 0, 0);
		} else if (strcmp(name, "stray.test.") == 0) {
			const unsigned char ip[] = { 10, 9, 9, 9 }, wrong[] = { 6, 6, 6, 6 };

			len = answer(q, (size_t)n, out, 0, 1, wrong, 1, 4);
			out[0] ^= 0xff;	/* another query's id: must be ignored */
			sendto(s->fd, out, len, 0, (struct sockaddr *)&from, fl);
			len = answer(q, (size_t)n, out, 0, 1, ip, 1, 4);
		} else if (strcmp(name, "silent.test.") == 0) {
			continue;
		} else {
			len = answer(q, (size_t)n, out, 2, 0, NULL, 0, 0);	/* SERVFAIL */
		}
		sendto(s->fd, out, len, 0, (struct sockaddr *)&from, fl);
	}
}

static void dns_start(struct dns_server *s)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t al = sizeof(a);

	s->fd = socket(AF_INET, SOCK_DGRAM, 0);
	assert_true(s->fd >= 0);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	getsockname(s->fd, (struct sockaddr *)&a, &al);
	s->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&s->thread, NULL, serve_dns, s), 0);
}

static void dns_stop(struct dns_server *s)
{
	/* shutdown wakes its recvfrom with 0: the thread returns. (No pthread_cancel: its
	 * unwinding leaves ASan's stack poisoning behind, reported at the thread's exit.) */
	shutdown(s->fd, SHUT_RDWR);
	pthread_join(s->thread, NULL);
	close(s->fd);
}

static char *write_temp(const char *text)
{
	static char paths[4][64];
	static int next;
	char *p = paths[next++ % 4];
	int fd;

	snprintf(p, 64, "/tmp/vigil-unit-XXXXXX");
	fd = mkstemp(p);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
	return p;
}

static const char *addr_text(const struct sockaddr_storage *ss, char *buf, size_t n)
{
	if (ss->ss_family == AF_INET)
		return inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, buf,
				 (socklen_t)n);
	return inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, buf,
			 (socklen_t)n);
}

static void test_resolve(void **state)
{
	struct dns_server dns;
	struct sockaddr_storage out[RESOLVE_MAX];
	char err[300], text[64], conf_text[128];
	struct resolve_conf conf = { .timeout_ms = 300 };
	int n;

	(void)state;
	dns_start(&dns);
	conf.dns_port = dns.port;
	conf.hosts_path = write_temp("# comment\n127.0.0.1 localhost\n::1 ip6-localhost\n"
				     "10.0.0.5   push.internal  push # alias\n");
	snprintf(conf_text, sizeof(conf_text), "search example\nnameserver 127.0.0.1\n"
		 "options timeout:1 attempts:1\n");
	conf.resolv_path = write_temp(conf_text);

	/* Literals are their own address; /etc/hosts comes before DNS. */
	assert_int_equal(resolve_host("192.0.2.1", 80, out, RESOLVE_MAX, &conf, err, sizeof(err)), 1);
	assert_int_equal(ntohs(((struct sockaddr_in *)&out[0])->sin_port), 80);
	assert_int_equal(resolve_host("::1", 443, out, RESOLVE_MAX, &conf, err, sizeof(err)), 1);
	assert_int_equal(out[0].ss_family, AF_INET6);
	assert_int_equal(resolve_host("PUSH", 9, out, RESOLVE_MAX, &conf, err, sizeof(err)), 1);
	assert_string_equal(addr_text(&out[0], text, sizeof(text)), "10.0.0.5");

	/* DNS: two A records (compressed names), port set on each. */
	n = resolve_host("a.test", 9090, out, RESOLVE_MAX, &conf, err, sizeof(err));
	assert_int_equal(n, 2);
	assert_string_equal(addr_text(&out[0], text, sizeof(text)), "10.1.2.3");
	assert_string_equal(addr_text(&out[1], text, sizeof(text)), "10.1.2.4");
	assert_int_equal(ntohs(((struct sockaddr_in *)&out[1])->sin_port), 9090);
	assert_int_equal(resolve_host("a.test.", 1, out, 1, &conf, err, sizeof(err)), 1);
	/* No A: AAAA. */
	assert_int_equal(resolve_host("six.test", 1, out, RESOLVE_MAX, &conf, err, sizeof(err)), 1);
	assert_string_equal(addr_text(&out[0], text, sizeof(text)), "2001:db8::7");
	/* A datagram answering another query is ignored. */
	assert_int_equal(resolve_host("stray.test", 1, out, RESOLVE_MAX, &conf, err, sizeof(err)), 1);
	assert_string_equal(addr_text(&out[0], text, sizeof(text)), "10.9.9.9");
	/* NXDOMAIN, SERVFAIL, silence: errors that say what happened. */
	assert_int_equal(resolve_host("gone.test", 1, out, RESOLVE_MAX, &conf, err, sizeof(err)),
			 -ENOENT);
	assert_non_null(strstr(err, "no such host"));
	assert_int_equal(resolve_host("broken.test", 1, out, RESOLVE_MAX, &conf, err, sizeof(err)),
			 -EAGAIN);
	assert_int_equal(resolve_host("silent.test", 1, out, RESOLVE_MAX, &conf, err, sizeof(err)),
			 -ETIMEDOUT);
	assert_non_null(strstr(err, "no nameserver answered"));
	/* Not host names. */
	assert_int_equal(resolve_host("a..b", 1, out, RESOLVE_MAX, &conf, err, sizeof(err)), -EINVAL);
	assert_int_equal(resolve_host("a b", 1, out, RESOLVE_MAX, &conf, err, sizeof(err)), -EINVAL);
	assert_int_equal(resolve_host("", 1, out, RESOLVE_MAX, &conf, err, sizeof(err)), -EINVAL);
	dns_stop(&dns);
	unlink(conf.hosts_path);
	unlink(conf.resolv_path);
}

static void test_dns_messages(void **state)
{
	unsigned char q[512], a[1024];
	struct sockaddr_storage out[4];
	const unsigned char ip[] = { 1, 2, 3, 4 };
	char label64[80];
	int ql;
	size_t al;

	(void)state;
	ql = dns_build_query("a.test", 0x1234, 1, q, sizeof(q));
	assert_int_equal(ql, 12 + 8 + 4);
	assert_int_equal(q[0], 0x12);
	assert_int_equal(dns_build_query("a.test", 1, 1, q, 20), -1);	/* no room */
	memset(label64, 'x', 64);
	label64[64] = '\0';
	assert_int_equal(dns_build_query(label64, 1, 1, q, sizeof(q)), -1);
	ql = dns_build_query("a.test", 0x1234, 1, q, sizeof(q));
	al = answer(q, (size_t)ql, a, 0, 1, ip, 1, 4);
	assert_int_equal(dns_parse_answer(a, al, 0x1234, 1, 80, out, 4), 1);
	/* Another id, a query (not a reply), too short: not ours. */
	assert_int_equal(dns_parse_answer(a, al, 0x1235, 1, 80, out, 4), -EPROTO);
	a[2] &= 0x7f;
	assert_int_equal(dns_parse_answer(a, al, 0x1234, 1, 80, out, 4), -EPROTO);
	a[2] |= 0x80;
	assert_int_equal(dns_parse_answer(a, 11, 0x1234, 1, 80, out, 4), -EPROTO);
	/* Truncated inside the record: nothing whole. */
	for (size_t cut = 12; cut < al; cut++)
		assert_true(dns_parse_answer(a, cut, 0x1234, 1, 80, out, 4) <= 0);
	/* A wrong rdata length for A is skipped, not read. */
	al = answer(q, (size_t)ql, a, 0, 1, "12345", 1, 5);
	assert_int_equal(dns_parse_answer(a, al, 0x1234, 1, 80, out, 4), 0);
	/* A reserved label type in the question. */
	al = answer(q, (size_t)ql, a, 0, 1, ip, 1, 4);
	a[12] = 0x80;
	assert_int_equal(dns_parse_answer(a, al, 0x1234, 1, 80, out, 4), -EPROTO);
}

static void test_trust_anchors(void **state)
{
	char err[300];
	struct tls_trust *t;
	const char *system = tls_default_ca_file(), *path;

	(void)state;
	/* The machine's bundle (ca-certificates): well over a hundred anchors. */
	t = tls_trust_load(system, err, sizeof(err));
	assert_non_null(t);
	assert_true(tls_trust_count(t) > 100);
	tls_trust_free(t);
	/* No file, no certificate, a damaged one: a clear error, never a crash. */
	assert_null(tls_trust_load("/nonexistent/ca.pem", err, sizeof(err)));
	assert_non_null(strstr(err, "No such file"));
	path = write_temp("hello\n");
	assert_null(tls_trust_load(path, err, sizeof(err)));
	assert_non_null(strstr(err, "no certificate"));
	unlink(path);
	path = write_temp("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
	assert_null(tls_trust_load(path, err, sizeof(err)));
	assert_non_null(strstr(err, "no certificate"));
	unlink(path);
}

/* A server named by an address: its certificate's iPAddress names (a self-signed one made
 * with openssl for these tests: DNS:x.example, IP:127.0.0.1, IP:::1). */
static void test_ip_san(void **state)
{
	static const unsigned char v4[] = { 127, 0, 0, 1 }, other[] = { 127, 0, 0, 2 };
	unsigned char v6[16] = { 0 }, cert[2048];
	FILE *f = fopen(DATA_DIR "/ip-san-cert.der", "rb");
	size_t n;

	(void)state;
	assert_non_null(f);
	n = fread(cert, 1, sizeof(cert), f);
	fclose(f);
	assert_true(n > 100);
	v6[15] = 1;
	assert_int_equal(tls_cert_has_ip(cert, n, v4, 4), 1);
	assert_int_equal(tls_cert_has_ip(cert, n, v6, 16), 1);
	assert_int_equal(tls_cert_has_ip(cert, n, other, 4), 0);
	assert_int_equal(tls_cert_has_ip(cert, n, v6, 4), 0);	/* ::1's first bytes */
	/* Cut anywhere, or garbage: an answer, never a read past the end (ASan). */
	for (size_t cut = 0; cut < n; cut++) {
		unsigned char *copy = malloc(cut ? cut : 1);
		int rc;

		memcpy(copy, cert, cut);
		rc = tls_cert_has_ip(copy, cut, v4, 4);
		assert_true(rc == -1 || rc == 0 || rc == 1);
		free(copy);
	}
	assert_int_equal(tls_cert_has_ip((const unsigned char *)"\x30\x84\xff\xff\xff\xff", 6,
					 v4, 4), -1);
}

/* What remote_write_start says on stderr for these options (its thread started and stopped
 * before any push: no connection is made). */
static void start_said(const struct remote_write_options *o, char *out, size_t n)
{
	struct metric_registry *r = metric_registry_new(100);
	char path[] = "/tmp/vigil-rw-log-XXXXXX";
	int fd = mkstemp(path), saved = dup(2);
	struct remote_write *w;
	char err[300];
	ssize_t got;

	assert_true(fd >= 0 && saved >= 0);
	dup2(fd, 2);
	w = remote_write_start(o, r, err, sizeof(err));
	remote_write_stop(w, 0);
	dup2(saved, 2);
	close(saved);
	got = pread(fd, out, n - 1, 0);
	out[got > 0 ? got : 0] = '\0';
	close(fd);
	unlink(path);
	metric_registry_destroy(r);
}

/* Credentials never printed; sending them in the clear to another machine is warned of. */
static void test_push_secrets(void **state)
{
	struct remote_write_options o = {
		.url = "http://192.0.2.1:9/api/v1/write?api_key=k3y&token=s3cr3t", .ca_file = "",
		.timeout_ms = 100, .bearer_token = "", .username = "", .password = "",
		.retries = 0, .interval_ms = 1000,
	};
	char said[4096];

	(void)state;
	start_said(&o, said, sizeof(said));
	assert_null(strstr(said, "s3cr3t"));
	assert_null(strstr(said, "k3y"));
	assert_non_null(strstr(said, "pushing to http://192.0.2.1:9/api/v1/write?api_key=***&"
				     "token=***"));
	assert_non_null(strstr(said, "credentials go to 192.0.2.1 in the clear"));
	/* Basic auth over http to loopback: no warning; nothing secret in the URL. */
	o.url = "http://127.0.0.1:9/api/v1/write";
	o.username = "u";
	o.password = "p";
	start_said(&o, said, sizeof(said));
	assert_null(strstr(said, "in the clear"));
	assert_non_null(strstr(said, "pushing to http://127.0.0.1:9/api/v1/write"));
	/* A bearer token over http to another machine: warned. */
	o.url = "http://192.0.2.1:9/w";
	o.username = "";
	o.bearer_token = "tok";
	start_said(&o, said, sizeof(said));
	assert_non_null(strstr(said, "in the clear"));
	assert_null(strstr(said, "tok\n"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_parse),
		cmocka_unit_test(test_dns_messages),
		cmocka_unit_test(test_resolve),
		cmocka_unit_test(test_trust_anchors),
		cmocka_unit_test(test_push_secrets),
		cmocka_unit_test(test_ip_san),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
