/* readers.c — /repos/USER for repositories read natively: the users listed,
 * each one's snapshots/ tree (the restic reader behind a vtree) and its ctl.
 *
 * A repository comes from [repos.USER] in the config (path or url, and a
 * password file; without one, the operator password).  It is opened on first
 * use and kept open; a failed open (wrong password, unreachable) is remembered
 * for a few seconds so a walk does not pay an scrypt run per lookup. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/engine_priv.h"
#include "core/log.h"
#include "core/util.h"
#include "restic/reader.h"

#define RETRY_FAILED_MS 5000

struct reader_slot {
	char user[65];
	struct rr_repo *repo;
	int last_err;
	char last_msg[300];
	int64_t failed_at_ms;
};

struct repos_readers {
	pthread_mutex_t lock;
	struct reader_slot *slots;
	size_t n;
};

struct repos_readers *repos_readers_new(void)
{
	struct repos_readers *rr = calloc(1, sizeof *rr);
	if (rr)
		pthread_mutex_init(&rr->lock, NULL);
	return rr;
}

void repos_readers_free(struct repos_readers *rr)
{
	if (!rr)
		return;
	for (size_t i = 0; i < rr->n; i++)
		rr_close(rr->slots[i].repo);
	free(rr->slots);
	pthread_mutex_destroy(&rr->lock);
	free(rr);
}

static const struct cfs_repo_attach *attach_of(struct cfs_engine *e, const char *user)
{
	for (size_t i = 0; i < e->cfg.n_attached; i++)
		if (strcmp(e->cfg.attached[i].user, user) == 0)
			return &e->cfg.attached[i];
	return NULL;
}

int cfs_repos_list(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		   cfs_emit_fn emit, void *ctx)
{
	(void)caps;
	if (!c->user.superadmin)
		return 0;
	for (size_t i = 0; i < e->cfg.n_attached; i++) {
		int r = emit(ctx, e->cfg.attached[i].user);
		if (r < 0)
			return r;
	}
	/* then those provisioned through /repos/ctl (not attached as well) */
	return cfs_repos_each_provisioned(e, emit, ctx);
}

int cfs_repo_exists(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		    int depth)
{
	if (!c->user.superadmin)
		return -ENOENT;
	return attach_of(e, caps[depth]) || cfs_repo_provisioned(e, caps[depth]) ? 0 : -ENOENT;
}

/* Reads a password file: its first line, without the newline. */
static int read_password(const char *path, char *out, size_t len, struct cfs_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return cfs_errf(err, -EACCES, "cannot read the password file %s: %s", path,
				strerror(errno));
	ssize_t n = read(fd, out, len - 1);
	close(fd);
	if (n < 0)
		return cfs_errf(err, -EACCES, "cannot read the password file %s", path);
	out[n] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	if (!out[0])
		return cfs_errf(err, -EACCES, "the password file %s is empty", path);
	return 0;
}

static int open_repo(struct cfs_engine *e, const struct cfs_repo_attach *a, struct rr_repo **out,
		     struct cfs_err *err)
{
	char pw[1024], loc[1100], cache[4300], defpw[4300];
	const char *pwfile = a->password_file;
	if (!pwfile) {
		if (e->cfg.repos_operator_password_file)
			pwfile = e->cfg.repos_operator_password_file;
		else {
			snprintf(defpw, sizeof defpw, "%s/operator.password", e->state_dir);
			pwfile = defpw;
		}
	}
	int r = read_password(pwfile, pw, sizeof pw, err);
	if (r)
		return r;
	if (a->path)
		snprintf(loc, sizeof loc, "%s", a->path);
	else if (strncmp(a->url, "rest:", 5) == 0)
		snprintf(loc, sizeof loc, "%s", a->url);
	else
		snprintf(loc, sizeof loc, "rest:%s", a->url);
	snprintf(cache, sizeof cache, "%s/cache", e->state_dir);
	mkdir(cache, 0700);
	snprintf(cache, sizeof cache, "%s/cache/%s", e->state_dir, a->user);
	mkdir(cache, 0700);
	struct rr_open_opts o = {
		.location = loc,
		.password = pw,
		.cache_dir = cache,
		.blob_cache_bytes = (size_t)e->cfg.repos_cache_size,
		.refresh_secs = (int)(e->cfg.repos_refresh_s > 0 ? e->cfg.repos_refresh_s : 60),
	};
	r = rr_open(&o, out, err);
	cfs_cleanse(pw, sizeof pw);
	return r;
}

/* The open repository of user, opening it when needed. */
static int repo_of(struct cfs_engine *e, const char *user, struct rr_repo **out,
		   struct cfs_err *err)
{
	const struct cfs_repo_attach *a = attach_of(e, user);
	struct cfs_repo_attach prov;
	char prov_path[4200];
	if (!a && cfs_repo_provisioned_attach(e, user, &prov, prov_path, sizeof prov_path) == 0)
		a = &prov;   /* ROOT/USER, with the operator password */
	if (!a)
		return cfs_errf(err, -ENOENT, "no repository for %s", user);
	struct repos_readers *rr = e->readers;
	pthread_mutex_lock(&rr->lock);
	struct reader_slot *s = NULL;
	for (size_t i = 0; i < rr->n; i++)
		if (strcmp(rr->slots[i].user, user) == 0)
			s = &rr->slots[i];
	if (!s) {
		struct reader_slot *ns = realloc(rr->slots, (rr->n + 1) * sizeof *ns);
		if (!ns) {
			pthread_mutex_unlock(&rr->lock);
			return cfs_errf(err, -ENOMEM, "out of memory");
		}
		rr->slots = ns;
		s = &rr->slots[rr->n++];
		memset(s, 0, sizeof *s);
		snprintf(s->user, sizeof s->user, "%s", user);
	}
	int r = 0;
	if (!s->repo) {
		if (s->last_err && cfs_mono_ms() - s->failed_at_ms < RETRY_FAILED_MS) {
			r = cfs_errf(err, s->last_err, "%.190s", s->last_msg);
		} else {
			/* the open runs scrypt (about half a second): other users wait on
			 * this lock meanwhile, which is rare and bounded */
			struct cfs_err oe = { 0 };
			r = open_repo(e, a, &s->repo, &oe);
			if (r) {
				s->last_err = r;
				s->failed_at_ms = cfs_mono_ms();
				snprintf(s->last_msg, sizeof s->last_msg, "repository of %s: %s", user,
					 oe.msg);
				log_err("%s", s->last_msg);
				cfs_errf(err, r, "%.190s", s->last_msg);
			} else {
				s->last_err = 0;
				log_info("opened the repository of %s", user);
			}
		}
	}
	*out = s->repo;
	pthread_mutex_unlock(&rr->lock);
	return r;
}

int cfs_repo_snapshots_vtree(struct cfs_engine *e, const struct cfs_caller *c,
			     const char *const *caps, const struct cfs_vtree_ops **ops, void **tree)
{
	struct rr_repo *repo;
	struct cfs_err err = { 0 };
	int r = repo_of(e, caps[0], &repo, &err);
	if (r) {
		if (c && c->pid) {
			char path[200];
			snprintf(path, sizeof path, "/repos/%s/snapshots", caps[0]);
			cfs_errors_record(e, c, path, "open", r, err.msg);
		}
		return r == -ENOENT ? -ENOENT : r == -EACCES ? -EACCES : -EIO;
	}
	*ops = rr_vtree_ops();
	*tree = repo;
	return 0;
}

/* ---- /repos/USER/ctl ---- */

static int repo_refresh(void *ctx, const struct ctl_args *a, struct ctl_outcome *o,
			struct cfs_err *err)
{
	(void)a;
	struct ctl_ctx *x = ctx;
	struct rr_repo *repo;
	int r = repo_of(x->e, x->caps[0], &repo, err);
	if (r)
		return r == -EACCES || r == -ENOENT ? r : -EIO;
	r = rr_refresh(repo, err);
	if (r)
		return r;
	struct rr_stats st;
	rr_get_stats(repo, &st);
	ctl_ok(o, "snapshots", "%llu", (unsigned long long)st.snapshots);
	return 0;
}

static const struct ctl_verb repo_verbs[] = {
	{ "refresh", "re-read the snapshot list now", repo_refresh },
	{ "prune [wait=no]", "forget by the retention policy, then prune, as a job", cfs_repo_prune },
	{ "check [wait=no]", "restic check with the operator key, as a job", cfs_repo_check },
	{ "forget-dry-run [wait=no]", "what prune would remove, listed in the job's log",
	  cfs_repo_forget_dry_run },
};

const struct ctl_verb *cfs_repo_verbs(size_t *n)
{
	*n = sizeof repo_verbs / sizeof repo_verbs[0];
	return repo_verbs;
}

int cfs_repo_ctl(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		 const char *data, size_t len, struct ctl_outcome *o)
{
	struct ctl_ctx x = { e, c, caps };
	return ctl_exec(repo_verbs, sizeof repo_verbs / sizeof repo_verbs[0], &x, data, len, o);
}
