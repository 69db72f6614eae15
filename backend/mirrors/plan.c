/* plan.c — what a sync would do, path by path.
 *
 * Two entries are the same when type and content agree: a file by size and
 * XXH3-128 (or, with eol=normalize and both sides text, by the hash after
 * CRLF→LF), a symlink by its target, a directory by being one.  mtime never
 * makes two files differ; it only tells a changed file whose destination is
 * newer (dest-newer: a conflict, saved before it is overwritten). */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "mirrors/mirrors.h"

static const char *const class_names[MC_N] = { "same", "new", "changed", "dest-newer", "extra" };

const char *mclass_name(enum mclass c)
{
	return c < MC_N ? class_names[c] : "?";
}

static bool same_content(const struct ment *s, const struct ment *d, bool eol)
{
	if (s->type != d->type)
		return false;
	switch (s->type) {
	case ME_DIR:
		return true;
	case ME_LINK:
		return s->target && d->target && !strcmp(s->target, d->target);
	case ME_FILE:
		if (s->size == d->size && s->xxh[0] && !strcmp(s->xxh, d->xxh))
			return true;
		/* normalised: CRLF and LF copies of one text are the same */
		return eol && s->text && d->text && s->xxh_lf[0] && !strcmp(s->xxh_lf, d->xxh_lf);
	default:
		/* fifos, devices, sockets: never copied, equal when both are one */
		return true;
	}
}

enum mclass mplan_classify(const struct ment *src, const struct ment *dst, bool eol)
{
	if (!dst)
		return MC_NEW;
	if (!src)
		return MC_EXTRA;
	if (same_content(src, dst, eol))
		return MC_SAME;
	/* a newer destination file is someone's work: save it first */
	if (dst->type == ME_FILE && dst->mtime_ns > src->mtime_ns)
		return MC_DEST_NEWER;
	return MC_CHANGED;
}

static int push(struct mplan *p, size_t *cap, enum mclass c, const struct ment *s,
		const struct ment *d)
{
	if (p->n == *cap) {
		size_t n = *cap ? *cap * 2 : 256;
		struct mplan_item *v = realloc(p->v, n * sizeof *v);
		if (!v)
			return -ENOMEM;
		p->v = v;
		*cap = n;
	}
	uint64_t size = 0;
	if (c == MC_EXTRA)
		size = d->type == ME_FILE ? d->size : 0;
	else if (s->type == ME_FILE)
		size = s->size;
	p->v[p->n++] = (struct mplan_item){
		.cls = c, .src = s, .dst = d, .path = s ? s->path : d->path, .size = size,
	};
	p->count[c]++;
	if (c != MC_SAME)
		p->bytes[c] += size;
	return 0;
}

int mplan_build(const struct mlist *src, const struct mlist *dst, const struct mglob_set *ex,
		bool eol, struct mplan *out)
{
	memset(out, 0, sizeof *out);
	size_t i = 0, k = 0, cap = 0;
	int r = 0;
	for (size_t m = 0; m < dst->n; m++)
		if (dst->v[m].type != ME_DIR && !mglob_excluded(ex, dst->v[m].path, false))
			out->dst_files++;
	while (!r && (i < src->n || k < dst->n)) {
		const struct ment *s = i < src->n ? &src->v[i] : NULL;
		const struct ment *d = k < dst->n ? &dst->v[k] : NULL;
		int c = !s ? 1 : !d ? -1 : strcmp(s->path, d->path);
		if (c < 0)
			d = NULL, i++;
		else if (c > 0)
			s = NULL, k++;
		else
			i++, k++;
		const struct ment *any = s ? s : d;
		/* a path excluded on either side is left alone on both */
		if (mglob_excluded(ex, any->path, any->type == ME_DIR) ||
		    (s && d && mglob_excluded(ex, d->path, d->type == ME_DIR)))
			continue;
		if (s && s->type == ME_OTHER)
			continue;   /* fifos, devices, sockets are never copied */
		r = push(out, &cap, mplan_classify(s, d, eol), s, d);
	}
	if (r)
		mplan_free(out);
	return r;
}

void mplan_free(struct mplan *p)
{
	free(p->v);
	memset(p, 0, sizeof *p);
}

int mplan_escape(const char *path, struct cfs_buf *out)
{
	int r = 0;
	for (const char *c = path; *c && !r; c++) {
		if (*c == '\n')
			r = cfs_buf_puts(out, "\\n");
		else if (*c == '\\')
			r = cfs_buf_puts(out, "\\\\");
		else
			r = cfs_buf_append(out, c, 1);
	}
	return r;
}

int mplan_render(const struct mplan *p, bool all, struct cfs_buf *out)
{
	int r = 0;
	for (size_t i = 0; i < p->n && !r; i++) {
		const struct mplan_item *it = &p->v[i];
		if (!all && it->cls == MC_SAME)
			continue;
		r = cfs_buf_printf(out, "%s %" PRIu64 " ", mclass_name(it->cls), it->size);
		if (!r)
			r = mplan_escape(it->path, out);
		if (!r)
			r = cfs_buf_puts(out, "\n");
	}
	for (int c = 0; c < MC_N && !r; c++)
		r = cfs_buf_printf(out, "# total %s %" PRIu64 " paths %" PRIu64 " bytes\n",
				   mclass_name((enum mclass)c), p->count[c], p->bytes[c]);
	return r;
}

int mplan_render_json(const struct mplan *p, struct cfs_buf *out)
{
	cJSON *j = cJSON_CreateObject(), *items = cJSON_AddArrayToObject(j, "paths");
	cJSON *tot = cJSON_AddObjectToObject(j, "totals");
	if (!items || !tot) {
		cJSON_Delete(j);
		return -ENOMEM;
	}
	for (size_t i = 0; i < p->n; i++) {
		cJSON *o = cJSON_CreateObject();
		if (!o)
			break;
		cJSON_AddStringToObject(o, "class", mclass_name(p->v[i].cls));
		cJSON_AddNumberToObject(o, "size", (double)p->v[i].size);
		cJSON_AddStringToObject(o, "path", p->v[i].path);
		cJSON_AddItemToArray(items, o);
	}
	for (int c = 0; c < MC_N; c++) {
		cJSON *o = cJSON_AddObjectToObject(tot, mclass_name((enum mclass)c));
		if (o) {
			cJSON_AddNumberToObject(o, "paths", (double)p->count[c]);
			cJSON_AddNumberToObject(o, "bytes", (double)p->bytes[c]);
		}
	}
	char *s = cJSON_PrintUnformatted(j);
	cJSON_Delete(j);
	if (!s)
		return -ENOMEM;
	int r = cfs_buf_puts(out, s);
	if (!r)
		r = cfs_buf_puts(out, "\n");
	free(s);
	return r;
}
