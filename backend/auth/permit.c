/* permit.c — the permission rule of DESIGN.md section 4, as data in, bool out. */
#include "auth/permit.h"

#include <errno.h>
#include <string.h>

static const char *const permit_words[] = { "read", "write", "command", "sync", "git" };
#define PERMIT_NWORDS (sizeof permit_words / sizeof permit_words[0])

int cfs_perms_parse(const char *s, unsigned *out)
{
	unsigned mask = 0;
	if (!s || !*s)
		return -EINVAL;
	for (;;) {
		const char *end = strchr(s, ',');
		size_t n = end ? (size_t)(end - s) : strlen(s);
		size_t i;
		for (i = 0; i < PERMIT_NWORDS; i++)
			if (strlen(permit_words[i]) == n && strncmp(s, permit_words[i], n) == 0)
				break;
		if (i == PERMIT_NWORDS)
			return -EINVAL;   /* also an empty item: "read,,git", "read," */
		mask |= 1u << i;
		if (!end)
			break;
		s = end + 1;
	}
	*out = mask;
	return 0;
}

int cfs_perms_format(unsigned mask, struct cfs_buf *out)
{
	if (mask & ~(unsigned)CFS_ACT_ALL)
		return -EINVAL;
	if (mask == 0)
		mask = CFS_ACT_ALL;
	int r = 0;
	const char *sep = "";
	for (size_t i = 0; i < PERMIT_NWORDS && r == 0; i++)
		if (mask & (1u << i)) {
			r = cfs_buf_printf(out, "%s%s", sep, permit_words[i]);
			sep = ",";
		}
	return r;
}

/* The actions one share grants u on instance, or 0. */
static unsigned permit_share(const struct cfs_share_view *s, const char *name, const char *instance,
			     const char *owner, int64_t now_s)
{
	if (!s->enabled || !s->sharer || !s->sharee || !s->instance)
		return 0;
	if (strcmp(s->sharer, owner) != 0 || strcmp(s->sharee, name) != 0)
		return 0;
	if (s->expires_s != 0 && now_s >= s->expires_s)
		return 0;
	if (strcmp(s->instance, "*") != 0 && (!instance || strcmp(s->instance, instance) != 0))
		return 0;
	return s->perms ? s->perms & CFS_ACT_ALL : CFS_ACT_ALL;
}

unsigned cfs_permitted(const struct cfs_user *u, const char *instance, const char *owner,
		       const struct cfs_share_view *shares, size_t n, int64_t now_s)
{
	if (!u)
		return 0;
	if (u->superadmin)
		return CFS_ACT_ALL;
	/* An empty name never matches: a nameless user owns nothing. */
	if (!owner || !*owner || !u->name[0])
		return 0;
	if (strcmp(u->name, owner) == 0)
		return CFS_ACT_ALL;
	unsigned mask = 0;
	for (size_t i = 0; i < n && shares && mask != CFS_ACT_ALL; i++)
		mask |= permit_share(&shares[i], u->name, instance, owner, now_s);
	return mask;
}

bool cfs_permit(const struct cfs_user *u, unsigned action, const char *instance, const char *owner,
		const struct cfs_share_view *shares, size_t n, int64_t now_s)
{
	if (action == 0 || (action & ~(unsigned)CFS_ACT_ALL))
		return false;
	/* With several bits asked, each may come from a different share. */
	return (cfs_permitted(u, instance, owner, shares, n, now_s) & action) == action;
}
