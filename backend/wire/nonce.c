/* nonce.c — the replay cache: which (env, nonce) pairs were accepted lately.
 *
 * Only requests whose signature verified reach this cache, so its size is
 * bounded by what authenticated senders do, never by unsigned garbage.  An
 * entry lives until its request's timestamp leaves the skew window (after
 * that the request is refused as stale anyway), which covers timestamps from
 * the future too.  When full, the oldest insertion goes first.  One mutex
 * guards it all: a lookup is a hash probe and at most one free. */
#include "wire/internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/util.h"

#define NONCE_DEFAULT_MAX (1u << 17)
#define NONCE_MAX_BUCKETS (1u << 20)

struct nc_entry {
	struct nc_entry *hnext;          /* bucket chain */
	struct nc_entry *older, *newer;  /* insertion order */
	int64_t expires_ms;
	uint64_t hash;
	uint8_t nonce[16];
	size_t env_len;
	char env[];
};

struct wire_nonce_cache {
	pthread_mutex_t mu;
	struct nc_entry **buckets;
	size_t mask;
	struct nc_entry *oldest, *newest;
	size_t count, max;
	uint64_t seed;
	uint64_t evicted_live;           /* entries dropped before expiry (cache too small) */
};

struct wire_nonce_cache *wire_nonce_cache_new(size_t max_entries)
{
	struct wire_nonce_cache *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->max = max_entries ? max_entries : NONCE_DEFAULT_MAX;
	size_t nb = 16;
	while (nb < c->max && nb < NONCE_MAX_BUCKETS)
		nb <<= 1;
	c->buckets = calloc(nb, sizeof *c->buckets);
	if (!c->buckets) {
		free(c);
		return NULL;
	}
	c->mask = nb - 1;
	/* A per-cache seed keeps chain lengths out of a sender's control. */
	if (cfs_random(&c->seed, sizeof c->seed))
		c->seed = (uint64_t)cfs_mono_ms() * 0x9e3779b97f4a7c15ull;
	pthread_mutex_init(&c->mu, NULL);
	return c;
}

void wire_nonce_cache_free(struct wire_nonce_cache *c)
{
	if (!c)
		return;
	struct nc_entry *e = c->oldest;
	while (e) {
		struct nc_entry *n = e->newer;
		free(e);
		e = n;
	}
	free(c->buckets);
	pthread_mutex_destroy(&c->mu);
	free(c);
}

size_t wire_nonce_cache_size(struct wire_nonce_cache *c)
{
	pthread_mutex_lock(&c->mu);
	size_t n = c->count;
	pthread_mutex_unlock(&c->mu);
	return n;
}

static uint64_t mix(uint64_t h, const void *data, size_t n)
{
	const unsigned char *p = data;
	for (size_t i = 0; i < n; i++) {
		h ^= p[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t key_hash(uint64_t seed, const char *env, size_t env_len, const uint8_t nonce[16])
{
	uint64_t h = mix(0xcbf29ce484222325ull ^ seed, env, env_len);
	h = mix(h, "", 1);
	h = mix(h, nonce, 16);
	/* Final avalanche so that the low bits used as bucket index depend on
	 * every input byte. */
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

/* Unlink e from its bucket and from the age list, and free it. */
static void drop(struct wire_nonce_cache *c, struct nc_entry *e)
{
	struct nc_entry **pp = &c->buckets[e->hash & c->mask];
	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	if (e->older)
		e->older->newer = e->newer;
	else
		c->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		c->newest = e->older;
	c->count--;
	free(e);
}

int wire_nonce_claim(struct wire_nonce_cache *c, const char *env, const uint8_t nonce[16],
		     int64_t expires_ms, int64_t now_ms)
{
	size_t env_len = strlen(env);
	uint64_t h = key_hash(c->seed, env, env_len, nonce);
	int ret = 0;

	pthread_mutex_lock(&c->mu);
	/* Expiry times are not sorted by insertion, so this only trims the
	 * expired run at the old end; the rest goes when the cache is full or
	 * when its key comes back. */
	while (c->oldest && c->oldest->expires_ms < now_ms)
		drop(c, c->oldest);

	for (struct nc_entry *e = c->buckets[h & c->mask]; e; e = e->hnext) {
		if (e->hash != h || e->env_len != env_len || memcmp(e->nonce, nonce, 16) ||
		    memcmp(e->env, env, env_len))
			continue;
		if (e->expires_ms >= now_ms) {
			ret = -EALREADY;
			goto out;
		}
		drop(c, e);
		break;
	}

	struct nc_entry *e = malloc(sizeof *e + env_len + 1);
	if (!e) {
		ret = -ENOMEM;
		goto out;
	}
	if (c->count >= c->max) {
		if (c->oldest->expires_ms >= now_ms && c->evicted_live++ % 10000 == 0)
			log_warn("wire: replay cache full (%zu entries); dropping live nonces", c->max);
		drop(c, c->oldest);
	}
	*e = (struct nc_entry){
		.hnext = c->buckets[h & c->mask],
		.older = c->newest,
		.expires_ms = expires_ms,
		.hash = h,
		.env_len = env_len,
	};
	memcpy(e->nonce, nonce, 16);
	memcpy(e->env, env, env_len + 1);
	c->buckets[h & c->mask] = e;
	if (c->newest)
		c->newest->newer = e;
	else
		c->oldest = e;
	c->newest = e;
	c->count++;
out:
	pthread_mutex_unlock(&c->mu);
	return ret;
}
