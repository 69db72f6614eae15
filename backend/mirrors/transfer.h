/* transfer.h — moving one path between agents (transfer.c). */
#ifndef CFS_MIRRORS_TRANSFER_H
#define CFS_MIRRORS_TRANSFER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/err.h"

struct cfs_engine;
struct agent_target;

struct mx {
	struct cfs_engine *e;
	/* called after every chunk written (progress), may be NULL */
	void (*on_bytes)(void *arg, uint64_t n);
	void *cb_arg;
	/* polled between chunks, may be NULL */
	bool (*cancelled)(void *arg);
	void *cancel_arg;
};

/* Stream from:from_path into to:to_path (paths relative to the agents'
 * roots), then give it mode and mtime and rename it into place. */
int mx_copy_file(struct mx *x, const struct agent_target *from, const char *from_path,
		 const struct agent_target *to, const char *to_path, unsigned mode,
		 int64_t mtime_ns, struct cfs_err *err);
/* Make to_path a symlink to link_target (replacing what is there). */
int mx_copy_link(struct mx *x, const struct agent_target *to, const char *to_path,
		 const char *link_target, int64_t mtime_ns, struct cfs_err *err);
/* POST /v1/file/OP?path=PATH EXTRA (extra already encoded, "&k=v…"). */
int mx_simple(struct cfs_engine *e, const struct agent_target *t, const char *op,
	      const char *path, const char *extra, struct cfs_err *err);

#endif
