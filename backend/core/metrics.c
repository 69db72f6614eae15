/* metrics.c — /metrics in the Prometheus text exposition format. */
#include <stdio.h>

#include "core/engine_priv.h"
#include "core/jobs.h"
#include "core/util.h"

const char *const cfs_fuse_op_names[] = {
	"lookup", "getattr", "setattr", "readdir", "open", "read", "write", "release",
	"readlink", "getxattr", "listxattr", "poll", "other",
};

void cfs_metrics_fuse_op(struct cfs_engine *e, int op)
{
	if (op >= 0 && op < CFS_OP_COUNT)
		atomic_fetch_add_explicit(&e->fuse_ops[op], 1, memory_order_relaxed);
}

int cfs_metrics_show(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		     const char *arg, struct cfs_buf *out)
{
	(void)c;
	(void)caps;
	(void)arg;
	cfs_buf_puts(out, "# HELP cloudfs_fuse_ops_total FUSE operations served, by type.\n"
			  "# TYPE cloudfs_fuse_ops_total counter\n");
	for (int i = 0; i < CFS_OP_COUNT; i++)
		cfs_buf_printf(out, "cloudfs_fuse_ops_total{op=\"%s\"} %lu\n", cfs_fuse_op_names[i],
			       atomic_load_explicit(&e->fuse_ops[i], memory_order_relaxed));

	unsigned long jc[5];
	jobs_count(e->jobs, jc);
	cfs_buf_puts(out, "# HELP cloudfs_jobs Jobs known to this node, by status.\n"
			  "# TYPE cloudfs_jobs gauge\n");
	for (int i = 0; i < 5; i++)
		cfs_buf_printf(out, "cloudfs_jobs{status=\"%s\"} %lu\n", cfs_job_status_name(i), jc[i]);

	unsigned long on, off, stale, unk;
	inst_runtime_counts(e, &on, &off, &stale, &unk);
	cfs_buf_puts(out, "# HELP cloudfs_instances Registered instances, by status.\n"
			  "# TYPE cloudfs_instances gauge\n");
	cfs_buf_printf(out, "cloudfs_instances{status=\"online\"} %lu\n", on);
	cfs_buf_printf(out, "cloudfs_instances{status=\"offline\"} %lu\n", off);
	cfs_buf_printf(out, "cloudfs_instances{status=\"stale\"} %lu\n", stale);
	cfs_buf_printf(out, "cloudfs_instances{status=\"unknown\"} %lu\n", unk);

	cfs_buf_puts(out, "# HELP cloudfs_uptime_seconds Seconds since this mount started.\n"
			  "# TYPE cloudfs_uptime_seconds gauge\n");
	cfs_buf_printf(out, "cloudfs_uptime_seconds %lld\n",
		       (long long)((cfs_now_ms() - e->started_ms) / 1000));
	int r = mirrors_metrics(e, out);
	if (!r)
		r = repos_metrics(e, out);
	return r;
}
