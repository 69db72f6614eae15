/* tree.c — tree blobs ({"nodes":[…]}) decoded into arrays of struct rr_node,
 * with the pull parser: a directory of a million entries never becomes a
 * JSON tree.  Each tree's strings and arrays live in one arena so a cached
 * tree is freed in a few calls and its size is known for the cache's budget. */
#include "restic/rr_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

struct rr_arena {
	struct rr_arena *next;
	size_t used, cap;
	_Alignas(16) unsigned char mem[];
};

static void *arena_alloc(struct rr_arena **a, size_t *total, size_t n)
{
	n = (n + 15) & ~(size_t)15;
	if (!*a || (*a)->cap - (*a)->used < n) {
		size_t cap = n > 32768 ? n : 32768;
		struct rr_arena *b = malloc(sizeof *b + cap);
		if (!b)
			return NULL;
		b->next = *a;
		b->used = 0;
		b->cap = cap;
		*a = b;
		*total += sizeof *b + cap;
	}
	void *p = (*a)->mem + (*a)->used;
	(*a)->used += n;
	return p;
}

static char *arena_dup(struct rr_arena **a, size_t *total, const void *s, size_t n)
{
	char *p = arena_alloc(a, total, n + 1);
	if (p) {
		memcpy(p, s, n);
		p[n] = '\0';
	}
	return p;
}

void rr_tree_free(struct rr_tree *t)
{
	if (!t)
		return;
	free(t->nodes);
	struct rr_arena *a = t->arena;
	while (a) {
		struct rr_arena *n = a->next;
		free(a);
		a = n;
	}
	free(t);
}

static const struct { const char *name; uint8_t type; mode_t fmt; } types[] = {
	{ "file", RR_N_FILE, S_IFREG },     { "dir", RR_N_DIR, S_IFDIR },
	{ "symlink", RR_N_SYMLINK, S_IFLNK }, { "dev", RR_N_DEV, S_IFBLK },
	{ "chardev", RR_N_CHARDEV, S_IFCHR }, { "fifo", RR_N_FIFO, S_IFIFO },
	{ "socket", RR_N_SOCKET, S_IFSOCK },
};

/* Go's os.FileMode permission and special bits into st_mode bits. */
static mode_t go_perm(uint32_t m)
{
	mode_t r = m & 0777;
	if (m & (1u << 23))
		r |= S_ISUID;
	if (m & (1u << 22))
		r |= S_ISGID;
	if (m & (1u << 20))
		r |= S_ISVTX;
	return r;
}

/* What decoding one tree needs: the arena, scratch buffers reused for every
 * node, and the node being filled. */
struct dec {
	struct rr_tree *t;
	struct rr_node *n;
	struct cfs_buf str;      /* a decoded string */
	struct cfs_buf ids;      /* a node's content ids */
	struct cfs_buf xa;       /* a node's struct rr_xattr entries */
	struct cfs_buf xname;
	uint8_t *xval;           /* the xattr being decoded */
	size_t xlen;
	bool has_name, has_type, has_raw, xhas_name;
	char *linktarget;        /* plain linktarget, until we know there is no raw one */
	size_t linktarget_len;
};

static char *dup_str(struct dec *d, const void *p, size_t n)
{
	return arena_dup(&d->t->arena, &d->t->bytes, p, n);
}

static int u64_field(struct cfs_jscan *s, uint64_t *out, uint64_t max)
{
	if (cfs_js_null(s)) {
		*out = 0;
		return 0;
	}
	if (cfs_js_u64(s, out) || *out > max)
		return -EINVAL;
	return 0;
}

static int time_field(struct cfs_jscan *s, struct dec *d, struct timespec *ts)
{
	if (cfs_js_string(s, &d->str) || memchr(d->str.data, '\0', d->str.len))
		return -EINVAL;
	return rr_gotime_parse(d->str.data, ts);
}

static int id_elem(struct cfs_jscan *s, void *arg)
{
	struct dec *d = arg;
	const char *str;
	size_t len;
	char hex[RR_HEX_LEN];
	uint8_t id[RR_ID_LEN];
	if (cfs_js_string_raw(s, &str, &len) || len != 64)
		return -EINVAL;
	memcpy(hex, str, 64);
	hex[64] = '\0';
	if (rr_id_parse(hex, id))
		return -EINVAL;
	if (d->ids.len / RR_ID_LEN >= UINT32_MAX - 1)
		return -EINVAL;
	return cfs_buf_append(&d->ids, id, RR_ID_LEN);
}

static int xattr_member(struct cfs_jscan *s, void *arg, const char *k, size_t kl)
{
	struct dec *d = arg;
	if (cfs_js_key(k, kl, "name")) {
		d->xhas_name = true;
		return cfs_js_string(s, &d->xname);
	}
	if (cfs_js_key(k, kl, "value")) {
		if (cfs_js_null(s))
			return 0;
		if (cfs_js_string(s, &d->str) || memchr(d->str.data, '\0', d->str.len))
			return -EINVAL;
		free(d->xval);
		d->xval = NULL;
		return cfs_b64_decode(d->str.data, &d->xval, &d->xlen);
	}
	return cfs_js_skip(s);
}

static int xattr_elem(struct cfs_jscan *s, void *arg)
{
	struct dec *d = arg;
	d->xhas_name = false;
	free(d->xval);
	d->xval = NULL;
	d->xlen = 0;
	int ret = cfs_js_object(s, xattr_member, d);
	if (ret)
		return ret;
	if (!d->xhas_name || d->xname.len == 0 || memchr(d->xname.data, '\0', d->xname.len))
		return -EINVAL;
	struct rr_xattr x = {
		.name = dup_str(d, d->xname.data, d->xname.len),
		.value = (uint8_t *)dup_str(d, d->xval ? d->xval : (uint8_t *)"", d->xlen),
		.len = d->xlen,
	};
	if (!x.name || !x.value)
		return -ENOMEM;
	return cfs_buf_append(&d->xa, &x, sizeof x);
}

static int node_member(struct cfs_jscan *s, void *arg, const char *k, size_t kl)
{
	struct dec *d = arg;
	struct rr_node *n = d->n;
	uint64_t u;
	int ret;
	if (cfs_js_key(k, kl, "name")) {
		char *nm;
		size_t nl;
		if (cfs_js_string(s, &d->str) ||
		    rr_name_unquote(d->str.data, d->str.len, &nm, &nl))
			return -EINVAL;
		bool bad = nl == 0 || memchr(nm, '/', nl) || memchr(nm, '\0', nl) ||
			   strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0;
		n->name = bad ? NULL : dup_str(d, nm, nl);
		free(nm);
		if (!n->name)
			return bad ? -EINVAL : -ENOMEM;
		d->has_name = true;
		return 0;
	}
	if (cfs_js_key(k, kl, "type")) {
		if (cfs_js_string(s, &d->str))
			return -EINVAL;
		n->type = RR_N_OTHER;
		for (size_t i = 0; i < sizeof types / sizeof *types; i++)
			if (strcmp(d->str.data, types[i].name) == 0 &&
			    strlen(types[i].name) == d->str.len)
				n->type = types[i].type;
		d->has_type = true;
		return 0;
	}
	if (cfs_js_key(k, kl, "mode")) {
		ret = u64_field(s, &u, UINT32_MAX);
		n->gomode = (uint32_t)u;
		return ret;
	}
	if (cfs_js_key(k, kl, "uid")) {
		ret = u64_field(s, &u, UINT32_MAX);
		n->uid = (uint32_t)u;
		return ret;
	}
	if (cfs_js_key(k, kl, "gid")) {
		ret = u64_field(s, &u, UINT32_MAX);
		n->gid = (uint32_t)u;
		return ret;
	}
	if (cfs_js_key(k, kl, "size"))
		return u64_field(s, &n->size, UINT64_MAX);
	if (cfs_js_key(k, kl, "inode"))
		return u64_field(s, &n->inode, UINT64_MAX);
	if (cfs_js_key(k, kl, "device_id"))
		return u64_field(s, &n->device_id, UINT64_MAX);
	if (cfs_js_key(k, kl, "links"))
		return u64_field(s, &n->links, UINT64_MAX);
	if (cfs_js_key(k, kl, "device"))
		return u64_field(s, &n->rdev, UINT64_MAX);
	if (cfs_js_key(k, kl, "mtime"))
		return time_field(s, d, &n->mtime);
	if (cfs_js_key(k, kl, "atime"))
		return time_field(s, d, &n->atime);
	if (cfs_js_key(k, kl, "ctime"))
		return time_field(s, d, &n->ctime);
	if (cfs_js_key(k, kl, "linktarget")) {
		if (cfs_js_null(s))
			return 0;
		if (cfs_js_string(s, &d->str))
			return -EINVAL;
		if (d->has_raw)
			return 0;   /* linktarget_raw came first and wins */
		d->linktarget = dup_str(d, d->str.data, d->str.len);
		d->linktarget_len = d->str.len;
		return d->linktarget ? 0 : -ENOMEM;
	}
	if (cfs_js_key(k, kl, "linktarget_raw")) {
		uint8_t *b;
		size_t bl;
		if (cfs_js_string(s, &d->str) || memchr(d->str.data, '\0', d->str.len) ||
		    cfs_b64_decode(d->str.data, &b, &bl))
			return -EINVAL;
		d->linktarget = dup_str(d, b, bl);
		d->linktarget_len = bl;
		d->has_raw = true;
		free(b);
		return d->linktarget ? 0 : -ENOMEM;
	}
	if (cfs_js_key(k, kl, "content")) {
		d->ids.len = 0;
		return cfs_js_array(s, id_elem, d);
	}
	if (cfs_js_key(k, kl, "subtree")) {
		if (cfs_js_null(s))
			return 0;
		const char *str;
		size_t len;
		char hex[RR_HEX_LEN];
		if (cfs_js_string_raw(s, &str, &len) || len != 64)
			return -EINVAL;
		memcpy(hex, str, 64);
		hex[64] = '\0';
		n->has_subtree = 1;
		return rr_id_parse(hex, n->subtree);
	}
	if (cfs_js_key(k, kl, "extended_attributes")) {
		d->xa.len = 0;
		return cfs_js_array(s, xattr_elem, d);
	}
	return cfs_js_skip(s);
}

static int node_elem(struct cfs_jscan *s, void *arg)
{
	struct dec *d = arg;
	struct rr_tree *t = d->t;
	if (t->n == t->cap) {
		size_t nc = t->cap ? t->cap * 2 : 16;
		void *p = realloc(t->nodes, nc * sizeof *t->nodes);
		if (!p)
			return -ENOMEM;
		t->bytes += (nc - t->cap) * sizeof *t->nodes;
		t->nodes = p;
		t->cap = nc;
	}
	struct rr_node *n = d->n = &t->nodes[t->n];
	memset(n, 0, sizeof *n);
	d->has_name = d->has_type = d->has_raw = false;
	d->linktarget = NULL;
	d->linktarget_len = 0;
	d->ids.len = d->xa.len = 0;
	int ret = cfs_js_object(s, node_member, d);
	if (ret)
		return ret;
	if (!d->has_name || !d->has_type || (n->type == RR_N_DIR && !n->has_subtree))
		return -EINVAL;
	mode_t fmt = S_IFREG;
	for (size_t i = 0; i < sizeof types / sizeof *types; i++)
		if (types[i].type == n->type)
			fmt = types[i].fmt;
	/* an unknown type shows as an empty, unreadable regular file */
	n->mode = fmt | (n->type == RR_N_OTHER ? 0 : go_perm(n->gomode));
	n->target = d->linktarget ? d->linktarget : dup_str(d, "", 0);
	n->target_len = d->linktarget_len;
	if (d->ids.len) {
		n->content = (void *)dup_str(d, d->ids.data, d->ids.len);
		n->ncontent = (uint32_t)(d->ids.len / RR_ID_LEN);
	}
	if (d->xa.len) {
		n->xattr = (void *)dup_str(d, d->xa.data, d->xa.len);
		n->nxattr = (uint32_t)(d->xa.len / sizeof(struct rr_xattr));
	}
	if (!n->target || (d->ids.len && !n->content) || (d->xa.len && !n->xattr))
		return -ENOMEM;
	if (t->n > 0) {
		int c = strcmp(t->nodes[t->n - 1].name, n->name);
		if (c == 0)
			return -EINVAL;   /* two entries with one name */
		if (c > 0)
			t->sorted = false;
	}
	t->n++;
	return 0;
}

static int tree_member(struct cfs_jscan *s, void *arg, const char *k, size_t kl)
{
	struct dec *d = arg;
	if (cfs_js_key(k, kl, "nodes")) {
		d->has_name = true;   /* reused here as "saw nodes" */
		return cfs_js_array(s, node_elem, d);
	}
	return cfs_js_skip(s);
}

int rr_tree_decode(const char *json, size_t len, struct rr_tree **out)
{
	struct cfs_jscan s = { json, json + len, 0 };
	struct dec d = { 0 };
	int ret = -ENOMEM;
	struct rr_tree *t = calloc(1, sizeof *t);
	if (!t)
		goto out;
	t->bytes = sizeof *t;
	t->sorted = true;
	d.t = t;
	ret = cfs_js_object(&s, tree_member, &d);
	if (!ret && cfs_js_peek(&s) != -1)
		ret = -EINVAL;
	if (ret)
		goto out;
	if (!t->sorted && t->n < 4096) {
		/* unsorted (never written by restic): check for duplicates the slow way */
		for (size_t i = 0; i < t->n; i++)
			for (size_t j = i + 1; j < t->n; j++)
				if (strcmp(t->nodes[i].name, t->nodes[j].name) == 0) {
					ret = -EINVAL;
					goto out;
				}
	}
	*out = t;
	t = NULL;
out:
	cfs_buf_free(&d.str);
	cfs_buf_free(&d.ids);
	cfs_buf_free(&d.xa);
	cfs_buf_free(&d.xname);
	free(d.xval);
	rr_tree_free(t);
	return ret;
}

long rr_tree_find(const struct rr_tree *t, const char *name)
{
	if (t->sorted) {
		size_t lo = 0, hi = t->n;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			int c = strcmp(t->nodes[mid].name, name);
			if (c == 0)
				return (long)mid;
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		return -1;
	}
	for (size_t i = 0; i < t->n; i++)
		if (strcmp(t->nodes[i].name, name) == 0)
			return (long)i;
	return -1;
}
