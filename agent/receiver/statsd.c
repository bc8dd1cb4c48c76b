/* StatsD / DogStatsD into the registry. See statsd.h. */
#include "statsd.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../util/log.h"
#include "../util/netaddr.h"

#define DATAGRAM_MAX 65536
#define READS_PER_WAKE 64	/* datagrams a wake takes before others on the loop get a turn */
#define SET_SLOTS 65536		/* distinct (series, member) pairs remembered, all sets */
#define RATE_REPEAT_MAX 1000	/* a sampled timer observed 1/rate times, at most this */

struct statsd {
	struct loop *loop;
	struct loop_watch *watch;
	int fd;
	unsigned port;
	struct custom_metrics *custom;
	struct metric_series *datagrams, *lines, *malformed, *set_full;
	struct { const void *series; uint64_t hash; } *sets;	/* open addressing */
	size_t nsets;
	char buf[DATAGRAM_MAX + 1];
};

static bool parse_double(const char *s, double *out)
{
	char *end;

	if (!*s)
		return false;
	errno = 0;
	*out = strtod(s, &end);
	return *end == '\0' && errno != ERANGE && isfinite(*out);
}

static char *cut(char *s, char sep)
{
	char *p = strchr(s, sep);

	if (!p)
		return NULL;
	*p = '\0';
	return p + 1;
}

static void parse_tags(char *s, struct statsd_metric *m)
{
	while (s && *s) {
		char *next = cut(s, ','), *v = cut(s, ':');

		if (*s) {
			if (m->ntags == STATSD_MAX_TAGS) {
				m->tags_cut = true;
			} else {
				m->tags[m->ntags].key = s;
				m->tags[m->ntags].value = v ? v : "";
				m->ntags++;
			}
		}
		s = next;
	}
}

int statsd_parse_line(char *line, size_t n, struct statsd_metric *m)
{
	char *values, *type, *field, *next;

	while (n && (line[n - 1] == '\r' || line[n - 1] == ' '))
		n--;
	line[n] = '\0';
	memset(m, 0, sizeof(*m));
	m->rate = 1.0;
	if (n == 0)
		return 1;
	if (memchr(line, '\0', n))
		return -1;
	if (strncmp(line, "_e{", 3) == 0 || strncmp(line, "_sc|", 4) == 0)
		return 1;
	/* name:value[:value…]|type[|@rate][|#tags][|…] — a name may hold ':' only in tags. */
	type = cut(line, '|');
	if (!type)
		return -1;
	values = cut(line, ':');
	if (!values || !*line)
		return -1;
	m->name = line;
	next = cut(type, '|');
	if (strcmp(type, "c") == 0)
		m->type = STATSD_COUNTER;
	else if (strcmp(type, "g") == 0)
		m->type = STATSD_GAUGE;
	else if (strcmp(type, "ms") == 0)
		m->type = STATSD_TIMER;
	else if (strcmp(type, "h") == 0)
		m->type = STATSD_HISTOGRAM;
	else if (strcmp(type, "d") == 0)
		m->type = STATSD_DISTRIBUTION;
	else if (strcmp(type, "s") == 0)
		m->type = STATSD_SET;
	else
		return -1;
	while ((field = next) != NULL) {
		next = cut(field, '|');
		if (field[0] == '@') {
			if (!parse_double(field + 1, &m->rate) || !(m->rate > 0) || m->rate > 1)
				return -1;
		} else if (field[0] == '#') {
			parse_tags(field + 1, m);
		}
		/* (c: container ids, T: timestamps, e: external data — not labels) */
	}
	while (values) {
		char *v = values;

		values = m->type == STATSD_SET ? NULL : cut(v, ':');
		if (m->nvalues == STATSD_MAX_VALUES)
			return -1;
		if (m->type == STATSD_SET) {
			if (!*v)
				return -1;
			m->set_values[m->nvalues++] = v;
			continue;
		}
		if (m->type == STATSD_GAUGE && (v[0] == '+' || v[0] == '-'))
			m->relative = true;
		if (!parse_double(v, &m->values[m->nvalues]))
			return -1;
		m->nvalues++;
	}
	if (m->relative && m->nvalues != 1)
		return -1;
	return 0;
}

static uint64_t hash_bytes(const char *s)
{
	uint64_t h = 14695981039346656037ull;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 1099511628211ull;
	return h;
}

/* true when (series, member) was not seen before (and now is). */
static bool set_add(struct statsd *s, const void *series, const char *member)
{
	uint64_t h = hash_bytes(member);
	size_t i;

	if (!s->sets) {
		s->sets = calloc(SET_SLOTS, sizeof(*s->sets));
		if (!s->sets)
			return false;
	}
	i = (size_t)((h ^ (uintptr_t)series) * 0x9E3779B97F4A7C15ull >> 32) & (SET_SLOTS - 1);
	while (s->sets[i].series) {
		if (s->sets[i].series == series && s->sets[i].hash == h)
			return false;
		i = (i + 1) & (SET_SLOTS - 1);
	}
	if (s->nsets >= SET_SLOTS * 3 / 4) {
		metric_inc(s->set_full);
		return false;
	}
	s->sets[i].series = series;
	s->sets[i].hash = h;
	s->nsets++;
	return true;
}

static void take(struct statsd *s, const struct statsd_metric *m)
{
	struct custom_metric cm = { .name = m->name };
	struct metric_series *series;

	switch (m->type) {
	case STATSD_COUNTER:
		cm.kind = CUSTOM_COUNTER;
		break;
	case STATSD_GAUGE:
	case STATSD_SET:
		cm.kind = CUSTOM_GAUGE;
		break;
	case STATSD_TIMER:
		cm.kind = CUSTOM_HISTOGRAM;
		cm.suffix = "seconds";
		cm.buckets = metric_buckets_duration;
		cm.nbuckets = metric_buckets_duration_len;
		break;
	default:
		cm.kind = CUSTOM_HISTOGRAM;
		break;
	}
	if (m->tags_cut)
		custom_reject(s->custom, CUSTOM_STATSD, "labels");
	series = custom_series(s->custom, CUSTOM_STATSD, &cm, m->tags, m->ntags);
	if (!series)
		return;
	for (unsigned i = 0; i < m->nvalues; i++) {
		double v = m->values[i];
		unsigned repeat;

		switch (m->type) {
		case STATSD_COUNTER:
			if (v >= 0)
				metric_add(series, v / m->rate);
			break;
		case STATSD_GAUGE:
			if (m->relative)
				metric_add(series, v);
			else
				metric_set(series, v);
			break;
		case STATSD_SET:
			if (set_add(s, series, m->set_values[i]))
				metric_add(series, 1);
			break;
		default:
			if (m->type == STATSD_TIMER)
				v /= 1000.0;
			/* A sampled value stands for 1/rate of them. */
			repeat = (unsigned)fmin(RATE_REPEAT_MAX, floor(1.0 / m->rate + 0.5));
			metric_observe_n(series, v, repeat ? repeat : 1);
			break;
		}
	}
}

void statsd_datagram(struct statsd *s, char *data, size_t n)
{
	char *p = data, *end = data + n;

	metric_inc(s->datagrams);
	while (p < end) {
		char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t len = nl ? (size_t)(nl - p) : (size_t)(end - p);
		struct statsd_metric m;
		int rc;

		/* (the byte after the line — its '\n', or the buffer's spare one — is overwritten) */
		rc = statsd_parse_line(p, len, &m);
		if (rc == 0) {
			metric_inc(s->lines);
			take(s, &m);
		} else if (rc < 0) {
			metric_inc(s->malformed);
		}
		p += len + 1;
	}
}

static void register_own(struct statsd *s, struct metric_registry *r)
{
	struct metric_desc dg = { .name = "vigil_statsd_datagrams_total",
				  .help = "StatsD datagrams received", .type = METRIC_COUNTER };
	struct metric_desc ln = { .name = "vigil_statsd_lines_total",
				  .help = "StatsD lines read, by outcome", .type = METRIC_COUNTER,
				  .labels = { "outcome" } };
	struct metric_family *f = metric_register(r, &ln);

	s->datagrams = metric_series_get(metric_register(r, &dg), NULL);
	s->lines = metric_with(f, "ok");
	s->malformed = metric_with(f, "malformed");
	s->set_full = metric_with(f, "set_full");
}

struct statsd *statsd_new(struct custom_metrics *c, struct metric_registry *r)
{
	struct statsd *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	s->fd = -1;
	s->custom = c;
	register_own(s, r);
	return s;
}

static void on_readable(void *arg, uint32_t events)
{
	struct statsd *s = arg;

	(void)events;
	for (int i = 0; i < READS_PER_WAKE; i++) {
		ssize_t n = recv(s->fd, s->buf, DATAGRAM_MAX, MSG_DONTWAIT);

		if (n < 0)
			return;
		statsd_datagram(s, s->buf, (size_t)n);
	}
}

struct statsd *statsd_start(struct loop *l, const char *listen, struct custom_metrics *c,
			    struct metric_registry *r)
{
	struct statsd *s = statsd_new(c, r);
	int rcvbuf = 1 << 20;

	if (!s)
		return NULL;
	s->loop = l;
	s->fd = netaddr_listen(listen, SOCK_DGRAM, &s->port);
	if (s->fd < 0) {
		log_warn("statsd", "cannot listen on %s: %s", listen,
			 errno == EINVAL ? "not HOST:PORT" : strerror(errno));
		statsd_stop(s);
		return NULL;
	}
	setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	s->watch = loop_watch_fd(l, s->fd, EPOLLIN, on_readable, s);
	if (!s->watch) {
		statsd_stop(s);
		return NULL;
	}
	log_info("statsd", "listening on %s (udp port %u)", listen, s->port);
	return s;
}

unsigned statsd_port(const struct statsd *s)
{
	return s ? s->port : 0;
}

void statsd_stop(struct statsd *s)
{
	if (!s)
		return;
	if (s->watch)
		loop_unwatch(s->watch);
	if (s->fd >= 0)
		close(s->fd);
	free(s->sets);
	free(s);
}
