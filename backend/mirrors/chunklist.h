/* chunklist.h — the manager's side of GET /v1/file/chunks: parsing an
 * agent's content-defined chunk list, and an index of one to look chunks up
 * by content (chunklist.c).
 *
 * The body (big-endian throughout): "CDC1", u32 avg, u64 size, then one
 * record per chunk: u32 length, u64 XXH3-64 of the chunk's bytes.  Offsets
 * are implicit: each chunk starts where the previous one ended. */
#ifndef CFS_MIRRORS_CHUNKLIST_H
#define CFS_MIRRORS_CHUNKLIST_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

#define CHUNKLIST_AVG_MIN (4u << 10)
#define CHUNKLIST_AVG_MAX (16u << 20)

struct chunk {
	uint64_t off;
	uint32_t len;
	uint64_t h;          /* XXH3-64 */
};

struct chunklist {
	uint32_t avg;        /* the average the agent cut with */
	uint64_t size;       /* bytes chunked: the sum of the lengths */
	size_t n;
	struct chunk *v;     /* n chunks, offsets filled in */
};

/* 0, or -EINVAL with err saying why: bad magic, a body not 16 + 12n bytes,
 * avg not a power of two in [CHUNKLIST_AVG_MIN, CHUNKLIST_AVG_MAX], a chunk
 * of length 0 or longer than 8 * avg, lengths not summing to size; -ENOMEM.
 * *out is zeroed first and left empty on failure. */
int chunklist_parse(const void *body, size_t len, struct chunklist *out, struct cfs_err *err);
/* Frees v; a zeroed list is fine. */
void chunklist_free(struct chunklist *l);

/* Chunks by (hash, length): open addressing over the list's chunks (the
 * list must outlive the index).  When several chunks have the same content,
 * the first (lowest offset) is the one found. */
struct chunkindex {
	const struct chunklist *list;
	size_t mask;         /* slots - 1 */
	size_t *slot;        /* index into list->v plus one; 0 is empty */
	uint64_t key;        /* random: an agent cannot pick hashes that collide */
};

/* 0 or -ENOMEM; *out is zeroed first. */
int chunkindex_build(const struct chunklist *l, struct chunkindex *out);
/* The chunk with this hash and length, or NULL. */
const struct chunk *chunkindex_find(const struct chunkindex *ix, uint64_t h, uint32_t len);
/* A zeroed index is fine. */
void chunkindex_free(struct chunkindex *ix);

#endif
