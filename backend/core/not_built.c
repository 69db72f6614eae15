/* not_built.c — ctl files of capabilities this version does not have yet
 * (peers).  Their usage is the real grammar, so scripts can be
 * written against it; every command fails ENOSYS with a clear message. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "core/engine_priv.h"

static int not_built(void *ctx, const struct ctl_args *a, struct ctl_outcome *o,
		     struct cfs_err *err)
{
	const char *what = ctx;
	(void)o;
	return cfs_errf(err, -ENOSYS, "%s %s: this capability is not built yet in this version of cloudfs",
			what, a->verb);
}

static const struct ctl_verb peers_verbs[] = {
	{ "add LABEL ENV_ID URL [secret=HEX64] [tls=require]", "pair with another cloudfs node",
	  not_built },
	{ "remove LABEL", "forget a peer", not_built },
};

/* Any command at all fails ENOSYS (grammar errors included): the capability
 * is missing, whatever was asked of it.  An empty write still does nothing. */
static int not_built_write(const char *what, const struct ctl_verb *table, size_t n,
			   const char *data, size_t len, struct ctl_outcome *o)
{
	(void)table, (void)n;
	for (size_t i = 0; i < len; i++)
		if (data[i] != ' ' && data[i] != '\t' && data[i] != '\n' && data[i] != '\r') {
			char msg[160];
			snprintf(msg, sizeof msg,
				 "%s: this capability is not built yet in this version of cloudfs", what);
			return ctl_outcome_fail(o, -ENOSYS, msg);
		}
	return 0;
}

#define TABLE_FN(name, table)                                                                      \
	const struct ctl_verb *name(size_t *n)                                                     \
	{                                                                                          \
		*n = sizeof table / sizeof table[0];                                               \
		return table;                                                                      \
	}
TABLE_FN(cfs_peers_verbs, peers_verbs)

int cfs_peers_ctl(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		  const char *data, size_t len, struct ctl_outcome *o)
{
	(void)e, (void)c, (void)caps;
	return not_built_write("peers", peers_verbs, sizeof peers_verbs / sizeof peers_verbs[0], data,
			       len, o);
}
