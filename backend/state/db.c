#include "state/db.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "state/migrations.h"

#define STMT_CACHE 64

struct cfs_db {
	sqlite3 *h;
	pthread_mutex_t lock;
	struct {
		const char *sql;   /* the caller's literal: compared by address, then text */
		sqlite3_stmt *st;
	} cache[STMT_CACHE];
	int ncache;
	int version;
};

int db_errno(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK: case SQLITE_DONE: case SQLITE_ROW: return 0;
	case SQLITE_BUSY: case SQLITE_LOCKED: return -EBUSY;
	case SQLITE_CONSTRAINT: return -EEXIST;
	case SQLITE_NOMEM: return -ENOMEM;
	case SQLITE_FULL: return -ENOSPC;
	case SQLITE_READONLY: return -EROFS;
	case SQLITE_CANTOPEN: return -EACCES;
	case SQLITE_NOTFOUND: return -ENOENT;
	default: return -EIO;
	}
}

struct sqlite3 *db_handle(struct cfs_db *db) { return db->h; }
void db_lock(struct cfs_db *db) { pthread_mutex_lock(&db->lock); }
void db_unlock(struct cfs_db *db) { pthread_mutex_unlock(&db->lock); }

int db_exec(struct cfs_db *db, const char *sql, struct cfs_err *err)
{
	char *msg = NULL;
	int rc = sqlite3_exec(db->h, sql, NULL, NULL, &msg);
	if (rc != SQLITE_OK) {
		int e = db_errno(rc);
		cfs_errf(err, e, "database: %s", msg ? msg : sqlite3_errstr(rc));
		sqlite3_free(msg);
		return e;
	}
	return 0;
}

int db_begin(struct cfs_db *db) { return db_exec(db, "BEGIN IMMEDIATE", NULL); }
int db_commit(struct cfs_db *db) { return db_exec(db, "COMMIT", NULL); }
void db_rollback(struct cfs_db *db) { db_exec(db, "ROLLBACK", NULL); }

int db_prepare(struct cfs_db *db, const char *sql, sqlite3_stmt **st)
{
	for (int i = 0; i < db->ncache; i++) {
		if (db->cache[i].sql == sql || strcmp(db->cache[i].sql, sql) == 0) {
			sqlite3_reset(db->cache[i].st);
			sqlite3_clear_bindings(db->cache[i].st);
			*st = db->cache[i].st;
			return 0;
		}
	}
	int rc = sqlite3_prepare_v2(db->h, sql, -1, st, NULL);
	if (rc != SQLITE_OK) {
		log_err("database: cannot prepare \"%s\": %s", sql, sqlite3_errmsg(db->h));
		return db_errno(rc);
	}
	if (db->ncache < STMT_CACHE) {
		db->cache[db->ncache].sql = sql;
		db->cache[db->ncache].st = *st;
		db->ncache++;
	}
	/* beyond the cache the statement leaks until close: the cache is sized
	 * well above the number of distinct statements in the program */
	return 0;
}

int db_schema_version(struct cfs_db *db) { return db->version; }

static int user_version(sqlite3 *h)
{
	sqlite3_stmt *st;
	int v = -1;
	if (sqlite3_prepare_v2(h, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	return v;
}

/* Forward-only: each migration runs in its own transaction together with the
 * user_version bump, so a crash leaves the schema at a whole version. */
static int migrate(struct cfs_db *db, struct cfs_err *err)
{
	int cur = user_version(db->h);
	if (cur < 0)
		return cfs_errf(err, -EIO, "database: cannot read the schema version");
	int newest = cfs_migrations_count ? cfs_migrations[cfs_migrations_count - 1].version : 0;
	if (cur > newest)
		return cfs_errf(err, -EPROTO,
				"database schema version %d is newer than this cloudfs knows (%d)", cur,
				newest);
	for (unsigned i = 0; i < cfs_migrations_count; i++) {
		const struct cfs_migration *m = &cfs_migrations[i];
		if (m->version <= cur)
			continue;
		char bump[64];
		snprintf(bump, sizeof bump, "PRAGMA user_version = %d", m->version);
		int r = db_exec(db, "BEGIN IMMEDIATE", err);
		if (!r)
			r = db_exec(db, m->sql, err);
		if (!r)
			r = db_exec(db, bump, err);
		if (!r)
			r = db_exec(db, "COMMIT", err);
		if (r) {
			db_exec(db, "ROLLBACK", NULL);
			return cfs_errf(err, r, "database migration %s failed: %s", m->name, err ? err->msg : "");
		}
		log_info("database migrated to schema %d (%s)", m->version, m->name);
		cur = m->version;
	}
	db->version = cur;
	return 0;
}

int db_open(const char *path, struct cfs_db **out, struct cfs_err *err)
{
	struct cfs_db *db = calloc(1, sizeof *db);
	if (!db)
		return cfs_errf(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&db->lock, NULL);
	int rc = sqlite3_open_v2(path, &db->h,
				 SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, NULL);
	if (rc != SQLITE_OK) {
		cfs_errf(err, db_errno(rc), "cannot open database %s: %s", path,
			 db->h ? sqlite3_errmsg(db->h) : sqlite3_errstr(rc));
		goto fail;
	}
	sqlite3_busy_timeout(db->h, 5000);
	int r = db_exec(db, "PRAGMA journal_mode = WAL", err);
	if (!r)
		r = db_exec(db, "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON", err);
	if (!r)
		r = migrate(db, err);
	if (r)
		goto fail;
	*out = db;
	return 0;
fail:
	db_close(db);
	return err ? err->code : -EIO;
}

void db_close(struct cfs_db *db)
{
	if (!db)
		return;
	for (int i = 0; i < db->ncache; i++)
		sqlite3_finalize(db->cache[i].st);
	if (db->h)
		sqlite3_close_v2(db->h);
	pthread_mutex_destroy(&db->lock);
	free(db);
}

int db_meta_get(struct cfs_db *db, const char *key, char *out, size_t out_len)
{
	sqlite3_stmt *st;
	int r;
	db_lock(db);
	r = db_prepare(db, "SELECT value FROM meta WHERE key = ?", &st);
	if (!r) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			const char *v = (const char *)sqlite3_column_text(st, 0);
			snprintf(out, out_len, "%s", v ? v : "");
		} else {
			r = rc == SQLITE_DONE ? -ENOENT : db_errno(rc);
		}
		sqlite3_reset(st);
	}
	db_unlock(db);
	return r;
}

int db_meta_set(struct cfs_db *db, const char *key, const char *value)
{
	sqlite3_stmt *st;
	int r;
	db_lock(db);
	r = db_prepare(db, "INSERT INTO meta(key, value) VALUES(?, ?) "
			   "ON CONFLICT(key) DO UPDATE SET value = excluded.value", &st);
	if (!r) {
		sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
		r = db_errno(sqlite3_step(st));
		sqlite3_reset(st);
	}
	db_unlock(db);
	return r;
}
