/* Unit tests of the leaf utilities (agent/util): secrets out of printed URLs, loopback names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "../../agent/util/fields.h"
#include "../../agent/util/lines.h"
#include "../../agent/util/netaddr.h"
#include "../../agent/util/procfs.h"
#include "../../agent/util/redact.h"

static void test_url_redact(void **state)
{
	static const struct {
		const char *url, *want;
	} cases[] = {
		{ "https://prom.example/api/v1/write", "https://prom.example/api/v1/write" },
		{ "https://u:p4ss@prom.example:443/w", "https://u:***@prom.example:443/w" },
		{ "https://just-user@prom.example/w", "https://just-user@prom.example/w" },
		{ "http://h/w?api_key=abc", "http://h/w?api_key=***" },
		{ "http://h/w?x=1&token=t&y=2", "http://h/w?x=1&token=***&y=2" },
		{ "http://h/w?X-Amz-Signature=s&X-Amz-Credential=c&X-Amz-Date=d",
		  "http://h/w?X-Amz-Signature=***&X-Amz-Credential=***&X-Amz-Date=d" },
		{ "http://h/w?Password=1#frag", "http://h/w?Password=***#frag" },
		{ "http://h/w?flag&secret=", "http://h/w?flag&secret=***" },
		{ "http://a:b@h/w?sig=1", "http://a:***@h/w?sig=***" },
		{ "http://h/a@b?q=1", "http://h/a@b?q=1" },	/* an @ in the path is no userinfo */
	};
	char out[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *want = cases[i].want;

		assert_string_equal(url_redact(cases[i].url, out, sizeof(out)), want);
		assert_int_equal(url_has_secret(cases[i].url), strcmp(want, cases[i].url) != 0);
	}
	/* Cut to the room given, always terminated. */
	assert_string_equal(url_redact("https://u:p@h/x?token=abc", out, 12), "https://u:*");
	assert_string_equal(url_redact("https://h", out, 1), "");
}

static void test_loopback_names(void **state)
{
	(void)state;
	assert_true(netaddr_is_loopback_name("localhost"));
	assert_true(netaddr_is_loopback_name("127.0.0.1"));
	assert_true(netaddr_is_loopback_name("127.9.9.9"));
	assert_true(netaddr_is_loopback_name("::1"));
	assert_false(netaddr_is_loopback_name("10.0.0.1"));
	assert_false(netaddr_is_loopback_name("prom.example"));
	assert_false(netaddr_is_loopback_name("::ffff:10.0.0.1"));
}

/* The /proc and cgroup text this machine's kernels write, and what a hostile or a newer one
 * could. */
static void test_procfs(void **state)
{
	struct proc_stat st;
	char path[64], name[16];
	unsigned long long rx, tx;

	(void)state;
	/* A command with spaces and parentheses: the fields start after the last ')'. */
	assert_int_equal(procfs_stat("4242 (node (a) b) S 1 4240 4240 0 -1 4194560 100 0 0 0 "
				     "12 3 0 0 20 0 11 0 100 1000 200\n", &st), 0);
	assert_int_equal(st.pgrp, 4240);
	assert_int_equal(st.utime, 12);
	assert_int_equal(st.stime, 3);
	assert_int_equal(st.threads, 11);
	assert_int_equal(procfs_stat("4242 (node", &st), -1);
	assert_int_equal(procfs_stat("4242 (x) S 1", &st), -1);
	assert_int_equal(procfs_status_kb("Name:\tx\nVmHWM:\t   25800 kB\n", "VmHWM:"), 25800);
	assert_int_equal(procfs_status_kb("Name:\tx\n", "VmHWM:"), -1);
	assert_int_equal(procfs_status_kb("VmHWM: junk\n", "VmHWM:"), -1);
	assert_true(procfs_keyed("low 0\noom 2\noom_kill 3\n", "oom_kill") == 3);
	assert_true(procfs_keyed("oom_killer 9\n", "oom_kill") == 0);
	/* v1 (a controller among several), v2 (the empty list). */
	assert_int_equal(procfs_cgroup_path("12:cpu,memory:/a/b\n0::/c\n", "memory", path,
					    sizeof(path)), 0);
	assert_string_equal(path, "/a/b");
	assert_int_equal(procfs_cgroup_path("12:cpu,memory:/a/b\n0::/c\n", "", path, sizeof(path)), 0);
	assert_string_equal(path, "/c");
	assert_int_equal(procfs_cgroup_path("12:cpu,memoryx:/a\n", "memory", path, sizeof(path)), -1);
	assert_int_equal(procfs_cgroup_path("garbage", "", path, sizeof(path)), -1);
	/* /proc/net/tcp: listening (0A) on 127.0.0.1:4243 (0x1093), 0.0.0.0, ::1; not on
	 * 10.0.0.1 nor when established. */
	assert_int_equal(procfs_tcp_listener("   0: 0100007F:1093 00000000:0000 0A 00000000:00000000 "
					     "00:00000000 00000000     0        0 12345 1", 4243), 12345);
	assert_int_equal(procfs_tcp_listener("   0: 00000000:1093 00000000:0000 0A 0:0 0:0 0 0 0 77",
					     4243), 77);
	assert_int_equal(procfs_tcp_listener("   0: 00000000000000000000000001000000:1093 "
					     "00000000000000000000000000000000:0000 0A 0:0 0:0 0 0 0 78",
					     4243), 78);
	assert_int_equal(procfs_tcp_listener("   0: 0100000A:1093 00000000:0000 0A 0:0 0:0 0 0 0 79",
					     4243), 0);
	assert_int_equal(procfs_tcp_listener("   0: 0100007F:1093 0100007F:9999 01 0:0 0:0 0 0 0 80",
					     4243), 0);
	assert_int_equal(procfs_tcp_listener("  sl  local_address rem_address   st", 4243), 0);
	assert_int_equal(procfs_netdev("  eth0: 1234 10 0 0 0 0 0 0 5678 9 0 0 0 0 0 0\n", name,
				       sizeof(name), &rx, &tx), 0);
	assert_string_equal(name, "eth0");
	assert_true(rx == 1234 && tx == 5678);
	assert_int_equal(procfs_netdev("Inter-|   Receive\n", name, sizeof(name), &rx, &tx), -1);
}

struct collected {
	char lines[8][32];
	int n;
};

static void collect(void *arg, const char *line, size_t n)
{
	struct collected *c = arg;

	if (c->n < 8)
		snprintf(c->lines[c->n++], sizeof(c->lines[0]), "%.*s", (int)n, line);
}

/* Lines across chunk boundaries, an empty line, a line cut at the limit, the rest kept. */
static void test_lines_split(void **state)
{
	struct collected c = { 0 };
	struct buf partial;

	(void)state;
	buf_init(&partial);
	lines_split(&partial, "ab", 2, 8, collect, &c);
	lines_split(&partial, "c\n\nde", 5, 8, collect, &c);
	lines_split(&partial, "0123456789\nlast", 15, 8, collect, &c);
	assert_int_equal(c.n, 3);
	assert_string_equal(c.lines[0], "abc");
	assert_string_equal(c.lines[1], "");
	assert_string_equal(c.lines[2], "de012345");
	assert_int_equal(partial.len, 4);
	assert_memory_equal(partial.data, "last", 4);
	buf_free(&partial);
}

/* The sscanf/strptime/gmtime replacements (util/fields.c) against glibc's own. */
static void test_fields(void **state)
{
	const char *f[8];
	size_t len[8];
	unsigned long long u;
	long long i;
	struct tm a, b;

	(void)state;
	assert_int_equal(fields_split("  12 -3\tabc\n99", f, len, 8), 3);
	assert_true(field_u64(f[0], len[0], &u) && u == 12);
	assert_true(field_i64(f[1], len[1], &i) && i == -3);
	assert_false(field_u64(f[1], len[1], &u));
	assert_false(field_u64(f[2], len[2], &u));
	assert_false(field_u64("99999999999999999999", 20, &u));
	assert_true(field_u64("18446744073709551615", 20, &u) && u == 18446744073709551615ull);
	for (long long t = -86400LL * 800; t < 4102444800LL; t += 86400LL * 37 + 3671) {
		time_t tt = (time_t)t;

		gmtime_r(&tt, &a);
		utc_tm(t, &b);
		assert_int_equal(a.tm_year, b.tm_year);
		assert_int_equal(a.tm_mon, b.tm_mon);
		assert_int_equal(a.tm_mday, b.tm_mday);
		assert_int_equal(a.tm_hour, b.tm_hour);
		assert_int_equal(a.tm_min, b.tm_min);
		assert_int_equal(a.tm_sec, b.tm_sec);
		assert_int_equal(a.tm_wday, b.tm_wday);
		assert_int_equal(a.tm_yday, b.tm_yday);
		assert_int_equal(utc_secs(&b), t);
	}
	assert_non_null(parse_iso_seconds("2024-02-29T23:59:58.5Z", &a));
	assert_int_equal(utc_secs(&a), 1709251198);
	assert_null(parse_iso_seconds("2024-13-01T00:00:00", &a));
	assert_null(parse_iso_seconds("2024-01-01", &a));
	assert_true(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", &a));
	assert_int_equal(utc_secs(&a), 784111777);
	assert_false(parse_http_date("Sun, 06 Foo 1994 08:49:37 GMT", &a));
	assert_false(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", &a));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_redact),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_loopback_names),
		cmocka_unit_test(test_procfs),
		cmocka_unit_test(test_lines_split),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
