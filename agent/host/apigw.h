/*
 * API Gateway proxy payloads (../shared/spec/lambda-apis.md 7): an HTTP request becomes an
 * HTTP API 2.0 or REST 1.0 event; the function's answer maps back to an HTTP response.
 */
#ifndef VIGIL_APIGW_H
#define VIGIL_APIGW_H

#include <stddef.h>
#include <stdint.h>

#include "../lib/http_server.h"

enum apigw_payload { APIGW_V2, APIGW_V1 };

struct apigw_request {
	const char *method;
	const char *target;		/* raw request target: path and query */
	const char *protocol;		/* "HTTP/1.1" */
	const char *source_ip;
	const struct http_header *headers;
	size_t nheaders;
	const char *body;
	size_t body_len;
	const char *request_id;
	int64_t time_epoch_ms;
};

struct apigw_response {
	int status;
	struct http_header *headers;	/* malloc'd names and values */
	size_t nheaders;
	char *body;
	size_t body_len;
};

/* The event as a malloc'd JSON text (caller frees), NULL on ENOMEM. */
char *apigw_event(const struct apigw_request *r, enum apigw_payload v, size_t *len);

/* Map the function's result. 0, or -EINVAL when it is malformed (the caller answers 502),
 * with the reason in err. */
int apigw_map_response(enum apigw_payload v, const char *result, size_t len,
		       struct apigw_response *out, char *err, size_t errlen);
void apigw_response_free(struct apigw_response *r);

/* 1 when a body of this content type travels as text (not base64) in an event. */
int apigw_is_text(const char *content_type, const char *body, size_t len);

/* A JSON string of text a function or a client sent: invalid UTF-8 repaired with U+FFFD
 * (jansson writes valid UTF-8 only: the member, or the whole event, would be lost), NUL kept
 * (it goes out as \u0000, as Lambda sends it). */
struct json_t *json_text(const char *s, size_t n);

#endif
