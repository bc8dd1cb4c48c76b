/* A growable byte buffer with cheap appends for the exporters' hot loops. */
#include "buf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void buf_init(struct buf *b)
{
	memset(b, 0, sizeof(*b));
}

void buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

char *buf_steal(struct buf *b, size_t *len)
{
	char *p = b->data;

	if (len)
		*len = b->len;
	buf_init(b);
	return p;
}

int buf_grow(struct buf *b, size_t n)
{
	size_t need, cap;
	char *p;

	if (b->failed)
		return -ENOMEM;
	need = b->len + n + 1;
	if (need < b->len) {
		b->failed = true;
		return -ENOMEM;
	}
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	p = realloc(b->data, cap);
	if (!p) {
		b->failed = true;
		return -ENOMEM;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

void buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || buf_reserve(b, (size_t)n) < 0)
		return;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void buf_put_u64(struct buf *b, unsigned long long v)
{
	char tmp[24];
	int i = sizeof(tmp);

	do {
		tmp[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	buf_append(b, tmp + i, sizeof(tmp) - (size_t)i);
}

void buf_put_i64(struct buf *b, long long v)
{
	if (v < 0) {
		buf_putc(b, '-');
		buf_put_u64(b, 0ULL - (unsigned long long)v);
		return;
	}
	buf_put_u64(b, (unsigned long long)v);
}

int buf_read_fd_at(struct buf *b, int fd, uint64_t off, size_t max)
{
	char chunk[65536];

	for (;;) {
		ssize_t n = pread(fd, chunk, sizeof(chunk), (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return 0;
		if (b->len + (size_t)n > max) {
			buf_append(b, chunk, max - b->len);
			return b->failed ? -ENOMEM : -EFBIG;
		}
		buf_append(b, chunk, (size_t)n);
		if (b->failed)
			return -ENOMEM;
		off += (uint64_t)n;
	}
}

int buf_read_file(struct buf *b, const char *path, size_t max)
{
	struct stat st;
	size_t size;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0) {
		int rc = -errno;

		close(fd);
		return rc;
	}
	if ((unsigned long long)st.st_size > max) {
		close(fd);
		return -EFBIG;
	}
	size = (size_t)st.st_size;
	if (buf_reserve(b, size) < 0) {
		close(fd);
		return -ENOMEM;
	}
	/* What the file held when opened (a segment being written grows meanwhile). */
	for (size_t end = b->len + size; b->len < end;) {
		ssize_t n = read(fd, b->data + b->len, end - b->len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		b->len += (size_t)n;
	}
	b->data[b->len] = '\0';
	close(fd);
	return 0;
}

int write_all(int fd, const void *data, size_t n)
{
	const char *p = data;

	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -errno;
		if (w == 0)
			return -EIO;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

int buf_write_fd(const struct buf *b, int fd)
{
	return write_all(fd, b->data, b->len);
}

int buf_drain_fd(struct buf *b, int fd)
{
	int rc = b->len ? buf_write_fd(b, fd) : 0;

	buf_free(b);
	buf_init(b);
	return rc;
}
