/* Log segments: the tail files that keep the block being built on disk (the format is in
 * segment_format.h): reading them, and folding a crashed writer's into a live one. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/buf.h"
#include "../util/crc32c.h"
#include "../util/log.h"
#include "segment.h"
#include "segment_format.h"

void segment_tail_path(const char *segment, char *out, size_t n)
{
	size_t l = strlen(segment), sl = strlen(SEGMENT_SUFFIX);

	if (l >= sl && strcmp(segment + l - sl, SEGMENT_SUFFIX) == 0)
		l -= sl;
	snprintf(out, n, "%.*s%s", (int)l, segment, TAIL_SUFFIX);
}

size_t segment_blocks_end(const uint8_t *data, size_t len, size_t hl, int *closed)
{
	size_t pos = 16 + hl;

	*closed = len >= pos + 16 && memcmp(data + len - 8, END_MAGIC, 8) == 0;
	while (pos <= len && len - pos >= FRAME_HEADER && get32(data + pos) == BLOCK_MAGIC) {
		uint32_t comp = get32(data + pos + 4);

		if (comp > BLOCK_MAX || len - pos - FRAME_HEADER < comp ||
		    crc32c(0, data + pos + FRAME_HEADER, comp) != get32(data + pos + 12))
			break;
		pos += FRAME_HEADER + comp;
	}
	return pos;
}

int segment_tail_read(const char *path, uint64_t blocks_end, uint64_t skip, segment_record_fn fn,
		      void *arg, uint32_t *records)
{
	struct buf file;
	const uint8_t *d;
	size_t pos = TAIL_HEADER;
	int rc = 0;

	*records = 0;
	buf_init(&file);
	rc = buf_read_file(&file, path, (size_t)1 << 31);
	if (rc < 0) {
		buf_free(&file);
		return rc;
	}
	d = (const uint8_t *)file.data;
	if (file.len < TAIL_HEADER || memcmp(d, TAIL_MAGIC, 8) != 0 ||
	    crc32c(0, d + 8, 8) != get32(d + 16)) {
		buf_free(&file);
		return -EINVAL;
	}
	if (blocks_end != UINT64_MAX && get64(d + 8) != blocks_end) {
		buf_free(&file);
		return 0;	/* its records are in the block written at that offset */
	}
	/* Frames until the end or the first torn one (the append a crash cut short). */
	while (!rc && file.len - pos >= TAIL_FRAME) {
		uint32_t n = get32(d + pos);
		log_record *r;

		if (n > TAIL_RECORD_MAX || file.len - pos - TAIL_FRAME < n ||
		    crc32c(0, d + pos + TAIL_FRAME, n) != get32(d + pos + 4))
			break;
		if (skip) {	/* counted, not decoded */
			skip--;
			pos += TAIL_FRAME + n;
			(*records)++;
			continue;
		}
		r = vigil__v1__log_record__unpack(NULL, n, d + pos + TAIL_FRAME);
		pos += TAIL_FRAME + n;
		if (!r)
			continue;
		(*records)++;
		rc = fn && fn(arg, r) ? 1 : 0;
		vigil__v1__log_record__free_unpacked(r, NULL);
	}
	buf_free(&file);
	return rc;
}

static int fold_record(void *arg, const log_record *r)
{
	segment_writer_add(arg, r);
	return 0;
}

/* One dead tail (held by us: fd locked) into w; its segment cut back. The records. */
static uint32_t fold_one(struct segment_writer *w, const char *tail, const char *seg)
{
	struct buf file;
	uint32_t got = 0;
	size_t hl, end;
	int closed = 0;

	buf_init(&file);
	if (buf_read_file(&file, seg, (size_t)4 << 30) < 0 || file.len < 16 ||
	    memcmp(file.data, FILE_MAGIC, 8) != 0 ||
	    (hl = get32((const uint8_t *)file.data + 8)) > 512 || 16 + hl > file.len) {
		/* No segment to go with it (removed by retention, or killed before its header
		 * was written: then it goes, holding nothing): the tail's records are all there
		 * is of that block. */
		if (file.len < 16 + 512 + 4 && !file.failed)
			unlink(seg);
		buf_free(&file);
		if (segment_tail_read(tail, UINT64_MAX, 0, fold_record, w, &got) < 0)
			got = 0;
		return got && segment_writer_flush(w) < 0 ? UINT32_MAX : got;
	}
	end = segment_blocks_end((const uint8_t *)file.data, file.len, hl, &closed);
	buf_free(&file);
	if (closed)
		return 0;	/* closed cleanly: everything is in its blocks */
	if (segment_tail_read(tail, end, 0, fold_record, w, &got) < 0)
		got = 0;
	if (got && segment_writer_flush(w) < 0)
		return UINT32_MAX;	/* not on disk: keep the tail for the next try */
	if (truncate(seg, (off_t)end) < 0)	/* the torn block, if any */
		log_debug("logs", "cannot cut %s back: %s", seg, strerror(errno));
	return got;
}

uint64_t segment_fold_tails(struct segment_writer *w, const char *dir, const char *own)
{
	char tail[4400], seg[4400];
	uint64_t total = 0;
	struct dirent *e;
	DIR *d = opendir(dir);

	if (!d)
		return 0;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name), sl = strlen(TAIL_SUFFIX);
		struct stat st;
		uint32_t got;
		int fd;

		if (l <= sl || strcmp(e->d_name + l - sl, TAIL_SUFFIX) != 0)
			continue;
		snprintf(tail, sizeof(tail), "%s/%s", dir, e->d_name);
		if (own && strcmp(tail, own) == 0)
			continue;
		fd = open(tail, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		/* Held: a live writer's. Gone meanwhile (nlink 0): folded by another. */
		if (flock(fd, LOCK_EX | LOCK_NB) < 0 || fstat(fd, &st) < 0 || st.st_nlink == 0) {
			close(fd);
			continue;
		}
		snprintf(seg, sizeof(seg), "%s/%.*s%s", dir, (int)(l - sl), e->d_name,
			 SEGMENT_SUFFIX);
		got = fold_one(w, tail, seg);
		if (got != UINT32_MAX) {
			unlink(tail);
			total += got;
			if (got)
				log_info("logs", "recovered %u records of %s (its writer stopped "
					 "without closing it)", got, seg);
		}
		close(fd);
	}
	closedir(d);
	return total;
}
