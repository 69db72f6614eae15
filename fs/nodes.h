/* nodes.h — the node table: every path shape of the mount, as data.
 *
 * Lookup, getattr, readdir, open, read, write and the generated /README all
 * read this one table, so a path shape exists in exactly one place.  A row's
 * path uses "*" for a dynamic name (an instance, a share, a job); that row
 * carries the list/exists callbacks that enumerate and check those names from
 * local state, never the network. */
#ifndef CFS_FS_NODES_H
#define CFS_FS_NODES_H

#include <stdbool.h>
#include <sys/types.h>

#include "engine.h"

#define NODE_MAX_CAPS 4

enum node_kind {
	N_DIR,      /* a directory of rows */
	N_FILE,     /* a rendered state file (snapshot per open) */
	N_CTL,      /* a ctl file: read usage + outcome, write commands */
	N_EVENTS,   /* the endless /events stream */
	N_VTREE,    /* a subtree served by the backend (struct cfs_vtree_ops) */
};

/* Row flags */
#define NF_SUPER      0x01   /* visible to superadmins only (others: ENOENT) */
#define NF_LIVE       0x02   /* fetched live (documented as such in /README) */
#define NF_AS_CALLER  0x04   /* an N_VTREE that acts as the caller (needs uid, gid, groups) */

/* Resolves the vtree for a node: ops and the tree object, or -errno. */
typedef int (*node_vtree_fn)(struct cfs_engine *e, const struct cfs_caller *c,
			     const char *const *caps, const struct cfs_vtree_ops **ops, void **tree);

struct node_row {
	const char *path;          /* "" for the root, "instances/NAME/status" written with a star for NAME */
	enum node_kind kind;
	mode_t mode;               /* permission bits shown by stat */
	unsigned flags;
	const char *doc;           /* one line for /README */
	cfs_show_fn show;          /* N_FILE */
	const char *arg;           /* passed to show */
	cfs_store_fn store;        /* N_FILE that takes writes (a value file: quota, retention) */
	cfs_ctl_fn ctl;            /* N_CTL */
	cfs_verbs_fn verbs;        /* N_CTL usage */
	cfs_list_fn list;          /* on a "*" row: enumerate names */
	cfs_exists_fn exists;      /* on a "*" row: is this name visible? */
	cfs_access_fn access;      /* optional extra check on open */
	node_vtree_fn vtree;       /* N_VTREE */
	double ttl;                /* N_VTREE: seconds the kernel may keep names and attributes */
	/* filled at init */
	int parent;
	const char *name;          /* last component */
	int depth_caps;            /* number of "*" in the path */
};

extern struct node_row node_table[];
extern const int node_count;

int nodes_init(void);
/* Child row of parent named name (a literal row first, then a "*" row), or -1. */
int node_child(int parent, const char *name, bool *is_wild);
/* /README text. */
int nodes_readme(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		 const char *arg, struct cfs_buf *out);
/* Usage of a ctl row (verb table rendered). */
int nodes_ctl_usage(const struct node_row *row, struct cfs_buf *out);

#endif
