/* cache.c — a size-bounded LRU of loaded values (decrypted blobs, decoded
 * trees) shared by every reader thread.  A value is loaded once however many
 * threads want it at the same moment: the first inserts a "loading" entry and
 * the others wait on it.  Entries in use are never evicted; the budget is
 * enforced as they are released.  Also a small u64 → u64 map. */
#include "restic/rr_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum { C_LOADING, C_READY, C_FAILED };

struct rr_cent {
	uint8_t key[RR_ID_LEN];
	int type, state, err, refs;
	void *val;
	size_t bytes;
	struct rr_cent *hnext;           /* hash chain */
	struct rr_cent *prev, *next;     /* LRU list, READY entries only */
};

struct rr_cache {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	rr_destroy_fn destroy;
	size_t cap, total, count;
	struct rr_cent **buckets;
	size_t nbuckets;
	struct rr_cent *head, *tail;     /* head = most recently used */
	uint64_t hits, misses;
};

static size_t bucket_of(const struct rr_cache *c, const uint8_t *key, int type)
{
	uint64_t h;
	memcpy(&h, key, sizeof h);
	return (size_t)(h ^ (uint64_t)type) & (c->nbuckets - 1);
}

struct rr_cache *rr_cache_new(size_t cap, rr_destroy_fn destroy)
{
	struct rr_cache *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->nbuckets = 1024;
	c->buckets = calloc(c->nbuckets, sizeof *c->buckets);
	if (!c->buckets) {
		free(c);
		return NULL;
	}
	c->cap = cap;
	c->destroy = destroy;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->cond, NULL);
	return c;
}

static void free_entry(struct rr_cache *c, struct rr_cent *e)
{
	if (e->val && c->destroy)
		c->destroy(e->val);
	free(e);
}

void rr_cache_free(struct rr_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->nbuckets; i++) {
		struct rr_cent *e = c->buckets[i];
		while (e) {
			struct rr_cent *n = e->hnext;
			free_entry(c, e);
			e = n;
		}
	}
	free(c->buckets);
	pthread_cond_destroy(&c->cond);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

static void lru_unlink(struct rr_cache *c, struct rr_cent *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void lru_front(struct rr_cache *c, struct rr_cent *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (!c->tail)
		c->tail = e;
}

static void hash_remove(struct rr_cache *c, struct rr_cent *e)
{
	struct rr_cent **pp = &c->buckets[bucket_of(c, e->key, e->type)];
	while (*pp && *pp != e)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = e->hnext;
	e->hnext = NULL;
	c->count--;
}

static void grow(struct rr_cache *c)
{
	size_t nb = c->nbuckets * 2;
	struct rr_cent **b = calloc(nb, sizeof *b);
	if (!b)
		return;
	struct rr_cent **old = c->buckets;
	size_t on = c->nbuckets;
	c->buckets = b;
	c->nbuckets = nb;
	for (size_t i = 0; i < on; i++) {
		struct rr_cent *e = old[i];
		while (e) {
			struct rr_cent *n = e->hnext;
			size_t s = bucket_of(c, e->key, e->type);
			e->hnext = b[s];
			b[s] = e;
			e = n;
		}
	}
	free(old);
}

/* Unlinks unreferenced entries from the cold end until within budget;
 * returns them chained on hnext for freeing outside the lock. */
static struct rr_cent *evict(struct rr_cache *c)
{
	struct rr_cent *out = NULL, *e = c->tail;
	while (c->total > c->cap && e) {
		struct rr_cent *p = e->prev;
		if (e->refs == 0) {
			lru_unlink(c, e);
			hash_remove(c, e);
			c->total -= e->bytes;
			e->hnext = out;
			out = e;
		}
		e = p;
	}
	return out;
}

static void free_chain(struct rr_cache *c, struct rr_cent *e)
{
	while (e) {
		struct rr_cent *n = e->hnext;
		free_entry(c, e);
		e = n;
	}
}

static struct rr_cent *find(struct rr_cache *c, const uint8_t *key, int type)
{
	struct rr_cent *e = c->buckets[bucket_of(c, key, type)];
	while (e && (e->type != type || memcmp(e->key, key, RR_ID_LEN)))
		e = e->hnext;
	return e;
}

bool rr_cache_has(struct rr_cache *c, const uint8_t key[RR_ID_LEN], int type)
{
	pthread_mutex_lock(&c->lock);
	bool r = find(c, key, type) != NULL;
	pthread_mutex_unlock(&c->lock);
	return r;
}

int rr_cache_get(struct rr_cache *c, const uint8_t key[RR_ID_LEN], int type, rr_load_fn load,
		 void *arg, struct rr_cent **out)
{
	pthread_mutex_lock(&c->lock);
	struct rr_cent *e = find(c, key, type);
	if (e) {
		e->refs++;
		c->hits++;
		while (e->state == C_LOADING)
			pthread_cond_wait(&c->cond, &c->lock);
		if (e->state == C_FAILED) {
			int err = e->err;
			if (--e->refs == 0)
				free(e);
			pthread_mutex_unlock(&c->lock);
			return err;
		}
		lru_unlink(c, e);
		lru_front(c, e);
		pthread_mutex_unlock(&c->lock);
		*out = e;
		return 0;
	}
	e = calloc(1, sizeof *e);
	if (!e) {
		pthread_mutex_unlock(&c->lock);
		return -ENOMEM;
	}
	memcpy(e->key, key, RR_ID_LEN);
	e->type = type;
	e->refs = 1;
	e->state = C_LOADING;
	if (c->count + 1 > c->nbuckets * 2)
		grow(c);
	size_t s = bucket_of(c, key, type);
	e->hnext = c->buckets[s];
	c->buckets[s] = e;
	c->count++;
	c->misses++;
	pthread_mutex_unlock(&c->lock);

	void *val = NULL;
	size_t bytes = 0;
	int ret = load(arg, key, type, &val, &bytes);

	pthread_mutex_lock(&c->lock);
	struct rr_cent *victims = NULL;
	if (ret) {
		e->state = C_FAILED;
		e->err = ret;
		hash_remove(c, e);   /* the next reader tries again */
		if (--e->refs == 0)
			free(e);
	} else {
		e->state = C_READY;
		e->val = val;
		e->bytes = bytes;
		c->total += bytes;
		lru_front(c, e);
		victims = evict(c);
		*out = e;
	}
	pthread_cond_broadcast(&c->cond);
	pthread_mutex_unlock(&c->lock);
	free_chain(c, victims);
	return ret;
}

void rr_cache_put(struct rr_cache *c, struct rr_cent *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&c->lock);
	e->refs--;
	struct rr_cent *victims = c->total > c->cap ? evict(c) : NULL;
	pthread_mutex_unlock(&c->lock);
	free_chain(c, victims);
}

void *rr_cent_val(struct rr_cent *e)
{
	return e->val;
}

size_t rr_cent_bytes(struct rr_cent *e)
{
	return e->bytes;
}

void rr_cache_stats(struct rr_cache *c, uint64_t *bytes, uint64_t *entries, uint64_t *hits,
		    uint64_t *misses)
{
	pthread_mutex_lock(&c->lock);
	*bytes = c->total;
	*entries = c->count;
	*hits = c->hits;
	*misses = c->misses;
	pthread_mutex_unlock(&c->lock);
}

/* ---- u64 → u64 map, open addressing, no deletion ---- */

struct rr_u64map {
	uint64_t *keys, *vals;
	uint8_t *used;
	size_t cap, n;
};

struct rr_u64map *rr_u64map_new(void)
{
	return calloc(1, sizeof(struct rr_u64map));
}

void rr_u64map_free(struct rr_u64map *m)
{
	if (!m)
		return;
	free(m->keys);
	free(m->vals);
	free(m->used);
	free(m);
}

static size_t mix(uint64_t k)
{
	k ^= k >> 33;
	k *= UINT64_C(0xff51afd7ed558ccd);
	k ^= k >> 33;
	k *= UINT64_C(0xc4ceb9fe1a85ec53);
	k ^= k >> 33;
	return (size_t)k;
}

bool rr_u64map_get(struct rr_u64map *m, uint64_t key, uint64_t *val)
{
	if (!m->cap)
		return false;
	for (size_t s = mix(key) & (m->cap - 1); m->used[s]; s = (s + 1) & (m->cap - 1))
		if (m->keys[s] == key) {
			*val = m->vals[s];
			return true;
		}
	return false;
}

int rr_u64map_put(struct rr_u64map *m, uint64_t key, uint64_t val)
{
	if ((m->n + 1) * 2 > m->cap) {
		size_t nc = m->cap ? m->cap * 2 : 64;
		struct rr_u64map t = { calloc(nc, 8), calloc(nc, 8), calloc(nc, 1), nc, 0 };
		if (!t.keys || !t.vals || !t.used) {
			free(t.keys);
			free(t.vals);
			free(t.used);
			return -ENOMEM;
		}
		for (size_t i = 0; i < m->cap; i++)
			if (m->used[i])
				rr_u64map_put(&t, m->keys[i], m->vals[i]);
		free(m->keys);
		free(m->vals);
		free(m->used);
		*m = t;
	}
	size_t s = mix(key) & (m->cap - 1);
	for (; m->used[s]; s = (s + 1) & (m->cap - 1))
		if (m->keys[s] == key) {
			m->vals[s] = val;
			return 0;
		}
	m->used[s] = 1;
	m->keys[s] = key;
	m->vals[s] = val;
	m->n++;
	return 0;
}
