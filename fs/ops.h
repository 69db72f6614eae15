/* ops.h — the low-level FUSE operations over the node table. */
#ifndef CFS_FS_OPS_H
#define CFS_FS_OPS_H

#include "fuse_inc.h"
#include "engine.h"

struct fs_ctx {
	struct cfs_engine *e;
	uid_t mount_uid;
	gid_t mount_gid;
	struct timespec started;
};

extern const struct fuse_lowlevel_ops cfs_fuse_ops;

#endif
