/* watch.c — push mirrors follow their source through the agent's change
 * watch: GET /v1/watch registers the source directory and gives a cursor,
 * then GET /v1/changes long-polls for paths changed after it.  A change
 * kicks the mirror (mirror_kick: a check, then a sync when something would
 * move) once the burst is over: changes are gathered until the source has
 * been quiet for QUIET_MS, or for at most BURST_MS.
 *
 * One thread per push mirror, started and stopped by the scheduler's tick
 * (mwatch_begin / mwatch_want / mwatch_end).  An agent that is unreachable
 * or has no watch (an older agent) leaves the mirror "not live", and the
 * scheduler falls back to checking it every few seconds. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/engine_priv.h"
#include "core/log.h"
#include "core/util.h"
#include "instances/instances.h"
#include "mirrors/mirrors.h"
#include "wire/wire.h"

#define QUIET_MS 300
#define BURST_MS 2000
#define RETRY_MS 5000
#define CURSOR_MAX 128
#define POLL_MAX_S 3

struct watcher {
	struct cfs_engine *e;
	char name[65], inst[65];
	char *path;
	pthread_t thread;
	bool stop, live, seen;
	struct watcher *next;
};

static struct {
	pthread_mutex_t lock;
	pthread_cond_t cond;         /* stop requests wake sleeping watchers */
	struct watcher *head;
} W = { .lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER };

static bool stopping(struct watcher *w)
{
	pthread_mutex_lock(&W.lock);
	bool s = w->stop;
	pthread_mutex_unlock(&W.lock);
	return s;
}

static void set_live(struct watcher *w, bool live)
{
	pthread_mutex_lock(&W.lock);
	w->live = live;
	pthread_mutex_unlock(&W.lock);
}

/* Sleep ms unless asked to stop; false when stopping. */
static bool pause_ms(struct watcher *w, int64_t ms)
{
	struct timespec ts;
	cfs_time_in(CLOCK_REALTIME, ms, &ts);
	pthread_mutex_lock(&W.lock);
	while (!w->stop && pthread_cond_timedwait(&W.cond, &W.lock, &ts) == 0)
		;
	bool go = !w->stop;
	pthread_mutex_unlock(&W.lock);
	return go;
}

/* GET target on the mirror's source; the answer's "cursor" into cursor and
 * whether it carried changes (paths or overflow) into *changed. */
static int call(struct cfs_engine *e, struct watcher *w, const char *tg, char *cursor,
		bool *changed, struct cfs_err *err)
{
	struct agent_target t;
	struct agent_reply r;
	int rc = agent_target_load(e, w->inst, &t, err);
	if (rc)
		return rc;
	rc = agent_call(e, &t, "GET", tg, NULL, 0, &r, err);
	agent_target_wipe(&t);
	if (!rc) {
		cJSON *j = cJSON_ParseWithLength(r.body.data ? r.body.data : "", r.body.len);
		const cJSON *c = cJSON_GetObjectItemCaseSensitive(j, "cursor");
		const cJSON *paths = cJSON_GetObjectItemCaseSensitive(j, "paths");
		if (cJSON_IsString(c) && strlen(c->valuestring) < CURSOR_MAX)
			snprintf(cursor, CURSOR_MAX, "%s", c->valuestring);
		else
			rc = cfs_errf(err, -EPROTO, "%s: no cursor in the watch answer", w->inst);
		if (changed)
			*changed = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(j, "overflow")) ||
				   cJSON_GetArraySize(paths) > 0 ||
				   cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(j, "paths_b64")) > 0;
		cJSON_Delete(j);
	}
	agent_reply_free(&r);
	return rc;
}

static int changes(struct cfs_engine *e, struct watcher *w, char *cursor, int timeout_s,
		   bool *changed, struct cfs_err *err)
{
	struct cfs_buf tg = CFS_BUF_INIT;
	cfs_buf_puts(&tg, "/v1/changes?cursor=");
	wire_urlencode(cursor, &tg);
	cfs_buf_printf(&tg, "&timeout=%d", timeout_s);
	int rc = tg.data ? call(e, w, tg.data, cursor, changed, err) : -ENOMEM;
	cfs_buf_free(&tg);
	return rc;
}

static void *watch_thread(void *arg)
{
	struct watcher *w = arg;
	struct cfs_engine *e = w->e;
	/* the long-poll must end before the client's own deadline; short, as
	 * stopping a watcher (unmount, remove) waits for its poll to return */
	int poll_s = (int)(e->cfg.poll_timeout_s / 2);
	if (poll_s < 1)
		poll_s = 1;
	if (poll_s > POLL_MAX_S)
		poll_s = POLL_MAX_S;
	char cursor[CURSOR_MAX];
	bool have = false;
	while (!stopping(w)) {
		struct cfs_err err = { 0 };
		bool changed = false;
		int rc;
		if (!have) {
			struct cfs_buf tg = CFS_BUF_INIT;
			cfs_buf_puts(&tg, "/v1/watch?path=");
			wire_urlencode(w->path, &tg);
			rc = tg.data ? call(e, w, tg.data, cursor, NULL, &err) : -ENOMEM;
			cfs_buf_free(&tg);
			if (rc) {
				set_live(w, false);
				log_debug("mirror %s: no change watch on %s: %s", w->name, w->inst,
					  err.msg);
				if (!pause_ms(w, RETRY_MS))
					break;
				continue;
			}
			have = true;
			set_live(w, true);
			/* changes made before the watch are found by a check */
			mirror_kick(e, w->name);
			continue;
		}
		rc = changes(e, w, cursor, poll_s, &changed, &err);
		if (rc) {
			/* an unknown cursor (the agent restarted) or an unreachable
			 * agent: watch again, which checks again */
			have = false;
			set_live(w, false);
			log_debug("mirror %s: change watch lost: %s", w->name, err.msg);
			if (rc != -ESTALE && rc != -ENOENT && !pause_ms(w, RETRY_MS))
				break;
			continue;
		}
		if (!changed)
			continue;
		/* gather the burst, then one kick */
		int64_t first = cfs_mono_ms();
		while (!stopping(w) && cfs_mono_ms() - first < BURST_MS) {
			bool more = false;
			if (!pause_ms(w, QUIET_MS))
				break;
			if (changes(e, w, cursor, 0, &more, &err)) {
				have = false;
				break;
			}
			if (!more)
				break;
		}
		if (!stopping(w))
			mirror_kick(e, w->name);
	}
	set_live(w, false);
	return NULL;
}

void mwatch_begin(void)
{
	pthread_mutex_lock(&W.lock);
	for (struct watcher *w = W.head; w; w = w->next)
		w->seen = false;
	pthread_mutex_unlock(&W.lock);
}

void mwatch_want(struct cfs_engine *e, const char *name, const char *inst, const char *path)
{
	pthread_mutex_lock(&W.lock);
	struct watcher *w = W.head;
	while (w && (strcmp(w->name, name) || strcmp(w->inst, inst) || strcmp(w->path, path) ||
		     w->stop))
		w = w->next;
	if (w) {
		w->seen = true;
	} else if ((w = calloc(1, sizeof *w)) && (w->path = strdup(path))) {
		w->e = e;
		snprintf(w->name, sizeof w->name, "%s", name);
		snprintf(w->inst, sizeof w->inst, "%s", inst);
		w->seen = true;
		if (pthread_create(&w->thread, NULL, watch_thread, w)) {
			log_warn("mirror %s: cannot start its change watch", name);
			free(w->path);
			free(w);
		} else {
			w->next = W.head;
			W.head = w;
		}
	} else {
		free(w);
	}
	pthread_mutex_unlock(&W.lock);
}

/* Stop and join the watchers matching all (or not seen since mwatch_begin). */
static void reap(bool all)
{
	struct watcher *gone = NULL;
	pthread_mutex_lock(&W.lock);
	for (struct watcher **pp = &W.head; *pp;) {
		struct watcher *w = *pp;
		if (all || !w->seen) {
			w->stop = true;
			*pp = w->next;
			w->next = gone;
			gone = w;
		} else {
			pp = &w->next;
		}
	}
	pthread_cond_broadcast(&W.cond);
	pthread_mutex_unlock(&W.lock);
	while (gone) {
		struct watcher *w = gone;
		gone = w->next;
		pthread_join(w->thread, NULL);
		free(w->path);
		free(w);
	}
}

void mwatch_end(void)
{
	reap(false);
}

void mwatch_stop_all(void)
{
	reap(true);
}

bool mwatch_live(const char *name)
{
	bool live = false;
	pthread_mutex_lock(&W.lock);
	for (struct watcher *w = W.head; w; w = w->next)
		if (!strcmp(w->name, name) && !w->stop)
			live = w->live;
	pthread_mutex_unlock(&W.lock);
	return live;
}
