/*
 * Protobuf wire format written by hand into a buf, for the log path's hot loop: the parser
 * and the segment writer encode LogRecord fields and Block columns as they go instead of
 * building protobuf-c structs (a dozen allocations and two passes a record). The bytes are
 * what protobuf-c would write; protobuf-c reads them back (tests/unit/test_segment.c).
 */
#ifndef VIGIL_PBWIRE_H
#define VIGIL_PBWIRE_H

#include <stdint.h>
#include <string.h>

#include "../util/buf.h"

/* Tags: field number << 3 | wire type (0 varint, 1 fixed64, 2 length-delimited). */
#define PB_TAG(field, wire) ((uint8_t)((field) << 3 | (wire)))

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

/* A tag and a varint (int64 negative: ten bytes, as protobuf has it). */
static inline void pb_buf_varint(struct buf *b, uint8_t tag, uint64_t v)
{
	if (buf_reserve(b, 11) < 0)
		return;
	b->data[b->len++] = (char)tag;
	b->len += pb_put_varint((uint8_t *)b->data + b->len, v);
	b->data[b->len] = '\0';
}

/* A tag and length-delimited bytes. */
static inline void pb_buf_bytes(struct buf *b, uint8_t tag, const void *p, size_t n)
{
	if (buf_reserve(b, 11 + n) < 0)
		return;
	b->data[b->len++] = (char)tag;
	b->len += pb_put_varint((uint8_t *)b->data + b->len, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

/* A length-delimited field whose length is known only once written: pb_open writes the tag
 * and room for a one-byte length and returns where the contents start; pb_close writes the
 * length there, moving the contents up when it needs more than one byte. */
static inline size_t pb_open(struct buf *b, uint8_t tag)
{
	if (buf_reserve(b, 2) < 0)
		return b->len;
	b->data[b->len++] = (char)tag;
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

static inline uint64_t pb_zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

/* A packed repeated field of n varints: v is uint32_t[n], or int64_t[n] zigzagged (sint64)
 * when s64. Nothing when n is 0, as protobuf writes it. */
static inline void pb_buf_packed(struct buf *b, uint8_t tag, const void *v, size_t n, bool s64)
{
#define PB_ELEM(i) (s64 ? pb_zigzag(((const int64_t *)v)[i]) : ((const uint32_t *)v)[i])
	size_t len = 0;

	if (!n)
		return;
	for (size_t i = 0; i < n; i++)
		len += pb_varint_len(PB_ELEM(i));
	if (buf_reserve(b, 11 + len) < 0)
		return;
	b->data[b->len++] = (char)tag;
	b->len += pb_put_varint((uint8_t *)b->data + b->len, len);
	for (size_t i = 0; i < n; i++)
		b->len += pb_put_varint((uint8_t *)b->data + b->len, PB_ELEM(i));
	b->data[b->len] = '\0';
#undef PB_ELEM
}

#endif
