/* inodes.h — FUSE inode numbers for (row, captures[, vtree node]).
 *
 * Each distinct node gets a serial inode number when first looked up and
 * keeps it while the kernel holds a lookup count; numbers are never reused in
 * one mount, so the generation stays constant.  Operations copy what they need
 * out (struct inode_ref) so a concurrent forget cannot pull it from under them. */
#ifndef CFS_FS_INODES_H
#define CFS_FS_INODES_H

#include <stdbool.h>
#include <stdint.h>

#include "nodes.h"

#define CAP_LEN 256

struct inode_ref {
	uint64_t ino;
	int row;
	int ncaps;
	char capbuf[NODE_MAX_CAPS][CAP_LEN];
	const char *caps[NODE_MAX_CAPS + 1];   /* points into capbuf, NULL-terminated */
	uint64_t vnode;                        /* vtree node, 0 for table nodes */
};

int inodes_init(void);
void inodes_free(void);
/* Finds or creates the inode and adds one lookup. */
int inode_get(int row, const char *const *caps, int ncaps, uint64_t vnode, uint64_t *ino);
/* Copies the inode's identity; -ENOENT when unknown (stale). */
int inode_ref(uint64_t ino, struct inode_ref *out);
/* Drops nlookup references; the vtree forget hook runs when it reaches 0. */
void inode_forget(uint64_t ino, uint64_t nlookup, void (*gone)(const struct inode_ref *ref));
/* Appends name as capture ncaps of ref into a copy. */
void inode_ref_push(const struct inode_ref *in, const char *name, struct inode_ref *out);

#endif
