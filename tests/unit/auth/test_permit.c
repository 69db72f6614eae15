/* test_permit.c — the permission matrix of DESIGN.md section 4, as a table. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "auth/permit.h"

#define R CFS_ACT_READ
#define W CFS_ACT_WRITE
#define C CFS_ACT_COMMAND
#define S CFS_ACT_SYNC
#define G CFS_ACT_GIT
#define ALL CFS_ACT_ALL

/* alice owns web, db and api; eve owns x; nobody else owns anything here. */
static const struct cfs_share_view shares[] = {
	{ "alice", "bob", "web", R, 0, true },
	{ "alice", "bob", "db", 0, 0, true },            /* no perms: all */
	{ "alice", "carol", "*", R | S, 1000, true },    /* every instance, until 1000 */
	{ "alice", "dave", "web", ALL, 0, false },       /* disabled */
	{ "eve", "bob", "*", 0, 0, true },               /* eve's, not alice's */
	{ "zed", "carol", "api", 0, 0, true },           /* zed shares alice's api: worthless */
	{ "alice", "erin", "web", W | C, 0, true },
	{ "alice", "erin", "web", G, 0, true },          /* two shares add up */
	{ "alice", "frank", "web", R, 999, true },       /* until 999 */
};
#define NSH (sizeof shares / sizeof shares[0])

static const struct cfs_user u_root = { .uid = 0, .name = "root", .superadmin = true };
static const struct cfs_user u_sa = { .uid = 1001, .name = "sam", .superadmin = true };
static const struct cfs_user u_alice = { .uid = 1002, .name = "alice" };
static const struct cfs_user u_bob = { .uid = 1003, .name = "bob" };
static const struct cfs_user u_carol = { .uid = 1004, .name = "carol" };
static const struct cfs_user u_dave = { .uid = 1005, .name = "dave" };
static const struct cfs_user u_erin = { .uid = 1006, .name = "erin" };
static const struct cfs_user u_frank = { .uid = 1007, .name = "frank" };
static const struct cfs_user u_prov = { .uid = 1008, .name = "pat", .provisioner = true };
static const struct cfs_user u_noname = { .uid = 1009, .name = "" };

struct permit_case {
	const char *what;
	const struct cfs_user *u;
	unsigned action;
	const char *instance, *owner;
	int64_t now;
	bool want;
};

static const struct permit_case cases[] = {
	{ "root may do anything", &u_root, G, "web", "alice", 10, true },
	{ "a named superadmin too", &u_sa, C, "web", "alice", 10, true },
	{ "superadmin without an owner", &u_sa, R, "web", NULL, 10, true },
	{ "the owner: read", &u_alice, R, "web", "alice", 10, true },
	{ "the owner: everything", &u_alice, ALL, "api", "alice", 10, true },
	{ "not the owner of x", &u_alice, R, "x", "eve", 10, false },
	{ "a provisioner is nobody here", &u_prov, R, "web", "alice", 10, false },

	{ "bob reads web", &u_bob, R, "web", "alice", 10, true },
	{ "bob may not write web", &u_bob, W, "web", "alice", 10, false },
	{ "bob may not command web", &u_bob, C, "web", "alice", 10, false },
	{ "bob may not sync web", &u_bob, S, "web", "alice", 10, false },
	{ "bob may not git web", &u_bob, G, "web", "alice", 10, false },
	{ "bob read|write on web is not all there", &u_bob, R | W, "web", "alice", 10, false },
	{ "db share without perms: read", &u_bob, R, "db", "alice", 10, true },
	{ "db share without perms: git", &u_bob, G, "db", "alice", 10, true },
	{ "db share without perms: all", &u_bob, ALL, "db", "alice", 10, true },
	{ "no share for api", &u_bob, R, "api", "alice", 10, false },

	{ "wildcard covers web", &u_carol, R, "web", "alice", 10, true },
	{ "wildcard covers api", &u_carol, S, "api", "alice", 10, true },
	{ "wildcard perms still bind", &u_carol, W, "api", "alice", 10, false },
	{ "wildcard is the sharer's only", &u_carol, R, "x", "eve", 10, false },
	{ "one second before expiry", &u_carol, R, "web", "alice", 999, true },
	{ "at the expiry second", &u_carol, R, "web", "alice", 1000, false },
	{ "after expiry", &u_carol, R, "web", "alice", 5000, false },
	{ "frank before expiry", &u_frank, R, "web", "alice", 10, true },
	{ "frank at his expiry second", &u_frank, R, "web", "alice", 999, false },

	{ "disabled share grants nothing", &u_dave, R, "web", "alice", 10, false },

	{ "eve's share grants on eve's", &u_bob, C, "x", "eve", 10, true },
	{ "eve's share does not reach alice's api", &u_bob, C, "api", "alice", 10, false },
	{ "zed's share of alice's api", &u_carol, C, "api", "alice", 10, false },
	{ "zed's share on zed's own api", &u_carol, C, "api", "zed", 10, true },

	{ "erin: write from one share", &u_erin, W, "web", "alice", 10, true },
	{ "erin: git from another", &u_erin, G, "web", "alice", 10, true },
	{ "erin: both at once", &u_erin, W | G, "web", "alice", 10, true },
	{ "erin: not read", &u_erin, R, "web", "alice", 10, false },

	{ "instance NULL: a named share does not count", &u_bob, R, NULL, "alice", 10, false },
	{ "instance NULL: a wildcard does", &u_carol, R, NULL, "alice", 10, true },
	{ "no action", &u_alice, 0, "web", "alice", 10, false },
	{ "unknown action bit", &u_root, 32, "web", "alice", 10, false },
	{ "no user", NULL, R, "web", "alice", 10, false },
	{ "no owner", &u_alice, R, "web", NULL, 10, false },
	{ "empty owner is not an empty name", &u_noname, R, "web", "", 10, false },
};

static void test_permit_matrix(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		const struct permit_case *t = &cases[i];
		bool got = cfs_permit(t->u, t->action, t->instance, t->owner, shares, NSH, t->now);
		if (got != t->want)
			fail_msg("case %zu (%s): got %d, want %d", i, t->what, got, t->want);
	}
	/* No shares at all. */
	assert_false(cfs_permit(&u_bob, R, "web", "alice", NULL, 0, 10));
	assert_true(cfs_permit(&u_alice, R, "web", "alice", NULL, 0, 10));
}

static void test_permitted_masks(void **state)
{
	(void)state;
	assert_int_equal(cfs_permitted(&u_root, "web", "alice", shares, NSH, 10), ALL);
	assert_int_equal(cfs_permitted(&u_alice, "web", "alice", shares, NSH, 10), ALL);
	assert_int_equal(cfs_permitted(&u_bob, "web", "alice", shares, NSH, 10), R);
	assert_int_equal(cfs_permitted(&u_bob, "db", "alice", shares, NSH, 10), ALL);
	assert_int_equal(cfs_permitted(&u_bob, "api", "alice", shares, NSH, 10), 0);
	assert_int_equal(cfs_permitted(&u_carol, "api", "alice", shares, NSH, 10), R | S);
	assert_int_equal(cfs_permitted(&u_carol, "api", "alice", shares, NSH, 1000), 0);
	assert_int_equal(cfs_permitted(&u_erin, "web", "alice", shares, NSH, 10), W | C | G);
	assert_int_equal(cfs_permitted(&u_dave, "web", "alice", shares, NSH, 10), 0);
	assert_int_equal(cfs_permitted(NULL, "web", "alice", shares, NSH, 10), 0);

	/* Bits outside the known actions never leak out. */
	const struct cfs_share_view odd = { "alice", "bob", "web", 0xff00 | R, 0, true };
	assert_int_equal(cfs_permitted(&u_bob, "web", "alice", &odd, 1, 10), R);
	/* Shares with missing strings are ignored. */
	const struct cfs_share_view broken[] = {
		{ NULL, "bob", "web", 0, 0, true },
		{ "alice", NULL, "web", 0, 0, true },
		{ "alice", "bob", NULL, 0, 0, true },
	};
	assert_int_equal(cfs_permitted(&u_bob, "web", "alice", broken, 3, 10), 0);
}

struct parse_case {
	const char *in;
	int ret;
	unsigned mask;
};

static void test_perms_parse(void **state)
{
	(void)state;
	static const struct parse_case pc[] = {
		{ "read", 0, R },
		{ "write", 0, W },
		{ "command", 0, C },
		{ "sync", 0, S },
		{ "git", 0, G },
		{ "read,write", 0, R | W },
		{ "git,read", 0, R | G },
		{ "read,write,command,sync,git", 0, ALL },
		{ "read,read", 0, R },
		{ "", -EINVAL, 0 },
		{ "all", -EINVAL, 0 },
		{ "Read", -EINVAL, 0 },
		{ "reads", -EINVAL, 0 },
		{ "rea", -EINVAL, 0 },
		{ "read,", -EINVAL, 0 },
		{ ",read", -EINVAL, 0 },
		{ "read,,git", -EINVAL, 0 },
		{ "read write", -EINVAL, 0 },
		{ " read", -EINVAL, 0 },
		{ ",", -EINVAL, 0 },
	};
	for (size_t i = 0; i < sizeof pc / sizeof pc[0]; i++) {
		unsigned m = 12345;
		int r = cfs_perms_parse(pc[i].in, &m);
		if (r != pc[i].ret || (r == 0 && m != pc[i].mask))
			fail_msg("'%s': got %d/%u, want %d/%u", pc[i].in, r, m, pc[i].ret, pc[i].mask);
		if (r)
			assert_int_equal(m, 12345);   /* untouched on failure */
	}
	unsigned m;
	assert_int_equal(cfs_perms_parse(NULL, &m), -EINVAL);
}

static void test_perms_format(void **state)
{
	(void)state;
	struct cfs_buf b = CFS_BUF_INIT;
	assert_int_equal(cfs_perms_format(0, &b), 0);
	assert_string_equal(b.data, "read,write,command,sync,git");
	cfs_buf_reset(&b);
	assert_int_equal(cfs_perms_format(ALL, &b), 0);
	assert_string_equal(b.data, "read,write,command,sync,git");
	cfs_buf_reset(&b);
	assert_int_equal(cfs_perms_format(G | R, &b), 0);
	assert_string_equal(b.data, "read,git");
	cfs_buf_reset(&b);
	assert_int_equal(cfs_perms_format(C, &b), 0);
	assert_string_equal(b.data, "command");
	cfs_buf_reset(&b);
	assert_int_equal(cfs_perms_format(32, &b), -EINVAL);
	/* It appends. */
	assert_int_equal(cfs_buf_puts(&b, "perms "), 0);
	assert_int_equal(cfs_perms_format(W | S, &b), 0);
	assert_string_equal(b.data, "perms write,sync");
	cfs_buf_free(&b);

	/* Every mask round-trips through the text. */
	for (unsigned mask = 1; mask <= ALL; mask++) {
		unsigned back;
		assert_int_equal(cfs_perms_format(mask, &b), 0);
		assert_int_equal(cfs_perms_parse(b.data, &back), 0);
		assert_int_equal(back, mask);
		cfs_buf_free(&b);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_permit_matrix),
		cmocka_unit_test(test_permitted_masks),
		cmocka_unit_test(test_perms_parse),
		cmocka_unit_test(test_perms_format),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
