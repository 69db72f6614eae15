/* repos.h — per-user restic repositories under /repos (provisioning,
 * retention, prune, quota, the nightly schedule).  Internal to backend/repos;
 * fs/ sees the callbacks declared in engine.h.
 *
 * The pieces, one concern per file:
 *   policy.c     pure value rules: user names, quota values, retention → argv,
 *                the client's repository URL
 *   htpasswd.c   the REST server's htpasswd file: line editing, bcrypt, the
 *                locked atomic rewrite
 *   restic_run.c restic as a subprocess (fixed argv, password files, timeout)
 *   disk.c       walking a repository directory: usage, chown -R, removal
 *   store.c      the repos table and its journal ops
 *   context.c    the per-engine state: paths, operator password, busy users
 *   provision.c  /repos/ctl add and revoke
 *   maint.c      prune, check and forget-dry-run jobs
 *   quota.c      usage against quota: suspend and restore
 *   values.c     the quota and retention value files
 *   stats.c      stats, stats.json, the snapshot cache and the metric
 *   scheduler.c  the nightly prune pass and the periodic quota scan */
#ifndef CFS_REPOS_H
#define CFS_REPOS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"
#include "core/err.h"

struct cfs_engine;
struct cfs_job;

#define REPOS_USER_MAX 64          /* bytes of a user name */
#define REPOS_PASSWORD_BYTES 24    /* random bytes in a minted password (48 hex) */
#define REPOS_LINE_MAX 1024        /* an htpasswd line we keep while suspended */
#define REPOS_POLICY_MAX 256

/* ---- policy.c: pure value rules ---- */

/* A user name the REST server accepts and a safe path component:
 * 1..64 bytes of [A-Za-z0-9@._-], not starting with '.' or '-'.
 * 0 or -EINVAL with err saying why. */
int repos_user_check(const char *s, struct cfs_err *err);

/* A quota value as written to the quota file: "max", or bytes with an
 * optional K, M, G or T suffix (powers of 1024); blanks around it and one
 * trailing newline are ignored.  *limited false means max. */
int repos_quota_parse(const char *s, size_t len, bool *limited, uint64_t *bytes,
		      struct cfs_err *err);
/* "max" or the decimal byte count. */
void repos_quota_format(bool limited, uint64_t bytes, char out[32]);

/* A validated retention policy ("keep-last=20 keep-daily=7", blanks or
 * commas) as restic forget flags: argv gets "--keep-last", "20", … pointing
 * into store.  Returns the number of argv entries (max 2 * 7), or -EINVAL
 * for any token that is not a known keep flag with a sane value. */
int repos_retention_argv(const char *policy, char *store, size_t store_len, const char **argv,
			 int max);

/* The repository a user gives restic: base "http://host:8000" (or with a path
 * prefix) → "rest:http://USER:PASSWORD@host:8000/USER/".  '@' and ':' in the
 * user part are percent-encoded.  0, -EINVAL (not http/https), -ENAMETOOLONG. */
int repos_client_url(const char *base, const char *user, const char *password, char *out,
		     size_t len);

/* The last HH:MM (UTC) slot at or before now (epoch seconds). */
int64_t repos_slot_before(int64_t now, int hh, int mm);

/* ---- htpasswd.c ---- */

/* Rewrites htpasswd text in memory: every line of user (a line starting with
 * "USER:") is dropped, and when new_line (without line end) is not NULL it
 * takes the place of the first one, or is appended.  Every other byte is
 * copied as it was; an appended line uses the file's line end (CRLF when the
 * last line end is CRLF) and a missing final line end is supplied.  old (may
 * be NULL) gets the first line of user without its line end.  *changed tells
 * whether out differs from in.  0 or -ENOMEM. */
int htpw_edit(const char *in, size_t len, const char *user, const char *new_line,
	      struct cfs_buf *out, struct cfs_buf *old, bool *changed);

/* The first line of user in text (without line end) into line; -ENOENT. */
int htpw_find(const char *in, size_t len, const char *user, struct cfs_buf *line);

struct htpw_file {
	const char *path;
	/* for a file that does not exist yet */
	uid_t new_uid;
	gid_t new_gid;
	mode_t new_mode;
};

/* Under an exclusive flock on PATH.lock: reads PATH (a missing file reads
 * empty), applies htpw_edit, and when something changed writes PATH.XXXXXX
 * beside it (fsync, same mode and owner as the old file) and renames it over
 * PATH, so a reader sees the old file or the new one.  old as in htpw_edit. */
int htpw_update(const struct htpw_file *f, const char *user, const char *new_line,
		struct cfs_buf *old, struct cfs_err *err);
/* The line of user in the file (shared lock); -ENOENT when there is none. */
int htpw_lookup(const char *path, const char *user, struct cfs_buf *line, struct cfs_err *err);

/* bcrypt ($2b$) of password with cost 4..31, as "$2b$…" (60 bytes). */
int htpw_hash(const char *password, int cost, char *out, size_t len, struct cfs_err *err);

/* ---- restic_run.c ---- */

struct restic_cmd {
	const char *restic;              /* program; PATH is searched when it has no '/' */
	const char *repo;                /* -r */
	const char *const *args;         /* subcommand and its arguments, NULL-terminated */
	const char *password;            /* goes to RESTIC_PASSWORD_FILE (a 0600 temp file) */
	const char *new_password;        /* NULL, or appended as --new-password-file TEMP */
	const char *tmp_dir;             /* an existing 0700 directory for those files */
	int timeout_s;
	/* each line of output (stdout lines only when out is NULL) */
	void (*on_line)(void *arg, bool is_stderr, const char *line);
	void *arg;
	bool (*cancelled)(void *arg);    /* polled; true kills restic */
	struct cfs_buf *out;             /* stdout collected here when not NULL */
};

/* Runs restic with argv [restic, -r, REPO, --no-cache, ARGS…] and a small
 * fixed environment, stdin from /dev/null, in its own process group.
 * 0 when it exited 0; otherwise -EIO ("exit status N: LAST STDERR LINE"),
 * -ETIMEDOUT, -ECANCELED or the errno of a failed start (-ENOENT: no such
 * program), with err saying which. */
int restic_run(const struct restic_cmd *c, struct cfs_err *err);

/* ---- disk.c ---- */

/* Sum of file sizes (apparent) and of allocated bytes under dir, without
 * following symlinks. */
int disk_usage(const char *dir, uint64_t *apparent, uint64_t *allocated);
/* lchown of dir and everything below it to uid:gid; modes are untouched. */
int disk_chown(const char *dir, uid_t uid, gid_t gid);
/* rm -rf dir (no symlink is followed). */
int disk_remove(const char *dir);

/* ---- store.c: the repos table ---- */

struct repo_rec {
	char uuid[37];
	char user[REPOS_USER_MAX + 1];
	int64_t created;                 /* epoch seconds */
	bool revoked;
	bool has_quota;
	uint64_t quota;
	char retention[REPOS_POLICY_MAX]; /* "" = the [repos] default */
	bool suspended;
	char suspended_line[REPOS_LINE_MAX]; /* the htpasswd line kept while suspended */
	int64_t last_prune;              /* epoch seconds, 0 = never */
	char last_prune_result[200];     /* "ok" or "error: …" */
	int64_t last_prune_ok;           /* last successful prune, 0 = never */
	long long last_prune_job;
	char user_key[65];               /* id of the user's restic key */
};

int repo_db_get(struct cfs_engine *e, const char *user, struct repo_rec *out);   /* -ENOENT */
/* Inserts (op "create") or updates (op "update") r and appends its journal
 * op, in one transaction. */
int repo_db_put(struct cfs_engine *e, const struct repo_rec *r, bool create);
/* Names of every provisioned user (revoked too unless active_only), sorted;
 * the caller frees with repo_db_names_free. */
int repo_db_names(struct cfs_engine *e, bool active_only, char ***names, size_t *n);
void repo_db_names_free(char **names, size_t n);

/* ---- context.c: the per-engine state ---- */

struct repos_stats_entry;

struct repos_mgr {
	struct cfs_engine *e;
	int refs;                        /* under the registry lock */
	pthread_mutex_t lock;            /* busy and maint sets, stats cache */
	char **busy;                     /* users in an add or revoke */
	size_t nbusy;
	char **maint;                    /* users with a prune/check job in flight */
	size_t nmaint;
	pthread_mutex_t state_lock;      /* htpasswd + table transitions */
	pthread_mutex_t pw_lock;         /* operator password creation */
	struct repos_stats_entry **stats; /* snapshot cache, by user */
	size_t nstats;
	/* scheduler */
	pthread_mutex_t sched_lock;
	pthread_cond_t sched_wake;
	pthread_t sched_thread;
	bool sched_started;
	bool sched_stop;
	int64_t clock_offset_s;          /* test hook, see scheduler.c */
};

/* The engine's repos state, made on first use (no reference taken: valid
 * until cfs_repos_stop).  NULL only when out of memory. */
struct repos_mgr *repos_mgr(struct cfs_engine *e);
/* A reference for work that may outlive the FUSE request (jobs). */
struct repos_mgr *repos_mgr_ref(struct repos_mgr *m);
void repos_mgr_unref(struct repos_mgr *m);

/* Paths, from [repos] with the engine's defaults filled in. */
void repos_root_path(struct cfs_engine *e, char *out, size_t len);       /* ROOT */
void repos_repo_path(struct cfs_engine *e, const char *user, char *out, size_t len);
void repos_htpasswd_path(struct cfs_engine *e, char *out, size_t len);
/* STATE/tmp, made 0700 when missing. */
int repos_tmp_dir(struct cfs_engine *e, char *out, size_t len, struct cfs_err *err);
/* The htpasswd file with ownership for a new file: the [repos] owner's group. */
int repos_htpw_file(struct cfs_engine *e, struct htpw_file *f, char *path, size_t len,
		    struct cfs_err *err);
/* The [repos] owner: *set false when none is configured (no chown). */
int repos_owner_ids(struct cfs_engine *e, bool *set, uid_t *uid, gid_t *gid, struct cfs_err *err);
/* ROOT, made when missing (0700, owned by the [repos] owner). */
int repos_root_ensure(struct cfs_engine *e, struct cfs_err *err);
/* The operator password (first line of its file); the file is made 0600 with
 * a random password on first use. */
int repos_operator_password(struct repos_mgr *m, char *out, size_t len, struct cfs_err *err);
/* chown -R of USER's repository to the owner (a no-op without one). */
int repos_fix_owner(struct cfs_engine *e, const char *user, struct cfs_err *err);

/* Marks user as in an add/revoke (-EBUSY when it already is). */
int repos_busy_take(struct repos_mgr *m, const char *user);
void repos_busy_drop(struct repos_mgr *m, const char *user);
bool repos_busy(struct repos_mgr *m, const char *user);
/* The same for prune/check/forget-dry-run jobs. */
int repos_maint_take(struct repos_mgr *m, const char *user);
void repos_maint_drop(struct repos_mgr *m, const char *user);

/* restic on USER's repository with the operator key; lines go to the job's
 * log when j is not NULL, and its cancel flag stops restic. */
int repos_restic(struct repos_mgr *m, const char *user, const char *const *args,
		 const char *password, const char *new_password, int timeout_s, struct cfs_job *j,
		 struct cfs_buf *out, struct cfs_err *err);

/* The effective retention of a record ("" → [repos] retention). */
const char *repos_policy_of(struct cfs_engine *e, const struct repo_rec *r);

/* ---- quota.c ---- */

/* Compares USER's usage with the quota: suspends (the htpasswd line leaves
 * the file and is kept in the table) or restores it, with an event each way.
 * Users in an add or revoke are skipped.  0 or -errno. */
int repos_quota_apply(struct repos_mgr *m, const char *user, struct cfs_err *err);
/* repos_quota_apply for every active user. */
void repos_quota_scan(struct repos_mgr *m);

/* ---- values.c ---- */

/* The quota or retention file of a provisioned repository (arg "quota" or
 * "retention"). */
int repos_value_show(struct cfs_engine *e, const struct repo_rec *r, const char *arg,
		     struct cfs_buf *out);

/* ---- maint.c ---- */

/* Queues a prune of user as a job owned by owner; -EBUSY when a prune or
 * check of user is in flight. */
int repos_prune_submit(struct repos_mgr *m, const char *user, const char *owner, uid_t uid,
		       bool scheduled, long long *job);

/* ---- stats.c ---- */

struct repos_snap_info {
	bool known;
	uint64_t count;
	int64_t newest, oldest;          /* epoch seconds, 0 when none */
	int64_t fetched;                 /* epoch seconds */
	char error[160];                 /* the last fetch's failure, "" when fine */
};

/* Snapshot facts of user, from the cache or a fresh `restic snapshots
 * --json` when the cache is older than [repos] refresh (or force). */
int repos_snapshots(struct repos_mgr *m, const char *user, bool force, struct cfs_job *j,
		    struct repos_snap_info *out);
void repos_stats_forget(struct repos_mgr *m, const char *user);
void repos_stats_free(struct repos_mgr *m);

/* ---- scheduler.c ---- */

int repos_sched_start(struct repos_mgr *m, struct cfs_err *err);
void repos_sched_stop(struct repos_mgr *m);

#endif
