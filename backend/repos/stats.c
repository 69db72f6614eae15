/* stats.c — /repos/USER/stats and stats.json, the snapshot cache behind
 * them, and the repos part of /metrics.
 *
 * Snapshot facts (count, newest, oldest) come from `restic snapshots --json`
 * with the operator key.  That costs a scrypt run and a repository read, so
 * the answer is cached per user and fetched again only when it is older than
 * [repos] refresh or a prune changed it; one fetch per user runs at a time
 * and readers arriving meanwhile wait for its answer.  Usage is a walk of the
 * repository directory, cheap enough to do on every read. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/crypto.h"
#include "core/engine_priv.h"
#include "core/util.h"
#include "repos/repos.h"

#define SNAPSHOTS_TIMEOUT 600

struct repos_stats_entry {
	char user[REPOS_USER_MAX + 1];
	pthread_mutex_t fetch_lock;      /* one fetch at a time */
	struct repos_snap_info info;     /* under m->lock */
	int64_t fetched_mono;            /* 0: never or forgotten */
};

static struct repos_stats_entry *entry_of(struct repos_mgr *m, const char *user)
{
	struct repos_stats_entry *en = NULL;
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->nstats && !en; i++)
		if (strcmp(m->stats[i]->user, user) == 0)
			en = m->stats[i];
	if (!en) {
		struct repos_stats_entry **nv = realloc(m->stats, (m->nstats + 1) * sizeof *nv);
		if (nv) {
			m->stats = nv;
			en = calloc(1, sizeof *en);
			if (en) {
				snprintf(en->user, sizeof en->user, "%s", user);
				pthread_mutex_init(&en->fetch_lock, NULL);
				m->stats[m->nstats++] = en;
			}
		}
	}
	pthread_mutex_unlock(&m->lock);
	return en;
}

void repos_stats_forget(struct repos_mgr *m, const char *user)
{
	pthread_mutex_lock(&m->lock);
	for (size_t i = 0; i < m->nstats; i++)
		if (strcmp(m->stats[i]->user, user) == 0)
			m->stats[i]->fetched_mono = 0;
	pthread_mutex_unlock(&m->lock);
}

void repos_stats_free(struct repos_mgr *m)
{
	for (size_t i = 0; i < m->nstats; i++) {
		pthread_mutex_destroy(&m->stats[i]->fetch_lock);
		free(m->stats[i]);
	}
	free(m->stats);
	m->stats = NULL;
	m->nstats = 0;
}

/* Count, newest and oldest from restic's JSON array of snapshots. */
static int parse_snapshots(const struct cfs_buf *b, struct repos_snap_info *si)
{
	cJSON *arr = cJSON_ParseWithLength(b->data ? b->data : "", b->len);
	if (!cJSON_IsArray(arr)) {
		cJSON_Delete(arr);
		return -EIO;
	}
	const cJSON *s;
	cJSON_ArrayForEach(s, arr)
	{
		const cJSON *t = cJSON_GetObjectItemCaseSensitive(s, "time");
		int64_t ts;
		si->count++;
		if (!cJSON_IsString(t) || cfs_time_parse(t->valuestring, 0, &ts))
			continue;
		if (!si->newest || ts > si->newest)
			si->newest = ts;
		if (!si->oldest || ts < si->oldest)
			si->oldest = ts;
	}
	cJSON_Delete(arr);
	return 0;
}

int repos_snapshots(struct repos_mgr *m, const char *user, bool force, struct cfs_job *j,
		    struct repos_snap_info *out)
{
	struct cfs_engine *e = m->e;
	struct repos_stats_entry *en = entry_of(m, user);
	memset(out, 0, sizeof *out);
	if (!en)
		return -ENOMEM;
	int64_t ttl = (e->cfg.repos_refresh_s > 0 ? e->cfg.repos_refresh_s : 60) * 1000;
	pthread_mutex_lock(&en->fetch_lock);
	pthread_mutex_lock(&m->lock);
	bool fresh = !force && en->fetched_mono && cfs_mono_ms() - en->fetched_mono < ttl;
	if (fresh)
		*out = en->info;
	pthread_mutex_unlock(&m->lock);
	if (fresh) {
		pthread_mutex_unlock(&en->fetch_lock);
		return 0;
	}
	struct repos_snap_info si = { .fetched = cfs_now_ms() / 1000 };
	struct cfs_buf b = CFS_BUF_INIT;
	struct cfs_err err = { 0 };
	char op_pw[1024];
	const char *args[] = { "snapshots", "--json", "--no-lock", NULL };
	int r = repos_operator_password(m, op_pw, sizeof op_pw, &err);
	if (!r) {
		r = repos_restic(m, user, args, op_pw, NULL, SNAPSHOTS_TIMEOUT, j, &b, &err);
		cfs_cleanse(op_pw, sizeof op_pw);
	}
	if (!r && parse_snapshots(&b, &si))
		r = cfs_errf(&err, -EIO, "restic snapshots --json gave no JSON array");
	cfs_buf_free(&b);
	if (r) {
		si = (struct repos_snap_info){ .fetched = si.fetched };
		snprintf(si.error, sizeof si.error, "%.159s", err.msg);
	} else {
		si.known = true;
	}
	pthread_mutex_lock(&m->lock);
	en->info = si;
	/* a failure is kept too, so a broken repository is not asked again at
	 * every read; it is retried after the same interval */
	en->fetched_mono = cfs_mono_ms();
	pthread_mutex_unlock(&m->lock);
	pthread_mutex_unlock(&en->fetch_lock);
	*out = si;
	return 0;
}

/* ---- the stats files ---- */

static void iso_or(int64_t t, const char *none, char out[32])
{
	if (t)
		cfs_time_iso(t, out);
	else
		snprintf(out, 32, "%s", none);
}

static const char *state_of(const struct repo_rec *r)
{
	return r->revoked ? "revoked" : r->suspended ? "suspended" : "active";
}

static int render_text(struct cfs_engine *e, const struct repo_rec *r, uint64_t usage,
		       uint64_t alloc, const struct repos_snap_info *si, struct cfs_buf *out)
{
	char created[32], newest[32], oldest[32], fetched[32], lp[32], lpok[32], q[32];
	cfs_time_iso(r->created, created);
	iso_or(si->newest, "-", newest);
	iso_or(si->oldest, "-", oldest);
	iso_or(si->fetched, "-", fetched);
	iso_or(r->last_prune, "never", lp);
	iso_or(r->last_prune_ok, "never", lpok);
	repos_quota_format(r->has_quota, r->quota, q);
	int rc = cfs_buf_printf(out,
				"user %s\nmanaged yes\nstate %s\ncreated %s\nbytes %llu\nusage %llu\n"
				"quota %s\n",
				r->user, state_of(r), created, (unsigned long long)alloc,
				(unsigned long long)usage, q);
	if (!rc && r->has_quota && r->quota)
		rc = cfs_buf_printf(out, "usage_percent %.1f\n", 100.0 * (double)usage / (double)r->quota);
	if (!rc)
		rc = cfs_buf_printf(out, "suspended %s\nrevoked %s\n", r->suspended ? "yes" : "no",
				    r->revoked ? "yes" : "no");
	if (!rc && si->known)
		rc = cfs_buf_printf(out, "snapshots %llu\nnewest %s\noldest %s\n",
				    (unsigned long long)si->count, newest, oldest);
	else if (!rc)
		rc = cfs_buf_printf(out, "snapshots -\nnewest -\noldest -\nsnapshots_error %s\n",
				    si->error[0] ? si->error : "unknown");
	if (!rc)
		rc = cfs_buf_printf(out,
				    "snapshots_time %s\nretention %s\nlast_prune %s\n"
				    "last_prune_result %s\nlast_prune_job %lld\nlast_prune_ok %s\n",
				    fetched, repos_policy_of(e, r), lp,
				    r->last_prune_result[0] ? r->last_prune_result : "-",
				    r->last_prune_job, lpok);
	return rc;
}

static void add_time(cJSON *o, const char *key, int64_t t)
{
	char s[32];
	if (t) {
		cfs_time_iso(t, s);
		cJSON_AddStringToObject(o, key, s);
	} else {
		cJSON_AddNullToObject(o, key);
	}
}

static int render_json(struct cfs_engine *e, const struct repo_rec *r, uint64_t usage,
		       uint64_t alloc, const struct repos_snap_info *si, struct cfs_buf *out)
{
	cJSON *o = cJSON_CreateObject();
	if (!o)
		return -ENOMEM;
	cJSON_AddStringToObject(o, "user", r->user);
	cJSON_AddBoolToObject(o, "managed", 1);
	cJSON_AddStringToObject(o, "state", state_of(r));
	add_time(o, "created", r->created);
	cJSON_AddNumberToObject(o, "bytes", (double)alloc);
	cJSON_AddNumberToObject(o, "usage", (double)usage);
	if (r->has_quota)
		cJSON_AddNumberToObject(o, "quota", (double)r->quota);
	else
		cJSON_AddStringToObject(o, "quota", "max");
	cJSON_AddBoolToObject(o, "suspended", r->suspended);
	cJSON_AddBoolToObject(o, "revoked", r->revoked);
	if (si->known)
		cJSON_AddNumberToObject(o, "snapshots", (double)si->count);
	else
		cJSON_AddNullToObject(o, "snapshots");
	add_time(o, "newest", si->newest);
	add_time(o, "oldest", si->oldest);
	if (!si->known)
		cJSON_AddStringToObject(o, "snapshots_error", si->error[0] ? si->error : "unknown");
	add_time(o, "snapshots_time", si->fetched);
	cJSON_AddStringToObject(o, "retention", repos_policy_of(e, r));
	add_time(o, "last_prune", r->last_prune);
	if (r->last_prune_result[0])
		cJSON_AddStringToObject(o, "last_prune_result", r->last_prune_result);
	else
		cJSON_AddNullToObject(o, "last_prune_result");
	cJSON_AddNumberToObject(o, "last_prune_job", (double)r->last_prune_job);
	add_time(o, "last_prune_ok", r->last_prune_ok);
	char *s = cJSON_Print(o);
	cJSON_Delete(o);
	if (!s)
		return -ENOMEM;
	int rc = cfs_buf_printf(out, "%s\n", s);
	free(s);
	return rc;
}

int cfs_repo_show(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		  const char *arg, struct cfs_buf *out)
{
	const char *user = caps[0];
	if (!c->user.superadmin)
		return -EACCES;
	struct repo_rec rec;
	int r = repo_db_get(e, user, &rec);
	bool json = strcmp(arg, "stats.json") == 0;
	if (r == -ENOENT) {
		/* attached for reading only: nothing of it is cloudfs's to manage */
		if (strcmp(arg, "stats") == 0)
			return cfs_buf_printf(out, "user %s\nmanaged no\n", user);
		if (json)
			return cfs_buf_printf(out, "{\n\t\"user\":\t\"%s\",\n\t\"managed\":\tfalse\n}\n",
					      user);
		return -ENOENT;
	}
	if (r)
		return -EIO;
	if (strcmp(arg, "stats") != 0 && !json)
		return repos_value_show(e, &rec, arg, out);
	struct repos_mgr *m = repos_mgr(e);
	if (!m)
		return -ENOMEM;
	char dir[4200];
	uint64_t usage = 0, alloc = 0;
	repos_repo_path(e, user, dir, sizeof dir);
	disk_usage(dir, &usage, &alloc);
	struct repos_snap_info si;
	repos_snapshots(m, user, false, NULL, &si);
	return json ? render_json(e, &rec, usage, alloc, &si, out)
		    : render_text(e, &rec, usage, alloc, &si, out);
}

int repos_metrics(struct cfs_engine *e, struct cfs_buf *out)
{
	char **names;
	size_t n;
	int r = repo_db_names(e, true, &names, &n);
	if (r)
		return r;
	r = cfs_buf_puts(out, "# HELP cloudfs_repo_last_prune_success_timestamp Time of the last "
			      "successful prune of a user's repository (0: never).\n"
			      "# TYPE cloudfs_repo_last_prune_success_timestamp gauge\n");
	for (size_t i = 0; i < n && !r; i++) {
		struct repo_rec rec;
		if (repo_db_get(e, names[i], &rec))
			continue;
		r = cfs_buf_printf(out, "cloudfs_repo_last_prune_success_timestamp{user=\"%s\"} %lld\n",
				   rec.user, (long long)rec.last_prune_ok);
	}
	repo_db_names_free(names, n);
	return r;
}
