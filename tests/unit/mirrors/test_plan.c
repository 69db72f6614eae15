/* test_plan.c — the plan classifier, plan building with excludes, the
 * rendering and the listing page parser. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>
#include <string.h>

#include "mirrors/mirrors.h"

static struct ment file(const char *path, uint64_t size, const char *xxh, int64_t mtime_s)
{
	struct ment m = { .path = (char *)path, .type = ME_FILE, .size = size,
			  .mtime_ns = mtime_s * 1000000000, .mode = 0644 };
	snprintf(m.xxh, sizeof m.xxh, "%s", xxh);
	return m;
}

#define H1 "00000000000000000000000000000001"
#define H2 "00000000000000000000000000000002"
#define H3 "00000000000000000000000000000003"

static void test_classify(void **state)
{
	(void)state;
	struct ment a = file("f", 10, H1, 100), b = file("f", 10, H1, 50);
	assert_int_equal(mplan_classify(&a, &b, false), MC_SAME);
	b.mtime_ns = 200LL * 1000000000;   /* mtime alone never makes a difference */
	assert_int_equal(mplan_classify(&a, &b, false), MC_SAME);
	b = file("f", 10, H2, 50);
	assert_int_equal(mplan_classify(&a, &b, false), MC_CHANGED);
	b = file("f", 10, H2, 150);
	assert_int_equal(mplan_classify(&a, &b, false), MC_DEST_NEWER);
	b = file("f", 11, H1, 50);        /* size differs */
	assert_int_equal(mplan_classify(&a, &b, false), MC_CHANGED);
	assert_int_equal(mplan_classify(&a, NULL, false), MC_NEW);
	assert_int_equal(mplan_classify(NULL, &a, false), MC_EXTRA);
	/* type change */
	struct ment d = { .path = "f", .type = ME_DIR };
	assert_int_equal(mplan_classify(&a, &d, false), MC_CHANGED);
	assert_int_equal(mplan_classify(&d, &d, false), MC_SAME);
	/* symlinks by target */
	struct ment l1 = { .path = "l", .type = ME_LINK, .target = "x" };
	struct ment l2 = { .path = "l", .type = ME_LINK, .target = "y" };
	assert_int_equal(mplan_classify(&l1, &l1, false), MC_SAME);
	assert_int_equal(mplan_classify(&l1, &l2, false), MC_CHANGED);
	/* eol: CRLF and LF copies of one text */
	a = file("t", 12, H1, 100), b = file("t", 10, H2, 50);
	a.text = b.text = true;
	memcpy(a.xxh_lf, H3, 33);
	memcpy(b.xxh_lf, H3, 33);
	assert_int_equal(mplan_classify(&a, &b, false), MC_CHANGED);
	assert_int_equal(mplan_classify(&a, &b, true), MC_SAME);
	b.text = false;                   /* binary on one side: bytes decide */
	assert_int_equal(mplan_classify(&a, &b, true), MC_CHANGED);
}

static void add(struct mlist *l, struct ment m)
{
	l->v = realloc(l->v, (l->n + 1) * sizeof *l->v);
	m.path = strdup(m.path);
	m.target = m.target ? strdup(m.target) : NULL;
	l->v[l->n++] = m;
}

static void test_build(void **state)
{
	(void)state;
	struct mlist s = { 0 }, d = { 0 };
	add(&s, file("same", 5, H1, 1));
	add(&d, file("same", 5, H1, 1));
	add(&s, file("new", 7, H1, 1));
	add(&s, file("chg", 9, H1, 10));
	add(&d, file("chg", 3, H2, 5));
	add(&s, file("cfl", 4, H1, 10));
	add(&d, file("cfl", 6, H2, 20));
	add(&d, file("gone", 11, H2, 20));
	add(&s, file("skip.log", 100, H1, 1));
	add(&d, file("old.log", 100, H1, 1));           /* excluded: not extra */
	add(&d, file("x.cloudfs-conflict-20260101-000000-a", 1, H1, 1));
	add(&s, (struct ment){ .path = "dir", .type = ME_DIR });
	add(&s, file("dir/in\nner", 2, H1, 1));
	assert_int_equal(mlist_sort(&s), 0);
	assert_int_equal(mlist_sort(&d), 0);
	assert_non_null(mlist_find(&s, "dir/in\nner"));
	assert_null(mlist_find(&s, "nope"));
	struct mglob_set *ex;
	struct cfs_err err = { 0 };
	assert_int_equal(mglob_set_parse("*.log", &ex, &err), 0);
	struct mplan p;
	assert_int_equal(mplan_build(&s, &d, ex, false, &p), 0);
	assert_int_equal(p.count[MC_SAME], 1);
	assert_int_equal(p.count[MC_NEW], 3);     /* new, dir, dir/in\nner */
	assert_int_equal(p.count[MC_CHANGED], 1);
	assert_int_equal(p.count[MC_DEST_NEWER], 1);
	assert_int_equal(p.count[MC_EXTRA], 1);
	assert_int_equal(p.bytes[MC_NEW], 9);
	assert_int_equal(p.bytes[MC_CHANGED], 9);
	assert_int_equal(p.bytes[MC_DEST_NEWER], 4);
	assert_int_equal(p.bytes[MC_EXTRA], 11);
	assert_int_equal(p.dst_files, 4);         /* same, chg, cfl, gone */
	struct cfs_buf out = CFS_BUF_INIT;
	assert_int_equal(mplan_render(&p, true, &out), 0);
	assert_non_null(strstr(out.data, "new 2 dir/in\\nner\n"));
	assert_non_null(strstr(out.data, "dest-newer 4 cfl\n"));
	assert_non_null(strstr(out.data, "extra 11 gone\n"));
	assert_non_null(strstr(out.data, "same 5 same\n"));
	assert_non_null(strstr(out.data, "# total new 3 paths 9 bytes\n"));
	assert_null(strstr(out.data, "log"));
	cfs_buf_reset(&out);
	assert_int_equal(mplan_render_json(&p, &out), 0);
	assert_non_null(strstr(out.data, "\"class\":\"dest-newer\""));
	cfs_buf_free(&out);
	mplan_free(&p);
	mglob_set_free(ex);
	mlist_free(&s);
	mlist_free(&d);
}

static void test_escape(void **state)
{
	(void)state;
	struct cfs_buf b = CFS_BUF_INIT;
	assert_int_equal(mplan_escape("a\\b\nc d", &b), 0);
	assert_string_equal(b.data, "a\\\\b\\nc d");
	cfs_buf_free(&b);
}

static void test_parse_page(void **state)
{
	(void)state;
	struct mlist l = { 0 };
	char *next = NULL;
	const char *page =
		"{\"entries\":[{\"path\":\"a\",\"type\":\"dir\",\"size\":0,\"mtime\":1,\"mode\":493},"
		"{\"path\":\"a/f\",\"type\":\"file\",\"size\":3,\"mtime\":1,\"mtime_nsec\":5,\"mode\":420,"
		"\"xxh128\":\"" H1 "\",\"text\":true,\"xxh128_lf\":\"" H2 "\"},"
		"{\"path_b64\":\"/w==\",\"type\":\"symlink\",\"size\":1,\"mtime\":1,\"mode\":511,"
		"\"target\":\"a\"}],\"next\":\"a/f\",\"hashed_bytes\":3}";
	assert_int_equal(mlist_parse_page(page, strlen(page), &l, &next), 0);
	assert_int_equal(l.n, 3);
	assert_string_equal(next, "a/f");
	free(next);
	assert_int_equal(l.v[1].mtime_ns, 1000000005);
	assert_true(l.v[1].text);
	assert_string_equal(l.v[1].xxh_lf, H2);
	assert_string_equal(l.v[2].path, "\xff");
	assert_string_equal(l.v[2].target, "a");
	assert_int_equal(l.hashed_bytes, 3);
	/* refused: unsafe paths, a file without hash, bad shapes */
	const char *bad[] = {
		"{\"entries\":[{\"path\":\"../x\",\"type\":\"dir\",\"size\":0,\"mtime\":1,\"mode\":0}],\"next\":null}",
		"{\"entries\":[{\"path\":\"/x\",\"type\":\"dir\",\"size\":0,\"mtime\":1,\"mode\":0}],\"next\":null}",
		"{\"entries\":[{\"path\":\"a//b\",\"type\":\"dir\",\"size\":0,\"mtime\":1,\"mode\":0}],\"next\":null}",
		"{\"entries\":[{\"path\":\"x\",\"type\":\"file\",\"size\":0,\"mtime\":1,\"mode\":0}],\"next\":null}",
		"{\"entries\":[{\"path\":\"x\",\"type\":\"symlink\",\"size\":0,\"mtime\":1,\"mode\":0}],\"next\":null}",
		"{\"entries\":{},\"next\":null}",
		"[]",
	};
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		assert_int_equal(mlist_parse_page(bad[i], strlen(bad[i]), &l, &next), -EINVAL);
		assert_int_equal(l.n, 3);
	}
	mlist_free(&l);
}

static void test_loc(void **state)
{
	(void)state;
	char inst[65], path[256];
	struct cfs_err err = { 0 };
	assert_int_equal(mirror_parse_loc("web1:www", inst, path, sizeof path, &err), 0);
	assert_string_equal(inst, "web1");
	assert_string_equal(path, "www");
	assert_int_equal(mirror_parse_loc("web1:/www/", inst, path, sizeof path, &err), 0);
	assert_string_equal(path, "www");
	assert_int_equal(mirror_parse_loc("web1:/", inst, path, sizeof path, &err), 0);
	assert_string_equal(path, "");
	assert_int_equal(mirror_parse_loc("web1:a/../b", inst, path, sizeof path, &err), -EINVAL);
	assert_int_equal(mirror_parse_loc("web1:..", inst, path, sizeof path, &err), -EINVAL);
	assert_int_equal(mirror_parse_loc("nocolon", inst, path, sizeof path, &err), -EINVAL);
	assert_int_equal(mirror_parse_loc(":x", inst, path, sizeof path, &err), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_build),
		cmocka_unit_test(test_escape),
		cmocka_unit_test(test_parse_page),
		cmocka_unit_test(test_loc),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
