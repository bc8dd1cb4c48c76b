/* API Gateway proxy events and answers, with jansson. See apigw.h. */
#include "apigw.h"
#include "../util/fields.h"

#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "../util/utf8.h"
#include "../util/base64.h"

json_t *json_text(const char *s, size_t n)
{
	json_t *v;
	char *fixed;

	if (utf8_valid(s, n))
		return json_stringn_nocheck(s, n);
	fixed = malloc(3 * n + 1);
	if (!fixed)
		return NULL;
	v = json_stringn_nocheck(fixed, utf8_repair(s, n, fixed));
	free(fixed);
	return v;
}

/* A JSON string of a request's text: invalid UTF-8 (a path with %FF, a header of Latin-1)
 * repaired rather than the member lost. */
static json_t *jstr(const char *s)
{
	return json_text(s, strlen(s));
}

int apigw_is_text(const char *ct, const char *body, size_t len)
{
	static const char *const text_types[] = {
		"text/", "application/json", "application/xml", "application/javascript",
		"application/x-www-form-urlencoded", "application/graphql",
	};

	if (!utf8_valid(body, len) || memchr(body, '\0', len))
		return 0;
	if (!ct || !*ct)
		return 1;
	for (size_t i = 0; i < sizeof(text_types) / sizeof(text_types[0]); i++) {
		if (strncasecmp(ct, text_types[i], strlen(text_types[i])) == 0)
			return 1;
	}
	/* application/vnd.api+json, image/svg+xml … */
	return strstr(ct, "+json") != NULL || strstr(ct, "+xml") != NULL;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* URL-decode n bytes of s ('+' is a space); malloc'd. */
static char *url_decode(const char *s, size_t n)
{
	char *out = malloc(n + 1);
	size_t o = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '+') {
			out[o++] = ' ';
		} else if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
			   hexval(s[i + 2]) >= 0) {
			out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	return out;
}

/* Add value under key: v2 joins duplicates with commas; multi (if any) collects arrays. */
static void add_joined(json_t *single, json_t *multi, const char *key, const char *value,
		       int join)
{
	json_t *old = json_object_get(single, key);

	if (old && join) {
		size_t ol = strlen(json_string_value(old)), vl = strlen(value);
		char *joined = malloc(ol + vl + 2);

		if (joined) {
			memcpy(joined, json_string_value(old), ol);
			joined[ol] = ',';
			memcpy(joined + ol + 1, value, vl + 1);
			json_object_set_new(single, key, jstr(joined));
			free(joined);
		}
	} else {
		json_object_set_new(single, key, jstr(value));
	}
	if (multi) {
		json_t *arr = json_object_get(multi, key);

		if (!arr) {
			arr = json_array();
			json_object_set_new(multi, key, arr);
		}
		json_array_append_new(arr, jstr(value));
	}
}

static void parse_query(const char *q, json_t *single, json_t *multi, int join)
{
	while (q && *q) {
		const char *amp = strchr(q, '&'), *eq;
		size_t n = amp ? (size_t)(amp - q) : strlen(q);
		char *k, *v;

		eq = memchr(q, '=', n);
		k = url_decode(q, eq ? (size_t)(eq - q) : n);
		v = eq ? url_decode(eq + 1, n - (size_t)(eq - q) - 1) : strdup("");
		if (k && v && *k)
			add_joined(single, multi, k, v, join);
		free(k);
		free(v);
		q = amp ? amp + 1 : NULL;
	}
}

static void time_strings(int64_t epoch_ms, char out[40])
{
	static const char *const mon[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t t = (time_t)(epoch_ms / 1000);
	struct tm tm;

	utc_tm((long long)t, &tm);
	snprintf(out, 40, "%02d/%s/%04d:%02d:%02d:%02d +0000", tm.tm_mday, mon[tm.tm_mon],
		 tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

static const char *header_value(const struct apigw_request *r, const char *name)
{
	for (size_t i = 0; i < r->nheaders; i++) {
		if (strcasecmp(r->headers[i].name, name) == 0)
			return r->headers[i].value;
	}
	return NULL;
}

static json_t *body_fields(json_t *ev, const struct apigw_request *r)
{
	const char *ct = header_value(r, "content-type");

	if (r->body_len == 0) {
		json_object_set_new(ev, "isBase64Encoded", json_false());
		return ev;
	}
	if (apigw_is_text(ct, r->body, r->body_len)) {
		json_object_set_new(ev, "body", json_stringn(r->body, r->body_len));
		json_object_set_new(ev, "isBase64Encoded", json_false());
	} else {
		char *b64 = base64_encode(r->body, r->body_len, NULL);

		json_object_set_new(ev, "body", jstr(b64 ? b64 : ""));
		json_object_set_new(ev, "isBase64Encoded", json_true());
		free(b64);
	}
	return ev;
}

static json_t *event_v2(const struct apigw_request *r, const char *path, const char *query)
{
	json_t *ev = json_object(), *headers = json_object(), *qs = json_object();
	json_t *cookies = json_array(), *ctx = json_object(), *http = json_object();
	const char *host = header_value(r, "host"), *ua = header_value(r, "user-agent");
	char when[40];

	for (size_t i = 0; i < r->nheaders; i++) {
		char lower[256];
		size_t k;

		for (k = 0; k < sizeof(lower) - 1 && r->headers[i].name[k]; k++)
			lower[k] = (char)tolower((unsigned char)r->headers[i].name[k]);
		lower[k] = '\0';
		if (strcmp(lower, "cookie") == 0) {
			char *copy = strdup(r->headers[i].value), *save = NULL;

			for (char *c = copy ? strtok_r(copy, ";", &save) : NULL; c;
			     c = strtok_r(NULL, ";", &save)) {
				while (*c == ' ')
					c++;
				if (*c)
					json_array_append_new(cookies, jstr(c));
			}
			free(copy);
			continue;
		}
		add_joined(headers, NULL, lower, r->headers[i].value, 1);
	}
	parse_query(query, qs, NULL, 1);
	time_strings(r->time_epoch_ms, when);
	json_object_set_new(ev, "version", jstr("2.0"));
	json_object_set_new(ev, "routeKey", jstr("$default"));
	json_object_set_new(ev, "rawPath", jstr(path));
	json_object_set_new(ev, "rawQueryString", jstr(query ? query : ""));
	if (json_array_size(cookies))
		json_object_set(ev, "cookies", cookies);
	json_decref(cookies);
	json_object_set_new(ev, "headers", headers);
	if (json_object_size(qs))
		json_object_set(ev, "queryStringParameters", qs);
	json_decref(qs);
	json_object_set_new(http, "method", jstr(r->method));
	json_object_set_new(http, "path", jstr(path));
	json_object_set_new(http, "protocol", jstr(r->protocol));
	json_object_set_new(http, "sourceIp", jstr(r->source_ip));
	json_object_set_new(http, "userAgent", jstr(ua ? ua : ""));
	json_object_set_new(ctx, "accountId", jstr("000000000000"));
	json_object_set_new(ctx, "apiId", jstr("vigil"));
	json_object_set_new(ctx, "domainName", jstr(host ? host : "localhost"));
	json_object_set_new(ctx, "domainPrefix", jstr("vigil"));
	json_object_set_new(ctx, "http", http);
	json_object_set_new(ctx, "requestId", jstr(r->request_id));
	json_object_set_new(ctx, "routeKey", jstr("$default"));
	json_object_set_new(ctx, "stage", jstr("$default"));
	json_object_set_new(ctx, "time", jstr(when));
	json_object_set_new(ctx, "timeEpoch", json_integer(r->time_epoch_ms));
	json_object_set_new(ev, "requestContext", ctx);
	return body_fields(ev, r);
}

static json_t *event_v1(const struct apigw_request *r, const char *path, const char *query)
{
	json_t *ev = json_object(), *headers = json_object(), *mheaders = json_object();
	json_t *qs = json_object(), *mqs = json_object(), *ctx = json_object();
	json_t *identity = json_object(), *params = json_object();
	const char *host = header_value(r, "host"), *ua = header_value(r, "user-agent");
	char when[40];

	for (size_t i = 0; i < r->nheaders; i++)
		add_joined(headers, mheaders, r->headers[i].name, r->headers[i].value, 0);
	parse_query(query, qs, mqs, 0);
	time_strings(r->time_epoch_ms, when);
	json_object_set_new(params, "proxy", jstr(path[0] == '/' ? path + 1 : path));
	json_object_set_new(ev, "resource", jstr("/{proxy+}"));
	json_object_set_new(ev, "path", jstr(path));
	json_object_set_new(ev, "httpMethod", jstr(r->method));
	json_object_set_new(ev, "headers", headers);
	json_object_set_new(ev, "multiValueHeaders", mheaders);
	if (json_object_size(qs)) {
		json_object_set(ev, "queryStringParameters", qs);
		json_object_set(ev, "multiValueQueryStringParameters", mqs);
	} else {
		json_object_set_new(ev, "queryStringParameters", json_null());
		json_object_set_new(ev, "multiValueQueryStringParameters", json_null());
	}
	json_decref(qs);
	json_decref(mqs);
	json_object_set_new(ev, "pathParameters", params);
	json_object_set_new(ev, "stageVariables", json_null());
	json_object_set_new(identity, "sourceIp", jstr(r->source_ip));
	json_object_set_new(identity, "userAgent", jstr(ua ? ua : ""));
	json_object_set_new(ctx, "accountId", jstr("000000000000"));
	json_object_set_new(ctx, "apiId", jstr("vigil"));
	json_object_set_new(ctx, "resourceId", jstr("proxy"));
	json_object_set_new(ctx, "resourcePath", jstr("/{proxy+}"));
	json_object_set_new(ctx, "stage", jstr("local"));
	json_object_set_new(ctx, "requestId", jstr(r->request_id));
	json_object_set_new(ctx, "extendedRequestId", jstr(r->request_id));
	json_object_set_new(ctx, "httpMethod", jstr(r->method));
	json_object_set_new(ctx, "path", jstr(path));
	json_object_set_new(ctx, "protocol", jstr(r->protocol));
	json_object_set_new(ctx, "requestTime", jstr(when));
	json_object_set_new(ctx, "requestTimeEpoch", json_integer(r->time_epoch_ms));
	json_object_set_new(ctx, "domainName", jstr(host ? host : "localhost"));
	json_object_set_new(ctx, "domainPrefix", jstr("vigil"));
	json_object_set_new(ctx, "identity", identity);
	json_object_set_new(ev, "requestContext", ctx);
	if (r->body_len == 0)
		json_object_set_new(ev, "body", json_null());
	return body_fields(ev, r);
}

char *apigw_event(const struct apigw_request *r, enum apigw_payload v, size_t *len)
{
	const char *q = strchr(r->target, '?');
	char *path = q ? strndup(r->target, (size_t)(q - r->target)) : strdup(r->target);
	json_t *ev;
	char *text;

	if (!path)
		return NULL;
	ev = v == APIGW_V2 ? event_v2(r, path, q ? q + 1 : NULL) :
			     event_v1(r, path, q ? q + 1 : NULL);
	free(path);
	text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	json_decref(ev);
	if (text && len)
		*len = strlen(text);
	return text;
}

static int add_header(struct apigw_response *out, const char *name, const char *value)
{
	struct http_header *h = realloc(out->headers, (out->nheaders + 1) * sizeof(*h));

	if (!h)
		return -ENOMEM;
	out->headers = h;
	h[out->nheaders].name = strdup(name);
	h[out->nheaders].value = strdup(value);
	out->nheaders++;
	if (!h[out->nheaders - 1].name || !h[out->nheaders - 1].value)
		return -ENOMEM;
	return 0;
}

/* Header values may be strings, numbers or booleans; anything else is malformed. */
static int scalar_text(json_t *v, char *out, size_t n)
{
	if (json_is_string(v))
		snprintf(out, n, "%s", json_string_value(v));
	else if (json_is_integer(v))
		snprintf(out, n, "%lld", (long long)json_integer_value(v));
	else if (json_is_real(v))
		snprintf(out, n, "%g", json_real_value(v));
	else if (json_is_boolean(v))
		snprintf(out, n, "%s", json_is_true(v) ? "true" : "false");
	else
		return -EINVAL;
	return 0;
}

static int header_valid(const char *name, const char *value)
{
	if (!*name || strpbrk(name, " \t\r\n:") || strpbrk(value, "\r\n"))
		return 0;
	return 1;
}

static int has_header(const struct apigw_response *out, const char *name)
{
	for (size_t i = 0; i < out->nheaders; i++) {
		if (strcasecmp(out->headers[i].name, name) == 0)
			return 1;
	}
	return 0;
}

/* statusCode (a number, or a numeric string) and the types of the other members. */
static int answer_shape(json_t *root, struct apigw_response *out, char *err, size_t errlen)
{
	static const struct {
		const char *name, *what;
		json_type type;		/* JSON_TRUE: a boolean */
	} members[] = {
		{ "headers", "an object", JSON_OBJECT },
		{ "multiValueHeaders", "an object", JSON_OBJECT },
		{ "body", "a string", JSON_STRING },
		{ "isBase64Encoded", "a boolean", JSON_TRUE },
	};
	json_t *status = json_object_get(root, "statusCode");

	if (json_is_integer(status)) {
		out->status = (int)json_integer_value(status);
	} else if (json_is_string(status) && *json_string_value(status)) {
		char *end;

		out->status = (int)strtol(json_string_value(status), &end, 10);
		if (*end)
			out->status = 0;
	}
	if (out->status < 100 || out->status > 599) {
		snprintf(err, errlen, "statusCode is not an HTTP status");
		return -EINVAL;
	}
	for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++) {
		json_t *m = json_object_get(root, members[i].name);
		bool ok = !m || json_is_null(m) ||
			  (members[i].type == JSON_TRUE ? json_is_boolean(m) :
							  json_typeof(m) == members[i].type);

		if (!ok) {
			snprintf(err, errlen, "%s is not %s", members[i].name, members[i].what);
			return -EINVAL;
		}
	}
	return 0;
}

/* multiValueHeaders, then headers (the first wins for a name), then v2's cookies. */
static int answer_headers(enum apigw_payload v, json_t *root, struct apigw_response *out,
			  char *err, size_t errlen)
{
	json_t *cookies = json_object_get(root, "cookies"), *val, *item;
	char value[8192];
	const char *key;
	size_t i;

	json_object_foreach(json_object_get(root, "multiValueHeaders"), key, val) {
		if (!json_is_array(val)) {
			snprintf(err, errlen, "multiValueHeaders.%s is not an array", key);
			return -EINVAL;
		}
		json_array_foreach(val, i, item) {
			if (scalar_text(item, value, sizeof(value)) < 0 || !header_valid(key, value)) {
				snprintf(err, errlen, "multiValueHeaders.%s has a bad value", key);
				return -EINVAL;
			}
			if (add_header(out, key, value) < 0)
				return -ENOMEM;
		}
	}
	json_object_foreach(json_object_get(root, "headers"), key, val) {
		if (scalar_text(val, value, sizeof(value)) < 0 || !header_valid(key, value)) {
			snprintf(err, errlen, "headers.%s has a bad value", key);
			return -EINVAL;
		}
		if (!has_header(out, key) && add_header(out, key, value) < 0)
			return -ENOMEM;
	}
	if (v != APIGW_V2 || !cookies || json_is_null(cookies))
		return 0;
	if (!json_is_array(cookies)) {
		snprintf(err, errlen, "cookies is not an array");
		return -EINVAL;
	}
	json_array_foreach(cookies, i, item) {
		if (!json_is_string(item) || !header_valid("x", json_string_value(item))) {
			snprintf(err, errlen, "cookies[%zu] is not a string", i);
			return -EINVAL;
		}
		if (add_header(out, "Set-Cookie", json_string_value(item)) < 0)
			return -ENOMEM;
	}
	return 0;
}

/* body, base64-decoded when isBase64Encoded. */
static int answer_body(json_t *root, struct apigw_response *out, char *err, size_t errlen)
{
	json_t *body = json_object_get(root, "body");
	const char *text = json_string_value(body);
	size_t len = json_string_length(body);

	if (!text)
		return 0;
	if (json_is_true(json_object_get(root, "isBase64Encoded"))) {
		out->body = base64_decode(text, len, &out->body_len);
		if (!out->body) {
			snprintf(err, errlen, "body is not base64");
			return -EINVAL;
		}
		return 0;
	}
	out->body = malloc(len + 1);
	if (!out->body)
		return -ENOMEM;
	memcpy(out->body, text, len + 1);
	out->body_len = len;
	return 0;
}

static int structured(enum apigw_payload v, json_t *root, struct apigw_response *out,
		      char *err, size_t errlen)
{
	int rc = answer_shape(root, out, err, errlen);

	if (rc == 0)
		rc = answer_headers(v, root, out, err, errlen);
	if (rc == 0)
		rc = answer_body(root, out, err, errlen);
	if (rc == 0 && v == APIGW_V2 && !has_header(out, "content-type") &&
	    add_header(out, "Content-Type", "application/json") < 0)
		rc = -ENOMEM;
	return rc;
}

int apigw_map_response(enum apigw_payload v, const char *result, size_t len,
		       struct apigw_response *out, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root;
	int rc;

	memset(out, 0, sizeof(*out));
	if (len == 0 && v == APIGW_V2) {
		/* A handler that returned nothing: 200 with an empty body. */
		out->status = 200;
		out->body = calloc(1, 1);
		return out->body ? 0 : -ENOMEM;
	}
	root = json_loadb(result, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
	if (!root) {
		snprintf(err, errlen, "not JSON: %s", jerr.text);
		return -EINVAL;
	}
	if (json_is_object(root) && json_object_get(root, "statusCode")) {
		rc = structured(v, root, out, err, errlen);
	} else if (v == APIGW_V1) {
		snprintf(err, errlen, "no statusCode");
		rc = -EINVAL;
	} else {
		/* 2.0 infers 200 application/json; a bare string becomes the body itself. */
		out->status = 200;
		rc = add_header(out, "Content-Type", "application/json");
		if (json_is_string(root)) {
			out->body_len = json_string_length(root);
			out->body = malloc(out->body_len + 1);
			if (out->body)
				memcpy(out->body, json_string_value(root), out->body_len + 1);
		} else {
			out->body = malloc(len + 1);
			if (out->body) {
				memcpy(out->body, result, len);
				out->body[len] = '\0';
			}
			out->body_len = len;
		}
		if (!out->body)
			rc = -ENOMEM;
	}
	json_decref(root);
	if (rc < 0)
		apigw_response_free(out);
	return rc;
}

void apigw_response_free(struct apigw_response *r)
{
	http_headers_free(r->headers, r->nheaders);
	free(r->body);
	memset(r, 0, sizeof(*r));
}
