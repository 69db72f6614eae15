/* Unit tests: the compact index (merge, lookup, persist, mmap reopen) and the
 * LRU cache. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <unistd.h>

#include "restic/rr_int.h"

static void mkid(uint8_t id[32], uint32_t n, uint8_t salt)
{
	/* spread ids like SHA-256 would, deterministically */
	uint8_t seed[5] = { (uint8_t)n, (uint8_t)(n >> 8), (uint8_t)(n >> 16), (uint8_t)(n >> 24), salt };
	rr_sha256(seed, sizeof seed, id);
}

/* A batch of nblobs blobs spread over npacks packs. */
static void fill_batch(struct rr_ixbatch *b, uint32_t first, uint32_t nblobs, uint32_t npacks,
		       uint8_t packsalt)
{
	memset(b, 0, sizeof *b);
	b->packs = malloc(npacks * 32);
	b->npacks = b->cpacks = npacks;
	for (uint32_t p = 0; p < npacks; p++)
		mkid(b->packs[p], p, packsalt);
	b->recs = malloc(nblobs * sizeof *b->recs);
	b->nrecs = b->crecs = nblobs;
	for (uint32_t i = 0; i < nblobs; i++) {
		struct rr_ixrec *r = &b->recs[i];
		mkid(r->id, first + i, 0);
		r->pack = (i % npacks) | ((first + i) % 7 == 0 ? RR_IX_TREE : 0);
		r->offset = i * 100;
		r->length = 100 + (first + i) % 50;
		r->ulen = (first + i) % 3 ? 0 : 1000 + first + i;
	}
}

static void check_blob(struct rr_index *ix, uint32_t n, uint8_t packsalt, uint32_t npacks,
		       uint32_t first)
{
	uint8_t id[32], pid[32], want[32];
	struct rr_loc loc[4];
	mkid(id, n, 0);
	int type = n % 7 == 0 ? RR_TREE : RR_DATA;
	assert_int_equal(rr_index_lookup(ix, id, type, loc, 4), 1);
	assert_int_equal(rr_index_lookup(ix, id, !type, loc + 1, 3), 0);   /* type matters */
	assert_int_equal(loc[0].length, 100 + n % 50);
	assert_int_equal(loc[0].ulen, n % 3 ? 0 : 1000 + n);
	assert_int_equal(loc[0].offset, (n - first) * 100);
	assert_int_equal(rr_index_pack_id(ix, loc[0].pack, pid), 0);
	mkid(want, (n - first) % npacks, packsalt);
	assert_memory_equal(pid, want, 32);
}

static void test_index_merge_lookup(void **state)
{
	(void)state;
	struct rr_index *ix = rr_index_new();
	struct rr_ixbatch b;
	/* several batches, sharing some pack ids: they are deduplicated */
	for (uint32_t k = 0; k < 7; k++) {
		fill_batch(&b, k * 1000, 1000, 10, (uint8_t)(k % 2));
		assert_int_equal(rr_index_merge(ix, &b), 0);
		assert_null(b.recs);
	}
	uint64_t blobs, packs, bytes;
	int mapped;
	rr_index_stats(ix, &blobs, &packs, &bytes, &mapped);
	assert_int_equal(blobs, 7000);
	assert_int_equal(packs, 20);
	assert_int_equal(bytes, 7000 * RR_INDEX_BYTES_PER_BLOB + 20 * 32);
	assert_false(mapped);
	for (uint32_t n = 0; n < 7000; n += 13)
		check_blob(ix, n, (uint8_t)((n / 1000) % 2), 10, n / 1000 * 1000);
	uint8_t id[32];
	struct rr_loc loc[8];
	mkid(id, 999999, 0);
	assert_int_equal(rr_index_lookup(ix, id, RR_DATA, loc, 8), 0);
	/* the same blob in a second pack: both locations come back */
	fill_batch(&b, 5, 1, 1, 9);
	b.recs[0].pack = 0;   /* data */
	assert_int_equal(rr_index_merge(ix, &b), 0);
	mkid(id, 5, 0);
	assert_int_equal(rr_index_lookup(ix, id, RR_DATA, loc, 8), 2);
	assert_int_equal(rr_index_lookup(ix, id, RR_DATA, loc, 1), 1);
	assert_int_equal(rr_index_pack_id(ix, 12345, id), -ENOENT);
	rr_index_free(ix);
}

static void test_index_persist(void **state)
{
	(void)state;
	char dir[256];
	const char *tmp = getenv("TMPDIR");
	snprintf(dir, sizeof dir, "%s/rr-ix-XXXXXX", tmp && *tmp ? tmp : P_tmpdir);
	assert_non_null(mkdtemp(dir));
	char path[300];
	snprintf(path, sizeof path, "%s/ix", dir);
	uint8_t cfg[32], other[32], ixids[3][32];
	memset(cfg, 0xc1, 32);
	memset(other, 0xc2, 32);
	for (int i = 0; i < 3; i++)
		mkid(ixids[i], (uint32_t)i, 77);

	struct rr_index *ix = rr_index_new();
	struct rr_ixbatch b;
	for (uint32_t k = 0; k < 3; k++) {
		fill_batch(&b, k * 500, 500, 4, (uint8_t)k);
		assert_int_equal(rr_index_merge(ix, &b), 0);
	}
	assert_int_equal(rr_index_save(ix, path, cfg, (const void *)ixids, 3), 0);
	rr_index_free(ix);

	struct rr_index *m;
	uint8_t (*ids)[32];
	size_t nids;
	assert_int_equal(rr_index_load(path, other, &m, &ids, &nids), -EINVAL); /* other repo */
	assert_int_equal(rr_index_load(path, cfg, &m, &ids, &nids), 0);
	assert_int_equal(nids, 3);
	assert_memory_equal(ids, ixids, sizeof ixids);
	free(ids);
	uint64_t blobs, packs, bytes;
	int mapped;
	rr_index_stats(m, &blobs, &packs, &bytes, &mapped);
	assert_int_equal(blobs, 1500);
	assert_int_equal(packs, 12);
	assert_true(mapped);
	for (uint32_t n = 0; n < 1500; n += 7)
		check_blob(m, n, (uint8_t)(n / 500), 4, n / 500 * 500);
	/* new index files on top of the mapped base */
	fill_batch(&b, 1500, 300, 4, 1);   /* pack ids already known from batch 1 */
	assert_int_equal(rr_index_merge(m, &b), 0);
	rr_index_stats(m, &blobs, &packs, &bytes, &mapped);
	assert_int_equal(blobs, 1800);
	assert_int_equal(packs, 12);
	check_blob(m, 1600, 1, 4, 1500);
	check_blob(m, 10, 0, 4, 0);
	/* saved again (one sorted run) and reopened */
	assert_int_equal(rr_index_save(m, path, cfg, (const void *)ixids, 2), 0);
	rr_index_free(m);
	assert_int_equal(rr_index_load(path, cfg, &m, &ids, &nids), 0);
	assert_int_equal(nids, 2);
	free(ids);
	for (uint32_t n = 0; n < 1800; n += 11)
		check_blob(m, n, (uint8_t)(n < 1500 ? n / 500 : 1), 4, n < 1500 ? n / 500 * 500 : 1500);
	rr_index_free(m);

	/* a damaged file is refused, never trusted */
	FILE *f = fopen(path, "r+b");
	fseek(f, 120, SEEK_SET);
	fputc(0x55, f);
	fclose(f);
	assert_int_equal(rr_index_load(path, cfg, &m, &ids, &nids), -EINVAL);
	truncate(path, 1000);
	assert_int_equal(rr_index_load(path, cfg, &m, &ids, &nids), -EINVAL);
	unlink(path);
	assert_int_equal(rr_index_load(path, cfg, &m, &ids, &nids), -ENOENT);
	rmdir(dir);
}

/* ---- LRU ---- */

static int loads;
static int load_sized(void *arg, const uint8_t key[32], int type, void **val, size_t *bytes)
{
	(void)arg;
	(void)type;
	__atomic_add_fetch(&loads, 1, __ATOMIC_SEQ_CST);
	if (key[0] == 0xee)
		return -EIO;
	*val = malloc(16);
	*bytes = 100;
	return 0;
}

static void test_lru(void **state)
{
	(void)state;
	struct rr_cache *c = rr_cache_new(350, free);
	struct rr_cent *e;
	uint8_t k[4][32];
	for (int i = 0; i < 4; i++)
		memset(k[i], i + 1, 32);
	loads = 0;
	for (int i = 0; i < 3; i++) {
		assert_int_equal(rr_cache_get(c, k[i], RR_DATA, load_sized, NULL, &e), 0);
		rr_cache_put(c, e);
	}
	assert_int_equal(loads, 3);
	/* touch k0 so k1 becomes the coldest */
	assert_int_equal(rr_cache_get(c, k[0], RR_DATA, load_sized, NULL, &e), 0);
	rr_cache_put(c, e);
	assert_int_equal(loads, 3);
	assert_int_equal(rr_cache_get(c, k[3], RR_DATA, load_sized, NULL, &e), 0);
	rr_cache_put(c, e);
	assert_false(rr_cache_has(c, k[1], RR_DATA));
	assert_true(rr_cache_has(c, k[0], RR_DATA));
	assert_true(rr_cache_has(c, k[2], RR_DATA));
	assert_true(rr_cache_has(c, k[3], RR_DATA));
	assert_false(rr_cache_has(c, k[0], RR_TREE));   /* the type is part of the key */
	/* an entry in use is never evicted, and the budget holds after release */
	struct rr_cent *held;
	assert_int_equal(rr_cache_get(c, k[2], RR_DATA, load_sized, NULL, &held), 0);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(rr_cache_get(c, k[1], RR_DATA, load_sized, NULL, &e), 0);
		rr_cache_put(c, e);
		assert_int_equal(rr_cache_get(c, k[0], RR_DATA, load_sized, NULL, &e), 0);
		rr_cache_put(c, e);
	}
	assert_true(rr_cache_has(c, k[2], RR_DATA));
	rr_cache_put(c, held);
	uint64_t bytes, entries, hits, misses;
	rr_cache_stats(c, &bytes, &entries, &hits, &misses);
	assert_true(bytes <= 350);
	/* failures are not cached */
	uint8_t bad[32];
	memset(bad, 0xee, 32);
	int before = loads;
	assert_int_equal(rr_cache_get(c, bad, RR_DATA, load_sized, NULL, &e), -EIO);
	assert_int_equal(rr_cache_get(c, bad, RR_DATA, load_sized, NULL, &e), -EIO);
	assert_int_equal(loads, before + 2);
	rr_cache_free(c);
}

static int slow_load(void *arg, const uint8_t key[32], int type, void **val, size_t *bytes)
{
	(void)arg;
	(void)key;
	(void)type;
	__atomic_add_fetch(&loads, 1, __ATOMIC_SEQ_CST);
	usleep(50000);
	*val = malloc(8);
	*bytes = 8;
	return 0;
}

static void *getter(void *arg)
{
	struct rr_cache *c = arg;
	uint8_t k[32];
	struct rr_cent *e;
	memset(k, 0x42, 32);
	if (rr_cache_get(c, k, RR_DATA, slow_load, NULL, &e) == 0)
		rr_cache_put(c, e);
	return NULL;
}

static void test_lru_single_flight(void **state)
{
	(void)state;
	struct rr_cache *c = rr_cache_new(1 << 20, free);
	pthread_t th[8];
	loads = 0;
	for (int i = 0; i < 8; i++)
		pthread_create(&th[i], NULL, getter, c);
	for (int i = 0; i < 8; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(loads, 1);
	rr_cache_free(c);
}

static void test_u64map(void **state)
{
	(void)state;
	struct rr_u64map *m = rr_u64map_new();
	uint64_t v;
	for (uint64_t i = 0; i < 5000; i++)
		assert_int_equal(rr_u64map_put(m, i * 0x9e3779b97f4a7c15ULL, i), 0);
	for (uint64_t i = 0; i < 5000; i++) {
		assert_true(rr_u64map_get(m, i * 0x9e3779b97f4a7c15ULL, &v));
		assert_int_equal(v, i);
	}
	assert_false(rr_u64map_get(m, 1, &v));
	rr_u64map_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_index_merge_lookup),
		cmocka_unit_test(test_index_persist),
		cmocka_unit_test(test_lru),
		cmocka_unit_test(test_lru_single_flight),
		cmocka_unit_test(test_u64map),
	};
	return cmocka_run_group_tests_name("restic index and cache", tests, NULL, NULL);
}
