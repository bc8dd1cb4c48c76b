/*
 * libmicrohttpd, loaded when first used. Linking it pulls gnutls and ten more libraries into
 * every start (measured here: 1.9 ms of CPU per exec); vigil's extension must start in about
 * 2 ms and often serves no HTTP at all. Include this instead of <microhttpd.h>: the MHD_*
 * calls go through a table that mhd_load() fills with dlopen/dlsym. A static build
 * (VIGIL_MHD_STATIC) links the library and calls it directly.
 */
#ifndef VIGIL_MHD_H
#define VIGIL_MHD_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <microhttpd.h>

/* 0 when libmicrohttpd is ready (loaded once, thread-safe); -1 with a log line if not. */
int mhd_load(void);

/*
 * Idle connections cannot lock a daemon out: past evict_at connections, each new one makes
 * the connection idle longest (nothing sent yet, half a request line, keep-alive between
 * requests) time out within a second. libmicrohttpd alone refuses connections past its limit
 * until the idle ones reach their timeout. Use: MHD_OPTION_NOTIFY_CONNECTION, mhd_idle_notify,
 * &tracker; mhd_idle_mark(conn, true) when a request begins, false when it completes. The
 * callbacks run in the daemon's thread (or loop): no lock.
 */
struct mhd_idle_conn;
struct mhd_idle {
	struct mhd_idle_conn *conns;	/* newest first */
	unsigned n, evict_at;
};
void mhd_idle_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
		     enum MHD_ConnectionNotificationCode toe);
void mhd_idle_mark(struct MHD_Connection *conn, bool busy);

#ifndef VIGIL_MHD_STATIC
struct mhd_table {
	__typeof__(MHD_start_daemon) *start_daemon;
	__typeof__(MHD_stop_daemon) *stop_daemon;
	__typeof__(MHD_create_response_from_buffer) *create_response_from_buffer;
	__typeof__(MHD_create_response_from_callback) *create_response_from_callback;
	__typeof__(MHD_add_response_header) *add_response_header;
	__typeof__(MHD_get_response_header) *get_response_header;
	__typeof__(MHD_queue_response) *queue_response;
	__typeof__(MHD_destroy_response) *destroy_response;
	__typeof__(MHD_lookup_connection_value) *lookup_connection_value;
	__typeof__(MHD_get_connection_values) *get_connection_values;
	__typeof__(MHD_get_connection_info) *get_connection_info;
	__typeof__(MHD_get_daemon_info) *get_daemon_info;
	__typeof__(MHD_get_timeout) *get_timeout;
	__typeof__(MHD_run) *run;
	__typeof__(MHD_suspend_connection) *suspend_connection;
	__typeof__(MHD_resume_connection) *resume_connection;
	__typeof__(MHD_set_connection_option) *set_connection_option;
};
extern struct mhd_table mhd;

#define MHD_start_daemon mhd.start_daemon
#define MHD_stop_daemon mhd.stop_daemon
#define MHD_create_response_from_buffer mhd.create_response_from_buffer
#define MHD_create_response_from_callback mhd.create_response_from_callback
#define MHD_add_response_header mhd.add_response_header
#define MHD_get_response_header mhd.get_response_header
#define MHD_queue_response mhd.queue_response
#define MHD_destroy_response mhd.destroy_response
#define MHD_lookup_connection_value mhd.lookup_connection_value
#define MHD_get_connection_values mhd.get_connection_values
#define MHD_get_connection_info mhd.get_connection_info
#define MHD_get_daemon_info mhd.get_daemon_info
#define MHD_get_timeout mhd.get_timeout
#define MHD_run mhd.run
#define MHD_suspend_connection mhd.suspend_connection
#define MHD_resume_connection mhd.resume_connection
#define MHD_set_connection_option mhd.set_connection_option
#endif

#endif
