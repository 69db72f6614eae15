/* ops.c — FUSE low-level operations.  Every request resolves its inode to a
 * row of the node table plus captures, checks visibility for the caller, and
 * hands the work to the row's backend callback.  Errors are answered as
 * positive errnos here, the one boundary where that happens. */
#include "ops.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/log.h"
#include "handles.h"
#include "inodes.h"
#include "nodes.h"
#include "notify.h"

#define FH(fi) ((struct fs_handle *)(uintptr_t)(fi)->fh)

static struct fs_ctx *ctx_of(fuse_req_t req) { return fuse_req_userdata(req); }

static int caller_of(fuse_req_t req, struct cfs_caller *c)
{
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	return cfs_caller_init(ctx_of(req)->e, fc->uid, fc->gid, fc->pid, c);
}

/* "/instances/web1/status" for messages and /self/errors. */
static void ref_path(const struct inode_ref *ref, char *out, size_t len)
{
	const char *p = node_table[ref->row].path;
	size_t o = 0;
	int cap = 0;
	out[o++] = '/';
	for (; *p && o + 1 < len; p++) {
		if (*p == '*' && cap < ref->ncaps) {
			o += (size_t)snprintf(out + o, len - o, "%s", ref->caps[cap++]);
			if (o >= len)
				o = len - 1;
		} else {
			out[o++] = *p;
		}
	}
	out[o] = '\0';
}

/* Every row on the way must be visible: superadmin-only rows, and each "*"
 * level's object (checked again on every access, so a revoked share hides at
 * once). */
static int check_visible(struct cfs_engine *e, const struct cfs_caller *c,
			 const struct inode_ref *ref)
{
	int chain[16], n = 0;
	for (int r = ref->row; r > 0 && n < 16; r = node_table[r].parent)
		chain[n++] = r;
	int depth = 0;
	for (int i = n - 1; i >= 0; i--) {
		const struct node_row *row = &node_table[chain[i]];
		if ((row->flags & NF_SUPER) && !c->user.superadmin)
			return -ENOENT;
		if (strcmp(row->name, "*") == 0) {
			if (depth >= ref->ncaps || !row->exists)
				return -ENOENT;
			int r = row->exists(e, c, ref->caps, depth);
			if (r)
				return r;
			depth++;
		}
	}
	return 0;
}

static void fill_attr(struct fs_ctx *x, const struct inode_ref *ref, struct stat *st)
{
	const struct node_row *row = &node_table[ref->row];
	memset(st, 0, sizeof *st);
	st->st_ino = ref->ino;
	st->st_uid = x->mount_uid;
	st->st_gid = x->mount_gid;
	st->st_blksize = 4096;
	if (row->kind == N_DIR) {
		st->st_mode = S_IFDIR | row->mode;
		st->st_nlink = 2;
	} else {
		st->st_mode = S_IFREG | row->mode;
		st->st_nlink = 1;
	}
	/* sizes are unknown until rendered: files are read with direct_io */
	struct timespec now;
	clock_gettime(CLOCK_REALTIME, &now);
	st->st_atim = st->st_mtim = st->st_ctim = row->kind == N_DIR ? x->started : now;
}

/* The caller as a backend tree sees it (uid, gid, supplementary groups).
 * Reading the groups costs a /proc read, so only trees that act as the
 * caller (NF_AS_CALLER) get them. */
static void set_vtree_caller_row(fuse_req_t req, int row)
{
	const struct fuse_ctx *fc = fuse_req_ctx(req);
	struct cfs_vctx *v = cfs_vtree_caller();
	v->uid = fc->uid;
	v->gid = fc->gid;
	v->perms = 0;
	v->ngroups = 0;
	if (!(node_table[row].flags & NF_AS_CALLER))
		return;
	int n = fuse_req_getgroups(req, VTREE_MAX_GROUPS, v->groups);
	v->ngroups = n > 0 ? (n < VTREE_MAX_GROUPS ? n : VTREE_MAX_GROUPS) : 0;
}


/* ---- backend-served subtrees (N_VTREE rows) ---- */

static struct fs_ctx *the_ctx;   /* for forget, which has no caller */

static int vt_resolve(struct fs_ctx *x, const struct cfs_caller *c, const struct inode_ref *ref,
		      const struct cfs_vtree_ops **ops, void **tree)
{
	const struct node_row *row = &node_table[ref->row];
	if (row->kind != N_VTREE || !row->vtree)
		return -EIO;
	return row->vtree(x->e, c, ref->caps, ops, tree);
}

static void vattr_to_stat(const struct inode_ref *ref, const struct cfs_vattr *a, struct stat *st)
{
	memset(st, 0, sizeof *st);
	st->st_ino = ref->ino;
	st->st_mode = a->mode;
	st->st_nlink = a->nlink ? a->nlink : 1;
	st->st_uid = a->uid;
	st->st_gid = a->gid;
	st->st_size = (off_t)a->size;
	st->st_blocks = (blkcnt_t)(a->blocks ? a->blocks : (a->size + 511) / 512);
	st->st_blksize = 4096;
	st->st_rdev = a->rdev;
	st->st_atim = a->atime;
	st->st_mtim = a->mtime;
	st->st_ctim = a->ctime;
}

/* How long the kernel may keep a vtree node's name and attributes: what the
 * tree says for the node (immutable snapshot contents: long), else the row's
 * ttl. */
static double vt_ttl(const struct inode_ref *ref, const struct cfs_vattr *a)
{
	return a->ttl > 0 ? a->ttl : node_table[ref->row].ttl;
}

/* Attributes of any inode: table rows from the table, vtree nodes from their
 * tree.  *ttl (when asked) is how long the kernel may keep them. */
static int attr_of(struct fs_ctx *x, const struct cfs_caller *c, const struct inode_ref *ref,
		   struct stat *st, double *ttl)
{
	if (ttl)
		*ttl = 0;
	if (!ref->vnode) {
		fill_attr(x, ref, st);
		return 0;
	}
	const struct cfs_vtree_ops *ops;
	void *tree;
	struct cfs_vattr a = { 0 };
	int r = vt_resolve(x, c, ref, &ops, &tree);
	if (!r)
		r = ops->getattr(tree, ref->vnode, &a);
	if (!r) {
		vattr_to_stat(ref, &a, st);
		if (ttl)
			*ttl = vt_ttl(ref, &a);
	}
	return r;
}

static void vt_gone(const struct inode_ref *ref)
{
	if (!ref->vnode || !the_ctx)
		return;
	struct cfs_caller c;
	memset(&c, 0, sizeof c);
	c.user.superadmin = true;
	const struct cfs_vtree_ops *ops;
	void *tree;
	if (vt_resolve(the_ctx, &c, ref, &ops, &tree) == 0 && ops->forget)
		ops->forget(tree, ref->vnode);
}

static void op_count(fuse_req_t req, int op)
{
	cfs_metrics_fuse_op(ctx_of(req)->e, op);
}

/* Answers an error, remembering faults and refusals for /self/errors. */
static void reply_fail(fuse_req_t req, const struct cfs_caller *c, const struct inode_ref *ref,
		       const char *op, int err, const char *msg)
{
	/* a missing name is a normal answer, not a failure, except from a command */
	if (c && ref && (err != -ENOENT || strcmp(op, "write") == 0)) {
		char path[1024];
		ref_path(ref, path, sizeof path);
		cfs_errors_record(ctx_of(req)->e, c, path, op, err, msg);
	}
	fuse_reply_err(req, -err);
}

/* The entry for a vtree node just looked up or made. */
static void vt_entry(const struct inode_ref *pref, uint64_t ino, uint64_t node,
		     const struct cfs_vattr *a, struct fuse_entry_param *ep)
{
	struct inode_ref cref = *pref;
	cref.ino = ino;
	cref.vnode = node;
	memset(ep, 0, sizeof *ep);
	ep->ino = ino;
	ep->generation = 1;
	ep->attr_timeout = ep->entry_timeout = vt_ttl(pref, a);
	vattr_to_stat(&cref, a, &ep->attr);
}

/* A name inside a backend-served subtree.  The kernel keeps it as long as
 * the tree says (vt_ttl): a second for the top of snapshots/, an hour for
 * what is inside a snapshot, nothing for an instance's files. */
static void lookup_vtree(fuse_req_t req, struct fs_ctx *x, const struct cfs_caller *c,
			 const struct inode_ref *pref, const char *name)
{
	const struct cfs_vtree_ops *ops;
	void *tree;
	struct cfs_vattr a = { 0 };
	uint64_t node, ino;
	int r = vt_resolve(x, c, pref, &ops, &tree);
	if (!r)
		r = ops->lookup(tree, pref->vnode, name, &node, &a);
	if (!r)
		r = inode_get(pref->row, pref->caps, pref->ncaps, node, &ino);
	if (r) {
		if (r == -ENOENT)
			fuse_reply_err(req, ENOENT);
		else
			reply_fail(req, c, pref, "lookup", r, NULL);
		return;
	}
	struct fuse_entry_param ep;
	vt_entry(pref, ino, node, &a, &ep);
	fuse_reply_entry(req, &ep);
}

static void cfs_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fs_ctx *x = ctx_of(req);
	struct inode_ref pref, cref;
	struct cfs_caller c;
	op_count(req, CFS_OP_LOOKUP);
	if (inode_ref(parent, &pref) || caller_of(req, &c)) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (pref.vnode) {
		set_vtree_caller_row(req, pref.row);
		int v = check_visible(x->e, &c, &pref);
		if (v) {
			fuse_reply_err(req, -v);
			return;
		}
		lookup_vtree(req, x, &c, &pref, name);
		return;
	}
	if (node_table[pref.row].kind != N_DIR) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	if (strlen(name) >= CAP_LEN) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	bool wild;
	int row = node_child(pref.row, name, &wild);
	if (row < 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (wild)
		inode_ref_push(&pref, name, &cref);
	else
		cref = pref, cref.caps[cref.ncaps] = NULL;
	for (int i = 0; i < cref.ncaps; i++)
		cref.caps[i] = cref.capbuf[i];
	cref.row = row;
	int r = check_visible(x->e, &c, &cref);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	struct fuse_entry_param ep;
	memset(&ep, 0, sizeof ep);
	uint64_t vnode = node_table[row].kind == N_VTREE ? VTREE_ROOT : 0;
	cref.vnode = vnode;
	if (vnode) {
		set_vtree_caller_row(req, row);
		r = attr_of(x, &c, &cref, &ep.attr, NULL);
		if (r) {
			reply_fail(req, &c, &cref, "lookup", r, NULL);
			return;
		}
	}
	uint64_t ino;
	r = inode_get(row, cref.caps, cref.ncaps, vnode, &ino);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	cref.ino = ino;
	ep.ino = ino;
	ep.generation = 1;
	/* Names of dynamic objects (instances, shares, jobs…) are not cached:
	 * who may see them depends on the caller and on shares that change at
	 * any moment.  Fixed names below them are the same for everyone, and a
	 * path walk still passes the dynamic name above them, so the kernel may
	 * keep those.  Attributes are never cached. */
	ep.attr_timeout = 0;
	ep.entry_timeout = wild || (node_table[row].flags & NF_SUPER) ? 0 : 60.0;
	if (vnode) {
		ep.attr.st_ino = ino;
		ep.attr_timeout = ep.entry_timeout = node_table[row].ttl;
	} else {
		fill_attr(x, &cref, &ep.attr);
	}
	fuse_reply_entry(req, &ep);
}

static void cfs_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	op_count(req, CFS_OP_OTHER);
	inode_forget(ino, nlookup, vt_gone);
	fuse_reply_none(req);
}

static void cfs_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *list)
{
	op_count(req, CFS_OP_OTHER);
	for (size_t i = 0; i < count; i++)
		inode_forget(list[i].ino, list[i].nlookup, vt_gone);
	fuse_reply_none(req);
}

static int resolve(fuse_req_t req, fuse_ino_t ino, struct inode_ref *ref, struct cfs_caller *c)
{
	if (inode_ref(ino, ref))
		return -ENOENT;
	if (caller_of(req, c))
		return -EACCES;
	if (ref->vnode)
		set_vtree_caller_row(req, ref->row);
	return check_visible(ctx_of(req)->e, c, ref);
}

static void cfs_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct inode_ref ref;
	struct cfs_caller c;
	struct stat st;
	op_count(req, CFS_OP_GETATTR);
	if (fi && fi->fh) {
		/* fstat of an open state file answers from the handle, even when
		 * its object has gone (read the outcome of `remove` on its ctl) */
		struct fs_handle *h = handle_hold(FH(fi));
		if (!h->ref.vnode) {
			fill_attr(ctx_of(req), &h->ref, &st);
			handle_drop(h);
			fuse_reply_attr(req, &st, 0);
			return;
		}
		handle_drop(h);
	}
	int r = resolve(req, ino, &ref, &c);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	double ttl;
	r = attr_of(ctx_of(req), &c, &ref, &st, &ttl);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	fuse_reply_attr(req, &st, ttl);
}

static void setattr_vtree(fuse_req_t req, const struct cfs_caller *c, const struct inode_ref *ref,
			  const struct stat *attr, int to_set, struct fuse_file_info *fi)
{
	const struct cfs_vtree_ops *ops;
	void *tree;
	int r = vt_resolve(ctx_of(req), c, ref, &ops, &tree);
	if (!r && !ops->setattr)
		r = -EROFS;
	if (r) {
		reply_fail(req, c, ref, "setattr", r, r == -EROFS ? "this tree is read-only" : NULL);
		return;
	}
	struct cfs_vattr in, out = { 0 };
	memset(&in, 0, sizeof in);
	int set = 0;
	if (to_set & FUSE_SET_ATTR_MODE)
		set |= VT_SET_MODE, in.mode = attr->st_mode;
	if (to_set & FUSE_SET_ATTR_UID)
		set |= VT_SET_UID, in.uid = attr->st_uid;
	if (to_set & FUSE_SET_ATTR_GID)
		set |= VT_SET_GID, in.gid = attr->st_gid;
	if (to_set & FUSE_SET_ATTR_SIZE)
		set |= VT_SET_SIZE, in.size = (uint64_t)attr->st_size;
	if (to_set & FUSE_SET_ATTR_ATIME_NOW)
		set |= VT_SET_ATIME_NOW;
	else if (to_set & FUSE_SET_ATTR_ATIME)
		set |= VT_SET_ATIME, in.atime = attr->st_atim;
	if (to_set & FUSE_SET_ATTR_MTIME_NOW)
		set |= VT_SET_MTIME_NOW;
	else if (to_set & FUSE_SET_ATTR_MTIME)
		set |= VT_SET_MTIME, in.mtime = attr->st_mtim;
	struct fs_handle *h = fi ? FH(fi) : NULL;
	r = ops->setattr(tree, ref->vnode, h ? h->vfh : NULL, &in, set, &out);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	struct stat st;
	vattr_to_stat(ref, &out, &st);
	fuse_reply_attr(req, &st, node_table[ref->row].ttl);
}

static void cfs_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr, int to_set,
			struct fuse_file_info *fi)
{
	(void)fi;
	struct inode_ref ref;
	struct cfs_caller c;
	struct stat st;
	op_count(req, CFS_OP_SETATTR);
	int r = resolve(req, ino, &ref, &c);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	if (ref.vnode) {
		setattr_vtree(req, &c, &ref, attr, to_set, fi);
		return;
	}
	const struct node_row *row = &node_table[ref.row];
	/* `echo cmd > ctl` truncates first: a no-op on ctl files (acme strips OTRUNC) */
	int harmless = FUSE_SET_ATTR_ATIME | FUSE_SET_ATTR_MTIME | FUSE_SET_ATTR_ATIME_NOW |
		       FUSE_SET_ATTR_MTIME_NOW | FUSE_SET_ATTR_CTIME;
	if ((row->kind == N_CTL || row->store) && (to_set & ~(FUSE_SET_ATTR_SIZE | harmless)) == 0 &&
	    (!(to_set & FUSE_SET_ATTR_SIZE) || attr->st_size == 0)) {
		fill_attr(ctx_of(req), &ref, &st);
		fuse_reply_attr(req, &st, 0);
		return;
	}
	reply_fail(req, &c, &ref, "setattr", -EACCES, "state files cannot be changed with setattr");
}

/* ---- directories ---- */

struct list_acc {
	struct fs_handle *h;
	size_t cap;
	mode_t type;
};

static int add_item(struct list_acc *a, const char *name, mode_t type)
{
	struct fs_handle *h = a->h;
	if (h->nitems == a->cap) {
		size_t cap = a->cap ? a->cap * 2 : 32;
		struct dirent_item *n = realloc(h->items, cap * sizeof *n);
		if (!n)
			return -ENOMEM;
		h->items = n;
		a->cap = cap;
	}
	h->items[h->nitems].name = strdup(name);
	if (!h->items[h->nitems].name)
		return -ENOMEM;
	h->items[h->nitems].type = type;
	h->items[h->nitems].ino_hint = 0;
	h->nitems++;
	return 0;
}

static int emit_name(void *arg, const char *name)
{
	struct list_acc *a = arg;
	if (!*name || strchr(name, '/') || strlen(name) >= CAP_LEN)
		return 0;
	return add_item(a, name, a->type);
}

static int vt_fill(void *arg, const char *name, uint64_t node, const struct cfs_vattr *attr,
		   uint64_t next_offset)
{
	(void)node, (void)next_offset;
	return add_item(arg, name, attr->mode & S_IFMT) ? 1 : 0;
}

static void opendir_vtree(fuse_req_t req, struct fs_ctx *x, const struct cfs_caller *c,
			  const struct inode_ref *ref, struct fuse_file_info *fi)
{
	const struct cfs_vtree_ops *ops;
	void *tree;
	struct cfs_vattr a = { 0 };
	int r = vt_resolve(x, c, ref, &ops, &tree);
	if (!r)
		r = ops->getattr(tree, ref->vnode, &a);
	if (!r && !S_ISDIR(a.mode))
		r = -ENOTDIR;
	/* a directory the tree says lives longer than its row (inside a
	 * snapshot) never changes: the kernel may keep its listing */
	bool immutable = !r && a.ttl > node_table[ref->row].ttl;
	struct fs_handle *h = r ? NULL : handle_new(ref, fi->flags);
	if (!r && !h)
		r = -ENOMEM;
	if (!r) {
		struct list_acc acc = { h, 0, S_IFDIR };
		r = add_item(&acc, ".", S_IFDIR);
		if (!r)
			r = add_item(&acc, "..", S_IFDIR);
		if (!r)
			r = ops->readdir(tree, ref->vnode, 0, vt_fill, &acc);
	}
	if (r) {
		handle_free(h);
		reply_fail(req, c, ref, "readdir", r, NULL);
		return;
	}
	fi->fh = (uintptr_t)h;
	fi->cache_readdir = immutable;
	fi->keep_cache = immutable;
	fuse_reply_open(req, fi);
}

static void cfs_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_ctx *x = ctx_of(req);
	struct inode_ref ref;
	struct cfs_caller c;
	op_count(req, CFS_OP_OPEN);
	int r = resolve(req, ino, &ref, &c);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	if (ref.vnode) {
		opendir_vtree(req, x, &c, &ref, fi);
		return;
	}
	if (node_table[ref.row].kind != N_DIR) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	struct fs_handle *h = handle_new(&ref, fi->flags);
	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* snapshot the listing at open, so offsets stay consistent */
	struct list_acc a = { h, 0, S_IFDIR };
	r = add_item(&a, ".", S_IFDIR);
	if (!r)
		r = add_item(&a, "..", S_IFDIR);
	for (int i = 1; i < node_count && !r; i++) {
		const struct node_row *row = &node_table[i];
		if (row->parent != ref.row)
			continue;
		if ((row->flags & NF_SUPER) && !c.user.superadmin)
			continue;
		a.type = row->kind == N_DIR ? S_IFDIR : S_IFREG;
		if (strcmp(row->name, "*") == 0) {
			if (row->list)
				r = row->list(x->e, &c, ref.caps, emit_name, &a);
		} else {
			r = add_item(&a, row->name, a.type);
		}
	}
	if (r) {
		handle_free(h);
		reply_fail(req, &c, &ref, "readdir", r, NULL);
		return;
	}
	fi->fh = (uintptr_t)h;
	fuse_reply_open(req, fi);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	(void)ino;
	struct fs_handle *h = FH(fi);
	op_count(req, CFS_OP_READDIR);
	char *buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	size_t used = 0;
	for (size_t i = (size_t)off; i < h->nitems; i++) {
		struct stat st;
		memset(&st, 0, sizeof st);
		/* a stable made-up number: the real one comes with lookup */
		uint64_t hsh = 1469598103934665603ULL;
		for (const char *p = h->items[i].name; *p; p++)
			hsh = (hsh ^ (unsigned char)*p) * 1099511628211ULL;
		st.st_ino = (hsh | 1) & 0x7fffffffffffffffULL;
		st.st_mode = h->items[i].type;
		size_t n = fuse_add_direntry(req, buf + used, size - used, h->items[i].name, &st,
					     (off_t)(i + 1));
		if (n > size - used)
			break;
		used += n;
	}
	fuse_reply_buf(req, buf, used);
	free(buf);
}

static void cfs_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	op_count(req, CFS_OP_RELEASE);
	handle_free(FH(fi));
	fuse_reply_err(req, 0);
}

/* ---- files ---- */

static void open_vtree(fuse_req_t req, struct fs_ctx *x, const struct cfs_caller *c,
		       const struct inode_ref *ref, struct fuse_file_info *fi, bool wants_write)
{
	const struct cfs_vtree_ops *ops;
	void *tree, *vfh = NULL;
	int r = vt_resolve(x, c, ref, &ops, &tree);
	if (!r && wants_write && !ops->write)
		r = -EROFS;
	if (!r)
		r = ops->open(tree, ref->vnode, fi->flags, &vfh);
	struct fs_handle *h = r ? NULL : handle_new(ref, fi->flags);
	if (!r && !h) {
		ops->release(tree, vfh);
		r = -ENOMEM;
	}
	if (r) {
		reply_fail(req, c, ref, "open", r, NULL);
		return;
	}
	h->vfh = vfh;
	h->vops = ops;
	h->vtree = tree;
	/* read-only trees (snapshots) never change under a name: keep the cache,
	 * and a close has nothing to flush */
	fi->keep_cache = ops->write ? 0 : 1;
	fi->noflush = !ops->write && !ops->flush;
	fi->fh = (uintptr_t)h;
	fuse_reply_open(req, fi);
}

static void cfs_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_ctx *x = ctx_of(req);
	struct inode_ref ref;
	struct cfs_caller c;
	op_count(req, CFS_OP_OPEN);
	int r = resolve(req, ino, &ref, &c);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	const struct node_row *row = &node_table[ref.row];
	int acc = fi->flags & O_ACCMODE;
	bool wants_write = acc != O_RDONLY || (fi->flags & O_TRUNC);
	if (ref.vnode) {
		open_vtree(req, x, &c, &ref, fi, wants_write);
		return;
	}
	if (row->kind == N_DIR) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if (wants_write && row->kind != N_CTL && !row->store) {
		reply_fail(req, &c, &ref, "open", -EACCES, "this file is read-only");
		return;
	}
	if (row->access) {
		r = row->access(x->e, &c, ref.caps, wants_write);
		if (r) {
			reply_fail(req, &c, &ref, "open", r, "not permitted for this caller");
			return;
		}
	}
	struct fs_handle *h = handle_new(&ref, fi->flags);
	if (!h) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (row->kind == N_FILE) {
		r = row->show(x->e, &c, ref.caps, row->arg, &h->content);
		if (r) {
			handle_free(h);
			reply_fail(req, &c, &ref, "open", r, NULL);
			return;
		}
	} else if (row->kind == N_EVENTS) {
		h->cursor = cfs_events_open(x->e, &c);
		if (!h->cursor) {
			handle_free(h);
			fuse_reply_err(req, ENOMEM);
			return;
		}
		notify_add_handle(h);
		fi->nonseekable = 1;
	}
	fi->direct_io = 1;
	fi->fh = (uintptr_t)h;
	fuse_reply_open(req, fi);
}

static void reply_slice(fuse_req_t req, const struct cfs_buf *b, size_t size, off_t off)
{
	if ((size_t)off >= b->len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	size_t n = b->len - (size_t)off;
	fuse_reply_buf(req, b->data + off, n < size ? n : size);
}

static void read_ctl(fuse_req_t req, struct fs_handle *h, size_t size, off_t off)
{
	struct cfs_caller c;
	if (caller_of(req, &c)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	pthread_mutex_lock(&h->lock);
	if (h->outcome && (h->flags & O_ACCMODE) == O_RDWR) {
		/* read-write descriptor after a write: its own outcome, from its first
		 * byte whatever the file offset */
		if (h->out_pos == 0) {
			cfs_buf_reset(&h->rendered);
			ctl_outcome_render(h->outcome, true, &h->rendered);
		}
		size_t n = h->rendered.len > h->out_pos ? h->rendered.len - h->out_pos : 0;
		if (n > size)
			n = size;
		fuse_reply_buf(req, h->rendered.data ? h->rendered.data + h->out_pos : NULL, n);
		h->out_pos += n;
		pthread_mutex_unlock(&h->lock);
		return;
	}
	if (off == 0) {
		/* usage, then the caller's last outcome on this file */
		cfs_buf_reset(&h->rendered);
		nodes_ctl_usage(&node_table[h->ref.row], &h->rendered);
		struct ctl_outcome *o = outcomes_get(c.user.uid, &h->ref);
		if (o) {
			ctl_outcome_render(o, true, &h->rendered);
			ctl_outcome_free(o);
		}
	}
	reply_slice(req, &h->rendered, size, off);
	pthread_mutex_unlock(&h->lock);
}

/* Each worker thread keeps one buffer for tree reads: a fresh 128 KiB
 * allocation per read costs page faults on every request. */
static pthread_key_t rbuf_key;
static pthread_once_t rbuf_once = PTHREAD_ONCE_INIT;
static bool rbuf_key_ok;

struct rbuf {
	size_t cap;
	char data[];
};

static void rbuf_init(void)
{
	rbuf_key_ok = pthread_key_create(&rbuf_key, free) == 0;
}

/* A buffer of size bytes, this thread's own; *own when the caller frees it. */
static char *read_buf(size_t size, bool *own)
{
	pthread_once(&rbuf_once, rbuf_init);
	struct rbuf *b = rbuf_key_ok ? pthread_getspecific(rbuf_key) : NULL;
	*own = false;
	if (b && b->cap >= size)
		return b->data;
	if (!rbuf_key_ok || size > (4u << 20)) {
		*own = true;
		return malloc(size ? size : 1);
	}
	struct rbuf *nb = malloc(sizeof *nb + size);
	if (!nb)
		return NULL;
	nb->cap = size;
	if (pthread_setspecific(rbuf_key, nb)) {
		free(nb);
		*own = true;
		return malloc(size ? size : 1);
	}
	free(b);
	return nb->data;
}

static void do_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	(void)ino;
	struct fs_handle *h = FH(fi);
	op_count(req, CFS_OP_READ);
	if (h->vops) {
		bool own;
		char *buf = read_buf(size, &own);
		if (!buf) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
		ssize_t n = h->vops->read(h->vtree, h->vfh, buf, size, (uint64_t)off);
		if (n < 0) {
			struct cfs_caller c;
			if (caller_of(req, &c) == 0)
				reply_fail(req, &c, &h->ref, "read", (int)n, NULL);
			else
				fuse_reply_err(req, (int)-n);
		} else {
			fuse_reply_buf(req, buf, (size_t)n);
		}
		if (own)
			free(buf);
		return;
	}
	switch (node_table[h->ref.row].kind) {
	case N_FILE:
		reply_slice(req, &h->content, size, off);
		return;
	case N_CTL:
		read_ctl(req, h, size, off);
		return;
	case N_EVENTS: {
		struct cfs_buf b = CFS_BUF_INIT;
		ssize_t n = cfs_events_read(ctx_of(req)->e, h->cursor, &b, size);
		if (n > 0)
			fuse_reply_buf(req, b.data, (size_t)n);
		else if (fi->flags & O_NONBLOCK)
			fuse_reply_err(req, EAGAIN);
		else
			notify_park_read(req, h, size);
		cfs_buf_free(&b);
		return;
	}
	default:
		fuse_reply_err(req, EISDIR);
	}
}

struct intr_flag {
	volatile int flag;
};

static void on_write_interrupt(fuse_req_t req, void *data)
{
	(void)req;
	((struct intr_flag *)data)->flag = 1;
}

static void do_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	(void)ino;
	(void)off;
	struct fs_ctx *x = ctx_of(req);
	struct fs_handle *h = FH(fi);
	struct cfs_caller c;
	op_count(req, CFS_OP_WRITE);
	if (h->vops) {
		set_vtree_caller_row(req, h->ref.row);
		ssize_t n = h->vops->write ? h->vops->write(h->vtree, h->vfh, buf, size, (uint64_t)off)
					   : -EROFS;
		if (n < 0)
			fuse_reply_err(req, (int)-n);
		else
			fuse_reply_write(req, (size_t)n);
		return;
	}
	const struct node_row *row = &node_table[h->ref.row];
	if (row->kind != N_CTL && !row->store) {
		fuse_reply_err(req, EBADF);
		return;
	}
	if (caller_of(req, &c)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	if (row->store) {
		/* a value file: each write is the whole new value */
		struct cfs_err err = { 0 };
		int r = size > CTL_MAX_WRITE ? cfs_errf(&err, -EINVAL, "a value is at most %d bytes",
							 CTL_MAX_WRITE)
					     : row->store(x->e, &c, h->ref.caps, buf, size, &err);
		if (r)
			reply_fail(req, &c, &h->ref, "write", r, err.msg);
		else
			fuse_reply_write(req, size);
		return;
	}
	struct ctl_outcome *o = ctl_outcome_new();
	if (!o) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	/* a write that blocks on a job polls this flag; Ctrl-C detaches it */
	struct intr_flag intr = { 0 };
	c.interrupted = &intr.flag;
	fuse_req_interrupt_func(req, on_write_interrupt, &intr);
	int r = row->ctl(x->e, &c, h->ref.caps, buf, size, o);
	fuse_req_interrupt_func(req, NULL, NULL);
	if (ctl_outcome_empty(o)) {
		/* an empty write does nothing, and keeps the last outcome */
		ctl_outcome_free(o);
		fuse_reply_write(req, size);
		return;
	}
	outcomes_put(c.user.uid, &h->ref, o);
	pthread_mutex_lock(&h->lock);
	ctl_outcome_free(h->outcome);
	h->outcome = o;           /* takes our reference */
	h->out_pos = 0;
	cfs_buf_reset(&h->rendered);
	pthread_mutex_unlock(&h->lock);
	if (r) {
		reply_fail(req, &c, &h->ref, "write", r, ctl_outcome_message(o));
		return;
	}
	fuse_reply_write(req, size);
}

static void cfs_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	struct fs_handle *h = FH(fi);
	op_count(req, CFS_OP_RELEASE);
	if (h->vops)
		set_vtree_caller_row(req, h->ref.row);   /* the tree's release runs with the last reference */
	else if (node_table[h->ref.row].kind == N_EVENTS)
		notify_remove_handle(h);
	handle_free(h);
	fuse_reply_err(req, 0);
}

static void do_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		     struct fuse_pollhandle *ph)
{
	(void)ino;
	struct fs_handle *h = FH(fi);
	op_count(req, CFS_OP_POLL);
	if (node_table[h->ref.row].kind != N_EVENTS) {
		if (ph)
			fuse_pollhandle_destroy(ph);
		fuse_reply_poll(req, POLLIN | POLLOUT);
		return;
	}
	bool ready = cfs_events_ready(ctx_of(req)->e, h->cursor);
	pthread_mutex_lock(&h->lock);
	if (ph) {
		if (h->ph)
			fuse_pollhandle_destroy(h->ph);
		h->ph = ready ? NULL : ph;
		if (ready)
			fuse_pollhandle_destroy(ph);
	}
	pthread_mutex_unlock(&h->lock);
	fuse_reply_poll(req, ready ? POLLIN : 0);
}

/* ---- everything that changes names: the table refuses, trees may accept ---- */

/* Resolves a parent for a change: 0 with ops/tree when it is in a tree that
 * takes changes; else the reply is sent and 1 returned. */
static int change_parent(fuse_req_t req, fuse_ino_t parent, const char *op,
			 struct inode_ref *ref, struct cfs_caller *c,
			 const struct cfs_vtree_ops **ops, void **tree)
{
	op_count(req, CFS_OP_OTHER);
	int r = resolve(req, parent, ref, c);
	if (r) {
		fuse_reply_err(req, -r);
		return 1;
	}
	if (!ref->vnode) {
		reply_fail(req, c, ref, op, -EACCES, "the tree's names are made by ctl commands");
		return 1;
	}
	r = vt_resolve(ctx_of(req), c, ref, ops, tree);
	if (!r && !(*ops)->create)
		r = -EROFS;
	if (r) {
		reply_fail(req, c, ref, op, r, r == -EROFS ? "this tree is read-only" : NULL);
		return 1;
	}
	return 0;
}

static void reply_made(fuse_req_t req, const struct inode_ref *pref, int r, uint64_t node,
		       const struct cfs_vattr *a)
{
	uint64_t ino;
	if (!r)
		r = inode_get(pref->row, pref->caps, pref->ncaps, node, &ino);
	if (r) {
		fuse_reply_err(req, -r);
		return;
	}
	struct fuse_entry_param ep;
	vt_entry(pref, ino, node, a, &ep);
	fuse_reply_entry(req, &ep);
}

static void cfs_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode)
{
	struct inode_ref ref;
	struct cfs_caller c;
	const struct cfs_vtree_ops *ops;
	void *tree;
	struct cfs_vattr a = { 0 };
	uint64_t node = 0;
	if (change_parent(req, parent, "mkdir", &ref, &c, &ops, &tree))
		return;
	int r = ops->mkdir ? ops->mkdir(tree, ref.vnode, name, mode, &node, &a) : -EROFS;
	reply_made(req, &ref, r, node, &a);
}

static void cfs_mknod(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode, dev_t rdev)
{
	struct inode_ref ref;
	struct cfs_caller c;
	const struct cfs_vtree_ops *ops;
	void *tree;
	struct cfs_vattr a = { 0 };
	uint64_t node = 0;
	if (change_parent(req, parent, "mknod", &ref, &c, &ops, &tree))
		return;
	int r = ops->mknod ? ops->mknod(tree, ref.vnode, name, mode, rdev, &node, &a) : -EROFS;
	reply_made(req, &ref, r, node, &a);
}

static void cfs_symlink(fuse_req_t req, const char *link, fuse_ino_t parent, const char *name)
{
	struct inode_ref ref;
	struct cfs_caller c;
	const struct cfs_vtree_ops *ops;
	void *tree;
	struct cfs_vattr a = { 0 };
	uint64_t node = 0;
	if (change_parent(req, parent, "symlink", &ref, &c, &ops, &tree))
		return;
	int r = ops->symlink ? ops->symlink(tree, ref.vnode, name, link, &node, &a) : -EROFS;
	reply_made(req, &ref, r, node, &a);
}

static void cfs_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent, const char *newname)
{
	struct inode_ref ref, src;
	struct cfs_caller c;
	const struct cfs_vtree_ops *ops;
	void *tree;
	struct cfs_vattr a = { 0 };
	if (change_parent(req, newparent, "link", &ref, &c, &ops, &tree))
		return;
	if (inode_ref(ino, &src) || !src.vnode || src.row != ref.row ||
	    strcmp(src.ncaps ? src.capbuf[0] : "", ref.ncaps ? ref.capbuf[0] : "") != 0) {
		fuse_reply_err(req, EXDEV);
		return;
	}
	int r = ops->link ? ops->link(tree, src.vnode, ref.vnode, newname, &a) : -EROFS;
	reply_made(req, &ref, r, src.vnode, &a);
}

static void cfs_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct inode_ref ref;
	struct cfs_caller c;
	const struct cfs_vtree_ops *ops;
	void *tree;
	if (change_parent(req, parent, "unlink", &ref, &c, &ops, &tree))
		return;
	int r = ops->unlink ? ops->unlink(tree, ref.vnode, name) : -EROFS;
	fuse_reply_err(req, -r);
}

static void cfs_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct inode_ref ref;
	struct cfs_caller c;
	const struct cfs_vtree_ops *ops;
	void *tree;
	if (change_parent(req, parent, "rmdir", &ref, &c, &ops, &tree))
		return;
	int r = ops->rmdir ? ops->rmdir(tree, ref.vnode, name) : -EROFS;
	fuse_reply_err(req, -r);
}

static void cfs_rename(fuse_req_t req, fuse_ino_t parent, const char *name, fuse_ino_t newparent,
		       const char *newname, unsigned int flags)
{
	struct inode_ref ref, dst;
	struct cfs_caller c;
	const struct cfs_vtree_ops *ops;
	void *tree;
	if (change_parent(req, parent, "rename", &ref, &c, &ops, &tree))
		return;
	/* between two different trees the answer is EXDEV, so mv copies */
	if (inode_ref(newparent, &dst) || !dst.vnode || dst.row != ref.row ||
	    strcmp(dst.ncaps ? dst.capbuf[0] : "", ref.ncaps ? ref.capbuf[0] : "") != 0) {
		fuse_reply_err(req, EXDEV);
		return;
	}
	int r = ops->rename ? ops->rename(tree, ref.vnode, name, dst.vnode, newname, flags) : -EROFS;
	fuse_reply_err(req, -r);
}

static void cfs_create(fuse_req_t req, fuse_ino_t parent, const char *name, mode_t mode,
		       struct fuse_file_info *fi)
{
	struct inode_ref ref;
	struct cfs_caller c;
	const struct cfs_vtree_ops *ops;
	void *tree, *vfh = NULL;
	struct cfs_vattr a = { 0 };
	uint64_t node = 0, ino;
	if (change_parent(req, parent, "create", &ref, &c, &ops, &tree))
		return;
	int r = ops->create(tree, ref.vnode, name, mode, fi->flags, &node, &a, &vfh);
	if (!r)
		r = inode_get(ref.row, ref.caps, ref.ncaps, node, &ino);
	struct fs_handle *h = NULL;
	if (!r) {
		struct inode_ref cref = ref;
		cref.ino = ino;
		cref.vnode = node;
		h = handle_new(&cref, fi->flags);
		if (!h)
			r = -ENOMEM;
	}
	if (r) {
		if (vfh)
			ops->release(tree, vfh);
		fuse_reply_err(req, -r);
		return;
	}
	h->vfh = vfh;
	h->vops = ops;
	h->vtree = tree;
	fi->fh = (uintptr_t)h;
	fi->keep_cache = 0;
	struct fuse_entry_param ep;
	vt_entry(&ref, ino, node, &a, &ep);
	fuse_reply_create(req, &ep, fi);
}

static void do_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	struct fs_handle *h = FH(fi);
	op_count(req, CFS_OP_OTHER);
	int r = 0;
	if (h->vops && h->vops->flush) {
		set_vtree_caller_row(req, h->ref.row);
		r = h->vops->flush(h->vtree, h->vfh);
	}
	fuse_reply_err(req, -r);
}

static void do_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	(void)ino;
	struct fs_handle *h = FH(fi);
	op_count(req, CFS_OP_OTHER);
	int r = 0;
	if (h->vops && h->vops->fsync) {
		set_vtree_caller_row(req, h->ref.row);
		r = h->vops->fsync(h->vtree, h->vfh, datasync);
	}
	fuse_reply_err(req, -r);
}

static void cfs_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;
	struct inode_ref ref;
	struct cfs_caller c;
	const struct cfs_vtree_ops *ops;
	void *tree;
	op_count(req, CFS_OP_OTHER);
	if (resolve(req, ino, &ref, &c) == 0 && ref.vnode &&
	    vt_resolve(ctx_of(req), &c, &ref, &ops, &tree) == 0 && ops->statfs &&
	    ops->statfs(tree, ref.vnode, &sv) == 0) {
		fuse_reply_statfs(req, &sv);
		return;
	}
	memset(&sv, 0, sizeof sv);
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_namemax = 255;
	fuse_reply_statfs(req, &sv);
}

static void cfs_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct inode_ref ref;
	struct cfs_caller c;
	const struct cfs_vtree_ops *ops;
	void *tree;
	op_count(req, CFS_OP_READLINK);
	int r = resolve(req, ino, &ref, &c);
	if (!r && !ref.vnode)
		r = -EINVAL;
	if (!r)
		r = vt_resolve(ctx_of(req), &c, &ref, &ops, &tree);
	struct cfs_buf b = CFS_BUF_INIT;
	if (!r)
		r = ops->readlink ? ops->readlink(tree, ref.vnode, &b) : -EINVAL;
	if (r)
		fuse_reply_err(req, -r);
	else
		fuse_reply_readlink(req, b.data ? b.data : "");
	cfs_buf_free(&b);
}

/* Replies with an xattr value or list: size 0 asks for the length only. */
static void reply_xattr_buf(fuse_req_t req, const struct cfs_buf *b, size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, b->len);
	else if (b->len > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, b->data, b->len);
}

static void cfs_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct inode_ref ref;
	struct cfs_caller c;
	const struct cfs_vtree_ops *ops;
	void *tree;
	op_count(req, CFS_OP_GETXATTR);
	int r = resolve(req, ino, &ref, &c);
	if (!r && !ref.vnode)
		r = -ENODATA;
	if (!r)
		r = vt_resolve(ctx_of(req), &c, &ref, &ops, &tree);
	struct cfs_buf b = CFS_BUF_INIT;
	if (!r)
		r = ops->getxattr ? ops->getxattr(tree, ref.vnode, name, &b) : -ENODATA;
	if (r)
		fuse_reply_err(req, -r);
	else
		reply_xattr_buf(req, &b, size);
	cfs_buf_free(&b);
}

static void cfs_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct inode_ref ref;
	struct cfs_caller c;
	const struct cfs_vtree_ops *ops;
	void *tree;
	op_count(req, CFS_OP_LISTXATTR);
	int r = resolve(req, ino, &ref, &c);
	struct cfs_buf b = CFS_BUF_INIT;
	if (!r && ref.vnode) {
		r = vt_resolve(ctx_of(req), &c, &ref, &ops, &tree);
		if (!r && ops->listxattr)
			r = ops->listxattr(tree, ref.vnode, &b);
	}
	if (r)
		fuse_reply_err(req, -r);
	else
		reply_xattr_buf(req, &b, size);
	cfs_buf_free(&b);
}

/* 0 with ops/tree for a node of a tree; else the error to answer. */
static int xattr_target(fuse_req_t req, fuse_ino_t ino, struct inode_ref *ref,
			const struct cfs_vtree_ops **ops, void **tree)
{
	struct cfs_caller c;
	op_count(req, CFS_OP_OTHER);
	int r = resolve(req, ino, ref, &c);
	if (r)
		return r;
	if (!ref->vnode)
		return -ENOTSUP;
	return vt_resolve(ctx_of(req), &c, ref, ops, tree);
}

static void cfs_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name, const char *value,
			 size_t size, int flags)
{
	struct inode_ref ref;
	const struct cfs_vtree_ops *ops;
	void *tree;
	int r = xattr_target(req, ino, &ref, &ops, &tree);
	if (!r)
		r = ops->setxattr ? ops->setxattr(tree, ref.vnode, name, value, size, flags) : -EROFS;
	fuse_reply_err(req, -r);
}

static void cfs_removexattr(fuse_req_t req, fuse_ino_t ino, const char *name)
{
	struct inode_ref ref;
	const struct cfs_vtree_ops *ops;
	void *tree;
	int r = xattr_target(req, ino, &ref, &ops, &tree);
	if (!r)
		r = ops->removexattr ? ops->removexattr(tree, ref.vnode, name) : -EROFS;
	fuse_reply_err(req, -r);
}

static void cfs_init(void *userdata, struct fuse_conn_info *conn)
{
	the_ctx = userdata;
	/* no writeback cache and no atomic O_TRUNC: ctl writes arrive one by one */
	conn->want &= ~FUSE_CAP_WRITEBACK_CACHE;
	if (conn->capable & FUSE_CAP_EXPORT_SUPPORT)
		conn->want &= ~FUSE_CAP_EXPORT_SUPPORT;
}


/* ---- requests on an open handle hold it for their duration ---- */

static void cfs_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			struct fuse_file_info *fi)
{
	struct fs_handle *h = handle_hold(FH(fi));
	do_readdir(req, ino, size, off, fi);
	handle_drop(h);
}

static void cfs_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		     struct fuse_file_info *fi)
{
	struct fs_handle *h = handle_hold(FH(fi));
	do_read(req, ino, size, off, fi);
	handle_drop(h);
}

static void cfs_write(fuse_req_t req, fuse_ino_t ino, const char *buf, size_t size, off_t off,
		      struct fuse_file_info *fi)
{
	struct fs_handle *h = handle_hold(FH(fi));
	do_write(req, ino, buf, size, off, fi);
	handle_drop(h);
}

static void cfs_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		     struct fuse_pollhandle *ph)
{
	struct fs_handle *h = handle_hold(FH(fi));
	do_poll(req, ino, fi, ph);
	handle_drop(h);
}

static void cfs_flush(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fs_handle *h = handle_hold(FH(fi));
	do_flush(req, ino, fi);
	handle_drop(h);
}

static void cfs_fsync(fuse_req_t req, fuse_ino_t ino, int datasync, struct fuse_file_info *fi)
{
	struct fs_handle *h = handle_hold(FH(fi));
	do_fsync(req, ino, datasync, fi);
	handle_drop(h);
}

const struct fuse_lowlevel_ops cfs_fuse_ops = {
	.init = cfs_init,
	.lookup = cfs_lookup,
	.forget = cfs_forget,
	.forget_multi = cfs_forget_multi,
	.getattr = cfs_getattr,
	.setattr = cfs_setattr,
	.mknod = cfs_mknod,
	.mkdir = cfs_mkdir,
	.unlink = cfs_unlink,
	.rmdir = cfs_rmdir,
	.symlink = cfs_symlink,
	.rename = cfs_rename,
	.link = cfs_link,
	.readlink = cfs_readlink,
	.open = cfs_open,
	.read = cfs_read,
	.write = cfs_write,
	.release = cfs_release,
	.flush = cfs_flush,
	.fsync = cfs_fsync,
	.opendir = cfs_opendir,
	.readdir = cfs_readdir,
	.releasedir = cfs_releasedir,
	.statfs = cfs_statfs,
	.setxattr = cfs_setxattr,
	.getxattr = cfs_getxattr,
	.listxattr = cfs_listxattr,
	.removexattr = cfs_removexattr,
	.create = cfs_create,
	.poll = cfs_poll,
};
