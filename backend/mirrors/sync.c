/* sync.c — one sync run: list both sides, plan, then act.
 *
 * Order: the mass-deletion guard is checked before anything changes; then
 * directories are made (parents first), conflicts saved, files and symlinks
 * copied by a bounded pool of workers, and with delete=yes the extra paths
 * removed (children first).  A path that fails is logged and counted; the
 * run goes on and fails at the end, naming how many failed. */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/engine_priv.h"
#include "core/jobs.h"
#include "core/log.h"
#include "core/util.h"
#include "instances/instances.h"
#include "mirrors/mirrors.h"
#include "mirrors/transfer.h"

#define WORKERS 16

static atomic_ullong synced_files, synced_bytes;

void mirrors_count_synced(uint64_t files, uint64_t bytes)
{
	atomic_fetch_add(&synced_files, files);
	atomic_fetch_add(&synced_bytes, bytes);
}

void mirrors_synced_totals(uint64_t *files, uint64_t *bytes)
{
	*files = atomic_load(&synced_files);
	*bytes = atomic_load(&synced_bytes);
}

struct dst_listing {
	struct cfs_engine *e;
	const struct msync_opts *o;
	struct mlist *out;
	int r;
	struct cfs_err err;
};

static void *list_dst(void *arg)
{
	struct dst_listing *d = arg;
	d->r = mlist_fetch(d->e, d->o->dst, d->o->dst_path, d->o->eol, true, d->out, &d->err);
	return NULL;
}

int msync_plan(struct cfs_engine *e, const struct msync_opts *o, struct mlist *src,
	       struct mlist *dst, struct mplan *p, struct cfs_err *err)
{
	struct mglob_set *ex = NULL;
	int r = mglob_set_parse(o->excludes, &ex, err);
	if (r)
		return r;
	memset(dst, 0, sizeof *dst);
	/* both sides are listed at once: each agent walks its own tree */
	struct dst_listing dl = { .e = e, .o = o, .out = dst };
	pthread_t th;
	bool threaded = pthread_create(&th, NULL, list_dst, &dl) == 0;
	r = mlist_fetch(e, o->src, o->src_path, o->eol, false, src, err);
	if (threaded)
		pthread_join(th, NULL);
	else
		list_dst(&dl);
	if (!r && dl.r) {
		r = dl.r;
		*err = dl.err;
	}
	if (r) {
		mlist_free(src);
		mlist_free(dst);
	}
	if (!r && (r = mplan_build(src, dst, ex, o->eol, p))) {
		cfs_errf(err, r, "out of memory");
		mlist_free(src);
		mlist_free(dst);
	}
	mglob_set_free(ex);
	return r;
}

/* root + "/" + rel, or rel for the root. */
static char *join(const char *root, const char *rel)
{
	char *s = NULL;
	if (asprintf(&s, "%s%s%s", root, *root && *rel ? "/" : "", rel) < 0)
		return NULL;
	return s;
}

struct run {
	struct cfs_engine *e;
	struct cfs_job *j;
	const struct msync_opts *o;
	struct agent_target src, dst;
	struct mplan *p;
	size_t *work;                /* indexes into p->v of files and links to copy */
	size_t nwork;
	atomic_size_t next;
	atomic_ullong files_done, bytes_done, wire_bytes, failed, conflicts;
	uint64_t files_total, bytes_total;
	int64_t started_ms;
	pthread_mutex_t lock;        /* job log and progress */
	int64_t last_progress;
	char stamp[32];              /* YYYYMMDD-HHMMSS for conflict names */
};

static void progress(struct run *x, bool force)
{
	int64_t now = cfs_mono_ms();
	pthread_mutex_lock(&x->lock);
	if (x->j && (force || now - x->last_progress >= 250)) {
		x->last_progress = now;
		uint64_t b = atomic_load(&x->bytes_done);
		double secs = (double)(now - x->started_ms) / 1000.0;
		double rate = secs > 0 ? (double)b / secs : 0;
		uint64_t left = x->bytes_total > b ? x->bytes_total - b : 0;
		long long eta = rate > 0 ? (long long)((double)left / rate) : 0;
		job_progress(x->j, "files %llu/%" PRIu64 " bytes %llu/%" PRIu64 " rate %.0f/s eta %llds",
			     (unsigned long long)atomic_load(&x->files_done), x->files_total,
			     (unsigned long long)b, x->bytes_total, rate, eta);
	}
	pthread_mutex_unlock(&x->lock);
}

static void logf_(struct run *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void logf_(struct run *x, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&x->lock);
	if (x->j)
		job_log(x->j, "%s", msg);
	else
		log_info("sync: %s", msg);
	pthread_mutex_unlock(&x->lock);
}

static void on_bytes(void *arg, uint64_t done, uint64_t wire)
{
	struct run *x = arg;
	atomic_fetch_add(&x->bytes_done, done);
	atomic_fetch_add(&x->wire_bytes, wire);
	progress(x, false);
}

static bool is_cancelled(void *arg)
{
	struct run *x = arg;
	return x->j && job_cancelled(x->j);
}

/* Save the destination's newer file beside itself before it is replaced. */
static int save_conflict(struct run *x, struct mx *m, const struct mplan_item *it,
			 const char *dpath)
{
	char *cpath = NULL;
	struct cfs_err err = { 0 };
	if (asprintf(&cpath, "%s%s%s-%s", dpath, MIRROR_CONFLICT_TAG, x->stamp, x->o->src) < 0)
		return -ENOMEM;
	/* a large file's chunks all come from itself: nothing crosses the network */
	struct mx_file f = { .from_path = dpath, .to_path = cpath, .mode = it->dst->mode,
			     .mtime_ns = it->dst->mtime_ns, .size = it->dst->size, .xxh = it->dst->xxh,
			     .base = dpath };
	int r = mx_copy_file(m, &x->dst, &x->dst, &f, &err);
	if (r)
		logf_(x, "conflict %s: cannot save the destination's copy: %s", it->path, err.msg);
	else
		logf_(x, "conflict %s: the destination's newer copy saved as %s", it->path,
		      strrchr(cpath, '/') ? strrchr(cpath, '/') + 1 : cpath);
	atomic_fetch_add(&x->conflicts, 1);
	free(cpath);
	return r;
}

/* Clear what stands in the way of a different type at dpath. */
static int clear_type(struct run *x, const struct mplan_item *it, const char *dpath,
		      struct cfs_err *err)
{
	if (!it->dst || it->dst->type == it->src->type)
		return 0;
	if (it->dst->type == ME_DIR)
		return mx_simple(x->e, &x->dst, "rmdir", dpath, NULL, err);
	if (it->src->type == ME_DIR)
		return mx_simple(x->e, &x->dst, "unlink", dpath, NULL, err);
	return 0;   /* file <-> symlink: the rename replaces it */
}

static void copy_one(struct run *x, struct mx *m, const struct mplan_item *it)
{
	struct cfs_err err = { 0 };
	char *spath = join(x->o->src_path, it->path), *dpath = join(x->o->dst_path, it->path);
	int r = spath && dpath ? 0 : -ENOMEM;
	if (!r && it->cls == MC_DEST_NEWER)
		r = save_conflict(x, m, it, dpath);
	if (!r)
		r = clear_type(x, it, dpath, &err);
	if (!r) {
		if (it->src->type == ME_LINK)
			r = mx_copy_link(m, &x->dst, dpath, it->src->target, it->src->mtime_ns, &err);
		else {
			/* an older copy at the destination: a large file goes as a delta */
			bool old = it->dst && it->dst->type == ME_FILE;
			struct mx_file f = { .from_path = spath, .to_path = dpath,
					     .mode = it->src->mode, .mtime_ns = it->src->mtime_ns,
					     .size = it->src->size, .xxh = it->src->xxh,
					     .base = old ? dpath : NULL };
			r = mx_copy_file(m, &x->src, &x->dst, &f, &err);
		}
	}
	if (r) {
		atomic_fetch_add(&x->failed, 1);
		logf_(x, "failed %s: %s", it->path, err.msg[0] ? err.msg : strerror(-r));
	} else {
		atomic_fetch_add(&x->files_done, 1);
		mirrors_count_synced(1, it->size);
	}
	progress(x, false);
	free(spath);
	free(dpath);
}

static void *worker(void *arg)
{
	struct run *x = arg;
	struct mx m = { .e = x->e, .on_bytes = on_bytes, .cb_arg = x, .cancelled = is_cancelled,
			.cancel_arg = x };
	for (;;) {
		size_t i = atomic_fetch_add(&x->next, 1);
		if (i >= x->nwork || is_cancelled(x))
			break;
		copy_one(x, &m, &x->p->v[x->work[i]]);
	}
	return NULL;
}

static bool moves(enum mclass c)
{
	return c == MC_NEW || c == MC_CHANGED || c == MC_DEST_NEWER;
}

static int make_dirs(struct run *x)
{
	for (size_t i = 0; i < x->p->n; i++) {
		const struct mplan_item *it = &x->p->v[i];
		if (!moves(it->cls) || it->src->type != ME_DIR)
			continue;
		struct cfs_err err = { 0 };
		char *dpath = join(x->o->dst_path, it->path);
		char extra[32];
		snprintf(extra, sizeof extra, "&mode=%o", it->src->mode & 07777);
		int r = dpath ? clear_type(x, it, dpath, &err) : -ENOMEM;
		if (!r)
			r = mx_simple(x->e, &x->dst, "mkdir", dpath, extra, &err);
		if (r == -EEXIST)
			r = mx_simple(x->e, &x->dst, "chmod", dpath, extra, &err);
		free(dpath);
		if (r) {
			atomic_fetch_add(&x->failed, 1);
			logf_(x, "failed %s/: %s", it->path, err.msg);
		}
	}
	return 0;
}

static void delete_extra(struct run *x, uint64_t *deleted)
{
	/* reverse path order: a directory's children before it */
	for (size_t i = x->p->n; i-- > 0;) {
		const struct mplan_item *it = &x->p->v[i];
		if (it->cls != MC_EXTRA)
			continue;
		struct cfs_err err = { 0 };
		char *dpath = join(x->o->dst_path, it->path);
		int r = dpath ? mx_simple(x->e, &x->dst, it->dst->type == ME_DIR ? "rmdir" : "unlink",
					  dpath, NULL, &err)
			      : -ENOMEM;
		free(dpath);
		if (r && r != -ENOENT) {
			atomic_fetch_add(&x->failed, 1);
			logf_(x, "failed to delete %s: %s", it->path, err.msg);
		} else {
			(*deleted)++;
			logf_(x, "deleted %s", it->path);
		}
	}
}

static int guard(struct cfs_engine *e, const struct msync_opts *o, const struct mplan *p,
		 struct cfs_err *err)
{
	if (!o->delete_extra || o->force || !p->dst_files)
		return 0;
	uint64_t extra = 0;
	for (size_t i = 0; i < p->n; i++)
		if (p->v[i].cls == MC_EXTRA && p->v[i].dst->type != ME_DIR)
			extra++;
	double frac = e->cfg.mirrors_max_delete_fraction;
	if ((double)extra <= frac * (double)p->dst_files)
		return 0;
	return cfs_errf(err, -EINVAL,
			"delete=yes would remove %" PRIu64 " of the destination's %" PRIu64
			" files, over the limit of %.0f%% ([mirrors] max_delete); is the source "
			"empty or unmounted?  Add force=yes to delete anyway",
			extra, p->dst_files, frac * 100);
}

int msync_run(struct cfs_engine *e, struct cfs_job *j, const struct msync_opts *o,
	      struct msync_stats *st, struct cfs_err *err)
{
	memset(st, 0, sizeof *st);
	struct mlist src, dst;
	struct mplan p;
	int64_t t0 = cfs_mono_ms();
	int r = msync_plan(e, o, &src, &dst, &p, err);
	if (r)
		return r;
	struct run *x = calloc(1, sizeof *x);
	if (!x) {
		r = cfs_errf(err, -ENOMEM, "out of memory");
		goto out_plan;
	}
	*x = (struct run){ .e = e, .j = j, .o = o, .p = &p, .started_ms = cfs_mono_ms() };
	pthread_mutex_init(&x->lock, NULL);
	time_t now = time(NULL);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(x->stamp, sizeof x->stamp, "%Y%m%d-%H%M%S", &tm);
	if ((r = guard(e, o, &p, err)))
		goto out;
	if ((r = agent_target_load(e, o->src, &x->src, err)) ||
	    (r = agent_target_load(e, o->dst, &x->dst, err)))
		goto out;
	logf_(x, "plan: %" PRIu64 " same, %" PRIu64 " new, %" PRIu64 " changed, %" PRIu64
		 " dest-newer, %" PRIu64 " extra (listed in %lld ms)",
	      p.count[MC_SAME], p.count[MC_NEW], p.count[MC_CHANGED], p.count[MC_DEST_NEWER],
	      p.count[MC_EXTRA], (long long)(cfs_mono_ms() - t0));
	/* the destination root itself */
	if (o->dst_path[0]) {
		struct cfs_err ignore = { 0 };
		char *d = strdup(o->dst_path);
		for (char *s = d; s && (s = strchr(s, '/')); s++) {
			*s = '\0';
			mx_simple(e, &x->dst, "mkdir", d, "&mode=755", &ignore);
			*s = '/';
		}
		if (d)
			mx_simple(e, &x->dst, "mkdir", d, "&mode=755", &ignore);
		free(d);
	}
	make_dirs(x);
	if (!(x->work = calloc(p.n ? p.n : 1, sizeof *x->work))) {
		r = cfs_errf(err, -ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < p.n; i++)
		if (moves(p.v[i].cls) && p.v[i].src->type != ME_DIR) {
			x->work[x->nwork++] = i;
			x->files_total++;
			x->bytes_total += p.v[i].size;
		}
	progress(x, true);
	pthread_t th[WORKERS];
	int started = 0;
	for (int i = 0; i < WORKERS && (size_t)i < x->nwork; i++)
		if (!pthread_create(&th[i], NULL, worker, x))
			started++;
	if (x->nwork && !started)
		worker(x);
	for (int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
	if (is_cancelled(x)) {
		r = cfs_errf(err, -ECANCELED, "cancelled");
		goto out;
	}
	if (o->delete_extra)
		delete_extra(x, &st->deleted);
	progress(x, true);
	st->files = atomic_load(&x->files_done);
	st->bytes = atomic_load(&x->bytes_done);
	st->wire = atomic_load(&x->wire_bytes);
	st->conflicts = atomic_load(&x->conflicts);
	st->failed = atomic_load(&x->failed);
	double secs = (double)(cfs_mono_ms() - t0) / 1000.0;
	logf_(x, "summary: %" PRIu64 " files and %" PRIu64 " bytes copied (%" PRIu64
		 " bytes sent), %" PRIu64 " conflicts saved, %" PRIu64 " deleted, %" PRIu64
		 " failed, %" PRIu64 " unchanged, %.1f s",
	      st->files, st->bytes, st->wire, st->conflicts, st->deleted, st->failed,
	      p.count[MC_SAME], secs);
	if (st->failed)
		r = cfs_errf(err, -EIO, "%" PRIu64 " paths failed (see the job log)", st->failed);
out:
	agent_target_wipe(&x->src);
	agent_target_wipe(&x->dst);
	free(x->work);
	pthread_mutex_destroy(&x->lock);
	free(x);
out_plan:
	mplan_free(&p);
	mlist_free(&src);
	mlist_free(&dst);
	return r;
}
