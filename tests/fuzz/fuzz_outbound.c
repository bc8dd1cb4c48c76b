/* libFuzzer harness: the outbound path's parsers — DNS answers, push URLs, and PEM bundles of
 * trust anchors (PEM and X.509 decoding by BearSSL, the anchors built by tls.c). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "../../agent/lib/http_client.h"
#include "../../agent/lib/resolve.h"
#include "../../agent/lib/tls.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_storage out[RESOLVE_MAX];
	struct http_url u;
	char err[600], text[1024], path[64];
	struct tls_trust *t;
	int fd;

	{	/* a server certificate's iPAddress names (DER) */
		static const unsigned char ip[16] = { 127, 0, 0, 1 };

		tls_cert_has_ip(data, size, ip, 4);
		tls_cert_has_ip(data, size, ip, 16);
	}
	if (size >= 2) {
		uint16_t id = (uint16_t)(data[0] << 8 | data[1]);

		dns_parse_answer(data, size, id, 1, 443, out, RESOLVE_MAX);
		dns_parse_answer(data, size, id, 28, 443, out, RESOLVE_MAX);
	}
	if (size < sizeof(text)) {
		memcpy(text, data, size);
		text[size] = '\0';
		http_url_parse(text, &u, err, sizeof(err));
		dns_build_query(text, 1, 1, (unsigned char *)err, sizeof(err));
	}
	fd = memfd_create("pem", 0);
	if (fd >= 0) {
		if (write(fd, data, size) == (ssize_t)size) {
			snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
			t = tls_trust_load(path, err, sizeof(err));
			tls_trust_free(t);
		}
		close(fd);
	}
	return 0;
}
