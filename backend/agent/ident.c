/* ident.c — acting as the FUSE caller.
 *
 * When the agent runs as root and a request names the caller (uid=, gid=,
 * optionally groups=), the request thread switches its filesystem identity
 * for the duration of the operation: fsuid, fsgid and supplementary groups.
 * The kernel then checks permissions as that user, gives created files that
 * owner (and a setgid directory's group, as it would locally), and drops
 * CAP_CHOWN, CAP_FOWNER, CAP_MKNOD… while fsuid is not 0.
 *
 * All three are per-thread in the kernel.  glibc's setgroups() would change
 * every thread of the process, so the raw system call is used. */
#include "agent/internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fsuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "core/log.h"
#include "core/util.h"

#define IDENT_MAX_GROUPS 64

static int parse_id(const char *s, uint32_t *out)
{
	uint64_t v;
	if (!s || cfs_parse_u64(s, &v) || v >= UINT32_MAX)
		return -EINVAL;
	*out = (uint32_t)v;
	return 0;
}

int agent_ident_enter(struct agent *a, const struct query *q, struct ident_save *s)
{
	s->active = false;
	const char *us = agent_query_get(q, "uid", NULL), *gs = agent_query_get(q, "gid", NULL);
	const char *groups = agent_query_get(q, "groups", NULL);
	if (!us && !gs)
		return 0;
	uint32_t uid, gid;
	if (parse_id(us, &uid) || parse_id(gs, &gid))
		return -EINVAL;
	gid_t list[IDENT_MAX_GROUPS];
	size_t n = 0;
	if (groups && *groups) {
		char buf[IDENT_MAX_GROUPS * 12];
		if (strlen(groups) >= sizeof buf)
			return -EINVAL;
		strcpy(buf, groups);
		char *save = NULL;
		for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
			uint32_t g;
			if (n == IDENT_MAX_GROUPS || parse_id(t, &g))
				return -EINVAL;
			list[n++] = g;
		}
	}
	if (!a->is_root || (uid == 0 && gid == 0))
		return 0;   /* not root: we act as ourselves; root caller: nothing to switch */
	if (syscall(SYS_setgroups, n, list) < 0)
		return -errno;
	setfsgid(gid);
	setfsuid(uid);
	s->active = true;
	/* setfsuid reports the previous value, not failures: check both took */
	if ((uint32_t)setfsuid((uid_t)-1) != uid || (uint32_t)setfsgid((gid_t)-1) != gid) {
		agent_ident_leave(a, s);
		return -EPERM;
	}
	return 0;
}

void agent_ident_leave(struct agent *a, struct ident_save *s)
{
	if (!s->active)
		return;
	setfsuid(geteuid());
	setfsgid(getegid());
	if (syscall(SYS_setgroups, (size_t)a->ngroups, a->groups) < 0)
		log_err("cannot restore supplementary groups: %s", strerror(errno));
	s->active = false;
}
