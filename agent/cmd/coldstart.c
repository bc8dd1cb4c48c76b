/*
 * `vigil coldstart [--json] [--top N] FILE`: a cold start's timeline (what vigil-preload.so
 * recorded while the runtime initialised, one JSON object a line) read back as a report:
 * the time from the runtime's start to its first /next, where it went by package or module,
 * the files and bytes, and the network calls made during init. A partial record (an init
 * that failed or timed out, a cut file) still gives a report, which says what is missing.
 */
#include "coldstart.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../core/coldstart.h"
#include "../util/buf.h"

#define COLDSTART_FILE_MAX (512u << 20)

static const char usage[] =
	"usage: vigil coldstart [--json] [--top N] FILE\n"
	"  FILE: a cold start's record (VIGIL_COLDSTART_FILE of vigil-preload.so)\n"
	"  --json   the report as JSON\n"
	"  --top N  packages and modules shown (default 15)\n";

int coldstart_main(int argc, char **argv, const struct vigil_config *cfg)
{
	const char *file = NULL;
	bool json = false;
	unsigned top = 15;
	struct cs_report r;
	struct buf text, out;
	int rc;

	(void)cfg;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
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
	buf_init(&text);
	rc = buf_read_file(&text, file, COLDSTART_FILE_MAX);
	if (rc < 0) {
		fprintf(stderr, "vigil coldstart: %s: %s\n", file, strerror(-rc));
		buf_free(&text);
		return 1;
	}
	if (coldstart_analyze(text.data ? text.data : "", text.len, &r) < 0) {
		fprintf(stderr, "vigil coldstart: out of memory\n");
		buf_free(&text);
		return 1;
	}
	buf_free(&text);
	buf_init(&out);
	if (json)
		coldstart_json(&r, &out);
	else
		coldstart_text(&r, top, &out);
	fwrite(out.data, 1, out.len, stdout);
	buf_free(&out);
	rc = r.events ? 0 : 1;
	if (!r.events)
		fprintf(stderr, "vigil coldstart: %s holds no records\n", file);
	coldstart_free(&r);
	return rc;
}
