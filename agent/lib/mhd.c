/* libmicrohttpd loaded on first use. See mhd.h. */
#include "mhd.h"

#include <pthread.h>

#include "../util/log.h"

#ifdef VIGIL_MHD_STATIC
int mhd_load(void)
{
	return 0;
}
#else
#include <dlfcn.h>

struct mhd_table mhd;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int loaded = -1;

#define SYM(field, name)                                             \
	do {                                                         \
		*(void **)&mhd.field = dlsym(h, name);               \
		if (!mhd.field) {                                    \
			log_error("mhd", "%s missing in %s", name, lib); \
			return;                                      \
		}                                                    \
	} while (0)

static void load(void)
{
	static const char lib[] = "libmicrohttpd.so.12";
	void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);

	if (!h) {
		log_error("mhd", "cannot load %s: %s", lib, dlerror());
		return;
	}
	SYM(start_daemon, "MHD_start_daemon");
	SYM(stop_daemon, "MHD_stop_daemon");
	SYM(create_response_from_buffer, "MHD_create_response_from_buffer");
	SYM(add_response_header, "MHD_add_response_header");
	SYM(get_response_header, "MHD_get_response_header");
	SYM(queue_response, "MHD_queue_response");
	SYM(destroy_response, "MHD_destroy_response");
	SYM(lookup_connection_value, "MHD_lookup_connection_value");
	SYM(get_connection_values, "MHD_get_connection_values");
	SYM(get_connection_info, "MHD_get_connection_info");
	SYM(get_daemon_info, "MHD_get_daemon_info");
	SYM(get_timeout, "MHD_get_timeout");
	SYM(run, "MHD_run");
	SYM(suspend_connection, "MHD_suspend_connection");
	SYM(resume_connection, "MHD_resume_connection");
	SYM(set_connection_option, "MHD_set_connection_option");
	loaded = 0;
}

int mhd_load(void)
{
	pthread_once(&once, load);
	return loaded;
}
#endif
