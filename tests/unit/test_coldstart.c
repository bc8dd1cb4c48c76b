/* Unit tests of the cold-start report (agent/core/coldstart.c): what a path belongs to, how
 * each event's time is counted (its thread's next, no longer than its process's next), and
 * records that are partial, cut or nonsense. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../agent/core/coldstart.h"

/* A record from lines "MS PID TID EV [PATH]" (times in ms from 1,000 s). */
static void record(struct buf *b, const char *const *lines)
{
	for (; *lines; lines++) {
		char ev[16], path[400] = "";
		double ms;
		int pid, tid;
		int n = sscanf(*lines, "%lf %d %d %15s %399s", &ms, &pid, &tid, ev, path);

		assert_true(n >= 4);
		buf_printf(b, "{\"t\":%llu,\"pid\":%d,\"tid\":%d,\"ev\":\"%s\"",
			   (unsigned long long)(1000000000000ull + (uint64_t)(ms * 1e6)), pid, tid,
			   ev);
		if (strcmp(ev, "start") == 0)
			buf_puts(b, ",\"exe\":\"/usr/bin/node\",\"root\":\"/var/task\"");
		else if (strcmp(ev, "open") == 0)
			buf_printf(b, ",\"path\":\"%s\",\"fd\":5,\"ns\":1000", path);
		else if (strcmp(ev, "connect") == 0)
			buf_printf(b, ",\"addr\":\"%s\",\"ns\":3000000", path);
		else if (strcmp(ev, "dns") == 0)
			buf_printf(b, ",\"name\":\"%s\",\"ns\":1000000,\"rc\":-2", path);
		buf_puts(b, "}\n");
	}
}

static const struct cs_group *group(const struct cs_report *r, const char *name)
{
	for (size_t i = 0; i < r->ngroups; i++) {
		if (strcmp(r->groups[i].name, name) == 0)
			return &r->groups[i];
	}
	return NULL;
}

static void test_groups(void **state)
{
	static const char *const lines[] = {
		"0 10 10 start",
		"1 10 10 open /var/task/node_modules/@aws-sdk/client-s3/dist/index.js",
		"2 10 10 open /var/task/node_modules/express/node_modules/debug/src/index.js",
		"3 10 10 open /var/lang/lib/python3.12/site-packages/boto3/__init__.py",
		"4 10 10 open /var/lang/lib/python3.12/site-packages/six.py",
		"5 10 10 open /var/lang/lib/python3.12/site-packages/PyYAML-6.0.dist-info/METADATA",
		"6 10 10 open /opt/java/lib/jackson-core-2.15.jar",
		"7 10 10 open /usr/lib64/libssl.so.3",
		"8 10 10 open /sys/fs/cgroup/memory/memory.soft_limit_in_bytes",
		"9 10 10 open /var/task/app/handler.js",
		"10 10 10 open /var/task/lib/pkg/__init__.py",
		"11 10 10 open /var/task/lib/pkg/sub/mod.py",
		"12 10 10 open /usr/lib/python3.12/json/__pycache__/__init__.cpython-312.pyc",
		"13 10 10 open /usr/lib/python3.12/json/__pycache__/decoder.cpython-312.pyc",
		"14 10 10 end",
		NULL,
	};
	struct cs_report r;
	struct buf b;

	(void)state;
	buf_init(&b);
	record(&b, lines);
	assert_int_equal(coldstart_analyze(b.data, b.len, &r), 0);
	assert_true(r.ended);
	assert_string_equal(group(&r, "@aws-sdk/client-s3")->kind, "node");
	assert_string_equal(group(&r, "debug")->kind, "node");	/* the nested package */
	assert_string_equal(group(&r, "boto3")->kind, "python");
	assert_string_equal(group(&r, "six")->kind, "python");
	assert_string_equal(group(&r, "PyYAML-6.0")->kind, "python");
	assert_string_equal(group(&r, "jackson-core-2.15.jar")->kind, "java");
	assert_string_equal(group(&r, "libssl.so.3")->kind, "library");
	assert_null(group(&r, "memory.soft_limit_in_bytes"));	/* not a library: a file */
	assert_string_equal(group(&r, "function code")->kind, "function");
	/* a package of the function's own: its submodules are the package's */
	assert_string_equal(group(&r, "pkg")->kind, "function");
	assert_int_equal(group(&r, "pkg")->files, 2);
	/* a package loaded from its cache (its __init__.py never opened) */
	assert_int_equal(group(&r, "json")->files, 2);
	assert_true(r.total_ms > 13.9 && r.total_ms < 14.1);
	coldstart_free(&r);
	buf_free(&b);
}

/* A worker thread that waits takes nobody's time; a process's last event runs to the end
 * when it is the one that reached /next. */
static void test_times(void **state)
{
	static const char *const lines[] = {
		"0 10 10 start",
		"1 10 11 open /var/task/node_modules/ric/index.mjs",	/* a worker, then waits */
		"2 10 10 open /var/task/node_modules/fast/index.js",
		"3 10 10 open /var/task/node_modules/slow/index.js",	/* 300 ms of work */
		"303 10 10 connect 10.0.0.1:443",
		"310 10 11 end",
		NULL,
	};
	struct cs_report r;
	struct buf b, out;

	(void)state;
	buf_init(&b);
	record(&b, lines);
	assert_int_equal(coldstart_analyze(b.data, b.len, &r), 0);
	assert_string_equal(r.groups[0].name, "slow");
	assert_true(r.groups[0].ms > 299.9 && r.groups[0].ms < 300.1);
	assert_true(group(&r, "ric")->ms < 1.1);
	assert_true(group(&r, "fast")->ms > 0.9 && group(&r, "fast")->ms < 1.1);
	assert_int_equal(r.nnet, 1);
	assert_true(r.net[0].at_ms > 302.9 && r.net[0].ms == 3.0);
	buf_init(&out);
	coldstart_html(&r, 10, &out);
	assert_non_null(strstr(out.data, "data-name=\"slow\""));
	assert_null(strstr(out.data, "<script"));
	buf_free(&out);
	coldstart_free(&r);
	buf_free(&b);
}

static void test_partial_and_nonsense(void **state)
{
	static const char *const lines[] = {
		"0 10 10 start",
		"1 10 10 open /var/task/node_modules/hang/index.js",
		"900 10 10 dns db.example",
		NULL,
	};
	static const char junk[] = "\n\n{]\n{\"t\":\"x\",\"ev\":\"open\"}\n{\"t\":1}\nplain\n"
				   "{\"t\":5,\"pid\":1,\"tid\":1,\"ev\":\"mystery\"}\n";
	struct cs_report r;
	struct buf b;

	(void)state;
	buf_init(&b);
	record(&b, lines);
	buf_puts(&b, "{\"t\":12");	/* cut in the middle of a record */
	assert_int_equal(coldstart_analyze(b.data, b.len, &r), 0);
	assert_false(r.ended);
	assert_int_equal(r.damaged, 1);
	assert_non_null(strstr(r.partial, "never reached"));
	assert_true(r.net[0].failed);
	coldstart_free(&r);
	assert_int_equal(coldstart_analyze(junk, sizeof(junk) - 1, &r), 0);
	assert_int_equal(r.events, 1);
	assert_int_equal(r.damaged, 4);
	coldstart_free(&r);
	assert_int_equal(coldstart_analyze("", 0, &r), 0);
	assert_int_equal(r.events, 0);
	assert_string_equal(r.partial, "no records");
	coldstart_free(&r);
	buf_free(&b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_groups),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_partial_and_nonsense),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
