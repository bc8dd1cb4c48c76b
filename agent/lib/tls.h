/*
 * TLS 1.2 client connections for vigil's outbound pushes (remote_write), on BearSSL.
 *
 * Why BearSSL: it links statically into the layer binary (which must stay under 2 MB) for about
 * 90 KB with the cipher suites below, allocates nothing of its own, and costs nothing at all
 * until a push endpoint says https:// (no library to load, no constructor, no table to relocate
 * at start). What it lacks: TLS 1.3 (every remote_write store also speaks TLS 1.2).
 *
 * Suites: ECDHE with ECDSA or RSA certificates; AES-GCM (128, 256) and ChaCha20-Poly1305.
 * Certificates: RSA and ECDSA (P-256, P-384, P-521) chains, SHA-256/384/512 (SHA-1 signatures
 * from old intermediates too), checked against trust anchors from a PEM bundle, the name
 * against the SAN (or CN), validity against the clock.
 */
#ifndef VIGIL_TLS_H
#define VIGIL_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

struct tls_trust;	/* trust anchors, loaded once */
struct tls_conn;	/* one connection on a connected socket */

#define TLS_TRUST_MAX_BYTES (4 * 1024 * 1024)	/* a CA bundle is ~200 KB */
#define TLS_TRUST_MAX_ANCHORS 2000

/* The first CA bundle of: $SSL_CERT_FILE, Debian's, Amazon Linux's (Lambda), the BSDs'. */
const char *tls_default_ca_file(void);

/* Trust anchors from the certificates of a PEM file. NULL with err filled on failure (no file,
 * no certificate in it, too big). Certificates BearSSL cannot decode are skipped and counted. */
struct tls_trust *tls_trust_load(const char *path, char *err, size_t err_len);
size_t tls_trust_count(const struct tls_trust *t);
void tls_trust_free(struct tls_trust *t);

/*
 * Handshake on the connected socket fd (its SO_RCVTIMEO/SO_SNDTIMEO bound every wait).
 * server_name goes in SNI and must match the certificate. trust NULL: no verification at all
 * (remote_write_tls_skip_verify), the server's key taken as it comes. NULL with err filled on
 * failure; the fd stays the caller's.
 */
struct tls_conn *tls_connect(int fd, const char *server_name, const struct tls_trust *trust,
			     char *err, size_t err_len);
/* 0 or -errno (-EPROTO for a TLS failure). */
int tls_write_all(struct tls_conn *c, const void *p, size_t n);
/* Bytes read, 0 at the end of the stream (close_notify or the peer's close), or -errno. */
ssize_t tls_read(struct tls_conn *c, void *p, size_t n);
/* Frees the connection (no close_notify: the socket closes right after). */
void tls_free(struct tls_conn *c);

/* Whether a DER certificate's subjectAltName has iPAddress ip (4 or 16 bytes): 1 yes, 0 no,
 * -1 when the certificate cannot be read. How a server named by an address is checked. */
int tls_cert_has_ip(const unsigned char *der, size_t n, const unsigned char *ip, size_t ip_len);

#endif
