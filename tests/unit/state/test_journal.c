/* The ops journal: ops numbered in order, and journal_commit keeping a
 * change and its op together — both in, or neither. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <errno.h>
#include <sqlite3.h>

#include "core/util.h"
#include "state/db.h"
#include "state/journal.h"

struct fx {
	char dir[4096];
	struct cfs_db *db;
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof *f);
	const char *base = getenv("TMPDIR");
	snprintf(f->dir, sizeof f->dir, "%s/cfs-journal.XXXXXX", base && *base ? base : "/tmp");
	assert_non_null(mkdtemp(f->dir));
	char path[4200];
	snprintf(path, sizeof path, "%s/state.db", f->dir);
	struct cfs_err err = { 0 };
	assert_int_equal(db_open(path, &f->db, &err), 0);
	assert_int_equal(db_exec(f->db, "CREATE TABLE scratch (v TEXT)", &err), 0);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	db_close(f->db);
	char cmd[4200];
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static int64_t count(struct cfs_db *db, const char *sql)
{
	sqlite3_stmt *st;
	assert_int_equal(db_prepare(db, sql, &st), 0);
	assert_int_equal(sqlite3_step(st), SQLITE_ROW);
	int64_t n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	return n;
}

/* the change: a row in a scratch table (the caller holds the lock) */
static void change(struct cfs_db *db, const char *v)
{
	sqlite3_stmt *st;
	assert_int_equal(db_prepare(db, "INSERT INTO scratch (v) VALUES (?)", &st), 0);
	sqlite3_bind_text(st, 1, v, -1, SQLITE_STATIC);
	assert_int_equal(db_errno(sqlite3_step(st)), 0);
	sqlite3_reset(st);
}

static void test_append_numbers_in_order(void **state)
{
	struct fx *f = *state;
	int64_t a = 0, b = 0;
	db_lock(f->db);
	assert_int_equal(journal_append(f->db, "e1", "node", "update", "me", "{}", &a), 0);
	assert_int_equal(journal_append(f->db, "e1", "node", "update", "me", "{\"x\":1}", &b), 0);
	db_unlock(f->db);
	assert_true(b > a);
}

static void test_commit_keeps_change_and_op_together(void **state)
{
	struct fx *f = *state;
	const char *ops = "SELECT count(*) FROM journal WHERE entity = 'e2'";
	const char *rows = "SELECT count(*) FROM scratch";
	db_lock(f->db);
	/* a change that went in: it and its op are committed */
	assert_int_equal(db_begin(f->db), 0);
	change(f->db, "one");
	assert_int_equal(journal_commit(f->db, 0, "e2", "share", "create", "me", "{}"), 0);
	assert_int_equal(count(f->db, rows), 1);
	assert_int_equal(count(f->db, ops), 1);
	/* a change that failed half-way: the part done is rolled back, no op */
	assert_int_equal(db_begin(f->db), 0);
	change(f->db, "two");
	assert_int_equal(journal_commit(f->db, -EIO, "e2", "share", "update", "me", "{}"), -EIO);
	assert_int_equal(count(f->db, rows), 1);
	assert_int_equal(count(f->db, ops), 1);
	/* the op itself failing (no payload: NOT NULL) rolls the change back too */
	assert_int_equal(db_begin(f->db), 0);
	change(f->db, "three");
	assert_int_not_equal(journal_commit(f->db, 0, "e2", "share", "update", "me", NULL), 0);
	assert_int_equal(count(f->db, rows), 1);
	assert_int_equal(count(f->db, ops), 1);
	db_unlock(f->db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_append_numbers_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_keeps_change_and_op_together, setup,
						teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
