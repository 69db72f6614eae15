/* runtime.c — instances' live status, kept in memory: the poller writes it,
 * status files and listings read it without waiting on the network. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine_priv.h"
#include "instances/instances.h"
#include "state/db.h"

struct inst_runtime {
	pthread_mutex_t lock;
	struct inst_status *v;
	size_t n, cap;
};

struct inst_runtime *inst_runtime_new(void)
{
	struct inst_runtime *rt = calloc(1, sizeof *rt);
	if (rt)
		pthread_mutex_init(&rt->lock, NULL);
	return rt;
}

void inst_runtime_free(struct inst_runtime *rt)
{
	if (!rt)
		return;
	free(rt->v);
	pthread_mutex_destroy(&rt->lock);
	free(rt);
}

void runtime_get(struct cfs_engine *e, const char *name, struct inst_status *out)
{
	memset(out, 0, sizeof *out);
	snprintf(out->name, sizeof out->name, "%s", name);
	snprintf(out->status, sizeof out->status, "unknown");
	pthread_mutex_lock(&e->inst->lock);
	for (size_t i = 0; i < e->inst->n; i++)
		if (strcmp(e->inst->v[i].name, name) == 0)
			*out = e->inst->v[i];
	pthread_mutex_unlock(&e->inst->lock);
}

void runtime_put(struct cfs_engine *e, const struct inst_status *st)
{
	struct inst_runtime *rt = e->inst;
	pthread_mutex_lock(&rt->lock);
	for (size_t i = 0; i < rt->n; i++)
		if (strcmp(rt->v[i].name, st->name) == 0) {
			rt->v[i] = *st;
			pthread_mutex_unlock(&rt->lock);
			return;
		}
	if (rt->n == rt->cap) {
		size_t cap = rt->cap ? rt->cap * 2 : 16;
		struct inst_status *nv = realloc(rt->v, cap * sizeof *nv);
		if (!nv) {
			pthread_mutex_unlock(&rt->lock);
			return;
		}
		rt->v = nv;
		rt->cap = cap;
	}
	rt->v[rt->n++] = *st;
	pthread_mutex_unlock(&rt->lock);
}

void runtime_forget(struct cfs_engine *e, const char *name)
{
	struct inst_runtime *rt = e->inst;
	pthread_mutex_lock(&rt->lock);
	for (size_t i = 0; i < rt->n; i++)
		if (strcmp(rt->v[i].name, name) == 0) {
			rt->v[i] = rt->v[--rt->n];
			break;
		}
	pthread_mutex_unlock(&rt->lock);
}

void inst_runtime_counts(struct cfs_engine *e, unsigned long *online, unsigned long *offline,
			 unsigned long *stale, unsigned long *unknown)
{
	*online = *offline = *stale = *unknown = 0;
	unsigned long total = 0;
	sqlite3_stmt *st;
	db_lock(e->db);
	if (!db_prepare(e->db, "SELECT COUNT(*) FROM instances", &st)) {
		if (sqlite3_step(st) == SQLITE_ROW)
			total = (unsigned long)sqlite3_column_int64(st, 0);
		sqlite3_reset(st);
	}
	db_unlock(e->db);
	pthread_mutex_lock(&e->inst->lock);
	for (size_t i = 0; i < e->inst->n; i++) {
		const char *s = e->inst->v[i].status;
		if (strcmp(s, "online") == 0)
			(*online)++;
		else if (strcmp(s, "offline") == 0)
			(*offline)++;
		else if (strcmp(s, "stale") == 0)
			(*stale)++;
	}
	pthread_mutex_unlock(&e->inst->lock);
	unsigned long known = *online + *offline + *stale;
	*unknown = total > known ? total - known : 0;
}
