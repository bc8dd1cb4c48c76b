/*
 * Protobuf wire format written by hand into a buf, for the log path's hot loop: the parser
 * and the segment writer encode LogRecord fields and Block columns as they go instead of
 * building protobuf-c structs (a dozen allocations and two passes a record). The bytes are
 * what protobuf-c would write; protobuf-c reads them back (tests/unit/test_segment.c).
 */
#ifndef VIGIL_PBWIRE_H
#define VIGIL_PBWIRE_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "../util/buf.h"

/* Wire types. */
enum { PB_VARINT = 0, PB_I64 = 1, PB_LEN = 2 };

/* Tags: field number << 3 | wire type, written as a varint (one byte for fields 1..15, two
 * for 16..2047, and so on). */
#define PB_TAG(field, wire) ((uint32_t)(field) << 3 | (uint32_t)(wire))
/* A tag the caller writes as one byte: a compile-time error for a field over 15. */
#define PB_TAG1(field, wire)                                                                \
	((uint8_t)(PB_TAG(field, wire) +                                                    \
		   0 * sizeof(struct { _Static_assert((field) >= 1 && (field) <= 15,         \
						      "a one-byte tag needs field 1..15");  \
				       int x; })))

static inline size_t pb_varint_len(uint64_t v)
{
	size_t n = 1;

	while (v >= 0x80) {
		v >>= 7;
		n++;
	}
	return n;
}

static inline size_t pb_put_varint(uint8_t *p, uint64_t v)
{
	size_t n = 0;

	while (v >= 0x80) {
		p[n++] = (uint8_t)(v | 0x80);
		v >>= 7;
	}
	p[n++] = (uint8_t)v;
	return n;
}

/* A tag (PB_TAG) at p: one byte for fields 1..15 (known at compile time where the tag is
 * a constant), a varint otherwise. Its length. */
static inline size_t pb_put_tag(uint8_t *p, uint32_t tag)
{
	if (tag < 0x80) {
		*p = (uint8_t)tag;
		return 1;
	}
	return pb_put_varint(p, tag);
}

/* A tag and a varint (int64 negative: ten bytes, as protobuf has it). */
static inline void pb_buf_varint(struct buf *b, uint32_t tag, uint64_t v)
{
	if (buf_reserve(b, 15) < 0)
		return;
	b->len += pb_put_tag((uint8_t *)b->data + b->len, tag);
	b->len += pb_put_varint((uint8_t *)b->data + b->len, v);
	b->data[b->len] = '\0';
}

/* A tag and length-delimited bytes. */
static inline void pb_buf_bytes(struct buf *b, uint32_t tag, const void *p, size_t n)
{
	if (buf_reserve(b, 15 + n) < 0)
		return;
	b->len += pb_put_tag((uint8_t *)b->data + b->len, tag);
	b->len += pb_put_varint((uint8_t *)b->data + b->len, n);
	if (n)	/* (p may be NULL then: an empty buf's data) */
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

/* A length-delimited field whose length is known only once written: pb_open writes the tag
 * and room for a one-byte length and returns where the contents start; pb_close writes the
 * length there, moving the contents up when it needs more than one byte. */
static inline size_t pb_open(struct buf *b, uint32_t tag)
{
	if (buf_reserve(b, 6) < 0)
		return b->len;
	b->len += pb_put_tag((uint8_t *)b->data + b->len, tag);
	b->data[b->len++] = 0;
	b->data[b->len] = '\0';
	return b->len;
}

static inline void pb_close(struct buf *b, size_t start)
{
	size_t n, extra;

	if (b->failed || start > b->len)
		return;
	n = b->len - start;
	extra = pb_varint_len(n) - 1;
	if (extra) {
		if (buf_reserve(b, extra) < 0)
			return;
		memmove(b->data + start + extra, b->data + start, n);
		b->len += extra;
		b->data[b->len] = '\0';
	}
	pb_put_varint((uint8_t *)b->data + start - 1, n);
}

/* A tag and a fixed64 (fixed64, sfixed64, double: little-endian bits), or a fixed32. */
static inline void pb_buf_fixed64(struct buf *b, uint32_t tag, uint64_t v)
{
	if (buf_reserve(b, 15) < 0)
		return;
	b->len += pb_put_tag((uint8_t *)b->data + b->len, tag);
	for (int i = 0; i < 8; i++)
		b->data[b->len++] = (char)(v >> (8 * i));
	b->data[b->len] = '\0';
}

static inline void pb_buf_double(struct buf *b, uint32_t tag, double d)
{
	uint64_t v;

	memcpy(&v, &d, sizeof(v));
	pb_buf_fixed64(b, tag, v);
}

static inline void pb_buf_fixed32(struct buf *b, uint32_t tag, uint32_t v)
{
	if (buf_reserve(b, 10) < 0)
		return;
	b->len += pb_put_tag((uint8_t *)b->data + b->len, tag);
	for (int i = 0; i < 4; i++)
		b->data[b->len++] = (char)(v >> (8 * i));
	b->data[b->len] = '\0';
}

/* A tag and a length (the caller appends that many bytes next). */
static inline void pb_buf_len(struct buf *b, uint32_t tag, size_t n)
{
	if (buf_reserve(b, 15) < 0)
		return;
	b->len += pb_put_tag((uint8_t *)b->data + b->len, tag);
	b->len += pb_put_varint((uint8_t *)b->data + b->len, n);
	b->data[b->len] = '\0';
}

/* The length of a tag and a length-delimited field of n bytes. */
static inline size_t pb_len_field(uint32_t tag, size_t n)
{
	return pb_varint_len(tag) + pb_varint_len(n) + n;
}

static inline uint64_t pb_zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

/* A packed repeated field of n varints: v is uint32_t[n], or int64_t[n] zigzagged (sint64)
 * when s64. Nothing when n is 0, as protobuf writes it. */
static inline void pb_buf_packed(struct buf *b, uint32_t tag, const void *v, size_t n,
				 bool s64)
{
#define PB_ELEM(i) (s64 ? pb_zigzag(((const int64_t *)v)[i]) : ((const uint32_t *)v)[i])
	size_t len = 0;

	if (!n)
		return;
	for (size_t i = 0; i < n; i++)
		len += pb_varint_len(PB_ELEM(i));
	if (buf_reserve(b, 15 + len) < 0)
		return;
	b->len += pb_put_tag((uint8_t *)b->data + b->len, tag);
	b->len += pb_put_varint((uint8_t *)b->data + b->len, len);
	for (size_t i = 0; i < n; i++)
		b->len += pb_put_varint((uint8_t *)b->data + b->len, PB_ELEM(i));
	b->data[b->len] = '\0';
#undef PB_ELEM
}

/* A varint at p[*at] (of n bytes) into *v, *at moved past it. false when cut or past ten
 * bytes. */
static inline bool pb_get_varint(const uint8_t *p, size_t n, size_t *at, uint64_t *v)
{
	*v = 0;
	for (int shift = 0;; shift += 7) {
		if (*at >= n || shift > 63)
			return false;
		*v |= (uint64_t)(p[*at] & 0x7F) << shift;
		if (!(p[(*at)++] & 0x80))
			return true;
	}
}

/* One element (tag and payload) at p, of at most n bytes: its field number, wire type and
 * payload (for PB_LEN the bytes, else the value's own bytes). Its whole length, or 0 when it
 * is cut or malformed (a group, a varint past ten bytes). */
static inline size_t pb_element(const uint8_t *p, size_t n, uint32_t *field, int *wire,
				const uint8_t **payload, size_t *payload_len)
{
	uint64_t tag, len = 0;
	size_t at = 0;

	if (!pb_get_varint(p, n, &at, &tag) || tag >> 3 == 0 || tag >> 3 > 0x1FFFFFFF)
		return 0;
	*field = (uint32_t)(tag >> 3);
	*wire = (int)(tag & 7);
	*payload = p + at;
	switch (*wire) {
	case PB_VARINT:
		if (!pb_get_varint(p, n, &at, &len))
			return 0;
		*payload_len = (size_t)(p + at - *payload);
		return at;
	case PB_I64:
	case 5:	/* 32-bit */
		len = *wire == PB_I64 ? 8 : 4;
		break;
	case PB_LEN:
		if (!pb_get_varint(p, n, &at, &len))
			return 0;
		*payload = p + at;
		break;
	default:
		return 0;
	}
	if (len > n - at)
		return 0;
	*payload_len = (size_t)len;
	return at + (size_t)len;
}

/* Field numbers of proto/vigil/v1/log.proto (tests/unit/test_segment.c checks them against
 * protobuf-c's descriptors). */
enum log_record_field {
	LR_TIME_NS = 1, LR_SOURCE = 2, LR_EXTENSION = 3, LR_REQUEST_ID = 4, LR_LEVEL = 5,
	LR_MESSAGE = 6, LR_FIELDS = 7, LR_TRACE_ID = 8, LR_COLD_START = 9, LR_FUNCTION_NAME = 10,
	LR_FUNCTION_VERSION = 11, LR_TRUNCATED = 12, LR_UTF8_REPAIRED = 13,
};
enum field_field {
	FIELD_KEY = 1, FIELD_TEXT = 2, FIELD_NUMBER = 3, FIELD_INTEGER = 4, FIELD_FLAG = 5,
	FIELD_DECIMAL = 6,
};
enum block_field {
	BLOCK_BASE_TIME_NS = 1, BLOCK_TIME_DELTA_NS = 2, BLOCK_REQUEST_IDS = 3,
	BLOCK_REQUEST_INDEX = 4, BLOCK_LEVEL = 5, BLOCK_SOURCE = 6, BLOCK_MESSAGE = 7,
	BLOCK_REST = 8, BLOCK_TIME_UNIT_NS = 9, BLOCK_FUNCTION_NAME = 10,
	BLOCK_FUNCTION_VERSION = 11, BLOCK_FIELD_KEYS = 12, BLOCK_FIELD_COUNT = 13,
	BLOCK_FIELD_KEY = 14, BLOCK_FIELD_VALUES = 15,
};

#endif
