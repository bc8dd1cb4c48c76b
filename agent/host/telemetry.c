/*
 * The Telemetry API 2022-07-01 (../shared/spec/lambda-apis.md 3): subscriptions, the events
 * of an environment in record schemas 2022-07-01, 2022-12-13 and 2025-01-29, and their
 * delivery in batches by HTTP POST with retries. Memory is bounded per subscriber: what does
 * not fit is dropped and reported as platform.logsDropped.
 */
#include <errno.h>
#include <http_parser.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "../lib/http_post.h"
#include "../util/log.h"
#include "../util/netaddr.h"
#include "host.h"

enum { T_PLATFORM = 1, T_FUNCTION = 2, T_EXTENSION = 4 };
enum schema { S_2022_07_01, S_2022_12_13, S_2025_01_29,
	      S_LOGS_2020_08_15, S_LOGS_2021_03_18 };	/* the Logs API's */

#define DELIVERY_TIMEOUT 2.0	/* seconds for one POST */
#define DELIVERY_ATTEMPTS 3
#define QUEUE_FACTOR 4		/* a subscriber queues at most 4 × maxBytes */

struct item {
	struct item *next;
	size_t len;
	char text[];
};

struct subscriber {
	struct subscriber *next;
	struct environment *env;
	struct extension *ext;
	unsigned types;
	enum schema schema;
	long max_items, max_bytes, timeout_ms;
	struct sockaddr_storage addr;
	unsigned port;
	struct listener listener;	/* the extension's socket listening on port */
	char host[300], path[1024];
	struct item *head, *tail;
	size_t nitems, nbytes;
	struct loop_timer timer;
	struct http_post *post;
	char *batch;		/* in flight */
	size_t batch_len, batch_items;
	int attempts;
	uint64_t dropped_records, dropped_bytes;
};

struct telemetry_env {
	json_t *history;	/* events of the init phase, for subscribers that come later */
	bool closed;
	struct subscriber *subs;
};

static void schedule(struct subscriber *s);

void telemetry_env_init(struct environment *env)
{
	env->tel = calloc(1, sizeof(*env->tel));
	if (env->tel)
		env->tel->history = json_array();
}

static void subscriber_free(struct subscriber *s)
{
	http_post_cancel(s->post);
	loop_timer_stop(&s->timer);
	while (s->head) {
		struct item *it = s->head;

		s->head = it->next;
		free(it);
	}
	free(s->batch);
	free(s);
}

void telemetry_env_free(struct environment *env)
{
	struct telemetry_env *t = env->tel;

	if (!t)
		return;
	while (t->subs) {
		struct subscriber *s = t->subs;

		t->subs = s->next;
		if (s->nitems || s->batch)
			metric_add(env->host->m.telemetry_dropped, (double)(s->nitems + s->batch_items));
		subscriber_free(s);
	}
	json_decref(t->history);
	free(t);
	env->tel = NULL;
}

void telemetry_init_done(struct environment *env)
{
	if (!env->tel)
		return;
	env->tel->closed = true;
	json_array_clear(env->tel->history);
}

static unsigned type_bit(const char *type)
{
	if (strncmp(type, "platform.", 9) == 0)
		return T_PLATFORM;
	if (strcmp(type, "function") == 0)
		return T_FUNCTION;
	return T_EXTENSION;
}

/* A Logs API event of type from a Telemetry API one: its time, and a record (stolen). */
static json_t *logs_event(json_t *event, const char *type, json_t *record)
{
	return json_pack("{s:O,s:s,s:o}", "time", json_object_get(event, "time"), "type", type,
			 "record", record);
}

/* The event as a Logs API subscriber sees it (shapes of ../shared/spec/lambda-apis.md 4): none,
 * one or two events into out (an array). */
static void adapt_logs(json_t *event, enum schema schema, json_t *out)
{
	const char *type = json_string_value(json_object_get(event, "type"));
	json_t *rec = json_object_get(event, "record"), *rid = json_object_get(rec, "requestId");

	if (strcmp(type, "function") == 0 || strcmp(type, "extension") == 0) {
		if (json_is_string(rec)) {
			json_array_append(out, event);
		} else {	/* a string record, always */
			char *text = json_dumps(rec, JSON_COMPACT);

			json_array_append_new(out, logs_event(event, type, json_string(text ? text : "")));
			free(text);
		}
	} else if (strcmp(type, "platform.start") == 0) {
		json_array_append_new(out, logs_event(event, type,
						      json_pack("{s:O,s:s}", "requestId", rid,
								"version", "$LATEST")));
	} else if (strcmp(type, "platform.runtimeDone") == 0) {
		/* The end of the runtime's part: platform.end; with 2021-03-18 also
		 * platform.runtimeDone {requestId, status}. */
		json_array_append_new(out, logs_event(event, "platform.end",
						      json_pack("{s:O}", "requestId", rid)));
		if (schema == S_LOGS_2021_03_18)
			json_array_append_new(
				out, logs_event(event, type,
						json_pack("{s:O,s:O}", "requestId", rid, "status",
							  json_object_get(rec, "status"))));
	} else if (strcmp(type, "platform.report") == 0) {
		json_t *m = json_object_get(rec, "metrics"), *keep = json_object();
		static const char *const keys[] = { "durationMs", "billedDurationMs",
						     "memorySizeMB", "maxMemoryUsedMB",
						     "initDurationMs" };

		for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (json_object_get(m, keys[i]))
				json_object_set(keep, keys[i], json_object_get(m, keys[i]));
		json_array_append_new(out, logs_event(event, type,
						      json_pack("{s:O,s:o}", "requestId", rid,
								"metrics", keep)));
	} else if (strcmp(type, "platform.extension") == 0 ||
		   strcmp(type, "platform.logsDropped") == 0 ||
		   strcmp(type, "platform.logsSubscription") == 0 ||
		   strcmp(type, "platform.fault") == 0) {
		json_array_append(out, event);
	}
	/* The init and restore phases' events and platform.telemetrySubscription are the
	 * Telemetry API's alone. */
}

/* The event as a subscriber of this schema sees it. */
static json_t *adapt(json_t *event, enum schema schema)
{
	const char *type = json_string_value(json_object_get(event, "type"));
	json_t *copy, *rec;

	if (schema == S_2025_01_29)
		return json_incref(event);
	copy = json_deep_copy(event);
	rec = json_object_get(copy, "record");
	if (strcmp(type, "platform.initStart") == 0) {
		json_object_del(rec, "functionName");
		json_object_del(rec, "functionVersion");
		json_object_del(rec, "instanceId");
		json_object_del(rec, "instanceMaxMemory");
	}
	if (schema == S_2022_07_01) {
		if (strcmp(type, "platform.initReport") == 0)
			json_object_del(rec, "status");
		/* Log records are always strings in the oldest schema. */
		if ((strcmp(type, "function") == 0 || strcmp(type, "extension") == 0) &&
		    json_is_object(rec)) {
			char *text = json_dumps(rec, JSON_COMPACT);

			json_object_set_new(copy, "record", json_string(text ? text : ""));
			free(text);
		}
	}
	return copy;
}

/* A subscriber's queue: Lambda's 4 × maxBytes. Past it the environment's output is held
 * (back pressure), or, with --telemetry-overflow drop or once the hold has lasted
 * --telemetry-hold-ms, what does not fit is dropped. Held, a queue still takes the lines of
 * the read in progress (up to HOLD_SLACK more). */
#define HOLD_SLACK (4u << 20)

static size_t queue_cap(const struct subscriber *s)
{
	return (size_t)s->max_bytes * QUEUE_FACTOR;
}

static bool dropping(const struct environment *env)
{
	return env->host->opt.telemetry_drop || env->hold_expired;
}

static void on_hold_expired(void *arg)
{
	struct environment *env = arg;

	env->hold_expired = true;
	log_debug("telemetry", "environment %u: a subscriber is behind for %u ms: dropping",
		  env->index, env->host->opt.telemetry_hold_ms);
	env_hold_output(env, HOLD_TELEMETRY, false);
}

/* Hold the environment's output while a subscriber is behind; go on once every queue is
 * down to half its cap. */
static void check_hold(struct environment *env)
{
	bool behind = false, caught_up = true;

	if (env->host->opt.telemetry_drop || !env->tel)
		return;
	for (struct subscriber *s = env->tel->subs; s; s = s->next) {
		behind |= s->nbytes >= queue_cap(s);
		caught_up &= s->nbytes < queue_cap(s) / 2;
	}
	if (caught_up) {
		env->hold_expired = false;
		loop_timer_stop(&env->hold_timer);
		env_hold_output(env, HOLD_TELEMETRY, false);
	} else if (behind && !env->hold_expired && !(env->output_held & HOLD_TELEMETRY)) {
		if (!loop_timer_active(&env->hold_timer))
			loop_timer_start(env->host->loop, &env->hold_timer,
					 loop_now() + env->host->opt.telemetry_hold_ms / 1000.0,
					 on_hold_expired, env);
		env_hold_output(env, HOLD_TELEMETRY, true);
	}
}

static void enqueue_text(struct subscriber *s, const char *text, size_t len, int front)
{
	struct item *it;

	if (s->nbytes + len > queue_cap(s) + (dropping(s->env) ? 0 : HOLD_SLACK)) {
		s->dropped_records++;
		s->dropped_bytes += len;
		metric_inc(s->env->host->m.telemetry_dropped);
		return;
	}
	it = malloc(sizeof(*it) + len + 1);
	if (!it) {
		s->dropped_records++;
		s->dropped_bytes += len;
		return;
	}
	memcpy(it->text, text, len);
	it->text[len] = '\0';
	it->len = len;
	if (front) {
		it->next = s->head;
		s->head = it;
		if (!s->tail)
			s->tail = it;
	} else {
		it->next = NULL;
		if (s->tail)
			s->tail->next = it;
		else
			s->head = it;
		s->tail = it;
	}
	s->nitems++;
	s->nbytes += len;
}

static void enqueue(struct subscriber *s, json_t *event)
{
	if (s->schema >= S_LOGS_2020_08_15) {
		json_t *out = json_array(), *ev;
		size_t i;

		adapt_logs(event, s->schema, out);
		json_array_foreach(out, i, ev) {
			char *text = json_dumps(ev, JSON_COMPACT);

			if (text) {
				enqueue_text(s, text, strlen(text), 0);
				free(text);
			}
		}
		json_decref(out);
		schedule(s);
		return;
	}
	json_t *adapted = adapt(event, s->schema);
	char *text = adapted ? json_dumps(adapted, JSON_COMPACT) : NULL;

	json_decref(adapted);
	if (text) {
		enqueue_text(s, text, strlen(text), 0);
		free(text);
	}
	schedule(s);
}

bool telemetry_active(const struct environment *env)
{
	return env->tel && (!env->tel->closed || env->tel->subs);
}

void telemetry_emit(struct environment *env, const char *type, json_t *record)
{
	struct telemetry_env *t = env->tel;
	char now[32];
	json_t *event;
	unsigned bit = type_bit(type);

	if (!t || !record) {
		json_decref(record);
		return;
	}
	iso_time_now(now);
	event = json_pack("{s:s,s:s,s:o}", "time", now, "type", type, "record", record);
	if (!event)
		return;
	if (!t->closed)
		json_array_append(t->history, event);
	for (struct subscriber *s = t->subs; s; s = s->next) {
		/* As in Lambda, an extension subscribed to "extension" gets its own output too. */
		if (s->types & bit)
			enqueue(s, event);
	}
	json_decref(event);
	check_hold(env);
}

/* --- delivery ---------------------------------------------------------------------------- */

static void on_posted(void *arg, int status);

static void add_dropped_record(struct subscriber *s)
{
	char now[32], *text;
	json_t *ev;

	if (!s->dropped_records || !(s->types & T_PLATFORM))
		return;
	iso_time_now(now);
	ev = json_pack("{s:s,s:s,s:{s:I,s:I,s:s}}", "time", now, "type", "platform.logsDropped",
		       "record", "droppedBytes", (json_int_t)s->dropped_bytes, "droppedRecords",
		       (json_int_t)s->dropped_records, "reason",
		       "Some logs were dropped because the downstream consumer is slower than the "
		       "logs production rate");
	text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	json_decref(ev);
	if (text) {
		s->dropped_records = s->dropped_bytes = 0;
		/* At the front, and allowed past the cap: it is what says what was lost. */
		{
			size_t len = strlen(text);
			struct item *it = malloc(sizeof(*it) + len + 1);

			if (it) {
				memcpy(it->text, text, len + 1);
				it->len = len;
				it->next = s->head;
				s->head = it;
				if (!s->tail)
					s->tail = it;
				s->nitems++;
				s->nbytes += len;
			}
		}
		free(text);
	}
}

static void send_batch(struct subscriber *s)
{
	struct buf b;
	size_t n = 0;

	loop_timer_stop(&s->timer);
	/* Frozen (or about to be): it waits for the thaw, which flushes. */
	if (s->post || s->env->cg.frozen || s->env->freeze_due)
		return;
	if (!s->batch) {
		add_dropped_record(s);
		if (!s->head)
			return;
		buf_init(&b);
		buf_putc(&b, '[');
		while (s->head && n < (size_t)s->max_items &&
		       (n == 0 || b.len + s->head->len + 1 <= (size_t)s->max_bytes)) {
			struct item *it = s->head;

			if (n)
				buf_putc(&b, ',');
			buf_append(&b, it->text, it->len);
			s->head = it->next;
			if (!s->head)
				s->tail = NULL;
			s->nitems--;
			s->nbytes -= it->len;
			free(it);
			n++;
		}
		buf_putc(&b, ']');
		s->batch = buf_steal(&b, &s->batch_len);
		s->batch_items = n;
		s->attempts = 0;
		if (!s->batch)
			return;
	}
	s->attempts++;
	/* Still the extension's own listener (it may have started it again)? Else the batch
	 * does not go: a failed attempt. */
	if (!listener_still(&s->listener) &&
	    !listener_of_group(s->port, extension_pgid(s->env, s->ext), &s->listener)) {
		on_posted(s, -ECONNREFUSED);
		return;
	}
	s->post = http_post_start(s->env->host->loop, &s->addr, s->host, s->path,
				  "application/json", s->batch, s->batch_len, DELIVERY_TIMEOUT,
				  on_posted, s);
}

static void on_retry(void *arg)
{
	struct subscriber *s = arg;

	send_batch(s);
}

static void on_posted(void *arg, int status)
{
	struct subscriber *s = arg;
	struct host *h = s->env->host;

	s->post = NULL;
	if (s->env->freeze_due)
		env_freeze(s->env);
	if (status >= 200 && status < 300) {
		metric_inc(metric_with(h->m.deliveries, h->opt.function_name, "delivered"));
		free(s->batch);
		s->batch = NULL;
		s->batch_items = 0;
		schedule(s);
		check_hold(s->env);
		return;
	}
	metric_inc(metric_with(h->m.deliveries, h->opt.function_name, "failed"));
	log_debug("telemetry", "delivery to %s failed (%d), attempt %d", s->ext->name, status,
		  s->attempts);
	if (s->attempts < DELIVERY_ATTEMPTS) {
		loop_timer_start(h->loop, &s->timer, loop_now() + 0.1 * (1 << s->attempts), on_retry, s);
		return;
	}
	/* Given up: the batch is lost, and the next one says so. */
	s->dropped_records += s->batch_items;
	s->dropped_bytes += s->batch_len;
	metric_add(h->m.telemetry_dropped, (double)s->batch_items);
	free(s->batch);
	s->batch = NULL;
	s->batch_items = 0;
	schedule(s);
	check_hold(s->env);
}

static void on_batch_timer(void *arg)
{
	struct subscriber *s = arg;

	send_batch(s);
}

/* A batch goes at the first limit reached: maxItems, maxBytes, or timeoutMs of age. */
static void schedule(struct subscriber *s)
{
	if (s->post || (loop_timer_active(&s->timer) && s->batch))
		return;
	if (!s->head && !s->batch && !s->dropped_records)
		return;
	/* Stopping, nothing waits for the batch's age: what is queued goes back to back. */
	if (s->batch || s->nitems >= (size_t)s->max_items || s->nbytes >= (size_t)s->max_bytes ||
	    s->env->state == ENV_STOPPING) {
		send_batch(s);
		return;
	}
	if (!loop_timer_active(&s->timer))
		loop_timer_start(s->env->host->loop, &s->timer, loop_now() + s->timeout_ms / 1000.0,
					 on_batch_timer, s);
}

bool telemetry_in_flight(const struct environment *env)
{
	for (struct subscriber *s = env->tel ? env->tel->subs : NULL; s; s = s->next) {
		if (s->post)
			return true;
	}
	return false;
}

void telemetry_flush(struct environment *env)
{
	if (!env->tel)
		return;
	for (struct subscriber *s = env->tel->subs; s; s = s->next) {
		if (!s->post && !(loop_timer_active(&s->timer) && s->batch))
			send_batch(s);
	}
}

/* --- subscription ------------------------------------------------------------------------- */

static int invalid(char *err, size_t n, const char *msg)
{
	snprintf(err, n, "%s", msg);
	return -EINVAL;
}

static int range(json_t *buffering, const char *key, long min, long max, long def, long *out,
		 char *err, size_t n)
{
	json_t *v = json_object_get(buffering, key);

	*out = def;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max) {
		snprintf(err, n, "buffering.%s must be an integer in %ld..%ld", key, min, max);
		return -EINVAL;
	}
	*out = (long)json_integer_value(v);
	return 0;
}

/* URI: http://sandbox.localdomain:PORT[/path] (also sandbox, localhost, 127.0.0.1, and
 * 0.0.0.0 as SAM local writes it); the port is checked by the caller. */
static int parse_destination(struct subscription_spec *spec, json_t *dest, unsigned api_port,
			     char *err, size_t n)
{
	static const char *const hosts[] = { "sandbox.localdomain", "sandbox", "localhost",
					     "127.0.0.1", "0.0.0.0" };
	const char *proto = json_string_value(json_object_get(dest, "protocol"));
	const char *uri = json_string_value(json_object_get(dest, "URI"));
	const char *p, *colon, *slash;
	char *end;
	size_t hl;
	long port;
	int ok = 0;

	if (!json_is_object(dest))
		return invalid(err, n, "destination must be an object");
	if (!proto || strcmp(proto, "HTTP") != 0)
		return invalid(err, n, "destination.protocol must be HTTP (vigil host does not "
				       "deliver over TCP)");
	if (!uri || strncmp(uri, "http://", 7) != 0 || strlen(uri) > 1000)
		return invalid(err, n, "destination.URI must be http://… (at most 1000 bytes)");
	p = uri + 7;
	colon = strchr(p, ':');
	slash = strchr(p, '/');
	if (!colon || (slash && slash < colon))
		return invalid(err, n, "destination.URI needs a port");
	hl = (size_t)(colon - p);
	for (size_t i = 0; i < sizeof(hosts) / sizeof(hosts[0]); i++)
		ok |= strlen(hosts[i]) == hl && strncasecmp(p, hosts[i], hl) == 0;
	if (!ok)
		return invalid(err, n, "destination.URI host must be sandbox.localdomain "
				       "(or localhost, 127.0.0.1, 0.0.0.0)");
	port = strtol(colon + 1, &end, 10);
	if (port < 1 || port > 65535 || port == 9001 || (unsigned)port == api_port ||
	    (*end && *end != '/'))
		return invalid(err, n, "destination.URI port must be 1..65535, not the API's");
	spec->port = (unsigned)port;
	snprintf(spec->host, sizeof(spec->host), "%.*s:%ld", (int)hl, p, port);
	snprintf(spec->path, sizeof(spec->path), "%s", slash ? slash : "/");
	return 0;
}

static int parse_types(json_t *types, unsigned *out, char *err, size_t n)
{
	json_t *item;
	size_t i;

	*out = 0;
	if (!json_is_array(types) || json_array_size(types) == 0)
		return invalid(err, n, "types must be a non-empty array");
	json_array_foreach(types, i, item) {
		const char *t = json_string_value(item);

		if (t && strcmp(t, "platform") == 0)
			*out |= T_PLATFORM;
		else if (t && strcmp(t, "function") == 0)
			*out |= T_FUNCTION;
		else if (t && strcmp(t, "extension") == 0)
			*out |= T_EXTENSION;
		else
			return invalid(err, n, "types may be platform, function, extension");
	}
	return 0;
}

int telemetry_parse_subscription(const char *body, size_t len, unsigned api_port, bool logs,
				 bool managed, struct subscription_spec *spec, char *err, size_t n)
{
	json_t *root = json_loadb(body, len, 0, NULL), *buffering;
	const char *schema;
	int rc = -EINVAL;

	memset(spec, 0, sizeof(*spec));
	if (!json_is_object(root)) {
		invalid(err, n, "the body is not a JSON object");
		goto out;
	}
	schema = json_string_value(json_object_get(root, "schemaVersion"));
	buffering = json_object_get(root, "buffering");
	if (logs) {
		/* The Logs API: schemaVersion optional, 2021-03-18 adds platform.runtimeDone. */
		if (!schema && json_object_get(root, "schemaVersion")) {
			invalid(err, n, "schemaVersion must be a string");
			goto out;
		}
		if (schema && strcmp(schema, "2020-08-15") && strcmp(schema, "2021-03-18")) {
			invalid(err, n, "schemaVersion must be 2020-08-15 or 2021-03-18");
			goto out;
		}
		spec->schema = schema && strcmp(schema, "2021-03-18") == 0 ? S_LOGS_2021_03_18 :
									       S_LOGS_2020_08_15;
	} else if (!schema || (strcmp(schema, "2022-07-01") && strcmp(schema, "2022-12-13") &&
			       strcmp(schema, "2025-01-29"))) {
		invalid(err, n, "schemaVersion must be 2022-07-01, 2022-12-13 or 2025-01-29");
		goto out;
	} else {
		spec->schema = strcmp(schema, "2022-07-01") == 0 ? S_2022_07_01 :
			       strcmp(schema, "2022-12-13") == 0 ? S_2022_12_13 : S_2025_01_29;
	}
	if (parse_types(json_object_get(root, "types"), &spec->types, err, n) < 0)
		goto out;
	if (managed && spec->schema != S_2025_01_29) {
		invalid(err, n, "Lambda Managed Instances take schemaVersion 2025-01-29 only");
		goto out;
	}
	if (buffering && !json_is_object(buffering) && !json_is_null(buffering)) {
		invalid(err, n, "buffering must be an object");
		goto out;
	}
	if (range(buffering, "maxItems", 1000, 10000, 10000, &spec->max_items, err, n) < 0 ||
	    range(buffering, "maxBytes", 262144, 1048576, 262144, &spec->max_bytes, err, n) < 0 ||
	    range(buffering, "timeoutMs", 25, 30000, 1000, &spec->timeout_ms, err, n) < 0 ||
	    parse_destination(spec, json_object_get(root, "destination"), api_port, err, n) < 0)
		goto out;
	rc = 0;
out:
	json_decref(root);
	return rc;
}

static json_t *types_json(unsigned types)
{
	json_t *a = json_array();

	if (types & T_PLATFORM)
		json_array_append_new(a, json_string("platform"));
	if (types & T_FUNCTION)
		json_array_append_new(a, json_string("function"));
	if (types & T_EXTENSION)
		json_array_append_new(a, json_string("extension"));
	return a;
}

static const char *types_text(unsigned types, char *out, size_t n)
{
	snprintf(out, n, "[%s%s%s%s%s]", types & T_PLATFORM ? "Platform" : "",
		 (types & T_PLATFORM) && (types & (T_FUNCTION | T_EXTENSION)) ? ", " : "",
		 types & T_FUNCTION ? "Function" : "",
		 (types & T_FUNCTION) && (types & T_EXTENSION) ? ", " : "",
		 types & T_EXTENSION ? "Extension" : "");
	return out;
}

void telemetry_handle(struct environment *env, struct http_request *req, bool logs)
{
	const char *api = logs ? "Logs" : "Telemetry";
	struct telemetry_env *t = env->tel;
	struct subscription_spec spec;
	struct subscriber *s, **pp;
	struct extension *x;
	struct listener listener = { 0 };
	char text[64], err[256];
	struct buf line;
	size_t i;
	json_t *ev;

	if (req->method != HTTP_PUT) {
		api_reply_error(req, 405, "MethodNotAllowed", "use PUT");
		return;
	}
	x = extension_from_request(env, req);
	if (!x || !t)
		return;
	if (t->closed || env->state != ENV_STARTING) {
		api_reply_error(req, 403, logs ? "Logs.SubscriptionClosed" :
						 "Telemetry.SubscriptionClosed",
				"subscriptions are only possible during init");
		return;
	}
	if (telemetry_parse_subscription(req->body, req->body_len, env->api_port, logs,
					 env->host->opt.managed, &spec,
					 err, sizeof(err)) < 0) {
		api_reply_error(req, 400, logs ? "Logs.ValidationError" : "ValidationError", err);
		return;
	}
	/* One of the two APIs per extension, as Lambda has it. */
	if (x->sub && (x->sub->schema >= S_LOGS_2020_08_15) != logs) {
		snprintf(err, sizeof(err), "extension %s subscribed through the %s API already",
			 x->name, logs ? "Telemetry" : "Logs");
		api_reply_error(req, 403, logs ? "Logs.AlreadySubscribed" :
						 "Telemetry.AlreadySubscribed", err);
		return;
	}
	/* Only to the extension's own listener: never to vigil's listeners (its front door:
	 * the host would invoke itself) or any other local service. A port nobody listens on
	 * yet is taken — AWS's Node sample subscribes while its listener is still starting —
	 * and each delivery checks it is the extension's (send_batch). Looked at again once
	 * something listens: the extension's own listen() may land between the two looks. */
	if (!listener_of_group(spec.port, extension_pgid(env, x), &listener) &&
	    listener_any(spec.port) &&
	    !listener_of_group(spec.port, extension_pgid(env, x), &listener)) {
		snprintf(err, sizeof(err), "destination.URI port %u: no process of extension %s "
			 "listens there", spec.port, x->name);
		log_warn("host", "%s subscription refused: %s", api, err);
		api_reply_error(req, 400, logs ? "Logs.ValidationError" : "ValidationError", err);
		return;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		api_reply_error(req, 500, "ServiceException", "out of memory");
		return;
	}
	s->env = env;
	s->ext = x;
	s->types = spec.types;
	s->schema = (enum schema)spec.schema;
	s->max_items = spec.max_items;
	s->max_bytes = spec.max_bytes;
	s->timeout_ms = spec.timeout_ms;
	s->port = spec.port;
	s->listener = listener;
	snprintf(s->host, sizeof(s->host), "%s", spec.host);
	snprintf(s->path, sizeof(s->path), "%s", spec.path);
	snprintf(text, sizeof(text), "127.0.0.1:%u", spec.port);
	netaddr_parse(text, &s->addr);
	/* Subscribing again replaces the subscription. */
	for (pp = &t->subs; *pp; pp = &(*pp)->next) {
		if ((*pp)->ext == x) {
			struct subscriber *old = *pp;

			*pp = old->next;
			subscriber_free(old);
			break;
		}
	}
	s->next = t->subs;
	t->subs = s;
	x->sub = s;
	api_reply_json(req, 200, "\"OK\"");
	/* What happened before the subscription, from the start of init. */
	json_array_foreach(t->history, i, ev) {
		if (s->types & type_bit(json_string_value(json_object_get(ev, "type"))))
			enqueue(s, ev);
	}
	buf_init(&line);
	buf_printf(&line, "%s\tName: %s\tState: Subscribed\tTypes: %s\n",
		   logs ? "LOGS" : "TELEMETRY", x->name, types_text(s->types, text, sizeof(text)));
	host_platform_output(env->host, &line, NULL);
	buf_free(&line);
	telemetry_emit(env, logs ? "platform.logsSubscription" : "platform.telemetrySubscription",
		       json_pack("{s:s,s:s,s:o}", "name", x->name, "state", "Subscribed", "types",
				 types_json(s->types)));
}
