/* mirrors.c — /mirrors: the ctl verbs, persistent mirrors (table mirrors,
 * journal kind "mirror"), their status, plan and config files, and the
 * scheduler that keeps them in step.
 *
 * Status files are served from memory (the last check), never from the
 * network.  The scheduler checks every enabled mirror (a listing of both
 * sides, hashes from the agents' caches) and syncs it when it is behind:
 * a pull mirror every `interval`, a push mirror as soon as its source's
 * agent reports a change (watch.c), with a check at least once a minute.
 * A push mirror whose agent cannot watch is checked every PUSH_CHECK_S. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth/permit.h"
#include "core/engine_priv.h"
#include "core/events.h"
#include "core/jobs.h"
#include "core/log.h"
#include "core/util.h"
#include "mirrors/mirrors.h"
#include "state/db.h"
#include "state/journal.h"

#define PUSH_CHECK_S 5
#define DEFAULT_INTERVAL_S 300

struct mirror {
	char uuid[37];
	char name[65];
	struct msync_opts o;
	char mode[8];              /* push | pull */
	int64_t interval_s;
	bool enabled;
	char owner[64];
	uid_t owner_uid;
	int64_t created;
};

/* What is known of a mirror in memory (lost at unmount: a fresh mount
 * checks again). */
struct mrt {
	char name[65];
	char status[16];           /* in-sync | needs-sync | stale | syncing | error */
	char error[256];
	int64_t last_check_ms, last_sync_ms;
	int64_t since_ms;          /* when we started watching it: a pull mirror's first
	                              sync is one interval after this */
	bool busy;                 /* a check or sync is running */
	bool kicked;               /* a write through files/: check and sync at once */
	long long job;
	struct cfs_buf plan, plan_json;
	uint64_t moves;
	struct mrt *next;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct cfs_engine *e;
	struct mrt *rt;
	pthread_t thread;
	bool running, stop;
} M = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

/* With M.lock held. */
static struct mrt *rt_get(const char *name, bool create)
{
	for (struct mrt *r = M.rt; r; r = r->next)
		if (!strcmp(r->name, name))
			return r;
	if (!create)
		return NULL;
	struct mrt *r = calloc(1, sizeof *r);
	if (!r)
		return NULL;
	snprintf(r->name, sizeof r->name, "%s", name);
	snprintf(r->status, sizeof r->status, "stale");
	r->since_ms = cfs_now_ms();
	r->next = M.rt;
	M.rt = r;
	return r;
}

static void rt_drop(const char *name)
{
	pthread_mutex_lock(&M.lock);
	for (struct mrt **pp = &M.rt; *pp; pp = &(*pp)->next)
		if (!strcmp((*pp)->name, name)) {
			struct mrt *r = *pp;
			*pp = r->next;
			cfs_buf_free(&r->plan);
			cfs_buf_free(&r->plan_json);
			free(r);
			break;
		}
	pthread_mutex_unlock(&M.lock);
}

static void set_status(struct cfs_engine *e, const struct mirror *m, const char *status,
		       const char *error)
{
	bool changed;
	pthread_mutex_lock(&M.lock);
	struct mrt *r = rt_get(m->name, true);
	changed = r && strcmp(r->status, status) != 0;
	if (r) {
		snprintf(r->status, sizeof r->status, "%s", status);
		snprintf(r->error, sizeof r->error, "%s", error ? error : "");
	}
	pthread_mutex_unlock(&M.lock);
	if (changed)
		cfs_event_emitf(e, "mirror.status", m->name, m->o.src, m->owner, NULL,
				"\"status\":\"%s\"", status);
}

/* ---- the table ---- */

#define COLS "uuid, name, src, src_path, dst, dst_path, mode, interval_s, excludes, " \
	     "delete_extra, eol, enabled, owner, owner_uid, created"

static void row(sqlite3_stmt *st, struct mirror *m)
{
	memset(m, 0, sizeof *m);
	snprintf(m->uuid, sizeof m->uuid, "%s", sqlite3_column_text(st, 0));
	snprintf(m->name, sizeof m->name, "%s", sqlite3_column_text(st, 1));
	snprintf(m->o.src, sizeof m->o.src, "%s", sqlite3_column_text(st, 2));
	snprintf(m->o.src_path, sizeof m->o.src_path, "%s", sqlite3_column_text(st, 3));
	snprintf(m->o.dst, sizeof m->o.dst, "%s", sqlite3_column_text(st, 4));
	snprintf(m->o.dst_path, sizeof m->o.dst_path, "%s", sqlite3_column_text(st, 5));
	snprintf(m->mode, sizeof m->mode, "%s", sqlite3_column_text(st, 6));
	m->interval_s = sqlite3_column_int64(st, 7);
	snprintf(m->o.excludes, sizeof m->o.excludes, "%s", sqlite3_column_text(st, 8));
	m->o.delete_extra = sqlite3_column_int(st, 9) != 0;
	m->o.eol = sqlite3_column_int(st, 10) != 0;
	m->enabled = sqlite3_column_int(st, 11) != 0;
	snprintf(m->owner, sizeof m->owner, "%s", sqlite3_column_text(st, 12));
	m->owner_uid = (uid_t)sqlite3_column_int64(st, 13);
	m->created = sqlite3_column_int64(st, 14);
}

static int mirror_load(struct cfs_engine *e, const char *name, struct mirror *m)
{
	sqlite3_stmt *st;
	db_lock(e->db);
	int r = db_prepare(e->db, "SELECT " COLS " FROM mirrors WHERE name = ?", &st);
	if (!r) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			row(st, m);
		else
			r = rc == SQLITE_DONE ? -ENOENT : db_errno(rc);
		sqlite3_reset(st);
	}
	db_unlock(e->db);
	return r;
}

/* All mirrors (caller frees *out). */
static int mirror_all(struct cfs_engine *e, struct mirror **out, size_t *n)
{
	sqlite3_stmt *st;
	struct mirror *v = NULL;
	size_t cnt = 0;
	db_lock(e->db);
	int r = db_prepare(e->db, "SELECT " COLS " FROM mirrors ORDER BY name", &st);
	while (!r) {
		int rc = sqlite3_step(st);
		if (rc != SQLITE_ROW) {
			r = rc == SQLITE_DONE ? 0 : db_errno(rc);
			break;
		}
		struct mirror *nv = realloc(v, (cnt + 1) * sizeof *v);
		if (!nv) {
			r = -ENOMEM;
			break;
		}
		v = nv;
		row(st, &v[cnt++]);
	}
	if (st)
		sqlite3_reset(st);
	db_unlock(e->db);
	if (r) {
		free(v);
		return r;
	}
	*out = v;
	*n = cnt;
	return 0;
}

static int mirror_json(const struct mirror *m, struct cfs_buf *out)
{
	cJSON *j = cJSON_CreateObject();
	if (!j)
		return -ENOMEM;
	cJSON_AddStringToObject(j, "name", m->name);
	cJSON_AddStringToObject(j, "src", m->o.src);
	cJSON_AddStringToObject(j, "src_path", m->o.src_path);
	cJSON_AddStringToObject(j, "dst", m->o.dst);
	cJSON_AddStringToObject(j, "dst_path", m->o.dst_path);
	cJSON_AddStringToObject(j, "mode", m->mode);
	cJSON_AddNumberToObject(j, "interval", (double)m->interval_s);
	cJSON_AddStringToObject(j, "exclude", m->o.excludes);
	cJSON_AddBoolToObject(j, "delete", m->o.delete_extra);
	cJSON_AddBoolToObject(j, "eol_normalize", m->o.eol);
	cJSON_AddBoolToObject(j, "enabled", m->enabled);
	cJSON_AddStringToObject(j, "owner", m->owner);
	char *s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	int r = s ? cfs_buf_puts(out, s) : -ENOMEM;
	free(s);
	return r;
}

/* op: create | update | delete, with its journal op, in one transaction. */
static int mirror_store(struct cfs_engine *e, const struct mirror *m, const char *op)
{
	struct cfs_buf payload = CFS_BUF_INIT;
	int r = mirror_json(m, &payload);
	if (r)
		return r;
	sqlite3_stmt *st;
	db_lock(e->db);
	r = db_begin(e->db);
	if (!r) {
		if (!strcmp(op, "create")) {
			r = db_prepare(e->db, "INSERT INTO mirrors (" COLS ") VALUES "
					      "(?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", &st);
			if (!r) {
				sqlite3_bind_text(st, 1, m->uuid, -1, SQLITE_STATIC);
				sqlite3_bind_text(st, 2, m->name, -1, SQLITE_STATIC);
				sqlite3_bind_text(st, 3, m->o.src, -1, SQLITE_STATIC);
				sqlite3_bind_text(st, 4, m->o.src_path, -1, SQLITE_STATIC);
				sqlite3_bind_text(st, 5, m->o.dst, -1, SQLITE_STATIC);
				sqlite3_bind_text(st, 6, m->o.dst_path, -1, SQLITE_STATIC);
				sqlite3_bind_text(st, 7, m->mode, -1, SQLITE_STATIC);
				sqlite3_bind_int64(st, 8, m->interval_s);
				sqlite3_bind_text(st, 9, m->o.excludes, -1, SQLITE_STATIC);
				sqlite3_bind_int(st, 10, m->o.delete_extra);
				sqlite3_bind_int(st, 11, m->o.eol);
				sqlite3_bind_int(st, 12, m->enabled);
				sqlite3_bind_text(st, 13, m->owner, -1, SQLITE_STATIC);
				sqlite3_bind_int64(st, 14, m->owner_uid);
				sqlite3_bind_int64(st, 15, m->created);
			}
		} else if (!strcmp(op, "update")) {
			r = db_prepare(e->db, "UPDATE mirrors SET enabled = ? WHERE uuid = ?", &st);
			if (!r) {
				sqlite3_bind_int(st, 1, m->enabled);
				sqlite3_bind_text(st, 2, m->uuid, -1, SQLITE_STATIC);
			}
		} else {
			r = db_prepare(e->db, "DELETE FROM mirrors WHERE uuid = ?", &st);
			if (!r)
				sqlite3_bind_text(st, 1, m->uuid, -1, SQLITE_STATIC);
		}
		if (!r) {
			r = db_errno(sqlite3_step(st));
			sqlite3_reset(st);
		}
		r = journal_commit(e->db, r, m->uuid, "mirror", op, e->env_id, payload.data);
	}
	db_unlock(e->db);
	cfs_buf_free(&payload);
	return r;
}

/* ---- permissions ---- */

/* CFS_ACT_SYNC on both instances: -ENOENT for one the user cannot see. */
static int may_sync(struct cfs_engine *e, const struct cfs_user *u, const char *src,
		    const char *dst, struct cfs_err *err)
{
	const char *names[2] = { src, dst };
	for (int i = 0; i < 2; i++) {
		unsigned mask = instance_permitted(e, u, names[i]);
		if (!mask)
			return cfs_errf(err, -ENOENT, "no instance named %s", names[i]);
		if (!(mask & CFS_ACT_SYNC))
			return cfs_errf(err, -EACCES, "%s: you may not sync with this instance", names[i]);
	}
	return 0;
}

static bool may_see(struct cfs_engine *e, const struct cfs_user *u, const struct mirror *m)
{
	if (u->superadmin || !strcmp(u->name, m->owner))
		return true;
	return (instance_permitted(e, u, m->o.src) & CFS_ACT_SYNC) &&
	       (instance_permitted(e, u, m->o.dst) & CFS_ACT_SYNC);
}

/* ---- jobs ---- */

struct sync_arg {
	struct msync_opts o;
	char name[65];             /* "" for a one-time sync */
	bool check_only;
};

static void plan_store(const char *name, const struct mplan *p, const struct msync_opts *o)
{
	uint64_t moves = p->count[MC_NEW] + p->count[MC_CHANGED] + p->count[MC_DEST_NEWER] +
			 (o->delete_extra ? p->count[MC_EXTRA] : 0);
	pthread_mutex_lock(&M.lock);
	struct mrt *r = rt_get(name, true);
	if (r) {
		cfs_buf_reset(&r->plan);
		cfs_buf_reset(&r->plan_json);
		mplan_render(p, true, &r->plan);
		mplan_render_json(p, &r->plan_json);
		r->moves = moves;
		r->last_check_ms = cfs_now_ms();
	}
	pthread_mutex_unlock(&M.lock);
}

/* List both sides and remember the plan; *moves gets what a sync would do. */
static int check(struct cfs_engine *e, const struct mirror *m, uint64_t *moves,
		 struct cfs_err *err)
{
	struct mlist s, d;
	struct mplan p;
	int r = msync_plan(e, &m->o, &s, &d, &p, err);
	if (r)
		return r;
	plan_store(m->name, &p, &m->o);
	*moves = p.count[MC_NEW] + p.count[MC_CHANGED] + p.count[MC_DEST_NEWER] +
		 (m->o.delete_extra ? p.count[MC_EXTRA] : 0);
	mplan_free(&p);
	mlist_free(&s);
	mlist_free(&d);
	return 0;
}

static void set_busy(const char *name, bool busy, long long job)
{
	pthread_mutex_lock(&M.lock);
	struct mrt *r = rt_get(name, true);
	if (r) {
		r->busy = busy;
		r->job = job;
		if (!busy)
			pthread_cond_broadcast(&M.cond);
	}
	pthread_mutex_unlock(&M.lock);
}

static int sync_job(struct cfs_job *j, void *arg)
{
	struct sync_arg *sa = arg;
	struct cfs_engine *e = job_engine(j);
	struct cfs_err err = { 0 };
	struct mirror m;
	bool named = sa->name[0] != '\0';
	int r = 0;
	if (named) {
		if ((r = mirror_load(e, sa->name, &m)))
			return job_fail(j, r, "mirror %s is gone", sa->name);
		bool force = sa->o.force;
		sa->o = m.o;
		sa->o.force = force;
		if (!sa->check_only)
			set_status(e, &m, "syncing", NULL);
	}
	if (sa->check_only) {
		uint64_t moves = 0;
		r = check(e, &m, &moves, &err);
		if (!r) {
			job_log(j, "%" PRIu64 " paths to sync", moves);
			set_status(e, &m, moves ? "needs-sync" : "in-sync", NULL);
		}
	} else {
		struct msync_stats st;
		r = msync_run(e, j, &sa->o, &st, &err);
		if (named && !r) {
			uint64_t moves = 0;
			pthread_mutex_lock(&M.lock);
			struct mrt *rt = rt_get(m.name, true);
			if (rt)
				rt->last_sync_ms = cfs_now_ms();
			pthread_mutex_unlock(&M.lock);
			/* what the destination looks like now */
			if (!check(e, &m, &moves, &err))
				set_status(e, &m, moves ? "needs-sync" : "in-sync", NULL);
		}
	}
	if (named) {
		if (r)
			set_status(e, &m, "error", err.msg);
		set_busy(sa->name, false, 0);
	}
	if (r)
		return job_fail(j, r, "%s", err.msg);
	return 0;
}

static void sync_arg_free(void *p)
{
	free(p);
}

/* Queue a check or sync of a named mirror as its owner's job: -EBUSY when
 * one is in flight. */
static int submit_named(struct cfs_engine *e, const struct mirror *m, const char *owner,
			uid_t uid, bool check_only, bool force, long long *id, struct cfs_err *err)
{
	pthread_mutex_lock(&M.lock);
	struct mrt *r = rt_get(m->name, true);
	/* the scheduler's own check (no job) is short: wait for it rather
	 * than refuse the caller */
	for (int i = 0; i < 60 && r && r->busy && !r->job; i++) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&M.cond, &M.lock, &ts);
		r = rt_get(m->name, true);
	}
	bool busy = r && r->busy;
	if (r && !busy)
		r->busy = true;
	pthread_mutex_unlock(&M.lock);
	if (!r)
		return cfs_errf(err, -ENOMEM, "out of memory");
	if (busy)
		return cfs_errf(err, -EBUSY, "mirror %s: a check or sync is already running", m->name);
	struct sync_arg *sa = calloc(1, sizeof *sa);
	if (!sa) {
		set_busy(m->name, false, 0);
		return cfs_errf(err, -ENOMEM, "out of memory");
	}
	snprintf(sa->name, sizeof sa->name, "%s", m->name);
	sa->o = m->o;
	sa->o.force = force;
	sa->check_only = check_only;
	char cmd[200];
	snprintf(cmd, sizeof cmd, "mirror %s %s", m->name, check_only ? "check" : "sync");
	int rc = jobs_submit(e->jobs, owner, uid, cmd, sync_job, sa, sync_arg_free, id);
	if (rc) {
		set_busy(m->name, false, 0);
		return cfs_errf(err, rc, "cannot queue the job");
	}
	set_busy(m->name, true, *id);
	return 0;
}

/* ---- option parsing shared by add and sync ---- */

static int parse_common(const struct ctl_args *a, int first, struct msync_opts *o,
			struct cfs_err *err)
{
	memset(o, 0, sizeof *o);
	int r;
	if ((r = mirror_parse_loc(a->pos[first], o->src, o->src_path, sizeof o->src_path, err)) ||
	    (r = mirror_parse_loc(a->pos[first + 1], o->dst, o->dst_path, sizeof o->dst_path, err)))
		return r;
	const char *ex = ctl_opt(a, "exclude"), *del = ctl_opt(a, "delete"), *eol = ctl_opt(a, "eol");
	const char *force = ctl_opt(a, "force");
	if (ex) {
		struct mglob_set *s;
		if (strlen(ex) >= sizeof o->excludes)
			return cfs_errf(err, -EINVAL, "exclude: too long");
		if ((r = mglob_set_parse(ex, &s, err)))
			return r;
		mglob_set_free(s);
		snprintf(o->excludes, sizeof o->excludes, "%s", ex);
	}
	if (del && strcmp(del, "yes"))
		return cfs_errf(err, -EINVAL, "delete takes yes (leave it out for no)");
	if (eol && strcmp(eol, "normalize"))
		return cfs_errf(err, -EINVAL, "eol takes normalize");
	if (force && strcmp(force, "yes"))
		return cfs_errf(err, -EINVAL, "force takes yes");
	o->delete_extra = del != NULL;
	o->eol = eol != NULL;
	o->force = force != NULL;
	if (!strcmp(o->src, o->dst)) {
		size_t ls = strlen(o->src_path), ld = strlen(o->dst_path);
		bool nested = !ls || !ld || !strcmp(o->src_path, o->dst_path) ||
			      (ls < ld && !strncmp(o->src_path, o->dst_path, ls) && o->dst_path[ls] == '/') ||
			      (ld < ls && !strncmp(o->src_path, o->dst_path, ld) && o->src_path[ld] == '/');
		if (nested)
			return cfs_errf(err, -EINVAL, "source and destination overlap");
	}
	return 0;
}

/* ---- /mirrors/ctl ---- */

static int v_add(void *ctx, const struct ctl_args *a, struct ctl_outcome *o, struct cfs_err *err)
{
	struct ctl_ctx *x = ctx;
	struct mirror m = { 0 };
	const char *name = a->pos[0];
	if (!cfs_name_valid(name) || strlen(name) >= sizeof m.name)
		return cfs_errf(err, -EINVAL, "add: NAME must be letters, digits, '-', '_' or '.'");
	snprintf(m.name, sizeof m.name, "%s", name);
	int r = parse_common(a, 1, &m.o, err);
	if (r)
		return r;
	if (m.o.force)
		return cfs_errf(err, -EINVAL, "add: force= is for a single sync");
	const char *mode = ctl_opt(a, "mode"), *iv = ctl_opt(a, "interval");
	snprintf(m.mode, sizeof m.mode, "%s", mode ? mode : "push");
	if (strcmp(m.mode, "push") && strcmp(m.mode, "pull"))
		return cfs_errf(err, -EINVAL, "mode takes push or pull");
	m.interval_s = DEFAULT_INTERVAL_S;
	if (iv && (cfs_duration_parse(iv, &m.interval_s) || m.interval_s < 1))
		return cfs_errf(err, -EINVAL, "interval must be a duration like 30s, 5m, 12h, 7d");
	if ((r = may_sync(x->e, &x->c->user, m.o.src, m.o.dst, err)))
		return r;
	struct mirror old;
	if (!mirror_load(x->e, name, &old))
		return cfs_errf(err, -EEXIST, "a mirror named %s exists", name);
	cfs_uuid(m.uuid);
	m.enabled = true;
	snprintf(m.owner, sizeof m.owner, "%s", x->c->user.name);
	m.owner_uid = x->c->user.uid;
	m.created = cfs_now_ms() / 1000;
	if ((r = mirror_store(x->e, &m, "create")))
		return cfs_errf(err, r, r == -EEXIST ? "a mirror named %s exists" : "cannot store %s",
				name);
	set_status(x->e, &m, "stale", NULL);
	cfs_event_emitf(x->e, "mirror.created", m.name, m.o.src, m.owner, NULL, NULL);
	pthread_cond_broadcast(&M.cond);
	return ctl_ok(o, "name", "%s", m.name);
}

static int remove_mirror(struct ctl_ctx *x, const char *name, struct cfs_err *err)
{
	struct mirror m;
	if (mirror_load(x->e, name, &m) || !may_see(x->e, &x->c->user, &m))
		return cfs_errf(err, -ENOENT, "no mirror named %s", name);
	if (!x->c->user.superadmin && strcmp(x->c->user.name, m.owner))
		return cfs_errf(err, -EACCES, "only %s (its owner) may remove %s", m.owner, name);
	int r = mirror_store(x->e, &m, "delete");
	if (r)
		return cfs_errf(err, r, "cannot remove %s", name);
	rt_drop(name);
	cfs_event_emitf(x->e, "mirror.removed", m.name, m.o.src, m.owner, NULL, NULL);
	return 0;
}

static int v_remove(void *ctx, const struct ctl_args *a, struct ctl_outcome *o, struct cfs_err *err)
{
	(void)o;
	return remove_mirror(ctx, a->pos[0], err);
}

static int v_sync(void *ctx, const struct ctl_args *a, struct ctl_outcome *o, struct cfs_err *err)
{
	struct ctl_ctx *x = ctx;
	struct sync_arg *sa = calloc(1, sizeof *sa);
	if (!sa)
		return cfs_errf(err, -ENOMEM, "out of memory");
	int r = parse_common(a, 0, &sa->o, err);
	if (!r)
		r = engine_wait_opt(a, err);
	if (!r)
		r = may_sync(x->e, &x->c->user, sa->o.src, sa->o.dst, err);
	if (r) {
		free(sa);
		return r;
	}
	char cmd[256];
	snprintf(cmd, sizeof cmd, "sync %s:%.80s %s:%.80s", sa->o.src, sa->o.src_path, sa->o.dst,
		 sa->o.dst_path);
	long long id;
	if ((r = jobs_submit(x->e->jobs, x->c->user.name, x->c->user.uid, cmd, sync_job, sa,
			     sync_arg_free, &id)))
		return cfs_errf(err, r, "sync: cannot queue the job");
	return engine_run_job_cmd(x->e, x->c, a, o, err, id);
}

static const struct ctl_verb mirrors_verbs[] = {
	{ "add NAME SRC:PATH DST:PATH [mode=push|pull] [interval=DUR] [exclude=GLOB[,GLOB…]] "
	  "[delete=yes] [eol=normalize]", "keep DST in step with SRC", v_add },
	{ "remove NAME", "forget a mirror (the files stay)", v_remove },
	{ "sync SRC:PATH DST:PATH [exclude=GLOB[,GLOB…]] [delete=yes] [force=yes] [eol=normalize] "
	  "[wait=no]", "one-time sync as a job, no mirror kept", v_sync },
};

const struct ctl_verb *cfs_mirrors_verbs(size_t *n)
{
	*n = sizeof mirrors_verbs / sizeof mirrors_verbs[0];
	return mirrors_verbs;
}

int cfs_mirrors_ctl(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		    const char *data, size_t len, struct ctl_outcome *o)
{
	struct ctl_ctx x = { .e = e, .c = c, .caps = caps };
	return ctl_exec(mirrors_verbs, sizeof mirrors_verbs / sizeof mirrors_verbs[0], &x, data, len, o);
}

/* ---- /mirrors/NAME/ctl ---- */

static int visible(struct ctl_ctx *x, struct mirror *m, struct cfs_err *err)
{
	if (mirror_load(x->e, x->caps[0], m) || !may_see(x->e, &x->c->user, m))
		return cfs_errf(err, -ENOENT, "no mirror named %s", x->caps[0]);
	return 0;
}

static int v_check_or_sync(struct ctl_ctx *x, const struct ctl_args *a, struct ctl_outcome *o,
			   bool check_only, struct cfs_err *err)
{
	struct mirror m;
	int r = visible(x, &m, err);
	const char *force = ctl_opt(a, "force");
	if (!r && force && strcmp(force, "yes"))
		r = cfs_errf(err, -EINVAL, "force takes yes");
	if (!r)
		r = engine_wait_opt(a, err);
	if (!r)
		r = may_sync(x->e, &x->c->user, m.o.src, m.o.dst, err);
	long long id;
	if (!r)
		r = submit_named(x->e, &m, x->c->user.name, x->c->user.uid, check_only, force != NULL,
				 &id, err);
	if (r)
		return r;
	return engine_run_job_cmd(x->e, x->c, a, o, err, id);
}

static int v_check(void *ctx, const struct ctl_args *a, struct ctl_outcome *o, struct cfs_err *err)
{
	return v_check_or_sync(ctx, a, o, true, err);
}

static int v_msync(void *ctx, const struct ctl_args *a, struct ctl_outcome *o, struct cfs_err *err)
{
	return v_check_or_sync(ctx, a, o, false, err);
}

static int set_enabled(void *ctx, bool on, struct cfs_err *err)
{
	struct ctl_ctx *x = ctx;
	struct mirror m;
	int r = visible(x, &m, err);
	if (!r)
		r = may_sync(x->e, &x->c->user, m.o.src, m.o.dst, err);
	if (r || m.enabled == on)
		return r;
	m.enabled = on;
	if ((r = mirror_store(x->e, &m, "update")))
		return cfs_errf(err, r, "cannot store %s", m.name);
	cfs_event_emitf(x->e, on ? "mirror.enabled" : "mirror.disabled", m.name, m.o.src, m.owner,
			NULL, NULL);
	pthread_cond_broadcast(&M.cond);
	return 0;
}

static int v_enable(void *ctx, const struct ctl_args *a, struct ctl_outcome *o, struct cfs_err *err)
{
	(void)a, (void)o;
	return set_enabled(ctx, true, err);
}

static int v_disable(void *ctx, const struct ctl_args *a, struct ctl_outcome *o, struct cfs_err *err)
{
	(void)a, (void)o;
	return set_enabled(ctx, false, err);
}

static int v_mremove(void *ctx, const struct ctl_args *a, struct ctl_outcome *o, struct cfs_err *err)
{
	(void)a, (void)o;
	struct ctl_ctx *x = ctx;
	return remove_mirror(x, x->caps[0], err);
}

static const struct ctl_verb mirror_verbs[] = {
	{ "check [wait=no]", "list both sides and recompute status and plan", v_check },
	{ "sync [force=yes] [wait=no]", "sync now, as a job", v_msync },
	{ "enable", "resume keeping the destination in step", v_enable },
	{ "disable", "stop syncing (status stays readable)", v_disable },
	{ "remove", "forget this mirror (the files stay)", v_mremove },
};

const struct ctl_verb *cfs_mirror_verbs(size_t *n)
{
	*n = sizeof mirror_verbs / sizeof mirror_verbs[0];
	return mirror_verbs;
}

int cfs_mirror_ctl(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		   const char *data, size_t len, struct ctl_outcome *o)
{
	struct ctl_ctx x = { .e = e, .c = c, .caps = caps };
	return ctl_exec(mirror_verbs, sizeof mirror_verbs / sizeof mirror_verbs[0], &x, data, len, o);
}

/* ---- listing and files ---- */

int cfs_mirrors_list(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		     cfs_emit_fn emit, void *ctx)
{
	(void)caps;
	struct mirror *v = NULL;
	size_t n = 0;
	int r = mirror_all(e, &v, &n);
	for (size_t i = 0; !r && i < n; i++)
		if (may_see(e, &c->user, &v[i]))
			r = emit(ctx, v[i].name);
	free(v);
	return r;
}

int cfs_mirror_exists(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		      int depth)
{
	struct mirror m;
	if (mirror_load(e, caps[depth], &m) || !may_see(e, &c->user, &m))
		return -ENOENT;
	return 0;
}

/* The status as of now: a check older than the interval is stale. */
/* How often a mirror is checked: pull mirrors at their interval or each
 * minute, push mirrors each minute while their change watch is live. */
static int64_t check_every_s(const struct mirror *m)
{
	if (!strcmp(m->mode, "push"))
		return mwatch_live(m->name) ? 60 : PUSH_CHECK_S;
	return m->interval_s < 60 ? m->interval_s : 60;
}

static void current_status(const struct mirror *m, const struct mrt *r, char *out, size_t len)
{
	int64_t every = check_every_s(m);
	if (!r) {
		snprintf(out, len, "stale");
		return;
	}
	if (r->busy && !strcmp(r->status, "syncing")) {
		snprintf(out, len, "syncing");
		return;
	}
	bool old = !r->last_check_ms || cfs_now_ms() - r->last_check_ms > (every * 2 + 30) * 1000;
	snprintf(out, len, "%s", old && strcmp(r->status, "error") ? "stale" : r->status);
}

static void iso_ms(int64_t ms, char out[32])
{
	if (ms)
		cfs_time_iso(ms / 1000, out);
	else
		snprintf(out, 32, "never");
}

int cfs_mirror_show(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		    const char *arg, struct cfs_buf *out)
{
	struct mirror m;
	if (mirror_load(e, caps[0], &m) || !may_see(e, &c->user, &m))
		return -ENOENT;
	if (!strcmp(arg, "config")) {
		struct cfs_buf ex = CFS_BUF_INIT;
		ctl_quote(m.o.excludes[0] ? m.o.excludes : "-", &ex);
		int r = cfs_buf_printf(out, "src %s:%s\ndst %s:%s\nmode %s\ninterval %" PRId64 "s\n"
					    "exclude %s\ndelete %s\neol %s\nenabled %s\nowner %s\n",
				       m.o.src, m.o.src_path, m.o.dst, m.o.dst_path, m.mode, m.interval_s,
				       ex.data ? ex.data : "-", m.o.delete_extra ? "yes" : "no",
				       m.o.eol ? "normalize" : "keep", m.enabled ? "yes" : "no", m.owner);
		cfs_buf_free(&ex);
		return r;
	}
	if (!strcmp(arg, "config.json")) {
		int r = mirror_json(&m, out);
		return r ? r : cfs_buf_puts(out, "\n");
	}
	int r = 0;
	pthread_mutex_lock(&M.lock);
	struct mrt *rt = rt_get(m.name, false);
	char status[16], chk[32], syn[32];
	current_status(&m, rt, status, sizeof status);
	iso_ms(rt ? rt->last_check_ms : 0, chk);
	iso_ms(rt ? rt->last_sync_ms : 0, syn);
	if (!strcmp(arg, "status")) {
		r = cfs_buf_printf(out, "%s\n", status);
	} else if (!strcmp(arg, "status.json")) {
		cJSON *j = cJSON_CreateObject();
		if (j) {
			cJSON_AddStringToObject(j, "name", m.name);
			cJSON_AddStringToObject(j, "status", status);
			cJSON_AddBoolToObject(j, "enabled", m.enabled);
			cJSON_AddStringToObject(j, "last_check", chk);
			cJSON_AddStringToObject(j, "last_sync", syn);
			cJSON_AddNumberToObject(j, "pending", rt ? (double)rt->moves : 0);
			cJSON_AddStringToObject(j, "error", rt ? rt->error : "");
			/* a push mirror's changes arrive as they happen */
			if (!strcmp(m.mode, "push"))
				cJSON_AddBoolToObject(j, "watching", mwatch_live(m.name));
			if (rt && rt->job)
				cJSON_AddNumberToObject(j, "job", (double)rt->job);
		}
		char *s = j ? cJSON_PrintUnformatted(j) : NULL;
		cJSON_Delete(j);
		r = s ? cfs_buf_printf(out, "%s\n", s) : -ENOMEM;
		free(s);
	} else if (!strcmp(arg, "plan")) {
		if (rt && rt->plan.len)
			r = cfs_buf_append(out, rt->plan.data, rt->plan.len);
		else
			r = cfs_buf_puts(out, "# not checked yet: echo check > ctl\n");
	} else if (!strcmp(arg, "plan.json")) {
		if (rt && rt->plan_json.len)
			r = cfs_buf_append(out, rt->plan_json.data, rt->plan_json.len);
		else
			r = cfs_buf_puts(out, "{\"paths\":[],\"totals\":null}\n");
	} else {
		r = -ENOENT;
	}
	pthread_mutex_unlock(&M.lock);
	return r;
}

/* ---- metrics ---- */

int mirrors_metrics(struct cfs_engine *e, struct cfs_buf *out)
{
	uint64_t files, bytes;
	mirrors_synced_totals(&files, &bytes);
	static const char *const names[] = { "in-sync", "needs-sync", "stale", "syncing", "error" };
	unsigned long counts[5] = { 0 };
	struct mirror *v;
	size_t n;
	if (!mirror_all(e, &v, &n)) {
		pthread_mutex_lock(&M.lock);
		for (size_t i = 0; i < n; i++) {
			char st[16];
			current_status(&v[i], rt_get(v[i].name, false), st, sizeof st);
			for (int k = 0; k < 5; k++)
				if (!strcmp(st, names[k]))
					counts[k]++;
		}
		pthread_mutex_unlock(&M.lock);
		free(v);
	}
	int r = cfs_buf_printf(out,
			       "# HELP cloudfs_mirror_bytes_synced_total Bytes copied by mirrors and syncs.\n"
			       "# TYPE cloudfs_mirror_bytes_synced_total counter\n"
			       "cloudfs_mirror_bytes_synced_total %" PRIu64 "\n"
			       "# HELP cloudfs_mirror_files_synced_total Files copied by mirrors and syncs.\n"
			       "# TYPE cloudfs_mirror_files_synced_total counter\n"
			       "cloudfs_mirror_files_synced_total %" PRIu64 "\n"
			       "# HELP cloudfs_mirrors Mirrors by status.\n"
			       "# TYPE cloudfs_mirrors gauge\n",
			       bytes, files);
	for (int k = 0; k < 5 && !r; k++)
		r = cfs_buf_printf(out, "cloudfs_mirrors{status=\"%s\"} %lu\n", names[k], counts[k]);
	return r;
}

int mirror_source(struct cfs_engine *e, const struct cfs_caller *c, const char *name, char *inst,
		  size_t inst_len, char *path, size_t path_len)
{
	struct mirror m;
	if (mirror_load(e, name, &m) || (c && !may_see(e, &c->user, &m)))
		return -ENOENT;
	snprintf(inst, inst_len, "%s", m.o.src);
	snprintf(path, path_len, "%s", m.o.src_path);
	return 0;
}

void mirror_kick(struct cfs_engine *e, const char *name)
{
	(void)e;
	pthread_mutex_lock(&M.lock);
	struct mrt *r = rt_get(name, true);
	if (r)
		r->kicked = true;
	pthread_cond_broadcast(&M.cond);
	pthread_mutex_unlock(&M.lock);
}

/* ---- the scheduler ---- */

static void tick(struct cfs_engine *e)
{
	struct mirror *v;
	size_t n;
	if (mirror_all(e, &v, &n))
		return;
	int64_t now = cfs_now_ms();
	mwatch_begin();
	for (size_t i = 0; i < n; i++)
		if (v[i].enabled && !strcmp(v[i].mode, "push"))
			mwatch_want(e, v[i].name, v[i].o.src, v[i].o.src_path);
	mwatch_end();
	for (size_t i = 0; i < n && !M.stop; i++) {
		struct mirror *m = &v[i];
		if (!m->enabled)
			continue;
		bool push = !strcmp(m->mode, "push");
		/* checks are cheap (hashes come from the agents' caches): at least
		 * once a minute, so status is never stale; syncs follow the mode */
		int64_t every = check_every_s(m);
		pthread_mutex_lock(&M.lock);
		struct mrt *r = rt_get(m->name, true);
		bool kicked = r && r->kicked && !r->busy;
		bool due = r && !r->busy && (kicked || now - r->last_check_ms >= every * 1000);
		int64_t base = r ? (r->last_sync_ms > r->since_ms ? r->last_sync_ms : r->since_ms) : now;
		bool sync_due = push || kicked || now - base >= m->interval_s * 1000;
		if (kicked)
			r->kicked = false;
		pthread_mutex_unlock(&M.lock);
		if (!due)
			continue;
		/* a cheap check first (hashes from the agents' caches); a sync
		 * only when something would move */
		struct cfs_err err = { 0 };
		uint64_t moves = 0;
		set_busy(m->name, true, 0);
		int rc = check(e, m, &moves, &err);
		set_busy(m->name, false, 0);
		if (rc) {
			pthread_mutex_lock(&M.lock);
			if ((r = rt_get(m->name, false)))
				r->last_check_ms = now;
			pthread_mutex_unlock(&M.lock);
			set_status(e, m, "error", err.msg);
			continue;
		}
		set_status(e, m, moves ? "needs-sync" : "in-sync", NULL);
		long long id;
		if (moves && sync_due && !submit_named(e, m, m->owner, m->owner_uid, false, false, &id, &err))
			log_info("mirror %s: %" PRIu64 " paths behind, sync job %lld", m->name, moves, id);
	}
	free(v);
}

static void *scheduler(void *arg)
{
	struct cfs_engine *e = arg;
	pthread_mutex_lock(&M.lock);
	while (!M.stop) {
		pthread_mutex_unlock(&M.lock);
		tick(e);
		pthread_mutex_lock(&M.lock);
		if (M.stop)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&M.cond, &M.lock, &ts);
	}
	pthread_mutex_unlock(&M.lock);
	return NULL;
}

int cfs_mirrors_start(struct cfs_engine *e, struct cfs_err *err)
{
	pthread_mutex_lock(&M.lock);
	M.e = e;
	M.stop = false;
	int r = pthread_create(&M.thread, NULL, scheduler, e);
	M.running = r == 0;
	pthread_mutex_unlock(&M.lock);
	return r ? cfs_errf(err, -r, "cannot start the mirrors scheduler") : 0;
}

void cfs_mirrors_stop(struct cfs_engine *e)
{
	(void)e;
	pthread_mutex_lock(&M.lock);
	bool running = M.running;
	M.stop = true;
	M.running = false;
	pthread_cond_broadcast(&M.cond);
	pthread_mutex_unlock(&M.lock);
	if (running)
		pthread_join(M.thread, NULL);
	mwatch_stop_all();
	pthread_mutex_lock(&M.lock);
	while (M.rt) {
		struct mrt *r = M.rt;
		M.rt = r->next;
		cfs_buf_free(&r->plan);
		cfs_buf_free(&r->plan_json);
		free(r);
	}
	pthread_mutex_unlock(&M.lock);
}
