/* test_glob.c — exclude patterns: the .gitignore table, including the cases
 * where rsync reads a pattern differently (see the table in glob.c). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "mirrors/mirrors.h"

struct gcase {
	const char *pat, *path;
	bool dir;
	int want;
};

static const struct gcase table[] = {
	/* * does not cross '/' */
	{ "*.log", "a.log", false, 1 },
	{ "*.log", "x/y/a.log", false, 1 },        /* no slash: any depth */
	{ "a*", "a/b", false, 0 },                 /* basename is b */
	{ "/a*", "ab/c", false, 0 },
	{ "x/*.c", "x/y/z.c", false, 0 },
	{ "x/*.c", "x/z.c", false, 1 },
	/* ? and classes */
	{ "?.c", "a.c", false, 1 },
	{ "?.c", "ab.c", false, 0 },
	{ "[ab].c", "b.c", false, 1 },
	{ "[!ab].c", "b.c", false, 0 },
	{ "[^ab].c", "c.c", false, 1 },
	{ "[a-c]x", "bx", false, 1 },
	{ "\\*x", "*x", false, 1 },
	{ "\\*x", "ax", false, 0 },
	/* trailing / = directories only */
	{ "build/", "build", true, 1 },
	{ "build/", "build", false, 0 },
	{ "build/", "src/build", true, 1 },
	/* leading / anchors */
	{ "/build", "build", true, 1 },
	{ "/build", "src/build", true, 0 },
	/* a slash in the middle anchors (rsync: tail match, would exclude x/a/b) */
	{ "a/b", "a/b", false, 1 },
	{ "a/b", "x/a/b", false, 0 },
	/* ** as a component */
	{ "**/tmp", "tmp", true, 1 },
	{ "**/tmp", "a/b/tmp", true, 1 },
	{ "a/**", "a/b/c", false, 1 },
	{ "a/**", "a", true, 0 },
	{ "a/**/b", "a/b", false, 1 },
	{ "a/**/b", "a/x/y/b", false, 1 },
	{ "a/**/b", "a/x/y/c", false, 0 },
	/* ** elsewhere is a plain * (rsync: crosses '/') */
	{ "a**b", "a/x/b", false, 0 },
	{ "a**b", "axxb", false, 1 },
	/* three stars are not special (rsync: a, then three stars, is a and all below) */
	{ "a/***", "a", true, 0 },
	{ "a/***", "a/b", false, 1 },
	/* malformed */
	{ "[ab", "a", false, -EINVAL },
	{ "x\\", "x", false, -EINVAL },
};

static void test_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
		int r = mglob_match1(table[i].pat, table[i].path, table[i].dir);
		if (r != table[i].want)
			fail_msg("pattern %s path %s%s: got %d want %d", table[i].pat, table[i].path,
				 table[i].dir ? "/" : "", r, table[i].want);
	}
}

static void test_set(void **state)
{
	(void)state;
	struct mglob_set *s;
	struct cfs_err err = { 0 };
	assert_int_equal(mglob_set_parse("*.log,!keep.log,/cache/,node_modules", &s, &err), 0);
	assert_true(mglob_excluded(s, "a.log", false));
	assert_false(mglob_excluded(s, "keep.log", false));    /* last match wins (rsync: first) */
	assert_true(mglob_excluded(s, "cache", true));
	assert_true(mglob_excluded(s, "cache/x/y", false));    /* pruned below */
	assert_false(mglob_excluded(s, "src/cache", true));
	assert_true(mglob_excluded(s, "a/node_modules/x.js", false));
	assert_false(mglob_excluded(s, "src/main.c", false));
	/* built-ins: conflict copies and temp files */
	assert_true(mglob_excluded(s, "a/f.txt.cloudfs-conflict-20260101-000000-web1", false));
	assert_true(mglob_excluded(s, ".cloudfs-tmp-abc", false));
	mglob_set_free(s);
	assert_true(mglob_excluded(NULL, "x.cloudfs-conflict-1", false));
	assert_false(mglob_excluded(NULL, "x", false));
	assert_int_equal(mglob_set_parse("ok,[bad", &s, &err), -EINVAL);
	assert_non_null(strstr(err.msg, "[bad"));
	assert_int_equal(mglob_set_parse("", &s, &err), 0);
	mglob_set_free(s);
}

static void test_hostile(void **state)
{
	(void)state;
	/* many stars: bounded, no blow-up */
	assert_int_equal(mglob_match1("*a*a*a*a*a*a*a*a*a*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false), 0);
	assert_int_equal(mglob_match1("**/**/**/**/**/x", "a/b/c/d/e/f/g/h/y", false), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_set),
		cmocka_unit_test(test_hostile),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
