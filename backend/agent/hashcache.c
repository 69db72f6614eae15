/* hashcache.c — the agent's content hash cache for mirror listings.
 *
 * Keyed by (dev, inode, size, mtime_ns, ctime_ns): any write to a file moves
 * its ctime, so a matching key means the content hashed before is still
 * there, and a listing of an unchanged tree reads no file data.  The table
 * is saved as fixed-size records to STATE/hashcache (temp file + rename).
 *
 * Saving is deferred to a thread of its own, a few seconds after the first
 * change not yet saved (not after the last: a busy push mirror lists every
 * few seconds and would put it off for ever).  A listing answers without
 * waiting for a megabyte and an fsync, and the save does not land in the
 * journal commit that the copies' fsyncs of the sync that follows the
 * listing would then have to wait for. */
#include "agent/mirror_api.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth/crypto.h"
#include "core/log.h"
#include "core/util.h"
#include "mirrors/eol.h"

#define HC_MAGIC "cloudfs-hashcache-1\n"
#define HC_MAX (1u << 20)          /* entries; over it the table starts afresh */
#define HC_BLOCK (1u << 20)
#define HC_SAVE_DELAY_MS 3000      /* from a first unsaved change to its save */

struct hc_rec {
	uint64_t dev, ino, size;
	int64_t mtime_ns, ctime_ns;
	uint8_t text;
	char xxh[32], xxh_lf[32];
};

struct hc_node {
	struct hc_rec r;
	struct hc_node *next;
};

#define HC_BUCKETS 65536

struct hcache {
	pthread_mutex_t lock;
	char *path;
	struct hc_node *b[HC_BUCKETS];
	size_t n;
	bool dirty;
	/* the deferred saver (under lock) */
	pthread_cond_t wake;
	pthread_t saver;
	bool saver_up, stopping;
	int64_t save_at_ms;        /* 0: no save pending */
	pthread_mutex_t file_lock; /* one writer of the file at a time */
};

static size_t bucket(uint64_t dev, uint64_t ino)
{
	uint64_t h = (ino * 0x9e3779b97f4a7c15ULL) ^ dev;
	return (size_t)(h >> 16) % HC_BUCKETS;
}

static void clear(struct hcache *c)
{
	for (size_t i = 0; i < HC_BUCKETS; i++) {
		while (c->b[i]) {
			struct hc_node *n = c->b[i];
			c->b[i] = n->next;
			free(n);
		}
	}
	c->n = 0;
}

/* With the lock held: insert or replace the record for (dev, ino). */
static int put(struct hcache *c, const struct hc_rec *r)
{
	size_t k = bucket(r->dev, r->ino);
	for (struct hc_node *n = c->b[k]; n; n = n->next)
		if (n->r.dev == r->dev && n->r.ino == r->ino) {
			n->r = *r;
			return 0;
		}
	if (c->n >= HC_MAX)
		clear(c);
	struct hc_node *n = malloc(sizeof *n);
	if (!n)
		return -ENOMEM;
	n->r = *r;
	n->next = c->b[k];
	c->b[k] = n;
	c->n++;
	return 0;
}

static void load(struct hcache *c)
{
	FILE *f = fopen(c->path, "rb");
	if (!f)
		return;
	char magic[sizeof HC_MAGIC - 1];
	struct hc_rec r;
	if (fread(magic, 1, sizeof magic, f) == sizeof magic && !memcmp(magic, HC_MAGIC, sizeof magic))
		while (fread(&r, sizeof r, 1, f) == 1 && put(c, &r) == 0)
			;
	fclose(f);
}

int hcache_open(const char *path, struct hcache **out)
{
	struct hcache *c = calloc(1, sizeof *c);
	if (!c)
		return -ENOMEM;
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->file_lock, NULL);
	cfs_cond_init_mono(&c->wake);
	if (path) {
		if (!(c->path = strdup(path))) {
			hcache_free(c);
			return -ENOMEM;
		}
		load(c);
	}
	*out = c;
	return 0;
}

/* Stops the saver; what it had pending is saved now. */
void hcache_free(struct hcache *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->stopping = true;
	bool up = c->saver_up;
	pthread_cond_signal(&c->wake);
	pthread_mutex_unlock(&c->lock);
	if (up)
		pthread_join(c->saver, NULL);
	hcache_save(c);
	clear(c);
	free(c->path);
	pthread_cond_destroy(&c->wake);
	pthread_mutex_destroy(&c->file_lock);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

size_t hcache_size(struct hcache *c)
{
	pthread_mutex_lock(&c->lock);
	size_t n = c->n;
	pthread_mutex_unlock(&c->lock);
	return n;
}

#define HC_SLICE 4096   /* buckets copied per lock */

/* Writes every record to f, copied under the lock a slice of buckets at a
 * time: lookups go on while the file is written, and the copy never holds
 * more than a slice of a large table.  Each record stands on its own, so
 * one changed between slices is simply saved next time. */
static int write_records(struct hcache *c, FILE *f)
{
	struct hc_rec *recs = NULL;
	size_t cap = 0;
	int r = 0;
	for (size_t from = 0; from < HC_BUCKETS && !r; from += HC_SLICE) {
		size_t n = 0;
		pthread_mutex_lock(&c->lock);
		for (size_t i = from; i < from + HC_SLICE && !r; i++)
			for (struct hc_node *h = c->b[i]; h && !r; h = h->next) {
				if (n == cap) {
					size_t nc = cap ? 2 * cap : 1024;
					struct hc_rec *g = realloc(recs, nc * sizeof *recs);
					if (!g) {
						r = -ENOMEM;
						break;
					}
					recs = g;
					cap = nc;
				}
				recs[n++] = h->r;
			}
		pthread_mutex_unlock(&c->lock);
		if (!r && n && fwrite(recs, sizeof *recs, n, f) != n)
			r = -EIO;
	}
	free(recs);
	return r;
}

int hcache_save(struct hcache *c)
{
	if (!c->path)
		return 0;
	pthread_mutex_lock(&c->file_lock);
	pthread_mutex_lock(&c->lock);
	bool dirty = c->dirty;
	c->dirty = false;   /* a change from here on is saved next time */
	pthread_mutex_unlock(&c->lock);
	if (!dirty) {
		pthread_mutex_unlock(&c->file_lock);
		return 0;
	}
	char tmp[PATH_MAX];
	snprintf(tmp, sizeof tmp, "%s.tmp", c->path);
	int r = 0;
	FILE *f = fopen(tmp, "wb");
	if (!f) {
		r = -errno;
	} else {
		if (fwrite(HC_MAGIC, 1, sizeof HC_MAGIC - 1, f) != sizeof HC_MAGIC - 1)
			r = -EIO;
		if (!r)
			r = write_records(c, f);
		if (!r && (fflush(f) || fsync(fileno(f))))
			r = -errno;
		if (fclose(f) && !r)
			r = -errno;
		if (!r && rename(tmp, c->path) < 0)
			r = -errno;
		if (r)
			unlink(tmp);
	}
	if (r) {
		pthread_mutex_lock(&c->lock);
		c->dirty = true;      /* the next save tries again */
		pthread_mutex_unlock(&c->lock);
		log_warn("hash cache %s: cannot save: %s", c->path, strerror(-r));
	}
	pthread_mutex_unlock(&c->file_lock);
	return r;
}

static void *saver(void *arg)
{
	struct hcache *c = arg;
	pthread_mutex_lock(&c->lock);
	while (!c->stopping) {
		if (!c->save_at_ms) {
			pthread_cond_wait(&c->wake, &c->lock);
			continue;
		}
		int64_t wait = c->save_at_ms - cfs_mono_ms();
		if (wait > 0) {
			struct timespec ts;
			cfs_time_in(CLOCK_MONOTONIC, wait, &ts);
			pthread_cond_timedwait(&c->wake, &c->lock, &ts);
			continue;
		}
		c->save_at_ms = 0;
		pthread_mutex_unlock(&c->lock);
		hcache_save(c);
		pthread_mutex_lock(&c->lock);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

void hcache_save_soon(struct hcache *c)
{
	if (!c->path)
		return;
	pthread_mutex_lock(&c->lock);
	if (c->dirty && !c->stopping) {
		if (!c->saver_up)
			c->saver_up = pthread_create(&c->saver, NULL, saver, c) == 0;
		if (c->saver_up && !c->save_at_ms) {
			c->save_at_ms = cfs_mono_ms() + HC_SAVE_DELAY_MS;
			pthread_cond_signal(&c->wake);
		}
	}
	bool now = c->dirty && !c->saver_up;
	pthread_mutex_unlock(&c->lock);
	if (now)
		hcache_save(c);   /* no thread: save as before */
}

static int64_t ns(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000000000 + t->tv_nsec;
}

static void key_of(const struct stat *st, struct hc_rec *r)
{
	memset(r, 0, sizeof *r);
	r->dev = (uint64_t)st->st_dev;
	r->ino = (uint64_t)st->st_ino;
	r->size = (uint64_t)st->st_size;
	r->mtime_ns = ns(&st->st_mtim);
	r->ctime_ns = ns(&st->st_ctim);
}

static bool same_key(const struct hc_rec *a, const struct hc_rec *b)
{
	return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
	       a->mtime_ns == b->mtime_ns && a->ctime_ns == b->ctime_ns;
}

/* Read fd whole: the plain hash, and for text (judged on the first block)
 * the hash after CRLF→LF too. */
static int hash_fd(int fd, struct hc_rec *r, uint64_t *hashed)
{
	struct cfs_xxh128 *h = cfs_xxh128_new(), *hl = cfs_xxh128_new();
	char *buf = malloc(HC_BLOCK), *norm = malloc(HC_BLOCK + 1);
	struct eol_state es = { 0 };
	int rc = 0;
	bool first = true;
	if (!h || !hl || !buf || !norm) {
		rc = -ENOMEM;
		goto out;
	}
	r->text = 0;
	for (;;) {
		/* fill the block, so the first one holds the sniffed window */
		size_t got = 0;
		while (got < HC_BLOCK) {
			ssize_t n = read(fd, buf + got, HC_BLOCK - got);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0) {
				rc = -errno;
				goto out;
			}
			if (n == 0)
				break;
			got += (size_t)n;
		}
		if (first) {
			r->text = eol_is_text(buf, got, got < HC_BLOCK);
			first = false;
		}
		if (!got)
			break;
		*hashed += got;
		cfs_xxh128_update(h, buf, got);
		if (r->text)
			cfs_xxh128_update(hl, norm, eol_feed(&es, buf, got, norm));
		if (got < HC_BLOCK)
			break;
	}
	char hex[CFS_XXH128_HEX];
	cfs_xxh128_final_hex(h, hex);
	memcpy(r->xxh, hex, 32);
	if (r->text) {
		cfs_xxh128_update(hl, norm, eol_finish(&es, norm));
		cfs_xxh128_final_hex(hl, hex);
		memcpy(r->xxh_lf, hex, 32);
	}
out:
	cfs_xxh128_free(h);
	cfs_xxh128_free(hl);
	free(buf);
	free(norm);
	return rc;
}

static void to_val(const struct hc_rec *r, struct hc_val *out)
{
	memcpy(out->xxh, r->xxh, 32);
	out->xxh[32] = '\0';
	out->text = r->text;
	if (r->text) {
		memcpy(out->xxh_lf, r->xxh_lf, 32);
		out->xxh_lf[32] = '\0';
	} else {
		out->xxh_lf[0] = '\0';
	}
}

int hcache_hash(struct hcache *c, int dirfd, const char *name, const struct stat *st,
		struct hc_val *out, uint64_t *hashed)
{
	struct hc_rec key;
	key_of(st, &key);
	pthread_mutex_lock(&c->lock);
	for (struct hc_node *n = c->b[bucket(key.dev, key.ino)]; n; n = n->next)
		if (same_key(&n->r, &key)) {
			to_val(&n->r, out);
			pthread_mutex_unlock(&c->lock);
			return 0;
		}
	pthread_mutex_unlock(&c->lock);
	int fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return -errno;
	struct stat before, after;
	int rc = fstat(fd, &before) < 0 ? -errno : 0;
	if (!rc && !S_ISREG(before.st_mode))
		rc = -EINVAL;
	struct hc_rec r;
	key_of(&before, &r);
	if (!rc)
		rc = hash_fd(fd, &r, hashed);
	if (!rc && fstat(fd, &after) < 0)
		rc = -errno;
	close(fd);
	if (rc)
		return rc;
	to_val(&r, out);
	struct hc_rec now;
	key_of(&after, &now);
	/* cache only what stayed put while we read it */
	if (same_key(&r, &now) && same_key(&r, &key)) {
		pthread_mutex_lock(&c->lock);
		if (!put(c, &r))
			c->dirty = true;
		pthread_mutex_unlock(&c->lock);
	}
	return 0;
}

/* ---- per-agent state ---- */

struct agent_mirror {
	struct agent *a;
	char *key;                 /* state dir + root: identifies the agent */
	struct hcache *hc;
	struct agent_mirror *next;
};

static pthread_mutex_t mirrors_lock = PTHREAD_MUTEX_INITIALIZER;
static struct agent_mirror *mirrors_head;

static char *agent_key(struct agent *a)
{
	char *k = NULL;
	if (asprintf(&k, "%s\n%s", a->state_dir ? a->state_dir : "", a->root) < 0)
		return NULL;
	return k;
}

struct agent_mirror *agent_mirror_get(struct agent *a)
{
	char *k = agent_key(a);
	if (!k)
		return NULL;
	pthread_mutex_lock(&mirrors_lock);
	struct agent_mirror *m;
	for (m = mirrors_head; m; m = m->next)
		if (m->a == a && !strcmp(m->key, k))
			break;
	if (!m && (m = calloc(1, sizeof *m))) {
		char path[PATH_MAX];
		if (a->state_dir)
			snprintf(path, sizeof path, "%s/hashcache", a->state_dir);
		if (hcache_open(a->state_dir ? path : NULL, &m->hc)) {
			free(m);
			m = NULL;
		} else {
			m->a = a;
			m->key = k;
			k = NULL;
			m->next = mirrors_head;
			mirrors_head = m;
		}
	}
	pthread_mutex_unlock(&mirrors_lock);
	free(k);
	return m;
}

struct hcache *agent_mirror_hcache(struct agent_mirror *m)
{
	return m->hc;
}

void agent_mirror_release(struct agent *a)
{
	agent_watch_release(a);
	pthread_mutex_lock(&mirrors_lock);
	for (struct agent_mirror **pp = &mirrors_head; *pp;) {
		struct agent_mirror *m = *pp;
		if (m->a == a) {
			*pp = m->next;
			hcache_free(m->hc);   /* saves what is pending */
			free(m->key);
			free(m);
		} else {
			pp = &m->next;
		}
	}
	pthread_mutex_unlock(&mirrors_lock);
}
