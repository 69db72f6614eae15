/* self.c — /self: env_id, whoami, errors, and the node's own ctl
 * (label NAME, check). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine_priv.h"
#include "core/events.h"
#include "core/jobs.h"
#include "core/log.h"
#include "core/util.h"
#include "state/db.h"
#include "state/journal.h"

int errlog_render(struct cfs_engine *e, const struct cfs_caller *c, struct cfs_buf *out);

static void roles_of(const struct cfs_user *u, char *out, size_t len)
{
	snprintf(out, len, "%s%s%s", u->superadmin ? "superadmin" : "",
		 u->superadmin && u->provisioner ? "," : "", u->provisioner ? "provisioner" : "");
	if (!out[0])
		snprintf(out, len, "user");
}

int cfs_self_show(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		  const char *arg, struct cfs_buf *out)
{
	(void)caps;
	char roles[64], label[128] = "";
	roles_of(&c->user, roles, sizeof roles);
	if (strcmp(arg, "env_id") == 0)
		return cfs_buf_printf(out, "%s\n", e->env_id);
	if (strcmp(arg, "label") == 0) {
		db_meta_get(e->db, "label", label, sizeof label);
		return cfs_buf_printf(out, "%s\n", label);
	}
	if (strcmp(arg, "whoami") == 0)
		return cfs_buf_printf(out, "user %s\nuid %u\ngid %u\nroles %s\n", c->user.name,
				      (unsigned)c->user.uid, (unsigned)c->user.gid, roles);
	if (strcmp(arg, "whoami.json") == 0) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "user", c->user.name);
		cJSON_AddNumberToObject(o, "uid", c->user.uid);
		cJSON_AddNumberToObject(o, "gid", c->user.gid);
		cJSON *r = cJSON_AddArrayToObject(o, "roles");
		if (c->user.superadmin)
			cJSON_AddItemToArray(r, cJSON_CreateString("superadmin"));
		if (c->user.provisioner)
			cJSON_AddItemToArray(r, cJSON_CreateString("provisioner"));
		char *s = cJSON_Print(o);
		cJSON_Delete(o);
		if (!s)
			return -ENOMEM;
		int rr = cfs_buf_printf(out, "%s\n", s);
		free(s);
		return rr;
	}
	if (strcmp(arg, "errors") == 0)
		return errlog_render(e, c, out);
	return -ENOENT;
}

/* ---- label ---- */

static int self_label(void *ctx, const struct ctl_args *a, struct ctl_outcome *o,
		      struct cfs_err *err)
{
	struct ctl_ctx *x = ctx;
	struct cfs_engine *e = x->e;
	const struct cfs_caller *c = x->c;
	const char *name = a->pos[0];
	if (!c->user.superadmin)
		return cfs_errf(err, -EACCES, "label: only a superadmin may name this node");
	size_t n = strlen(name);
	if (n == 0 || n > 64)
		return cfs_errf(err, -EINVAL, "label: NAME must be 1 to 64 bytes");
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return cfs_errf(err, -EINVAL, "label: NAME must not hold control characters");
	cJSON *p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "label", name);
	char *payload = cJSON_PrintUnformatted(p);
	cJSON_Delete(p);
	if (!payload)
		return cfs_errf(err, -ENOMEM, "out of memory");
	int r;
	db_lock(e->db);
	r = db_begin(e->db);
	if (!r) {
		sqlite3_stmt *st;
		r = db_prepare(e->db, "INSERT INTO meta(key, value) VALUES('label', ?) "
				      "ON CONFLICT(key) DO UPDATE SET value = excluded.value", &st);
		if (!r) {
			sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
			r = db_errno(sqlite3_step(st));
			sqlite3_reset(st);
		}
		r = journal_commit(e->db, r, e->env_id, "node", "update", e->env_id, payload);
	}
	db_unlock(e->db);
	free(payload);
	if (r)
		return cfs_errf(err, -EIO, "label: cannot store: %s", strerror(-r));
	log_info("node label set to \"%s\" by %s", name, c->user.name);
	cfs_event_emitf(e, "node.labelled", e->env_id, NULL, NULL, NULL, NULL);
	ctl_ok(o, "label", "%s", name);
	return 0;
}

/* ---- check: a job ---- */

/* Every live entity's newest journal op must be create/update, and every
 * entity whose newest op is delete must be gone from its table. */
static int check_journal(struct cfs_job *j, struct cfs_db *db, const char *kind,
			 const char *table, long *problems)
{
	char sql[512];
	sqlite3_stmt *st;
	snprintf(sql, sizeof sql,
		 "SELECT t.uuid FROM %s t WHERE NOT EXISTS (SELECT 1 FROM journal j WHERE "
		 "j.entity = t.uuid AND j.kind = '%s' AND j.seq = (SELECT MAX(seq) FROM journal "
		 "WHERE entity = t.uuid) AND j.op != 'delete')", table, kind);
	db_lock(db);
	int rc = sqlite3_prepare_v2(db_handle(db), sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			job_log(j, "%s %s exists but its journal does not record it", kind,
				sqlite3_column_text(st, 0));
			(*problems)++;
		}
		sqlite3_finalize(st);
	}
	snprintf(sql, sizeof sql,
		 "SELECT j.entity FROM journal j WHERE j.kind = '%s' AND j.seq = (SELECT MAX(seq) "
		 "FROM journal WHERE entity = j.entity) AND j.op != 'delete' AND NOT EXISTS "
		 "(SELECT 1 FROM %s t WHERE t.uuid = j.entity)", kind, table);
	if (rc == SQLITE_OK && sqlite3_prepare_v2(db_handle(db), sql, -1, &st, NULL) == SQLITE_OK) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			job_log(j, "%s %s is in the journal but missing from the table", kind,
				sqlite3_column_text(st, 0));
			(*problems)++;
		}
		sqlite3_finalize(st);
	}
	db_unlock(db);
	return rc == SQLITE_OK ? 0 : -EIO;
}

static int check_job(struct cfs_job *j, void *arg)
{
	(void)arg;
	struct cfs_engine *e = job_engine(j);
	long problems = 0;
	job_progress(j, "step 1/3 integrity_check");
	job_log(j, "running SQLite integrity check");
	sqlite3_stmt *st;
	db_lock(e->db);
	int rc = sqlite3_prepare_v2(db_handle(e->db), "PRAGMA integrity_check", -1, &st, NULL);
	if (rc == SQLITE_OK) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			const char *row = (const char *)sqlite3_column_text(st, 0);
			if (row && strcmp(row, "ok") != 0) {
				job_log(j, "integrity: %s", row);
				problems++;
			}
		}
		sqlite3_finalize(st);
	}
	db_unlock(e->db);
	if (rc != SQLITE_OK)
		return job_fail(j, -EIO, "cannot run the integrity check");
	if (job_cancelled(j))
		return -ECANCELED;
	job_progress(j, "step 2/3 journal vs instances");
	if (check_journal(j, e->db, "instance", "instances", &problems))
		return job_fail(j, -EIO, "cannot check instances against the journal");
	if (job_cancelled(j))
		return -ECANCELED;
	job_progress(j, "step 3/3 journal vs shares");
	if (check_journal(j, e->db, "share", "shares", &problems))
		return job_fail(j, -EIO, "cannot check shares against the journal");
	job_progress(j, "done 3/3");
	if (problems)
		return job_fail(j, -EIO, "%ld problem%s found (see the log)", problems,
				problems == 1 ? "" : "s");
	job_log(j, "state is consistent");
	return 0;
}

/* A test hook that keeps a check running for a while, so blocking writes,
 * wait=no, interruption and cancel can be tried on a real job:
 * `check delay=3s` sleeps in small steps before checking. */
struct check_arg {
	int64_t delay_ms;
};

static int check_job_delayed(struct cfs_job *j, void *arg)
{
	struct check_arg *ca = arg;
	int64_t end = cfs_mono_ms() + ca->delay_ms;
	while (cfs_mono_ms() < end) {
		if (job_cancelled(j))
			return -ECANCELED;
		job_progress(j, "waiting %llds before checking",
			     (long long)((end - cfs_mono_ms()) / 1000));
		struct timespec ts = { 0, 50 * 1000000L };
		nanosleep(&ts, NULL);
	}
	return check_job(j, NULL);
}

int engine_wait_opt(const struct ctl_args *a, struct cfs_err *err)
{
	const char *w = ctl_opt(a, "wait");
	if (w && strcmp(w, "no") != 0 && strcmp(w, "yes") != 0)
		return cfs_errf(err, -EINVAL, "%s: wait must be yes or no", a->verb);
	return 0;
}

static int self_check(void *ctx, const struct ctl_args *a, struct ctl_outcome *o,
		      struct cfs_err *err)
{
	struct ctl_ctx *x = ctx;
	struct cfs_engine *e = x->e;
	const struct cfs_caller *c = x->c;
	int64_t delay = 0;
	const char *d = ctl_opt(a, "delay");
	if (!c->user.superadmin)
		return cfs_errf(err, -EACCES, "check: only a superadmin may check the state");
	if (d && (cfs_duration_parse(d, &delay) || delay > 3600))
		return cfs_errf(err, -EINVAL, "check: delay must be a duration up to 1h (30s, 5m)");
	int r = engine_wait_opt(a, err);
	if (r)
		return r;
	long long id;
	struct check_arg *ca = calloc(1, sizeof *ca);
	if (!ca)
		return cfs_errf(err, -ENOMEM, "out of memory");
	ca->delay_ms = delay * 1000;
	r = jobs_submit(e->jobs, c->user.name, c->user.uid, d ? "check delay" : "check",
			delay ? check_job_delayed : (cfs_job_fn)check_job, ca, free, &id);
	if (r)
		return cfs_errf(err, r, "check: cannot queue the job");
	return engine_run_job_cmd(e, c, a, o, err, id);
}

static const struct ctl_verb self_verbs[] = {
	{ "label NAME", "set this node's human label, shown to peers", self_label },
	{ "check [delay=DUR] [wait=no]", "check the state database and journal, as a job", self_check },
};

const struct ctl_verb *cfs_self_verbs(size_t *n)
{
	*n = sizeof self_verbs / sizeof self_verbs[0];
	return self_verbs;
}

int cfs_self_ctl(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		 const char *data, size_t len, struct ctl_outcome *o)
{
	struct ctl_ctx x = { e, c, caps };
	return ctl_exec(self_verbs, sizeof self_verbs / sizeof self_verbs[0], &x, data, len, o);
}
