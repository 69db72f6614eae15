/* maint.c — /repos/USER/ctl prune, check and forget-dry-run: restic with the
 * operator key, each as a job whose log holds restic's output.
 *
 * forget-dry-run is a job too (`ok job=N`, the listing of what prune would
 * remove in /jobs/N/log), like the other two: restic needs the repository
 * lock and a scrypt run, which is no work for a FUSE request thread.
 *
 * One prune or check per repository at a time: a second one fails EBUSY
 * while the first is queued or running. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/crypto.h"
#include "core/engine_priv.h"
#include "core/events.h"
#include "core/jobs.h"
#include "core/log.h"
#include "core/util.h"
#include "repos/repos.h"

#define MAINT_TIMEOUT (12 * 3600)   /* a prune of a big repository takes hours */

enum maint_kind { M_PRUNE, M_CHECK, M_DRY };

static const char *const kind_names[] = { "prune", "check", "forget-dry-run" };

struct maint_arg {
	struct repos_mgr *m;
	char user[REPOS_USER_MAX + 1];
	enum maint_kind kind;
	bool scheduled;
	bool marked;       /* holds the user's maint mark (prune, check) */
};

static void maint_arg_free(void *p)
{
	struct maint_arg *a = p;
	if (a->marked)
		repos_maint_drop(a->m, a->user);
	repos_mgr_unref(a->m);
	free(a);
}

/* Records the prune's result in the row (under the state lock, so a quota
 * change meanwhile is not overwritten). */
static void record_prune(struct repos_mgr *m, const char *user, long long job, int r,
			 const char *msg)
{
	struct repo_rec rec;
	pthread_mutex_lock(&m->state_lock);
	if (repo_db_get(m->e, user, &rec) == 0) {
		int64_t now = cfs_now_ms() / 1000;
		rec.last_prune = now;
		rec.last_prune_job = job;
		if (r)
			snprintf(rec.last_prune_result, sizeof rec.last_prune_result, "error: %.180s",
				 msg);
		else {
			snprintf(rec.last_prune_result, sizeof rec.last_prune_result, "ok");
			rec.last_prune_ok = now;
		}
		int w = repo_db_put(m->e, &rec, false);
		if (w)
			log_err("repos: cannot record the prune of %s: %s", user, strerror(-w));
	}
	pthread_mutex_unlock(&m->state_lock);
}

static int maint_job(struct cfs_job *j, void *arg)
{
	struct maint_arg *a = arg;
	struct repos_mgr *m = a->m;
	struct cfs_engine *e = m->e;
	struct cfs_err err = { 0 };
	struct repo_rec rec;
	char op_pw[1024], store[REPOS_POLICY_MAX + 64];
	const char *args[24];
	int n = 0, r;
	if (repo_db_get(e, a->user, &rec))
		return job_fail(j, -ENOENT, "no repository for %s", a->user);
	const char *policy = repos_policy_of(e, &rec);
	switch (a->kind) {
	case M_PRUNE:
	case M_DRY:
		args[n++] = "forget";
		args[n++] = a->kind == M_PRUNE ? "--prune" : "--dry-run";
		r = repos_retention_argv(policy, store, sizeof store, args + n, 16);
		if (r < 0)
			return job_fail(j, -EINVAL, "the retention policy of %s is not valid: %s",
					a->user, policy);
		n += r;
		job_log(j, "%s of %s with %s", kind_names[a->kind], a->user, policy);
		break;
	case M_CHECK:
		args[n++] = "check";
		job_log(j, "check of %s", a->user);
		break;
	}
	args[n] = NULL;
	job_progress(j, "restic %s running", a->kind == M_CHECK ? "check" : "forget");
	r = repos_operator_password(m, op_pw, sizeof op_pw, &err);
	if (!r) {
		r = repos_restic(m, a->user, args, op_pw, NULL, MAINT_TIMEOUT, j, NULL, &err);
		/* a client that died mid-backup leaves a lock that would fail
		 * every nightly prune from then on: on "already locked", unlock
		 * (it removes only stale locks: older than 30 minutes, or of a
		 * dead process on this host) and try once more */
		if (r == -EIO && (strstr(err.msg, "locked") || strstr(err.msg, "unlock"))) {
			const char *unlock[] = { "unlock", NULL };
			struct cfs_err ue = { 0 };
			job_log(j, "the repository is locked: removing stale locks and trying again");
			if (repos_restic(m, a->user, unlock, op_pw, NULL, MAINT_TIMEOUT, j, NULL, &ue))
				job_log(j, "warning: restic unlock: %s", ue.msg);
			else if (!job_cancelled(j))
				r = repos_restic(m, a->user, args, op_pw, NULL, MAINT_TIMEOUT, j, NULL,
						 &err);
		}
		cfs_cleanse(op_pw, sizeof op_pw);
	}
	/* restic ran as us: what it wrote must belong to the REST server's user */
	struct cfs_err oe = { 0 };
	if (a->kind != M_DRY && repos_fix_owner(e, a->user, &oe))
		job_log(j, "warning: %s", oe.msg);
	char id[32];
	snprintf(id, sizeof id, "%lld", job_id(j));
	switch (a->kind) {
	case M_PRUNE:
		/* the next read of stats asks restic again */
		repos_stats_forget(m, a->user);
		record_prune(m, a->user, job_id(j), r, err.msg);
		cfs_event_emitf(e, "repo.pruned", a->user, NULL, NULL, NULL,
				"\"result\":\"%s\",\"job\":%s,\"scheduled\":%s", r ? "error" : "ok", id,
				a->scheduled ? "true" : "false");
		struct cfs_err qe = { 0 };
		if (repos_quota_apply(m, a->user, &qe))
			job_log(j, "quota check: %s", qe.msg);
		break;
	case M_CHECK:
		cfs_event_emitf(e, "repo.checked", a->user, NULL, NULL, NULL,
				"\"result\":\"%s\",\"job\":%s", r ? "error" : "ok", id);
		break;
	case M_DRY:
		break;
	}
	job_progress(j, "%s", r ? "failed" : "done");
	if (r)
		return job_fail(j, r == -ECANCELED ? r : -EIO, "%s", err.msg);
	return 0;
}

int repos_prune_submit(struct repos_mgr *m, const char *user, const char *owner, uid_t uid,
		       bool scheduled, long long *job)
{
	struct maint_arg *a = calloc(1, sizeof *a);
	if (!a)
		return -ENOMEM;
	int r = repos_maint_take(m, user);
	if (r) {
		free(a);
		return r;
	}
	a->m = repos_mgr_ref(m);
	a->marked = true;
	snprintf(a->user, sizeof a->user, "%s", user);
	a->kind = M_PRUNE;
	a->scheduled = scheduled;
	char cmd[128];
	snprintf(cmd, sizeof cmd, "repos/%s: prune%s", user, scheduled ? " (scheduled)" : "");
	/* jobs_submit frees a (and drops the maint mark) when it fails */
	return jobs_submit(m->e->jobs, owner, uid, cmd, maint_job, a, maint_arg_free, job);
}

static int start(void *ctx, const struct ctl_args *a, struct ctl_outcome *o,
		 struct cfs_err *err, enum maint_kind kind)
{
	struct ctl_ctx *x = ctx;
	struct cfs_engine *e = x->e;
	const char *user = x->caps[0];
	const char *verb = kind_names[kind];
	if (!x->c->user.superadmin)
		return cfs_errf(err, -EACCES, "%s: only a superadmin may maintain repositories", verb);
	struct repo_rec rec;
	int r = repo_db_get(e, user, &rec);
	if (r == -ENOENT)
		return cfs_errf(err, -ENOENT,
				"%s: %s's repository is attached for reading, not provisioned by "
				"cloudfs", verb, user);
	if (r)
		return cfs_errf(err, -EIO, "%s: cannot read the repository table", verb);
	r = engine_wait_opt(a, err);
	if (r)
		return r;
	struct repos_mgr *m = repos_mgr(e);
	if (!m)
		return cfs_errf(err, -ENOMEM, "out of memory");
	long long id;
	if (kind == M_PRUNE) {
		r = repos_prune_submit(m, user, x->c->user.name, x->c->user.uid, false, &id);
	} else {
		struct maint_arg *ma = calloc(1, sizeof *ma);
		if (!ma)
			return cfs_errf(err, -ENOMEM, "out of memory");
		r = kind == M_CHECK ? repos_maint_take(m, user) : 0;
		if (r) {
			free(ma);
		} else {
			ma->m = repos_mgr_ref(m);
			ma->marked = kind == M_CHECK;
			snprintf(ma->user, sizeof ma->user, "%s", user);
			ma->kind = kind;
			char cmd[128];
			snprintf(cmd, sizeof cmd, "repos/%s: %s", user, verb);
			r = jobs_submit(e->jobs, x->c->user.name, x->c->user.uid, cmd, maint_job, ma,
					maint_arg_free, &id);
		}
	}
	if (r == -EBUSY)
		return cfs_errf(err, -EBUSY, "%s: a prune or check of %s is already in flight", verb,
				user);
	if (r)
		return cfs_errf(err, r, "%s: cannot queue the job", verb);
	return engine_run_job_cmd(e, x->c, a, o, err, id);
}

int cfs_repo_prune(void *ctx, const struct ctl_args *a, struct ctl_outcome *o, struct cfs_err *err)
{
	return start(ctx, a, o, err, M_PRUNE);
}

int cfs_repo_check(void *ctx, const struct ctl_args *a, struct ctl_outcome *o, struct cfs_err *err)
{
	return start(ctx, a, o, err, M_CHECK);
}

int cfs_repo_forget_dry_run(void *ctx, const struct ctl_args *a, struct ctl_outcome *o,
			    struct cfs_err *err)
{
	return start(ctx, a, o, err, M_DRY);
}
