/* shares.c — /shares: time-limited, permission-scoped access to a user's
 * instances (add, revoke, enable, disable; listing and the share files).
 * Each change is written with its journal op in one transaction. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/permit.h"
#include "core/engine_priv.h"
#include "core/events.h"
#include "core/log.h"
#include "core/util.h"
#include "state/db.h"
#include "state/journal.h"

#define NOTE_MAX 200

struct share_row {
	char uuid[40];
	char sharer[64], sharee[64], instance[65];
	unsigned perms;
	int64_t expires, created;
	int enabled;
	char note[NOTE_MAX + 1];
};

static void row_from(sqlite3_stmt *st, struct share_row *s)
{
	memset(s, 0, sizeof *s);
	snprintf(s->uuid, sizeof s->uuid, "%s", sqlite3_column_text(st, 0));
	snprintf(s->sharer, sizeof s->sharer, "%s", sqlite3_column_text(st, 1));
	snprintf(s->sharee, sizeof s->sharee, "%s", sqlite3_column_text(st, 2));
	snprintf(s->instance, sizeof s->instance, "%s", sqlite3_column_text(st, 3));
	s->perms = (unsigned)sqlite3_column_int(st, 4);
	s->expires = sqlite3_column_int64(st, 5);
	s->enabled = sqlite3_column_int(st, 6);
	snprintf(s->note, sizeof s->note, "%s", sqlite3_column_text(st, 7));
	s->created = sqlite3_column_int64(st, 8);
}

#define SHARE_COLS "uuid, sharer, sharee, instance, perms, expires, enabled, note, created"

static int load_share(struct cfs_engine *e, const char *id, struct share_row *s)
{
	sqlite3_stmt *st;
	int r;
	db_lock(e->db);
	r = db_prepare(e->db, "SELECT " SHARE_COLS " FROM shares WHERE uuid = ?", &st);
	if (!r) {
		sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			row_from(st, s);
		else
			r = rc == SQLITE_DONE ? -ENOENT : db_errno(rc);
		sqlite3_reset(st);
	}
	db_unlock(e->db);
	return r;
}

static bool share_visible(const struct cfs_user *u, const struct share_row *s)
{
	return u->superadmin || strcmp(u->name, s->sharer) == 0 || strcmp(u->name, s->sharee) == 0;
}

int shares_views_for(struct cfs_engine *e, const char *sharee, struct cfs_share_view **out,
		     size_t *n)
{
	sqlite3_stmt *st;
	struct cfs_share_view *v = NULL;
	size_t cnt = 0, cap = 0;
	int r;
	db_lock(e->db);
	r = db_prepare(e->db, "SELECT sharer, sharee, instance, perms, expires, enabled FROM shares "
			      "WHERE sharee = ? AND enabled = 1", &st);
	if (!r) {
		sqlite3_bind_text(st, 1, sharee, -1, SQLITE_STATIC);
		while (sqlite3_step(st) == SQLITE_ROW) {
			if (cnt == cap) {
				cap = cap ? cap * 2 : 8;
				struct cfs_share_view *nv = realloc(v, cap * sizeof *nv);
				if (!nv) {
					r = -ENOMEM;
					break;
				}
				v = nv;
			}
			struct cfs_share_view *x = &v[cnt];
			memset(x, 0, sizeof *x);
			x->sharer = strdup((const char *)sqlite3_column_text(st, 0));
			x->sharee = strdup((const char *)sqlite3_column_text(st, 1));
			x->instance = strdup((const char *)sqlite3_column_text(st, 2));
			x->perms = (unsigned)sqlite3_column_int(st, 3);
			x->expires_s = sqlite3_column_int64(st, 4);
			x->enabled = sqlite3_column_int(st, 5) != 0;
			cnt++;
			if (!x->sharer || !x->sharee || !x->instance) {
				r = -ENOMEM;
				break;
			}
		}
		sqlite3_reset(st);
	}
	db_unlock(e->db);
	if (r) {
		shares_views_free(v, cnt);
		return r;
	}
	*out = v;
	*n = cnt;
	return 0;
}

void shares_views_free(struct cfs_share_view *v, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)v[i].sharer);
		free((char *)v[i].sharee);
		free((char *)v[i].instance);
	}
	free(v);
}

/* ---- listing and files ---- */

int cfs_shares_list(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		    cfs_emit_fn emit, void *ctx)
{
	(void)caps;
	sqlite3_stmt *st;
	int r;
	struct share_row *rows = NULL;
	size_t n = 0, cap = 0;
	db_lock(e->db);
	r = db_prepare(e->db, "SELECT " SHARE_COLS " FROM shares ORDER BY created, uuid", &st);
	while (!r && sqlite3_step(st) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			struct share_row *nr = realloc(rows, cap * sizeof *nr);
			if (!nr) {
				r = -ENOMEM;
				break;
			}
			rows = nr;
		}
		row_from(st, &rows[n]);
		if (share_visible(&c->user, &rows[n]))
			n++;
	}
	if (!r)
		sqlite3_reset(st);
	db_unlock(e->db);
	for (size_t i = 0; i < n && r >= 0; i++)
		r = emit(ctx, rows[i].uuid);
	free(rows);
	return r < 0 ? r : 0;
}

int cfs_share_exists(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		     int depth)
{
	struct share_row s;
	if (load_share(e, caps[depth], &s))
		return -ENOENT;
	return share_visible(&c->user, &s) ? 0 : -ENOENT;
}

static void perms_text(unsigned perms, struct cfs_buf *b)
{
	if (perms == 0)
		cfs_buf_puts(b, "all");
	else
		cfs_perms_format(perms, b);
}

static int share_json(const struct share_row *s, int64_t now, struct cfs_buf *out)
{
	char ts[32];
	struct cfs_buf p = CFS_BUF_INIT;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "id", s->uuid);
	cJSON_AddStringToObject(o, "sharer", s->sharer);
	cJSON_AddStringToObject(o, "sharee", s->sharee);
	cJSON_AddStringToObject(o, "instance", s->instance);
	cJSON *pa = cJSON_AddArrayToObject(o, "perms");
	static const char *const names[] = { "read", "write", "command", "sync", "git" };
	for (int i = 0; i < 5; i++)
		if (!s->perms || (s->perms & (1u << i)))
			cJSON_AddItemToArray(pa, cJSON_CreateString(names[i]));
	if (s->expires) {
		cfs_time_iso(s->expires, ts);
		cJSON_AddStringToObject(o, "expires", ts);
	} else {
		cJSON_AddNullToObject(o, "expires");
	}
	cJSON_AddBoolToObject(o, "enabled", s->enabled != 0);
	cJSON_AddBoolToObject(o, "active", s->enabled && (!s->expires || now < s->expires));
	cJSON_AddStringToObject(o, "note", s->note);
	cfs_time_iso(s->created, ts);
	cJSON_AddStringToObject(o, "created", ts);
	char *txt = cJSON_Print(o);
	cJSON_Delete(o);
	cfs_buf_free(&p);
	if (!txt)
		return -ENOMEM;
	int r = cfs_buf_printf(out, "%s\n", txt);
	free(txt);
	return r;
}

int cfs_share_show(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		   const char *arg, struct cfs_buf *out)
{
	struct share_row s;
	char ts[32];
	if (load_share(e, caps[0], &s) || !share_visible(&c->user, &s))
		return -ENOENT;
	if (strcmp(arg, "sharer") == 0)
		return cfs_buf_printf(out, "%s\n", s.sharer);
	if (strcmp(arg, "sharee") == 0)
		return cfs_buf_printf(out, "%s\n", s.sharee);
	if (strcmp(arg, "instance") == 0)
		return cfs_buf_printf(out, "%s\n", s.instance);
	if (strcmp(arg, "perms") == 0) {
		perms_text(s.perms, out);
		return cfs_buf_puts(out, "\n");
	}
	if (strcmp(arg, "expires") == 0) {
		if (!s.expires)
			return cfs_buf_puts(out, "never\n");
		cfs_time_iso(s.expires, ts);
		return cfs_buf_printf(out, "%s\n", ts);
	}
	if (strcmp(arg, "enabled") == 0)
		return cfs_buf_puts(out, s.enabled ? "yes\n" : "no\n");
	if (strcmp(arg, "note") == 0)
		return cfs_buf_printf(out, "%s\n", s.note);
	if (strcmp(arg, "created") == 0) {
		cfs_time_iso(s.created, ts);
		return cfs_buf_printf(out, "%s\n", ts);
	}
	if (strcmp(arg, "share.json") == 0)
		return share_json(&s, cfs_now_ms() / 1000, out);
	return -ENOENT;
}

/* ---- ctl ---- */

static int write_change(struct cfs_engine *e, const char *sql_change, const struct share_row *s,
			const char *op)
{
	struct cfs_buf payload = CFS_BUF_INIT;
	int r = share_json(s, cfs_now_ms() / 1000, &payload);
	if (r)
		return r;
	sqlite3_stmt *st;
	db_lock(e->db);
	r = db_begin(e->db);
	if (!r) {
		r = db_prepare(e->db, sql_change, &st);
		if (!r) {
			if (strcmp(op, "create") == 0) {
				sqlite3_bind_text(st, 1, s->uuid, -1, SQLITE_STATIC);
				sqlite3_bind_text(st, 2, s->sharer, -1, SQLITE_STATIC);
				sqlite3_bind_text(st, 3, s->sharee, -1, SQLITE_STATIC);
				sqlite3_bind_text(st, 4, s->instance, -1, SQLITE_STATIC);
				sqlite3_bind_int(st, 5, (int)s->perms);
				sqlite3_bind_int64(st, 6, s->expires);
				sqlite3_bind_int(st, 7, s->enabled);
				sqlite3_bind_text(st, 8, s->note, -1, SQLITE_STATIC);
				sqlite3_bind_int64(st, 9, s->created);
			} else if (strcmp(op, "update") == 0) {
				sqlite3_bind_int(st, 1, s->enabled);
				sqlite3_bind_text(st, 2, s->uuid, -1, SQLITE_STATIC);
			} else {
				sqlite3_bind_text(st, 1, s->uuid, -1, SQLITE_STATIC);
			}
			r = db_errno(sqlite3_step(st));
			sqlite3_reset(st);
		}
		r = journal_commit(e->db, r, s->uuid, "share", op, e->env_id, payload.data);
	}
	db_unlock(e->db);
	cfs_buf_free(&payload);
	return r;
}

static int share_add(void *ctx, const struct ctl_args *a, struct ctl_outcome *o,
		     struct cfs_err *err)
{
	struct ctl_ctx *x = ctx;
	struct cfs_engine *e = x->e;
	const struct cfs_caller *c = x->c;
	const char *sharee = a->pos[0];
	const char *inst = ctl_opt(a, "instance"), *perms = ctl_opt(a, "perms");
	const char *expires = ctl_opt(a, "expires"), *note = ctl_opt(a, "note");
	struct share_row s;
	memset(&s, 0, sizeof s);
	int64_t now = cfs_now_ms() / 1000;
	uid_t uid;

	if (strlen(sharee) >= sizeof s.sharee || cfs_user_lookup_name(sharee, &uid))
		return cfs_errf(err, -ENOENT, "add: no such user %s", sharee);
	if (!inst)
		inst = "*";
	if (strcmp(inst, "*") != 0 && !cfs_name_valid(inst))
		return cfs_errf(err, -EINVAL, "add: instance must be an instance name or *");
	if (perms && cfs_perms_parse(perms, &s.perms))
		return cfs_errf(err, -EINVAL,
				"add: perms must be a comma list of read, write, command, sync, git");
	if (expires) {
		if (cfs_time_parse(expires, now, &s.expires))
			return cfs_errf(err, -EINVAL,
					"add: expires must be ISO 8601 (2026-12-01T00:00:00Z) or +Nd, +Nh, +Nm");
		if (s.expires <= now)
			return cfs_errf(err, -EINVAL, "add: expires is in the past");
	}
	if (note) {
		if (strlen(note) > NOTE_MAX)
			return cfs_errf(err, -EINVAL, "add: note is longer than %d bytes", NOTE_MAX);
		for (const char *p = note; *p; p++)
			if ((unsigned char)*p < 0x20 || *p == 0x7f)
				return cfs_errf(err, -EINVAL, "add: note must not hold control characters");
	}
	/* The sharer is the owner whose instances are shared: the caller, or for
	 * a superadmin sharing someone's instance, that instance's owner. */
	snprintf(s.sharer, sizeof s.sharer, "%s", c->user.name);
	if (strcmp(inst, "*") != 0) {
		char owner[64];
		if (!instance_permitted(e, &c->user, inst) || instance_owner(e, inst, owner, sizeof owner))
			return cfs_errf(err, -ENOENT, "add: no instance named %s", inst);
		if (strcmp(owner, c->user.name) != 0) {
			if (!c->user.superadmin)
				return cfs_errf(err, -EACCES, "add: only the owner (%s) may share %s", owner,
						inst);
			snprintf(s.sharer, sizeof s.sharer, "%s", owner);
		}
	}
	if (strcmp(s.sharer, sharee) == 0)
		return cfs_errf(err, -EINVAL, "add: %s owns %s already", sharee,
				strcmp(inst, "*") ? inst : "these instances");
	snprintf(s.sharee, sizeof s.sharee, "%s", sharee);
	snprintf(s.instance, sizeof s.instance, "%s", inst);
	snprintf(s.note, sizeof s.note, "%s", note ? note : "");
	s.enabled = 1;
	s.created = now;
	cfs_uuid(s.uuid);
	int r = write_change(e, "INSERT INTO shares(" SHARE_COLS ") VALUES(?,?,?,?,?,?,?,?,?)", &s,
			     "create");
	if (r)
		return cfs_errf(err, -EIO, "add: cannot store the share: %s", strerror(-r));
	log_info("share %s: %s shares %s with %s", s.uuid, s.sharer, s.instance, s.sharee);
	cfs_event_emitf(e, "share.created", s.uuid, NULL, s.sharer, s.sharee, NULL);
	ctl_ok(o, "id", "%s", s.uuid);
	return 0;
}

/* Loads a share for a change: invisible → ENOENT; visible but the caller is
 * neither its sharer nor a superadmin → EACCES (the sharee may only revoke). */
static int share_for_change(struct ctl_ctx *x, const struct ctl_args *a, bool sharee_ok,
			    struct share_row *s, struct cfs_err *err)
{
	if (load_share(x->e, a->pos[0], s) || !share_visible(&x->c->user, s))
		return cfs_errf(err, -ENOENT, "%s: no share %s", a->verb, a->pos[0]);
	if (x->c->user.superadmin || strcmp(x->c->user.name, s->sharer) == 0)
		return 0;
	if (sharee_ok && strcmp(x->c->user.name, s->sharee) == 0)
		return 0;
	return cfs_errf(err, -EACCES, "%s: only the sharer (%s) may change share %s", a->verb,
			s->sharer, s->uuid);
}

static int share_revoke(void *ctx, const struct ctl_args *a, struct ctl_outcome *o,
			struct cfs_err *err)
{
	struct ctl_ctx *x = ctx;
	struct share_row s;
	int r = share_for_change(x, a, true, &s, err);
	if (r)
		return r;
	r = write_change(x->e, "DELETE FROM shares WHERE uuid = ?", &s, "delete");
	if (r)
		return cfs_errf(err, -EIO, "revoke: cannot update the database: %s", strerror(-r));
	log_info("share %s revoked by %s", s.uuid, x->c->user.name);
	cfs_event_emitf(x->e, "share.revoked", s.uuid, NULL, s.sharer, s.sharee, NULL);
	ctl_ok(o, "revoked", "%s", s.uuid);
	return 0;
}

static int share_toggle(struct ctl_ctx *x, const struct ctl_args *a, struct ctl_outcome *o,
			struct cfs_err *err, int enabled)
{
	struct share_row s;
	int r = share_for_change(x, a, false, &s, err);
	if (r)
		return r;
	s.enabled = enabled;
	r = write_change(x->e, "UPDATE shares SET enabled = ? WHERE uuid = ?", &s, "update");
	if (r)
		return cfs_errf(err, -EIO, "%s: cannot update the database: %s", a->verb, strerror(-r));
	log_info("share %s %s by %s", s.uuid, enabled ? "enabled" : "disabled", x->c->user.name);
	cfs_event_emitf(x->e, enabled ? "share.enabled" : "share.disabled", s.uuid, NULL, s.sharer,
			s.sharee, NULL);
	ctl_ok(o, "id", "%s", s.uuid);
	ctl_ok(o, "enabled", "%s", enabled ? "yes" : "no");
	return 0;
}

static int share_enable(void *ctx, const struct ctl_args *a, struct ctl_outcome *o,
			struct cfs_err *err)
{
	return share_toggle(ctx, a, o, err, 1);
}

static int share_disable(void *ctx, const struct ctl_args *a, struct ctl_outcome *o,
			 struct cfs_err *err)
{
	return share_toggle(ctx, a, o, err, 0);
}

static const struct ctl_verb shares_verbs[] = {
	{ "add SHAREE [instance=NAME|*] [perms=P[,P…]] [expires=TIME] [note=\"…\"]",
	  "share your instances (all, or one) with a user", share_add },
	{ "revoke ID", "delete a share (its sharer, its sharee or a superadmin)", share_revoke },
	{ "enable ID", "make a disabled share grant again", share_enable },
	{ "disable ID", "stop a share granting, keeping it", share_disable },
};

const struct ctl_verb *cfs_shares_verbs(size_t *n)
{
	*n = sizeof shares_verbs / sizeof shares_verbs[0];
	return shares_verbs;
}

int cfs_shares_ctl(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		   const char *data, size_t len, struct ctl_outcome *o)
{
	struct ctl_ctx x = { e, c, caps };
	return ctl_exec(shares_verbs, sizeof shares_verbs / sizeof shares_verbs[0], &x, data, len, o);
}
