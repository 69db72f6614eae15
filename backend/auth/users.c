/* users.c — uid → cloudfs user, with a small TTL cache.
 *
 * Every FUSE request resolves its caller, and a passwd lookup may go to NSS
 * (LDAP, sssd), so names are cached in a direct-mapped table keyed by uid.
 * The lookup itself runs outside the lock; two threads missing on the same
 * uid both look it up and the later store wins, which is harmless. */
#include "auth/users.h"

#include <errno.h>
#include <pthread.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/util.h"

#define USERS_SLOTS 64
#define USERS_BUF_MAX (1 << 20)

struct users_slot {
	bool used;
	uid_t uid;
	int64_t stamp_ms;   /* monotonic time of the lookup */
	char name[CFS_USER_NAME_MAX];
};

static struct users_slot users_cache[USERS_SLOTS];
static pthread_mutex_t users_lock = PTHREAD_MUTEX_INITIALIZER;

/* getpwuid_r or getpwnam_r (by_name) with a buffer that grows on ERANGE.
 * 0 and *found, or a negative errno. */
static int users_getpw(bool by_name, const char *name, uid_t uid, struct passwd *pw,
		       char **buf, bool *found)
{
	long hint = sysconf(_SC_GETPW_R_SIZE_MAX);
	size_t len = hint > 0 && hint < USERS_BUF_MAX ? (size_t)hint : 1024;
	struct passwd *res = NULL;
	for (;;) {
		char *nb = realloc(*buf, len);
		if (!nb)
			return -ENOMEM;
		*buf = nb;
		int e = by_name ? getpwnam_r(name, pw, *buf, len, &res)
				: getpwuid_r(uid, pw, *buf, len, &res);
		if (e == ERANGE && len < USERS_BUF_MAX) {
			len *= 2;
			continue;
		}
		/* glibc reports "no such entry" as 0 with no result; the other
		 * codes below mean the same according to getpwnam(3). */
		if (e == 0 || e == ENOENT || e == ESRCH || e == EBADF || e == EPERM) {
			*found = e == 0 && res != NULL;
			return 0;
		}
		return -e;
	}
}

/* The cloudfs name of uid into name (CFS_USER_NAME_MAX bytes). */
static int users_name_of(uid_t uid, char *name)
{
	int64_t now = cfs_mono_ms();
	struct users_slot *s = &users_cache[uid % USERS_SLOTS];
	bool hit = false;

	pthread_mutex_lock(&users_lock);
	if (s->used && s->uid == uid && now - s->stamp_ms < CFS_USER_CACHE_TTL_MS) {
		memcpy(name, s->name, CFS_USER_NAME_MAX);
		hit = true;
	}
	pthread_mutex_unlock(&users_lock);
	if (hit)
		return 0;

	struct passwd pw;
	char *buf = NULL;
	bool found = false;
	int r = users_getpw(false, NULL, uid, &pw, &buf, &found);
	if (r == 0) {
		/* A name that does not fit is not truncated: a cut name could
		 * equal someone else's. */
		if (found && pw.pw_name && *pw.pw_name && strlen(pw.pw_name) < CFS_USER_NAME_MAX)
			snprintf(name, CFS_USER_NAME_MAX, "%s", pw.pw_name);
		else
			snprintf(name, CFS_USER_NAME_MAX, "uid:%u", (unsigned)uid);
	}
	free(buf);
	if (r)
		return r;

	pthread_mutex_lock(&users_lock);
	*s = (struct users_slot){ .used = true, .uid = uid, .stamp_ms = now };
	memcpy(s->name, name, CFS_USER_NAME_MAX);
	pthread_mutex_unlock(&users_lock);
	return 0;
}

/* Whether a role list names the user, by name or as "uid:N". */
static bool users_listed(char *const *list, size_t n, const char *name, uid_t uid)
{
	char byuid[32];
	snprintf(byuid, sizeof byuid, "uid:%u", (unsigned)uid);
	for (size_t i = 0; i < n; i++)
		if (strcmp(list[i], name) == 0 || strcmp(list[i], byuid) == 0)
			return true;
	return false;
}

int cfs_user_resolve(const struct cfs_config *c, uid_t uid, gid_t gid, struct cfs_user *u)
{
	struct cfs_user nu = { .uid = uid, .gid = gid };
	int r = users_name_of(uid, nu.name);
	if (r)
		return r;
	nu.superadmin = uid == 0;
	if (c) {
		nu.superadmin = nu.superadmin || users_listed(c->superadmins, c->n_superadmins, nu.name, uid);
		nu.provisioner = users_listed(c->provisioners, c->n_provisioners, nu.name, uid);
	}
	*u = nu;
	return 0;
}

int cfs_user_lookup_name(const char *name, uid_t *uid)
{
	size_t n = name ? strlen(name) : 0;
	if (n == 0 || n >= CFS_USER_NAME_MAX)
		return -EINVAL;

	if (strncmp(name, "uid:", 4) == 0) {
		/* "uid:N" names only a uid without a passwd entry, so that a
		 * name given here is the name cfs_user_resolve gives back. */
		uint64_t v;
		char canon[CFS_USER_NAME_MAX];
		if (cfs_parse_u64(name + 4, &v) || v >= (uid_t)-1)
			return -ENOENT;
		int r = users_name_of((uid_t)v, canon);
		if (r)
			return r;
		if (strcmp(canon, name) != 0)
			return -ENOENT;
		*uid = (uid_t)v;
		return 0;
	}

	struct passwd pw;
	char *buf = NULL;
	bool found = false;
	int r = users_getpw(true, name, 0, &pw, &buf, &found);
	if (r == 0 && !found)
		r = -ENOENT;
	if (r == 0)
		*uid = pw.pw_uid;
	free(buf);
	return r;
}

void cfs_user_cache_flush(void)
{
	pthread_mutex_lock(&users_lock);
	memset(users_cache, 0, sizeof users_cache);
	pthread_mutex_unlock(&users_lock);
}
