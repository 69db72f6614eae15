/* test_argv.c — splitting configured command lines like a shell, without one. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agent/agent.h"

static const struct {
	const char *in;
	const char *words[6];   /* NULL-terminated; words[0] NULL with err set: an error */
	int err;
} cases[] = {
	{ "a b  c", { "a", "b", "c" }, 0 },
	{ "  lead\ttrail  ", { "lead", "trail" }, 0 },
	{ "systemctl restart nginx", { "systemctl", "restart", "nginx" }, 0 },
	{ "'a b' c", { "a b", "c" }, 0 },
	{ "\"a \\\"q\\\" b\"", { "a \"q\" b" }, 0 },
	{ "a\\ b", { "a b" }, 0 },
	{ "'' x", { "", "x" }, 0 },
	{ "\"\"", { "" }, 0 },
	{ "a'b'c\"d\"", { "abcd" }, 0 },
	{ "\"$HOME\" `x` ;|& *", { "$HOME", "`x`", ";|&", "*" }, 0 },
	{ "'it'\\''s'", { "it's" }, 0 },
	{ "\"a\\nb\"", { "a\\nb" }, 0 },        /* only \" \\ \$ \` escape in double quotes */
	{ "\"\\$x \\\\\"", { "$x \\" }, 0 },
	{ "'a\\b'", { "a\\b" }, 0 },
	{ "x\\\ny", { "xy" }, 0 },
	{ "sh -c 'echo hi; exit 3'", { "sh", "-c", "echo hi; exit 3" }, 0 },
	{ "'open", { NULL }, -EINVAL },
	{ "\"open", { NULL }, -EINVAL },
	{ "trail\\", { NULL }, -EINVAL },
	{ "", { NULL }, -EINVAL },
	{ "   ", { NULL }, -EINVAL },
};

static void test_split(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char **argv = NULL;
		int argc = -1;
		struct cfs_err err = { 0 };
		int r = agent_argv_split(cases[i].in, &argv, &argc, &err);
		if (r != cases[i].err)
			fail_msg("split(%s) = %d, want %d", cases[i].in, r, cases[i].err);
		if (r) {
			assert_non_null(strlen(err.msg) ? err.msg : NULL);
			continue;
		}
		int n = 0;
		while (cases[i].words[n])
			n++;
		if (argc != n)
			fail_msg("split(%s): %d words, want %d", cases[i].in, argc, n);
		for (int w = 0; w < n; w++)
			assert_string_equal(argv[w], cases[i].words[w]);
		assert_null(argv[argc]);
		agent_argv_free(argv);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
