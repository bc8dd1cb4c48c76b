/*
 * `vigil coldstart [--dir DIR] [--list] [--id ID] [--json | --html PAGE] [--top N] [FILE]`: a
 * cold start's timeline (what vigil-preload.so or the probes recorded while the runtime
 * initialised, one JSON object a line, with vigil's phase lines) read back as a report — from
 * a FILE, or from the log segments (DIR, default the configured log_dir), where vigil host and
 * the extension keep each cold start as records: the latest, or the one --id names: the time from the runtime's start to its first /next, where it went by package
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

#include <sys/stat.h>
#include <time.h>

#include "../core/coldstart.h"
#include "../util/buf.h"
#include "logs.h"

#define COLDSTART_FILE_MAX (512u << 20)

static const char usage[] =
	"usage: vigil coldstart [--dir DIR] [--id ID] [--json | --html PAGE] [--top N] [FILE]\n"
	"       vigil coldstart [--dir DIR] --list\n"
	"       vigil coldstart diff [--dir DIR] [--json] [--min-ms MS] A B\n"
	"  FILE         a cold start's record (VIGIL_COLDSTART_FILE of vigil-preload.so); without\n"
	"               it, the cold starts kept in the log segments of DIR\n"
	"  --dir DIR    the log segments (default: log_dir, VIGIL_LOG_DIR)\n"
	"  --id ID      the cold start ID of the segments (default: the latest; see --list)\n"
	"  --list       the cold starts kept in the segments, oldest first\n"
	"  A, B         two records: files, or IDs of the segments\n"
	"  --json       the report as JSON\n"
	"  --html PAGE  write one self-contained page with a waterfall to PAGE\n"
	"  --top N      packages and modules shown (default 15)\n"
	"  --min-ms MS  diff: changes smaller than this are left out (default 5)\n";

/* The cold starts of the log segments: their lines, by id, in the order first met. */
struct kept {
	char id[64];
	int64_t first_ns;
	struct buf text;
};

struct kept_all {
	struct kept *v;
	size_t n, cap;
	bool failed;
};

static int on_record(void *arg, const log_record *rec)
{
	struct kept_all *k = arg;
	const char *ext = rec->extension ? rec->extension : "";
	const char *id = ext + strlen(COLDSTART_LOG_PREFIX);
	struct kept *c = NULL;

	if (strncmp(ext, COLDSTART_LOG_PREFIX, strlen(COLDSTART_LOG_PREFIX)) != 0 || !rec->message)
		return 0;
	for (size_t i = k->n; i-- > 0;) {
		if (strcmp(k->v[i].id, id) == 0) {
			c = &k->v[i];
			break;
		}
	}
	if (!c) {
		if (k->n == k->cap) {
			size_t cap = k->cap ? k->cap * 2 : 8;
			struct kept *v = realloc(k->v, cap * sizeof(*v));

			if (!v) {
				k->failed = true;
				return 1;
			}
			k->v = v;
			k->cap = cap;
		}
		c = &k->v[k->n++];
		snprintf(c->id, sizeof(c->id), "%s", id);
		c->first_ns = rec->time_ns;
		buf_init(&c->text);
	}
	if (rec->time_ns && (!c->first_ns || rec->time_ns < c->first_ns))
		c->first_ns = rec->time_ns;
	buf_puts(&c->text, rec->message);
	buf_putc(&c->text, '\n');
	if (c->text.failed || c->text.len > COLDSTART_FILE_MAX) {
		k->failed = true;
		return 1;
	}
	return 0;
}

static void kept_free(struct kept_all *k)
{
	for (size_t i = 0; i < k->n; i++)
		buf_free(&k->v[i].text);
	free(k->v);
}

/* The segments' cold starts: 0, or an exit status (said). */
static int kept_load(const char *dir, struct kept_all *k)
{
	int rc;

	memset(k, 0, sizeof(*k));
	rc = logs_each(dir, on_record, k);
	if (rc < 0) {
		fprintf(stderr, "vigil coldstart: %s: %s\n", dir, strerror(-rc));
		return 1;
	}
	if (k->failed) {
		fprintf(stderr, "vigil coldstart: out of memory, or a cold start over %u MiB\n",
			COLDSTART_FILE_MAX >> 20);
		kept_free(k);
		return 1;
	}
	if (!k->n) {
		fprintf(stderr, "vigil coldstart: no cold start is kept in %s (recording is off "
			"by default: the setting coldstart)\n", dir);
		kept_free(k);
		return 1;
	}
	return 0;
}

static int analyse(const char *what, const char *text, size_t len, struct cs_report *r)
{
	int rc = coldstart_analyze(text ? text : "", len, r);

	if (rc < 0) {
		fprintf(stderr, "vigil coldstart: out of memory\n");
		return 1;
	}
	if (!r->events) {
		fprintf(stderr, "vigil coldstart: %s holds no records\n", what);
		coldstart_free(r);
		return 1;
	}
	return 0;
}

static bool is_dir(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* A record read and analysed — from a file, or (what not a file: a directory, an id, NULL
 * for the latest) from the segments of dir: 0, or an exit status (said). */
static int load(const char *what, const char *dir, struct cs_report *r)
{
	struct buf text;
	struct kept_all k;
	struct stat st;
	int rc;

	if (what && stat(what, &st) == 0 && !S_ISDIR(st.st_mode)) {
		int fd = open(what, O_RDONLY | O_CLOEXEC);

		buf_init(&text);
		rc = fd < 0 ? -errno : coldstart_read_fd(fd, &text, COLDSTART_FILE_MAX);
		if (fd >= 0)
			close(fd);
		if (rc < 0) {
			fprintf(stderr, "vigil coldstart: %s: %s\n", what, strerror(-rc));
			buf_free(&text);
			return 1;
		}
		rc = analyse(what, text.data ? text.data : "", text.len, r);
		buf_free(&text);
		return rc;
	}
	if (what && is_dir(what)) {
		dir = what;
		what = NULL;
	} else if (what && strchr(what, '/')) {
		fprintf(stderr, "vigil coldstart: %s: %s\n", what, strerror(ENOENT));
		return 1;
	}
	rc = kept_load(dir, &k);
	if (rc)
		return rc;
	{
		struct kept *c = NULL;

		for (size_t i = 0; i < k.n; i++) {
			if (what ? strcmp(k.v[i].id, what) == 0 :
				   !c || k.v[i].first_ns >= c->first_ns)
				c = &k.v[i];
		}
		if (!c) {
			fprintf(stderr, "vigil coldstart: no cold start %s in %s (see --list)\n",
				what, dir);
			kept_free(&k);
			return 1;
		}
		rc = analyse(c->id, c->text.data, c->text.len, r);
		if (!rc)
			snprintf(r->id, sizeof(r->id), "%s", c->id);
	}
	kept_free(&k);
	return rc;
}

static int list_main(const char *dir)
{
	struct kept_all k;
	int rc = kept_load(dir, &k);

	if (rc)
		return rc;
	printf("%-40s %-20s %10s %10s  %s\n", "id", "time (UTC)", "init ms", "runtime ms",
	       "what");
	for (size_t i = 0; i < k.n; i++) {
		struct cs_report r;
		time_t t = (time_t)(k.v[i].first_ns / 1000000000);
		struct tm tm;
		char when[32], init[32] = "?";

		gmtime_r(&t, &tm);
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
		if (coldstart_analyze(k.v[i].text.data, k.v[i].text.len, &r) < 0)
			continue;
		if (r.init_ms >= 0)
			snprintf(init, sizeof(init), "%.1f", r.init_ms);
		printf("%-40s %-20s %10s %10.1f  %s%s\n", k.v[i].id, when, init, r.total_ms,
		       r.exe[0] ? r.exe : "?", r.partial[0] ? " (partial)" : "");
		coldstart_free(&r);
	}
	kept_free(&k);
	return 0;
}

static int diff_main(int argc, char **argv, const char *dir)
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
		} else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
			dir = argv[++i];
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
	rc = load(files[0], dir, &a);
	if (rc)
		return rc;
	rc = load(files[1], dir, &b);
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
	const char *file = NULL, *html = NULL, *id = NULL, *dir = cfg->log_dir;
	bool json = false, list = false;
	unsigned top = 15;
	struct cs_report r;
	struct buf out;
	int rc;

	if (argc > 1 && strcmp(argv[1], "diff") == 0)
		return diff_main(argc - 1, argv + 1, dir);
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "--list") == 0) {
			list = true;
		} else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
			dir = argv[++i];
		} else if (strcmp(argv[i], "--id") == 0 && i + 1 < argc) {
			id = argv[++i];
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
	if (list)
		return list_main(file ? file : dir);
	if (file && id) {
		fprintf(stderr, "vigil coldstart: --id reads the segments; a FILE is one record\n");
		return 2;
	}
	rc = load(file ? file : id, dir, &r);
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
