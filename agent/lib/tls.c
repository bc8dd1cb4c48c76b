/* TLS 1.2 client connections on BearSSL. See tls.h. */
#include "tls.h"

#include <arpa/inet.h>

#include <bearssl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "../util/buf.h"
#include "../util/base64.h"

struct anchor_key {	/* what a br_x509_trust_anchor points into */
	unsigned char *dn, *k1, *k2;
};

struct tls_trust {
	br_x509_trust_anchor *anchors;
	struct anchor_key *keys;
	size_t n, cap;
};

/* Accepts any chain and takes the server's key from its first certificate: the engine behind
 * remote_write_tls_skip_verify. */
struct trust_all {
	const br_x509_class *vtable;
	br_x509_decoder_context dc;
	br_x509_pkey pkey;
	unsigned certs;
	int ok;
};

/* For a server named by an IP address: BearSSL's minimal engine checks the chain (told no
 * name: it matches DNS names only), and this one then looks for the address among the
 * end-entity certificate's subjectAltName iPAddress entries, as RFC 6125 and curl do. */
struct ip_check {
	const br_x509_class *vtable;
	const br_x509_class **inner;
	unsigned char ip[16];
	size_t ip_len;		/* 4 or 16 */
	unsigned char *cert;	/* the end-entity certificate, DER */
	size_t cert_len, cert_cap;
	unsigned certs;
};

struct tls_conn {
	br_ssl_client_context sc;
	br_x509_minimal_context xc;
	struct ip_check ipc;
	struct trust_all ta;
	br_sslio_context io;
	int fd;
	int sock_err;	/* errno of the socket's last failure, 0 at its end */
	int eof;
	unsigned char iobuf[BR_SSL_BUFSIZE_BIDI];
};

const char *tls_default_ca_file(void)
{
	static const char *const known[] = {
		"/etc/ssl/certs/ca-certificates.crt",	/* Debian, Ubuntu, Alpine */
		"/etc/pki/tls/certs/ca-bundle.crt",	/* Amazon Linux (Lambda), Fedora, RHEL */
		"/etc/ssl/cert.pem",			/* the BSDs, macOS, Alpine */
	};
	const char *env = getenv("SSL_CERT_FILE");

	if (env && *env)
		return env;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		FILE *f = fopen(known[i], "r");

		if (f) {
			fclose(f);
			return known[i];
		}
	}
	return known[0];
}

/* --- trust anchors ------------------------------------------------------------------------- */

static void buf_sink(void *ctx, const void *p, size_t n)
{
	buf_append(ctx, p, n);
}

static unsigned char *dup_bytes(const void *p, size_t n)
{
	unsigned char *d = malloc(n ? n : 1);

	if (d && n)
		memcpy(d, p, n);
	return d;
}

/* One DER certificate as a trust anchor; false when BearSSL cannot decode it. */
static bool add_anchor(struct tls_trust *t, const unsigned char *der, size_t len)
{
	br_x509_decoder_context dc;
	br_x509_trust_anchor *ta;
	struct anchor_key *k;
	const br_x509_pkey *pk;
	struct buf dn;
	size_t dn_len;

	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 64;
		br_x509_trust_anchor *a = realloc(t->anchors, cap * sizeof(*a));
		struct anchor_key *keys;

		if (!a)
			return false;
		t->anchors = a;
		keys = realloc(t->keys, cap * sizeof(*keys));
		if (!keys)
			return false;
		t->keys = keys;
		t->cap = cap;
	}
	ta = &t->anchors[t->n];
	k = &t->keys[t->n];

	buf_init(&dn);
	br_x509_decoder_init(&dc, buf_sink, &dn);
	br_x509_decoder_push(&dc, der, len);
	pk = br_x509_decoder_get_pkey(&dc);
	if (!pk || dn.failed || !dn.len) {
		buf_free(&dn);
		return false;
	}
	memset(k, 0, sizeof(*k));
	k->dn = (unsigned char *)buf_steal(&dn, &dn_len);
	ta->dn.data = k->dn;
	ta->dn.len = dn_len;
	ta->flags = br_x509_decoder_isCA(&dc) ? BR_X509_TA_CA : 0;
	ta->pkey.key_type = pk->key_type;
	if (pk->key_type == BR_KEYTYPE_RSA) {
		k->k1 = dup_bytes(pk->key.rsa.n, pk->key.rsa.nlen);
		k->k2 = dup_bytes(pk->key.rsa.e, pk->key.rsa.elen);
		ta->pkey.key.rsa = (br_rsa_public_key){ .n = k->k1, .nlen = pk->key.rsa.nlen,
							.e = k->k2, .elen = pk->key.rsa.elen };
	} else if (pk->key_type == BR_KEYTYPE_EC) {
		k->k1 = dup_bytes(pk->key.ec.q, pk->key.ec.qlen);
		ta->pkey.key.ec = (br_ec_public_key){ .curve = pk->key.ec.curve, .q = k->k1,
						      .qlen = pk->key.ec.qlen };
	} else {
		free(k->dn);
		return false;
	}
	t->n++;
	return true;
}

/* The next PEM certificate at or after *pos: its DER (malloc'd), or NULL at the end; *bad
 * counts blocks that are not base64. BearSSL has a PEM decoder, but it is a T0 interpreter
 * that spent 80 ms of the 128 ms a 144-certificate bundle took to load. */
static unsigned char *next_pem_cert(const char *text, size_t len, size_t *pos, size_t *der_len,
				    size_t *bad)
{
	static const char begin[] = "-----BEGIN CERTIFICATE-----";
	static const char end[] = "-----END CERTIFICATE-----";

	while (*pos < len) {
		const char *b = memmem(text + *pos, len - *pos, begin, sizeof(begin) - 1), *body, *e;
		char *der;

		if (!b)
			break;
		body = b + sizeof(begin) - 1;
		e = memmem(body, len - (size_t)(body - text), end, sizeof(end) - 1);
		if (!e)
			break;
		*pos = (size_t)(e - text) + sizeof(end) - 1;
		der = base64_decode(body, (size_t)(e - body), der_len);
		if (der)
			return (unsigned char *)der;
		(*bad)++;
	}
	*pos = len;
	return NULL;
}

struct tls_trust *tls_trust_load(const char *path, char *err, size_t err_len)
{
	struct tls_trust *t = NULL;
	struct buf file;
	size_t skipped = 0, pos = 0, der_len;
	unsigned char *der;
	int rc;

	buf_init(&file);
	rc = buf_read_file(&file, path, TLS_TRUST_MAX_BYTES);
	if (rc < 0) {
		if (rc == -EFBIG)
			snprintf(err, err_len, "CA file %s: over %d bytes", path, TLS_TRUST_MAX_BYTES);
		else
			snprintf(err, err_len, "CA file %s: %s", path, strerror(-rc));
		buf_free(&file);
		return NULL;
	}
	t = calloc(1, sizeof(*t));
	if (file.failed || !t) {
		snprintf(err, err_len, "CA file %s: out of memory", path);
		buf_free(&file);
		tls_trust_free(t);
		return NULL;
	}
	while (t->n < TLS_TRUST_MAX_ANCHORS &&
	       (der = next_pem_cert(file.data, file.len, &pos, &der_len, &skipped))) {
		if (!add_anchor(t, der, der_len))
			skipped++;
		free(der);
	}
	buf_free(&file);
	if (!t->n) {
		snprintf(err, err_len, "CA file %s: no certificate in it%s", path,
			 skipped ? " that could be read" : "");
		tls_trust_free(t);
		return NULL;
	}
	return t;
}

size_t tls_trust_count(const struct tls_trust *t)
{
	return t ? t->n : 0;
}

void tls_trust_free(struct tls_trust *t)
{
	if (!t)
		return;
	for (size_t i = 0; t->keys && i < t->n; i++) {
		free(t->keys[i].dn);
		free(t->keys[i].k1);
		free(t->keys[i].k2);
	}
	free(t->anchors);
	free(t->keys);
	free(t);
}

/* --- the accept-anything engine ------------------------------------------------------------ */

static void ta_start_chain(const br_x509_class **ctx, const char *server_name)
{
	struct trust_all *a = (struct trust_all *)(void *)ctx;

	(void)server_name;
	a->certs = 0;
	a->ok = 0;
}

static void ta_start_cert(const br_x509_class **ctx, uint32_t length)
{
	struct trust_all *a = (struct trust_all *)(void *)ctx;

	(void)length;
	if (a->certs == 0)
		br_x509_decoder_init(&a->dc, NULL, NULL);
}

static void ta_append(const br_x509_class **ctx, const unsigned char *p, size_t n)
{
	struct trust_all *a = (struct trust_all *)(void *)ctx;

	if (a->certs == 0)
		br_x509_decoder_push(&a->dc, p, n);
}

static void ta_end_cert(const br_x509_class **ctx)
{
	struct trust_all *a = (struct trust_all *)(void *)ctx;

	if (a->certs++ == 0) {
		const br_x509_pkey *pk = br_x509_decoder_get_pkey(&a->dc);

		a->ok = pk != NULL;
		if (pk)
			a->pkey = *pk;	/* points into a->dc, which stays */
	}
}

static unsigned ta_end_chain(const br_x509_class **ctx)
{
	struct trust_all *a = (struct trust_all *)(void *)ctx;

	return a->ok ? 0 : BR_ERR_X509_EMPTY_CHAIN;
}

static const br_x509_pkey *ta_get_pkey(const br_x509_class *const *ctx, unsigned *usages)
{
	struct trust_all *a = (struct trust_all *)(void *)ctx;

	if (usages)
		*usages = BR_KEYTYPE_KEYX | BR_KEYTYPE_SIGN;
	return a->ok ? &a->pkey : NULL;
}

static const br_x509_class trust_all_vtable = {
	.context_size = sizeof(struct trust_all),
	.start_chain = ta_start_chain,
	.start_cert = ta_start_cert,
	.append = ta_append,
	.end_cert = ta_end_cert,
	.end_chain = ta_end_chain,
	.get_pkey = ta_get_pkey,
};

/* --- a server named by an IP address ------------------------------------------------------ */

/* Whether name is an IPv4 or IPv6 literal: its bytes into ip (*len 4 or 16). */
static bool ip_literal(const char *name, unsigned char *ip, size_t *len)
{
	if (inet_pton(AF_INET, name, ip) == 1) {
		*len = 4;
		return true;
	}
	if (inet_pton(AF_INET6, name, ip) == 1) {
		*len = 16;
		return true;
	}
	return false;
}

/* One DER element at p[0..n): its tag, and its contents at *c (*clen bytes). The length of
 * the whole element, or 0 when it is not well-formed. */
static size_t der_next(const unsigned char *p, size_t n, unsigned *tag, const unsigned char **c,
		       size_t *clen)
{
	size_t len, hdr = 2;

	if (n < 2)
		return 0;
	*tag = p[0];
	len = p[1];
	if (len & 0x80) {
		size_t k = len & 0x7f;

		if (k == 0 || k > 4 || n < 2 + k)
			return 0;
		len = 0;
		for (size_t i = 0; i < k; i++)
			len = len << 8 | p[2 + i];
		hdr += k;
	}
	if (len > n - hdr)
		return 0;
	*c = p + hdr;
	*clen = len;
	return hdr + len;
}

int tls_cert_has_ip(const unsigned char *der, size_t n, const unsigned char *ip, size_t ip_len)
{
	static const unsigned char san_oid[] = { 0x06, 0x03, 0x55, 0x1d, 0x11 };	/* 2.5.29.17 */
	const unsigned char *cert, *tbs, *p, *end;
	size_t cert_len, tbs_len, used, len;
	unsigned tag;

	/* Certificate ::= SEQUENCE { tbsCertificate SEQUENCE {…}, … } */
	if (!der_next(der, n, &tag, &cert, &cert_len) || tag != 0x30 ||
	    !der_next(cert, cert_len, &tag, &tbs, &tbs_len) || tag != 0x30)
		return -1;
	/* Its fields; the extensions are [3] EXPLICIT, last. */
	for (p = tbs, end = tbs + tbs_len; p < end; p += used) {
		const unsigned char *c, *ext, *e;
		size_t clen, elen;

		used = der_next(p, (size_t)(end - p), &tag, &c, &clen);
		if (!used)
			return -1;
		if (tag != 0xa3)
			continue;
		if (!der_next(c, clen, &tag, &ext, &len) || tag != 0x30)
			return -1;
		for (e = ext; e < ext + len; e += elen) {
			const unsigned char *x, *q, *v, *names, *g;
			size_t xlen, qlen, vlen, nlen, step;

			elen = der_next(e, (size_t)(ext + len - e), &tag, &x, &xlen);
			if (!elen || tag != 0x30)
				return -1;
			/* Extension ::= SEQUENCE { OID, critical BOOLEAN OPTIONAL, OCTET STRING } */
			if (xlen < sizeof(san_oid) || memcmp(x, san_oid, sizeof(san_oid)) != 0)
				continue;
			q = x + sizeof(san_oid);
			qlen = xlen - sizeof(san_oid);
			step = der_next(q, qlen, &tag, &v, &vlen);
			if (step && tag == 0x01) {	/* critical */
				q += step;
				qlen -= step;
				step = der_next(q, qlen, &tag, &v, &vlen);
			}
			if (!step || tag != 0x04 ||
			    !der_next(v, vlen, &tag, &names, &nlen) || tag != 0x30)
				return -1;
			/* GeneralNames: iPAddress is [7] IMPLICIT OCTET STRING (0x87) */
			for (g = names; g < names + nlen; g += step) {
				const unsigned char *a;
				size_t alen;

				step = der_next(g, (size_t)(names + nlen - g), &tag, &a, &alen);
				if (!step)
					return -1;
				if (tag == 0x87 && alen == ip_len && memcmp(a, ip, ip_len) == 0)
					return 1;
			}
			return 0;
		}
	}
	return 0;
}

static void ipc_start_chain(const br_x509_class **ctx, const char *server_name)
{
	struct ip_check *c = (struct ip_check *)(void *)ctx;

	(void)server_name;
	c->certs = 0;
	c->cert_len = 0;
	(*c->inner)->start_chain(c->inner, NULL);	/* no name: checked below */
}

static void ipc_start_cert(const br_x509_class **ctx, uint32_t length)
{
	struct ip_check *c = (struct ip_check *)(void *)ctx;

	if (c->certs == 0 && length <= 64 * 1024 && length > c->cert_cap) {
		unsigned char *b = realloc(c->cert, length);

		if (b) {
			c->cert = b;
			c->cert_cap = length;
		}
	}
	(*c->inner)->start_cert(c->inner, length);
}

static void ipc_append(const br_x509_class **ctx, const unsigned char *p, size_t n)
{
	struct ip_check *c = (struct ip_check *)(void *)ctx;

	if (c->certs == 0 && c->cert && c->cert_len + n <= c->cert_cap) {
		memcpy(c->cert + c->cert_len, p, n);
		c->cert_len += n;
	}
	(*c->inner)->append(c->inner, p, n);
}

static void ipc_end_cert(const br_x509_class **ctx)
{
	struct ip_check *c = (struct ip_check *)(void *)ctx;

	c->certs++;
	(*c->inner)->end_cert(c->inner);
}

static unsigned ipc_end_chain(const br_x509_class **ctx)
{
	struct ip_check *c = (struct ip_check *)(void *)ctx;
	unsigned err = (*c->inner)->end_chain(c->inner);

	if (err)
		return err;
	return tls_cert_has_ip(c->cert, c->cert_len, c->ip, c->ip_len) == 1 ?
		       0 : BR_ERR_X509_BAD_SERVER_NAME;
}

static const br_x509_pkey *ipc_get_pkey(const br_x509_class *const *ctx, unsigned *usages)
{
	const struct ip_check *c = (const struct ip_check *)(const void *)ctx;

	return (*c->inner)->get_pkey(c->inner, usages);
}

static const br_x509_class ip_check_vtable = {
	.context_size = sizeof(struct ip_check),
	.start_chain = ipc_start_chain,
	.start_cert = ipc_start_cert,
	.append = ipc_append,
	.end_cert = ipc_end_cert,
	.end_chain = ipc_end_chain,
	.get_pkey = ipc_get_pkey,
};

/* --- connections ----------------------------------------------------------------------------- */

static int sock_read(void *ctx, unsigned char *p, size_t n)
{
	struct tls_conn *c = ctx;

	for (;;) {
		ssize_t r = recv(c->fd, p, n, 0);

		if (r > 0)
			return (int)r;
		if (r < 0 && errno == EINTR)
			continue;
		c->sock_err = r == 0 ? 0 : errno == EAGAIN ? ETIMEDOUT : errno;
		c->eof = r == 0;
		return -1;
	}
}

static int sock_write(void *ctx, const unsigned char *p, size_t n)
{
	struct tls_conn *c = ctx;

	for (;;) {
		ssize_t w = send(c->fd, p, n, MSG_NOSIGNAL);

		if (w > 0)
			return (int)w;
		if (w < 0 && errno == EINTR)
			continue;
		c->sock_err = w == 0 ? EPIPE : errno == EAGAIN ? ETIMEDOUT : errno;
		return -1;
	}
}

static const char *tls_reason(int code)
{
	switch (code) {
	case BR_ERR_X509_NOT_TRUSTED:
		return "the server's certificate is not signed by a trusted CA";
	case BR_ERR_X509_BAD_SERVER_NAME:
		return "the server's certificate is for another name";
	case BR_ERR_X509_EXPIRED:
		return "the server's certificate is expired or not yet valid";
	case BR_ERR_BAD_CIPHER_SUITE:
	case BR_ERR_BAD_VERSION:
	case BR_ERR_BAD_SIGNATURE:
		return "the server offers no TLS 1.2 ECDHE suite vigil speaks";
	case BR_ERR_IO:
		return "the connection failed during the handshake";
	default:
		return code >= BR_ERR_RECV_FATAL_ALERT ? "the server sent a fatal alert" :
							 "TLS handshake failed";
	}
}

struct tls_conn *tls_connect(int fd, const char *server_name, const struct tls_trust *trust,
			     char *err, size_t err_len)
{
	static const uint16_t suites[] = {
		BR_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
		BR_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
		BR_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
		BR_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
		BR_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
		BR_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	};
	static const br_hash_class *const hashes[] = {
		&br_sha1_vtable, &br_sha224_vtable, &br_sha256_vtable, &br_sha384_vtable,
		&br_sha512_vtable,
	};
	struct tls_conn *c = calloc(1, sizeof(*c));
	br_ssl_engine_context *eng;

	if (!c) {
		snprintf(err, err_len, "TLS: out of memory");
		return NULL;
	}
	c->fd = fd;
	eng = &c->sc.eng;
	br_ssl_client_zero(&c->sc);
	br_ssl_engine_set_versions(eng, BR_TLS12, BR_TLS12);
	br_ssl_engine_set_suites(eng, suites, sizeof(suites) / sizeof(suites[0]));
	br_ssl_engine_set_default_rsavrfy(eng);
	br_ssl_engine_set_default_ecdsa(eng);	/* and the curves, for ECDHE */
	br_ssl_engine_set_prf_sha256(eng, &br_tls12_sha256_prf);
	br_ssl_engine_set_prf_sha384(eng, &br_tls12_sha384_prf);
	br_ssl_engine_set_default_aes_gcm(eng);
	br_ssl_engine_set_default_chapol(eng);
	if (trust) {
		br_x509_minimal_init(&c->xc, &br_sha256_vtable, trust->anchors, trust->n);
		br_x509_minimal_set_rsa(&c->xc, br_ssl_engine_get_rsavrfy(eng));
		br_x509_minimal_set_ecdsa(&c->xc, br_ssl_engine_get_ec(eng),
					  br_ssl_engine_get_ecdsa(eng));
	}
	for (size_t i = 0; i < sizeof(hashes) / sizeof(hashes[0]); i++) {
		int id = (int)((hashes[i]->desc >> BR_HASHDESC_ID_OFF) & BR_HASHDESC_ID_MASK);

		br_ssl_engine_set_hash(eng, id, hashes[i]);
		if (trust)
			br_x509_minimal_set_hash(&c->xc, id, hashes[i]);
	}
	c->ta.vtable = &trust_all_vtable;
	br_ssl_engine_set_x509(eng, trust ? &c->xc.vtable : &c->ta.vtable);
	if (trust && ip_literal(server_name, c->ipc.ip, &c->ipc.ip_len)) {
		/* No SNI for an address (RFC 6066); the address checked against iPAddress SANs. */
		c->ipc.vtable = &ip_check_vtable;
		c->ipc.inner = &c->xc.vtable;
		br_ssl_engine_set_x509(eng, &c->ipc.vtable);
	}
	br_ssl_engine_set_buffer(eng, c->iobuf, sizeof(c->iobuf), 1);
	if (!br_ssl_client_reset(&c->sc, c->ipc.ip_len ? NULL : server_name, 0)) {
		snprintf(err, err_len, "TLS: cannot start (error %d)", br_ssl_engine_last_error(eng));
		free(c);
		return NULL;
	}
	br_sslio_init(&c->io, eng, sock_read, c, sock_write, c);
	/* Drive the handshake now, so that its failure reads as one. */
	if (br_sslio_flush(&c->io) < 0 ||
	    !(br_ssl_engine_current_state(eng) & (BR_SSL_SENDAPP | BR_SSL_RECVAPP))) {
		int code = br_ssl_engine_last_error(eng);

		if (code == BR_ERR_IO && c->sock_err)
			snprintf(err, err_len, "TLS handshake with %s: %s", server_name,
				 strerror(c->sock_err));
		else
			snprintf(err, err_len, "TLS handshake with %s: %s (BearSSL error %d)",
				 server_name, tls_reason(code), code);
		free(c->ipc.cert);
		free(c);
		return NULL;
	}
	free(c->ipc.cert);	/* the check is done */
	c->ipc.cert = NULL;
	return c;
}

static int io_errno(struct tls_conn *c)
{
	if (br_ssl_engine_last_error(&c->sc.eng) == BR_ERR_IO || c->sock_err)
		return c->sock_err ? c->sock_err : EPIPE;
	return EPROTO;
}

int tls_write_all(struct tls_conn *c, const void *p, size_t n)
{
	if (br_sslio_write_all(&c->io, p, n) < 0 || br_sslio_flush(&c->io) < 0)
		return -io_errno(c);
	return 0;
}

ssize_t tls_read(struct tls_conn *c, void *p, size_t n)
{
	int r = br_sslio_read(&c->io, p, n);

	if (r >= 0)
		return r;
	/* Closed: a close_notify, or the peer's plain close (HTTP frames its own answers). */
	if (c->eof || br_ssl_engine_last_error(&c->sc.eng) == BR_ERR_OK)
		return 0;
	return -io_errno(c);
}

void tls_free(struct tls_conn *c)
{
	free(c);
}
