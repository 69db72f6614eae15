/* file.c — open files of a snapshot: content is the concatenation of the
 * file's data blobs.  An open file keeps the cumulative blob sizes, so a read
 * finds its first blob by binary search and fetches only the blobs it
 * overlaps (through the shared blob cache).  Sequential reads queue the next
 * blobs for the prefetch threads, which load them into the cache. */
#include "restic/rr_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"

#define PF_QUEUE 64
#define PF_AHEAD 3

struct rr_prefetch {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint8_t q[PF_QUEUE][RR_ID_LEN];
	size_t head, len;
	bool stop;
	int nthreads;
	pthread_t th[4];
};

struct rr_fh {
	struct rr_repo *r;
	uint32_t n;
	uint8_t (*ids)[RR_ID_LEN];
	uint64_t *starts;        /* n + 1 cumulative sizes */
	pthread_mutex_t lock;
	uint64_t last_end;
	uint32_t pf_next;        /* first blob not yet queued for prefetch */
};

static void *pf_main(void *arg)
{
	struct rr_repo *r = arg;
	struct rr_prefetch *pf = r->pf;
	uint8_t id[RR_ID_LEN];
	pthread_mutex_lock(&pf->lock);
	for (;;) {
		while (!pf->stop && pf->len == 0)
			pthread_cond_wait(&pf->cond, &pf->lock);
		if (pf->stop)
			break;
		memcpy(id, pf->q[pf->head], RR_ID_LEN);
		pf->head = (pf->head + 1) % PF_QUEUE;
		pf->len--;
		pthread_mutex_unlock(&pf->lock);
		struct rr_cent *e;
		if (rr_repo_blob(r, id, &e) == 0)
			rr_cache_put(r->blobs, e);
		pthread_mutex_lock(&pf->lock);
	}
	pthread_mutex_unlock(&pf->lock);
	return NULL;
}

int rr_prefetch_start(struct rr_repo *r, int threads)
{
	struct rr_prefetch *pf = calloc(1, sizeof *pf);
	if (!pf)
		return -ENOMEM;
	pthread_mutex_init(&pf->lock, NULL);
	pthread_cond_init(&pf->cond, NULL);
	r->pf = pf;
	if (threads > 4)
		threads = 4;
	for (int i = 0; i < threads; i++) {
		if (pthread_create(&pf->th[i], NULL, pf_main, r))
			break;
		pf->nthreads++;
	}
	return 0;
}

void rr_prefetch_stop(struct rr_repo *r)
{
	struct rr_prefetch *pf = r->pf;
	if (!pf)
		return;
	pthread_mutex_lock(&pf->lock);
	pf->stop = true;
	pthread_cond_broadcast(&pf->cond);
	pthread_mutex_unlock(&pf->lock);
	for (int i = 0; i < pf->nthreads; i++)
		pthread_join(pf->th[i], NULL);
	pthread_cond_destroy(&pf->cond);
	pthread_mutex_destroy(&pf->lock);
	free(pf);
	r->pf = NULL;
}

static void pf_queue(struct rr_repo *r, const uint8_t id[RR_ID_LEN])
{
	struct rr_prefetch *pf = r->pf;
	if (!pf || !pf->nthreads || rr_cache_has(r->blobs, id, RR_DATA))
		return;
	pthread_mutex_lock(&pf->lock);
	if (pf->len < PF_QUEUE) {   /* full: drop, the reader will fetch it itself */
		memcpy(pf->q[(pf->head + pf->len) % PF_QUEUE], id, RR_ID_LEN);
		pf->len++;
		pthread_cond_signal(&pf->cond);
	}
	pthread_mutex_unlock(&pf->lock);
}

int rr_fh_open(struct rr_repo *r, const struct rr_node *n, struct rr_fh **out)
{
	struct rr_fh *fh = calloc(1, sizeof *fh);
	if (!fh)
		return -ENOMEM;
	pthread_mutex_init(&fh->lock, NULL);
	fh->r = r;
	fh->n = n->ncontent;
	fh->ids = malloc((size_t)n->ncontent * RR_ID_LEN + 1);
	fh->starts = malloc(((size_t)n->ncontent + 1) * sizeof *fh->starts);
	if (!fh->ids || !fh->starts) {
		rr_fh_close(fh);
		return -ENOMEM;
	}
	if (n->ncontent)
		memcpy(fh->ids, n->content, (size_t)n->ncontent * RR_ID_LEN);
	fh->starts[0] = 0;
	for (uint32_t i = 0; i < fh->n; i++) {
		struct rr_loc loc;
		if (rr_index_lookup(r->ix, fh->ids[i], RR_DATA, &loc, 1) != 1) {
			char h[RR_HEX_LEN];
			rr_id_hex(fh->ids[i], h);
			log_err("restic: %s: %s: data blob %s is not in the index", r->location,
				n->name, h);
			rr_fh_close(fh);
			return -EIO;
		}
		fh->starts[i + 1] = fh->starts[i] + rr_loc_size(&loc);
	}
	*out = fh;
	return 0;
}

void rr_fh_close(struct rr_fh *fh)
{
	if (!fh)
		return;
	pthread_mutex_destroy(&fh->lock);
	free(fh->ids);
	free(fh->starts);
	free(fh);
}

ssize_t rr_fh_read(struct rr_fh *fh, char *buf, size_t size, uint64_t off)
{
	uint64_t total = fh->starts[fh->n];
	if (off >= total || size == 0)
		return 0;
	uint64_t end = off + size < off || off + size > total ? total : off + size;
	/* the last blob starting at or before off */
	uint32_t lo = 0, hi = fh->n;
	while (hi - lo > 1) {
		uint32_t mid = lo + (hi - lo) / 2;
		if (fh->starts[mid] <= off)
			lo = mid;
		else
			hi = mid;
	}
	uint32_t i = lo;
	uint64_t pos = off;
	while (pos < end) {
		while (i < fh->n && fh->starts[i + 1] <= pos)
			i++;   /* skip empty blobs */
		struct rr_cent *e;
		int ret = rr_repo_blob(fh->r, fh->ids[i], &e);
		if (ret)
			return ret == -ENOMEM ? ret : -EIO;
		const struct rr_blob *b = rr_cent_val(e);
		uint64_t bstart = fh->starts[i], bend = fh->starts[i + 1];
		if (b->len != bend - bstart) {
			rr_cache_put(fh->r->blobs, e);
			return -EIO;
		}
		uint64_t stop = end < bend ? end : bend;
		memcpy(buf + (pos - off), b->data + (pos - bstart), (size_t)(stop - pos));
		rr_cache_put(fh->r->blobs, e);
		pos = stop;
		if (pos == bend)
			i++;
	}
	/* sequential: queue the blobs after the one just read */
	pthread_mutex_lock(&fh->lock);
	bool seq = off == fh->last_end;
	fh->last_end = end;
	uint32_t from = i > fh->pf_next ? i : fh->pf_next;
	uint32_t to = i + PF_AHEAD < fh->n ? i + PF_AHEAD : fh->n;
	if (seq && from < to)
		fh->pf_next = to;
	pthread_mutex_unlock(&fh->lock);
	for (uint32_t k = from; seq && k < to; k++)
		pf_queue(fh->r, fh->ids[k]);
	return (ssize_t)(end - off);
}
