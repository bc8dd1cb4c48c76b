/* A growable byte buffer. The caller owns the struct; buf_free() releases its memory. */
#ifndef VIGIL_BUF_H
#define VIGIL_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct buf {
	char *data;	/* always NUL-terminated when len > 0 */
	size_t len;
	size_t cap;
	bool failed;	/* an allocation failed: contents are incomplete */
};

void buf_init(struct buf *b);
void buf_free(struct buf *b);
/* Hand the memory to the caller (who free()s it); the buffer becomes empty. */
char *buf_steal(struct buf *b, size_t *len);

/* Empty again, its memory kept. */
static inline void buf_reset(struct buf *b)
{
	b->len = 0;
	b->failed = false;
	if (b->data)
		b->data[0] = '\0';
}

/* a[0..n) == b[0..n) for short runs (ids, names, times): 8 bytes at a time, inline (a call to
 * memcmp or strcmp costs more than the comparison here). */
static inline bool bytes_eq(const void *a, const void *b, size_t n)
{
	const unsigned char *s = a, *t = b;
	uint64_t x, y, diff = 0;
	uint32_t u, v;

	if (n >= 8) {	/* the last 8 overlapping, not byte by byte */
		for (size_t i = 0; i + 8 < n; i += 8) {
			memcpy(&x, s + i, 8);
			memcpy(&y, t + i, 8);
			diff |= x ^ y;
		}
		memcpy(&x, s + n - 8, 8);
		memcpy(&y, t + n - 8, 8);
		return (diff | (x ^ y)) == 0;
	}
	if (n >= 4) {
		memcpy(&u, s, 4);
		memcpy(&v, t, 4);
		diff = u ^ v;
		memcpy(&u, s + n - 4, 4);
		memcpy(&v, t + n - 4, 4);
		return (diff | (u ^ v)) == 0;
	}
	for (size_t i = 0; i < n; i++)
		diff |= (uint64_t)(s[i] ^ t[i]);
	return diff == 0;
}

/* buf_reserve's slow path. */
int buf_grow(struct buf *b, size_t n);

/* Make room for n more bytes; 0 or -ENOMEM. */
static inline int buf_reserve(struct buf *b, size_t n)
{
	/* The usual case inline: the log path reserves a few times a record. */
	if (!b->failed && b->len + n + 1 > b->len && b->len + n + 1 <= b->cap)
		return 0;
	return buf_grow(b, n);
}
void buf_printf(struct buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append the whole file at path (at most max bytes): 0, or -errno (-EFBIG past max). */
int buf_read_file(struct buf *b, const char *path, size_t max);
/* Append what fd holds from offset off on (pread: its offset stays), at most max bytes in b:
 * 0, or -errno (-EFBIG: cut at max). */
int buf_read_fd_at(struct buf *b, int fd, uint64_t off, size_t max);
/* Write n bytes to fd (retrying short writes and EINTR). 0, or -errno at the first failure. */
int write_all(int fd, const void *data, size_t n);
/* write_all of b's contents. */
int buf_write_fd(const struct buf *b, int fd);
/* Write b to fd (when it holds anything) and give its memory back: a batch of output that
 * may have been large is not kept for the next. 0 or -errno. */
int buf_drain_fd(struct buf *b, int fd);
/* Append an unsigned or signed decimal integer. */
void buf_put_u64(struct buf *b, unsigned long long v);
void buf_put_i64(struct buf *b, long long v);

/* Inline: the log path appends a few times a field. */
static inline void buf_append(struct buf *b, const void *p, size_t n)
{
	if (buf_reserve(b, n) < 0)
		return;
	if (n)	/* (p may be NULL then: an empty buf's data) */
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}

static inline void buf_puts(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

static inline void buf_putc(struct buf *b, char c)
{
	if (b->len + 2 > b->cap && buf_reserve(b, 1) < 0)
		return;
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
}

#endif
