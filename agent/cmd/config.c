/* The configuration table and its three readers (defaults, file, environment). */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../util/log.h"
#include "../util/netaddr.h"
#include "../util/redact.h"

#define KEY(field) offsetof(struct vigil_config, field)

const struct config_key config_keys[] = {
	{ "log_level", CFG_LOGLEVEL, "info", 0, 0,
	  "Lowest level of vigil's own log lines on stderr: debug, info, warn, error or off.",
	  KEY(log_level) },
	{ "metrics_enabled", CFG_BOOL, "true", 0, 0,
	  "Serve the Prometheus endpoint.", KEY(metrics_enabled) },
	{ "metrics_listen", CFG_ADDR, "127.0.0.1:9464", 0, 0,
	  "Address of the Prometheus endpoint (HOST:PORT, [IPv6]:PORT; port 0 picks a free one).",
	  KEY(metrics_listen) },
	{ "metrics_max_connections", CFG_INT, "256", 1, 65536,
	  "Concurrent connections the Prometheus endpoint accepts; more are refused.",
	  KEY(metrics_max_connections) },
	{ "metrics_conn_timeout", CFG_INT, "10", 1, 3600,
	  "Seconds an idle or slow connection to the Prometheus endpoint may stay open.",
	  KEY(metrics_conn_timeout) },
	{ "metrics_max_series", CFG_INT, "2000", 1, 1000000,
	  "Cardinality cap: series one metric may have; more are refused and counted.",
	  KEY(metrics_max_series) },
	{ "metrics_token", CFG_SECRET, "", 0, CONFIG_STR_MAX - 1,
	  "Bearer token required on /metrics (empty: none). Never printed.",
	  KEY(metrics_token) },
	{ "telemetry_listen", CFG_ADDR, "sandbox.localdomain:4243", 0, 0,
	  "Extension: where the Telemetry API listener binds. Lambda posts to "
	  "sandbox.localdomain: that name's address in /etc/hosts, else 127.0.0.1 (never all "
	  "interfaces unless set so); tests use 127.0.0.1:0.",
	  KEY(telemetry_listen) },
	{ "telemetry_max_items", CFG_INT, "10000", 1000, 10000,
	  "Extension: Telemetry API buffering.maxItems (the most: Lambda queues 4 x maxBytes "
	  "per subscriber and drops what does not fit).", KEY(telemetry_max_items) },
	{ "telemetry_max_bytes", CFG_INT, "1048576", 262144, 1048576,
	  "Extension: Telemetry API buffering.maxBytes (the most: the largest queue, the "
	  "fewest lines dropped in a burst).", KEY(telemetry_max_bytes) },
	{ "telemetry_timeout_ms", CFG_INT, "25", 25, 30000,
	  "Extension: Telemetry API buffering.timeoutMs (low: reports arrive soon).",
	  KEY(telemetry_timeout_ms) },
	{ "flush", CFG_FLUSH, "adaptive", 0, 0,
	  "Extension: when reports are exported: adaptive (while thawed for the next invoke, "
	  "batched when busy), end (before each next), or periodic,SECONDS.",
	  KEY(flush) },
	{ "managed_flush_ms", CFG_INT, "5000", 100, 300000,
	  "Extension on Lambda Managed Instances (never frozen, no INVOKE events): reports "
	  "are exported on this timer.", KEY(managed_flush_ms) },
	{ "tenant_label", CFG_BOOL, "false", 0, 0,
	  "Tenant isolation: count invocations by tenant in vigil_tenant_invocations_total "
	  "(one series per tenant: off unless asked).", KEY(tenant_label) },
	{ "tenant_label_max", CFG_INT, "100", 1, 100000,
	  "Tenants labelled at most; later ones count as \"other\" (and in "
	  "vigil_tenants_over_limit_total).", KEY(tenant_label_max) },
	{ "emf_enabled", CFG_BOOL, "true", 0, 0,
	  "Extension: CloudWatch Embedded Metric Format lines on stdout.", KEY(emf_enabled) },
	{ "emf_namespace", CFG_STR, "vigil", 0, 255,
	  "Extension: the EMF namespace (not starting with AWS/).", KEY(emf_namespace) },
	{ "report_lines", CFG_BOOL, "false", 0, 0,
	  "Extension: a Lambda-like one-line summary per invocation on stderr.",
	  KEY(report_lines) },
	{ "architecture", CFG_ARCH, "auto", 0, 0,
	  "Extension: x86_64, arm64, or auto (this machine's), for the price table.",
	  KEY(architecture) },
	{ "proxy_listen", CFG_ADDR, "127.0.0.1:9009", 0, 0,
	  "Extension: where its Runtime API proxy listens when AWS_LAMBDA_EXEC_WRAPPER is "
	  "vigil-wrapper (the wrapper points the runtime there).",
	  KEY(proxy_listen) },
	{ "statsd_listen", CFG_ADDR, "127.0.0.1:8125", 1, 0,
	  "Extension: the StatsD/DogStatsD listener (UDP) for the function's own metrics; off: "
	  "none.", KEY(statsd_listen) },
	{ "otlp_receiver_http_listen", CFG_ADDR, "127.0.0.1:4318", 1, 0,
	  "Extension: the OTLP/HTTP receiver for the function's own telemetry (its SDK exports "
	  "to http://localhost:4318); off: none.", KEY(otlp_receiver_http_listen) },
	{ "otlp_receiver_grpc_listen", CFG_ADDR, "127.0.0.1:4317", 1, 0,
	  "Extension: the OTLP/gRPC receiver (cleartext HTTP/2); off: none.",
	  KEY(otlp_receiver_grpc_listen) },
	{ "otlp_receiver_max_mb", CFG_INT, "4", 1, 64,
	  "Extension: the largest OTLP request the receivers take (inflated); larger ones are "
	  "refused (413, RESOURCE_EXHAUSTED).", KEY(otlp_receiver_max_mb) },
	{ "emf_metrics", CFG_BOOL, "true", 0, 0,
	  "Take the metrics of EMF documents the function prints into the registry (the lines "
	  "stay in its output).", KEY(emf_metrics) },
	{ "custom_metrics_max", CFG_INT, "1000", 1, 100000,
	  "The function's own metrics (EMF, StatsD, OTLP) kept at most; more are refused and "
	  "counted.", KEY(custom_metrics_max) },
	{ "custom_metrics_max_series", CFG_INT, "1000", 1, 1000000,
	  "Series one of the function's own metrics may have; more are refused and counted.",
	  KEY(custom_metrics_max_series) },
	{ "logs_enabled", CFG_BOOL, "true", 0, 0,
	  "Keep the function's, extensions' and platform's log lines as segments in log_dir "
	  "(vigil host and vigil extension).", KEY(logs_enabled) },
	{ "log_dir", CFG_STR, "/tmp/vigil/logs", 0, 255,
	  "Where log segments go (/tmp is the only writable place in Lambda); "
	  "`vigil logs` reads it.", KEY(log_dir) },
	{ "log_segment_mb", CFG_INT, "64", 1, 4096,
	  "A segment is closed past this size (or an hour).", KEY(log_segment_mb) },
	{ "log_retention_mb", CFG_INT, "256", 1, 1048576,
	  "Oldest segments are deleted past this total.", KEY(log_retention_mb) },
	{ "log_retention_hours", CFG_INT, "168", 1, 87600,
	  "Segments older than this are deleted.", KEY(log_retention_hours) },
	{ "log_fsync", CFG_INT, "0", 0, 2,
	  "0: never fsync, 1: after every block, 2: when a segment closes.", KEY(log_fsync) },
	{ "log_group", CFG_STR, "", 0, 63,
	  "A group (name or number) given read access to the segments (0640) and their folder "
	  "(0750), e.g. for a log shipper; empty: the writer's own group.", KEY(log_group) },
	{ "log_queue_mb", CFG_INT, "8", 1, 1024,
	  "Lines waiting for the writer past this are dropped and counted.", KEY(log_queue_mb) },
	{ "remote_write_url", CFG_STR, "", 0, CONFIG_STR_MAX - 1,
	  "Prometheus remote_write endpoint, http[s]://HOST[:PORT]/PATH (a name, an IPv4 "
	  "address or [IPv6]); empty: no push. vigil extension pushes at every export.",
	  KEY(remote_write_url) },
	{ "remote_write_ca_file", CFG_STR, "", 0, CONFIG_STR_MAX - 1,
	  "PEM bundle of the CAs trusted for an https:// remote_write_url; empty: "
	  "$SSL_CERT_FILE, else the system's (/etc/ssl/certs/ca-certificates.crt, "
	  "/etc/pki/tls/certs/ca-bundle.crt in Lambda).", KEY(remote_write_ca_file) },
	{ "remote_write_tls_skip_verify", CFG_BOOL, "false", 0, 0,
	  "Accept any certificate from the remote_write endpoint (testing only: anyone on the "
	  "path can read the pushes and the credentials).", KEY(remote_write_tls_skip_verify) },
	{ "remote_write_username", CFG_STR, "", 0, CONFIG_STR_MAX - 1,
	  "Basic auth user for remote_write.", KEY(remote_write_username) },
	{ "remote_write_password", CFG_SECRET, "", 0, CONFIG_STR_MAX - 1,
	  "Basic auth password for remote_write.", KEY(remote_write_password) },
	{ "remote_write_bearer_token", CFG_SECRET, "", 0, CONFIG_STR_MAX - 1,
	  "Bearer token for remote_write (wins over basic auth).", KEY(remote_write_bearer_token) },
	{ "remote_write_timeout_ms", CFG_INT, "2000", 50, 60000,
	  "Connect, send and receive timeout of each push.", KEY(remote_write_timeout_ms) },
	{ "remote_write_interval_ms", CFG_INT, "1000", 0, 3600000,
	  "At most one push per this interval: exports asked for meanwhile coalesce into the "
	  "next (its snapshot is taken when it goes); SHUTDOWN pushes at once. 0: every export.",
	  KEY(remote_write_interval_ms) },
	{ "remote_write_retries", CFG_INT, "3", 0, 10,
	  "Retries of a push answered 5xx or 429 or not answered (backoff 0.1 s doubling, at most "
	  "2 s).", KEY(remote_write_retries) },
	{ "otlp_endpoint", CFG_STR, "", 0, CONFIG_STR_MAX - 1,
	  "OTLP/HTTP export: the base URL (http[s]://HOST[:PORT][/PATH]); logs, traces and "
	  "metrics go to PATH/v1/logs, /v1/traces, /v1/metrics. Empty: no OTLP export, unless "
	  "the standard OTEL_EXPORTER_OTLP_* variables name one.", KEY(otlp_endpoint) },
	{ "otlp_logs_endpoint", CFG_STR, "", 0, CONFIG_STR_MAX - 1,
	  "OTLP: the logs' full URL (wins over otlp_endpoint).", KEY(otlp_logs_endpoint) },
	{ "otlp_traces_endpoint", CFG_STR, "", 0, CONFIG_STR_MAX - 1,
	  "OTLP: the traces' full URL (wins over otlp_endpoint).", KEY(otlp_traces_endpoint) },
	{ "otlp_metrics_endpoint", CFG_STR, "", 0, CONFIG_STR_MAX - 1,
	  "OTLP: the metrics' full URL (wins over otlp_endpoint).", KEY(otlp_metrics_endpoint) },
	{ "otlp_headers", CFG_SECRET, "", 0, CONFIG_STR_MAX - 1,
	  "OTLP: request headers, key=value,... (percent-encoded, as OTEL_EXPORTER_OTLP_HEADERS); "
	  "masked in config print, never logged.", KEY(otlp_headers) },
	{ "otlp_compression", CFG_CHOICE, "gzip", 0, 0,
	  "OTLP: request bodies compressed with gzip, zstd, or none.", KEY(otlp_compression) },
	{ "otlp_timeout_ms", CFG_INT, "10000", 100, 60000,
	  "OTLP: timeout of each request's connect, send and answer.", KEY(otlp_timeout_ms) },
	{ "otlp_ca_file", CFG_STR, "", 0, CONFIG_STR_MAX - 1,
	  "OTLP over https: the CA bundle (PEM) to check the backend with; empty: the system's.",
	  KEY(otlp_ca_file) },
	{ "otlp_logs", CFG_BOOL, "true", 0, 0,
	  "OTLP: ship the log records (from the log segments, with a cursor on disk).",
	  KEY(otlp_logs) },
	{ "otlp_traces", CFG_BOOL, "true", 0, 0,
	  "OTLP: an invoke span per invocation (and init on cold starts).", KEY(otlp_traces) },
	{ "otlp_metrics", CFG_BOOL, "true", 0, 0,
	  "OTLP: the metrics (cumulative).", KEY(otlp_metrics) },
	{ "otlp_metrics_temporality", CFG_CHOICE, "cumulative", 0, 0,
	  "OTLP: counters and histograms as cumulative series, or as deltas since the last "
	  "export the backend took (some backends want them).", KEY(otlp_metrics_temporality) },
	{ "otlp_traces_unsampled", CFG_BOOL, "false", 0, 0,
	  "OTLP: export the spans of invocations whose trace header says Sampled=0 too.",
	  KEY(otlp_traces_unsampled) },
	{ "otlp_interval_ms", CFG_INT, "1000", 0, 3600000,
	  "OTLP: logs are looked for and metrics sent at most this often (and at each flush; "
	  "0: at flushes only).", KEY(otlp_interval_ms) },
	{ "otlp_batch_records", CFG_INT, "4096", 1, 100000,
	  "OTLP: log records per request at most.", KEY(otlp_batch_records) },
	{ "otlp_queue_spans", CFG_INT, "10000", 10, 1000000,
	  "OTLP: spans waiting to be sent at most (past it they are dropped and counted).",
	  KEY(otlp_queue_spans) },
	{ "coldstart", CFG_CHOICE, "off", 0, 0,
	  "Record where each cold start's time went, kept in the log segments for `vigil "
	  "coldstart`: off, preload (vigil-preload.so in the runtime; in Lambda with "
	  "AWS_LAMBDA_EXEC_WRAPPER=/opt/vigil-wrapper) or probes (vigil host: the eBPF probes).",
	  KEY(coldstart) },
	{ "probes_enabled", CFG_BOOL, "true", 0, 0,
	  "vigil host: eBPF probes on each environment's processes (needs root or CAP_BPF and "
	  "CAP_PERFMON, and kernel BTF; without them vigil says why once and uses /proc and "
	  "cgroup files).", KEY(probes_enabled) },
	{ "probes_attach", CFG_ATTACH, "auto", 0, 0,
	  "How the probes attach: auto (tp_btf, else raw_tp), tp_btf or raw_tp.",
	  KEY(probes_attach) },
	{ "probes_ring_kb", CFG_INT, "1024", 64, 262144,
	  "Ring buffer of probe events, KiB (rounded up to a power of two); a full buffer "
	  "drops events and counts them.", KEY(probes_ring_kb) },
	{ "price_gb_second_x86_64", CFG_DOUBLE, "0.0000166667", 0, 1,
	  "USD per GB-second on x86_64 (us-east-1).", KEY(price_gb_second_x86_64) },
	{ "price_gb_second_arm64", CFG_DOUBLE, "0.0000133334", 0, 1,
	  "USD per GB-second on arm64 (us-east-1).", KEY(price_gb_second_arm64) },
	{ "price_per_request", CFG_DOUBLE, "0.0000002", 0, 1,
	  "USD per request.", KEY(price_per_request) },
};

int config_flush_strategy(const char *text, enum flush_kind *kind, double *period)
{
	char *end;

	*period = 0;
	if (strcmp(text, "adaptive") == 0) {
		*kind = FLUSH_ADAPTIVE;
		return 0;
	}
	if (strcmp(text, "end") == 0) {
		*kind = FLUSH_END;
		return 0;
	}
	if (strncmp(text, "periodic,", 9) == 0) {
		*period = strtod(text + 9, &end);
		if (end != text + 9 && !*end && *period >= 0.1 && *period <= 3600) {
			*kind = FLUSH_PERIODIC;
			return 0;
		}
	}
	return -EINVAL;
}
const size_t config_nkeys = sizeof(config_keys) / sizeof(config_keys[0]);

/* A CFG_CHOICE key's values, comma-separated. */
static const char *choices(const struct config_key *k)
{
	static const struct { const char *key, *values; } table[] = {
		{ "otlp_compression", "gzip,zstd,none" },
		{ "otlp_metrics_temporality", "cumulative,delta" },
		{ "coldstart", "off,preload,probes" },
	};

	for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++)
		if (strcmp(table[i].key, k->name) == 0)
			return table[i].values;
	return "";
}

static const char *type_name(enum config_type t)
{
	static const char *const names[] = {
		[CFG_BOOL] = "bool", [CFG_INT] = "integer", [CFG_STR] = "string",
		[CFG_SECRET] = "secret", [CFG_ADDR] = "address", [CFG_LOGLEVEL] = "level",
		[CFG_DOUBLE] = "number", [CFG_FLUSH] = "strategy", [CFG_ARCH] = "architecture",
		[CFG_ATTACH] = "attach mode", [CFG_CHOICE] = "choice",
	};
	_Static_assert(sizeof(names) / sizeof(names[0]) == CFG_CHOICE + 1,
		       "a name for every config type");

	return names[t];
}

static const struct config_key *find_key(const char *name)
{
	for (size_t i = 0; i < config_nkeys; i++) {
		if (strcmp(config_keys[i].name, name) == 0)
			return &config_keys[i];
	}
	return NULL;
}

static int parse_bool(const char *v, bool *out)
{
	static const char *const yes[] = { "true", "1", "yes", "on" };
	static const char *const no[] = { "false", "0", "no", "off" };

	for (size_t i = 0; i < 4; i++) {
		if (strcasecmp(v, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(v, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return -EINVAL;
}

/* An integer key: a whole number within its range. */
/* sandbox.localdomain:PORT, which the commands turn into an address (listen_address). */
static bool sandbox_address(const char *value)
{
	struct sockaddr_storage ss;
	char numeric[64];

	if (strncasecmp(value, SANDBOX_NAME ":", sizeof(SANDBOX_NAME)) != 0)
		return false;
	snprintf(numeric, sizeof(numeric), "127.0.0.1:%s", value + sizeof(SANDBOX_NAME));
	return netaddr_parse(numeric, &ss) == 0;
}

static int set_int(const struct config_key *k, const char *value, long *out, char *err,
		   size_t errlen)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(value, &end, 10);
	if (!*value || *end || errno == ERANGE) {
		if (*value && !*end) {
			snprintf(err, errlen, "%s: %.64s is out of range %ld..%ld", k->name, value,
				 k->min, k->max);
			return -EINVAL;
		}
		snprintf(err, errlen, "%s: '%.64s' is not an integer (allowed: %ld..%ld)", k->name,
			 value, k->min, k->max);
		return -EINVAL;
	}
	if (v < k->min || v > k->max) {
		snprintf(err, errlen, "%s: %ld is out of range %ld..%ld", k->name, v, k->min, k->max);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

/* A number key: finite, within its range. */
static int set_double(const struct config_key *k, const char *value, double *out, char *err,
		      size_t errlen)
{
	char *end;
	double d;

	errno = 0;
	d = strtod(value, &end);
	if (!*value || *end || errno || d != d) {
		snprintf(err, errlen, "%s: '%.64s' is not a number (allowed: %ld..%ld)", k->name,
			 value, k->min, k->max);
		return -EINVAL;
	}
	if (d < (double)k->min || d > (double)k->max) {
		snprintf(err, errlen, "%s: %.64s is out of range %ld..%ld", k->name, value, k->min,
			 k->max);
		return -EINVAL;
	}
	*out = d;
	return 0;
}

static int set_key(struct vigil_config *c, const struct config_key *k, const char *value,
		   char *err, size_t errlen)
{
	char *field = (char *)c + k->offset;
	struct sockaddr_storage ss;
	int lvl;

	switch (k->type) {
	case CFG_BOOL:
		if (parse_bool(value, (bool *)field) < 0) {
			snprintf(err, errlen,
				 "%s: '%.64s' is not a boolean (true/false, yes/no, on/off, 1/0)",
				 k->name, value);
			return -EINVAL;
		}
		return 0;
	case CFG_INT:
		return set_int(k, value, (long *)field, err, errlen);
	case CFG_LOGLEVEL:
		lvl = log_level_parse(value);
		if (lvl < 0) {
			snprintf(err, errlen,
				 "%s: '%.64s' is not one of debug, info, warn, error, off", k->name,
				 value);
			return -EINVAL;
		}
		*(int *)field = lvl;
		return 0;
	case CFG_DOUBLE:
		return set_double(k, value, (double *)field, err, errlen);
	case CFG_FLUSH: {
		enum flush_kind kind;
		double period;

		if (config_flush_strategy(value, &kind, &period) < 0) {
			snprintf(err, errlen, "%s: '%.64s' is not adaptive, end or periodic,SECONDS "
				 "(0.1..3600)", k->name, value);
			return -EINVAL;
		}
		break;
	}
	case CFG_ARCH:
		if (strcmp(value, "auto") && strcmp(value, "x86_64") && strcmp(value, "arm64")) {
			snprintf(err, errlen, "%s: '%.64s' is not x86_64, arm64 or auto", k->name, value);
			return -EINVAL;
		}
		break;
	case CFG_ATTACH:
		if (strcmp(value, "auto") && strcmp(value, "tp_btf") && strcmp(value, "raw_tp")) {
			snprintf(err, errlen, "%s: '%.64s' is not auto, tp_btf or raw_tp", k->name,
				 value);
			return -EINVAL;
		}
		break;
	case CFG_CHOICE: {
		size_t n = strlen(value);
		const char *c = choices(k);

		while (c && *c) {
			size_t l = strcspn(c, ",");

			if (l == n && strncmp(c, value, n) == 0)
				break;
			c += l + (c[l] == ',');
		}
		if (!c || !*c) {
			snprintf(err, errlen, "%s: '%.64s' is not one of %s", k->name, value,
				 choices(k));
			return -EINVAL;
		}
		break;
	}
	case CFG_ADDR:
		if (k->min == 1 && strcmp(value, "off") == 0)
			break;	/* (a listener that can be turned off) */
		if (strlen(value) >= CONFIG_STR_MAX ||
		    (netaddr_parse(value, &ss) < 0 && !sandbox_address(value))) {
			snprintf(err, errlen,
				 "%s: '%.64s' is not HOST:PORT (a numeric IPv4 address, [IPv6], "
				 "localhost or sandbox.localdomain, and a port 0..65535)",
				 k->name, value);
			return -EINVAL;
		}
		break;
	case CFG_STR:
	case CFG_SECRET:
		if (strlen(value) > (size_t)k->max) {
			snprintf(err, errlen, "%s: value is %zu bytes, longer than the %ld allowed",
				 k->name, strlen(value), k->max);
			return -EINVAL;
		}
		break;
	}
	snprintf(field, CONFIG_STR_MAX, "%s", value);
	return 0;
}

void config_defaults(struct vigil_config *c)
{
	char err[256];

	memset(c, 0, sizeof(*c));
	for (size_t i = 0; i < config_nkeys; i++) {
		/* The defaults are checked by a unit test; a failure here is a build bug. */
		if (set_key(c, &config_keys[i], config_keys[i].def, err, sizeof(err)) < 0)
			log_error("config", "bad default: %s", err);
	}
}

int config_set(struct vigil_config *c, const char *key, const char *value, char *err,
	       size_t errlen)
{
	const struct config_key *k = find_key(key);

	if (!k) {
		snprintf(err, errlen, "unknown key '%.64s' (see 'vigil config print')", key);
		return -EINVAL;
	}
	return set_key(c, k, value, err, errlen);
}

static char *trim(char *s, char *end)
{
	while (s < end && isspace((unsigned char)*s))
		s++;
	while (end > s && isspace((unsigned char)end[-1]))
		end--;
	*end = '\0';
	return s;
}

int config_load_buffer(struct vigil_config *c, const char *name, const char *data, size_t len,
		       char *err, size_t errlen)
{
	char line[CONFIG_LINE_MAX + 1], msg[512];
	size_t pos = 0;
	unsigned lineno = 0;

	if (len > CONFIG_FILE_MAX) {
		snprintf(err, errlen, "%s: larger than %d bytes", name, CONFIG_FILE_MAX);
		return -EINVAL;
	}
	while (pos < len) {
		const char *nl = memchr(data + pos, '\n', len - pos);
		size_t ll = nl ? (size_t)(nl - (data + pos)) : len - pos;
		char *key, *value, *eq;

		lineno++;
		if (ll > CONFIG_LINE_MAX) {
			snprintf(err, errlen, "%s:%u: line longer than %d bytes", name, lineno,
				 CONFIG_LINE_MAX);
			return -EINVAL;
		}
		memcpy(line, data + pos, ll);
		line[ll] = '\0';
		pos += ll + 1;
		if (memchr(line, '\0', ll)) {
			snprintf(err, errlen, "%s:%u: NUL byte in line", name, lineno);
			return -EINVAL;
		}
		key = trim(line, line + ll);
		if (*key == '\0' || *key == '#')
			continue;
		eq = strchr(key, '=');
		if (!eq) {
			snprintf(err, errlen, "%s:%u: expected 'key = value'", name, lineno);
			return -EINVAL;
		}
		value = trim(eq + 1, key + strlen(key));
		key = trim(key, eq);
		if (strlen(value) >= 2 && value[0] == '"' && value[strlen(value) - 1] == '"') {
			value[strlen(value) - 1] = '\0';
			value++;
		}
		if (config_set(c, key, value, msg, sizeof(msg)) < 0) {
			snprintf(err, errlen, "%s:%u: %s", name, lineno, msg);
			return -EINVAL;
		}
	}
	return 0;
}

int config_load_file(struct vigil_config *c, const char *path, char *err, size_t errlen)
{
	struct stat st;
	char *data;
	ssize_t n;
	size_t got = 0;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -errno;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > CONFIG_FILE_MAX) {
		snprintf(err, errlen, "%s: not a regular file of at most %d bytes", path,
			 CONFIG_FILE_MAX);
		close(fd);
		return -EINVAL;
	}
	data = malloc((size_t)st.st_size + 1);
	if (!data) {
		close(fd);
		snprintf(err, errlen, "%s: out of memory", path);
		return -ENOMEM;
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, data + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	rc = config_load_buffer(c, path, data, got, err, errlen);
	free(data);
	return rc;
}

/* The VIGIL_* variables of envp into c. A bad or unknown one: -EINVAL with err saying which,
 * or, when lenient, said as a warning (the key keeps its value) and the rest read on. */
static int load_env(struct vigil_config *c, char *const *envp, bool lenient, char *err,
		    size_t errlen)
{
	char key[64], msg[512];
	int ignored = 0;

	for (; envp && *envp; envp++) {
		const char *e = *envp, *eq;
		size_t kl;

		if (strncmp(e, "VIGIL_", 6) != 0)
			continue;
		eq = strchr(e, '=');
		if (!eq)
			continue;
		kl = (size_t)(eq - e) - 6;
		if (kl == 0 || kl >= sizeof(key)) {
			snprintf(err, errlen, "%.*s: unknown key", (int)(eq - e > 80 ? 80 : eq - e),
				 e);
		} else {
			for (size_t i = 0; i < kl; i++)
				key[i] = (char)tolower((unsigned char)e[6 + i]);
			key[kl] = '\0';
			if (config_set(c, key, eq + 1, msg, sizeof(msg)) == 0)
				continue;
			snprintf(err, errlen, "%.*s: %s", (int)(eq - e > 80 ? 80 : eq - e), e, msg);
		}
		if (!lenient)
			return -EINVAL;
		log_warn("config", "%s (ignored: the setting keeps its value)", err);
		ignored++;
	}
	return ignored;
}

int config_load_env(struct vigil_config *c, char *const *envp, char *err, size_t errlen)
{
	return load_env(c, envp, false, err, errlen) < 0 ? -EINVAL : 0;
}

int config_load_env_lenient(struct vigil_config *c, char *const *envp)
{
	char err[600];

	return load_env(c, envp, true, err, sizeof(err));
}

static void print_value(const struct vigil_config *c, const struct config_key *k,
			struct buf *out, int mask)
{
	const char *field = (const char *)c + k->offset;

	switch (k->type) {
	case CFG_BOOL:
		buf_puts(out, *(const bool *)field ? "true" : "false");
		break;
	case CFG_INT:
		buf_put_i64(out, *(const long *)field);
		break;
	case CFG_LOGLEVEL:
		buf_puts(out, log_level_name((enum log_level) * (const int *)field));
		break;
	case CFG_DOUBLE:
		buf_printf(out, "%.10g", *(const double *)field);
		break;
	case CFG_SECRET:
		if (mask) {
			buf_puts(out, *field ? "********" : "");
			break;
		}
		/* fall through */
	case CFG_STR:
		if (mask && strstr(field, "://")) {	/* a URL: its password and credentials */
			char red[CONFIG_STR_MAX + 64];

			buf_puts(out, url_redact(field, red, sizeof(red)));
			break;
		}
		/* fall through */
	case CFG_ADDR:
	case CFG_FLUSH:
	case CFG_ARCH:
	case CFG_ATTACH:
	case CFG_CHOICE:
		buf_puts(out, field);
		break;
	}
}

void config_print(const struct vigil_config *c, struct buf *out)
{
	for (size_t i = 0; i < config_nkeys; i++) {
		buf_puts(out, config_keys[i].name);
		buf_puts(out, " = ");
		print_value(c, &config_keys[i], out, 1);
		buf_putc(out, '\n');
	}
}

/* What a key accepts, in words. */
static void put_allowed(struct buf *out, const struct config_key *k)
{
	switch (k->type) {
	case CFG_INT:
		buf_printf(out, "%ld..%ld", k->min, k->max);
		break;
	case CFG_BOOL:
		buf_puts(out, "true/false, yes/no, on/off, 1/0");
		break;
	case CFG_LOGLEVEL:
		buf_puts(out, "debug, info, warn, error, off");
		break;
	case CFG_ADDR:
		buf_puts(out, k->min == 1 ? "HOST:PORT, or off" : "HOST:PORT");
		break;
	case CFG_DOUBLE:
		buf_printf(out, "%ld..%ld", k->min, k->max);
		break;
	case CFG_FLUSH:
		buf_puts(out, "adaptive, end, periodic,SECONDS");
		break;
	case CFG_ARCH:
		buf_puts(out, "x86_64, arm64, auto");
		break;
	case CFG_ATTACH:
		buf_puts(out, "auto, tp_btf, raw_tp");
		break;
	case CFG_CHOICE:
		for (const char *c = choices(k); *c; c++) {
			if (*c == ',')
				buf_puts(out, ", ");
			else
				buf_putc(out, *c);
		}
		break;
	case CFG_STR:
	case CFG_SECRET:
		buf_printf(out, "up to %ld bytes", k->max);
		break;
	}
}

void config_markdown(struct buf *out)
{
	buf_puts(out, "# Configuration\n\n"
		      "<!-- Generated by `vigil config doc` from the table in agent/cmd/config.c. "
		      "Do not edit. -->\n\n"
		      "Every key is read, in this order (later wins), from its default, from the "
		      "file given with\n`vigil --config FILE` (`key = value` lines, `#` comments), "
		      "and from the environment variable\n`VIGIL_<KEY>` (upper case). Unknown "
		      "keys and out-of-range values are errors that name the key.\n"
		      "`vigil config print` shows the effective values, secrets masked.\n\n"
		      "| key | environment | type | default | allowed | meaning |\n"
		      "|---|---|---|---|---|---|\n");
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];

		buf_printf(out, "| `%s` | `VIGIL_", k->name);
		for (const char *p = k->name; *p; p++)
			buf_putc(out, (char)toupper((unsigned char)*p));
		buf_printf(out, "` | %s | `%s` | ", type_name(k->type), k->def);
		put_allowed(out, k);
		buf_printf(out, " | %s |\n", k->doc);
	}
}

/* A configuration file with every key commented out at its default: /etc/vigil/vigil.conf. */
void config_sample(struct buf *out)
{
	buf_puts(out, "# vigil configuration: 'key = value' lines, '#' comments.\n"
		      "# Every key is listed at its default, commented out. VIGIL_<KEY> environment\n"
		      "# variables win over this file. Reference: man vigil, 'vigil config doc'.\n");
	for (size_t i = 0; i < config_nkeys; i++) {
		const struct config_key *k = &config_keys[i];

		buf_printf(out, "\n# %s (", k->doc);
		put_allowed(out, k);
		buf_printf(out, ")\n#%s = %s\n", k->name, k->def);
	}
}
