/* values.c — /repos/USER/quota and /repos/USER/retention, value files: one
 * value and a newline when read; each write(2) is the whole new value.
 *
 *   quota      bytes (K, M, G, T suffixes, powers of 1024) or max; read back
 *              as bytes.  A new quota is applied at once: a repository over it
 *              is suspended before the write returns, one back under it is
 *              restored.
 *   retention  a keep policy as [repos] retention takes it, or "default" for
 *              the [repos] one; read back normalized. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/config.h"
#include "core/engine_priv.h"
#include "core/events.h"
#include "core/log.h"
#include "repos/repos.h"

int repos_value_show(struct cfs_engine *e, const struct repo_rec *r, const char *arg,
		     struct cfs_buf *out)
{
	if (strcmp(arg, "quota") == 0) {
		char q[32];
		repos_quota_format(r->has_quota, r->quota, q);
		return cfs_buf_printf(out, "%s\n", q);
	}
	if (strcmp(arg, "retention") == 0)
		return cfs_buf_printf(out, "%s\n", repos_policy_of(e, r));
	return -ENOENT;
}

/* The row of caps[0] for a write by c. */
static int writable_rec(struct cfs_engine *e, const struct cfs_caller *c, const char *user,
			const char *what, struct repo_rec *rec, struct cfs_err *err)
{
	if (!c->user.superadmin)
		return cfs_errf(err, -EACCES, "only a superadmin may change the %s", what);
	int r = repo_db_get(e, user, rec);
	if (r == -ENOENT)
		return cfs_errf(err, -ENOENT, "%s's repository is not provisioned by cloudfs", user);
	if (r)
		return cfs_errf(err, -EIO, "cannot read the repository table");
	return 0;
}

int cfs_repo_quota_store(struct cfs_engine *e, const struct cfs_caller *c,
			 const char *const *caps, const char *data, size_t len,
			 struct cfs_err *err)
{
	const char *user = caps[0];
	bool limited;
	uint64_t bytes;
	struct repo_rec rec;
	int r = repos_quota_parse(data, len, &limited, &bytes, err);
	if (r)
		return r;
	struct repos_mgr *m = repos_mgr(e);
	if (!m)
		return cfs_errf(err, -ENOMEM, "out of memory");
	pthread_mutex_lock(&m->state_lock);
	r = writable_rec(e, c, user, "quota", &rec, err);
	if (!r) {
		rec.has_quota = limited;
		rec.quota = bytes;
		r = repo_db_put(e, &rec, false);
		if (r)
			r = cfs_errf(err, -EIO, "cannot store the quota: %s", strerror(-r));
	}
	pthread_mutex_unlock(&m->state_lock);
	if (r)
		return r;
	char q[32];
	repos_quota_format(limited, bytes, q);
	log_info("repos: quota of %s set to %s by %s", user, q, c->user.name);
	cfs_event_emitf(e, "repo.updated", user, NULL, NULL, NULL, "\"quota\":\"%s\"", q);
	struct cfs_err qe = { 0 };
	if (repos_quota_apply(m, user, &qe))
		return cfs_errf(err, qe.code ? qe.code : -EIO, "quota stored, but: %s", qe.msg);
	return 0;
}

int cfs_repo_retention_store(struct cfs_engine *e, const struct cfs_caller *c,
			     const char *const *caps, const char *data, size_t len,
			     struct cfs_err *err)
{
	const char *user = caps[0];
	char v[REPOS_POLICY_MAX], store[REPOS_POLICY_MAX + 64];
	const char *argv[16];
	while (len && (data[len - 1] == '\n' || data[len - 1] == '\r' || data[len - 1] == ' ' ||
		       data[len - 1] == '\t'))
		len--;
	if (len >= sizeof v || memchr(data, '\0', len))
		return cfs_errf(err, -EINVAL, "retention: a policy is at most %zu bytes",
				sizeof v - 1);
	memcpy(v, data, len);
	v[len] = '\0';
	char *norm = NULL;
	bool dflt = strcmp(v, "default") == 0;
	if (!dflt) {
		struct cfs_err ce = { 0 };
		int r = cfs_config_check_retention(v, &norm, &ce);
		if (r)
			return cfs_errf(err, r == -ENOMEM ? r : -EINVAL, "retention: %s", ce.msg);
		/* what restic will be given must pass our own argv check too */
		if (strlen(norm) >= REPOS_POLICY_MAX ||
		    repos_retention_argv(norm, store, sizeof store, argv, 16) < 0) {
			free(norm);
			return cfs_errf(err, -EINVAL, "retention: not a policy restic forget takes");
		}
	}
	struct repos_mgr *m = repos_mgr(e);
	struct repo_rec rec;
	if (!m) {
		free(norm);
		return cfs_errf(err, -ENOMEM, "out of memory");
	}
	pthread_mutex_lock(&m->state_lock);
	int r = writable_rec(e, c, user, "retention", &rec, err);
	if (!r) {
		snprintf(rec.retention, sizeof rec.retention, "%s", dflt ? "" : norm);
		r = repo_db_put(e, &rec, false);
		if (r)
			r = cfs_errf(err, -EIO, "cannot store the retention: %s", strerror(-r));
	}
	pthread_mutex_unlock(&m->state_lock);
	if (!r) {
		log_info("repos: retention of %s set to %s by %s", user, dflt ? "the default" : norm,
			 c->user.name);
		cfs_event_emitf(e, "repo.updated", user, NULL, NULL, NULL, "\"retention\":\"%s\"",
				repos_policy_of(e, &rec));
	}
	free(norm);
	return r;
}
