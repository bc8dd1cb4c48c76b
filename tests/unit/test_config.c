/* Unit tests of the configuration table and readers (agent/cmd/config.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../../agent/cmd/config.h"
#include "../../agent/cmd/serve.h"
#include "../../agent/util/log.h"

static char err[600];

static void expect_error(const char *key, const char *value, const char *message)
{
	struct vigil_config c;

	config_defaults(&c);
	err[0] = '\0';
	assert_int_equal(config_set(&c, key, value, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, message);
}

static void test_defaults_are_valid(void **state)
{
	struct vigil_config c;

	(void)state;
	for (size_t i = 0; i < config_nkeys; i++) {
		config_defaults(&c);
		assert_int_equal(config_set(&c, config_keys[i].name, config_keys[i].def, err,
					    sizeof(err)), 0);
		assert_non_null(config_keys[i].doc);
	}
	config_defaults(&c);
	assert_string_equal(c.metrics_listen, "127.0.0.1:9464");
	assert_int_equal(c.metrics_max_series, 2000);
	assert_true(c.metrics_enabled);
	assert_int_equal(c.log_level, LOG_INFO);
}

static void test_every_error_message(void **state)
{
	(void)state;
	expect_error("nope", "1", "unknown key 'nope' (see 'vigil config print')");
	expect_error("metrics_max_connections", "0",
		     "metrics_max_connections: 0 is out of range 1..65536");
	expect_error("metrics_max_connections", "65537",
		     "metrics_max_connections: 65537 is out of range 1..65536");
	expect_error("metrics_max_connections", "99999999999999999999999",
		     "metrics_max_connections: 99999999999999999999999 is out of range 1..65536");
	expect_error("metrics_conn_timeout", "ten",
		     "metrics_conn_timeout: 'ten' is not an integer (allowed: 1..3600)");
	expect_error("metrics_conn_timeout", "",
		     "metrics_conn_timeout: '' is not an integer (allowed: 1..3600)");
	expect_error("metrics_max_series", "5x",
		     "metrics_max_series: '5x' is not an integer (allowed: 1..1000000)");
	expect_error("metrics_enabled", "maybe",
		     "metrics_enabled: 'maybe' is not a boolean (true/false, yes/no, on/off, 1/0)");
	expect_error("log_level", "loud",
		     "log_level: 'loud' is not one of debug, info, warn, error, off");
	expect_error("metrics_listen", "9464",
		     "metrics_listen: '9464' is not HOST:PORT (a numeric IPv4 address, [IPv6], "
		     "localhost or sandbox.localdomain, and a port 0..65535)");
	expect_error("metrics_listen", "127.0.0.1:70000",
		     "metrics_listen: '127.0.0.1:70000' is not HOST:PORT (a numeric IPv4 address, "
		     "[IPv6], localhost or sandbox.localdomain, and a port 0..65535)");
	expect_error("metrics_listen", "example.com:80",
		     "metrics_listen: 'example.com:80' is not HOST:PORT (a numeric IPv4 address, "
		     "[IPv6], localhost or sandbox.localdomain, and a port 0..65535)");
	expect_error("flush", "sometimes",
		     "flush: 'sometimes' is not adaptive, end or periodic,SECONDS (0.1..3600)");
	expect_error("flush", "periodic,0",
		     "flush: 'periodic,0' is not adaptive, end or periodic,SECONDS (0.1..3600)");
	expect_error("architecture", "mips",
		     "architecture: 'mips' is not x86_64, arm64 or auto");
	expect_error("price_per_request", "free",
		     "price_per_request: 'free' is not a number (allowed: 0..1)");
	expect_error("price_per_request", "2", "price_per_request: 2 is out of range 0..1");
	expect_error("telemetry_max_items", "999",
		     "telemetry_max_items: 999 is out of range 1000..10000");
	expect_error("telemetry_timeout_ms", "30001",
		     "telemetry_timeout_ms: 30001 is out of range 25..30000");
	expect_error("emf_namespace", "x" "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"
		     "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"
		     "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"
		     "yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy",
		     "emf_namespace: value is 259 bytes, longer than the 255 allowed");
	{
		char big[400];

		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		expect_error("metrics_token", big,
			     "metrics_token: value is 399 bytes, longer than the 255 allowed");
	}
}

static void test_valid_values(void **state)
{
	struct vigil_config c;

	(void)state;
	config_defaults(&c);
	assert_int_equal(config_set(&c, "metrics_listen", "[::1]:0", err, sizeof(err)), 0);
	assert_int_equal(config_set(&c, "metrics_listen", "localhost:80", err, sizeof(err)), 0);
	assert_int_equal(config_set(&c, "metrics_enabled", "OFF", err, sizeof(err)), 0);
	assert_false(c.metrics_enabled);
	assert_int_equal(config_set(&c, "log_level", "DEBUG", err, sizeof(err)), 0);
	assert_int_equal(c.log_level, LOG_DEBUG);
	assert_int_equal(config_set(&c, "metrics_max_series", "1", err, sizeof(err)), 0);
	assert_int_equal(c.metrics_max_series, 1);
}

static int load(struct vigil_config *c, const char *text)
{
	config_defaults(c);
	err[0] = '\0';
	return config_load_buffer(c, "f.conf", text, strlen(text), err, sizeof(err));
}

static void test_file_format(void **state)
{
	struct vigil_config c;

	(void)state;
	assert_int_equal(load(&c, "# comment\n\n  metrics_listen = 127.0.0.1:1234  \n"
				  "metrics_token=\"s3cret\"\r\nlog_level = warn"), 0);
	assert_string_equal(c.metrics_listen, "127.0.0.1:1234");
	assert_string_equal(c.metrics_token, "s3cret");
	assert_int_equal(c.log_level, LOG_WARN);

	assert_int_equal(load(&c, "metrics_listen\n"), -EINVAL);
	assert_string_equal(err, "f.conf:1: expected 'key = value'");
	assert_int_equal(load(&c, "\n\nbogus = 1\n"), -EINVAL);
	assert_string_equal(err, "f.conf:3: unknown key 'bogus' (see 'vigil config print')");
	assert_int_equal(load(&c, "metrics_max_series = 0\n"), -EINVAL);
	assert_string_equal(err, "f.conf:1: metrics_max_series: 0 is out of range 1..1000000");
	{
		char line[CONFIG_LINE_MAX + 10];

		memset(line, 'a', sizeof(line) - 1);
		line[sizeof(line) - 1] = '\0';
		assert_int_equal(load(&c, line), -EINVAL);
		assert_string_equal(err, "f.conf:1: line longer than 4096 bytes");
	}
	config_defaults(&c);
	assert_int_equal(config_load_buffer(&c, "f.conf", "a\0b = 1", 7, err, sizeof(err)),
			 -EINVAL);
	assert_string_equal(err, "f.conf:1: NUL byte in line");
}

static void test_missing_file(void **state)
{
	struct vigil_config c;

	(void)state;
	config_defaults(&c);
	assert_true(config_load_file(&c, "/nonexistent/vigil.conf", err, sizeof(err)) < 0);
	assert_string_equal(err, "/nonexistent/vigil.conf: No such file or directory");
	assert_true(config_load_file(&c, "/tmp", err, sizeof(err)) < 0);
	assert_string_equal(err, "/tmp: not a regular file of at most 1048576 bytes");
}

static void test_environment(void **state)
{
	char *good[] = { "PATH=/bin", "VIGIL_METRICS_LISTEN=127.0.0.1:1", "VIGIL_LOG_LEVEL=error",
			 NULL };
	char *unknown[] = { "VIGIL_COLOUR=blue", NULL };
	char *bad[] = { "VIGIL_METRICS_MAX_SERIES=-4", NULL };
	char *empty[] = { "VIGIL_=x", NULL };
	struct vigil_config c;

	(void)state;
	config_defaults(&c);
	assert_int_equal(config_load_env(&c, good, err, sizeof(err)), 0);
	assert_string_equal(c.metrics_listen, "127.0.0.1:1");
	assert_int_equal(c.log_level, LOG_ERROR);
	assert_int_equal(config_load_env(&c, unknown, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "VIGIL_COLOUR: unknown key 'colour' (see 'vigil config print')");
	assert_int_equal(config_load_env(&c, bad, err, sizeof(err)), -EINVAL);
	assert_string_equal(err,
			    "VIGIL_METRICS_MAX_SERIES: metrics_max_series: -4 is out of range 1..1000000");
	assert_int_equal(config_load_env(&c, empty, err, sizeof(err)), -EINVAL);
	assert_string_equal(err, "VIGIL_: unknown key");
}

static void test_print_masks_secrets(void **state)
{
	struct vigil_config c;
	struct buf b;

	(void)state;
	config_defaults(&c);
	buf_init(&b);
	config_print(&c, &b);
	assert_non_null(strstr(b.data, "metrics_token = \n"));
	buf_reset(&b);
	assert_int_equal(config_set(&c, "metrics_token", "hunter2", err, sizeof(err)), 0);
	config_print(&c, &b);
	assert_null(strstr(b.data, "hunter2"));
	assert_non_null(strstr(b.data, "metrics_token = ********\n"));
	assert_non_null(strstr(b.data, "metrics_listen = 127.0.0.1:9464\n"));
	/* A URL's password and credential-looking query values. */
	buf_reset(&b);
	assert_int_equal(config_set(&c, "remote_write_url",
				    "https://id:glc_s3cr3t@prom.example/api/prom/push?api_key=k3y&x=1",
				    err, sizeof(err)), 0);
	config_print(&c, &b);
	assert_null(strstr(b.data, "s3cr3t"));
	assert_null(strstr(b.data, "k3y"));
	assert_non_null(strstr(b.data, "remote_write_url = https://id:***@prom.example/api/prom/"
				       "push?api_key=***&x=1\n"));
	buf_free(&b);
}

static void test_markdown_lists_every_key(void **state)
{
	struct buf b;

	(void)state;
	buf_init(&b);
	config_markdown(&b);
	for (size_t i = 0; i < config_nkeys; i++) {
		char needle[128];

		snprintf(needle, sizeof(needle), "| `%s` | `VIGIL_", config_keys[i].name);
		assert_non_null(strstr(b.data, needle));
	}
	buf_free(&b);
}

/* Listeners never on all interfaces by default: sandbox.localdomain is its hosts-file
 * address (as in Lambda's sandbox), else 127.0.0.1. */
static void test_listen_address(void **state)
{
	char path[] = "/tmp/vigil-hosts-XXXXXX", out[128];
	int fd = mkstemp(path);
	struct vigil_config c;
	FILE *f;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	config_defaults(&c);
	assert_string_equal(c.telemetry_listen, "sandbox.localdomain:4243");
	assert_string_equal(listen_address(c.telemetry_listen, path, out, sizeof(out)),
			    "127.0.0.1:4243");
	assert_string_equal(listen_address("127.0.0.1:0", path, out, sizeof(out)), "127.0.0.1:0");
	f = fopen(path, "w");
	fputs("127.0.0.1 localhost\n# 10.9.9.9 sandbox.localdomain\n"
	      "169.254.100.1   Sandbox.LocalDomain other\n", f);
	fclose(f);
	assert_string_equal(listen_address("sandbox.localdomain:4243", path, out, sizeof(out)),
			    "169.254.100.1:4243");
	f = fopen(path, "w");
	fputs("fd00::1 sandbox.localdomain\n", f);
	fclose(f);
	assert_string_equal(listen_address("sandbox.localdomain:9", path, out, sizeof(out)),
			    "[fd00::1]:9");
	unlink(path);
	assert_int_equal(config_set(&c, "telemetry_listen", "sandbox.localdomain:0", err,
				    sizeof(err)), 0);
	assert_int_equal(config_set(&c, "telemetry_listen", "sandbox.localdomain", err,
				    sizeof(err)), -EINVAL);
}

/* The extension's reading: every bad or unknown variable said and ignored, the rest applied. */
static void test_env_lenient(void **state)
{
	char *env[] = { "VIGIL_NO_SUCH_KEY=1", "VIGIL_FLUSH=sometimes", "VIGIL_EMF_NAMESPACE=ns",
			"VIGIL_=x", "VIGIL_METRICS_MAX_SERIES=99999999", NULL };
	struct vigil_config c;
	int saved = dup(2), devnull = open("/dev/null", O_WRONLY);

	(void)state;
	config_defaults(&c);
	dup2(devnull, 2);	/* (the warnings) */
	assert_int_equal(config_load_env_lenient(&c, env), 4);
	dup2(saved, 2);
	close(saved);
	close(devnull);
	assert_string_equal(c.emf_namespace, "ns");
	assert_string_equal(c.flush, "adaptive");
	assert_int_equal(config_load_env(&c, env, err, sizeof(err)), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_defaults_are_valid),
		cmocka_unit_test(test_every_error_message),
		cmocka_unit_test(test_valid_values),
		cmocka_unit_test(test_file_format),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_environment),
		cmocka_unit_test(test_print_masks_secrets),
		cmocka_unit_test(test_listen_address),
		cmocka_unit_test(test_env_lenient),
		cmocka_unit_test(test_markdown_lists_every_key),
	};

	return cmocka_run_group_tests_name("config", tests, NULL, NULL);
}
