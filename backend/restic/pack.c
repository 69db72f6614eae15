/* pack.c — pack files: the header's entry list, and one blob's decoding
 * (MAC, decryption, optional zstd, SHA-256 of the plaintext against its id). */
#include "restic/rr_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <zstd.h>

#include <openssl/crypto.h>

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int rr_pack_header_parse(const uint8_t *pt, size_t len, int version,
			 struct rr_pack_entry **out, size_t *n)
{
	size_t cap = len / 37 + 1, k = 0, pos = 0;
	uint64_t off = 0;
	struct rr_pack_entry *e = calloc(cap, sizeof *e);
	if (!e)
		return -ENOMEM;
	while (pos < len) {
		uint8_t t = pt[pos];
		size_t esz = t <= 1 ? 37 : 41;
		if (t > 3 || (t >= 2 && version < 2) || len - pos < esz)
			goto bad;
		struct rr_pack_entry *x = &e[k++];
		x->type = t & 1 ? RR_TREE : RR_DATA;
		x->compressed = t >= 2;
		x->length = le32(pt + pos + 1);
		x->ulen = x->compressed ? le32(pt + pos + 5) : 0;
		memcpy(x->id, pt + pos + esz - RR_ID_LEN, RR_ID_LEN);
		if (x->length < RR_BOX_OVERHEAD || (x->compressed && x->ulen == 0) ||
		    off > UINT32_MAX)
			goto bad;
		x->offset = (uint32_t)off;
		off += x->length;
		pos += esz;
	}
	*out = e;
	*n = k;
	return 0;
bad:
	free(e);
	return -EINVAL;
}

int rr_pack_header_len(const uint8_t tail[4], uint64_t pack_size, uint32_t *hdr_len)
{
	uint32_t h = le32(tail);
	if (pack_size < 4 || h < RR_BOX_OVERHEAD || (uint64_t)h > pack_size - 4 ||
	    (uint64_t)h + 4 > RR_MAX_HEADER)
		return -EINVAL;
	*hdr_len = h;
	return 0;
}

#define BIG (128u << 10)

void *rr_big_alloc(size_t n)
{
	if (n < BIG)
		return malloc(n ? n : 1);
	void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* One zstd decoder per thread, kept: making one costs more than decoding a
 * small blob (most blobs of a tree of small files are a few hundred bytes). */
static pthread_key_t dctx_key;
static bool dctx_key_ok;
static pthread_once_t dctx_once = PTHREAD_ONCE_INIT;

static void dctx_free(void *d)
{
	ZSTD_freeDCtx(d);
}

static void dctx_init(void)
{
	dctx_key_ok = pthread_key_create(&dctx_key, dctx_free) == 0;
}

/* This thread's decoder; *own when the caller must free it (no key). */
static ZSTD_DCtx *dctx_get(bool *own)
{
	pthread_once(&dctx_once, dctx_init);
	*own = !dctx_key_ok;
	if (*own)
		return ZSTD_createDCtx();
	ZSTD_DCtx *d = pthread_getspecific(dctx_key);
	if (!d && (d = ZSTD_createDCtx()) && pthread_setspecific(dctx_key, d))
		*own = true;
	return d;
}

void rr_big_free(void *p, size_t n)
{
	if (!p)
		return;
	if (n < BIG)
		free(p);
	else
		munmap(p, n);
}

int rr_blob_decode(const struct rr_mkey *mk, const uint8_t *box, size_t len, uint32_t ulen,
		   const uint8_t id[RR_ID_LEN], uint8_t **out, size_t *outlen)
{
	if (len < RR_BOX_OVERHEAD)
		return -EIO;
	size_t n = len - RR_BOX_OVERHEAD, reslen = ulen ? ulen : n;
	uint8_t *pt = rr_big_alloc(n), *res = NULL;
	uint8_t sum[RR_ID_LEN];
	int ret = -ENOMEM;
	if (!pt)
		return ret;
	if ((ret = rr_box_open(mk, box, len, pt))) {
		ret = -EIO;
		goto out;
	}
	if (ulen) {
		ret = -ENOMEM;
		if (!(res = rr_big_alloc(ulen)))
			goto out;
		bool own;
		ZSTD_DCtx *d = dctx_get(&own);
		if (!d)
			goto out;
		size_t got = ZSTD_decompressDCtx(d, res, ulen, pt, n);
		if (own)
			ZSTD_freeDCtx(d);
		ret = -EIO;
		if (ZSTD_isError(got) || got != ulen)
			goto out;
	} else {
		res = pt;
		pt = NULL;
	}
	ret = -EIO;
	if (rr_sha256(res, reslen, sum) || CRYPTO_memcmp(sum, id, RR_ID_LEN) != 0)
		goto out;
	*out = res;
	*outlen = reslen;
	res = NULL;
	ret = 0;
out:
	rr_big_free(pt, n);
	rr_big_free(res, reslen);
	return ret;
}
