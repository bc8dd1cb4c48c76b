/* `vigil logs`. See logs.h. */
#include "logs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <regex.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zdict.h>

#include "../util/buf.h"
#include "../core/jscan.h"
#include "../core/lambda_lines.h"
#include "../core/logpipe.h"
#include "../util/numfmt.h"
#include "../core/segment.h"
#include "../util/clock.h"
#include "../util/fields.h"
#include "../util/log.h"

struct query {
	const char *request_id, *level, *source;
	int64_t since_ns, until_ns;
	bool json;
	regex_t re;
	bool has_re;
	long tail_n;		/* tail: the last N records first */
	/* output */
	struct buf out;
	long matched;
	/* --request-id: one request's story, put in time order before printing */
	struct held { int64_t t; long seq; char *text; } *held;
	size_t nheld, held_cap;
};

static const char *source_name(Vigil__V1__Source s)
{
	switch (s) {
	case VIGIL__V1__SOURCE__SOURCE_FUNCTION: return "function";
	case VIGIL__V1__SOURCE__SOURCE_EXTENSION: return "extension";
	case VIGIL__V1__SOURCE__SOURCE_PLATFORM: return "platform";
	default: return "unknown";
	}
}

/* A JSON number: what the writer checked, checked again (segments can be damaged or forged). */
static bool decimal_ok(const char *s)
{
	struct jval v;

	return s && jscan_parse(s, strlen(s), &v) == 0 && v.type == J_NUMBER;
}

static void iso_ns(int64_t ns, char out[40])
{
	time_t s = (time_t)(ns / 1000000000LL);
	struct tm tm;

	if (s < -62135596800LL || s > 253402300799LL)
		memset(&tm, 0, sizeof(tm));	/* past year 1 … 9999 */
	else
		utc_tm((long long)s, &tm);
	snprintf(out, 40, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", (tm.tm_year + 1900) % 10000,
		 (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
		 tm.tm_sec % 100, (int)((ns / 1000000) % 1000 + 1000) % 1000);
}

void logs_print_json(struct buf *b, const log_record *r)
{
	char when[40];

	iso_ns(r->time_ns, when);
	buf_printf(b, "{\"time\":\"%s\",\"time_ns\":%lld,\"source\":\"%s\"", when,
		   (long long)r->time_ns, source_name(r->source));
	buf_puts(b, ",\"extension\":");
	json_put_string(b, r->extension);
	buf_puts(b, ",\"request_id\":");
	json_put_string(b, r->request_id);
	buf_puts(b, ",\"level\":");
	json_put_string(b, r->level);
	buf_puts(b, ",\"message\":");
	json_put_string(b, r->message);
	buf_puts(b, ",\"fields\":{");
	for (size_t i = 0; i < r->n_fields; i++) {
		const Vigil__V1__Field *f = r->fields[i];

		if (i)
			buf_putc(b, ',');
		json_put_string(b, f->key);
		buf_putc(b, ':');
		switch (f->value_case) {
		case VIGIL__V1__FIELD__VALUE_INTEGER:
			buf_put_i64(b, f->integer);
			break;
		case VIGIL__V1__FIELD__VALUE_NUMBER:
			if (f->number == f->number && f->number - f->number == 0)
				numfmt_double(b, f->number);
			else
				buf_puts(b, "null");
			break;
		case VIGIL__V1__FIELD__VALUE_FLAG:
			buf_puts(b, f->flag ? "true" : "false");
			break;
		case VIGIL__V1__FIELD__VALUE_DECIMAL:
			/* JSON number text when written; a damaged one is not printed as JSON. */
			if (decimal_ok(f->decimal))
				buf_puts(b, f->decimal);
			else
				buf_puts(b, "null");
			break;
		case VIGIL__V1__FIELD__VALUE_TEXT:
			json_put_string(b, f->text);
			break;
		default:
			buf_puts(b, "null");
		}
	}
	buf_puts(b, "},\"trace_id\":");
	json_put_string(b, r->trace_id);
	buf_printf(b, ",\"cold_start\":%s,\"function_name\":", r->cold_start ? "true" : "false");
	json_put_string(b, r->function_name);
	buf_puts(b, ",\"function_version\":");
	json_put_string(b, r->function_version);
	buf_printf(b, ",\"truncated\":%s,\"utf8_repaired\":%s}\n", r->truncated ? "true" : "false",
		   r->utf8_repaired ? "true" : "false");
}

static void print_text(struct buf *b, const log_record *r)
{
	char when[40];

	iso_ns(r->time_ns, when);
	buf_printf(b, "%s\t%s\t%s\t%s\n", when, r->request_id[0] ? r->request_id : "-",
		   r->level[0] ? r->level : "-", r->message);
}

static bool matches(const struct query *q, const log_record *r)
{
	if (q->request_id && strcmp(r->request_id, q->request_id) != 0)
		return false;
	if (q->level && strcasecmp(r->level, q->level) != 0)
		return false;
	if (q->source && strcmp(source_name(r->source), q->source) != 0)
		return false;
	if (q->since_ns && r->time_ns < q->since_ns)
		return false;
	if (q->until_ns && r->time_ns > q->until_ns)
		return false;
#ifndef VIGIL_STATIC
	if (q->has_re && regexec(&q->re, r->message, 0, NULL, 0) != 0)
		return false;
#endif
	return true;
}

static void flush_out(struct buf *b)
{
	if (b->len && fwrite(b->data, 1, b->len, stdout) != b->len)
		exit(1);
	buf_reset(b);
	fflush(stdout);
}

static int on_record(void *arg, const log_record *r)
{
	struct query *q = arg;

	if (!matches(q, r))
		return 0;
	q->matched++;
	if (q->request_id && q->tail_n < 0) {
		struct buf one;

		if (q->nheld == q->held_cap) {
			size_t cap = q->held_cap ? q->held_cap * 2 : 64;
			struct held *h = realloc(q->held, cap * sizeof(*h));

			if (!h)
				return 1;
			q->held = h;
			q->held_cap = cap;
		}
		buf_init(&one);
		if (q->json)
			logs_print_json(&one, r);
		else
			print_text(&one, r);
		q->held[q->nheld].t = r->time_ns;
		q->held[q->nheld].seq = (long)q->nheld;
		q->held[q->nheld++].text = buf_steal(&one, NULL);
		return 0;
	}
	if (q->json)
		logs_print_json(&q->out, r);
	else
		print_text(&q->out, r);
	if (q->out.len > 1 << 20)
		flush_out(&q->out);
	return 0;
}

static int by_time(const void *a, const void *b)
{
	const struct held *x = a, *y = b;

	if (x->t != y->t)
		return x->t < y->t ? -1 : 1;
	return (x->seq > y->seq) - (x->seq < y->seq);
}

/* Print what --request-id held back, in time order (the lines of one request come from
 * several streams and may sit in the file in another order). */
static void print_held(struct query *q)
{
	if (q->nheld)
		qsort(q->held, q->nheld, sizeof(*q->held), by_time);
	for (size_t i = 0; i < q->nheld; i++) {
		buf_puts(&q->out, q->held[i].text ? q->held[i].text : "");
		free(q->held[i].text);
	}
	free(q->held);
	q->held = NULL;
	q->nheld = q->held_cap = 0;
	flush_out(&q->out);
}

static int cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The segment files of dir, oldest first (names sort in time order). */
static char **list_segments(const char *dir, size_t *n)
{
	char **names = NULL;
	struct dirent *e;
	DIR *d = opendir(dir);

	*n = 0;
	if (!d)
		return NULL;
	while ((e = readdir(d)) != NULL) {
		size_t l = strlen(e->d_name);
		char **p;

		if (l <= 5 || strcmp(e->d_name + l - 5, SEGMENT_SUFFIX) != 0)
			continue;
		p = realloc(names, (*n + 1) * sizeof(*names));
		if (!p)
			break;
		names = p;
		if (asprintf(&names[*n], "%s/%s", dir, e->d_name) >= 0)
			(*n)++;
	}
	closedir(d);
	if (*n)
		qsort(names, *n, sizeof(*names), cmp);	/* (none: names is NULL) */
	return names;
}

/* Set when a segment could not be read whole: damaged or torn blocks passed over, a file
 * that is not a segment, a dictionary missing. The exit status says so (LOGS_DAMAGED). */
static bool skipped_damage;

static int read_one(const char *dir, const char *path, const struct segment_filter *f,
		    segment_record_fn fn, void *arg, struct segment_read_result *res)
{
	int rc = segment_read_filtered(path, NULL, 0, f, fn, arg, res);

	if (rc == -ENOENT && res->dict_id) {
		size_t len;
		uint32_t id;
		void *dict = segment_load_dictionary(dir, res->dict_id, &len, &id);

		if (dict)
			rc = segment_read_filtered(path, dict, len, f, fn, arg, res);
		free(dict);
	}
	if (res->warning[0])
		fprintf(stderr, "vigil logs: %s: %s\n", path, res->warning);
	if (rc < 0 || res->damaged_blocks || res->torn_tail)
		skipped_damage = true;
	return rc;
}

int64_t logs_parse_when(const char *s)
{
	struct tm tm = { 0 };
	char *end;
	double v = strtod(s, &end), ago;
	int64_t now = clock_epoch_ms() * 1000000LL;

	if (end != s && (*end == 's' || *end == 'm' || *end == 'h' || *end == 'd') && !end[1]) {
		ago = v * (*end == 's' ? 1e9 : *end == 'm' ? 60e9 : *end == 'h' ? 3600e9 : 86400e9);
		/* Before 1970 (or not a number) is not a time this reads: no overflow. */
		if (!(ago >= 0 && ago <= (double)now))
			return -1;
		return now - (int64_t)ago;
	}
	end = (char *)parse_iso_seconds(s, &tm);
	/* 1970 … 2261: what 64-bit nanoseconds since the epoch hold. */
	if (end && (*end == '\0' || *end == 'Z' || *end == '.') && tm.tm_year >= 70 &&
	    tm.tm_year <= 2261 - 1900)
		return (int64_t)utc_secs(&tm) * 1000000000LL;
	return -1;
}

static int cmd_stats(const char *dir)
{
	uint64_t rec = 0, raw = 0, comp = 0, file = 0;
	size_t n;
	char **names = list_segments(dir, &n);

	printf("%-60s %10s %12s %12s %7s\n", "segment", "records", "raw bytes", "compressed",
	       "ratio");
	for (size_t i = 0; i < n; i++) {
		struct segment_read_result res;

		if (read_one(dir, names[i], NULL, NULL, NULL, &res) == 0 || res.records) {
			printf("%-60s %10u %12llu %12llu %6.2fx%s\n", strrchr(names[i], '/') + 1,
			       res.records, (unsigned long long)res.raw_bytes,
			       (unsigned long long)res.file_bytes,
			       res.file_bytes ? (double)res.raw_bytes / (double)res.file_bytes : 0,
			       res.torn_tail ? "  (torn tail)" : "");
			rec += res.records;
			raw += res.raw_bytes;
			comp += res.file_bytes;
			file++;
		}
		free(names[i]);
	}
	free(names);
	printf("%-60s %10llu %12llu %12llu %6.2fx\n", "total", (unsigned long long)rec,
	       (unsigned long long)raw, (unsigned long long)comp,
	       comp ? (double)raw / (double)comp : 0);
	(void)file;
	return 0;
}

struct sample_buf {
	struct buf data;
	size_t *sizes;
	size_t n, cap;
};

static int collect_sample(void *arg, const log_record *r)
{
	struct sample_buf *s = arg;
	size_t l = strlen(r->message);

	if (s->data.len > (64u << 20) || l == 0)
		return 0;
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 4096;
		size_t *p = realloc(s->sizes, cap * sizeof(*p));

		if (!p)
			return 1;
		s->sizes = p;
		s->cap = cap;
	}
	buf_append(&s->data, r->message, l);
	s->sizes[s->n++] = l;
	return 0;
}

static int cmd_train(const char *dir)
{
	struct sample_buf s = { 0 };
	size_t n, cap = 112 * 1024, got;
	char **names = list_segments(dir, &n), path[4400];
	void *dict = malloc(cap);
	unsigned id;
	int fd;

	for (size_t i = 0; i < n; i++) {
		struct segment_read_result res;

		read_one(dir, names[i], NULL, collect_sample, &s, &res);
		free(names[i]);
	}
	free(names);
	if (s.n < 100 || !dict) {
		fprintf(stderr, "vigil logs: train needs more records (%zu in %s)\n", s.n, dir);
		free(dict);
		buf_free(&s.data);
		free(s.sizes);
		return 1;
	}
	got = ZDICT_trainFromBuffer(dict, cap, s.data.data, s.sizes, (unsigned)s.n);
	if (ZDICT_isError(got)) {
		fprintf(stderr, "vigil logs: training failed: %s\n", ZDICT_getErrorName(got));
		free(dict);
		buf_free(&s.data);
		free(s.sizes);
		return 1;
	}
	id = ZDICT_getDictID(dict, got);
	snprintf(path, sizeof(path), "%s/%u.zdict", dir, id);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0 || write(fd, dict, got) != (ssize_t)got) {
		fprintf(stderr, "vigil logs: cannot write %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		free(dict);
		buf_free(&s.data);
		free(s.sizes);
		return 1;
	}
	close(fd);
	printf("%s: dictionary %u, %zu bytes, from %zu records; new segments use it\n", path, id,
	       got, s.n);
	free(dict);
	buf_free(&s.data);
	free(s.sizes);
	return 0;
}

/* Reading with two skips: skip_all records of the file (already shown by tail -f), then
 * skip_match matching records (tail -n). */
struct reader {
	struct query *q;
	long skip_all, skip_match, all;
};

static int on_read(void *arg, const log_record *r)
{
	struct reader *rd = arg;

	rd->all++;
	if (rd->skip_all > 0) {
		rd->skip_all--;
		return 0;
	}
	if (!matches(rd->q, r))
		return 0;
	if (rd->skip_match > 0) {
		rd->skip_match--;
		return 0;
	}
	return on_record(rd->q, r);
}

static int count_matching(void *arg, const log_record *r)
{
	struct reader *rd = arg;

	rd->all += matches(rd->q, r);
	return 0;
}

int logs_each(const char *dir, segment_record_fn fn, void *arg)
{
	size_t n;
	char **names;
	struct segment_read_result res;

	errno = 0;
	names = list_segments(dir, &n);
	if (!names && errno)
		return -errno;
	for (size_t i = 0; i < n; i++) {
		read_one(dir, names[i], NULL, fn, arg, &res);
		free(names[i]);
	}
	free(names);
	return skipped_damage ? LOGS_DAMAGED : 0;
}

static int cmd_read(const char *dir, struct query *q, bool follow)
{
	size_t n;
	char **names = list_segments(dir, &n), *last = NULL;
	long skip_match = 0, done_in_last = 0;
	struct segment_read_result res;
	/* Blocks that cannot match are not even decompressed; not with -f, which counts every
	 * record of the last segment to know where to go on. */
	struct segment_filter filter = { .since_ns = q->since_ns, .until_ns = q->until_ns,
					 .request_id = q->request_id };
	const struct segment_filter *f = follow ? NULL : &filter;

	if (q->tail_n >= 0) {
		struct reader counter = { .q = q };

		for (size_t i = 0; i < n; i++)
			read_one(dir, names[i], f, count_matching, &counter, &res);
		skip_match = counter.all > q->tail_n ? counter.all - q->tail_n : 0;
	}
	for (size_t i = 0; i < n; i++) {
		struct reader rd = { .q = q, .skip_match = skip_match };

		read_one(dir, names[i], f, on_read, &rd, &res);
		skip_match = rd.skip_match;
		free(last);
		last = strdup(names[i]);
		done_in_last = rd.all;
		free(names[i]);
	}
	free(names);
	print_held(q);
	flush_out(&q->out);
	/* -f: segments grow by whole blocks; new ones sort after the old. Poll and print what
	 * is past what was shown. */
	while (follow) {
		usleep(200000);
		names = list_segments(dir, &n);
		for (size_t i = 0; i < n; i++) {
			struct reader rd = { .q = q };
			int c = last ? strcmp(names[i], last) : 1;

			if (c >= 0) {
				rd.skip_all = c == 0 ? done_in_last : 0;
				segment_read_file(names[i], NULL, 0, on_read, &rd, &res);
				flush_out(&q->out);
				free(last);
				last = strdup(names[i]);
				done_in_last = rd.all;
			}
			free(names[i]);
		}
		free(names);
	}
	free(last);
	return 0;
}

static const char logs_usage[] =
	"usage: vigil logs [--dir DIR] COMMAND [filters]\n"
	"commands:\n"
	"  cat                 every record, oldest first\n"
	"  tail [-f] [-n N]    the last N (10) records; -f: then follow new ones\n"
	"  grep PATTERN        records whose message matches PATTERN (extended regex)\n"
	"  stats               records, raw and compressed bytes and ratio per segment\n"
	"  train               train a zstd dictionary on the messages; new segments use it\n"
	"filters: --request-id ID  --level LEVEL  --source function|extension|platform\n"
	"         --since WHEN  --until WHEN   (ISO 8601 UTC, or 30s, 15m, 2h, 1d ago)\n"
	"         --json       one JSON object per record instead of Lambda-like text\n"
	"DIR defaults to VIGIL_LOG_DIR (/tmp/vigil/logs).\n"
	"exit status: 0 everything read clean; 3 what was readable was shown but damage was\n"
	"skipped (said on stderr); 1 an error; 2 a usage error.\n";

static int usage_error(const char *msg, const char *arg)
{
	fprintf(stderr, "vigil logs: %s%s%s (try 'vigil logs --help')\n", msg, arg ? " " : "",
		arg ? arg : "");
	return 2;
}

/* The options before the command: into q, *dir, *follow and *lines. 0 to go on; otherwise
 * the exit status (--help answered: -1 for 0; a usage error said: 2). */
static int logs_options(int argc, char **argv, struct query *q, const char **dir,
			bool *follow, long *lines)
{
	static const struct option opts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "request-id", required_argument, NULL, 'r' },
		{ "level", required_argument, NULL, 'l' },
		{ "source", required_argument, NULL, 's' },
		{ "since", required_argument, NULL, 'S' },
		{ "until", required_argument, NULL, 'U' },
		{ "follow", no_argument, NULL, 'f' },
		{ "lines", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	int c;

	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, "hfn:", opts, NULL)) != -1) {
		switch (c) {
		case 'd':
			*dir = optarg;
			break;
		case 'j':
			q->json = true;
			break;
		case 'r':
			q->request_id = optarg;
			break;
		case 'l':
			q->level = optarg;
			break;
		case 's':
			if (strcmp(optarg, "function") && strcmp(optarg, "extension") &&
			    strcmp(optarg, "platform"))
				return usage_error("--source is function, extension or platform, got",
						   optarg);
			q->source = optarg;
			break;
		case 'S':
		case 'U':
			if (logs_parse_when(optarg) < 0)
				return usage_error("not a time (ISO 8601 or 30s/15m/2h/1d):", optarg);
			*(c == 'S' ? &q->since_ns : &q->until_ns) = logs_parse_when(optarg);
			break;
		case 'f':
			*follow = true;
			break;
		case 'n':
			*lines = strtol(optarg, NULL, 10);
			if (*lines < 0)
				return usage_error("-n takes a count, got", optarg);
			break;
		case 'h':
			fputs(logs_usage, stdout);
			return -1;
		default:
			return usage_error("unknown or incomplete option", argv[optind - 1]);
		}
	}
	return 0;
}

int logs_main(int argc, char **argv, const struct vigil_config *cfg)
{
	struct query q = { .tail_n = -1 };
	const char *dir = cfg->log_dir, *cmd = NULL, *pattern = NULL;
	bool follow = false;
	long lines = 10;
	struct stat st;
	int rc;

	rc = logs_options(argc, argv, &q, &dir, &follow, &lines);
	if (rc)
		return rc < 0 ? 0 : rc;
	if (optind >= argc)
		return usage_error("needs a command: cat, tail, grep, stats or train", NULL);
	cmd = argv[optind++];
	if (strcmp(cmd, "cat") && strcmp(cmd, "tail") && strcmp(cmd, "grep") && strcmp(cmd, "stats") &&
	    strcmp(cmd, "train"))
		return usage_error("unknown command", cmd);
	if (strcmp(cmd, "grep") == 0) {
		if (optind >= argc)
			return usage_error("grep needs a PATTERN", NULL);
		pattern = argv[optind++];
#ifdef VIGIL_STATIC
		(void)pattern;
		fputs("vigil logs: grep is not in the layer's binary (glibc's regular expressions "
		      "weigh 70 KB of its 2 MB): use the vigil package's, or cat | grep -E\n", stderr);
		return 2;
#else
		if (regcomp(&q.re, pattern, REG_EXTENDED | REG_NOSUB) != 0)
			return usage_error("not a regular expression:", pattern);
		q.has_re = true;
#endif
	}
	if (optind < argc)
		return usage_error("unexpected argument", argv[optind]);
	if (stat(dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
		fprintf(stderr, "vigil logs: %s: no such directory\n", dir);
		return 1;
	}
	buf_init(&q.out);
	if (strcmp(cmd, "tail") == 0)
		q.tail_n = lines;
	if (strcmp(cmd, "stats") == 0)
		rc = cmd_stats(dir);
	else if (strcmp(cmd, "train") == 0)
		rc = cmd_train(dir);
	else
		rc = cmd_read(dir, &q, strcmp(cmd, "tail") == 0 && follow);
	buf_free(&q.out);
#ifndef VIGIL_STATIC
	if (q.has_re)
		regfree(&q.re);
#endif
	return rc ? rc : skipped_damage ? LOGS_DAMAGED : 0;
}
