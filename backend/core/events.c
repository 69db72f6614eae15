#include "core/events.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/users.h"
#include "core/util.h"
#include "engine.h"

struct event {
	uint64_t seq;
	char *line;        /* JSON + '\n' */
	char *instance;
	char *user1, *user2;
};

struct cfs_events {
	pthread_mutex_t lock;
	struct event *ring;
	size_t cap;
	uint64_t next_seq;     /* seq of the next event; ring holds [next_seq - count, next_seq) */
	size_t count;
	bool (*may_read)(void *arg, const struct cfs_user *u, const char *instance);
	void *may_arg;
	void (*listener)(void *arg);
	void *listener_arg;
};

struct cfs_event_cursor {
	struct cfs_events *ev;
	struct cfs_user user;
	uint64_t next;
};

struct cfs_events *events_new(size_t ring,
			      bool (*may_read_instance)(void *, const struct cfs_user *, const char *),
			      void *arg)
{
	struct cfs_events *ev = calloc(1, sizeof *ev);
	if (!ev)
		return NULL;
	ev->ring = calloc(ring, sizeof *ev->ring);
	if (!ev->ring) {
		free(ev);
		return NULL;
	}
	ev->cap = ring;
	ev->next_seq = 1;
	ev->may_read = may_read_instance;
	ev->may_arg = arg;
	pthread_mutex_init(&ev->lock, NULL);
	return ev;
}

static void event_clear(struct event *e)
{
	free(e->line);
	free(e->instance);
	free(e->user1);
	free(e->user2);
	memset(e, 0, sizeof *e);
}

void events_free(struct cfs_events *ev)
{
	if (!ev)
		return;
	for (size_t i = 0; i < ev->cap; i++)
		event_clear(&ev->ring[i]);
	free(ev->ring);
	pthread_mutex_destroy(&ev->lock);
	free(ev);
}

void events_set_listener(struct cfs_events *ev, void (*fn)(void *), void *arg)
{
	pthread_mutex_lock(&ev->lock);
	ev->listener = fn;
	ev->listener_arg = arg;
	pthread_mutex_unlock(&ev->lock);
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

void events_emit(struct cfs_events *ev, const char *type, const char *id, const char *instance,
		 const char *user1, const char *user2, const char *extra)
{
	char ts[32];
	struct cfs_buf b = CFS_BUF_INIT;
	cJSON *jt = cJSON_CreateString(type), *ji = cJSON_CreateString(id ? id : "");
	char *st = cJSON_PrintUnformatted(jt), *si = cJSON_PrintUnformatted(ji);
	cfs_time_iso(cfs_now_ms() / 1000, ts);
	cfs_buf_printf(&b, "{\"time\":\"%s\",\"type\":%s,\"id\":%s", ts, st ? st : "\"\"",
		       si ? si : "\"\"");
	if (instance) {
		cJSON *jn = cJSON_CreateString(instance);
		char *sn = cJSON_PrintUnformatted(jn);
		cfs_buf_printf(&b, ",\"instance\":%s", sn ? sn : "\"\"");
		free(sn);
		cJSON_Delete(jn);
	}
	if (extra && *extra)
		cfs_buf_printf(&b, ",%s", extra);
	cfs_buf_puts(&b, "}\n");
	free(st);
	free(si);
	cJSON_Delete(jt);
	cJSON_Delete(ji);

	pthread_mutex_lock(&ev->lock);
	struct event *slot = &ev->ring[ev->next_seq % ev->cap];
	event_clear(slot);
	slot->seq = ev->next_seq++;
	slot->line = cfs_buf_steal(&b);
	slot->instance = dup_or_null(instance);
	slot->user1 = dup_or_null(user1);
	slot->user2 = dup_or_null(user2);
	if (ev->count < ev->cap)
		ev->count++;
	void (*fn)(void *) = ev->listener;
	void *arg = ev->listener_arg;
	pthread_mutex_unlock(&ev->lock);
	if (fn)
		fn(arg);
}

void cfs_event_emitf(struct cfs_engine *e, const char *type, const char *id, const char *instance,
		     const char *user1, const char *user2, const char *extra_fmt, ...)
{
	struct cfs_events *ev = cfs_engine_events(e);
	if (!ev)
		return;
	char extra[1024] = "";
	if (extra_fmt) {
		va_list ap;
		va_start(ap, extra_fmt);
		vsnprintf(extra, sizeof extra, extra_fmt, ap);
		va_end(ap);
	}
	events_emit(ev, type, id, instance, user1, user2, extra);
}

static bool visible(struct cfs_events *ev, const struct cfs_user *u, const struct event *e)
{
	if (u->superadmin)
		return true;
	if ((e->user1 && strcmp(e->user1, u->name) == 0) || (e->user2 && strcmp(e->user2, u->name) == 0))
		return true;
	if (e->instance && ev->may_read)
		return ev->may_read(ev->may_arg, u, e->instance);
	return false;
}

struct cfs_event_cursor *cfs_events_open(struct cfs_engine *eng, const struct cfs_caller *c)
{
	struct cfs_events *ev = cfs_engine_events(eng);
	struct cfs_event_cursor *cur = calloc(1, sizeof *cur);
	if (!cur || !ev) {
		free(cur);
		return NULL;
	}
	cur->ev = ev;
	cur->user = c->user;
	pthread_mutex_lock(&ev->lock);
	cur->next = ev->next_seq;   /* from the moment it is opened */
	pthread_mutex_unlock(&ev->lock);
	return cur;
}

void cfs_events_close(struct cfs_event_cursor *cur) { free(cur); }

/* Copies the lines the cursor may see; instance visibility is checked
 * outside the ring lock since it consults the database. */
ssize_t cfs_events_read(struct cfs_engine *eng, struct cfs_event_cursor *cur, struct cfs_buf *out,
			size_t max)
{
	(void)eng;
	struct cfs_events *ev = cur->ev;
	size_t before = out->len;
	for (;;) {
		struct event copy = { 0 };
		uint64_t dropped = 0;
		pthread_mutex_lock(&ev->lock);
		uint64_t oldest = ev->next_seq - ev->count;
		if (cur->next < oldest) {
			dropped = oldest - cur->next;
			cur->next = oldest;
		}
		if (!dropped && cur->next < ev->next_seq) {
			struct event *e = &ev->ring[cur->next % ev->cap];
			copy.seq = e->seq;
			copy.line = strdup(e->line);
			copy.instance = dup_or_null(e->instance);
			copy.user1 = dup_or_null(e->user1);
			copy.user2 = dup_or_null(e->user2);
		}
		pthread_mutex_unlock(&ev->lock);
		if (dropped) {
			char d[64];
			int n = snprintf(d, sizeof d, "{\"dropped\":%llu}\n", (unsigned long long)dropped);
			if (out->len - before + (size_t)n > max)
				break;
			cfs_buf_append(out, d, (size_t)n);
			continue;
		}
		if (!copy.line)
			break;
		bool ok = visible(ev, &cur->user, &copy);
		size_t n = strlen(copy.line);
		if (ok && out->len - before + n > max && out->len > before) {
			event_clear(&copy);
			break;   /* keep it for the next read */
		}
		if (ok)
			cfs_buf_append(out, copy.line, n);
		cur->next = copy.seq + 1;
		event_clear(&copy);
	}
	return (ssize_t)(out->len - before);
}

bool cfs_events_ready(struct cfs_engine *eng, struct cfs_event_cursor *cur)
{
	struct cfs_buf tmp = CFS_BUF_INIT;
	uint64_t saved = cur->next;
	/* peek: read into a scratch buffer, then rewind the cursor */
	ssize_t n = cfs_events_read(eng, cur, &tmp, 1 << 16);
	cur->next = saved;
	cfs_buf_free(&tmp);
	return n > 0;
}

void cfs_events_set_listener(struct cfs_engine *e, void (*fn)(void *), void *arg)
{
	struct cfs_events *ev = cfs_engine_events(e);
	if (ev)
		events_set_listener(ev, fn, arg);
}
