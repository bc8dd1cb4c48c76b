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
#include <unistd.h>

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
		else if (strcmp(ev, "fork") == 0 && *path)
			buf_printf(b, ",\"ppid\":%s", path);
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

/* vigil's own lines beside a timeline (the probes' view: an extension's process too), an init
 * that timed out, and the record as the preload library leaves it (a mapped file). */
static void test_phases_and_processes(void **state)
{
	static const char *const lines[] = {
		"0 7 7 start",					/* an extension */
		"1 7 7 open /opt/ext/node_modules/extlib/index.js",
		"50 10 10 start",				/* the runtime */
		"51 10 10 open /var/task/node_modules/mod/index.js",
		"60 11 11 fork 10",				/* its child (preload's form) */
		"61 11 11 open /var/task/node_modules/kid/index.js",
		"70 10 10 open /var/task/node_modules/late/index.js",
		"100 7 7 open /opt/ext/node_modules/extlib/more.js",
		"150 10 10 end",
		NULL,
	};
	struct cs_report r;
	struct buf b, out;

	(void)state;
	buf_init(&b);
	record(&b, lines);
	coldstart_phase_line(&b, 1000000000000ull - 5000000ull, "sandbox", "sandbox", 5000000, -1);
	coldstart_phase_line(&b, 1000000000000ull, "extension ext", "extension", 120000000,
			     20000000);
	coldstart_phase_line(&b, 1000000000000ull + 50000000ull, "runtime", "runtime", 100000000,
			     -1);
	coldstart_phase_line(&b, 1000000000000ull + 151000000ull, "first invocation", "invoke",
			     9000000, -1);
	coldstart_init_line(&b, 1000000000000ull - 5000000ull, 155000000, "on-demand", "success",
			    "probes", 10);
	assert_int_equal(coldstart_analyze(b.data, b.len, &r), 0);
	assert_true(r.ended);
	/* the runtime's time, from its start; its processes only */
	assert_true(r.total_ms > 99.9 && r.total_ms < 100.1);
	assert_true(r.start_ms > 54.9 && r.start_ms < 55.1);
	assert_null(group(&r, "extlib"));
	assert_non_null(group(&r, "mod"));
	assert_non_null(group(&r, "kid"));
	assert_int_equal(r.forks, 1);
	assert_int_equal(r.others, 3);
	assert_string_equal(r.source, "probes");
	assert_true(r.init_ms > 154.9 && r.init_ms < 155.1);
	/* the phases: from the init's start (the zero), the invocation's not in their span */
	assert_int_equal(r.nphases, 4);
	assert_string_equal(r.phases[0].name, "sandbox");
	assert_true(r.phases[0].start_ms < 0.001);
	assert_true(r.phases[1].register_ms > 19.9 && r.phases[1].register_ms < 20.1);
	assert_true(r.phases_ms > 154.9 && r.phases_ms < 155.1);
	buf_init(&out);
	coldstart_text(&r, 10, &out);
	assert_non_null(strstr(out.data, "extension ext"));
	buf_reset(&out);
	coldstart_json(&r, &out);
	assert_non_null(strstr(out.data, "\"phases_ms\":155.000"));
	buf_reset(&out);
	coldstart_html(&r, 10, &out);
	assert_non_null(strstr(out.data, "<g class=\"row phase\" data-name=\"first invocation\""));
	buf_free(&out);
	coldstart_free(&r);
	buf_free(&b);
}

static void test_timeout_runs_to_the_init_end(void **state)
{
	static const char *const lines[] = {
		"0 10 10 start",
		"1 10 10 open /var/task/node_modules/hang/index.js",
		NULL,
	};
	struct cs_report r;
	struct buf b;

	(void)state;
	buf_init(&b);
	record(&b, lines);
	coldstart_init_line(&b, 1000000000000ull, 10000000000ull, "on-demand", "timeout",
			    "preload", 10);
	assert_int_equal(coldstart_analyze(b.data, b.len, &r), 0);
	assert_false(r.ended);
	assert_non_null(strstr(r.partial, "timeout"));
	assert_string_equal(r.groups[0].name, "hang");
	assert_true(r.groups[0].ms > 9998.9 && r.groups[0].ms < 9999.1);
	assert_int_equal(r.nphases, 1);	/* the record's own runtime phase */
	assert_string_equal(r.phases[0].name, "runtime (recorded, no /next)");
	coldstart_free(&r);
	/* vigil's lines alone: what is missing is said */
	buf_reset(&b);
	coldstart_init_line(&b, 1000000000000ull, 10000000000ull, "on-demand", "timeout",
			    "preload", 0);
	assert_int_equal(coldstart_analyze(b.data, b.len, &r), 0);
	assert_non_null(strstr(r.partial, "no timeline"));
	coldstart_free(&r);
	buf_free(&b);
}

static void test_read_mapped(void **state)
{
	char path[] = "/tmp/vigil-cs-unit-XXXXXX";
	int fd = mkstemp(path);
	char page[64 + 64] = "VIGILCS1";
	unsigned long long used = 40;
	struct buf b;

	(void)state;
	assert_true(fd >= 0);
	unlink(path);
	memcpy(page + 8, &used, sizeof(used));
	memcpy(page + 64, "{\"t\":1,\"ev\":\"a\"}\n", 18);	/* then a gap of NULs */
	memcpy(page + 64 + 30, "{\"t\":2}\n", 8);
	assert_int_equal(pwrite(fd, page, sizeof(page), 0), (ssize_t)sizeof(page));
	buf_init(&b);
	assert_int_equal(coldstart_read_fd(fd, &b, 1 << 20), 0);
	assert_int_equal(b.len, 40);
	assert_null(memchr(b.data, '\0', b.len));
	assert_memory_equal(b.data + 30, "{\"t\":2}\n", 8);
	/* plain lines (a copy) as they are */
	buf_reset(&b);
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(pwrite(fd, "{\"t\":3}\n", 8, 0), 8);
	assert_int_equal(coldstart_read_fd(fd, &b, 1 << 20), 0);
	assert_int_equal(b.len, 8);
	buf_free(&b);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_groups),
		cmocka_unit_test(test_times),
		cmocka_unit_test(test_partial_and_nonsense),
		cmocka_unit_test(test_phases_and_processes),
		cmocka_unit_test(test_timeout_runs_to_the_init_end),
		cmocka_unit_test(test_read_mapped),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
