/* permit.h — who may do what to an instance (DESIGN.md section 4).
 *
 * Pure functions, no I/O: the caller gathers the shares (from the state
 * store) and the clock, and asks.  permit(user, action, instance) holds for a
 * superadmin, for the instance's owner, and for the sharee of an enabled,
 * unexpired share from the owner that covers the instance (or all of the
 * owner's instances, "*") and whose perms include the action; a share
 * without perms grants every action. */
#ifndef CFS_PERMIT_H
#define CFS_PERMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth/users.h"
#include "core/buf.h"

enum cfs_action {
	CFS_ACT_READ = 1,      /* see it, read files/ and state */
	CFS_ACT_WRITE = 2,     /* write files/ */
	CFS_ACT_COMMAND = 4,   /* ctl commands, exec */
	CFS_ACT_SYNC = 8,      /* mirrors */
	CFS_ACT_GIT = 16,      /* git/ */
};
#define CFS_ACT_ALL 31

/* "read,write" → CFS_ACT_READ | CFS_ACT_WRITE.  Words are read, write,
 * command, sync, git, separated by commas.  0, or -EINVAL for an empty
 * string, an empty item or an unknown word. */
int cfs_perms_parse(const char *s, unsigned *out);

/* Append the words of mask to out, comma-separated in the order read,
 * write, command, sync, git.  0 (a share without perms) is written as every
 * word.  0, -EINVAL for bits outside CFS_ACT_ALL, -ENOMEM. */
int cfs_perms_format(unsigned mask, struct cfs_buf *out);

/* A share as permit needs to see it; the strings are borrowed. */
struct cfs_share_view {
	const char *sharer;    /* the owner who shares */
	const char *sharee;    /* the user it is shared with */
	const char *instance;  /* an instance name, or "*" for all of the sharer's */
	unsigned perms;        /* CFS_ACT_* mask; 0 = all */
	int64_t expires_s;     /* epoch seconds; 0 = never; expired from that second on */
	bool enabled;
};

/* Whether u may do action (one or more CFS_ACT_* bits, all required) on
 * instance, owned by owner, at now_s.  instance NULL asks about the owner's
 * instances in general: only "*" shares count.  false for a NULL user, an
 * empty action or bits outside CFS_ACT_ALL. */
bool cfs_permit(const struct cfs_user *u, unsigned action, const char *instance, const char *owner,
		const struct cfs_share_view *shares, size_t n, int64_t now_s);

/* The mask of every action permit would allow (0: not visible). */
unsigned cfs_permitted(const struct cfs_user *u, const char *instance, const char *owner,
		       const struct cfs_share_view *shares, size_t n, int64_t now_s);

#endif
