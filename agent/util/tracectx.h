/*
 * Trace context: the trace id (and parent span) of an X-Ray header, a W3C traceparent or a bare
 * id; and the span id of an invocation's `invoke` span, made from its request id, so that what
 * the function exports (its spans, through vigil's OTLP receiver) can name it as their parent
 * before the invocation's report exists.
 */
#ifndef VIGIL_TRACECTX_H
#define VIGIL_TRACECTX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An X-Ray header (Root=1-xxxxxxxx-yyyyyyyyyyyyyyyyyyyyyyyy;Parent=…;Sampled=…) or a W3C
 * traceparent, or a bare 32-hex trace id, or an X-Ray id alone (1-xxxxxxxx-yyyy…): the
 * 16-byte trace id and (when there is one) the 8-byte parent; sampled is -1 when the header
 * does not say. false when it holds no trace id. */
bool trace_context(const char *header, uint8_t trace_id[16], uint8_t parent[8], bool *has_parent,
		   int *sampled);
/* The invoke span's id of request_id (a hash: never all zero). */
void trace_invoke_span_id(const char *request_id, uint8_t out[8]);
/* The init span's id of a cold start's first invocation (another hash of its request id):
 * the cold-start timeline's spans, made later, name it as their parent. */
void trace_init_span_id(const char *request_id, uint8_t out[8]);
/* A trace id for an invocation whose header names none (a hash of its request id: its
 * report's spans and its cold start's, made apart, land in one trace). */
void trace_fallback_id(const char *request_id, uint8_t out[16]);
/* n hex digits at s (n even) into out (n / 2 bytes); false when any is not hex. */
bool trace_hex_decode(const char *s, size_t n, uint8_t *out);
/* n bytes as 2n lowercase hex digits and a NUL into out. */
void trace_hex(const uint8_t *p, size_t n, char *out);

#endif
