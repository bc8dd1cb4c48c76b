/*
 * One HTTP/1.1 POST on the event loop, a new connection each time (Connection: close):
 * how vigil host delivers Telemetry API batches to a subscriber's listener.
 */
#ifndef VIGIL_HTTP_POST_H
#define VIGIL_HTTP_POST_H

#include <stddef.h>
#include <sys/socket.h>

#include "loop.h"

struct http_post;

/* status: the HTTP status of the answer, or a negative errno (-ETIMEDOUT, -ECONNREFUSED…). */
typedef void (*http_post_done_fn)(void *arg, int status);

/* POST body (copied) to addr; done is called exactly once, unless cancelled first. NULL on
 * ENOMEM or when no socket can be made. */
struct http_post *http_post_start(struct loop *l, const struct sockaddr_storage *addr,
				  const char *host, const char *path, const char *content_type,
				  const void *body, size_t len, double timeout_s,
				  http_post_done_fn done, void *arg);
void http_post_cancel(struct http_post *p);

#endif
