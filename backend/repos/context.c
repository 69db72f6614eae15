/* context.c — the repos module's per-engine state and shared helpers: the
 * paths from [repos], the operator password, the owner, the sets of users in
 * flight, and restic runs on a user's repository.
 *
 * The state lives in a small registry keyed by the engine (the engine struct
 * has no slot for it); it is made on first use and freed by cfs_repos_stop.
 * Jobs hold a reference, since a job may finish after the stop. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth/crypto.h"
#include "core/engine_priv.h"
#include "core/jobs.h"
#include "core/log.h"
#include "core/util.h"
#include "repos/repos.h"

struct reg_node {
	struct repos_mgr *m;
	struct reg_node *next;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct reg_node *reg_head;

static void mgr_free(struct repos_mgr *m)
{
	for (size_t i = 0; i < m->nbusy; i++)
		free(m->busy[i]);
	free(m->busy);
	for (size_t i = 0; i < m->nmaint; i++)
		free(m->maint[i]);
	free(m->maint);
	repos_stats_free(m);
	pthread_mutex_destroy(&m->lock);
	pthread_mutex_destroy(&m->state_lock);
	pthread_mutex_destroy(&m->pw_lock);
	pthread_mutex_destroy(&m->sched_lock);
	pthread_cond_destroy(&m->sched_wake);
	free(m);
}

struct repos_mgr *repos_mgr(struct cfs_engine *e)
{
	pthread_mutex_lock(&reg_lock);
	for (struct reg_node *n = reg_head; n; n = n->next) {
		if (n->m->e == e) {
			pthread_mutex_unlock(&reg_lock);
			return n->m;
		}
	}
	struct repos_mgr *m = calloc(1, sizeof *m);
	struct reg_node *n = calloc(1, sizeof *n);
	if (!m || !n) {
		free(m);
		free(n);
		pthread_mutex_unlock(&reg_lock);
		return NULL;
	}
	m->e = e;
	m->refs = 1;   /* the registry's */
	pthread_mutex_init(&m->lock, NULL);
	pthread_mutex_init(&m->state_lock, NULL);
	pthread_mutex_init(&m->pw_lock, NULL);
	pthread_mutex_init(&m->sched_lock, NULL);
	pthread_cond_init(&m->sched_wake, NULL);
	n->m = m;
	n->next = reg_head;
	reg_head = n;
	pthread_mutex_unlock(&reg_lock);
	return m;
}

struct repos_mgr *repos_mgr_ref(struct repos_mgr *m)
{
	pthread_mutex_lock(&reg_lock);
	m->refs++;
	pthread_mutex_unlock(&reg_lock);
	return m;
}

void repos_mgr_unref(struct repos_mgr *m)
{
	if (!m)
		return;
	pthread_mutex_lock(&reg_lock);
	bool last = --m->refs == 0;
	pthread_mutex_unlock(&reg_lock);
	if (last)
		mgr_free(m);
}

/* Password files a crashed mount left behind (restic_run removes its own). */
static void tmp_sweep(struct cfs_engine *e)
{
	char dir[4200];
	snprintf(dir, sizeof dir, "%s/tmp", e->state_dir);
	DIR *d = opendir(dir);
	if (!d)
		return;
	struct dirent *de;
	while ((de = readdir(d)))
		if (strncmp(de->d_name, "restic-pw.", 10) == 0 && unlinkat(dirfd(d), de->d_name, 0) == 0)
			log_info("removed a stale password file %s/%s", dir, de->d_name);
	closedir(d);
}

int cfs_repos_start(struct cfs_engine *e, struct cfs_err *err)
{
	struct repos_mgr *m = repos_mgr(e);
	if (!m)
		return cfs_errf(err, -ENOMEM, "out of memory");
	tmp_sweep(e);
	return repos_sched_start(m, err);
}

void cfs_repos_stop(struct cfs_engine *e)
{
	struct repos_mgr *m = NULL;
	pthread_mutex_lock(&reg_lock);
	for (struct reg_node **pp = &reg_head; *pp; pp = &(*pp)->next) {
		if ((*pp)->m->e == e) {
			struct reg_node *n = *pp;
			m = n->m;
			*pp = n->next;
			free(n);
			break;
		}
	}
	pthread_mutex_unlock(&reg_lock);
	if (!m)
		return;
	repos_sched_stop(m);
	repos_mgr_unref(m);
}

/* ---- paths ---- */

void repos_root_path(struct cfs_engine *e, char *out, size_t len)
{
	if (e->cfg.repos_root && *e->cfg.repos_root)
		snprintf(out, len, "%s", e->cfg.repos_root);
	else
		snprintf(out, len, "%s/repos", e->state_dir);
	size_t n = strlen(out);
	while (n > 1 && out[n - 1] == '/')
		out[--n] = '\0';
}

void repos_repo_path(struct cfs_engine *e, const char *user, char *out, size_t len)
{
	char root[4096];
	repos_root_path(e, root, sizeof root);
	snprintf(out, len, "%s/%s", root, user);
}

void repos_htpasswd_path(struct cfs_engine *e, char *out, size_t len)
{
	if (e->cfg.repos_htpasswd && *e->cfg.repos_htpasswd) {
		snprintf(out, len, "%s", e->cfg.repos_htpasswd);
	} else {
		char root[4096];
		repos_root_path(e, root, sizeof root);
		snprintf(out, len, "%s/.htpasswd", root);
	}
}

int repos_tmp_dir(struct cfs_engine *e, char *out, size_t len, struct cfs_err *err)
{
	snprintf(out, len, "%s/tmp", e->state_dir);
	if (mkdir(out, 0700) && errno != EEXIST)
		return cfs_errf(err, -errno, "cannot make %s: %s", out, strerror(errno));
	return 0;
}

int repos_owner_ids(struct cfs_engine *e, bool *set, uid_t *uid, gid_t *gid, struct cfs_err *err)
{
	*set = false;
	const char *name = e->cfg.repos_owner;
	if (!name || !*name)
		return 0;
	char buf[4096];
	struct passwd pw, *res = NULL;
	int r = getpwnam_r(name, &pw, buf, sizeof buf, &res);
	if (r || !res)
		return cfs_errf(err, r ? -r : -ENOENT, "[repos] owner %s is not a user of this host",
				name);
	*set = true;
	*uid = res->pw_uid;
	*gid = res->pw_gid;
	return 0;
}

int repos_htpw_file(struct cfs_engine *e, struct htpw_file *f, char *path, size_t len,
		    struct cfs_err *err)
{
	bool set;
	uid_t uid;
	gid_t gid;
	int r = repos_owner_ids(e, &set, &uid, &gid, err);
	if (r)
		return r;
	repos_htpasswd_path(e, path, len);
	f->path = path;
	f->new_uid = geteuid();
	/* readable by the REST server through its group, writable by us only */
	f->new_gid = set ? gid : getegid();
	f->new_mode = set ? 0640 : 0600;
	return 0;
}

int repos_root_ensure(struct cfs_engine *e, struct cfs_err *err)
{
	char root[4096];
	repos_root_path(e, root, sizeof root);
	struct stat st;
	if (stat(root, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0
					   : cfs_errf(err, -ENOTDIR, "[repos] root %s is not a directory",
						      root);
	if (mkdir(root, 0700))
		return cfs_errf(err, -errno, "cannot make the repository root %s: %s", root,
				strerror(errno));
	bool set;
	uid_t uid;
	gid_t gid;
	int r = repos_owner_ids(e, &set, &uid, &gid, err);
	if (!r && set && chown(root, uid, gid))
		r = cfs_errf(err, -errno, "cannot give %s to %s: %s", root, e->cfg.repos_owner,
			     strerror(errno));
	if (!r)
		log_info("made the repository root %s", root);
	return r;
}

int repos_fix_owner(struct cfs_engine *e, const char *user, struct cfs_err *err)
{
	bool set;
	uid_t uid;
	gid_t gid;
	int r = repos_owner_ids(e, &set, &uid, &gid, err);
	if (r || !set)
		return r;
	char dir[4200];
	repos_repo_path(e, user, dir, sizeof dir);
	r = disk_chown(dir, uid, gid);
	if (r)
		return cfs_errf(err, r, "cannot give %s to %s: %s", dir, e->cfg.repos_owner,
				strerror(-r));
	return 0;
}

/* ---- the operator password ---- */

static int read_first_line(const char *path, char *out, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	ssize_t n = read(fd, out, len - 1);
	int e = errno;
	close(fd);
	if (n < 0)
		return -e;
	out[n] = '\0';
	out[strcspn(out, "\r\n")] = '\0';
	return out[0] ? 0 : -ENODATA;
}

int repos_operator_password(struct repos_mgr *m, char *out, size_t len, struct cfs_err *err)
{
	struct cfs_engine *e = m->e;
	char path[4200];
	if (e->cfg.repos_operator_password_file && *e->cfg.repos_operator_password_file)
		snprintf(path, sizeof path, "%s", e->cfg.repos_operator_password_file);
	else
		snprintf(path, sizeof path, "%s/operator.password", e->state_dir);
	pthread_mutex_lock(&m->pw_lock);
	int r = read_first_line(path, out, len);
	if (r == -ENOENT) {
		/* first use: a random password, written whole before it appears
		 * under its name (link fails if another process made one) */
		uint8_t raw[32];
		char hex[65], tmp[4300];
		snprintf(tmp, sizeof tmp, "%s.XXXXXX", path);
		int fd = cfs_random(raw, sizeof raw) ? -1 : mkostemp(tmp, O_CLOEXEC);
		if (fd >= 0) {
			cfs_hex(raw, sizeof raw, hex);
			hex[64] = '\n';
			bool ok = write(fd, hex, 65) == 65 && fsync(fd) == 0;
			ok = close(fd) == 0 && ok;
			if (ok && link(tmp, path) == 0)
				log_info("made the operator password file %s", path);
			unlink(tmp);
			cfs_cleanse(hex, sizeof hex);
			cfs_cleanse(raw, sizeof raw);
		}
		r = read_first_line(path, out, len);
	}
	pthread_mutex_unlock(&m->pw_lock);
	if (r == -ENODATA)
		return cfs_errf(err, -EIO, "the operator password file %s is empty", path);
	if (r)
		return cfs_errf(err, r == -ENOENT ? -EIO : r,
				"cannot read or make the operator password file %s: %s", path,
				strerror(-r));
	return 0;
}

/* ---- users in flight ---- */

static int set_take(struct repos_mgr *m, char ***set, size_t *n, const char *user)
{
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < *n; i++) {
		if (strcmp((*set)[i], user) == 0) {
			pthread_mutex_unlock(&m->lock);
			return -EBUSY;
		}
	}
	char **nv = realloc(*set, (*n + 1) * sizeof *nv);
	char *dup = strdup(user);
	if (!nv || !dup) {
		free(dup);
		if (nv)
			*set = nv;
		pthread_mutex_unlock(&m->lock);
		return -ENOMEM;
	}
	*set = nv;
	(*set)[(*n)++] = dup;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static void set_drop(struct repos_mgr *m, char **set, size_t *n, const char *user)
{
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < *n; i++) {
		if (strcmp(set[i], user) == 0) {
			free(set[i]);
			set[i] = set[--*n];
			break;
		}
	}
	pthread_mutex_unlock(&m->lock);
}

int repos_busy_take(struct repos_mgr *m, const char *user)
{
	return set_take(m, &m->busy, &m->nbusy, user);
}

void repos_busy_drop(struct repos_mgr *m, const char *user)
{
	set_drop(m, m->busy, &m->nbusy, user);
}

bool repos_busy(struct repos_mgr *m, const char *user)
{
	bool b = false;
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->nbusy && !b; i++)
		b = strcmp(m->busy[i], user) == 0;
	pthread_mutex_unlock(&m->lock);
	return b;
}

int repos_maint_take(struct repos_mgr *m, const char *user)
{
	return set_take(m, &m->maint, &m->nmaint, user);
}

void repos_maint_drop(struct repos_mgr *m, const char *user)
{
	set_drop(m, m->maint, &m->nmaint, user);
}

/* ---- restic on a user's repository ---- */

struct job_sink {
	struct cfs_job *j;
};

static void sink_line(void *arg, bool is_stderr, const char *line)
{
	struct job_sink *s = arg;
	if (s->j && line[0])
		job_log(s->j, "%s%s", is_stderr ? "restic: " : "", line);
	else if (!s->j && is_stderr && line[0])
		log_debug("restic: %s", line);
}

static bool sink_cancelled(void *arg)
{
	struct job_sink *s = arg;
	return s->j && job_cancelled(s->j);
}

int repos_restic(struct repos_mgr *m, const char *user, const char *const *args,
		 const char *password, const char *new_password, int timeout_s, struct cfs_job *j,
		 struct cfs_buf *out, struct cfs_err *err)
{
	struct cfs_engine *e = m->e;
	char repo[4200], tmp[4200];
	repos_repo_path(e, user, repo, sizeof repo);
	int r = repos_tmp_dir(e, tmp, sizeof tmp, err);
	if (r)
		return r;
	struct job_sink sink = { j };
	struct restic_cmd c = {
		.restic = e->cfg.repos_restic && *e->cfg.repos_restic ? e->cfg.repos_restic : "restic",
		.repo = repo,
		.args = args,
		.password = password,
		.new_password = new_password,
		.tmp_dir = tmp,
		.timeout_s = timeout_s,
		.on_line = sink_line,
		.arg = &sink,
		.cancelled = sink_cancelled,
		.out = out,
	};
	return restic_run(&c, err);
}

const char *repos_policy_of(struct cfs_engine *e, const struct repo_rec *r)
{
	if (r && r->retention[0])
		return r->retention;
	return e->cfg.repos_retention && *e->cfg.repos_retention
		       ? e->cfg.repos_retention
		       : "keep-last=20 keep-daily=7 keep-weekly=4 keep-monthly=6";
}
