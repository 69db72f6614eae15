/* delta.c — a large changed file sent as a delta.
 *
 * Both agents cut their copy into content-defined chunks (GET
 * /v1/file/chunks: lengths and XXH3-64s, cut where the content says, so an
 * insertion moves only the cuts around it).  Walking the source's chunks in
 * order, a chunk the destination's old copy also has is copied there
 * locally (POST /v1/file/copy from the old file into the write session);
 * the others stream from the source as usual.  Neighbouring pieces of the
 * same kind are merged into one request.  The commit checks the whole
 * file's XXH3-128 from the source's listing, so a wrong guess anywhere
 * (a 64-bit collision, either file changing meanwhile) fails the commit and
 * the caller sends the whole file instead. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "core/log.h"
#include "instances/instances.h"
#include "mirrors/chunklist.h"
#include "mirrors/transfer.h"
#include "wire/wire.h"

#define AVG_MIN (64u << 10)
#define AVG_MAX (16u << 20)
#define TARGET_CHUNKS 8192          /* about 100 KB of chunk list per side */
#define COPY_MAX (256u << 20)       /* bytes per copy request */
/* 30 s, plus a second per 50 MB the agent reads to list the chunks */
#define LIST_TIMEOUT_MS(size) (int)(30000 + (size) / 50000)

/* The average chunk size for a file: a power of two giving about
 * TARGET_CHUNKS chunks, within [AVG_MIN, AVG_MAX]. */
static uint32_t pick_avg(uint64_t size)
{
	uint64_t avg = AVG_MIN;
	while (avg < AVG_MAX && avg * TARGET_CHUNKS < size)
		avg <<= 1;
	return (uint32_t)avg;
}

/* The chunk list of path on t, asking with bigger averages while the list
 * is too large for one answer. */
static int fetch_chunks(struct mx *x, const struct agent_target *t, const char *path,
			uint64_t size, uint32_t avg, struct chunklist *out, struct cfs_err *err)
{
	for (;;) {
		struct cfs_buf tg = CFS_BUF_INIT;
		struct agent_reply r;
		cfs_buf_puts(&tg, "/v1/file/chunks?path=");
		wire_urlencode(path, &tg);
		cfs_buf_printf(&tg, "&avg=%" PRIu32, avg);
		if (!tg.data)
			return cfs_errf(err, -ENOMEM, "out of memory");
		/* the agent reads the whole file to answer: allow for a slow disk */
		int rc = mx_call_slow(x, t, "GET", tg.data, LIST_TIMEOUT_MS(size), &r, err);
		cfs_buf_free(&tg);
		if (!rc) {
			if (x->on_bytes)
				x->on_bytes(x->cb_arg, 0, r.body.len);
			rc = chunklist_parse(r.body.data, r.body.len, out, err);
		}
		agent_reply_free(&r);
		if (rc == -EFBIG && avg < AVG_MAX) {
			avg = avg <= AVG_MAX / 4 ? avg << 2 : AVG_MAX;
			continue;
		}
		/* an agent without the route, an old copy gone, a list we cannot
		 * use: the caller sends the whole file */
		if (rc && rc != -ECANCELED)
			return cfs_errf(err, -ENOTSUP, "no chunk list from %s: %s", t->name, err->msg);
		return rc;
	}
}

struct src_fetch {
	struct mx *x;
	const struct agent_target *from;
	const struct mx_file *f;
	uint32_t avg;
	struct chunklist *out;
	int rc;
	struct cfs_err err;
};

static void *fetch_src(void *arg)
{
	struct src_fetch *s = arg;
	s->rc = fetch_chunks(s->x, s->from, s->f->from_path, s->f->size, s->avg, s->out, &s->err);
	return NULL;
}

struct pending {
	enum { P_NONE, P_COPY, P_SEND } kind;
	uint64_t src_off, base_off, len;
	uint64_t h;          /* the chunk's XXH3-64 while it is a single chunk */
	unsigned chunks;
};

static int flush(struct mx *x, const struct agent_target *from, const struct agent_target *to,
		 const struct mx_file *f, const char *sid, struct pending *p, struct cfs_err *err)
{
	int rc = 0;
	if (p->kind == P_SEND) {
		uint64_t got;
		rc = mx_stream(x, from, f->from_path, p->src_off, p->len, to, sid, NULL, &got, err);
	} else if (p->kind == P_COPY) {
		struct cfs_buf tg = CFS_BUF_INIT;
		struct agent_reply r;
		cfs_buf_printf(&tg, "/v1/file/copy?session=%s&from=", sid);
		wire_urlencode(f->base, &tg);
		cfs_buf_printf(&tg, "&from_offset=%" PRIu64 "&offset=%" PRIu64 "&length=%" PRIu64,
			       p->base_off, p->src_off, p->len);
		if (p->chunks == 1)
			cfs_buf_printf(&tg, "&xxh64=%016" PRIx64, p->h);
		rc = tg.data ? mx_call(x, to, "POST", tg.data, NULL, 0, &r, err)
			     : cfs_errf(err, -ENOMEM, "out of memory");
		if (tg.data)
			agent_reply_free(&r);
		cfs_buf_free(&tg);
		/* the old copy changed or is shorter than its list said */
		if (rc == -EIO)
			rc = cfs_errf(err, -EAGAIN, "%s", err->msg);
		if (!rc && x->on_bytes)
			x->on_bytes(x->cb_arg, p->len, 0);
	}
	p->kind = P_NONE;
	return rc;
}

int mx_delta_fill(struct mx *x, const struct agent_target *from, const struct agent_target *to,
		  const struct mx_file *f, const char *sid, struct cfs_err *err)
{
	struct chunklist src = { 0 }, old = { 0 };
	struct chunkindex ix = { 0 };
	/* both agents read their whole copy to answer: ask both at once */
	struct src_fetch sf = { .x = x, .from = from, .f = f, .avg = pick_avg(f->size), .out = &src };
	pthread_t th;
	bool threaded = pthread_create(&th, NULL, fetch_src, &sf) == 0;
	int rc = fetch_chunks(x, to, f->base, f->size, sf.avg, &old, err);
	if (threaded)
		pthread_join(th, NULL);
	else
		fetch_src(&sf);
	if (!rc && sf.rc) {
		rc = sf.rc;
		*err = sf.err;
	}
	if (!rc && src.avg != old.avg) {
		/* one list needed bigger chunks: ask the other again for the same */
		bool redo_src = src.avg < old.avg;
		struct chunklist *l = redo_src ? &src : &old;
		uint32_t avg = redo_src ? old.avg : src.avg;
		chunklist_free(l);
		rc = redo_src ? fetch_chunks(x, from, f->from_path, f->size, avg, l, err)
			      : fetch_chunks(x, to, f->base, f->size, avg, l, err);
		if (!rc && src.avg != old.avg)
			rc = cfs_errf(err, -ENOTSUP, "chunk sizes differ");
	}
	if (!rc && src.size != f->size)
		rc = cfs_errf(err, -EAGAIN, "%s: %s changed since it was listed", from->name,
			      f->from_path);
	if (!rc && chunkindex_build(&old, &ix))
		rc = cfs_errf(err, -ENOMEM, "out of memory");
	struct pending p = { .kind = P_NONE };
	uint64_t reused = 0;
	for (size_t i = 0; !rc && i < src.n; i++) {
		const struct chunk *c = &src.v[i];
		const struct chunk *o = chunkindex_find(&ix, c->h, c->len);
		if (o) {
			reused += c->len;
			bool joins = p.kind == P_COPY && p.base_off + p.len == o->off &&
				     p.len + c->len <= COPY_MAX;
			if (!joins && (rc = flush(x, from, to, f, sid, &p, err)))
				break;
			if (!joins)
				p = (struct pending){ .kind = P_COPY, .src_off = c->off, .base_off = o->off,
						      .h = c->h };
			p.len += c->len;
			p.chunks++;
		} else {
			if (p.kind != P_SEND && (rc = flush(x, from, to, f, sid, &p, err)))
				break;
			if (p.kind != P_SEND)
				p = (struct pending){ .kind = P_SEND, .src_off = c->off };
			p.len += c->len;
		}
	}
	if (!rc)
		rc = flush(x, from, to, f, sid, &p, err);
	if (!rc)
		log_debug("%s: %s as a delta: %" PRIu64 " of %" PRIu64 " bytes reused (%zu chunks of ~%" PRIu32
			  ")",
			  to->name, f->to_path, reused, src.size, src.n, src.avg);
	chunkindex_free(&ix);
	chunklist_free(&src);
	chunklist_free(&old);
	return rc;
}
