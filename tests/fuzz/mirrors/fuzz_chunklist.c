/* fuzz_chunklist.c — the manager's parser of the agent's chunk lists (GET
 * /v1/file/chunks) on arbitrary bytes.  A list that parses must encode back
 * to the same bytes, with offsets that add up, and the (hash, length) index
 * over it must find every chunk.  The same bytes also go through the agent's
 * chunker, whole and split at a point they choose: the cuts must agree. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "agent/cdc.h"
#include "mirrors/chunklist.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

static void check_list(const uint8_t *data, size_t size)
{
	struct chunklist l;
	struct cfs_err err = { 0 };
	if (chunklist_parse(data, size, &l, &err)) {
		if (!err.msg[0] || l.n || l.v)
			abort();
		return;
	}
	if (size != 16 + 12 * l.n || l.avg != be32(data + 4) || l.size != be64(data + 8))
		abort();
	uint64_t off = 0;
	for (size_t i = 0; i < l.n; i++) {
		const uint8_t *r = data + 16 + 12 * i;
		if (l.v[i].off != off || l.v[i].len != be32(r) || l.v[i].h != be64(r + 4) ||
		    l.v[i].len == 0)
			abort();
		off += l.v[i].len;
	}
	if (off != l.size)
		abort();
	struct chunkindex ix;
	if (chunkindex_build(&l, &ix) == 0) {
		for (size_t i = 0; i < l.n; i++) {
			const struct chunk *c = chunkindex_find(&ix, l.v[i].h, l.v[i].len);
			if (!c || c->h != l.v[i].h || c->len != l.v[i].len || c > &l.v[i])
				abort();
		}
		chunkindex_free(&ix);
	}
	chunklist_free(&l);
}

struct cuts {
	struct cdc_chunk v[64];
	size_t n;
};

static int keep(void *arg, const struct cdc_chunk *c)
{
	struct cuts *k = arg;
	if (k->n < 64)
		k->v[k->n] = *c;
	k->n++;
	return 0;
}

static void check_cutter(const uint8_t *data, size_t size)
{
	struct cuts a = { .n = 0 }, b = { .n = 0 };
	struct cdc *c = cdc_new(4096);
	if (!c)
		return;
	cdc_feed(c, data, size, keep, &a);
	cdc_finish(c, keep, &a);
	size_t split = size ? data[0] * (size / 256 + 1) % (size + 1) : 0;
	cdc_feed(c, data, split, keep, &b);
	cdc_feed(c, data + split, size - split, keep, &b);
	cdc_finish(c, keep, &b);
	cdc_free(c);
	if (a.n != b.n)
		abort();
	uint64_t sum = 0;
	for (size_t i = 0; i < a.n && i < 64; i++) {
		if (a.v[i].off != b.v[i].off || a.v[i].len != b.v[i].len ||
		    a.v[i].hash != b.v[i].hash)
			abort();
		if (a.v[i].off != sum || a.v[i].len == 0 || a.v[i].len > 8 * 4096 ||
		    (i + 1 < a.n && a.v[i].len < 1024))
			abort();
		sum += a.v[i].len;
	}
	if (a.n <= 64 && sum != size)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > (1u << 20))
		return 0;
	check_list(data, size);
	check_cutter(data, size);
	return 0;
}
