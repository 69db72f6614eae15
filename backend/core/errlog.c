/* errlog.c — /self/errors: each user's recent failures with a hint.
 * A small ring per uid, newest last; faults (EIO) are also logged. */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/engine_priv.h"
#include "core/log.h"
#include "core/util.h"

#define ERRLOG_PER_USER 50
#define ERRLOG_USERS 64

struct errentry {
	int64_t time_s;
	char path[256];
	char op[16];
	int err;
	char msg[200];
};

struct errlog_user {
	uid_t uid;
	bool used;
	unsigned next, count;
	struct errentry e[ERRLOG_PER_USER];
};

struct cfs_errlog {
	pthread_mutex_t lock;
	struct errlog_user users[ERRLOG_USERS];
	unsigned evict;
};

struct cfs_errlog *errlog_new(void)
{
	struct cfs_errlog *l = calloc(1, sizeof *l);
	if (l)
		pthread_mutex_init(&l->lock, NULL);
	return l;
}

void errlog_free(struct cfs_errlog *l)
{
	if (!l)
		return;
	pthread_mutex_destroy(&l->lock);
	free(l);
}

/* The fix an operator should try, by errno. */
static const char *hint_for(int err)
{
	switch (-err) {
	case EINVAL: return "check the command against the usage shown by cat on the ctl file";
	case ENOENT: return "the name is unknown: ls the directory for what exists";
	case EEXIST: return "the name is taken: choose another or remove the old one first";
	case EACCES: return "not permitted: ask the owner for a share or a superadmin";
	case ENOSYS: return "this capability is not built yet in this version of cloudfs";
	case EROFS: return "this tree is read-only";
	case EBUSY: return "a conflicting job is running: see /jobs";
	case ETIMEDOUT: return "the instance did not answer in time: see its status, then refresh";
	case EHOSTUNREACH: return "the instance is offline: check the agent and the network";
	case EIO: return "a fault: see the cloudfs log for details";
	case ECANCELED: return "the job was cancelled";
	case EXDEV: return "moves between trees are copies: mv falls back to copy and delete";
	default: return "see the cloudfs log";
	}
}

void cfs_errors_record(struct cfs_engine *e, const struct cfs_caller *c, const char *path,
		       const char *op, int err, const char *msg)
{
	struct cfs_errlog *l = e->errors;
	if (!l || !err)
		return;
	if (err == -EIO)
		log_err("%s %s by %s: %s", op, path, c->user.name, msg && *msg ? msg : "I/O error");
	pthread_mutex_lock(&l->lock);
	struct errlog_user *u = NULL;
	for (int i = 0; i < ERRLOG_USERS && !u; i++)
		if (l->users[i].used && l->users[i].uid == c->user.uid)
			u = &l->users[i];
	for (int i = 0; i < ERRLOG_USERS && !u; i++)
		if (!l->users[i].used)
			u = &l->users[i];
	if (!u) {
		u = &l->users[l->evict++ % ERRLOG_USERS];
		memset(u, 0, sizeof *u);
	}
	u->used = true;
	u->uid = c->user.uid;
	struct errentry *x = &u->e[u->next];
	u->next = (u->next + 1) % ERRLOG_PER_USER;
	if (u->count < ERRLOG_PER_USER)
		u->count++;
	x->time_s = cfs_now_ms() / 1000;
	snprintf(x->path, sizeof x->path, "%s", path ? path : "");
	snprintf(x->op, sizeof x->op, "%s", op ? op : "");
	x->err = err;
	snprintf(x->msg, sizeof x->msg, "%s", msg && *msg ? msg : strerror(-err));
	pthread_mutex_unlock(&l->lock);
}

/* One line per failure, oldest first:
 *   TIME PATH OP ERRNO message="…" hint="…"  */
int errlog_render(struct cfs_engine *e, const struct cfs_caller *c, struct cfs_buf *out)
{
	struct cfs_errlog *l = e->errors;
	pthread_mutex_lock(&l->lock);
	for (int i = 0; i < ERRLOG_USERS; i++) {
		struct errlog_user *u = &l->users[i];
		if (!u->used || u->uid != c->user.uid)
			continue;
		unsigned start = (u->next + ERRLOG_PER_USER - u->count) % ERRLOG_PER_USER;
		for (unsigned k = 0; k < u->count; k++) {
			struct errentry *x = &u->e[(start + k) % ERRLOG_PER_USER];
			char ts[32];
			cfs_time_iso(x->time_s, ts);
			cfs_buf_printf(out, "%s ", ts);
			ctl_quote(x->path, out);
			cfs_buf_printf(out, " %s %s message=", x->op, cfs_errno_name(x->err));
			ctl_quote(x->msg, out);
			cfs_buf_puts(out, " hint=");
			ctl_quote(hint_for(x->err), out);
			cfs_buf_puts(out, "\n");
		}
	}
	pthread_mutex_unlock(&l->lock);
	return 0;
}
