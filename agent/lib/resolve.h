/*
 * Host names to addresses for vigil's outbound pushes, without glibc's NSS: /etc/hosts, then
 * DNS over UDP to the nameservers of /etc/resolv.conf (A, then AAAA when there is no A).
 *
 * Why not getaddrinfo: in the static layer binary it drags in glibc's dynamic loader (NSS
 * modules are loaded with dlopen) — 185 KB of a 2 MB budget — and at run time it would load
 * the NSS modules of whatever glibc the machine has, which glibc warns against. The remote_write
 * endpoint is a fully qualified name (or localhost): no search domains, no mDNS, no NIS.
 * Limits: 512-byte UDP answers (a truncated one is used as far as it goes), 3 nameservers,
 * RESOLVE_MAX addresses.
 */
#ifndef VIGIL_RESOLVE_H
#define VIGIL_RESOLVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define RESOLVE_MAX 8

struct resolve_conf {
	const char *hosts_path;		/* NULL: /etc/hosts */
	const char *resolv_path;	/* NULL: /etc/resolv.conf */
	unsigned dns_port;		/* 0: 53 (tests point it at their own server) */
	int timeout_ms;			/* per query and server; 0: resolv.conf's (else 5 s) */
};

/*
 * The addresses of name (an IPv4 or IPv6 literal is its own address) with port set, at most
 * max. Count (≥ 1), or -errno with err filled: -ENOENT no such name, -ETIMEDOUT no answer,
 * -EINVAL a name that is not a host name.
 */
int resolve_host(const char *name, unsigned port, struct sockaddr_storage *out, int max,
		 const struct resolve_conf *conf, char *err, size_t err_len);

/* The addresses name has in a hosts file (path NULL: /etc/hosts), with port set, at most max:
 * their count, 0 when it has none. No DNS. */
int resolve_from_hosts(const char *path, const char *name, unsigned port,
		       struct sockaddr_storage *out, int max);

/* Letters, digits, '-', '_' in dot-separated labels of 1..63 bytes, 253 at most in all (a
 * trailing dot allowed). */
bool resolve_is_host_name(const char *name);

/* A DNS query for name/qtype (1 A, 28 AAAA) with id into buf; its length, or -1. */
int dns_build_query(const char *name, uint16_t id, int qtype, unsigned char *buf, size_t cap);

/*
 * The addresses of type qtype in the answer section of msg, a reply to query id: count (≥ 0),
 * -ENOENT for NXDOMAIN, -EAGAIN for a server failure or refusal, -EPROTO for a malformed
 * message or one that answers another query. Never reads outside msg[0..len).
 */
int dns_parse_answer(const unsigned char *msg, size_t len, uint16_t id, int qtype,
		     unsigned port, struct sockaddr_storage *out, int max);

#endif
