/* test_listing.c — the agent's hashed listing (GET /v1/files) and its hash
 * cache: entries and hashes, pages joined by the cursor, eol hashes, and an
 * unchanged tree listed a second time without reading file data. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../agent/helpers.h"
#include "agent/mirror_api.h"
#include "auth/crypto.h"
#include "mirrors/mirrors.h"

struct fx {
	char *root;
	struct agent *a;
	struct th_reply r;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	f->root = th_mkdtemp();
	mkdir(th_path(f->root, "d"), 0755);
	mkdir(th_path(f->root, "d/e"), 0700);
	th_write(f->root, "d/f.txt", "hello\r\nworld\r\n");
	th_write(f->root, "d/e/g", "");
	th_write(f->root, "a.b", "x");
	th_write(f->root, ".cloudfs-tmp-123", "hidden");
	symlink("d/f.txt", th_path(f->root, "link"));
	f->a = th_agent(f->root, NULL, false);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	th_reply_free(&f->r);
	agent_mirror_release(f->a);
	agent_free(f->a);
	th_rmrf(f->root);
	free(f->root);
	free(f);
	return 0;
}

/* th_call, but straight into the mirror routes. */
static int call(struct fx *f, const char *target)
{
	th_reply_free(&f->r);
	struct query q;
	assert_int_equal(agent_query_parse(target, &q), 0);
	struct wire_request rq = { .method = "GET", .target = target, .body = "", .env = "x" };
	struct wire_response rs = { .status = 200 };
	assert_true(agent_route_mirror(f->a, q.path, &rq, &q, &rs));
	agent_query_free(&q);
	f->r.status = rs.status;
	f->r.body = rs.body;
	f->r.json = cJSON_ParseWithLength(rs.body.data ? rs.body.data : "", rs.body.len);
	return f->r.status;
}

static const cJSON *entry(const cJSON *j, const char *path)
{
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "entries")) {
		const cJSON *p = cJSON_GetObjectItem(e, "path");
		if (cJSON_IsString(p) && !strcmp(p->valuestring, path))
			return e;
	}
	return NULL;
}

static void test_list(void **state)
{
	struct fx *f = *state;
	assert_int_equal(call(f, "/v1/files?path=.&eol=1"), 200);
	const cJSON *j = f->r.json;
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(j, "entries")), 6);
	assert_null(entry(j, ".cloudfs-tmp-123"));
	assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "next")));
	/* order: a '/' sorts before any byte, so d's subtree precedes nothing odd */
	const char *want[] = { "a.b", "d", "d/e", "d/e/g", "d/f.txt", "link" };
	int i = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(j, "entries"))
		assert_string_equal(th_str(e, "path"), want[i++]);
	const cJSON *t = entry(j, "d/f.txt");
	char h[CFS_XXH128_HEX], hl[CFS_XXH128_HEX];
	cfs_xxh128_hex("hello\r\nworld\r\n", 14, h);
	cfs_xxh128_hex("hello\nworld\n", 12, hl);
	assert_string_equal(th_str(t, "xxh128"), h);
	assert_string_equal(th_str(t, "xxh128_lf"), hl);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(t, "text")));
	assert_int_equal(th_int(t, "size"), 14);
	assert_string_equal(th_str(entry(j, "link"), "type"), "symlink");
	assert_string_equal(th_str(entry(j, "link"), "target"), "d/f.txt");
	assert_int_equal(th_int(entry(j, "d/e"), "mode"), 0700);
	assert_int_equal(th_int(j, "hashed_bytes"), 14 + 1);
	/* below a subdirectory; outside the root refused */
	assert_int_equal(call(f, "/v1/files?path=d"), 200);
	assert_non_null(entry(f->r.json, "e/g"));
	assert_null(cJSON_GetObjectItem(entry(f->r.json, "f.txt"), "xxh128_lf"));
	assert_int_equal(call(f, "/v1/files?path=../x"), 403);
	assert_int_equal(call(f, "/v1/files?path=nope"), 404);
	assert_int_equal(call(f, "/v1/files?path=a.b"), 400);     /* ENOTDIR */
}

/* Numbers as written by hand: before 1970, far ahead, every mode bit. */
static void test_numbers(void **state)
{
	struct fx *f = *state;
	th_write(f->root, "old", "abc");
	th_write(f->root, "new", "");
	struct timespec old[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = -2, .tv_nsec = 500000000 } };
	struct timespec nw[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = 4102444800, .tv_nsec = 999999999 } };
	assert_int_equal(utimensat(AT_FDCWD, th_path(f->root, "old"), old, 0), 0);
	assert_int_equal(utimensat(AT_FDCWD, th_path(f->root, "new"), nw, 0), 0);
	assert_int_equal(chmod(th_path(f->root, "new"), 07777), 0);
	assert_int_equal(call(f, "/v1/files?path=."), 200);
	const cJSON *o = entry(f->r.json, "old"), *n = entry(f->r.json, "new");
	assert_int_equal(th_int(o, "mtime"), -2);
	assert_int_equal(th_int(o, "mtime_nsec"), 500000000);
	assert_int_equal(th_int(o, "size"), 3);
	assert_int_equal(th_int(n, "mtime"), 4102444800);
	assert_int_equal(th_int(n, "mtime_nsec"), 999999999);
	assert_int_equal(th_int(n, "size"), 0);
	assert_int_equal(th_int(n, "mode"), 07777);
	assert_int_equal(th_int(entry(f->r.json, "d"), "size"), 0);
}

/* Names JSON must escape (quotes, backslashes, control bytes), names that
 * are not UTF-8 (path_b64) and link targets alike come back exactly, and the
 * page is valid JSON the manager's parser takes. */
static void test_hostile_names(void **state)
{
	struct fx *f = *state;
	static const char *const names[] = { "q\"uote", "back\\slash", "new\nline", "ctl\x01\x1f",
					     "tab\there", "caf\xc3\xa9" };
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		th_write(f->root, names[i], "x");
	th_write(f->root, "bad\xff\xfe", "y");
	symlink("to \"odd\\target\n", th_path(f->root, "odd-link"));
	assert_int_equal(call(f, "/v1/files?path=."), 200);
	assert_non_null(f->r.json);
	for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
		assert_non_null(entry(f->r.json, names[i]));
	const cJSON *e, *b64 = NULL;
	cJSON_ArrayForEach(e, cJSON_GetObjectItem(f->r.json, "entries"))
		if (cJSON_GetObjectItem(e, "path_b64"))
			b64 = e;
	assert_non_null(b64);
	assert_string_equal(th_str(b64, "path_b64"), "YmFk//4=");
	assert_string_equal(th_str(entry(f->r.json, "odd-link"), "target"), "to \"odd\\target\n");
	/* what the manager makes of it */
	struct mlist l = { 0 };
	char *next = NULL;
	assert_int_equal(mlist_parse_page(f->r.body.data, f->r.body.len, &l, &next), 0);
	assert_null(next);
	assert_int_equal(mlist_sort(&l), 0);
	assert_non_null(mlist_find(&l, "bad\xff\xfe"));
	assert_non_null(mlist_find(&l, "ctl\x01\x1f"));
	mlist_free(&l);
}

static void test_pages(void **state)
{
	struct fx *f = *state;
	char tg[512] = "/v1/files?path=.&limit=1";
	char got[16][64];
	int n = 0;
	for (;;) {
		assert_int_equal(call(f, tg), 200);
		const cJSON *e;
		cJSON_ArrayForEach(e, cJSON_GetObjectItem(f->r.json, "entries"))
			snprintf(got[n++], sizeof got[0], "%s", th_str(e, "path"));
		const cJSON *nx = cJSON_GetObjectItem(f->r.json, "next");
		if (!cJSON_IsString(nx))
			break;
		snprintf(tg, sizeof tg, "/v1/files?path=.&limit=1&cursor=%s", nx->valuestring);
		assert_true(n < 16);
	}
	assert_int_equal(n, 6);
	assert_string_equal(got[0], "a.b");
	assert_string_equal(got[3], "d/e/g");
	assert_string_equal(got[5], "link");
	assert_int_equal(call(f, "/v1/files?path=.&cursor=zz"), 400);
}

static void test_cache(void **state)
{
	struct fx *f = *state;
	assert_int_equal(call(f, "/v1/files?path=."), 200);
	assert_int_equal(call(f, "/v1/files?path=."), 200);
	/* the second time nothing is read */
	assert_int_equal(th_int(f->r.json, "hashed_bytes"), 0);
	assert_int_equal(th_int(f->r.json, "cached"), 3);
	/* a change moves the key: size, content at the same size, or ctime */
	usleep(20000);
	th_write(f->root, "a.b", "y");
	assert_int_equal(call(f, "/v1/files?path=."), 200);
	assert_int_equal(th_int(f->r.json, "hashed_bytes"), 1);
	char h[CFS_XXH128_HEX];
	cfs_xxh128_hex("y", 1, h);
	assert_string_equal(th_str(entry(f->r.json, "a.b"), "xxh128"), h);
}

static void test_persist(void **state)
{
	(void)state;
	char *dir = th_mkdtemp();
	th_write(dir, "f", "content");
	const char *cpath = th_path(dir, "cache");
	char cache[4096];
	snprintf(cache, sizeof cache, "%s", cpath);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	struct stat st;
	fstatat(dfd, "f", &st, AT_SYMLINK_NOFOLLOW);
	struct hcache *c;
	struct hc_val v;
	uint64_t hashed = 0;
	assert_int_equal(hcache_open(cache, &c), 0);
	assert_int_equal(hcache_hash(c, dfd, "f", &st, &v, &hashed), 0);
	assert_int_equal(hashed, 7);
	assert_int_equal(hcache_save(c), 0);
	hcache_free(c);
	/* reopened: still cached */
	assert_int_equal(hcache_open(cache, &c), 0);
	assert_int_equal(hcache_size(c), 1);
	hashed = 0;
	assert_int_equal(hcache_hash(c, dfd, "f", &st, &v, &hashed), 0);
	assert_int_equal(hashed, 0);
	/* a key that differs in any field is a miss */
	struct stat st2 = st;
	st2.st_ctim.tv_nsec ^= 1;
	assert_int_equal(hcache_hash(c, dfd, "f", &st2, &v, &hashed), 0);
	assert_int_equal(hashed, 7);
	hcache_free(c);
	/* a corrupt cache file starts empty */
	th_write(dir, "cache", "garbage");
	assert_int_equal(hcache_open(cache, &c), 0);
	assert_int_equal(hcache_size(c), 0);
	hcache_free(c);
	close(dfd);
	th_rmrf(dir);
	free(dir);
}

/* A listing's save comes a few seconds later from a thread of its own, even
 * when listings keep coming; freeing the cache saves what is still pending. */
static void test_deferred_save(void **state)
{
	(void)state;
	char *dir = th_mkdtemp();
	th_write(dir, "f", "content");
	th_write(dir, "g", "more content");
	char cache[4096];
	snprintf(cache, sizeof cache, "%s", th_path(dir, "cache"));
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	struct stat st;
	struct hcache *c;
	struct hc_val v;
	uint64_t hashed = 0;
	assert_int_equal(hcache_open(cache, &c), 0);
	fstatat(dfd, "f", &st, AT_SYMLINK_NOFOLLOW);
	assert_int_equal(hcache_hash(c, dfd, "f", &st, &v, &hashed), 0);
	hcache_save_soon(c);
	assert_int_not_equal(access(cache, F_OK), 0);   /* not at once */
	/* the saver writes it a few seconds later, though listings keep asking */
	for (int i = 0; i < 200 && access(cache, F_OK); i++) {
		hcache_save_soon(c);
		usleep(50 * 1000);
	}
	assert_int_equal(access(cache, F_OK), 0);
	/* a change after that, still pending when the cache is freed */
	fstatat(dfd, "g", &st, AT_SYMLINK_NOFOLLOW);
	assert_int_equal(hcache_hash(c, dfd, "g", &st, &v, &hashed), 0);
	hcache_save_soon(c);
	hcache_free(c);
	assert_int_equal(hcache_open(cache, &c), 0);
	assert_int_equal(hcache_size(c), 2);
	hcache_free(c);
	close(dfd);
	th_rmrf(dir);
	free(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_names, setup, teardown),
		cmocka_unit_test(test_deferred_save),
		cmocka_unit_test_setup_teardown(test_numbers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache, setup, teardown),
		cmocka_unit_test(test_persist),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
