/* view.c — the top of snapshots/: one directory per snapshot, latest, and
 * the ids/, hosts/HOST/, tags/TAG/ groupings as symlinks.  A view is rebuilt
 * after every refresh and only read under r->lock. */
#include "restic/rr_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct vent {
	char name[96];
	struct rr_snap *s;
};

struct group {
	uint32_t str;            /* interned serial */
	size_t n;
	size_t *members;         /* indices into e, in name order */
};

struct rr_view {
	size_t n;
	struct vent *e;          /* sorted by name */
	size_t *by_serial;       /* serial → index in e, or SIZE_MAX */
	size_t nserial;
	size_t latest;           /* index in e, SIZE_MAX when empty */
	struct group *hosts, *tags;
	size_t nhosts, ntags;
};

static const char *const fixed_names[] = { "latest", "ids", "hosts", "tags" };
#define NFIXED 4

void rr_view_free(struct rr_view *v)
{
	if (!v)
		return;
	for (size_t i = 0; i < v->nhosts; i++)
		free(v->hosts[i].members);
	for (size_t i = 0; i < v->ntags; i++)
		free(v->tags[i].members);
	free(v->hosts);
	free(v->tags);
	free(v->by_serial);
	free(v->e);
	free(v);
}

struct rr_snap *rr_snap_get(struct rr_repo *r, uint32_t serial)
{
	return serial >= 1 && serial <= r->nsnaps ? r->snaps[serial - 1] : NULL;
}

/* Interned host/tag component; 0 on allocation failure. */
static uint32_t intern(struct rr_repo *r, const char *raw)
{
	char c[256];
	rr_component(raw, c, sizeof c);
	for (size_t i = 0; i < r->nstrs; i++)
		if (strcmp(r->strs[i], c) == 0)
			return (uint32_t)i + 1;
	if (r->nstrs == r->cstrs) {
		size_t nc = r->cstrs ? r->cstrs * 2 : 16;
		void *p = realloc(r->strs, nc * sizeof *r->strs);
		if (!p)
			return 0;
		r->strs = p;
		r->cstrs = nc;
	}
	if (!(r->strs[r->nstrs] = strdup(c)))
		return 0;
	return (uint32_t)++r->nstrs;
}

static int vent_cmp(const void *a, const void *b)
{
	return strcmp(((const struct vent *)a)->name, ((const struct vent *)b)->name);
}

static int short_cmp(const void *a, const void *b)
{
	const struct rr_snap *x = *(struct rr_snap *const *)a, *y = *(struct rr_snap *const *)b;
	return memcmp(x->idhex, y->idhex, 8);
}

/* Adds member m to the group of interned string str. */
static int group_add(struct group **g, size_t *n, uint32_t str, size_t m)
{
	size_t i;
	for (i = 0; i < *n && (*g)[i].str != str; i++)
		;
	if (i == *n) {
		void *p = realloc(*g, (*n + 1) * sizeof **g);
		if (!p)
			return -ENOMEM;
		*g = p;
		(*g)[i] = (struct group){ .str = str };
		(*n)++;
	}
	void *p = realloc((*g)[i].members, ((*g)[i].n + 1) * sizeof *(*g)[i].members);
	if (!p)
		return -ENOMEM;
	(*g)[i].members = p;
	(*g)[i].members[(*g)[i].n++] = m;
	return 0;
}

int rr_view_build(struct rr_repo *r)
{
	struct rr_view *v = calloc(1, sizeof *v);
	struct rr_snap **live = calloc(r->nsnaps + 1, sizeof *live);
	size_t nlive = 0;
	int ret = -ENOMEM;
	if (!v || !live)
		goto fail;
	for (size_t i = 0; i < r->nsnaps; i++)
		if (!r->snaps[i]->gone)
			live[nlive++] = r->snaps[i];
	v->e = calloc(nlive + 1, sizeof *v->e);
	v->nserial = r->nsnaps + 1;
	v->by_serial = malloc(v->nserial * sizeof *v->by_serial);
	if (!v->e || !v->by_serial)
		goto fail;
	/* short ids that collide get the full id instead */
	qsort(live, nlive, sizeof *live, short_cmp);
	for (size_t i = 0; i < nlive; i++) {
		bool dup = (i > 0 && short_cmp(&live[i - 1], &live[i]) == 0) ||
			   (i + 1 < nlive && short_cmp(&live[i], &live[i + 1]) == 0);
		rr_snap_name(live[i], dup, v->e[i].name);
		v->e[i].s = live[i];
	}
	v->n = nlive;
	qsort(v->e, v->n, sizeof *v->e, vent_cmp);
	for (size_t i = 0; i < v->nserial; i++)
		v->by_serial[i] = SIZE_MAX;
	v->latest = SIZE_MAX;
	for (size_t i = 0; i < v->n; i++) {
		struct rr_snap *s = v->e[i].s;
		v->by_serial[s->serial] = i;
		if (v->latest == SIZE_MAX) {
			v->latest = i;
		} else {
			const struct rr_snap *l = v->e[v->latest].s;
			if (s->time.tv_sec > l->time.tv_sec ||
			    (s->time.tv_sec == l->time.tv_sec && (s->time.tv_nsec > l->time.tv_nsec ||
			     (s->time.tv_nsec == l->time.tv_nsec && strcmp(s->idhex, l->idhex) > 0))))
				v->latest = i;
		}
		uint32_t h = intern(r, s->hostname);
		if (!h || group_add(&v->hosts, &v->nhosts, h, i))
			goto fail;
		for (size_t t = 0; t < s->ntags; t++) {
			uint32_t g = intern(r, s->tags[t]);
			if (!g)
				goto fail;
			bool seen = false;   /* a tag listed twice on one snapshot */
			for (size_t k = 0; k < t; k++)
				seen |= strcmp(s->tags[k], s->tags[t]) == 0;
			if (!seen && group_add(&v->tags, &v->ntags, g, i))
				goto fail;
		}
	}
	free(live);
	rr_view_free(r->view);
	r->view = v;
	return 0;
fail:
	free(live);
	rr_view_free(v);
	return ret;
}

/* ---- meta nodes ---- */

static void dir_attr(struct cfs_vattr *a, const struct timespec *t)
{
	memset(a, 0, sizeof *a);
	a->mode = S_IFDIR | 0555;
	a->nlink = 2;
	if (t)
		a->atime = a->mtime = a->ctime = *t;
}

static const struct timespec *latest_time(const struct rr_view *v)
{
	return v && v->latest != SIZE_MAX ? &v->e[v->latest].s->time : NULL;
}

static struct group *group_of(struct group *g, size_t n, uint32_t str)
{
	for (size_t i = 0; i < n; i++)
		if (g[i].str == str)
			return &g[i];
	return NULL;
}

/* The current name of a live snapshot serial, or NULL. */
static const char *name_of(struct rr_view *v, uint32_t serial)
{
	if (!v || serial >= v->nserial || v->by_serial[serial] == SIZE_MAX)
		return NULL;
	return v->e[v->by_serial[serial]].name;
}

/* The symlink target of a meta symlink, into out. */
static int link_target(struct rr_repo *r, uint64_t node, char *out, size_t len,
		       const struct timespec **t)
{
	struct rr_view *v = r->view;
	const char *name = NULL, *up = "";
	uint32_t serial = 0;
	switch (RR_H_KIND(node)) {
	case RR_K_FIXED:
		if (RR_H_B(node) != RR_F_LATEST || !v || v->latest == SIZE_MAX)
			return -ENOENT;
		serial = v->e[v->latest].s->serial;
		break;
	case RR_K_IDLINK:
		serial = RR_H_B(node);
		up = "../";
		break;
	case RR_K_HOSTLINK:
	case RR_K_TAGLINK:
		serial = RR_H_B(node);
		up = "../../";
		break;
	default:
		return -EINVAL;
	}
	if (!(name = name_of(v, serial)))
		return -ENOENT;
	*t = &r->snaps[serial - 1]->time;
	snprintf(out, len, "%s%s", up, name);
	return 0;
}

int rr_meta_getattr(struct rr_repo *r, uint64_t node, struct cfs_vattr *attr)
{
	char target[160];
	const struct timespec *t;
	int ret = 0;
	pthread_mutex_lock(&r->lock);
	unsigned kind = RR_H_KIND(node);
	struct rr_snap *s;
	switch (kind) {
	case RR_K_FIXED:
		if (RR_H_B(node) == RR_F_LATEST)
			goto link;
		if (RR_H_B(node) < RR_F_ROOT || RR_H_B(node) > RR_F_TAGS || RR_H_A(node)) {
			ret = -ENOENT;
			break;
		}
		dir_attr(attr, latest_time(r->view));
		break;
	case RR_K_SNAP:
		if (!(s = rr_snap_get(r, RR_H_B(node)))) {
			ret = -ENOENT;
			break;
		}
		dir_attr(attr, &s->time);
		break;
	case RR_K_HOSTDIR:
	case RR_K_TAGDIR:
		if (RR_H_A(node) < 1 || RR_H_A(node) > r->nstrs) {
			ret = -ENOENT;
			break;
		}
		dir_attr(attr, latest_time(r->view));
		break;
	case RR_K_IDLINK:
	case RR_K_HOSTLINK:
	case RR_K_TAGLINK:
	link:
		if ((ret = link_target(r, node, target, sizeof target, &t)))
			break;
		memset(attr, 0, sizeof *attr);
		attr->mode = S_IFLNK | 0777;
		attr->nlink = 1;
		attr->size = strlen(target);
		attr->atime = attr->mtime = attr->ctime = *t;
		break;
	default:
		ret = -ENOENT;
	}
	pthread_mutex_unlock(&r->lock);
	return ret;
}

int rr_meta_readlink(struct rr_repo *r, uint64_t node, struct cfs_buf *out)
{
	char target[160];
	const struct timespec *t;
	pthread_mutex_lock(&r->lock);
	int ret = link_target(r, node, target, sizeof target, &t);
	pthread_mutex_unlock(&r->lock);
	if (ret)
		return ret;
	return cfs_buf_puts(out, target);
}

static size_t find_name(const struct rr_view *v, const char *name)
{
	size_t lo = 0, hi = v->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(v->e[mid].name, name);
		if (c == 0)
			return mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return SIZE_MAX;
}

int rr_meta_lookup(struct rr_repo *r, uint64_t parent, const char *name, uint64_t *node,
		   struct cfs_vattr *attr)
{
	int ret = -ENOENT;
	uint64_t h = 0;
	pthread_mutex_lock(&r->lock);
	struct rr_view *v = r->view;
	unsigned kind = RR_H_KIND(parent);
	size_t i;
	struct group *g;
	if (!v)
		goto out;
	if (kind == RR_K_FIXED && RR_H_B(parent) == RR_F_ROOT) {
		for (int f = 0; f < NFIXED; f++)
			if (strcmp(name, fixed_names[f]) == 0)
				h = RR_H_META(RR_K_FIXED, 0, RR_F_LATEST + f);
		if (!h && (i = find_name(v, name)) != SIZE_MAX)
			h = RR_H_META(RR_K_SNAP, 0, v->e[i].s->serial);
		if (h == RR_H_META(RR_K_FIXED, 0, RR_F_LATEST) && v->latest == SIZE_MAX)
			h = 0;
	} else if (kind == RR_K_FIXED && RR_H_B(parent) == RR_F_IDS) {
		for (i = 0; i < v->n && !h; i++)
			if (strcmp(v->e[i].s->idhex, name) == 0)
				h = RR_H_META(RR_K_IDLINK, 0, v->e[i].s->serial);
	} else if (kind == RR_K_FIXED && (RR_H_B(parent) == RR_F_HOSTS ||
					  RR_H_B(parent) == RR_F_TAGS)) {
		bool hosts = RR_H_B(parent) == RR_F_HOSTS;
		for (i = 0; i < (hosts ? v->nhosts : v->ntags) && !h; i++) {
			g = hosts ? &v->hosts[i] : &v->tags[i];
			if (strcmp(r->strs[g->str - 1], name) == 0)
				h = RR_H_META(hosts ? RR_K_HOSTDIR : RR_K_TAGDIR, g->str, 0);
		}
	} else if (kind == RR_K_HOSTDIR || kind == RR_K_TAGDIR) {
		bool hosts = kind == RR_K_HOSTDIR;
		g = hosts ? group_of(v->hosts, v->nhosts, RR_H_A(parent))
			  : group_of(v->tags, v->ntags, RR_H_A(parent));
		if (g && (i = find_name(v, name)) != SIZE_MAX)
			for (size_t k = 0; k < g->n && !h; k++)
				if (g->members[k] == i)
					h = RR_H_META(hosts ? RR_K_HOSTLINK : RR_K_TAGLINK,
						      RR_H_A(parent), v->e[i].s->serial);
	} else {
		ret = -ENOTDIR;
	}
out:
	pthread_mutex_unlock(&r->lock);
	if (!h)
		return ret;
	*node = h;
	return rr_meta_getattr(r, h, attr);
}

int rr_meta_readdir(struct rr_repo *r, uint64_t node, uint64_t offset, vtree_fill_fn fill,
		    void *arg)
{
	struct cfs_vattr a;
	int ret = 0;
	unsigned kind = RR_H_KIND(node);
	/* collect under the lock, fill outside it */
	struct item { char name[256]; uint64_t h; } *items = NULL;
	size_t n = 0, base = 0;
	pthread_mutex_lock(&r->lock);
	struct rr_view *v = r->view;
	if (!v) {
		pthread_mutex_unlock(&r->lock);
		return 0;
	}
	size_t max = v->n + NFIXED + v->nhosts + v->ntags + 1;
	items = calloc(max, sizeof *items);
	if (!items) {
		pthread_mutex_unlock(&r->lock);
		return -ENOMEM;
	}
	if (kind == RR_K_FIXED && RR_H_B(node) == RR_F_ROOT) {
		/* offsets 0..3 are the fixed entries, then one per snapshot */
		base = 0;
		for (int f = 0; f < NFIXED; f++) {
			snprintf(items[n].name, sizeof items[n].name, "%s", fixed_names[f]);
			items[n].h = (f == 0 && v->latest == SIZE_MAX) ? 0
				     : RR_H_META(RR_K_FIXED, 0, RR_F_LATEST + f);
			n++;
		}
		for (size_t i = 0; i < v->n; i++, n++) {
			snprintf(items[n].name, sizeof items[n].name, "%s", v->e[i].name);
			items[n].h = RR_H_META(RR_K_SNAP, 0, v->e[i].s->serial);
		}
	} else if (kind == RR_K_FIXED && RR_H_B(node) == RR_F_IDS) {
		for (size_t i = 0; i < v->n; i++, n++) {
			snprintf(items[n].name, sizeof items[n].name, "%s", v->e[i].s->idhex);
			items[n].h = RR_H_META(RR_K_IDLINK, 0, v->e[i].s->serial);
		}
	} else if (kind == RR_K_FIXED && (RR_H_B(node) == RR_F_HOSTS || RR_H_B(node) == RR_F_TAGS)) {
		bool hosts = RR_H_B(node) == RR_F_HOSTS;
		size_t ng = hosts ? v->nhosts : v->ntags;
		for (size_t i = 0; i < ng; i++, n++) {
			struct group *g = hosts ? &v->hosts[i] : &v->tags[i];
			snprintf(items[n].name, sizeof items[n].name, "%s", r->strs[g->str - 1]);
			items[n].h = RR_H_META(hosts ? RR_K_HOSTDIR : RR_K_TAGDIR, g->str, 0);
		}
	} else if (kind == RR_K_HOSTDIR || kind == RR_K_TAGDIR) {
		bool hosts = kind == RR_K_HOSTDIR;
		struct group *g = hosts ? group_of(v->hosts, v->nhosts, RR_H_A(node))
					: group_of(v->tags, v->ntags, RR_H_A(node));
		for (size_t k = 0; g && k < g->n; k++, n++) {
			size_t i = g->members[k];
			snprintf(items[n].name, sizeof items[n].name, "%s", v->e[i].name);
			items[n].h = RR_H_META(hosts ? RR_K_HOSTLINK : RR_K_TAGLINK, RR_H_A(node),
					       v->e[i].s->serial);
		}
	} else {
		ret = -ENOTDIR;
	}
	pthread_mutex_unlock(&r->lock);
	(void)base;
	for (size_t i = (size_t)offset; !ret && i < n; i++) {
		if (!items[i].h || rr_meta_getattr(r, items[i].h, &a))
			continue;
		if (fill(arg, items[i].name, items[i].h, &a, i + 1))
			break;
	}
	free(items);
	return ret;
}
