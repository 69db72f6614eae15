/* events.h — the state-change stream behind /events.
 *
 * A bounded ring of JSON lines, each tagged with who may see it: superadmins
 * see everything; a user sees events naming them (user1/user2, e.g. sharer and
 * sharee, or a job's owner) and events about an instance they may read.
 * Readers hold a cursor; one that falls behind the ring gets {"dropped":N}. */
#ifndef CFS_EVENTS_H
#define CFS_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core/buf.h"

struct cfs_engine;
struct cfs_events;
struct cfs_user;

/* may_read_instance(arg, user, instance) decides instance-scoped visibility. */
struct cfs_events *events_new(size_t ring,
			      bool (*may_read_instance)(void *arg, const struct cfs_user *u,
							const char *instance),
			      void *arg);
void events_free(struct cfs_events *ev);

/* Emits {"time":…,"type":TYPE,"id":ID,<extra>} where extra is printf'ed JSON
 * members without braces (may be NULL).  instance/user1/user2 may be NULL. */
void cfs_event_emitf(struct cfs_engine *e, const char *type, const char *id, const char *instance,
		     const char *user1, const char *user2, const char *extra_fmt, ...)
	__attribute__((format(printf, 7, 8)));

void events_emit(struct cfs_events *ev, const char *type, const char *id, const char *instance,
		 const char *user1, const char *user2, const char *extra);
void events_set_listener(struct cfs_events *ev, void (*fn)(void *arg), void *arg);

struct cfs_events *cfs_engine_events(struct cfs_engine *e);

#endif
