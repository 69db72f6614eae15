/* quota.c — the REST server has no per-user quota, so cloudfs enforces one:
 * a repository whose files add up to more than its quota is suspended (its
 * htpasswd line leaves the file, so the server refuses the user's next
 * request) and restored when it is back under, with an event each way.
 *
 * The line is kept in the table while suspended and put back exactly as it
 * was, so the user's password keeps working after a restore.  Usage is the
 * sum of the file sizes in ROOT/USER, what the server was sent; checked by the
 * scheduler every [repos] quota_scan, after every prune and when the quota is
 * written. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/engine_priv.h"
#include "core/events.h"
#include "core/log.h"
#include "repos/repos.h"

static int set_line(struct repos_mgr *m, const char *user, const char *line, struct cfs_buf *old,
		    struct cfs_err *err)
{
	struct htpw_file f;
	char path[4200];
	int r = repos_htpw_file(m->e, &f, path, sizeof path, err);
	if (!r)
		r = htpw_update(&f, user, line, old, err);
	return r;
}

int repos_quota_apply(struct repos_mgr *m, const char *user, struct cfs_err *err)
{
	struct cfs_engine *e = m->e;
	char dir[4200];
	uint64_t usage = 0, alloc = 0;
	struct repo_rec rec;
	int r = repo_db_get(e, user, &rec);
	if (r)
		return cfs_errf(err, r, "no repository for %s", user);
	if (rec.revoked || (!rec.has_quota && !rec.suspended))
		return 0;
	repos_repo_path(e, user, dir, sizeof dir);
	r = disk_usage(dir, &usage, &alloc);
	if (r && r != -ENOENT)
		return cfs_errf(err, r, "cannot measure %s: %s", dir, strerror(-r));

	struct cfs_buf old = CFS_BUF_INIT;
	const char *type = NULL;
	pthread_mutex_lock(&m->state_lock);
	if (repos_busy(m, user) || repo_db_get(e, user, &rec) || rec.revoked)
		goto out;   /* an add or revoke is on it; the next scan will look */
	bool over = rec.has_quota && usage > rec.quota;
	if (over && !rec.suspended) {
		r = set_line(m, user, NULL, &old, err);
		if (!r && old.len >= sizeof rec.suspended_line) {
			/* too long to keep: put it back rather than lose it */
			struct cfs_err ig = { 0 };
			set_line(m, user, old.data, NULL, &ig);
			r = cfs_errf(err, -E2BIG, "%s's htpasswd line is too long to keep", user);
		}
		if (!r) {
			rec.suspended = true;
			snprintf(rec.suspended_line, sizeof rec.suspended_line, "%s",
				 old.data ? old.data : "");
			r = repo_db_put(e, &rec, false);
			if (r) {
				struct cfs_err ig = { 0 };
				if (old.len)
					set_line(m, user, old.data, NULL, &ig);
				cfs_errf(err, r, "cannot record the suspension of %s", user);
			} else {
				type = "repo.suspended";
			}
		}
	} else if (!over && rec.suspended) {
		if (rec.suspended_line[0])
			r = set_line(m, user, rec.suspended_line, NULL, err);
		if (!r) {
			rec.suspended = false;
			rec.suspended_line[0] = '\0';
			r = repo_db_put(e, &rec, false);
			if (r) {
				struct cfs_err ig = { 0 };
				set_line(m, user, NULL, NULL, &ig);
				cfs_errf(err, r, "cannot record the restore of %s", user);
			} else {
				type = "repo.restored";
			}
		}
	}
out:
	pthread_mutex_unlock(&m->state_lock);
	if (old.data)
		explicit_bzero(old.data, old.len);
	cfs_buf_free(&old);
	if (type) {
		char q[32];
		repos_quota_format(rec.has_quota, rec.quota, q);
		log_info("repos: %s %s: usage %llu bytes, quota %s", strcmp(type, "repo.suspended") == 0
								      ? "suspended"
								      : "restored",
			 user, (unsigned long long)usage, q);
		cfs_event_emitf(e, type, user, NULL, NULL, NULL, "\"usage\":%llu,\"quota\":\"%s\"",
				(unsigned long long)usage, q);
	}
	if (r)
		log_err("repos: quota of %s: %s", user, err->msg);
	return r;
}

void repos_quota_scan(struct repos_mgr *m)
{
	char **names;
	size_t n;
	if (repo_db_names(m->e, true, &names, &n))
		return;
	for (size_t i = 0; i < n; i++) {
		struct cfs_err err = { 0 };
		repos_quota_apply(m, names[i], &err);
	}
	repo_db_names_free(names, n);
}
