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
};

#endif
