/* jobs.h — the job table and worker pool.
 *
 * A job is a function run on a worker thread with a log, a progress line and
 * a cancel flag.  Jobs are kept in memory and in the database (so /jobs keeps
 * its history across mounts); a job left running by a previous mount is shown
 * as an error "interrupted".  A write that starts a job blocks in jobs_wait()
 * until it ends, or returns at once with wait=no; an interrupted wait leaves
 * the job running. */
#ifndef CFS_JOBS_H
#define CFS_JOBS_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"
#include "core/err.h"

struct cfs_engine;
struct cfs_db;
struct cfs_jobs;
struct cfs_job;

enum cfs_job_status { JOB_QUEUED, JOB_RUNNING, JOB_OK, JOB_ERROR, JOB_CANCELLED };
const char *cfs_job_status_name(enum cfs_job_status s);

/* Returns 0 or a negative errno; on failure set the reason with job_fail(). */
typedef int (*cfs_job_fn)(struct cfs_job *j, void *arg);

struct cfs_jobs *jobs_new(struct cfs_engine *e, struct cfs_db *db, int workers, int64_t keep_s);
int jobs_start(struct cfs_jobs *js);
void jobs_free(struct cfs_jobs *js);   /* stops workers: running jobs are asked to cancel */

/* Queues fn(arg); free_arg(arg) runs when the job is done (may be NULL). */
int jobs_submit(struct cfs_jobs *js, const char *owner, uid_t owner_uid, const char *cmd,
		cfs_job_fn fn, void *arg, void (*free_arg)(void *), long long *id);
/* Blocks until job id ends.  0 when it ended ok; -EIO (or the job's errno) with
 * err saying why when it failed; -ECANCELED when cancelled; -EINTR when
 * *interrupted became non-zero first (the job keeps running). */
int jobs_wait(struct cfs_jobs *js, long long id, const volatile int *interrupted,
	      struct cfs_err *err);
int jobs_cancel(struct cfs_jobs *js, long long id);

/* Inside a job. */
void job_log(struct cfs_job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void job_progress(struct cfs_job *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int job_fail(struct cfs_job *j, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
bool job_cancelled(const struct cfs_job *j);
long long job_id(const struct cfs_job *j);
struct cfs_engine *job_engine(const struct cfs_job *j);

/* Snapshot of one job for display. */
struct cfs_job_info {
	long long id;
	char cmd[256];
	char owner[64];
	uid_t owner_uid;
	enum cfs_job_status status;
	char progress[256];
	char error[200];
	int64_t created, started, finished;   /* epoch ms, 0 when not yet */
};
int jobs_get(struct cfs_jobs *js, long long id, struct cfs_job_info *out, struct cfs_buf *log);
/* Calls fn for every job (ascending id). */
int jobs_each(struct cfs_jobs *js, int (*fn)(void *arg, const struct cfs_job_info *j), void *arg);
/* Counts by status (array of 5). */
void jobs_count(struct cfs_jobs *js, unsigned long counts[5]);

#endif
