/* The OTLP/HTTP sink: its sender thread, log shipping from the segments, retries. See otlp.h. */
#include "otlp.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>
#include <zstd.h>

#include "../../agent/core/pbwire.h"
#include "../../agent/core/tracker.h"
#include "../../agent/lib/http_client.h"
#include "../../agent/lib/tls.h"
#include "../../agent/util/clock.h"
#include "../../agent/util/fields.h"
#include "../../agent/util/log.h"
#include "../../agent/util/netaddr.h"
#include "../../agent/util/redact.h"
#include "../../agent/util/version.h"

#define OTLP_HEADERS_MAX 16
#define OTLP_GZIP_LEVEL 1		/* zlib's fastest: see docs/benchmarks.md (OTLP) */
#define OTLP_BATCH_BYTES 262144u	/* a log request's records, at most (about): memory */
#define OTLP_BACKOFF_MAX_S 5.0
#define OTLP_RETRY_AFTER_MAX_S 60.0
#define CURSOR_FILE "otlp.cursor"
#define CURSOR_MAX 4096			/* segments remembered */

enum signal { SIG_LOGS, SIG_TRACES, SIG_METRICS, NSIGNALS };
static const char *const signal_names[] = { "logs", "traces", "metrics" };

struct target {
	bool on;
	struct http_client client;
	char path[HTTP_URL_PATH_MAX];
	char url[1024];			/* for messages: no credentials */
	char last_error[600];		/* warned once per distinct failure */
};

struct cursor {
	char name[64];			/* a segment's file name */
	uint64_t offset;		/* the block of the last record acknowledged */
	uint64_t skip;			/* the records of that block acknowledged */
	uint64_t shipped;		/* records acknowledged in all */
	uint64_t seen;			/* records known to be there */
	bool present;			/* (during a round) the file is still there */
};

struct otlp {
	const struct otlp_options *o;
	struct metric_registry *registry;
	struct target t[NSIGNALS];
	const char *hdr[2 * OTLP_HEADERS_MAX + 1];	/* name, value pairs (hdr_text's) */
	char *hdr_text;
	char ca_file[1024];
	struct tls_trust *trust;
	bool trust_loaded;
	struct buf resource;
	struct buf renewed;		/* a new resource to take (a restore), under lock */
	bool renew_due;
	uint64_t start_ns;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned asked;			/* flushes since the sender last looked */
	bool stopping;
	double deadline;		/* monotonic, once stopping */
	struct buf spans;		/* ScopeSpans items queued (under lock) */
	size_t nspans;
	struct buf foreign;		/* the function's ResourceSpans (tagged), under lock */
	size_t nforeign;		/* …spans in them */
	struct otlp_delta *delta;	/* delta temporality, else NULL */
	/* log shipping (sender thread only) */
	int cursor_fd;			/* flock'ed: one shipper per folder; -1 none */
	bool logs_refused;		/* another process ships this folder (said once) */
	struct cursor *cursors;
	size_t ncursors;
	struct {
		struct metric_family *requests, *items;
		struct metric_series *queue, *unshipped;
		struct metric_series *bytes[NSIGNALS];
	} m;
};

/* --- options ------------------------------------------------------------------------------ */

/* key=value,… into name, value pairs (decoded into hdr_text); -1 with err when malformed
 * (values never said). */
static int parse_headers(struct otlp *x, const char *text, char *err, size_t err_len)
{
	size_t n = 0, used = 0, cap = 2 * (strlen(text) + 1);
	char k[256], v[1024];
	bool eq;

	x->hdr_text = malloc(cap);
	if (!x->hdr_text)
		return -1;
	while (otlp_list_next(&text, k, sizeof(k), v, sizeof(v), &eq)) {
		if (!eq && !k[0])
			continue;	/* an empty item: "a=b,,c=d" */
		if (!eq) {
			snprintf(err, err_len, "otlp_headers: an item without '=' (key=value,…)");
			return -1;
		}
		for (char *c = k; *c; c++)
			if (*c <= ' ' || *c == ':' || *c >= 127) {
				snprintf(err, err_len, "otlp_headers: '%.64s' is not a header name", k);
				return -1;
			}
		for (char *c = v; *c; c++)
			if (*c == '\r' || *c == '\n') {
				snprintf(err, err_len, "otlp_headers: %s's value has a line break", k);
				return -1;
			}
		if (!k[0])
			continue;
		if (n == OTLP_HEADERS_MAX) {
			snprintf(err, err_len, "otlp_headers: more than %d headers",
				 OTLP_HEADERS_MAX);
			return -1;
		}
		/* (decoded, never longer than the text: both fit in cap) */
		x->hdr[2 * n] = strcpy(x->hdr_text + used, k);
		used += strlen(k) + 1;
		x->hdr[2 * n + 1] = strcpy(x->hdr_text + used, v);
		used += strlen(v) + 1;
		n++;
	}
	x->hdr[2 * n] = NULL;
	return 0;
}

static int target_init(struct otlp *x, enum signal s, const char *url, char *err,
		       size_t err_len)
{
	struct target *t = &x->t[s];
	struct http_url u;
	char msg[300];

	if (!url || !url[0])
		return 0;
	if (http_url_parse(url, &u, msg, sizeof(msg)) < 0) {
		snprintf(err, err_len, "otlp %s endpoint: %.200s", signal_names[s], msg);
		return -1;
	}
	if (http_client_init_remote(&t->client, u.host, u.port, u.tls, NULL) < 0) {
		snprintf(err, err_len, "otlp %s endpoint: '%.200s' is not a host name or address",
			 signal_names[s], u.host);
		return -1;
	}
	if (u.tls && !x->ca_file[0]) {
		const char *ca = x->o->ca_file[0] ? x->o->ca_file : tls_default_ca_file();

		if (access(ca, R_OK) < 0) {
			snprintf(err, err_len, "otlp: CA file %s: %s (set otlp_ca_file)", ca,
				 strerror(errno));
			return -1;
		}
		snprintf(x->ca_file, sizeof(x->ca_file), "%s", ca);
	}
	if (!u.tls && x->hdr[0] && !netaddr_is_loopback_name(u.host))
		log_warn("otlp", "headers (credentials?) go to %s in the clear (http://, not "
			 "https://)", u.host);
	t->client.timeout_s = (double)x->o->timeout_ms / 1000.0;
	snprintf(t->path, sizeof(t->path), "%s", u.path);
	url_redact(url, t->url, sizeof(t->url));
	t->on = true;
	return 0;
}

/* --- sending ------------------------------------------------------------------------------ */

static void warn_once(struct target *t, const char *why)
{
	if (strncmp(t->last_error, why, sizeof(t->last_error) - 1) == 0) {
		log_debug("otlp", "%s: %s", t->url, why);
		return;
	}
	snprintf(t->last_error, sizeof(t->last_error), "%s", why);
	log_warn("otlp", "%s: %s (said once until it changes)", t->url, why);
}

static bool load_trust(struct otlp *x, struct target *t)
{
	char err[300];

	if (!t->client.tls || !x->ca_file[0])
		return true;
	if (!x->trust_loaded) {
		x->trust_loaded = true;
		x->trust = tls_trust_load(x->ca_file, err, sizeof(err));
		if (!x->trust)
			warn_once(t, err);
	}
	t->client.trust = x->trust;
	return x->trust != NULL;
}

int otlp_compress_parts(enum otlp_compression c, const void *head, size_t head_len,
			const void *body, size_t body_len, struct buf *out)
{
	buf_reset(out);
	if (c == OTLP_NONE) {
		buf_append(out, head, head_len);
		buf_append(out, body, body_len);
		return out->failed ? -1 : 0;
	}
	if (c == OTLP_ZSTD) {
		ZSTD_CCtx *z = ZSTD_createCCtx();
		ZSTD_inBuffer in[2] = { { head, head_len, 0 }, { body, body_len, 0 } };
		ZSTD_outBuffer o;
		size_t left = 1;

		if (!z || buf_reserve(out, ZSTD_compressBound(head_len + body_len)) < 0) {
			ZSTD_freeCCtx(z);
			return -1;
		}
		ZSTD_CCtx_setParameter(z, ZSTD_c_compressionLevel, 3);
		ZSTD_CCtx_setPledgedSrcSize(z, head_len + body_len);
		o = (ZSTD_outBuffer){ out->data, out->cap, 0 };
		for (int i = 0; i < 2 && !ZSTD_isError(left); i++)
			while (in[i].pos < in[i].size && !ZSTD_isError(left))
				left = ZSTD_compressStream2(z, &o, &in[i], ZSTD_e_continue);
		if (!ZSTD_isError(left))
			do	/* (at least once: e_continue may have said 0, nothing to flush yet) */
				left = ZSTD_compressStream2(z, &o, &in[1], ZSTD_e_end);
			while (left && !ZSTD_isError(left));
		ZSTD_freeCCtx(z);
		out->len = o.pos;
		return ZSTD_isError(left) ? -1 : 0;
	}
	{
		z_stream z = { 0 };
		uLong cap;
		int rc;

		if (deflateInit2(&z, OTLP_GZIP_LEVEL, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) !=
		    Z_OK)
			return -1;
		cap = deflateBound(&z, (uLong)(head_len + body_len)) + 32;
		if (buf_reserve(out, cap) < 0) {
			deflateEnd(&z);
			return -1;
		}
		z.next_out = (Bytef *)out->data;
		z.avail_out = (uInt)cap;
		z.next_in = (Bytef *)head;
		z.avail_in = (uInt)head_len;
		rc = deflate(&z, Z_NO_FLUSH);
		z.next_in = (Bytef *)body;
		z.avail_in = (uInt)body_len;
		if (rc == Z_OK || rc == Z_BUF_ERROR)
			rc = deflate(&z, Z_FINISH);
		out->len = z.total_out;
		deflateEnd(&z);
		return rc == Z_STREAM_END ? 0 : -1;
	}
}

/* Seconds a Retry-After value asks for (delta-seconds or an HTTP date), -1 when unreadable. */
static double retry_after(const char *v)
{
	struct tm tm = { 0 };
	char *end;
	long s;

	if (!v)
		return -1;
	s = strtol(v, &end, 10);
	if (end != v && *end == '\0' && s >= 0)
		return (double)s;
	if (parse_http_date(v, &tm)) {
		double d = (double)(utc_secs(&tm) - (long long)time(NULL));

		return d > 0 ? d : 0;
	}
	return -1;
}

enum post_result { POST_SENT, POST_RETRY, POST_REJECTED };

/* One POST; *wait_s: what Retry-After asked for (else -1). */
static enum post_result post_once(struct otlp *x, enum signal s, const struct buf *body,
				  size_t items, double *wait_s)
{
	struct target *t = &x->t[s];
	const char *headers[2 * OTLP_HEADERS_MAX + 10];
	struct http_response resp;
	int n = 0, rc, status;
	enum post_result result;

	*wait_s = -1;
	for (int i = 0; x->hdr[i]; i += 2) {
		headers[n++] = x->hdr[i];
		headers[n++] = x->hdr[i + 1];
	}
	headers[n++] = "Content-Type";
	headers[n++] = "application/x-protobuf";
	if (x->o->compression != OTLP_NONE) {
		headers[n++] = "Content-Encoding";
		headers[n++] = x->o->compression == OTLP_GZIP ? "gzip" : "zstd";
	}
	headers[n++] = "User-Agent";
	headers[n++] = "vigil/" VIGIL_VERSION;
	headers[n] = NULL;
	if (!load_trust(x, t))
		return POST_RETRY;
	rc = http_client_request(&t->client, "POST", t->path, headers, body->data, body->len,
				 &resp);
	if (rc < 0) {
		char why[600];

		snprintf(why, sizeof(why), "%s", t->client.error[0] ? t->client.error :
								      strerror(-rc));
		warn_once(t, why);
		metric_inc(metric_with(x->m.requests, signal_names[s], "retried"));
		return POST_RETRY;
	}
	status = resp.status;
	if (status / 100 == 2) {
		int64_t rejected = 0;
		char msg[300];

		t->last_error[0] = '\0';
		metric_add(x->m.bytes[s], (double)body->len);
		if (otlp_parse_response((const uint8_t *)resp.body, resp.body_len, &rejected, msg,
					sizeof(msg)) == 0 && rejected > 0) {
			char why[600];

			snprintf(why, sizeof(why), "partial success: %lld of %zu rejected: %s",
				 (long long)rejected, items, msg);
			warn_once(t, why);
			metric_add(metric_with(x->m.items, signal_names[s], "rejected"),
				   (double)rejected);
			items = rejected < (int64_t)items ? items - (size_t)rejected : 0;
		}
		metric_inc(metric_with(x->m.requests, signal_names[s], "sent"));
		metric_add(metric_with(x->m.items, signal_names[s], "sent"), (double)items);
		result = POST_SENT;
	} else {
		char why[600];

		snprintf(why, sizeof(why), "answered %d: %.200s", status, resp.body);
		warn_once(t, why);
		if (status == 429 || status == 502 || status == 503 || status == 504) {
			*wait_s = retry_after(http_response_header(&resp, "Retry-After"));
			metric_inc(metric_with(x->m.requests, signal_names[s], "retried"));
			result = POST_RETRY;
		} else {
			metric_inc(metric_with(x->m.requests, signal_names[s], "rejected"));
			metric_add(metric_with(x->m.items, signal_names[s], "rejected"),
				   (double)items);
			result = POST_REJECTED;
		}
	}
	http_response_free(&resp);
	return result;
}

/* Wait up to s seconds (a stop cuts it to what the deadline allows). false when stopping
 * and the deadline is past (or would be). */
static bool backoff_wait(struct otlp *x, double s)
{
	bool ok = true;

	pthread_mutex_lock(&x->lock);
	if (x->stopping && clock_mono_s() + s > x->deadline) {
		ok = false;
	} else {
		struct timespec until = clock_realtime_in(s);
		double end = clock_mono_s() + s;

		while (clock_mono_s() < end && !(x->stopping && clock_mono_s() > x->deadline)) {
			if (pthread_cond_timedwait(&x->cond, &x->lock, &until) == ETIMEDOUT)
				break;
		}
	}
	pthread_mutex_unlock(&x->lock);
	return ok;
}

static bool past_deadline(struct otlp *x)
{
	bool past;

	pthread_mutex_lock(&x->lock);
	past = x->stopping && clock_mono_s() > x->deadline;
	pthread_mutex_unlock(&x->lock);
	return past;
}

/*
 * One request of signal s: the items encoded as an Export*ServiceRequest, compressed, POSTed,
 * retried (connection errors, 429, 502, 503, 504; exponential backoff with jitter, Retry-After
 * honoured) until sent, rejected, attempts run out or a stop's deadline. POST_SENT and
 * POST_REJECTED are final (the items are done with); POST_RETRY: try again later.
 */
static enum post_result send_request(struct otlp *x, enum signal s, const struct buf *items,
				     size_t nitems, unsigned attempts, bool whole)
{
	struct buf head, packed;
	enum post_result r = POST_RETRY;
	double backoff = 0.25;

	/* The request's wrapper, then the items compressed after it (no copy of the items);
	 * whole: the items are the request's fields already. */
	buf_init(&head);
	buf_init(&packed);
	pthread_mutex_lock(&x->lock);
	if (x->renew_due) {
		/* A restored snapshot: its own identity, over connections of its own. */
		struct buf old = x->resource;

		x->resource = x->renewed;
		x->renewed = old;
		buf_reset(&x->renewed);
		x->renew_due = false;
		for (int i = 0; i < NSIGNALS; i++)
			http_client_close(&x->t[i].client);
	}
	pthread_mutex_unlock(&x->lock);
	if (!whole)
		otlp_encode_request_head(&head, &x->resource, items->len);
	if (head.failed || otlp_compress_parts(x->o->compression, head.data, head.len, items->data,
					       items->len, &packed) < 0) {
		buf_free(&head);
		buf_free(&packed);
		return POST_RETRY;
	}
	for (unsigned i = 0; i < attempts && !past_deadline(x); i++) {
		double wait = -1, jitter;
		uint32_t rnd = 0;

		pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
		r = post_once(x, s, &packed, nitems, &wait);
		pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
		if (r != POST_RETRY || i + 1 == attempts)
			break;
		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			rnd = (uint32_t)rand();
		jitter = backoff * (0.5 + (double)(rnd % 1000) / 1000.0);	/* 0.5–1.5× */
		if (wait >= 0)
			jitter = wait > OTLP_RETRY_AFTER_MAX_S ? OTLP_RETRY_AFTER_MAX_S : wait;
		if (!backoff_wait(x, jitter))
			break;
		backoff = backoff * 2 > OTLP_BACKOFF_MAX_S ? OTLP_BACKOFF_MAX_S : backoff * 2;
	}
	buf_free(&head);
	buf_free(&packed);
	return r;
}

static enum post_result send_items(struct otlp *x, enum signal s, const struct buf *items,
				   size_t nitems, unsigned attempts)
{
	return send_request(x, s, items, nitems, attempts, false);
}

/* --- log shipping --------------------------------------------------------------------------- */

static struct cursor *cursor_find(struct otlp *x, const char *name, bool create)
{
	for (size_t i = 0; i < x->ncursors; i++)
		if (strcmp(x->cursors[i].name, name) == 0)
			return &x->cursors[i];
	if (!create || x->ncursors == CURSOR_MAX)
		return NULL;
	{
		struct cursor *n = realloc(x->cursors, (x->ncursors + 1) * sizeof(*n));

		if (!n)
			return NULL;
		x->cursors = n;
		n = &x->cursors[x->ncursors++];
		memset(n, 0, sizeof(*n));
		snprintf(n->name, sizeof(n->name), "%s", name);
		return n;
	}
}

/* The cursor file: a line per segment, "NAME OFFSET SKIP SHIPPED SEEN". Written whole to a new
 * file and renamed over the old: a SIGKILL leaves one or the other. */
static void cursor_save(struct otlp *x)
{
	char path[4200], tmp[4300];
	struct buf b;
	int fd;

	buf_init(&b);
	for (size_t i = 0; i < x->ncursors; i++)
		buf_printf(&b, "%s %llu %llu %llu %llu\n", x->cursors[i].name,
			   (unsigned long long)x->cursors[i].offset,
			   (unsigned long long)x->cursors[i].skip,
			   (unsigned long long)x->cursors[i].shipped,
			   (unsigned long long)x->cursors[i].seen);
	snprintf(path, sizeof(path), "%s/" CURSOR_FILE, x->o->log_dir);
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
	if (fd < 0 || buf_write_fd(&b, fd) < 0 || close(fd) < 0 || rename(tmp, path) < 0) {
		log_warn("otlp", "cannot save the log cursor %s: %s", path, strerror(errno));
		if (fd >= 0)
			unlink(tmp);
	}
	buf_free(&b);
}

static void cursor_load(struct otlp *x)
{
	char path[4200], line[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/" CURSOR_FILE, x->o->log_dir);
	f = fopen(path, "re");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		char name[64];
		unsigned long long offset, skip, shipped, seen;
		const char *f[6];
		size_t len[6];
		struct cursor *c;

		if (fields_split(line, f, len, 6) != 5 || len[0] >= sizeof(name) ||
		    !field_u64(f[1], len[1], &offset) || !field_u64(f[2], len[2], &skip) ||
		    !field_u64(f[3], len[3], &shipped) || !field_u64(f[4], len[4], &seen))
			continue;
		memcpy(name, f[0], len[0]);
		name[len[0]] = '\0';
		if (!strstr(name, SEGMENT_SUFFIX) || strchr(name, '/'))
			continue;
		c = cursor_find(x, name, true);
		if (c) {
			c->offset = offset;
			c->skip = skip;
			c->shipped = shipped;
			c->seen = seen;
		}
	}
	fclose(f);
}

/* One shipper per folder: the cursor's lock file, flock'ed for the process's life. */
static bool logs_claim(struct otlp *x)
{
	char path[4200];

	if (x->cursor_fd >= 0)
		return true;
	if (x->logs_refused)
		return false;
	snprintf(path, sizeof(path), "%s/" CURSOR_FILE ".lock", x->o->log_dir);
	x->cursor_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
	if (x->cursor_fd < 0)
		return false;	/* (the folder is not there yet: the log writer makes it) */
	if (flock(x->cursor_fd, LOCK_EX | LOCK_NB) < 0) {
		log_warn("otlp", "another process ships the logs of %s: this one does not",
			 x->o->log_dir);
		close(x->cursor_fd);
		x->cursor_fd = -1;
		x->logs_refused = true;
		return false;
	}
	cursor_load(x);
	return true;
}

static int name_cmp(const void *a, const void *b)
{
	const char *x = *(const char *const *)a, *y = *(const char *const *)b;
	unsigned long long nx = strtoull(x, NULL, 10), ny = strtoull(y, NULL, 10);

	return nx < ny ? -1 : nx > ny ? 1 : strcmp(x, y);
}

struct batch {
	struct buf items;
	size_t n, limit;
	const struct segment_read_result *res;
	uint64_t offset, skip;		/* where the last record added is */
};

static int add_record(void *arg, const log_record *r)
{
	struct batch *b = arg;

	otlp_encode_log(&b->items, r);
	b->n++;
	b->offset = b->res->block_offset;
	b->skip = b->res->block_record;
	return b->n >= b->limit || b->items.len >= OTLP_BATCH_BYTES;
}

/* Ship what the segments hold past their cursors, batch by batch. false when a request
 * could not be sent (the rest waits for the next round). */
static bool ship_logs(struct otlp *x, unsigned attempts)
{
	DIR *d;
	struct dirent *e;
	char **names = NULL;
	size_t n = 0, cap = 0;
	bool ok = true, changed = false;

	if (!logs_claim(x))
		return true;
	d = opendir(x->o->log_dir);
	if (!d)
		return true;
	while ((e = readdir(d))) {
		size_t l = strlen(e->d_name);

		if (l <= 5 || l >= 64 || strcmp(e->d_name + l - 5, SEGMENT_SUFFIX) != 0)
			continue;
		if (n == cap) {
			char **m = realloc(names, (cap = cap ? cap * 2 : 64) * sizeof(*m));

			if (!m)
				break;
			names = m;
		}
		if (!(names[n] = strdup(e->d_name)))
			break;
		n++;
	}
	closedir(d);
	qsort(names, n, sizeof(*names), name_cmp);
	for (size_t i = 0; i < x->ncursors; i++)
		x->cursors[i].present = false;
	for (size_t i = 0; i < n; i++) {
		struct cursor *c = cursor_find(x, names[i], true);

		if (c)
			c->present = true;
	}
	/* Segments deleted (retention) before all was shipped: counted, said once. */
	for (size_t i = 0; i < x->ncursors;) {
		struct cursor *c = &x->cursors[i];

		if (c->present) {
			i++;
			continue;
		}
		if (c->seen > c->shipped) {
			metric_add(x->m.unshipped, (double)(c->seen - c->shipped));
			log_warn("otlp", "segment %s was deleted with %llu records not shipped "
				 "(log_retention_mb / log_retention_hours)", c->name,
				 (unsigned long long)(c->seen - c->shipped));
		}
		x->cursors[i] = x->cursors[--x->ncursors];
		changed = true;
	}
	for (size_t i = 0; i < n && ok && !past_deadline(x); i++) {
		struct cursor *c = cursor_find(x, names[i], false);
		char path[4200];

		if (!c)
			continue;
		snprintf(path, sizeof(path), "%s/%s", x->o->log_dir, names[i]);
		for (;;) {
			struct segment_filter f = { .start_offset = c->offset, .skip_records = c->skip };
			struct segment_read_result res;
			struct batch b = { .limit = (size_t)x->o->batch_records, .res = &res };
			void *dict = NULL;
			size_t dict_len = 0;
			enum post_result r;
			int rc;

			buf_init(&b.items);
			rc = segment_read_filtered(path, NULL, 0, &f, add_record, &b, &res);
			if (rc == -ENOENT && res.dict_id) {
				/* Written with a trained dictionary: read with it. */
				uint32_t id = 0;

				dict = segment_load_dictionary(x->o->log_dir, res.dict_id, &dict_len,
							       &id);
				if (dict)
					rc = segment_read_filtered(path, dict, dict_len, &f, add_record,
								   &b, &res);
				free(dict);
			}
			if (rc < 0) {	/* gone, or not a segment: nothing to ship */
				buf_free(&b.items);
				break;
			}
			if (b.n < b.limit && b.items.len < OTLP_BATCH_BYTES &&
			    c->seen != c->shipped + b.n) {
				c->seen = c->shipped + b.n;	/* read to its end */
				changed = true;
			}
			if (!b.n) {
				buf_free(&b.items);
				break;
			}
			r = send_items(x, SIG_LOGS, &b.items, b.n, attempts);
			buf_free(&b.items);
			if (r == POST_RETRY) {
				ok = false;
				break;
			}
			c->offset = b.offset;
			c->skip = b.skip;
			c->shipped += b.n;
			if (c->seen < c->shipped)
				c->seen = c->shipped;
			cursor_save(x);
			changed = false;
		}
	}
	if (changed)
		cursor_save(x);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return ok;
}

/* --- the sender ------------------------------------------------------------------------------ */

static void send_metrics(struct otlp *x, unsigned attempts)
{
	struct buf items;
	size_t points;

	buf_init(&items);
	points = otlp_encode_metrics(&items, x->registry, x->start_ns, (uint64_t)clock_epoch_ns(),
				     x->delta);
	/* Delta: the base moves only when the backend took (or refused for good) the points. */
	if (points && !items.failed &&
	    send_items(x, SIG_METRICS, &items, points, attempts) != POST_RETRY)
		otlp_delta_commit(x->delta);
	buf_free(&items);
}

static void send_spans(struct otlp *x, unsigned attempts)
{
	struct buf items;
	size_t n;

	pthread_mutex_lock(&x->lock);
	items = x->spans;
	n = x->nspans;
	buf_init(&x->spans);
	x->nspans = 0;
	metric_set(x->m.queue, 0);
	pthread_mutex_unlock(&x->lock);
	if (n && send_items(x, SIG_TRACES, &items, n, attempts) == POST_RETRY) {
		/* Back in front of what came meanwhile, while the queue's bound allows. */
		pthread_mutex_lock(&x->lock);
		if (n + x->nspans <= (size_t)x->o->queue_spans) {
			buf_append(&items, x->spans.data, x->spans.len);
			buf_free(&x->spans);
			x->spans = items;
			x->nspans += n;
			buf_init(&items);
		} else {
			metric_add(metric_with(x->m.items, "traces", "dropped"), (double)n);
		}
		metric_set(x->m.queue, (double)x->nspans);
		pthread_mutex_unlock(&x->lock);
	}
	buf_free(&items);
}

/* The function's own spans (their requests' entries, as they came), in requests of about
 * OTLP_BATCH_BYTES (whole entries: a ResourceSpans is never split). What a retry could not
 * send goes back in front of the queue while its bound allows. */
static void send_foreign(struct otlp *x, unsigned attempts)
{
	struct buf items;
	size_t n, at = 0;

	pthread_mutex_lock(&x->lock);
	items = x->foreign;
	n = x->nforeign;
	buf_init(&x->foreign);
	x->nforeign = 0;
	pthread_mutex_unlock(&x->lock);
	while (at < items.len) {
		struct buf part = { 0 };
		size_t end = at, spans;

		/* Whole entries up to the size (one at least). */
		while (end < items.len) {
			uint32_t field;
			int wire;
			const uint8_t *v;
			size_t vn, len = pb_element((const uint8_t *)items.data + end, items.len - end,
						    &field, &wire, &v, &vn);

			if (!len || (end > at && end - at + len > OTLP_BATCH_BYTES))
				break;
			end += len;
		}
		if (end == at)
			break;	/* (never: the entries were made whole by the receiver) */
		/* Spans by share of bytes: the counters are about requests of whole entries. */
		spans = end == items.len ? n : (size_t)((double)n * (double)(end - at) /
						       (double)(items.len - at));
		part.data = items.data + at;
		part.len = end - at;
		if (send_request(x, SIG_TRACES, &part, spans, attempts, true) == POST_RETRY) {
			pthread_mutex_lock(&x->lock);
			if (n + x->nforeign + x->nspans <= (size_t)x->o->queue_spans) {
				struct buf back;

				buf_init(&back);
				buf_append(&back, items.data + at, items.len - at);
				buf_append(&back, x->foreign.data, x->foreign.len);
				buf_free(&x->foreign);
				x->foreign = back;
				x->nforeign += n;
			} else {
				metric_add(metric_with(x->m.items, "traces", "dropped"), (double)n);
			}
			pthread_mutex_unlock(&x->lock);
			break;
		}
		n -= spans;
		at = end;
	}
	buf_free(&items);
}

static void *sender(void *arg)
{
	struct otlp *x = arg;
	double interval = (double)x->o->interval_ms / 1000.0, last = -1e9;

	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	/* Below the invocation's threads, as remote_write's sender. */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10) < 0)
		log_debug("otlp", "sender priority: %s", strerror(errno));
	for (;;) {
		bool stopping;
		unsigned attempts;

		/* A round when a flush asked for one, one interval after the last at the
		 * soonest (a busy function's invocations share one: fewer, fuller requests and
		 * no work between every two invocations); without flushes, one every ten
		 * intervals (log lines printed between invocations). */
		pthread_mutex_lock(&x->lock);
		while (!x->stopping) {
			double now = clock_mono_s();
			double due = x->asked ? last + interval : interval > 0 ? last + 10 * interval :
										   -1;

			if ((x->asked || interval > 0) && now >= due)
				break;
			if (due < 0) {
				pthread_cond_wait(&x->cond, &x->lock);
			} else {
				struct timespec until = clock_realtime_in(due - now);

				pthread_cond_timedwait(&x->cond, &x->lock, &until);
			}
		}
		x->asked = 0;
		stopping = x->stopping;
		pthread_mutex_unlock(&x->lock);
		/* Running: a few attempts a round (what fails waits on disk or in the queue
		 * for the next); stopping: until the deadline. */
		attempts = stopping ? 1000 : 4;
		if (x->t[SIG_TRACES].on) {
			send_spans(x, attempts);
			send_foreign(x, attempts);
		}
		if (x->t[SIG_LOGS].on && x->o->log_dir[0])
			ship_logs(x, attempts);
		if (x->t[SIG_METRICS].on)
			send_metrics(x, attempts);
		if (stopping) {
			uint64_t left = 0;

			for (size_t i = 0; i < x->ncursors; i++)
				if (x->cursors[i].seen > x->cursors[i].shipped)
					left += x->cursors[i].seen - x->cursors[i].shipped;
			if (left)
				log_warn("otlp", "%llu log records not sent by the stop's deadline: "
					 "they stay in %s", (unsigned long long)left, x->o->log_dir);
			break;
		}
		last = clock_mono_s();
		/* What a round allocated (a block read, a request, zlib's state) goes back to the
		 * system: the agent's memory stays what it was between invocations. */
		malloc_trim(0);
	}
	return NULL;
}

/* --- the sink ---------------------------------------------------------------------------------- */

static void register_metrics(struct otlp *x)
{
	struct metric_desc d;

	d = (struct metric_desc){ .name = "vigil_otlp_requests_total",
				  .help = "OTLP export requests by signal and result: sent, retried "
					  "(each retry), rejected (an answer other than 429, 502, "
					  "503, 504: dropped).",
				  .type = METRIC_COUNTER, .labels = { "signal", "result" } };
	x->m.requests = metric_register(x->registry, &d);
	d = (struct metric_desc){ .name = "vigil_otlp_items_total",
				  .help = "Log records, spans and metric points by result: sent, "
					  "rejected (by the backend, partial_success included), "
					  "dropped (the span queue was full).",
				  .type = METRIC_COUNTER, .labels = { "signal", "result" } };
	x->m.items = metric_register(x->registry, &d);
	d = (struct metric_desc){ .name = "vigil_otlp_span_queue",
				  .help = "Spans waiting to be sent.", .type = METRIC_GAUGE };
	x->m.queue = metric_series_get(metric_register(x->registry, &d), NULL);
	d = (struct metric_desc){ .name = "vigil_otlp_logs_unshipped_total",
				  .help = "Log records whose segment was deleted (retention) before "
					  "they were shipped.", .type = METRIC_COUNTER };
	x->m.unshipped = metric_series_get(metric_register(x->registry, &d), NULL);
	d = (struct metric_desc){ .name = "vigil_otlp_sent_bytes_total",
				  .help = "Request bytes (compressed) the backend accepted.",
				  .type = METRIC_COUNTER, .unit = "bytes", .labels = { "signal" } };
	{
		struct metric_family *f = metric_register(x->registry, &d);

		for (int s = 0; s < NSIGNALS; s++)
			x->m.bytes[s] = metric_with(f, signal_names[s]);
	}
}

struct otlp_sink {
	const struct otlp_options *o;
	struct metric_registry *registry;
	struct otlp *x;
	bool tried;
	pthread_mutex_t start_lock;	/* (the receiver's thread may start it too) */
};

static void otlp_free(struct otlp *x)
{
	for (int s = 0; s < NSIGNALS; s++)
		http_client_close(&x->t[s].client);
	tls_trust_free(x->trust);
	buf_free(&x->resource);
	buf_free(&x->renewed);
	buf_free(&x->spans);
	buf_free(&x->foreign);
	free(x->hdr_text);
	free(x->cursors);
	otlp_delta_free(x->delta);
	if (x->cursor_fd >= 0)
		close(x->cursor_fd);
	free(x);
}

static struct otlp *otlp_start(const struct otlp_options *o, struct metric_registry *r,
			       char *err, size_t err_len)
{
	struct otlp *x = calloc(1, sizeof(*x));
	const char *urls[NSIGNALS] = { o->logs_url, o->traces_url, o->metrics_url };

	err[0] = '\0';
	if (!x) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	x->o = o;
	x->registry = r;
	x->cursor_fd = -1;
	buf_init(&x->resource);
	buf_init(&x->renewed);
	buf_init(&x->spans);
	buf_init(&x->foreign);
	if (parse_headers(x, o->headers ? o->headers : "", err, err_len) < 0)
		goto fail;
	for (int s = 0; s < NSIGNALS; s++)
		if (target_init(x, (enum signal)s, urls[s], err, err_len) < 0)
			goto fail;
	if (o->resource)
		otlp_encode_resource(&x->resource, o->resource);
	x->start_ns = (uint64_t)clock_epoch_ns();
	if (o->metrics_delta && !(x->delta = otlp_delta_new())) {
		snprintf(err, err_len, "out of memory");
		goto fail;
	}
	register_metrics(x);
	pthread_mutex_init(&x->lock, NULL);
	pthread_cond_init(&x->cond, NULL);
	if (pthread_create(&x->thread, NULL, sender, x) != 0) {
		snprintf(err, err_len, "cannot start its thread");
		pthread_mutex_destroy(&x->lock);
		pthread_cond_destroy(&x->cond);
		goto fail;
	}
	for (int s = 0; s < NSIGNALS; s++)
		if (x->t[s].on)
			log_info("otlp", "%s to %s", signal_names[s], x->t[s].url);
	return x;
fail:
	otlp_free(x);
	return NULL;
}

void *otlp_sink_new(const struct otlp_options *o, struct metric_registry *r)
{
	struct otlp_sink *s = calloc(1, sizeof(*s));

	if (s) {
		s->o = o;
		s->registry = r;
		pthread_mutex_init(&s->start_lock, NULL);
	}
	return s;
}

static void ensure_started(struct otlp_sink *s)
{
	char err[300];

	pthread_mutex_lock(&s->start_lock);
	if (!s->tried) {
		s->tried = true;
		s->x = otlp_start(s->o, s->registry, err, sizeof(err));
		if (!s->x)
			log_warn("otlp", "no OTLP export: %s", err);
	}
	pthread_mutex_unlock(&s->start_lock);
}

static int otlp_sink_spans(void *self, const void *data, size_t n, size_t nspans)
{
	struct otlp_sink *s = self;
	bool took = false;

	ensure_started(s);
	if (!s->x || !s->x->t[SIG_TRACES].on)
		return -1;
	if (!nspans)
		return 1;	/* (asked whether it takes spans) */
	pthread_mutex_lock(&s->x->lock);
	if (s->x->nspans + s->x->nforeign + nspans <= (size_t)s->o->queue_spans) {
		buf_append(&s->x->foreign, data, n);
		took = !s->x->foreign.failed;
		if (took)
			s->x->nforeign += nspans;
	}
	/* Sent within an interval, as the invocation's own spans are. */
	s->x->asked++;
	pthread_cond_signal(&s->x->cond);
	pthread_mutex_unlock(&s->x->lock);
	return took ? 1 : 0;
}

static void otlp_sink_reports(void *self, struct invocation_report *const *items, size_t n)
{
	struct otlp_sink *s = self;
	struct buf b;
	size_t spans = 0;

	ensure_started(s);
	if (!s->x || !s->x->t[SIG_TRACES].on)
		return;
	buf_init(&b);
	for (size_t i = 0; i < n; i++)
		spans += otlp_encode_spans(&b, items[i], s->o->traces_unsampled);
	pthread_mutex_lock(&s->x->lock);
	if (s->x->nspans + spans <= (size_t)s->o->queue_spans && !b.failed) {
		buf_append(&s->x->spans, b.data, b.len);
		s->x->nspans += spans;
	} else {
		metric_add(metric_with(s->x->m.items, "traces", "dropped"), (double)spans);
	}
	metric_set(s->x->m.queue, (double)s->x->nspans);
	pthread_mutex_unlock(&s->x->lock);
	buf_free(&b);
}

static void otlp_sink_coldstart(void *self, const struct cs_report *r, const char *request_id,
			       const char *trace)
{
	struct otlp_sink *s = self;
	struct buf b;
	size_t spans;

	ensure_started(s);
	if (!s->x || !s->x->t[SIG_TRACES].on)
		return;
	buf_init(&b);
	spans = otlp_encode_coldstart(&b, r, request_id, trace, s->o->traces_unsampled, 10);
	pthread_mutex_lock(&s->x->lock);
	if (spans && s->x->nspans + spans <= (size_t)s->o->queue_spans && !b.failed) {
		buf_append(&s->x->spans, b.data, b.len);
		s->x->nspans += spans;
		s->x->asked++;
		pthread_cond_signal(&s->x->cond);
	} else if (spans) {
		metric_add(metric_with(s->x->m.items, "traces", "dropped"), (double)spans);
	}
	metric_set(s->x->m.queue, (double)s->x->nspans);
	pthread_mutex_unlock(&s->x->lock);
	buf_free(&b);
}

static void otlp_sink_flush(void *self, int64_t deadline_ms)
{
	struct otlp_sink *s = self;

	(void)deadline_ms;
	ensure_started(s);
	if (!s->x)
		return;
	pthread_mutex_lock(&s->x->lock);
	s->x->asked++;
	pthread_cond_signal(&s->x->cond);
	pthread_mutex_unlock(&s->x->lock);
}

static void otlp_sink_stop(void *self, int64_t deadline_ms)
{
	struct otlp_sink *s = self;
	struct otlp *x;
	double left = (double)(deadline_ms - clock_epoch_ms()) / 1000.0;

	if (!s->tried && deadline_ms > 0)
		ensure_started(s);	/* logs written before any export still go */
	x = s->x;
	pthread_mutex_destroy(&s->start_lock);
	free(s);
	if (!x)
		return;
	if (left < 0)
		left = 0;
	pthread_mutex_lock(&x->lock);
	x->stopping = true;
	x->deadline = clock_mono_s() + left;
	pthread_cond_broadcast(&x->cond);
	pthread_mutex_unlock(&x->lock);
	/* A POST in flight may block for its whole timeout: past the deadline (and a little),
	 * the thread is cancelled inside it. The cursor moves only after an answer, by a
	 * rename: a cancelled send is sent again next time. */
	if (!clock_join_within(x->thread, left + 0.1))
		log_warn("otlp", "the backend is still busy at the deadline: what is not sent "
			 "stays (logs: on disk, for the next start)");
	{
		size_t left_spans = x->nspans + x->nforeign;

		if (left_spans)
			metric_add(metric_with(x->m.items, "traces", "dropped"), (double)left_spans);
	}
	pthread_mutex_destroy(&x->lock);
	pthread_cond_destroy(&x->cond);
	otlp_free(x);
}

static void otlp_sink_renew(void *self, const char *instance)
{
	struct otlp *x = self;
	struct otlp_resource r;

	if (!x->o->resource)
		return;
	r = *x->o->resource;
	snprintf(r.instance, sizeof(r.instance), "%s", instance);
	pthread_mutex_lock(&x->lock);
	buf_reset(&x->renewed);
	otlp_encode_resource(&x->renewed, &r);
	x->renew_due = true;
	pthread_mutex_unlock(&x->lock);
}

const struct sink_ops otlp_sink_ops = {
	.name = "otlp",
	.renew = otlp_sink_renew,
	.reports = otlp_sink_reports,
	.otlp_spans = otlp_sink_spans,
	.coldstart = otlp_sink_coldstart,
	.flush = otlp_sink_flush,
	.stop = otlp_sink_stop,
};
