/* test_policy.c — the repos module's value rules: user names, quota values,
 * retention policy → restic argv, the client's repository URL, the prune
 * schedule's slots. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "repos/repos.h"

/* ---- user names: the REST server's rule and a safe path component ---- */

static const struct {
	const char *name;
	bool ok;
} user_cases[] = {
	{ "alice", true },
	{ "Bob_2", true },
	{ "a", true },
	{ "a.b-c_d@example.org", true },
	{ "x.", true },
	{ "0", true },
	{ "", false },
	{ ".", false },
	{ "..", false },
	{ ".hidden", false },
	{ "-rf", false },
	{ "../x", false },
	{ "a/b", false },
	{ "/abs", false },
	{ "a b", false },
	{ "a:b", false },            /* ':' would split the htpasswd line */
	{ "a\nb", false },
	{ "a\tb", false },
	{ "a\\b", false },
	{ "a%2fb", false },
	{ "caf\xc3\xa9", false },    /* UTF-8 letters: not for us, ASCII only */
	{ "\xff\xfe", false },       /* not UTF-8 at all */
	{ "a*", false },
	{ "a\"b", false },
	{ "=x", false },
};

static void test_user_names(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof user_cases / sizeof user_cases[0]; i++) {
		struct cfs_err err = { 0 };
		int r = repos_user_check(user_cases[i].name, &err);
		if (user_cases[i].ok) {
			if (r)
				fail_msg("'%s' refused: %s", user_cases[i].name, err.msg);
		} else {
			if (r != -EINVAL)
				fail_msg("'%s' accepted", user_cases[i].name);
			assert_true(err.msg[0] != '\0');
		}
	}
}

static void test_user_name_lengths(void **state)
{
	(void)state;
	char name[400];
	memset(name, 'a', sizeof name);
	name[64] = '\0';
	assert_int_equal(repos_user_check(name, NULL), 0);
	name[64] = 'a';
	name[65] = '\0';
	assert_int_equal(repos_user_check(name, NULL), -EINVAL);
	name[300] = '\0';
	assert_int_equal(repos_user_check(name, NULL), -EINVAL);
}

/* ---- quota values ---- */

static void quota_ok(const char *s, bool limited, uint64_t bytes)
{
	bool l = !limited;
	uint64_t b = 12345;
	struct cfs_err err = { 0 };
	if (repos_quota_parse(s, strlen(s), &l, &b, &err))
		fail_msg("quota '%s' refused: %s", s, err.msg);
	assert_int_equal(l, limited);
	if (limited)
		assert_int_equal(b, bytes);
}

static void quota_bad(const char *s)
{
	bool l;
	uint64_t b;
	struct cfs_err err = { 0 };
	if (repos_quota_parse(s, strlen(s), &l, &b, &err) != -EINVAL)
		fail_msg("quota '%s' accepted", s);
	assert_non_null(strstr(err.msg, "max"));
}

static void test_quota_parse(void **state)
{
	(void)state;
	quota_ok("max", false, 0);
	quota_ok("max\n", false, 0);
	quota_ok("  max \r\n", false, 0);
	quota_ok("0", true, 0);
	quota_ok("1024", true, 1024);
	quota_ok("10K", true, 10240);
	quota_ok("10k\n", true, 10240);
	quota_ok("5M", true, 5u << 20);
	quota_ok("2G", true, 2ull << 30);
	quota_ok("1T", true, 1ull << 40);
	quota_ok("3KB", true, 3072);
	quota_bad("");
	quota_bad("\n");
	quota_bad("MAX");
	quota_bad("unlimited");
	quota_bad("-1");
	quota_bad("1.5G");
	quota_bad("10 M");
	quota_bad("10X");
	quota_bad("K");
	quota_bad("99999999999999999999");
	quota_bad("16777216T");           /* overflows 64 bits */
	quota_bad("9223372036854775808"); /* above INT64_MAX: the table keeps int64 */
	/* a NUL inside the value is not a value */
	bool l;
	uint64_t b;
	assert_int_equal(repos_quota_parse("10\0K", 4, &l, &b, NULL), -EINVAL);
}

static void test_quota_format(void **state)
{
	(void)state;
	char q[32];
	repos_quota_format(false, 99, q);
	assert_string_equal(q, "max");
	repos_quota_format(true, 0, q);
	assert_string_equal(q, "0");
	repos_quota_format(true, 10240, q);
	assert_string_equal(q, "10240");
	/* what is written reads back to the same quota */
	bool l;
	uint64_t b;
	repos_quota_format(true, 5u << 20, q);
	assert_int_equal(repos_quota_parse(q, strlen(q), &l, &b, NULL), 0);
	assert_true(l);
	assert_int_equal(b, 5u << 20);
}

/* ---- retention → restic forget argv ---- */

static void argv_is(const char *policy, const char *const *want)
{
	char store[512];
	const char *argv[16];
	int n = repos_retention_argv(policy, store, sizeof store, argv, 16);
	int w = 0;
	while (want[w])
		w++;
	if (n != w)
		fail_msg("'%s': %d argv entries, want %d", policy, n, w);
	for (int i = 0; i < n; i++)
		assert_string_equal(argv[i], want[i]);
}

static void argv_bad(const char *policy)
{
	char store[512];
	const char *argv[16];
	if (repos_retention_argv(policy, store, sizeof store, argv, 16) != -EINVAL)
		fail_msg("policy '%s' accepted", policy);
}

static void test_retention_argv(void **state)
{
	(void)state;
	argv_is("keep-last=20 keep-daily=7 keep-weekly=4 keep-monthly=6",
		(const char *[]){ "--keep-last", "20", "--keep-daily", "7", "--keep-weekly", "4",
				  "--keep-monthly", "6", NULL });
	argv_is("keep-last=2", (const char *[]){ "--keep-last", "2", NULL });
	argv_is("keep-hourly=24,keep-yearly=3",
		(const char *[]){ "--keep-hourly", "24", "--keep-yearly", "3", NULL });
	argv_is("  keep-within=30d\t", (const char *[]){ "--keep-within", "30d", NULL });
	argv_is("keep-within=36h keep-last=1",
		(const char *[]){ "--keep-within", "36h", "--keep-last", "1", NULL });
	argv_bad("");
	argv_bad("   ");
	argv_bad("keep-last");
	argv_bad("keep-last=");
	argv_bad("keep-last=0");
	argv_bad("keep-last=-1");
	argv_bad("keep-last=01");
	argv_bad("keep-last=1x");
	argv_bad("keep-last=1 keep-last=2");
	argv_bad("keep-tag=x");
	argv_bad("prune=yes");
	argv_bad("--keep-last=1");
	argv_bad("keep-within=30m");     /* restic reads m as months */
	argv_bad("keep-within=d");
	argv_bad("keep-within=30");
	argv_bad("keep-daily=1234567890");
	argv_bad("keep-last=1;rm");
	/* a store too small fails cleanly */
	char small[8];
	const char *argv[16];
	assert_int_equal(repos_retention_argv("keep-last=20", small, sizeof small, argv, 16), -EINVAL);
	/* as does an argv too short */
	char store[256];
	assert_int_equal(repos_retention_argv("keep-last=1 keep-daily=2", store, sizeof store, argv,
					      3),
			 -EINVAL);
}

/* ---- the repository URL a user is given ---- */

static void test_client_url(void **state)
{
	(void)state;
	char u[512];
	assert_int_equal(repos_client_url("http://127.0.0.1:8000", "alice", "pw", u, sizeof u), 0);
	assert_string_equal(u, "rest:http://alice:pw@127.0.0.1:8000/alice/");
	assert_int_equal(repos_client_url("https://backup.example.org/", "bob", "x", u, sizeof u), 0);
	assert_string_equal(u, "rest:https://bob:x@backup.example.org/bob/");
	assert_int_equal(repos_client_url("https://h:8443/restic//", "bob", "x", u, sizeof u), 0);
	assert_string_equal(u, "rest:https://bob:x@h:8443/restic/bob/");
	/* '@' in a user name is escaped in the credentials, not in the path */
	assert_int_equal(repos_client_url("http://h", "a@b.org", "x", u, sizeof u), 0);
	assert_string_equal(u, "rest:http://a%40b.org:x@h/a@b.org/");
	assert_int_equal(repos_client_url("ftp://h", "a", "x", u, sizeof u), -EINVAL);
	assert_int_equal(repos_client_url("h:8000", "a", "x", u, sizeof u), -EINVAL);
	assert_int_equal(repos_client_url("http://h", "a", "x", u, 10), -ENAMETOOLONG);
}

/* ---- the prune schedule ---- */

static void test_slot_before(void **state)
{
	(void)state;
	const int64_t day = 1795392000;   /* 2026-11-23T00:00:00Z */
	/* before 04:00: yesterday's slot; at and after: today's */
	assert_int_equal(repos_slot_before(day + 3600, 4, 0), day - 86400 + 4 * 3600);
	assert_int_equal(repos_slot_before(day + 4 * 3600, 4, 0), day + 4 * 3600);
	assert_int_equal(repos_slot_before(day + 4 * 3600 + 1, 4, 0), day + 4 * 3600);
	assert_int_equal(repos_slot_before(day + 86399, 23, 59), day + 86340);
	assert_int_equal(repos_slot_before(day, 0, 0), day);
	assert_int_equal(repos_slot_before(day - 1, 0, 0), day - 86400);
	/* before the epoch too */
	assert_int_equal(repos_slot_before(-1, 0, 0), -86400);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_user_names),
		cmocka_unit_test(test_user_name_lengths),
		cmocka_unit_test(test_quota_parse),
		cmocka_unit_test(test_quota_format),
		cmocka_unit_test(test_retention_argv),
		cmocka_unit_test(test_client_url),
		cmocka_unit_test(test_slot_before),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
