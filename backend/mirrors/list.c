/* list.c — the agent's hashed listing (GET /v1/files) as the manager sees
 * it: pages parsed into a sorted list, and SRC:PATH locations.  A page holds
 * up to 20,000 entries: it is read with the pull parser (core/jscan.h)
 * straight into the list, with exact 64-bit sizes, never as a JSON tree. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine_priv.h"
#include "core/jscan.h"
#include "core/util.h"
#include "instances/instances.h"
#include "mirrors/mirrors.h"
#include "wire/wire.h"

void mlist_free(struct mlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].path);
		free(l->v[i].target);
	}
	free(l->v);
	memset(l, 0, sizeof *l);
}

/* A relative path we are willing to act on: no leading '/', no empty, "." or
 * ".." component, no NUL (guaranteed by the caller's length check). */
static bool safe_path(const char *p)
{
	if (!*p || *p == '/')
		return false;
	for (const char *c = p; *c;) {
		size_t n = strcspn(c, "/");
		if (n == 0 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		c += n;
		if (*c == '/') {
			c++;
			if (!*c)
				return false;
		}
	}
	return true;
}

/* A decoded string member as a NUL-free C string (malloc'ed): "key" as
 * text, or "key_b64" as base64.  -EINVAL when it is neither or holds NUL. */
static int take_bytes(struct cfs_jscan *s, bool b64, struct cfs_buf *tmp, char **out)
{
	int r = cfs_js_string(s, tmp);
	if (r)
		return r;
	if (*out || memchr(tmp->data, '\0', tmp->len))
		return -EINVAL;   /* given twice, or holding NUL */
	if (!b64)
		return (*out = strdup(tmp->data)) ? 0 : -ENOMEM;
	uint8_t *dec;
	size_t m;
	if ((r = cfs_b64_decode(tmp->data, &dec, &m)))
		return r;
	if (memchr(dec, '\0', m)) {
		free(dec);
		return -EINVAL;
	}
	*out = (char *)dec;
	return 0;
}

static int take_hash(struct cfs_jscan *s, char out[33])
{
	const char *str;
	size_t len;
	int r = cfs_js_string_raw(s, &str, &len);
	if (r)
		return r;
	if (len != 32 || strspn(str, "0123456789abcdef") < 32)
		return -EINVAL;
	memcpy(out, str, 32);
	out[32] = '\0';
	return 0;
}

/* An integer that may be negative, within ±limit. */
static int take_i64(struct cfs_jscan *s, int64_t limit, int64_t *out)
{
	bool neg = cfs_js_peek(s) == '-';
	if (neg)
		s->p++;
	uint64_t v;
	int r = cfs_js_u64(s, &v);
	if (r || v > (uint64_t)limit)
		return -EINVAL;
	*out = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

static int take_bool(struct cfs_jscan *s, bool *out)
{
	int c = cfs_js_peek(s);
	if (c != 't' && c != 'f')
		return -EINVAL;
	*out = c == 't';
	return cfs_js_skip(s);
}

struct page {
	struct mlist *l;
	struct ment *m;            /* the entry being read */
	unsigned seen;             /* required members met (bits) */
	struct cfs_buf tmp;
	char *next;
	bool has_entries, has_next;
	uint64_t hashed;
};

enum { HAVE_TYPE = 1, HAVE_SIZE = 2, HAVE_MTIME = 4, HAVE_MODE = 8, HAVE_ALL = 15 };

static int entry_member(struct cfs_jscan *s, void *arg, const char *k, size_t kl)
{
	struct page *pg = arg;
	struct ment *m = pg->m;
	uint64_t u;
	int64_t i;
	int r;
	if (cfs_js_key(k, kl, "path") || cfs_js_key(k, kl, "path_b64"))
		return take_bytes(s, kl > 4, &pg->tmp, &m->path);
	if (cfs_js_key(k, kl, "target") || cfs_js_key(k, kl, "target_b64"))
		return take_bytes(s, kl > 6, &pg->tmp, &m->target);
	if (cfs_js_key(k, kl, "type")) {
		const char *t;
		size_t tl;
		if ((r = cfs_js_string_raw(s, &t, &tl)))
			return r;
		m->type = tl == 4 && !memcmp(t, "file", 4) ? ME_FILE
			  : tl == 3 && !memcmp(t, "dir", 3) ? ME_DIR
			  : tl == 7 && !memcmp(t, "symlink", 7) ? ME_LINK : ME_OTHER;
		pg->seen |= HAVE_TYPE;
		return 0;
	}
	if (cfs_js_key(k, kl, "size")) {
		if ((r = cfs_js_u64(s, &m->size)))
			return r;
		pg->seen |= HAVE_SIZE;
		return 0;
	}
	if (cfs_js_key(k, kl, "mtime")) {
		if ((r = take_i64(s, 1000000000000LL, &i)))
			return r;
		m->mtime_ns += i * 1000000000;
		pg->seen |= HAVE_MTIME;
		return 0;
	}
	if (cfs_js_key(k, kl, "mtime_nsec")) {
		if ((r = cfs_js_u64(s, &u)) || u > 999999999)
			return r ? r : -EINVAL;
		m->mtime_ns += (int64_t)u;
		return 0;
	}
	if (cfs_js_key(k, kl, "mode")) {
		if ((r = cfs_js_u64(s, &u)) || u > 07777)
			return r ? r : -EINVAL;
		m->mode = (unsigned)u;
		pg->seen |= HAVE_MODE;
		return 0;
	}
	if (cfs_js_key(k, kl, "xxh128"))
		return take_hash(s, m->xxh);
	if (cfs_js_key(k, kl, "xxh128_lf"))
		return take_hash(s, m->xxh_lf);
	if (cfs_js_key(k, kl, "text"))
		return take_bool(s, &m->text);
	return cfs_js_skip(s);
}

static int entry_elem(struct cfs_jscan *s, void *arg)
{
	struct page *pg = arg;
	struct mlist *l = pg->l;
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 256;
		struct ment *v = realloc(l->v, cap * sizeof *v);
		if (!v)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	struct ment *m = pg->m = &l->v[l->n];
	memset(m, 0, sizeof *m);
	pg->seen = 0;
	int r = cfs_js_peek(s) == '{' ? cfs_js_object(s, entry_member, pg) : -EINVAL;
	if (!r && (pg->seen != HAVE_ALL || !m->path || !safe_path(m->path) ||
		   (m->type == ME_FILE && !m->xxh[0]) || (m->type == ME_LINK && !m->target)))
		r = -EINVAL;
	if (r) {
		free(m->path);
		free(m->target);
		return r;
	}
	if (m->type != ME_LINK) {
		free(m->target);
		m->target = NULL;
	}
	l->n++;
	return 0;
}

static int page_member(struct cfs_jscan *s, void *arg, const char *k, size_t kl)
{
	struct page *pg = arg;
	if (cfs_js_key(k, kl, "entries")) {
		if (pg->has_entries || cfs_js_peek(s) != '[')
			return -EINVAL;
		pg->has_entries = true;
		return cfs_js_array(s, entry_elem, pg);
	}
	if (cfs_js_key(k, kl, "next")) {
		if (pg->has_next)
			return -EINVAL;
		pg->has_next = true;
		if (cfs_js_null(s))
			return 0;
		int r = cfs_js_peek(s) == '"' ? cfs_js_string(s, &pg->tmp) : -EINVAL;
		if (!r && memchr(pg->tmp.data, '\0', pg->tmp.len))
			r = -EINVAL;
		if (!r && !(pg->next = strdup(pg->tmp.data)))
			r = -ENOMEM;
		return r;
	}
	if (cfs_js_key(k, kl, "hashed_bytes"))
		return cfs_js_u64(s, &pg->hashed);
	return cfs_js_skip(s);
}

int mlist_parse_page(const char *json, size_t len, struct mlist *l, char **next)
{
	*next = NULL;
	struct page pg = { .l = l, .tmp = CFS_BUF_INIT };
	struct cfs_jscan s = { .p = json, .end = json + len };
	size_t start = l->n;
	int r = cfs_js_peek(&s) == '{' ? cfs_js_object(&s, page_member, &pg) : -EINVAL;
	if (!r && (!pg.has_entries || !pg.has_next || cfs_js_peek(&s) != -1))
		r = -EINVAL;
	cfs_buf_free(&pg.tmp);
	if (r) {
		free(pg.next);
		while (l->n > start) {
			l->n--;
			free(l->v[l->n].path);
			free(l->v[l->n].target);
		}
		return r == -ENOMEM ? r : -EINVAL;
	}
	l->hashed_bytes += pg.hashed;
	*next = pg.next;
	return 0;
}

static int by_path(const void *a, const void *b)
{
	return strcmp(((const struct ment *)a)->path, ((const struct ment *)b)->path);
}

int mlist_sort(struct mlist *l)
{
	if (l->n > 1)
		qsort(l->v, l->n, sizeof *l->v, by_path);
	for (size_t i = 1; i < l->n; i++)
		if (!strcmp(l->v[i - 1].path, l->v[i].path))
			return -EINVAL;
	return 0;
}

const struct ment *mlist_find(const struct mlist *l, const char *path)
{
	size_t lo = 0, hi = l->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(l->v[mid].path, path);
		if (!c)
			return &l->v[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

int mirror_parse_loc(const char *s, char inst[65], char *path, size_t len, struct cfs_err *err)
{
	const char *colon = strchr(s, ':');
	if (!colon || colon == s || (size_t)(colon - s) > 64)
		return cfs_errf(err, -EINVAL, "\"%s\" is not INSTANCE:PATH", s);
	snprintf(inst, 65, "%.*s", (int)(colon - s), s);
	const char *p = colon + 1;
	while (*p == '/')
		p++;
	size_t n = strlen(p);
	while (n && p[n - 1] == '/')
		n--;
	if (n >= len)
		return cfs_errf(err, -EINVAL, "path too long in %s", s);
	memcpy(path, p, n);
	path[n] = '\0';
	if (n && (!safe_path(path) || !strcmp(path, ".")))
		return cfs_errf(err, -EINVAL, "%s: the path may not hold \"..\", \".\" or empty components", s);
	return 0;
}

int mlist_fetch(struct cfs_engine *e, const char *inst, const char *path, bool eol,
		bool missing_ok, struct mlist *out, struct cfs_err *err)
{
	struct agent_target t;
	memset(out, 0, sizeof *out);
	int r = agent_target_load(e, inst, &t, err);
	if (r)
		return r;
	char *cursor = NULL;
	for (int page = 0;; page++) {
		struct cfs_buf tg = CFS_BUF_INIT;
		cfs_buf_puts(&tg, "/v1/files?path=");
		wire_urlencode(path[0] ? path : ".", &tg);
		if (eol)
			cfs_buf_puts(&tg, "&eol=1");
		if (cursor) {
			cfs_buf_puts(&tg, "&cursor=");
			wire_urlencode(cursor, &tg);
		}
		free(cursor);
		cursor = NULL;
		struct agent_reply rep;
		r = tg.data ? agent_call(e, &t, "GET", tg.data, NULL, 0, &rep, err) : -ENOMEM;
		cfs_buf_free(&tg);
		if (r == -ENOENT && page == 0 && missing_ok) {
			agent_reply_free(&rep);
			r = 0;
			break;
		}
		if (!r && (r = mlist_parse_page(rep.body.data ? rep.body.data : "", rep.body.len, out,
						&cursor)))
			cfs_errf(err, r, "%s: malformed listing from the agent", inst);
		agent_reply_free(&rep);
		if (r || !cursor)
			break;
	}
	agent_target_wipe(&t);
	free(cursor);
	if (!r && (r = mlist_sort(out)))
		cfs_errf(err, r, "%s: the listing holds a path twice", inst);
	if (r)
		mlist_free(out);
	return r;
}
