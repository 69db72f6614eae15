/* engine.h — what fs/ sees of the backend.
 *
 * The fs layer owns inodes, handles and per-open buffers; everything else is
 * here.  Calls take the engine, the caller (the Unix user of the FUSE request)
 * and the wildcard captures of the node (e.g. caps[0] = "web1" for
 * /instances/web1/status), and return 0 or a negative errno.  Content is
 * rendered into a struct cfs_buf owned by the caller. */
#ifndef CFS_ENGINE_H
#define CFS_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "auth/users.h"
#include "core/buf.h"
#include "core/err.h"
#include "core/vtree.h"
#include "ctl/grammar.h"

struct cfs_engine;

struct cfs_caller {
	struct cfs_user user;
	pid_t pid;
	/* Set non-zero (by another thread) when the request was interrupted;
	 * long waits poll it.  May be NULL. */
	const volatile int *interrupted;
};

struct cfs_engine_opts {
	const char *state_dir;          /* NULL: the default of DESIGN.md section 1 */
	const char *config_path;        /* NULL: STATE/cloudfs.conf */
	const char *const *overrides;   /* "SECTION.KEY=VAL" */
	size_t n_overrides;
	const char *listen;             /* peer listener, NULL = off */
};

/* Opens state (lock, key, database, config) without starting threads, so a
 * daemonizing fork may follow.  A second engine on the same state dir fails
 * with -EBUSY and a message naming the holder. */
int cfs_engine_open(const struct cfs_engine_opts *o, struct cfs_engine **out, struct cfs_err *err);
/* Starts worker threads (jobs, poller, scheduler). */
int cfs_engine_start(struct cfs_engine *e, struct cfs_err *err);
void cfs_engine_close(struct cfs_engine *e);

const char *cfs_engine_state_dir(const struct cfs_engine *e);

/* The caller of a request. */
int cfs_caller_init(struct cfs_engine *e, uid_t uid, gid_t gid, pid_t pid, struct cfs_caller *c);

/* ---- node callbacks: fs/nodes.c points its table at these ---- */

typedef int (*cfs_show_fn)(struct cfs_engine *e, const struct cfs_caller *c,
			   const char *const *caps, const char *arg, struct cfs_buf *out);
typedef int (*cfs_emit_fn)(void *ctx, const char *name);
typedef int (*cfs_list_fn)(struct cfs_engine *e, const struct cfs_caller *c,
			   const char *const *caps, cfs_emit_fn emit, void *ctx);
/* 0 when caps[depth] names an object the caller may see, else -ENOENT. */
typedef int (*cfs_exists_fn)(struct cfs_engine *e, const struct cfs_caller *c,
			     const char *const *caps, int depth);
/* Runs a ctl write; the outcome collects the result lines. */
typedef int (*cfs_ctl_fn)(struct cfs_engine *e, const struct cfs_caller *c,
			  const char *const *caps, const char *data, size_t len,
			  struct ctl_outcome *o);
/* The verb table behind a ctl file (for its usage and /README). */
typedef const struct ctl_verb *(*cfs_verbs_fn)(size_t *n);
/* A write into a value file (quota, retention); same outcome rules as ctl. */
typedef int (*cfs_store_fn)(struct cfs_engine *e, const struct cfs_caller *c,
			    const char *const *caps, const char *data, size_t len,
			    struct cfs_err *err);
/* Permission for opening a file of a visible object: 0 or -EACCES. */
typedef int (*cfs_access_fn)(struct cfs_engine *e, const struct cfs_caller *c,
			     const char *const *caps, int write);

/* self */
int cfs_self_show(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		  const char *arg, struct cfs_buf *out);           /* arg: env_id|whoami|whoami.json|errors */
int cfs_self_ctl(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		 const char *data, size_t len, struct ctl_outcome *o);
const struct ctl_verb *cfs_self_verbs(size_t *n);

/* /metrics */
int cfs_metrics_show(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		     const char *arg, struct cfs_buf *out);
/* Counts one FUSE operation by name ("lookup", "read", …). */
void cfs_metrics_fuse_op(struct cfs_engine *e, int op_index);
/* The op names metrics knows, indexed; fs uses the index. */
extern const char *const cfs_fuse_op_names[];
enum { CFS_OP_LOOKUP, CFS_OP_GETATTR, CFS_OP_SETATTR, CFS_OP_READDIR, CFS_OP_OPEN, CFS_OP_READ,
       CFS_OP_WRITE, CFS_OP_RELEASE, CFS_OP_READLINK, CFS_OP_GETXATTR, CFS_OP_LISTXATTR,
       CFS_OP_POLL, CFS_OP_OTHER, CFS_OP_COUNT };

/* /self/errors: remember a failure the caller saw. */
void cfs_errors_record(struct cfs_engine *e, const struct cfs_caller *c, const char *path,
		       const char *op, int err, const char *msg);

/* /instances */
int cfs_instances_list(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		       cfs_emit_fn emit, void *ctx);
int cfs_instance_exists(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
			int depth);
int cfs_instance_show(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		      const char *arg, struct cfs_buf *out);      /* arg: owner|status|status.json */
int cfs_instances_ctl(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		      const char *data, size_t len, struct ctl_outcome *o);
const struct ctl_verb *cfs_instances_verbs(size_t *n);
int cfs_instance_ctl(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		     const char *data, size_t len, struct ctl_outcome *o);
const struct ctl_verb *cfs_instance_verbs(size_t *n);
int cfs_instance_access_command(struct cfs_engine *e, const struct cfs_caller *c,
				const char *const *caps, int write);

/* live files of an instance, fetched from its agent on open */
int cfs_instance_live(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		      const char *arg, struct cfs_buf *out);   /* info|info.json|health|health.json */
int cfs_instance_logs_list(struct cfs_engine *e, const struct cfs_caller *c,
			   const char *const *caps, cfs_emit_fn emit, void *ctx);
int cfs_instance_config_list(struct cfs_engine *e, const struct cfs_caller *c,
			     const char *const *caps, cfs_emit_fn emit, void *ctx);
int cfs_instance_log_exists(struct cfs_engine *e, const struct cfs_caller *c,
			    const char *const *caps, int depth);
int cfs_instance_config_exists(struct cfs_engine *e, const struct cfs_caller *c,
			       const char *const *caps, int depth);
int cfs_instance_named_show(struct cfs_engine *e, const struct cfs_caller *c,
			    const char *const *caps, const char *arg, struct cfs_buf *out); /* log|config */

/* /instances/NAME/git/REPO */
int cfs_instance_git_list(struct cfs_engine *e, const struct cfs_caller *c,
			  const char *const *caps, cfs_emit_fn emit, void *ctx);
int cfs_instance_git_exists(struct cfs_engine *e, const struct cfs_caller *c,
			    const char *const *caps, int depth);
int cfs_instance_git_show(struct cfs_engine *e, const struct cfs_caller *c,
			  const char *const *caps, const char *arg, struct cfs_buf *out);
int cfs_instance_git_ctl(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
			 const char *data, size_t len, struct ctl_outcome *o);
const struct ctl_verb *cfs_instance_git_verbs(size_t *n);
int cfs_instance_git_access(struct cfs_engine *e, const struct cfs_caller *c,
			    const char *const *caps, int write);

/* /mirrors/NAME/files: the mirror's source tree */
int cfs_mirror_files_vtree(struct cfs_engine *e, const struct cfs_caller *c,
			   const char *const *caps, const struct cfs_vtree_ops **ops, void **tree);

/* /instances/NAME/files: the agent's tree */
int cfs_instance_files_vtree(struct cfs_engine *e, const struct cfs_caller *c,
			     const char *const *caps, const struct cfs_vtree_ops **ops, void **tree);

/* /shares */
int cfs_shares_list(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		    cfs_emit_fn emit, void *ctx);
int cfs_share_exists(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		     int depth);
int cfs_share_show(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		   const char *arg, struct cfs_buf *out);         /* arg: field name or share.json */
int cfs_shares_ctl(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		   const char *data, size_t len, struct ctl_outcome *o);
const struct ctl_verb *cfs_shares_verbs(size_t *n);

/* /jobs */
int cfs_jobs_list(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		  cfs_emit_fn emit, void *ctx);
int cfs_job_exists(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		   int depth);
int cfs_job_show(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		 const char *arg, struct cfs_buf *out);           /* cmd|status|progress|log|job.json */
int cfs_job_ctl(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		const char *data, size_t len, struct ctl_outcome *o);
const struct ctl_verb *cfs_job_verbs(size_t *n);

/* /mirrors (backend/mirrors): /mirrors/ctl, then one directory per mirror.
 * cfs_mirror_show arg: status|status.json|plan|plan.json|config|config.json. */
int cfs_mirrors_list(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		     cfs_emit_fn emit, void *ctx);
int cfs_mirror_exists(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		      int depth);
int cfs_mirror_show(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		    const char *arg, struct cfs_buf *out);
int cfs_mirror_ctl(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		   const char *data, size_t len, struct ctl_outcome *o);
const struct ctl_verb *cfs_mirror_verbs(size_t *n);
/* The mirrors scheduler: cfs_engine_start / _close. */
int cfs_mirrors_start(struct cfs_engine *e, struct cfs_err *err);
void cfs_mirrors_stop(struct cfs_engine *e);
/* Appends the mirrors metrics (cloudfs_mirror_bytes_synced_total,
 * cloudfs_mirror_files_synced_total, cloudfs_mirrors{status}). */
int mirrors_metrics(struct cfs_engine *e, struct cfs_buf *out);
int cfs_mirrors_ctl(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		    const char *data, size_t len, struct ctl_outcome *o);
const struct ctl_verb *cfs_mirrors_verbs(size_t *n);
/* Capabilities not built yet: their ctl files exist and every verb fails ENOSYS. */
int cfs_peers_ctl(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		  const char *data, size_t len, struct ctl_outcome *o);
const struct ctl_verb *cfs_peers_verbs(size_t *n);
int cfs_repos_ctl(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		  const char *data, size_t len, struct ctl_outcome *o);
const struct ctl_verb *cfs_repos_verbs(size_t *n);
int cfs_repos_list(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		   cfs_emit_fn emit, void *ctx);
int cfs_repo_exists(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		    int depth);
/* /repos/USER/snapshots: the restic reader's tree. */
int cfs_repo_snapshots_vtree(struct cfs_engine *e, const struct cfs_caller *c,
			     const char *const *caps, const struct cfs_vtree_ops **ops, void **tree);
int cfs_repo_ctl(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		 const char *data, size_t len, struct ctl_outcome *o);
const struct ctl_verb *cfs_repo_verbs(size_t *n);

/* /repos provisioned by cloudfs (backend/repos).  The value files of
 * /repos/USER: arg stats|stats.json|quota|retention. */
int cfs_repo_show(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		  const char *arg, struct cfs_buf *out);
int cfs_repo_quota_store(struct cfs_engine *e, const struct cfs_caller *c,
			 const char *const *caps, const char *data, size_t len,
			 struct cfs_err *err);
int cfs_repo_retention_store(struct cfs_engine *e, const struct cfs_caller *c,
			     const char *const *caps, const char *data, size_t len,
			     struct cfs_err *err);
/* /repos/USER/ctl verbs (ctl_run_fn; ctx is a struct ctl_ctx). */
int cfs_repo_prune(void *ctx, const struct ctl_args *a, struct ctl_outcome *o, struct cfs_err *err);
int cfs_repo_check(void *ctx, const struct ctl_args *a, struct ctl_outcome *o, struct cfs_err *err);
int cfs_repo_forget_dry_run(void *ctx, const struct ctl_args *a, struct ctl_outcome *o,
			    struct cfs_err *err);
/* Provisioned users (revoked ones too) not also attached in the config, for
 * the /repos listing; and whether user is provisioned. */
int cfs_repos_each_provisioned(struct cfs_engine *e, cfs_emit_fn emit, void *ctx);
bool cfs_repo_provisioned(struct cfs_engine *e, const char *user);
/* For the snapshot reader: a provisioned repository as an attachment (path
 * ROOT/USER in path, which must outlive *a; no password file, so the operator
 * password).  0 or -ENOENT. */
struct cfs_repo_attach;
int cfs_repo_provisioned_attach(struct cfs_engine *e, const char *user, struct cfs_repo_attach *a,
				char *path, size_t len);
/* The scheduler (nightly prune, quota scan): cfs_engine_start / _close. */
int cfs_repos_start(struct cfs_engine *e, struct cfs_err *err);
void cfs_repos_stop(struct cfs_engine *e);
/* Appends the repos metrics (cloudfs_repo_last_prune_success_timestamp). */
int repos_metrics(struct cfs_engine *e, struct cfs_buf *out);

/* /events: a per-open cursor.  Reading never blocks: it appends what is
 * available (visible to the caller) to out, at most max bytes of whole lines,
 * and returns the number of bytes appended (0 when nothing is waiting). */
struct cfs_event_cursor;
struct cfs_event_cursor *cfs_events_open(struct cfs_engine *e, const struct cfs_caller *c);
ssize_t cfs_events_read(struct cfs_engine *e, struct cfs_event_cursor *cur, struct cfs_buf *out,
			size_t max);
bool cfs_events_ready(struct cfs_engine *e, struct cfs_event_cursor *cur);
void cfs_events_close(struct cfs_event_cursor *cur);
/* Called (from the publishing thread, no lock held) after each new event. */
void cfs_events_set_listener(struct cfs_engine *e, void (*fn)(void *arg), void *arg);

#endif
