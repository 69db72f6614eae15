/* transfer.h — moving one path between agents (transfer.c, delta.c). */
#ifndef CFS_MIRRORS_TRANSFER_H
#define CFS_MIRRORS_TRANSFER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/err.h"

struct cfs_engine;
struct agent_target;
struct agent_reply;

struct mx {
	struct cfs_engine *e;
	/* called as data moves (progress), may be NULL: done is how far the
	 * file got (bytes sent or reused from the destination's old copy),
	 * wire the bytes that crossed the network to get there */
	void (*on_bytes)(void *arg, uint64_t done, uint64_t wire);
	void *cb_arg;
	/* polled between chunks and retries, may be NULL */
	bool (*cancelled)(void *arg);
	void *cancel_arg;
};

/* One regular file to copy. */
struct mx_file {
	const char *from_path;   /* on the source agent */
	const char *to_path;     /* on the destination agent */
	unsigned mode;
	int64_t mtime_ns;
	uint64_t size;           /* from the source's listing */
	const char *xxh;         /* the source's XXH3-128 from its listing, or NULL */
	const char *base;        /* an older copy on the destination whose chunks may be
	                            reused (delta transfer), or NULL */
};

/* Stream the source file into a temp file beside to_path (reusing what
 * base already holds when the file is large), then give it mode and mtime
 * and rename it into place. */
int mx_copy_file(struct mx *x, const struct agent_target *from, const struct agent_target *to,
		 const struct mx_file *f, struct cfs_err *err);
/* Make to_path a symlink to link_target (replacing what is there). */
int mx_copy_link(struct mx *x, const struct agent_target *to, const char *to_path,
		 const char *link_target, int64_t mtime_ns, struct cfs_err *err);
/* POST /v1/file/OP?path=PATH EXTRA (extra already encoded, "&k=v…"). */
int mx_simple(struct cfs_engine *e, const struct agent_target *t, const char *op,
	      const char *path, const char *extra, struct cfs_err *err);

/* ---- shared by transfer.c and delta.c ---- */

/* An agent call that rides out a dropped connection: a transient failure
 * (timeout, refused, reset) is tried again with a growing pause, about
 * 30 s in all, so a write session on the destination (which outlives the
 * connection) resumes from the chunk that failed. */
int mx_call(struct mx *x, const struct agent_target *t, const char *method, const char *target,
	    const void *body, size_t len, struct agent_reply *r, struct cfs_err *err);
/* mx_call with its own deadline in ms (0: the configured one). */
int mx_call_slow(struct mx *x, const struct agent_target *t, const char *method,
		 const char *target, int timeout_ms, struct agent_reply *r, struct cfs_err *err);
/* Copy [off, off+len) of from_path into the destination's write session
 * sid at the same offset, in chunks of at most 4 MiB each checked by its
 * XXH3-128; len UINT64_MAX copies to the end of the file.  whole (may be
 * NULL) is fed every byte.  *got (may be NULL) receives the bytes copied.
 * A source shorter than off+len gives -EAGAIN. */
struct cfs_xxh128;
int mx_stream(struct mx *x, const struct agent_target *from, const char *from_path, uint64_t off,
	      uint64_t len, const struct agent_target *to, const char *sid, struct cfs_xxh128 *whole,
	      uint64_t *got, struct cfs_err *err);

/* delta.c: fill session sid on the destination with the content of the
 * source file, reusing the chunks of f->base that the source still has
 * (both agents cut their files into content-defined chunks and send the
 * lists; only the chunks the destination lacks cross the network).
 * -ENOTSUP when an agent cannot list chunks (the caller copies the whole
 * file instead); -EAGAIN when the source changed under us. */
int mx_delta_fill(struct mx *x, const struct agent_target *from, const struct agent_target *to,
		  const struct mx_file *f, const char *sid, struct cfs_err *err);
/* Files at least this large are sent as a delta when an old copy exists. */
#define MX_DELTA_MIN (4u << 20)

#endif
