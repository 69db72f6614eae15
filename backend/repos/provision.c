/* provision.c — /repos/ctl: add USER and revoke USER.
 *
 * add makes a repository in four steps, each undone when a later one fails:
 *   1. restic init of ROOT/USER with the operator password;
 *   2. restic key add with the user's fresh password;
 *   3. chown -R of ROOT/USER to the REST server's user ([repos] owner);
 *   4. the user's bcrypt line in the htpasswd file.
 * The htpasswd line comes last on purpose: until it exists nobody can reach
 * the repository through the REST server, so a failure at any step leaves no
 * line for a repository that does not exist, and the only thing to undo is
 * the directory restic made (the user key is in it).  The table row is written
 * after the line; if that fails the line and the directory go again.
 *
 * add of a revoked user keeps the repository and its snapshots: a new key for
 * a new password, the htpasswd line back, and only then the old user key
 * removed (the one step that cannot be undone, so it is the last). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auth/crypto.h"
#include "core/engine_priv.h"
#include "core/events.h"
#include "core/log.h"
#include "core/util.h"
#include "repos/repos.h"

#define RESTIC_QUICK_TIMEOUT 600   /* init, key add/remove */
#define MAX_KEYS 256

/* ---- the keys/ directory: which key did key add make? ---- */

struct keyset {
	char (*ids)[65];
	size_t n;
};

static void keyset_free(struct keyset *k)
{
	free(k->ids);
	k->ids = NULL;
	k->n = 0;
}

static int keyset_read(struct cfs_engine *e, const char *user, struct keyset *k)
{
	char dir[4300];
	repos_repo_path(e, user, dir, sizeof dir);
	strncat(dir, "/keys", sizeof dir - strlen(dir) - 1);
	keyset_free(k);
	k->ids = calloc(MAX_KEYS, sizeof *k->ids);
	if (!k->ids)
		return -ENOMEM;
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	struct dirent *de;
	while ((de = readdir(d)) && k->n < MAX_KEYS)
		if (strlen(de->d_name) == 64)
			snprintf(k->ids[k->n++], 65, "%s", de->d_name);
	closedir(d);
	return 0;
}

static bool keyset_has(const struct keyset *k, const char *id)
{
	for (size_t i = 0; i < k->n; i++)
		if (strcmp(k->ids[i], id) == 0)
			return true;
	return false;
}

/* The one id in after that is not in before. */
static int keyset_new(const struct keyset *before, const struct keyset *after, char out[65])
{
	for (size_t i = 0; i < after->n; i++) {
		if (!keyset_has(before, after->ids[i])) {
			snprintf(out, 65, "%s", after->ids[i]);
			return 0;
		}
	}
	return -ENOENT;
}

/* ---- steps ---- */

static int key_add(struct repos_mgr *m, const char *user, const char *op_pw, const char *pw,
		   char id[65], struct cfs_err *err)
{
	struct keyset before = { 0 }, after = { 0 };
	const char *args[] = { "key", "add", "--user", user, "--host", "cloudfs", NULL };
	int r = keyset_read(m->e, user, &before);
	if (!r)
		r = repos_restic(m, user, args, op_pw, pw, RESTIC_QUICK_TIMEOUT, NULL, NULL, err);
	else
		cfs_errf(err, r, "cannot list the repository's keys: %s", strerror(-r));
	if (!r) {
		r = keyset_read(m->e, user, &after);
		if (!r)
			r = keyset_new(&before, &after, id);
		if (r)
			r = cfs_errf(err, -EIO, "restic key add made no key file");
	}
	keyset_free(&before);
	keyset_free(&after);
	return r;
}

static int key_remove(struct repos_mgr *m, const char *user, const char *op_pw, const char *id,
		      struct cfs_err *err)
{
	struct keyset ks = { 0 };
	if (!id[0])
		return 0;   /* no key recorded */
	int r = keyset_read(m->e, user, &ks);
	bool present = !r && keyset_has(&ks, id);
	keyset_free(&ks);
	if (r)
		return cfs_errf(err, -EIO, "cannot list the repository's keys: %s", strerror(-r));
	if (!present)
		return 0;   /* already gone */
	const char *args[] = { "key", "remove", id, NULL };
	return repos_restic(m, user, args, op_pw, NULL, RESTIC_QUICK_TIMEOUT, NULL, NULL, err);
}

static int htpw_set(struct repos_mgr *m, const char *user, const char *line, struct cfs_buf *old,
		    struct cfs_err *err)
{
	struct htpw_file f;
	char path[4200];
	int r = repos_htpw_file(m->e, &f, path, sizeof path, err);
	if (!r)
		r = htpw_update(&f, user, line, old, err);
	return r;
}

/* "USER:$2b$…" for password. */
static int make_line(struct cfs_engine *e, const char *user, const char *pw, char *line,
		     size_t len, struct cfs_err *err)
{
	char hash[128];
	int cost = e->cfg.repos_bcrypt_cost >= 4 ? e->cfg.repos_bcrypt_cost : 5;
	int r = htpw_hash(pw, cost, hash, sizeof hash, err);
	if (!r)
		snprintf(line, len, "%s:%s", user, hash);
	return r;
}

static int fail_step(struct cfs_err *err, const char *user, int step, const char *what, int r,
		     const struct cfs_err *why)
{
	log_err("repos: add %s: step %d/4 (%s) failed: %s", user, step, what, why->msg);
	/* the caller learns the kind: a deadline, a refusal, or else a fault
	 * (a missing restic binary is not an unknown target) */
	if (r != -ETIMEDOUT && r != -EACCES && r != -EPERM)
		r = -EIO;
	return cfs_errf(err, r, "add %s: step %d/4 (%s) failed: %s", user, step, what, why->msg);
}

/* A repository that did not exist: init, key, chown, htpasswd, row.  prev
 * is the row of a revoked user whose directory is gone (kept, with its
 * policies), or NULL. */
static int add_fresh(struct repos_mgr *m, const char *user, const char *op_pw, const char *pw,
		     const struct repo_rec *prev, struct cfs_err *err)
{
	struct cfs_engine *e = m->e;
	struct cfs_err why = { 0 };
	char dir[4200], line[256];
	struct repo_rec rec = { 0 };
	int r;
	if (prev) {
		rec = *prev;
		rec.revoked = false;
		rec.suspended = false;
		rec.suspended_line[0] = '\0';
	} else {
		if (cfs_uuid(rec.uuid))
			return cfs_errf(err, -EIO, "add %s: cannot mint an id", user);
		snprintf(rec.user, sizeof rec.user, "%s", user);
		rec.created = cfs_now_ms() / 1000;
	}
	repos_repo_path(e, user, dir, sizeof dir);
	struct stat st;
	if (lstat(dir, &st) == 0)
		return cfs_errf(err, -EEXIST,
				"add %s: %s exists but is not a provisioned repository; move it away",
				user, dir);

	const char *init[] = { "init", NULL };
	r = repos_restic(m, user, init, op_pw, NULL, RESTIC_QUICK_TIMEOUT, NULL, NULL, &why);
	if (r) {
		disk_remove(dir);
		return fail_step(err, user, 1, "restic init", r, &why);
	}
	r = key_add(m, user, op_pw, pw, rec.user_key, &why);
	if (r) {
		disk_remove(dir);
		return fail_step(err, user, 2, "restic key add", r, &why);
	}
	r = repos_fix_owner(e, user, &why);
	if (r) {
		disk_remove(dir);
		return fail_step(err, user, 3, "chown", r, &why);
	}
	r = make_line(e, user, pw, line, sizeof line, &why);
	if (!r)
		r = htpw_set(m, user, line, NULL, &why);
	cfs_cleanse(line, sizeof line);
	if (r) {
		disk_remove(dir);
		return fail_step(err, user, 4, "htpasswd", r, &why);
	}
	r = repo_db_put(e, &rec, prev == NULL);
	if (r) {
		htpw_set(m, user, NULL, NULL, &why);
		disk_remove(dir);
		log_err("repos: add %s: cannot record the repository: %s", user, strerror(-r));
		return cfs_errf(err, -EIO, "add %s: cannot record the repository: %s", user,
				strerror(-r));
	}
	return 0;
}

/* A revoked user whose repository is still there: new key, chown,
 * htpasswd, old key out, row. */
static int add_again(struct repos_mgr *m, const struct repo_rec *prev, const char *op_pw,
		     const char *pw, struct cfs_err *err)
{
	struct cfs_engine *e = m->e;
	const char *user = prev->user;
	struct cfs_err why = { 0 };
	struct repo_rec rec = *prev;
	char line[256];
	rec.revoked = false;
	rec.suspended = false;
	rec.suspended_line[0] = '\0';
	int r = key_add(m, user, op_pw, pw, rec.user_key, &why);
	if (r)
		return fail_step(err, user, 1, "restic key add", r, &why);
	r = repos_fix_owner(e, user, &why);
	if (r) {
		key_remove(m, user, op_pw, rec.user_key, &why);
		return fail_step(err, user, 2, "chown", r, &why);
	}
	r = make_line(e, user, pw, line, sizeof line, &why);
	if (!r)
		r = htpw_set(m, user, line, NULL, &why);
	cfs_cleanse(line, sizeof line);
	if (r) {
		struct cfs_err ig = { 0 };
		key_remove(m, user, op_pw, rec.user_key, &ig);
		return fail_step(err, user, 3, "htpasswd", r, &why);
	}
	r = key_remove(m, user, op_pw, prev->user_key, &why);
	if (!r)
		r = repos_fix_owner(e, user, &why);
	if (r) {
		struct cfs_err ig = { 0 };
		htpw_set(m, user, NULL, NULL, &ig);
		key_remove(m, user, op_pw, rec.user_key, &ig);
		return fail_step(err, user, 4, "restic key remove of the old key", r, &why);
	}
	r = repo_db_put(e, &rec, false);
	if (r) {
		/* the old key is gone already; the user stays revoked without a
		 * key, which is what revoked means */
		struct cfs_err ig = { 0 };
		htpw_set(m, user, NULL, NULL, &ig);
		key_remove(m, user, op_pw, rec.user_key, &ig);
		log_err("repos: add %s: cannot record the repository: %s", user, strerror(-r));
		return cfs_errf(err, -EIO, "add %s: cannot record the repository: %s", user,
				strerror(-r));
	}
	return 0;
}

static bool attached(struct cfs_engine *e, const char *user)
{
	for (size_t i = 0; i < e->cfg.n_attached; i++)
		if (strcmp(e->cfg.attached[i].user, user) == 0)
			return true;
	return false;
}

static int repos_add(void *ctx, const struct ctl_args *a, struct ctl_outcome *o,
		     struct cfs_err *err)
{
	struct ctl_ctx *x = ctx;
	struct cfs_engine *e = x->e;
	const char *user = a->pos[0];
	if (!x->c->user.superadmin && !x->c->user.provisioner)
		return cfs_errf(err, -EACCES,
				"add: only a superadmin or a provisioner may add repositories");
	struct cfs_err ve = { 0 };
	if (repos_user_check(user, &ve))
		return cfs_errf(err, -EINVAL, "add: %s", ve.msg);
	struct repos_mgr *m = repos_mgr(e);
	if (!m)
		return cfs_errf(err, -ENOMEM, "out of memory");
	if (attached(e, user))
		return cfs_errf(err, -EEXIST, "add: %s is attached in the config ([repos.%s])", user,
				user);

	/* everything that can be checked is checked before the first step */
	uint8_t raw[REPOS_PASSWORD_BYTES];
	char pw[2 * REPOS_PASSWORD_BYTES + 1], url[1024], op_pw[1024];
	const char *base = e->cfg.repos_url && *e->cfg.repos_url ? e->cfg.repos_url
								  : "http://127.0.0.1:8000";
	if (cfs_random(raw, sizeof raw))
		return cfs_errf(err, -EIO, "add: no random bytes for the password");
	cfs_hex(raw, sizeof raw, pw);
	cfs_cleanse(raw, sizeof raw);
	int r = repos_client_url(base, user, pw, url, sizeof url);
	if (r) {
		cfs_cleanse(pw, sizeof pw);
		return cfs_errf(err, -EINVAL, "add: [repos] url %s cannot make a repository URL",
				base);
	}
	r = repos_busy_take(m, user);
	if (r) {
		cfs_cleanse(pw, sizeof pw);
		cfs_cleanse(url, sizeof url);
		return cfs_errf(err, r, "add: %s is being changed by another command", user);
	}
	struct repo_rec prev;
	int have = repo_db_get(e, user, &prev);
	bool again = false;
	if (have == 0 && !prev.revoked) {
		r = cfs_errf(err, -EEXIST, "add: %s already has a repository", user);
	} else if (have && have != -ENOENT) {
		r = cfs_errf(err, -EIO, "add: cannot read the repository table: %s", strerror(-have));
	} else {
		r = repos_root_ensure(e, err);
		if (!r)
			r = repos_operator_password(m, op_pw, sizeof op_pw, err);
		if (r && r != -EACCES)
			r = err->code = -EIO;   /* a fault of the host's setup */
	}
	if (!r) {
		char dir[4200];
		struct stat st;
		repos_repo_path(e, user, dir, sizeof dir);
		again = have == 0 && lstat(dir, &st) == 0;
		if (again)
			r = add_again(m, &prev, op_pw, pw, err);
		else
			r = add_fresh(m, user, op_pw, pw, have == 0 ? &prev : NULL, err);
		cfs_cleanse(op_pw, sizeof op_pw);
	}
	repos_busy_drop(m, user);
	if (!r) {
		log_info("repos: %s %s's repository (by %s)", again ? "reopened" : "created", user,
			 x->c->user.name);
		cfs_event_emitf(e, have == 0 ? "repo.reactivated" : "repo.created", user, NULL, NULL,
				NULL, NULL);
		ctl_ok_secret(o, "password", pw);
		ctl_ok_secret(o, "repository", url);
		repos_stats_forget(m, user);
		if (have == 0) {
			struct cfs_err qe = { 0 };
			repos_quota_apply(m, user, &qe);   /* still over its quota? */
		}
	}
	cfs_cleanse(pw, sizeof pw);
	cfs_cleanse(url, sizeof url);
	return r;
}

static int repos_revoke(void *ctx, const struct ctl_args *a, struct ctl_outcome *o,
			struct cfs_err *err)
{
	struct ctl_ctx *x = ctx;
	struct cfs_engine *e = x->e;
	const char *user = a->pos[0];
	if (!x->c->user.superadmin)
		return cfs_errf(err, -EACCES, "revoke: only a superadmin may revoke access");
	struct cfs_err ve = { 0 };
	if (repos_user_check(user, &ve))
		return cfs_errf(err, -EINVAL, "revoke: %s", ve.msg);
	struct repos_mgr *m = repos_mgr(e);
	if (!m)
		return cfs_errf(err, -ENOMEM, "out of memory");
	struct repo_rec rec;
	int r = repo_db_get(e, user, &rec);
	if (r == -ENOENT)
		return cfs_errf(err, -ENOENT, "revoke: no repository for %s", user);
	if (r)
		return cfs_errf(err, -EIO, "revoke: cannot read the repository table: %s",
				strerror(-r));
	if (rec.revoked)
		return cfs_errf(err, -ENOENT, "revoke: %s has no access to revoke", user);
	r = repos_busy_take(m, user);
	if (r)
		return cfs_errf(err, r, "revoke: %s is being changed by another command", user);
	pthread_mutex_lock(&m->state_lock);
	struct cfs_buf old = CFS_BUF_INIT;
	r = repo_db_get(e, user, &rec);   /* again, under the lock */
	if (!r)
		r = htpw_set(m, user, NULL, &old, err);
	else
		cfs_errf(err, -EIO, "revoke: cannot read the repository table");
	if (!r) {
		rec.revoked = true;
		rec.suspended = false;
		rec.suspended_line[0] = '\0';
		r = repo_db_put(e, &rec, false);
		if (r) {
			struct cfs_err ig = { 0 };
			if (old.len)
				htpw_set(m, user, old.data, NULL, &ig);
			cfs_errf(err, -EIO, "revoke: cannot record it: %s", strerror(-r));
			r = -EIO;
		}
	}
	pthread_mutex_unlock(&m->state_lock);
	if (old.data)
		cfs_cleanse(old.data, old.len);
	cfs_buf_free(&old);
	repos_busy_drop(m, user);
	if (r)
		return r;
	log_info("repos: revoked %s's access (by %s)", user, x->c->user.name);
	cfs_event_emitf(e, "repo.revoked", user, NULL, NULL, NULL, NULL);
	ctl_ok(o, "user", "%s", user);
	return 0;
}

static const struct ctl_verb repos_verbs[] = {
	{ "add USER", "create USER's restic repository and credentials (shown once)", repos_add },
	{ "revoke USER", "remove USER's access, keeping the repository", repos_revoke },
};

const struct ctl_verb *cfs_repos_verbs(size_t *n)
{
	*n = sizeof repos_verbs / sizeof repos_verbs[0];
	return repos_verbs;
}

int cfs_repos_ctl(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		  const char *data, size_t len, struct ctl_outcome *o)
{
	struct ctl_ctx x = { e, c, caps };
	return ctl_exec(repos_verbs, sizeof repos_verbs / sizeof repos_verbs[0], &x, data, len, o);
}
