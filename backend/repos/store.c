/* store.c — the repos table (migrations/002_repos.sql).  Every change is
 * written with a journal op of kind "repo" in the same transaction; the op's
 * payload carries the policy a peer needs, never the htpasswd hash kept for a
 * suspended user. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine_priv.h"
#include "repos/repos.h"
#include "state/db.h"
#include "state/journal.h"

#define COLS "uuid, user, created, revoked, quota, retention, suspended, suspended_line, " \
	     "last_prune, last_prune_result, last_prune_ok, last_prune_job, user_key"

static void text_col(sqlite3_stmt *st, int i, char *out, size_t len)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	snprintf(out, len, "%s", t ? (const char *)t : "");
}

static void row_to_rec(sqlite3_stmt *st, struct repo_rec *r)
{
	memset(r, 0, sizeof *r);
	text_col(st, 0, r->uuid, sizeof r->uuid);
	text_col(st, 1, r->user, sizeof r->user);
	r->created = sqlite3_column_int64(st, 2);
	r->revoked = sqlite3_column_int(st, 3) != 0;
	r->has_quota = sqlite3_column_type(st, 4) != SQLITE_NULL;
	r->quota = r->has_quota ? (uint64_t)sqlite3_column_int64(st, 4) : 0;
	text_col(st, 5, r->retention, sizeof r->retention);
	r->suspended = sqlite3_column_int(st, 6) != 0;
	text_col(st, 7, r->suspended_line, sizeof r->suspended_line);
	r->last_prune = sqlite3_column_int64(st, 8);
	text_col(st, 9, r->last_prune_result, sizeof r->last_prune_result);
	r->last_prune_ok = sqlite3_column_int64(st, 10);
	r->last_prune_job = sqlite3_column_int64(st, 11);
	text_col(st, 12, r->user_key, sizeof r->user_key);
}

int repo_db_get(struct cfs_engine *e, const char *user, struct repo_rec *out)
{
	sqlite3_stmt *st;
	db_lock(e->db);
	int r = db_prepare(e->db, "SELECT " COLS " FROM repos WHERE user = ?", &st);
	if (!r) {
		sqlite3_bind_text(st, 1, user, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			row_to_rec(st, out);
		else
			r = rc == SQLITE_DONE ? -ENOENT : db_errno(rc);
		sqlite3_reset(st);
	}
	db_unlock(e->db);
	return r;
}

static char *payload_of(const struct repo_rec *r)
{
	cJSON *p = cJSON_CreateObject();
	if (!p)
		return NULL;
	cJSON_AddStringToObject(p, "user", r->user);
	cJSON_AddNumberToObject(p, "created", (double)r->created);
	cJSON_AddBoolToObject(p, "revoked", r->revoked);
	if (r->has_quota)
		cJSON_AddNumberToObject(p, "quota", (double)r->quota);
	else
		cJSON_AddNullToObject(p, "quota");
	if (r->retention[0])
		cJSON_AddStringToObject(p, "retention", r->retention);
	else
		cJSON_AddNullToObject(p, "retention");
	cJSON_AddBoolToObject(p, "suspended", r->suspended);
	cJSON_AddNumberToObject(p, "last_prune", (double)r->last_prune);
	cJSON_AddStringToObject(p, "last_prune_result", r->last_prune_result);
	cJSON_AddNumberToObject(p, "last_prune_ok", (double)r->last_prune_ok);
	cJSON_AddStringToObject(p, "user_key", r->user_key);
	char *s = cJSON_PrintUnformatted(p);
	cJSON_Delete(p);
	return s;
}

int repo_db_put(struct cfs_engine *e, const struct repo_rec *rec, bool create)
{
	char *payload = payload_of(rec);
	if (!payload)
		return -ENOMEM;
	sqlite3_stmt *st;
	db_lock(e->db);
	int r = db_begin(e->db);
	if (r)
		goto unlock;
	r = db_prepare(e->db,
		       create ? "INSERT INTO repos(" COLS ") VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, "
				"?9, ?10, ?11, ?12, ?13)"
			      : "UPDATE repos SET user = ?2, created = ?3, revoked = ?4, quota = ?5, "
				"retention = ?6, suspended = ?7, suspended_line = ?8, last_prune = ?9, "
				"last_prune_result = ?10, last_prune_ok = ?11, last_prune_job = ?12, "
				"user_key = ?13 WHERE uuid = ?1",
		       &st);
	if (!r) {
		sqlite3_bind_text(st, 1, rec->uuid, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, rec->user, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, rec->created);
		sqlite3_bind_int(st, 4, rec->revoked);
		if (rec->has_quota)
			sqlite3_bind_int64(st, 5, (sqlite3_int64)rec->quota);
		else
			sqlite3_bind_null(st, 5);
		if (rec->retention[0])
			sqlite3_bind_text(st, 6, rec->retention, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 6);
		sqlite3_bind_int(st, 7, rec->suspended);
		if (rec->suspended_line[0])
			sqlite3_bind_text(st, 8, rec->suspended_line, -1, SQLITE_STATIC);
		else
			sqlite3_bind_null(st, 8);
		sqlite3_bind_int64(st, 9, rec->last_prune);
		sqlite3_bind_text(st, 10, rec->last_prune_result, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 11, rec->last_prune_ok);
		sqlite3_bind_int64(st, 12, rec->last_prune_job);
		sqlite3_bind_text(st, 13, rec->user_key, -1, SQLITE_STATIC);
		r = db_errno(sqlite3_step(st));
		if (!r && !create && sqlite3_changes(db_handle(e->db)) != 1)
			r = -ENOENT;
		sqlite3_reset(st);
	}
	r = journal_commit(e->db, r, rec->uuid, "repo", create ? "create" : "update", e->env_id,
			   payload);
unlock:
	db_unlock(e->db);
	free(payload);
	return r;
}

int repo_db_names(struct cfs_engine *e, bool active_only, char ***names, size_t *n)
{
	sqlite3_stmt *st = NULL;
	char **v = NULL;
	size_t cnt = 0, cap = 0;
	*names = NULL;
	*n = 0;
	db_lock(e->db);
	int r = db_prepare(e->db,
			   active_only ? "SELECT user FROM repos WHERE revoked = 0 ORDER BY user"
				       : "SELECT user FROM repos ORDER BY user",
			   &st);
	int rc = SQLITE_DONE;
	while (!r && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		if (cnt == cap) {
			size_t nc = cap ? cap * 2 : 16;
			char **nv = realloc(v, nc * sizeof *nv);
			if (!nv) {
				r = -ENOMEM;
				break;
			}
			v = nv;
			cap = nc;
		}
		const unsigned char *t = sqlite3_column_text(st, 0);
		v[cnt] = strdup(t ? (const char *)t : "");
		if (!v[cnt]) {
			r = -ENOMEM;
			break;
		}
		cnt++;
	}
	if (!r && rc != SQLITE_DONE)
		r = db_errno(rc);
	if (st)
		sqlite3_reset(st);
	db_unlock(e->db);
	if (r) {
		repo_db_names_free(v, cnt);
		return r;
	}
	*names = v;
	*n = cnt;
	return 0;
}

void repo_db_names_free(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* ---- for the /repos listing and the snapshot reader ---- */

static bool attached(struct cfs_engine *e, const char *user)
{
	for (size_t i = 0; i < e->cfg.n_attached; i++)
		if (strcmp(e->cfg.attached[i].user, user) == 0)
			return true;
	return false;
}

int cfs_repos_each_provisioned(struct cfs_engine *e, cfs_emit_fn emit, void *ctx)
{
	char **names;
	size_t n;
	int r = repo_db_names(e, false, &names, &n);
	if (r)
		return r;
	for (size_t i = 0; i < n && r >= 0; i++)
		if (!attached(e, names[i]))
			r = emit(ctx, names[i]);
	repo_db_names_free(names, n);
	return r < 0 ? r : 0;
}

bool cfs_repo_provisioned(struct cfs_engine *e, const char *user)
{
	struct repo_rec rec;
	return repo_db_get(e, user, &rec) == 0;
}

int cfs_repo_provisioned_attach(struct cfs_engine *e, const char *user, struct cfs_repo_attach *a,
				char *path, size_t len)
{
	if (!cfs_repo_provisioned(e, user))
		return -ENOENT;
	repos_repo_path(e, user, path, len);
	*a = (struct cfs_repo_attach){ .user = (char *)user, .path = path };
	return 0;
}
