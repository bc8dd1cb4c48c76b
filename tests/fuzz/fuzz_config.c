/* libFuzzer harness: the configuration file parser and the HOST:PORT parser. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../agent/cmd/config.h"
#include "../../agent/util/log.h"
#include "../../agent/util/netaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct vigil_config c;
	struct sockaddr_storage ss;
	char err[600], addr[128];
	struct buf b;

	log_set_level(LOG_OFF);
	config_defaults(&c);
	config_load_buffer(&c, "fuzz", (const char *)data, size, err, sizeof(err));
	buf_init(&b);
	config_print(&c, &b);
	buf_free(&b);
	if (size < sizeof(addr)) {
		memcpy(addr, data, size);
		addr[size] = '\0';
		netaddr_parse(addr, &ss);
	}
	return 0;
}
