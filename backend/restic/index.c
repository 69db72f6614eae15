/* index.c — the compact blob index.
 *
 * Every blob is one fixed 48-byte record (struct rr_ixrec) in a sorted array;
 * pack ids live once each in a separate array and records name them by
 * number.  Index files are loaded in batches: each batch is sorted into a new
 * segment, so loading more index files never rewrites what is loaded, and
 * lookups binary-search every segment (there are few: small heap segments
 * are merged once there are more than a handful).  rr_index_save writes all
 * segments merged into one file that rr_index_load maps with one mmap.
 *
 * Cache file layout (host byte order, guarded by a byte-order mark):
 *   struct ixfile_hdr, index file ids [nixids][32], pack ids [npacks][32],
 *   records [nrecs] sorted by (id, type). */
#include "restic/rr_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define MAX_HEAP_SEGS 4

struct ixseg {
	struct rr_ixrec *recs;
	size_t n;
	bool mapped;             /* points into the mapped cache file */
};

struct rr_index {
	pthread_rwlock_t lock;
	struct ixseg *segs;
	size_t nsegs;
	uint8_t (*packs)[RR_ID_LEN];
	size_t npacks, cpacks;
	uint32_t *phash;         /* open addressing: pack number + 1, 0 = empty */
	size_t phcap;
	void *map;
	size_t maplen;
};

struct ixfile_hdr {
	char magic[8];           /* "CFSRRIX1" */
	uint32_t bom;            /* 0x01020304 as written */
	uint32_t recsize;        /* sizeof(struct rr_ixrec) */
	uint8_t config_id[RR_ID_LEN];
	uint64_t nixids, npacks, nrecs;
	uint8_t sum[RR_ID_LEN];  /* SHA-256 of the id lists */
};

/* ---- batches: decoded index files (parsed by ixjson.c) ---- */

void rr_ixbatch_free(struct rr_ixbatch *b)
{
	free(b->packs);
	free(b->recs);
	memset(b, 0, sizeof *b);
}

int rr_ixbatch_add_pack(struct rr_ixbatch *b, const uint8_t id[RR_ID_LEN], uint32_t *num)
{
	if (b->npacks >= RR_IX_PACK_MASK)
		return -EFBIG;
	if (b->npacks == b->cpacks) {
		size_t nc = b->cpacks ? b->cpacks * 2 : 64;
		void *p = realloc(b->packs, nc * RR_ID_LEN);
		if (!p)
			return -ENOMEM;
		b->packs = p;
		b->cpacks = nc;
	}
	memcpy(b->packs[b->npacks], id, RR_ID_LEN);
	*num = (uint32_t)b->npacks++;
	return 0;
}

int rr_ixbatch_add_rec(struct rr_ixbatch *b, const struct rr_ixrec *r)
{
	if (b->nrecs == b->crecs) {
		size_t nc = b->crecs ? b->crecs * 2 : 1024;
		void *p = realloc(b->recs, nc * sizeof *b->recs);
		if (!p)
			return -ENOMEM;
		b->recs = p;
		b->crecs = nc;
	}
	b->recs[b->nrecs++] = *r;
	return 0;
}

/* ---- the index ---- */

static int rec_cmp(const struct rr_ixrec *a, const struct rr_ixrec *b)
{
	int c = memcmp(a->id, b->id, RR_ID_LEN);
	if (c)
		return c;
	return (int)(a->pack >> 31) - (int)(b->pack >> 31);
}

static int rec_qcmp(const void *a, const void *b)
{
	return rec_cmp(a, b);
}

struct rr_index *rr_index_new(void)
{
	struct rr_index *ix = calloc(1, sizeof *ix);
	if (ix)
		pthread_rwlock_init(&ix->lock, NULL);
	return ix;
}

static void ix_clear(struct rr_index *ix)
{
	for (size_t i = 0; i < ix->nsegs; i++)
		if (!ix->segs[i].mapped)
			free(ix->segs[i].recs);
	free(ix->segs);
	free(ix->packs);
	free(ix->phash);
	if (ix->map)
		munmap(ix->map, ix->maplen);
	ix->segs = NULL;
	ix->nsegs = 0;
	ix->packs = NULL;
	ix->npacks = ix->cpacks = 0;
	ix->phash = NULL;
	ix->phcap = 0;
	ix->map = NULL;
	ix->maplen = 0;
}

void rr_index_free(struct rr_index *ix)
{
	if (!ix)
		return;
	ix_clear(ix);
	pthread_rwlock_destroy(&ix->lock);
	free(ix);
}

static uint64_t pack_hash(const uint8_t id[RR_ID_LEN])
{
	uint64_t h;
	memcpy(&h, id, sizeof h);   /* ids are SHA-256: already uniform */
	return h;
}

static int phash_rebuild(struct rr_index *ix, size_t cap)
{
	uint32_t *t = calloc(cap, sizeof *t);
	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < ix->npacks; i++) {
		size_t s = (size_t)pack_hash(ix->packs[i]) & (cap - 1);
		while (t[s])
			s = (s + 1) & (cap - 1);
		t[s] = (uint32_t)i + 1;
	}
	free(ix->phash);
	ix->phash = t;
	ix->phcap = cap;
	return 0;
}

/* The number of pack id, adding it when new.  Write lock held. */
static int ix_pack(struct rr_index *ix, const uint8_t id[RR_ID_LEN], uint32_t *num)
{
	int ret;
	if ((ix->npacks + 1) * 2 > ix->phcap || !ix->phash) {
		size_t cap = ix->phcap ? ix->phcap : 256;
		while ((ix->npacks + 1) * 2 > cap)
			cap *= 2;
		if ((ret = phash_rebuild(ix, cap)))
			return ret;
	}
	size_t s = (size_t)pack_hash(id) & (ix->phcap - 1);
	while (ix->phash[s]) {
		uint32_t n = ix->phash[s] - 1;
		if (memcmp(ix->packs[n], id, RR_ID_LEN) == 0) {
			*num = n;
			return 0;
		}
		s = (s + 1) & (ix->phcap - 1);
	}
	if (ix->npacks >= RR_IX_PACK_MASK)
		return -EFBIG;
	if (ix->npacks == ix->cpacks) {
		size_t nc = ix->cpacks ? ix->cpacks * 2 : 256;
		void *p = realloc(ix->packs, nc * RR_ID_LEN);
		if (!p)
			return -ENOMEM;
		ix->packs = p;
		ix->cpacks = nc;
	}
	memcpy(ix->packs[ix->npacks], id, RR_ID_LEN);
	ix->phash[s] = (uint32_t)ix->npacks + 1;
	*num = (uint32_t)ix->npacks++;
	return 0;
}

static struct rr_ixrec *merge2(const struct ixseg *a, const struct ixseg *b)
{
	struct rr_ixrec *o = malloc((a->n + b->n) * sizeof *o + 1);
	size_t i = 0, j = 0, k = 0;
	if (!o)
		return NULL;
	while (i < a->n && j < b->n)
		o[k++] = rec_cmp(&a->recs[i], &b->recs[j]) <= 0 ? a->recs[i++] : b->recs[j++];
	while (i < a->n)
		o[k++] = a->recs[i++];
	while (j < b->n)
		o[k++] = b->recs[j++];
	return o;
}

/* Merge the two smallest-indexed heap segments until few remain. */
static void compact(struct rr_index *ix)
{
	for (;;) {
		size_t heap = 0, a = SIZE_MAX, b = SIZE_MAX;
		for (size_t i = 0; i < ix->nsegs; i++) {
			if (ix->segs[i].mapped)
				continue;
			heap++;
			if (a == SIZE_MAX)
				a = i;
			else if (b == SIZE_MAX)
				b = i;
		}
		if (heap <= MAX_HEAP_SEGS)
			return;
		struct rr_ixrec *m = merge2(&ix->segs[a], &ix->segs[b]);
		if (!m)
			return;  /* stay as is: lookups still work */
		free(ix->segs[a].recs);
		free(ix->segs[b].recs);
		ix->segs[a].recs = m;
		ix->segs[a].n += ix->segs[b].n;
		memmove(&ix->segs[b], &ix->segs[b + 1], (ix->nsegs - b - 1) * sizeof *ix->segs);
		ix->nsegs--;
	}
}

int rr_index_merge(struct rr_index *ix, struct rr_ixbatch *b)
{
	int ret = 0;
	uint32_t *remap = NULL;
	if (b->nrecs == 0 && b->npacks == 0)
		return 0;
	if (b->nrecs)
		qsort(b->recs, b->nrecs, sizeof *b->recs, rec_qcmp);
	remap = malloc((b->npacks + 1) * sizeof *remap);
	if (!remap)
		return -ENOMEM;
	pthread_rwlock_wrlock(&ix->lock);
	for (size_t i = 0; i < b->npacks && !ret; i++)
		ret = ix_pack(ix, b->packs[i], &remap[i]);
	if (ret)
		goto out;
	for (size_t i = 0; i < b->nrecs; i++) {
		uint32_t p = b->recs[i].pack;
		b->recs[i].pack = (p & RR_IX_TREE) | remap[p & RR_IX_PACK_MASK];
	}
	if (b->nrecs) {
		void *s = realloc(ix->segs, (ix->nsegs + 1) * sizeof *ix->segs);
		if (!s) {
			ret = -ENOMEM;
			goto out;
		}
		ix->segs = s;
		ix->segs[ix->nsegs++] = (struct ixseg){ .recs = b->recs, .n = b->nrecs };
		b->recs = NULL;
		compact(ix);
	}
out:
	pthread_rwlock_unlock(&ix->lock);
	free(remap);
	rr_ixbatch_free(b);
	return ret;
}

int rr_index_lookup(struct rr_index *ix, const uint8_t id[RR_ID_LEN], int type,
		    struct rr_loc *locs, int max)
{
	struct rr_ixrec key = { .pack = type == RR_TREE ? RR_IX_TREE : 0 };
	int found = 0;
	memcpy(key.id, id, RR_ID_LEN);
	pthread_rwlock_rdlock(&ix->lock);
	for (size_t s = 0; s < ix->nsegs && found < max; s++) {
		const struct rr_ixrec *r = ix->segs[s].recs;
		size_t lo = 0, hi = ix->segs[s].n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			if (rec_cmp(&r[mid], &key) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		for (; lo < ix->segs[s].n && found < max && rec_cmp(&r[lo], &key) == 0; lo++) {
			uint32_t p = r[lo].pack & RR_IX_PACK_MASK;
			if (p >= ix->npacks || r[lo].length < RR_BOX_OVERHEAD)
				continue;   /* a damaged cache file: skip, never trust */
			locs[found++] = (struct rr_loc){ p, r[lo].offset, r[lo].length, r[lo].ulen };
		}
	}
	pthread_rwlock_unlock(&ix->lock);
	return found;
}

int rr_index_pack_id(struct rr_index *ix, uint32_t pack, uint8_t id[RR_ID_LEN])
{
	int ret = -ENOENT;
	pthread_rwlock_rdlock(&ix->lock);
	if (pack < ix->npacks) {
		memcpy(id, ix->packs[pack], RR_ID_LEN);
		ret = 0;
	}
	pthread_rwlock_unlock(&ix->lock);
	return ret;
}

void rr_index_stats(struct rr_index *ix, uint64_t *blobs, uint64_t *packs, uint64_t *bytes,
		    int *mapped)
{
	uint64_t n = 0;
	int m = 0;
	pthread_rwlock_rdlock(&ix->lock);
	for (size_t i = 0; i < ix->nsegs; i++) {
		n += ix->segs[i].n;
		m |= ix->segs[i].mapped;
	}
	*blobs = n;
	*packs = ix->npacks;
	*bytes = n * sizeof(struct rr_ixrec) + ix->npacks * RR_ID_LEN;
	*mapped = m;
	pthread_rwlock_unlock(&ix->lock);
}

void rr_index_swap(struct rr_index *a, struct rr_index *b)
{
	pthread_rwlock_wrlock(&a->lock);
	pthread_rwlock_wrlock(&b->lock);
	struct rr_index t = *a;
	a->segs = b->segs; a->nsegs = b->nsegs;
	a->packs = b->packs; a->npacks = b->npacks; a->cpacks = b->cpacks;
	a->phash = b->phash; a->phcap = b->phcap;
	a->map = b->map; a->maplen = b->maplen;
	b->segs = t.segs; b->nsegs = t.nsegs;
	b->packs = t.packs; b->npacks = t.npacks; b->cpacks = t.cpacks;
	b->phash = t.phash; b->phcap = t.phcap;
	b->map = t.map; b->maplen = t.maplen;
	pthread_rwlock_unlock(&b->lock);
	pthread_rwlock_unlock(&a->lock);
}

/* ---- the cache file ---- */

static int lists_sum(const uint8_t (*ixids)[RR_ID_LEN], size_t nixids,
		     const uint8_t (*packs)[RR_ID_LEN], size_t npacks, uint8_t out[RR_ID_LEN])
{
	struct cfs_buf b = CFS_BUF_INIT;
	int ret = -ENOMEM;
	if (cfs_buf_append(&b, ixids, nixids * RR_ID_LEN) ||
	    cfs_buf_append(&b, packs, npacks * RR_ID_LEN))
		goto out;
	ret = rr_sha256(b.data, b.len, out);
out:
	cfs_buf_free(&b);
	return ret;
}

static int write_all(FILE *f, const void *p, size_t n)
{
	return n == 0 || fwrite(p, 1, n, f) == n ? 0 : -EIO;
}

int rr_index_save(struct rr_index *ix, const char *path, const uint8_t config_id[RR_ID_LEN],
		  const uint8_t (*ixids)[RR_ID_LEN], size_t nixids)
{
	char tmp[4200];
	int ret = -EIO;
	size_t *pos = NULL;
	if (snprintf(tmp, sizeof tmp, "%s.tmp.%d", path, (int)getpid()) >= (int)sizeof tmp)
		return -ENAMETOOLONG;
	FILE *f = fopen(tmp, "wbx");
	if (!f)
		return -errno;
	pthread_rwlock_rdlock(&ix->lock);
	struct ixfile_hdr h = { .magic = "CFSRRIX1", .bom = 0x01020304,
				.recsize = sizeof(struct rr_ixrec), .nixids = nixids,
				.npacks = ix->npacks };
	memcpy(h.config_id, config_id, RR_ID_LEN);
	for (size_t i = 0; i < ix->nsegs; i++)
		h.nrecs += ix->segs[i].n;
	if (lists_sum(ixids, nixids, (const uint8_t(*)[RR_ID_LEN])ix->packs, ix->npacks, h.sum) ||
	    write_all(f, &h, sizeof h) || write_all(f, ixids, nixids * RR_ID_LEN) ||
	    write_all(f, ix->packs, ix->npacks * RR_ID_LEN))
		goto unlock;
	/* k-way merge of the segments, straight into the file */
	pos = calloc(ix->nsegs + 1, sizeof *pos);
	if (!pos)
		goto unlock;
	for (;;) {
		const struct rr_ixrec *best = NULL;
		size_t bs = 0;
		for (size_t s = 0; s < ix->nsegs; s++) {
			if (pos[s] == ix->segs[s].n)
				continue;
			const struct rr_ixrec *c = &ix->segs[s].recs[pos[s]];
			if (!best || rec_cmp(c, best) < 0) {
				best = c;
				bs = s;
			}
		}
		if (!best)
			break;
		if (write_all(f, best, sizeof *best))
			goto unlock;
		pos[bs]++;
	}
	ret = 0;
unlock:
	pthread_rwlock_unlock(&ix->lock);
	free(pos);
	if (fflush(f) || fsync(fileno(f)))
		ret = -EIO;
	if (fclose(f))
		ret = -EIO;
	if (!ret && rename(tmp, path))
		ret = -errno;
	if (ret)
		unlink(tmp);
	return ret;
}

int rr_index_load(const char *path, const uint8_t config_id[RR_ID_LEN], struct rr_index **out,
		  uint8_t (**ixids)[RR_ID_LEN], size_t *nixids)
{
	struct stat st;
	struct rr_index *ix = NULL;
	void *map = MAP_FAILED;
	int ret = -EINVAL;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -ENOENT : -EIO;
	if (fstat(fd, &st) || (size_t)st.st_size < sizeof(struct ixfile_hdr))
		goto out;
	size_t len = (size_t)st.st_size;
	map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED)
		goto out;
	const struct ixfile_hdr *h = map;
	uint64_t lists = (uint64_t)RR_ID_LEN * (h->nixids + h->npacks);
	if (memcmp(h->magic, "CFSRRIX1", 8) || h->bom != 0x01020304 ||
	    h->recsize != sizeof(struct rr_ixrec) || memcmp(h->config_id, config_id, RR_ID_LEN) ||
	    h->nixids > len / RR_ID_LEN || h->npacks > len / RR_ID_LEN ||
	    h->nrecs > len / sizeof(struct rr_ixrec) || h->npacks > RR_IX_PACK_MASK ||
	    sizeof *h + lists + h->nrecs * sizeof(struct rr_ixrec) != len)
		goto out;
	const uint8_t (*ids)[RR_ID_LEN] = (const void *)(h + 1);
	const uint8_t (*packs)[RR_ID_LEN] = ids + h->nixids;
	uint8_t sum[RR_ID_LEN];
	if (lists_sum(ids, h->nixids, packs, h->npacks, sum) || CRYPTO_memcmp(sum, h->sum, RR_ID_LEN))
		goto out;
	ret = -ENOMEM;
	if (!(ix = rr_index_new()))
		goto out;
	*ixids = malloc(h->nixids * RR_ID_LEN + 1);
	ix->packs = malloc(h->npacks * RR_ID_LEN + 1);
	ix->segs = calloc(1, sizeof *ix->segs);
	if (!*ixids || !ix->packs || !ix->segs) {
		free(*ixids);
		*ixids = NULL;
		goto out;
	}
	memcpy(*ixids, ids, h->nixids * RR_ID_LEN);
	*nixids = h->nixids;
	memcpy(ix->packs, packs, h->npacks * RR_ID_LEN);
	ix->npacks = ix->cpacks = h->npacks;
	ix->segs[0] = (struct ixseg){ .recs = (struct rr_ixrec *)(void *)((char *)map + sizeof *h + lists),
				      .n = h->nrecs, .mapped = true };
	ix->nsegs = 1;
	ix->map = map;
	ix->maplen = len;
	map = MAP_FAILED;
	*out = ix;
	ix = NULL;
	ret = 0;
out:
	if (map != MAP_FAILED)
		munmap(map, (size_t)st.st_size);
	rr_index_free(ix);
	close(fd);
	return ret;
}
