/*
 * OTLP log shipping benchmark: the segments of a folder (bench/ingest_bench writes them from
 * bench/gen_corpus.py's corpus) → OTLP LogRecords → ExportLogsServiceRequests of BATCH records
 * (256 KiB at most) → compressed, through the exporter's own code (segment reader,
 * otlp_encode_log, otlp_encode_request_head, otlp_compress_parts); no network. Prints the records, the protobuf and
 * compressed bytes and the CPU seconds. The files are read once before the clock starts (the
 * page cache), as the shipper reads segments just written.
 * usage: otlp_bench SEGMENT_DIR gzip|zstd|none [BATCH]
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "../agent/core/segment.h"
#include "../exporters/otlp/otlp.h"

struct state {
	struct buf items, resource;
	size_t n, batch, records;
	uint64_t raw, packed;
	enum otlp_compression c;
};

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static void send(struct state *s)
{
	struct buf head, out;

	if (!s->n)
		return;
	buf_init(&head);
	buf_init(&out);
	otlp_encode_request_head(&head, &s->resource, s->items.len);
	if (otlp_compress_parts(s->c, head.data, head.len, s->items.data, s->items.len, &out) < 0) {
		fprintf(stderr, "otlp_bench: compression failed\n");
		exit(1);
	}
	s->raw += head.len + s->items.len;
	s->packed += out.len;
	buf_free(&head);
	buf_free(&out);
	buf_reset(&s->items);
	s->n = 0;
}

static int add(void *arg, const log_record *r)
{
	struct state *s = arg;

	otlp_encode_log(&s->items, r);
	s->records++;
	if (++s->n == s->batch || s->items.len >= 262144)
		send(s);
	return 0;
}

int main(int argc, char **argv)
{
	struct otlp_resource res = { .aws = true, .region = "eu-west-1",
				     .function_name = "bench", .function_version = "$LATEST",
				     .instance = "2024/06/01/[$LATEST]0123456789abcdef",
				     .memory_mb = 128, .arch = "amd64" };
	struct state s = { .batch = 4096 };
	struct dirent *e;
	char **names = NULL;
	size_t n = 0;
	double t0;
	DIR *d;

	if (argc < 3) {
		fprintf(stderr, "usage: otlp_bench SEGMENT_DIR gzip|zstd|none [BATCH]\n");
		return 2;
	}
	s.c = strcmp(argv[2], "zstd") == 0 ? OTLP_ZSTD : strcmp(argv[2], "none") == 0 ? OTLP_NONE :
										   OTLP_GZIP;
	if (argc > 3)
		s.batch = (size_t)atol(argv[3]);
	d = opendir(argv[1]);
	if (!d) {
		perror(argv[1]);
		return 1;
	}
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);

		if (l > 5 && strcmp(e->d_name + l - 5, SEGMENT_SUFFIX) == 0) {
			names = realloc(names, (n + 1) * sizeof(*names));
			if (!names || asprintf(&names[n], "%s/%s", argv[1], e->d_name) < 0)
				return 1;
			n++;
		}
	}
	closedir(d);
	buf_init(&s.items);
	buf_init(&s.resource);
	otlp_encode_resource(&s.resource, &res);
	for (size_t i = 0; i < n; i++) {	/* into the page cache */
		struct segment_read_result r;

		segment_read_file(names[i], NULL, 0, NULL, NULL, &r);
	}
	t0 = cpu_s();
	for (size_t i = 0; i < n; i++) {
		struct segment_read_result r;

		segment_read_file(names[i], NULL, 0, add, &s, &r);
	}
	send(&s);
	printf("records=%zu protobuf_bytes=%llu compressed_bytes=%llu cpu_s=%.3f\n", s.records,
	       (unsigned long long)s.raw, (unsigned long long)s.packed, cpu_s() - t0);
	return 0;
}
