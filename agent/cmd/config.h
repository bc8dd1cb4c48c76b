/*
 * vigil's configuration: one table of keys (name, type, default, range, doc, offset), read
 * from defaults, then an optional file ("key = value"), then VIGIL_<KEY> environment
 * variables. Unknown keys and bad values are errors that name the key and what is allowed.
 */
#ifndef VIGIL_CONFIG_H
#define VIGIL_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "../extension/extension.h"
#include "../util/buf.h"

#define SANDBOX_NAME "sandbox.localdomain"	/* Lambda's name for the sandbox's own address */
#define CONFIG_STR_MAX 256	/* string values, including the NUL */
#define CONFIG_FILE_MAX (1024 * 1024)
#define CONFIG_LINE_MAX 4096

struct vigil_config {
	int log_level;			/* enum log_level */
	bool metrics_enabled;
	char metrics_listen[CONFIG_STR_MAX];
	long metrics_max_connections;
	long metrics_conn_timeout;
	long metrics_max_series;
	long managed_flush_ms;
	bool tenant_label;
	long tenant_label_max;
	char metrics_token[CONFIG_STR_MAX];
	/* extension mode */
	char telemetry_listen[CONFIG_STR_MAX];
	long telemetry_max_items;
	long telemetry_max_bytes;
	long telemetry_timeout_ms;
	char flush[CONFIG_STR_MAX];	/* adaptive | end | periodic,SECONDS */
	bool emf_enabled;
	char emf_namespace[CONFIG_STR_MAX];
	bool report_lines;
	char architecture[CONFIG_STR_MAX];
	char proxy_listen[CONFIG_STR_MAX];
	char statsd_listen[CONFIG_STR_MAX];
	char otlp_receiver_http_listen[CONFIG_STR_MAX];
	char otlp_receiver_grpc_listen[CONFIG_STR_MAX];
	long otlp_receiver_max_mb;
	bool emf_metrics;
	long custom_metrics_max, custom_metrics_max_series;
	bool logs_enabled;
	char log_dir[CONFIG_STR_MAX];
	long log_segment_mb;
	long log_retention_mb;
	long log_retention_hours;
	long log_fsync;
	char log_group[64];
	long log_queue_mb;
	char remote_write_url[CONFIG_STR_MAX];
	char remote_write_username[CONFIG_STR_MAX];
	char remote_write_password[CONFIG_STR_MAX];
	char remote_write_bearer_token[CONFIG_STR_MAX];
	char remote_write_ca_file[CONFIG_STR_MAX];
	bool remote_write_tls_skip_verify;
	long remote_write_timeout_ms;
	long remote_write_retries;
	long remote_write_interval_ms;
	char otlp_endpoint[CONFIG_STR_MAX];
	char otlp_logs_endpoint[CONFIG_STR_MAX];
	char otlp_traces_endpoint[CONFIG_STR_MAX];
	char otlp_metrics_endpoint[CONFIG_STR_MAX];
	char otlp_headers[CONFIG_STR_MAX];
	char otlp_compression[CONFIG_STR_MAX];
	char otlp_metrics_temporality[CONFIG_STR_MAX];
	long otlp_timeout_ms;
	char otlp_ca_file[CONFIG_STR_MAX];
	bool otlp_logs, otlp_traces, otlp_metrics;
	bool otlp_traces_unsampled;
	long otlp_interval_ms;
	long otlp_batch_records;
	long otlp_queue_spans;
	char coldstart[CONFIG_STR_MAX];
	bool probes_enabled;
	char probes_attach[CONFIG_STR_MAX];
	long probes_ring_kb;
	double price_gb_second_x86_64;
	double price_gb_second_arm64;
	double price_per_request;
};

/* The flush strategy of `flush`: kind and, for periodic, the period in seconds. */
int config_flush_strategy(const char *text, enum flush_kind *kind, double *period);

enum config_type { CFG_BOOL, CFG_INT, CFG_STR, CFG_SECRET, CFG_ADDR, CFG_LOGLEVEL, CFG_DOUBLE,
		   CFG_FLUSH, CFG_ARCH, CFG_ATTACH, CFG_CHOICE };

struct config_key {
	const char *name;
	enum config_type type;
	const char *def;	/* default, as text */
	long min, max;		/* CFG_INT and CFG_DOUBLE range; CFG_STR/SECRET: max length */
	const char *doc;
	size_t offset;
};

extern const struct config_key config_keys[];
extern const size_t config_nkeys;

/* Fill c with the defaults. */
void config_defaults(struct vigil_config *c);

/* Set one key from text. 0, or -EINVAL with a message in err naming the key. */
int config_set(struct vigil_config *c, const char *key, const char *value, char *err,
	       size_t errlen);

/* Read a "key = value" file (# comments). Messages start with "PATH:LINE: ". */
int config_load_file(struct vigil_config *c, const char *path, char *err, size_t errlen);
/* The same from a buffer; name is used in messages. */
int config_load_buffer(struct vigil_config *c, const char *name, const char *data, size_t len,
		       char *err, size_t errlen);

/* Apply every VIGIL_* variable of envp (NULL-terminated). Unknown ones are errors. */
int config_load_env(struct vigil_config *c, char *const *envp, char *err, size_t errlen);
/* The same for the extension, which must never fail its function over a setting: each bad or
 * unknown variable is a warning on stderr and keeps the key's value. The number ignored. */
int config_load_env_lenient(struct vigil_config *c, char *const *envp);

/* "key = value" lines of the effective values, secrets masked. */
void config_print(const struct vigil_config *c, struct buf *out);
/* docs/configuration.md, generated from the table. */
void config_markdown(struct buf *out);
void config_sample(struct buf *out);

#endif
