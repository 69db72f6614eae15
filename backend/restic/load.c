/* load.c — snapshots, then the index (design.rst's order: a snapshot listed
 * before the index was loaded can never name a blob the index lacks).  Only
 * files not seen before are read; the index is persisted to the cache dir,
 * keyed by the set of index files, and mapped from there on later opens. */
#include "restic/rr_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

/* ---- snapshots ---- */

static struct rr_snap *snap_by_id(struct rr_repo *r, const uint8_t *id)
{
	for (size_t i = 0; i < r->nsnaps; i++)
		if (memcmp(r->snaps[i]->id, id, RR_ID_LEN) == 0)
			return r->snaps[i];
	return NULL;
}

/* Loads the snapshots listed but not known yet; marks the unlisted gone. */
int rr_repo_load_snapshots(struct rr_repo *r, struct cfs_err *err)
{
	struct rr_idlist l;
	char name[RR_HEX_LEN];
	int ret = rr_list_ids(r, "snapshots", &l);
	if (ret)
		return cfs_errf(err, ret, "cannot list snapshots/ of %s: %s", r->location,
				cfs_errno_name(ret));
	struct rr_snap **fresh = calloc(l.n + 1, sizeof *fresh);
	size_t nfresh = 0;
	if (!fresh) {
		free(l.ids);
		return cfs_errf(err, -ENOMEM, "out of memory");
	}
	for (size_t i = 0; i < l.n; i++) {
		pthread_mutex_lock(&r->lock);
		struct rr_snap *s = snap_by_id(r, l.ids[i]);
		pthread_mutex_unlock(&r->lock);
		if (s)
			continue;
		struct cfs_buf json = CFS_BUF_INIT;
		rr_id_hex(l.ids[i], name);
		s = calloc(1, sizeof *s);
		if (!s) {
			ret = -ENOMEM;
			break;
		}
		ret = rr_repo_load_unpacked(r, "snapshots", name, &json);
		if (!ret && (ret = rr_snap_decode(json.data, json.len, s)))
			log_err("restic: snapshots/%s: malformed snapshot, skipped", name);
		cfs_buf_free(&json);
		if (ret == -ENOMEM) {
			free(s);
			break;
		}
		if (ret) {
			/* a forgotten snapshot may vanish between list and read */
			free(s);
			ret = 0;
			continue;
		}
		memcpy(s->id, l.ids[i], RR_ID_LEN);
		memcpy(s->idhex, name, RR_HEX_LEN);
		fresh[nfresh++] = s;
	}
	pthread_mutex_lock(&r->lock);
	if (!ret && r->nsnaps + nfresh > r->csnaps) {
		size_t nc = r->csnaps ? r->csnaps : 16;
		while (nc < r->nsnaps + nfresh)
			nc *= 2;
		void *p = realloc(r->snaps, nc * sizeof *r->snaps);
		if (p) {
			r->snaps = p;
			r->csnaps = nc;
		} else {
			ret = -ENOMEM;
		}
	}
	if (!ret) {
		for (size_t i = 0; i < r->nsnaps; i++)
			r->snaps[i]->gone = !rr_id_in((const void *)l.ids, l.n, r->snaps[i]->id);
		for (size_t i = 0; i < nfresh; i++) {
			fresh[i]->serial = (uint32_t)r->nsnaps + 1;
			r->snaps[r->nsnaps++] = fresh[i];
			fresh[i] = NULL;
		}
	}
	pthread_mutex_unlock(&r->lock);
	for (size_t i = 0; i < nfresh; i++)
		if (fresh[i]) {
			rr_snap_clear(fresh[i]);
			free(fresh[i]);
		}
	free(fresh);
	free(l.ids);
	if (ret)
		return cfs_errf(err, ret, "cannot load the snapshots of %s: %s", r->location,
				cfs_errno_name(ret));
	return 0;
}

/* ---- index ---- */

static void cache_path(struct rr_repo *r, const uint8_t (*ids)[RR_ID_LEN], size_t n,
		       char *out, size_t len)
{
	uint8_t sum[RR_ID_LEN];
	char ch[RR_HEX_LEN], sh[RR_HEX_LEN];
	rr_sha256(ids, n * RR_ID_LEN, sum);
	rr_id_hex(r->config_id, ch);
	rr_id_hex(sum, sh);
	snprintf(out, len, "%s/restic-index-%.16s-%s", r->cache_dir, ch, sh);
}

/* The best cache file for this repository: one whose index files are all
 * still listed, covering the most of them. */
static int cache_open(struct rr_repo *r, const struct rr_idlist *l, struct rr_index **ix,
		      uint8_t (**ids)[RR_ID_LEN], size_t *nids)
{
	char path[4096], prefix[64], ch[RR_HEX_LEN];
	cache_path(r, (const void *)l->ids, l->n, path, sizeof path);
	if (rr_index_load(path, r->config_id, ix, ids, nids) == 0)
		return 0;
	rr_id_hex(r->config_id, ch);
	snprintf(prefix, sizeof prefix, "restic-index-%.16s-", ch);
	DIR *d = opendir(r->cache_dir);
	struct dirent *e;
	int best = -ENOENT;
	while (d && (e = readdir(d))) {
		if (strncmp(e->d_name, prefix, strlen(prefix)) || strchr(e->d_name, '.'))
			continue;
		struct rr_index *cix;
		uint8_t (*cids)[RR_ID_LEN];
		size_t cn;
		snprintf(path, sizeof path, "%s/%s", r->cache_dir, e->d_name);
		if (rr_index_load(path, r->config_id, &cix, &cids, &cn))
			continue;
		bool subset = best != 0 || cn > *nids;
		for (size_t i = 0; i < cn && subset; i++)
			subset = rr_id_in((const void *)l->ids, l->n, cids[i]);
		if (subset) {
			if (best == 0) {
				rr_index_free(*ix);
				free(*ids);
			}
			*ix = cix;
			*ids = cids;
			*nids = cn;
			best = 0;
		} else {
			rr_index_free(cix);
			free(cids);
		}
	}
	if (d)
		closedir(d);
	return best;
}

/* Drops this repository's other cache files. */
static void cache_prune(struct rr_repo *r, const char *keep)
{
	char prefix[64], ch[RR_HEX_LEN], path[4096];
	rr_id_hex(r->config_id, ch);
	snprintf(prefix, sizeof prefix, "restic-index-%.16s-", ch);
	DIR *d = opendir(r->cache_dir);
	struct dirent *e;
	while (d && (e = readdir(d))) {
		if (strncmp(e->d_name, prefix, strlen(prefix)))
			continue;
		snprintf(path, sizeof path, "%s/%s", r->cache_dir, e->d_name);
		if (strcmp(path, keep) != 0)
			unlink(path);
	}
	if (d)
		closedir(d);
}

/* Brings the index up to the listed index files: only the new ones are read;
 * when one we loaded has gone (a prune), everything is rebuilt. */
int rr_repo_load_index(struct rr_repo *r, struct cfs_err *err)
{
	struct rr_idlist l;
	struct rr_index *fresh = NULL;
	uint8_t (*have)[RR_ID_LEN] = NULL;
	size_t nhave = 0;
	char name[RR_HEX_LEN];
	int ret = rr_list_ids(r, "index", &l);
	if (ret)
		return cfs_errf(err, ret, "cannot list index/ of %s: %s", r->location,
				cfs_errno_name(ret));
	bool rebuild = false;
	for (size_t i = 0; i < r->nixids && !rebuild; i++)
		rebuild = !rr_id_in((const void *)l.ids, l.n, r->ixids[i]);
	bool first = r->nixids == 0 && !r->ixfiles_read;
	if (rebuild || first) {
		if (r->cache_dir && cache_open(r, &l, &fresh, &have, &nhave) == 0)
			log_debug("restic: %s: index cache covers %zu of %zu index files", r->location,
				  nhave, l.n);
		else if (!(fresh = rr_index_new())) {
			ret = -ENOMEM;
			goto out;
		}
	} else {
		if (!(have = malloc(r->nixids * RR_ID_LEN + 1))) {
			ret = -ENOMEM;
			goto out;
		}
		memcpy(have, r->ixids, r->nixids * RR_ID_LEN);
		nhave = r->nixids;
	}
	struct rr_index *target = fresh ? fresh : r->ix;
	struct rr_ixbatch b = { 0 };
	size_t added = 0;
	for (size_t i = 0; i < l.n; i++) {
		if (rr_id_in((const void *)have, nhave, l.ids[i]))
			continue;
		struct cfs_buf json = CFS_BUF_INIT;
		rr_id_hex(l.ids[i], name);
		ret = rr_repo_load_unpacked(r, "index", name, &json);
		if (!ret && (ret = rr_index_json_parse(json.data, json.len, r->version, &b)))
			log_err("restic: index/%s: malformed index file", name);
		cfs_buf_free(&json);
		if (ret) {
			rr_ixbatch_free(&b);
			ret = cfs_errf(err, ret == -ENOMEM ? -ENOMEM : -EIO,
				       "cannot load index/%s of %s", name, r->location);
			goto out;
		}
		__atomic_add_fetch(&r->ixfiles_read, 1, __ATOMIC_RELAXED);
		added++;
		/* merge every few hundred thousand blobs so the batch stays small */
		if (b.nrecs > 200000 && (ret = rr_index_merge(target, &b)))
			goto out;
	}
	if ((ret = rr_index_merge(target, &b)))
		goto out;
	if (fresh)
		rr_index_swap(r->ix, fresh);
	pthread_mutex_lock(&r->lock);   /* stats read these */
	free(r->ixids);
	r->ixids = l.ids;
	r->nixids = l.n;
	pthread_mutex_unlock(&r->lock);
	l.ids = NULL;
	if (r->cache_dir && (added || rebuild)) {
		char path[4096];
		cache_path(r, (const void *)r->ixids, r->nixids, path, sizeof path);
		mkdir(r->cache_dir, 0700);
		int sret = rr_index_save(r->ix, path, r->config_id, (const void *)r->ixids, r->nixids);
		if (sret) {
			log_warn("restic: cannot write the index cache %s: %s", path, strerror(-sret));
		} else {
			cache_prune(r, path);
			/* serve from the map from now on: the heap copy goes */
			struct rr_index *m;
			uint8_t (*mids)[RR_ID_LEN];
			size_t mn;
			if (rr_index_load(path, r->config_id, &m, &mids, &mn) == 0) {
				rr_index_swap(r->ix, m);
				rr_index_free(m);
				free(mids);
			}
		}
	}
	ret = 0;
out:
	rr_index_free(fresh);
	free(have);
	free(l.ids);
	return ret;
}
