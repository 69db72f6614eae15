/* registry.c — /instances: the registry of managed hosts (add, remove,
 * listing, owner, status).  Secrets are sealed with the master key; the
 * live part (poller, files, commands) builds on this. */
#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth/permit.h"
#include "core/engine_priv.h"
#include "core/events.h"
#include "core/log.h"
#include "core/util.h"
#include "instances/instances.h"
#include "state/db.h"
#include "state/journal.h"

#define SECRET_PURPOSE "instance-secret"

/* ---- lookups and permission ---- */

int instance_owner(struct cfs_engine *e, const char *name, char *owner, size_t len)
{
	sqlite3_stmt *st;
	int r;
	db_lock(e->db);
	r = db_prepare(e->db, "SELECT owner FROM instances WHERE name = ?", &st);
	if (!r) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			snprintf(owner, len, "%s", sqlite3_column_text(st, 0));
		else
			r = rc == SQLITE_DONE ? -ENOENT : db_errno(rc);
		sqlite3_reset(st);
	}
	db_unlock(e->db);
	return r;
}

unsigned instance_permitted(struct cfs_engine *e, const struct cfs_user *u, const char *name)
{
	char owner[64];
	if (instance_owner(e, name, owner, sizeof owner))
		return 0;
	if (u->superadmin || strcmp(owner, u->name) == 0)
		return CFS_ACT_ALL;
	struct cfs_share_view *v = NULL;
	size_t n = 0;
	if (shares_views_for(e, u->name, &v, &n))
		return 0;
	unsigned mask = cfs_permitted(u, name, owner, v, n, cfs_now_ms() / 1000);
	shares_views_free(v, n);
	return mask;
}

bool instance_may_read(void *arg, const struct cfs_user *u, const char *name)
{
	return (instance_permitted(arg, u, name) & CFS_ACT_READ) != 0;
}

/* ---- listing ---- */

int cfs_instances_list(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		       cfs_emit_fn emit, void *ctx)
{
	(void)caps;
	/* names first, then filter: the permit check takes the db lock itself */
	char **names = NULL;
	size_t n = 0, cap = 0;
	sqlite3_stmt *st = NULL;
	int r;
	db_lock(e->db);
	r = db_prepare(e->db, "SELECT name FROM instances ORDER BY name", &st);
	while (!r && sqlite3_step(st) == SQLITE_ROW) {
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			char **nn = realloc(names, cap * sizeof *nn);
			if (!nn) {
				r = -ENOMEM;
				break;
			}
			names = nn;
		}
		names[n] = strdup((const char *)sqlite3_column_text(st, 0));
		if (!names[n]) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	if (st)
		sqlite3_reset(st);
	db_unlock(e->db);
	for (size_t i = 0; i < n; i++) {
		if (!r && instance_permitted(e, &c->user, names[i]))
			r = emit(ctx, names[i]);
		free(names[i]);
	}
	free(names);
	return r < 0 ? r : 0;
}

int cfs_instance_exists(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
			int depth)
{
	return instance_permitted(e, &c->user, caps[depth]) ? 0 : -ENOENT;
}

int cfs_instance_access_command(struct cfs_engine *e, const struct cfs_caller *c,
				const char *const *caps, int write)
{
	if (!write)
		return 0;
	return instance_permitted(e, &c->user, caps[0]) & CFS_ACT_COMMAND ? 0 : -EACCES;
}

struct inst_row {
	char uuid[40];
	char name[65];
	char url[512];
	char env_id[80];
	int tls_require;
	char pin[128];
	char owner[64];
	int64_t created;
};

static int load_row(struct cfs_engine *e, const char *name, struct inst_row *row)
{
	sqlite3_stmt *st;
	int r;
	memset(row, 0, sizeof *row);
	db_lock(e->db);
	r = db_prepare(e->db, "SELECT uuid, name, url, COALESCE(env_id,''), tls_require, "
			      "COALESCE(pin,''), owner, created FROM instances WHERE name = ?", &st);
	if (!r) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		int rc = sqlite3_step(st);
		if (rc == SQLITE_ROW) {
			snprintf(row->uuid, sizeof row->uuid, "%s", sqlite3_column_text(st, 0));
			snprintf(row->name, sizeof row->name, "%s", sqlite3_column_text(st, 1));
			snprintf(row->url, sizeof row->url, "%s", sqlite3_column_text(st, 2));
			snprintf(row->env_id, sizeof row->env_id, "%s", sqlite3_column_text(st, 3));
			row->tls_require = sqlite3_column_int(st, 4);
			snprintf(row->pin, sizeof row->pin, "%s", sqlite3_column_text(st, 5));
			snprintf(row->owner, sizeof row->owner, "%s", sqlite3_column_text(st, 6));
			row->created = sqlite3_column_int64(st, 7);
		} else {
			r = rc == SQLITE_DONE ? -ENOENT : db_errno(rc);
		}
		sqlite3_reset(st);
	}
	db_unlock(e->db);
	return r;
}

int cfs_instance_show(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		      const char *arg, struct cfs_buf *out)
{
	struct inst_row row;
	unsigned mask = instance_permitted(e, &c->user, caps[0]);
	if (!mask)
		return -ENOENT;
	if (!(mask & CFS_ACT_READ))
		return -EACCES;
	int r = load_row(e, caps[0], &row);
	if (r)
		return r;
	struct inst_status s;
	runtime_get(e, caps[0], &s);
	if (strcmp(arg, "owner") == 0)
		return cfs_buf_printf(out, "%s\n", row.owner);
	if (strcmp(arg, "status") == 0)
		return cfs_buf_printf(out, "%s\n", s.status);
	if (strcmp(arg, "status.json") == 0) {
		char ts[32];
		cJSON *o = cJSON_CreateObject();
		cJSON_AddStringToObject(o, "name", row.name);
		cJSON_AddStringToObject(o, "status", s.status);
		cJSON_AddStringToObject(o, "url", row.url);
		if (row.env_id[0])
			cJSON_AddStringToObject(o, "env_id", row.env_id);
		else
			cJSON_AddNullToObject(o, "env_id");
		cJSON_AddStringToObject(o, "owner", row.owner);
		cJSON_AddBoolToObject(o, "tls_require", row.tls_require != 0);
		if (s.last_seen_ms) {
			cfs_time_iso(s.last_seen_ms / 1000, ts);
			cJSON_AddStringToObject(o, "last_seen", ts);
			cJSON_AddNumberToObject(o, "response_ms", s.response_ms);
		} else {
			cJSON_AddNullToObject(o, "last_seen");
			cJSON_AddNullToObject(o, "response_ms");
		}
		if (s.error[0])
			cJSON_AddStringToObject(o, "error", s.error);
		cfs_time_iso(row.created, ts);
		cJSON_AddStringToObject(o, "created", ts);
		char *txt = cJSON_Print(o);
		cJSON_Delete(o);
		if (!txt)
			return -ENOMEM;
		r = cfs_buf_printf(out, "%s\n", txt);
		free(txt);
		return r;
	}
	return -ENOENT;
}

/* ---- ctl: add, remove, refresh ---- */

static bool url_valid(const char *url, bool tls_require, struct cfs_err *err, int *r)
{
	const char *rest;
	if (strncmp(url, "http://", 7) == 0)
		rest = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		rest = url + 8;
	else {
		*r = cfs_errf(err, -EINVAL, "add: URL must start with http:// or https://");
		return false;
	}
	if (tls_require && url[4] != 's') {
		*r = cfs_errf(err, -EINVAL, "add: tls=require needs an https:// URL");
		return false;
	}
	if (!*rest || *rest == '/' || *rest == ':') {
		*r = cfs_errf(err, -EINVAL, "add: URL has no host");
		return false;
	}
	if (strlen(url) > 500) {
		*r = cfs_errf(err, -EINVAL, "add: URL is longer than 500 bytes");
		return false;
	}
	for (const char *p = url; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f || *p == '"' || *p == '\\') {
			*r = cfs_errf(err, -EINVAL, "add: URL holds a blank, quote or control character");
			return false;
		}
	return true;
}

static bool token_printable(const char *s, size_t max)
{
	size_t n = strlen(s);
	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] <= 0x20 || (unsigned char)s[i] >= 0x7f)
			return false;
	return true;
}

static bool pin_valid(const char *pin)
{
	/* sha256//BASE64 of a 32-byte digest, several joined with ';' as curl takes them */
	const char *p = pin;
	for (;;) {
		if (strncmp(p, "sha256//", 8) != 0)
			return false;
		p += 8;
		size_t n = 0;
		while (p[n] && p[n] != ';') {
			if (!isalnum((unsigned char)p[n]) && p[n] != '+' && p[n] != '/' && p[n] != '=')
				return false;
			n++;
		}
		if (n != 44)
			return false;
		p += n;
		if (!*p)
			return true;
		p++;
	}
}

static int inst_add(void *ctx, const struct ctl_args *a, struct ctl_outcome *o, struct cfs_err *err)
{
	struct ctl_ctx *x = ctx;
	struct cfs_engine *e = x->e;
	const struct cfs_caller *c = x->c;
	const char *name = a->pos[0], *url = a->pos[1];
	const char *env = ctl_opt(a, "env"), *secret_hex = ctl_opt(a, "secret");
	const char *tls = ctl_opt(a, "tls"), *pin = ctl_opt(a, "pin");
	uint8_t secret[CFS_KEY_LEN];
	int r = 0;

	if (!cfs_name_valid(name))
		return cfs_errf(err, -EINVAL, "add: NAME must be 1-64 of A-Z a-z 0-9 . _ - and not start with . or -");
	if (tls && strcmp(tls, "require") != 0)
		return cfs_errf(err, -EINVAL, "add: tls takes only the value require");
	if (!url_valid(url, tls != NULL, err, &r))
		return r;
	if (env && !token_printable(env, 64))
		return cfs_errf(err, -EINVAL, "add: env must be 1-64 printable characters without blanks");
	if (pin && !pin_valid(pin))
		return cfs_errf(err, -EINVAL, "add: pin must be sha256//BASE64 (44 base64 characters)");
	if (secret_hex) {
		if (strlen(secret_hex) != 64 || cfs_unhex(secret_hex, secret, sizeof secret))
			return cfs_errf(err, -EINVAL, "add: secret must be 64 hex digits");
	} else if (cfs_random(secret, sizeof secret)) {
		return cfs_errf(err, -EIO, "add: cannot get random bytes");
	}

	uint8_t *sealed = NULL;
	size_t sealed_len = 0;
	r = cfs_seal(e->master, SECRET_PURPOSE, secret, sizeof secret, &sealed, &sealed_len);
	if (r) {
		cfs_cleanse(secret, sizeof secret);
		return cfs_errf(err, -EIO, "add: cannot seal the secret");
	}
	char uuid[37];
	cfs_uuid(uuid);
	int64_t now = cfs_now_ms() / 1000;
	cJSON *p = cJSON_CreateObject();
	cJSON_AddStringToObject(p, "name", name);
	cJSON_AddStringToObject(p, "url", url);
	if (env)
		cJSON_AddStringToObject(p, "env_id", env);
	cJSON_AddStringToObject(p, "owner", c->user.name);
	cJSON_AddBoolToObject(p, "tls_require", tls != NULL);
	char *payload = cJSON_PrintUnformatted(p);
	cJSON_Delete(p);

	sqlite3_stmt *st;
	db_lock(e->db);
	r = payload ? db_begin(e->db) : -ENOMEM;
	if (!r) {
		r = db_prepare(e->db, "INSERT INTO instances(uuid, name, url, env_id, secret, tls_require, "
				      "pin, owner, owner_uid, created) VALUES(?,?,?,?,?,?,?,?,?,?)", &st);
		if (!r) {
			sqlite3_bind_text(st, 1, uuid, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, name, -1, SQLITE_STATIC);
			sqlite3_bind_text(st, 3, url, -1, SQLITE_STATIC);
			if (env)
				sqlite3_bind_text(st, 4, env, -1, SQLITE_STATIC);
			else
				sqlite3_bind_null(st, 4);
			sqlite3_bind_blob(st, 5, sealed, (int)sealed_len, SQLITE_STATIC);
			sqlite3_bind_int(st, 6, tls != NULL);
			if (pin)
				sqlite3_bind_text(st, 7, pin, -1, SQLITE_STATIC);
			else
				sqlite3_bind_null(st, 7);
			sqlite3_bind_text(st, 8, c->user.name, -1, SQLITE_STATIC);
			sqlite3_bind_int64(st, 9, c->user.uid);
			sqlite3_bind_int64(st, 10, now);
			r = db_errno(sqlite3_step(st));
			sqlite3_reset(st);
		}
		r = journal_commit(e->db, r, uuid, "instance", "create", e->env_id, payload);
	}
	db_unlock(e->db);
	free(payload);
	free(sealed);
	if (r == -EEXIST) {
		cfs_cleanse(secret, sizeof secret);
		return cfs_errf(err, -EEXIST, "add: an instance named %s exists already", name);
	}
	if (r) {
		cfs_cleanse(secret, sizeof secret);
		return cfs_errf(err, -EIO, "add: cannot store the instance: %s", strerror(-r));
	}
	log_info("instance %s (%s) added by %s", name, url, c->user.name);
	cfs_event_emitf(e, "instance.added", name, name, c->user.name, NULL, NULL);
	ctl_ok(o, "name", "%s", name);
	if (!secret_hex) {
		char hex[65];
		cfs_hex(secret, sizeof secret, hex);
		ctl_ok_secret(o, "secret", hex);
		cfs_cleanse(hex, sizeof hex);
	}
	cfs_cleanse(secret, sizeof secret);
	return 0;
}

/* Owner or superadmin may remove; others who can see it get EACCES. */
int instance_remove_checked(struct cfs_engine *e, const struct cfs_caller *c, const char *name,
			  struct cfs_err *err)
{
	char owner[64];
	unsigned mask = instance_permitted(e, &c->user, name);
	if (!mask)
		return cfs_errf(err, -ENOENT, "remove: no instance named %s", name);
	int r = instance_owner(e, name, owner, sizeof owner);
	if (r)
		return cfs_errf(err, r, "remove: no instance named %s", name);
	if (!c->user.superadmin && strcmp(owner, c->user.name) != 0)
		return cfs_errf(err, -EACCES, "remove: only the owner (%s) or a superadmin may remove %s",
				owner, name);
	struct inst_row row;
	r = load_row(e, name, &row);
	if (r)
		return cfs_errf(err, r, "remove: no instance named %s", name);
	sqlite3_stmt *st;
	db_lock(e->db);
	r = db_begin(e->db);
	if (!r) {
		r = db_prepare(e->db, "DELETE FROM instances WHERE uuid = ?", &st);
		if (!r) {
			sqlite3_bind_text(st, 1, row.uuid, -1, SQLITE_STATIC);
			r = db_errno(sqlite3_step(st));
			sqlite3_reset(st);
		}
		char payload[160];
		snprintf(payload, sizeof payload, "{\"name\":\"%s\"}", name);
		r = journal_commit(e->db, r, row.uuid, "instance", "delete", e->env_id, payload);
	}
	db_unlock(e->db);
	if (r)
		return cfs_errf(err, -EIO, "remove: cannot update the database: %s", strerror(-r));
	runtime_forget(e, name);
	log_info("instance %s removed by %s", name, c->user.name);
	cfs_event_emitf(e, "instance.removed", name, NULL, owner, c->user.name, NULL);
	return 0;
}

static int inst_remove(void *ctx, const struct ctl_args *a, struct ctl_outcome *o,
		       struct cfs_err *err)
{
	struct ctl_ctx *x = ctx;
	int r = instance_remove_checked(x->e, x->c, a->pos[0], err);
	if (!r)
		ctl_ok(o, "removed", "%s", a->pos[0]);
	return r;
}

static int inst_refresh(void *ctx, const struct ctl_args *a, struct ctl_outcome *o,
			struct cfs_err *err)
{
	(void)a;
	(void)err;
	struct ctl_ctx *x = ctx;
	/* listings are read from the database on every request: only the live
	 * status needs a new poll, done now for every instance */
	poller_poll_now(x->e, NULL);
	ctl_ok(o, "refreshed", "all");
	return 0;
}

static const struct ctl_verb instances_verbs[] = {
	{ "add NAME URL [env=ENV_ID] [secret=HEX64] [tls=require] [pin=sha256//BASE64]",
	  "register an instance; without secret= one is minted and shown once", inst_add },
	{ "remove NAME", "forget an instance (owner or superadmin)", inst_remove },
	{ "refresh", "re-read instance state at once", inst_refresh },
};

const struct ctl_verb *cfs_instances_verbs(size_t *n)
{
	*n = sizeof instances_verbs / sizeof instances_verbs[0];
	return instances_verbs;
}

int cfs_instances_ctl(struct cfs_engine *e, const struct cfs_caller *c, const char *const *caps,
		      const char *data, size_t len, struct ctl_outcome *o)
{
	struct ctl_ctx x = { e, c, caps };
	return ctl_exec(instances_verbs, sizeof instances_verbs / sizeof instances_verbs[0], &x, data,
			len, o);
}

/* Replaces the sealed secret of an instance (rotate), with its journal op. */
int registry_store_secret(struct cfs_engine *e, const char *name, const uint8_t secret[CFS_KEY_LEN])
{
	struct inst_row row;
	int r = load_row(e, name, &row);
	if (r)
		return r;
	uint8_t *sealed = NULL;
	size_t sealed_len = 0;
	r = cfs_seal(e->master, SECRET_PURPOSE, secret, CFS_KEY_LEN, &sealed, &sealed_len);
	if (r)
		return r;
	sqlite3_stmt *st;
	db_lock(e->db);
	r = db_begin(e->db);
	if (!r) {
		r = db_prepare(e->db, "UPDATE instances SET secret = ? WHERE uuid = ?", &st);
		if (!r) {
			sqlite3_bind_blob(st, 1, sealed, (int)sealed_len, SQLITE_STATIC);
			sqlite3_bind_text(st, 2, row.uuid, -1, SQLITE_STATIC);
			r = db_errno(sqlite3_step(st));
			sqlite3_reset(st);
		}
		char payload[160];
		snprintf(payload, sizeof payload, "{\"name\":\"%s\",\"secret\":\"rotated\"}", name);
		r = journal_commit(e->db, r, row.uuid, "instance", "update", e->env_id, payload);
	}
	db_unlock(e->db);
	free(sealed);
	return r;
}
