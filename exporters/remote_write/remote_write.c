/* Prometheus remote_write sender. See remote_write.h. */
#include "remote_write.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "../../agent/util/numfmt.h"
#include "../../agent/util/base64.h"
#include "../../agent/util/clock.h"
#include "../../agent/lib/http_client.h"
#include "../../agent/lib/tls.h"
#include "../../agent/util/log.h"
#include "../../agent/util/netaddr.h"
#include "../../agent/util/redact.h"
#include "../../agent/util/snappy.h"
#include "../../agent/util/version.h"
#include "prometheus/remote.pb-c.h"


#define RW_MAX_LABELS (METRIC_MAX_LABELS + 4)

struct snapshot {
	unsigned char *body;	/* snappy-compressed WriteRequest */
	size_t len;
	size_t samples;
};

struct remote_write {
	struct metric_registry *registry;
	struct http_client client;
	char path[HTTP_URL_PATH_MAX];
	char url[1024];	/* for messages (it holds no credentials) */
	char ca_file[1024];	/* https with verification: loaded by the sender */
	struct tls_trust *trust;
	char last_error[600];	/* warned once per distinct failure */
	char auth[1024];	/* the Authorization header's value, or "" */
	unsigned retries;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned pending;	/* pushes asked for since the sender last took a snapshot */
	double interval;	/* seconds, at least, from one push to the next */
	double last_post;	/* monotonic */
	char instance[200];	/* this environment: its series must not mix with another's */
	char renewed[200];	/* a new identity to take before the next push ("" none) */
	bool stopping;
	double deadline;	/* monotonic, once stopping */
	struct {
		struct metric_family *requests, *samples;
		struct metric_series *queue, *bytes, *duration;
	} m;
};

/* --- encoding ----------------------------------------------------------------------------- */

struct series_buf {
	Prometheus__TimeSeries *ts;
	size_t n, cap;
	Prometheus__Label *labels;	/* n * RW_MAX_LABELS */
	Prometheus__Label **label_ptrs;
	Prometheus__Sample *samples;
	Prometheus__Sample **sample_ptrs;
	Prometheus__TimeSeries **ts_ptrs;
	char **strings;			/* owned copies (bucket bounds, names with suffixes) */
	size_t nstrings, cap_strings;
	bool failed;
};

static char *keep(struct series_buf *sb, const char *s)
{
	char *c;

	if (sb->nstrings == sb->cap_strings) {
		size_t cap = sb->cap_strings ? sb->cap_strings * 2 : 256;
		char **n = realloc(sb->strings, cap * sizeof(*n));

		if (!n) {
			sb->failed = true;
			return (char *)"";
		}
		sb->strings = n;
		sb->cap_strings = cap;
	}
	c = strdup(s);
	if (!c) {
		sb->failed = true;
		return (char *)"";
	}
	sb->strings[sb->nstrings++] = c;
	return c;
}

static int grow(struct series_buf *sb)
{
	size_t cap = sb->cap ? sb->cap * 2 : 256;
	void *a = realloc(sb->ts, cap * sizeof(*sb->ts));
	void *b = a ? realloc(sb->labels, cap * RW_MAX_LABELS * sizeof(*sb->labels)) : NULL;
	void *c = b ? realloc(sb->samples, cap * sizeof(*sb->samples)) : NULL;

	if (a)
		sb->ts = a;
	if (b)
		sb->labels = b;
	if (c)
		sb->samples = c;
	if (!a || !b || !c) {
		sb->failed = true;
		return -1;
	}
	sb->cap = cap;
	return 0;
}

static int label_cmp(const void *a, const void *b)
{
	const Prometheus__Label *x = *(Prometheus__Label *const *)a;
	const Prometheus__Label *y = *(Prometheus__Label *const *)b;

	return strcmp(x->name, y->name);
}

/* One series: name (with suffix), the series' labels, one optional (le) label, extra. */
static void add_series(struct series_buf *sb, const struct metric_family *f,
		       const struct metric_series *s, const char *suffix, const char *le,
		       const char *const *extra, double value, long long ms)
{
	char name[256];
	size_t i, nl = 0, base;

	if (sb->failed || (sb->n == sb->cap && grow(sb) < 0))
		return;
	base = sb->n * RW_MAX_LABELS;
	snprintf(name, sizeof(name), "%s%s", f->name, suffix);
	prometheus__time_series__init(&sb->ts[sb->n]);
	prometheus__label__init(&sb->labels[base + nl]);
	sb->labels[base + nl].name = (char *)"__name__";
	sb->labels[base + nl++].value = keep(sb, name);
	for (i = 0; i < f->nlabels && nl < RW_MAX_LABELS; i++) {
		if (!s->values[i] || !*s->values[i])
			continue;	/* an empty label is no label */
		prometheus__label__init(&sb->labels[base + nl]);
		sb->labels[base + nl].name = f->labels[i];
		sb->labels[base + nl++].value = (char *)s->values[i];
	}
	if (le && nl < RW_MAX_LABELS) {
		prometheus__label__init(&sb->labels[base + nl]);
		sb->labels[base + nl].name = (char *)"le";
		sb->labels[base + nl++].value = keep(sb, le);
	}
	for (i = 0; extra && extra[i] && extra[i + 1] && nl < RW_MAX_LABELS; i += 2) {
		prometheus__label__init(&sb->labels[base + nl]);
		sb->labels[base + nl].name = (char *)extra[i];
		sb->labels[base + nl++].value = (char *)extra[i + 1];
	}
	prometheus__sample__init(&sb->samples[sb->n]);
	sb->samples[sb->n].value = value;
	sb->samples[sb->n].timestamp = ms;
	sb->ts[sb->n].n_labels = nl;
	sb->n++;
}

static void series_free(struct series_buf *sb)
{
	for (size_t i = 0; i < sb->nstrings; i++)
		free(sb->strings[i]);
	free(sb->strings);
	free(sb->ts);
	free(sb->labels);
	free(sb->label_ptrs);
	free(sb->samples);
	free(sb->sample_ptrs);
	free(sb->ts_ptrs);
}

/* The registry now as an encoded (uncompressed) WriteRequest with timestamp ms and the extra
 * label pairs (NULL-terminated); *nseries: the series (one sample each) in it. malloc'ed;
 * NULL on ENOMEM. */
static unsigned char *encode(struct metric_registry *r, long long ms, const char *const *extra,
			     size_t *len, size_t *nseries)
{
	struct series_buf sb = { 0 };
	Prometheus__WriteRequest req = PROMETHEUS__WRITE_REQUEST__INIT;
	unsigned char *out = NULL;
	struct buf b;

	buf_init(&b);
	metric_registry_begin(r);
	for (struct metric_family *f = r->head; f; f = f->next) {
		for (struct metric_series *s = metric_first(f); s; s = metric_next(s)) {
			if (f->type == METRIC_HISTOGRAM) {
				uint64_t cum[METRIC_MAX_BUCKETS + 1];
				double sum;

				metric_histogram_read(s, cum, &sum);
				for (size_t i = 0; i <= f->nbuckets; i++) {
					buf_reset(&b);
					if (i == f->nbuckets)
						buf_puts(&b, "+Inf");
					else
						numfmt_double(&b, f->buckets[i]);
					add_series(&sb, f, s, "_bucket", b.data ? b.data : "", extra,
						   (double)cum[i], ms);
				}
				add_series(&sb, f, s, "_sum", NULL, extra, sum, ms);
				add_series(&sb, f, s, "_count", NULL, extra,
					   (double)cum[f->nbuckets], ms);
			} else {
				add_series(&sb, f, s, "", NULL, extra,
					   f->type == METRIC_INFO ? 1.0 : metric_value(s), ms);
			}
		}
	}
	metric_registry_end(r);
	buf_free(&b);
	/* Pointers only now: the arrays above moved while they grew. */
	if (!sb.failed && sb.n) {
		sb.ts_ptrs = malloc(sb.n * sizeof(*sb.ts_ptrs));
		sb.label_ptrs = malloc(sb.n * RW_MAX_LABELS * sizeof(*sb.label_ptrs));
		sb.sample_ptrs = malloc(sb.n * sizeof(*sb.sample_ptrs));
		if (!sb.ts_ptrs || !sb.label_ptrs || !sb.sample_ptrs)
			sb.failed = true;
	}
	if (!sb.failed) {
		for (size_t i = 0; i < sb.n; i++) {
			Prometheus__Label **lp = &sb.label_ptrs[i * RW_MAX_LABELS];

			for (size_t j = 0; j < sb.ts[i].n_labels; j++)
				lp[j] = &sb.labels[i * RW_MAX_LABELS + j];
			qsort(lp, sb.ts[i].n_labels, sizeof(*lp), label_cmp);
			sb.ts[i].labels = lp;
			sb.sample_ptrs[i] = &sb.samples[i];
			sb.ts[i].samples = &sb.sample_ptrs[i];
			sb.ts[i].n_samples = 1;
			sb.ts_ptrs[i] = &sb.ts[i];
		}
		req.timeseries = sb.ts_ptrs;
		req.n_timeseries = sb.n;
		*nseries = sb.n;
		*len = prometheus__write_request__get_packed_size(&req);
		out = malloc(*len ? *len : 1);
		if (out)
			prometheus__write_request__pack(&req, out);
	}
	series_free(&sb);
	return out;
}

/* --- the sender ----------------------------------------------------------------------------- */

static void count(struct remote_write *w, const char *result, size_t samples)
{
	metric_inc(metric_with(w->m.requests, result));
	if (samples)
		metric_add(metric_with(w->m.samples, strcmp(result, "sent") == 0 ? "sent" :
										       "dropped"),
			   (double)samples);
}

/* A failure is said once (at warn) until it changes or a push succeeds; then at debug. */
static void warn_once(struct remote_write *w, const char *why)
{
	if (strncmp(w->last_error, why, sizeof(w->last_error) - 1) == 0) {
		log_debug("remote_write", "%s: %s", w->url, why);
		return;
	}
	snprintf(w->last_error, sizeof(w->last_error), "%s", why);
	log_warn("remote_write", "%s: %s (said once until it changes)", w->url, why);
}

/* https with verification: the CA bundle is read by the sender before its first push (the
 * start path never pays for it). false when it cannot be read (said once). */
static bool load_trust(struct remote_write *w)
{
	char err[300];

	if (!w->client.tls || !w->ca_file[0] || w->trust)
		return true;
	w->trust = tls_trust_load(w->ca_file, err, sizeof(err));
	if (!w->trust) {
		warn_once(w, err);
		return false;
	}
	w->client.trust = w->trust;
	log_debug("remote_write", "%zu trust anchors from %s", tls_trust_count(w->trust),
		  w->ca_file);
	return true;
}

/* 2xx: 0; retry: 1; give up on this one: -1. */
static int post_once(struct remote_write *w, const struct snapshot *s)
{
	const char *headers[12];
	struct http_response resp;
	double t0 = clock_mono_s();
	int n = 0, rc;

	headers[n++] = "Content-Type";
	headers[n++] = "application/x-protobuf";
	headers[n++] = "Content-Encoding";
	headers[n++] = "snappy";
	headers[n++] = "X-Prometheus-Remote-Write-Version";
	headers[n++] = "0.1.0";
	headers[n++] = "User-Agent";
	headers[n++] = "vigil/" VIGIL_VERSION;
	if (w->auth[0]) {
		headers[n++] = "Authorization";
		headers[n++] = w->auth;
	}
	headers[n] = NULL;
	rc = http_client_request(&w->client, "POST", w->path, headers, s->body, s->len, &resp);
	metric_observe(w->m.duration, clock_mono_s() - t0);
	if (rc < 0) {
		char why[600];

		snprintf(why, sizeof(why), "%s", w->client.error[0] ? w->client.error :
								      strerror(-rc));
		warn_once(w, why);
		return 1;
	}
	rc = resp.status;
	if (rc / 100 != 2) {
		char why[600];

		snprintf(why, sizeof(why), "answered %d: %.200s", rc, resp.body);
		warn_once(w, why);
	}
	http_response_free(&resp);
	if (rc / 100 == 2) {
		w->last_error[0] = '\0';
		metric_add(w->m.bytes, (double)s->len);
		return 0;
	}
	if (rc / 100 == 5 || rc == 429)
		return 1;
	return -1;
}

/* The registry now as a compressed WriteRequest; false on failure (counted). */
static bool take_snapshot(struct remote_write *w, struct snapshot *s)
{
	const char *const extra[] = { "job", "vigil", "instance", w->instance, NULL };
	struct timespec now;
	unsigned char *raw;
	size_t raw_len = 0, max;

	clock_gettime(CLOCK_REALTIME, &now);
	raw = encode(w->registry, (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000, extra,
		     &raw_len, &s->samples);
	if (!raw)
		return false;
	max = snappy_bound(raw_len);
	s->body = malloc(max);
	if (!s->body) {
		free(raw);
		return false;
	}
	s->len = snappy_encode(raw, raw_len, s->body);
	free(raw);
	return true;
}

/*
 * The sender: takes the snapshot itself (encoding and compressing cost the pusher nothing),
 * and when pushes come faster than the endpoint takes them they coalesce into one (every
 * series is cumulative: the latest snapshot carries what the skipped ones would have).
 */
static void *sender(void *arg)
{
	struct remote_write *w = arg;

	/* Cancellable only inside a POST (remote_write_stop), never holding the lock. */
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
	/* Below the invocation's threads (nice is per thread on Linux), not idle-only: in
	 * Lambda the sandbox is frozen between invocations, so pushes must get CPU while it runs. */
	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10) < 0)
		log_debug("remote_write", "sender priority: %s", strerror(errno));
	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct snapshot s = { 0 };
		int result = 1;

		while (!w->pending && !w->stopping)
			pthread_cond_wait(&w->cond, &w->lock);
		/* One push per interval at most: pushes asked for meanwhile wait and coalesce (the
		 * snapshot is taken when it goes), unless stopping. */
		while (w->pending && !w->stopping && clock_mono_s() < w->last_post + w->interval) {
			struct timespec until =
				clock_realtime_in(w->last_post + w->interval - clock_mono_s());

			pthread_cond_timedwait(&w->cond, &w->lock, &until);
		}
		if (!w->pending)
			break;
		if (w->stopping && clock_mono_s() > w->deadline) {
			w->pending = 0;
			pthread_mutex_unlock(&w->lock);
			count(w, "dropped", 0);
			pthread_mutex_lock(&w->lock);
			break;
		}
		w->pending = 0;
		metric_set(w->m.queue, 0);
		if (w->renewed[0]) {
			/* A restored snapshot: its own series, over a connection of its own. */
			snprintf(w->instance, sizeof(w->instance), "%s", w->renewed);
			w->renewed[0] = '\0';
			http_client_close(&w->client);	/* (reconnects at the next push) */
		}
		pthread_mutex_unlock(&w->lock);
		if (!load_trust(w) || !take_snapshot(w, &s)) {
			count(w, "dropped", 0);
			pthread_mutex_lock(&w->lock);
			continue;
		}
		for (unsigned attempt = 0; attempt <= w->retries; attempt++) {
			double backoff = 0.1 * (double)(1u << attempt);

			pthread_setcancelstate(PTHREAD_CANCEL_ENABLE, NULL);
			result = post_once(w, &s);
			pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, NULL);
			if (result <= 0 || attempt == w->retries)
				break;
			count(w, "retried", 0);
			/* Wait, unless stopping: then only while the deadline allows. */
			pthread_mutex_lock(&w->lock);
			if (w->stopping && clock_mono_s() + backoff > w->deadline) {
				pthread_mutex_unlock(&w->lock);
				break;
			}
			{
				struct timespec until = clock_realtime_in(backoff > 2.0 ? 2.0 : backoff);

				pthread_cond_timedwait(&w->cond, &w->lock, &until);
			}
			pthread_mutex_unlock(&w->lock);
		}
		w->last_post = clock_mono_s();
		count(w, result == 0 ? "sent" : result < 0 ? "rejected" : "failed", s.samples);
		free(s.body);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

void remote_write_push(struct remote_write *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	if (!w->stopping) {
		w->pending++;
		metric_set(w->m.queue, (double)w->pending);
		pthread_cond_signal(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
}

/* --- setup ---------------------------------------------------------------------------------- */

static void register_metrics(struct remote_write *w)
{
	struct metric_desc d;

	d = (struct metric_desc){ .name = "vigil_remote_write_requests_total",
				  .help = "remote_write pushes by result: sent, retried (each "
					  "retry), rejected (4xx), failed (retries exhausted), "
					  "dropped (queue full or stopping).",
				  .type = METRIC_COUNTER, .labels = { "result" } };
	w->m.requests = metric_register(w->registry, &d);
	d = (struct metric_desc){ .name = "vigil_remote_write_samples_total",
				  .help = "Samples pushed (sent) or lost (dropped).",
				  .type = METRIC_COUNTER, .labels = { "result" } };
	w->m.samples = metric_register(w->registry, &d);
	d = (struct metric_desc){ .name = "vigil_remote_write_queue",
				  .help = "Pushes asked for and not yet taken by the sender (they "
					  "coalesce into one snapshot).", .type = METRIC_GAUGE };
	w->m.queue = metric_series_get(metric_register(w->registry, &d), NULL);
	d = (struct metric_desc){ .name = "vigil_remote_write_sent_bytes_total",
				  .help = "Compressed bytes accepted by the endpoint.",
				  .type = METRIC_COUNTER, .unit = "bytes" };
	w->m.bytes = metric_series_get(metric_register(w->registry, &d), NULL);
	d = (struct metric_desc){ .name = "vigil_remote_write_duration_seconds",
				  .help = "Time of each POST to the endpoint, answered or not.",
				  .type = METRIC_HISTOGRAM, .unit = "seconds",
				  .buckets = metric_buckets_duration,
				  .nbuckets = metric_buckets_duration_len };
	w->m.duration = metric_series_get(metric_register(w->registry, &d), NULL);
}

struct remote_write *remote_write_start(const struct remote_write_options *o,
					struct metric_registry *r, char *err, size_t err_len)
{
	struct remote_write *w;
	struct http_url u;
	char msg[300];

	err[0] = '\0';
	if (!o->url[0])
		return NULL;
	w = calloc(1, sizeof(*w));
	if (!w) {
		snprintf(err, err_len, "remote_write: out of memory");
		return NULL;
	}
	if (http_url_parse(o->url, &u, msg, sizeof(msg)) < 0) {
		snprintf(err, err_len, "remote_write_url: %s", msg);
		goto fail;
	}
	if (http_client_init_remote(&w->client, u.host, u.port, u.tls, NULL) < 0) {
		snprintf(err, err_len, "remote_write_url: '%s' is not a host name or address",
			 u.host);
		goto fail;
	}
	snprintf(w->path, sizeof(w->path), "%s", u.path);
	url_redact(o->url, w->url, sizeof(w->url));	/* for messages: no credentials */
	if (!u.tls && (o->bearer_token[0] || o->username[0] || url_has_secret(o->url)) &&
	    !netaddr_is_loopback_name(u.host))
		log_warn("remote_write", "credentials go to %s in the clear (http://, not "
			 "https://)", u.host);
	if (u.tls && o->tls_skip_verify) {
		log_warn("remote_write", "remote_write_tls_skip_verify: the endpoint's certificate "
			 "is not checked");
	} else if (u.tls) {
		const char *ca = o->ca_file[0] ? o->ca_file :
							       tls_default_ca_file();

		if (access(ca, R_OK) < 0) {
			snprintf(err, err_len, "remote_write: CA file %s: %s (set "
				 "remote_write_ca_file)", ca, strerror(errno));
			goto fail;
		}
		snprintf(w->ca_file, sizeof(w->ca_file), "%s", ca);
	}
	w->client.timeout_s = (double)o->timeout_ms / 1000.0;
	if (o->bearer_token[0]) {
		snprintf(w->auth, sizeof(w->auth), "Bearer %s", o->bearer_token);
	} else if (o->username[0]) {
		char plain[2048], *enc;

		snprintf(plain, sizeof(plain), "%s:%s", o->username,
			 o->password);
		enc = base64_encode(plain, strlen(plain), NULL);
		if (enc)
			snprintf(w->auth, sizeof(w->auth), "Basic %s", enc);
		free(enc);
	}
	w->retries = (unsigned)o->retries;
	w->interval = (double)o->interval_ms / 1000.0;
	w->last_post = -1e9;
	w->registry = r;
	/* instance: Lambda's log stream names one execution environment; elsewhere host:pid. */
	if (getenv("AWS_LAMBDA_LOG_STREAM_NAME") && *getenv("AWS_LAMBDA_LOG_STREAM_NAME")) {
		snprintf(w->instance, sizeof(w->instance), "%s",
			 getenv("AWS_LAMBDA_LOG_STREAM_NAME"));
	} else {
		char host[64] = "localhost";

		gethostname(host, sizeof(host) - 1);
		snprintf(w->instance, sizeof(w->instance), "%s:%d", host, (int)getpid());
	}
	register_metrics(w);
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	if (pthread_create(&w->thread, NULL, sender, w) != 0) {
		snprintf(err, err_len, "remote_write: cannot start its thread");
		goto fail;
	}
	log_info("remote_write", "pushing to %s", w->url);
	return w;
fail:
	free(w);
	return NULL;
}

void remote_write_stop(struct remote_write *w, double deadline_s)
{
	if (!w)
		return;
	if (deadline_s < 0)
		deadline_s = 0;
	pthread_mutex_lock(&w->lock);
	w->stopping = true;
	w->deadline = clock_mono_s() + deadline_s;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	/* A POST in flight may block for the whole timeout: past the deadline (and a little),
	 * the thread is cancelled in its recv/send/connect instead of waited for. */
	if (!clock_join_within(w->thread, deadline_s + 0.1))
		log_warn("remote_write", "the endpoint is still busy at the deadline: a push is "
			 "abandoned");
	http_client_close(&w->client);
	tls_trust_free(w->trust);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
}

/* --- the sink ------------------------------------------------------------------------------ */

struct rw_sink {
	const struct remote_write_options *o;
	struct metric_registry *registry;
	struct remote_write *w;
	bool tried;
};

void *remote_write_sink_new(const struct remote_write_options *o, struct metric_registry *r)
{
	struct rw_sink *s = calloc(1, sizeof(*s));

	if (s) {
		s->o = o;
		s->registry = r;
	}
	return s;
}

static void rw_sink_flush(void *self, int64_t deadline_ms)
{
	struct rw_sink *s = self;

	(void)deadline_ms;
	if (!s->tried) {
		char err[300];

		s->tried = true;
		s->w = remote_write_start(s->o, s->registry, err, sizeof(err));
		if (!s->w && err[0])
			log_warn("remote_write", "no remote_write push: %s", err);
	}
	remote_write_push(s->w);
}

static void rw_sink_stop(void *self, int64_t deadline_ms)
{
	struct rw_sink *s = self;

	remote_write_stop(s->w, (double)(deadline_ms - clock_epoch_ms()) / 1000.0);
	free(s);
}

static void rw_sink_renew(void *self, const char *instance)
{
	struct remote_write *w = self;

	pthread_mutex_lock(&w->lock);
	snprintf(w->renewed, sizeof(w->renewed), "%s", instance);
	pthread_mutex_unlock(&w->lock);
}

const struct sink_ops remote_write_sink_ops = {
	.name = "remote_write",
	.renew = rw_sink_renew,
	.flush = rw_sink_flush,
	.stop = rw_sink_stop,
};
