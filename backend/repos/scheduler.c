/* scheduler.c — the nightly prune and the periodic quota scan.
 *
 * Every day at [repos] prune_at (UTC) every active repository is pruned, one
 * at a time, each as a job (its output in /jobs/ID/log, an event per result
 * from the job itself).  The last slot whose pass completed is kept in the
 * meta table, so a slot that passed while the mount was down (or whose pass
 * an unmount cut short) runs once at the next start; on the very first start
 * the latest slot counts as done, since nothing was missed.
 *
 * The thread wakes twice a second; it never waits on a job, so the quota
 * scan ([repos] quota_scan) keeps its pace during a long pass.
 *
 * Test hook: CLOUDFS_TEST_REPOS_CLOCK_OFFSET=SECONDS in the mount's
 * environment shifts the scheduler's clock (and only it), so a test can put
 * the next slot a few seconds ahead without waiting for it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/engine_priv.h"
#include "core/events.h"
#include "core/jobs.h"
#include "core/log.h"
#include "core/util.h"
#include "repos/repos.h"
#include "state/db.h"

#define META_LAST_SLOT "repos.prune.last_slot"
#define TICK_MS 500

struct pass {
	bool active;
	int64_t slot;
	char **users;
	size_t n, next;
	long long job;   /* the prune in flight, 0 when none */
};

static int64_t sched_now(struct repos_mgr *m)
{
	return cfs_now_ms() / 1000 + m->clock_offset_s;
}

static void prune_at(struct cfs_engine *e, int *hh, int *mm)
{
	const char *p = e->cfg.repos_prune_at && *e->cfg.repos_prune_at ? e->cfg.repos_prune_at
									 : "04:00";
	if (sscanf(p, "%d:%d", hh, mm) != 2 || *hh < 0 || *hh > 23 || *mm < 0 || *mm > 59) {
		*hh = 4;
		*mm = 0;
	}
}

static void pass_end(struct pass *p)
{
	repo_db_names_free(p->users, p->n);
	*p = (struct pass){ 0 };
}

static void store_last(struct cfs_engine *e, int64_t slot)
{
	char v[32];
	snprintf(v, sizeof v, "%lld", (long long)slot);
	if (db_meta_set(e->db, META_LAST_SLOT, v))
		log_err("repos: cannot record the prune schedule");
}

static void pass_step(struct repos_mgr *m, struct pass *p, int64_t *last)
{
	struct cfs_engine *e = m->e;
	if (p->job) {
		struct cfs_job_info ji;
		if (jobs_get(e->jobs, p->job, &ji, NULL) == 0 &&
		    (ji.status == JOB_QUEUED || ji.status == JOB_RUNNING))
			return;
		p->job = 0;
	}
	while (!p->job && p->next < p->n) {
		const char *user = p->users[p->next++];
		long long id;
		int r = repos_prune_submit(m, user, "scheduler", geteuid(), true, &id);
		if (r == -EBUSY) {
			log_warn("repos: nightly prune of %s skipped: a prune or check is in flight",
				 user);
			cfs_event_emitf(e, "repo.pruned", user, NULL, NULL, NULL,
					"\"result\":\"skipped\",\"scheduled\":true");
		} else if (r) {
			log_err("repos: cannot queue the nightly prune of %s: %s", user, strerror(-r));
		} else {
			p->job = id;
		}
	}
	if (!p->job && p->next >= p->n) {
		char t[32];
		cfs_time_iso(p->slot, t);
		log_info("repos: nightly prune pass of %s done (%zu repositories)", t, p->n);
		*last = p->slot;
		store_last(e, p->slot);
		pass_end(p);
	}
}

static void tick(struct repos_mgr *m, struct pass *p, int64_t *last, int64_t *next_scan)
{
	struct cfs_engine *e = m->e;
	int hh, mm;
	prune_at(e, &hh, &mm);
	int64_t now = sched_now(m);
	int64_t slot = repos_slot_before(now, hh, mm);
	if (!p->active && slot > *last) {
		char t[32];
		cfs_time_iso(slot, t);
		if (repo_db_names(e, true, &p->users, &p->n) == 0) {
			p->active = true;
			p->slot = slot;
			log_info("repos: nightly prune pass of %s%s: %zu repositories", t,
				 now - slot > 300 ? " (missed while unmounted)" : "", p->n);
		}
	}
	if (p->active)
		pass_step(m, p, last);
	if (cfs_mono_ms() >= *next_scan) {
		repos_quota_scan(m);
		int64_t every = e->cfg.repos_quota_scan_s > 0 ? e->cfg.repos_quota_scan_s : 300;
		*next_scan = cfs_mono_ms() + every * 1000;
	}
}

static void *sched_main(void *arg)
{
	struct repos_mgr *m = arg;
	struct cfs_engine *e = m->e;
	struct pass p = { 0 };
	int hh, mm;
	char v[32];
	int64_t last;
	prune_at(e, &hh, &mm);
	if (db_meta_get(e->db, META_LAST_SLOT, v, sizeof v) == 0) {
		last = strtoll(v, NULL, 10);
	} else {
		last = repos_slot_before(sched_now(m), hh, mm);
		store_last(e, last);
	}
	int64_t every = e->cfg.repos_quota_scan_s > 0 ? e->cfg.repos_quota_scan_s : 300;
	int64_t next_scan = cfs_mono_ms() + every * 1000;
	pthread_mutex_lock(&m->sched_lock);
	while (!m->sched_stop) {
		pthread_mutex_unlock(&m->sched_lock);
		tick(m, &p, &last, &next_scan);
		pthread_mutex_lock(&m->sched_lock);
		if (m->sched_stop)
			break;
		struct timespec ts;
		cfs_time_in(CLOCK_REALTIME, TICK_MS, &ts);
		pthread_cond_timedwait(&m->sched_wake, &m->sched_lock, &ts);
	}
	pthread_mutex_unlock(&m->sched_lock);
	/* a pass cut short is not recorded: it runs again at the next start */
	pass_end(&p);
	return NULL;
}

int repos_sched_start(struct repos_mgr *m, struct cfs_err *err)
{
	const char *off = getenv("CLOUDFS_TEST_REPOS_CLOCK_OFFSET");
	if (off && *off) {
		char *end;
		long long v = strtoll(off, &end, 10);
		if (*end == '\0') {
			m->clock_offset_s = v;
			log_warn("repos: scheduler clock shifted by %llds (test hook)", v);
		}
	}
	m->sched_stop = false;
	if (pthread_create(&m->sched_thread, NULL, sched_main, m))
		return cfs_errf(err, -EAGAIN, "cannot start the repos scheduler");
	m->sched_started = true;
	return 0;
}

void repos_sched_stop(struct repos_mgr *m)
{
	if (!m->sched_started)
		return;
	pthread_mutex_lock(&m->sched_lock);
	m->sched_stop = true;
	pthread_cond_signal(&m->sched_wake);
	pthread_mutex_unlock(&m->sched_lock);
	pthread_join(m->sched_thread, NULL);
	m->sched_started = false;
}
