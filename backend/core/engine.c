/* engine.c — opening the state dir, starting and stopping the engine. */
#include "core/engine_priv.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/events.h"
#include "core/jobs.h"
#include "core/log.h"
#include "core/util.h"
#include "instances/instances.h"
#include "state/db.h"
#include "wire/wire.h"

#define EVENT_RING 4096

struct cfs_events *cfs_engine_events(struct cfs_engine *e) { return e ? e->events : NULL; }
const char *cfs_engine_state_dir(const struct cfs_engine *e) { return e->state_dir; }

/* DESIGN.md section 1 and 7: root → /var/lib/cloudfs; others →
 * $XDG_STATE_HOME/cloudfs or ~/.local/state/cloudfs. */
static char *default_state_dir(void)
{
	char *p = NULL;
	if (geteuid() == 0)
		return strdup("/var/lib/cloudfs");
	const char *xdg = getenv("XDG_STATE_HOME");
	if (xdg && *xdg) {
		if (asprintf(&p, "%s/cloudfs", xdg) < 0)
			return NULL;
		return p;
	}
	const char *home = getenv("HOME");
	if (!home || !*home) {
		struct passwd *pw = getpwuid(geteuid());
		home = pw ? pw->pw_dir : "/";
	}
	if (asprintf(&p, "%s/.local/state/cloudfs", home) < 0)
		return NULL;
	return p;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char tmp[4096];
	if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp)
		return -ENAMETOOLONG;
	for (char *p = tmp + 1; *p; p++) {
		if (*p == '/') {
			*p = '\0';
			if (mkdir(tmp, 0755) && errno != EEXIST)
				return -errno;
			*p = '/';
		}
	}
	if (mkdir(tmp, mode) && errno != EEXIST)
		return -errno;
	return 0;
}

/* One engine per state dir: an flock on STATE/lock, holding our pid. */
static int take_lock(struct cfs_engine *e, struct cfs_err *err)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/lock", e->state_dir);
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return cfs_errf(err, -errno, "cannot open %s: %s", path, strerror(errno));
	if (flock(fd, LOCK_EX | LOCK_NB)) {
		char pid[32] = "";
		ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
		if (n > 0)
			pid[n] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		close(fd);
		return cfs_errf(err, -EBUSY,
				"state dir %s is in use by another cloudfs (pid %s); unmount it first "
				"or pass -o state=DIR",
				e->state_dir, pid[0] ? pid : "unknown");
	}
	e->lock_fd = fd;
	return 0;
}

/* Rewrites the pid in the lock file (after a daemonizing fork the pid changed). */
static void write_lock_pid(struct cfs_engine *e)
{
	char pid[32];
	int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
	if (ftruncate(e->lock_fd, 0) == 0 && pwrite(e->lock_fd, pid, (size_t)n, 0) != n)
		log_warn("cannot record pid in the state lock");
}

/* The master key: 32 random bytes, 0600, made on first mount. */
static int load_master_key(struct cfs_engine *e, struct cfs_err *err)
{
	char path[4200];
	snprintf(path, sizeof path, "%s/master.key", e->state_dir);
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT) {
		uint8_t key[CFS_KEY_LEN];
		if (cfs_random(key, sizeof key))
			return cfs_errf(err, -EIO, "cannot get random bytes for the master key");
		char tmp[4300];
		snprintf(tmp, sizeof tmp, "%s.tmp", path);
		int w = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
		if (w < 0)
			return cfs_errf(err, -errno, "cannot create %s: %s", tmp, strerror(errno));
		if (write(w, key, sizeof key) != (ssize_t)sizeof key || fsync(w) || close(w) ||
		    rename(tmp, path)) {
			int e2 = errno;
			unlink(tmp);
			return cfs_errf(err, -e2, "cannot write %s: %s", path, strerror(e2));
		}
		memcpy(e->master, key, sizeof key);
		cfs_cleanse(key, sizeof key);
		log_info("created master key %s", path);
		return 0;
	}
	if (fd < 0)
		return cfs_errf(err, -errno, "cannot open %s: %s", path, strerror(errno));
	struct stat st;
	if (fstat(fd, &st) || st.st_size != CFS_KEY_LEN) {
		close(fd);
		return cfs_errf(err, -EINVAL, "%s is not a %d-byte key", path, CFS_KEY_LEN);
	}
	if (st.st_mode & 077)
		log_warn("%s is readable by others (mode %03o); it should be 0600", path,
			 (unsigned)(st.st_mode & 0777));
	ssize_t n = read(fd, e->master, CFS_KEY_LEN);
	close(fd);
	if (n != CFS_KEY_LEN)
		return cfs_errf(err, -EIO, "cannot read %s", path);
	return 0;
}

static int load_env_id(struct cfs_engine *e, struct cfs_err *err)
{
	if (db_meta_get(e->db, "env_id", e->env_id, sizeof e->env_id) == 0 && e->env_id[0])
		return 0;
	if (cfs_uuid(e->env_id))
		return cfs_errf(err, -EIO, "cannot mint an env_id");
	int r = db_meta_set(e->db, "env_id", e->env_id);
	if (r)
		return cfs_errf(err, r, "cannot store env_id");
	log_info("minted env_id %s", e->env_id);
	return 0;
}

int cfs_engine_open(const struct cfs_engine_opts *o, struct cfs_engine **out, struct cfs_err *err)
{
	struct cfs_engine *e = calloc(1, sizeof *e);
	int r;
	if (!e)
		return cfs_errf(err, -ENOMEM, "out of memory");
	e->lock_fd = -1;
	e->state_dir = o->state_dir ? strdup(o->state_dir) : default_state_dir();
	if (!e->state_dir) {
		r = cfs_errf(err, -ENOMEM, "out of memory");
		goto fail;
	}
	if (o->config_path)
		e->config_path = strdup(o->config_path);
	else if (asprintf(&e->config_path, "%s/cloudfs.conf", e->state_dir) < 0)
		e->config_path = NULL;
	if (!e->config_path) {
		r = cfs_errf(err, -ENOMEM, "out of memory");
		goto fail;
	}
	r = mkdir_p(e->state_dir, 0700);
	if (r) {
		cfs_errf(err, r, "cannot create state dir %s: %s", e->state_dir, strerror(-r));
		goto fail;
	}
	r = take_lock(e, err);
	if (r)
		goto fail;
	r = cfs_config_load(e->config_path, o->overrides, o->n_overrides, &e->cfg, err);
	if (r)
		goto fail;
	r = load_master_key(e, err);
	if (r)
		goto fail;
	char dbpath[4200];
	snprintf(dbpath, sizeof dbpath, "%s/state.db", e->state_dir);
	r = db_open(dbpath, &e->db, err);
	if (r)
		goto fail;
	r = load_env_id(e, err);
	if (r)
		goto fail;
	e->events = events_new(EVENT_RING, instance_may_read, e);
	e->errors = errlog_new();
	e->inst = inst_runtime_new();
	e->readers = repos_readers_new();
	e->wc = wire_client_new();
	e->files = files_trees_new();
	e->jobs = jobs_new(e, e->db, e->cfg.jobs_workers, e->cfg.jobs_keep_s);
	if (!e->events || !e->errors || !e->inst || !e->readers || !e->wc || !e->files || !e->jobs) {
		r = cfs_errf(err, -ENOMEM, "out of memory");
		goto fail;
	}
	*out = e;
	return 0;
fail:
	cfs_engine_close(e);
	return r;
}

int cfs_engine_start(struct cfs_engine *e, struct cfs_err *err)
{
	write_lock_pid(e);
	e->started_ms = cfs_now_ms();
	int r = jobs_start(e->jobs);
	if (r)
		return cfs_errf(err, r, "cannot start job workers");
	r = poller_start(e);
	if (r)
		return cfs_errf(err, r, "cannot start the poller");
	if ((r = cfs_repos_start(e, err)))
		return r;
	if ((r = cfs_mirrors_start(e, err)))
		return r;
	e->running = true;
	log_info("engine started: state %s, env_id %s", e->state_dir, e->env_id);
	return 0;
}

void cfs_engine_close(struct cfs_engine *e)
{
	if (!e)
		return;
	poller_stop(e);
	cfs_repos_stop(e);   /* before the jobs: its scheduler submits them */
	cfs_mirrors_stop(e); /* the same */
	jobs_free(e->jobs);
	wire_client_free(e->wc);
	files_trees_free(e->files);
	inst_runtime_free(e->inst);
	repos_readers_free(e->readers);
	errlog_free(e->errors);
	events_free(e->events);
	db_close(e->db);
	cfs_config_free(&e->cfg);
	cfs_cleanse(e->master, sizeof e->master);
	if (e->lock_fd >= 0)
		close(e->lock_fd);
	free(e->state_dir);
	free(e->config_path);
	free(e);
}

int cfs_caller_init(struct cfs_engine *e, uid_t uid, gid_t gid, pid_t pid, struct cfs_caller *c)
{
	memset(c, 0, sizeof *c);
	c->pid = pid;
	return cfs_user_resolve(&e->cfg, uid, gid, &c->user);
}

int engine_run_job_cmd(struct cfs_engine *e, const struct cfs_caller *c, const struct ctl_args *a,
		       struct ctl_outcome *o, struct cfs_err *err, long long job)
{
	ctl_ok_job(o, job);
	const char *w = ctl_opt(a, "wait");
	if (w && strcmp(w, "no") == 0)
		return 0;
	return jobs_wait(e->jobs, job, c->interrupted, err);
}
