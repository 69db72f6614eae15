/* test_cdc.c — the content-defined chunker (agent/cdc.c) and the agent's
 * GET /v1/file/chunks: cuts fixed by the protocol, stable under insertions,
 * sizes within min/max, independent of how the input is fed; the route's
 * binary answer and its errors.
 *
 * With CFS_CHUNKLIST_CORPUS set to a directory, the chunk lists the route
 * answers are also written there (seeds for the chunk list fuzz target). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <xxhash.h>

#include "agent/cdc.h"
#include "../agent/helpers.h"

struct list {
	struct cdc_chunk *v;
	size_t n, cap;
};

static int collect(void *arg, const struct cdc_chunk *c)
{
	struct list *l = arg;
	if (l->n == l->cap) {
		l->cap = l->cap ? l->cap * 2 : 64;
		l->v = realloc(l->v, l->cap * sizeof *l->v);
		assert_non_null(l->v);
	}
	l->v[l->n++] = *c;
	return 0;
}

/* The chunks of buf fed in pieces of the given sizes (cycled; 0: at once). */
static struct list chunk_pieces(const uint8_t *buf, size_t n, uint32_t avg, const size_t *pieces,
				size_t npieces)
{
	struct list l = { 0 };
	struct cdc *c = cdc_new(avg);
	assert_non_null(c);
	size_t off = 0, k = 0;
	while (off < n) {
		size_t step = npieces ? pieces[k++ % npieces] : n;
		if (step > n - off)
			step = n - off;
		assert_int_equal(cdc_feed(c, buf + off, step, collect, &l), 0);
		off += step;
	}
	assert_int_equal(cdc_finish(c, collect, &l), 0);
	cdc_free(c);
	return l;
}

static struct list chunk(const uint8_t *buf, size_t n, uint32_t avg)
{
	return chunk_pieces(buf, n, avg, NULL, 0);
}

/* splitmix64 words from seed, little-endian: the same bytes everywhere. */
static uint8_t *random_bytes(size_t n, uint64_t seed)
{
	uint8_t *b = malloc(n + 8);
	assert_non_null(b);
	for (size_t i = 0; i < n; i += 8) {
		uint64_t z = (seed += 0x9e3779b97f4a7c15ull);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		z ^= z >> 31;
		for (int j = 0; j < 8; j++)
			b[i + (size_t)j] = (uint8_t)(z >> (8 * j));
	}
	return b;
}

static void check_list(const struct list *l, const uint8_t *buf, size_t n, uint32_t avg)
{
	uint64_t off = 0;
	for (size_t i = 0; i < l->n; i++) {
		const struct cdc_chunk *c = &l->v[i];
		assert_int_equal(c->off, off);
		if (i + 1 < l->n)
			assert_in_range(c->len, avg / 4, avg * 8);
		else
			assert_in_range(c->len, 1, avg * 8);
		assert_int_equal(c->hash, XXH3_64bits(buf + off, c->len));
		off += c->len;
	}
	assert_int_equal(off, n);
}

/* Field by field: the structs' padding is not part of them. */
static void assert_same(const struct list *a, const struct list *b)
{
	assert_int_equal(a->n, b->n);
	for (size_t i = 0; i < a->n; i++) {
		assert_int_equal(a->v[i].off, b->v[i].off);
		assert_int_equal(a->v[i].len, b->v[i].len);
		assert_int_equal(a->v[i].hash, b->v[i].hash);
	}
}

static bool has_hash(const struct list *l, uint64_t h)
{
	for (size_t i = 0; i < l->n; i++)
		if (l->v[i].hash == h)
			return true;
	return false;
}

/* The cut rule is protocol: these numbers come from an independent
 * implementation of what cdc.h says, and must never change. */
static void test_golden(void **state)
{
	(void)state;
	const uint64_t *g = cdc_gear();
	assert_int_equal(g[0], 0x3a38d519bd4fef38ull);
	assert_int_equal(g[1], 0x7cec805b62d9e1aeull);
	assert_int_equal(g[255], 0x1e93599ab6513b27ull);
	uint8_t *buf = random_bytes(3u << 20, 42);
	static const uint32_t small[] = { 4962, 6054, 3418, 4413, 5143, 6290 };
	static const uint32_t big[] = { 82129, 80207, 97158, 87422, 78752, 74216 };
	struct list l = chunk(buf, 1u << 20, 4096);
	assert_int_equal(l.n, 229);
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(l.v[i].len, small[i]);
	check_list(&l, buf, 1u << 20, 4096);
	free(l.v);
	l = chunk(buf, 3u << 20, 65536);
	assert_int_equal(l.n, 43);
	for (size_t i = 0; i < 6; i++)
		assert_int_equal(l.v[i].len, big[i]);
	check_list(&l, buf, 3u << 20, 65536);
	free(l.v);
	free(buf);
	assert_true(cdc_avg_valid(4096) && cdc_avg_valid(65536) && cdc_avg_valid(16u << 20));
	assert_false(cdc_avg_valid(2048) || cdc_avg_valid(12288) || cdc_avg_valid(32u << 20) ||
		     cdc_avg_valid(0));
	assert_null(cdc_new(5000));
}

static void test_deterministic(void **state)
{
	(void)state;
	size_t n = 4u << 20;
	uint8_t *buf = random_bytes(n, 7);
	struct list a = chunk(buf, n, 4096), b = chunk(buf, n, 4096);
	assert_same(&a, &b);
	check_list(&a, buf, n, 4096);
	free(a.v);
	free(b.v);
	free(buf);
}

/* An edit near the start changes only the chunks around it. */
static void test_insertion(void **state)
{
	(void)state;
	size_t n = 4u << 20, ins = 37, at = 5000;
	uint8_t *buf = random_bytes(n, 9);
	uint8_t *ed = malloc(n + ins);
	memcpy(ed, buf, at);
	memset(ed + at, 'x', ins);
	memcpy(ed + at + ins, buf + at, n - at);
	static const uint32_t avgs[] = { 4096, 65536 };
	for (size_t k = 0; k < 2; k++) {
		struct list a = chunk(buf, n, avgs[k]), b = chunk(ed, n + ins, avgs[k]);
		check_list(&b, ed, n + ins, avgs[k]);
		size_t kept = 0;
		for (size_t i = 0; i < b.n; i++)
			kept += has_hash(&a, b.v[i].hash);
		/* at most the chunk holding the edit and the one after differ */
		assert_true(b.n >= 20);
		assert_in_range(kept, b.n - 3, b.n - 1);
		/* and from some chunk on the lists are the same, shifted */
		assert_int_equal(a.v[a.n - 1].hash, b.v[b.n - 1].hash);
		free(a.v);
		free(b.v);
	}
	/* a deletion likewise */
	struct list a = chunk(buf, n, 4096), b = chunk(buf + 100, n - 100, 4096);
	size_t kept = 0;
	for (size_t i = 0; i < b.n; i++)
		kept += has_hash(&a, b.v[i].hash);
	assert_in_range(kept, b.n - 3, b.n - 1);
	free(a.v);
	free(b.v);
	free(ed);
	free(buf);
}

static void test_sizes(void **state)
{
	(void)state;
	size_t n = 8u << 20;
	uint8_t *buf = random_bytes(n, 11);
	static const uint32_t avgs[] = { 4096, 16384, 65536, 1u << 20 };
	for (size_t k = 0; k < 4; k++) {
		struct list l = chunk(buf, n, avgs[k]);
		check_list(&l, buf, n, avgs[k]);   /* min .. max but the last */
		/* normalized chunking keeps the mean near avg */
		double mean = (double)n / (double)l.n;
		assert_true(mean > avgs[k] * 0.7 && mean < avgs[k] * 1.6);
		free(l.v);
	}
	/* content with no cut point: every chunk is max long but the last */
	memset(buf, 0, n);
	struct list l = chunk(buf, n, 4096);
	for (size_t i = 0; i + 1 < l.n; i++)
		assert_int_equal(l.v[i].len, 4096 * 8);
	check_list(&l, buf, n, 4096);
	free(l.v);
	/* tiny inputs: one short chunk, or none */
	l = chunk(buf, 1, 4096);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.v[0].len, 1);
	free(l.v);
	l = chunk(buf, 0, 4096);
	assert_int_equal(l.n, 0);
	free(l.v);
	free(buf);
}

static void test_streaming(void **state)
{
	(void)state;
	size_t n = 3u << 20;
	uint8_t *buf = random_bytes(n, 13);
	struct list whole = chunk(buf, n, 4096);
	static const size_t odd[][4] = {
		{ 1, 1, 1, 1 }, { 7, 4093, 1, 65537 }, { 4096, 4096, 4096, 4096 },
		{ (1u << 20) + 7, 3, 100000, 32768 }, { 1023, 1025, 32767, 32769 },
	};
	for (size_t k = 0; k < sizeof odd / sizeof odd[0]; k++) {
		/* one byte at a time is slow: only over the first 200 KB */
		size_t len = k == 0 ? 200000 : n;
		struct list ref = k == 0 ? chunk(buf, len, 4096) : whole;
		struct list l = chunk_pieces(buf, len, 4096, odd[k], 4);
		assert_same(&l, &ref);
		free(l.v);
		if (k == 0)
			free(ref.v);
	}
	free(whole.v);
	free(buf);
}

static int count(void *arg, const struct cdc_chunk *c)
{
	(void)c;
	(*(size_t *)arg)++;
	return 0;
}

/* Not a check, a measure: the speed in this build (sanitizers slow it). */
static void test_speed(void **state)
{
	(void)state;
	size_t n = 64u << 20, chunks = 0;
	uint8_t *buf = random_bytes(n, 17);
	struct cdc *c = cdc_new(65536);
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t off = 0; off < n; off += 1u << 20)
		cdc_feed(c, buf + off, 1u << 20, count, &chunks);
	cdc_finish(c, count, &chunks);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	double s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	print_message("chunker: %zu chunks, %.0f MB/s\n", chunks, (double)n / s / 1e6);
	cdc_free(c);
	free(buf);
}

/* ---------- the route ---------- */

struct fx {
	char *root;
	struct agent *a;
	struct th_reply r;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	f->root = th_mkdtemp();
	f->a = th_agent(f->root, NULL, false);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	th_reply_free(&f->r);
	agent_free(f->a);
	th_rmrf(f->root);
	free(f->root);
	free(f);
	return 0;
}

static int call(struct fx *f, const char *method, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int call(struct fx *f, const char *method, const char *fmt, ...)
{
	char t[512];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(t, sizeof t, fmt, ap);
	va_end(ap);
	th_reply_free(&f->r);
	return th_call(f->a, method, t, NULL, 0, &f->r);
}

static void write_file(const char *root, const char *name, const void *data, size_t len)
{
	int fd = open(th_path(root, name), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	close(fd);
}

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static void save_seed(const struct fx *f, const char *name)
{
	const char *dir = getenv("CFS_CHUNKLIST_CORPUS");
	if (!dir || !*dir)
		return;
	char path[4096];
	snprintf(path, sizeof path, "%s/%s", dir, name);
	FILE *o = fopen(path, "wb");
	assert_non_null(o);
	fwrite(f->r.body.data, 1, f->r.body.len, o);
	fclose(o);
}

/* The answer is the header and exactly the chunker's records. */
static void check_answer(const struct fx *f, const uint8_t *buf, size_t n, uint32_t avg)
{
	const uint8_t *p = (const uint8_t *)f->r.body.data;
	assert_int_equal(f->r.status, 200);
	assert_string_equal(f->r.type, "application/octet-stream");
	assert_true(f->r.body.len >= CDC_LIST_HEADER);
	assert_memory_equal(p, "CDC1", 4);
	assert_int_equal(be32(p + 4), avg);
	assert_int_equal(be64(p + 8), n);
	assert_int_equal((f->r.body.len - CDC_LIST_HEADER) % CDC_LIST_RECORD, 0);
	size_t recs = (f->r.body.len - CDC_LIST_HEADER) / CDC_LIST_RECORD;
	struct list l = chunk(buf, n, avg);
	assert_int_equal(recs, l.n);
	uint64_t sum = 0;
	for (size_t i = 0; i < recs; i++) {
		const uint8_t *r = p + CDC_LIST_HEADER + i * CDC_LIST_RECORD;
		assert_int_equal(be32(r), l.v[i].len);
		assert_int_equal(be64(r + 4), l.v[i].hash);
		sum += be32(r);
	}
	assert_int_equal(sum, n);
	free(l.v);
}

static void test_route(void **state)
{
	struct fx *f = *state;
	size_t n = 300000;
	uint8_t *buf = random_bytes(n, 19);
	write_file(f->root, "data", buf, n);
	assert_int_equal(call(f, "GET", "/v1/file/chunks?path=data&avg=4096"), 200);
	check_answer(f, buf, n, 4096);
	save_seed(f, "agent-300k-avg4k");
	/* the default average */
	assert_int_equal(call(f, "GET", "/v1/file/chunks?path=data"), 200);
	check_answer(f, buf, n, 65536);
	save_seed(f, "agent-300k-avg64k");
	/* 2 MiB in a subdirectory, read through the agent's buffer twice over */
	free(buf);
	n = 2u << 20;
	buf = random_bytes(n, 23);
	mkdir(th_path(f->root, "sub"), 0755);
	write_file(f->root, "sub/big", buf, n);
	assert_int_equal(call(f, "GET", "/v1/file/chunks?path=sub%%2Fbig&avg=16384"), 200);
	check_answer(f, buf, n, 16384);
	/* a small one with a handful of chunks, and a file shorter than min */
	assert_int_equal(call(f, "GET", "/v1/file/chunks?path=sub%%2Fbig&avg=1048576"), 200);
	check_answer(f, buf, n, 1u << 20);
	save_seed(f, "agent-2m-avg1m");
	write_file(f->root, "tiny", "tiny", 4);
	assert_int_equal(call(f, "GET", "/v1/file/chunks?path=tiny&avg=4096"), 200);
	check_answer(f, (const uint8_t *)"tiny", 4, 4096);
	save_seed(f, "agent-tiny");
	/* an empty file: the header alone */
	write_file(f->root, "empty", "", 0);
	assert_int_equal(call(f, "GET", "/v1/file/chunks?path=empty"), 200);
	assert_int_equal(f->r.body.len, CDC_LIST_HEADER);
	check_answer(f, buf, 0, 65536);
	save_seed(f, "agent-empty");
	free(buf);
}

static void test_route_errors(void **state)
{
	struct fx *f = *state;
	write_file(f->root, "data", "some bytes", 10);
	static const char *const bad_avg[] = { "0", "1000", "2048", "4095", "12288", "33554432",
					       "abc", "-4096", "", "65536x" };
	for (size_t i = 0; i < sizeof bad_avg / sizeof bad_avg[0]; i++) {
		assert_int_equal(call(f, "GET", "/v1/file/chunks?path=data&avg=%s", bad_avg[i]), 400);
		assert_string_equal(th_str(f->r.json, "error"), "bad_request");
	}
	assert_int_equal(call(f, "GET", "/v1/file/chunks?path=data&avg=16777216"), 200);
	assert_int_equal(call(f, "POST", "/v1/file/chunks?path=data"), 405);
	assert_int_equal(call(f, "GET", "/v1/file/chunks"), 400);
	/* not regular files */
	mkdir(th_path(f->root, "dir"), 0755);
	assert_int_equal(call(f, "GET", "/v1/file/chunks?path=dir"), 400);
	assert_string_equal(th_str(f->r.json, "errno"), "EISDIR");
	assert_int_equal(call(f, "GET", "/v1/file/chunks?path=."), 400);
	assert_string_equal(th_str(f->r.json, "errno"), "EISDIR");
	assert_int_equal(mkfifo(th_path(f->root, "fifo"), 0644), 0);
	assert_int_equal(call(f, "GET", "/v1/file/chunks?path=fifo"), 400);
	assert_string_equal(th_str(f->r.json, "errno"), "EINVAL");
	/* the last component is not followed, even inside the root */
	assert_int_equal(symlink("data", th_path(f->root, "link")), 0);
	assert_int_equal(call(f, "GET", "/v1/file/chunks?path=link"), 400);
	assert_string_equal(th_str(f->r.json, "errno"), "EINVAL");
	/* but a directory on the way may be a link */
	assert_int_equal(symlink("dir", th_path(f->root, "dirlink")), 0);
	write_file(f->root, "dir/in", "x", 1);
	assert_int_equal(call(f, "GET", "/v1/file/chunks?path=dirlink%%2Fin"), 200);
	assert_int_equal(call(f, "GET", "/v1/file/chunks?path=missing"), 404);
	assert_string_equal(th_str(f->r.json, "errno"), "ENOENT");
	/* outside the root */
	assert_int_equal(call(f, "GET", "/v1/file/chunks?path=..%%2Fx"), 403);
	assert_string_equal(th_str(f->r.json, "error"), "outside_root");
	assert_int_equal(call(f, "GET", "/v1/file/chunks?path=%%2Fetc%%2Fpasswd"), 403);
	assert_int_equal(symlink("/etc", th_path(f->root, "out")), 0);
	assert_int_equal(call(f, "GET", "/v1/file/chunks?path=out%%2Fpasswd"), 403);
}

/* A list that cannot fit in one answer at this avg is refused before a
 * byte is read: a sparse file of 12 GiB holds at least 12 GiB / 32 KiB
 * chunks at avg 4096, more than 4 MiB of records. */
static void test_route_too_large(void **state)
{
	struct fx *f = *state;
	int fd = open(th_path(f->root, "huge"), O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	if (ftruncate(fd, (off_t)12 << 30) < 0) {
		close(fd);
		skip();
	}
	close(fd);
	assert_int_equal(call(f, "GET", "/v1/file/chunks?path=huge&avg=4096"), 413);
	assert_string_equal(th_str(f->r.json, "error"), "too_large");
	assert_string_equal(th_str(f->r.json, "errno"), "EFBIG");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_golden),
		cmocka_unit_test(test_deterministic),
		cmocka_unit_test(test_insertion),
		cmocka_unit_test(test_sizes),
		cmocka_unit_test(test_streaming),
		cmocka_unit_test(test_speed),
		cmocka_unit_test_setup_teardown(test_route, setup, teardown),
		cmocka_unit_test_setup_teardown(test_route_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_route_too_large, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
