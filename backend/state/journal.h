/* journal.h — the ops journal: every change to shared state, in order.
 * Written in the same transaction as the change it records (callers hold the
 * db lock inside db_begin/db_commit). */
#ifndef CFS_JOURNAL_H
#define CFS_JOURNAL_H

#include <stdint.h>

#include "state/db.h"

/* Appends (entity, kind, op, author, now, payload JSON); *seq gets the new
 * sequence number when non-NULL. */
int journal_append(struct cfs_db *db, const char *entity, const char *kind, const char *op,
		   const char *author, const char *payload_json, int64_t *seq);
/* Ends the transaction of a change whose outcome so far is r: when r is 0
 * the op is journalled and the whole transaction committed, otherwise (or
 * when either fails) it is rolled back.  Returns the first error or 0. */
int journal_commit(struct cfs_db *db, int r, const char *entity, const char *kind, const char *op,
		   const char *author, const char *payload_json);

#endif
