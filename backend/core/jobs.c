#include "core/jobs.h"

#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/events.h"
#include "core/log.h"
#include "core/util.h"
#include "state/db.h"

#define JOB_LOG_MAX (1u << 20)   /* a job's log keeps its last MiB */

struct cfs_job {
	struct cfs_job_info info;
	struct cfs_buf log;
	atomic_int cancel;
	int err_code;
	cfs_job_fn fn;
	void *arg;
	void (*free_arg)(void *);
	struct cfs_job *qnext;
	struct cfs_jobs *js;
};

struct cfs_jobs {
	struct cfs_engine *e;
	struct cfs_db *db;
	pthread_mutex_t lock;
	pthread_cond_t work;      /* queue non-empty or stopping */
	pthread_cond_t done;      /* some job changed state */
	struct cfs_job **all;     /* ascending id */
	size_t n, cap;
	struct cfs_job *qhead, *qtail;
	pthread_t *threads;
	int nworkers, started;
	bool stop;
	int64_t keep_s;
};

const char *cfs_job_status_name(enum cfs_job_status s)
{
	static const char *const n[] = { "queued", "running", "ok", "error", "cancelled" };
	return (unsigned)s < 5 ? n[s] : "?";
}

static int status_from_name(const char *s)
{
	for (int i = 0; i < 5; i++)
		if (strcmp(s, cfs_job_status_name(i)) == 0)
			return i;
	return JOB_ERROR;
}

static void job_free(struct cfs_job *j)
{
	if (!j)
		return;
	if (j->free_arg)
		j->free_arg(j->arg);
	cfs_buf_free(&j->log);
	free(j);
}

/* Persist a job's row; called with js->lock held. */
static void job_persist(struct cfs_jobs *js, struct cfs_job *j)
{
	sqlite3_stmt *st;
	db_lock(js->db);
	if (!db_prepare(js->db, "UPDATE jobs SET status=?, progress=?, log=?, error=?, started=?, "
				"finished=? WHERE id=?", &st)) {
		sqlite3_bind_text(st, 1, cfs_job_status_name(j->info.status), -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, j->info.progress, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, j->log.data ? j->log.data : "", (int)j->log.len, SQLITE_STATIC);
		sqlite3_bind_text(st, 4, j->info.error, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 5, j->info.started);
		sqlite3_bind_int64(st, 6, j->info.finished);
		sqlite3_bind_int64(st, 7, j->info.id);
		int rc = sqlite3_step(st);
		if (rc != SQLITE_DONE)
			log_warn("jobs: cannot save job %lld: %s", j->info.id, sqlite3_errstr(rc));
		sqlite3_reset(st);
	}
	db_unlock(js->db);
}

static int jobs_append(struct cfs_jobs *js, struct cfs_job *j)
{
	if (js->n == js->cap) {
		size_t cap = js->cap ? js->cap * 2 : 64;
		struct cfs_job **a = realloc(js->all, cap * sizeof *a);
		if (!a)
			return -ENOMEM;
		js->all = a;
		js->cap = cap;
	}
	js->all[js->n++] = j;
	return 0;
}

static struct cfs_job *find_locked(struct cfs_jobs *js, long long id)
{
	size_t lo = 0, hi = js->n;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (js->all[mid]->info.id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < js->n && js->all[lo]->info.id == id ? js->all[lo] : NULL;
}

/* Loads the history; jobs a previous mount left unfinished end as errors. */
static void jobs_load(struct cfs_jobs *js)
{
	sqlite3_stmt *st;
	int64_t now = cfs_now_ms();
	db_lock(js->db);
	db_exec(js->db, "UPDATE jobs SET status='error', error='interrupted: cloudfs stopped while "
			"the job was queued or running' WHERE status IN ('queued','running')", NULL);
	if (js->keep_s > 0) {
		char sql[128];
		snprintf(sql, sizeof sql, "DELETE FROM jobs WHERE finished > 0 AND finished < %lld",
			 (long long)(now - js->keep_s * 1000));
		db_exec(js->db, sql, NULL);
	}
	if (!db_prepare(js->db, "SELECT id, cmd, owner, owner_uid, status, progress, log, error, "
				"created, started, finished FROM jobs ORDER BY id", &st)) {
		while (sqlite3_step(st) == SQLITE_ROW) {
			struct cfs_job *j = calloc(1, sizeof *j);
			if (!j)
				break;
			j->js = js;
			j->info.id = sqlite3_column_int64(st, 0);
			snprintf(j->info.cmd, sizeof j->info.cmd, "%s", sqlite3_column_text(st, 1));
			snprintf(j->info.owner, sizeof j->info.owner, "%s", sqlite3_column_text(st, 2));
			j->info.owner_uid = (uid_t)sqlite3_column_int64(st, 3);
			j->info.status = status_from_name((const char *)sqlite3_column_text(st, 4));
			snprintf(j->info.progress, sizeof j->info.progress, "%s", sqlite3_column_text(st, 5));
			cfs_buf_append(&j->log, sqlite3_column_text(st, 6), (size_t)sqlite3_column_bytes(st, 6));
			snprintf(j->info.error, sizeof j->info.error, "%s", sqlite3_column_text(st, 7));
			j->info.created = sqlite3_column_int64(st, 8);
			j->info.started = sqlite3_column_int64(st, 9);
			j->info.finished = sqlite3_column_int64(st, 10);
			if (jobs_append(js, j)) {
				job_free(j);
				break;
			}
		}
		sqlite3_reset(st);
	}
	db_unlock(js->db);
}

struct cfs_jobs *jobs_new(struct cfs_engine *e, struct cfs_db *db, int workers, int64_t keep_s)
{
	struct cfs_jobs *js = calloc(1, sizeof *js);
	if (!js)
		return NULL;
	js->e = e;
	js->db = db;
	js->nworkers = workers > 0 ? workers : 4;
	js->keep_s = keep_s;
	pthread_mutex_init(&js->lock, NULL);
	pthread_cond_init(&js->work, NULL);
	pthread_cond_init(&js->done, NULL);
	jobs_load(js);
	return js;
}

static void job_finish(struct cfs_jobs *js, struct cfs_job *j, int r)
{
	char fields[400];
	pthread_mutex_lock(&js->lock);
	j->info.finished = cfs_now_ms();
	if (atomic_load(&j->cancel) && (r == -ECANCELED || r == 0 || r == -EINTR)) {
		j->info.status = JOB_CANCELLED;
		if (!j->info.error[0])
			snprintf(j->info.error, sizeof j->info.error, "cancelled");
	} else if (r) {
		j->info.status = JOB_ERROR;
		j->err_code = r;
		if (!j->info.error[0])
			snprintf(j->info.error, sizeof j->info.error, "%s", strerror(-r));
	} else {
		j->info.status = JOB_OK;
	}
	job_persist(js, j);
	snprintf(fields, sizeof fields, "\"status\":\"%s\",\"cmd\":", cfs_job_status_name(j->info.status));
	struct cfs_job_info info = j->info;
	if (j->free_arg) {
		j->free_arg(j->arg);
		j->free_arg = NULL;
		j->arg = NULL;
	}
	pthread_cond_broadcast(&js->done);
	pthread_mutex_unlock(&js->lock);

	char id[32];
	snprintf(id, sizeof id, "%lld", info.id);
	cfs_event_emitf(js->e, "job.finished", id, NULL, info.owner, NULL, "\"status\":\"%s\"",
			cfs_job_status_name(info.status));
	log_info("job %lld (%s) finished: %s%s%s", info.id, info.cmd, cfs_job_status_name(info.status),
		 info.error[0] ? ": " : "", info.error);
}

static void *worker(void *arg)
{
	struct cfs_jobs *js = arg;
	pthread_mutex_lock(&js->lock);
	for (;;) {
		while (!js->stop && !js->qhead)
			pthread_cond_wait(&js->work, &js->lock);
		if (js->stop)
			break;
		struct cfs_job *j = js->qhead;
		js->qhead = j->qnext;
		if (!js->qhead)
			js->qtail = NULL;
		if (atomic_load(&j->cancel)) {
			pthread_mutex_unlock(&js->lock);
			job_finish(js, j, -ECANCELED);
			pthread_mutex_lock(&js->lock);
			continue;
		}
		j->info.status = JOB_RUNNING;
		j->info.started = cfs_now_ms();
		job_persist(js, j);
		pthread_cond_broadcast(&js->done);
		pthread_mutex_unlock(&js->lock);
		int r = j->fn(j, j->arg);
		job_finish(js, j, r);
		pthread_mutex_lock(&js->lock);
	}
	pthread_mutex_unlock(&js->lock);
	return NULL;
}

int jobs_start(struct cfs_jobs *js)
{
	js->threads = calloc((size_t)js->nworkers, sizeof *js->threads);
	if (!js->threads)
		return -ENOMEM;
	for (int i = 0; i < js->nworkers; i++) {
		if (pthread_create(&js->threads[i], NULL, worker, js))
			return -EAGAIN;
		js->started++;
	}
	return 0;
}

void jobs_free(struct cfs_jobs *js)
{
	if (!js)
		return;
	pthread_mutex_lock(&js->lock);
	js->stop = true;
	for (size_t i = 0; i < js->n; i++)
		atomic_store(&js->all[i]->cancel, 1);
	pthread_cond_broadcast(&js->work);
	pthread_mutex_unlock(&js->lock);
	for (int i = 0; i < js->started; i++)
		pthread_join(js->threads[i], NULL);
	free(js->threads);
	for (size_t i = 0; i < js->n; i++)
		job_free(js->all[i]);
	free(js->all);
	pthread_mutex_destroy(&js->lock);
	pthread_cond_destroy(&js->work);
	pthread_cond_destroy(&js->done);
	free(js);
}

int jobs_submit(struct cfs_jobs *js, const char *owner, uid_t owner_uid, const char *cmd,
		cfs_job_fn fn, void *arg, void (*free_arg)(void *), long long *id)
{
	struct cfs_job *j = calloc(1, sizeof *j);
	if (!j) {
		if (free_arg)
			free_arg(arg);
		return -ENOMEM;
	}
	j->js = js;
	j->fn = fn;
	j->arg = arg;
	j->free_arg = free_arg;
	snprintf(j->info.cmd, sizeof j->info.cmd, "%s", cmd);
	snprintf(j->info.owner, sizeof j->info.owner, "%s", owner);
	j->info.owner_uid = owner_uid;
	j->info.status = JOB_QUEUED;
	j->info.created = cfs_now_ms();

	sqlite3_stmt *st;
	int r;
	pthread_mutex_lock(&js->lock);
	db_lock(js->db);
	r = db_prepare(js->db, "INSERT INTO jobs(cmd, owner, owner_uid, status, created) "
			       "VALUES(?, ?, ?, 'queued', ?)", &st);
	if (!r) {
		sqlite3_bind_text(st, 1, j->info.cmd, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, j->info.owner, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 3, owner_uid);
		sqlite3_bind_int64(st, 4, j->info.created);
		r = db_errno(sqlite3_step(st));
		sqlite3_reset(st);
		if (!r)
			j->info.id = sqlite3_last_insert_rowid(db_handle(js->db));
	}
	db_unlock(js->db);
	if (!r)
		r = jobs_append(js, j);
	if (r) {
		pthread_mutex_unlock(&js->lock);
		job_free(j);
		return r;
	}
	if (js->qtail)
		js->qtail->qnext = j;
	else
		js->qhead = j;
	js->qtail = j;
	*id = j->info.id;
	pthread_cond_signal(&js->work);
	pthread_mutex_unlock(&js->lock);
	log_info("job %lld queued: %s (by %s)", *id, cmd, owner);
	return 0;
}

int jobs_wait(struct cfs_jobs *js, long long id, const volatile int *interrupted,
	      struct cfs_err *err)
{
	int r = 0;
	pthread_mutex_lock(&js->lock);
	struct cfs_job *j = find_locked(js, id);
	if (!j) {
		pthread_mutex_unlock(&js->lock);
		return cfs_errf(err, -ENOENT, "no job %lld", id);
	}
	while (j->info.status == JOB_QUEUED || j->info.status == JOB_RUNNING) {
		if (interrupted && *interrupted) {
			pthread_mutex_unlock(&js->lock);
			return cfs_errf(err, -EINTR, "interrupted; job %lld keeps running", id);
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 100 * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		pthread_cond_timedwait(&js->done, &js->lock, &ts);
	}
	if (j->info.status == JOB_CANCELLED)
		r = cfs_errf(err, -ECANCELED, "job %lld was cancelled", id);
	else if (j->info.status == JOB_ERROR)
		r = cfs_errf(err, j->err_code && j->err_code != -EINTR ? j->err_code : -EIO,
			     "job %lld failed: %s", id, j->info.error);
	pthread_mutex_unlock(&js->lock);
	return r;
}

int jobs_cancel(struct cfs_jobs *js, long long id)
{
	int r = 0;
	pthread_mutex_lock(&js->lock);
	struct cfs_job *j = find_locked(js, id);
	if (!j)
		r = -ENOENT;
	else if (j->info.status != JOB_QUEUED && j->info.status != JOB_RUNNING)
		r = -EINVAL;
	else
		atomic_store(&j->cancel, 1);
	pthread_mutex_unlock(&js->lock);
	return r;
}

void job_log(struct cfs_job *j, const char *fmt, ...)
{
	va_list ap;
	char ts[32];
	cfs_time_iso(cfs_now_ms() / 1000, ts);
	pthread_mutex_lock(&j->js->lock);
	if (j->log.len < JOB_LOG_MAX) {
		cfs_buf_printf(&j->log, "%s ", ts);
		va_start(ap, fmt);
		cfs_buf_vprintf(&j->log, fmt, ap);
		va_end(ap);
		if (!j->log.len || j->log.data[j->log.len - 1] != '\n')
			cfs_buf_puts(&j->log, "\n");
	}
	pthread_mutex_unlock(&j->js->lock);
}

void job_progress(struct cfs_job *j, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&j->js->lock);
	va_start(ap, fmt);
	vsnprintf(j->info.progress, sizeof j->info.progress, fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&j->js->lock);
}

int job_fail(struct cfs_job *j, int code, const char *fmt, ...)
{
	va_list ap;
	pthread_mutex_lock(&j->js->lock);
	va_start(ap, fmt);
	vsnprintf(j->info.error, sizeof j->info.error, fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&j->js->lock);
	job_log(j, "error: %s", j->info.error);
	return code;
}

bool job_cancelled(const struct cfs_job *j) { return atomic_load(&j->cancel) != 0; }
long long job_id(const struct cfs_job *j) { return j->info.id; }
struct cfs_engine *job_engine(const struct cfs_job *j) { return j->js->e; }

int jobs_get(struct cfs_jobs *js, long long id, struct cfs_job_info *out, struct cfs_buf *log)
{
	int r = 0;
	pthread_mutex_lock(&js->lock);
	struct cfs_job *j = find_locked(js, id);
	if (!j) {
		r = -ENOENT;
	} else {
		*out = j->info;
		if (log && j->log.len)
			r = cfs_buf_append(log, j->log.data, j->log.len);
	}
	pthread_mutex_unlock(&js->lock);
	return r;
}

int jobs_each(struct cfs_jobs *js, int (*fn)(void *arg, const struct cfs_job_info *j), void *arg)
{
	/* copy out first: fn may take other locks */
	pthread_mutex_lock(&js->lock);
	size_t n = js->n;
	struct cfs_job_info *copy = malloc((n ? n : 1) * sizeof *copy);
	if (!copy) {
		pthread_mutex_unlock(&js->lock);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++)
		copy[i] = js->all[i]->info;
	pthread_mutex_unlock(&js->lock);
	int r = 0;
	for (size_t i = 0; i < n && !r; i++)
		r = fn(arg, &copy[i]);
	free(copy);
	return r;
}

void jobs_count(struct cfs_jobs *js, unsigned long counts[5])
{
	memset(counts, 0, 5 * sizeof counts[0]);
	pthread_mutex_lock(&js->lock);
	for (size_t i = 0; i < js->n; i++)
		counts[js->all[i]->info.status]++;
	pthread_mutex_unlock(&js->lock);
}
