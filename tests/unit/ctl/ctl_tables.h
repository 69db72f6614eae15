/* ctl_tables.h — verb tables shared by the ctl unit tests and fuzz target.
 *
 * Most verbs "echo": their ok line lists each positional as arg=VALUE and
 * each option as KEY=VALUE in the order given, so an expected outcome shows
 * exactly how a line was parsed.  A few verbs exercise the outcome paths:
 * fail (errors after adding pairs), secret, check (jobs), todo (no run). */
#ifndef CFS_TEST_CTL_TABLES_H
#define CFS_TEST_CTL_TABLES_H

#include <stddef.h>

#include "ctl/grammar.h"

#define CTL_TEST_SECRET_PREFIX "S3CRET-"

struct ctl_test_ctx {
	char ran[8192];   /* verbs run, separated by one blank */
	size_t len;
	int calls;
};

struct ctl_test_table {
	const char *name;
	const struct ctl_verb *verbs;
	size_t n;
};

extern const struct ctl_test_table ctl_test_tables[];
extern const size_t ctl_test_ntables;

const struct ctl_test_table *ctl_test_table_find(const char *name);
void ctl_test_ctx_reset(struct ctl_test_ctx *c);

#endif
