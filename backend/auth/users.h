/* users.h — the caller of a request as a cloudfs user (DESIGN.md section 4).
 *
 * A caller is the Unix uid of the FUSE request.  Its cloudfs name is the
 * passwd name, or "uid:1234" when the uid has no passwd entry (or a name too
 * long to keep whole).  Roles come from the config: root and the names in
 * [users] superadmins are superadmins; [users] provisioners are provisioners.
 *
 * uid → name lookups are cached for CFS_USER_CACHE_TTL_MS, so users created
 * while mounted show up within that time.  All functions are thread-safe. */
#ifndef CFS_USERS_H
#define CFS_USERS_H

#include <stdbool.h>
#include <sys/types.h>

#include "core/config.h"

#define CFS_USER_NAME_MAX 64          /* bytes in cfs_user.name, NUL included */
#define CFS_USER_CACHE_TTL_MS 30000

struct cfs_user {
	uid_t uid;
	gid_t gid;
	char name[CFS_USER_NAME_MAX];
	bool superadmin;
	bool provisioner;
};

/* Fill u for the caller uid/gid, with roles from c (NULL: no named roles,
 * root is still a superadmin).  0, or a negative errno when the user
 * database fails (-EIO, -ENOMEM); an unknown uid is not an error. */
int cfs_user_resolve(const struct cfs_config *c, uid_t uid, gid_t gid, struct cfs_user *u);

/* The uid of a user name (passwd, or the "uid:1234" form).
 * 0, -ENOENT for an unknown name, -EINVAL for an empty or over-long one,
 * another negative errno when the user database fails. */
int cfs_user_lookup_name(const char *name, uid_t *uid);

/* Forget every cached uid → name entry (for a refresh, and for tests). */
void cfs_user_cache_flush(void);

#endif
