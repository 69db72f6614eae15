/* rr_int.h — what the restic reader's files share with each other (and with
 * the unit tests and fuzz targets).  Nothing here is part of the public API. */
#ifndef CFS_RESTIC_RR_INT_H
#define CFS_RESTIC_RR_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "core/buf.h"
#include "core/err.h"
#include "core/jscan.h"
#include "core/util.h"
#include "core/vtree.h"
#include "restic/reader.h"

#define RR_ID_LEN 32
#define RR_HEX_LEN 65            /* 64 hex + NUL */
#define RR_BOX_OVERHEAD 32       /* IV 16 + MAC 16 */
#define RR_MAX_KEYS 20           /* key files tried, as restic does */
#define RR_MAX_UNPACKED (256u << 20)   /* cap on a decoded snapshot/index/config */
#define RR_MAX_TREE (512u << 20)       /* cap on a decoded tree blob */
#define RR_MAX_HEADER ((16u << 20) + 4)

enum rr_btype { RR_DATA = 0, RR_TREE = 1 };

/* ---- box.c: restic's sealed box, Poly1305-AES, scrypt, base64 ---- */
struct rr_mkey {
	uint8_t enc[32];         /* AES-256-CTR key */
	uint8_t k[16];           /* AES-128 key for the Poly1305 nonce */
	uint8_t r[16];           /* Poly1305 multiplier, stored unclamped */
};

int rr_poly1305_aes(const uint8_t k[16], const uint8_t r[16], const uint8_t nonce[16],
		    const uint8_t *msg, size_t len, uint8_t tag[16]);
/* Opens IV||CT||MAC (len >= 32) into out (len - 32 bytes).  -EBADMSG when the
 * MAC does not match, -EINVAL when too short or the IV is all zero. */
int rr_box_open(const struct rr_mkey *key, const uint8_t *in, size_t len, uint8_t *out);
/* The reverse with a random IV (tests only); out holds len + 32 bytes. */
int rr_box_seal(const struct rr_mkey *key, const uint8_t *in, size_t len, uint8_t *out);
/* scrypt with hard caps: N a power of two in [2, 2^20], r, p >= 1, r*p <= 64,
 * memory <= 1 GiB.  -EINVAL outside them. */
int rr_scrypt(const char *pw, size_t pwlen, const uint8_t *salt, size_t saltlen,
	      uint64_t N, uint64_t r, uint64_t p, uint8_t *out, size_t outlen);
int rr_sha256(const void *data, size_t len, uint8_t out[RR_ID_LEN]);

/* ---- text.c: ids, Go times, Go-quoted names ---- */
int rr_id_parse(const char *hex, uint8_t id[RR_ID_LEN]);  /* exactly 64 lower hex */
void rr_id_hex(const uint8_t id[RR_ID_LEN], char out[RR_HEX_LEN]);
/* Go RFC 3339 with 0-9 fraction digits and Z or ±hh:mm.  0 or -EINVAL. */
int rr_gotime_parse(const char *s, struct timespec *ts);
/* Undo Go's strconv.Quote body (no outer quotes).  *out is malloc'ed and
 * NUL-terminated; *outlen excludes the NUL.  -EINVAL on a bad escape. */
int rr_name_unquote(const char *in, size_t inlen, char **out, size_t *outlen);

/* ---- unpack.c: unpacked files and zstd ---- */
/* Streaming zstd decode of one or more frames into out, failing with -EFBIG
 * past cap bytes and -EIO on corrupt input. */
int rr_zstd_stream(const uint8_t *in, size_t len, size_t cap, struct cfs_buf *out);
/* The JSON inside an opened unpacked file: as is when it starts with '{' or
 * '[', zstd-decoded when it starts with 0x02 (version 2 only).  out is
 * NUL-terminated. */
int rr_unpack(int version, const uint8_t *pt, size_t len, struct cfs_buf *out);

/* ---- keys.c: key files and the master key ---- */
struct rr_keyfile {
	uint64_t N, r, p;
	uint8_t salt[64];
	uint8_t *data;           /* sealed master key JSON; malloc'ed */
	size_t data_len;
};
int rr_keyfile_parse(const char *json, size_t len, struct rr_keyfile *kf);
void rr_keyfile_free(struct rr_keyfile *kf);
int rr_masterkey_parse(const char *json, size_t len, struct rr_mkey *mk);
/* 0, -EACCES when the password does not open it, -EINVAL for bad parameters. */
int rr_key_open(const struct rr_keyfile *kf, const char *password, struct rr_mkey *mk);

/* ---- backend.c / be_local.c / be_rest.c: where the files are ---- */
struct rr_be;
typedef int (*rr_list_fn)(void *arg, const char *name, uint64_t size);
struct rr_be_ops {
	/* type: "keys", "snapshots", "index" (never "data") */
	int (*list)(struct rr_be *be, const char *type, rr_list_fn fn, void *arg);
	/* A whole file into out; name NULL with type "config".  0, -ENOENT,
	 * -EACCES, -EIO. */
	int (*get)(struct rr_be *be, const char *type, const char *name, struct cfs_buf *out);
	/* Exactly len bytes at off of a file (a blob of a pack) into dst. */
	int (*read)(struct rr_be *be, const char *type, const char *name, uint64_t off,
		    uint64_t len, uint8_t *dst);
	void (*close)(struct rr_be *be);
};
struct rr_be {
	const struct rr_be_ops *ops;
};
int rr_be_local_open(const char *dir, struct rr_be **out, struct cfs_err *err);
int rr_be_rest_open(const char *url, struct rr_be **out, struct cfs_err *err);
/* Splits "rest:http://user:pass@host:port/path/" (tests). */
int rr_rest_url_split(const char *url, char **base, char **user, char **pass);

/* ---- pack.c: pack headers and blobs ---- */
struct rr_pack_entry {
	uint8_t type;            /* RR_DATA or RR_TREE */
	uint8_t compressed;
	uint32_t offset, length, ulen;   /* ulen 0 when stored raw */
	uint8_t id[RR_ID_LEN];
};
/* Decoded header plaintext into *out (malloc'ed).  Offsets are implicit,
 * starting at 0.  -EINVAL on a bad entry or a compressed one in version 1. */
int rr_pack_header_parse(const uint8_t *pt, size_t len, int version,
			 struct rr_pack_entry **out, size_t *n);
/* From the last 4 bytes of a pack of pack_size bytes: the encrypted header's
 * length, checked against restic's limits. */
int rr_pack_header_len(const uint8_t tail[4], uint64_t pack_size, uint32_t *hdr_len);
/* Buffers of blob size: large ones are mapped directly, so memory freed
 * goes back to the system at once instead of fragmenting the heap.  Free
 * with the size they were allocated with. */
void *rr_big_alloc(size_t n);
void rr_big_free(void *p, size_t n);
/* Verify the MAC, decrypt, decompress (ulen != 0) and check that the
 * plaintext hashes to id.  *out from rr_big_alloc(*outlen).  -EIO on any
 * mismatch. */
int rr_blob_decode(const struct rr_mkey *mk, const uint8_t *box, size_t len, uint32_t ulen,
		   const uint8_t id[RR_ID_LEN], uint8_t **out, size_t *outlen);

/* ---- index.c: the compact blob index ---- */
struct rr_ixrec {
	uint8_t id[RR_ID_LEN];
	uint32_t pack;           /* pack number; RR_IX_TREE set for tree blobs */
	uint32_t offset, length; /* in the pack; length includes the 32-byte overhead */
	uint32_t ulen;           /* uncompressed length, 0 when stored raw */
};
#define RR_IX_TREE 0x80000000u
#define RR_IX_PACK_MASK 0x7fffffffu
_Static_assert(sizeof(struct rr_ixrec) == RR_INDEX_BYTES_PER_BLOB, "index record size");

struct rr_loc {
	uint32_t pack, offset, length, ulen;
};
static inline uint64_t rr_loc_size(const struct rr_loc *l)
{
	return l->ulen ? l->ulen : l->length - RR_BOX_OVERHEAD;
}

/* A batch: what some index files hold, with pack numbers local to it. */
struct rr_ixbatch {
	uint8_t (*packs)[RR_ID_LEN];
	size_t npacks, cpacks;
	struct rr_ixrec *recs;
	size_t nrecs, crecs;
};
void rr_ixbatch_free(struct rr_ixbatch *b);
int rr_ixbatch_add_pack(struct rr_ixbatch *b, const uint8_t id[RR_ID_LEN], uint32_t *num);
int rr_ixbatch_add_rec(struct rr_ixbatch *b, const struct rr_ixrec *r);
/* ixjson.c: adds an index file's JSON (object with "packs", or the old
 * top-level array) to b, without building a JSON tree.  -EINVAL when
 * malformed (b may then hold part of it). */
int rr_index_json_parse(const char *json, size_t len, int version, struct rr_ixbatch *b);

struct rr_index;
struct rr_index *rr_index_new(void);
void rr_index_free(struct rr_index *ix);
/* Moves the batch in (it is emptied), deduplicating pack ids; thread-safe
 * against lookups. */
int rr_index_merge(struct rr_index *ix, struct rr_ixbatch *b);
/* Up to max locations of (id, type); returns how many. */
int rr_index_lookup(struct rr_index *ix, const uint8_t id[RR_ID_LEN], int type,
		    struct rr_loc *locs, int max);
/* Copies pack number's id; -ENOENT when out of range. */
int rr_index_pack_id(struct rr_index *ix, uint32_t pack, uint8_t id[RR_ID_LEN]);
void rr_index_stats(struct rr_index *ix, uint64_t *blobs, uint64_t *packs, uint64_t *bytes,
		    int *mapped);
/* Writes every record and the list of covered index file ids to path
 * (atomically, through a temp file and rename). */
int rr_index_save(struct rr_index *ix, const char *path, const uint8_t config_id[RR_ID_LEN],
		  const uint8_t (*ixids)[RR_ID_LEN], size_t nixids);
/* Maps a file written by rr_index_save.  *ixids is malloc'ed.  -ENOENT,
 * -EINVAL (not ours, damaged, another repository). */
int rr_index_load(const char *path, const uint8_t config_id[RR_ID_LEN], struct rr_index **out,
		  uint8_t (**ixids)[RR_ID_LEN], size_t *nixids);
/* Swaps the contents of two indexes (a full reload replaces the live one). */
void rr_index_swap(struct rr_index *a, struct rr_index *b);

/* ---- tree.c: tree blobs ---- */
enum rr_ntype { RR_N_FILE, RR_N_DIR, RR_N_SYMLINK, RR_N_DEV, RR_N_CHARDEV, RR_N_FIFO,
		RR_N_SOCKET, RR_N_OTHER };
struct rr_xattr {
	char *name;
	uint8_t *value;
	size_t len;
};
struct rr_node {
	char *name;              /* unquoted, NUL-terminated, never holds '/' */
	uint8_t type;            /* enum rr_ntype */
	uint8_t has_subtree;
	mode_t mode;             /* S_IFMT and permission bits, setuid/setgid/sticky */
	uint32_t gomode;         /* as stored */
	uint32_t uid, gid;
	uint64_t size, inode, device_id, rdev, links;
	struct timespec mtime, atime, ctime;
	char *target;            /* symlink target bytes, NUL-terminated */
	size_t target_len;
	uint32_t ncontent, nxattr;
	uint8_t (*content)[RR_ID_LEN];
	struct rr_xattr *xattr;
	uint8_t subtree[RR_ID_LEN];
};
struct rr_tree {
	size_t n, cap;
	struct rr_node *nodes;   /* malloc'ed; everything they point to is in the arena */
	bool sorted;             /* names strictly ascending: binary search works */
	size_t bytes;            /* memory held, for the cache */
	struct rr_arena *arena;
};
int rr_tree_decode(const char *json, size_t len, struct rr_tree **out);
void rr_tree_free(struct rr_tree *t);
/* Index of name, or -1. */
long rr_tree_find(const struct rr_tree *t, const char *name);

/* ---- snap.c: snapshot files ---- */
struct rr_snap {
	uint8_t id[RR_ID_LEN];
	char idhex[RR_HEX_LEN];
	struct timespec time;
	uint8_t tree[RR_ID_LEN];
	char *hostname, *username;
	char **tags;
	size_t ntags;
	uint32_t serial;         /* 1-based position in the repo's snapshot table */
	bool gone;               /* forgotten since it was loaded */
};
int rr_snap_decode(const char *json, size_t len, struct rr_snap *s);
void rr_snap_clear(struct rr_snap *s);
/* "2026-11-22T04:00:00Z-1a2b3c4d" (full id when full is set) into out. */
void rr_snap_name(const struct rr_snap *s, bool full, char out[96]);
/* A host or tag as one path component ('/' and NUL-free, not "." or ".."). */
void rr_component(const char *in, char *out, size_t outlen);

/* ---- cache.c: a shared, size-bounded LRU of loaded values ---- */
struct rr_cache;
struct rr_cent;
/* Loads the value of key: *val and its size in bytes. */
typedef int (*rr_load_fn)(void *arg, const uint8_t key[RR_ID_LEN], int type, void **val,
			  size_t *bytes);
typedef void (*rr_destroy_fn)(void *val);
struct rr_cache *rr_cache_new(size_t cap, rr_destroy_fn destroy);
void rr_cache_free(struct rr_cache *c);
/* Returns a referenced entry, loading it once however many threads ask at
 * the same time.  Release with rr_cache_put. */
int rr_cache_get(struct rr_cache *c, const uint8_t key[RR_ID_LEN], int type, rr_load_fn load,
		 void *arg, struct rr_cent **out);
/* True when present or being loaded (prefetch skips those). */
bool rr_cache_has(struct rr_cache *c, const uint8_t key[RR_ID_LEN], int type);
void rr_cache_put(struct rr_cache *c, struct rr_cent *e);
void *rr_cent_val(struct rr_cent *e);
size_t rr_cent_bytes(struct rr_cent *e);
void rr_cache_stats(struct rr_cache *c, uint64_t *bytes, uint64_t *entries, uint64_t *hits,
		    uint64_t *misses);

/* A loaded data blob in the cache. */
struct rr_blob {
	size_t len;
	uint8_t *data;           /* malloc'ed, freed with the blob */
};

/* ---- repo.c: the repository ---- */
struct rr_dir {                  /* one directory of one snapshot, by serial */
	uint32_t snap;           /* snapshot serial */
	uint32_t parent;         /* dir serial of the parent, 0 for a snapshot root */
	uint32_t idx;            /* entry index in the parent (snapshot serial for a root) */
	uint8_t tree[RR_ID_LEN];
};

struct rr_view;                  /* what snapshots/ shows now (vtree.c) */
struct rr_prefetch;

struct rr_repo {
	struct rr_be *be;
	struct rr_mkey mk;
	int version;
	uint8_t config_id[RR_ID_LEN];
	char *location, *cache_dir;
	int refresh_secs;

	struct rr_index *ix;
	uint8_t (*ixids)[RR_ID_LEN];     /* index files covered, sorted */
	size_t nixids;
	uint64_t ixfiles_read;

	struct rr_cache *blobs;          /* struct rr_blob */
	struct rr_cache *trees;          /* struct rr_tree */
	struct rr_prefetch *pf;

	pthread_mutex_t refresh_lock;    /* one refresh at a time */
	pthread_mutex_t lock;            /* everything below */
	struct rr_snap **snaps;          /* every snapshot ever loaded, by serial - 1 */
	size_t nsnaps, csnaps;
	struct rr_view *view;
	int64_t last_refresh_ms;
	uint64_t refreshes;              /* completed, successful or not */
	pthread_t refresher;             /* runs refreshes asked for by readers */
	pthread_cond_t kick, done;
	bool refresher_on, want_refresh, stopping;
	char **strs;                     /* interned host and tag components, by serial - 1 */
	size_t nstrs, cstrs;
	struct rr_dir *dirs;             /* by serial - 1 */
	size_t ndirs, cdirs;
	struct rr_u64map *dirmap;        /* (parent, idx) → dir serial */
	struct rr_u64map *linkmap;       /* hash of (snap, device, inode) → node handle */
	struct rr_u64map *logged;        /* blob failures already logged */
	uint64_t fetches, fetch_bytes;
};

/* repo.c: listings (sorted ids of type/) and whole checked files. */
struct rr_idlist {
	uint8_t (*ids)[RR_ID_LEN];
	size_t n, cap;
};
int rr_list_ids(struct rr_repo *r, const char *type, struct rr_idlist *l);
bool rr_id_in(const uint8_t (*ids)[RR_ID_LEN], size_t n, const uint8_t *id);
/* Reads type/name whole and checks that its SHA-256 is its name. */
int rr_get_checked(struct rr_repo *r, const char *type, const char *name, struct cfs_buf *raw);
/* load.c: new snapshots (and forgotten ones marked), then new index files;
 * with r->refresh_lock held. */
int rr_repo_load_snapshots(struct rr_repo *r, struct cfs_err *err);
int rr_repo_load_index(struct rr_repo *r, struct cfs_err *err);
/* fetch.c: fetch and decode one blob: every location in turn.  -EIO when none works
 * (logged once per blob), -ENOENT when the index does not know it. */
int rr_repo_fetch(struct rr_repo *r, const uint8_t id[RR_ID_LEN], int type, uint8_t **out,
		  size_t *outlen);
/* A tree from the tree cache; release with rr_cache_put(r->trees, *ent). */
int rr_repo_tree(struct rr_repo *r, const uint8_t id[RR_ID_LEN], struct rr_cent **ent);
/* The caches' destructors (struct rr_blob, struct rr_tree). */
void rr_blob_destroy(void *v);
void rr_tree_destroy(void *v);
/* A data blob from the blob cache; release with rr_cache_put(r->blobs, *ent). */
int rr_repo_blob(struct rr_repo *r, const uint8_t id[RR_ID_LEN], struct rr_cent **ent);
/* A reader saw snapshots/ stale: have the refresher thread refresh, and
 * wait for it at most wait_ms (the listing then shows what it has). */
void rr_repo_kick_refresh(struct rr_repo *r, int wait_ms);
/* Reads, verifies and decodes an unpacked file (snapshots/, index/). */
int rr_repo_load_unpacked(struct rr_repo *r, const char *type, const char *name,
			  struct cfs_buf *json);

/* ---- u64map (cache.c): a small open-addressing map of u64 → u64 ---- */
struct rr_u64map;
struct rr_u64map *rr_u64map_new(void);
void rr_u64map_free(struct rr_u64map *m);
bool rr_u64map_get(struct rr_u64map *m, uint64_t key, uint64_t *val);
int rr_u64map_put(struct rr_u64map *m, uint64_t key, uint64_t val);

/* ---- view.c and vtree.c: node handles ----
 * An entry of a snapshot's tree is RR_H_ENTRY | dir serial << 32 | index in
 * that directory's tree.  Everything else (snapshots/ itself, the snapshot
 * directories, ids/, hosts/, tags/ and their symlinks) is a "meta" handle:
 * kind << 56 | a << 28 | b, with snapshot serials and interned host/tag
 * serials in a and b. */
#define RR_H_ENTRY (UINT64_C(1) << 63)
#define RR_H_META(kind, a, b) ((uint64_t)(kind) << 56 | (uint64_t)(a) << 28 | (uint64_t)(b))
#define RR_H_KIND(h) ((unsigned)((h) >> 56) & 0x7f)
#define RR_H_A(h) ((uint32_t)((h) >> 28) & 0x0fffffff)
#define RR_H_B(h) ((uint32_t)(h) & 0x0fffffff)
enum { RR_K_FIXED, RR_K_SNAP, RR_K_IDLINK, RR_K_HOSTDIR, RR_K_HOSTLINK, RR_K_TAGDIR,
       RR_K_TAGLINK };
enum { RR_F_ROOT = 1, RR_F_LATEST, RR_F_IDS, RR_F_HOSTS, RR_F_TAGS };

int rr_view_build(struct rr_repo *r);    /* with r->lock held */
void rr_view_free(struct rr_view *v);
/* Meta nodes (every handle without RR_H_ENTRY).  lookup and readdir are for
 * the meta directories other than the snapshot directories themselves. */
int rr_meta_lookup(struct rr_repo *r, uint64_t parent, const char *name, uint64_t *node,
		   struct cfs_vattr *attr);
int rr_meta_getattr(struct rr_repo *r, uint64_t node, struct cfs_vattr *attr);
int rr_meta_readdir(struct rr_repo *r, uint64_t node, uint64_t offset, vtree_fill_fn fill,
		    void *arg);
int rr_meta_readlink(struct rr_repo *r, uint64_t node, struct cfs_buf *out);
/* The snapshot of a serial (NULL when unknown); snapshot records live as long
 * as the repository. */
struct rr_snap *rr_snap_get(struct rr_repo *r, uint32_t serial);

/* ---- file.c: open files, reads, prefetch ---- */
int rr_prefetch_start(struct rr_repo *r, int threads);
void rr_prefetch_stop(struct rr_repo *r);
struct rr_fh;
int rr_fh_open(struct rr_repo *r, const struct rr_node *n, struct rr_fh **out);
ssize_t rr_fh_read(struct rr_fh *fh, char *buf, size_t size, uint64_t off);
void rr_fh_close(struct rr_fh *fh);

/* UTF-8 encoding of code point c into o (1 to 4 bytes); returns the length. */

#endif
