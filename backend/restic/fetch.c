/* fetch.c — one blob from its pack: every location in turn, each checked
 * (MAC, decompression, SHA-256 against the blob id), failures logged once per
 * blob with the pack and blob ids.  Trees and data blobs go through their
 * shared caches. */
#include "restic/rr_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define MAX_LOCS 8

/* ---- blobs ---- */

static void log_once(struct rr_repo *r, const uint8_t *blob, const uint8_t *pack, const char *why)
{
	uint64_t key, v;
	memcpy(&key, blob, sizeof key);
	key ^= pack ? pack[0] : 0;
	pthread_mutex_lock(&r->lock);
	bool seen = rr_u64map_get(r->logged, key, &v);
	if (!seen)
		rr_u64map_put(r->logged, key, 1);
	pthread_mutex_unlock(&r->lock);
	if (seen)
		return;
	char bh[RR_HEX_LEN], ph[RR_HEX_LEN];
	rr_id_hex(blob, bh);
	if (pack)
		rr_id_hex(pack, ph);
	log_err("restic: %s: blob %s in pack %s: %s", r->location, bh, pack ? ph : "(none)", why);
}

int rr_repo_fetch(struct rr_repo *r, const uint8_t id[RR_ID_LEN], int type, uint8_t **out,
		  size_t *outlen)
{
	struct rr_loc locs[MAX_LOCS];
	int ret = -ENOENT, missing = 0;
	bool retried = false;
again:;
	int n = rr_index_lookup(r->ix, id, type, locs, MAX_LOCS);
	if (n == 0) {
		log_once(r, id, NULL, "not in the index");
		return -EIO;
	}
	for (int i = 0; i < n; i++) {
		uint8_t pid[RR_ID_LEN];
		char ph[RR_HEX_LEN];
		if (rr_index_pack_id(r->ix, locs[i].pack, pid))
			continue;
		rr_id_hex(pid, ph);
		uint8_t *raw = rr_big_alloc(locs[i].length);
		if (!raw) {
			ret = -ENOMEM;
			break;
		}
		ret = r->be->ops->read(r->be, "data", ph, locs[i].offset, locs[i].length, raw);
		if (ret) {
			rr_big_free(raw, locs[i].length);
			missing += ret == -ENOENT;
			if (ret != -ENOENT || retried)
				log_once(r, id, pid, ret == -ENOENT ? "pack missing" : "pack unreadable");
			continue;
		}
		__atomic_add_fetch(&r->fetches, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&r->fetch_bytes, locs[i].length, __ATOMIC_RELAXED);
		ret = rr_blob_decode(&r->mk, raw, locs[i].length, locs[i].ulen, id, out, outlen);
		rr_big_free(raw, locs[i].length);
		if (!ret)
			break;
		log_once(r, id, pid, "damaged (MAC, decompression or hash mismatch)");
	}
	if (ret && missing == n && !retried) {
		/* every pack gone: a prune ran since we loaded the index; reload, retry once */
		struct cfs_err err;
		retried = true;
		missing = 0;
		pthread_mutex_lock(&r->refresh_lock);
		int lret = rr_repo_load_index(r, &err);
		pthread_mutex_unlock(&r->refresh_lock);
		if (!lret)
			goto again;
		log_once(r, id, NULL, "pack missing and the index cannot be reloaded");
	}
	return ret == -ENOMEM || ret == -EACCES ? ret : (ret ? -EIO : 0);
}

static int load_tree(void *arg, const uint8_t key[RR_ID_LEN], int type, void **val,
		     size_t *bytes)
{
	struct rr_repo *r = arg;
	uint8_t *pt;
	size_t len;
	(void)type;
	int ret = rr_repo_fetch(r, key, RR_TREE, &pt, &len);
	if (ret)
		return ret;
	struct rr_tree *t;
	ret = rr_tree_decode((char *)pt, len, &t);
	rr_big_free(pt, len);
	if (ret) {
		char h[RR_HEX_LEN];
		rr_id_hex(key, h);
		log_err("restic: %s: tree %s is malformed", r->location, h);
		return ret == -ENOMEM ? ret : -EIO;
	}
	*val = t;
	*bytes = t->bytes;
	return 0;
}

void rr_tree_destroy(void *v)
{
	rr_tree_free(v);
}

int rr_repo_tree(struct rr_repo *r, const uint8_t id[RR_ID_LEN], struct rr_cent **ent)
{
	return rr_cache_get(r->trees, id, RR_TREE, load_tree, r, ent);
}

static int load_blob(void *arg, const uint8_t key[RR_ID_LEN], int type, void **val,
		     size_t *bytes)
{
	struct rr_repo *r = arg;
	uint8_t *pt;
	size_t len;
	(void)type;
	int ret = rr_repo_fetch(r, key, RR_DATA, &pt, &len);
	if (ret)
		return ret;
	struct rr_blob *b = malloc(sizeof *b);
	if (!b) {
		rr_big_free(pt, len);
		return -ENOMEM;
	}
	b->len = len;
	b->data = pt;
	*val = b;
	*bytes = sizeof *b + len;
	return 0;
}

void rr_blob_destroy(void *v)
{
	struct rr_blob *b = v;
	rr_big_free(b->data, b->len);
	free(b);
}

int rr_repo_blob(struct rr_repo *r, const uint8_t id[RR_ID_LEN], struct rr_cent **ent)
{
	return rr_cache_get(r->blobs, id, RR_DATA, load_blob, r, ent);
}
