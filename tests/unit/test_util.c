/* Unit tests of the leaf utilities (agent/util): secrets out of printed URLs, loopback names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "../../agent/util/netaddr.h"
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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_redact),
		cmocka_unit_test(test_loopback_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
