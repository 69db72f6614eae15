/* chunklist.c — parsing an agent's chunk list, and the (hash, length) index
 * the delta matcher looks the source's chunks up in (chunklist.h).
 *
 * The body comes from the network: every count, length and sum is checked
 * before it is trusted, and nothing is allocated from a count the body's
 * own length does not back. */
#include "mirrors/chunklist.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "core/util.h"

#define HEADER 16
#define RECORD 12

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint64_t be64(const uint8_t *p)
{
	return (uint64_t)be32(p) << 32 | be32(p + 4);
}

int chunklist_parse(const void *body, size_t len, struct chunklist *out, struct cfs_err *err)
{
	const uint8_t *p = body;
	memset(out, 0, sizeof *out);
	if (len < HEADER || memcmp(p, "CDC1", 4))
		return cfs_errf(err, -EINVAL, "chunk list: no CDC1 header");
	if ((len - HEADER) % RECORD)
		return cfs_errf(err, -EINVAL, "chunk list: %zu bytes of records, not a multiple of %d",
				len - HEADER, RECORD);
	uint32_t avg = be32(p + 4);
	uint64_t size = be64(p + 8);
	if (avg < CHUNKLIST_AVG_MIN || avg > CHUNKLIST_AVG_MAX || (avg & (avg - 1)))
		return cfs_errf(err, -EINVAL, "chunk list: avg %" PRIu32 " is not a power of two "
				"from %u to %u", avg, CHUNKLIST_AVG_MIN, CHUNKLIST_AVG_MAX);
	size_t n = (len - HEADER) / RECORD;
	struct chunk *v = NULL;
	if (n && !(v = calloc(n, sizeof *v)))
		return cfs_errf(err, -ENOMEM, "out of memory");
	uint64_t off = 0, max = (uint64_t)avg * 8;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *r = p + HEADER + i * RECORD;
		uint32_t l = be32(r);
		if (l == 0 || l > max) {
			free(v);
			return cfs_errf(err, -EINVAL, "chunk list: chunk %zu has length %" PRIu32
					" (1 to %" PRIu64 ")", i, l, max);
		}
		if (l > size - off) {
			free(v);
			return cfs_errf(err, -EINVAL, "chunk list: the chunks pass the size %" PRIu64,
					size);
		}
		v[i] = (struct chunk){ .off = off, .len = l, .h = be64(r + 4) };
		off += l;
	}
	if (off != size) {
		free(v);
		return cfs_errf(err, -EINVAL, "chunk list: the chunks hold %" PRIu64 " bytes, not %"
				PRIu64, off, size);
	}
	*out = (struct chunklist){ .avg = avg, .size = size, .n = n, .v = v };
	return 0;
}

void chunklist_free(struct chunklist *l)
{
	free(l->v);
	memset(l, 0, sizeof *l);
}

/* The hashes come from an agent: mixed with a random key (splitmix64's
 * finalizer), so a hostile list cannot pile every chunk onto one slot. */
static size_t home(const struct chunkindex *ix, uint64_t h)
{
	h ^= ix->key;
	h = (h ^ (h >> 30)) * 0xbf58476d1ce4e5b9ull;
	h = (h ^ (h >> 27)) * 0x94d049bb133111ebull;
	return (size_t)(h ^ (h >> 31)) & ix->mask;
}

int chunkindex_build(const struct chunklist *l, struct chunkindex *out)
{
	memset(out, 0, sizeof *out);
	size_t slots = 16;
	while (slots < l->n * 2) {
		if (slots > SIZE_MAX / 2 / sizeof *out->slot)
			return -ENOMEM;
		slots *= 2;
	}
	size_t *slot = calloc(slots, sizeof *slot);
	if (!slot)
		return -ENOMEM;
	*out = (struct chunkindex){ .list = l, .mask = slots - 1, .slot = slot };
	if (cfs_random(&out->key, sizeof out->key))
		out->key = (uint64_t)(uintptr_t)slot ^ 0x9e3779b97f4a7c15ull;
	for (size_t i = 0; i < l->n; i++) {
		const struct chunk *c = &l->v[i];
		size_t at = home(out, c->h);
		bool dup = false;
		while (slot[at] && !dup) {
			const struct chunk *o = &l->v[slot[at] - 1];
			dup = o->h == c->h && o->len == c->len;   /* keep the first */
			at = (at + 1) & out->mask;
		}
		if (!dup)
			slot[at] = i + 1;
	}
	return 0;
}

const struct chunk *chunkindex_find(const struct chunkindex *ix, uint64_t h, uint32_t len)
{
	if (!ix->slot)
		return NULL;
	for (size_t at = home(ix, h); ix->slot[at]; at = (at + 1) & ix->mask) {
		const struct chunk *c = &ix->list->v[ix->slot[at] - 1];
		if (c->h == h && c->len == len)
			return c;
	}
	return NULL;
}

void chunkindex_free(struct chunkindex *ix)
{
	free(ix->slot);
	memset(ix, 0, sizeof *ix);
}
