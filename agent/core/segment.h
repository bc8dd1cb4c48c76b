/*
 * Log segments: a header, then blocks of log records (protobuf, laid out by column,
 * compressed with zstd, each with a CRC-32C, a record count and a time range), then on close
 * an index of the blocks. A reader recovers every complete block of a file cut anywhere.
 */
#ifndef VIGIL_SEGMENT_H
#define VIGIL_SEGMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vigil/v1/log.pb-c.h"

#define SEGMENT_FORMAT_VERSION 1
#define SEGMENT_SUFFIX ".vseg"

typedef Vigil__V1__LogRecord log_record;

struct segment_writer_options {
	const char *dir;
	const char *identity;
	size_t block_records;		/* records per block (default 8192) */
	size_t block_bytes;		/* raw bytes per block (default 1 MiB) */
	uint64_t segment_bytes;		/* rotate past this size (default 64 MiB) */
	double segment_age_s;		/* rotate past this age (default 3600) */
	uint64_t retention_bytes;	/* delete oldest segments past this total (0: keep) */
	double retention_age_s;		/* delete segments older than this (0: keep) */
	int fsync;			/* 0 never, 1 every block, 2 on close */
	bool set_group;			/* segments and the folder get group (read: 0640, 0750) */
	gid_t group;
	int level;			/* zstd level (default 1: smaller and faster than 3 on
					 * column data) */
	const void *dict;		/* zstd dictionary, or NULL */
	size_t dict_len;
	uint32_t dict_id;
};

struct segment_writer;

/* NULL (errno set, logged) when the directory cannot be used. */
struct segment_writer *segment_writer_open(const struct segment_writer_options *o);
/* Add a copy of r; writes a block when one is full. 0 or -errno. */
int segment_writer_add(struct segment_writer *w, const log_record *r);

/* A record in the parts the writer stores, for parsers that build no log_record (the log
 * pipeline): the columns as they are, everything else already as LogRecord protobuf. */
struct segment_record {
	int64_t time_ns;
	uint32_t source;		/* Vigil__V1__Source */
	uint32_t level;			/* 1 TRACE … 6 FATAL, 0 none (a level name else: in rest) */
	const char *request_id;		/* "" none; NUL-terminated, request_id_len bytes */
	size_t request_id_len;
	const char *message;		/* NUL-terminated, message_len bytes */
	size_t message_len;
	const char *function_name, *function_version;	/* "" none; NUL-terminated too */
	size_t function_name_len, function_version_len;
	const uint8_t *rest;		/* LogRecord fields other than the above, packed */
	size_t rest_len;
};
/* The same as segment_writer_add. */
int segment_writer_add_parts(struct segment_writer *w, const struct segment_record *r);
/* The name of a level column's number (1 TRACE … 6 FATAL); "" for any other. */
const char *segment_level_name(uint32_t level);
/* The index's hash of a request id (FNV-1a, 32 bits). */
uint32_t segment_id_hash(const char *id);
/* Append the records added since the last call to the segment's tail file (one write): from
 * then on they survive a SIGKILL of the process (the next writer of the folder folds them into
 * its segment; readers see them already). 0 or -errno. */
int segment_writer_sync(struct segment_writer *w);
/* Write the block being built, if any. */
int segment_writer_flush(struct segment_writer *w);
/* Close the segment now and open a new one (a new file name). 0 or -errno. */
int segment_writer_rotate(struct segment_writer *w);
/* Flush, write the index, close. */
void segment_writer_close(struct segment_writer *w);
/* Bytes in and out so far (raw protobuf, compressed). */
void segment_writer_stats(const struct segment_writer *w, uint64_t *records, uint64_t *raw,
			  uint64_t *compressed);

/* Called for each record, in file order; r is freed after the call. Non-zero stops. */
typedef int (*segment_record_fn)(void *arg, const log_record *r);

/* Blocks that cannot hold a matching record are not decompressed: by their time range (in
 * every block's frame) and by request id (the index's hashes, when the segment has one). */
struct segment_filter {
	int64_t since_ns, until_ns;	/* 0: open */
	const char *request_id;		/* NULL: any */
	uint64_t start_offset;		/* read from the block at this file offset on (one a
					 * reader's res->block_offset gave; 0: the first block):
					 * the file before it is not read */
	uint64_t skip_records;		/* the first records from there (in file order, the
					 * tail's last) not handed to fn: whole blocks of them
					 * not decompressed */
};

struct segment_read_result {
	uint32_t blocks, records, damaged_blocks;
	uint32_t skipped_blocks;	/* passed over by the filter */
	uint32_t dict_id;
	bool torn_tail;			/* the file ends inside a block (a crash while writing)
					 * that its tail file does not make up for */
	uint32_t tail_records;		/* of records: read from the tail file (an open
					 * segment, or one whose writer died) */
	bool has_index;
	uint64_t raw_bytes, compressed_bytes, file_bytes;
	/* While fn runs: the file offset of the block of the record it is handed (for the
	 * tail's records: where their block will be written) and the record's index in it,
	 * from 1 — a later read can start there (start_offset, skip_records). */
	uint64_t block_offset;
	uint32_t block_record;
	char warning[256];
};

/* Read a segment file. dict: the dictionary the header names (NULL if none is at hand).
 * 0 (warnings in res), or -errno when the file cannot be read or is not a segment. */
int segment_read_file(const char *path, const void *dict, size_t dict_len, segment_record_fn fn,
		      void *arg, struct segment_read_result *res);
/* The same, reading only blocks that may match filter (NULL: all). fn still sees every record
 * of the blocks read: the filter only saves work. */
int segment_read_filtered(const char *path, const void *dict, size_t dict_len,
			  const struct segment_filter *filter, segment_record_fn fn, void *arg,
			  struct segment_read_result *res);

/* The trained dictionary want_id of dir ("<id>.zdict"), or its newest with want_id 0:
 * malloc'd bytes, their length and id; NULL when there is none. */
void *segment_load_dictionary(const char *dir, uint32_t want_id, size_t *len, uint32_t *id);

#endif
