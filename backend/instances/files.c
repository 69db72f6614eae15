/* files.c — /instances/NAME/files/: the agent's tree below its root, served
 * as a vtree over the signed file API (docs/agent-api.md).
 *
 * Nodes are keyed by the agent's (dev, ino), so hard links share one inode
 * and a rename keeps it; each node remembers the last path it was seen at,
 * which every operation sends (paths always relative to the agent's root).
 * Every request carries the caller's uid, gid and groups, so the agent's
 * kernel checks permissions and owns new files as the caller.
 *
 * Reads fetch ranges (read ahead to RA_BYTES on sequential access).  Writes
 * go through an agent write session: a temp file beside the target, chunks
 * each verified by its XXH3-128, and a commit that fsyncs and renames it into
 * place (with the whole file's hash when the writes were sequential from 0),
 * on close; until then readers of the name see the old content. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auth/crypto.h"
#include "auth/permit.h"
#include "core/engine_priv.h"
#include "core/log.h"
#include "core/util.h"
#include "instances/instances.h"
#include "mirrors/mirrors.h"
#include "wire/wire.h"

#define RA_BYTES (1u << 20)      /* read-ahead window */
#define CHUNK_BYTES (1u << 20)   /* write chunk sent to the agent */
#define READ_MAX (4u << 20)      /* the agent's largest read */

struct fnode {
	uint64_t id;
	uint64_t dev, ino;
	char *path;                  /* relative to the root, "" for the root */
	struct fnode *next_id, *next_key;
};

#define NB 1024

struct files_tree {
	struct cfs_engine *e;
	char name[65];
	char prefix[1024];           /* the tree's root below the agent's root ("" = all) */
	char mirror[65];             /* a mirror's files/: the mirror to kick after a commit */
	pthread_mutex_t lock;
	struct fnode *by_id[NB], *by_key[NB];
	uint64_t next_id;
	struct files_tree *next;
};

struct files_trees {
	pthread_mutex_t lock;
	struct files_tree *head;
};

/* ---- node table ---- */

static struct fnode *node_by_id(struct files_tree *t, uint64_t id)
{
	for (struct fnode *n = t->by_id[id % NB]; n; n = n->next_id)
		if (n->id == id)
			return n;
	return NULL;
}

/* Path of a node, copied (caller frees), or NULL. */
static char *node_path(struct files_tree *t, uint64_t id)
{
	pthread_mutex_lock(&t->lock);
	struct fnode *n = node_by_id(t, id);
	char *p = n ? strdup(n->path) : NULL;
	pthread_mutex_unlock(&t->lock);
	return p;
}

static char *join(const char *dir, const char *name)
{
	char *p;
	if (asprintf(&p, "%s%s%s", dir, *dir ? "/" : "", name) < 0)
		return NULL;
	return p;
}

/* The node of (dev, ino), made or moved to path. */
static uint64_t node_at(struct files_tree *t, uint64_t dev, uint64_t ino, const char *path)
{
	uint64_t key = (dev * 1000003u) ^ ino;
	pthread_mutex_lock(&t->lock);
	struct fnode *n;
	for (n = t->by_key[key % NB]; n; n = n->next_key)
		if (n->dev == dev && n->ino == ino)
			break;
	if (n) {
		if (strcmp(n->path, path) != 0) {
			char *p = strdup(path);
			if (p) {
				free(n->path);
				n->path = p;
			}
		}
	} else {
		n = calloc(1, sizeof *n);
		if (n && !(n->path = strdup(path))) {
			free(n);
			n = NULL;
		}
		if (n) {
			n->dev = dev;
			n->ino = ino;
			n->id = strcmp(path, t->prefix) ? t->next_id++ : VTREE_ROOT;
			n->next_key = t->by_key[key % NB];
			t->by_key[key % NB] = n;
			n->next_id = t->by_id[n->id % NB];
			t->by_id[n->id % NB] = n;
		}
	}
	uint64_t id = n ? n->id : 0;
	pthread_mutex_unlock(&t->lock);
	return id;
}

/* After a rename, paths below the old name move too. */
static void rename_paths(struct files_tree *t, const char *from, const char *to)
{
	size_t fl = strlen(from);
	pthread_mutex_lock(&t->lock);
	for (int b = 0; b < NB; b++)
		for (struct fnode *n = t->by_id[b]; n; n = n->next_id) {
			if (strncmp(n->path, from, fl) != 0 || (n->path[fl] && n->path[fl] != '/'))
				continue;
			char *p;
			if (asprintf(&p, "%s%s", to, n->path + fl) >= 0) {
				free(n->path);
				n->path = p;
			}
		}
	pthread_mutex_unlock(&t->lock);
}

static void files_forget(void *tree, uint64_t id)
{
	struct files_tree *t = tree;
	if (id == VTREE_ROOT)
		return;
	pthread_mutex_lock(&t->lock);
	struct fnode **pp = &t->by_id[id % NB], *n = NULL;
	for (; *pp; pp = &(*pp)->next_id)
		if ((*pp)->id == id) {
			n = *pp;
			*pp = n->next_id;
			break;
		}
	if (n) {
		uint64_t key = (n->dev * 1000003u) ^ n->ino;
		struct fnode **kp = &t->by_key[key % NB];
		while (*kp && *kp != n)
			kp = &(*kp)->next_key;
		if (*kp)
			*kp = n->next_key;
		free(n->path);
		free(n);
	}
	pthread_mutex_unlock(&t->lock);
}

/* ---- calls ---- */

/* Appends "&uid=…&gid=…&groups=…" for the caller on this thread. */
static void add_ident(struct cfs_buf *b)
{
	const struct cfs_vctx *c = cfs_vtree_caller();
	cfs_buf_printf(b, "&uid=%u&gid=%u", (unsigned)c->uid, (unsigned)c->gid);
	if (c->ngroups > 0) {
		cfs_buf_puts(b, "&groups=");
		for (int i = 0; i < c->ngroups && i < VTREE_MAX_GROUPS; i++)
			cfs_buf_printf(b, "%s%u", i ? "," : "", (unsigned)c->groups[i]);
	}
}

/* target = "/v1/file/OP?path=P" + ident + extra (already encoded) */
static int build(struct cfs_buf *tg, const char *op, const char *key, const char *path)
{
	cfs_buf_printf(tg, "/v1/file/%s?%s=", op, key);
	wire_urlencode(path, tg);
	add_ident(tg);
	return 0;
}

static int call(struct files_tree *t, const char *method, const char *target, const void *body,
		size_t len, struct agent_reply *r)
{
	struct agent_target at;
	struct cfs_err err = { 0 };
	int rc = agent_target_load(t->e, t->name, &at, &err);
	if (rc) {
		memset(r, 0, sizeof *r);
		return rc == -ENOENT ? -ENOENT : -EIO;
	}
	rc = agent_call(t->e, &at, method, target, body, len, r, &err);
	agent_target_wipe(&at);
	if (rc && rc != -ENOENT && rc != -EEXIST && rc != -ENOTEMPTY && rc != -EACCES &&
	    rc != -EPERM && rc != -ENOTDIR && rc != -EISDIR && rc != -ENODATA && rc != -EINVAL)
		log_debug("files %s: %s %s: %s", t->name, method, target, err.msg);
	return rc;
}

static bool may(unsigned action)
{
	return (cfs_vtree_caller()->perms & action) != 0;
}

static uint64_t ju64(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	if (cJSON_IsNumber(v))
		return v->valuedouble < 0 ? 0 : (uint64_t)v->valuedouble;
	if (cJSON_IsString(v))
		return strtoull(v->valuestring, NULL, 10);
	return 0;
}

static int64_t ji64(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	if (cJSON_IsNumber(v))
		return (int64_t)v->valuedouble;
	if (cJSON_IsString(v))
		return strtoll(v->valuestring, NULL, 10);
	return 0;
}

static void attr_from(const cJSON *s, struct cfs_vattr *a)
{
	memset(a, 0, sizeof *a);
	a->mode = (mode_t)ju64(s, "mode");
	a->nlink = (nlink_t)ju64(s, "nlink");
	a->uid = (uid_t)ju64(s, "uid");
	a->gid = (gid_t)ju64(s, "gid");
	a->size = ju64(s, "size");
	a->blocks = ju64(s, "blocks");
	a->rdev = (dev_t)ju64(s, "rdev");
	a->atime.tv_sec = ji64(s, "atime");
	a->atime.tv_nsec = ji64(s, "atime_nsec");
	a->mtime.tv_sec = ji64(s, "mtime");
	a->mtime.tv_nsec = ji64(s, "mtime_nsec");
	a->ctime.tv_sec = ji64(s, "ctime");
	a->ctime.tv_nsec = ji64(s, "ctime_nsec");
}

static cJSON *parse(const struct agent_reply *r)
{
	return cJSON_ParseWithLength(r->body.data ? r->body.data : "", r->body.len);
}

/* Registers the node a reply's "stat" describes at path. */
static int stat_reply(struct files_tree *t, const struct agent_reply *r, const char *path,
		      uint64_t *node, struct cfs_vattr *a)
{
	cJSON *j = parse(r);
	const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "stat");
	if (!cJSON_IsObject(s)) {
		cJSON_Delete(j);
		return -EIO;
	}
	attr_from(s, a);
	uint64_t id = node_at(t, ju64(s, "dev"), ju64(s, "ino"), path);
	cJSON_Delete(j);
	if (!id)
		return -ENOMEM;
	if (node)
		*node = id;
	return 0;
}

static int stat_path(struct files_tree *t, const char *path, uint64_t *node, struct cfs_vattr *a)
{
	struct cfs_buf tg = CFS_BUF_INIT;
	struct agent_reply r;
	build(&tg, "stat", "path", path);
	int rc = call(t, "GET", tg.data, NULL, 0, &r);
	if (!rc)
		rc = stat_reply(t, &r, path, node, a);
	agent_reply_free(&r);
	cfs_buf_free(&tg);
	return rc;
}

/* One call about a node: METHOD /v1/file/OP?path=<node's path><ident>, then
 * "&KEY=" + encoded xval when xkey is set, then suffix (already encoded) when
 * set.  The reply is the caller's to free. */
static int node_call(struct files_tree *t, uint64_t node, const char *method, const char *op,
		     const char *xkey, const char *xval, const char *suffix, const void *body,
		     size_t len, struct agent_reply *r)
{
	char *p = node_path(t, node);
	if (!p) {
		memset(r, 0, sizeof *r);
		return -ESTALE;
	}
	struct cfs_buf tg = CFS_BUF_INIT;
	build(&tg, op, "path", p);
	free(p);
	if (xkey) {
		cfs_buf_printf(&tg, "&%s=", xkey);
		wire_urlencode(xval, &tg);
	}
	if (suffix)
		cfs_buf_puts(&tg, suffix);
	int rc = call(t, method, tg.data, body, len, r);
	cfs_buf_free(&tg);
	return rc;
}

/* ---- read ops ---- */

static int files_getattr(void *tree, uint64_t node, struct cfs_vattr *a)
{
	struct files_tree *t = tree;
	char *p = node_path(t, node);
	if (!p)
		return -ESTALE;
	int r = stat_path(t, p, NULL, a);
	free(p);
	return r;
}

static int files_lookup(void *tree, uint64_t parent, const char *name, uint64_t *node,
			struct cfs_vattr *a)
{
	struct files_tree *t = tree;
	char *dir = node_path(t, parent);
	if (!dir)
		return -ESTALE;
	char *p = join(dir, name);
	free(dir);
	if (!p)
		return -ENOMEM;
	int r = stat_path(t, p, node, a);
	free(p);
	return r;
}

/* The bytes of o's KEY, or of KEY_b64 when the agent had to encode them (not
 * UTF-8 or holding NUL); malloc'ed and NUL-terminated, or NULL. */
static char *json_bytes(const cJSON *o, const char *key, size_t *len)
{
	char bkey[64];
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (cJSON_IsString(v)) {
		*len = strlen(v->valuestring);
		return strdup(v->valuestring);
	}
	snprintf(bkey, sizeof bkey, "%s_b64", key);
	v = cJSON_GetObjectItemCaseSensitive(o, bkey);
	uint8_t *dec = NULL;
	if (!cJSON_IsString(v) || cfs_b64_decode(v->valuestring, &dec, len))
		return NULL;
	return (char *)dec;
}

static int files_readdir(void *tree, uint64_t node, uint64_t offset, vtree_fill_fn fill, void *arg)
{
	struct files_tree *t = tree;
	char *dir = node_path(t, node);
	if (!dir)
		return -ESTALE;
	int rc = 0;
	uint64_t next = offset;
	bool stop = false;
	while (!rc && !stop) {
		struct cfs_buf tg = CFS_BUF_INIT;
		struct agent_reply r;
		build(&tg, "readdir", "path", dir);
		cfs_buf_printf(&tg, "&offset=%llu", (unsigned long long)next);
		rc = call(t, "GET", tg.data, NULL, 0, &r);
		cfs_buf_free(&tg);
		cJSON *j = rc ? NULL : parse(&r);
		agent_reply_free(&r);
		if (!rc && !j)
			rc = -EIO;
		const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "entries"), *e;
		cJSON_ArrayForEach(e, arr)
		{
			const cJSON *s = cJSON_GetObjectItemCaseSensitive(e, "stat");
			size_t nlen = 0;
			char *name = json_bytes(e, "name", &nlen);
			next++;
			if (!name || !cJSON_IsObject(s) || strchr(name, '/')) {
				free(name);
				continue;
			}
			struct cfs_vattr a;
			attr_from(s, &a);
			char *p = join(dir, name);
			uint64_t id = p ? node_at(t, ju64(s, "dev"), ju64(s, "ino"), p) : 0;
			free(p);
			if (id && fill(arg, name, id, &a, next)) {
				stop = true;
				free(name);
				break;
			}
			free(name);
		}
		const cJSON *nx = cJSON_GetObjectItemCaseSensitive(j, "next");
		if (!cJSON_IsNumber(nx))
			stop = true;
		else
			next = (uint64_t)nx->valuedouble;
		cJSON_Delete(j);
	}
	free(dir);
	return rc;
}

static int files_readlink(void *tree, uint64_t node, struct cfs_buf *out)
{
	struct agent_reply r;
	int rc = node_call(tree, node, "GET", "readlink", NULL, NULL, NULL, NULL, 0, &r);
	cJSON *j = rc ? NULL : parse(&r);
	agent_reply_free(&r);
	if (!rc) {
		size_t n;
		char *d = json_bytes(j, "target", &n);
		rc = d ? cfs_buf_append(out, d, n) : -EIO;
		free(d);
	}
	cJSON_Delete(j);
	return rc;
}

static int files_getxattr(void *tree, uint64_t node, const char *name, struct cfs_buf *out)
{
	struct agent_reply r;
	int rc = node_call(tree, node, "GET", "getxattr", "name", name, NULL, NULL, 0, &r);
	if (!rc && r.body.len)
		rc = cfs_buf_append(out, r.body.data, r.body.len);
	agent_reply_free(&r);
	return rc;
}

static int files_listxattr(void *tree, uint64_t node, struct cfs_buf *out)
{
	struct agent_reply r;
	int rc = node_call(tree, node, "GET", "listxattr", NULL, NULL, NULL, NULL, 0, &r);
	cJSON *j = rc ? NULL : parse(&r);
	agent_reply_free(&r);
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(j, "names"), *it;
	cJSON_ArrayForEach(it, arr)
		if (cJSON_IsString(it))
			cfs_buf_append(out, it->valuestring, strlen(it->valuestring) + 1);
	cJSON_Delete(j);
	return rc;
}

static int files_statfs(void *tree, uint64_t node, struct statvfs *st)
{
	struct agent_reply r;
	int rc = node_call(tree, node, "GET", "statfs", NULL, NULL, NULL, NULL, 0, &r);
	cJSON *j = rc ? NULL : parse(&r);
	agent_reply_free(&r);
	if (!rc) {
		memset(st, 0, sizeof *st);
		st->f_bsize = ju64(j, "bsize");
		st->f_frsize = ju64(j, "frsize");
		st->f_blocks = ju64(j, "blocks");
		st->f_bfree = ju64(j, "bfree");
		st->f_bavail = ju64(j, "bavail");
		st->f_files = ju64(j, "files");
		st->f_ffree = ju64(j, "ffree");
		st->f_favail = ju64(j, "favail");
		st->f_namemax = ju64(j, "namemax");
	}
	cJSON_Delete(j);
	return rc;
}

/* ---- open files ---- */

struct fhandle {
	uint64_t node;
	char *path;
	pthread_mutex_t lock;
	/* reads */
	struct cfs_buf ra;           /* read-ahead bytes at ra_off */
	uint64_t ra_off;
	uint64_t last_end;
	/* writes */
	char session[40];            /* "" when opened read-only */
	struct cfs_buf pend;         /* contiguous bytes not yet sent, at pend_off */
	uint64_t pend_off;
	bool dirty;
	bool seq;                    /* every byte written in order from 0: hash known */
	uint64_t seq_end;
	struct cfs_xxh128 *h;
	int error;                   /* a failed flush, reported at the next flush/close */
};

static void fh_free(struct fhandle *f)
{
	if (!f)
		return;
	cfs_buf_free(&f->ra);
	cfs_buf_free(&f->pend);
	cfs_xxh128_free(f->h);
	free(f->path);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

static struct fhandle *fh_new(uint64_t node, const char *path)
{
	struct fhandle *f = calloc(1, sizeof *f);
	if (!f)
		return NULL;
	f->node = node;
	f->path = strdup(path);
	pthread_mutex_init(&f->lock, NULL);
	if (!f->path) {
		fh_free(f);
		return NULL;
	}
	return f;
}

/* Opens a write session; fills the session id and the stat. */
static int session_open(struct files_tree *t, struct fhandle *f, bool create, bool excl,
			bool trunc, mode_t mode, struct cfs_vattr *a, uint64_t *node)
{
	struct cfs_buf tg = CFS_BUF_INIT;
	struct agent_reply r;
	build(&tg, "open", "path", f->path);
	cfs_buf_printf(&tg, "&create=%d&excl=%d&truncate=%d&mode=%o", create, excl, trunc,
		       (unsigned)(mode & 07777));
	int rc = call(t, "POST", tg.data, NULL, 0, &r);
	cfs_buf_free(&tg);
	if (!rc) {
		cJSON *j = parse(&r);
		const cJSON *sid = cJSON_GetObjectItemCaseSensitive(j, "session");
		const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "stat");
		const cJSON *size = cJSON_GetObjectItemCaseSensitive(j, "size");
		if (!cJSON_IsString(sid) || !cJSON_IsObject(s)) {
			rc = -EIO;
		} else {
			snprintf(f->session, sizeof f->session, "%s", sid->valuestring);
			struct cfs_vattr tmp;
			attr_from(s, a ? a : &tmp);
			if (a && cJSON_IsNumber(size))
				a->size = (uint64_t)size->valuedouble;
			uint64_t id = node_at(t, ju64(s, "dev"), ju64(s, "ino"), f->path);
			if (node)
				*node = id;
			f->seq = trunc || (cJSON_IsNumber(size) && size->valuedouble == 0);
			/* open(O_TRUNC); close() empties the file: commit even unwritten */
			f->dirty = trunc;
			f->h = f->seq ? cfs_xxh128_new() : NULL;
			if (f->seq && !f->h)
				f->seq = false;
		}
		cJSON_Delete(j);
	}
	agent_reply_free(&r);
	return rc;
}

static int send_pending(struct files_tree *t, struct fhandle *f)
{
	if (!f->pend.len)
		return 0;
	char xxh[CFS_XXH128_HEX];
	cfs_xxh128_hex(f->pend.data, f->pend.len, xxh);
	char tg[256];
	snprintf(tg, sizeof tg, "/v1/file/write?session=%s&offset=%llu&xxh128=%s", f->session,
		 (unsigned long long)f->pend_off, xxh);
	struct agent_reply r;
	int rc = call(t, "POST", tg, f->pend.data, f->pend.len, &r);
	agent_reply_free(&r);
	if (rc)
		f->error = rc;
	cfs_buf_reset(&f->pend);
	return rc;
}

static int files_open(void *tree, uint64_t node, int flags, void **fh)
{
	struct files_tree *t = tree;
	bool wr = (flags & O_ACCMODE) != O_RDONLY;
	if (wr && !may(CFS_ACT_WRITE))
		return -EACCES;
	char *p = node_path(t, node);
	if (!p)
		return -ESTALE;
	struct fhandle *f = fh_new(node, p);
	free(p);
	if (!f)
		return -ENOMEM;
	if (wr) {
		int rc = session_open(t, f, false, false, (flags & O_TRUNC) != 0, 0644, NULL, NULL);
		if (rc) {
			fh_free(f);
			return rc;
		}
	}
	*fh = f;
	return 0;
}

static ssize_t fetch_range(struct files_tree *t, struct fhandle *f, char *buf, size_t size,
			   uint64_t off)
{
	struct cfs_buf tg = CFS_BUF_INIT;
	struct agent_reply r;
	if (f->session[0])
		cfs_buf_printf(&tg, "/v1/file/read?session=%s", f->session);
	else
		build(&tg, "read", "path", f->path);
	cfs_buf_printf(&tg, "&offset=%llu&length=%zu", (unsigned long long)off, size);
	int rc = call(t, "GET", tg.data, NULL, 0, &r);
	cfs_buf_free(&tg);
	ssize_t n = rc;
	if (!rc) {
		n = (ssize_t)(r.body.len < size ? r.body.len : size);
		memcpy(buf, r.body.data, (size_t)n);
	}
	agent_reply_free(&r);
	return n;
}

static ssize_t files_read(void *tree, void *fh, char *buf, size_t size, uint64_t off)
{
	struct files_tree *t = tree;
	struct fhandle *f = fh;
	ssize_t n;
	pthread_mutex_lock(&f->lock);
	if (f->session[0]) {
		/* a read-write descriptor sees what it wrote */
		n = send_pending(t, f);
		if (!n)
			n = fetch_range(t, f, buf, size, off);
		pthread_mutex_unlock(&f->lock);
		return n;
	}
	if (off >= f->ra_off && off + size <= f->ra_off + f->ra.len) {
		memcpy(buf, f->ra.data + (off - f->ra_off), size);
		f->last_end = off + size;
		pthread_mutex_unlock(&f->lock);
		return (ssize_t)size;
	}
	bool sequential = off == f->last_end;
	size_t want = sequential && size < RA_BYTES ? RA_BYTES : size;
	if (want > READ_MAX)
		want = READ_MAX;
	cfs_buf_reset(&f->ra);
	n = cfs_buf_reserve(&f->ra, want);
	if (!n)
		n = fetch_range(t, f, f->ra.data, want, off);
	if (n >= 0) {
		f->ra.len = (size_t)n;
		f->ra_off = off;
		if ((size_t)n > size)
			n = (ssize_t)size;
		memcpy(buf, f->ra.data, (size_t)n);
		f->last_end = off + (uint64_t)n;
	}
	pthread_mutex_unlock(&f->lock);
	return n;
}

static ssize_t files_write(void *tree, void *fh, const char *buf, size_t size, uint64_t off)
{
	struct files_tree *t = tree;
	struct fhandle *f = fh;
	if (!f->session[0])
		return -EBADF;
	pthread_mutex_lock(&f->lock);
	int rc = 0;
	if (f->pend.len && off != f->pend_off + f->pend.len)
		rc = send_pending(t, f);
	if (!rc && !f->pend.len)
		f->pend_off = off;
	if (!rc)
		rc = cfs_buf_append(&f->pend, buf, size);
	if (!rc) {
		if (f->seq && off == f->seq_end) {
			cfs_xxh128_update(f->h, buf, size);
			f->seq_end += size;
		} else {
			f->seq = false;
		}
		f->dirty = true;
		cfs_buf_reset(&f->ra);
		if (f->pend.len >= CHUNK_BYTES)
			rc = send_pending(t, f);
	}
	pthread_mutex_unlock(&f->lock);
	return rc ? rc : (ssize_t)size;
}

/* Commits the session (keep=1 keeps it open for more writes). */
static int commit(struct files_tree *t, struct fhandle *f, bool keep)
{
	int rc = send_pending(t, f);
	if (!rc && f->error)
		rc = f->error;
	if (rc)
		return rc;
	char tg[256], xxh[CFS_XXH128_HEX] = "";
	if (f->seq && f->h)
		cfs_xxh128_final_hex(f->h, xxh);
	snprintf(tg, sizeof tg, "/v1/file/commit?session=%s%s%s%s", f->session, xxh[0] ? "&xxh128=" : "",
		 xxh, keep ? "&keep=1" : "");
	struct agent_reply r;
	rc = call(t, "POST", tg, NULL, 0, &r);
	agent_reply_free(&r);
	if (!rc) {
		f->dirty = false;
		if (t->mirror[0])
			mirror_kick(t->e, t->mirror);   /* propagate to the destination now */
	}
	return rc;
}

static int files_flush(void *tree, void *fh)
{
	struct fhandle *f = fh;
	if (!f->session[0])
		return 0;
	pthread_mutex_lock(&f->lock);
	int rc = f->dirty ? commit(tree, f, true) : f->error;
	f->error = 0;
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static int files_fsync(void *tree, void *fh, int datasync)
{
	(void)datasync;
	return files_flush(tree, fh);
}

static void files_release(void *tree, void *fh)
{
	struct files_tree *t = tree;
	struct fhandle *f = fh;
	if (f && f->session[0]) {
		int rc;
		if (f->dirty) {
			rc = commit(t, f, false);
			if (rc)
				log_warn("files %s: %s: the last writes could not be committed: %s", t->name,
					 f->path, strerror(-rc));
		}
		if (!f->dirty || f->error) {
			char tg[128];
			struct agent_reply r;
			snprintf(tg, sizeof tg, "/v1/file/abort?session=%s", f->session);
			call(t, "POST", tg, NULL, 0, &r);
			agent_reply_free(&r);
		}
	}
	fh_free(f);
}

/* ---- changes ---- */

static int made(struct files_tree *t, const char *op, uint64_t parent, const char *name,
		const char *extra, uint64_t *node, struct cfs_vattr *a)
{
	if (!may(CFS_ACT_WRITE))
		return -EACCES;
	char *dir = node_path(t, parent);
	if (!dir)
		return -ESTALE;
	char *p = join(dir, name);
	free(dir);
	if (!p)
		return -ENOMEM;
	struct cfs_buf tg = CFS_BUF_INIT;
	struct agent_reply r;
	build(&tg, op, "path", p);
	if (extra)
		cfs_buf_puts(&tg, extra);
	int rc = call(t, "POST", tg.data, NULL, 0, &r);
	cfs_buf_free(&tg);
	if (!rc && node)
		rc = stat_reply(t, &r, p, node, a);
	agent_reply_free(&r);
	free(p);
	return rc;
}

static int files_mkdir(void *tree, uint64_t parent, const char *name, mode_t mode, uint64_t *node,
		       struct cfs_vattr *a)
{
	char extra[32];
	snprintf(extra, sizeof extra, "&mode=%o", (unsigned)(mode & 07777));
	return made(tree, "mkdir", parent, name, extra, node, a);
}

static int files_mknod(void *tree, uint64_t parent, const char *name, mode_t mode, dev_t rdev,
		       uint64_t *node, struct cfs_vattr *a)
{
	char extra[64];
	snprintf(extra, sizeof extra, "&mode=%o&rdev=%llu", (unsigned)mode, (unsigned long long)rdev);
	return made(tree, "mknod", parent, name, extra, node, a);
}

static int files_symlink(void *tree, uint64_t parent, const char *name, const char *target,
			 uint64_t *node, struct cfs_vattr *a)
{
	struct cfs_buf extra = CFS_BUF_INIT;
	cfs_buf_puts(&extra, "&target=");
	wire_urlencode(target, &extra);
	int rc = made(tree, "symlink", parent, name, extra.data, node, a);
	cfs_buf_free(&extra);
	return rc;
}

static int files_unlink(void *tree, uint64_t parent, const char *name)
{
	return made(tree, "unlink", parent, name, NULL, NULL, NULL);
}

static int files_rmdir(void *tree, uint64_t parent, const char *name)
{
	return made(tree, "rmdir", parent, name, NULL, NULL, NULL);
}

static int files_link(void *tree, uint64_t node, uint64_t newparent, const char *newname,
		      struct cfs_vattr *a)
{
	struct files_tree *t = tree;
	if (!may(CFS_ACT_WRITE))
		return -EACCES;
	char *src = node_path(t, node), *dir = node_path(t, newparent);
	char *dst = dir ? join(dir, newname) : NULL;
	int rc = !src || !dir ? -ESTALE : !dst ? -ENOMEM : 0;
	if (!rc) {
		struct cfs_buf tg = CFS_BUF_INIT;
		struct agent_reply r;
		build(&tg, "link", "path", src);
		cfs_buf_puts(&tg, "&to=");
		wire_urlencode(dst, &tg);
		rc = call(t, "POST", tg.data, NULL, 0, &r);
		agent_reply_free(&r);
		cfs_buf_free(&tg);
		if (!rc)
			rc = stat_path(t, dst, NULL, a);
	}
	free(src);
	free(dir);
	free(dst);
	return rc;
}

static int files_rename(void *tree, uint64_t parent, const char *name, uint64_t newparent,
			const char *newname, unsigned flags)
{
	struct files_tree *t = tree;
	if (!may(CFS_ACT_WRITE))
		return -EACCES;
	char *d1 = node_path(t, parent), *d2 = node_path(t, newparent);
	char *from = d1 ? join(d1, name) : NULL, *to = d2 ? join(d2, newname) : NULL;
	int rc = !d1 || !d2 ? -ESTALE : !from || !to ? -ENOMEM : 0;
	if (!rc) {
		struct cfs_buf tg = CFS_BUF_INIT;
		struct agent_reply r;
		build(&tg, "rename", "path", from);
		cfs_buf_puts(&tg, "&to=");
		wire_urlencode(to, &tg);
		if (flags & RENAME_NOREPLACE)
			cfs_buf_puts(&tg, "&noreplace=1");
		if (flags & RENAME_EXCHANGE)
			cfs_buf_puts(&tg, "&exchange=1");
		rc = call(t, "POST", tg.data, NULL, 0, &r);
		agent_reply_free(&r);
		cfs_buf_free(&tg);
		if (!rc && (flags & RENAME_EXCHANGE)) {
			char tmp[] = "\x01xchg";
			rename_paths(t, from, tmp);
			rename_paths(t, to, from);
			rename_paths(t, tmp, to);
		} else if (!rc) {
			rename_paths(t, from, to);
		}
	}
	free(d1);
	free(d2);
	free(from);
	free(to);
	return rc;
}

static void time_param(struct cfs_buf *tg, const char *key, bool set, bool now,
		       const struct timespec *ts)
{
	if (now)
		cfs_buf_printf(tg, "&%s=now", key);
	else if (set)
		cfs_buf_printf(tg, "&%s=%lld:%ld", key, (long long)ts->tv_sec, ts->tv_nsec);
}

static int files_setattr(void *tree, uint64_t node, void *fh, const struct cfs_vattr *in,
			 int to_set, struct cfs_vattr *out)
{
	struct files_tree *t = tree;
	struct fhandle *f = fh;
	if (!may(CFS_ACT_WRITE))
		return -EACCES;
	char *p = node_path(t, node);
	if (!p)
		return -ESTALE;
	int rc = 0;
	struct agent_reply r;
	struct cfs_buf q = CFS_BUF_INIT;
	if (to_set & VT_SET_SIZE) {
		struct cfs_buf tg = CFS_BUF_INIT;
		if (f && f->session[0]) {
			pthread_mutex_lock(&f->lock);
			rc = send_pending(t, f);
			f->seq = false;
			f->dirty = true;
			cfs_buf_reset(&f->ra);
			pthread_mutex_unlock(&f->lock);
			cfs_buf_printf(&tg, "/v1/file/truncate?session=%s", f->session);
		} else {
			build(&tg, "truncate", "path", p);
		}
		cfs_buf_printf(&tg, "&size=%llu", (unsigned long long)in->size);
		if (!rc) {
			rc = call(t, "POST", tg.data, NULL, 0, &r);
			agent_reply_free(&r);
		}
		cfs_buf_free(&tg);
	}
	if (!rc && (to_set & VT_SET_MODE)) {
		cfs_buf_printf(&q, "&mode=%o", (unsigned)(in->mode & 07777));
		rc = node_call(t, node, "POST", "chmod", NULL, NULL, q.data, NULL, 0, &r);
		agent_reply_free(&r);
	}
	if (!rc && (to_set & (VT_SET_UID | VT_SET_GID))) {
		cfs_buf_reset(&q);
		if (to_set & VT_SET_UID)
			cfs_buf_printf(&q, "&owner=%u", (unsigned)in->uid);
		if (to_set & VT_SET_GID)
			cfs_buf_printf(&q, "&group=%u", (unsigned)in->gid);
		rc = node_call(t, node, "POST", "chown", NULL, NULL, q.data, NULL, 0, &r);
		agent_reply_free(&r);
	}
	if (!rc && (to_set & (VT_SET_ATIME | VT_SET_MTIME | VT_SET_ATIME_NOW | VT_SET_MTIME_NOW))) {
		cfs_buf_reset(&q);
		time_param(&q, "atime", to_set & VT_SET_ATIME, to_set & VT_SET_ATIME_NOW, &in->atime);
		time_param(&q, "mtime", to_set & VT_SET_MTIME, to_set & VT_SET_MTIME_NOW, &in->mtime);
		rc = node_call(t, node, "POST", "utimens", NULL, NULL, q.data, NULL, 0, &r);
		agent_reply_free(&r);
	}
	cfs_buf_free(&q);
	if (!rc)
		rc = stat_path(t, p, NULL, out);
	/* through an open session: the size it holds, not the name's old content */
	if (!rc && f && f->session[0] && (to_set & VT_SET_SIZE))
		out->size = in->size;
	free(p);
	return rc;
}

static int files_create(void *tree, uint64_t parent, const char *name, mode_t mode, int flags,
			uint64_t *node, struct cfs_vattr *a, void **fh)
{
	struct files_tree *t = tree;
	if (!may(CFS_ACT_WRITE))
		return -EACCES;
	char *dir = node_path(t, parent);
	if (!dir)
		return -ESTALE;
	char *p = join(dir, name);
	free(dir);
	if (!p)
		return -ENOMEM;
	struct fhandle *f = fh_new(0, p);
	free(p);
	if (!f)
		return -ENOMEM;
	int rc = session_open(t, f, true, (flags & O_EXCL) != 0, (flags & O_TRUNC) != 0, mode, a,
			      node);
	if (rc) {
		fh_free(f);
		return rc;
	}
	f->node = *node;
	*fh = f;
	return 0;
}

static int files_setxattr(void *tree, uint64_t node, const char *name, const char *value,
			  size_t size, int flags)
{
	if (!may(CFS_ACT_WRITE))
		return -EACCES;
	/* XATTR_CREATE (1) and XATTR_REPLACE (2) travel as words */
	const char *f = flags == 1 ? "&flags=create" : flags == 2 ? "&flags=replace" : NULL;
	struct agent_reply r;
	int rc = node_call(tree, node, "POST", "setxattr", "name", name, f, value, size, &r);
	agent_reply_free(&r);
	return rc;
}

static int files_removexattr(void *tree, uint64_t node, const char *name)
{
	if (!may(CFS_ACT_WRITE))
		return -EACCES;
	struct agent_reply r;
	int rc = node_call(tree, node, "POST", "removexattr", "name", name, NULL, NULL, 0, &r);
	agent_reply_free(&r);
	return rc;
}

static const struct cfs_vtree_ops files_ops = {
	.lookup = files_lookup,
	.getattr = files_getattr,
	.readdir = files_readdir,
	.open = files_open,
	.read = files_read,
	.release = files_release,
	.readlink = files_readlink,
	.getxattr = files_getxattr,
	.listxattr = files_listxattr,
	.forget = files_forget,
	.create = files_create,
	.mknod = files_mknod,
	.mkdir = files_mkdir,
	.symlink = files_symlink,
	.link = files_link,
	.unlink = files_unlink,
	.rmdir = files_rmdir,
	.rename = files_rename,
	.setattr = files_setattr,
	.write = files_write,
	.flush = files_flush,
	.fsync = files_fsync,
	.setxattr = files_setxattr,
	.removexattr = files_removexattr,
	.statfs = files_statfs,
};

/* ---- the trees, one per instance ---- */

struct files_trees *files_trees_new(void)
{
	struct files_trees *ft = calloc(1, sizeof *ft);
	if (ft)
		pthread_mutex_init(&ft->lock, NULL);
	return ft;
}

void files_trees_free(struct files_trees *ft)
{
	if (!ft)
		return;
	while (ft->head) {
		struct files_tree *t = ft->head;
		ft->head = t->next;
		for (int b = 0; b < NB; b++) {
			struct fnode *n = t->by_id[b];
			while (n) {
				struct fnode *next = n->next_id;
				free(n->path);
				free(n);
				n = next;
			}
		}
		pthread_mutex_destroy(&t->lock);
		free(t);
	}
	pthread_mutex_destroy(&ft->lock);
	free(ft);
}

/* The tree of (instance, prefix), made on first use. */
static struct files_tree *tree_for(struct cfs_engine *e, const char *inst, const char *prefix,
				   const char *mirror)
{
	struct files_trees *ft = e->files;
	pthread_mutex_lock(&ft->lock);
	struct files_tree *t;
	for (t = ft->head; t; t = t->next)
		if (strcmp(t->name, inst) == 0 && strcmp(t->prefix, prefix) == 0 &&
		    strcmp(t->mirror, mirror) == 0)
			break;
	if (!t && (t = calloc(1, sizeof *t))) {
		t->e = e;
		snprintf(t->name, sizeof t->name, "%s", inst);
		snprintf(t->prefix, sizeof t->prefix, "%s", prefix);
		snprintf(t->mirror, sizeof t->mirror, "%s", mirror);
		pthread_mutex_init(&t->lock, NULL);
		t->next_id = VTREE_ROOT + 1;
		/* the root: its path is the prefix whatever its inode */
		struct fnode *root = calloc(1, sizeof *root);
		if (root && (root->path = strdup(prefix))) {
			root->id = VTREE_ROOT;
			root->dev = root->ino = UINT64_MAX;
			t->by_id[VTREE_ROOT % NB] = root;
		} else {
			free(root);
		}
		t->next = ft->head;
		ft->head = t;
	}
	pthread_mutex_unlock(&ft->lock);
	return t;
}

int cfs_instance_files_vtree(struct cfs_engine *e, const struct cfs_caller *c,
			     const char *const *caps, const struct cfs_vtree_ops **ops, void **tree)
{
	unsigned mask = c ? instance_permitted(e, &c->user, caps[0]) : CFS_ACT_ALL;
	if (!mask)
		return -ENOENT;
	if (!(mask & CFS_ACT_READ))
		return -EACCES;
	cfs_vtree_caller()->perms = mask;
	struct files_tree *t = tree_for(e, caps[0], "", "");
	if (!t)
		return -ENOMEM;
	*ops = &files_ops;
	*tree = t;
	return 0;
}

/* /mirrors/NAME/files: the mirror's source tree; a file committed there
 * kicks the mirror so it reaches the destination at once. */
int cfs_mirror_files_vtree(struct cfs_engine *e, const struct cfs_caller *c,
			   const char *const *caps, const struct cfs_vtree_ops **ops, void **tree)
{
	char inst[65], path[1024];
	int r = mirror_source(e, c, caps[0], inst, sizeof inst, path, sizeof path);
	if (r)
		return r;
	unsigned mask = c ? instance_permitted(e, &c->user, inst) : CFS_ACT_ALL;
	if (!mask)
		return -ENOENT;
	if (!(mask & CFS_ACT_READ))
		return -EACCES;
	cfs_vtree_caller()->perms = mask;
	struct files_tree *t = tree_for(e, inst, path, caps[0]);
	if (!t)
		return -ENOMEM;
	*ops = &files_ops;
	*tree = t;
	return 0;
}
