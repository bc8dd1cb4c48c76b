/*
 * What the segment writer and reader share (core only): the file's, block's and index's
 * magic numbers and frame layout, and the level table. Little-endian fixed-width fields.
 */
#ifndef VIGIL_SEGMENT_FORMAT_H
#define VIGIL_SEGMENT_FORMAT_H

#include <stdint.h>

#define FILE_MAGIC "VIGILSEG"
#define END_MAGIC "VIGILEND"
#define BLOCK_MAGIC 0x314B4C42u	/* "BLK1" */
#define INDEX_MAGIC 0x31584449u	/* "IDX1" */
#define FRAME_HEADER 36
#define BLOCK_MAX (64u << 20)	/* a block, raw or compressed, is never larger */
#define NGROUPS 7		/* a block's column groups, each its own zstd frame */

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

#endif
