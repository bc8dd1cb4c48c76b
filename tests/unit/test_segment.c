/* Unit tests of log segments (agent/core/segment.c): round trip of random records, torn
 * tails at every cut, damaged bytes, rotation and retention; the blocks' CRC-32C. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "../../agent/util/crc32c.h"
#include "../../agent/core/pbwire.h"
#include "../../agent/core/segment.h"
#include "../../agent/util/log.h"

static uint64_t rng = 0x9E3779B97F4A7C15ULL;

static uint64_t next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static char *random_text(size_t max)
{
	static const char *const words[] = { "héllo", "wörld", "ERROR", "\t", " ", "ü", "日本",
					     "{\"k\":1}", "\\", "\"", "\n", "x" };
	size_t n = next() % max, len = 0;
	char *s = malloc(n * 8 + 1);

	for (size_t i = 0; i < n; i++) {
		const char *w = words[next() % (sizeof(words) / sizeof(words[0]))];

		memcpy(s + len, w, strlen(w));
		len += strlen(w);
	}
	s[len] = '\0';
	return s;
}

static void make_dir(char *out)
{
	strcpy(out, "/tmp/vigil-seg-XXXXXX");
	assert_non_null(mkdtemp(out));
}

static const char *only_segment(const char *dir, char *path, size_t n)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	path[0] = '\0';
	while ((e = readdir(d)) != NULL) {
		if (strstr(e->d_name, SEGMENT_SUFFIX))
			snprintf(path, n, "%s/%s", dir, e->d_name);
	}
	closedir(d);
	return path;
}

#define N 3000

struct expect {
	log_record *recs;
	size_t i;
	int mismatches;
};

static int check(void *arg, const log_record *r)
{
	struct expect *e = arg;
	const log_record *w = &e->recs[e->i++];

	if (r->time_ns != w->time_ns || r->source != w->source || strcmp(r->request_id, w->request_id) ||
	    strcmp(r->level, w->level) || strcmp(r->message, w->message) ||
	    strcmp(r->trace_id, w->trace_id) || r->cold_start != w->cold_start ||
	    r->truncated != w->truncated || r->n_fields != w->n_fields ||
	    strcmp(r->function_name, w->function_name ? w->function_name : "") ||
	    strcmp(r->function_version, w->function_version ? w->function_version : ""))
		e->mismatches++;
	for (size_t k = 0; k < r->n_fields && k < w->n_fields; k++) {
		const Vigil__V1__Field *a = r->fields[k], *b = w->fields[k];

		if (strcmp(a->key, b->key) || a->value_case != b->value_case)
			e->mismatches++;
		else if ((a->value_case == VIGIL__V1__FIELD__VALUE_TEXT && strcmp(a->text, b->text)) ||
			 (a->value_case == VIGIL__V1__FIELD__VALUE_DECIMAL &&
			  strcmp(a->decimal, b->decimal)) ||
			 (a->value_case == VIGIL__V1__FIELD__VALUE_INTEGER && a->integer != b->integer) ||
			 (a->value_case == VIGIL__V1__FIELD__VALUE_FLAG && a->flag != b->flag) ||
			 (a->value_case == VIGIL__V1__FIELD__VALUE_NUMBER && a->number != b->number))
			e->mismatches++;
	}
	return 0;
}

/* Fields of every kind: a few common keys (the block's field columns take them), sometimes
 * more than a record's columns hold (70) or keys of their own (beyond a block's table, they
 * stay in the record's rest) — all read back in order. */
static void random_fields(log_record *r, int i)
{
	static const char *const keys[] = { "service", "count", "ok", "amount", "ratio", "path" };
	size_t n = i % 211 == 0 ? 70 : next() % 4;

	r->n_fields = n;
	r->fields = n ? calloc(n, sizeof(*r->fields)) : NULL;
	for (size_t k = 0; k < n; k++) {
		Vigil__V1__Field *f = calloc(1, sizeof(*f));
		char key[64];

		vigil__v1__field__init(f);
		if (i % 13 == 0 || n == 70)	/* keys of its own: 60+ new keys a record */
			snprintf(key, sizeof(key), "k%d_%zu", i, k);
		else
			snprintf(key, sizeof(key), "%s", keys[next() % 6]);
		f->key = strdup(key);
		switch (next() % 5) {
		case 0:
			f->value_case = VIGIL__V1__FIELD__VALUE_TEXT;
			f->text = random_text(3);
			break;
		case 1:
			f->value_case = VIGIL__V1__FIELD__VALUE_INTEGER;
			f->integer = (int64_t)(next() - (next() >> 1));	/* any int64, negative too */
			break;
		case 2:
			f->value_case = VIGIL__V1__FIELD__VALUE_FLAG;
			f->flag = next() % 2;
			break;
		case 3:
			f->value_case = VIGIL__V1__FIELD__VALUE_DECIMAL;
			f->decimal = strdup("1224.49");
			break;
		default:
			f->value_case = VIGIL__V1__FIELD__VALUE_NUMBER;
			f->number = (double)next() / 7.0;
		}
		r->fields[k] = f;
	}
}

static log_record *random_records(void)
{
	static const char *const levels[] = { "INFO", "ERROR", "", "WARN", "custom", "DEBUG" };
	log_record *recs = calloc(N, sizeof(*recs));
	int64_t t = 1718645030000000000LL;

	for (int i = 0; i < N; i++) {
		log_record *r = &recs[i];
		char id[40];

		vigil__v1__log_record__init(r);
		t += (int64_t)(next() % 5000000) - 1000000;	/* sometimes backwards */
		r->time_ns = t;
		r->source = (Vigil__V1__Source)(next() % 4);
		snprintf(id, sizeof(id), "req-%llu", (unsigned long long)(next() % 40));
		r->request_id = strdup(next() % 5 ? id : "");
		r->level = strdup(levels[next() % 6]);
		r->message = i % 997 == 0 ? calloc(1, 300 * 1024) : random_text(40);
		if (i % 997 == 0)
			memset(r->message, 'z', 300 * 1024 - 1);	/* a huge line */
		r->trace_id = strdup(next() % 2 ? "Root=1-abc" : "");
		/* Mostly the block's function; sometimes another, none (a block starts early),
		 * or unset (NULL, as records built by hand leave them). */
		switch (next() % 12) {
		case 0:
			r->function_name = strdup("");
			break;
		case 1:
			r->function_name = strdup("other");
			break;
		case 2:
			r->function_name = NULL;
			break;
		default:
			r->function_name = strdup("fn");
		}
		r->function_version = next() % 9 ? strdup("$LATEST") : NULL;
		r->cold_start = next() % 2;
		r->truncated = i % 997 == 0;
		random_fields(r, i);
	}
	return recs;
}

static void free_records(log_record *recs)
{
	for (int i = 0; i < N; i++) {
		log_record *r = &recs[i];

		free(r->request_id);
		free(r->level);
		free(r->message);
		free(r->trace_id);
		free(r->function_name);
		free(r->function_version);
		for (size_t k = 0; k < r->n_fields; k++) {
			free(r->fields[k]->key);
			if (r->fields[k]->value_case == VIGIL__V1__FIELD__VALUE_TEXT)
				free(r->fields[k]->text);
			if (r->fields[k]->value_case == VIGIL__V1__FIELD__VALUE_DECIMAL)
				free(r->fields[k]->decimal);
			free(r->fields[k]);
		}
		free(r->fields);
	}
	free(recs);
}

/* recs (N of them) through a writer with options o and back: every one read as written. */
static void write_and_check(log_record *recs, struct segment_writer_options o, bool index)
{
	struct segment_read_result res;
	struct expect e = { .recs = recs };
	char dir[64], path[600];
	struct segment_writer *w;

	make_dir(dir);
	o.dir = dir;
	w = segment_writer_open(&o);
	assert_non_null(w);
	for (int i = 0; i < N; i++)
		assert_int_equal(segment_writer_add(w, &recs[i]), 0);
	segment_writer_close(w);
	assert_int_equal(segment_read_file(only_segment(dir, path, sizeof(path)), NULL, 0, check, &e,
					   &res), 0);
	assert_int_equal(e.i, N);
	assert_int_equal(e.mismatches, 0);
	if (index)
		assert_true(res.has_index);
	assert_false(res.torn_tail);
	assert_int_equal(res.records, N);
	assert_int_equal(res.damaged_blocks, 0);
	free_records(recs);
	unlink(path);
	rmdir(dir);
}

static void test_round_trip(void **state)
{
	(void)state;
	write_and_check(random_records(),
			(struct segment_writer_options){ .identity = "test", .block_records = 256 },
			true);
}

static int count(void *arg, const log_record *r);

/* More keys in a block than its field table takes (1,024): the records past it keep their
 * fields in their rest, every one read back whole and in order. */
static void test_many_keys(void **state)
{
	log_record *recs = calloc(N, sizeof(*recs));

	(void)state;
	for (int i = 0; i < N; i++) {
		log_record *r = &recs[i];

		vigil__v1__log_record__init(r);
		r->time_ns = 1718645030000000000LL + i;
		r->request_id = strdup("");
		r->level = strdup("INFO");
		r->message = strdup("m");
		r->trace_id = strdup("");
		r->function_name = r->function_version = NULL;
		r->n_fields = 40;
		r->fields = calloc(40, sizeof(*r->fields));
		for (int k = 0; k < 40; k++) {
			Vigil__V1__Field *f = calloc(1, sizeof(*f));
			char key[32];

			vigil__v1__field__init(f);
			snprintf(key, sizeof(key), "%s%d", i < 30 ? "u" : "k", i < 30 ? i * 40 + k : k);
			f->key = strdup(key);
			f->value_case = VIGIL__V1__FIELD__VALUE_INTEGER;
			f->integer = i * 100 + k;
			r->fields[k] = f;
		}
	}
	write_and_check(recs, (struct segment_writer_options){ .identity = "test",
								.block_records = 100000 }, false);
}

static int count_files(const char *dir, const char *suffix)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	while ((e = readdir(d)) != NULL)
		n += strstr(e->d_name, suffix) != NULL;
	closedir(d);
	return n;
}

static int read_dir(const char *dir, int *torn)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	*torn = 0;
	while ((e = readdir(d)) != NULL) {
		struct segment_read_result res;
		char path[600];

		if (!strstr(e->d_name, SEGMENT_SUFFIX))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		assert_int_equal(segment_read_file(path, NULL, 0, count, &n, &res), 0);
		*torn += res.torn_tail;
	}
	closedir(d);
	return n;
}

/* A writer that dies (here: a child that exits without closing, as SIGKILL leaves it) keeps
 * every record it synced: readers see them from its tail, the next writer folds them in and
 * cuts the torn block back; what it never synced is the loss. */
static void test_tail_survives_a_dead_writer(void **state)
{
	struct segment_writer_options o = { .identity = "test", .block_records = 64 };
	log_record *recs = random_records();
	struct segment_writer *w;
	char dir[64];
	int torn;
	pid_t pid;

	(void)state;
	make_dir(dir);
	o.dir = dir;
	pid = fork();
	if (pid == 0) {
		w = segment_writer_open(&o);
		for (int i = 0; i < 150; i++) {	/* two blocks and 22 records */
			segment_writer_add(w, &recs[i]);
			if (i == 139)
				segment_writer_sync(w);
		}
		_exit(0);	/* 140 synced; 10 never */
	}
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_int_equal(count_files(dir, ".vtail"), 1);
	assert_int_equal(read_dir(dir, &torn), 140);
	w = segment_writer_open(&o);	/* folds the dead tail */
	assert_non_null(w);
	assert_int_equal(count_files(dir, ".vtail"), 1);	/* its own */
	segment_writer_close(w);
	assert_int_equal(count_files(dir, ".vtail"), 0);
	assert_int_equal(count_files(dir, SEGMENT_SUFFIX), 2);
	assert_int_equal(read_dir(dir, &torn), 140);
	assert_int_equal(torn, 0);
	free_records(recs);
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
		assert_int_equal(system(cmd), 0);
	}
}

struct times {
	const int64_t *t;
	size_t i, bad;
};

static int check_time(void *arg, const log_record *r)
{
	struct times *x = arg;

	x->bad += r->time_ns != x->t[x->i++];
	return 0;
}

/* Any time a record carries, however far from the one before, comes back as it went in
 * (deltas modulo 2^64: no signed overflow, which UBSan aborts on). */
static void test_times_at_the_edges(void **state)
{
	static const int64_t t[] = { 0, INT64_MAX, INT64_MIN, -1, INT64_MIN + 1, 1718645030000000000LL,
				     INT64_MAX - 999999, -9000000000000000000LL };
	struct segment_writer_options o = { .identity = "test" };
	struct segment_read_result res;
	struct times x = { .t = t };
	char dir[64], path[600];
	struct segment_writer *w;

	(void)state;
	make_dir(dir);
	o.dir = dir;
	w = segment_writer_open(&o);
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		log_record r = VIGIL__V1__LOG_RECORD__INIT;

		r.time_ns = t[i];
		r.message = (char *)"edge";
		assert_int_equal(segment_writer_add(w, &r), 0);
	}
	segment_writer_close(w);
	assert_int_equal(segment_read_file(only_segment(dir, path, sizeof(path)), NULL, 0,
					   check_time, &x, &res), 0);
	assert_int_equal(x.i, sizeof(t) / sizeof(t[0]));
	assert_int_equal(x.bad, 0);
	unlink(path);
	rmdir(dir);
}

/* Other users of the machine read no function's logs: segments 0640, folders made 0750
 * (the umask may take more away, never add). */
static void test_modes(void **state)
{
	struct segment_writer_options o = { .identity = "modes" };
	log_record r = VIGIL__V1__LOG_RECORD__INIT;
	char dir[64], sub[128], path[600];
	struct segment_writer *w;
	struct stat st;
	mode_t old = umask(022);

	(void)state;
	make_dir(dir);
	snprintf(sub, sizeof(sub), "%s/a/b", dir);
	o.dir = sub;
	w = segment_writer_open(&o);
	assert_non_null(w);
	r.message = "hello";
	assert_int_equal(segment_writer_add(w, &r), 0);
	segment_writer_close(w);
	assert_int_equal(stat(only_segment(sub, path, sizeof(path)), &st), 0);
	assert_int_equal(st.st_mode & 0777, 0640);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0750);
	snprintf(sub, sizeof(sub), "%s/a", dir);
	assert_int_equal(stat(sub, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0750);
	umask(old);
	unlink(path);
	rmdir(o.dir);
	rmdir(sub);
	rmdir(dir);
}

static int count(void *arg, const log_record *r)
{
	(void)r;
	(*(int *)arg)++;
	return 0;
}

/* Cut the file at every offset (in steps): never a crash, every complete block is there. */
static void test_torn_tails_and_damage(void **state)
{
	struct segment_writer_options o = { .identity = "test", .block_records = 100 };
	struct segment_read_result res;
	char dir[64], path[600], cut[700];
	struct segment_writer *w;
	log_record *recs = random_records();
	static int by_blocks[N + 1];	/* records read from k complete blocks, -1: not seen */
	uint8_t *data;
	struct stat st;
	int fd;

	(void)state;
	for (int k = 0; k <= N; k++)
		by_blocks[k] = k ? -1 : 0;
	log_set_level(LOG_OFF);
	make_dir(dir);
	o.dir = dir;
	w = segment_writer_open(&o);
	for (int i = 0; i < N; i++)
		segment_writer_add(w, &recs[i]);
	segment_writer_flush(w);
	/* No close: the file has no index, as after a SIGKILL. */
	only_segment(dir, path, sizeof(path));
	stat(path, &st);
	data = malloc((size_t)st.st_size);
	fd = open(path, O_RDONLY);
	assert_int_equal(read(fd, data, (size_t)st.st_size), st.st_size);
	close(fd);
	snprintf(cut, sizeof(cut), "%s/cut", dir);
	for (off_t at = 0; at <= st.st_size; at += st.st_size / 97 + 1) {
		int n = 0, rc;

		fd = open(cut, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		assert_int_equal(write(fd, data, (size_t)at), at);
		close(fd);
		rc = segment_read_file(cut, NULL, 0, count, &n, &res);
		/* Whole blocks only: k complete blocks always give the same records (blocks hold
		 * 100, fewer when a record without a function name starts one early). */
		if (rc == 0 && res.blocks <= N) {
			if (by_blocks[res.blocks] < 0)
				by_blocks[res.blocks] = n;
			assert_int_equal(by_blocks[res.blocks], n);
		}
	}
	for (int k = 1, last = 0, last_k = 0; k <= N; k++) {
		if (by_blocks[k] >= 0) {	/* more blocks, more records, ≤ 100 a block */
			assert_true(by_blocks[k] > last && by_blocks[k] - last <= 100 * (k - last_k));
			last = by_blocks[k];
			last_k = k;
		}
	}
	/* Flip bytes inside: damaged blocks are skipped, the others read. */
	for (int k = 0; k < 50; k++) {
		int n = 0;

		data[200 + next() % ((size_t)st.st_size - 200)] ^= 0x5A;
		fd = open(cut, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		assert_int_equal(write(fd, data, (size_t)st.st_size), st.st_size);
		close(fd);
		segment_read_file(cut, NULL, 0, count, &n, &res);
		assert_true(n <= N);
	}
	segment_writer_close(w);
	free(data);
	free_records(recs);
	unlink(cut);
	unlink(path);
	rmdir(dir);
	log_set_level(LOG_INFO);
}

static void test_rotation_and_retention(void **state)
{
	struct segment_writer_options o = { .identity = "test", .block_records = 50,
					    .segment_bytes = 20000, .retention_bytes = 60000 };
	char dir[64];
	struct segment_writer *w;
	log_record *recs = random_records();
	struct dirent *e;
	uint64_t total = 0;
	int files = 0;
	DIR *d;

	(void)state;
	make_dir(dir);
	o.dir = dir;
	w = segment_writer_open(&o);
	for (int i = 0; i < N; i++)
		if (i % 997)	/* without the huge lines */
			segment_writer_add(w, &recs[i]);
	segment_writer_close(w);
	d = opendir(dir);
	while ((e = readdir(d)) != NULL) {
		char p[600];
		struct stat st;

		if (!strstr(e->d_name, SEGMENT_SUFFIX))
			continue;
		snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
		stat(p, &st);
		total += (uint64_t)st.st_size;
		files++;
		unlink(p);
	}
	closedir(d);
	rmdir(dir);
	assert_true(files >= 2);		/* rotated */
	assert_true(total <= 60000 + 30000);	/* retention (plus the segment being written) */
	free_records(recs);
}

struct with_id {
	const char *id;
	int64_t since, until;
	int seen, matching;
};

static int count_id(void *arg, const log_record *r)
{
	struct with_id *c = arg;

	c->seen++;
	if ((!c->id || strcmp(r->request_id, c->id) == 0) && (!c->since || r->time_ns >= c->since) &&
	    (!c->until || r->time_ns <= c->until))
		c->matching++;
	return 0;
}

/* The filter skips blocks without the request id (index hashes) or outside the time range
 * (frame headers), and every matching record is still read. */
static void test_filtered_read(void **state)
{
	struct segment_writer_options o = { .identity = "test", .block_records = 100 };
	struct segment_read_result res;
	struct segment_filter f = { 0 };
	struct with_id all = { 0 }, some;
	char dir[64], path[600];
	struct segment_writer *w;
	log_record *recs = random_records();

	(void)state;
	make_dir(dir);
	o.dir = dir;
	/* Request ids that come and go, as invocations do: req-<i / 150>. */
	for (int i = 0; i < N; i++) {
		char id[40];

		snprintf(id, sizeof(id), "req-%d", i / 150);
		free(recs[i].request_id);
		recs[i].request_id = strdup(id);
	}
	w = segment_writer_open(&o);
	for (int i = 0; i < N; i++)
		assert_int_equal(segment_writer_add(w, &recs[i]), 0);
	segment_writer_close(w);
	only_segment(dir, path, sizeof(path));
	assert_int_equal(segment_read_filtered(path, NULL, 0, NULL, count_id, &all, &res), 0);
	assert_int_equal(all.seen, N);
	assert_int_equal(res.skipped_blocks, 0);

	some = (struct with_id){ .id = "req-7" };
	f.request_id = "req-7";
	assert_int_equal(segment_read_filtered(path, NULL, 0, &f, count_id, &some, &res), 0);
	assert_int_equal(some.matching, 150);		/* every one of them */
	assert_true(res.skipped_blocks >= res.blocks * 5);	/* 2 or 3 blocks read of 30+ */
	assert_true(some.seen < N / 5);

	f = (struct segment_filter){ .since_ns = recs[N / 2].time_ns, .until_ns = recs[N / 2].time_ns };
	some = (struct with_id){ .since = f.since_ns, .until = f.until_ns };
	assert_int_equal(segment_read_filtered(path, NULL, 0, &f, count_id, &some, &res), 0);
	assert_true(some.matching >= 1);
	all = (struct with_id){ .since = f.since_ns, .until = f.until_ns };
	segment_read_filtered(path, NULL, 0, NULL, count_id, &all, &res);
	assert_int_equal(some.matching, all.matching);	/* the filter loses nothing */
	free_records(recs);
	unlink(path);
	rmdir(dir);
}

/* Where each record is (res->block_offset, res->block_record), and its message. */
struct places {
	const struct segment_read_result *res;
	uint64_t offset[N + 1];
	uint32_t index[N + 1];
	char *message[N + 1];
	size_t n;
};

static int note_place(void *arg, const log_record *r)
{
	struct places *p = arg;

	assert_true(p->n < N + 1);
	p->offset[p->n] = p->res->block_offset;
	p->index[p->n] = p->res->block_record;
	p->message[p->n++] = strdup(r->message);
	return 0;
}

static void free_places(struct places *p)
{
	for (size_t i = 0; i < p->n; i++)
		free(p->message[i]);
	p->n = 0;
}

/* A read that starts where an earlier one's record was (start_offset, skip_records) hands on
 * exactly the records after it: in complete blocks, in the tail of an open segment, and once
 * that tail became a block, and once the segment is closed. */
static void resume_everywhere(const char *path, size_t expect)
{
	struct segment_read_result res;
	struct places *all = calloc(1, sizeof(*all)), *rest = calloc(1, sizeof(*rest));

	all->res = &res;
	rest->res = &res;
	assert_int_equal(segment_read_filtered(path, NULL, 0, NULL, note_place, all, &res), 0);
	assert_int_equal(all->n, expect);
	for (size_t k = 0; k < all->n; k += 1 + k / 7) {
		struct segment_filter f = { .start_offset = all->offset[k], .skip_records = all->index[k] };

		assert_int_equal(segment_read_filtered(path, NULL, 0, &f, note_place, rest, &res), 0);
		assert_int_equal(rest->n, all->n - k - 1);
		for (size_t i = 0; i < rest->n; i++) {
			assert_string_equal(rest->message[i], all->message[k + 1 + i]);
			assert_int_equal(rest->offset[i], all->offset[k + 1 + i]);
			assert_int_equal(rest->index[i], all->index[k + 1 + i]);
		}
		free_places(rest);
	}
	free_places(all);
	free(all);
	free(rest);
}

static void test_resume_from_a_place(void **state)
{
	struct segment_writer_options o = { .identity = "test", .block_records = 100 };
	char dir[64], path[600];
	struct segment_writer *w;
	log_record *recs = random_records();

	(void)state;
	make_dir(dir);
	o.dir = dir;
	w = segment_writer_open(&o);
	for (int i = 0; i < 1050; i++)
		assert_int_equal(segment_writer_add(w, &recs[i]), 0);
	assert_int_equal(segment_writer_sync(w), 0);	/* 50 in the tail */
	only_segment(dir, path, sizeof(path));
	resume_everywhere(path, 1050);
	for (int i = 1050; i < 1200; i++)	/* the tail's block written, a new tail */
		assert_int_equal(segment_writer_add(w, &recs[i]), 0);
	assert_int_equal(segment_writer_sync(w), 0);
	resume_everywhere(path, 1200);
	segment_writer_close(w);	/* closed: an index after the blocks */
	resume_everywhere(path, 1200);
	{	/* an offset past the end (a segment cut back): nothing */
		struct segment_read_result res;
		struct places *p = calloc(1, sizeof(*p));
		struct segment_filter f = { .start_offset = 1u << 30 };

		p->res = &res;
		assert_int_equal(segment_read_filtered(path, NULL, 0, &f, note_place, p, &res), 0);
		assert_int_equal(p->n, 0);
		free(p);
	}
	free_records(recs);
	unlink(path);
	rmdir(dir);
}

/* A block's CRC: the known check value, the CPU's instruction (where the machine has one)
 * against the tables at every length and alignment, and in pieces as whole. */
static void test_crc32c(void **state)
{
	uint8_t data[1024 + 8];

	(void)state;
	assert_int_equal(crc32c(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(crc32c_tables(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(crc32c(0, "", 0), 0);
	for (size_t i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)next();
	for (size_t off = 0; off < 8; off++) {
		for (size_t n = 0; n <= 1024; n += n < 64 ? 1 : 37) {
			uint32_t whole = crc32c(0, data + off, n);
			size_t k = n / 3;

			assert_int_equal(whole, crc32c_tables(0, data + off, n));
			assert_int_equal(whole, crc32c(crc32c(0, data + off, k), data + off + k,
						       n - k));
		}
	}
}

/* The hand-written encoders' field numbers are the .proto's (protobuf-c's descriptors). */
static void test_field_numbers(void **state)
{
	static const struct {
		const ProtobufCMessageDescriptor *d;
		const char *name;
		unsigned number;
	} want[] = {
		{ &vigil__v1__log_record__descriptor, "time_ns", LR_TIME_NS },
		{ &vigil__v1__log_record__descriptor, "source", LR_SOURCE },
		{ &vigil__v1__log_record__descriptor, "extension", LR_EXTENSION },
		{ &vigil__v1__log_record__descriptor, "request_id", LR_REQUEST_ID },
		{ &vigil__v1__log_record__descriptor, "level", LR_LEVEL },
		{ &vigil__v1__log_record__descriptor, "message", LR_MESSAGE },
		{ &vigil__v1__log_record__descriptor, "fields", LR_FIELDS },
		{ &vigil__v1__log_record__descriptor, "trace_id", LR_TRACE_ID },
		{ &vigil__v1__log_record__descriptor, "cold_start", LR_COLD_START },
		{ &vigil__v1__log_record__descriptor, "function_name", LR_FUNCTION_NAME },
		{ &vigil__v1__log_record__descriptor, "function_version", LR_FUNCTION_VERSION },
		{ &vigil__v1__log_record__descriptor, "truncated", LR_TRUNCATED },
		{ &vigil__v1__log_record__descriptor, "utf8_repaired", LR_UTF8_REPAIRED },
		{ &vigil__v1__field__descriptor, "key", FIELD_KEY },
		{ &vigil__v1__field__descriptor, "text", FIELD_TEXT },
		{ &vigil__v1__field__descriptor, "number", FIELD_NUMBER },
		{ &vigil__v1__field__descriptor, "integer", FIELD_INTEGER },
		{ &vigil__v1__field__descriptor, "flag", FIELD_FLAG },
		{ &vigil__v1__field__descriptor, "decimal", FIELD_DECIMAL },
		{ &vigil__v1__block__descriptor, "base_time_ns", BLOCK_BASE_TIME_NS },
		{ &vigil__v1__block__descriptor, "time_delta_ns", BLOCK_TIME_DELTA_NS },
		{ &vigil__v1__block__descriptor, "request_ids", BLOCK_REQUEST_IDS },
		{ &vigil__v1__block__descriptor, "request_index", BLOCK_REQUEST_INDEX },
		{ &vigil__v1__block__descriptor, "level", BLOCK_LEVEL },
		{ &vigil__v1__block__descriptor, "source", BLOCK_SOURCE },
		{ &vigil__v1__block__descriptor, "message", BLOCK_MESSAGE },
		{ &vigil__v1__block__descriptor, "rest", BLOCK_REST },
		{ &vigil__v1__block__descriptor, "time_unit_ns", BLOCK_TIME_UNIT_NS },
		{ &vigil__v1__block__descriptor, "function_name", BLOCK_FUNCTION_NAME },
		{ &vigil__v1__block__descriptor, "function_version", BLOCK_FUNCTION_VERSION },
		{ &vigil__v1__block__descriptor, "field_keys", BLOCK_FIELD_KEYS },
		{ &vigil__v1__block__descriptor, "field_count", BLOCK_FIELD_COUNT },
		{ &vigil__v1__block__descriptor, "field_key", BLOCK_FIELD_KEY },
		{ &vigil__v1__block__descriptor, "field_values", BLOCK_FIELD_VALUES },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const ProtobufCFieldDescriptor *f =
			protobuf_c_message_descriptor_get_field_by_name(want[i].d, want[i].name);

		assert_non_null(f);
		assert_int_equal(f->id, want[i].number);
	}
}

/* A tag is a varint: fields over 15 take two bytes (the old one-byte cast wrote 0x80 for
 * field 16, which reads as a field 0 tag's first byte). */
static void test_tags_over_fifteen(void **state)
{
	struct buf b;
	size_t at;

	(void)state;
	buf_init(&b);
	pb_buf_varint(&b, PB_TAG(15, PB_VARINT), 1);
	pb_buf_varint(&b, PB_TAG(16, PB_VARINT), 2);
	pb_buf_bytes(&b, PB_TAG(2047, PB_LEN), "x", 1);
	at = pb_open(&b, PB_TAG(2048, PB_LEN));
	buf_append(&b, "yz", 2);
	pb_close(&b, at);
	pb_buf_packed(&b, PB_TAG(300, PB_LEN), (const uint32_t[]){ 1, 300 }, 2, false);
	assert_int_equal(b.len, 2 + 3 + 4 + 6 + 6);
	assert_memory_equal(b.data,
			    "\x78\x01"			/* 15 << 3 */
			    "\x80\x01\x02"			/* 16 << 3 = 128 */
			    "\xfa\x7f\x01x"			/* 2047 << 3 | 2 = 16378 */
			    "\x82\x80\x01\x02yz"		/* 2048 << 3 | 2 = 16386 */
			    "\xe2\x12\x03\x01\xac\x02",	/* 300 << 3 | 2 = 2402 */
			    b.len);
	assert_int_equal(PB_TAG1(LR_FIELDS, PB_LEN), 0x3a);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_many_keys),
		cmocka_unit_test(test_tail_survives_a_dead_writer),
		cmocka_unit_test(test_times_at_the_edges),
		cmocka_unit_test(test_modes),
		cmocka_unit_test(test_torn_tails_and_damage),
		cmocka_unit_test(test_rotation_and_retention),
		cmocka_unit_test(test_filtered_read),
		cmocka_unit_test(test_resume_from_a_place),
		cmocka_unit_test(test_crc32c),
		cmocka_unit_test(test_field_numbers),
		cmocka_unit_test(test_tags_over_fifteen),
	};

	return cmocka_run_group_tests_name("segment", tests, NULL, NULL);
}
