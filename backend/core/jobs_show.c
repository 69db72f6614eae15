/* jobs_show.c — /jobs: listing, the per-job files and the per-job ctl. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine_priv.h"
#include "core/jobs.h"
#include "core/util.h"

static bool job_visible(const struct cfs_user *u, const struct cfs_job_info *j)
{
	return u->superadmin || j->owner_uid == u->uid;
}

static int parse_id(const char *s, long long *id)
{
	uint64_t v;
	if (cfs_parse_u64(s, &v) || v == 0 || s[0] == '0')
		return -ENOENT;
	*id = (long long)v;
	return 0;
}

struct list_ctx {
	const struct cfs_user *u;
	cfs_emit_fn emit;
	void *ctx;
};

static int list_one(void *arg, const struct cfs_job_info *j)
{
	struct list_ctx *l = arg;
	if (!job_visible(l->u, j))
		return 0;
	char id[32];
	snprintf(id, sizeof id, "%lld", j->id);
	int r = l->emit(l->ctx, id);
	return r < 0 ? r : 0;
}

int cfs_jobs_list(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		  cfs_emit_fn emit, void *ctx)
{
	(void)caps;
	struct list_ctx l = { &c->user, emit, ctx };
	return jobs_each(e->jobs, list_one, &l);
}

static int get_visible(struct cfs_engine *e, const struct cfs_caller *c, const char *idtxt,
		       struct cfs_job_info *j, struct cfs_buf *log)
{
	long long id;
	if (parse_id(idtxt, &id) || jobs_get(e->jobs, id, j, log) || !job_visible(&c->user, j))
		return -ENOENT;
	return 0;
}

int cfs_job_exists(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		   int depth)
{
	struct cfs_job_info j;
	return get_visible(e, c, caps[depth], &j, NULL);
}

static void iso_or_null(cJSON *o, const char *key, int64_t ms)
{
	char ts[32];
	if (!ms) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	cfs_time_iso(ms / 1000, ts);
	cJSON_AddStringToObject(o, key, ts);
}

int cfs_job_show(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		 const char *arg, struct cfs_buf *out)
{
	struct cfs_job_info j;
	struct cfs_buf log = CFS_BUF_INIT;
	bool want_log = strcmp(arg, "log") == 0 || strcmp(arg, "job.json") == 0;
	int r = get_visible(e, c, caps[0], &j, want_log ? &log : NULL);
	if (r)
		return r;
	if (strcmp(arg, "cmd") == 0)
		r = cfs_buf_printf(out, "%s\n", j.cmd);
	else if (strcmp(arg, "status") == 0)
		r = cfs_buf_printf(out, "%s\n", cfs_job_status_name(j.status));
	else if (strcmp(arg, "progress") == 0)
		r = cfs_buf_printf(out, "%s\n", j.progress);
	else if (strcmp(arg, "log") == 0)
		r = log.len ? cfs_buf_append(out, log.data, log.len) : 0;
	else if (strcmp(arg, "job.json") == 0) {
		cJSON *o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "id", (double)j.id);
		cJSON_AddStringToObject(o, "cmd", j.cmd);
		cJSON_AddStringToObject(o, "owner", j.owner);
		cJSON_AddStringToObject(o, "status", cfs_job_status_name(j.status));
		cJSON_AddStringToObject(o, "progress", j.progress);
		if (j.error[0])
			cJSON_AddStringToObject(o, "error", j.error);
		else
			cJSON_AddNullToObject(o, "error");
		iso_or_null(o, "created", j.created);
		iso_or_null(o, "started", j.started);
		iso_or_null(o, "finished", j.finished);
		cJSON_AddStringToObject(o, "log", log.data ? log.data : "");
		char *txt = cJSON_Print(o);
		cJSON_Delete(o);
		r = txt ? cfs_buf_printf(out, "%s\n", txt) : -ENOMEM;
		free(txt);
	} else
		r = -ENOENT;
	cfs_buf_free(&log);
	return r;
}

static int job_cancel_verb(void *ctx, const struct ctl_args *a, struct ctl_outcome *o,
			   struct cfs_err *err)
{
	(void)a;
	struct ctl_ctx *x = ctx;
	struct cfs_job_info j;
	if (get_visible(x->e, x->c, x->caps[0], &j, NULL))
		return cfs_errf(err, -ENOENT, "cancel: no job %s", x->caps[0]);
	int r = jobs_cancel(x->e->jobs, j.id);
	if (r == -EINVAL)
		return cfs_errf(err, -EINVAL, "cancel: job %lld has ended already (%s)", j.id,
				cfs_job_status_name(j.status));
	if (r)
		return cfs_errf(err, r, "cancel: cannot cancel job %lld", j.id);
	ctl_ok(o, "job", "%lld", j.id);
	ctl_ok(o, "cancelling", "yes");
	return 0;
}

static const struct ctl_verb job_verbs[] = {
	{ "cancel", "ask the job to stop", job_cancel_verb },
};

const struct ctl_verb *cfs_job_verbs(size_t *n)
{
	*n = 1;
	return job_verbs;
}

int cfs_job_ctl(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		const char *data, size_t len, struct ctl_outcome *o)
{
	struct ctl_ctx x = { e, c, caps };
	return ctl_exec(job_verbs, 1, &x, data, len, o);
}
