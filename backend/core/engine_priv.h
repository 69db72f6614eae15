/* engine_priv.h — the engine's insides, shared by backend modules only. */
#ifndef CFS_ENGINE_PRIV_H
#define CFS_ENGINE_PRIV_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "auth/crypto.h"
#include "core/config.h"
#include "engine.h"

struct cfs_db;
struct cfs_jobs;
struct cfs_events;
struct cfs_errlog;
struct inst_runtime;
struct repos_readers;
struct wire_client;
struct poller;
struct files_trees;

struct cfs_engine {
	char *state_dir;
	char *config_path;
	int lock_fd;
	struct cfs_config cfg;
	struct cfs_db *db;
	uint8_t master[CFS_KEY_LEN];
	char env_id[40];
	struct cfs_jobs *jobs;
	struct cfs_events *events;
	struct cfs_errlog *errors;
	struct inst_runtime *inst;       /* live status of instances, in memory */
	struct repos_readers *readers;   /* open restic repositories, by user */
	struct wire_client *wc;          /* signed HTTP to agents, connections reused */
	struct poller *poller;
	struct files_trees *files;       /* instances' files/ trees */
	atomic_ulong fuse_ops[CFS_OP_COUNT];
	int64_t started_ms;
	bool running;
};

/* Shares as the permit checks want them, for instance visibility: every
 * enabled share whose sharee is u (caller frees with shares_views_free). */
struct cfs_share_view;
int shares_views_for(struct cfs_engine *e, const char *sharee, struct cfs_share_view **out,
		     size_t *n);
void shares_views_free(struct cfs_share_view *v, size_t n);

/* The owner of an instance (-ENOENT when there is none). */
int instance_owner(struct cfs_engine *e, const char *name, char *owner, size_t len);
/* Mask of actions the user may take on the instance (0: invisible). */
unsigned instance_permitted(struct cfs_engine *e, const struct cfs_user *u, const char *name);
bool instance_may_read(void *e, const struct cfs_user *u, const char *name);

/* Instances' runtime status (poller fills it in a later capability). */
struct inst_runtime *inst_runtime_new(void);
void inst_runtime_free(struct inst_runtime *rt);
void inst_runtime_counts(struct cfs_engine *e, unsigned long *online, unsigned long *offline,
			 unsigned long *stale, unsigned long *unknown);

struct repos_readers *repos_readers_new(void);
void repos_readers_free(struct repos_readers *rr);

struct files_trees *files_trees_new(void);
void files_trees_free(struct files_trees *ft);

/* /self/errors store */
struct cfs_errlog *errlog_new(void);
void errlog_free(struct cfs_errlog *l);

/* What a ctl verb handler gets as its ctx. */
struct ctl_ctx {
	struct cfs_engine *e;
	const struct cfs_caller *c;
	const char *const *caps;
};
/* Validates the wait= option (yes|no). */
int engine_wait_opt(const struct ctl_args *a, struct cfs_err *err);

/* A job-starting command's tail: with wait=no return at once, else wait. */
int engine_run_job_cmd(struct cfs_engine *e, const struct cfs_caller *c, const struct ctl_args *a,
		       struct ctl_outcome *o, struct cfs_err *err, long long job);

#endif
