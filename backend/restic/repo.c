/* repo.c — opening a repository (key search, config), refreshing it, and the
 * file access every part shares: listings, and whole files whose names must
 * be the SHA-256 of their bytes and whose boxes must pass the MAC check. */
#include "restic/rr_int.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "core/log.h"
#include "core/util.h"

#define DEFAULT_BLOB_CACHE (32u << 20)
#define TREE_CACHE (32u << 20)

/* Which key file opened which location, so a second open tries it first. */
static pthread_mutex_t hint_lock = PTHREAD_MUTEX_INITIALIZER;
static struct { char *location; char key[RR_HEX_LEN]; } hints[16];

static void hint_get(const char *loc, char out[RR_HEX_LEN])
{
	out[0] = '\0';
	pthread_mutex_lock(&hint_lock);
	for (size_t i = 0; i < sizeof hints / sizeof *hints; i++)
		if (hints[i].location && strcmp(hints[i].location, loc) == 0)
			memcpy(out, hints[i].key, RR_HEX_LEN);
	pthread_mutex_unlock(&hint_lock);
}

static void hint_set(const char *loc, const char *key)
{
	pthread_mutex_lock(&hint_lock);
	size_t slot = 0;
	for (size_t i = 0; i < sizeof hints / sizeof *hints; i++) {
		if (hints[i].location && strcmp(hints[i].location, loc) == 0) {
			slot = i;
			break;
		}
		if (!hints[i].location)
			slot = i;
	}
	if (!hints[slot].location || strcmp(hints[slot].location, loc) != 0) {
		free(hints[slot].location);
		hints[slot].location = strdup(loc);
	}
	snprintf(hints[slot].key, RR_HEX_LEN, "%s", key);
	pthread_mutex_unlock(&hint_lock);
}

/* ---- listing ---- */

static int idlist_add(void *arg, const char *name, uint64_t size)
{
	struct rr_idlist *l = arg;
	uint8_t id[RR_ID_LEN];
	(void)size;
	if (rr_id_parse(name, id))
		return 0;   /* not a restic file name: ignore */
	if (l->n == l->cap) {
		size_t nc = l->cap ? l->cap * 2 : 64;
		void *p = realloc(l->ids, nc * RR_ID_LEN);
		if (!p)
			return -ENOMEM;
		l->ids = p;
		l->cap = nc;
	}
	memcpy(l->ids[l->n++], id, RR_ID_LEN);
	return 0;
}

static int id_cmp(const void *a, const void *b)
{
	return memcmp(a, b, RR_ID_LEN);
}

int rr_list_ids(struct rr_repo *r, const char *type, struct rr_idlist *l)
{
	memset(l, 0, sizeof *l);
	int ret = r->be->ops->list(r->be, type, idlist_add, l);
	if (ret) {
		free(l->ids);
		l->ids = NULL;
		return ret;
	}
	if (l->n)
		qsort(l->ids, l->n, RR_ID_LEN, id_cmp);
	return 0;
}

bool rr_id_in(const uint8_t (*ids)[RR_ID_LEN], size_t n, const uint8_t *id)
{
	return n && bsearch(id, ids, n, RR_ID_LEN, id_cmp) != NULL;
}

/* ---- files ---- */

/* Reads type/name whole, checks that its SHA-256 is its name. */
int rr_get_checked(struct rr_repo *r, const char *type, const char *name,
		       struct cfs_buf *raw)
{
	uint8_t want[RR_ID_LEN], sum[RR_ID_LEN];
	int ret = rr_id_parse(name, want);
	if (ret)
		return -EINVAL;
	if ((ret = r->be->ops->get(r->be, type, name, raw)))
		return ret;
	if (rr_sha256(raw->data, raw->len, sum) || memcmp(sum, want, RR_ID_LEN)) {
		log_err("restic: %s/%s: content does not match its name (damaged file)", type, name);
		return -EIO;
	}
	return 0;
}

int rr_repo_load_unpacked(struct rr_repo *r, const char *type, const char *name,
			  struct cfs_buf *json)
{
	struct cfs_buf raw = CFS_BUF_INIT;
	uint8_t *pt = NULL;
	int ret = rr_get_checked(r, type, name, &raw);
	if (ret)
		goto out;
	ret = -EIO;
	if (raw.len < RR_BOX_OVERHEAD || !(pt = malloc(raw.len)))
		goto out;
	if (rr_box_open(&r->mk, (uint8_t *)raw.data, raw.len, pt)) {
		log_err("restic: %s/%s: MAC check failed (damaged file)", type, name);
		goto out;
	}
	if (rr_unpack(r->version, pt, raw.len - RR_BOX_OVERHEAD, json)) {
		log_err("restic: %s/%s: cannot decode its contents", type, name);
		goto out;
	}
	ret = 0;
out:
	free(pt);
	cfs_buf_free(&raw);
	return ret;
}

/* ---- keys and config ---- */

static int try_key(struct rr_repo *r, const char *name, const char *password)
{
	struct cfs_buf raw = CFS_BUF_INIT;
	struct rr_keyfile kf;
	int ret = rr_get_checked(r, "keys", name, &raw);
	if (ret)
		goto out;
	if ((ret = rr_keyfile_parse(raw.data, raw.len, &kf))) {
		log_warn("restic: keys/%s: not a key file restic would accept", name);
		goto out;
	}
	ret = rr_key_open(&kf, password, &r->mk);
	if (ret == -EINVAL)
		log_warn("restic: keys/%s: scrypt parameters beyond our limits", name);
	rr_keyfile_free(&kf);
out:
	cfs_buf_free(&raw);
	return ret;
}

static int find_key(struct rr_repo *r, const char *password, struct cfs_err *err)
{
	struct rr_idlist l;
	char hint[RR_HEX_LEN], name[RR_HEX_LEN];
	int ret = rr_list_ids(r, "keys", &l), tried = 0;
	if (ret)
		return cfs_errf(err, ret, "cannot list keys/ of %s: %s", r->location,
				cfs_errno_name(ret));
	if (l.n == 0) {
		free(l.ids);
		return cfs_errf(err, -EIO, "%s has no key files (damaged repository)", r->location);
	}
	hint_get(r->location, hint);
	uint8_t hid[RR_ID_LEN];
	if (hint[0] && !rr_id_parse(hint, hid) && rr_id_in((const void *)l.ids, l.n, hid)) {
		tried++;
		if (!(ret = try_key(r, hint, password)))
			goto found;
	}
	for (size_t i = 0; i < l.n && tried < RR_MAX_KEYS; i++) {
		rr_id_hex(l.ids[i], name);
		if (strcmp(name, hint) == 0)
			continue;
		tried++;
		if (!(ret = try_key(r, name, password))) {
			memcpy(hint, name, RR_HEX_LEN);
			goto found;
		}
		if (ret == -ENOMEM)
			break;
	}
	free(l.ids);
	if (ret == -ENOMEM)
		return cfs_errf(err, ret, "out of memory");
	return cfs_errf(err, -EACCES, "wrong password: none of the %d key files of %s opens with it",
			tried, r->location);
found:
	free(l.ids);
	hint_set(r->location, hint);
	return 0;
}

static int load_config(struct rr_repo *r, struct cfs_err *err)
{
	struct cfs_buf raw = CFS_BUF_INIT;
	uint8_t *pt = NULL;
	cJSON *o = NULL;
	int ret = r->be->ops->get(r->be, "config", NULL, &raw);
	if (ret) {
		ret = cfs_errf(err, ret, "cannot read the config of %s: %s", r->location,
			       cfs_errno_name(ret));
		goto out;
	}
	ret = cfs_errf(err, -EIO, "the config of %s does not open with the master key (damaged)",
		       r->location);
	if (raw.len < RR_BOX_OVERHEAD || !(pt = malloc(raw.len)) ||
	    rr_box_open(&r->mk, (uint8_t *)raw.data, raw.len, pt))
		goto out;
	o = cJSON_ParseWithLength((char *)pt, raw.len - RR_BOX_OVERHEAD);
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, "version");
	const cJSON *id = cJSON_GetObjectItemCaseSensitive(o, "id");
	if (!cJSON_IsNumber(v) || !cJSON_IsString(id) || strlen(id->valuestring) != 64 ||
	    cfs_unhex(id->valuestring, r->config_id, RR_ID_LEN)) {
		ret = cfs_errf(err, -EIO, "the config of %s is malformed", r->location);
		goto out;
	}
	if (v->valuedouble != 1 && v->valuedouble != 2) {
		ret = cfs_errf(err, -EIO, "%s has repository version %g; only 1 and 2 are supported",
			       r->location, v->valuedouble);
		goto out;
	}
	r->version = (int)v->valuedouble;
	cfs_err_clear(err);
	ret = 0;
out:
	cJSON_Delete(o);
	if (pt) {
		OPENSSL_cleanse(pt, raw.len - RR_BOX_OVERHEAD);
		free(pt);
	}
	cfs_buf_free(&raw);
	return ret;
}

/* ---- open, refresh, close ---- */

int rr_refresh(struct rr_repo *r, struct cfs_err *err)
{
	pthread_mutex_lock(&r->refresh_lock);
	/* snapshots first, then the index: a snapshot is shown only once every
	 * blob it names can be found */
	int ret = rr_repo_load_snapshots(r, err);
	if (!ret)
		ret = rr_repo_load_index(r, err);
	pthread_mutex_lock(&r->lock);
	if (!ret && (ret = rr_view_build(r)))
		cfs_errf(err, ret, "out of memory");
	/* a failed refresh also counts, so a dead server is not asked on every readdir */
	r->last_refresh_ms = cfs_mono_ms();
	r->refreshes++;
	pthread_cond_broadcast(&r->done);
	pthread_mutex_unlock(&r->lock);
	pthread_mutex_unlock(&r->refresh_lock);
	return ret;
}

static void *refresher_main(void *arg)
{
	struct rr_repo *r = arg;
	pthread_mutex_lock(&r->lock);
	for (;;) {
		while (!r->want_refresh && !r->stopping)
			pthread_cond_wait(&r->kick, &r->lock);
		if (r->stopping)
			break;
		r->want_refresh = false;
		pthread_mutex_unlock(&r->lock);
		struct cfs_err err = { 0 };
		if (rr_refresh(r, &err))
			log_warn("restic: refresh of %s failed: %s", r->location, err.msg);
		pthread_mutex_lock(&r->lock);
	}
	pthread_mutex_unlock(&r->lock);
	return NULL;
}

void rr_repo_kick_refresh(struct rr_repo *r, int wait_ms)
{
	struct timespec until;
	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += wait_ms / 1000;
	until.tv_nsec += (long)(wait_ms % 1000) * 1000000;
	if (until.tv_nsec >= 1000000000) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000;
	}
	pthread_mutex_lock(&r->lock);
	if (!r->refresher_on) {
		pthread_mutex_unlock(&r->lock);
		return;
	}
	uint64_t seen = r->refreshes;
	r->want_refresh = true;
	pthread_cond_signal(&r->kick);
	while (r->refreshes == seen)
		if (pthread_cond_timedwait(&r->done, &r->lock, &until))
			break;
	pthread_mutex_unlock(&r->lock);
}

int rr_open(const struct rr_open_opts *o, struct rr_repo **out, struct cfs_err *err)
{
	int ret;
	if (!o || !o->location || !o->location[0])
		return cfs_errf(err, -EINVAL, "no repository location");
	if (!o->password)
		return cfs_errf(err, -EACCES, "no password for the repository at %s", o->location);
	struct rr_repo *r = calloc(1, sizeof *r);
	if (!r)
		return cfs_errf(err, -ENOMEM, "out of memory");
	pthread_mutex_init(&r->lock, NULL);
	pthread_mutex_init(&r->refresh_lock, NULL);
	pthread_cond_init(&r->kick, NULL);
	pthread_cond_init(&r->done, NULL);
	r->refresh_secs = o->refresh_secs ? o->refresh_secs : 60;
	size_t cache = o->blob_cache_bytes ? o->blob_cache_bytes : DEFAULT_BLOB_CACHE;
	r->location = strdup(o->location);
	r->cache_dir = o->cache_dir ? strdup(o->cache_dir) : NULL;
	r->ix = rr_index_new();
	r->blobs = rr_cache_new(cache, rr_blob_destroy);
	r->trees = rr_cache_new(TREE_CACHE, rr_tree_destroy);
	r->dirmap = rr_u64map_new();
	r->linkmap = rr_u64map_new();
	r->logged = rr_u64map_new();
	if (!r->location || (o->cache_dir && !r->cache_dir) || !r->ix || !r->blobs || !r->trees ||
	    !r->dirmap || !r->linkmap || !r->logged) {
		ret = cfs_errf(err, -ENOMEM, "out of memory");
		goto fail;
	}
	if (strncmp(o->location, "rest:", 5) == 0)
		ret = rr_be_rest_open(o->location, &r->be, err);
	else
		ret = rr_be_local_open(o->location, &r->be, err);
	if (ret)
		goto fail;
	/* strip credentials from what we print */
	if (strncmp(o->location, "rest:", 5) == 0) {
		char *base, *u, *p;
		if (!rr_rest_url_split(o->location, &base, &u, &p)) {
			free(r->location);
			r->location = base;
			free(u);
			if (p) {
				OPENSSL_cleanse(p, strlen(p));
				free(p);
			}
		}
	}
	/* the config tells "no repository here" apart from the rest */
	struct cfs_buf probe = CFS_BUF_INIT;
	ret = r->be->ops->get(r->be, "config", NULL, &probe);
	cfs_buf_free(&probe);
	if (ret == -ENOENT) {
		ret = cfs_errf(err, -ENOENT, "no restic repository at %s (no config)", r->location);
		goto fail;
	}
	if (ret) {
		ret = cfs_errf(err, ret, "cannot read %s: %s", r->location,
			       ret == -EACCES ? "the server refused our credentials"
					      : cfs_errno_name(ret));
		goto fail;
	}
	if ((ret = find_key(r, o->password, err)) || (ret = load_config(r, err)))
		goto fail;
	if ((ret = rr_refresh(r, err)))
		goto fail;
	if ((ret = rr_prefetch_start(r, 2))) {
		ret = cfs_errf(err, ret, "cannot start the prefetch threads");
		goto fail;
	}
	if (r->refresh_secs > 0) {
		if (pthread_create(&r->refresher, NULL, refresher_main, r)) {
			ret = cfs_errf(err, -EAGAIN, "cannot start the refresh thread");
			goto fail;
		}
		r->refresher_on = true;
	}
	*out = r;
	return 0;
fail:
	rr_close(r);
	return ret;
}

void rr_close(struct rr_repo *r)
{
	if (!r)
		return;
	if (r->refresher_on) {
		pthread_mutex_lock(&r->lock);
		r->stopping = true;
		pthread_cond_broadcast(&r->kick);
		pthread_mutex_unlock(&r->lock);
		pthread_join(r->refresher, NULL);
	}
	rr_prefetch_stop(r);
	if (r->be)
		r->be->ops->close(r->be);
	rr_cache_free(r->blobs);
	rr_cache_free(r->trees);
	rr_index_free(r->ix);
	free(r->ixids);
	for (size_t i = 0; i < r->nsnaps; i++) {
		rr_snap_clear(r->snaps[i]);
		free(r->snaps[i]);
	}
	free(r->snaps);
	rr_view_free(r->view);
	for (size_t i = 0; i < r->nstrs; i++)
		free(r->strs[i]);
	free(r->strs);
	free(r->dirs);
	rr_u64map_free(r->dirmap);
	rr_u64map_free(r->linkmap);
	rr_u64map_free(r->logged);
	free(r->location);
	free(r->cache_dir);
	pthread_cond_destroy(&r->kick);
	pthread_cond_destroy(&r->done);
	pthread_mutex_destroy(&r->lock);
	pthread_mutex_destroy(&r->refresh_lock);
	OPENSSL_cleanse(&r->mk, sizeof r->mk);
	free(r);
}

void rr_get_stats(struct rr_repo *r, struct rr_stats *st)
{
	memset(st, 0, sizeof *st);
	rr_index_stats(r->ix, &st->blobs, &st->packs, &st->index_bytes, &st->index_mapped);
	rr_cache_stats(r->blobs, &st->cache_bytes, &st->cache_entries, &st->cache_hits,
		       &st->cache_misses);
	pthread_mutex_lock(&r->lock);
	st->index_files = r->nixids;
	st->index_files_read = __atomic_load_n(&r->ixfiles_read, __ATOMIC_RELAXED);
	for (size_t i = 0; i < r->nsnaps; i++)
		st->snapshots += !r->snaps[i]->gone;
	st->refreshes = r->refreshes;
	pthread_mutex_unlock(&r->lock);
	st->blob_fetches = __atomic_load_n(&r->fetches, __ATOMIC_RELAXED);
	st->fetch_bytes = __atomic_load_n(&r->fetch_bytes, __ATOMIC_RELAXED);
}
