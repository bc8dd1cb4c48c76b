/*
 * What the segment writer and reader share (core only): the file's, block's and index's
 * magic numbers and frame layout, and the level table. Little-endian fixed-width fields.
 */
#ifndef VIGIL_SEGMENT_FORMAT_H
#define VIGIL_SEGMENT_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#include "segment.h"

#define FILE_MAGIC "VIGILSEG"
#define END_MAGIC "VIGILEND"
#define BLOCK_MAGIC 0x314B4C42u	/* "BLK1" */
#define INDEX_MAGIC 0x31584449u	/* "IDX1" */
#define FRAME_HEADER 36
#define BLOCK_MAX (64u << 20)	/* a block, raw or compressed, is never larger */
#define NGROUPS 9		/* a block's column groups, each its own zstd frame */

/*
 * The tail file of a segment being written (X.vtail beside X.vseg): the records of the block
 * being built, uncompressed, appended every few tens of milliseconds, so that a SIGKILL loses
 * only what came after the last append. A header (magic, the segment offset at which that
 * block will start, CRC-32C), then frames (length, CRC-32C of the record, a LogRecord). Cut
 * back to its header once the block is written. The writer holds an exclusive flock on it:
 * a tail nobody holds is a crashed writer's, and the next writer folds it into its segment.
 */
#define TAIL_SUFFIX ".vtail"
#define TAIL_MAGIC "VIGILTL1"
#define TAIL_HEADER 20
#define TAIL_FRAME 8
#define TAIL_RECORD_MAX (1u << 20)	/* a record is never larger (lines: 256 KiB) */

/* Level names by index; 0 is none. */
extern const char *const segment_levels[];
#define NLEVELS 7

static inline void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline void put64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t get64(const uint8_t *p)
{
	return (uint64_t)get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* The tail beside segment path: …/X.vseg → …/X.vtail (n bytes at out). */
void segment_tail_path(const char *segment, char *out, size_t n);
/* Where the complete blocks of a segment's bytes end (the header checked by the caller,
 * hl its protobuf length); *closed when the segment has its index. */
size_t segment_blocks_end(const uint8_t *data, size_t len, size_t hl, int *closed);
/* The records of the tail file at path when its header says their block starts at
 * blocks_end (else none: they are in the segment already; UINT64_MAX: whatever it says),
 * past the first skip (checked and counted, not decoded). fn as the reader's; the count
 * read in *records. 0, 1 when fn stopped, -errno when there is no tail or its header is
 * damaged. */
int segment_tail_read(const char *path, uint64_t blocks_end, uint64_t skip, segment_record_fn fn,
		      void *arg, uint32_t *records);
/* Fold the tails of dir that no live writer holds (own: w's, skipped) into w: their
 * records added, w flushed, their segments cut back to their last complete block, the
 * tails removed. The records recovered. */
uint64_t segment_fold_tails(struct segment_writer *w, const char *dir, const char *own);

#endif
