/* The Extensions API 2020-01-01, server side (../shared/spec/lambda-apis.md 2). */
#include <http_parser.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../util/log.h"
#include "host.h"

#define PREFIX "/2020-01-01/extension/"

struct extension *extension_by_id(struct environment *env, const char *id)
{
	for (unsigned i = 0; i < env->next_ext; i++) {
		if (env->ext[i].registered && strcmp(env->ext[i].id, id) == 0)
			return &env->ext[i];
	}
	return NULL;
}

pid_t extension_pgid(const struct environment *env, const struct extension *x)
{
	return x->external && x->proc.pid > 0 ? x->proc.pid : env->runtime.pid;
}

struct extension *extension_from_request(struct environment *env, struct http_request *req)
{
	const char *id = http_request_header(req, "Lambda-Extension-Identifier");
	struct extension *x;

	if (!id || !*id) {
		api_reply_error(req, 403, "Extension.MissingExtensionIdentifier",
				"Lambda-Extension-Identifier is missing");
		return NULL;
	}
	if (!uuid_valid(id)) {
		api_reply_error(req, 403, "Extension.InvalidExtensionIdentifier",
				"Lambda-Extension-Identifier is not a UUID");
		return NULL;
	}
	x = extension_by_id(env, id);
	if (!x)
		api_reply_error(req, 403, "Extension.UnknownExtensionIdentifier",
				"no extension has this identifier");
	return x;
}

static const char *events_text(unsigned events)
{
	switch (events & (EXT_INVOKE | EXT_SHUTDOWN)) {
	case EXT_INVOKE | EXT_SHUTDOWN: return "[INVOKE, SHUTDOWN]";
	case EXT_INVOKE: return "[INVOKE]";
	case EXT_SHUTDOWN: return "[SHUTDOWN]";
	default: return "[]";
	}
}

static json_t *events_json(unsigned events)
{
	json_t *a = json_array();

	if (events & EXT_INVOKE)
		json_array_append_new(a, json_string("INVOKE"));
	if (events & EXT_SHUTDOWN)
		json_array_append_new(a, json_string("SHUTDOWN"));
	return a;
}

/* Find the slot for a registering name: its launched file, or a new internal extension. */
static struct extension *slot_for(struct environment *env, const char *name, int *dup)
{
	*dup = 0;
	for (unsigned i = 0; i < env->next_ext; i++) {
		if (strcmp(env->ext[i].name, name) == 0) {
			*dup = env->ext[i].registered;
			return *dup ? NULL : &env->ext[i];
		}
	}
	if (env->next_ext == HOST_MAX_EXTENSIONS)
		return NULL;
	return &env->ext[env->next_ext];
}

/* The register body's events (EXT_INVOKE, EXT_SHUTDOWN) into *events. NULL, or the message
 * of the 403 to answer, with *type its error type. */
const char *extension_register_events(const char *text, size_t len, unsigned *events,
				      const char **type)
{
	json_t *body = NULL, *ev, *item;
	const char *why = NULL;
	size_t i;

	*events = 0;
	*type = "InvalidRequestFormat";
	if (len) {
		body = json_loadb(text, len, 0, NULL);
		if (!json_is_object(body)) {
			json_decref(body);
			return "the body is not a JSON object";
		}
	}
	ev = json_object_get(body, "events");
	if (json_object_get(body, "configurationKeys"))
		why = "configurationKeys is not supported";
	else if (ev && !json_is_array(ev))
		why = "events is not an array";
	json_array_foreach(ev, i, item) {
		const char *e = json_string_value(item);

		if (why)
			break;
		if (e && strcmp(e, "INVOKE") == 0) {
			*events |= EXT_INVOKE;
		} else if (e && strcmp(e, "SHUTDOWN") == 0) {
			*events |= EXT_SHUTDOWN;
		} else {
			*type = "Extension.InvalidEventType";
			why = "events may be INVOKE and SHUTDOWN";
		}
	}
	json_decref(body);
	return why;
}

/* The register answer: the function's name, version and handler (and accountId when asked
 * for), with the new identifier; the EXTENSION line and platform.extension. */
static void register_answer(struct environment *env, struct http_request *req,
			    const struct extension *x, const char *features)
{
	struct host *h = env->host;
	json_t *resp = json_pack("{s:s,s:s,s:s}", "functionName", h->opt.function_name,
				 "functionVersion", "$LATEST", "handler", h->opt.handler);
	const char *headers[] = { "Content-Type", "application/json",
				  "Lambda-Extension-Identifier", x->id, NULL };
	struct buf line;
	char *text;

	if (features && strstr(features, "accountId"))
		json_object_set_new(resp, "accountId", json_string("000000000000"));
	text = json_dumps(resp, JSON_COMPACT);
	json_decref(resp);
	http_respond(req, 200, headers, text ? text : "{}", text ? strlen(text) : 2);
	free(text);
	buf_init(&line);
	buf_printf(&line, "EXTENSION\tName: %s\tState: Ready\tEvents: %s\n", x->name,
		   events_text(x->events));
	host_platform_output(h, &line, NULL);
	buf_free(&line);
	telemetry_emit(env, "platform.extension",
		       json_pack("{s:s,s:s,s:o}", "name", x->name, "state", "Ready", "events",
				 events_json(x->events)));
}

static void handle_register(struct environment *env, struct http_request *req)
{
	const char *name = http_request_header(req, "Lambda-Extension-Name");
	const char *features = http_request_header(req, "Lambda-Extension-Accept-Feature");
	const char *why, *type;
	unsigned events;
	struct extension *x;
	int dup;

	if (req->method != HTTP_POST) {
		api_reply_error(req, 405, "MethodNotAllowed", "use POST");
		return;
	}
	if (!name || !*name || strlen(name) >= sizeof(x->name)) {
		api_reply_error(req, 403, "Extension.InvalidExtensionName",
				"Lambda-Extension-Name is missing, empty or too long");
		return;
	}
	for (unsigned i = 0; i < env->next_ext; i++) {
		if (env->ext[i].registered && strcmp(env->ext[i].name, name) == 0) {
			api_reply_error(req, 403, "Extension.InvalidExtensionState",
					"this extension is registered already");
			return;
		}
	}
	if (!env->registration_open || env->state != ENV_STARTING) {
		api_reply_error(req, 403, "Extension.RegistrationClosed",
				"registration is only possible during init");
		return;
	}
	why = extension_register_events(req->body, req->body_len, &events, &type);
	if (!why && env->host->opt.managed && (events & EXT_INVOKE)) {
		/* Lambda Managed Instances: SHUTDOWN only. */
		type = "Extension.InvalidEventType";
		why = "INVOKE is not supported on Lambda Managed Instances: register for SHUTDOWN "
		      "only";
	}
	if (why) {
		api_reply_error(req, 403, type, why);
		return;
	}
	x = slot_for(env, name, &dup);
	if (!x) {
		api_reply_error(req, 403, dup ? "Extension.InvalidExtensionState" :
						"Extension.TooManyExtensions",
				dup ? "this extension is registered already" :
				      "at most 10 extensions");
		return;
	}
	if (!x->external && (events & EXT_SHUTDOWN)) {
		api_reply_error(req, 403, "Extension.InvalidEventType",
				"internal extensions cannot register for SHUTDOWN");
		return;
	}
	if (!x->external) {
		/* A name with no file in the extensions folder: an internal extension. */
		memset(x, 0, sizeof(*x));
		x->env = env;
		x->proc.out_fd = x->proc.err_fd = x->proc.exec_fd = -1;
		snprintf(x->name, sizeof(x->name), "%s", name);
		x->spawned_at = loop_now();
		env->next_ext++;
	}
	x->registered = true;
	x->registered_at = loop_now();
	x->events = events;
	uuid_v4(x->id);
	register_answer(env, req, x, features);
	if (x->external)
		env_maybe_start_runtime(env);
}

static void on_next_abort(struct http_request *req, void *arg)
{
	struct extension *x = arg;

	if (x->next_req == req)
		x->next_req = NULL;
}

static void answer_event(struct extension *x, json_t *event)
{
	struct http_request *req = x->next_req;
	char eid[UUID_STR_LEN], *text = json_dumps(event, JSON_COMPACT);
	const char *headers[] = { "Content-Type", "application/json",
				  "Lambda-Extension-Event-Identifier", eid, NULL };

	json_decref(event);
	uuid_v4(eid);
	x->next_req = NULL;
	http_respond(req, 200, headers, text ? text : "{}", text ? strlen(text) : 2);
	free(text);
}

void extension_deliver_invoke(struct extension *x, struct invocation *inv)
{
	char arn[256];

	if (!x->next_req)
		return;
	snprintf(arn, sizeof(arn), "arn:aws:lambda:us-east-1:000000000000:function:%s",
		 x->env->host->opt.function_name);
	x->busy = true;
	answer_event(x, json_pack("{s:s,s:I,s:s,s:s,s:{s:s,s:s}}", "eventType", "INVOKE",
				  "deadlineMs", (json_int_t)inv->deadline_ms, "requestId", inv->id,
				  "invokedFunctionArn", arn, "tracing", "type", "X-Amzn-Trace-Id",
				  "value", inv->trace_id));
}

void extension_send_shutdown(struct extension *x)
{
	struct timespec now;
	int64_t deadline;

	if (x->shutdown_sent)
		return;
	if (!x->next_req) {
		x->shutdown_due = true;	/* sent when it comes back on /next */
		return;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	deadline = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 +
		   (int64_t)(HOST_SHUTDOWN_GRACE * 1000);
	x->shutdown_sent = true;
	x->shutdown_due = false;
	answer_event(x, json_pack("{s:s,s:s,s:I}", "eventType", "SHUTDOWN", "shutdownReason",
				  x->env->stop_reason ? x->env->stop_reason : "spindown",
				  "deadlineMs", (json_int_t)deadline));
}

static void handle_next(struct environment *env, struct http_request *req)
{
	struct extension *x;

	if (req->method != HTTP_GET) {
		api_reply_error(req, 405, "MethodNotAllowed", "use GET");
		return;
	}
	x = extension_from_request(env, req);
	if (!x)
		return;
	if (x->next_req) {
		api_reply_error(req, 403, "Extension.InvalidExtensionState",
				"this extension is waiting on /event/next already");
		return;
	}
	x->next_req = req;
	req->on_abort = on_next_abort;
	req->abort_arg = x;
	if (x->ready_at == 0)
		x->ready_at = loop_now();
	x->busy = false;
	switch (env->state) {
	case ENV_STARTING:
		env_check_init_done(env);
		break;
	case ENV_BUSY:
	case ENV_POST:
		env_check_invoke_done(env);
		break;
	case ENV_STOPPING:
		if (x->shutdown_due)
			extension_send_shutdown(x);
		break;
	case ENV_IDLE:
		break;
	}
}

static void handle_error(struct environment *env, struct http_request *req, int init)
{
	const char *type = http_request_header(req, "Lambda-Extension-Function-Error-Type");
	struct extension *x;

	if (req->method != HTTP_POST) {
		api_reply_error(req, 405, "MethodNotAllowed", "use POST");
		return;
	}
	x = extension_from_request(env, req);
	if (!x)
		return;
	if (!type || !*type) {
		api_reply_error(req, 403, "Extension.MissingHeader",
				"Lambda-Extension-Function-Error-Type is missing");
		return;
	}
	if (init && env->state != ENV_STARTING) {
		api_reply_error(req, 403, "InvalidStateTransition",
				"init/error is only allowed during init");
		return;
	}
	snprintf(x->error_type, sizeof(x->error_type), "%s",
		 init ? "Extension.InitError" : "Extension.ExitError");
	log_info("host", "extension %s reported %s: %s", x->name, x->error_type, type);
	api_reply_accepted(req);
	/* The extension exits next; its exit fails the init or the environment. */
}

void extensions_api_handle(struct environment *env, struct http_request *req, const char *path)
{
	if (strcmp(path, PREFIX "register") == 0)
		handle_register(env, req);
	else if (strcmp(path, PREFIX "event/next") == 0)
		handle_next(env, req);
	else if (strcmp(path, PREFIX "init/error") == 0)
		handle_error(env, req, 1);
	else if (strcmp(path, PREFIX "exit/error") == 0)
		handle_error(env, req, 0);
	else
		api_reply_error(req, 404, "NotFound", "unknown Extensions API path");
}
