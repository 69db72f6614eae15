/* db.h — the state store: one SQLite database in WAL mode.
 *
 * One connection, serialised by a mutex: cloudfs's writes are small and rare
 * next to FUSE traffic, and listings are served from this same connection.
 * Callers hold the lock across a transaction with db_begin/db_commit.  The
 * sqlite3 type stays inside backend/state. */
#ifndef CFS_DB_H
#define CFS_DB_H

#include <stddef.h>
#include <stdint.h>

#include "core/err.h"

struct cfs_db;
struct sqlite3;
struct sqlite3_stmt;

/* Opens (creating) path, sets WAL, runs pending migrations. */
int db_open(const char *path, struct cfs_db **out, struct cfs_err *err);
void db_close(struct cfs_db *db);

/* The raw handle, for modules in backend/ that run their own statements while
 * holding the lock. */
struct sqlite3 *db_handle(struct cfs_db *db);
void db_lock(struct cfs_db *db);
void db_unlock(struct cfs_db *db);

/* With the lock held: BEGIN IMMEDIATE / COMMIT / ROLLBACK. */
int db_begin(struct cfs_db *db);
int db_commit(struct cfs_db *db);
void db_rollback(struct cfs_db *db);

/* With the lock held: prepare (cached per SQL text), or -EIO. */
int db_prepare(struct cfs_db *db, const char *sql, struct sqlite3_stmt **st);
/* Run one statement without results. */
int db_exec(struct cfs_db *db, const char *sql, struct cfs_err *err);

/* meta table helpers (take the lock themselves). */
int db_meta_get(struct cfs_db *db, const char *key, char *out, size_t out_len);  /* -ENOENT */
int db_meta_set(struct cfs_db *db, const char *key, const char *value);

/* Schema version after migrations. */
int db_schema_version(struct cfs_db *db);

/* sqlite result code → errno (SQLITE_BUSY → -EBUSY, CONSTRAINT → -EEXIST, …). */
int db_errno(int rc);

#endif
