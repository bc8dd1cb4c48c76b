/* Log segments: the reader, which recovers complete blocks and skips damage, and the
 * trained dictionaries. See segment.h. */
#include "segment.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zstd.h>

#include "../util/buf.h"
#include "../util/crc32c.h"
#include "pbwire.h"
#include "segment_format.h"

/* --- reader ------------------------------------------------------------------------------- */

/* Record r's fields from the block's field columns (Block 12-15): count of them, their keys
 * at key[*pos…], their values at each key's cursor; each Field put together in one (the
 * block's scratch buffer) and unpacked. 0, or -1 when the columns do not hold what the
 * counts say. */
static int add_fields(log_record *r, const Vigil__V1__Block *b, uint32_t count, size_t *pos,
		      size_t *cursor, struct buf *one)
{
	Vigil__V1__Field **fields;

	if (!count)
		return 0;
	if (count > b->n_field_key - *pos)
		return -1;
	fields = realloc(r->fields, (r->n_fields + count) * sizeof(*fields));
	if (!fields)
		return -1;
	r->fields = fields;
	for (uint32_t i = 0; i < count; i++) {
		uint32_t k = b->field_key[(*pos)++], f;
		const ProtobufCBinaryData *col;
		const uint8_t *payload;
		size_t plen, elem, klen;
		int wire;

		if (k >= b->n_field_keys || k >= b->n_field_values)
			return -1;
		col = &b->field_values[k];
		if (cursor[k] > col->len)
			return -1;
		elem = pb_element(col->data + cursor[k], col->len - cursor[k], &f, &wire, &payload,
				  &plen);
		if (!elem || f < FIELD_TEXT || f > FIELD_DECIMAL)
			return -1;
		/* The Field again: its key, then the value element as it was written. */
		klen = strlen(b->field_keys[k]);
		buf_reset(one);
		pb_buf_bytes(one, PB_TAG(FIELD_KEY, PB_LEN), b->field_keys[k], klen);
		buf_append(one, col->data + cursor[k], elem);
		cursor[k] += elem;
		if (one->failed)
			return -1;
		r->fields[r->n_fields] = vigil__v1__field__unpack(NULL, one->len,
								  (const uint8_t *)one->data);
		if (!r->fields[r->n_fields])
			return -1;
		r->n_fields++;
	}
	return 0;
}

/* Decode one block and hand its records to fn. 0, 1 when fn stopped, -1 when damaged. */
static int read_block(const uint8_t *raw, size_t raw_len, segment_record_fn fn, void *arg,
		      struct segment_read_result *res)
{
	Vigil__V1__Block *b = vigil__v1__block__unpack(NULL, raw_len, raw);
	size_t *cursor = NULL, pos = 0;
	struct buf one;
	int64_t t, unit;
	int rc = 0;

	if (!b)
		return -1;
	if (b->n_time_delta_ns != b->n_message || b->n_rest != b->n_message ||
	    b->n_request_index != b->n_message || b->n_level != b->n_message ||
	    b->n_source != b->n_message ||
	    (b->n_field_count && b->n_field_count != b->n_message) ||
	    (b->n_field_count && !(cursor = calloc(b->n_field_values + 1, sizeof(*cursor))))) {
		vigil__v1__block__free_unpacked(b, NULL);
		return -1;
	}
	buf_init(&one);
	t = b->base_time_ns;
	unit = b->time_unit_ns ? (int64_t)b->time_unit_ns : 1;
	for (size_t i = 0; i < b->n_message && !rc; i++) {
		log_record *r = vigil__v1__log_record__unpack(NULL, b->rest[i].len, b->rest[i].data);

		if (!r) {
			res->damaged_blocks++;
			continue;
		}
		t = (int64_t)((uint64_t)t + (uint64_t)b->time_delta_ns[i] * (uint64_t)unit);
		r->time_ns = t;
		r->source = (Vigil__V1__Source)b->source[i];
		if (b->request_index[i] && b->request_index[i] <= b->n_request_ids) {
			if (r->request_id != protobuf_c_empty_string)
				free(r->request_id);
			r->request_id = strdup(b->request_ids[b->request_index[i] - 1]);
		}
		if (!r->function_name[0] && b->function_name[0]) {
			if (r->function_name != protobuf_c_empty_string)
				free(r->function_name);
			r->function_name = strdup(b->function_name);
		}
		if (!r->function_version[0] && b->function_version[0]) {
			if (r->function_version != protobuf_c_empty_string)
				free(r->function_version);
			r->function_version = strdup(b->function_version);
		}
		if (b->level[i] && b->level[i] < NLEVELS) {
			if (r->level != protobuf_c_empty_string)
				free(r->level);
			r->level = strdup(segment_levels[b->level[i]]);
		}
		if (r->message != protobuf_c_empty_string)
			free(r->message);
		r->message = strdup(b->message[i]);
		if (b->n_field_count && add_fields(r, b, b->field_count[i], &pos, cursor, &one) < 0) {
			/* The columns are damaged: this record and the rest of the block are not
			 * what was written. */
			vigil__v1__log_record__free_unpacked(r, NULL);
			res->damaged_blocks++;
			break;
		}
		res->records++;
		rc = fn ? fn(arg, r) : 0;
		vigil__v1__log_record__free_unpacked(r, NULL);
	}
	free(cursor);
	buf_free(&one);
	vigil__v1__block__free_unpacked(b, NULL);
	return rc ? 1 : 0;
}

/* The index of a closed segment (its frame at data[at]), or NULL when it is damaged. */
static Vigil__V1__SegmentIndex *read_index(const uint8_t *data, size_t len, size_t at)
{
	uint32_t n;

	if (at + 12 > len || get32(data + at) != INDEX_MAGIC)
		return NULL;
	n = get32(data + at + 4);
	if (n > len - at - 12 || crc32c(0, data + at + 12, n) != get32(data + at + 8))
		return NULL;
	return vigil__v1__segment_index__unpack(NULL, n, data + at + 12);
}

/* Whether the block at offset may hold a record of filter's request id, by the index entry
 * for that offset (entries are in file order: *cursor walks them). */
static bool may_hold(const Vigil__V1__SegmentIndex *idx, size_t *cursor, uint64_t offset,
		     const char *id, uint32_t hash)
{
	const Vigil__V1__SegmentIndex__Entry *e;

	while (*cursor < idx->n_blocks && idx->blocks[*cursor]->offset < offset)
		(*cursor)++;
	if (*cursor >= idx->n_blocks || idx->blocks[*cursor]->offset != offset)
		return true;	/* not in the index: read it */
	e = idx->blocks[*cursor];
	for (size_t i = 0; i < e->n_request_id_hashes; i++) {
		if (e->request_id_hashes[i] == hash)
			return true;
	}
	for (size_t i = 0; i < e->n_request_ids; i++) {	/* the first format */
		if (strcmp(e->request_ids[i], id) == 0)
			return true;
	}
	return false;
}

int segment_read_file(const char *path, const void *dict, size_t dict_len, segment_record_fn fn,
		      void *arg, struct segment_read_result *res)
{
	return segment_read_filtered(path, dict, dict_len, NULL, fn, arg, res);
}

/* The segment header at data: its length in *hl, the dictionary id in res. 0, -EINVAL (not a
 * segment, a damaged header) or -ENOENT (a dictionary is needed and none was given), with
 * res->warning saying which. */
static int read_header(const uint8_t *data, size_t len, bool have_dict, size_t *hl,
		       struct segment_read_result *res)
{
	Vigil__V1__SegmentHeader *h;

	if (len < 16 || memcmp(data, FILE_MAGIC, 8) != 0) {
		snprintf(res->warning, sizeof(res->warning), "not a vigil segment");
		return -EINVAL;
	}
	*hl = get32(data + 8);
	if (*hl > 512 || 16 + *hl > len || crc32c(0, data + 12, *hl) != get32(data + 12 + *hl)) {
		snprintf(res->warning, sizeof(res->warning), "damaged segment header");
		return -EINVAL;
	}
	h = vigil__v1__segment_header__unpack(NULL, *hl, data + 12);
	if (h) {
		res->dict_id = h->dictionary_id;
		vigil__v1__segment_header__free_unpacked(h, NULL);
	}
	if (res->dict_id && !have_dict) {
		snprintf(res->warning, sizeof(res->warning), "needs zstd dictionary %u",
			 res->dict_id);
		return -ENOENT;
	}
	return 0;
}

/* Where the blocks end: at the index of a closed segment (read into *idx when want_index),
 * else at the end of the file. data holds the file from shift on (past its header). */
static size_t blocks_end(const uint8_t *data, size_t len, size_t hl, bool want_index,
			 Vigil__V1__SegmentIndex **idx, struct segment_read_result *res,
			 uint64_t shift)
{
	if (len >= 16 + hl + 16 && memcmp(data + len - 8, END_MAGIC, 8) == 0) {
		uint64_t idx_at = get64(data + len - 16);

		if (idx_at >= shift + 16 + hl && idx_at - shift < len - 16) {
			res->has_index = true;
			if (want_index)
				*idx = read_index(data, len - 16, (size_t)(idx_at - shift));
			return (size_t)(idx_at - shift);
		}
		if (shift && idx_at < len + shift && idx_at <= shift + 16 + hl) {
			res->has_index = true;	/* closed, and read to its end already */
			return 16 + hl;
		}
	}
	return len;
}

enum frame { FRAME_BLOCK, FRAME_SKIPPED, FRAME_END };

/* The block frame at *pos, checked: FRAME_BLOCK with its lengths (its CRC-32C right);
 * FRAME_SKIPPED when *pos moved past damage (counted); FRAME_END at a torn or damaged tail
 * (said in res->warning). */
static enum frame next_frame(const uint8_t *data, size_t end, size_t *pos, uint32_t *comp_len,
			     uint32_t *raw_len, struct segment_read_result *res)
{
	size_t at = *pos;

	if (end - at < FRAME_HEADER || get32(data + at) != BLOCK_MAGIC) {
		/* Not a block here: a torn tail, or damage to skip past. */
		size_t next = at + 1;

		while (next + 4 <= end && get32(data + next) != BLOCK_MAGIC)
			next++;
		if (next + FRAME_HEADER > end) {
			res->torn_tail = !res->has_index;
			snprintf(res->warning, sizeof(res->warning),
				 "%zu bytes after the last complete block%s", end - at,
				 res->has_index ? " (damaged)" : ": a torn tail");
			return FRAME_END;
		}
		res->damaged_blocks++;
		*pos = next;
		return FRAME_SKIPPED;
	}
	*comp_len = get32(data + at + 4);
	*raw_len = get32(data + at + 8);
	if (end - at - FRAME_HEADER < *comp_len) {
		res->torn_tail = true;
		snprintf(res->warning, sizeof(res->warning),
			 "the last block is incomplete (%zu of %u bytes): a torn tail",
			 end - at - FRAME_HEADER, *comp_len);
		return FRAME_END;
	}
	if (*comp_len > BLOCK_MAX || *raw_len > BLOCK_MAX) {
		res->damaged_blocks++;
		(*pos)++;
		return FRAME_SKIPPED;
	}
	if (crc32c(0, data + at + FRAME_HEADER, *comp_len) != get32(data + at + 12)) {
		res->damaged_blocks++;
		snprintf(res->warning, sizeof(res->warning), "a block failed its CRC-32C");
		(*pos)++;
		return FRAME_SKIPPED;
	}
	return FRAME_BLOCK;
}

/* Whether the filter rules the block whose frame is at frame out: its time range (in the
 * frame), and its request ids (the index). */
static bool filtered_out(const struct segment_filter *filter, const uint8_t *frame,
			 const Vigil__V1__SegmentIndex *idx, size_t *cursor, size_t pos,
			 uint32_t id_hash)
{
	if (!filter)
		return false;
	return (filter->since_ns && (int64_t)get64(frame + 28) < filter->since_ns) ||
	       (filter->until_ns && (int64_t)get64(frame + 20) > filter->until_ns) ||
	       (idx && !may_hold(idx, cursor, pos, filter->request_id, id_hash));
}

/* fn, past the first skip records; where each record is in res. */
struct skipping {
	segment_record_fn fn;
	void *arg;
	uint64_t skip;
	struct segment_read_result *res;
};

static int skip_then(void *arg, const log_record *r)
{
	struct skipping *s = arg;

	s->res->block_record++;
	if (s->skip) {
		s->skip--;
		return 0;
	}
	return s->fn ? s->fn(s->arg, r) : 0;
}

/*
 * The file at path into *data: whole, or (from past the header) its header and then its bytes
 * from `from` on, *shift = from minus the header's length: an index i past the header in data
 * is file offset i + shift. *past: from lies past the file's end (nothing after it). 0 or
 * -errno.
 */
static int read_from(const char *path, uint64_t from, uint8_t **data, size_t *len,
		     uint64_t *shift, bool *past)
{
	uint8_t head[16 + 512 + 4];
	struct stat st;
	ssize_t got;
	size_t hlen;
	int fd;

	*shift = 0;
	*past = false;
	if (from) {
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			return -errno;
		if (fstat(fd, &st) < 0 || (got = pread(fd, head, sizeof(head), 0)) < 16) {
			close(fd);
			return -EINVAL;
		}
		hlen = 16 + (get32(head + 8) > 512 ? 512 : get32(head + 8));
		if ((uint64_t)st.st_size < from)
			*past = true;
		if (from >= hlen && (size_t)got >= hlen) {
			size_t rest = *past ? 0 : (size_t)((uint64_t)st.st_size - from);

			*data = malloc(hlen + rest + 1);
			if (!*data) {
				close(fd);
				return -ENOMEM;
			}
			memcpy(*data, head, hlen);
			got = rest ? pread(fd, *data + hlen, rest, (off_t)from) : 0;
			close(fd);
			if (got < 0 || (size_t)got != rest) {
				free(*data);
				return -EIO;
			}
			*len = hlen + rest;
			*shift = from - hlen;
			return 0;
		}
		close(fd);
	}
	{
		struct buf file;
		int rc;

		buf_init(&file);
		rc = buf_read_file(&file, path, (size_t)4 << 30);
		if (rc < 0) {
			buf_free(&file);
			return rc;
		}
		*data = (uint8_t *)buf_steal(&file, len);
		return *data ? 0 : -ENOMEM;
	}
}

int segment_read_filtered(const char *path, const void *dict, size_t dict_len,
			  const struct segment_filter *filter, segment_record_fn fn, void *arg,
			  struct segment_read_result *res)
{
	struct skipping skipping = { fn, arg, filter ? filter->skip_records : 0, res };
	uint64_t shift = 0;
	bool past = false;
	Vigil__V1__SegmentIndex *idx = NULL;
	size_t cursor = 0;
	uint32_t id_hash = filter && filter->request_id ? segment_id_hash(filter->request_id) : 0;
	ZSTD_DCtx *dctx = NULL;
	ZSTD_DDict *ddict = NULL;
	uint8_t *data = NULL, *raw = NULL;
	size_t len = 0, pos, hl = 0, end;
	bool stopped = false;
	int rc;

	memset(res, 0, sizeof(*res));
	rc = read_from(path, filter ? filter->start_offset : 0, &data, &len, &shift, &past);
	if (rc < 0)
		return rc;
	res->file_bytes = len + shift;
	rc = read_header(data, len, dict != NULL, &hl, res);
	if (rc < 0) {
		free(data);
		return rc;
	}
	dctx = ZSTD_createDCtx();
	if (dict && dict_len)
		ddict = ZSTD_createDDict(dict, dict_len);
	end = past ? 16 + hl : blocks_end(data, len, hl, filter && filter->request_id, &idx, res,
					   shift);
	pos = 16 + hl;
	while (pos < end) {
		uint32_t comp_len = 0, raw_len = 0;
		enum frame f = next_frame(data, end, &pos, &comp_len, &raw_len, res);
		size_t got;

		if (f == FRAME_END)
			break;
		if (f == FRAME_SKIPPED)
			continue;
		if (skipping.skip && skipping.skip >= get32(data + pos + 16)) {
			/* (a whole block of skipped records: not decompressed) */
			skipping.skip -= get32(data + pos + 16);
			res->skipped_blocks++;
			pos += FRAME_HEADER + comp_len;
			continue;
		}
		if (filtered_out(filter, data + pos, idx, &cursor, pos + shift, id_hash)) {
			res->skipped_blocks++;
			pos += FRAME_HEADER + comp_len;
			continue;
		}
		free(raw);
		raw = malloc(raw_len ? raw_len : 1);
		if (!raw) {
			rc = -ENOMEM;
			break;
		}
		got = ddict ? ZSTD_decompress_usingDDict(dctx, raw, raw_len, data + pos + FRAME_HEADER,
							 comp_len, ddict) :
			      ZSTD_decompressDCtx(dctx, raw, raw_len, data + pos + FRAME_HEADER, comp_len);
		pos += FRAME_HEADER + comp_len;
		if (ZSTD_isError(got) || got != raw_len) {
			res->damaged_blocks++;
			snprintf(res->warning, sizeof(res->warning), "a block did not decompress");
			continue;
		}
		res->blocks++;
		res->raw_bytes += raw_len;
		res->compressed_bytes += comp_len;
		res->block_offset = pos - FRAME_HEADER - comp_len + shift;
		res->block_record = 0;
		rc = read_block(raw, raw_len, skip_then, &skipping, res);
		if (rc < 0) {
			res->damaged_blocks++;
			rc = 0;
		} else if (rc > 0) {
			rc = 0;
			stopped = true;
			break;
		}
	}
	if (!res->has_index && !stopped && rc == 0 && !past) {
		/* Open, or its writer died: the block being built is in the tail, when the tail
		 * says it starts where the complete blocks end. */
		char tail[4400];
		uint32_t got = 0;
		int t;

		segment_tail_path(path, tail, sizeof(tail));
		res->block_offset = pos + shift;
		res->block_record = (uint32_t)skipping.skip;	/* the tail passes them over */
		t = segment_tail_read(tail, pos + shift, skipping.skip, skip_then,
				      &(struct skipping){ fn, arg, 0, res }, &got);
		res->tail_records = got;
		res->records += got;
		if (t == 0 && got && res->torn_tail) {
			res->torn_tail = false;
			snprintf(res->warning, sizeof(res->warning),
				 "%u records of an unfinished block read from its tail file", got);
		}
	}
	free(raw);
	free(data);
	if (idx)
		vigil__v1__segment_index__free_unpacked(idx, NULL);
	ZSTD_freeDCtx(dctx);
	ZSTD_freeDDict(ddict);
	return rc;
}

void *segment_load_dictionary(const char *dir, uint32_t want_id, size_t *len, uint32_t *id)
{
	char path[4400], best[4400] = "";
	unsigned long best_id = 0;
	struct dirent *e;
	struct stat st;
	void *data;
	int fd;
	DIR *d = opendir(dir);

	if (!d)
		return NULL;
	while ((e = readdir(d)) != NULL) {
		unsigned long v;
		char *end;

		v = strtoul(e->d_name, &end, 10);
		if (end == e->d_name || strcmp(end, ".zdict") != 0)
			continue;
		if ((want_id && v == want_id) || (!want_id && v > best_id)) {
			snprintf(best, sizeof(best), "%.4000s/%.255s", dir, e->d_name);
			best_id = v;
		}
	}
	closedir(d);
	if (!best[0])
		return NULL;
	snprintf(path, sizeof(path), "%s", best);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size <= 0 || st.st_size > (16 << 20)) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	data = malloc((size_t)st.st_size);
	if (!data || read(fd, data, (size_t)st.st_size) != st.st_size) {
		free(data);
		close(fd);
		return NULL;
	}
	close(fd);
	*len = (size_t)st.st_size;
	*id = (uint32_t)best_id;
	return data;
}
