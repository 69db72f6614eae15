/* mirrors.h — shared by the mirrors modules (not for other areas).
 *
 *   glob.c      exclude patterns with .gitignore semantics
 *   list.c      the agent's hashed listing: parse, fetch (paginated)
 *   plan.c      compare two listings: same/new/changed/dest-newer/extra
 *   transfer.c  one file source → manager → destination, in verified chunks
 *   sync.c      a whole sync run as a job: plan, conflicts, transfers, deletes
 *   delta.c     a large changed file as a delta (content-defined chunks)
 *   chunklist.c the agents' chunk lists: parse, index
 *   watch.c     push mirrors: the agents' change watch, long-polled
 *   mirrors.c   persistent mirrors: ctl, status, config, the scheduler
 *
 * Paths in listings and plans are relative to the mirror's root (SRC:PATH on
 * one side, DST:PATH on the other), components joined by single '/'. */
#ifndef CFS_MIRRORS_H
#define CFS_MIRRORS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

struct cfs_engine;
struct cfs_caller;
struct cfs_job;

/* Names a sync never compares or copies: conflict copies and the temp files
 * of write sessions and of our own transfers. */
#define MIRROR_CONFLICT_TAG ".cloudfs-conflict-"
#define MIRROR_TMP_PREFIX ".cloudfs-tmp-"

/* ---------- glob.c ---------- */

struct mglob_set;

/* Compile a comma-separated list of patterns ("*.log,/build/,**\/tmp").
 * NULL or "" gives an empty set (only the built-in exclusions).  -EINVAL with
 * err naming the bad pattern. */
int mglob_set_parse(const char *csv, struct mglob_set **out, struct cfs_err *err);
void mglob_set_free(struct mglob_set *s);
/* Is path (relative, no leading '/') excluded, itself or through one of its
 * parent directories?  is_dir says whether path itself is a directory. */
bool mglob_excluded(const struct mglob_set *s, const char *path, bool is_dir);
/* One pattern against one path, without the parent-directory rule and the
 * built-ins (tests, the fuzzer): 1 match, 0 no match, -EINVAL bad pattern. */
int mglob_match1(const char *pattern, const char *path, bool is_dir);

/* ---------- list.c ---------- */

enum ment_type { ME_FILE, ME_DIR, ME_LINK, ME_OTHER };

struct ment {
	char *path;             /* relative to the listing's root */
	enum ment_type type;
	uint64_t size;
	int64_t mtime_ns;
	unsigned mode;          /* permission bits (07777) */
	char *target;           /* symlink target, NULL otherwise */
	char xxh[33];           /* regular files: XXH3-128 hex, else "" */
	char xxh_lf[33];        /* text files, when asked with eol: hash after CRLF→LF */
	bool text;
};

struct mlist {
	struct ment *v;
	size_t n, cap;
	uint64_t hashed_bytes;  /* bytes the agent read to answer (0: all from its cache) */
};

void mlist_free(struct mlist *l);
/* Parse one page of GET /v1/files and append its entries to l; *next gets the
 * next page's cursor (malloc'ed) or NULL at the end.  -EINVAL on a malformed
 * page (nothing appended). */
int mlist_parse_page(const char *json, size_t len, struct mlist *l, char **next);
/* Sort by path (byte order) and refuse duplicates or unsafe paths. */
int mlist_sort(struct mlist *l);
/* Binary search in a sorted list. */
const struct ment *mlist_find(const struct mlist *l, const char *path);

/* "web1:www" / "web1:/www" → instance + relative path ("" for the root);
 * "..", empty components, NUL refused with -EINVAL. */
int mirror_parse_loc(const char *s, char inst[65], char *path, size_t len, struct cfs_err *err);

/* The source instance and path of mirror name, when the caller may see it
 * (c NULL: no check).  -ENOENT otherwise. */
int mirror_source(struct cfs_engine *e, const struct cfs_caller *c, const char *name, char *inst,
		  size_t inst_len, char *path, size_t path_len);
/* Something changed at the mirror's source (a file written through
 * /mirrors/NAME/files): check and sync it now; kicks coalesce into one job. */
void mirror_kick(struct cfs_engine *e, const char *name);

/* Fetch the whole listing of inst:path (every page).  With eol the agent also
 * reports text-normalised hashes.  A missing root gives an empty list when
 * missing_ok, else -ENOENT. */
int mlist_fetch(struct cfs_engine *e, const char *inst, const char *path, bool eol,
		bool missing_ok, struct mlist *out, struct cfs_err *err);

/* ---------- plan.c ---------- */

enum mclass { MC_SAME, MC_NEW, MC_CHANGED, MC_DEST_NEWER, MC_EXTRA, MC_N };
const char *mclass_name(enum mclass c);

/* One path compared: both entries present (same/changed/dest-newer), only the
 * source (new) or only the destination (extra). */
enum mclass mplan_classify(const struct ment *src, const struct ment *dst, bool eol);

struct mplan_item {
	enum mclass cls;
	const struct ment *src;     /* NULL for extra */
	const struct ment *dst;     /* NULL for new */
	const char *path;
	uint64_t size;              /* bytes this path would move (extra: the bytes deleted) */
};

struct mplan {
	struct mplan_item *v;
	size_t n;
	uint64_t count[MC_N];
	uint64_t bytes[MC_N];
	uint64_t dst_files;         /* non-directory entries at the destination (the delete guard) */
};

/* Compare two sorted listings, leaving out excluded paths (ex may be NULL).
 * Items point into src and dst, which must outlive the plan. */
int mplan_build(const struct mlist *src, const struct mlist *dst, const struct mglob_set *ex,
		bool eol, struct mplan *out);
void mplan_free(struct mplan *p);
/* "CLASS SIZE PATH" lines (PATH with \n and \\ escaped), then "# total"
 * lines; with all false the same classes are left out. */
int mplan_render(const struct mplan *p, bool all, struct cfs_buf *out);
int mplan_render_json(const struct mplan *p, struct cfs_buf *out);
/* Escape a path for a plan line. */
int mplan_escape(const char *path, struct cfs_buf *out);

/* ---------- transfer.c / sync.c ---------- */

struct msync_opts {
	char src[65], dst[65];
	char src_path[1024], dst_path[1024];
	char excludes[1024];
	bool delete_extra;
	bool force;
	bool eol;
	const char *mirror;         /* the mirror's name, NULL for a one-time sync */
};

struct msync_stats {
	uint64_t files, bytes;      /* moved */
	uint64_t wire;              /* bytes that crossed the network to move them (a delta
	                               reuses what the destination has) */
	uint64_t conflicts, deleted;
	uint64_t failed;
};

/* Run a sync (in a job: j receives log and progress; may be NULL). */
int msync_run(struct cfs_engine *e, struct cfs_job *j, const struct msync_opts *o,
	      struct msync_stats *st, struct cfs_err *err);
/* Plan only (for /mirrors/NAME/plan): lists both sides and compares. */
int msync_plan(struct cfs_engine *e, const struct msync_opts *o, struct mlist *src,
	       struct mlist *dst, struct mplan *p, struct cfs_err *err);

/* ---------- watch.c ---------- */

/* Push mirrors' change watches, one thread each.  Each scheduler tick calls
 * mwatch_begin, mwatch_want for every enabled push mirror, then mwatch_end,
 * which stops the watches no longer wanted. */
void mwatch_begin(void);
void mwatch_want(struct cfs_engine *e, const char *name, const char *inst, const char *path);
void mwatch_end(void);
void mwatch_stop_all(void);
/* Is the mirror's watch established (its changes arrive as they happen)? */
bool mwatch_live(const char *name);

/* Counters for /metrics (bytes and files synced since the mount). */
void mirrors_count_synced(uint64_t files, uint64_t bytes);
void mirrors_synced_totals(uint64_t *files, uint64_t *bytes);

#endif
