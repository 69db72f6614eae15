/* reader.h — a native, read-only restic repository reader and the snapshots/
 * tree it serves (DESIGN.md section 2, /repos/USER/snapshots/).
 *
 * rr_open() finds the key that opens the repository, reads the config, lists
 * and loads the snapshots and then the index (snapshots first, so no snapshot
 * can name a blob the loaded index lacks).  The repository is never written
 * and no lock is taken.  The tree is served through the vtree interface
 * (core/vtree.h): the tree pointer is the struct rr_repo *, and VTREE_ROOT is
 * the snapshots/ directory:
 *
 *   2026-11-22T04:00:00Z-1a2b3c4d/   one per snapshot (the full id when two
 *                                    short ids collide), its tree inside
 *   latest -> NAME                   the newest snapshot
 *   ids/FULL_ID -> ../NAME
 *   hosts/HOST/NAME -> ../../NAME
 *   tags/TAG/NAME -> ../../NAME
 *
 * Every vtree op may run on several threads at once.  The vtree has no write
 * ops; the fs answers EROFS for every change.
 *
 * Freshness: a readdir of snapshots/ (or a lookup of "latest") more than
 * refresh_secs after the last refresh asks a helper thread to re-list, and
 * waits for it at most 2 s before answering with what it has; rr_refresh()
 * (the ctl "refresh") re-lists at once.  New snapshots appear, forgotten ones
 * go, latest moves; only index files not seen before are read.
 *
 * Memory: the blob index is a sorted array of fixed 48-byte records (32-byte
 * blob id, pack number with the blob type in its top bit, offset, length,
 * uncompressed length) plus one 32-byte id per pack, so a repository costs
 * RR_INDEX_BYTES_PER_BLOB bytes per blob plus 32 bytes per pack.  With a
 * cache_dir the array is persisted there (keyed by the set of index files)
 * and later opens map it with one mmap instead of decoding every index file.
 * Index files and trees are decoded without building JSON trees.  Beyond the
 * index: decoded trees are cached up to 32 MiB, decrypted data blobs up to
 * blob_cache_bytes, and every directory visited keeps a ~100-byte record
 * (so handles stay stable) until rr_close(). */
#ifndef CFS_RESTIC_READER_H
#define CFS_RESTIC_READER_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/vtree.h"

#define RR_INDEX_BYTES_PER_BLOB 48
/* What is inside a snapshot never changes: its nodes carry this ttl (in
 * struct cfs_vattr), so the kernel keeps their names, attributes and
 * listings.  The top of snapshots/ (the snapshot names, latest,
 * ids/, hosts/, tags/) keeps the mount's short default, so refreshes show. */
#define RR_TTL_IMMUTABLE 3600.0

struct rr_repo;

struct rr_open_opts {
	const char *location;    /* a local directory, or "rest:http(s)://[user:pass@]host:port/path/" */
	const char *password;    /* repository password */
	const char *cache_dir;   /* where the index cache file lives (NULL: no persistent cache) */
	size_t blob_cache_bytes; /* LRU size; 0 → default 32 MiB */
	int refresh_secs;        /* snapshots re-listed at most this often on readdir of the
				    root; 0 → default 60, negative → only on rr_refresh() */
};

/* 0, or -EACCES (wrong or missing password, or the server refused us),
 * -ENOENT (no repository there), -EIO (damaged), -EINVAL (bad location),
 * -ENOMEM; err->msg says which.  *out is freed with rr_close(). */
int rr_open(const struct rr_open_opts *o, struct rr_repo **out, struct cfs_err *err);
/* Stops the helper threads, frees everything, cleanses the master key.
 * Accepts NULL. */
void rr_close(struct rr_repo *r);
/* Re-list snapshots now (new ones appear, forgotten ones disappear, latest
 * moves), then load only the index files not seen before. */
int rr_refresh(struct rr_repo *r, struct cfs_err *err);

const struct cfs_vtree_ops *rr_vtree_ops(void);

struct rr_stats {
	uint64_t snapshots;        /* in the current view */
	uint64_t index_files;      /* index/ files covered by the loaded index */
	uint64_t index_files_read; /* index/ files decoded since open (0 after a cache hit) */
	uint64_t blobs;            /* index records */
	uint64_t packs;
	uint64_t index_bytes;      /* bytes the index holds (records + pack ids) */
	int index_mapped;          /* 1 when the records come from the cache file's mmap */
	uint64_t cache_bytes, cache_entries, cache_hits, cache_misses;
	uint64_t blob_fetches;     /* blobs fetched from the repository */
	uint64_t fetch_bytes;      /* bytes fetched from the repository for blobs */
	uint64_t refreshes;
};
void rr_get_stats(struct rr_repo *r, struct rr_stats *st);

/* For tests and tools: one line per content blob of a regular file node,
 * "BLOBID PACKID OFFSET LENGTH\n" (first location of each blob), appended to
 * out.  -EINVAL when the node is not a regular file. */
int rr_file_blobs(struct rr_repo *r, uint64_t node, struct cfs_buf *out);

#endif
