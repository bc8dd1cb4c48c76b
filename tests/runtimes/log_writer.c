/*
 * A log segment writer for tests: writes seeded random records to DIR with vigil's segment
 * writer, and prints each one as `vigil logs cat --json` would (the expected output).
 *   log_writer DIR SEED COUNT      write COUNT records, close, print them
 *   log_writer DIR SEED forever    write blocks of 100 records until killed
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../agent/util/buf.h"
#include "../../agent/core/segment.h"
#include "../../agent/cmd/logs.h"

static unsigned long long state;

static unsigned long long rnd(void)
{
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state;
}

static char *text(size_t max)
{
	static const char *const parts[] = { "user ", "42 ", "ç", "日本", "\"q\"", "\\\\", "\t",
					     "\n", "Exception ", "at x.y(z.js:1) ", "{}", "💥" };
	size_t n = rnd() % max;
	struct buf b;

	buf_init(&b);
	for (size_t i = 0; i < n; i++)
		buf_puts(&b, parts[rnd() % (sizeof(parts) / sizeof(parts[0]))]);
	if (rnd() % 500 == 0)
		for (int i = 0; i < 200000; i++)
			buf_putc(&b, 'H');	/* a huge line */
	buf_putc(&b, '\0');
	return buf_steal(&b, NULL);
}

/* Fields of every kind: text, integer, decimal text, double, flag. */
static void fill_fields(log_record *r)
{
	static const char *const decimals[] = { "0.5", "-216.95", "1e-7", "6.02E23", "0.1" };
	size_t n = rnd() % 4;

	r->fields = calloc(n ? n : 1, sizeof(*r->fields));
	for (size_t i = 0; r->fields && i < n; i++) {
		Vigil__V1__Field *f = calloc(1, sizeof(*f));
		char key[16];

		if (!f)
			break;
		vigil__v1__field__init(f);
		snprintf(key, sizeof(key), "k%zu", i);
		f->key = strdup(key);
		switch (rnd() % 5) {
		case 0:
			f->value_case = VIGIL__V1__FIELD__VALUE_TEXT;
			f->text = text(5);
			break;
		case 1:
			f->value_case = VIGIL__V1__FIELD__VALUE_INTEGER;
			f->integer = (int64_t)(rnd() % 1000000) - 500000;
			break;
		case 2:
			f->value_case = VIGIL__V1__FIELD__VALUE_DECIMAL;
			f->decimal = strdup(decimals[rnd() % 5]);
			break;
		case 3:
			f->value_case = VIGIL__V1__FIELD__VALUE_NUMBER;
			f->number = (double)(rnd() % 100000) / 7.0;
			break;
		default:
			f->value_case = VIGIL__V1__FIELD__VALUE_FLAG;
			f->flag = rnd() % 2;
		}
		r->fields[r->n_fields++] = f;
	}
}

static void fill(log_record *r, long i)
{
	static const char *const levels[] = { "INFO", "ERROR", "WARN", "DEBUG", "" };
	static const char *const names[] = { "fn", "fn", "fn", "other", "" };
	static const char *const versions[] = { "$LATEST", "$LATEST", "$LATEST", "7", "" };
	char id[64];

	vigil__v1__log_record__init(r);
	/* Every other block of 100 in whole milliseconds (the ms time unit), the others not. */
	r->time_ns = 1718645030000000000LL + i * 1000003LL + (long long)(rnd() % 1000);
	if ((i / 100) % 2)
		r->time_ns -= r->time_ns % 1000000;
	r->source = (Vigil__V1__Source)(1 + rnd() % 3);
	r->extension = strdup(r->source == VIGIL__V1__SOURCE__SOURCE_EXTENSION ? "ext" : "");
	snprintf(id, sizeof(id), "%08llx-0000-4000-8000-%012llx", rnd() % 50, rnd() % 7);
	r->request_id = strdup(id);
	r->level = strdup(levels[rnd() % 5]);
	r->message = text(30);
	r->trace_id = strdup(rnd() % 2 ? "Root=1-5759e988-bd862e3fe1be46a994272793" : "");
	r->cold_start = rnd() % 10 == 0;
	/* Mostly one function, sometimes another; none only as a block's first record (a record
	 * without one after records with one would start a block early, and the kill -9 test
	 * counts blocks of 100). */
	r->function_name = strdup(rnd() % 8 ? "fn" : names[rnd() % (i % 100 ? 4 : 5)]);
	r->function_version = strdup(rnd() % 8 ? "$LATEST" : versions[rnd() % (i % 100 ? 4 : 5)]);
	fill_fields(r);
}

static void release(log_record *r)
{
	free(r->extension);
	free(r->request_id);
	free(r->level);
	free(r->message);
	free(r->trace_id);
	free(r->function_name);
	free(r->function_version);
	for (size_t i = 0; i < r->n_fields; i++) {
		free(r->fields[i]->key);
		if (r->fields[i]->value_case == VIGIL__V1__FIELD__VALUE_TEXT)
			free(r->fields[i]->text);
		if (r->fields[i]->value_case == VIGIL__V1__FIELD__VALUE_DECIMAL)
			free(r->fields[i]->decimal);
		free(r->fields[i]);
	}
	free(r->fields);
}

int main(int argc, char **argv)
{
	struct segment_writer_options o = { .identity = "log_writer", .block_records = 100 };
	struct segment_writer *w;
	int forever;
	long count;

	if (argc != 4) {
		fprintf(stderr, "usage: log_writer DIR SEED COUNT|forever\n");
		return 2;
	}
	o.dir = argv[1];
	state = strtoull(argv[2], NULL, 10) | 1;
	forever = strcmp(argv[3], "forever") == 0;
	count = forever ? -1 : atol(argv[3]);
	w = segment_writer_open(&o);
	if (!w)
		return 1;
	for (long i = 0; forever || i < count; i++) {
		log_record r;

		fill(&r, i);
		segment_writer_add(w, &r);
		if (!forever) {
			struct buf b;

			buf_init(&b);
			logs_print_json(&b, &r);
			fwrite(b.data, 1, b.len, stdout);
			buf_free(&b);
		}
		release(&r);
	}
	segment_writer_close(w);
	return 0;
}
