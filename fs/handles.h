/* handles.h — per-open state: rendered content, ctl outcomes, event cursors,
 * directory listings; and each user's last outcome per ctl file. */
#ifndef CFS_FS_HANDLES_H
#define CFS_FS_HANDLES_H

#include <pthread.h>
#include <stdbool.h>
#include <sys/types.h>

#include "core/buf.h"
#include "ctl/grammar.h"
#include "engine.h"
#include "inodes.h"

struct fuse_pollhandle;

struct dirent_item {
	char *name;
	uint64_t ino_hint;    /* 0: looked up on demand */
	mode_t type;          /* S_IFDIR, S_IFREG, … */
};

struct fs_handle {
	/* A request may still be using a handle when the kernel releases it (an
	 * interrupted read): requests hold a reference, release drops the
	 * open's own, and the last one frees. */
	int refs;
	struct inode_ref ref;
	int flags;                     /* open flags */
	pthread_mutex_t lock;
	/* N_FILE: content rendered at open */
	struct cfs_buf content;
	/* N_CTL */
	struct ctl_outcome *outcome;   /* this descriptor's last write */
	size_t out_pos;                /* read position in its outcome (rdwr after a write) */
	struct cfs_buf rendered;       /* usage + outcome rendered at offset 0 */
	/* N_EVENTS */
	struct cfs_event_cursor *cursor;
	struct fuse_pollhandle *ph;
	/* directories */
	struct dirent_item *items;
	size_t nitems;
	/* N_VTREE files */
	void *vfh;
	const struct cfs_vtree_ops *vops;
	void *vtree;
};

struct fs_handle *handle_new(const struct inode_ref *ref, int flags);   /* refs = 1 */
struct fs_handle *handle_hold(struct fs_handle *h);
void handle_drop(struct fs_handle *h);    /* frees at the last reference */
void handle_free(struct fs_handle *h);    /* = handle_drop */

/* The caller's last outcome on a ctl file (key: uid + row + captures). */
void outcomes_put(uid_t uid, const struct inode_ref *ref, struct ctl_outcome *o);
struct ctl_outcome *outcomes_get(uid_t uid, const struct inode_ref *ref);  /* a new ref or NULL */
void outcomes_free(void);

#endif
