/* mirror_api.h — the agent's side of mirrors: the hashed recursive listing
 * (GET /v1/files), its persistent hash cache, and the change watch
 * (GET /v1/watch, /v1/changes).  Declared apart from internal.h so the
 * mirrors code stays in its own files. */
#ifndef CFS_AGENT_MIRROR_API_H
#define CFS_AGENT_MIRROR_API_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/stat.h>

#include "agent/internal.h"

/* ---------- hashcache.c ---------- */

/* A content hash cache keyed by (dev, inode, size, mtime_ns, ctime_ns): a
 * file whose key is unchanged is not read again.  Kept in memory and saved
 * to a file (atomically, when changed) so it survives restarts. */
struct hcache;

struct hc_val {
	char xxh[33];        /* XXH3-128, canonical hex */
	char xxh_lf[33];     /* after CRLF→LF, for text files ("" otherwise) */
	bool text;
};

/* path NULL: memory only.  A missing or unreadable file starts empty. */
int hcache_open(const char *path, struct hcache **out);
void hcache_free(struct hcache *c);
/* The hashes of the regular file (dirfd, name) whose lstat is st; from the
 * cache when its key matches, else read (and *hashed += bytes read).  -errno
 * when it cannot be opened or read (a file that changes while being read is
 * hashed but not cached). */
int hcache_hash(struct hcache *c, int dirfd, const char *name, const struct stat *st,
		struct hc_val *out, uint64_t *hashed);
/* Write the cache file now when it changed since the last save. */
int hcache_save(struct hcache *c);
/* The same, by a thread of the cache's own 3 s after the first call since
 * the last save: what a listing calls, so it never waits on the file.
 * hcache_free saves what is still pending. */
void hcache_save_soon(struct hcache *c);
size_t hcache_size(struct hcache *c);

/* The agent's mirror state (hash cache, watches), made on first use.  It
 * lives as long as the process: tests call agent_mirror_release(a) before
 * agent_free(a). */
struct agent_mirror;
struct agent_mirror *agent_mirror_get(struct agent *a);
struct hcache *agent_mirror_hcache(struct agent_mirror *m);
void agent_mirror_release(struct agent *a);

/* ---------- listing.c ---------- */

/* GET /v1/files?path=P[&eol=1][&cursor=C][&limit=N]: every entry below P,
 * recursively, in a stable order, one page at a time:
 * {"entries":[{"path","type","size","mtime","mtime_nsec","mode",
 *   "xxh128"(files),"target"(symlinks),"text","xxh128_lf"(eol)}…],
 *  "next":CURSOR|null,"hashed_bytes":N,"cached":N,"swept":N}
 * ("swept": stale temp files removed on the way, see tmp_sweep_after) */
void agent_route_listing(struct agent *a, const struct wire_request *rq, const struct query *q,
			 struct wire_response *rs);
/* Stable order of the walk: component-wise byte order (a '/' sorts first). */
int agent_listing_cmp(const char *a, const char *b);

/* ---------- watch.c ---------- */

#define AGENT_WATCH_MAX 64         /* watched directories per agent */
#define AGENT_WATCH_WAITERS 4      /* long-polls waiting at once; more answer at once */

/* GET /v1/watch?path=P → {"cursor":C}: P's whole subtree watched (inotify),
 * shared with an earlier watch of the same directory.
 * GET /v1/changes?cursor=C[&timeout=S] (since= too) → {"cursor":C2,
 * "paths":[…],"paths_b64":[…](non-UTF-8 only),"overflow":bool} once
 * something changed after C, or after S seconds (default 5, at most 60);
 * 410 unknown_cursor (ESTALE) for a watch this process does not have. */
void agent_route_watch(struct agent *a, const struct wire_request *rq, const struct query *q,
		       struct wire_response *rs);
void agent_route_changes(struct agent *a, const struct wire_request *rq, const struct query *q,
			 struct wire_response *rs);
/* Drop the watches nobody registered or polled for idle_ms (the reader
 * thread does this with 10 minutes); the number dropped. */
int agent_watch_expire(struct agent *a, int64_t idle_ms);
/* Stop the reader thread and free every watch (agent_mirror_release calls
 * it); no request may be running. */
void agent_watch_release(struct agent *a);

/* The dispatch for routes.c: true when path was one of the above. */
bool agent_route_mirror(struct agent *a, const char *path, const struct wire_request *rq,
			const struct query *q, struct wire_response *rs);

#endif
