/* listing.c — GET /v1/files: the hashed recursive listing mirrors compare.
 *
 * The walk is depth-first with each directory's names sorted, so the order
 * is stable and a page can end anywhere: the cursor is the last path sent,
 * and the next page skips every subtree that sorts before it without
 * reading it.  Nothing is followed: symlinks are reported with their
 * target, directories are opened with O_NOFOLLOW below the confined start.
 * Write-session temp files (.cloudfs-tmp-*) are never listed; one the walk
 * meets that is older than agent.conf's tmp_sweep_after (by ctime, which
 * every write and rename touches) and that no live session holds is left
 * over from a transfer killed midway, and is removed. */
#include "agent/mirror_api.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "agent/cdc.h"
#include "core/log.h"
#include "core/util.h"

#define LIST_LIMIT 20000               /* entries per page by default */
#define LIST_BODY_MAX (6u << 20)       /* estimated JSON bytes per page, under WIRE_MAX_BODY */
#define LIST_TIME_MS 4000              /* hashing time per page: the manager has a deadline */
#define LIST_DEPTH 256

struct walk {
	struct agent *a;
	int64_t sweep_before_ms;  /* temp files changed before this go; 0: none */
	uint64_t swept;
	struct hcache *hc;
	const char *cursor;       /* NULL: from the start */
	bool eol;
	struct cfs_buf *out;      /* the answer's JSON, entries written straight in */
	size_t count, limit;
	int64_t deadline;
	uint64_t hashed, cached;
	bool full;                /* page full: stop */
	char last[PATH_MAX];      /* last path emitted */
	int err;
};

int agent_listing_cmp(const char *a, const char *b)
{
	for (;; a++, b++) {
		unsigned char ca = (unsigned char)*a, cb = (unsigned char)*b;
		if (ca == '/')
			ca = 1;
		if (cb == '/')
			cb = 1;
		if (ca != cb || !ca)
			return ca < cb ? -1 : ca > cb;
	}
}

static int name_cmp(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* A temp file met in the directory fd: remove it when it is stale. */
static void sweep(struct walk *w, int fd, const char *name, const char *rel)
{
	struct stat st;
	if (!w->sweep_before_ms || fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
	    S_ISDIR(st.st_mode))
		return;
	int64_t ctime_ms = (int64_t)st.st_ctim.tv_sec * 1000 + st.st_ctim.tv_nsec / 1000000;
	if (ctime_ms >= w->sweep_before_ms || agent_sessions_hold(w->a, st.st_dev, st.st_ino))
		return;
	if (unlinkat(fd, name, 0) < 0) {
		log_debug("cannot remove the stale temp file %s%s%s: %s", rel, *rel ? "/" : "", name,
			  strerror(errno));
		return;
	}
	log_info("removed the stale temp file %s%s%s (left by an interrupted transfer)", rel,
		 *rel ? "/" : "", name);
	w->swept++;
}

/* Every name in the directory but ".", ".." and temp files (swept when
 * stale), sorted.  rel is the directory's path, for the log. */
static int read_names(struct walk *w, int fd, const char *rel, char ***out, size_t *n)
{
	int dup_fd = dup(fd);
	if (dup_fd < 0)
		return -errno;
	DIR *d = fdopendir(dup_fd);
	if (!d) {
		int r = -errno;
		close(dup_fd);
		return r;
	}
	char **v = NULL;
	size_t cnt = 0, cap = 0;
	int r = 0;
	struct dirent *de;
	while ((errno = 0, de = readdir(d))) {
		const char *nm = de->d_name;
		if (!strcmp(nm, ".") || !strcmp(nm, ".."))
			continue;
		if (!strncmp(nm, AGENT_TMP_PREFIX, sizeof AGENT_TMP_PREFIX - 1)) {
			sweep(w, dirfd(d), nm, rel);
			continue;
		}
		if (cnt == cap) {
			cap = cap ? cap * 2 : 32;
			char **nv = realloc(v, cap * sizeof *nv);
			if (!nv) {
				r = -ENOMEM;
				break;
			}
			v = nv;
		}
		if (!(v[cnt] = strdup(nm))) {
			r = -ENOMEM;
			break;
		}
		cnt++;
	}
	if (!r && errno)
		r = -errno;
	closedir(d);
	if (r) {
		for (size_t i = 0; i < cnt; i++)
			free(v[i]);
		free(v);
		return r;
	}
	if (cnt)
		qsort(v, cnt, sizeof *v, name_cmp);   /* qsort wants a non-NULL base */
	*out = v;
	*n = cnt;
	return 0;
}

static const char *type_name(mode_t m)
{
	return S_ISREG(m) ? "file" : S_ISDIR(m) ? "dir" : S_ISLNK(m) ? "symlink" : "other";
}

/* sep"key":"s" as a JSON string, or sep"key_b64":"…" when s is not UTF-8.  The
 * listing is written as text rather than built as a cJSON tree: a page
 * holds up to 20,000 entries, and the tree was most of the walk's time
 * outside the kernel. */
static int put_str(struct cfs_buf *b, const char *sep, const char *key, const char *s,
		   size_t len)
{
	static const char hex[] = "0123456789abcdef";
	bool b64 = !agent_utf8_valid(s, len);
	int r = cfs_buf_puts(b, sep);
	if (!r)
		r = cfs_buf_puts(b, "\"");
	if (!r)
		r = cfs_buf_puts(b, key);
	if (!r)
		r = cfs_buf_puts(b, b64 ? "_b64\":\"" : "\":\"");
	if (b64)
		return r ? r : (r = agent_base64(s, len, b)) ? r : cfs_buf_puts(b, "\"");
	size_t run = 0;
	for (size_t i = 0; !r && i <= len; i++) {
		unsigned char c = i < len ? (unsigned char)s[i] : 0;
		if (i < len && c >= 0x20 && c != '"' && c != '\\')
			continue;
		r = cfs_buf_append(b, s + run, i - run);   /* the plain bytes before */
		run = i + 1;
		if (r || i == len)
			break;
		char esc[6] = { '\\', (char)c, 0 };
		if (c < 0x20) {
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
		}
		r = cfs_buf_append(b, esc, c < 0x20 ? 6 : 2);
	}
	return r ? r : cfs_buf_puts(b, "\"");
}

/* lit then v in decimal: printf per field was a fifth of a listing's time
 * in user space. */
static int put_int(struct cfs_buf *b, const char *lit, int64_t v)
{
	char d[24];
	size_t i = sizeof d;
	uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
	do
		d[--i] = (char)('0' + u % 10);
	while (u /= 10);
	if (v < 0)
		d[--i] = '-';
	int r = cfs_buf_puts(b, lit);
	return r ? r : cfs_buf_append(b, d + i, sizeof d - i);
}

/* lit then the 32 hex digits of a hash and a closing quote */
static int put_hash(struct cfs_buf *b, const char *lit, const char *hex)
{
	int r = cfs_buf_puts(b, lit);
	if (!r)
		r = cfs_buf_append(b, hex, 32);
	return r ? r : cfs_buf_puts(b, "\"");
}

static int emit(struct walk *w, int dirfd, const char *name, const char *rel,
		const struct stat *st)
{
	struct hc_val v;
	char tgt[PATH_MAX];
	ssize_t tlen = 0;
	if (S_ISREG(st->st_mode)) {
		uint64_t before = w->hashed;
		int r = hcache_hash(w->hc, dirfd, name, st, &v, &w->hashed);
		if (r) {
			/* unreadable: left out rather than failing the whole listing */
			log_debug("listing: %s: %s", rel, strerror(-r));
			return 0;
		}
		if (w->hashed == before)
			w->cached++;
	} else if (S_ISLNK(st->st_mode) &&
		   (tlen = readlinkat(dirfd, name, tgt, sizeof tgt - 1)) < 0) {
		return 0;
	}
	struct cfs_buf *b = w->out;
	int r = cfs_buf_puts(b, w->count ? ",{" : "{");
	if (!r)
		r = put_str(b, "", "path", rel, strlen(rel));
	if (!r)
		r = cfs_buf_puts(b, ",\"type\":\"");
	if (!r)
		r = cfs_buf_puts(b, type_name(st->st_mode));
	if (!r)
		r = put_int(b, "\",\"size\":", S_ISDIR(st->st_mode) ? 0 : (int64_t)st->st_size);
	if (!r)
		r = put_int(b, ",\"mtime\":", (int64_t)st->st_mtim.tv_sec);
	if (!r)
		r = put_int(b, ",\"mtime_nsec\":", (int64_t)st->st_mtim.tv_nsec);
	if (!r)
		r = put_int(b, ",\"mode\":", (int64_t)(st->st_mode & 07777));
	if (!r && S_ISREG(st->st_mode)) {
		r = put_hash(b, ",\"xxh128\":\"", v.xxh);
		if (!r && w->eol)
			r = v.text ? put_hash(b, ",\"text\":true,\"xxh128_lf\":\"", v.xxh_lf)
				   : cfs_buf_puts(b, ",\"text\":false");
	} else if (!r && S_ISLNK(st->st_mode)) {
		r = put_str(b, ",", "target", tgt, (size_t)tlen);
	}
	if (!r)
		r = cfs_buf_puts(b, "}");
	if (r)
		return -ENOMEM;
	w->count++;
	size_t rl = strlen(rel);   /* < PATH_MAX: walk_dir checks */
	memcpy(w->last, rel, rl + 1);
	if (w->count >= w->limit || b->len >= LIST_BODY_MAX || cfs_mono_ms() > w->deadline)
		w->full = true;
	return 0;
}

/* Walk the open directory fd whose path (relative to the listing) is rel. */
static int walk_dir(struct walk *w, int fd, char *rel, size_t rlen, int depth)
{
	if (depth > LIST_DEPTH)
		return 0;
	char **names = NULL;
	size_t n = 0;
	int r = read_names(w, fd, rel, &names, &n);
	if (r)
		return depth ? 0 : r;   /* an unreadable subdirectory is skipped */
	for (size_t i = 0; i < n && !r && !w->full; i++) {
		size_t nl = strlen(names[i]);
		if (rlen + nl + 2 >= PATH_MAX)
			continue;
		size_t clen = rlen;
		if (rlen)
			rel[clen++] = '/';
		memcpy(rel + clen, names[i], nl + 1);
		clen += nl;
		bool do_emit = true, descend = true;
		if (w->cursor) {
			int c = agent_listing_cmp(rel, w->cursor);
			size_t cl = strlen(w->cursor);
			bool ancestor = clen < cl && !strncmp(w->cursor, rel, clen) && w->cursor[clen] == '/';
			if (c == 0 || ancestor)
				do_emit = false;          /* sent already; children may not be */
			else if (c < 0)
				do_emit = descend = false; /* the whole subtree came before */
		}
		struct stat st;
		if (fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0) {
			rel[rlen] = '\0';
			continue;   /* gone since we read the directory */
		}
		if (do_emit)
			r = emit(w, fd, names[i], rel, &st);
		if (!r && descend && S_ISDIR(st.st_mode) && !w->full) {
			int cfd = openat(fd, names[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (cfd >= 0) {
				r = walk_dir(w, cfd, rel, clen, depth + 1);
				close(cfd);
			}
		}
		rel[rlen] = '\0';
	}
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

void agent_route_listing(struct agent *a, const struct wire_request *rq, const struct query *q,
			 struct wire_response *rs)
{
	(void)rq;
	size_t len;
	const char *p = agent_query_get(q, "path", &len);
	const char *cur = agent_query_get(q, "cursor", NULL);
	const char *eol = agent_query_get(q, "eol", NULL);
	const char *lim = agent_query_get(q, "limit", NULL);
	uint64_t limit = LIST_LIMIT;
	if (!p) {
		agent_reply_error(rs, 400, "bad_request", "missing path=");
		return;
	}
	if (lim && (cfs_parse_u64(lim, &limit) || limit == 0 || limit > LIST_LIMIT)) {
		agent_reply_error(rs, 400, "bad_request", "limit must be 1..%d", LIST_LIMIT);
		return;
	}
	struct agent_mirror *m = agent_mirror_get(a);
	if (!m) {
		agent_reply_error(rs, 500, "internal", "out of memory");
		return;
	}
	char *cursor = NULL;
	if (cur && *cur) {
		size_t cl = strlen(cur);
		if (cl % 2 || cl / 2 >= PATH_MAX || !(cursor = calloc(1, cl / 2 + 1)) ||
		    cfs_unhex(cur, cursor, cl / 2) || memchr(cursor, '\0', cl / 2)) {
			free(cursor);
			agent_reply_error(rs, 400, "bad_request", "cursor must be what next said");
			return;
		}
	}
	int64_t sweep_after = a->conf->tmp_sweep_after;
	struct walk w = {
		.a = a,
		.sweep_before_ms = sweep_after > 0 ? cfs_now_ms() - sweep_after * 1000 : 0,
		.hc = agent_mirror_hcache(m),
		.cursor = cursor,
		.eol = eol && (!strcmp(eol, "1") || !strcmp(eol, "yes") || !strcmp(eol, "true")),
		.limit = (size_t)limit,
		.deadline = cfs_mono_ms() + LIST_TIME_MS,
	};
	int fd;
	int r = confine_open(&a->confine, p, len, O_RDONLY | O_DIRECTORY | O_CLOEXEC, &fd);
	if (r) {
		free(cursor);
		agent_reply_confine_error(rs, r, "path");
		return;
	}
	struct cfs_buf *b = &rs->body;
	cfs_buf_reset(b);
	w.out = b;
	char *rel = malloc(PATH_MAX);
	if (!rel || cfs_buf_puts(b, "{\"entries\":[")) {
		r = -ENOMEM;
	} else {
		rel[0] = '\0';
		r = walk_dir(&w, fd, rel, 0, 0);
	}
	close(fd);
	free(rel);
	free(cursor);
	if (!r)
		r = cfs_buf_puts(b, "],\"next\":");
	if (!r && w.full) {
		/* hex: a cursor is opaque and must survive any name */
		size_t ll = strlen(w.last);
		char *hx = malloc(ll * 2 + 1);
		if (hx) {
			cfs_hex(w.last, ll, hx);
			r = cfs_buf_printf(b, "\"%s\"", hx);
			free(hx);
		} else {
			r = -ENOMEM;
		}
	} else if (!r) {
		r = cfs_buf_puts(b, "null");
	}
	if (!r)
		r = cfs_buf_printf(b, ",\"hashed_bytes\":%" PRIu64 ",\"cached\":%" PRIu64
				      ",\"swept\":%" PRIu64 "}\n",
				   w.hashed, w.cached, w.swept);
	if (r) {
		cfs_buf_reset(b);
		agent_reply_fs_error(rs, r, "listing");
		return;
	}
	hcache_save_soon(w.hc);
	rs->status = 200;
	rs->content_type = "application/json";
}

bool agent_route_mirror(struct agent *a, const char *path, const struct wire_request *rq,
			const struct query *q, struct wire_response *rs)
{
	const char *m = rq->method ? rq->method : "";
	bool get = !strcmp(m, "GET") || !strcmp(m, "HEAD");
	const char *what;
	void (*fn)(struct agent *, const struct wire_request *, const struct query *,
		   struct wire_response *);
	if (!strcmp(path, "/v1/files"))
		what = "files", fn = agent_route_listing;
	else if (!strcmp(path, "/v1/watch"))
		what = "watch", fn = agent_route_watch;
	else if (!strcmp(path, "/v1/changes"))
		what = "changes", fn = agent_route_changes;
	else
		return false;
	if (get)
		fn(a, rq, q, rs);
	else
		agent_reply_error(rs, 405, "method_not_allowed", "%s takes GET", what);
	return true;
}
