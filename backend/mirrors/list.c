/* list.c — the agent's hashed listing (GET /v1/files) as the manager sees
 * it: pages parsed into a sorted list, and SRC:PATH locations. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine_priv.h"
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

/* key or key_b64 as a NUL-free C string (malloc'ed), NULL when absent/bad. */
static char *get_bytes(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (cJSON_IsString(v))
		return strdup(v->valuestring);
	char k64[32];
	snprintf(k64, sizeof k64, "%s_b64", key);
	v = cJSON_GetObjectItemCaseSensitive(o, k64);
	if (!cJSON_IsString(v))
		return NULL;
	size_t n = strlen(v->valuestring);
	if (n % 4)
		return NULL;
	unsigned char *out = malloc(n / 4 * 3 + 4);
	if (!out)
		return NULL;
	int m = EVP_DecodeBlock(out, (const unsigned char *)v->valuestring, (int)n);
	if (m < 0) {
		free(out);
		return NULL;
	}
	for (size_t i = n; i > 0 && v->valuestring[i - 1] == '='; i--)
		m--;
	if (m < 0 || memchr(out, '\0', (size_t)m)) {
		free(out);
		return NULL;
	}
	out[m] = '\0';
	return (char *)out;
}

static bool get_num(const cJSON *o, const char *key, double lo, double hi, double *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsNumber(v) || v->valuedouble < lo || v->valuedouble > hi)
		return false;
	*out = v->valuedouble;
	return true;
}

static bool get_hash(const cJSON *o, const char *key, char out[33])
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	out[0] = '\0';
	if (!v)
		return true;
	if (!cJSON_IsString(v) || strlen(v->valuestring) != 32 ||
	    strspn(v->valuestring, "0123456789abcdef") != 32)
		return false;
	memcpy(out, v->valuestring, 33);
	return true;
}

static int parse_entry(const cJSON *e, struct ment *m)
{
	memset(m, 0, sizeof *m);
	const cJSON *type = cJSON_GetObjectItemCaseSensitive(e, "type");
	double size = 0, sec = 0, nsec = 0, mode = 0;
	if (!cJSON_IsObject(e) || !cJSON_IsString(type) ||
	    !get_num(e, "size", 0, 9007199254740992.0, &size) ||
	    !get_num(e, "mtime", -1e12, 1e12, &sec) || !get_num(e, "mode", 0, 07777, &mode))
		return -EINVAL;
	get_num(e, "mtime_nsec", 0, 999999999, &nsec);
	const char *t = type->valuestring;
	m->type = !strcmp(t, "file") ? ME_FILE : !strcmp(t, "dir") ? ME_DIR
		  : !strcmp(t, "symlink") ? ME_LINK : ME_OTHER;
	m->size = (uint64_t)size;
	m->mtime_ns = (int64_t)sec * 1000000000 + (int64_t)nsec;
	m->mode = (unsigned)mode;
	const cJSON *text = cJSON_GetObjectItemCaseSensitive(e, "text");
	m->text = cJSON_IsTrue(text);
	if (!get_hash(e, "xxh128", m->xxh) || !get_hash(e, "xxh128_lf", m->xxh_lf))
		return -EINVAL;
	if (!(m->path = get_bytes(e, "path")))
		return -EINVAL;
	if (!safe_path(m->path) || (m->type == ME_FILE && !m->xxh[0]))
		goto bad;
	if (m->type == ME_LINK && !(m->target = get_bytes(e, "target")))
		goto bad;
	return 0;
bad:
	free(m->path);
	free(m->target);
	m->path = m->target = NULL;
	return -EINVAL;
}

int mlist_parse_page(const char *json, size_t len, struct mlist *l, char **next)
{
	*next = NULL;
	cJSON *j = cJSON_ParseWithLength(json, len);
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "entries");
	const cJSON *nx = cJSON_GetObjectItemCaseSensitive(j, "next");
	double hashed = 0;
	if (!cJSON_IsArray(arr) || !(cJSON_IsNull(nx) || cJSON_IsString(nx))) {
		cJSON_Delete(j);
		return -EINVAL;
	}
	get_num(j, "hashed_bytes", 0, 1e18, &hashed);
	size_t start = l->n, count = (size_t)cJSON_GetArraySize(arr);
	if (l->n + count > l->cap) {
		size_t cap = l->cap ? l->cap : 256;
		while (cap < l->n + count)
			cap *= 2;
		struct ment *v = realloc(l->v, cap * sizeof *v);
		if (!v) {
			cJSON_Delete(j);
			return -ENOMEM;
		}
		l->v = v;
		l->cap = cap;
	}
	int r = 0;
	const cJSON *e;
	cJSON_ArrayForEach(e, arr) {
		if ((r = parse_entry(e, &l->v[l->n])))
			break;
		l->n++;
	}
	if (!r && cJSON_IsString(nx) && !(*next = strdup(nx->valuestring)))
		r = -ENOMEM;
	if (r) {
		while (l->n > start) {
			l->n--;
			free(l->v[l->n].path);
			free(l->v[l->n].target);
		}
	} else {
		l->hashed_bytes += (uint64_t)hashed;
	}
	cJSON_Delete(j);
	return r;
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
