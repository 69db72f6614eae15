#include "state/journal.h"

#include <sqlite3.h>

#include "core/util.h"

int journal_append(struct cfs_db *db, const char *entity, const char *kind, const char *op,
		   const char *author, const char *payload_json, int64_t *seq)
{
	sqlite3_stmt *st;
	int r = db_prepare(db, "INSERT INTO journal(entity, kind, op, author, time, payload) "
			       "VALUES(?, ?, ?, ?, ?, ?)", &st);
	if (r)
		return r;
	sqlite3_bind_text(st, 1, entity, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 3, op, -1, SQLITE_STATIC);
	sqlite3_bind_text(st, 4, author, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 5, cfs_now_ms());
	sqlite3_bind_text(st, 6, payload_json, -1, SQLITE_STATIC);
	r = db_errno(sqlite3_step(st));
	sqlite3_reset(st);
	if (!r && seq)
		*seq = sqlite3_last_insert_rowid(db_handle(db));
	return r;
}

int journal_commit(struct cfs_db *db, int r, const char *entity, const char *kind, const char *op,
		   const char *author, const char *payload_json)
{
	if (!r)
		r = journal_append(db, entity, kind, op, author, payload_json, NULL);
	if (!r)
		r = db_commit(db);
	else
		db_rollback(db);
	return r;
}
