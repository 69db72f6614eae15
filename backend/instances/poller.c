/* poller.c — the health poller: every [poll] interval all instances are
 * asked GET /v1/health at once (curl multi, keep-alive connections reused),
 * and their status becomes online, stale (a poll timed out, fewer than
 * stale_after in a row) or offline (refused, unreachable, unauthenticated,
 * or stale_after missed polls).  Changes go to /events.  When an instance
 * comes online its info (command, log and config names) is fetched so those
 * listings never wait on the network. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine_priv.h"
#include "core/events.h"
#include "core/log.h"
#include "core/util.h"
#include "instances/instances.h"
#include "state/db.h"
#include "wire/wire.h"

struct poller {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	bool stop, started;
	unsigned long round;          /* completed poll rounds */
	bool kick;
};

static struct poller *P(struct cfs_engine *e) { return e->poller; }

static void set_names(cJSON *arr, char out[][65], int *n)
{
	*n = 0;
	cJSON *it;
	cJSON_ArrayForEach(it, arr)
	{
		if (*n >= INST_LIST_MAX)
			break;
		if (cJSON_IsString(it) && cfs_name_valid(it->valuestring))
			snprintf(out[(*n)++], 65, "%s", it->valuestring);
	}
}

static void fetch_info(struct cfs_engine *e, const char *name)
{
	struct agent_target t;
	struct agent_reply r;
	struct cfs_err err;
	if (agent_target_load(e, name, &t, &err))
		return;
	int rc = agent_call(e, &t, "GET", "/v1/info", NULL, 0, &r, &err);
	agent_target_wipe(&t);
	if (rc) {
		agent_reply_free(&r);
		return;
	}
	cJSON *j = cJSON_ParseWithLength(r.body.data ? r.body.data : "", r.body.len);
	agent_reply_free(&r);
	if (!j)
		return;
	struct inst_status s;
	runtime_get(e, name, &s);
	set_names(cJSON_GetObjectItemCaseSensitive(j, "commands"), s.cmds, &s.ncmds);
	set_names(cJSON_GetObjectItemCaseSensitive(j, "logs"), s.logs, &s.nlogs);
	set_names(cJSON_GetObjectItemCaseSensitive(j, "config"), s.configs, &s.nconfigs);
	s.info_known = true;
	runtime_put(e, &s);
	cJSON_Delete(j);
	git_fetch_repos(e, name);
}

struct target_list {
	struct agent_target *t;
	size_t n;
};

static int load_all(struct cfs_engine *e, struct target_list *l, const char *only)
{
	sqlite3_stmt *st;
	char (*names)[65] = NULL;
	size_t n = 0, cap = 0;
	int r;
	memset(l, 0, sizeof *l);
	db_lock(e->db);
	r = db_prepare(e->db, "SELECT name FROM instances ORDER BY name", &st);
	while (!r && sqlite3_step(st) == SQLITE_ROW) {
		const char *nm = (const char *)sqlite3_column_text(st, 0);
		if (only && strcmp(nm, only) != 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			void *nn = realloc(names, cap * sizeof *names);
			if (!nn) {
				r = -ENOMEM;
				break;
			}
			names = nn;
		}
		snprintf(names[n++], 65, "%s", nm);
	}
	if (!r)
		sqlite3_reset(st);
	db_unlock(e->db);
	if (r || n == 0) {
		free(names);
		return r;
	}
	l->t = calloc(n, sizeof *l->t);
	if (!l->t) {
		free(names);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n; i++) {
		struct cfs_err err;
		if (agent_target_load(e, names[i], &l->t[l->n], &err) == 0)
			l->n++;
	}
	free(names);
	return 0;
}

static void free_all(struct target_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		agent_target_wipe(&l->t[i]);
	free(l->t);
}

static void apply(struct cfs_engine *e, const struct agent_target *t, int err,
		  const struct wire_reply *rep)
{
	struct inst_status s;
	runtime_get(e, t->name, &s);
	char old[16];
	snprintf(old, sizeof old, "%s", s.status);
	int64_t stale_after = e->cfg.poll_stale_after > 0 ? e->cfg.poll_stale_after : 3;
	if (!err && rep->verified && rep->status == 200) {
		snprintf(s.status, sizeof s.status, "online");
		s.last_seen_ms = cfs_now_ms();
		s.response_ms = rep->seconds * 1000.0;
		s.error[0] = '\0';
		s.missed = 0;
	} else {
		s.missed++;
		if (err == -ETIMEDOUT && s.missed < stale_after && s.last_seen_ms)
			snprintf(s.status, sizeof s.status, "stale");
		else
			snprintf(s.status, sizeof s.status, "offline");
		if (err)
			snprintf(s.error, sizeof s.error, "%s", strerror(-err));
		else
			snprintf(s.error, sizeof s.error, "the agent answered %d%s", rep->status,
				 rep->status == 401 ? " (not paired, or a wrong secret)" : "");
	}
	runtime_put(e, &s);
	if (strcmp(old, s.status) != 0) {
		char type[40];
		snprintf(type, sizeof type, "instance.%s", s.status);
		if (strcmp(s.status, "online") == 0)
			log_info("instance %s is online (%.1f ms)", t->name, s.response_ms);
		else
			log_warn("instance %s is %s: %s", t->name, s.status, s.error);
		cfs_event_emitf(e, type, t->name, t->name, NULL, NULL, "\"previous\":\"%s\"", old);
		if (strcmp(s.status, "online") == 0)
			fetch_info(e, t->name);
	}
}

static void poll_round(struct cfs_engine *e, const char *only)
{
	struct target_list l;
	if (load_all(e, &l, only) || l.n == 0) {
		free_all(&l);
		return;
	}
	struct wire_peer *peers = calloc(l.n, sizeof *peers);
	struct wire_reply *reps = calloc(l.n, sizeof *reps);
	int *errs = calloc(l.n, sizeof *errs);
	if (peers && reps && errs) {
		for (size_t i = 0; i < l.n; i++) {
			peers[i].base_url = l.t[i].url;
			peers[i].self_env = e->env_id;
			memcpy(peers[i].secret, l.t[i].secret, 32);
			peers[i].tls_require = l.t[i].tls_require;
			peers[i].pin = l.t[i].pin[0] ? l.t[i].pin : NULL;
			peers[i].timeout_ms = (int)(e->cfg.poll_timeout_s * 1000);
			peers[i].connect_timeout_ms = peers[i].timeout_ms;
		}
		wire_call_many(e->wc, peers, l.n, "GET", "/v1/health", reps, errs);
		for (size_t i = 0; i < l.n; i++) {
			apply(e, &l.t[i], errs[i], &reps[i]);
			wire_reply_free(&reps[i]);
			cfs_cleanse(peers[i].secret, 32);
		}
	}
	free(peers);
	free(reps);
	free(errs);
	free_all(&l);
}

static void *loop(void *arg)
{
	struct cfs_engine *e = arg;
	struct poller *p = P(e);
	pthread_mutex_lock(&p->lock);
	while (!p->stop) {
		p->kick = false;
		pthread_mutex_unlock(&p->lock);
		poll_round(e, NULL);
		pthread_mutex_lock(&p->lock);
		p->round++;
		pthread_cond_broadcast(&p->wake);
		if (p->stop)
			break;
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += e->cfg.poll_interval_s > 0 ? e->cfg.poll_interval_s : 5;
		while (!p->stop && !p->kick)
			if (pthread_cond_timedwait(&p->wake, &p->lock, &ts))
				break;
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int poller_start(struct cfs_engine *e)
{
	struct poller *p = calloc(1, sizeof *p);
	if (!p)
		return -ENOMEM;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	e->poller = p;
	if (pthread_create(&p->thread, NULL, loop, e))
		return -EAGAIN;
	p->started = true;
	return 0;
}

void poller_stop(struct cfs_engine *e)
{
	struct poller *p = P(e);
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
	if (p->started)
		pthread_join(p->thread, NULL);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->wake);
	free(p);
	e->poller = NULL;
}

void poller_wake(struct cfs_engine *e)
{
	struct poller *p = P(e);
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->kick = true;
	pthread_cond_broadcast(&p->wake);
	pthread_mutex_unlock(&p->lock);
}

int poller_poll_now(struct cfs_engine *e, const char *name)
{
	poll_round(e, name);
	if (name) {
		struct inst_status s;
		runtime_get(e, name, &s);
		if (strcmp(s.status, "online") == 0 && !s.info_known)
			fetch_info(e, name);
	}
	return 0;
}
