/* vtree.c — snapshots/ as a vtree.  Meta nodes go to view.c; inside a
 * snapshot, a node is an entry of a directory's tree: the directory is
 * interned once per (parent directory, entry index) — per path, not per tree
 * id, so two identical directories are still two inodes — and the node's
 * handle is that directory's serial and the entry's index.  Hard links
 * (links > 1, same device and inode within one snapshot) all answer with the
 * handle of the first name seen, so the fs gives them one inode. */
#include "restic/rr_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"
#include "core/util.h"

static struct rr_repo *R(void *tree)
{
	return tree;
}

/* The serial of the directory at (snap, parent, idx), interning it.  A
 * snapshot root has parent 0 and idx = snapshot serial. */
static int dir_intern(struct rr_repo *r, uint32_t snap, uint32_t parent, uint32_t idx,
		      const uint8_t tree[RR_ID_LEN], uint32_t *serial)
{
	uint64_t key = parent ? ((uint64_t)parent << 32 | idx) : (UINT64_C(1) << 63 | snap), v;
	int ret = 0;
	pthread_mutex_lock(&r->lock);
	if (rr_u64map_get(r->dirmap, key, &v)) {
		*serial = (uint32_t)v;
		goto out;
	}
	if (r->ndirs >= 0x7ffffffe) {
		ret = -ENOSPC;
		goto out;
	}
	if (r->ndirs == r->cdirs) {
		size_t nc = r->cdirs ? r->cdirs * 2 : 256;
		void *p = realloc(r->dirs, nc * sizeof *r->dirs);
		if (!p) {
			ret = -ENOMEM;
			goto out;
		}
		r->dirs = p;
		r->cdirs = nc;
	}
	struct rr_dir *d = &r->dirs[r->ndirs];
	d->snap = snap;
	d->parent = parent;
	d->idx = idx;
	memcpy(d->tree, tree, RR_ID_LEN);
	if ((ret = rr_u64map_put(r->dirmap, key, r->ndirs + 1)))
		goto out;
	*serial = (uint32_t)++r->ndirs;
out:
	pthread_mutex_unlock(&r->lock);
	return ret;
}

static int dir_get(struct rr_repo *r, uint32_t serial, struct rr_dir *d)
{
	int ret = -ENOENT;
	pthread_mutex_lock(&r->lock);
	if (serial >= 1 && serial <= r->ndirs) {
		*d = r->dirs[serial - 1];
		ret = 0;
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}

/* The tree entry a handle names; release *ent with rr_cache_put(r->trees). */
static int entry_get(struct rr_repo *r, uint64_t h, struct rr_dir *d, struct rr_cent **ent,
		     const struct rr_node **node)
{
	uint32_t ds = (uint32_t)(h >> 32) & 0x7fffffff, idx = (uint32_t)h;
	int ret = dir_get(r, ds, d);
	if (ret)
		return ret;
	if ((ret = rr_repo_tree(r, d->tree, ent)))
		return ret;
	const struct rr_tree *t = rr_cent_val(*ent);
	if (idx >= t->n) {
		rr_cache_put(r->trees, *ent);
		return -ENOENT;
	}
	*node = &t->nodes[idx];
	return 0;
}

static void node_attr(const struct rr_node *n, struct cfs_vattr *a)
{
	memset(a, 0, sizeof *a);
	a->mode = n->mode;
	a->uid = n->uid;
	a->gid = n->gid;
	a->atime = n->atime;
	a->mtime = n->mtime;
	a->ctime = n->ctime;
	a->rdev = (dev_t)n->rdev;
	a->ttl = RR_TTL_IMMUTABLE;
	switch (n->type) {
	case RR_N_DIR:
		a->nlink = 2;
		break;
	case RR_N_FILE:
		a->size = n->size;
		a->nlink = n->links ? n->links : 1;
		break;
	case RR_N_SYMLINK:
		a->size = n->target_len;
		a->nlink = n->links ? n->links : 1;
		break;
	default:
		a->nlink = n->links ? n->links : 1;
	}
}

/* The handle of entry idx of directory ds; hard links share one. */
static uint64_t entry_handle(struct rr_repo *r, uint32_t snap, uint32_t ds, uint32_t idx,
			     const struct rr_node *n)
{
	uint64_t h = RR_H_ENTRY | (uint64_t)ds << 32 | idx, v;
	if (n->type == RR_N_DIR || n->links < 2 || !n->inode)
		return h;
	uint64_t trip[3] = { snap, n->device_id, n->inode };
	uint8_t sum[RR_ID_LEN];
	uint64_t key;
	rr_sha256(trip, sizeof trip, sum);
	memcpy(&key, sum, sizeof key);
	pthread_mutex_lock(&r->lock);
	if (rr_u64map_get(r->linkmap, key, &v))
		h = v;
	else
		rr_u64map_put(r->linkmap, key, h);
	pthread_mutex_unlock(&r->lock);
	return h;
}

/* The directory serial and snapshot of a directory node (snapshot root or
 * a dir entry). */
static int as_dir(struct rr_repo *r, uint64_t node, uint32_t *serial, uint32_t *snap)
{
	if (!(node & RR_H_ENTRY)) {
		if (RR_H_KIND(node) != RR_K_SNAP)
			return -ENOTDIR;
		pthread_mutex_lock(&r->lock);
		struct rr_snap *s = rr_snap_get(r, RR_H_B(node));
		uint8_t tree[RR_ID_LEN];
		if (s)
			memcpy(tree, s->tree, RR_ID_LEN);
		pthread_mutex_unlock(&r->lock);
		if (!s)
			return -ENOENT;
		*snap = RR_H_B(node);
		return dir_intern(r, *snap, 0, *snap, tree, serial);
	}
	struct rr_dir d;
	struct rr_cent *e;
	const struct rr_node *n;
	int ret = entry_get(r, node, &d, &e, &n);
	if (ret)
		return ret;
	if (n->type != RR_N_DIR) {
		rr_cache_put(r->trees, e);
		return -ENOTDIR;
	}
	uint8_t sub[RR_ID_LEN];
	memcpy(sub, n->subtree, RR_ID_LEN);
	rr_cache_put(r->trees, e);
	*snap = d.snap;
	return dir_intern(r, d.snap, (uint32_t)(node >> 32) & 0x7fffffff, (uint32_t)node, sub,
			  serial);
}

/* Listings never wait long on the repository: a stale snapshots/ asks the
 * refresher thread and waits for it at most this long, then answers with
 * what it has (the refresh lands for the next listing). */
#define REFRESH_WAIT_MS 2000

static void maybe_refresh(struct rr_repo *r)
{
	if (r->refresh_secs <= 0)
		return;
	pthread_mutex_lock(&r->lock);
	bool due = cfs_mono_ms() - r->last_refresh_ms >= (int64_t)r->refresh_secs * 1000;
	pthread_mutex_unlock(&r->lock);
	if (due)
		rr_repo_kick_refresh(r, REFRESH_WAIT_MS);
}

static int op_getattr(void *tree, uint64_t node, struct cfs_vattr *attr);

static int op_lookup(void *tree, uint64_t parent, const char *name, uint64_t *node,
		     struct cfs_vattr *attr)
{
	struct rr_repo *r = R(tree);
	if (!(parent & RR_H_ENTRY) && RR_H_KIND(parent) != RR_K_SNAP) {
		if (parent == VTREE_ROOT && strcmp(name, "latest") == 0)
			maybe_refresh(r);
		return rr_meta_lookup(r, parent, name, node, attr);
	}
	uint32_t ds, snap;
	int ret = as_dir(r, parent, &ds, &snap);
	if (ret)
		return ret;
	struct rr_dir d;
	if ((ret = dir_get(r, ds, &d)))
		return ret;
	struct rr_cent *e;
	if ((ret = rr_repo_tree(r, d.tree, &e)))
		return ret;
	const struct rr_tree *t = rr_cent_val(e);
	long i = rr_tree_find(t, name);
	if (i < 0) {
		ret = -ENOENT;
	} else {
		*node = entry_handle(r, snap, ds, (uint32_t)i, &t->nodes[i]);
		if (*node == (RR_H_ENTRY | (uint64_t)ds << 32 | (uint32_t)i)) {
			node_attr(&t->nodes[i], attr);
		} else {
			rr_cache_put(r->trees, e);
			return op_getattr(tree, *node, attr);   /* the first name's attributes */
		}
	}
	rr_cache_put(r->trees, e);
	return ret;
}

static int op_getattr(void *tree, uint64_t node, struct cfs_vattr *attr)
{
	struct rr_repo *r = R(tree);
	if (!(node & RR_H_ENTRY))
		return rr_meta_getattr(r, node, attr);
	struct rr_dir d;
	struct rr_cent *e;
	const struct rr_node *n;
	int ret = entry_get(r, node, &d, &e, &n);
	if (ret)
		return ret;
	node_attr(n, attr);
	rr_cache_put(r->trees, e);
	return 0;
}

static int op_readdir(void *tree, uint64_t node, uint64_t offset, vtree_fill_fn fill, void *arg)
{
	struct rr_repo *r = R(tree);
	if (!(node & RR_H_ENTRY) && RR_H_KIND(node) != RR_K_SNAP) {
		if (node == VTREE_ROOT && offset == 0)
			maybe_refresh(r);
		return rr_meta_readdir(r, node, offset, fill, arg);
	}
	uint32_t ds, snap;
	int ret = as_dir(r, node, &ds, &snap);
	if (ret)
		return ret;
	struct rr_dir d;
	if ((ret = dir_get(r, ds, &d)))
		return ret;
	struct rr_cent *e;
	if ((ret = rr_repo_tree(r, d.tree, &e)))
		return ret;
	const struct rr_tree *t = rr_cent_val(e);
	for (uint64_t i = offset; i < t->n; i++) {
		struct cfs_vattr a;
		const struct rr_node *n = &t->nodes[i];
		uint64_t h = entry_handle(r, snap, ds, (uint32_t)i, n);
		node_attr(n, &a);
		if (fill(arg, n->name, h, &a, i + 1))
			break;
	}
	rr_cache_put(r->trees, e);
	return 0;
}

static int op_open(void *tree, uint64_t node, int flags, void **fh)
{
	struct rr_repo *r = R(tree);
	if ((flags & O_ACCMODE) != O_RDONLY || (flags & (O_TRUNC | O_CREAT)))
		return -EROFS;
	if (!(node & RR_H_ENTRY))
		return RR_H_KIND(node) == RR_K_FIXED && RR_H_B(node) == RR_F_LATEST ? -ELOOP
		       : -EISDIR;
	struct rr_dir d;
	struct rr_cent *e;
	const struct rr_node *n;
	int ret = entry_get(r, node, &d, &e, &n);
	if (ret)
		return ret;
	if (n->type == RR_N_DIR)
		ret = -EISDIR;
	else if (n->type != RR_N_FILE)
		ret = -EINVAL;
	else
		ret = rr_fh_open(r, n, (struct rr_fh **)fh);
	rr_cache_put(r->trees, e);
	return ret;
}

static ssize_t op_read(void *tree, void *fh, char *buf, size_t size, uint64_t off)
{
	(void)tree;
	return rr_fh_read(fh, buf, size, off);
}

static void op_release(void *tree, void *fh)
{
	(void)tree;
	rr_fh_close(fh);
}

static int op_readlink(void *tree, uint64_t node, struct cfs_buf *out)
{
	struct rr_repo *r = R(tree);
	if (!(node & RR_H_ENTRY))
		return rr_meta_readlink(r, node, out);
	struct rr_dir d;
	struct rr_cent *e;
	const struct rr_node *n;
	int ret = entry_get(r, node, &d, &e, &n);
	if (ret)
		return ret;
	if (n->type != RR_N_SYMLINK)
		ret = -EINVAL;
	else
		ret = cfs_buf_append(out, n->target, n->target_len);
	rr_cache_put(r->trees, e);
	return ret;
}

static int op_getxattr(void *tree, uint64_t node, const char *name, struct cfs_buf *out)
{
	struct rr_repo *r = R(tree);
	if (!(node & RR_H_ENTRY))
		return -ENODATA;
	struct rr_dir d;
	struct rr_cent *e;
	const struct rr_node *n;
	int ret = entry_get(r, node, &d, &e, &n);
	if (ret)
		return ret;
	ret = -ENODATA;
	for (uint32_t i = 0; i < n->nxattr; i++)
		if (strcmp(n->xattr[i].name, name) == 0) {
			ret = cfs_buf_append(out, n->xattr[i].value, n->xattr[i].len);
			break;
		}
	rr_cache_put(r->trees, e);
	return ret;
}

static int op_listxattr(void *tree, uint64_t node, struct cfs_buf *out)
{
	struct rr_repo *r = R(tree);
	if (!(node & RR_H_ENTRY))
		return 0;
	struct rr_dir d;
	struct rr_cent *e;
	const struct rr_node *n;
	int ret = entry_get(r, node, &d, &e, &n);
	if (ret)
		return ret;
	for (uint32_t i = 0; i < n->nxattr && !ret; i++)
		ret = cfs_buf_append(out, n->xattr[i].name, strlen(n->xattr[i].name) + 1);
	rr_cache_put(r->trees, e);
	return ret;
}

static void op_forget(void *tree, uint64_t node)
{
	/* directory records are small and keep handles stable: nothing to drop */
	(void)tree;
	(void)node;
}

static const struct cfs_vtree_ops rr_ops = {
	.lookup = op_lookup,
	.getattr = op_getattr,
	.readdir = op_readdir,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.readlink = op_readlink,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.forget = op_forget,
};

const struct cfs_vtree_ops *rr_vtree_ops(void)
{
	return &rr_ops;
}

int rr_file_blobs(struct rr_repo *r, uint64_t node, struct cfs_buf *out)
{
	if (!(node & RR_H_ENTRY))
		return -EINVAL;
	struct rr_dir d;
	struct rr_cent *e;
	const struct rr_node *n;
	int ret = entry_get(r, node, &d, &e, &n);
	if (ret)
		return ret;
	if (n->type != RR_N_FILE)
		ret = -EINVAL;
	for (uint32_t i = 0; !ret && i < n->ncontent; i++) {
		struct rr_loc loc;
		uint8_t pid[RR_ID_LEN];
		char bh[RR_HEX_LEN], ph[RR_HEX_LEN] = "-";
		rr_id_hex(n->content[i], bh);
		if (rr_index_lookup(r->ix, n->content[i], RR_DATA, &loc, 1) == 1 &&
		    !rr_index_pack_id(r->ix, loc.pack, pid))
			rr_id_hex(pid, ph);
		else
			loc = (struct rr_loc){ 0 };
		ret = cfs_buf_printf(out, "%s %s %u %u\n", bh, ph, loc.offset, loc.length);
	}
	rr_cache_put(r->trees, e);
	return ret;
}
