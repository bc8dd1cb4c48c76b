/* libFuzzer harness: the JSON bodies of the Lambda APIs — on the host's side the Extensions
 * API register body and a runtime's /error body; on the extension's side the register answer
 * and the events of event/next. */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "../../agent/extension/extension.h"
#include "../../agent/host/host.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data, *type;
	struct extension_event ev;
	char fn[65], ver[65], acct[32], err[128];
	unsigned events;

	extension_register_events(s, size, &events, &type);
	runtime_error_type(s, size, size & 1 ? "Header.Type" : NULL, err, sizeof(err));
	if (strlen(err) >= sizeof(err))
		__builtin_trap();
	extension_parse_register(s, size, fn, sizeof(fn), ver, sizeof(ver), acct, sizeof(acct));
	if (extension_parse_event(s, size, &ev) == 0 && ev.invoke && ev.shutdown)
		__builtin_trap();
	return 0;
}
