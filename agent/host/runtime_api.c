/* The Runtime API 2018-06-01, server side (../shared/spec/lambda-apis.md 1). */
#include <http_parser.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "host.h"
#include "../util/base64.h"

#define PREFIX "/2018-06-01/runtime/"

static const char json_ct[] = "application/json";

static void on_next_abort(struct http_request *req, void *arg)
{
	struct environment *env = arg;

	if (env->next_req == req)
		env->next_req = NULL;
}

static void on_mi_next_abort(struct http_request *req, void *arg)
{
	struct environment *env = arg;

	for (unsigned i = 0; i < env->mi_nnext; i++) {
		if (env->mi_next[i] == req) {
			env->mi_next[i] = env->mi_next[--env->mi_nnext];
			return;
		}
	}
	if (env->next_req == req)
		env->next_req = NULL;
}

/* Managed instances: each /next is a thread (or a task) of the runtime that can take an
 * invocation; up to AWS_LAMBDA_MAX_CONCURRENCY wait at once. */
static void mi_next(struct environment *env, struct http_request *req)
{
	struct host *h = env->host;

	if (env->state == ENV_STOPPING ||
	    env->mi_nnext + (env->next_req != NULL) >= (unsigned)h->opt.max_concurrency) {
		api_reply_error(req, 403, "InvalidStateTransition",
				"more /next calls waiting than AWS_LAMBDA_MAX_CONCURRENCY");
		return;
	}
	env->mi_next[env->mi_nnext++] = req;
	req->on_abort = on_mi_next_abort;
	req->abort_arg = env;
	if (env->state == ENV_IDLE)
		host_env_ready(h, env);
}

static json_t *spans_of_runtime(const struct invocation *inv, double now)
{
	json_t *spans = json_array();
	double latency = inv->response_started_at > 0 ? inv->response_started_at - inv->started_at : 0;
	double duration = inv->response_done_at > inv->response_started_at ?
				  inv->response_done_at - inv->response_started_at : 0;
	double overhead = inv->response_done_at > 0 ? now - inv->response_done_at : 0;
	char when[32];

	iso_time_now(when);
	json_array_append_new(spans, json_pack("{s:s,s:s,s:f}", "name", "responseLatency", "start",
					       when, "durationMs", latency * 1000.0));
	json_array_append_new(spans, json_pack("{s:s,s:s,s:f}", "name", "responseDuration", "start",
					       when, "durationMs", duration * 1000.0));
	json_array_append_new(spans, json_pack("{s:s,s:s,s:f}", "name", "runtimeOverhead", "start",
					       when, "durationMs", overhead * 1000.0));
	return spans;
}

static const char *status_text(enum inv_status s)
{
	switch (s) {
	case INV_SUCCESS: return "success";
	case INV_TIMEOUT: return "timeout";
	case INV_FAILURE: return "failure";
	default: return "error";
	}
}

void runtime_done_event(struct environment *env, struct invocation *inv)
{
	double now = loop_now();
	json_t *rec;

	inv->runtime_done_at = now;
	if (!telemetry_active(env))
		return;
	rec = json_pack("{s:s,s:s,s:{s:f,s:I}}", "requestId", inv->id, "status",
			status_text(inv->status), "metrics", "durationMs",
			(now - inv->started_at) * 1000.0, "producedBytes",
			(json_int_t)invocation_produced(inv));
	if (inv->status != INV_SUCCESS && inv->error_type[0])
		json_object_set_new(rec, "errorType", json_string(inv->error_type));
	json_object_set_new(rec, "spans", spans_of_runtime(inv, now));
	if (inv->tenant[0])
		json_object_set_new(rec, "tenantId", json_string(inv->tenant));
	json_object_set_new(rec, "tracing", json_pack("{s:s,s:s}", "type", "X-Amzn-Trace-Id",
						      "value", inv->trace_id));
	telemetry_emit(env, "platform.runtimeDone", rec);
}

/* The runtime's init is done (its first /next, or SnapStart's restore/next): registration of
 * extensions closes. */
static void runtime_init_done(struct environment *env)
{
	env->runtime_parked_first = true;
	env->runtime_ready_at = loop_now();
	env->registration_open = false;
	telemetry_emit(env, "platform.initRuntimeDone",
		       json_pack("{s:s,s:s,s:s}", "initializationType", host_init_type(env->host),
				 "phase", env->phase, "status", "success"));
}

static void handle_next(struct environment *env, struct http_request *req)
{
	if (req->method != HTTP_GET) {
		api_reply_error(req, 405, "MethodNotAllowed", "use GET");
		return;
	}
	if (env->host->opt.managed && (env->state == ENV_IDLE || env->next_req)) {
		mi_next(env, req);
		return;
	}
	if (env->next_req || env->state == ENV_BUSY || env->state == ENV_STOPPING ||
	    (env->state == ENV_POST && env->inv && env->inv->runtime_done_at > 0)) {
		api_reply_error(req, 403, "InvalidStateTransition",
				"State transition from the current state to Next is not allowed");
		return;
	}
	env->next_req = req;
	req->on_abort = on_next_abort;
	req->abort_arg = env;
	if (env->state == ENV_STARTING && env->restore_at > 0) {
		/* SnapStart: the after-restore hooks are done (or there were none). */
		env_restore_done(env, NULL);
		return;
	}
	if (env->state == ENV_STARTING) {
		if (!env->runtime_parked_first)
			runtime_init_done(env);
		env_check_init_done(env);
		return;
	}
	if (env->state == ENV_POST) {
		runtime_done_event(env, env->inv);
		env_check_invoke_done(env);
		return;
	}
	/* IDLE: a runtime that lost its connection and came back. */
	host_env_ready(env->host, env);
}

/* The id in PREFIX "invocation/{id}/verb". */
static int parse_invocation_path(const char *path, char *id, size_t idlen, const char **verb)
{
	const char *p = path + strlen(PREFIX "invocation/"), *slash = strchr(p, '/');

	if (!slash || (size_t)(slash - p) >= idlen)
		return -1;
	memcpy(id, p, (size_t)(slash - p));
	id[slash - p] = '\0';
	*verb = slash + 1;
	return 0;
}

static void take_body(struct invocation *inv, struct http_request *req)
{
	const char *ct = http_request_header(req, "Content-Type");

	free(inv->result);
	inv->result = req->body;
	inv->result_len = req->body_len;
	req->body = NULL;
	req->body_len = 0;
	snprintf(inv->content_type, sizeof(inv->content_type), "%s", ct ? ct : json_ct);
}

/* The error type: errorType of a JSON body, else the header, else "Unhandled". */
void runtime_error_type(const char *body, size_t len, const char *h, char *out, size_t n)
{
	json_t *root;

	out[0] = '\0';
	root = json_loadb(body, len, 0, NULL);
	if (json_is_object(root) && json_is_string(json_object_get(root, "errorType")))
		snprintf(out, n, "%s", json_string_value(json_object_get(root, "errorType")));
	json_decref(root);
	if (!out[0] && h && *h)
		snprintf(out, n, "%s", h);
	if (!out[0])
		snprintf(out, n, "Unhandled");
}

static void too_large(struct invocation *inv, struct http_request *req)
{
	char msg[160];
	struct buf b;

	snprintf(msg, sizeof(msg), "Response payload size (%zu bytes) exceeded maximum allowed "
		 "payload size (%d bytes).", req->body_seen, HOST_MAX_RESPONSE);
	api_reply_error(req, 413, "RequestEntityTooLarge", msg);
	inv->status = INV_ERROR;
	snprintf(inv->error_type, sizeof(inv->error_type), "Function.ResponseSizeTooLarge");
	buf_init(&b);
	buf_puts(&b, "{\"errorMessage\":");
	json_put_string(&b, msg);
	buf_puts(&b, ",\"errorType\":\"Function.ResponseSizeTooLarge\"}");
	free(inv->result);
	inv->result = buf_steal(&b, &inv->result_len);
}

static void stream_chunk(struct http_request *req, const char *data, size_t n, void *arg)
{
	struct invocation *inv = arg;

	(void)req;
	inv->streamed_bytes += n;
	if (inv->on_stream)
		inv->on_stream(inv, data, n, inv->answer_arg);
}

static void stream_gone(struct http_request *req, void *arg)
{
	struct invocation *inv = arg;

	/* The runtime went away midway: its exit, or the timeout, ends the invocation. */
	if (inv->stream_req == req)
		inv->stream_req = NULL;
}

/* The invocation a /response of this path would answer, or NULL. */
static struct invocation *answered_by(struct environment *env, const char *path,
				      const char **verb)
{
	char id[64];

	if (strncmp(path, PREFIX "invocation/", strlen(PREFIX "invocation/")) != 0 ||
	    parse_invocation_path(path, id, sizeof(id), verb) < 0)
		return NULL;
	if (env->host->opt.managed)
		return env_mi_find(env, id);
	return env->inv && env->state == ENV_BUSY && strcmp(env->inv->id, id) == 0 ? env->inv :
										    NULL;
}

bool runtime_api_stream(void *arg, struct http_request *req)
{
	struct environment *env = arg;
	const char *mode = http_request_header(req, "Lambda-Runtime-Function-Response-Mode");
	const char *ct = http_request_header(req, "Content-Type"), *verb = "", *q;
	struct invocation *inv;
	char path[512];

	if (req->method != HTTP_POST || !mode || strcasecmp(mode, "streaming") != 0)
		return false;
	q = strchr(req->url, '?');
	snprintf(path, sizeof(path), "%.*s", (int)(q ? (size_t)(q - req->url) : strlen(req->url)),
		 req->url);
	inv = answered_by(env, path, &verb);
	if (!inv || strcmp(verb, "response") != 0 || inv->streaming)
		return false;
	inv->streaming = true;
	inv->stream_req = req;
	inv->response_started_at = req->headers_at;
	snprintf(inv->content_type, sizeof(inv->content_type), "%s",
		 ct ? ct : "application/octet-stream");
	req->on_chunk = stream_chunk;
	req->stream_gone = stream_gone;
	req->chunk_arg = inv;
	if (inv->on_stream)
		inv->on_stream(inv, NULL, 0, inv->answer_arg);
	return true;
}

/* A streamed answer is over: success, or the error its trailers name (the type, and the
 * error's JSON in base64). */
static void stream_ended(struct invocation *inv, struct http_request *req)
{
	const char *type = http_request_header(req, "Lambda-Runtime-Function-Error-Type");
	const char *body = http_request_header(req, "Lambda-Runtime-Function-Error-Body");

	inv->stream_req = NULL;
	if (!type || !*type) {
		inv->status = INV_SUCCESS;
		return;
	}
	inv->status = INV_ERROR;
	snprintf(inv->error_type, sizeof(inv->error_type), "%s", type);
	free(inv->result);
	inv->result = NULL;
	inv->result_len = 0;
	if (body && *body)
		inv->result = base64_decode(body, strlen(body), &inv->result_len);
	if (!inv->result)
		inv->result_len = 0;
}

static void handle_invocation(struct environment *env, struct http_request *req,
			      const char *path)
{
	struct invocation *inv = env->inv;
	bool mi = env->host->opt.managed;
	const char *verb;
	char id[64];

	if (parse_invocation_path(path, id, sizeof(id), &verb) < 0 ||
	    (strcmp(verb, "response") != 0 && strcmp(verb, "error") != 0)) {
		api_reply_error(req, 404, "NotFound", "unknown Runtime API path");
		return;
	}
	if (req->method != HTTP_POST) {
		api_reply_error(req, 405, "MethodNotAllowed", "use POST");
		return;
	}
	if (mi)
		inv = env_mi_find(env, id);
	if (!inv || (!mi && (strcmp(id, inv->id) != 0 ||
			     (env->state != ENV_BUSY && env->state != ENV_POST)))) {
		api_reply_error(req, 400, "InvalidRequestID", "Invalid request ID");
		return;
	}
	if (env->state == ENV_POST) {
		/* Answered already (e.g. an error after a 413): accept, change nothing. */
		if (inv->status == INV_ERROR && strcmp(verb, "error") == 0 &&
		    inv->runtime_done_at == 0) {
			api_reply_accepted(req);
			return;
		}
		api_reply_error(req, 400, "InvalidRequestID", "Invalid request ID: already answered");
		return;
	}
	if (!req->streamed)
		inv->response_started_at = req->headers_at;
	inv->response_done_at = req->received_at;
	if (req->streamed) {
		/* Its bytes went to the caller as they came; a failure midway is in its
		 * trailers. */
		stream_ended(inv, req);
		api_reply_accepted(req);
	} else if (strcmp(verb, "response") == 0) {
		const char *mode = http_request_header(req, "Lambda-Runtime-Function-Response-Mode");

		if (mode && strcasecmp(mode, "streaming") != 0) {
			api_reply_error(req, 400, "InvalidFunctionResponseMode",
					"Lambda-Runtime-Function-Response-Mode must be streaming");
			inv->status = INV_ERROR;
			snprintf(inv->error_type, sizeof(inv->error_type),
				 "Runtime.InvalidResponseModeHeader");
		} else if (req->body_too_large || req->body_len > HOST_MAX_RESPONSE) {
			too_large(inv, req);
		} else {
			take_body(inv, req);
			inv->status = INV_SUCCESS;
			api_reply_accepted(req);
		}
	} else {
		runtime_error_type(req->body, req->body_len,
				   http_request_header(req, "Lambda-Runtime-Function-Error-Type"),
				   inv->error_type, sizeof(inv->error_type));
		take_body(inv, req);
		inv->status = INV_ERROR;
		api_reply_accepted(req);
	}
	if (mi) {
		host_answer(env->host, inv);
		env_mi_finish(env, inv);	/* no runtimeDone: the report now */
		return;
	}
	env->state = ENV_POST;
	host_answer(env->host, inv);
}

static void handle_init_error(struct environment *env, struct http_request *req)
{
	if (req->method != HTTP_POST) {
		api_reply_error(req, 405, "MethodNotAllowed", "use POST");
		return;
	}
	if (env->state != ENV_STARTING) {
		api_reply_error(req, 403, "InvalidStateTransition",
				"init/error is only allowed during init");
		return;
	}
	runtime_error_type(req->body, req->body_len,
			   http_request_header(req, "Lambda-Runtime-Function-Error-Type"),
			   env->init_error, sizeof(env->init_error));
	api_reply_accepted(req);
	/* Lambda waits for the runtime to exit; the exit finishes the failed init. */
}

static void on_restore_abort(struct http_request *req, void *arg)
{
	struct environment *env = arg;

	if (env->restore_req == req)
		env->restore_req = NULL;
}

/* SnapStart: the runtime's init is done and its before-snapshot hooks ran; it waits here
 * until a restore (answered by env_restore). This ends the runtime's init as its first /next
 * would. */
static void handle_restore_next(struct environment *env, struct http_request *req)
{
	if (req->method != HTTP_GET) {
		api_reply_error(req, 405, "MethodNotAllowed", "use GET");
		return;
	}
	if (env->state != ENV_STARTING || env->runtime_parked_first || env->restore_req) {
		api_reply_error(req, 403, "InvalidStateTransition",
				"restore/next is only allowed once, at the end of init");
		return;
	}
	env->restore_req = req;
	req->on_abort = on_restore_abort;
	req->abort_arg = env;
	runtime_init_done(env);
	env_check_init_done(env);
}

static void handle_restore_error(struct environment *env, struct http_request *req)
{
	char type[128];

	if (req->method != HTTP_POST) {
		api_reply_error(req, 405, "MethodNotAllowed", "use POST");
		return;
	}
	if (env->state != ENV_STARTING || env->restore_at == 0) {
		api_reply_error(req, 403, "InvalidStateTransition",
				"restore/error is only allowed during a restore");
		return;
	}
	runtime_error_type(req->body, req->body_len,
			   http_request_header(req, "Lambda-Runtime-Function-Error-Type"), type,
			   sizeof(type));
	api_reply_accepted(req);
	env_restore_done(env, type);
}

void runtime_api_handle(struct environment *env, struct http_request *req, const char *path)
{
	if (strcmp(path, PREFIX "invocation/next") == 0)
		handle_next(env, req);
	else if (strncmp(path, PREFIX "invocation/", strlen(PREFIX "invocation/")) == 0)
		handle_invocation(env, req, path);
	else if (strcmp(path, PREFIX "init/error") == 0)
		handle_init_error(env, req);
	else if (strcmp(path, PREFIX "restore/next") == 0 && env->host->opt.snapstart)
		handle_restore_next(env, req);
	else if (strcmp(path, PREFIX "restore/error") == 0 && env->host->opt.snapstart)
		handle_restore_error(env, req);
	else if (strncmp(path, PREFIX "restore/", strlen(PREFIX "restore/")) == 0)
		api_reply_error(req, 403, "InvalidStateTransition",
				"this function does not use SnapStart");
	else
		api_reply_error(req, 404, "NotFound", "unknown Runtime API path");
}
