/* vtree.h — a subtree whose nodes the backend serves (an instance's files/,
 * a restic snapshot).  fs/ maps each (tree, node) pair to a FUSE inode and
 * forwards the operations; the backend never sees FUSE.
 *
 * Node handles are 64-bit values chosen by the tree; VTREE_ROOT is the root of
 * the subtree.  The same handle must always name the same object while the
 * tree lives (hard links: both names return the same handle, and the fs gives
 * them one inode).  Every op returns 0 or a negative errno; read returns the
 * byte count. */
#ifndef CFS_VTREE_H
#define CFS_VTREE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>

#include "core/buf.h"

#define VTREE_ROOT UINT64_C(1)

struct cfs_vattr {
	mode_t mode;            /* type and permission bits, S_ISUID etc. included */
	nlink_t nlink;
	uid_t uid;
	gid_t gid;
	uint64_t size;
	uint64_t blocks;        /* 512-byte blocks; 0 lets fs compute from size */
	dev_t rdev;
	struct timespec atime, mtime, ctime;
	/* Seconds the kernel may keep this node's name and attributes; 0 (as
	 * zeroed attributes have it) means the tree's default (its node row's
	 * ttl).  An immutable node (inside a snapshot) may say much longer. */
	double ttl;
};

/* readdir callback: return non-zero to stop (buffer full). */
typedef int (*vtree_fill_fn)(void *arg, const char *name, uint64_t node,
			     const struct cfs_vattr *attr, uint64_t next_offset);

struct cfs_vtree_ops {
	int (*lookup)(void *tree, uint64_t parent, const char *name, uint64_t *node,
		      struct cfs_vattr *attr);
	int (*getattr)(void *tree, uint64_t node, struct cfs_vattr *attr);
	/* Entries from offset (0 = start; "." and ".." are added by fs). */
	int (*readdir)(void *tree, uint64_t node, uint64_t offset, vtree_fill_fn fill, void *arg);
	int (*open)(void *tree, uint64_t node, int flags, void **fh);
	ssize_t (*read)(void *tree, void *fh, char *buf, size_t size, uint64_t off);
	void (*release)(void *tree, void *fh);
	int (*readlink)(void *tree, uint64_t node, struct cfs_buf *out);
	/* value of one xattr appended to out; -ENODATA when absent */
	int (*getxattr)(void *tree, uint64_t node, const char *name, struct cfs_buf *out);
	/* names, each NUL-terminated, appended to out */
	int (*listxattr)(void *tree, uint64_t node, struct cfs_buf *out);
	/* the kernel forgot the node: the tree may drop what it keeps for it */
	void (*forget)(void *tree, uint64_t node);

	/* ---- changes: NULL in read-only trees (the fs answers EROFS) ---- */
	int (*create)(void *tree, uint64_t parent, const char *name, mode_t mode, int flags,
		      uint64_t *node, struct cfs_vattr *attr, void **fh);
	int (*mknod)(void *tree, uint64_t parent, const char *name, mode_t mode, dev_t rdev,
		     uint64_t *node, struct cfs_vattr *attr);
	int (*mkdir)(void *tree, uint64_t parent, const char *name, mode_t mode, uint64_t *node,
		     struct cfs_vattr *attr);
	int (*symlink)(void *tree, uint64_t parent, const char *name, const char *target,
		       uint64_t *node, struct cfs_vattr *attr);
	int (*link)(void *tree, uint64_t node, uint64_t newparent, const char *newname,
		    struct cfs_vattr *attr);
	int (*unlink)(void *tree, uint64_t parent, const char *name);
	int (*rmdir)(void *tree, uint64_t parent, const char *name);
	/* flags: RENAME_NOREPLACE, RENAME_EXCHANGE */
	int (*rename)(void *tree, uint64_t parent, const char *name, uint64_t newparent,
		      const char *newname, unsigned flags);
	/* to_set: VT_SET_* bits; fh is the open file when the change comes through one */
	int (*setattr)(void *tree, uint64_t node, void *fh, const struct cfs_vattr *in, int to_set,
		       struct cfs_vattr *out);
	ssize_t (*write)(void *tree, void *fh, const char *buf, size_t size, uint64_t off);
	int (*flush)(void *tree, void *fh);
	int (*fsync)(void *tree, void *fh, int datasync);
	int (*setxattr)(void *tree, uint64_t node, const char *name, const char *value, size_t size,
			int flags);
	int (*removexattr)(void *tree, uint64_t node, const char *name);
	int (*statfs)(void *tree, uint64_t node, struct statvfs *st);
};

#define VT_SET_MODE      0x01
#define VT_SET_UID       0x02
#define VT_SET_GID       0x04
#define VT_SET_SIZE      0x08
#define VT_SET_ATIME     0x10
#define VT_SET_MTIME     0x20
#define VT_SET_ATIME_NOW 0x40
#define VT_SET_MTIME_NOW 0x80

/* The caller of the vtree operation running on this thread.  fs sets it
 * before every call into a tree (FUSE requests run start to end on one
 * thread), and a tree that acts as the caller (an agent's files/) reads it. */
#define VTREE_MAX_GROUPS 32
struct cfs_vctx {
	uid_t uid;
	gid_t gid;
	int ngroups;
	gid_t groups[VTREE_MAX_GROUPS];
	unsigned perms;        /* the cloudfs actions permitted (CFS_ACT_*), set by the resolver */
};
struct cfs_vctx *cfs_vtree_caller(void);

#endif
