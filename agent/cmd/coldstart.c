/*
 * `vigil coldstart [--json | --html PAGE] [--top N] FILE`: a cold start's timeline (what
 * vigil-preload.so recorded while the runtime initialised, one JSON object a line) read back
 * as a report: the time from the runtime's start to its first /next, where it went by package
 * or module, the files and bytes, and the network calls made during init; --html writes one
 * self-contained page with an SVG waterfall. A partial record (an init that failed or timed
 * out, a cut file) still gives a report, which says what is missing.
 * `vigil coldstart diff [--json] [--min-ms MS] A B`: what grew, shrank, appeared or went.
 */
#include "coldstart.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/coldstart.h"
#include "../util/buf.h"

#define COLDSTART_FILE_MAX (512u << 20)

static const char usage[] =
	"usage: vigil coldstart [--json | --html PAGE] [--top N] FILE\n"
	"       vigil coldstart diff [--json] [--min-ms MS] A B\n"
	"  FILE, A, B: a cold start's record (VIGIL_COLDSTART_FILE of vigil-preload.so)\n"
	"  --json       the report as JSON\n"
	"  --html PAGE  write one self-contained page with a waterfall to PAGE\n"
	"  --top N      packages and modules shown (default 15)\n"
	"  --min-ms MS  diff: changes smaller than this are left out (default 5)\n";

/* A record read and analysed: 0, or an exit status (said). */
static int load(const char *file, struct cs_report *r)
{
	struct buf text;
	int rc;

	buf_init(&text);
	rc = buf_read_file(&text, file, COLDSTART_FILE_MAX);
	if (rc < 0) {
		fprintf(stderr, "vigil coldstart: %s: %s\n", file, strerror(-rc));
		buf_free(&text);
		return 1;
	}
	rc = coldstart_analyze(text.data ? text.data : "", text.len, r);
	buf_free(&text);
	if (rc < 0) {
		fprintf(stderr, "vigil coldstart: out of memory\n");
		return 1;
	}
	if (!r->events) {
		fprintf(stderr, "vigil coldstart: %s holds no records\n", file);
		coldstart_free(r);
		return 1;
	}
	return 0;
}

static int diff_main(int argc, char **argv)
{
	const char *files[2] = { NULL, NULL };
	double min_ms = 5;
	bool json = false;
	struct cs_report a, b;
	struct buf out;
	int n = 0, rc;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "--min-ms") == 0 && i + 1 < argc) {
			char *end;

			min_ms = strtod(argv[++i], &end);
			if (*end || min_ms < 0 || min_ms > 1e7) {
				fprintf(stderr, "vigil coldstart diff: --min-ms takes 0..10000000, "
					"got %s\n", argv[i]);
				return 2;
			}
		} else if (argv[i][0] == '-' || n == 2) {
			fprintf(stderr, "vigil coldstart diff: unexpected '%s' (try 'vigil coldstart "
				"--help')\n", argv[i]);
			return 2;
		} else {
			files[n++] = argv[i];
		}
	}
	if (n != 2) {
		fprintf(stderr, "vigil coldstart diff: needs two records, A and B\n");
		return 2;
	}
	rc = load(files[0], &a);
	if (rc)
		return rc;
	rc = load(files[1], &b);
	if (rc) {
		coldstart_free(&a);
		return rc;
	}
	buf_init(&out);
	coldstart_diff(&a, &b, min_ms, json, &out);
	fwrite(out.data, 1, out.len, stdout);
	buf_free(&out);
	coldstart_free(&a);
	coldstart_free(&b);
	return 0;
}

int coldstart_main(int argc, char **argv, const struct vigil_config *cfg)
{
	const char *file = NULL, *html = NULL;
	bool json = false;
	unsigned top = 15;
	struct cs_report r;
	struct buf out;
	int rc;

	(void)cfg;
	if (argc > 1 && strcmp(argv[1], "diff") == 0)
		return diff_main(argc - 1, argv + 1);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "--html") == 0 && i + 1 < argc) {
			html = argv[++i];
		} else if (strcmp(argv[i], "--top") == 0 && i + 1 < argc) {
			char *end;
			long v = strtol(argv[++i], &end, 10);

			if (*end || v < 1 || v > 100000) {
				fprintf(stderr, "vigil coldstart: --top takes 1..100000, got %s\n",
					argv[i]);
				return 2;
			}
			top = (unsigned)v;
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			fputs(usage, stdout);
			return 0;
		} else if (argv[i][0] == '-' || file) {
			fprintf(stderr, "vigil coldstart: unexpected '%s' (try 'vigil coldstart "
				"--help')\n", argv[i]);
			return 2;
		} else {
			file = argv[i];
		}
	}
	if (!file) {
		fprintf(stderr, "vigil coldstart: needs a FILE (try 'vigil coldstart --help')\n");
		return 2;
	}
	rc = load(file, &r);
	if (rc)
		return rc;
	buf_init(&out);
	if (html) {
		int fd = open(html, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		coldstart_html(&r, top, &out);
		rc = fd < 0 ? -errno : buf_write_fd(&out, fd);
		if (fd >= 0 && close(fd) < 0 && rc == 0)
			rc = -errno;
		if (rc < 0)
			fprintf(stderr, "vigil coldstart: %s: %s\n", html, strerror(-rc));
		else
			printf("wrote %s\n", html);
		rc = rc < 0;
	} else {
		if (json)
			coldstart_json(&r, &out);
		else
			coldstart_text(&r, top, &out);
		fwrite(out.data, 1, out.len, stdout);
	}
	buf_free(&out);
	coldstart_free(&r);
	return rc;
}
