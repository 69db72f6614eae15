/* test_users.c — uid → cloudfs user, roles from the config, the cache. */
#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "auth/users.h"

/* A uid with no passwd entry. */
static uid_t unknown_uid(void)
{
	for (uid_t u = 4000000; u < 4100000; u++)
		if (!getpwuid(u))
			return u;
	fail_msg("no free uid");
	return 0;
}

/* Some uid other than root that has a passwd entry, and its name. */
static bool some_user(uid_t *uid, char *name, size_t n)
{
	for (uid_t u = 1; u < 70000; u++) {
		struct passwd *pw = getpwuid(u);
		if (pw && strlen(pw->pw_name) < CFS_USER_NAME_MAX) {
			*uid = u;
			snprintf(name, n, "%s", pw->pw_name);
			return true;
		}
	}
	return false;
}

static void load_config(struct cfs_config *c, const char *const *ov, size_t n)
{
	struct cfs_err err;
	int r = cfs_config_load(NULL, ov, n, c, &err);
	if (r)
		fail_msg("config: %d %s", r, err.msg);
}

static void test_root(void **state)
{
	(void)state;
	struct cfs_user u;
	struct passwd *pw = getpwuid(0);
	assert_int_equal(cfs_user_resolve(NULL, 0, 0, &u), 0);
	assert_int_equal(u.uid, 0);
	assert_int_equal(u.gid, 0);
	assert_string_equal(u.name, pw ? pw->pw_name : "uid:0");
	assert_true(u.superadmin);
	assert_false(u.provisioner);
}

static void test_named_roles(void **state)
{
	(void)state;
	uid_t uid;
	char name[CFS_USER_NAME_MAX], opt1[128], opt2[128];
	struct cfs_config c;
	struct cfs_user u;
	if (!some_user(&uid, name, sizeof name))
		skip();

	/* Plain user, defaults: no roles. */
	load_config(&c, NULL, 0);
	assert_int_equal(cfs_user_resolve(&c, uid, 4242, &u), 0);
	assert_string_equal(u.name, name);
	assert_int_equal(u.uid, uid);
	assert_int_equal(u.gid, 4242);
	assert_false(u.superadmin);
	assert_false(u.provisioner);
	cfs_config_free(&c);

	/* Named in the config. */
	snprintf(opt1, sizeof opt1, "users.superadmins=nobody-else,%s", name);
	snprintf(opt2, sizeof opt2, "users.provisioners=%s", name);
	const char *ov[] = { opt1, opt2 };
	load_config(&c, ov, 2);
	assert_int_equal(cfs_user_resolve(&c, uid, 0, &u), 0);
	assert_true(u.superadmin);
	assert_true(u.provisioner);
	cfs_config_free(&c);

	/* Provisioner only. */
	load_config(&c, ov + 1, 1);
	assert_int_equal(cfs_user_resolve(&c, uid, 0, &u), 0);
	assert_false(u.superadmin);
	assert_true(u.provisioner);
	cfs_config_free(&c);

	/* Named by uid. */
	snprintf(opt1, sizeof opt1, "users.superadmins=uid:%u", (unsigned)uid);
	load_config(&c, ov, 1);
	assert_int_equal(cfs_user_resolve(&c, uid, 0, &u), 0);
	assert_true(u.superadmin);
	assert_string_equal(u.name, name);
	cfs_config_free(&c);
}

static void test_unknown_uid(void **state)
{
	(void)state;
	uid_t uid = unknown_uid();
	char want[32], opt[64];
	struct cfs_user u;
	struct cfs_config c;
	snprintf(want, sizeof want, "uid:%u", (unsigned)uid);

	assert_int_equal(cfs_user_resolve(NULL, uid, 7, &u), 0);
	assert_string_equal(u.name, want);
	assert_false(u.superadmin);

	snprintf(opt, sizeof opt, "users.superadmins=%s", want);
	const char *ov[] = { opt };
	load_config(&c, ov, 1);
	assert_int_equal(cfs_user_resolve(&c, uid, 7, &u), 0);
	assert_true(u.superadmin);
	cfs_config_free(&c);

	/* The name resolves back to the uid. */
	uid_t back = 0;
	assert_int_equal(cfs_user_lookup_name(want, &back), 0);
	assert_int_equal(back, uid);
}

static void test_lookup_name(void **state)
{
	(void)state;
	uid_t uid = 99;
	struct passwd *pw = getpwuid(0);
	if (pw) {
		assert_int_equal(cfs_user_lookup_name(pw->pw_name, &uid), 0);
		assert_int_equal(uid, 0);
		/* root has a name, so "uid:0" is not how cloudfs calls it. */
		assert_int_equal(cfs_user_lookup_name("uid:0", &uid), -ENOENT);
	}
	assert_int_equal(cfs_user_lookup_name("no-such-user-cfs-test", &uid), -ENOENT);
	assert_int_equal(cfs_user_lookup_name("", &uid), -EINVAL);
	assert_int_equal(cfs_user_lookup_name(NULL, &uid), -EINVAL);
	char longname[CFS_USER_NAME_MAX + 1];
	memset(longname, 'a', CFS_USER_NAME_MAX);
	longname[CFS_USER_NAME_MAX] = '\0';
	assert_int_equal(cfs_user_lookup_name(longname, &uid), -EINVAL);
	assert_int_equal(cfs_user_lookup_name("uid:", &uid), -ENOENT);
	assert_int_equal(cfs_user_lookup_name("uid:x", &uid), -ENOENT);
	assert_int_equal(cfs_user_lookup_name("uid:-1", &uid), -ENOENT);
	assert_int_equal(cfs_user_lookup_name("uid:4294967295", &uid), -ENOENT);
	assert_int_equal(cfs_user_lookup_name("uid:99999999999999999999", &uid), -ENOENT);

	/* A leading zero is not the canonical form. */
	char z[32];
	snprintf(z, sizeof z, "uid:0%u", (unsigned)unknown_uid());
	assert_int_equal(cfs_user_lookup_name(z, &uid), -ENOENT);
}

static void test_cache(void **state)
{
	(void)state;
	struct cfs_user a, b;
	uid_t uid = unknown_uid();
	/* Same answer from the table and after a flush; slots that collide
	 * (uid and uid + 64) evict each other without mixing names. */
	assert_int_equal(cfs_user_resolve(NULL, uid, 0, &a), 0);
	assert_int_equal(cfs_user_resolve(NULL, uid, 0, &b), 0);
	assert_string_equal(a.name, b.name);
	assert_int_equal(cfs_user_resolve(NULL, uid + 64, 0, &b), 0);
	assert_string_not_equal(a.name, b.name);
	assert_int_equal(cfs_user_resolve(NULL, uid, 0, &b), 0);
	assert_string_equal(a.name, b.name);
	cfs_user_cache_flush();
	assert_int_equal(cfs_user_resolve(NULL, uid, 0, &b), 0);
	assert_string_equal(a.name, b.name);
}

struct worker_arg {
	uid_t base;
	int failures;
};

static void *worker(void *p)
{
	struct worker_arg *w = p;
	for (int i = 0; i < 2000; i++) {
		uid_t uid = w->base + (uid_t)(i % 200);
		struct cfs_user u;
		char want[32];
		if (cfs_user_resolve(NULL, uid, 0, &u) != 0) {
			w->failures++;
			continue;
		}
		snprintf(want, sizeof want, "uid:%u", (unsigned)uid);
		if (strcmp(u.name, want) != 0)
			w->failures++;
		if (i % 500 == 0)
			cfs_user_cache_flush();
	}
	return NULL;
}

static void test_threads(void **state)
{
	(void)state;
	/* Find 200 consecutive unknown uids. */
	uid_t base = 4200000;
	for (uid_t u = base; u < base + 200; u++)
		if (getpwuid(u))
			skip();
	pthread_t t[8];
	struct worker_arg args[8];
	for (int i = 0; i < 8; i++) {
		args[i] = (struct worker_arg){ .base = base };
		assert_int_equal(pthread_create(&t[i], NULL, worker, &args[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(args[i].failures, 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_root),
		cmocka_unit_test(test_named_roles),
		cmocka_unit_test(test_unknown_uid),
		cmocka_unit_test(test_lookup_name),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
