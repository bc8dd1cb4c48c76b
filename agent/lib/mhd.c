/* libmicrohttpd loaded on first use. See mhd.h. */
#include "mhd.h"

#include <pthread.h>
#include <stdlib.h>
#include <time.h>

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
	SYM(create_response_from_callback, "MHD_create_response_from_callback");
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

/* --- idle connections ---------------------------------------------------------------------- */

struct mhd_idle_conn {
	struct mhd_idle_conn *prev, *next;
	struct MHD_Connection *conn;
	double idle_since;	/* monotonic; 0: a request is under way */
	bool evicted;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void evict_idle_longest(struct mhd_idle *t)
{
	struct mhd_idle_conn *oldest = NULL;

	for (struct mhd_idle_conn *c = t->conns; c; c = c->next)
		if (c->idle_since > 0 && !c->evicted && (!oldest || c->idle_since < oldest->idle_since))
			oldest = c;
	if (oldest) {
		oldest->evicted = true;
		MHD_set_connection_option(oldest->conn, MHD_CONNECTION_OPTION_TIMEOUT, 1U);
	}
}

void mhd_idle_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
		     enum MHD_ConnectionNotificationCode toe)
{
	struct mhd_idle *t = cls;
	struct mhd_idle_conn *c = *socket_context;

	if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
		c = calloc(1, sizeof(*c));
		if (!c)
			return;
		c->conn = conn;
		c->idle_since = now_s();
		c->next = t->conns;
		if (c->next)
			c->next->prev = c;
		t->conns = c;
		*socket_context = c;
		if (++t->n > t->evict_at)
			evict_idle_longest(t);
		return;
	}
	if (!c)
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		t->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	t->n--;
	free(c);
	*socket_context = NULL;
}

void mhd_idle_mark(struct MHD_Connection *conn, bool busy)
{
	const union MHD_ConnectionInfo *ci =
		MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct mhd_idle_conn *c = ci ? ci->socket_context : NULL;

	if (c)
		c->idle_since = busy ? 0 : now_s();
}
