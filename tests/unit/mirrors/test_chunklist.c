/* test_chunklist.c — the manager's side of chunk lists (mirrors/chunklist.c):
 * what the agent's GET /v1/file/chunks answers parses back with its
 * offsets, hostile lists are refused, and the (hash, length) index finds
 * what an edited file shares with its old version. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../agent/helpers.h"
#include "mirrors/chunklist.h"

static uint8_t *random_bytes(size_t n, uint64_t seed)
{
	uint8_t *b = malloc(n + 8);
	assert_non_null(b);
	for (size_t i = 0; i < n; i += 8) {
		uint64_t z = (seed += 0x9e3779b97f4a7c15ull);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		z ^= z >> 31;
		memcpy(b + i, &z, 8);
	}
	return b;
}

static void write_file(const char *root, const char *name, const void *data, size_t len)
{
	int fd = open(th_path(root, name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* The agent's chunk list of name, parsed. */
static void agent_list(struct agent *a, const char *name, uint32_t avg, struct chunklist *l)
{
	char t[256];
	struct th_reply r;
	struct cfs_err err = { 0 };
	snprintf(t, sizeof t, "/v1/file/chunks?path=%s&avg=%u", name, avg);
	assert_int_equal(th_call(a, "GET", t, NULL, 0, &r), 200);
	if (chunklist_parse(r.body.data, r.body.len, l, &err))
		fail_msg("parse: %s", err.msg);
	th_reply_free(&r);
}

static void test_agent_lists(void **state)
{
	(void)state;
	char *root = th_mkdtemp();
	struct agent *a = th_agent(root, NULL, false);
	size_t n = 4u << 20, ins = 1000, at = 1u << 20;
	uint8_t *old = random_bytes(n, 5), *neu = malloc(n + ins);
	memcpy(neu, old, at);
	memset(neu + at, 'z', ins);
	memcpy(neu + at + ins, old + at, n - at);
	write_file(root, "old", old, n);
	write_file(root, "new", neu, n + ins);
	struct chunklist lo, ln;
	agent_list(a, "old", 16384, &lo);
	agent_list(a, "new", 16384, &ln);
	assert_int_equal(lo.avg, 16384);
	assert_int_equal(lo.size, n);
	assert_int_equal(ln.size, n + ins);
	uint64_t off = 0;
	for (size_t i = 0; i < lo.n; i++) {
		assert_int_equal(lo.v[i].off, off);
		off += lo.v[i].len;
	}
	/* what the matcher does: nearly all of the new file is in the old one */
	struct chunkindex ix;
	assert_int_equal(chunkindex_build(&lo, &ix), 0);
	uint64_t reused = 0;
	for (size_t i = 0; i < ln.n; i++) {
		const struct chunk *c = chunkindex_find(&ix, ln.v[i].h, ln.v[i].len);
		if (c) {
			assert_memory_equal(old + c->off, neu + ln.v[i].off, c->len);
			reused += c->len;
		}
	}
	assert_true(reused > n - 8 * 16384 * 2);
	/* every chunk of the old list is found, at itself */
	for (size_t i = 0; i < lo.n; i++)
		assert_ptr_equal(chunkindex_find(&ix, lo.v[i].h, lo.v[i].len), &lo.v[i]);
	assert_null(chunkindex_find(&ix, lo.v[0].h, lo.v[0].len + 1));
	assert_null(chunkindex_find(&ix, lo.v[0].h ^ 1, lo.v[0].len));
	chunkindex_free(&ix);
	chunklist_free(&lo);
	chunklist_free(&ln);
	/* an empty file: an empty list, and an index finding nothing */
	write_file(root, "empty", "", 0);
	agent_list(a, "empty", 4096, &lo);
	assert_int_equal(lo.n, 0);
	assert_int_equal(lo.size, 0);
	assert_int_equal(chunkindex_build(&lo, &ix), 0);
	assert_null(chunkindex_find(&ix, 0, 0));
	chunkindex_free(&ix);
	chunklist_free(&lo);
	agent_free(a);
	th_rmrf(root);
	free(root);
	free(old);
	free(neu);
}

struct body {
	uint8_t b[512];
	size_t len;
};

static void put(struct body *x, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--)
		x->b[x->len++] = (uint8_t)(v >> (8 * i));
}

static struct body list_of(const char *magic, uint32_t avg, uint64_t size, const uint32_t *lens,
			   size_t n)
{
	struct body x = { .len = 4 };
	memcpy(x.b, magic, 4);
	put(&x, avg, 4);
	put(&x, size, 8);
	for (size_t i = 0; i < n; i++) {
		put(&x, lens[i], 4);
		put(&x, 1000 + i % 2, 8);   /* two distinct hashes, the rest duplicates */
	}
	return x;
}

static void refused(const struct body *x, const char *why)
{
	struct chunklist l;
	struct cfs_err err = { 0 };
	assert_int_equal(chunklist_parse(x->b, x->len, &l, &err), -EINVAL);
	if (!strstr(err.msg, why))
		fail_msg("\"%s\" does not say \"%s\"", err.msg, why);
	assert_int_equal(l.n, 0);
	assert_null(l.v);
	chunklist_free(&l);
}

static void test_refused(void **state)
{
	(void)state;
	static const uint32_t three[] = { 100, 100, 100 };
	struct body ok = list_of("CDC1", 4096, 300, three, 3);
	struct chunklist l;
	struct cfs_err err = { 0 };
	assert_int_equal(chunklist_parse(ok.b, ok.len, &l, &err), 0);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.v[2].off, 200);
	/* duplicates: the first one is found */
	struct chunkindex ix;
	assert_int_equal(chunkindex_build(&l, &ix), 0);
	assert_ptr_equal(chunkindex_find(&ix, 1000, 100), &l.v[0]);
	assert_ptr_equal(chunkindex_find(&ix, 1001, 100), &l.v[1]);
	chunkindex_free(&ix);
	chunkindex_free(&ix);   /* zeroed: fine */
	chunklist_free(&l);
	chunklist_free(&l);

	struct body x = ok;
	x.len = 10;
	refused(&x, "header");
	x = list_of("CDC2", 4096, 300, three, 3);
	refused(&x, "header");
	x = ok;
	x.len -= 1;
	refused(&x, "multiple of 12");
	x = list_of("CDC1", 4096, 301, three, 3);
	refused(&x, "not 301");
	x = list_of("CDC1", 4096, 299, three, 3);
	refused(&x, "pass the size");
	static const uint32_t zero[] = { 100, 0, 200 };
	x = list_of("CDC1", 4096, 300, zero, 3);
	refused(&x, "length 0");
	static const uint32_t longer[] = { 32768, 32769 };
	x = list_of("CDC1", 4096, 65537, longer, 2);
	refused(&x, "length 32769");
	static const uint32_t one[] = { 10 };
	static const uint32_t bad_avg[] = { 0, 2048, 5000, 32u << 20, 0xffffffff };
	for (size_t i = 0; i < 5; i++) {
		x = list_of("CDC1", bad_avg[i], 10, one, 1);
		refused(&x, "power of two");
	}
	/* lengths that would overflow a 64-bit sum */
	static const uint32_t huge[] = { 0xffffffff, 0xffffffff, 0xffffffff };
	x = list_of("CDC1", 1u << 24, UINT64_MAX, huge, 3);
	refused(&x, "length 4294967295");
	static const uint32_t max[] = { 1u << 27, 1u << 27 };
	x = list_of("CDC1", 1u << 24, UINT64_MAX, max, 2);
	refused(&x, "not 18446744073709551615");
	/* and the largest list an agent may send parses */
	size_t n = (4u << 20) / 12 - 2;
	uint8_t *big = calloc(1, 16 + 12 * n);
	memcpy(big, "CDC1\0\0\x10\0", 8);
	uint64_t size = (uint64_t)n * 4096;
	for (int i = 0; i < 8; i++)
		big[8 + i] = (uint8_t)(size >> (56 - 8 * i));
	for (size_t i = 0; i < n; i++) {
		big[16 + 12 * i + 2] = 0x10;   /* length 4096 */
		memcpy(big + 16 + 12 * i + 4, &i, sizeof i);
	}
	assert_int_equal(chunklist_parse(big, 16 + 12 * n, &l, &err), 0);
	assert_int_equal(l.n, n);
	assert_int_equal(chunkindex_build(&l, &ix), 0);
	for (size_t i = 0; i < n; i += 997)
		assert_ptr_equal(chunkindex_find(&ix, l.v[i].h, 4096), &l.v[i]);
	chunkindex_free(&ix);
	chunklist_free(&l);
	free(big);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_agent_lists),
		cmocka_unit_test(test_refused),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
